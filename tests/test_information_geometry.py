"""Tests of mlcompanion.metrics.information_geometry (paper slug ``good_regulator``).

References: closed-form Fisher information (Bernoulli, Gaussian), a loop-based enumeration written
independently here, Monte-Carlo sampling, the autograd Hessian of log Z, scipy's scalar minimiser for
the α formula, and the worked values of the brief (the paper's α table recomputed).
"""

import itertools
import math

import numpy as np
import pytest
import torch
from scipy.optimize import minimize_scalar

from mlcompanion.metrics.information_geometry import (
    alpha_from_c,
    alpha_opt,
    alpha_spread,
    c_from_alpha,
    check_symmetric_matrix,
    combined_metric,
    condition_number,
    convergence_time,
    deviation_tensor,
    directional_alpha,
    exp_family_moments,
    fisher_from_samples,
    fisher_information,
    ising_fisher,
    ising_log_partition,
    ising_moments,
    ising_statistics,
    make_graph,
    natural_gradient,
    preconditioned_descent_iterations,
)

D64 = torch.float64


def random_spd(d, kappa, seed):
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=D64))
    lam = torch.logspace(0, math.log10(kappa), d, dtype=D64) * 0.3
    return (Q * lam) @ Q.T


# ----------------------------------------------------------------------- Fisher, closed forms
@pytest.mark.parametrize("p", [0.1, 0.5, 0.83])
def test_bernoulli_fisher_matches_closed_form(p):
    support = torch.tensor([0.0, 1.0], dtype=D64)

    def log_prob(x, theta):  # mean parameter p
        return x * torch.log(theta[0]) + (1 - x) * torch.log1p(-theta[0])

    F = fisher_information(log_prob, torch.tensor([p], dtype=D64), support)
    assert F.item() == pytest.approx(1 / (p * (1 - p)), rel=1e-12)
    # natural parameter (logit): exponential family T(x) = x, F = Var[x] = p(1 - p)
    _, mean, cov = exp_family_moments(support.unsqueeze(1), torch.tensor([math.log(p / (1 - p))], dtype=D64))
    assert mean.item() == pytest.approx(p, rel=1e-12)
    assert cov.item() == pytest.approx(p * (1 - p), rel=1e-12)


def _gauss_hermite(mu, sigma, n=12):
    z, w = np.polynomial.hermite_e.hermegauss(n)
    return mu + sigma * torch.tensor(z, dtype=D64), torch.tensor(w / w.sum(), dtype=D64)


@pytest.mark.parametrize("mu,sigma", [(0.0, 1.0), (1.5, 0.4), (-2.0, 3.0)])
def test_gaussian_fisher_mean_and_mean_variance(mu, sigma):
    x, w = _gauss_hermite(mu, sigma)

    def lp_mean(x, theta):
        return -0.5 * ((x - theta[0]) / sigma) ** 2 - math.log(sigma) - 0.5 * math.log(2 * math.pi)

    F1 = fisher_information(lp_mean, torch.tensor([mu], dtype=D64), x, w)
    assert F1.item() == pytest.approx(1 / sigma ** 2, rel=1e-10)

    def lp_mv(x, theta):  # (mean, variance)
        m, v = theta[0], theta[1]
        return -0.5 * (x - m) ** 2 / v - 0.5 * torch.log(2 * math.pi * v)

    F2 = fisher_information(lp_mv, torch.tensor([mu, sigma ** 2], dtype=D64), x, w)
    expected = torch.tensor([[1 / sigma ** 2, 0.0], [0.0, 1 / (2 * sigma ** 4)]], dtype=D64)
    torch.testing.assert_close(F2, expected, rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------- Ising Fisher
def _loop_fisher(n, edges, J, h=None):
    """Independent reference: plain loops over states, statistics built one by one."""
    stats, weights = [], []
    for s in itertools.product([-1, 1], repeat=n):
        t = [s[i] * s[j] for i, j in edges] + ([s[i] for i in range(n)] if h is not None else [])
        energy = sum(J[k] * s[i] * s[j] for k, (i, j) in enumerate(edges)) + (sum(h[i] * s[i] for i in range(n)) if h is not None else 0)
        stats.append(t)
        weights.append(math.exp(energy))
    T, w = np.array(stats, float), np.array(weights)
    p = w / w.sum()
    m = p @ T
    return np.einsum("k,ki,kj->ij", p, T - m, T - m), math.log(w.sum())


@pytest.mark.parametrize("name,fields", [("K3", False), ("C4", False), ("K4", True), ("grid2x3", False), ("W5", True), ("K2,3", False)])
def test_ising_fisher_equals_loop_enumeration(name, fields):
    g = make_graph(name)
    rng = np.random.default_rng(1)
    J = rng.normal(0.3, 0.4, size=len(g.edges))
    h = rng.normal(0, 0.3, size=g.n) if fields else None
    ref, ref_logz = _loop_fisher(g.n, g.edges.tolist(), J, h)
    F = ising_fisher(g, torch.tensor(J), torch.tensor(h) if fields else 0.0, fields=fields)
    np.testing.assert_allclose(F.numpy(), ref, rtol=1e-10, atol=1e-13)
    logz = ising_log_partition(g, torch.tensor(J), torch.tensor(h) if fields else 0.0, fields=fields)
    assert logz.item() == pytest.approx(ref_logz, rel=1e-12)


def test_ising_fisher_is_covariance_by_monte_carlo_and_psd():
    g = make_graph("K4")
    T = ising_statistics(g)
    logz, mean, F = ising_moments(g, 0.5)
    p = torch.exp(T @ torch.full((6,), 0.5, dtype=D64) - logz)
    idx = torch.multinomial(p, 200_000, replacement=True, generator=torch.Generator().manual_seed(0))
    F_mc = fisher_from_samples(T[idx])
    assert float((F_mc - F).abs().max()) < 0.01  # standard error about 0.003
    assert torch.equal(F, F.T)
    assert float(torch.linalg.eigvalsh(F).min()) > -1e-12
    check_symmetric_matrix(F, definite="semi")


def test_fisher_equals_hessian_of_log_partition_and_score_form():
    g = make_graph("C5")
    theta = torch.tensor([0.2, -0.4, 0.7, 0.1, 0.5], dtype=D64)
    H = torch.autograd.functional.hessian(lambda t: ising_log_partition(g, t), theta)
    F = ising_fisher(g, theta)
    torch.testing.assert_close(H, F, rtol=1e-10, atol=1e-12)
    # the literal definition E[score scoreᵀ] on the enumerated support
    T = ising_statistics(g)
    F_score = fisher_information(lambda X, t: X @ t - torch.logsumexp(X @ t, 0), theta, T)
    torch.testing.assert_close(F_score, F, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["P3", "P6", "S5", "grid1x4"])
@pytest.mark.parametrize("J", [0.1, 0.5, 1.3])
def test_trees_have_isotropic_fisher(name, J):
    F = ising_fisher(name, J)
    torch.testing.assert_close(F, torch.eye(F.shape[0], dtype=D64) / math.cosh(J) ** 2, rtol=1e-10, atol=1e-12)
    a = alpha_opt(F)
    assert a.kappa == pytest.approx(1.0) and a.alpha == 0.0


def test_fields_change_kappa_as_in_the_brief():
    assert alpha_opt(ising_fisher("K3", 0.5, fields=True)).kappa == pytest.approx(5.79, abs=5e-3)


def test_gradcheck_moments_float64():
    T = ising_statistics("K3", fields=True)
    theta = torch.tensor([0.3, -0.2, 0.5, 0.1, 0.0, -0.3], dtype=D64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: exp_family_moments(T, t), (theta,))
    logz, mean, _ = exp_family_moments(T, theta)
    (grad,) = torch.autograd.grad(logz, theta)
    torch.testing.assert_close(grad, mean.detach())


# --------------------------------------------------------------------------------- α formula
PAPER_TABLE = {  # brief: recomputed table (paper: κ 2.84, 9.73, 21.4, 1.00; α 0.430, 0.601, 0.554, 0)
    "K3": (2.845, 0.325, 0.430),
    "K4": (9.732, 0.903, 0.601),
    "K5": (21.38, 0.689, 0.554),
    "P6": (1.000, 0.0, 0.0),
}


@pytest.mark.parametrize("name", list(PAPER_TABLE))
def test_alpha_table(name):
    kappa, c_star, alpha = PAPER_TABLE[name]
    a = alpha_opt(ising_fisher(name, 0.5))
    assert a.kappa == pytest.approx(kappa, abs=1e-3 * max(1, kappa / 10))
    assert a.c_star == pytest.approx(c_star, abs=1e-3)
    assert a.alpha == pytest.approx(alpha, abs=1e-3)


def test_alpha_threshold_and_special_values():
    a = alpha_opt(torch.diag(torch.tensor([1.0, 2.0], dtype=D64)))  # κ = 2 exactly: Δ = 0
    assert a.kappa == 2.0 and a.delta == 0.0 and a.alpha == 0.0 and a.c_star == 0.0
    assert alpha_opt(torch.diag(torch.tensor([1.0, 1.9], dtype=D64))).alpha == 0.0
    assert 0 < alpha_opt(torch.diag(torch.tensor([1.0, 2.01], dtype=D64))).alpha < 0.1
    assert alpha_opt(torch.diag(torch.tensor([1.0, 2.5], dtype=D64))).alpha == pytest.approx(0.5, abs=1e-12)  # Δ = 1/2
    assert alpha_opt(torch.diag(torch.tensor([1.0, 3.0], dtype=D64))).alpha == pytest.approx(0.618034, abs=1e-6)  # Δ = 1
    assert alpha_opt(torch.diag(torch.tensor([1.0, 1e6], dtype=D64))).alpha > 0.999
    torch.testing.assert_close(c_from_alpha(alpha_from_c(torch.tensor([0.0, 0.3, 2.0, 50.0]))),
                               torch.tensor([0.0, 0.3, 2.0, 50.0], dtype=D64))


@pytest.mark.parametrize("kappa,seed", [(1.5, 0), (2.5, 1), (9.7, 2), (60.0, 3)])
def test_alpha_opt_matches_scipy_minimisation(kappa, seed):
    F = random_spd(5, kappa, seed)
    res = minimize_scalar(lambda c: float(convergence_time(F, c)), bounds=(0.0, 50.0), method="bounded",
                          options={"xatol": 1e-10})
    a = alpha_opt(F)
    assert float(alpha_from_c(torch.tensor(res.x))) == pytest.approx(a.alpha, abs=1e-4)
    # the derivative's sign pattern: (λmax + c)(c - Δ)
    cs = torch.linspace(0, 5, 201, dtype=D64)
    T = convergence_time(F, cs)
    assert int(T.argmin()) == int(torch.argmin((cs - a.c_star).abs()))


def test_errors_one_and_two_of_the_brief():
    F = random_spd(4, 9.7, 5)
    a = alpha_opt(F)
    g = combined_metric(F, a.c_star)
    assert float(condition_number(g)) == pytest.approx(2 * a.kappa, rel=1e-9)  # not 2 as the theorem says
    ratio = float(convergence_time(F, 0.0) / convergence_time(F, a.c_star))
    assert ratio == pytest.approx(a.kappa ** 2 / (4 * (a.kappa - 1)), rel=1e-9)


def test_model_d_is_a_monotone_transform_of_model_a():
    F = random_spd(4, 9.7, 6)
    cs = torch.linspace(0, 4, 101, dtype=D64)
    torch.testing.assert_close(convergence_time(F, cs, "D"), convergence_time(F, cs, "A").sqrt())
    assert bool((convergence_time(F, cs, "B").diff() < 0).all()) and bool((convergence_time(F, cs, "C").diff() > 0).all())


def test_alpha_is_not_scale_free():
    F = ising_fisher("K4", 0.5)
    a1, a2 = alpha_opt(F), alpha_opt(3 * F)
    assert a1.kappa == pytest.approx(a2.kappa) and abs(a1.alpha - a2.alpha) > 0.1


# ------------------------------------------------------------------- directional α, deviation
def test_directional_alpha_forms_agree_and_spread_bound():
    F = ising_fisher("K5", 0.5)
    lam, V = torch.linalg.eigh(F)
    torch.testing.assert_close(directional_alpha(F, 0.5, V.T), directional_alpha(F, 0.5))
    a = directional_alpha(F, 0.5)
    assert float(a[0]) == pytest.approx(0.0663, abs=1e-4) and float(a[-1]) == pytest.approx(0.603, abs=1e-3)
    k = float(lam[-1] / lam[0])
    for beta in (0.01, 0.3, 0.5, 2.0, 100.0):
        assert float(alpha_spread(F, beta)) < 1 - 1 / k
    best = float(alpha_spread(F, float((lam[0] * lam[-1]).sqrt())))
    assert best == pytest.approx((math.sqrt(k) - 1) / (math.sqrt(k) + 1), rel=1e-10)
    assert float(alpha_spread(ising_fisher("K3", 0.5), 0.5)) == pytest.approx(0.252, abs=1e-3)
    assert float(alpha_spread(ising_fisher("K4", 0.5), 0.5)) == pytest.approx(0.505, abs=1e-3)


def test_deviation_tensor():
    F = ising_fisher("K4", 0.5)
    D, delta, k_tr = deviation_tensor(F)
    assert abs(float(torch.trace(D))) < 1e-12
    lam = torch.linalg.eigvalsh(F)
    torch.testing.assert_close(torch.linalg.eigvalsh(D).sort().values, (lam * (lam - k_tr)).sort().values)
    assert delta == pytest.approx(0.421, abs=1e-3)
    _, delta0, _ = deviation_tensor(F, M=2.5 * F)
    assert delta0 < 1e-12


# ------------------------------------------------------------------------------- dynamics
def test_natural_gradient_is_reparameterisation_invariant():
    F = ising_fisher("K4", 0.5)
    grad = torch.linspace(-1, 1, 6, dtype=D64)
    A = torch.diag(torch.tensor([1.0, 10.0, 0.1, 3.0, 0.5, 2.0], dtype=D64)) + 0.2
    # in φ (θ = Aφ): gradient Aᵀ∇, Fisher AᵀFA; the φ-step mapped back through A
    step_theta = natural_gradient(F, grad)
    step_phi = natural_gradient(A.T @ F @ A, A.T @ grad)
    torch.testing.assert_close(A @ step_phi, step_theta, rtol=1e-9, atol=1e-12)
    assert float((A @ (A.T @ grad) - grad).abs().max()) > 0.1  # plain GD is not invariant
    damped = natural_gradient(torch.zeros(6, 6, dtype=D64), grad, damping=2.0)
    torch.testing.assert_close(damped, grad / 2)


def test_preconditioned_descent_iterations():
    H = torch.diag(torch.tensor([1.0, 4.0], dtype=D64))
    assert preconditioned_descent_iterations(H, H, torch.ones(2, dtype=D64)) == 1  # exact Newton
    I = torch.eye(2, dtype=D64)
    # tuned η = 2/5: contraction 3/5 per step on both coordinates → ceil(ln(1e-6)/ln(0.6)) = 28
    assert preconditioned_descent_iterations(H, I, torch.ones(2, dtype=D64)) == 28
    assert preconditioned_descent_iterations(H, I, torch.ones(2, dtype=D64), eta=0.6, max_iter=500) == 500  # diverges


# ----------------------------------------------------------------------------- bad inputs
def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="square"):
        alpha_opt(torch.ones(2, 3, dtype=D64))
    with pytest.raises(ValueError, match="symmetric"):
        alpha_opt(torch.tensor([[1.0, 0.5], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="positive definite"):
        alpha_opt(torch.diag(torch.tensor([1.0, -0.1])))
    with pytest.raises(ValueError, match="positive definite"):
        natural_gradient(torch.diag(torch.tensor([1.0, 0.0])), torch.ones(2))
    with pytest.raises(ValueError, match="finite"):
        condition_number(torch.tensor([[1.0, float("nan")], [float("nan"), 1.0]]))
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        c_from_alpha(1.0)
    with pytest.raises(ValueError, match="unknown graph"):
        make_graph("X7")
    with pytest.raises(ValueError, match="n <= 20"):
        ising_fisher("K21", 0.5)
    with pytest.raises(ValueError, match="fields=True"):
        ising_fisher("K3", 0.5, h=0.2)
    with pytest.raises(ValueError, match="one coupling per edge"):
        ising_fisher("K3", torch.ones(2))
    with pytest.raises(ValueError, match="model must be one of"):
        convergence_time(torch.eye(2), 0.1, model="E")
    with pytest.raises(ValueError, match="summing to 1"):
        fisher_information(lambda x, t: x * t[0], torch.tensor([0.1]), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="beta"):
        directional_alpha(torch.eye(2), 0.0)
    with pytest.raises(ValueError, match="S >= 2"):
        fisher_from_samples(torch.ones(1, 3))
