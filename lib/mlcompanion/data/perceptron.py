"""The teacher-student perceptron of data_pruning (Sorscher et al., NeurIPS 2022, arXiv:2206.14486, Sec. 2).

- ``teacher_student(n_dim, n_examples, seed)``: teacher ``T ~ N(0, I_N)``, inputs
  ``x ~ N(0, I_N)``, labels ``y = sign(T . x)``; ``alpha_tot = P / N``.
- ``probe_at_angle(teacher, theta, seed)``: an imperfect pruning metric, a unit vector at exactly
  angle ``theta`` to ``T``: ``J = cos(theta) T_hat + sin(theta) u`` with ``u`` a random unit
  vector orthogonal to ``T``.
- ``max_margin_student(x, y)``: the student of the theory, the maximum-margin perceptron without
  bias, solved *exactly* (see below), not by the weakly regularised logistic proxy.
- ``generalisation_error(J, T) = arccos(R) / pi`` with ``R = J . T / (||J|| ||T||)`` (the
  probability that student and teacher disagree on a fresh Gaussian input).

Exact max margin. ``min ||w||^2 s.t. y_i w . x_i >= 1`` has the dual ``max sum(a) - ||Z^T a||^2 / 2``
(``a >= 0``, ``Z = y * X``); with ``a = t b``, ``b`` on the simplex, the optimal direction is the
minimum-norm point ``Z^T b`` of the convex hull of the ``z_i``. We find it as the non-negative least
squares problem ``min_b>=0 ||Z^T b||^2 + M^2 (sum(b) - 1)^2`` (scipy's Lawson-Hanson ``nnls``): its
KKT conditions, ``z_i . w >= M^2 (1 - sum b)`` with equality on the support of ``b``, are the
max-margin KKT conditions for the direction of ``w = Z^T b`` for any ``M > 0``, so the direction
is exact up to the solver's tolerance (no penalty bias).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..validation import check_embeddings, check_finite

__all__ = ["teacher_student", "probe_at_angle", "max_margin_student", "generalisation_error"]


def _check_int(value, name: str, minimum: int = 1) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def teacher_student(n_dim: int, n_examples: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Draw ``(x, y, teacher)``: float64 ``(P, N)`` Gaussian inputs, float64 labels in {-1, +1}
    ``y = sign(teacher . x)``, and the float64 ``(N,)`` Gaussian teacher (data_pruning, Sec. 2)."""
    n_dim = _check_int(n_dim, "n_dim")
    n_examples = _check_int(n_examples, "n_examples")
    seed = _check_int(seed, "seed", minimum=0)
    g = torch.Generator().manual_seed(seed)
    teacher = torch.randn(n_dim, generator=g, dtype=torch.float64)
    x = torch.randn(n_examples, n_dim, generator=g, dtype=torch.float64)
    y = torch.where(x @ teacher >= 0, 1.0, -1.0).to(torch.float64)
    return x, y, teacher


def probe_at_angle(teacher: torch.Tensor, theta: float, seed: int) -> torch.Tensor:
    """A unit probe ``J = cos(theta) T_hat + sin(theta) u`` at angle ``theta`` (radians, in [0, pi])
    to ``teacher``; ``u`` is a random unit vector orthogonal to it (data_pruning, Sec. 2, imperfect metric)."""
    if not isinstance(teacher, torch.Tensor) or not teacher.is_floating_point() or teacher.dim() != 1:
        raise ValueError(f"teacher must be a 1-D float tensor, got {teacher!r:.80}")
    if teacher.shape[0] < 2:
        raise ValueError(f"teacher must have at least 2 dimensions to tilt a probe, got {teacher.shape[0]}")
    check_finite(teacher, "teacher")
    try:
        theta = float(theta)
    except (TypeError, ValueError):
        raise ValueError(f"theta must be an angle in radians in [0, pi], got {theta!r}") from None
    if not (0.0 <= theta <= math.pi):
        raise ValueError(f"theta must be an angle in radians in [0, pi], got {theta!r}")
    seed = _check_int(seed, "seed", minimum=0)
    t = teacher.to(torch.float64)
    if not bool(t.norm() > 0):
        raise ValueError("teacher must be a non-zero vector")
    t_hat = t / t.norm()
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(t.shape[0], generator=g, dtype=torch.float64)
    u = u - (u @ t_hat) * t_hat
    u = u - (u @ t_hat) * t_hat  # second Gram-Schmidt pass for exact orthogonality
    u = u / u.norm()
    return (math.cos(theta) * t_hat + math.sin(theta) * u).to(teacher.dtype)


def max_margin_student(x: torch.Tensor, y: torch.Tensor, *, penalty: float = 1e3) -> torch.Tensor:
    """The maximum-margin perceptron (no bias) on ``(x, y)``, scaled so the smallest margin
    ``min_i y_i w . x_i`` is 1 (data_pruning's student; exact, see the module docstring).

    Args:
        x: float (P, N) inputs; y: (P,) labels in {-1, +1}. The data must be linearly separable
            through the origin (always true for teacher labels); otherwise ValueError.
        penalty: ``M`` of the simplex penalty (any M > 0 gives the same direction; 1e3 is well conditioned).
    Returns:
        float64 (N,) weights.
    """
    from scipy.optimize import nnls

    x = check_embeddings(x, "x")
    if not isinstance(y, torch.Tensor) or y.dim() != 1 or y.shape[0] != x.shape[0]:
        raise ValueError(f"y must be a 1-D tensor of {x.shape[0]} labels in {{-1, +1}}, got {y!r:.80}")
    if not bool(((y == 1) | (y == -1)).all()):
        raise ValueError(f"y must hold only -1 and +1, got values {torch.unique(y).tolist()[:5]}")
    z = (x.to(torch.float64) * y.to(torch.float64).unsqueeze(1)).numpy()
    n_examples, n_dim = z.shape
    a = np.vstack([z.T, np.full((1, n_examples), float(penalty))])
    b = np.zeros(n_dim + 1)
    b[-1] = float(penalty)
    beta, _ = nnls(a, b, maxiter=max(50 * n_examples, 1000))
    w = z.T @ beta
    margins = z @ w
    if not (np.linalg.norm(w) > 0 and margins.min() > 0):
        raise ValueError("the data are not linearly separable through the origin (the minimum-norm point of the "
                         "convex hull of y_i x_i is 0); the max-margin perceptron does not exist")
    return torch.as_tensor(w / margins.min(), dtype=torch.float64)


def generalisation_error(student: torch.Tensor, teacher: torch.Tensor) -> float:
    """``arccos(R) / pi``, ``R = J . T / (||J|| ||T||)``: the test error of perceptron ``student`` on
    Gaussian inputs labelled by ``teacher`` (data_pruning, Sec. 2). In [0, 1]; 0.5 = chance."""
    for name, v in (("student", student), ("teacher", teacher)):
        if not isinstance(v, torch.Tensor) or not v.is_floating_point() or v.dim() != 1:
            raise ValueError(f"{name} must be a 1-D float tensor, got {v!r:.80}")
        check_finite(v, name)
        if not bool(v.norm() > 0):
            raise ValueError(f"{name} must be a non-zero vector")
    if student.shape != teacher.shape:
        raise ValueError(f"student and teacher must have the same shape, got {tuple(student.shape)} and "
                         f"{tuple(teacher.shape)}")
    j, t = student.to(torch.float64), teacher.to(torch.float64)
    r = float((j @ t) / (j.norm() * t.norm()))
    return math.acos(min(1.0, max(-1.0, r))) / math.pi
