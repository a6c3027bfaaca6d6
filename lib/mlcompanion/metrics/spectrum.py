"""Spectral measures of a representation: the eigenspectrum of its covariance, RankMe (effective
rank, two conventions) and alpha-ReQ (power-law decay of the eigenspectrum), and the last-token
features language-model probes read them from.

Paper: ``representation_geometry``, Li, Agrawal, Ghosh, Teru, Santoro, Lajoie & Richards, "Tracing
the Representation Geometry of Language Models from Pretraining to Post-training", NeurIPS 2025,
arXiv:2509.23024 (Sec. 2, "Spectral metrics"); official code
``melodylizx/Tracing-the-representation-geometry-of-language-models`` (``utils/powerlaw.py``).

With F in R^{M x d} (one row per probe sequence) and F_c its column-centred copy,

    Sigma = (1/M) F_c^T F_c,   eigenvalues sigma_1 >= ... >= sigma_d,   lambda_i = sigma_i / sum_j sigma_j

* RankMe, this paper's convention (``convention="cov"``): p_i = lambda_i / ||lambda||_1 + eps,
  RankMe = exp(-sum_i p_i log p_i), eps = 1e-7 added *after* normalising (as the official
  ``rankme``), so a rank-1 spectrum of length d gives slightly more than 1.
* RankMe, Garrido et al. (ICML 2023, ``convention="sv"``): the same entropy on the singular values
  s_k of the *uncentred* embedding matrix, p_k = s_k / ||s||_1 + eps.
* alpha-ReQ (Agrawal et al. NeurIPS 2022, as fitted by the official code after Stringer &
  Pachitariu 2019): lambda_i ~ c i^{-alpha}; alpha is the slope of a weighted least-squares fit
  of log lambda_i on (-log i, 1) over ranks i = 12 ... 100 with weights w_i = 1 / i.

All spectra are computed in float64 (the official code casts fp16 activations before PCA).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..validation import check_embeddings, check_finite, check_positive

__all__ = [
    "eigenspectrum",
    "singular_values",
    "rankme",
    "rankme_from_spectrum",
    "alpha_req",
    "AlphaFit",
    "spectral_summary",
    "last_token_features",
    "PAPER_RANKS",
    "PAPER_EPS",
]

PAPER_RANKS = (12, 100)  # 1-based ranks of the official alpha-ReQ fit (0-based indices 11 ... 99)
PAPER_EPS = 1e-7  # the official rankme's epsilon, added after normalisation
_CONVENTIONS = ("cov", "sv")


def _features(features, name: str = "features") -> torch.Tensor:
    if isinstance(features, torch.Tensor) and features.dim() == 1:
        raise ValueError(
            f"{name} must be a 2-D matrix (M samples x d dimensions), got a 1-D tensor of shape "
            f"{tuple(features.shape)}; to score a spectrum you already have, use rankme_from_spectrum / alpha_req"
        )
    return check_embeddings(features, name).to(torch.float64)


def _spectrum(values, name: str = "spectrum") -> torch.Tensor:
    if not isinstance(values, torch.Tensor):
        raise ValueError(f"{name} must be a 1-D torch.Tensor of eigenvalues, got {type(values).__name__}")
    if values.dim() != 1 or values.numel() == 0:
        raise ValueError(
            f"{name} must be a non-empty 1-D tensor of eigenvalues, got shape {tuple(values.shape)}; "
            f"for a feature matrix use rankme(features) or eigenspectrum(features)"
        )
    if not values.is_floating_point():
        raise ValueError(f"{name} must be floating point, got dtype {values.dtype}")
    check_finite(values, name)
    values = values.to(torch.float64)
    if bool((values < 0).any()):
        raise ValueError(f"{name} must be non-negative (eigenvalues / singular values), got min {float(values.min()):.3g}")
    if float(values.sum()) <= 0:
        raise ValueError(f"{name} must have a positive sum, got all zeros")
    return values


def eigenspectrum(features: torch.Tensor, center: bool = True, max_components: int = 2048,
                  normalize: bool = True) -> torch.Tensor:
    """Eigenvalues of the feature covariance (1/M) F_c^T F_c, descending, float64
    (``representation_geometry``, Sec. 2; official ``get_eigenspectrum``).

    Args:
        features: (M, d) float tensor, one row per sample.
        center: subtract the column mean first (PCA; the paper's covariance). False gives the
            eigenvalues of the uncentred second-moment matrix (1/M) F^T F.
        max_components: keep the first min(max_components, M, d) eigenvalues (official: 2048).
        normalize: divide by the *total* variance (all eigenvalues), as scikit-learn's
            ``PCA(svd_solver="full").explained_variance_ratio_``; a truncated spectrum then sums to < 1.
    """
    F = _features(features)
    if isinstance(max_components, bool) or not isinstance(max_components, int) or max_components < 1:
        raise ValueError(f"max_components must be a positive int, got {max_components!r}")
    if center:
        F = F - F.mean(dim=0, keepdim=True)
    s = torch.linalg.svdvals(F)  # descending
    eig = s.square() / F.shape[0]
    k = min(max_components, F.shape[0], F.shape[1])
    if normalize:
        total = eig.sum()
        if float(total) <= 0:
            raise ValueError("features have zero variance (every row identical after centring); the spectrum is undefined")
        eig = eig / total
    return eig[:k]


def singular_values(features: torch.Tensor, center: bool = False) -> torch.Tensor:
    """Singular values of the (uncentred by default) feature matrix, descending, float64
    (Garrido et al. 2023's RankMe input)."""
    F = _features(features)
    if center:
        F = F - F.mean(dim=0, keepdim=True)
    return torch.linalg.svdvals(F)


def rankme_from_spectrum(values: torch.Tensor, eps: float = PAPER_EPS) -> float:
    """RankMe of a given non-negative spectrum: exp(entropy of p), p_i = v_i / ||v||_1 + eps
    (``representation_geometry``, Sec. 2; official ``rankme``). With eps = 0 this is the
    Roy-Vetterli effective rank. Pass covariance eigenvalues for the paper's convention, singular
    values for Garrido et al.'s."""
    v = _spectrum(values, "values")
    eps = check_positive(eps, "eps", allow_zero=True)
    p = v / v.abs().sum() + eps
    # 0 * log 0 = 0 (only reachable with eps = 0)
    entropy = -torch.where(p > 0, p * torch.log(p.clamp_min(torch.finfo(p.dtype).tiny)), torch.zeros_like(p)).sum()
    return float(torch.exp(entropy))


def rankme(features: torch.Tensor, convention: str = "cov", eps: float = PAPER_EPS, center: bool | None = None,
           max_components: int = 2048) -> float:
    """RankMe of a feature matrix (``representation_geometry``, Sec. 2).

    ``convention="cov"`` (default, this paper): entropy of the normalised eigenvalues of the centred
    covariance (at most ``max_components`` of them, as the official PCA). ``convention="sv"``
    (Garrido et al. ICML 2023): entropy of the singular values of the *uncentred* matrix.
    ``center`` overrides the convention's centring (None: True for "cov", False for "sv").
    Both are invariant to scaling F; "cov" is also invariant to adding a constant vector to every row.
    """
    if convention not in _CONVENTIONS:
        raise ValueError(f"convention must be one of {_CONVENTIONS}, got {convention!r}")
    if convention == "cov":
        spec = eigenspectrum(features, center=True if center is None else bool(center), max_components=max_components)
    else:
        spec = singular_values(features, center=False if center is None else bool(center))
    if float(spec.sum()) <= 0:
        raise ValueError("features are all zero; RankMe is undefined")
    return rankme_from_spectrum(spec, eps)


@dataclass(frozen=True)
class AlphaFit:
    """Result of :func:`alpha_req`: the exponent, the fitted log-intercept (lambda_i ~ exp(intercept) i^-alpha),
    the window (1-based ranks, inclusive), R^2 of log lambda on the window and on the extended
    window (the official code's 12 ... min(500, d - 10))."""

    alpha: float
    intercept: float
    ranks: tuple[int, int]
    r2: float
    r2_extended: float


def _r2(y: torch.Tensor, y_hat: torch.Tensor) -> float:
    ss_res = (y - y_hat).square().sum()
    ss_tot = (y - y.mean()).square().sum()
    return float("nan") if float(ss_tot) == 0 else float(1 - ss_res / ss_tot)


def alpha_req(spectrum: torch.Tensor, ranks: tuple[int, int] = PAPER_RANKS, weights: str = "inv_rank") -> AlphaFit:
    """alpha-ReQ: the exponent alpha of lambda_i ~ c i^{-alpha} (``representation_geometry``, Sec. 2;
    official ``stringer_get_powerlaw``).

    Weighted least squares of log lambda_i on (-log i, 1) over the 1-based ranks
    ``ranks[0] ... ranks[1]`` (inclusive; paper: 12 ... 100), weights 1/i (``weights="inv_rank"``,
    official) or 1 (``"uniform"``, ordinary least squares). Scale-free: multiplying the spectrum by a
    constant only moves the intercept. Unlike the official helper, the caller's arrays are not
    modified. The spectrum must hold at least ``ranks[1]`` values, all positive inside the window.
    """
    lam = _spectrum(spectrum, "spectrum")
    if (not isinstance(ranks, (tuple, list)) or len(ranks) != 2
            or any(isinstance(r, bool) or not isinstance(r, int) for r in ranks)):
        raise ValueError(f"ranks must be a pair of ints (first, last), 1-based and inclusive, got {ranks!r}")
    lo, hi = int(ranks[0]), int(ranks[1])
    if not 1 <= lo < hi:
        raise ValueError(f"ranks must satisfy 1 <= first < last, got {ranks!r}")
    if hi > lam.numel():
        raise ValueError(
            f"rank range {lo}...{hi} exceeds the spectrum: it has {lam.numel()} eigenvalues "
            f"(needs min(M, d) >= {hi}); pick a window inside 1...{lam.numel()}"
        )
    if weights not in ("inv_rank", "uniform"):
        raise ValueError(f"weights must be 'inv_rank' or 'uniform', got {weights!r}")
    window = lam[lo - 1:hi]
    if bool((window <= 0).any()):
        raise ValueError(
            f"the spectrum has zero eigenvalues inside ranks {lo}...{hi} (rank-deficient features); "
            f"log-eigenvalues are undefined there, choose a window below rank {int((lam > 0).sum()) + 1}"
        )
    i = torch.arange(lo, hi + 1, dtype=torch.float64)
    X = torch.stack([-torch.log(i), torch.ones_like(i)], dim=1)
    y = torch.log(window)
    w = 1.0 / i if weights == "inv_rank" else torch.ones_like(i)
    beta = torch.linalg.solve(X.T @ (X * w[:, None]), (X * w[:, None]).T @ y)
    alpha, intercept = float(beta[0]), float(beta[1])
    r2 = _r2(y, X @ beta)
    ext_hi = 500 if lam.numel() >= 512 else lam.numel() - 10
    if ext_hi > lo and bool((lam[lo - 1:ext_hi] > 0).all()):
        j = torch.arange(lo, ext_hi + 1, dtype=torch.float64)
        r2_ext = _r2(torch.log(lam[lo - 1:ext_hi]), intercept - alpha * torch.log(j))
    else:
        r2_ext = float("nan")
    return AlphaFit(alpha=alpha, intercept=intercept, ranks=(lo, hi), r2=r2, r2_extended=r2_ext)


def spectral_summary(features: torch.Tensor, ranks: tuple[int, int] = PAPER_RANKS, eps: float = PAPER_EPS,
                     max_components: int = 2048) -> dict[str, float]:
    """RankMe (both conventions), alpha-ReQ and its R^2 of one feature matrix, in one call
    (``representation_geometry``, Sec. 2 and Fig. 2)."""
    spec = eigenspectrum(features, max_components=max_components)
    fit = alpha_req(spec, ranks)
    return {
        "rankme": rankme_from_spectrum(spec, eps),
        "rankme_sv": rankme(features, convention="sv", eps=eps),
        "alpha": fit.alpha,
        "alpha_r2": fit.r2,
    }


def last_token_features(hidden: torch.Tensor, attention_mask: torch.Tensor, padding_side: str = "right") -> torch.Tensor:
    """(B, d) hidden state at the last non-pad token of each sequence (``representation_geometry``,
    Sec. 2: y_N = f^(L)(t_N | t_<N)).

    ``hidden`` is (B, T, d), ``attention_mask`` (B, T) of 0/1. With right padding (the official
    scripts' assumption) the index is mask.sum(1) - 1; with left padding it is T - 1. The mask must
    be consistent with ``padding_side`` (ones then zeros, or zeros then ones) and every sequence must
    have at least one token.
    """
    if not isinstance(hidden, torch.Tensor) or hidden.dim() != 3:
        raise ValueError(f"hidden must be a (B, T, d) tensor, got {getattr(hidden, 'shape', type(hidden).__name__)}")
    if not isinstance(attention_mask, torch.Tensor) or attention_mask.shape != hidden.shape[:2]:
        raise ValueError(f"attention_mask must have shape (B, T) = {tuple(hidden.shape[:2])}, "
                         f"got {getattr(attention_mask, 'shape', type(attention_mask).__name__)}")
    if padding_side not in ("right", "left"):
        raise ValueError(f"padding_side must be 'right' or 'left', got {padding_side!r}")
    mask = attention_mask.to(torch.int64)
    if bool(((mask != 0) & (mask != 1)).any()):
        raise ValueError("attention_mask must hold only 0 and 1")
    lengths = mask.sum(dim=1)
    if bool((lengths == 0).any()):
        raise ValueError(f"every sequence needs at least one token; rows {(lengths == 0).nonzero().flatten().tolist()} are empty")
    T = mask.shape[1]
    pos = torch.arange(T, device=mask.device).expand_as(mask)
    expected = (pos < lengths[:, None]) if padding_side == "right" else (pos >= T - lengths[:, None])
    if not bool((expected.to(torch.int64) == mask).all()):
        raise ValueError(f"attention_mask is not {padding_side}-padded (a contiguous block of ones at the "
                         f"{'start' if padding_side == 'right' else 'end'} of each row)")
    index = lengths - 1 if padding_side == "right" else torch.full_like(lengths, T - 1)
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), index]
