"""Fisher information of small exponential-family models, computed exactly, and the regime parameter α.

Paper: Max Zhuravlev, "Verifying Good Regulator Conditions for Hypergraph Observers: Natural Gradient
Learning from Causal Invariance via Established Theorems", arXiv:2603.09067 (2026), slug
``good_regulator``; LaTeX ``MaxZhuravlev/physics-cosmo-papers`` (``paper3-good-regulator/main.tex``,
section "Computational Evidence: Mass Tensor and Optimal Regime Parameter"), and the author's
companion paper on the directional α (``paper6-directional-alpha/main.tex``). No official code.

**Fisher information** (paper eq. for ``g_ij``, Amari 1998)::

    g_ij(θ) = E_θ[∂_i log p_θ · ∂_j log p_θ]

* :func:`fisher_information`: that definition, literally, by autograd of a ``log_prob`` on a finite
  support (discrete models, exact) or on quadrature points with given weights (e.g. Gauss-Hermite
  nodes for a Gaussian, exact for polynomial scores).
* Exponential family ``p_θ(s) ∝ exp(θᵀT(s))`` on a finite support: ``F(θ) = Cov_θ[T] = ∇² log Z(θ)``
  (:func:`exp_family_moments` returns ``log Z``, ``E[T]`` and ``Cov[T]`` in one vectorised pass).
* **Ising observers** (:func:`ising_fisher`): spins ``s ∈ {-1, +1}ⁿ`` on a graph, sufficient statistics
  ``s_i s_j`` per edge (the paper's table: edge couplings only, uniform ``J``, no fields), optionally
  the fields ``s_i`` (``fields=True``), or ``{0, 1}`` spins (``spins="01"``). Exact enumeration of the
  ``2ⁿ`` states (``n <= 20``). :func:`make_graph` builds the named graphs (``K3``, ``P6``, ``C5``, ``S4``,
  ``W5``, ``K3,3``, ``grid2x3``).
* :func:`fisher_from_samples`: the empirical covariance of sampled sufficient statistics.

**Regime parameter α (Vanchurin Type II, under the paper's ansatz M = F²).** The combined metric
``g(c) = M + c F`` with ``M = F²`` has eigenvalues ``μ_k = λ_k(λ_k + c)``, with ``c = β = α²/(1 - α)``
(:func:`c_from_alpha`, :func:`alpha_from_c`). Model A's convergence time (Theorem "Convergence-Time
Optimal α") is ``T(c) = κ(g(c))·μ_max(g(c))`` (:func:`convergence_time`, also models B-D of the paper's
Remark "Honest Limitations"). ``dT/dc ∝ (λ_max + c)(c - (λ_max - 2λ_min))``, hence (:func:`alpha_opt`)::

    Δ = λ_max - 2 λ_min,   c* = max(Δ, 0),   α_opt = (-Δ + sqrt(Δ(Δ + 4)))/2  (0 when κ(F) <= 2)

**Directional regime parameter** (paper Definition "Directional Regime Parameter"; paper6)::

    α(v) = vᵀF²v / (vᵀF²v + β vᵀFv),   α_{v_k} = λ_k/(λ_k + β) along eigenvector v_k

(:func:`directional_alpha`, spread :func:`alpha_spread`). **Deviation tensor** (Definition "Deviation
Tensor") ``Δ_μν = M_μν - k_tr F_μν`` with ``k_tr = tr M / tr F`` and ``δ = ‖Δ‖_F/‖M‖_F``
(:func:`deviation_tensor`; the paper calls ``k_tr`` "κ", a symbol it also uses for the condition number).

**Natural gradient** ``Δθ = -η F⁻¹ ∇L`` (:func:`natural_gradient`) and a preconditioned descent on a
quadratic, ``x ← x - η g⁻¹ H x`` (:func:`preconditioned_descent_iterations`), to test Model A against
actual dynamics.

Everything works in float64 torch tensors (array-likes are converted); matrix inputs are checked by
:func:`check_symmetric_matrix` and raise ``ValueError`` saying what was expected and what was given.
"""

from __future__ import annotations

import math
import re
from typing import Callable, NamedTuple

import numpy as np
import torch

from ..validation import check_finite, check_positive

__all__ = [
    "Graph",
    "make_graph",
    "check_symmetric_matrix",
    "condition_number",
    "enumerate_states",
    "ising_statistics",
    "exp_family_moments",
    "ising_moments",
    "ising_fisher",
    "ising_log_partition",
    "fisher_information",
    "fisher_from_samples",
    "natural_gradient",
    "c_from_alpha",
    "alpha_from_c",
    "AlphaOpt",
    "alpha_opt",
    "combined_metric",
    "CONVERGENCE_MODELS",
    "convergence_time",
    "directional_alpha",
    "alpha_spread",
    "deviation_tensor",
    "preconditioned_descent_iterations",
]

MAX_SPINS = 20
CONVERGENCE_MODELS = ("A", "B", "C", "D")


# ------------------------------------------------------------------------------------------ inputs
def _describe(x) -> str:
    if isinstance(x, (torch.Tensor, np.ndarray)):
        return f"{type(x).__name__} of shape {tuple(x.shape)} and dtype {x.dtype}"
    return type(x).__name__


def _as_float64(x, name: str) -> torch.Tensor:
    """``x`` as a finite float64 tensor (a tensor, array, list or number), or a ValueError naming ``name``."""
    if isinstance(x, torch.Tensor):
        if x.is_complex() or x.dtype == torch.bool:
            raise ValueError(f"{name} must be a real floating-point tensor, got {_describe(x)}")
        t = x if x.dtype == torch.float64 else x.to(torch.float64)
    else:
        try:
            t = torch.as_tensor(np.asarray(x, dtype=np.float64))
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a real array or tensor, got {_describe(x)}") from None
    check_finite(t, name)
    return t


def check_symmetric_matrix(F, name: str = "F", *, definite: str | None = "positive", tol: float = 1e-9) -> torch.Tensor:
    """Check a real square symmetric matrix (e.g. a Fisher matrix) and return it as float64.

    ``definite``: ``"positive"`` (all eigenvalues > 0, as ``alpha_opt`` needs), ``"semi"`` (>= -tol·scale,
    a covariance), or None (any symmetric matrix). Symmetry is checked to ``tol`` relative to the
    largest absolute entry. Raises ``ValueError`` naming what was expected and what was given.
    """
    F = _as_float64(F, name)
    if F.dim() != 2 or F.shape[0] != F.shape[1]:
        raise ValueError(f"{name} must be a square matrix of shape (d, d), got {_describe(F)}")
    if F.shape[0] == 0:
        raise ValueError(f"{name} must be non-empty (d >= 1), got {_describe(F)}")
    check_finite(F, name)
    scale = max(float(F.abs().max()), 1e-300)
    asym = float((F - F.T).abs().max())
    if asym > tol * scale:
        raise ValueError(f"{name} must be symmetric, got max |{name} - {name}ᵀ| = {asym:.3g} (largest entry {scale:.3g})")
    if definite is not None:
        if definite not in ("positive", "semi"):
            raise ValueError(f"definite must be 'positive', 'semi' or None, got {definite!r}")
        lam_min = float(torch.linalg.eigvalsh(0.5 * (F + F.T)).min())
        if definite == "positive" and not lam_min > 0:
            raise ValueError(f"{name} must be positive definite, got smallest eigenvalue {lam_min:.6g}")
        if definite == "semi" and lam_min < -tol * scale:
            raise ValueError(f"{name} must be positive semi-definite, got smallest eigenvalue {lam_min:.6g}")
    return F


def condition_number(F) -> torch.Tensor:
    """κ(F) = λ_max/λ_min of a symmetric positive definite matrix (differentiable)."""
    F = check_symmetric_matrix(F, "F")
    lam = torch.linalg.eigvalsh(F)
    return lam[-1] / lam[0]


# ------------------------------------------------------------------------------------------ graphs
class Graph(NamedTuple):
    """An undirected simple graph: ``n`` vertices ``0..n-1`` and an ``(m, 2)`` long tensor of edges."""

    name: str
    n: int
    edges: torch.Tensor


def _graph(name: str, n: int, pairs) -> Graph:
    edges = torch.tensor(sorted({(min(a, b), max(a, b)) for a, b in pairs}), dtype=torch.long).reshape(-1, 2)
    return Graph(name, n, edges)


def make_graph(name) -> Graph:
    """Named small graphs of the ``good_regulator`` sweep.

    ``K<n>`` complete, ``P<n>`` path, ``C<n>`` cycle, ``S<n>`` star with ``n`` vertices (one hub,
    ``n - 1`` leaves), ``W<n>`` wheel with ``n`` vertices (hub + cycle of ``n - 1``), ``K<a>,<b>``
    complete bipartite (``K3,3``), ``grid<r>x<c>``. A :class:`Graph` or ``(n, edges)`` is
    returned checked. The paper's observer names map to ``tri_perfect_GR`` = K3, ``c4_complete`` = K4,
    ``k5_perfect_GR`` = K5, ``ch6_perfect_GR`` = P6 (brief; the paper lists the table, not the graphs).
    """
    if isinstance(name, Graph):
        return _check_graph(name)
    if isinstance(name, tuple) and len(name) == 2:
        n, edges = name
        return _check_graph(Graph(f"G{n}", int(n), torch.as_tensor(edges, dtype=torch.long).reshape(-1, 2)))
    if not isinstance(name, str):
        raise ValueError(f"graph must be a name like 'K4', a Graph or (n, edges), got {_describe(name)}")
    m = re.fullmatch(r"K(\d+),(\d+)", name)
    if m:
        a, b = int(m.group(1)), int(m.group(2))
        if a < 1 or b < 1:
            raise ValueError(f"graph {name!r}: K<a>,<b> needs a, b >= 1")
        return _check_graph(_graph(name, a + b, [(i, a + j) for i in range(a) for j in range(b)]))
    m = re.fullmatch(r"([KPCSW])(\d+)", name)
    if m:
        kind, n = m.group(1), int(m.group(2))
        minimum = {"K": 2, "P": 2, "C": 3, "S": 2, "W": 4}[kind]
        if n < minimum:
            raise ValueError(f"graph {name!r}: {kind}<n> needs n >= {minimum}, got n = {n}")
        if kind == "K":
            pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
        elif kind == "P":
            pairs = [(i, i + 1) for i in range(n - 1)]
        elif kind == "C":
            pairs = [(i, (i + 1) % n) for i in range(n)]
        elif kind == "S":
            pairs = [(0, i) for i in range(1, n)]
        else:  # wheel: hub 0, rim 1..n-1
            rim = list(range(1, n))
            pairs = [(0, i) for i in rim] + [(rim[k], rim[(k + 1) % len(rim)]) for k in range(len(rim))]
        return _check_graph(_graph(name, n, pairs))
    m = re.fullmatch(r"grid(\d+)x(\d+)", name)
    if m:
        r, c = int(m.group(1)), int(m.group(2))
        idx = lambda i, j: i * c + j  # noqa: E731
        pairs = [(idx(i, j), idx(i, j + 1)) for i in range(r) for j in range(c - 1)]
        pairs += [(idx(i, j), idx(i + 1, j)) for i in range(r - 1) for j in range(c)]
        return _check_graph(_graph(name, r * c, pairs))
    raise ValueError(f"unknown graph name {name!r}; expected K<n>, P<n>, C<n>, S<n>, W<n>, K<a>,<b> or grid<r>x<c>")


def _check_graph(g: Graph) -> Graph:
    if not isinstance(g.n, int) or g.n < 1:
        raise ValueError(f"graph {g.name!r}: n must be a positive int, got {g.n!r}")
    if g.n > MAX_SPINS:
        raise ValueError(f"graph {g.name!r} has n = {g.n} vertices; exact enumeration is limited to n <= {MAX_SPINS} (2^n states)")
    e = g.edges
    if e.dim() != 2 or e.shape[1] != 2 or e.shape[0] == 0:
        raise ValueError(f"graph {g.name!r}: edges must have shape (m, 2) with m >= 1, got {_describe(e)}")
    if int(e.min()) < 0 or int(e.max()) >= g.n or bool((e[:, 0] == e[:, 1]).any()):
        raise ValueError(f"graph {g.name!r}: edges must join two different vertices in 0..{g.n - 1}")
    return g


# ------------------------------------------------------------------------ exponential families
def enumerate_states(n: int, spins: str = "pm1", device=None) -> torch.Tensor:
    """All ``2ⁿ`` spin configurations as a ``(2ⁿ, n)`` float64 tensor, in ``{-1, +1}`` or ``{0, 1}``."""
    if not isinstance(n, int) or not 1 <= n <= MAX_SPINS:
        raise ValueError(f"n must be an int in [1, {MAX_SPINS}] (2^n states are enumerated), got {n!r}")
    if spins not in ("pm1", "01"):
        raise ValueError(f"spins must be 'pm1' (±1) or '01', got {spins!r}")
    codes = torch.arange(2 ** n, device=device).unsqueeze(1)
    bits = ((codes >> torch.arange(n, device=device)) & 1).to(torch.float64)
    return 2.0 * bits - 1.0 if spins == "pm1" else bits


def ising_statistics(graph, *, fields: bool = False, spins: str = "pm1", device=None) -> torch.Tensor:
    """Sufficient statistics ``T(s)`` of an Ising observer for every state: ``(2ⁿ, m [+ n])``.

    Columns: ``s_i s_j`` for each edge (in ``graph.edges`` order), then ``s_i`` for each vertex when
    ``fields=True`` (the paper's parameters ``θ = {J_ij, h_i}``; its α table uses edges only).
    """
    g = make_graph(graph)
    s = enumerate_states(g.n, spins, device=device)
    e = g.edges.to(s.device)
    T = s[:, e[:, 0]] * s[:, e[:, 1]]
    return torch.cat([T, s], dim=1) if fields else T


def exp_family_moments(T, theta, base_log_measure=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(log Z, E_θ[T], Cov_θ[T])`` of ``p_θ(x) ∝ exp(θᵀT(x) + b(x))`` on a finite support, exactly.

    ``T``: ``(N, d)`` statistics of the ``N`` support points; ``theta``: ``(d,)`` natural parameters;
    ``base_log_measure``: optional ``(N,)`` ``b(x)``. ``Cov_θ[T] = ∇² log Z(θ)`` is the Fisher matrix in
    natural parameters (``good_regulator``, Definitions). Differentiable in ``theta``; one pass, no loops.
    """
    T = _as_float64(T, "T")
    theta = _as_float64(theta, "theta").to(T.device)
    if T.dim() != 2 or T.shape[0] == 0 or T.shape[1] == 0:
        raise ValueError(f"T must have shape (N, d) with N, d >= 1, got {_describe(T)}")
    if theta.shape != (T.shape[1],):
        raise ValueError(f"theta must have shape ({T.shape[1]},) to match T, got {_describe(theta)}")
    check_finite(T, "T")
    check_finite(theta, "theta")
    logits = T @ theta
    if base_log_measure is not None:
        b = _as_float64(base_log_measure, "base_log_measure").to(T.device)
        if b.shape != (T.shape[0],):
            raise ValueError(f"base_log_measure must have shape ({T.shape[0]},), got {_describe(b)}")
        logits = logits + b
    log_z = torch.logsumexp(logits, dim=0)
    p = torch.exp(logits - log_z)
    mean = p @ T
    centred = T - mean
    cov = (centred * p.unsqueeze(1)).T @ centred
    return log_z, mean, 0.5 * (cov + cov.T)


def _ising_theta(g: Graph, J, h, fields: bool, device) -> torch.Tensor:
    m = g.edges.shape[0]
    J = _as_float64(J, "J").to(device)
    J = J.expand(m) if J.dim() == 0 else J
    if J.shape != (m,):
        raise ValueError(f"J must be a scalar or one coupling per edge ({m},), got {_describe(J)}")
    if not fields:
        if bool((_as_float64(h, "h") != 0).any()):
            raise ValueError("fields h were given but fields=False; pass fields=True to include them")
        return J
    h = _as_float64(h, "h").to(device)
    h = h.expand(g.n) if h.dim() == 0 else h
    if h.shape != (g.n,):
        raise ValueError(f"h must be a scalar or one field per vertex ({g.n},), got {_describe(h)}")
    return torch.cat([J, h])


def ising_moments(graph, J, h=0.0, *, fields: bool = False, spins: str = "pm1", device=None):
    """``(log Z, E[T], F)`` of an Ising observer, by exact enumeration (see :func:`ising_fisher`)."""
    g = make_graph(graph)
    T = ising_statistics(g, fields=fields, spins=spins, device=device)
    return exp_family_moments(T, _ising_theta(g, J, h, fields, T.device))


def ising_fisher(graph, J, h=0.0, *, fields: bool = False, spins: str = "pm1", device=None) -> torch.Tensor:
    """Exact Fisher matrix of an Ising observer in its natural parameters, ``F = Cov_θ[T]``.

    ``good_regulator``, Section "Mass Tensor for Exponential Families": ``p(s) ∝ exp(Σ_e J_e s_i s_j
    [+ Σ_i h_i s_i])``. Defaults follow the paper's α table (edge couplings only, no fields, ±1 spins):
    ``F`` is ``(m, m)`` for ``m`` edges; ``fields=True`` gives the ``(m + n, m + n)`` matrix of ``{J, h}``
    (K3 at J = 0.5 then has κ = 5.79 instead of 2.84). ``J`` (and ``h``) scalar or per edge (vertex).
    Exact enumeration of the ``2ⁿ`` states, vectorised; ``n <= 20``; differentiable in ``J``/``h``.
    """
    return ising_moments(graph, J, h, fields=fields, spins=spins, device=device)[2]


def ising_log_partition(graph, J, h=0.0, *, fields: bool = False, spins: str = "pm1", device=None) -> torch.Tensor:
    """``log Z(θ)`` of an Ising observer (exact); its Hessian in ``θ`` is :func:`ising_fisher`."""
    return ising_moments(graph, J, h, fields=fields, spins=spins, device=device)[0]


def fisher_information(log_prob: Callable, theta, points, weights=None) -> torch.Tensor:
    """The Fisher metric ``g_ij = E_θ[∂_i log p_θ(x) ∂_j log p_θ(x)]`` by autograd (paper eq. for g_ij).

    ``log_prob(points, theta) -> (N,)`` log-densities, differentiable in ``theta`` (shape ``(d,)``).
    ``weights=None``: ``points`` is the whole finite support and the weights are ``exp(log_prob)``
    (must sum to 1 within 1e-8): the exact Fisher of a discrete model. Otherwise ``weights`` are the
    ``(N,)`` probabilities of ``points`` under ``p_θ`` (a quadrature rule, e.g. Gauss-Hermite nodes
    ``μ + σ z`` for a Gaussian, exact for polynomial scores). The score of every point comes from one
    Jacobian call (``torch.func.jacrev``), no Python loop over points.
    """
    theta = _as_float64(theta, "theta")
    if theta.dim() != 1 or theta.numel() == 0:
        raise ValueError(f"theta must be a non-empty 1-D parameter vector, got {_describe(theta)}")
    theta = theta.detach()
    points = points if isinstance(points, torch.Tensor) else _as_float64(points, "points")
    check_finite(points, "points")
    scores = torch.func.jacrev(lambda t: log_prob(points, t))(theta)  # (N, d)
    if scores.dim() != 2 or scores.shape[1] != theta.numel():
        raise ValueError(f"log_prob must return one log-probability per point, got scores of shape {tuple(scores.shape)}")
    if weights is None:
        w = torch.exp(log_prob(points, theta)).detach()
        if abs(float(w.sum()) - 1.0) > 1e-8:
            raise ValueError(f"with weights=None, points must be the whole support (probabilities summing to 1), "
                             f"got a total probability of {float(w.sum()):.10f}")
    else:
        w = _as_float64(weights, "weights")
        if w.shape != (scores.shape[0],) or bool((w < 0).any()):
            raise ValueError(f"weights must be ({scores.shape[0]},) non-negative probabilities, got {_describe(w)}")
    G = (scores * w.unsqueeze(1)).T @ scores
    return 0.5 * (G + G.T)


def fisher_from_samples(T_samples) -> torch.Tensor:
    """Monte-Carlo Fisher of an exponential family: the covariance of sampled statistics ``(S, d)``.

    Unbiased (divides by ``S - 1``); equals ``Cov_θ[T] = F(θ)`` in the limit (``good_regulator``).
    """
    T = _as_float64(T_samples, "T_samples")
    if T.dim() != 2 or T.shape[0] < 2 or T.shape[1] == 0:
        raise ValueError(f"T_samples must have shape (S, d) with S >= 2 samples, got {_describe(T)}")
    check_finite(T, "T_samples")
    c = T - T.mean(dim=0)
    cov = c.T @ c / (T.shape[0] - 1)
    return 0.5 * (cov + cov.T)


def natural_gradient(F, grad, damping: float = 0.0) -> torch.Tensor:
    """Natural gradient ``(F + damping·I)⁻¹ ∇L`` (Amari 1998; paper Sec. "Amari's Natural Gradient").

    ``grad``: ``(d,)`` or ``(d, k)``. ``F`` must be positive definite, or positive semi-definite with
    ``damping > 0``. A step is ``θ ← θ - η · natural_gradient(F, ∇L)``; it is invariant under linear
    reparameterisations ``θ = Aφ`` (the ``φ``-step maps to the same ``θ``-step).
    """
    damping = check_positive(damping, "damping", allow_zero=True)
    F = check_symmetric_matrix(F, "F", definite="positive" if damping == 0 else "semi")
    grad = _as_float64(grad, "grad").to(F.device)
    if grad.dim() not in (1, 2) or grad.shape[0] != F.shape[0]:
        raise ValueError(f"grad must have shape ({F.shape[0]},) or ({F.shape[0]}, k), got {_describe(grad)}")
    check_finite(grad, "grad")
    A = F + damping * torch.eye(F.shape[0], dtype=F.dtype, device=F.device)
    return torch.linalg.solve(A, grad)


# ------------------------------------------------------------------------------- the α formula
def c_from_alpha(alpha):
    """``c = β = α²/(1 - α)`` for ``α ∈ [0, 1)`` (paper, Remark "Ansatz: M = F²")."""
    a = _as_float64(alpha, "alpha")
    if bool(((a < 0) | (a >= 1)).any()):
        raise ValueError(f"alpha must lie in [0, 1), got values in [{float(a.min()):.6g}, {float(a.max()):.6g}]")
    return a * a / (1 - a)


def alpha_from_c(c):
    """Inverse of :func:`c_from_alpha`: the root in [0, 1) of ``α² + cα - c = 0``, ``(-c + sqrt(c(c+4)))/2``."""
    c = _as_float64(c, "c")
    if bool((c < 0).any()):
        raise ValueError(f"c must be >= 0, got minimum {float(c.min()):.6g}")
    return 0.5 * (-c + torch.sqrt(c * (c + 4)))


class AlphaOpt(NamedTuple):
    """Result of :func:`alpha_opt`: ``alpha`` α_opt, ``c_star`` = max(Δ, 0), ``kappa`` κ(F), ``delta`` Δ (signed),
    ``lam_min``, ``lam_max`` the extreme Fisher eigenvalues."""

    alpha: float
    c_star: float
    kappa: float
    delta: float
    lam_min: float
    lam_max: float


def alpha_opt(F) -> AlphaOpt:
    """Model-A optimal regime parameter (paper Theorem "Convergence-Time Optimal α").

    ``Δ = λ_max - 2λ_min``; if ``κ(F) <= 2`` (``Δ <= 0``) the optimum is ``c = 0``, ``α = 0``; else
    ``c* = Δ`` and ``α_opt = (-Δ + sqrt(Δ(Δ + 4)))/2``. ``F`` must be symmetric positive definite.
    Note (brief, error 3): Δ has the units of F, so α_opt changes when F is rescaled; only the threshold
    κ(F) > 2 is scale-free.
    """
    F = check_symmetric_matrix(F, "F")
    lam = torch.linalg.eigvalsh(F)
    lo, hi = float(lam[0]), float(lam[-1])
    delta = hi - 2 * lo
    c_star = max(delta, 0.0)
    alpha = float(alpha_from_c(torch.tensor(c_star, dtype=torch.float64)))
    return AlphaOpt(alpha=alpha, c_star=c_star, kappa=hi / lo, delta=delta, lam_min=lo, lam_max=hi)


def combined_metric(F, c, M=None) -> torch.Tensor:
    """Vanchurin's Type II metric ``g = M + c F`` with the paper's ansatz ``M = F²`` by default."""
    F = check_symmetric_matrix(F, "F", definite="semi")
    c = check_positive(c, "c", allow_zero=True)
    M = F @ F if M is None else check_symmetric_matrix(M, "M", definite=None)
    if M.shape != F.shape:
        raise ValueError(f"M must have the shape of F {tuple(F.shape)}, got {tuple(M.shape)}")
    return M + c * F


def convergence_time(F, c, model: str = "A") -> torch.Tensor:
    """Convergence-time functionals of ``g(c) = F² + cF`` (paper Theorem and Remark "Honest Limitations").

    With ``μ_k = λ_k(λ_k + c)``: ``"A"``: ``κ(g)·μ_max = μ_max²/μ_min`` (the theorem's), ``"B"``: ``κ(g)``,
    ``"C"``: ``μ_max``, ``"D"``: ``μ_max / μ_min^{1/2}`` (= sqrt of model A, so it has the same minimiser).
    ``c``: a scalar or a 1-D tensor of values (vectorised). ``F`` symmetric positive definite.
    """
    if model not in CONVERGENCE_MODELS:
        raise ValueError(f"model must be one of {CONVERGENCE_MODELS}, got {model!r}")
    F = check_symmetric_matrix(F, "F")
    c = _as_float64(c, "c").to(F.device)
    if bool((c < 0).any()):
        raise ValueError(f"c must be >= 0, got minimum {float(c.min()):.6g}")
    lam = torch.linalg.eigvalsh(F)
    mu_min = lam[0] * (lam[0] + c)
    mu_max = lam[-1] * (lam[-1] + c)
    return {"A": mu_max ** 2 / mu_min, "B": mu_max / mu_min, "C": mu_max, "D": mu_max / mu_min.sqrt()}[model]


def directional_alpha(F, beta, v=None) -> torch.Tensor:
    """Directional regime parameter ``α(v) = vᵀF²v / (vᵀF²v + β vᵀFv)`` (paper Def. "Directional Regime Parameter").

    ``v=None``: along the eigenvectors of ``F``, ``λ_k/(λ_k + β)`` in ascending order of ``λ_k``; else
    ``v`` is ``(d,)`` or ``(k, d)`` directions (rows), one value each. ``β > 0`` (the paper's β = c; paper6
    uses β = 1/2, the efficient-learning point).
    """
    beta = check_positive(beta, "beta")
    F = check_symmetric_matrix(F, "F")
    if v is None:
        lam = torch.linalg.eigvalsh(F)
        return lam / (lam + beta)
    v = _as_float64(v, "v").to(F.device)
    single = v.dim() == 1
    V = v.unsqueeze(0) if single else v
    if V.dim() != 2 or V.shape[1] != F.shape[0] or bool((V.norm(dim=1) == 0).any()):
        raise ValueError(f"v must be non-zero direction(s) of shape ({F.shape[0]},) or (k, {F.shape[0]}), got {_describe(v)}")
    FV = V @ F
    q2 = (FV * FV).sum(dim=1)  # vᵀF²v
    q1 = (FV * V).sum(dim=1)  # vᵀFv
    out = q2 / (q2 + beta * q1)
    return out[0] if single else out


def alpha_spread(F, beta) -> torch.Tensor:
    """``Δα = α_max - α_min = β(λ_max - λ_min)/((λ_max + β)(λ_min + β))`` (paper, after Theorem "Uniform α")."""
    a = directional_alpha(F, beta)
    return a[-1] - a[0]


def deviation_tensor(F, M=None) -> tuple[torch.Tensor, float, float]:
    """Deviation tensor ``Δ = M - k_tr F`` with ``k_tr = tr M / tr F`` (paper Def. "Deviation Tensor").

    Returns ``(Delta, delta, k_tr)`` with the deviation fraction ``δ = ‖Δ‖_F / ‖M‖_F``. ``M`` defaults
    to the ansatz ``F²``, for which Δ has eigenvalues ``λ_k(λ_k - k_tr)``. ``tr Δ = 0`` by construction.
    """
    F = check_symmetric_matrix(F, "F")
    M = F @ F if M is None else check_symmetric_matrix(M, "M", definite=None)
    if M.shape != F.shape:
        raise ValueError(f"M must have the shape of F {tuple(F.shape)}, got {tuple(M.shape)}")
    k_tr = torch.trace(M) / torch.trace(F)
    D = M - k_tr * F
    m_norm = torch.linalg.matrix_norm(M)
    if float(m_norm) == 0:
        raise ValueError("M must be non-zero for the deviation fraction ‖Δ‖/‖M‖")
    return D, float(torch.linalg.matrix_norm(D) / m_norm), float(k_tr)


# ---------------------------------------------------------------------------------- dynamics
def preconditioned_descent_iterations(H, g, x0, eta=None, *, tol: float = 1e-6, max_iter: int = 100_000) -> int:
    """Iterations of ``x ← x - η g⁻¹ H x`` (preconditioned GD on ``L = ½ xᵀHx``, ``x = θ - θ*``) until
    ``‖x‖ <= tol·‖x0‖``; ``max_iter`` if it never gets there (diverges or too slow).

    ``eta=None``: the best fixed step for the preconditioned problem, ``2/(m + L)`` with ``m, L`` the
    extreme eigenvalues of ``g⁻¹H`` (similar to ``g^{-1/2} H g^{-1/2}``), so the count is about
    ``(κ(g⁻¹H)/2)·ln(1/tol)``. This is the "real" dynamics the paper's Model A is meant to summarise.
    """
    H = check_symmetric_matrix(H, "H")
    g = check_symmetric_matrix(g, "g")
    if H.shape != g.shape:
        raise ValueError(f"H and g must have the same shape, got {tuple(H.shape)} and {tuple(g.shape)}")
    x = _as_float64(x0, "x0").to(H.device).clone()
    if x.shape != (H.shape[0],) or float(x.norm()) == 0:
        raise ValueError(f"x0 must be a non-zero vector of shape ({H.shape[0]},), got {_describe(x)}")
    check_positive(tol, "tol")
    P = torch.linalg.solve(g, H)  # g⁻¹H
    if eta is None:
        L_g = torch.linalg.cholesky(g)
        Li = torch.linalg.inv(L_g)
        ev = torch.linalg.eigvalsh(Li @ H @ Li.T)
        eta = 2.0 / float(ev[0] + ev[-1])
    eta = check_positive(eta, "eta")
    target = tol * float(x.norm())
    step = torch.eye(H.shape[0], dtype=torch.float64, device=H.device) - eta * P
    for it in range(1, max_iter + 1):
        x = step @ x
        nrm = float(x.norm())
        if nrm <= target:
            return it
        if not math.isfinite(nrm) or nrm > 1e12 * target / tol:
            return max_iter
    return max_iter
