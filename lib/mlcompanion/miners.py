"""Which pairs and triplets of a batch a loss looks at.

Everything here works on masks over the (n, n) pairwise matrix, never on Python loops over pairs
(margin_cutoff_triplets loops over anchors only to cut each anchor's lists to a common length).
"""

from __future__ import annotations

import math

import torch

from .distances import PairwiseDistance
from .validation import check_embeddings, check_labels, check_number, check_positive, check_square_matrix

__all__ = ["pair_masks", "multi_similarity_mine", "triplet_mask", "margin_cutoff_triplets"]


def _check_square(mat: torch.Tensor, labels: torch.Tensor, name: str = "mat") -> None:
    check_square_matrix(mat, name)
    check_labels(labels, mat.shape[0])


def pair_masks(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Boolean (n, n) masks of positive pairs (same label, i != j) and negative pairs."""
    check_labels(labels)
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    eye = torch.eye(labels.shape[0], dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


def multi_similarity_mine(
    sim: torch.Tensor,
    labels: torch.Tensor,
    eps: float = 0.1,
    dup_thresh: float | None = 1.0 - 1e-5,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pair mining of the Multi-Similarity loss (multi_similarity, Wang et al. 2019, Sec. 4.1, eq. 7-8).

    For anchor i (S = cosine similarity):
      negative j is kept iff  S_ij + eps > min_{k: y_k = y_i} S_ik     (eq. 7)
      positive j is kept iff  S_ij - eps < max_{k: y_k != y_i} S_ik    (eq. 8)
    The min and max run over the un-mined positives/negatives of the anchor. An anchor with no
    positive or no negative keeps nothing.

    ``dup_thresh``: positives with S_ij >= dup_thresh (near-duplicates of the anchor) are dropped
    before mining, as in the official code (``pos_pair_ < 1 - 1e-5``); ``None`` keeps them, which
    is what pytorch-metric-learning's ``MultiSimilarityMiner`` does.

    Returns boolean (n, n) masks ``(pos_kept, neg_kept)``.
    """
    _check_square(sim, labels, "sim")
    eps = check_number(eps, "eps")
    if dup_thresh is not None:
        dup_thresh = check_number(dup_thresh, "dup_thresh")
    pos, neg = pair_masks(labels)
    if dup_thresh is not None:
        pos = pos & (sim < dup_thresh)
    big = torch.finfo(sim.dtype).max
    hardest_pos = torch.where(pos, sim, torch.full_like(sim, big)).amin(1, keepdim=True)
    hardest_neg = torch.where(neg, sim, torch.full_like(sim, -big)).amax(1, keepdim=True)
    neg_kept = neg & (sim + eps > hardest_pos)
    pos_kept = pos & (sim - eps < hardest_neg)
    return pos_kept, neg_kept


_TRIPLET_TYPES = ("all", "semihard", "hard")


def triplet_mask(
    mat: torch.Tensor,
    labels: torch.Tensor,
    distance: PairwiseDistance,
    margin: float,
    mining: str = "all",
) -> torch.Tensor:
    """Boolean (n, n, n) mask over triplets (anchor a, positive p, negative n).

    gap = d(a, n) - d(a, p) for distances (s(a, p) - s(a, n) for similarities); gap > 0 means the
    negative is already further than the positive.
      ``all``      every valid triplet (batch-all, Hermans et al. 2017)
      ``semihard`` 0 < gap <= margin (FaceNet, Schroff et al. 2015, eq. 4; pytorch-metric-learning's
                   ``TripletMarginMiner(type_of_triplets="semihard")``: every such triplet is kept)
      ``hard``     gap <= 0
    """
    if mining not in _TRIPLET_TYPES:
        raise ValueError(f"triplet mining must be one of {_TRIPLET_TYPES}, got {mining!r}")
    _check_square(mat, labels)
    margin = check_number(margin, "margin")
    pos, neg = pair_masks(labels)
    valid = pos.unsqueeze(2) & neg.unsqueeze(1)
    if mining == "all":
        return valid
    d_ap = mat.unsqueeze(2)
    d_an = mat.unsqueeze(1)
    gap = d_ap - d_an if distance.is_similarity else d_an - d_ap
    if mining == "semihard":
        return valid & (gap > 0) & (gap <= margin)
    return valid & (gap <= 0)


def margin_cutoff_triplets(embeddings: torch.Tensor, labels: torch.Tensor, cutoff: float = 0.5
                           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The ADSL triplet sampler (official ``lib/loss/sampler.py``, ``Sampler``; JBHI 2022 Sec. II).

    With B the batch size and n_neg = floor(#ordered positive pairs / B), each anchor i gets its
    in-batch positives P_i (index order) and N_i, the n_neg *closest* negatives whose Euclidean
    distance is >= ``cutoff`` (index order, as the official ``nonzero``); its triplets are
    (i, P_i[k], N_i[k]) for k < min(|P_i|, |N_i|). In a class-balanced batch (m samples per class)
    |P_i| = n_neg = m - 1, so every positive is used, as in the official code.

    Differences from the official code (they matter only in unbalanced batches): when fewer than
    n_neg negatives lie beyond the cutoff, the official top-k also returns masked entries (which can
    be positives or the anchor itself); here only true negatives beyond the cutoff are used. The
    official code truncates the concatenated lists to a common length when |P_i| != n_neg (pairing
    entries of different anchors); here each anchor is truncated on its own. Distances are exact
    differences (the official Gram-expansion distance is clamped at 1e-4 before the square root).

    Args:
        embeddings: (B, d) float, usually L2-normalised (a learner's slice); not differentiated.
        labels: (B,) integer class labels.
        cutoff: >= 0 (default 0.5, the official value).
    Returns: three 1-D int64 tensors (anchor, positive, negative) of equal length, for
        ``MarginLoss(...)(embeddings, labels, indices_tuple=...)``; empty when the batch has no
        positive pair or no negative beyond the cutoff.
    """
    check_embeddings(embeddings, allow_empty=True)
    labels = check_labels(labels, embeddings.shape[0])
    cutoff = check_positive(cutoff, "cutoff", allow_zero=True)
    n = embeddings.shape[0]
    empty = torch.empty(0, dtype=torch.long, device=labels.device)
    if n == 0:
        return empty, empty.clone(), empty.clone()
    x = embeddings.detach()
    x = x.double() if x.dtype == torch.float64 else x.float()
    d = torch.cdist(x, x, compute_mode="donot_use_mm_for_euclid_dist")
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    eye = torch.eye(n, dtype=torch.bool, device=labels.device)
    pos = same & ~eye
    n_neg = int(pos.sum()) // n
    if n_neg == 0:
        return empty, empty.clone(), empty.clone()
    valid = ~same & (d >= cutoff)
    keyed = d.masked_fill(~valid, math.inf)
    order = torch.sort(keyed, dim=1, stable=True).indices[:, :n_neg]  # closest valid first, ties by index
    column = torch.arange(n_neg, device=labels.device)
    n_negs = valid.sum(1).clamp(max=n_neg)  # |N_i|
    # N_i in index order: the kept closest negatives, the rest pushed past every index, then sorted
    negs = order.masked_fill(column >= n_negs.unsqueeze(1), n).sort(dim=1).values
    # P_i in index order, likewise (|P_i| <= n - 1; only the first n_neg can be used)
    index = torch.arange(n, device=labels.device)
    poss = index.expand(n, n).masked_fill(~pos, n).sort(dim=1).values[:, :n_neg]
    used = column < torch.minimum(n_negs, pos.sum(1)).unsqueeze(1)  # k < min(|P_i|, |N_i|)
    # boolean indexing walks the rows in order: anchor by anchor, k ascending within an anchor
    return index.unsqueeze(1).expand(n, n_neg)[used], poss[used].long(), negs[used].long()
