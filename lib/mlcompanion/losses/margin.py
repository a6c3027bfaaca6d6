"""Margin loss of Wu, Manmatha, Smola & Krähenbühl, "Sampling Matters in Deep Embedding Learning"
(ICCV 2017, arXiv 1706.07567), Sec. 4 "Margin based loss".

Used by dynamic_subspaces (Adiga Vasudeva et al., JBHI 2022) on each L2-normalised learner slice,
with beta fixed at 1.2 and its own triplet sampler (hardest negatives beyond a distance cutoff, not
the paper's distance-weighted sampling): the sampler is not part of this module; pass its triplets
as ``indices_tuple``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..distances import SquaredEuclideanDistance
from ..distances.base import full_precision, no_autocast, normalized_squared_euclidean, safe_sqrt
from ..miners import pair_masks
from ..validation import check_embeddings, check_labels, check_number, check_positive

__all__ = ["MarginLoss"]


def _check_triplets(indices_tuple, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Check explicit (anchor, positive, negative) index tensors against the batch's labels."""
    if not isinstance(indices_tuple, (tuple, list)) or len(indices_tuple) != 3:
        raise ValueError(
            "indices_tuple must be a tuple (anchor, positive, negative) of three 1-D integer index tensors, "
            f"got {type(indices_tuple).__name__}"
            + (f" of length {len(indices_tuple)}" if isinstance(indices_tuple, (tuple, list)) else "")
        )
    n = labels.shape[0]
    out = []
    for name, idx in zip(("anchor", "positive", "negative"), indices_tuple):
        if not isinstance(idx, torch.Tensor) or idx.dim() != 1 or idx.is_floating_point() or idx.is_complex() \
                or idx.dtype == torch.bool:
            got = f"tensor of shape {tuple(idx.shape)} and dtype {idx.dtype}" if isinstance(idx, torch.Tensor) \
                else type(idx).__name__
            raise ValueError(f"indices_tuple ({name}) must be a 1-D integer tensor, got {got}")
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= n):
            raise ValueError(
                f"indices_tuple ({name}) must index the batch, 0..{n - 1}, got values in "
                f"{int(idx.min())}..{int(idx.max())}"
            )
        out.append(idx.long().to(labels.device))
    a, p, ng = out
    if not (a.shape == p.shape == ng.shape):
        raise ValueError(
            f"indices_tuple must hold three index tensors of equal length, got lengths "
            f"{a.numel()}, {p.numel()}, {ng.numel()}"
        )
    if bool((labels[a] != labels[p]).any()):
        raise ValueError("indices_tuple: every positive must have its anchor's label (labels[a] == labels[p])")
    if bool((labels[a] == labels[ng]).any()):
        raise ValueError("indices_tuple: every negative must have a label other than its anchor's (labels[a] != labels[n])")
    return a, p, ng




class MarginLoss(nn.Module):
    """Margin loss (Wu et al. 2017, Sec. 4), in the triplet form of the official MXNet code.

    The paper's pair loss is l(i, j) = (alpha + y_ij (D_ij - beta))_+ with y_ij = +1 for a positive
    pair and -1 for a negative one, D the Euclidean distance of L2-normalised embeddings and beta a
    (learnable) boundary; beta's regulariser nu beta enters the objective minimised over the
    network and beta (beta = beta^(0) + beta^(class)_c(i) [+ beta^(img)_i]; this module offers a global
    or a per-class beta, no per-image beta). Over triplets t = (a, p, n) (the official code and
    pytorch-metric-learning):

        L = [ sum_t (D_ap - beta_a + alpha)_+ + (beta_a - D_an + alpha)_+  +  nu sum_t beta_a ] / K

    with beta_a the anchor's class beta (or the global beta), D = sqrt(||x - y||^2 + eps) and K the
    number of non-zero terms (positive and negative terms counted separately). Near-duplicate pairs
    keep their distance and direction to float32 precision
    (``distances.base.normalized_squared_euclidean``). The nu term is
    included only when beta is learnt (as both references).

    Args:
        margin: alpha >= 0 (default 0.2, the paper's).
        beta: the initial (or fixed) boundary (default 1.2, the official code's and
            pytorch-metric-learning's; the dynamic_subspaces code keeps it fixed at 1.2).
        nu: weight >= 0 of the beta regulariser (default 0, the official code's default).
        learn_beta: beta is an ``nn.Parameter`` (True) or a fixed buffer (default False, as
            pytorch-metric-learning and dynamic_subspaces; the paper learns beta, lr 0.1 in the
            official code: set True and give the loss's parameters to the optimiser).
        num_classes: None for one global beta (default); an int C for one beta per class (the
            paper's beta^(class), the official code's default), labels then in 0..C-1.
        eps: >= 0, added under the square root (default 1e-8, the official code's; 0 gives the plain
            distance, with gradient 0 rather than NaN at distance 0). pytorch-metric-learning has 0.
        normalize: L2-normalise the embeddings first (default True: the paper's embeddings live on
            the unit sphere; pytorch-metric-learning's default LpDistance normalises too).

    Attributes:
        beta: shape (1,) or (num_classes,); an ``nn.Parameter`` with ``learn_beta``, else a buffer.
            Stored in float32 like any module tensor (and pytorch-metric-learning's beta): 1.2 is
            1.2000000477 there, also after ``.double()`` (a relative change of order 1e-8 in the loss).

    ``forward(embeddings, labels, indices_tuple=None)``: with ``indices_tuple=None`` every triplet of
    the batch (a != p same label, n another label), as pytorch-metric-learning's
    ``triplets_per_anchor="all"`` without a miner; computed in O(n^2) by weighting each positive pair
    (a, p) by the number of negatives of a and each negative pair (a, n) by the number of
    positives of a (no (n, n, n) tensor). Otherwise ``indices_tuple = (a, p, n)``, three index tensors
    of equal length (e.g. from a sampler), checked against the labels.

    Differences from pytorch-metric-learning 2.9.0 ``MarginLoss``: eps (1e-8 here, 0 there); with a
    learnt *global* beta it adds nu beta to the loss undivided, here nu sum_t beta / K as for the
    per-class beta (the official code's formula; it regularises only the per-class beta). Both return
    0 when K = 0.

    Output: a scalar (float32 for half-precision inputs, computed in float32 outside autocast). A
    batch with no triplet, or no non-zero term (K = 0), gives exactly 0, connected to the graph
    (gradient 0).
    """

    def __init__(self, margin: float = 0.2, beta: float = 1.2, nu: float = 0.0, learn_beta: bool = False,
                 num_classes: int | None = None, eps: float = 1e-8, normalize: bool = True):
        super().__init__()
        self.margin = check_positive(margin, "margin", allow_zero=True)
        beta = check_number(beta, "beta")
        self.nu = check_positive(nu, "nu", allow_zero=True)
        if not isinstance(learn_beta, bool):
            raise ValueError(f"learn_beta must be a bool, got {learn_beta!r}")
        if not isinstance(normalize, bool):
            raise ValueError(f"normalize must be a bool, got {normalize!r}")
        if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, int)
                                        or num_classes < 1):
            raise ValueError(f"num_classes must be None (one global beta) or a positive int, got {num_classes!r}")
        self.eps = check_positive(eps, "eps", allow_zero=True)
        self.learn_beta = learn_beta
        self.num_classes = num_classes
        self.normalize = normalize
        self._distance = SquaredEuclideanDistance()
        init = torch.full((num_classes if num_classes is not None else 1,), beta)
        if learn_beta:
            self.beta = nn.Parameter(init)
        else:
            self.register_buffer("beta", init)

    def _validate(self, embeddings, labels, indices_tuple):
        check_embeddings(embeddings, allow_empty=True)
        check_labels(labels, embeddings.shape[0])
        if self.num_classes is not None and labels.numel() and (
                int(labels.min()) < 0 or int(labels.max()) >= self.num_classes):
            raise ValueError(
                f"labels must lie in 0..{self.num_classes - 1} (one beta per class, num_classes="
                f"{self.num_classes}), got values in {int(labels.min())}..{int(labels.max())}"
            )
        return None if indices_tuple is None else _check_triplets(indices_tuple, labels)

    def distances(self, embeddings: torch.Tensor) -> torch.Tensor:
        """The (n, n) matrix D = sqrt(||x_i - x_j||^2 + eps) used by the loss (in >= float32)."""
        check_embeddings(embeddings)
        return self._distances(embeddings)

    def _distances(self, embeddings):
        with no_autocast(embeddings.device):
            x = full_precision(embeddings)
            sq = normalized_squared_euclidean(x) if self.normalize else self._distance._checked_call(x)
            return (sq + self.eps).sqrt() if self.eps > 0 else safe_sqrt(sq)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor, indices_tuple=None) -> torch.Tensor:
        triplets = self._validate(embeddings, labels, indices_tuple)
        n = embeddings.shape[0]
        if n == 0:  # nothing to compare: 0 connected to the embeddings (and to a learnt beta)
            return full_precision(embeddings).sum() * 0.0 + self.beta.sum() * 0.0
        dist = self._distances(embeddings)
        beta = self.beta.to(dist.dtype)
        beta_i = beta[labels.long()] if self.num_classes is not None else beta.expand(n)  # (n,)
        with no_autocast(dist.device):
            if triplets is None:
                total, count, beta_sum = self._all_triplets(dist, labels, beta_i)
            else:
                a, p, ng = triplets
                b = beta_i[a]
                pos_l = F.relu(dist[a, p] - b + self.margin)
                neg_l = F.relu(b - dist[a, ng] + self.margin)
                total = pos_l.sum() + neg_l.sum()
                count = int((pos_l > 0).sum()) + int((neg_l > 0).sum())
                beta_sum = b.sum()
            if count == 0:
                return total * 0.0 + beta_sum * 0.0  # exactly 0, gradient 0
            if self.learn_beta and self.nu > 0:
                total = total + self.nu * beta_sum
            return total / count

    def _all_triplets(self, dist, labels, beta_i):
        """Sums over every (a, p, n) triplet in pair form: (a, p) weighted by the negatives of a,
        (a, n) by the positives of a."""
        pos, neg = pair_masks(labels)
        n_pos = pos.sum(1, keepdim=True)  # positives of each anchor
        n_neg = neg.sum(1, keepdim=True)  # negatives of each anchor
        b = beta_i.unsqueeze(1)
        pos_l = F.relu(dist - b + self.margin).masked_fill(~pos, 0.0)
        neg_l = F.relu(b - dist + self.margin).masked_fill(~neg, 0.0)
        total = (pos_l * n_neg.to(dist.dtype)).sum() + (neg_l * n_pos.to(dist.dtype)).sum()
        count = int(((pos_l > 0).long() * n_neg).sum()) + int(((neg_l > 0).long() * n_pos).sum())
        beta_sum = (beta_i * (n_pos * n_neg).squeeze(1).to(dist.dtype)).sum()  # sum_t beta_a
        return total, count, beta_sum

    def extra_repr(self) -> str:
        return (f"margin={self.margin}, nu={self.nu}, learn_beta={self.learn_beta}, "
                f"num_classes={self.num_classes}, eps={self.eps}, normalize={self.normalize}")
