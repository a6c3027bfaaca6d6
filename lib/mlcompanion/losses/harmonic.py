"""Harmonic (distance-based) output layer and loss, and the PCA-structure scores of paper
``harmonic_distances``.

Baek et al., "Harmonic Loss Trains Interpretable AI Models" (arXiv 2502.01628), Sec. 2: with
``d_c = D(x, w_c)`` the distance of the features ``x`` to the prototype ``w_c`` of class ``c``,

    harmonic max:   p_c = d_c^(-n) / sum_j d_j^(-n),        harmonic loss:  L = -log p_y  (batch mean).

"Rethinking the Harmonic Loss via Non-Euclidean Distance Layers" (arXiv 2026, id unverified;
official code ``maxwellmg/rethinking-harmonic-loss``, ``vision/models/distlayers.py``) swaps the
Euclidean distance for other families (``mlcompanion.distances.families.pairwise``).

Numerics. The power ``d^(-n)`` overflows for large ``n`` (the original code divides every row by
its smallest distance to avoid it). Here the layer is computed in log space,

    log p_c = -n log d_c - logsumexp_j(-n log d_j),

which is exact, never overflows, and makes any per-row rescaling of the distances (the official
min-normalisation) a no-op: ``p`` is invariant to ``d -> s d`` for ``s > 0`` (tested).

Zero distances. ``d_c = 0`` gives ``d_c^(-n) = inf``: the limit distribution puts all mass on the
zero-distance classes, and the loss has no gradient there. ``harmonic_logits`` raises a
ValueError on a zero (or negative, or NaN) distance unless ``eps > 0`` is given, in which case it
uses ``d + eps``. The official layers add their own eps inside D (``pairwise(..., official=True)``
is strictly positive), so ``HarmonicHead`` never meets a zero.

Deviation from the official code: the official logits are ``log(p + 1e-8)`` (a floor on p); ours
are the exact ``log p`` (identical wherever p > 1e-6).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..distances.families import DISTANCE_KINDS, FAMILY_DEFAULTS, pairwise
from ..validation import check_embeddings, check_finite, check_labels, check_positive

__all__ = [
    "HEAD_DISTANCES",
    "harmonic_logits",
    "harmonic_loss",
    "HarmonicLoss",
    "HarmonicHead",
    "grow_crystals_distlayer",
    "pca_structure",
]

#: Distances ``HarmonicHead`` accepts: every family of ``pairwise`` plus the two parametrisations
#: of the learned Mahalanobis precision ("mahalanobis" is the official "standard" one).
HEAD_DISTANCES: tuple[str, ...] = DISTANCE_KINDS + ("mahalanobis_diagonal", "mahalanobis_cholesky")


def harmonic_logits(dist: torch.Tensor, n: float = 1.0, *, eps: float = 0.0) -> torch.Tensor:
    """Log harmonic-max probabilities ``log p`` (n, C) from distances (n, C) (Baek et al. Eq. 1).

    ``log p_c = -n log d_c - logsumexp_j(-n log d_j)``, with ``d = dist + eps``.

    Args:
        dist: non-negative finite distances, one row per sample, one column per class. With the
            official *squared* Euclidean distance (``pairwise(.., "euclidean")``) the result is
            ``log_softmax(-2n log ||x - w||)`` (grow-crystals ``DistLayer(n)``).
        n: the harmonic exponent (> 0).
        eps: added to every distance (>= 0). With eps = 0 a zero distance raises a ValueError.
    Returns ``log p``: rows logsumexp to 0; usable as logits (argmax, cross-entropy).
    """
    if not isinstance(dist, torch.Tensor) or dist.dim() != 2 or dist.shape[1] == 0:
        got = f"shape {tuple(dist.shape)}" if isinstance(dist, torch.Tensor) else type(dist).__name__
        raise ValueError(f"dist must be a 2-D (n, C) tensor of distances with C >= 1, got {got}")
    if not dist.is_floating_point():
        raise ValueError(f"dist must be floating point, got dtype {dist.dtype}")
    n = check_positive(n, "n")
    eps = check_positive(eps, "eps", allow_zero=True)
    d = dist + eps if eps > 0 else dist
    if not bool(((d > 0) & (d < math.inf)).all()):  # one check on the fast path; diagnose on failure
        check_finite(dist, "dist")
        if bool((dist < 0).any()):
            raise ValueError(f"dist must be non-negative (a distance), got minimum {dist.min().item():.3g}")
        i, c = (d == 0).nonzero()[0].tolist()
        raise ValueError(
            f"dist has a zero distance (sample {i}, class {c}) and eps = 0: d^(-n) is infinite there. "
            f"Pass eps > 0 (the official layers use 1e-4) or an official distance, which includes eps"
        )
    logits = -n * d.log()
    return logits - torch.logsumexp(logits, dim=1, keepdim=True)


def harmonic_loss(log_p: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Harmonic loss ``-log p_y`` (Baek et al. Eq. 2) from ``log p = harmonic_logits(...)``.

    Equals ``F.cross_entropy(log_p, labels)`` since the rows of ``log p`` already logsumexp to 0
    (the official code trains ``nn.CrossEntropyLoss`` on ``log(p + 1e-8)``).
    """
    check_embeddings(log_p, "log_p")
    check_labels(labels, log_p.shape[0])
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= log_p.shape[1]):
        raise ValueError(f"labels must lie in [0, {log_p.shape[1] - 1}], got range "
                         f"[{int(labels.min())}, {int(labels.max())}]")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return F.nll_loss(log_p, labels, reduction=reduction)


class HarmonicLoss(nn.Module):
    """Module form of ``harmonic_loss``: ``loss_fn(model(x), y)`` with a model ending in ``HarmonicHead``."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        self.reduction = reduction

    def forward(self, log_p: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return harmonic_loss(log_p, labels, self.reduction)


class HarmonicHead(nn.Module):
    """Distance output layer of paper ``harmonic_distances``: learnable prototypes ``weight`` (C, d)
    (+ a learned precision for Mahalanobis); ``forward(x)`` returns ``log p`` (n, C).

    Official layer (``distlayers.py``, ``scale_distances=False`` as in the vision config):
    euclidean / manhattan / cosine: ``psi = (D / min_c D)^(-n)``; every other family:
    ``psi = clamp(D + eps, eps, 1e6)^(-n)``; ``p = psi / sum psi``. Both are computed in log space.

    Args:
        distance: one of ``HEAD_DISTANCES``. Mahalanobis precisions: ``mahalanobis`` (official
            "standard": ``P = sym(P_learn + lambda I) + 10 eps I``, ``P_learn`` initialised to
            ``(1 + lambda) I``, lambda = 1e-2, not PSD-constrained), ``mahalanobis_diagonal``
            (``P = diag(exp(clamp(log_p, -10, 10)) + eps)``, ``log_p`` initialised to 0),
            ``mahalanobis_cholesky`` (``P = L L^T + eps I``, tril L with diagonal >= eps, init 0.1 I).
        n: harmonic exponent (vision config: 1 for every layer; original MNIST rule: sqrt(d)).
        eps: the layer's eps (default: the family's, ``FAMILY_DEFAULTS``).
        official: False uses the textbook distance (``pairwise(official=False)``) with ``eps``
            added before the power.
        init_std: None keeps ``nn.Linear``'s uniform init (the official layers subclass it);
            a float draws N(0, init_std^2) (grow-crystals MNIST: 1/28).
        **distance_kw: ``p`` (Minkowski), ``alpha`` (smooth Chebyshev), ``temperature`` (Hamming).
    """

    def __init__(self, in_features: int, num_classes: int, distance: str = "euclidean", n: float = 1.0,
                 eps: float | None = None, official: bool = True, init_std: float | None = None,
                 reg_lambda: float = 1e-2, **distance_kw):
        super().__init__()
        for name, v in (("in_features", in_features), ("num_classes", num_classes)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if distance not in HEAD_DISTANCES:
            raise ValueError(f"distance must be one of {list(HEAD_DISTANCES)}, got {distance!r}")
        unknown = sorted(set(distance_kw) - {"p", "alpha", "temperature"})
        if unknown:
            raise ValueError(f"unknown distance options {unknown}; expected some of ['p', 'alpha', 'temperature']")
        self.distance = distance
        self.kind = "mahalanobis" if distance.startswith("mahalanobis") else distance
        self.n = check_positive(n, "n")
        self.eps = FAMILY_DEFAULTS[self.kind]["eps"] if eps is None else check_positive(eps, "eps")
        self.official = bool(official)
        self.reg_lambda = check_positive(reg_lambda, "reg_lambda", allow_zero=True)
        self.distance_kw = distance_kw
        self.weight = nn.Parameter(torch.empty(num_classes, in_features))
        if init_std is None:
            nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # nn.Linear's default
        else:
            nn.init.normal_(self.weight, std=check_positive(init_std, "init_std"))
        if distance == "mahalanobis":
            self.precision_param = nn.Parameter(torch.eye(in_features) * (1.0 + self.reg_lambda))
        elif distance == "mahalanobis_diagonal":
            self.precision_param = nn.Parameter(torch.zeros(in_features))
        elif distance == "mahalanobis_cholesky":
            self.precision_param = nn.Parameter(torch.eye(in_features) * 0.1)

    def precision(self) -> torch.Tensor | None:
        """The Mahalanobis precision matrix P the layer uses (None for other families)."""
        if self.kind != "mahalanobis":
            return None
        q, eye = self.precision_param, torch.eye(self.weight.shape[1], dtype=self.weight.dtype,
                                                 device=self.weight.device)
        if self.distance == "mahalanobis":
            a = q + self.reg_lambda * eye
            return 0.5 * (a + a.T) + 10 * self.eps * eye
        if self.distance == "mahalanobis_diagonal":
            return torch.diag(q.clamp(-10.0, 10.0).exp() + self.eps)
        L = torch.tril(q)
        L = L - torch.diag(L.diagonal()) + torch.diag(L.diagonal().clamp_min(self.eps))
        return L @ L.T + self.eps * eye

    def distances(self, x: torch.Tensor) -> torch.Tensor:
        """D (n, C) between features and prototypes, as the layer raises it to ``-n``."""
        check_embeddings(x, "x")
        return pairwise(x, self.weight.to(x.dtype), self.kind, official=self.official, eps=self.eps,
                        precision=self.precision(), **self.distance_kw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.distances(x)
        if not self.official:
            return harmonic_logits(d, self.n, eps=self.eps)
        if not FAMILY_DEFAULTS[self.kind]["min_normalize"]:
            d = (d + self.eps).clamp(self.eps, 1e6)
        return harmonic_logits(d, self.n)

    def extra_repr(self) -> str:
        c, d = self.weight.shape
        return f"in_features={d}, num_classes={c}, distance={self.distance!r}, n={self.n}, eps={self.eps}, official={self.official}"


def grow_crystals_distlayer(x: torch.Tensor, w: torch.Tensor, n: float, eps: float = 1e-4) -> torch.Tensor:
    """Probabilities of the original harmonic layer, computed the original way (grow-crystals
    ``src/utils/model.py::DistLayer``): ``s = ||w||^2 + ||x||^2 - 2 w.x + eps``, ``s <- s / min_c s``,
    ``p = s^(-n) / sum s^(-n)``. Note the **squared** distance: code ``n`` is ``n/2`` of the
    README formula, i.e. ``p = softmax(-2n log d)`` with ``d = sqrt(||x - w||^2 + eps)``.
    Kept for fidelity tests; use ``HarmonicHead`` / ``harmonic_logits`` to train.
    """
    check_embeddings(x, "x")
    check_embeddings(w, "w")
    n = check_positive(n, "n")
    eps = check_positive(eps, "eps")
    s = (w * w).sum(1).unsqueeze(0) + (x * x).sum(1, keepdim=True) - 2.0 * (x @ w.T) + eps
    s = s / s.min(dim=1, keepdim=True).values
    out = s.pow(-n)
    return out / out.sum(dim=1, keepdim=True)


def pca_structure(features, n_components: int = 50, standardize: bool = True) -> dict[str, float]:
    """PCA-structure scores of paper ``harmonic_distances`` (official ``vision/utils/pca_analysis.py``).

    Features (n, d) -> StandardScaler (if ``standardize``) -> PCA with ``k = min(n_components, n, d)``
    components; with ``r`` the explained-variance ratios (of the total variance, as sklearn):

    * ``pc2_ev``: r_1 + r_2 (the paper's "PC2 EV", code key ``pc_1_variance``);
    * ``pca90``: number of components to reach 90% (``k`` if never reached; "PCA 90%");
    * ``effective_rank``: exp(entropy) of ``(r + 1e-12)`` renormalised over the k components;
    * ``participation_ratio``: 1 / sum r^2.

    The paper applies it to penultimate-layer features on the test set; it can also be applied
    to the class prototypes (C, d). Which direction the paper scores as "more interpretable" is not
    stated in the code: higher PC2 EV = more variance in a 2-D structure.
    """
    if isinstance(features, torch.Tensor):
        features = features.detach().cpu().double().numpy()
    a = np.asarray(features, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 2 or a.shape[1] < 1:
        raise ValueError(f"features must be a 2-D (n, d) array with n >= 2 rows, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError("features must be finite, got NaN/Inf values")
    if isinstance(n_components, bool) or not isinstance(n_components, int) or n_components < 1:
        raise ValueError(f"n_components must be a positive int, got {n_components!r}")
    a = a - a.mean(0, keepdims=True)
    if standardize:
        std = a.std(0)
        a = a / np.where(std > 0, std, 1.0)  # sklearn's StandardScaler keeps constant columns at 0
    s2 = np.linalg.svd(a, compute_uv=False) ** 2
    total = s2.sum()
    if total <= 0:
        raise ValueError("features have zero variance: PCA structure is undefined")
    k = min(n_components, a.shape[0], a.shape[1])
    r = s2[:k] / total
    cum = np.cumsum(r)
    q = r + 1e-12
    q = q / q.sum()
    return {
        "pc2_ev": float(r[:2].sum()),
        "pca90": int(np.argmax(cum >= 0.9) + 1) if (cum >= 0.9).any() else int(k),
        "effective_rank": float(np.exp(-(q * np.log(q)).sum())),
        "participation_ratio": float(1.0 / (r ** 2).sum()),
    }
