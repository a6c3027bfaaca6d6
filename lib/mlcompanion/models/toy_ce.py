"""The toy cross-entropy model of ``representation_geometry`` (Li et al., NeurIPS 2025,
arXiv:2509.23024, Sec. 3.3 and App. B): why a bottlenecked softmax classifier trained on skewed
class frequencies first collapses its representation onto few directions and then re-expands it.

    inputs:  one-hot (orthonormal, S S^T = I), one per example, N examples
    features f_theta(s) = theta^T s   ->   F = theta in R^{N x d}  (free per-example embeddings)
    logits  y_hat = F W,  W in R^{d x V};  loss = mean cross-entropy over the N examples

trained by full-batch gradient descent from a small Gaussian initialisation. The labels follow
``class_counts`` (``[20, 5, 2, 1, 1, 1]`` is skewed, ``[5] * 6`` uniform). The paper's mechanism
needs both a skewed label distribution and a bottleneck d < V; the negative controls (uniform
counts, d >= V) are the same model with one condition removed.

Gradients are written out by hand (float64 numpy): the model is a few dozen numbers, so autograd's
per-call overhead would dominate a 20,000-step run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from ..metrics.spectrum import eigenspectrum, rankme_from_spectrum

__all__ = ["ToyCEResult", "toy_labels", "train_toy_ce", "log_checkpoints"]


def toy_labels(class_counts: Sequence[int]) -> np.ndarray:
    """Label of every example: class c repeated ``class_counts[c]`` times (classes in order)."""
    counts = [int(c) for c in class_counts]
    if len(counts) < 2 or any(c < 1 for c in counts):
        raise ValueError(f"class_counts must list >= 2 positive counts, got {list(class_counts)!r}")
    return np.repeat(np.arange(len(counts)), counts)


def log_checkpoints(steps: int, n: int) -> list[int]:
    """Step 0 and about ``n`` log-spaced steps in 1 ... ``steps`` (unique, sorted)."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an int >= 2, got {n!r}")
    return sorted({0} | set(np.unique(np.round(np.logspace(0, np.log10(steps), n)).astype(int)).tolist()))


@dataclass
class ToyCEResult:
    steps: list[int] = field(default_factory=list)
    rankme: list[float] = field(default_factory=list)  # RankMe (covariance convention) of F
    sigma: list[list[float]] = field(default_factory=list)  # covariance eigenvalues of F (unnormalised), descending
    loss: list[float] = field(default_factory=list)
    features: np.ndarray | None = None  # F at the end of training


def _loss_and_grads(theta: np.ndarray, w: np.ndarray, onehot: np.ndarray):
    logits = theta @ w
    logits = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    n = len(onehot)
    loss = float(-np.log(np.maximum((p * onehot).sum(axis=1), 1e-300)).mean())
    g = (p - onehot) / n
    return loss, g @ w.T, theta.T @ g


def train_toy_ce(class_counts: Sequence[int], dim: int, steps: int = 20000, lr: float = 0.1,
                 init_std: float = 1e-2, seed: int = 0, checkpoints: Sequence[int] = ()) -> ToyCEResult:
    """Full-batch gradient descent on the toy model (module docstring); at every step in
    ``checkpoints`` (0 = the initialisation, ``steps`` = after training) record RankMe of the
    centred features, their covariance eigenvalues and the loss.

    ``init_std`` is the standard deviation of the Gaussian initialisation of theta and W (the brief:
    variance 1e-4, std 1e-2)."""
    for name, v in (("dim", dim), ("steps", steps)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    for name, v in (("lr", lr), ("init_std", init_std)):
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not np.isfinite(v) or v <= 0:
            raise ValueError(f"{name} must be a positive finite number, got {v!r}")
    labels = toy_labels(class_counts)
    n, v_classes = len(labels), len(class_counts)
    if n < 2:
        raise ValueError("the toy model needs at least 2 examples")
    checkpoints = sorted({int(s) for s in checkpoints})
    if checkpoints and (checkpoints[0] < 0 or checkpoints[-1] > steps):
        raise ValueError(f"checkpoints must lie in 0 ... steps={steps}")
    onehot = np.eye(v_classes)[labels]
    rng = np.random.default_rng(seed)
    theta = rng.normal(0.0, init_std, size=(n, dim))
    w = rng.normal(0.0, init_std, size=(dim, v_classes))
    result = ToyCEResult()
    pending = list(checkpoints)
    for step in range(steps + 1):
        loss, g_theta, g_w = _loss_and_grads(theta, w, onehot)
        if not np.isfinite(loss):
            raise FloatingPointError(f"toy model: loss became {loss} at step {step}")
        while pending and pending[0] == step:
            pending.pop(0)
            sigma = eigenspectrum(torch.from_numpy(theta.copy()), normalize=False)
            result.steps.append(step)
            result.rankme.append(rankme_from_spectrum(sigma))
            result.sigma.append(sigma.tolist())
            result.loss.append(loss)
        if step == steps:
            break
        theta -= lr * g_theta
        w -= lr * g_w
    result.features = theta
    return result
