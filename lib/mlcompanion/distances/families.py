"""The distance families of the harmonic-loss papers, as (n, C) distances between features and
class prototypes.

Paper (slug ``harmonic_distances``): "Rethinking the Harmonic Loss via Non-Euclidean Distance
Layers" (arXiv 2026, id unverified), official code ``maxwellmg/rethinking-harmonic-loss``
(``vision/models/distlayers.py``, commit d1ead34). It builds on Baek et al., "Harmonic Loss Trains
Interpretable AI Models" (arXiv 2502.01628), code ``KindXiaoming/grow-crystals``.

``pairwise(x, w, kind)`` returns the distance ``D(x_i, w_c)`` that the paper's distance layer
raises to the power ``-n`` (the column "Distance D" of the brief's table), for every sample ``i``
and every class prototype ``c``:

=======================  ==========================================================  ===================
kind                     official D (``official=True``, the paper's layer)            textbook (``False``)
=======================  ==========================================================  ===================
euclidean                ||x - w||^2 + eps  (**squared**; eps 1e-4)                   ||x - w||_2
manhattan                sum |x - w| + eps                                            sum |x - w|
cosine                   1 - x^.w^ + eps  (normalised inputs, "cosine_stable")         1 - x^.w^
cosine_unstable          1 - x.w / (||x|| ||w|| + eps) + eps                           1 - x^.w^
minkowski (p)            (clamp(sum clamp(|x-w| + eps, eps, 1e6)^p + eps, eps))^(1/p)  (sum |x-w|^p)^(1/p)
hamming_soft (T)         sum |sigmoid(x/T) - sigmoid(w/T)|                             same
chebyshev                **not a max**: delta = |x-w| / (std_k |x-w| + eps),           max_k |x - w|
                         D = sum_k softmax(delta)_k delta_k
chebyshev_smooth (a)     logsumexp(clamp(a delta, -50, 50)) / a                        max_k |x - w|
canberra                 sum |x-w| / (|x| + |w|, values < eps replaced by eps)         sum |x-w|/(|x|+|w|) (0/0 := 0)
bray_curtis              sum |x-w| / max(|sum (x + w)| + eps, 10 eps)  (eps 1e-3)      sum |x-w| / sum |x+w| (scipy)
bray_curtis_abs          sum |x-w| / max(sum (|x| + |w|) + eps, 10 eps)                sum |x-w| / sum |x+w|
bray_curtis_normalized   x' = (|x| + eps) / sum(|x| + eps) (same for w), then standard  sum |x-w| / sum |x+w|
mahalanobis (P)          sqrt(max((x-w)^T P (x-w), 0) + eps)                           sqrt((x-w)^T P (x-w))
=======================  ==========================================================  ===================

Differences from scipy that matter (tested in ``tests/test_harmonic.py``):

* The paper's **Bray-Curtis** denominator is ``|sum(x + w)|``; scipy's is ``sum |x + w|``. They agree
  (up to eps) for non-negative inputs and differ for signed ones (a learnable prototype is signed).
* The paper's **Chebyshev** is a softmax-weighted mean of standardised coordinate gaps, not the
  max of scipy's ``chebyshev``; ``official=False`` gives the true max.
* The official **Euclidean** layer uses the squared distance, so its ``n = 1`` means ``d^-2``;
  cosine distance ``1 - cos = ||x^ - w^||^2 / 2`` is "squared" too, while Manhattan, Bray-Curtis,
  Chebyshev and Mahalanobis are not: the same ``n`` is a different sharpness per family.

Defaults follow the official vision config (``regular_config.py``): eps = 1e-4 everywhere except
Bray-Curtis (1e-3), Minkowski p = 1.5,
Hamming temperature 1 (floored at 0.1), eps floored at 1e-6 for Minkowski and Bray-Curtis and at
1e-8 for Chebyshev and Canberra (the code's ``max(eps, ...)``; so ``eps=0`` is not exact there), smooth-Chebyshev alpha 10 (clamped to
[1, 20] as in the code). The official Euclidean layer expands ``||x||^2 + ||w||^2 - 2 x.w`` without
clamping; we clamp the expansion at 0 before adding eps (``mlcompanion.distances.SquaredEuclideanDistance``),
which only differs when rounding makes it negative.

All functions are vectorised; L1-type families build an (n, C, d) difference tensor.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..validation import check_embeddings, check_positive
from .base import CosineSimilarity, EuclideanDistance, SquaredEuclideanDistance, full_precision, no_autocast, safe_sqrt

__all__ = ["DISTANCE_KINDS", "FAMILY_DEFAULTS", "pairwise", "is_squared", "check_precision"]

#: Per family: default eps of the official layer, whether the official layer min-normalises D
#: before the power (only euclidean / manhattan / cosine do), and whether D is a *squared* distance.
FAMILY_DEFAULTS: dict[str, dict] = {
    "euclidean": dict(eps=1e-4, min_normalize=True, squared=True),
    "manhattan": dict(eps=1e-4, min_normalize=True, squared=False),
    "cosine": dict(eps=1e-4, min_normalize=True, squared=True),
    "cosine_unstable": dict(eps=1e-4, min_normalize=True, squared=True),
    "minkowski": dict(eps=1e-4, min_normalize=False, squared=False),
    "hamming_soft": dict(eps=1e-4, min_normalize=False, squared=False),
    "chebyshev": dict(eps=1e-4, min_normalize=False, squared=False),
    "chebyshev_smooth": dict(eps=1e-4, min_normalize=False, squared=False),
    "canberra": dict(eps=1e-4, min_normalize=False, squared=False),
    "bray_curtis": dict(eps=1e-3, min_normalize=False, squared=False),
    "bray_curtis_abs": dict(eps=1e-3, min_normalize=False, squared=False),
    "bray_curtis_normalized": dict(eps=1e-3, min_normalize=False, squared=False),
    "mahalanobis": dict(eps=1e-4, min_normalize=False, squared=False),
}
DISTANCE_KINDS: tuple[str, ...] = tuple(FAMILY_DEFAULTS)


def is_squared(kind: str) -> bool:
    """True where the official D is a squared distance (euclidean, cosine), so ``n`` acts as ``2n``."""
    return FAMILY_DEFAULTS[_check_kind(kind)]["squared"]


def _check_kind(kind) -> str:
    if kind not in FAMILY_DEFAULTS:
        raise ValueError(f"kind must be one of {list(DISTANCE_KINDS)}, got {kind!r}")
    return kind


def check_precision(precision, d: int, dtype: torch.dtype) -> torch.Tensor:
    """Check a Mahalanobis precision matrix, a finite floating-point (d, d) tensor, and return it in
    ``dtype`` (the dtype the distances are computed in)."""
    if not isinstance(precision, torch.Tensor) or precision.shape != (d, d):
        got = tuple(precision.shape) if isinstance(precision, torch.Tensor) else type(precision).__name__
        raise ValueError(f"precision must be a ({d}, {d}) tensor for {d}-d features, got {got}")
    if not precision.is_floating_point():
        raise ValueError(f"precision must be a floating-point tensor, got {precision.dtype}")
    if not bool(torch.isfinite(precision).all()):
        raise ValueError("precision must be finite, got NaN/Inf entries")
    return precision.to(dtype)


def pairwise(
    x: torch.Tensor,
    w: torch.Tensor,
    kind: str,
    *,
    official: bool = True,
    eps: float | None = None,
    p: float = 1.5,
    alpha: float = 10.0,
    temperature: float = 1.0,
    precision: torch.Tensor | None = None,
) -> torch.Tensor:
    """Distances ``D[i, c] = D(x_i, w_c)`` of paper ``harmonic_distances`` (official ``distlayers.py``).

    Args:
        x: features (n, d); w: class prototypes (C, d); same dtype.
        kind: one of ``DISTANCE_KINDS`` (see the module table).
        official: True (default) for the paper's layer formula (eps inside, the squared Euclidean,
            the softmax "Chebyshev", the ``|sum(x + w)|`` Bray-Curtis denominator); False for the
            textbook metric that scipy computes (``euclidean``, ``cityblock``, ``cosine``,
            ``minkowski``, ``chebyshev``, ``canberra``, ``braycurtis``, ``mahalanobis`` with VI = P).
        eps: the official eps (default per family, ``FAMILY_DEFAULTS``); ignored when not official,
            except in ``cosine_unstable`` / ``hamming_soft`` which have no separate textbook form.
        p: Minkowski order (> 0). alpha: smooth-Chebyshev sharpness (clamped to [1, 20] like the code).
        temperature: soft-Hamming temperature (> 0).
        precision: Mahalanobis precision matrix P (d, d), used as given (``HarmonicHead`` builds the
            official regularised P). Not PSD-constrained: the quadratic form is clamped at 0.
    Returns a non-negative (n, C) tensor (strictly positive when official and eps > 0), computed in
    float32 for half-precision inputs (and returned in float32), as every distance of ``lib``.
    """
    check_embeddings(x, "x")
    check_embeddings(w, "w")
    kind = _check_kind(kind)
    if w.shape[1] != x.shape[1]:
        raise ValueError(f"x and w must have the same feature size, got d={x.shape[1]} and d={w.shape[1]}")
    if w.dtype != x.dtype:
        raise ValueError(f"x and w must have the same dtype, got {x.dtype} and {w.dtype}")
    with no_autocast(x.device):
        return _pairwise(full_precision(x), full_precision(w), kind, official, eps, p, alpha, temperature, precision)


def _pairwise(x, w, kind, official, eps, p, alpha, temperature, precision):
    e = FAMILY_DEFAULTS[kind]["eps"] if eps is None else check_positive(eps, "eps", allow_zero=True)
    official = bool(official)

    if kind == "euclidean":
        return SquaredEuclideanDistance()(x, w) + e if official else EuclideanDistance()(x, w)
    if kind == "cosine":
        return 1.0 - CosineSimilarity()(x, w) + (e if official else 0.0)
    if kind == "cosine_unstable":
        if not official:
            return 1.0 - CosineSimilarity()(x, w)
        denom = x.norm(dim=1, keepdim=True) * w.norm(dim=1).unsqueeze(0) + e
        return 1.0 - (x @ w.T) / denom + e
    if kind == "mahalanobis":
        if precision is None:
            raise ValueError("kind='mahalanobis' needs precision=P, a (d, d) tensor (the inverse covariance)")
        P = check_precision(precision, x.shape[1], x.dtype)
        diff = x.unsqueeze(1) - w.unsqueeze(0)
        q = torch.einsum("icd,de,ice->ic", diff, P, diff).clamp_min(0.0)
        return (q + e).sqrt() if official else safe_sqrt(q)

    diff = x.unsqueeze(1) - w.unsqueeze(0)  # (n, C, d)
    adiff = diff.abs()
    if kind == "manhattan":
        return adiff.sum(-1) + (e if official else 0.0)
    if kind == "minkowski":
        p = check_positive(p, "p")
        if not official:
            return adiff.pow(p).sum(-1).pow(1.0 / p)
        e = max(e, 1e-6)  # the code's floor
        terms = (adiff + e).clamp(e, 1e6).pow(p)
        return (terms.sum(-1) + e).clamp_min(e).pow(1.0 / p)
    if kind == "hamming_soft":
        t = max(check_positive(temperature, "temperature"), 0.1)  # the code's floor
        return (torch.sigmoid(x / t).unsqueeze(1) - torch.sigmoid(w / t).unsqueeze(0)).abs().sum(-1)
    if kind in ("chebyshev", "chebyshev_smooth"):
        if not official:
            return adiff.amax(-1)
        if x.shape[1] < 2:
            raise ValueError(f"the official Chebyshev standardises over features and needs d >= 2, got d={x.shape[1]}")
        e = max(e, 1e-8)
        delta = adiff / (adiff.std(dim=-1, keepdim=True) + e)  # unbiased std, as torch.std in the code
        if kind == "chebyshev":
            return (torch.softmax(delta, dim=-1) * delta).sum(-1)
        a = max(min(check_positive(alpha, "alpha"), 20.0), 1.0)
        return torch.logsumexp((a * delta).clamp(-50.0, 50.0), dim=-1) / a
    if kind == "canberra":
        denom = x.abs().unsqueeze(1) + w.abs().unsqueeze(0)
        if official:
            e = max(e, 1e-8)
            denom = torch.where(denom < e, torch.full_like(denom, e), denom)
            return (adiff / denom).sum(-1)
        zero = denom == 0  # scipy: 0/0 terms count as 0
        return torch.where(zero, torch.zeros_like(adiff), adiff / torch.where(zero, torch.ones_like(denom), denom)).sum(-1)
    # Bray-Curtis family
    if not official:
        return adiff.sum(-1) / (x.unsqueeze(1) + w.unsqueeze(0)).abs().sum(-1)
    e = max(e, 1e-6)
    if kind == "bray_curtis_normalized":
        xp, wp = x.abs() + e, w.abs() + e
        xn = xp / xp.sum(-1, keepdim=True).clamp_min(max(1e-3, 10 * e))
        wn = wp / wp.sum(-1, keepdim=True).clamp_min(max(1e-3, 10 * e))
        num = (xn.unsqueeze(1) - wn.unsqueeze(0)).abs().sum(-1)
        den = (xn.sum(-1, keepdim=True) + wn.sum(-1).unsqueeze(0))
    elif kind == "bray_curtis_abs":
        num = adiff.sum(-1)
        den = x.abs().sum(-1, keepdim=True) + w.abs().sum(-1).unsqueeze(0)
    else:
        num = adiff.sum(-1)
        den = x.sum(-1, keepdim=True) + w.sum(-1).unsqueeze(0)  # sum(x + w), signed
    return num / (den.abs() + e).clamp_min(10 * e)
