"""Pairwise distances and similarities that every loss and metric takes as an argument.

A ``PairwiseDistance`` maps a query matrix ``x`` (n, d) and a reference matrix ``y`` (m, d) to an
(n, m) matrix. ``is_similarity`` says which way is "closer": True for cosine and dot product
(larger = closer), False for Euclidean distances (smaller = closer). Losses use it to pick the
right sign, so the same loss runs with any distance, as in pytorch-metric-learning's design.

Numerical contract (tested):
- with ``y`` omitted (a batch against itself) the self-distance is exactly 0 (self-similarity of a
  cosine is exactly 1), whatever the batch size;
- the Euclidean distance has a finite (zero) gradient at zero distance, where sqrt would give NaN.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..validation import check_embeddings

__all__ = [
    "PairwiseDistance",
    "EuclideanDistance",
    "SquaredEuclideanDistance",
    "CosineSimilarity",
    "DotProductSimilarity",
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
        same = y is None
        if self.normalize:
            x = F.normalize(x, dim=1)
            y = x if same else F.normalize(y, dim=1)
        return self._compute(x, x if same else y, same)

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


def _squared_euclidean(x: torch.Tensor, y: torch.Tensor, same: bool) -> torch.Tensor:
    # ||x||^2 + ||y||^2 - 2 x.y: one matmul, no (n, m, d) tensor. Rounding can make it slightly
    # negative, and the diagonal of a batch against itself is not exactly 0, so fix both.
    if same:
        return _SelfSquaredEuclidean.apply(x, False)
    sq = (x * x).sum(1, keepdim=True) + (y * y).sum(1).unsqueeze(0) - 2.0 * (x @ y.T)
    return sq.clamp_min(0.0)


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
        # the same roundings as the general formula: (n_i + n_j) - 2 x_i.x_j
        d = (x @ x.T).mul_(-2.0).add_(sq_norm.unsqueeze(1) + sq_norm.unsqueeze(0))
        clipped = d < 0  # clamp_min(0): no gradient through the clipped entries
        d.clamp_min_(0.0)
        d.diagonal().zero_()
        if root:
            d.sqrt_()
            ctx.save_for_backward(x, clipped, d)
        else:
            ctx.save_for_backward(x, clipped)
        ctx.root = root
        return d

    @staticmethod
    def backward(ctx, grad):
        if ctx.root:
            x, clipped, d = ctx.saved_tensors
            # d sqrt(q) / dq = 1 / (2 sqrt(q)), and 0 where q = 0 (the safe sqrt of EuclideanDistance)
            positive = d > 0
            grad = torch.where(positive, grad / torch.where(positive, d, torch.ones_like(d)), 0.0) * 0.5
        else:
            x, clipped = ctx.saved_tensors
        h = grad.masked_fill(clipped, 0.0)
        h.diagonal().zero_()
        g = h + h.T
        return 2.0 * (g.sum(1, keepdim=True) * x - g @ x), None


class SquaredEuclideanDistance(PairwiseDistance):
    """d(x, y) = ||x - y||^2 (FaceNet's distance for the triplet loss, Schroff et al. 2015)."""

    name = "squared euclidean"

    def _compute(self, x, y, same):
        return _squared_euclidean(x, y, same)


class EuclideanDistance(PairwiseDistance):
    """d(x, y) = ||x - y||_2, with d = 0 and a zero (finite) gradient where x = y."""

    name = "euclidean"

    def _compute(self, x, y, same):
        if same:
            return _SelfSquaredEuclidean.apply(x, True)
        sq = _squared_euclidean(x, y, same)
        positive = sq > 0
        safe = torch.where(positive, sq, torch.ones_like(sq))
        return torch.where(positive, safe.sqrt(), torch.zeros_like(sq))


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
