"""The teacher-student perceptron of data_pruning (Sorscher et al., NeurIPS 2022, arXiv:2206.14486, Sec. 2).

- ``teacher_student(n_dim, n_examples, seed)``: teacher ``T ~ N(0, I_N)``, inputs
  ``x ~ N(0, I_N)``, labels ``y = sign(T . x)``; ``alpha_tot = P / N``.
- ``probe_at_angle(teacher, theta, seed)``: an imperfect pruning metric, a unit vector at exactly
  angle ``theta`` to ``T``: ``J = cos(theta) T_hat + sin(theta) u`` with ``u`` a random unit
  vector orthogonal to ``T``.
- ``max_margin_student(x, y)``: the student of the theory, the maximum-margin perceptron without
  bias, solved *exactly* (see below), not by the weakly regularised logistic proxy.
- ``teacher_projections(n_examples, seed)`` and ``complete_inputs(proj, idx, n_dim, seed)``: the same
  distribution drawn in two steps, for very large ``alpha_tot``. The problem is rotation invariant,
  so the teacher is ``e_1`` (``canonical_teacher``) and an imperfect probe lies in the plane of
  ``e_1, e_2``: the first step draws only every input's two coordinates along ``e_1`` and ``e_2``
  (enough to compute labels and every probe margin), the second the other ``N - 2`` coordinates of
  the examples a pruning rule keeps. Memory and time grow with ``P`` only through two scalars per example.
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

from ..validation import check_embeddings, check_finite, check_int

__all__ = ["teacher_student", "probe_at_angle", "max_margin_student", "generalisation_error", "canonical_teacher",
           "teacher_projections", "plane_probe_margins", "complete_inputs"]


def teacher_student(n_dim: int, n_examples: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Draw ``(x, y, teacher)``: float64 ``(P, N)`` Gaussian inputs, float64 labels in {-1, +1}
    ``y = sign(teacher . x)``, and the float64 ``(N,)`` Gaussian teacher (data_pruning, Sec. 2)."""
    n_dim = check_int(n_dim, "n_dim")
    n_examples = check_int(n_examples, "n_examples")
    seed = check_int(seed, "seed", minimum=0)
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
    seed = check_int(seed, "seed", minimum=0)
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


def canonical_teacher(n_dim: int) -> torch.Tensor:
    """The teacher ``e_1`` (float64, ``(n_dim,)``) of ``teacher_projections`` / ``complete_inputs``."""
    n_dim = check_int(n_dim, "n_dim", minimum=2)
    t = torch.zeros(n_dim, dtype=torch.float64)
    t[0] = 1.0
    return t


def teacher_projections(n_examples: int, seed: int) -> torch.Tensor:
    """Float64 ``(P, 2)``: the coordinates of ``P`` standard Gaussian inputs along the teacher ``e_1``
    (column 0; the label is its sign) and along ``e_2`` (column 1), the first step of a two-step
    draw of ``teacher_student`` data (module docstring)."""
    n_examples = check_int(n_examples, "n_examples")
    seed = check_int(seed, "seed", minimum=0)
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n_examples, 2, generator=g, dtype=torch.float64)


def plane_probe_margins(proj: torch.Tensor, theta: float) -> torch.Tensor:
    """``|x . J|`` for the unit probe ``J = cos(theta) e_1 + sin(theta) e_2`` at angle ``theta``
    (radians, in [0, pi]) to the teacher ``e_1``, from ``teacher_projections``'s ``(P, 2)`` output."""
    if not isinstance(proj, torch.Tensor) or proj.dim() != 2 or proj.shape[1] != 2:
        raise ValueError(f"proj must be a (P, 2) tensor from teacher_projections, got {proj!r:.80}")
    check_finite(proj, "proj")
    theta = float(theta)
    if not (0.0 <= theta <= math.pi):
        raise ValueError(f"theta must be an angle in radians in [0, pi], got {theta!r}")
    p = proj.to(torch.float64)
    return (math.cos(theta) * p[:, 0] + math.sin(theta) * p[:, 1]).abs()


def complete_inputs(proj: torch.Tensor, idx: torch.Tensor, n_dim: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The full inputs and labels of the examples ``idx`` (the second step of the two-step draw).

    Row ``i`` of the result is ``(proj[idx[i], 0], proj[idx[i], 1], g_i)`` with ``g_i`` standard
    Gaussian in the other ``n_dim - 2`` coordinates (drawn in the order of ``idx`` from ``seed``), and
    the label ``sign(proj[idx[i], 0])``. ``idx`` must hold unique indices; call it once with the union
    of every subset a rule keeps, so that subsets of one dataset share their examples.
    Returns float64 ``(len(idx), n_dim)`` inputs and ``(len(idx),)`` labels in {-1, +1}.
    """
    if not isinstance(proj, torch.Tensor) or proj.dim() != 2 or proj.shape[1] != 2:
        raise ValueError(f"proj must be a (P, 2) tensor from teacher_projections, got {proj!r:.80}")
    n_dim = check_int(n_dim, "n_dim", minimum=2)
    seed = check_int(seed, "seed", minimum=0)
    idx = torch.as_tensor(idx, dtype=torch.int64)
    if idx.dim() != 1 or idx.numel() == 0:
        raise ValueError(f"idx must be a non-empty 1-D index tensor, got shape {tuple(idx.shape)}")
    if int(idx.min()) < 0 or int(idx.max()) >= proj.shape[0]:
        raise ValueError(f"idx must lie in [0, {proj.shape[0]}), got [{int(idx.min())}, {int(idx.max())}]")
    if torch.unique(idx).numel() != idx.numel():
        raise ValueError("idx must hold unique indices")
    g = torch.Generator().manual_seed(seed)
    rest = torch.randn(idx.numel(), n_dim - 2, generator=g, dtype=torch.float64)
    head = proj[idx].to(torch.float64)
    x = torch.cat([head, rest], dim=1)
    y = torch.where(head[:, 0] >= 0, 1.0, -1.0).to(torch.float64)
    return x, y
