"""Distances between reward functions of a finite MDP, and the regret they are meant to predict.

Paper: Skalse, Farnik, Motwani, Jenner, Gleave & Abate, "STARC: A General Framework For Quantifying
Differences Between Reward Functions", ICLR 2024, arXiv:2309.15257 (slug ``starc``); official
experiment code ``lucyfarnik/starc`` (``src/distance/``, ``src/env/``, ``src/experiments/``).

A reward is a tensor ``R[..., s, a, s']`` on a finite MDP with transitions ``T[..., s, a, s']``
(``T[s, a, :]`` a probability vector) and discount ``gamma`` in [0, 1). Leading dimensions are
batch dimensions and broadcast between ``R``, ``T`` and policies, so thousands of rewards are
canonicalised, normalised and solved in a few batched calls (no Python loop over rewards).

A STARC pseudometric is built in three steps (section and equation numbers of the PDF were not
checked here; the definitions follow the brief and the official code):

1. a **canonicalisation** ``c`` (:func:`canonicalize`) that maps a reward to a representative of
   its class under potential shaping ``R + gamma*phi(s') - phi(s)`` (and, for the STARC ones, under
   S'-redistribution: changes that keep ``E_{S'~T(s,a)}[R(s,a,S')]``);
2. a **normalisation** ``s(R) = c(R) / n(c(R))`` (:func:`standardize`, with ``n`` from
   :func:`reward_norm`; ``s(R) = c(R)`` where ``n(c(R)) = 0``);
3. a **metric** ``d(R1, R2) = m(s(R1), s(R2)) = norm(s(R1) - s(R2))`` (:func:`starc_distance`).

Results are named ``{canon}-{norm}-{metric}`` as in the official notebook, e.g. ``VAL-2-2``.

**EPIC and the factor 2.** Gleave et al. (2021) define the EPIC distance as the Pearson distance
``D_EPIC = sqrt((1 - rho) / 2)`` between EPIC-canonical rewards (:func:`epic_distance`). With the
uniform coverage distribution the EPIC-canonical reward has mean 0, so after L2 normalisation
``||u - v||_2 = sqrt(2 (1 - rho)) = 2 * D_EPIC``: the STARC paper's (and its code's) ``EPIC-2-2``
is exactly twice Gleave's EPIC. Pearson correlations with regret are unaffected by the factor.

**Regret** (:func:`normalized_regret`) is computed exactly: policy iteration with linear solves
``V = (I - gamma P_pi)^{-1} r_pi`` instead of the official value iteration (tol 1e-5) and
Monte-Carlo returns (224-step rollouts); :func:`rollout_return` reproduces the latter.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch

from ..validation import check_positive

__all__ = [
    "CANONICALIZATIONS",
    "NORMS",
    "check_transitions",
    "check_gamma",
    "check_reward",
    "potential_shaping",
    "s_prime_redistribute",
    "uniform_policy",
    "expected_reward",
    "policy_evaluation",
    "q_values",
    "policy_iteration",
    "value_iteration",
    "policy_return",
    "rollout_return",
    "normalized_regret",
    "canonicalize",
    "reward_norm",
    "norm_name",
    "standardize",
    "starc_distance",
    "starc_distance_grid",
    "epic_distance",
    "CANON_LABELS",
]

CANONICALIZATIONS = ("none", "epic", "dard", "val", "val_potential", "minimal_potential_l2")
NORMS = (0, 1, 2, "inf", "weighted_1", "weighted_2", "weighted_inf")
# The names of the official notebook (``src/visualize.ipynb``; its StateValExp is VAL, StateVal VALPotential).
CANON_LABELS = {"none": "None", "epic": "EPIC", "dard": "DARD", "val": "VAL", "val_potential": "VALPotential",
                "minimal_potential_l2": "MinimalPotential"}


# --------------------------------------------------------------------------------------- inputs
def _describe(x) -> str:
    if isinstance(x, (torch.Tensor, np.ndarray)):
        return f"{type(x).__name__} of shape {tuple(x.shape)} and dtype {x.dtype}"
    return type(x).__name__


def _as_float64(x, name: str) -> torch.Tensor:
    """A float64 tensor from a tensor / array / nested list; finite; clear error otherwise."""
    if isinstance(x, torch.Tensor):
        if x.is_complex() or x.dtype == torch.bool:
            raise ValueError(f"{name} must be a real floating-point tensor, got {_describe(x)}")
        t = x if x.dtype == torch.float64 else x.to(torch.float64)
    elif isinstance(x, (np.ndarray, list, tuple)):
        arr = np.asarray(x)
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) and not np.iscomplexobj(arr)):
            raise ValueError(f"{name} must hold real numbers, got {_describe(arr)}")
        t = torch.as_tensor(arr, dtype=torch.float64)
    else:
        raise ValueError(f"{name} must be a torch.Tensor or numpy array, got {_describe(x)}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} must be finite, got {int((~torch.isfinite(t)).sum())} NaN/Inf value(s)")
    return t


def check_gamma(gamma) -> float:
    """Check a discount factor in [0, 1) (the discounted MDPs of ``starc``)."""
    try:
        g = float(gamma)
    except (TypeError, ValueError):
        raise ValueError(f"gamma must be a number in [0, 1), got {gamma!r}") from None
    if not (0.0 <= g < 1.0):
        raise ValueError(f"gamma must lie in [0, 1) (discounted infinite-horizon MDP), got {gamma!r}")
    return g


def check_transitions(T, name: str = "T", atol: float = 1e-6) -> torch.Tensor:
    """Check a transition tensor ``T[..., s, a, s']``: non-negative, each ``T[s, a, :]`` sums to 1,
    and as many next states as states. Returns it as float64.

    Half-precision rows (float16, bfloat16) sum to 1 only within S eps of their dtype: they are
    accepted within that tolerance and renormalised in float64."""
    half = isinstance(T, torch.Tensor) and T.dtype in (torch.float16, torch.bfloat16)
    if half:
        atol = max(atol, T.shape[-1] * torch.finfo(T.dtype).eps)
    t = _as_float64(T, name)
    if t.dim() < 3 or t.shape[-1] != t.shape[-3] or t.shape[-1] == 0 or t.shape[-2] == 0:
        raise ValueError(f"{name} must have shape (..., n_states, n_actions, n_states), got {_describe(t)}")
    if bool((t < 0).any()):
        raise ValueError(f"{name} must be non-negative (probabilities), got a minimum of {float(t.min()):.3g}")
    err = float((t.sum(-1) - 1).abs().max())
    if err > atol:
        raise ValueError(f"each {name}[s, a, :] must sum to 1 (a distribution over next states), "
                         f"got a largest deviation of {err:.3g}")
    return t / t.sum(-1, keepdim=True) if half else t


def check_reward(R, n_states: int, n_actions: int, name: str = "R") -> torch.Tensor:
    """Check a reward ``R[..., s, a, s']`` on an MDP with ``n_states`` states and ``n_actions``
    actions; returns it as float64."""
    r = _as_float64(R, name)
    want = (n_states, n_actions, n_states)
    if r.dim() < 3 or tuple(r.shape[-3:]) != want:
        raise ValueError(f"{name} must have shape (..., {n_states}, {n_actions}, {n_states}) "
                         f"(batch, s, a, s'), got {_describe(r)}")
    return r


def _check_batch(*shapes_and_names) -> None:
    try:
        torch.broadcast_shapes(*[s for s, _ in shapes_and_names])
    except RuntimeError:
        desc = ", ".join(f"{n} {tuple(s)}" for s, n in shapes_and_names)
        raise ValueError(f"batch dimensions must broadcast, got {desc}") from None


def _mdp(R, T, gamma, name: str = "R"):
    t = check_transitions(T)
    g = check_gamma(gamma)
    r = check_reward(R, t.shape[-1], t.shape[-2], name)
    _check_batch((r.shape[:-3], name), (t.shape[:-3], "T"))
    return r, t, g


def _policy(pi, n_states: int, n_actions: int) -> torch.Tensor:
    """A policy as probabilities ``pi[..., s, a]``; integer ``pi[..., s]`` means deterministic."""
    if isinstance(pi, np.ndarray):
        pi = torch.as_tensor(pi)
    if not isinstance(pi, torch.Tensor):
        raise ValueError(f"pi must be a tensor: probabilities (..., {n_states}, {n_actions}) or "
                         f"integer actions (..., {n_states}), got {_describe(pi)}")
    if not pi.is_floating_point():
        if pi.dim() < 1 or pi.shape[-1] != n_states:
            raise ValueError(f"a deterministic pi must have shape (..., {n_states}) of action indices, "
                             f"got {_describe(pi)}")
        if bool((pi < 0).any()) or bool((pi >= n_actions).any()):
            raise ValueError(f"action indices in pi must lie in [0, {n_actions}), got {pi.min()}..{pi.max()}")
        return torch.nn.functional.one_hot(pi.long(), n_actions).to(torch.float64)
    p = _as_float64(pi, "pi")
    if p.dim() < 2 or tuple(p.shape[-2:]) != (n_states, n_actions):
        raise ValueError(f"a stochastic pi must have shape (..., {n_states}, {n_actions}), got {_describe(p)}")
    if bool((p < 0).any()) or float((p.sum(-1) - 1).abs().max()) > 1e-6:
        raise ValueError("each pi[s, :] must be a probability vector (non-negative, summing to 1)")
    return p


# ------------------------------------------------------------------------------ transformations
def potential_shaping(R, phi, gamma) -> torch.Tensor:
    """Potential shaping (Ng et al. 1999; ``starc`` reward equivalence; official
    ``src/env/reward.py``): ``R'(s, a, s') = R(s, a, s') + gamma * phi(s') - phi(s)``.

    ``R`` has shape (..., S, A, S), ``phi`` (..., S). Shaping leaves every policy ordering unchanged.
    """
    g = check_gamma(gamma)
    r = _as_float64(R, "R")
    p = _as_float64(phi, "phi")
    if r.dim() < 3 or p.dim() < 1 or p.shape[-1] != r.shape[-1] or r.shape[-1] != r.shape[-3]:
        raise ValueError(f"R must have shape (..., S, A, S) and phi (..., S), got R {_describe(r)}, phi {_describe(p)}")
    return r + g * p[..., None, None, :] - p[..., :, None, None]


def s_prime_redistribute(R, T, noise) -> torch.Tensor:
    """S'-redistribution (``starc`` reward equivalence): ``R'(s,a,s') = R(s,a,s') + X(s,a,s') - E_{S'~T(s,a)}[X(s,a,S')]``.

    ``R'`` has the same expected reward ``E_{S'~T(s,a)}[R'(s,a,S')]`` as ``R`` for every (s, a),
    hence the same returns for every policy, but differs wherever ``X`` is not constant in s'.
    ``noise`` is ``X``, shaped like ``R``.
    """
    t = check_transitions(T)
    r = check_reward(R, t.shape[-1], t.shape[-2])
    x = check_reward(noise, t.shape[-1], t.shape[-2], "noise")
    return r + x - (t * x).sum(-1, keepdim=True)


def uniform_policy(n_states: int, n_actions: int, device=None) -> torch.Tensor:
    """The uniformly random policy, shape (n_states, n_actions) (``starc``: pi of VAL in all experiments)."""
    if not all(isinstance(n, int) and n >= 1 for n in (n_states, n_actions)):
        raise ValueError(f"n_states and n_actions must be positive ints, got {n_states!r}, {n_actions!r}")
    return torch.full((n_states, n_actions), 1.0 / n_actions, dtype=torch.float64, device=device)


# ----------------------------------------------------------------------------- policy evaluation
def expected_reward(R, T) -> torch.Tensor:
    """``r(s, a) = E_{S'~T(s,a)}[R(s, a, S')]``, shape (..., S, A)."""
    t = check_transitions(T)
    r = check_reward(R, t.shape[-1], t.shape[-2])
    return (t * r).sum(-1)


def _evaluate(rbar: torch.Tensor, t: torch.Tensor, p: torch.Tensor, g: float) -> torch.Tensor:
    """V^pi by one batched linear solve; rbar (..., S, A), t (..., S, A, S), p (..., S, A)."""
    P = (p[..., None] * t).sum(-2)  # (..., S, S)
    r_pi = (p * rbar).sum(-1)  # (..., S)
    P, r_pi = torch.broadcast_tensors(P, r_pi[..., None])
    eye = torch.eye(P.shape[-1], dtype=P.dtype, device=P.device)
    return torch.linalg.solve(eye - g * P, r_pi[..., 0])


def policy_evaluation(R, T, pi, gamma) -> torch.Tensor:
    """Exact state values ``V^pi = (I - gamma P_pi)^{-1} r_pi`` (Bellman equation).

    ``P_pi(s, s') = sum_a pi(a|s) T(s, a, s')``, ``r_pi(s) = sum_a pi(a|s) E_{S'~T(s,a)}[R(s,a,S')]``.
    ``pi``: probabilities (..., S, A) or integer actions (..., S). Returns V of shape (..., S).
    Differentiable in ``R``. The official code iterates the Bellman operator to 1e-8 instead.
    """
    r, t, g = _mdp(R, T, gamma)
    p = _policy(pi, t.shape[-1], t.shape[-2])
    return _evaluate((t * r).sum(-1), t, p, g)


def q_values(R, T, V, gamma) -> torch.Tensor:
    """``Q(s, a) = E_{S'~T(s,a)}[R(s, a, S') + gamma V(S')]``, shape (..., S, A)."""
    r, t, g = _mdp(R, T, gamma)
    v = _as_float64(V, "V")
    if v.dim() < 1 or v.shape[-1] != t.shape[-1]:
        raise ValueError(f"V must have shape (..., {t.shape[-1]}), got {_describe(v)}")
    return (t * (r + g * v[..., None, None, :])).sum(-1)


def policy_iteration(R, T, gamma, max_iter: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """An optimal deterministic policy and its values by (batched) policy iteration.

    Exact evaluation by linear solves, greedy improvement; an action is only switched when it
    improves Q by more than 1e-12 (relative), so ties cannot cycle. Replaces the official value
    iteration (``src/distance/rollout.py::optimize``, tol 1e-5) with an exact, deterministic solver.
    Returns ``(pi, V)``: integer actions (..., S) and V* (..., S).
    """
    r, t, g = _mdp(R, T, gamma)
    if not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive int, got {max_iter!r}")
    rbar = (t * r).sum(-1)  # (..., S, A)
    batch = torch.broadcast_shapes(rbar.shape[:-2], t.shape[:-3])
    rbar = rbar.expand(*batch, *rbar.shape[-2:])
    n_a = t.shape[-2]
    pi = rbar.argmax(-1)  # greedy in the immediate reward
    for _ in range(max_iter):
        v = _evaluate(rbar, t, torch.nn.functional.one_hot(pi, n_a).to(rbar.dtype), g)
        q = rbar + g * (t * v[..., None, None, :]).sum(-1)
        best = q.argmax(-1)
        q_cur = q.gather(-1, pi[..., None])[..., 0]
        tol = 1e-12 * (1.0 + q.abs().amax(dim=(-2, -1), keepdim=False))[..., None]
        improve = q.amax(-1) > q_cur + tol
        if not bool(improve.any()):
            return pi, v
        pi = torch.where(improve, best, pi)
    raise RuntimeError(f"policy iteration did not converge in {max_iter} iterations")


def value_iteration(R, T, gamma, tol: float = 1e-10, max_iter: int = 100_000) -> tuple[torch.Tensor, torch.Tensor]:
    """Optimal values by value iteration to ``max |V_{k+1} - V_k| < tol`` and the greedy policy
    (the official solver, ``rollout.py::optimize``, uses an L2 tolerance of 1e-5). Returns ``(pi, V)``."""
    r, t, g = _mdp(R, T, gamma)
    if not (isinstance(tol, float) and tol > 0):
        raise ValueError(f"tol must be a positive float, got {tol!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive int, got {max_iter!r}")
    rbar = (t * r).sum(-1)
    v = torch.zeros(torch.broadcast_shapes(rbar.shape[:-2], t.shape[:-3]) + (t.shape[-1],), dtype=torch.float64,
                    device=t.device)
    for _ in range(max_iter):
        q = rbar + g * (t * v[..., None, None, :]).sum(-1)
        v_new = q.amax(-1)
        done = float((v_new - v).abs().max()) < tol
        v = v_new
        if done:
            return q.argmax(-1), v
    raise RuntimeError(f"value iteration did not reach tol={tol} in {max_iter} iterations")


def _check_mu0(mu0, n_states: int, device=None) -> torch.Tensor:
    if mu0 is None:
        return torch.full((n_states,), 1.0 / n_states, dtype=torch.float64, device=device)
    m = _as_float64(mu0, "mu0")
    if m.dim() < 1 or m.shape[-1] != n_states or bool((m < 0).any()) or float((m.sum(-1) - 1).abs().max()) > 1e-6:
        raise ValueError(f"mu0 must be a distribution over the {n_states} states, got {_describe(m)}")
    return m


def policy_return(R, T, pi, gamma, mu0=None) -> torch.Tensor:
    """Exact ``J_R(pi) = sum_s mu0(s) V^pi_R(s)`` (``starc``); ``mu0`` defaults to uniform
    (as in the official ``RandomEnv``). Shape: the broadcast batch shape."""
    r, t, g = _mdp(R, T, gamma)
    v = policy_evaluation(r, t, pi, g)
    return (v * _check_mu0(mu0, t.shape[-1], t.device).to(t.device)).sum(-1)


def rollout_return(R, T, pi, gamma, n_repeats: int | None = None, horizon: int | None = None,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Monte-Carlo ``J_R(pi)`` as in the official ``rollout.py::policy_returns``: ``n_repeats``
    (default n_actions) episodes from every start state (uniform mu0), ``horizon`` steps (default
    ``round(log 1e-5 / log gamma)``, 224 for gamma = 0.95), discounted sum, averaged.

    ``pi`` deterministic (integer actions (..., S)); all episodes of the batch run in parallel.
    """
    r, t, g = _mdp(R, T, gamma)
    return _rollouts([r], t, pi, g, n_repeats, horizon, generator)[0]


def _rollouts(rewards, t, pi, g, n_repeats, horizon, generator):
    """Monte-Carlo returns of several rewards on the same trajectories of ``pi``."""
    if g <= 0:
        raise ValueError("rollout_return needs gamma > 0 to set its horizon")
    n_s, n_a = t.shape[-1], t.shape[-2]
    p = torch.as_tensor(pi)
    if p.is_floating_point() or p.dim() < 1 or p.shape[-1] != n_s:
        raise ValueError(f"pi must be integer actions of shape (..., {n_s}), got {_describe(p)}")
    n_repeats = n_a if n_repeats is None else n_repeats
    horizon = round(math.log(1e-5) / math.log(g)) if horizon is None else horizon
    if not (isinstance(n_repeats, int) and n_repeats >= 1 and isinstance(horizon, int) and horizon >= 1):
        raise ValueError(f"n_repeats and horizon must be positive ints, got {n_repeats!r}, {horizon!r}")
    batch = torch.broadcast_shapes(*[r.shape[:-3] for r in rewards], t.shape[:-3], p.shape[:-1])
    rs = [r.expand(*batch, n_s, n_a, n_s).reshape(-1, n_s, n_a, n_s) for r in rewards]
    t = t.expand(*batch, n_s, n_a, n_s).reshape(-1, n_s, n_a, n_s)
    p = p.long().to(t.device).expand(*batch, n_s).reshape(-1, n_s)
    b, dev = t.shape[0], t.device
    cdf = t.cumsum(-1)
    cdf[..., -1] = 1.0
    s = torch.arange(n_s, device=dev).repeat(n_repeats).expand(b, -1).clone()  # (b, episodes)
    rows = torch.arange(b, device=dev)[:, None]
    totals = [torch.zeros(s.shape, dtype=torch.float64, device=dev) for _ in rs]
    discount = 1.0
    for _ in range(horizon):
        a = p.gather(1, s)
        u = torch.rand(s.shape, dtype=torch.float64, generator=generator, device=dev)
        nxt = torch.searchsorted(cdf[rows, s, a], u[..., None])[..., 0].clamp_(max=n_s - 1)
        for total, r in zip(totals, rs):
            total += discount * r[rows, s, a, nxt]
        discount *= g
        s = nxt
    return [total.mean(-1).reshape(batch) for total in totals]


def normalized_regret(R1, R2, T, gamma, mu0=None, eps: float = 1e-10, monte_carlo: bool = False,
                      n_repeats: int | None = None, horizon: int | None = None,
                      generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """The normalised regret of the official experiment (``src/experiments/interpolated.py``, averaged
    in ``src/visualize.ipynb``), with exact returns.

    With pi_1 optimal for R1, pi_x optimal for -R1, pi_2 optimal for R2, pi_y optimal for -R2:
    ``regret1 = (J1(pi_1) - J1(pi_2)) / (J1(pi_1) - J1(pi_x))`` (R2's optimum judged by R1),
    ``regret2 = (J2(pi_2) - J2(pi_1)) / (J2(pi_2) - J2(pi_y))``, ``regret = (regret1 + regret2) / 2``.
    All in [0, 1]. A range ``max J - min J`` below ``eps * (1 + max |J|)`` (a reward equivalent to
    a constant) is replaced by 1, as the official code does for an exact 0 (it also warns).
    ``R1`` and ``R2`` broadcast (e.g. R1 (B, 1, S, A, S), R2 (B, K, S, A, S)); optimal policies are
    found once per distinct reward.

    ``monte_carlo=True`` keeps the exact optimal policies but estimates the six returns with
    :func:`rollout_return` (the official estimator: uniform mu0, ``n_repeats`` x n_states episodes of
    ``horizon`` steps; J1(pi_2) and J2(pi_2) share their rollouts, as in the official code, the
    other returns have their own); the regrets are then noisy and can leave [0, 1].
    """
    t = check_transitions(T)
    g = check_gamma(gamma)
    eps = check_positive(eps, "eps")
    r1 = check_reward(R1, t.shape[-1], t.shape[-2], "R1")
    r2 = check_reward(R2, t.shape[-1], t.shape[-2], "R2")
    _check_batch((r1.shape[:-3], "R1"), (r2.shape[:-3], "R2"), (t.shape[:-3], "T"))
    m = _check_mu0(mu0, t.shape[-1], t.device).to(t.device)
    pi_1, v11 = policy_iteration(r1, t, g)
    pi_x, vx = policy_iteration(-r1, t, g)
    pi_2, v22 = policy_iteration(r2, t, g)
    pi_y, vy = policy_iteration(-r2, t, g)

    def J(v):
        return (v * m).sum(-1)

    if monte_carlo:
        if mu0 is not None:
            raise ValueError("monte_carlo=True starts episodes from every state (uniform mu0); pass mu0=None")

        def mc(rs, pi):
            return _rollouts(rs, t, pi, g, n_repeats, horizon, generator)

        (j1_1,), (j1_x,), (j2_y,), (j2_1,) = mc([r1], pi_1), mc([r1], pi_x), mc([r2], pi_y), mc([r2], pi_1)
        j1_2, j2_2 = mc([r1, r2], pi_2)  # one set of rollouts of pi_2 for both rewards, as the official code
    else:
        j1_1, j1_x = J(v11), -J(vx)
        j2_2, j2_y = J(v22), -J(vy)
        j1_2 = J(policy_evaluation(r1, t, pi_2, g))
        j2_1 = J(policy_evaluation(r2, t, pi_1, g))

    def ratio(num, den, top):
        small = den.abs() <= eps * (1.0 + top.abs())
        if bool((small & (num.abs() > eps * (1.0 + top.abs()))).any()):
            warnings.warn("normalized_regret: zero return range but non-zero regret; range set to 1")
        return num / torch.where(small, torch.ones_like(den), den)

    regret1 = ratio(j1_1 - j1_2, j1_1 - j1_x, j1_1)
    regret2 = ratio(j2_2 - j2_1, j2_2 - j2_y, j2_2)
    return {"regret": (regret1 + regret2) / 2, "regret1": regret1, "regret2": regret2}


# ----------------------------------------------------------------------------- canonicalisation
def _minimal_potential_l2(r: torch.Tensor, g: float) -> torch.Tensor:
    """The potential minimising ``||R + gamma phi(s') - phi(s)||_2`` in closed form.

    With the design matrix B (rows (s,a,s'), columns k: gamma [s'=k] - [s=k]) the normal
    equations are ``(S A (1 + gamma^2) I - 2 gamma A 11^T) phi = -B^T r`` where
    ``(B^T r)_k = gamma sum_{s,a} R(s,a,k) - sum_{a,s'} R(k,a,s')``; B has full column rank for gamma < 1.
    """
    n_s, n_a = r.shape[-1], r.shape[-2]
    eye = torch.eye(n_s, dtype=r.dtype, device=r.device)
    gram = n_s * n_a * (1 + g * g) * eye - 2 * g * n_a * torch.ones_like(eye)
    btr = g * r.sum(dim=(-3, -2)) - r.sum(dim=(-2, -1))
    return torch.linalg.solve(gram, -btr[..., None])[..., 0]


def canonicalize(R, T=None, gamma=0.95, kind: str = "val", pi=None) -> torch.Tensor:
    """Canonicalise rewards (``starc`` canonicalisation functions and experiments; official ``src/distance/canon/``).

    - ``"none"``: ``R`` itself (the unnormalised / "None" baseline).
    - ``"epic"`` (Gleave et al. 2021; ``canon/epic.py``), D_S, D_A uniform, S, S' ~ D_S, A ~ D_A:
      ``C(R)(s,a,s') = R(s,a,s') + gamma E[R(s',A,S')] - E[R(s,A,S')] - gamma E[R(S,A,S')]``.
      Needs no ``T``; removes potential shaping only.
    - ``"dard"`` (Wulfe et al. 2022; ``canon/dard.py``), A ~ D_A uniform, S' ~ T(s,A), S'' ~ T(s',A):
      ``C(R)(s,a,s') = R(s,a,s') + gamma E[R(s',A,S'')] - E[R(s,A,S')] - gamma E[R(S',A,S'')]``.
    - ``"val"`` (the STARC canonicalisation of the experiments, ``canon/value.py``), pi uniform by
      default: ``C(R)(s,a,s') = E_{S'~T(s,a)}[R(s,a,S') + gamma V^pi_R(S')] - V^pi_R(s)`` = the
      advantage ``Q^pi - V^pi``, constant in s'. Removes shaping and S'-redistribution.
    - ``"val_potential"`` (``canon/value_potential.py``): ``R(s,a,s') - V^pi_R(s) + gamma V^pi_R(s')``;
      removes shaping only (not a STARC canonicalisation; reported as a variant, "VALPotential").
    - ``"minimal_potential_l2"``: ``R`` shaped by the potential minimising its L2 norm, in closed
      form (the official ``canon/minimal_potential.py`` runs Adam on the potential for each norm).

    ``R`` (..., S, A, S); ``T`` (..., S, A, S) (not needed for none / epic / minimal_potential_l2).
    Output has the broadcast shape of R and T. All are linear in R.
    """
    if kind not in CANONICALIZATIONS:
        raise ValueError(f"kind must be one of {CANONICALIZATIONS}, got {kind!r}")
    g = check_gamma(gamma)
    if kind in ("none", "epic", "minimal_potential_l2") and T is None:
        r = _as_float64(R, "R")
        if r.dim() < 3 or r.shape[-1] != r.shape[-3]:
            raise ValueError(f"R must have shape (..., S, A, S), got {_describe(r)}")
    else:
        if T is None:
            raise ValueError(f"canonicalisation {kind!r} needs the transition tensor T (..., S, A, S)")
        r, t, g = _mdp(R, T, g)
    return _canonicalize(r, None if T is None else t, g, kind, pi)


def _canonicalize(r: torch.Tensor, t: torch.Tensor | None, g: float, kind: str, pi=None) -> torch.Tensor:
    if kind == "none":
        return r
    if kind == "epic":
        phi = r.mean(dim=(-2, -1))  # E_{A, S'}[R(s, A, S')]
        total = r.mean(dim=(-3, -2, -1))[..., None, None, None]
        return r + g * phi[..., None, None, :] - phi[..., :, None, None] - g * total
    if kind == "minimal_potential_l2":
        phi = _minimal_potential_l2(r, g)
        return r + g * phi[..., None, None, :] - phi[..., :, None, None]
    n_s, n_a = t.shape[-1], t.shape[-2]
    rbar = (t * r).sum(-1)  # (..., S, A)
    if kind == "dard":
        phi = rbar.mean(-1)  # E_{A, S'~T(s,A)}[R(s, A, S')]
        m = torch.einsum("...xay,...tay->...axt", r, t)  # sum_y R(x,a,y) T(t,a,y)
        term3 = torch.einsum("...sax,...axt->...st", t, m) / n_a  # E[R(S', A, S'')] for (s, s')
        return r + g * phi[..., None, None, :] - phi[..., :, None, None] - g * term3[..., :, None, :]
    p = uniform_policy(n_s, n_a, t.device) if pi is None else _policy(pi, n_s, n_a).to(t.device)
    v = _evaluate(rbar, t, p, g)  # V^pi_R, (..., S)
    if kind == "val_potential":
        return r - v[..., :, None, None] + g * v[..., None, None, :]
    adv = rbar + g * (t * v[..., None, None, :]).sum(-1) - v[..., :, None]  # (..., S, A)
    shape = torch.broadcast_shapes(r.shape, t.shape)
    return adv[..., None].expand(shape)


# -------------------------------------------------------------------------------- norms, metrics
def norm_name(ord) -> str:
    """The official column name of a norm option: 0, 1, 2, inf, weighted_1, weighted_2, weighted_inf."""
    return _norm_key(ord)


def _norm_key(ord, name: str = "norm") -> str:
    if isinstance(ord, bool):
        raise ValueError(f"{name} must be one of {NORMS}, got {ord!r}")
    if isinstance(ord, (int, float)):
        if ord == math.inf:
            return "inf"
        if ord in (0, 1, 2):
            return str(int(ord))
    if isinstance(ord, str) and ord in ("0", "1", "2", "inf", "weighted_1", "weighted_2", "weighted_inf"):
        return ord
    raise ValueError(f"{name} must be one of {NORMS} (or float('inf')), got {ord!r}")


def reward_norm(x, ord=2, T=None) -> torch.Tensor:
    """A norm of a reward (or a difference of rewards) over its last three dims (official
    ``src/distance/norm.py``).

    - ``0``: no normalisation, returns 1 (the "unnormalised" grey dots of Fig. 1);
    - ``1``, ``2``, ``"inf"``: plain vector norms over all |S||A||S| entries;
    - ``"weighted_p"``, p in {1, 2}: ``(sum_{s,a,s'} T(s,a,s') |x(s,a,s')|^p)^{1/p}`` (T unnormalised,
      total mass |S||A|, as in the official code);
    - ``"weighted_inf"``: ``max T(s,a,s') |x(s,a,s')|`` (the official definition; note it is not
      the p -> inf limit of weighted_p, which would be the max of |x| over T's support).
    """
    key = _norm_key(ord, "ord")
    v = _as_float64(x, "x")
    if v.dim() < 3:
        raise ValueError(f"x must have shape (..., S, A, S), got {_describe(v)}")
    if key == "0":
        return torch.ones(v.shape[:-3], dtype=v.dtype, device=v.device)
    if key == "1":
        return v.abs().sum(dim=(-3, -2, -1))
    if key == "2":
        return v.square().sum(dim=(-3, -2, -1)).sqrt()
    if key == "inf":
        return v.abs().amax(dim=(-3, -2, -1))
    if T is None:
        raise ValueError(f"norm {key!r} is weighted by the transitions: pass T (..., S, A, S)")
    t = check_transitions(T)
    if tuple(t.shape[-3:]) != tuple(v.shape[-3:]):
        raise ValueError(f"x and T must have the same (S, A, S) shape, got {tuple(v.shape)} and {tuple(t.shape)}")
    if key == "weighted_inf":
        return (v.abs() * t).amax(dim=(-3, -2, -1))
    p = 1.0 if key == "weighted_1" else 2.0
    return ((v.abs() ** p) * t).sum(dim=(-3, -2, -1)) ** (1.0 / p)


def standardize(R, T=None, gamma=0.95, canon: str = "val", norm=2, pi=None) -> torch.Tensor:
    """``s(R) = c(R) / n(c(R))`` if ``n(c(R)) != 0`` else ``c(R)`` (``starc`` standardisation; official
    ``canon/__init__.py::canon_and_norm``, which divides unconditionally). "Zero" is relative:
    ``n(c(R)) <= 1e-12 n(R)`` (round-off of a reward equivalent to a constant)."""
    c = canonicalize(R, T, gamma, canon, pi)
    n = reward_norm(c, norm, T)
    n_raw = reward_norm(torch.as_tensor(R, dtype=torch.float64), norm, T)
    return c / _safe_norm(n, n_raw)[..., None, None, None]


def _safe_norm(n: torch.Tensor, n_raw: torch.Tensor, rtol: float = 1e-12) -> torch.Tensor:
    """``n``, or 1 where the canonical reward is zero: ``n(c(R)) <= rtol * n(R)``. A relative test,
    because a reward equivalent to a constant canonicalises to round-off (about 1e-15 n(R)), which an
    exact ``== 0`` test (the official code) would blow up to a unit-norm random direction. Rewards
    whose canonical part is only slightly above the threshold (say 1e-10 n(R)) are ill-conditioned:
    their direction s(R) carries a relative round-off error of about 1e-15 n(R) / n(c(R))."""
    return torch.where(n > rtol * n_raw, n, torch.ones_like(n))


def starc_distance(R1, R2, T=None, gamma=0.95, canon: str = "val", norm=2, metric=2, pi=None) -> torch.Tensor:
    """The STARC pseudometric ``d(R1, R2) = m(s(R1), s(R2))`` with ``m(x, y) = ||x - y||_metric``
    (``starc`` STARC metrics, Fig. 1 grid; official ``experiments/interpolated.py``), named
    ``{canon}-{norm}-{metric}``. STARC proper: ``canon="val"`` (paper's ``VAL-2-2`` by default).

    ``canon="epic", norm=2, metric=2`` is the paper's ``EPIC-2-2`` = 2 x Gleave's EPIC distance
    (:func:`epic_distance`). Differentiable in R1 and R2 (away from n(c(R)) = 0).
    """
    _norm_key(metric, "metric")
    _norm_key(norm, "norm")
    R1, R2 = _as_float64(R1, "R1"), _as_float64(R2, "R2")
    s1 = standardize(R1, T, gamma, canon, norm, pi)
    s2 = standardize(R2, T, gamma, canon, norm, pi)
    try:
        diff = s1 - s2
    except RuntimeError:
        raise ValueError(f"R1 and R2 must broadcast, got {tuple(s1.shape)} and {tuple(s2.shape)}") from None
    return reward_norm(diff, metric, T)


def epic_distance(R1, R2, gamma=0.95) -> torch.Tensor:
    """Gleave et al.'s EPIC: the Pearson distance ``sqrt((1 - rho) / 2)`` between EPIC-canonical
    rewards, with uniform coverage over (s, a, s') (evaluating-rewards ``tabular.py``).

    ``= starc_distance(R1, R2, canon="epic", norm=2, metric=2) / 2`` (see the module docstring).
    A constant canonical reward (zero variance) has correlation 0 here by convention.
    """
    R1, R2 = _as_float64(R1, "R1"), _as_float64(R2, "R2")
    c1 = canonicalize(R1, None, gamma, "epic")
    c2 = canonicalize(R2, None, gamma, "epic")
    c1, c2 = torch.broadcast_tensors(c1, c2)
    x = c1.flatten(-3) - c1.flatten(-3).mean(-1, keepdim=True)
    y = c2.flatten(-3) - c2.flatten(-3).mean(-1, keepdim=True)
    den = (x.square().sum(-1) * y.square().sum(-1)).sqrt()
    rho = (x * y).sum(-1) / torch.where(den > 0, den, torch.ones_like(den))
    return ((1 - rho).clamp(min=0) / 2).sqrt()


def _abs_norms_(ax: torch.Tensor, keys, t: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """Several norms over the last three dims of ``ax = |x|``, overwriting ``ax`` (no large temporaries:
    sums of products go through einsum, the T-weighting is applied in place last)."""
    out, dims = {}, (-3, -2, -1)
    for key in keys:
        if key == "0":
            out[key] = torch.ones(ax.shape[:-3], dtype=ax.dtype, device=ax.device)
        elif key == "1":
            out[key] = ax.sum(dims)
        elif key == "2":
            out[key] = torch.einsum("...ijk,...ijk->...", ax, ax).sqrt()
        elif key == "inf":
            out[key] = ax.amax(dims)
        elif key == "weighted_1":
            out[key] = torch.einsum("...ijk,...ijk->...", ax, t)
    if {"weighted_2", "weighted_inf"} & set(keys):
        st = t.sqrt()
        ax.mul_(st)
        if "weighted_2" in keys:
            out["weighted_2"] = torch.einsum("...ijk,...ijk->...", ax, ax).sqrt()
        if "weighted_inf" in keys:
            out["weighted_inf"] = ax.mul_(st).amax(dims)
    return {k: out[k] for k in keys}


def starc_distance_grid(R1, R2, T, gamma, canons=CANONICALIZATIONS, norms=NORMS, metrics=NORMS[1:],
                        pi=None) -> dict[str, torch.Tensor]:
    """Every ``{canon}-{norm}-{metric}`` distance of the official grid at once (``starc`` Fig. 1;
    official ``experiments/interpolated.py``): each canonicalisation is computed once, each
    normalisation once, and the metrics share their passes over the difference.

    Same values as :func:`starc_distance` (a test checks it). Keys use the official labels
    (:data:`CANON_LABELS`, norm names of :func:`norm_name`), e.g. ``"VAL-2-2"``. The potential of
    ``"minimal_potential_l2"`` minimises the L2 norm, so that canonicalisation is only paired with
    ``norm=2`` here (the official code re-optimises the potential for each norm).
    """
    r1, t, g = _mdp(R1, T, gamma, "R1")
    r2 = check_reward(R2, t.shape[-1], t.shape[-2], "R2")
    _check_batch((r1.shape[:-3], "R1"), (r2.shape[:-3], "R2"), (t.shape[:-3], "T"))
    for value, name in ((canons, "canons"), (norms, "norms"), (metrics, "metrics")):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise TypeError(f"{name} must be a list or tuple of options, got {value!r}")
    for kind in canons:
        if kind not in CANONICALIZATIONS:
            raise ValueError(f"canons must be a subset of {CANONICALIZATIONS}, got {kind!r}")
    norm_keys = [_norm_key(n, "norms") for n in norms]
    metric_keys = [_norm_key(m, "metrics") for m in metrics]
    if "0" in metric_keys:
        raise ValueError("metrics: 0 (no norm) is not a metric; use 1, 2, inf or a weighted norm")
    shape = torch.broadcast_shapes(r1.shape, r2.shape, t.shape)
    buf = torch.empty(shape, dtype=torch.float64, device=t.device)
    raw1, raw2 = (_abs_norms_(r.abs(), norm_keys + ["2"], t) for r in (r1, r2))  # for the zero test
    out = {}
    for kind in canons:
        c1, c2 = _canonicalize(r1, t, g, kind, pi), _canonicalize(r2, t, g, kind, pi)
        keys = ["2"] if kind == "minimal_potential_l2" else norm_keys
        n1, n2 = (_abs_norms_(c.abs(), keys, t) for c in (c1, c2))
        for key in keys:
            s1 = c1 / _safe_norm(n1[key], raw1[key])[..., None, None, None]
            buf.copy_(c2.expand(shape))
            buf.div_(_safe_norm(n2[key], raw2[key])[..., None, None, None])
            buf.sub_(s1).abs_()  # |s(R2) - s(R1)|
            for mkey, value in _abs_norms_(buf, metric_keys, t).items():
                out[f"{CANON_LABELS[kind]}-{key}-{mkey}"] = value
    return out
