"""The STARC experiment's generator (mlcompanion.data.random_mdp) against the official definition
(``lucyfarnik/starc``: ``RandomEnv`` in ``src/env/env.py``, ``random_reward`` and ``potential_shaping``
in ``src/env/reward.py``): the same *distribution*, not the same bytes.

The reference below follows the official procedure one reward at a time (the official code draws each
reward separately from numpy's global state, in this order: Gaussian entries, the sparse coin, the
scale coin and factor, the shift coin and amount, the shaping coin, then the potential's Gaussian
vector, its scale and its offset). The batched generator must match it in distribution: two-sample
Kolmogorov-Smirnov tests on statistics that isolate each step, and exact checks of the coin
probabilities and of the transition sparsity against their closed forms."""

import math

import numpy as np
import pytest
from scipy import stats

from mlcompanion.data.random_mdp import (
    random_mdps,
    random_rewards,
    sparse_threshold,
    transition_threshold,
)

S, A, GAMMA = 32, 4, 0.95
N = 1500


def reference_reward(rng, n_s=S, n_a=A, gamma=GAMMA):
    """One reward by the official procedure (default options: sparse and shaping decided at random)."""
    r = rng.standard_normal((n_s, n_a, n_s))
    if rng.random() > 0.8:
        r = np.where(r > sparse_threshold(n_s), r, 0.0)
    if rng.random() > 0.3:
        r = r * (10 * rng.random())
    if rng.random() > 0.7:
        r = r + 10 * rng.random()
    if rng.random() > 0.5:
        phi = rng.standard_normal(n_s)
        phi = phi * (10 * rng.random())
        phi = phi + rng.random()
        r = r + gamma * phi[None, None, :] - phi[:, None, None]
    return r


def reference_mdp(rng, n_s=S, n_a=A):
    z = rng.standard_normal((n_s, n_a, n_s))
    z = np.where(z > transition_threshold(n_s), z, -20.0)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def reward_statistics(R):
    """Per reward: statistics that isolate the generator's steps.

    d = R[:, 0, :] - R[:, 1, :] removes shift and shaping (neither depends on the action): the fraction
    of exact zeros in d flags a sparse reward, its standard deviation is sqrt(2) x the scale. The mean
    over all entries carries the shift and the shaping's mean; the spread of the action-averaged reward
    over (s, s') carries the shaping's size.
    """
    R = np.asarray(R).reshape(-1, S, A, S)
    d = R[:, :, 0, :] - R[:, :, 1, :]
    return {
        "zero fraction of d": (np.abs(d) < 1e-12).mean(axis=(1, 2)),
        "std of d": d.std(axis=(1, 2)),
        "mean": R.mean(axis=(1, 2, 3)),
        "std of action mean": R.mean(axis=2).std(axis=(1, 2)),
        "max": R.max(axis=(1, 2, 3)),
    }


@pytest.fixture(scope="module")
def samples():
    ours = random_rewards((N,), S, A, GAMMA, np.random.default_rng(1)).numpy()
    rng = np.random.default_rng(2)
    ref = np.stack([reference_reward(rng) for _ in range(N)])
    return ours, ref


def test_reward_distribution_matches_the_official_procedure(samples):
    ours, ref = samples
    a, b = reward_statistics(ours), reward_statistics(ref)
    for name in a:
        p = stats.ks_2samp(a[name], b[name]).pvalue
        assert p > 1e-3, f"{name}: two-sample KS p = {p:.2e} (ours vs the official procedure)"


def test_coin_probabilities_match_the_official_definition(samples):
    ours, _ = samples
    st = reward_statistics(ours)
    sparse = st["zero fraction of d"] > 0.5
    # sparse with probability 0.2 (binomial, 5 standard errors)
    assert abs(sparse.mean() - 0.2) < 5 * math.sqrt(0.2 * 0.8 / N)
    # a sparse reward keeps only entries above the threshold: about P(z > 3) of them, twice over in d
    p_keep = stats.norm.sf(sparse_threshold(S))
    assert abs(1 - st["zero fraction of d"][sparse].mean() - (2 * p_keep - p_keep ** 2)) < 2e-3
    # scale of the dense rewards: 1 with probability 0.3, else 10 U -> E[scale] = 0.3 + 0.7 * 5 = 3.8
    scale = st["std of d"][~sparse] / math.sqrt(2)
    assert abs(scale.mean() - 3.8) < 5 * math.sqrt(0.7 * 100 / 12 + 0.21 * 16) / math.sqrt(len(scale))
    # unscaled rewards have scale 1 (within the sampling error of a 1,024-entry std); a 10 U scale lands
    # there with probability 0.02 -> expected fraction 0.3 + 0.7 * 0.02
    near_one = np.abs(scale - 1.0) < 0.1
    assert abs(near_one.mean() - 0.314) < 5 * math.sqrt(0.314 * 0.686 / len(scale))


def test_options_and_shapes():
    rng = np.random.default_rng(0)
    R = random_rewards((3, 5), S, A, GAMMA, rng, sparse=True)
    assert R.shape == (3, 5, S, A, S)
    d = (R[..., 0, :] - R[..., 1, :]).abs()
    assert ((d < 1e-12).double().mean(dim=(-2, -1)) > 0.9).all()  # all sparse
    R = random_rewards(200, S, A, GAMMA, rng, sparse=False)
    d = (R[..., 0, :] - R[..., 1, :]).abs()
    assert ((d < 1e-12).double().mean(dim=(-2, -1)) < 0.01).all()  # none sparse
    for bad in (dict(gamma=1.0), dict(sparse="yes"), dict(n_states=0)):
        kwargs = dict(batch=2, n_states=S, n_actions=A, gamma=GAMMA, rng=rng) | bad
        with pytest.raises(ValueError):
            random_rewards(**kwargs)
    with pytest.raises(ValueError):
        random_rewards(2, S, A, GAMMA, 0)


def test_transition_distribution_matches_the_official_definition():
    T = random_mdps(400, S, A, np.random.default_rng(3)).numpy()
    assert T.shape == (400, S, A, S) and np.allclose(T.sum(-1), 1.0)
    # reachable states per (s, a): those whose z cleared the threshold, K ~ Binomial(S, P(z > 1));
    # a row with K = 0 is uniform (all S reachable)
    reachable = (T > 1e-6).sum(-1).ravel()
    p = stats.norm.sf(transition_threshold(S))
    expected = stats.binom.pmf(np.arange(S + 1), S, p)
    expected[S] += expected[0]
    expected[0] = 0.0
    observed = np.bincount(reachable, minlength=S + 1)
    keep = expected * reachable.size >= 5  # pool the sparse tail for the chi-squared test
    obs = np.append(observed[keep], observed[~keep].sum())
    exp = np.append(expected[keep], expected[~keep].sum()) * reachable.size
    assert stats.chisquare(obs, exp).pvalue > 1e-3
    # the unreachable entries of a row all carry the same tiny mass, e**-20 relative to exp(z)
    rng = np.random.default_rng(4)
    ref = np.stack([reference_mdp(rng) for _ in range(400)])
    ours_max, ref_max = T.max(-1).ravel(), ref.max(-1).ravel()
    assert stats.ks_2samp(ours_max, ref_max).pvalue > 1e-3
    row = T[0, 0, 0]
    small = row[row < 1e-6]
    assert small.size == 0 or np.allclose(small, small[0], rtol=1e-9)


def test_thresholds_follow_the_state_count():
    assert [transition_threshold(n) for n in (32, 64, 128)] == [1.0, 1.5, 1.8]
    assert [sparse_threshold(n) for n in (32, 64, 128)] == [3.0, 3.5, 3.8]
