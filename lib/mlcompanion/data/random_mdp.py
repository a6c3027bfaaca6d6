"""Random finite MDPs and random rewards, as the STARC paper's experiment draws them (slug ``starc``).

Paper: Skalse et al., "STARC: A General Framework For Quantifying Differences Between Reward
Functions", ICLR 2024; official experiment code ``lucyfarnik/starc`` (``src/env/env.py``: ``RandomEnv``;
``src/env/reward.py``: ``random_reward``, ``potential_shaping``). Same *distribution* as the official
generator, drawn in batches from a ``numpy.random.Generator`` (the official code draws one reward at a
time from numpy's global state, so the bytes differ; ``tests/test_starc.py`` compares the distributions).

- **Transitions** (``random_mdps``): ``z ~ N(0, 1)`` iid over ``(s, a, s')``; entries not above a
  threshold (1 for fewer than 50 states, 1.5 below 100, else 1.8) are set to -20; ``T(.|s, a)`` is the
  softmax over ``s'``. So each ``(s, a)`` reaches the states whose ``z`` cleared the threshold (about
  16 % of them for 32 states) and every other state with probability about ``e**-20``; a row with no
  ``z`` above the threshold is uniform.
- **Rewards** (``random_rewards``), decided independently per reward: ``R ~ N(0, 1)`` iid over
  ``(s, a, s')``; with probability 0.2 sparse (entries not above 3 / 3.5 / 3.8 for fewer than 50 / 100 /
  more states set to 0); with probability 0.7 multiplied by ``10 U``; with probability 0.3 shifted by
  ``+10 U``; with probability 0.5 potential-shaped, ``R + gamma Phi(s') - Phi(s)`` with
  ``Phi = N(0, 1) * 10 U + U'`` (``U``, ``U'`` independent uniforms on [0, 1), one per reward).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["transition_threshold", "sparse_threshold", "random_mdps", "random_rewards",
           "P_SPARSE", "P_SCALED", "P_SHIFTED", "P_SHAPED"]

P_SPARSE, P_SCALED, P_SHIFTED, P_SHAPED = 0.2, 0.7, 0.3, 0.5


def _check_sizes(n_states, n_actions) -> None:
    for name, v in (("n_states", n_states), ("n_actions", n_actions)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")


def _check_rng(rng) -> None:
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")


def transition_threshold(n_states: int) -> float:
    """The z-threshold of the official ``RandomEnv``: 1 below 50 states, 1.5 below 100, else 1.8."""
    return 1.0 if n_states < 50 else (1.5 if n_states < 100 else 1.8)


def sparse_threshold(n_states: int) -> float:
    """The threshold of a sparse official ``random_reward``: 3 below 50 states, 3.5 below 100, else 3.8."""
    return 3.0 if n_states < 50 else (3.5 if n_states < 100 else 3.8)


def random_mdps(n_envs: int, n_states: int, n_actions: int, rng: np.random.Generator) -> torch.Tensor:
    """Transition tensors ``(n_envs, S, A, S)`` (float64) of the official ``RandomEnv`` (non-episodic)."""
    _check_sizes(n_states, n_actions)
    if not isinstance(n_envs, (int, np.integer)) or isinstance(n_envs, bool) or n_envs < 1:
        raise ValueError(f"n_envs must be a positive int, got {n_envs!r}")
    _check_rng(rng)
    z = rng.standard_normal((n_envs, n_states, n_actions, n_states))
    z = np.where(z > transition_threshold(n_states), z, -20.0)
    e = np.exp(z - z.max(-1, keepdims=True))
    return torch.tensor(e / e.sum(-1, keepdims=True))


def random_rewards(batch, n_states: int, n_actions: int, gamma: float, rng: np.random.Generator,
                   sparse: bool | None = None) -> torch.Tensor:
    """Rewards ``(*batch, S, A, S)`` (float64) of the official ``random_reward`` (default options).

    ``sparse=None`` (the official default) makes each reward sparse with probability 0.2, ``True`` all
    of them, ``False`` none. Scaling, shifting and shaping are decided per reward as in the module
    docstring.
    """
    _check_sizes(n_states, n_actions)
    _check_rng(rng)
    if not (isinstance(gamma, (int, float)) and not isinstance(gamma, bool) and 0 <= gamma < 1):
        raise ValueError(f"gamma must be a number in [0, 1), got {gamma!r}")
    if sparse not in (None, True, False):
        raise ValueError(f"sparse must be None, True or False, got {sparse!r}")
    batch = (batch,) if isinstance(batch, (int, np.integer)) else tuple(batch)
    if any(not isinstance(b, (int, np.integer)) or b < 1 for b in batch):
        raise ValueError(f"batch must be positive ints, got {batch!r}")
    n = int(np.prod(batch)) if batch else 1
    r = rng.standard_normal((n, n_states, n_actions, n_states))
    # u > 1 - p has probability p (the official code's form of each coin)
    coin = rng.random(n) > 0.8
    is_sparse = coin if sparse is None else np.full(n, bool(sparse))
    r = np.where(is_sparse[:, None, None, None] & (r <= sparse_threshold(n_states)), 0.0, r)
    scale = np.where(rng.random(n) > 0.3, 10 * rng.random(n), 1.0)
    shift = np.where(rng.random(n) > 0.7, 10 * rng.random(n), 0.0)
    r = r * scale[:, None, None, None] + shift[:, None, None, None]
    shaped = rng.random(n) > 0.5
    phi = rng.standard_normal((n, n_states)) * (10 * rng.random(n))[:, None] + rng.random(n)[:, None]
    phi = phi * shaped[:, None]
    r = r + gamma * phi[:, None, None, :] - phi[:, :, None, None]
    return torch.tensor(r.reshape(*batch, n_states, n_actions, n_states))
