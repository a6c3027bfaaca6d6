"""Pairwise distances and similarities that every loss and metric takes as an argument.

A ``PairwiseDistance`` maps a query matrix ``x`` (n, d) and a reference matrix ``y`` (m, d) to an
(n, m) matrix. ``is_similarity`` says which way is "closer": True for cosine and dot product
(larger = closer), False for Euclidean distances (smaller = closer). Losses use it to pick the
right sign, so the same loss runs with any distance, as in pytorch-metric-learning's design.

Numerical contract (tested):
- with ``y`` omitted (a batch against itself) the self-distance is exactly 0 (self-similarity of a
  cosine is exactly 1), whatever the batch size;
- the Euclidean distance has a finite (zero) gradient at zero distance, where sqrt would give NaN;
- half-precision inputs (float16, bfloat16) are computed in float32, outside any autocast region,
  and the (n, m) result is float32: ||x||^2 + ||y||^2 - 2 x.y overflows float16 (max 65504) for
  rows of norm ~180, and its rounding error is that of float32, not float16;
- close pairs are kept: the Gram expansion loses every squared distance below about
  1e-7 (||x||^2 + ||y||^2) in float32 (pairs closer than ~3e-4 at unit norm become exactly 0), so
  entries below ``CLOSE_PAIR_RTOL`` (||x||^2 + ||y||^2) are recomputed as sum((x - y)^2) directly,
  with their gradient.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F

from ..validation import check_embeddings

# A Gram-expansion squared distance below CLOSE_PAIR_RTOL (||x||^2 + ||y||^2) has lost more than
# ~1e-4 of its relative precision in float32 (rounding error ~1e-7 (||x||^2 + ||y||^2)): such entries
# are recomputed from the differences. At unit norm that is pairs closer than ~0.045.
CLOSE_PAIR_RTOL = 2.0 ** -10
# Pairs recomputed per chunk (each is a d-vector difference), so memory stays bounded.
REFINE_CHUNK = 1 << 16

_HALF = (torch.float16, torch.bfloat16)


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype a distance is computed in: float32 for half precision, the input's dtype otherwise."""
    return torch.float32 if dtype in _HALF else dtype


def full_precision(x: torch.Tensor) -> torch.Tensor:
    """``x`` in at least float32 (half precision upcast; float32 and float64 returned as they are)."""
    return x.float() if x.dtype in _HALF else x


def safe_sqrt(q: torch.Tensor) -> torch.Tensor:
    """sqrt(q) for q >= 0 with gradient 0 (not NaN) where q = 0: the square root of a squared distance
    that may be exactly zero (a point on its centre, a duplicate pair)."""
    positive = q > 0
    return torch.where(positive, torch.where(positive, q, torch.ones_like(q)).sqrt(), torch.zeros_like(q))


def no_autocast(device: torch.device):
    """A context in which autocast is off on ``device`` (distances compute in >= float32 under AMP)."""
    if torch.is_autocast_enabled(device.type):
        return torch.autocast(device.type, enabled=False)
    return contextlib.nullcontext()

__all__ = [
    "PairwiseDistance",
    "EuclideanDistance",
    "SquaredEuclideanDistance",
    "CosineSimilarity",
    "DotProductSimilarity",
    "squared_euclidean",
    "normalized_squared_euclidean",
    "CLOSE_PAIR_RTOL",
    "REFINE_CHUNK",
]


class PairwiseDistance:
    """Base class. Subclasses implement ``_compute(x, y)`` on validated float matrices.

    Args:
        normalize: L2-normalise both inputs first (cosine similarity always does).
    """

    is_similarity: bool = False
    name: str = "distance"

    def __init__(self, normalize: bool = False):
        self.normalize = bool(normalize)

    def __call__(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        check_embeddings(x, "x")
        same = y is None
        if not same:
            check_embeddings(y, "y")
            if y.shape[1] != x.shape[1]:
                raise ValueError(
                    f"x and y must have the same embedding size, got d={x.shape[1]} and d={y.shape[1]}"
                )
            if y.dtype != x.dtype:
                raise ValueError(f"x and y must have the same dtype, got {x.dtype} and {y.dtype}")
        return self._checked_call(x, y)

    def _checked_call(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """``self(x, y)`` on inputs the caller has already checked (a loss checks its embeddings once;
        the finiteness check is a few passes over the whole (n, d) matrix)."""
        with no_autocast(x.device):
            return self._compute(*self.prepare(x, y), y is None)

    def prepare(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, y)`` as the kernel takes them: in at least float32, L2-normalised if the distance
        normalises; ``y=None`` gives ``(x, x)`` (one tensor)."""
        x = full_precision(x)
        if self.normalize:
            x = F.normalize(x, dim=1)
        if y is None:
            return x, x
        y = full_precision(y)
        return x, F.normalize(y, dim=1) if self.normalize else y

    def _compute(self, x, y, same: bool) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def closer(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Elementwise: is ``a`` closer than ``b``?"""
        return a > b if self.is_similarity else a < b

    def margin_violation(self, d_pos: torch.Tensor, d_neg: torch.Tensor, margin: float) -> torch.Tensor:
        """``d_pos - d_neg + margin`` for distances, ``s_neg - s_pos + margin`` for similarities.

        Positive where a negative is not at least ``margin`` further than a positive.
        """
        if self.is_similarity:
            return d_neg - d_pos + margin
        return d_pos - d_neg + margin

    def __repr__(self) -> str:
        return f"{type(self).__name__}(normalize={self.normalize})"


def _close_pairs(sq: torch.Tensor, scale: torch.Tensor) -> torch.Tensor | None:
    """Indices (i, j) of the entries whose Gram-expansion value ``sq`` is below
    ``CLOSE_PAIR_RTOL * scale`` (scale = ||x_i||^2 + ||y_j||^2), or None if there are none."""
    close = sq.detach() <= CLOSE_PAIR_RTOL * scale
    if not bool(close.any()):
        return None
    return close.nonzero(as_tuple=True)


def _direct_squared(x: torch.Tensor, y: torch.Tensor, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
    """sum((x_i - y_j)^2) for the listed pairs, ``REFINE_CHUNK`` pairs at a time."""
    parts = [
        (x[i[s:s + REFINE_CHUNK]] - y[j[s:s + REFINE_CHUNK]]).pow(2).sum(1)
        for s in range(0, i.numel(), REFINE_CHUNK)
    ]
    return torch.cat(parts)


def squared_euclidean(x: torch.Tensor, y: torch.Tensor, same: bool, nx: torch.Tensor | None = None) -> torch.Tensor:
    """||x_i - y_j||^2, (n, m): ``SquaredEuclideanDistance``'s kernel, for loss implementers (no input checks).

    ||x||^2 + ||y||^2 - 2 x.y: one matmul, no (n, m, d) tensor. Rounding can make it slightly
    negative, and the diagonal of a batch against itself is not exactly 0, so both are fixed; entries
    that cancelled (close pairs, below ``CLOSE_PAIR_RTOL (||x||^2 + ||y||^2)``) are recomputed from
    the differences, ``REFINE_CHUNK`` pairs at a time. ``same``: y is x (one symmetric matmul, exact
    zero diagonal). ``nx``: the caller's (n, 1) squared norms of x, if it has them already.
    """
    if same:
        return _SelfSquaredEuclidean.apply(x, False)
    nx = (x * x).sum(1, keepdim=True) if nx is None else nx
    ny = (y * y).sum(1).unsqueeze(0)
    sq = (nx + ny - 2.0 * (x @ y.T)).clamp_min(0.0)
    pairs = _close_pairs(sq, nx.detach() + ny.detach())
    if pairs is None:
        return sq
    return sq.index_put(pairs, _direct_squared(x, y, *pairs))


# A batch against itself: the (n, n) matrix and its backward in as few passes over n^2 entries as
# possible (the pair losses' floor is this matmul). Forward: one matmul, then in-place updates.
# Backward: the incoming gradient G is symmetrised first, so the gradient of x x^T costs ONE matmul
# ((G + G^T) x) instead of the two (G x + G^T x) of autograd's matmul rule. The values are those
# of the plain formulas above; only the backward's rounding differs (sums in another order).


class _SelfGram(torch.autograd.Function):
    """s = x x^T with its diagonal set to ``diag`` (None: left as computed, gradient kept)."""

    @staticmethod
    def forward(ctx, x, diag):
        ctx.save_for_backward(x)
        ctx.diag = diag
        s = x @ x.T
        if diag is not None:
            s.diagonal().fill_(diag)
        return s

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        g = grad + grad.T
        if ctx.diag is not None:
            g.diagonal().zero_()
        return g @ x, None


class _SelfSquaredEuclidean(torch.autograd.Function):
    """d_ij = max(||x_i||^2 + ||x_j||^2 - 2 x_i.x_j, 0) with d_ii = 0 (``root``: its square root,
    with gradient 0 where d = 0, as ``EuclideanDistance``)."""

    @staticmethod
    def forward(ctx, x, root):
        sq_norm = (x * x).sum(1)
        scale = sq_norm.unsqueeze(1) + sq_norm.unsqueeze(0)
        # the same roundings as the general formula: (n_i + n_j) - 2 x_i.x_j
        d = (x @ x.T).mul_(-2.0).add_(scale)
        clipped = d < 0  # clamp_min(0): no gradient through the clipped entries
        d.clamp_min_(0.0)
        d.diagonal().zero_()
        # close off-diagonal pairs, symmetrically (x x^T need not be exactly symmetric in floats)
        close = d <= CLOSE_PAIR_RTOL * scale
        close.diagonal().fill_(False)
        close |= close.T.clone()
        if bool(close.any()):
            i, j = close.nonzero(as_tuple=True)
            d[i, j] = _direct_squared(x, x, i, j)
            clipped[i, j] = False
        else:
            i = j = x.new_zeros(0, dtype=torch.long)
        if root:
            d.sqrt_()
            ctx.save_for_backward(x, clipped, i, j, d)
        else:
            ctx.save_for_backward(x, clipped, i, j)
        ctx.root = root
        return d

    @staticmethod
    def backward(ctx, grad):
        if ctx.root:
            x, clipped, i, j, d = ctx.saved_tensors
            # d sqrt(q) / dq = 1 / (2 sqrt(q)), and 0 where q = 0 (the safe sqrt of EuclideanDistance)
            positive = d > 0
            grad = torch.where(positive, grad / torch.where(positive, d, torch.ones_like(d)), 0.0) * 0.5
        else:
            x, clipped, i, j = ctx.saved_tensors
        h = grad.masked_fill(clipped, 0.0)
        h.diagonal().zero_()
        g = h + h.T
        if i.numel() == 0:
            return 2.0 * (g.sum(1, keepdim=True) * x - g @ x), None
        # close pairs: their term g_ij (x_i - x_j) from the differences, not from two large
        # products that cancel (its weight g_ij ~ 1/d is large where d is small)
        g_close = g[i, j]
        g[i, j] = 0.0
        out = 2.0 * (g.sum(1, keepdim=True) * x - g @ x)
        return out.index_add_(0, i, 2.0 * g_close.unsqueeze(1) * (x[i] - x[j])), None


class SquaredEuclideanDistance(PairwiseDistance):
    """d(x, y) = ||x - y||^2 (FaceNet's distance for the triplet loss, Schroff et al. 2015)."""

    name = "squared euclidean"

    def _compute(self, x, y, same):
        return squared_euclidean(x, y, same)


class EuclideanDistance(PairwiseDistance):
    """d(x, y) = ||x - y||_2, with d = 0 and a zero (finite) gradient where x = y."""

    name = "euclidean"

    def _compute(self, x, y, same):
        if same:
            return _SelfSquaredEuclidean.apply(x, True)
        return safe_sqrt(squared_euclidean(x, y, same))


class CosineSimilarity(PairwiseDistance):
    """s(x, y) = <x, y> / (||x|| ||y||); self-similarity exactly 1. Always normalises its inputs."""

    is_similarity = True
    name = "cosine"

    def __init__(self, normalize: bool = True):
        if not normalize:
            raise ValueError("CosineSimilarity always normalises; use DotProductSimilarity for raw inner products")
        super().__init__(normalize=True)

    def _compute(self, x, y, same):
        if same:
            return _SelfGram.apply(x, 1.0)
        return x @ y.T


class DotProductSimilarity(PairwiseDistance):
    """s(x, y) = <x, y>. Equals cosine similarity on L2-normalised inputs (``normalize=True``)."""

    is_similarity = True
    name = "dot product"

    def _compute(self, x, y, same):
        return _SelfGram.apply(x, None) if same else x @ y.T


# F.normalize's floor on a row norm; rows below it are not unit vectors after normalisation
_NORM_FLOOR = 1e-12


def normalized_squared_euclidean(x: torch.Tensor) -> torch.Tensor:
    """||u_i - u_j||^2 with u = F.normalize(x), (n, n), keeping close pairs; for loss implementers (no input checks).

    ``SquaredEuclideanDistance`` recomputes close pairs of u from the differences u_i - u_j, but
    rounding u itself already costs each coordinate ~1e-7 (float32), i.e. 1 % of a difference of
    1e-5: the direction of a near-duplicate pair, which the negative term's gradient follows (its
    weight is 1 / d), would be off by that much. For those pairs (the same threshold, off the
    diagonal) the difference is taken before the normalisation, with t = a_j / a_i (a = ||x||):

        u_i - u_j = (x_i - x_j) / a_i + (x_j / a_i) * (a_j - a_i) / (a_i t)
        (a_j - a_i) / a_i = [((x_j - x_i) / a_i) . ((x_j + x_i) / a_i)] / (1 + t)

    (x_i - x_j is exact for close rows; no term cancels).
    """
    u = F.normalize(x, dim=1)
    sq = _SQUARED_DISTANCE._checked_call(u)
    norms = x.norm(dim=1)
    close = sq.detach() <= CLOSE_PAIR_RTOL * 2.0
    close.diagonal().fill_(False)
    close &= (norms.detach() > _NORM_FLOOR).unsqueeze(1) & (norms.detach() > _NORM_FLOOR).unsqueeze(0)
    if not bool(close.any()):
        return sq
    i, j = close.nonzero(as_tuple=True)
    parts = []
    for s in range(0, i.numel(), REFINE_CHUNK):
        ii, jj = i[s:s + REFINE_CHUNK], j[s:s + REFINE_CHUNK]
        a_i, a_j = norms[ii].unsqueeze(1), norms[jj].unsqueeze(1)
        xi, xj = x[ii], x[jj]
        t = a_j / a_i
        rel_gap = ((xj - xi) / a_i * ((xj + xi) / a_i)).sum(1, keepdim=True) / (1.0 + t)
        diff = (xi - xj) / a_i + (xj / a_i) * (rel_gap / t)
        parts.append(diff.pow(2).sum(1))
    return sq.index_put((i, j), torch.cat(parts))


_SQUARED_DISTANCE = SquaredEuclideanDistance()
