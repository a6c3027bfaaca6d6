"""Tests of mlcompanion.metrics.inductive_bias_estimation (paper ``inductive_bias``: Boopathy et al., IJCAI 2024).

References: scipy.stats.ncx2 (exact logcdf, sampling a known distribution), Monte-Carlo for the
generalised chi-squared, hand-worked cases for the empirical estimate and the GP posterior.
"""

import math

import numpy as np
import pytest
from scipy import special, stats

from mlcompanion.metrics.inductive_bias_estimation import (
    NCX2Fit,
    empirical_inductive_bias,
    estimate_inductive_bias,
    fit_scaled_ncx2,
    generalized_chi2_log_cdf,
    gp_error_spectrum,
    gp_hypothesis_errors,
    gp_posterior,
    inductive_bias,
    mlp_hypothesis_errors,
    random_feature_hypothesis_errors,
    sample_hypothesis_errors,
    sankaran_log_cdf,
)

DF, NC, SCALE = 10.0, 5.0, 0.02
TRUE = stats.ncx2(DF, NC, loc=0.0, scale=SCALE)


def _samples(n, seed=0, dist=TRUE):
    return dist.rvs(size=n, random_state=np.random.default_rng(seed))


def _task(d=3, n_tr=30, n_te=40, C=3, seed=0):
    r = np.random.default_rng(seed)
    T = r.standard_normal((d, C))
    X = r.standard_normal((n_tr + n_te, d))
    Y = np.eye(C)[np.argmax(X @ T, 1)]
    return X[:n_tr], Y[:n_tr], X[n_tr:], Y[n_tr:]


# ---------------------------------------------------------------- the estimator recovers a known tail
@pytest.mark.parametrize("n", [500, 4000])
def test_fit_recovers_known_tail_within_sample_size_tolerance(n):
    """Fitted I(eps) vs the exact -ncx2.logcdf of the generating law; tolerance 4/sqrt(n) (pilot: ~3/sqrt(n))."""
    eps = np.array([0.3, 0.5]) * TRUE.mean()
    exact = -TRUE.logcdf(eps)
    est = estimate_inductive_bias(_samples(n), eps)
    tol = 4.0 / math.sqrt(n)
    np.testing.assert_allclose(est.nats, exact, rtol=tol)
    assert est.fit.ks < 2.0 / math.sqrt(n)  # the whole distribution, not the parameters, is recovered


def test_tail_check_fails_against_a_wrong_parameter():
    """The same comparison against a law with a wrong df (same mean) is outside the tolerance: the test can fail."""
    n = 4000
    eps = np.array([0.3, 0.5]) * TRUE.mean()
    est = estimate_inductive_bias(_samples(n), eps)
    wrong = stats.ncx2(2 * DF, NC, loc=0.0, scale=SCALE * (DF + NC) / (2 * DF + NC))  # same mean, wrong df
    assert np.isclose(wrong.mean(), TRUE.mean())
    wrong_nats = -wrong.logcdf(eps)
    assert (np.abs(est.nats / wrong_nats - 1) > 4.0 / math.sqrt(n)).all()


# ---------------------------------------------------------------- units, monotonicity, reference values
def test_inductive_bias_equals_scipy_logcdf_and_bits_are_nats_over_ln2():
    fit = NCX2Fit(DF, NC, SCALE, 100, 100, 0.0, float(TRUE.mean()))
    eps = np.linspace(0.05, 1.5, 9) * TRUE.mean()
    nats = inductive_bias(eps, fit, "nats")
    np.testing.assert_allclose(nats, -stats.ncx2.logcdf(eps, DF, NC, scale=SCALE), rtol=1e-12)
    np.testing.assert_allclose(inductive_bias(eps, fit, "bits"), nats / math.log(2), rtol=1e-12)
    est = estimate_inductive_bias(_samples(300), eps)
    np.testing.assert_allclose(est.bits, est.nats / np.log(2), rtol=1e-12)
    assert isinstance(inductive_bias(0.1, fit), float)


def test_monotone_decreasing_in_eps():
    est = estimate_inductive_bias(_samples(500), np.linspace(0.01, 2.0, 60) * TRUE.mean())
    assert (np.diff(est.nats) < 0).all()
    emp = empirical_inductive_bias(np.linspace(0.5, 2.0, 40) * TRUE.mean(), _samples(500))
    assert (np.diff(emp) <= 0).all()


def test_empirical_inductive_bias_hand_case():
    errors = np.array([0.1, 0.2, 0.3, 0.4])
    np.testing.assert_allclose(empirical_inductive_bias([0.05, 0.1, 0.25, 0.4], errors),
                               [np.inf, math.log(4), math.log(2), 0.0])
    assert empirical_inductive_bias(0.1, errors, "bits") == pytest.approx(2.0)


def test_fallback_uses_log_ndtr_and_is_close_to_exact_where_both_are_finite():
    """Sankaran's approximation with -log_ndtr(z) within 15% of the exact logcdf; the official z**2/2 is biased low."""
    for df, nc in ((5, 2), (50, 20), (300, 100)):
        mean = df + nc
        x = np.array([0.1, 0.3, 0.7]) * mean
        exact = -stats.ncx2.logcdf(x, df, nc)
        approx = -sankaran_log_cdf(x, df, nc)
        np.testing.assert_allclose(approx, exact, rtol=0.15)
    z = special.ndtri(stats.ncx2.cdf(0.7 * 7, 5, 2))
    assert z ** 2 / 2 < 0.2 * -stats.ncx2.logcdf(0.7 * 7, 5, 2)  # the official shortcut, far off here


def test_far_tail_falls_back_instead_of_returning_inf():
    fit = NCX2Fit(2000.0, 5000.0, 1.0, 100, 100, 0.0, 7000.0)
    eps = np.array([100.0, 3500.0])
    assert np.isinf(stats.ncx2.logcdf(eps[0], 2000.0, 5000.0))
    out = inductive_bias(eps, fit)
    assert np.isfinite(out).all() and out[0] > 700 and out[0] > out[1]


# ---------------------------------------------------------------- determinism
def test_deterministic_given_the_seed():
    e = _samples(3000)
    a = fit_scaled_ncx2(e, max_samples=500, seed=3)
    b = fit_scaled_ncx2(e, max_samples=500, seed=3)
    c = fit_scaled_ncx2(e, max_samples=500, seed=4)
    assert a == b and a != c
    X, Y, Xt, Yt = _task()
    np.testing.assert_array_equal(gp_hypothesis_errors(X, Y, Xt, Yt, n_samples=50, seed=1),
                                  gp_hypothesis_errors(X, Y, Xt, Yt, n_samples=50, seed=1))
    assert not np.array_equal(gp_hypothesis_errors(X, Y, Xt, Yt, n_samples=50, seed=1),
                              gp_hypothesis_errors(X, Y, Xt, Yt, n_samples=50, seed=2))
    np.testing.assert_array_equal(mlp_hypothesis_errors(X, Y, Xt, Yt, epochs=3, n_trials=4, seed=5),
                                  mlp_hypothesis_errors(X, Y, Xt, Yt, epochs=3, n_trials=4, seed=5))


# ---------------------------------------------------------------- bad inputs
@pytest.mark.parametrize("eps", [0.0, -0.1, [0.1, 0.0], float("nan"), float("inf")])
def test_bad_eps_raises(eps):
    with pytest.raises(ValueError, match="eps"):
        estimate_inductive_bias(_samples(100), eps)


@pytest.mark.parametrize("errors, match", [
    (np.r_[_samples(50), np.nan], "finite"),
    (np.r_[_samples(50), -0.01], "negative"),
    (np.r_[_samples(50), 0.0], "> 0"),
    (_samples(5), "at least 20"),
    (np.full(50, 0.3), "all equal"),
    (_samples(60).reshape(30, 2), "1-D"),
])
def test_bad_errors_raise(errors, match):
    with pytest.raises(ValueError, match=match):
        estimate_inductive_bias(errors, 0.1)


def test_bad_options_raise():
    fit = fit_scaled_ncx2(_samples(100))
    with pytest.raises(ValueError, match="units"):
        inductive_bias(0.1, fit, units="dits")
    with pytest.raises(ValueError, match="NCX2Fit"):
        inductive_bias(0.1, (DF, NC, SCALE))
    X, Y, Xt, Yt = _task()
    with pytest.raises(ValueError, match="space"):
        sample_hypothesis_errors("svm", X, Y, Xt, Yt, n_samples=10)
    with pytest.raises(ValueError, match="same number of rows"):
        gp_hypothesis_errors(X, Y[:-1], Xt, Yt, n_samples=10)
    with pytest.raises(ValueError, match="sigma"):
        gp_hypothesis_errors(X, Y, Xt, Yt, sigma=0.0, n_samples=10)


# ---------------------------------------------------------------- the exact GP error law
def test_generalized_chi2_equal_scales_is_the_scaled_ncx2():
    """sum_j (s Z_j + m_j)^2 = s^2 ncx2(k, sum m_j^2 / s^2): saddlepoint vs scipy deep in the left tail."""
    s, m = np.full(40, 0.3), np.linspace(-0.5, 0.8, 40)
    nc = float((m ** 2).sum() / 0.09)
    mean = 0.09 * (40 + nc)
    x = np.array([0.05, 0.2, 0.5, 0.9, 1.3]) * mean
    exact = stats.ncx2.logcdf(x, 40, nc, scale=0.09)
    np.testing.assert_allclose(generalized_chi2_log_cdf(x, s, m), exact, rtol=0.02)
    assert exact[0] < -50  # the comparison reaches a probability far below 1e-20


def test_generalized_chi2_matches_monte_carlo():
    r = np.random.default_rng(0)
    s, m = r.uniform(0.05, 1.0, 25), r.normal(0, 0.5, 25)
    q = ((s * r.standard_normal((200_000, 25)) + m) ** 2).sum(1)
    x = np.quantile(q, [0.001, 0.01, 0.1, 0.5, 0.9])
    np.testing.assert_allclose(np.exp(generalized_chi2_log_cdf(x, s, m)), [0.001, 0.01, 0.1, 0.5, 0.9], rtol=0.08)
    s0 = np.r_[s, 0.0]  # a zero-variance term is a constant floor
    assert generalized_chi2_log_cdf([0.9 * 0.25], s0, np.r_[m, 0.5])[0] == -np.inf


def test_gp_posterior_interpolates_and_samples_follow_the_spectrum():
    X, Y, Xt, Yt = _task()
    mu, cov = gp_posterior(X, Y, X, jitter=1e-10)
    np.testing.assert_allclose(mu, Y, atol=1e-4)  # interpolates the training targets
    assert np.abs(cov).max() < 1e-4
    s, m = gp_error_spectrum(X, Y, Xt, Yt)
    e = gp_hypothesis_errors(X, Y, Xt, Yt, n_samples=20000, seed=0)
    assert e.mean() == pytest.approx(float((s ** 2 + m ** 2).sum()), rel=0.01)
    assert e.var() == pytest.approx(float((2 * s ** 4 + 4 * s ** 2 * m ** 2).sum()), rel=0.05)


def test_random_features_interpolate_and_mlps_train():
    X, Y, Xt, Yt = _task(n_tr=20)
    on_train = random_feature_hypothesis_errors(X, Y, X, Y, width=128, n_samples=8, ridge=1e-10)
    assert on_train.max() < 1e-6
    assert random_feature_hypothesis_errors(X, Y, Xt, Yt, width=128, n_samples=8).min() > 1e-3
    test, train = mlp_hypothesis_errors(X, Y, Xt, Yt, epochs=200, lr=1e-2, n_trials=3, return_train_error=True)
    _, train0 = mlp_hypothesis_errors(X, Y, Xt, Yt, epochs=1, lr=1e-2, n_trials=3, return_train_error=True)
    assert test.shape == (3,) and (train < 0.5 * train0).all()


def test_refine_polishes_the_scipy_fit_on_a_concentrated_law():
    """Many squared terms (a GP-like error law): scipy stops early; refining gives a closer KS and tail."""
    r = np.random.default_rng(1)
    s, m = r.uniform(0.01, 0.03, 400), r.normal(0, 0.02, 400)
    e = ((s * r.standard_normal((2000, 400)) + m) ** 2).sum(1)
    plain = fit_scaled_ncx2(e)
    polished = fit_scaled_ncx2(e, refine=True)
    assert polished.ks <= plain.ks
    eps = 0.6 * e.mean()
    exact = -generalized_chi2_log_cdf([eps], s, m)[0]
    assert abs(inductive_bias(eps, polished) / exact - 1) <= abs(inductive_bias(eps, plain) / exact - 1) + 0.05
