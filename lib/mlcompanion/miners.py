"""Which pairs and triplets of a batch a loss looks at.

Everything here works on masks over the (n, n) pairwise matrix, never on Python loops over pairs.
"""

from __future__ import annotations

import torch

from .distances import PairwiseDistance
from .validation import check_labels, check_number, check_square_matrix

__all__ = ["pair_masks", "multi_similarity_mine", "triplet_mask"]


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
