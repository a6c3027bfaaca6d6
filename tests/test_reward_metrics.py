"""STARC reward distances (mlcompanion.metrics.reward): canonicalisations against loop implementations of
the paper's formulas, EPIC against scipy's Pearson correlation (the factor 2), the invariances a
STARC metric must have (and EPIC/DARD must not), exact policy evaluation against a hand-solved MDP,
policy iteration against brute force and value iteration, Monte-Carlo returns, bad inputs."""

import itertools

import numpy as np
import pytest
import torch
from scipy.stats import pearsonr

from mlcompanion.metrics.reward import (
    CANONICALIZATIONS,
    NORMS,
    canonicalize,
    epic_distance,
    normalized_regret,
    policy_evaluation,
    policy_iteration,
    policy_return,
    potential_shaping,
    reward_norm,
    rollout_return,
    s_prime_redistribute,
    standardize,
    starc_distance,
    starc_distance_grid,
    uniform_policy,
    value_iteration,
)

GAMMA = 0.9
NORMALISED = [n for n in NORMS if n != 0]


def mdp(seed, n_s=5, n_a=3, sparse=True):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n_s, n_a, n_s))
    if sparse:  # the official generator: softmax of (z if z > 1 else -20)
        z = np.where(z > 1, z, -20.0)
    e = np.exp(z)
    return torch.tensor(e / e.sum(-1, keepdims=True))


def reward(seed, n_s=5, n_a=3, batch=()):
    return torch.tensor(np.random.default_rng(100 + seed).standard_normal((*batch, n_s, n_a, n_s)))


# ---------------------------------------------------------------- references written from the formulas
def naive_values(R, T, pi, g):
    R, T, pi = R.numpy(), T.numpy(), pi.numpy()
    n = T.shape[0]
    P, r = np.zeros((n, n)), np.zeros(n)
    for s in range(n):
        for a in range(T.shape[1]):
            for x in range(n):
                P[s, x] += pi[s, a] * T[s, a, x]
                r[s] += pi[s, a] * T[s, a, x] * R[s, a, x]
    return np.linalg.solve(np.eye(n) - g * P, r)


def naive_canon(R, T, g, kind):
    n_s, n_a = T.shape[0], T.shape[1]
    Rn, Tn = R.numpy(), T.numpy()
    out = np.zeros_like(Rn)
    if kind in ("val", "val_potential"):
        V = naive_values(R, T, uniform_policy(n_s, n_a), g)
    for s, a, sp in itertools.product(range(n_s), range(n_a), range(n_s)):
        if kind == "epic":  # uniform D_S, D_A
            out[s, a, sp] = (Rn[s, a, sp] + g * Rn[sp].mean() - Rn[s].mean() - g * Rn.mean())
        elif kind == "dard":
            e_next = sum(Tn[sp, b, y] * Rn[sp, b, y] for b in range(n_a) for y in range(n_s)) / n_a
            e_here = sum(Tn[s, b, x] * Rn[s, b, x] for b in range(n_a) for x in range(n_s)) / n_a
            e_joint = sum(Tn[s, b, x] * Tn[sp, b, y] * Rn[x, b, y]
                          for b in range(n_a) for x in range(n_s) for y in range(n_s)) / n_a
            out[s, a, sp] = Rn[s, a, sp] + g * e_next - e_here - g * e_joint
        elif kind == "val":
            out[s, a, sp] = sum(Tn[s, a, x] * (Rn[s, a, x] + g * V[x]) for x in range(n_s)) - V[s]
        elif kind == "val_potential":
            out[s, a, sp] = Rn[s, a, sp] - V[s] + g * V[sp]
    return out


@pytest.mark.parametrize("kind", ["epic", "dard", "val", "val_potential"])
def test_canonicalisations_match_loops_over_the_formulas(kind):
    T, R = mdp(0, 4, 2), reward(0, 4, 2)
    np.testing.assert_allclose(canonicalize(R, T, GAMMA, kind).numpy(), naive_canon(R, T, GAMMA, kind), atol=1e-12)


def test_batched_canonicalisation_equals_one_by_one():
    T = torch.stack([mdp(1), mdp(2)])[:, None]  # (2, 1, S, A, S)
    R = reward(1, batch=(2, 3))
    for kind in CANONICALIZATIONS:
        batched = canonicalize(R, T, GAMMA, kind)
        for i, j in itertools.product(range(2), range(3)):
            torch.testing.assert_close(batched[i, j], canonicalize(R[i, j], T[i, 0], GAMMA, kind), atol=1e-12, rtol=0)


# ---------------------------------------------------------------- EPIC and the factor 2
def test_epic_is_half_of_epic_2_2_and_matches_scipy_pearson():
    T = mdp(3)
    for seed in range(4):
        R1, R2 = reward(2 * seed), reward(2 * seed + 1)
        c1 = naive_canon(R1, T, GAMMA, "epic").ravel()
        c2 = naive_canon(R2, T, GAMMA, "epic").ravel()
        assert abs(c1.mean()) < 1e-12  # uniform coverage: the canonical reward has mean 0
        rho = pearsonr(c1, c2).statistic
        d_gleave = np.sqrt((1 - rho) / 2)
        assert float(epic_distance(R1, R2, GAMMA)) == pytest.approx(d_gleave, abs=1e-12)
        d_starc = float(starc_distance(R1, R2, T, GAMMA, canon="epic", norm=2, metric=2))
        assert d_starc == pytest.approx(2 * d_gleave, abs=1e-12)


# ---------------------------------------------------------------- invariances
@pytest.mark.parametrize("kind", [k for k in CANONICALIZATIONS if k != "none"])
def test_potential_shaping_is_removed(kind):
    T, R = mdp(4), reward(4)
    phi = 10 * torch.tensor(np.random.default_rng(5).standard_normal(5)) + 3
    shaped = potential_shaping(R, phi, GAMMA)
    assert float((shaped - R).abs().max()) > 1  # the shaping is not trivial
    torch.testing.assert_close(canonicalize(shaped, T, GAMMA, kind), canonicalize(R, T, GAMMA, kind), atol=1e-10, rtol=0)
    for norm in NORMALISED:
        assert float(starc_distance(R, shaped, T, GAMMA, kind, norm, 2)) < 1e-10


def test_unnormalised_reward_sees_shaping_and_scaling():
    T, R = mdp(4), reward(4)
    phi = torch.tensor(np.random.default_rng(5).standard_normal(5))
    assert float(starc_distance(R, potential_shaping(R, phi, GAMMA), T, GAMMA, "none", 2, 2)) > 0.1
    assert float(starc_distance(R, 3 * R, T, GAMMA, "val", 0, 2)) > 0.1  # norm 0: no normalisation


@pytest.mark.parametrize("kind", ["epic", "dard", "val", "val_potential", "none"])
def test_positive_scaling_gives_distance_zero_and_negation_distance_two(kind):
    T, R = mdp(6), reward(6)
    phi = torch.tensor(np.random.default_rng(7).standard_normal(5))
    other = 7.5 * (R if kind == "none" else potential_shaping(R, phi, GAMMA))
    for norm in NORMALISED:
        for metric in NORMALISED:
            assert float(starc_distance(R, other, T, GAMMA, kind, norm, metric)) < 1e-10
    assert float(starc_distance(R, -R, T, GAMMA, kind, 2, 2)) == pytest.approx(2.0, abs=1e-12)


def test_s_prime_redistribution_is_removed_by_val_only():
    T, R = mdp(8, sparse=False), reward(8)
    noise = 5 * reward(9)
    R2 = s_prime_redistribute(R, T, noise)
    torch.testing.assert_close((T * R2).sum(-1), (T * R).sum(-1), atol=1e-12, rtol=0)  # same expected reward
    assert float(starc_distance(R, R2, T, GAMMA, "val")) < 1e-10
    for kind in ("epic", "dard", "val_potential", "minimal_potential_l2"):
        assert float(starc_distance(R, R2, T, GAMMA, kind)) > 0.1, kind
    out = normalized_regret(R, R2, T, GAMMA)  # same returns, hence no regret
    assert float(out["regret"]) == pytest.approx(0.0, abs=1e-12)


def test_distances_lie_in_0_2_for_l2_and_are_symmetric():
    T = mdp(10)
    R1, R2 = reward(10, batch=(20,)), reward(11, batch=(20,))
    for kind in CANONICALIZATIONS:
        d = starc_distance(R1, R2, T, GAMMA, kind, 2, 2)
        assert bool(((d >= 0) & (d <= 2 + 1e-12)).all())
        torch.testing.assert_close(d, starc_distance(R2, R1, T, GAMMA, kind, 2, 2), atol=1e-12, rtol=0)


def test_val_is_constant_in_next_state_and_weighted_1_is_l1_over_n_states():
    T, R1, R2 = mdp(12), reward(12), reward(13)
    c = canonicalize(R1, T, GAMMA, "val")
    assert float((c - c[..., :1]).abs().max()) == 0.0
    d1 = starc_distance(R1, R2, T, GAMMA, "val", 1, 1)
    dw = starc_distance(R1, R2, T, GAMMA, "val", 1, "weighted_1")
    assert float(dw) == pytest.approx(float(d1) / 5, rel=1e-12)


def test_norms_against_numpy():
    T, x = mdp(14), reward(14)
    xn, tn = x.numpy(), T.numpy()
    assert float(reward_norm(x, 0)) == 1.0
    assert float(reward_norm(x, 1)) == pytest.approx(np.linalg.norm(xn.ravel(), 1))
    assert float(reward_norm(x, 2)) == pytest.approx(np.linalg.norm(xn.ravel(), 2))
    assert float(reward_norm(x, float("inf"))) == pytest.approx(np.abs(xn).max())
    assert float(reward_norm(x, "weighted_1", T)) == pytest.approx((tn * np.abs(xn)).sum())
    assert float(reward_norm(x, "weighted_2", T)) == pytest.approx(np.sqrt((tn * xn ** 2).sum()))
    assert float(reward_norm(x, "weighted_inf", T)) == pytest.approx((tn * np.abs(xn)).max())


def test_grid_equals_single_distances():
    T = torch.stack([mdp(15), mdp(16)])[:, None]
    R1, R2 = reward(15, batch=(2, 1)), reward(16, batch=(2, 3))
    grid = starc_distance_grid(R1, R2, T, GAMMA)
    assert len(grid) == 5 * 7 * 6 + 6
    labels = {"None": "none", "EPIC": "epic", "DARD": "dard", "VAL": "val", "VALPotential": "val_potential",
              "MinimalPotential": "minimal_potential_l2"}
    for name, value in grid.items():
        canon, norm, metric = name.split("-")
        norm = int(norm) if norm.isdigit() else norm
        metric = int(metric) if metric.isdigit() else metric
        ref = starc_distance(R1, R2, T, GAMMA, labels[canon], norm, metric)
        torch.testing.assert_close(value, ref, atol=1e-12, rtol=1e-10, msg=name)


def test_zero_canonical_reward_is_left_unnormalised():
    T = mdp(17)
    const = torch.full((5, 3, 5), 4.0)
    s = standardize(const, T, GAMMA, "epic", 2)
    assert float(s.abs().max()) < 1e-12 and bool(torch.isfinite(s).all())
    assert float(starc_distance(const, reward(17), T, GAMMA, "epic", 2, 2)) == pytest.approx(1.0)


def test_minimal_potential_matches_least_squares_with_the_design_matrix():
    n_s, n_a = 4, 3
    R = reward(18, n_s, n_a)
    B = np.zeros((n_s * n_a * n_s, n_s))
    for row, (s, a, sp) in enumerate(itertools.product(range(n_s), range(n_a), range(n_s))):
        B[row, sp] += GAMMA
        B[row, s] -= 1
    phi, *_ = np.linalg.lstsq(B, -R.numpy().ravel(), rcond=None)
    ref = R.numpy().ravel() + B @ phi
    ours = canonicalize(R, None, GAMMA, "minimal_potential_l2")
    np.testing.assert_allclose(ours.numpy().ravel(), ref, atol=1e-12)
    assert np.abs(B.T @ ours.numpy().ravel()).max() < 1e-10  # first-order optimality


def test_gradcheck_starc_distance():
    T = mdp(19, 3, 2)
    R1 = reward(19, 3, 2).requires_grad_(True)
    R2 = reward(20, 3, 2)
    for kind in ("val", "epic", "dard"):
        assert torch.autograd.gradcheck(lambda r: starc_distance(r, R2, T, GAMMA, kind, 2, 2), (R1,))


# ---------------------------------------------------------------- policy evaluation and regret
def two_state_mdp():
    """s0 --a0--> s0 (r 0.5), s0 --a1--> s1 (r 0), s1 --a0--> s1 (r 2), s1 --a1--> s0 (r 0); gamma 0.5.
    Uniform policy: 3 V0 - V1 = 1, -V0 + 3 V1 = 4, so V = (7/8, 13/8).
    Optimal: s0 -> a1, s1 -> a0, V* = (0 + 0.5 * 4, 2 / (1 - 0.5)) = (2, 4)."""
    T = torch.zeros(2, 2, 2, dtype=torch.float64)
    T[0, 0, 0] = T[0, 1, 1] = T[1, 0, 1] = T[1, 1, 0] = 1.0
    R = torch.zeros(2, 2, 2, dtype=torch.float64)
    R[0, 0, 0], R[1, 0, 1] = 0.5, 2.0
    return R, T


def test_policy_evaluation_on_a_hand_solved_mdp():
    R, T = two_state_mdp()
    V = policy_evaluation(R, T, uniform_policy(2, 2), 0.5)
    torch.testing.assert_close(V, torch.tensor([7 / 8, 13 / 8], dtype=torch.float64), atol=1e-14, rtol=0)
    pi, V_star = policy_iteration(R, T, 0.5)
    assert pi.tolist() == [1, 0]
    torch.testing.assert_close(V_star, torch.tensor([2.0, 4.0], dtype=torch.float64), atol=1e-14, rtol=0)
    assert float(policy_return(R, T, pi, 0.5)) == pytest.approx(3.0)  # uniform mu0


def test_policy_iteration_against_brute_force_and_value_iteration():
    T = mdp(21, 4, 3, sparse=False)
    R = reward(21, 4, 3)
    pi, V = policy_iteration(R, T, GAMMA)
    best = max(float(policy_return(R, T, torch.tensor(p), GAMMA)) for p in itertools.product(range(3), repeat=4))
    assert float(policy_return(R, T, pi, GAMMA)) == pytest.approx(best, abs=1e-12)
    _, V_vi = value_iteration(R, T, GAMMA, tol=1e-13)
    torch.testing.assert_close(V, V_vi, atol=1e-8, rtol=0)
    np.testing.assert_allclose(policy_evaluation(R, T, uniform_policy(4, 3), GAMMA).numpy(),
                               naive_values(R, T, uniform_policy(4, 3), GAMMA), atol=1e-12)


def test_regret_of_the_optimal_policy_under_its_own_reward_is_zero():
    T = mdp(22)
    R = reward(22, batch=(6,))
    phi = torch.tensor(np.random.default_rng(23).standard_normal((6, 5)))
    for other in (R, 3.0 * potential_shaping(R, phi, GAMMA) + 0.0):
        out = normalized_regret(R, other, T, GAMMA)
        assert float(out["regret"].abs().max()) < 1e-12
    out = normalized_regret(R, -R, T, GAMMA)  # the optimum of -R is the worst policy for R
    torch.testing.assert_close(out["regret"], torch.ones(6, dtype=torch.float64), atol=1e-12, rtol=0)
    out = normalized_regret(R, reward(24, batch=(6,)), T, GAMMA)
    assert bool(((out["regret"] >= -1e-12) & (out["regret"] <= 1 + 1e-12)).all())
    assert float(out["regret"].max()) > 0.05


def test_monte_carlo_return_matches_exact_return():
    T, R = mdp(25, 4, 2, sparse=False), reward(25, 4, 2)
    pi, _ = policy_iteration(R, T, GAMMA)
    exact = float(policy_return(R, T, pi, GAMMA))
    mc = float(rollout_return(R, T, pi, GAMMA, n_repeats=1500, generator=torch.Generator().manual_seed(0)))
    assert mc == pytest.approx(exact, abs=0.15)  # standard error about 0.03 here
    assert round(np.log(1e-5) / np.log(0.95)) == 224  # the official horizon for gamma = 0.95


# ---------------------------------------------------------------- bad inputs
@pytest.mark.parametrize("gamma", [1.0, -0.1, 1.5, "a", None])
def test_gamma_outside_0_1_raises(gamma):
    T, R = mdp(26), reward(26)
    with pytest.raises(ValueError, match="gamma"):
        starc_distance(R, R, T, gamma)
    with pytest.raises(ValueError, match="gamma"):
        policy_evaluation(R, T, uniform_policy(5, 3), gamma)


def test_bad_shapes_and_values_raise():
    T, R = mdp(27), reward(27)
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 5, 3, 5\)"):
        canonicalize(torch.zeros(5, 3, 4, dtype=torch.float64), T, GAMMA, "val")
    with pytest.raises(ValueError, match="n_states, n_actions, n_states"):
        canonicalize(R, torch.ones(5, 3, 4) / 4, GAMMA, "val")
    with pytest.raises(ValueError, match="sum to 1"):
        canonicalize(R, 2 * T, GAMMA, "dard")
    T_neg = T.clone()
    T_neg[0, 0, 0] -= 2.0
    T_neg[0, 0, 1] += 2.0  # still sums to 1
    with pytest.raises(ValueError, match="non-negative"):
        canonicalize(R, T_neg, GAMMA, "val")
    with pytest.raises(ValueError, match="finite"):
        canonicalize(R * float("nan"), T, GAMMA, "val")
    with pytest.raises(ValueError, match="kind must be one of"):
        canonicalize(R, T, GAMMA, "starc")
    with pytest.raises(ValueError, match="needs the transition tensor"):
        canonicalize(R, None, GAMMA, "val")
    with pytest.raises(ValueError, match="norm must be one of"):
        starc_distance(R, R, T, GAMMA, "val", 3, 2)
    with pytest.raises(ValueError, match="pass T"):
        reward_norm(R, "weighted_2")
    with pytest.raises(ValueError, match="stochastic pi"):
        policy_evaluation(R, T, torch.ones(5, 2, dtype=torch.float64) / 2, GAMMA)
    with pytest.raises(ValueError, match=r"action indices in pi must lie in \[0, 3\)"):
        policy_evaluation(R, T, torch.tensor([0, 1, 2, 3, 0]), GAMMA)
    with pytest.raises(ValueError, match="broadcast"):
        normalized_regret(reward(28, batch=(2,)), reward(29, batch=(3,)), T, GAMMA)
    with pytest.raises(ValueError, match="torch.Tensor or numpy array"):
        canonicalize("R", T, GAMMA, "epic")


def test_monte_carlo_regret_is_close_to_exact_regret():
    T = mdp(30, 4, 2, sparse=False)
    R1, R2 = reward(30, 4, 2), reward(31, 4, 2, batch=(3,))
    exact = normalized_regret(R1, R2, T, GAMMA)["regret"]
    mc = normalized_regret(R1, R2, T, GAMMA, monte_carlo=True, n_repeats=1000,
                           generator=torch.Generator().manual_seed(1))["regret"]
    assert float((mc - exact).abs().max()) < 0.1
    assert float((mc - exact).abs().max()) > 0  # it is an estimate
