"""The two training protocols of paper ``anyloss`` (``notebooks/anyloss.py``).

- **MLP** (the official 102-dataset / "valid L" notebooks): ``Dense(hidden, he_normal)`` → batch
  norm → sigmoid → ``Dense(1)`` → sigmoid, Adam on mini-batches (``mlcompanion.train.train_classifier``).
- **SLP** (Sec. 3.3 learning curves): one linear unit + sigmoid, full-batch plain gradient descent
  (no momentum) with the official per-loss learning rates (BCE 0.2, MSE 0.1, AnyLoss 0.01).

Both take an arm name (``bce``, ``wbce``, ``mse``, ``any_acc``, ``any_f1``, ``any_ba``, ``any_gmean``)
and turn it into a loss on the logit ``z`` with ``binary_loss``. Both record a validation curve (a
split of the *training* data) so that ``mlcompanion.verdict.convergence_check`` can judge whether the
run reached a plateau.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .losses.anyloss import AnyLoss, weighted_bce
from .train import TrainResult
from .verdict import convergence_check

__all__ = ["ARMS", "ANY_METRIC", "BinaryMLP", "SLP", "BinaryLoss", "full_batch_gd"]

ANY_METRIC = {"any_acc": "accuracy", "any_f1": "f1", "any_ba": "balanced_accuracy", "any_gmean": "gmean"}
ARMS = ("bce", "wbce", "mse", *ANY_METRIC)


class BinaryMLP(nn.Module):
    """The official MLP: Dense(hidden, he_normal) + BatchNorm + sigmoid + Dense(1). Returns the
    two-column scores [0, z] so that argmax = [sigmoid(z) > 0.5]."""

    def __init__(self, d: int, hidden: int):
        super().__init__()
        if not isinstance(d, int) or d < 1 or not isinstance(hidden, int) or hidden < 1:
            raise ValueError(f"d and hidden must be positive ints, got {d!r}, {hidden!r}")
        self.hidden = nn.Linear(d, hidden)
        self.bn = nn.BatchNorm1d(hidden, eps=1e-3, momentum=0.01)  # Keras defaults (momentum 0.99)
        self.out = nn.Linear(hidden, 1)
        nn.init.kaiming_normal_(self.hidden.weight, nonlinearity="relu")  # he_normal (Keras truncates it)
        nn.init.zeros_(self.hidden.bias)
        nn.init.xavier_uniform_(self.out.weight)  # Keras glorot_uniform
        nn.init.zeros_(self.out.bias)

    def forward(self, x):
        z = self.out(torch.sigmoid(self.bn(self.hidden(x)))).squeeze(1)
        return torch.stack([torch.zeros_like(z), z], dim=1)


class SLP(nn.Module):
    """Single-layer perceptron of Sec. 3.3: z = w·x + b (torch's default uniform init, seeded by the
    caller). Same two-column output as ``BinaryMLP``."""

    def __init__(self, d: int):
        super().__init__()
        if not isinstance(d, int) or d < 1:
            raise ValueError(f"d must be a positive int, got {d!r}")
        self.linear = nn.Linear(d, 1)

    def forward(self, x):
        z = self.linear(x).squeeze(1)
        return torch.stack([torch.zeros_like(z), z], dim=1)


class BinaryLoss(nn.Module):
    """One arm's loss on two-column scores: z = score_1 − score_0, p = sigmoid(z).

    ``bce``: BCE on the logit; ``wbce``: class-weighted BCE (official batch weights); ``mse``:
    mean (p − y)²; ``any_*``: AnyLoss (1 − soft metric) at amplification ``L``.
    """

    def __init__(self, arm: str, L: float = 73.0):
        super().__init__()
        if arm not in ARMS:
            raise ValueError(f"arm must be one of {ARMS}, got {arm!r}")
        self.arm = arm
        self.anyloss = AnyLoss(ANY_METRIC[arm], L=L) if arm in ANY_METRIC else None

    def forward(self, scores, y):
        z = (scores[:, 1] - scores[:, 0]).float()
        if self.arm == "bce":
            return F.binary_cross_entropy_with_logits(z, y.to(z.dtype))
        p = torch.sigmoid(z)
        if self.arm == "wbce":
            return weighted_bce(p, y)
        if self.arm == "mse":
            return ((p - y.to(p.dtype)) ** 2).mean()
        return self.anyloss(p, y)


def full_batch_gd(model: nn.Module, loss_fn: nn.Module, x: torch.Tensor, y: torch.Tensor, *, lr: float,
                  iterations: int, eval_every: int, validate: Callable[[nn.Module], float],
                  plateau_tol: float = 0.005, min_iterations: int = 0) -> TrainResult:
    """Plain full-batch gradient descent (the Sec. 3.3 protocol): ``w ← w − lr ∇loss(all samples)``.

    Every ``eval_every`` iterations ``validate(model)`` (higher is better) is appended to the curve;
    after ``min_iterations`` and at least 8 points, training stops when the curve has reached a
    plateau (``convergence_check(curve, plateau_tol)``), otherwise at ``iterations`` (the cap).
    """
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    for name, v in (("iterations", iterations), ("eval_every", eval_every)):
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    if not torch.isfinite(x).all():
        raise ValueError("x must be finite")
    opt = torch.optim.SGD(model.parameters(), lr=lr)  # no momentum: plain GD
    result = TrainResult(stopped="cap")
    start = time.perf_counter()
    model.train()
    for step in range(1, iterations + 1):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()} at iteration {step}")
        loss.backward()
        opt.step()
        result.losses.append(float(loss.detach()))
        if step % eval_every == 0:
            with torch.no_grad():
                value = float(validate(model))
            model.train()
            result.curve.append((step, value))
            if (step >= min_iterations and len(result.curve) >= 8
                    and convergence_check(result.curve, plateau_tol)["converged"]):
                result.stopped = "plateau"
                break
    result.seconds = time.perf_counter() - start
    return result
