"""Pair and triplet losses, computed from the batch's pairwise distance/similarity matrix.

Each loss is an ``nn.Module`` whose ``forward(embeddings, labels)`` builds the (n, n) matrix with its
``distance`` and hands it to ``from_matrix(mat, labels)``. ``from_matrix`` is public so analyses can
differentiate a loss with respect to the similarities themselves (General Pair Weighting,
``mlcompanion.analysis.gpw_weights``).

Conventions shared by every loss here:
- a batch with no valid pair or triplet gives exactly 0, still connected to the autograd graph
  (its gradient is 0, not NaN and not an error);
- half-precision inputs are computed in float32.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from ..distances import CosineSimilarity, EuclideanDistance, PairwiseDistance, SquaredEuclideanDistance
from ..miners import _check_square, multi_similarity_mine, pair_masks, triplet_mask
from ..validation import check_embeddings, check_finite, check_labels, check_number, check_positive

__all__ = ["PairLoss", "ContrastiveLoss", "TripletMarginLoss", "MultiSimilarityLoss", "BinomialDevianceLoss"]

_REDUCTIONS = ("mean_nonzero", "mean")

# Row blocks of about this many entries: every element-wise step of a block then runs in the core's
# cache instead of streaming (n, n) temporaries through memory (at n = 2048 that halves their cost).
_BLOCK_ENTRIES = 1 << 17


def masked_mean(values: torch.Tensor, mask: torch.Tensor, reduction: str) -> torch.Tensor:
    """Mean of ``values`` over ``mask`` (or over its non-zero entries); 0 on an empty mask.

    Entries outside the mask are selected out, not multiplied by 0, so an Inf or NaN there (e.g.
    on an unused diagonal) does not reach the result.
    """
    if not isinstance(values, torch.Tensor) or not values.is_floating_point():
        raise ValueError(f"values must be a floating-point tensor, got {type(values).__name__}")
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or mask.shape != values.shape:
        got = f"{mask.dtype} tensor of shape {tuple(mask.shape)}" if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise ValueError(f"mask must be a bool tensor of the shape of values {tuple(values.shape)}, got {got}")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    check_finite(values.detach().masked_fill(~mask, 0.0), "values (inside mask)")
    if reduction == "mean_nonzero":
        mask = mask & (values > 0)
    count = mask.sum().clamp_min(1)
    return values.masked_fill(~mask, 0.0).sum() / count


class PairLoss(nn.Module):
    """Base class: validates inputs, builds the pairwise matrix, calls ``from_matrix``."""

    def __init__(self, distance: PairwiseDistance):
        super().__init__()
        if not isinstance(distance, PairwiseDistance):
            raise ValueError(f"distance must be a mlcompanion.distances.PairwiseDistance, got {type(distance).__name__}")
        self.distance = distance

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        check_embeddings(embeddings)
        check_labels(labels, embeddings.shape[0])
        if embeddings.dtype in (torch.float16, torch.bfloat16):
            embeddings = embeddings.float()
        return self.from_matrix(self.distance._checked_call(embeddings), labels)  # checked above

    def from_matrix(self, mat: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def _prepare(self, mat, labels, name: str = "mat"):
        _check_square(mat, labels, name)
        return mat.float() if mat.dtype in (torch.float16, torch.bfloat16) else mat


class ContrastiveLoss(PairLoss):
    """Contrastive loss (Hadsell, Chopra & LeCun 2006), in the margin form used by most DML code.

    For a distance d:    l+ = [d_ij - m_pos]_+ ,  l- = [m_neg - d_ij]_+
    For a similarity s:  l+ = [m_pos - s_ij]_+ ,  l- = [s_ij - m_neg]_+
    L = mean(l+ over positive pairs) + mean(l- over negative pairs), each mean taken over the pairs
    with a non-zero loss (``reduction="mean_nonzero"``, pytorch-metric-learning's AvgNonZeroReducer)
    or over all pairs of its kind (``reduction="mean"``). Both orderings (i, j) and (j, i) count.

    Defaults: Euclidean distance, m_pos = 0, m_neg = 1, as pytorch-metric-learning's ContrastiveLoss
    (feed L2-normalised embeddings). The MS paper's contrastive loss (multi_similarity, Sec. 3.2,
    eq. 3: L = -S_ij on positives, [S_ij - lambda]_+ on negatives) is
    ``ContrastiveLoss(distance=CosineSimilarity(), pos_margin=1.0, neg_margin=lam)``, up to a constant.
    Hadsell's original squares both terms (``power=2``).
    """

    def __init__(
        self,
        pos_margin: float = 0.0,
        neg_margin: float = 1.0,
        distance: PairwiseDistance | None = None,
        power: float = 1.0,
        reduction: str = "mean_nonzero",
    ):
        super().__init__(distance if distance is not None else EuclideanDistance())
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        self.pos_margin = check_number(pos_margin, "pos_margin")
        self.neg_margin = check_number(neg_margin, "neg_margin")
        self.power = check_positive(power, "power")
        self.reduction = reduction

    def from_matrix(self, mat, labels):
        mat = self._prepare(mat, labels)
        return _Contrastive.apply(mat, labels, self)


class _Contrastive(torch.autograd.Function):
    """The contrastive loss from the pairwise matrix, one block of anchors at a time (see
    ``_BLOCK_ENTRIES``), with its gradient written out: dL/dd_ij = +-power * l_ij^(power - 1) / count
    on the pairs with l_ij > 0 (the sign of the margin term), 0 elsewhere."""

    @staticmethod
    def forward(ctx, mat, labels, loss):
        n = mat.shape[0]
        grad = torch.empty_like(mat)
        totals = [0.0, 0.0]  # block sums (in the matrix's dtype) added in double precision
        counts = [0, 0]
        # l+ = [sign (d - m_pos)]_+ , l- = [sign (m_neg - d)]_+ ; sign = -1 for a similarity
        sign = -1.0 if loss.distance.is_similarity else 1.0
        rows = max(1, _BLOCK_ENTRIES // max(n, 1))
        blocks = []
        for start in range(0, n, rows):
            m = mat[start:start + rows]
            same = labels[start:start + rows].unsqueeze(1) == labels.unsqueeze(0)
            pos = same.clone()
            pos.diagonal(offset=start).fill_(False)
            g = grad[start:start + rows]
            for kind, (mask, hinge) in enumerate(((pos, (m - loss.pos_margin) * sign), (~same, (loss.neg_margin - m) * sign))):
                hinge.clamp_min_(0.0)
                value = hinge.pow(loss.power) if loss.power != 1.0 else hinge
                counted = mask & (value > 0) if loss.reduction == "mean_nonzero" else mask
                totals[kind] += float(value.masked_fill(~mask, 0.0).sum())
                counts[kind] += int(counted.sum())
                # d l / d m on the pairs of this kind with l > 0 (relu and pow have gradient 0 at 0)
                slope = hinge.pow(loss.power - 1.0).mul_(loss.power) if loss.power != 1.0 else torch.ones_like(hinge)
                slope.masked_fill_(~(mask & (value > 0)), 0.0).mul_(sign if kind == 0 else -sign)
                if kind == 0:
                    g.copy_(slope)
                else:
                    g.add_(slope)
            blocks.append((start, pos))
        counts = [max(c, 1) for c in counts]
        for start, pos in blocks:  # each kind divided by its own count
            g = grad[start:start + pos.shape[0]]
            g.mul_(torch.full_like(g, 1.0 / counts[1]).masked_fill_(pos, 1.0 / counts[0]))
        ctx.save_for_backward(grad)
        return mat.new_tensor(totals[0] / counts[0] + totals[1] / counts[1])

    @staticmethod
    @once_differentiable  # the saved weights are constants: no silent wrong 2nd derivative
    def backward(ctx, grad_out):
        (grad,) = ctx.saved_tensors
        return grad * grad_out, None, None


class TripletMarginLoss(PairLoss):
    """Triplet loss L = [d(a, p) - d(a, n) + margin]_+ (Schroff et al. 2015, FaceNet, eq. 1-2).

    ``mining``: ``"all"`` (batch-all), ``"semihard"`` (0 < d_an - d_ap <= margin) or ``"hard"``;
    see ``mlcompanion.miners.triplet_mask``. The mean is over mined triplets with a non-zero loss
    (``reduction="mean_nonzero"``, as pytorch-metric-learning) or over all mined triplets.

    Defaults follow FaceNet: squared Euclidean distance on L2-normalised embeddings, margin 0.2.
    pytorch-metric-learning's TripletMarginLoss defaults to Euclidean distance and margin 0.05.

    Computed without any (n, n, n) tensor (``_TripletMean``): time O(n^2 log n), memory
    O(n^2). Every mining rule keeps, for an anchor a and a positive p, the negatives whose d(a, n)
    lies in an interval set by d(a, p) and the margin, and the loss is linear in d(a, n) there; so
    with each anchor's negative distances sorted once and their prefix sums, the sum and the count
    over (a, p) are two binary searches. Batch 2048 needs a few (n, n) matrices, not 32 GiB.
    """

    def __init__(
        self,
        margin: float = 0.2,
        mining: str = "all",
        distance: PairwiseDistance | None = None,
        reduction: str = "mean_nonzero",
    ):
        super().__init__(distance if distance is not None else SquaredEuclideanDistance())
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        self.margin = check_positive(margin, "margin", allow_zero=True)
        self.mining = mining
        triplet_mask(torch.zeros(1, 1), torch.zeros(1, dtype=torch.long), self.distance, 0.0, mining)
        self.reduction = reduction

    def from_matrix(self, mat, labels):
        mat = self._prepare(mat, labels)
        # Work with "smaller = closer" values: a similarity s becomes -s (negation is exact).
        dist = -mat if self.distance.is_similarity else mat
        pos, neg = pair_masks(labels)
        return _TripletMean.apply(dist, pos, neg, self.margin, self.mining, self.reduction)


class _TripletMean(torch.autograd.Function):
    """Mean of [d_ap - d_an + margin]_+ over the mined triplets (see TripletMarginLoss), from the
    (n, n) distance matrix, with its gradient in closed form: +1 per counted triplet on d_ap, -1
    on d_an, divided by the number of triplets averaged.

    For anchor a and positive p, with c = d_ap + margin, the triplets kept are the negatives n with
      all:       any d_an                (violation > 0 iff d_an < c)
      semihard:  d_ap < d_an <= c        (FaceNet eq. 4; violation > 0 iff d_an < c)
      hard:      d_an <= d_ap            (violation > 0 iff d_an < c)
    i.e. d_an in an interval of the anchor's sorted negative distances, and the violation c - d_an
    is > 0 on the part [lo, hi) of it below c. Summed over that part: k c - (P[hi] - P[lo]), with
    P the prefix sums of the sorted distances (in float64, so the differences keep their digits at
    n in the thousands) and k = hi - lo.

    The boundaries are decided by the very float expressions of the (n, n, n) definition
    (``d_an - d_ap <= margin``, ``(d_ap - d_an) + margin > 0``), not by ``d_an <= d_ap + margin``,
    which rounds differently: each expression is monotone in d_an, so its set is still a prefix of
    the sorted negatives; a binary search on the rounded threshold lands within a step or two of
    its end and ``_snap`` moves it there.
    """

    @staticmethod
    def forward(ctx, dist, pos, neg, margin, mining, reduction):
        n = dist.shape[0]
        key, order = dist.masked_fill(~neg, float("inf")).sort(dim=1)  # each anchor's negatives first
        # prefix[a, j] = sum of the j + 1 smallest negative distances of a (inf past its negatives,
        # never read: no index below exceeds the anchor's number of negatives)
        prefix = key.cumsum(1, dtype=torch.float64)

        # The positives of each anchor, packed to the left of an (n, P) matrix (P = most positives of
        # an anchor), so that the searches run over the positive pairs only, not over all n^2 pairs.
        counts = pos.sum(1)
        width = int(counts.max()) if n else 0
        rows, cols = pos.nonzero(as_tuple=True)
        slots = torch.arange(rows.numel(), device=dist.device) - (counts.cumsum(0) - counts)[rows]
        p_idx = torch.zeros(n, width, dtype=torch.long, device=dist.device)
        p_idx[rows, slots] = cols
        valid = torch.zeros(n, width, dtype=torch.bool, device=dist.device)
        valid[rows, slots] = True
        d_ap = dist.gather(1, p_idx)
        c = d_ap + margin

        # first negative with a zero violation: (d_ap - d_an) + margin <= 0
        below_c = _snap(key, torch.searchsorted(key, c), lambda v: (d_ap - v) + margin > 0)
        if mining == "all":
            lo = torch.zeros_like(below_c)
            hi_mined = neg.sum(1, keepdim=True).expand_as(below_c)
        elif mining == "semihard":
            lo = torch.searchsorted(key, d_ap, right=True)  # first d_an > d_ap
            # first negative past the margin: d_an - d_ap > margin
            hi_mined = _snap(key, torch.searchsorted(key, c, right=True), lambda v: v - d_ap <= margin)
            hi_mined = hi_mined.clamp_min(lo)
        else:  # hard
            lo = torch.zeros_like(below_c)
            hi_mined = torch.searchsorted(key, d_ap, right=True)  # first d_an > d_ap
        hi = torch.minimum(below_c, hi_mined).clamp_min(lo)  # the mined triplets with violation > 0
        lo, hi = lo.masked_fill(~valid, 0), hi.masked_fill(~valid, 0)

        k = hi - lo
        dist_sum = _range_sum(prefix, lo, hi)
        total = (k.double() * (d_ap.double() + margin) - dist_sum).masked_fill(~valid, 0.0).sum()
        counted = k if reduction == "mean_nonzero" else (hi_mined - lo).masked_fill(~valid, 0)
        count = counted.sum().clamp_min(1)
        ctx.save_for_backward(order, p_idx, lo, hi, count)
        return (total / count).to(dist.dtype)

    @staticmethod
    @once_differentiable  # the saved weights are constants: no silent wrong 2nd derivative
    def backward(ctx, grad):
        order, p_idx, lo, hi, count = ctx.saved_tensors
        n = order.shape[0]
        scale = grad / count.to(grad.dtype)
        # how many counted triplets each sorted negative takes part in: +1 from lo on, -1 from hi on
        steps = torch.zeros(n, n + 1, dtype=grad.dtype, device=grad.device)
        steps.scatter_add_(1, lo, torch.ones_like(lo, dtype=grad.dtype))
        steps.scatter_add_(1, hi, torch.full_like(hi, -1, dtype=grad.dtype))
        per_negative = steps[:, :n].cumsum(1).mul_(-scale)
        out = torch.empty(n, n, dtype=grad.dtype, device=grad.device).scatter_(1, order, per_negative)
        out.scatter_add_(1, p_idx, (hi - lo).to(grad.dtype) * scale)
        return out, None, None, None, None, None


def _range_sum(prefix: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """Sum of the sorted values at positions lo .. hi - 1 of each row, from inclusive prefix sums."""
    def first(i):  # sum of the first i values
        return prefix.gather(1, (i - 1).clamp_min(0)).masked_fill(i == 0, 0.0)
    return first(hi) - first(lo)


def _snap(key: torch.Tensor, idx: torch.Tensor, keep) -> torch.Tensor:
    """Move each index in ``idx`` (rows of ``key`` sorted ascending) to the end of the prefix where
    ``keep(value)`` holds; ``keep`` is elementwise, true then false along a row, and ``idx`` is
    already within a few entries of that end."""
    last = key.shape[1] - 1
    while True:
        up = (idx <= last) & keep(key.gather(1, idx.clamp_max(last)))
        down = (idx > 0) & ~keep(key.gather(1, (idx - 1).clamp_min(0)))
        if not bool(up.any() or down.any()):
            return idx
        idx = idx + up.long() - down.long()


_ANCHOR_RULES = ("official", "pml")


class MultiSimilarityLoss(PairLoss):
    """Multi-Similarity loss with its pair mining (multi_similarity, Wang et al. CVPR 2019, eq. 7-8, 11).

        L = (1/m) sum_i { (1/alpha) log[1 + sum_{k in P_i} exp(-alpha (S_ik - lambda))]
                        + (1/beta)  log[1 + sum_{k in N_i} exp( beta (S_ik - lambda))] }

    with S the cosine similarity, P_i / N_i the positives / negatives of anchor i kept by the mining
    step (``mlcompanion.miners.multi_similarity_mine``, margin ``eps``) or all of them (``mining=False``),
    and m the batch size. Computed with log-sum-exp, so beta = 50 does not overflow in fp16/fp32.

    Defaults are the official code's (``base`` = lambda = 0.5, beta = 40); the paper's text uses
    alpha = 2, beta = 50, lambda = 1: ``MultiSimilarityLoss.paper()``. pytorch-metric-learning's
    defaults are alpha 2, beta 50, base 0.5 (with its miner's epsilon 0.1).

    Rules where implementations differ (each tested):
    - positives with S >= ``dup_thresh`` (near-duplicates of the anchor) are dropped as in the
      official code; ``dup_thresh=None`` keeps them, as pytorch-metric-learning does;
    - ``anchor_rule="official"`` (default): an anchor contributes only if it keeps at least one
      positive AND one negative; otherwise it is skipped (the official loop skips it, or crashes
      when it has no positive at all). ``anchor_rule="pml"``: pytorch-metric-learning's rule, an
      anchor without positives keeps its negative term and one without negatives keeps its
      positive term (each term is log(1 + empty sum) = 0 only when its own set is empty);
    - the sum over anchors is divided by the full batch size (skipped anchors count), as officially
      and as pytorch-metric-learning's mean over anchors.
    """

    def __init__(
        self,
        alpha: float = 2.0,
        beta: float = 40.0,
        base: float = 0.5,
        eps: float = 0.1,
        mining: bool = True,
        dup_thresh: float | None = 1.0 - 1e-5,
        distance: PairwiseDistance | None = None,
        anchor_rule: str = "official",
    ):
        super().__init__(distance if distance is not None else CosineSimilarity())
        if not self.distance.is_similarity:
            raise ValueError(f"MultiSimilarityLoss needs a similarity (larger = closer), got {self.distance!r}")
        if anchor_rule not in _ANCHOR_RULES:
            raise ValueError(f"anchor_rule must be one of {_ANCHOR_RULES}, got {anchor_rule!r}")
        self.alpha = check_positive(alpha, "alpha")
        self.beta = check_positive(beta, "beta")
        self.base = check_number(base, "base")
        self.eps = check_positive(eps, "eps", allow_zero=True)
        self.mining = bool(mining)
        self.dup_thresh = None if dup_thresh is None else check_number(dup_thresh, "dup_thresh")
        self.anchor_rule = anchor_rule

    @classmethod
    def paper(cls, **kwargs) -> "MultiSimilarityLoss":
        """The hyper-parameters printed in the paper: alpha 2, beta 50, lambda 1, eps 0.1."""
        return cls(**{"alpha": 2.0, "beta": 50.0, "base": 1.0, "eps": 0.1, **kwargs})

    def select_pairs(self, sim, labels) -> tuple[torch.Tensor, torch.Tensor]:
        """The positive and negative masks the loss uses (mined or all)."""
        if self.mining:
            return multi_similarity_mine(sim.detach(), labels, self.eps, self.dup_thresh)
        pos, neg = pair_masks(labels)
        if self.dup_thresh is not None:
            pos = pos & (sim.detach() < self.dup_thresh)
        return pos, neg

    def from_matrix(self, sim, labels):
        sim = self._prepare(sim, labels, "sim")
        if sim.shape[0] == 0:
            raise ValueError("sim must be a non-empty (n, n) matrix (n >= 1), got shape (0, 0)")
        return _MultiSimilarity.apply(sim, labels, self)

    def extra_repr(self) -> str:
        return (f"alpha={self.alpha}, beta={self.beta}, base={self.base}, eps={self.eps}, "
                f"mining={self.mining}, dup_thresh={self.dup_thresh}, anchor_rule={self.anchor_rule!r}")


class _MultiSimilarity(torch.autograd.Function):
    """The MS loss from the similarity matrix, one block of anchors at a time, with the gradient of
    the paper's pair weighting (multi_similarity eq. 12-13) written out:

        dL/dS_ij = (1/m) exp(beta (S_ij - lambda)) / (1 + sum_{k in N_i} exp(beta (S_ik - lambda)))    j in N_i
                  -(1/m) exp(-alpha (S_ij - lambda)) / (1 + sum_{k in P_i} exp(-alpha (S_ik - lambda)))  j in P_i

    so the backward pass is one multiplication. Mining (eq. 7-8, ``mlcompanion.miners.multi_similarity_mine``)
    uses the same comparisons as the miner, row by row.
    """

    @staticmethod
    def forward(ctx, sim, labels, loss):
        n = sim.shape[0]
        weights = torch.empty_like(sim)
        per_anchor = sim.new_zeros(n)
        big = torch.finfo(sim.dtype).max
        rows = max(1, _BLOCK_ENTRIES // max(n, 1))
        for start in range(0, n, rows):
            s = sim[start:start + rows]
            same = labels[start:start + rows].unsqueeze(1) == labels.unsqueeze(0)
            pos = same.clone()
            pos.diagonal(offset=start).fill_(False)
            if loss.dup_thresh is not None:
                pos &= s < loss.dup_thresh
            neg = ~same
            if loss.mining:
                hardest_pos = s.masked_fill(~pos, big).amin(1, keepdim=True)
                hardest_neg = s.masked_fill(same, -big).amax(1, keepdim=True)
                neg &= (s + loss.eps) > hardest_pos
                pos &= (s - loss.eps) < hardest_neg
            centred = s - loss.base
            pos_term, pos_weight = _log1p_sum_exp_and_softmax(centred * -loss.alpha, pos)
            neg_term, neg_weight = _log1p_sum_exp_and_softmax(centred * loss.beta, neg)
            block = (pos_term / loss.alpha + neg_term / loss.beta)
            torch.sub(neg_weight, pos_weight, out=weights[start:start + rows])
            if loss.anchor_rule == "official":  # "pml": an empty set's term is already exactly 0
                active = (pos.any(1) & neg.any(1)).unsqueeze(1)
                block = block.masked_fill(~active[:, 0], 0.0)
                weights[start:start + rows].masked_fill_(~active, 0.0)
            per_anchor[start:start + rows] = block
        ctx.save_for_backward(weights)
        return per_anchor.sum() / n

    @staticmethod
    @once_differentiable  # the saved weights are constants: no silent wrong 2nd derivative
    def backward(ctx, grad):
        (weights,) = ctx.saved_tensors
        return weights * (grad / weights.shape[0]), None, None


def _log1p_sum_exp_and_softmax(logits: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Row-wise log(1 + sum_{j in mask} exp(logits_ij)), stable, and its derivative with respect to
    each logit, exp(logits_ij) / (1 + sum ...) on the mask and 0 off it. Overwrites ``logits``."""
    masked = logits.masked_fill_(~mask, float("-inf"))
    top = masked.amax(1, keepdim=True).clamp_min_(0.0)  # the 1 is exp(0): shift by max(0, max logit)
    exps = masked.sub_(top).exp_()
    total = exps.sum(1, keepdim=True).add_(torch.exp(-top))
    return (top + total.log()).squeeze(1), exps.div_(total)


class BinomialDevianceLoss(PairLoss):
    """Binomial deviance loss (Yi et al. 2014), in the form of the ECAML code (energy_confusion).

        L = mean_{(i,j) in P} log(1 + exp(-alpha c_pos (s_ij - beta)))
          + mean_{(i,j) in N} log(1 + exp( alpha c_neg (s_ij - beta)))

    with s the cosine similarity (the inputs need not be normalised), alpha = 2, beta = 0.5,
    c_pos = 1, c_neg = 25 as in the released prototxt, and separate means over positive and
    negative pairs (i != j).
    """

    def __init__(
        self,
        alpha: float = 2.0,
        beta: float = 0.5,
        c_pos: float = 1.0,
        c_neg: float = 25.0,
        distance: PairwiseDistance | None = None,
    ):
        super().__init__(distance if distance is not None else CosineSimilarity())
        if not self.distance.is_similarity:
            raise ValueError(f"BinomialDevianceLoss needs a similarity (larger = closer), got {self.distance!r}")
        self.alpha = check_positive(alpha, "alpha")
        self.beta = check_number(beta, "beta")
        self.c_pos = check_positive(c_pos, "c_pos")
        self.c_neg = check_positive(c_neg, "c_neg")

    def from_matrix(self, sim, labels):
        sim = self._prepare(sim, labels, "sim")
        pos, neg = pair_masks(labels)
        l_pos = F.softplus(-self.alpha * self.c_pos * (sim - self.beta))
        l_neg = F.softplus(self.alpha * self.c_neg * (sim - self.beta))
        return masked_mean(l_pos, pos, "mean") + masked_mean(l_neg, neg, "mean")
