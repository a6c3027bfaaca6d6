"""The Signal-to-Noise Ratio (SNR) distance (snr_distance: Yuan, Deng, Tang, Tang & Chen, "Signal-to-
Noise Ratio: A Robust Distance Metric for Deep Metric Learning", CVPR 2019, arXiv 1904.02616, Sec. 3).

For an **anchor** feature h_i (the signal) and a compared feature h_j, the noise is n_ij = h_j - h_i and

    SNR_ij = var(h_i) / var(h_j - h_i),      d_S(h_i, h_j) = 1 / SNR_ij = var(h_j - h_i) / var(h_i)

with var(a) = (1/M) sum_m (a_m - mean(a))^2 over the M coordinates (paper eq. 1-3). The distance is
**asymmetric**: the first argument (the row of a pairwise matrix) is the anchor whose variance is the
denominator. With the centring projector P = I - (1/M) 1 1^T it is, exactly,

    d_S(h_i, h_j) = ||P (h_j - h_i)||^2 / ||P h_i||^2                                     (derived)

so the 1/M vs 1/(M-1) variance convention cancels, and it is computed here from one matrix product
(O(n m) memory; pytorch-metric-learning builds the (n, m, M) difference tensor).

Properties (all tested): d_S(h, h) = 0; invariant to adding a constant to every coordinate of either
vector and to a common rescaling of both; not symmetric. For zero-mean vectors of equal norm r,
d_S(a, b) = ||a - b||^2 / r^2 = 2 - 2 cos(a, b): SNR is then squared Euclidean distance up to the
constant 1/r^2. Ranking a gallery by d_S(query, .) (query = anchor) is ranking by the squared Euclidean
distance of the mean-centred features, because the denominator is constant along a row.
"""

from __future__ import annotations

import torch

from ..validation import check_embeddings, check_positive
from .base import PairwiseDistance, squared_euclidean, full_precision

__all__ = ["SNRDistance", "snr_distance"]


def _centre(x: torch.Tensor) -> torch.Tensor:
    return x - x.mean(dim=1, keepdim=True)


class SNRDistance(PairwiseDistance):
    """Pairwise SNR distance d_S (snr_distance, CVPR 2019, eq. 3): ``D[i, j] = var(y_j - x_i) / var(x_i)``.

    Rows are **anchors**: ``SNRDistance()(x, y)[i, j] = d_S(anchor x_i, compared y_j)``. Losses in
    ``mlcompanion.losses`` call ``distance(embeddings)`` and read row i as anchor i (triplets d(a, p), d(a, n)),
    and ``mlcompanion.metrics`` calls ``distance(queries, gallery)``, so the query is the anchor at test time.

    Args:
        normalize: L2-normalise both inputs first. Default False: the paper defines d_S on the raw
            features, and Revisiting-DML's ``criteria/snr.py`` uses them raw. pytorch-metric-learning's
            ``SNRDistance()`` normalises by default (``normalize_embeddings=True``); pass
            ``normalize=True`` to match it.
        eps: the anchor variance is clamped to at least ``eps`` (times M), so a constant anchor vector
            (variance 0) gives a large but finite distance and a finite gradient instead of inf/NaN.

    Exact zero self-distance on the diagonal of a batch against itself (``y`` omitted). Same
    orientation as pytorch-metric-learning's ``SNRDistance.compute_mat(query, ref)`` (anchor = query).
    """

    name = "snr"
    is_similarity = False

    def __init__(self, normalize: bool = False, eps: float = 1e-12):
        super().__init__(normalize=normalize)
        self.eps = check_positive(eps, "eps")

    def _compute(self, x, y, same):
        xc = _centre(x)
        yc = xc if same else _centre(y)
        x_sq = (xc * xc).sum(1, keepdim=True)  # M var(x_i): the anchors' signal power
        # M var(y_j - x_i) = ||P(y_j - x_i)||^2, close pairs recomputed from their differences
        noise = squared_euclidean(xc, yc, False, nx=x_sq)
        if same:
            noise = noise * (1.0 - torch.eye(x.shape[0], dtype=x.dtype, device=x.device))
        return noise / x_sq.clamp_min(self.eps * x.shape[1])

    def __repr__(self) -> str:
        return f"SNRDistance(normalize={self.normalize}, eps={self.eps})"


def snr_distance(anchor: torch.Tensor, other: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Row-wise SNR distance of paired rows: ``out[k] = var(other[k] - anchor[k]) / var(anchor[k])``.

    snr_distance (CVPR 2019) eq. 3, computed literally from the variances (no centring trick), for
    paired data and as an independent route in the tests. ``anchor`` is the signal (denominator).
    Both inputs have shape (n, M); returns (n,). ``eps`` guards a constant anchor as in ``SNRDistance``.
    """
    check_embeddings(anchor, "anchor")
    check_embeddings(other, "other")
    if anchor.shape != other.shape:
        raise ValueError(f"anchor and other must have the same shape (n, M), got {tuple(anchor.shape)} "
                         f"and {tuple(other.shape)}")
    if anchor.dtype != other.dtype:
        raise ValueError(f"anchor and other must have the same dtype, got {anchor.dtype} and {other.dtype}")
    eps = check_positive(eps, "eps")
    anchor, other = full_precision(anchor), full_precision(other)  # eps (1e-12) underflows float16
    signal = anchor.var(dim=1, unbiased=False)
    noise = (other - anchor).var(dim=1, unbiased=False)
    return noise / signal.clamp_min(eps)
