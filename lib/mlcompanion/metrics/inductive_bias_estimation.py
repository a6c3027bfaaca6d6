"""Required inductive bias of a task, estimated from the test errors of randomly sampled hypotheses.

Paper: Boopathy, Yue, Hwang, Iyer & Fiete, "Towards Exact Computation of Inductive Bias", IJCAI 2024,
arXiv:2406.15941 (slug ``inductive_bias``); official code ``FieteLab/Exact-Inductive-Bias``
(``utils.py``: the ncx2 fit and I(eps); ``kernel_inductive_bias.py``: Algorithm 1, kernel hypotheses;
``nn_inductive_bias.py``: neural-network hypotheses). Equation numbers of the PDF were not checked
here; the definitions follow the official code.

**Definition.** For a hypothesis space H with a sampling distribution q over the hypotheses that fit
the training data (a fixed training budget), the inductive bias required to reach test error ``eps`` is

    I(eps) = -log P_{h~q}( e(h) <= eps ),        e(h) = test loss of h.

**Estimator** (:func:`estimate_inductive_bias`): sample M hypotheses, measure their test errors,
fit a scaled non-central chi-squared with location 0 (:func:`fit_scaled_ncx2`, maximum likelihood
with ``scipy.stats.ncx2.fit(errors, floc=0)`` as in ``utils.py``) and report
``I(eps) = -ncx2.logcdf(eps, df, nc, loc=0, scale)`` (:func:`inductive_bias`) in nats (the
official unit) and in bits (nats / ln 2). Where ``logcdf`` underflows to ``-inf`` (I > ~700 nats)
the official code switches to a normal approximation of the ncx2 CDF (Sankaran's) and returns
``z**2 / 2``; that drops the ``log(|z| sqrt(2 pi))`` term of ``-log Phi(z)`` and is biased low, so
here the fallback is ``-scipy.special.log_ndtr(z)`` (:func:`sankaran_log_cdf`).

**Why a scaled ncx2.** For Gaussian-process (kernel) hypotheses the test MSE is exactly a
*generalised* chi-squared ``sum_j (s_j Z_j + m_j)**2`` (:func:`gp_error_spectrum`); one scaled ncx2
approximates it. :func:`generalized_chi2_log_cdf` gives the exact distribution's log-CDF deep in
the left tail (saddlepoint, Lugannani-Rice; the brief suggests Imhof's inversion, whose absolute
error of ~1e-10 cannot resolve probabilities of 1e-50), so the ncx2 extrapolation can be checked.

**Hypothesis spaces** (:func:`sample_hypothesis_errors`):

- ``"gp_rbf"`` (:func:`gp_hypothesis_errors`, Algorithm 1): interpolating GP posterior draws with
  the RBF kernel ``exp(-|a-b|**2 / (2 sigma**2))``, ``sigma = 1`` hard-coded in the official code.
  Deviation (documented): closed-form posterior by Cholesky with jitter and an eigendecomposition of
  the posterior covariance (negatives clipped) instead of the official Adam-approximated solves
  (10,000 epochs) and ``scipy.linalg.sqrtm``.
- ``"random_features"`` (:func:`random_feature_hypothesis_errors`): min-norm interpolants on random
  ReLU features (a random-feature model; not in the official code).
- ``"mlp"`` (:func:`mlp_hypothesis_errors`, ``nn_inductive_bias.py``): ReLU MLPs from random
  initialisations and data orders, trained with Adam (lr 1e-3) on MSE to one-hot targets; the error
  is the test MSE averaged over test points and outputs (the official ``test_loss`` sums per-batch
  means and divides by the dataset size: mis-scaled). All trials train at once (batched weights).

Errors are MSE to one-hot targets, averaged over test points and outputs (as the official code).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from scipy import optimize, special, stats
from ..validation import check_choice, check_int

__all__ = [
    "MIN_SAMPLES",
    "HYPOTHESIS_SPACES",
    "NCX2Fit",
    "InductiveBias",
    "fit_scaled_ncx2",
    "inductive_bias",
    "estimate_inductive_bias",
    "empirical_inductive_bias",
    "sankaran_z",
    "sankaran_log_cdf",
    "generalized_chi2_log_cdf",
    "rbf_kernel",
    "median_bandwidth",
    "gp_posterior",
    "gp_error_spectrum",
    "gp_hypothesis_errors",
    "random_feature_hypothesis_errors",
    "mlp_hypothesis_errors",
    "sample_hypothesis_errors",
]

MIN_SAMPLES = 20  # fewer sampled errors cannot pin down a 3-parameter fit
HYPOTHESIS_SPACES = ("gp_rbf", "random_features", "mlp")
_UNITS = ("nats", "bits")


# ----------------------------------------------------------------------------------------------
# input checks
# ----------------------------------------------------------------------------------------------
def _as_numpy(x, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of numbers, got {type(x).__name__}") from None
    return arr


def _check_errors(errors, name: str = "errors", min_samples: int = MIN_SAMPLES) -> np.ndarray:
    """Sampled test errors: 1-D, finite, > 0, at least ``min_samples``, not all equal."""
    e = _as_numpy(errors, name)
    if e.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one test error per sampled hypothesis), got shape {e.shape}")
    if e.size < min_samples:
        raise ValueError(f"{name} must hold at least {min_samples} sampled errors to fit the scaled ncx2, got {e.size}")
    bad = ~np.isfinite(e)
    if bad.any():
        raise ValueError(f"{name} must be finite, got {int(bad.sum())} NaN/Inf value(s) among {e.size}")
    if (e < 0).any():
        raise ValueError(f"{name} must be non-negative test losses, got {int((e < 0).sum())} negative value(s) "
                         f"(min {e.min():.3g})")
    if (e == 0).any():
        raise ValueError(f"{name} must be > 0 (the scaled ncx2 with loc 0 has support (0, inf)), "
                         f"got {int((e == 0).sum())} zero(s)")
    if np.ptp(e) <= 1e-12 * e.mean():
        raise ValueError(f"{name} are all equal ({e[0]:.6g}): no distribution can be fitted")
    return e


def _check_eps(eps) -> np.ndarray:
    x = _as_numpy(eps, "eps")
    if x.size == 0:
        raise ValueError("eps must hold at least one target error, got an empty array")
    if not np.isfinite(x).all() or (x <= 0).any():
        raise ValueError(f"eps (target test error) must be finite and > 0, got {eps!r}")
    return x


def _check_positive(value, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return v


def _check_task(Xtr, Ytr, Xte, Yte):
    """Inputs (n, d) and one-hot / real targets (n, C); train and test share d and C."""
    arrays = {}
    for name, a, nd in (("Xtr", Xtr, 2), ("Ytr", Ytr, 2), ("Xte", Xte, 2), ("Yte", Yte, 2)):
        arr = _as_numpy(a, name)
        if arr.ndim != nd or arr.shape[0] == 0 or arr.shape[1] == 0:
            raise ValueError(f"{name} must be a non-empty 2-D array (n, {'d' if name[0] == 'X' else 'C'}), "
                             f"got shape {arr.shape}")
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} must be finite, got NaN/Inf values")
        arrays[name] = arr
    Xtr, Ytr, Xte, Yte = arrays["Xtr"], arrays["Ytr"], arrays["Xte"], arrays["Yte"]
    if Xtr.shape[0] != Ytr.shape[0] or Xte.shape[0] != Yte.shape[0]:
        raise ValueError(f"inputs and targets must have the same number of rows: Xtr {Xtr.shape} / Ytr {Ytr.shape}, "
                         f"Xte {Xte.shape} / Yte {Yte.shape}")
    if Xtr.shape[1] != Xte.shape[1] or Ytr.shape[1] != Yte.shape[1]:
        raise ValueError(f"train and test must share input and output dimensions: Xtr {Xtr.shape}, Xte {Xte.shape}, "
                         f"Ytr {Ytr.shape}, Yte {Yte.shape}")
    return Xtr, Ytr, Xte, Yte


# ----------------------------------------------------------------------------------------------
# the estimator
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NCX2Fit:
    """A scaled non-central chi-squared fitted to sampled errors (loc fixed at 0).

    ``df``, ``nc``, ``scale``: the distribution ``scale * ncx2(df, nc)``; ``n_fit``: errors used by
    the fit; ``n``: errors given; ``ks``: Kolmogorov-Smirnov distance between the fitted CDF and the
    empirical CDF of all given errors; ``mean_error``: their mean.
    """

    df: float
    nc: float
    scale: float
    n_fit: int
    n: int
    ks: float
    mean_error: float

    def dist(self):
        """The frozen ``scipy.stats.ncx2`` distribution."""
        return stats.ncx2(self.df, self.nc, loc=0.0, scale=self.scale)


@dataclass(frozen=True)
class InductiveBias:
    """I(eps) at the target errors ``eps`` in nats and bits, with the fit it came from."""

    eps: np.ndarray
    nats: np.ndarray
    bits: np.ndarray
    fit: NCX2Fit


def fit_scaled_ncx2(errors, *, normalise: bool = True, max_samples: int | None = None, seed: int = 0,
                    refine: bool = False) -> NCX2Fit:
    """Maximum-likelihood scaled ncx2 (loc 0) for the sampled test errors (paper ``inductive_bias``, ``utils.py``).

    As the official ``compute_inductive_bias``: ``scipy.stats.ncx2.fit(errors, floc=0)``. With
    ``normalise`` (default) the fit runs on ``errors / mean(errors)`` and the scale is mapped back:
    the MLE is scale-equivariant, but scipy's optimiser fails on errors of order 1e-9 (brief).
    ``max_samples`` fits on a seeded random subsample (ncx2.fit costs ~3 s on 10k errors); the KS
    statistic is computed on all errors. Deterministic for a given ``seed``.

    ``refine`` (not in the official code, default off): polish scipy's solution with Nelder-Mead on
    ``(log df, log nc, log scale)``. On concentrated error distributions (hundreds of independent
    error terms) scipy's optimiser stops early (the companion's notebook shows a higher likelihood
    and a KS distance 5-7x smaller after polishing), and the fitted tail changes by a factor ~2.
    """
    e = _check_errors(errors)
    if max_samples is not None:
        check_int(max_samples, "max_samples", MIN_SAMPLES)
    seed = check_int(seed, "seed", 0)
    sub = e
    if max_samples is not None and e.size > max_samples:
        sub = e[np.random.default_rng(seed).choice(e.size, size=max_samples, replace=False)]
    unit = float(sub.mean()) if normalise else 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        df, nc, _, scale = stats.ncx2.fit(sub / unit, floc=0.0)
        if refine:
            x = sub / unit

            def nll(p):
                v = -np.sum(stats.ncx2.logpdf(x, math.exp(p[0]), math.exp(p[1]), loc=0.0, scale=math.exp(p[2])))
                return v if np.isfinite(v) else 1e300

            start = np.log([df, max(nc, 1e-8), scale])
            res = optimize.minimize(nll, start, method="Nelder-Mead",
                                    options=dict(maxiter=3000, xatol=1e-7, fatol=1e-7))
            if res.fun < nll(start):
                df, nc, scale = (math.exp(v) for v in res.x)
    scale = float(scale) * unit
    if not (np.isfinite([df, nc, scale]).all() and df > 0 and nc >= 0 and scale > 0):
        raise ValueError(f"the ncx2 fit failed (df={df}, nc={nc}, scale={scale}); check the errors")
    ks = float(stats.kstest(e, stats.ncx2(df, nc, loc=0.0, scale=scale).cdf).statistic)
    return NCX2Fit(float(df), float(nc), scale, int(sub.size), int(e.size), ks, float(e.mean()))


def sankaran_z(x, df, nc) -> np.ndarray:
    """The z-score of Sankaran's normal approximation, P(ncx2(df, nc) <= x) ~ Phi(z) (official ``inductive_bias_alt``).

    ``h = 1 - 2/3 (df+nc)(df+3nc)/(df+2nc)**2``, ``p = (df+2nc)/(df+nc)**2``, ``m = (h-1)(1-3h)``,
    ``z = [(x/(df+nc))**h - (1 + h p (h - 1 - (2-h) m p / 2))] / (h sqrt(2p) (1 + m p / 2))``.
    ``x`` is in units of the unscaled ncx2 (divide a test error by the fitted scale first).
    """
    x = np.asarray(x, dtype=np.float64)
    df, nc = float(df), float(nc)
    h = 1.0 - (2.0 / 3.0) * (df + nc) * (df + 3.0 * nc) / (df + 2.0 * nc) ** 2
    p = (df + 2.0 * nc) / (df + nc) ** 2
    m = (h - 1.0) * (1.0 - 3.0 * h)
    return ((x / (df + nc)) ** h - (1.0 + h * p * (h - 1.0 - 0.5 * (2.0 - h) * m * p))) / (
        h * np.sqrt(2.0 * p) * (1.0 + 0.5 * m * p))


def sankaran_log_cdf(x, df, nc) -> np.ndarray:
    """log P(ncx2(df, nc) <= x) ~ log Phi(z) with :func:`sankaran_z`, by ``scipy.special.log_ndtr``.

    The fallback of the official ``inductive_bias_alt``, which returns ``-z**2/2`` instead: that drops
    the ``log(|z| sqrt(2 pi))`` term of ``-log Phi(z)`` and is biased low.
    """
    return special.log_ndtr(sankaran_z(x, df, nc))


def inductive_bias(eps, fit: NCX2Fit, units: str = "nats"):
    """I(eps) = -log P(e <= eps) under a fitted scaled ncx2 (paper ``inductive_bias``, ``utils.inductive_bias``).

    Vectorised over ``eps`` (scalar in, float out). ``-ncx2.logcdf``; where it underflows to
    ``-inf`` (I > ~700 nats) the Sankaran normal approximation with ``-log_ndtr(z)``.
    ``units``: ``"nats"`` (the official unit) or ``"bits"`` (= nats / ln 2).
    """
    if not isinstance(fit, NCX2Fit):
        raise ValueError(f"fit must be an NCX2Fit from fit_scaled_ncx2, got {type(fit).__name__}")
    check_choice(units, "units", _UNITS)
    x = _check_eps(eps)
    with np.errstate(divide="ignore"):
        logcdf = np.asarray(stats.ncx2.logcdf(x, fit.df, fit.nc, loc=0.0, scale=fit.scale), dtype=np.float64)
    bad = ~np.isfinite(logcdf)
    if bad.any():
        logcdf = np.where(bad, sankaran_log_cdf(x / fit.scale, fit.df, fit.nc), logcdf)
    out = -logcdf
    if units == "bits":
        out = out / math.log(2.0)
    out = np.maximum(out, 0.0)
    return float(out) if out.ndim == 0 else out


def estimate_inductive_bias(errors, eps, *, normalise: bool = True, max_samples: int | None = None,
                            seed: int = 0, refine: bool = False) -> InductiveBias:
    """Fit the scaled ncx2 to sampled errors and report I(eps) in nats and bits (paper ``inductive_bias``).

    ``compute_inductive_bias`` of the official ``utils.py``, vectorised over ``eps``; see
    :func:`fit_scaled_ncx2` and :func:`inductive_bias`.
    """
    x = _check_eps(eps)
    fit = fit_scaled_ncx2(errors, normalise=normalise, max_samples=max_samples, seed=seed, refine=refine)
    nats = np.atleast_1d(inductive_bias(x, fit, "nats"))
    return InductiveBias(eps=np.atleast_1d(x), nats=nats, bits=nats / math.log(2.0), fit=fit)


def empirical_inductive_bias(eps, errors, units: str = "nats"):
    """-log of the fraction of sampled errors <= eps (``inf`` below the smallest sample); no model.

    Defined only down to ~``log(M)`` nats for M samples: the check on the fitted extrapolation.
    """
    check_choice(units, "units", _UNITS)
    e = np.sort(_check_errors(errors, min_samples=1))
    x = _check_eps(eps)
    frac = np.searchsorted(e, x, side="right") / e.size
    with np.errstate(divide="ignore"):
        out = -np.log(frac)
    if units == "bits":
        out = out / math.log(2.0)
    return float(out) if out.ndim == 0 else out


# ----------------------------------------------------------------------------------------------
# the exact distribution of the GP test error: a generalised chi-squared
# ----------------------------------------------------------------------------------------------
def _gchi2_cumulants(t, s2, m2):
    """K(t), K'(t), K''(t) of Q = sum_j (s_j Z_j + m_j)**2 (vectorised over t)."""
    t = np.asarray(t, dtype=np.float64)[..., None]
    a = 1.0 - 2.0 * s2 * t
    K = np.sum(-0.5 * np.log(a) + m2 * t / a, axis=-1)
    K1 = np.sum(s2 / a + m2 / a ** 2, axis=-1)
    K2 = np.sum(2.0 * s2 ** 2 / a ** 2 + 4.0 * s2 * m2 / a ** 3, axis=-1)
    return K, K1, K2


def generalized_chi2_log_cdf(x, scales, means) -> np.ndarray:
    """log P(Q <= x) for Q = sum_j (scales_j Z_j + means_j)**2, Z_j iid N(0, 1) (saddlepoint).

    The exact law of the GP test MSE (paper ``inductive_bias``, rationale of the ncx2 fit). The
    Lugannani-Rice saddlepoint approximation: solve K'(t) = x for the cumulant generating function
    K, ``w = sign(t) sqrt(2 (t x - K(t)))``, ``u = t sqrt(K''(t))``,
    ``P(Q <= x) = Phi(w) + phi(w) (1/w - 1/u)``; its *relative* error stays small deep in the left
    tail (a few percent, i.e. < 0.05 nats), where Imhof's inversion has only absolute accuracy.
    Terms with ``scales_j = 0`` are constants. Returns ``-inf`` for x at or below the constant part.
    """
    s = np.abs(_as_numpy(scales, "scales")).ravel()
    m = _as_numpy(means, "means").ravel()
    if s.shape != m.shape or s.size == 0:
        raise ValueError(f"scales and means must have the same non-zero length, got {s.shape} and {m.shape}")
    if not (np.isfinite(s).all() and np.isfinite(m).all()):
        raise ValueError("scales and means must be finite")
    if not (s > 0).any():
        raise ValueError("at least one scale must be > 0 (otherwise Q is a constant)")
    x = _as_numpy(x, "x")
    s2, m2 = s ** 2, m ** 2
    const = float(m2[s2 == 0].sum())
    mean_q = float(np.sum(s2 + m2))
    var_q = float(np.sum(2 * s2 ** 2 + 4 * s2 * m2))
    t_max = 1.0 / (2.0 * s2.max())
    out = np.empty(x.shape, dtype=np.float64)
    for idx, xi in np.ndenumerate(x):  # one root per evaluation point (not per pair)
        if xi <= const:
            out[idx] = -np.inf
            continue
        if abs(xi - mean_q) < 1e-6 * math.sqrt(var_q):
            out[idx] = special.log_ndtr((xi - mean_q) / math.sqrt(var_q))
            continue
        g = lambda t: _gchi2_cumulants(t, s2, m2)[1] - xi  # noqa: E731  (increasing in t)
        if xi < mean_q:
            lo = -1.0 / (2.0 * s2.max())
            while g(lo) > 0:
                lo *= 4.0
            t_hat = optimize.brentq(g, lo, 0.0, xtol=1e-300, rtol=1e-14, maxiter=500)
        else:
            hi = t_max * (1.0 - 1e-15)
            t_hat = optimize.brentq(g, 0.0, hi, xtol=1e-300, rtol=1e-14, maxiter=500)
        K, _, K2 = _gchi2_cumulants(t_hat, s2, m2)
        w = math.copysign(math.sqrt(max(2.0 * (t_hat * xi - float(K)), 0.0)), t_hat)
        u = t_hat * math.sqrt(float(K2))
        if abs(w) < 1e-8 or abs(u) < 1e-8:
            out[idx] = special.log_ndtr((xi - mean_q) / math.sqrt(var_q))
            continue
        log_phi = -0.5 * w * w - 0.5 * math.log(2 * math.pi)
        log_Phi = float(special.log_ndtr(w))
        corr = math.exp(log_phi - log_Phi) * (1.0 / w - 1.0 / u)
        out[idx] = log_Phi + math.log(max(1.0 + corr, 1e-300))
    return out


# ----------------------------------------------------------------------------------------------
# hypothesis spaces
# ----------------------------------------------------------------------------------------------
def rbf_kernel(A, B, sigma: float = 1.0) -> np.ndarray:
    """RBF kernel ``exp(-|a - b|**2 / (2 sigma**2))`` between rows (official ``rbf_kernel``, sigma = 1)."""
    A, B = _as_numpy(A, "A"), _as_numpy(B, "B")
    sigma = _check_positive(sigma, "sigma")
    d2 = (A ** 2).sum(1)[:, None] + (B ** 2).sum(1)[None, :] - 2.0 * A @ B.T
    return np.exp(-np.maximum(d2, 0.0) / (2.0 * sigma ** 2))


def median_bandwidth(X) -> float:
    """The median heuristic: sigma = median Euclidean distance between distinct rows of ``X``."""
    X = _as_numpy(X, "X")
    if X.ndim != 2 or X.shape[0] < 2:
        raise ValueError(f"X must be 2-D with at least 2 rows, got shape {X.shape}")
    d2 = (X ** 2).sum(1)[:, None] + (X ** 2).sum(1)[None, :] - 2.0 * X @ X.T
    iu = np.triu_indices(X.shape[0], k=1)
    return float(np.median(np.sqrt(np.maximum(d2[iu], 0.0))))


def gp_posterior(Xtr, Ytr, Xte, sigma: float = 1.0, jitter: float = 1e-8):
    """Noise-free GP posterior on the test inputs (paper ``inductive_bias``, Algorithm 1).

    ``mu = K_*X K_XX^{-1} Y`` (n_test, C) and ``Sigma = K_** - K_*X K_XX^{-1} K_X*`` (n_test, n_test)
    by a Cholesky factor of ``K_XX + jitter I`` (closed form; the official code approximates
    ``K_XX^{-1} Y`` and ``K_XX^{-1} K_X*`` with 10,000 epochs of Adam).
    """
    jitter = _check_positive(jitter, "jitter")
    Xtr, Ytr, Xte, _ = _check_task(Xtr, Ytr, Xte, np.zeros((np.shape(Xte)[0], np.shape(Ytr)[1])))
    Kxx = rbf_kernel(Xtr, Xtr, sigma) + jitter * np.eye(Xtr.shape[0])
    Ksx = rbf_kernel(Xte, Xtr, sigma)
    Kss = rbf_kernel(Xte, Xte, sigma)
    L = np.linalg.cholesky(Kxx)
    from scipy.linalg import solve_triangular

    Lk = solve_triangular(L, Ksx.T, lower=True)  # L^{-1} K_X*
    Ly = solve_triangular(L, Ytr, lower=True)
    mu = Lk.T @ Ly
    cov = Kss - Lk.T @ Lk
    return mu, 0.5 * (cov + cov.T)


def gp_error_spectrum(Xtr, Ytr, Xte, Yte, sigma: float = 1.0, jitter: float = 1e-8):
    """(scales, means) with test MSE of a GP draw = sum_j (scales_j Z_j + means_j)**2 exactly.

    With ``Sigma = V diag(lam) V^T`` (eigh, negatives clipped to 0), ``b = V^T (mu - Y_test)`` and
    N = n_test * C: ``scales = sqrt(lam_k / N)`` repeated over the C outputs, ``means = b_kc / sqrt(N)``.
    The paper's rationale for the ncx2 family; feed to :func:`generalized_chi2_log_cdf`.
    """
    Xtr, Ytr, Xte, Yte = _check_task(Xtr, Ytr, Xte, Yte)
    mu, cov = gp_posterior(Xtr, Ytr, Xte, sigma, jitter)
    lam, V = np.linalg.eigh(cov)
    lam = np.clip(lam, 0.0, None)
    b = V.T @ (mu - Yte)  # (n_test, C)
    N = Yte.size
    scales = np.repeat(np.sqrt(lam / N)[:, None], Yte.shape[1], axis=1)
    return scales.ravel(), (b / math.sqrt(N)).ravel()


def gp_hypothesis_errors(Xtr, Ytr, Xte, Yte, sigma: float = 1.0, n_samples: int = 10000, jitter: float = 1e-8,
                         seed: int = 0, chunk: int = 1000) -> np.ndarray:
    """Test MSEs of ``n_samples`` interpolating GP-posterior hypotheses (paper ``inductive_bias``, Algorithm 1).

    A hypothesis is ``f(X*) = mu + Sigma^{1/2} xi`` with ``xi ~ N(0, I)`` per output; its error is
    ``mean((f - Y_test)**2)`` over test points and outputs. Drawn in the eigenbasis of ``Sigma``
    (the MSE is rotation invariant, so this is the same law, without an n_test**2 product per draw).
    Official defaults: sigma = 1, 10,000 samples. Seeded (``numpy.random.default_rng(seed)``).
    """
    n_samples = check_int(n_samples, "n_samples")
    chunk = check_int(chunk, "chunk")
    seed = check_int(seed, "seed", 0)
    scales, means = gp_error_spectrum(Xtr, Ytr, Xte, Yte, sigma, jitter)
    rng = np.random.default_rng(seed)
    out = np.empty(n_samples)
    for start in range(0, n_samples, chunk):  # chunks bound the memory, not a loop over pairs
        k = min(chunk, n_samples - start)
        z = rng.standard_normal((k, scales.size))
        out[start:start + k] = ((scales * z + means) ** 2).sum(1)
    return out


def random_feature_hypothesis_errors(Xtr, Ytr, Xte, Yte, width: int = 512, n_samples: int = 1000,
                                     ridge: float = 1e-8, seed: int = 0, chunk: int = 50,
                                     device: str = "cpu") -> np.ndarray:
    """Test MSEs of min-norm interpolants on random ReLU features (a random-feature hypothesis space).

    Not in the paper's code; added as a second expressive class between kernels and trained
    networks. A hypothesis: ``phi(x) = relu(W x + c) / sqrt(width)``, ``W ~ N(0, 1/d)``,
    ``c ~ N(0, 1)``, readout ``A = Phi^T (Phi Phi^T + ridge I)^{-1} Y_train`` (it interpolates the
    training set when width >= n_train). Batched over hypotheses, float64, seeded (features drawn
    on the CPU, algebra on ``device``).
    """
    Xtr, Ytr, Xte, Yte = _check_task(Xtr, Ytr, Xte, Yte)
    width, n_samples = check_int(width, "width"), check_int(n_samples, "n_samples")
    ridge = _check_positive(ridge, "ridge")
    chunk, seed = check_int(chunk, "chunk"), check_int(seed, "seed", 0)
    g = torch.Generator().manual_seed(seed)
    xtr, ytr = torch.from_numpy(Xtr).to(device), torch.from_numpy(Ytr).to(device)
    xte, yte = torch.from_numpy(Xte).to(device), torch.from_numpy(Yte).to(device)
    d, n = Xtr.shape[1], Xtr.shape[0]
    out = np.empty(n_samples)
    eye = torch.eye(n, dtype=torch.float64, device=device)
    for start in range(0, n_samples, chunk):
        k = min(chunk, n_samples - start)
        W = (torch.randn(k, d, width, generator=g, dtype=torch.float64) / math.sqrt(d)).to(device)
        c = torch.randn(k, 1, width, generator=g, dtype=torch.float64).to(device)
        phi_tr = torch.relu(torch.einsum("nd,kdw->knw", xtr, W) + c) / math.sqrt(width)
        phi_te = torch.relu(torch.einsum("nd,kdw->knw", xte, W) + c) / math.sqrt(width)
        gram = phi_tr @ phi_tr.transpose(1, 2) + ridge * eye
        coef = torch.linalg.solve(gram, ytr.expand(k, -1, -1))
        pred = phi_te @ (phi_tr.transpose(1, 2) @ coef)
        out[start:start + k] = ((pred - yte) ** 2).mean(dim=(1, 2)).cpu().numpy()
    return out


def mlp_hypothesis_errors(Xtr, Ytr, Xte, Yte, width: int = 64, depth: int = 1, epochs: int = 100,
                          batch_size: int | None = None, lr: float = 1e-3, n_trials: int = 40, seed: int = 0,
                          return_train_error: bool = False, device: str = "cpu"):
    """Test MSEs of ``n_trials`` ReLU MLPs trained from random inits (paper ``inductive_bias``, ``nn_inductive_bias.py``).

    ``depth`` hidden layers of ``width`` units (the official ``Net(width, depth)`` has depth + 1
    hidden layers), PyTorch's default ``nn.Linear`` initialisation, Adam(lr) on MSE to the targets,
    ``epochs`` passes over the training set in shuffled mini-batches of ``batch_size`` (each trial its
    own order; ``None`` = full batch). All trials train at once with batched weights: Adam is
    elementwise, so this equals ``n_trials`` independent runs. Returns the test MSE per trial (mean
    over test points and outputs), and with ``return_train_error`` also the final training MSE.
    Initial weights and data orders come from a CPU generator seeded with ``seed`` (the same on any
    ``device``); training runs on ``device``.
    """
    Xtr, Ytr, Xte, Yte = _check_task(Xtr, Ytr, Xte, Yte)
    width, depth, epochs = check_int(width, "width"), check_int(depth, "depth"), check_int(epochs, "epochs")
    n_trials, seed = check_int(n_trials, "n_trials"), check_int(seed, "seed", 0)
    lr = _check_positive(lr, "lr")
    n = Xtr.shape[0]
    bs = n if batch_size is None else check_int(batch_size, "batch_size")
    g = torch.Generator().manual_seed(seed)
    xtr, ytr = torch.from_numpy(Xtr).float().to(device), torch.from_numpy(Ytr).float().to(device)
    xte, yte = torch.from_numpy(Xte).float().to(device), torch.from_numpy(Yte).float().to(device)
    dims = [Xtr.shape[1]] + [width] * depth + [Ytr.shape[1]]
    params = []
    for fan_in, fan_out in zip(dims[:-1], dims[1:]):
        bound = 1.0 / math.sqrt(fan_in)  # nn.Linear default: kaiming_uniform(a=sqrt(5)) -> U(-1/sqrt(fan_in), ...)
        W = (torch.rand(n_trials, fan_in, fan_out, generator=g) * 2 - 1) * bound
        b = (torch.rand(n_trials, 1, fan_out, generator=g) * 2 - 1) * bound
        params += [W.to(device).requires_grad_(), b.to(device).requires_grad_()]

    def forward(x):  # x: (T, n, d)
        h = x
        for i in range(0, len(params), 2):
            h = torch.baddbmm(params[i + 1], h, params[i])
            if i + 2 < len(params):
                h = torch.relu(h)
        return h

    opt = torch.optim.Adam(params, lr=lr)
    for _ in range(epochs):
        order = torch.argsort(torch.rand(n_trials, n, generator=g), dim=1) if bs < n else \
            torch.arange(n).expand(n_trials, n)
        order = order.to(device)
        for start in range(0, n, bs):
            idx = order[:, start:start + bs]
            xb, yb = xtr[idx], ytr[idx]  # (T, b, d), (T, b, C)
            loss = ((forward(xb) - yb) ** 2).mean(dim=(1, 2)).sum()  # sum over trials: independent gradients
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        test = ((forward(xte.expand(n_trials, -1, -1)) - yte) ** 2).mean(dim=(1, 2)).double().cpu().numpy()
        train = ((forward(xtr.expand(n_trials, -1, -1)) - ytr) ** 2).mean(dim=(1, 2)).double().cpu().numpy()
    return (test, train) if return_train_error else test


def sample_hypothesis_errors(space: str, Xtr, Ytr, Xte, Yte, n_samples: int, seed: int = 0, **options) -> np.ndarray:
    """Test errors of ``n_samples`` hypotheses drawn from ``space`` (one of ``HYPOTHESIS_SPACES``).

    ``"gp_rbf"`` -> :func:`gp_hypothesis_errors`, ``"random_features"`` ->
    :func:`random_feature_hypothesis_errors`, ``"mlp"`` -> :func:`mlp_hypothesis_errors`
    (``n_samples`` = trials); ``options`` go to that function.
    """
    if space == "gp_rbf":
        return gp_hypothesis_errors(Xtr, Ytr, Xte, Yte, n_samples=n_samples, seed=seed, **options)
    if space == "random_features":
        return random_feature_hypothesis_errors(Xtr, Ytr, Xte, Yte, n_samples=n_samples, seed=seed, **options)
    if space == "mlp":
        return mlp_hypothesis_errors(Xtr, Ytr, Xte, Yte, n_trials=n_samples, seed=seed, **options)
    raise ValueError(f"space must be one of {HYPOTHESIS_SPACES}, got {space!r}")
