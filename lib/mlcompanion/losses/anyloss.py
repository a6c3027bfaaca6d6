"""AnyLoss: confusion-matrix metrics as differentiable losses (paper ``anyloss``).

Han, Moniz & Chawla, "AnyLoss: Transforming Classification Metrics into Loss Functions",
arXiv:2405.14745 (2024). Official code (TensorFlow/Keras notebooks): ``doheonhan/anyloss`` (the
2024 paper) and ``doheonhan/anyloss_extension`` (later extension work).

Binary classification with a network that outputs a probability ``p = sigmoid(z)`` of the positive
class. The method has three steps, each a function here:

1. the **amplifying (approximation) function** (paper Sec. 3.1)
   ``A(p) = 1 / (1 + exp(-L (p - 1/2)))``, which pushes ``p`` towards 0 or 1 (``amplify``);
2. the **soft confusion matrix** (Sec. 3.2) over the batch, with ``ŷ = A(p)`` and labels y in {0, 1}:
   ``TP = Σ y ŷ``, ``FN = Σ y − TP``, ``FP = Σ ŷ − TP``, ``TN = N − Σ y − Σ ŷ + TP``
   (``soft_confusion``);
3. **loss = 1 − metric** of that matrix (Sec. 3.2-3.3; ``soft_metric``, ``AnyLoss``):
   accuracy ``(TP + TN) / N``; F_β ``(1 + β²) TP / (β² y1 + Σ ŷ)``; G-mean
   ``sqrt(TP TN / (y1 y0))``; balanced accuracy ``(y0 TP + y1 TN) / (2 y1 y0)``
   (``y1 = Σ y``, ``y0 = N − y1``).

Defaults and where the official code differs (documented, not hidden):

- ``L = 73``: the original notebooks. The extension README says "L in [2, 70]" and its 102-dataset
  notebook uses L = 30.
- ``eps = 1e-5`` is added to the F_β, G-mean and balanced-accuracy denominators, as in the
  extension code; the original notebooks add none (``eps=0`` reproduces them, including the 0/0
  of a batch without positives). With ``eps > 0`` the G-mean square root is taken of
  ``max(x, eps²)`` so its gradient stays finite when TP or TN is exactly 0.
- G-mean keeps the square root (original ``Ours_Gmean``); the extension drops it
  (``gmean_sqrt=False``).
- ``N`` is the batch size. The original Keras snippets for accuracy, G-mean and balanced accuracy
  use the size of the whole training set (``y_train.shape[0]``) even with mini-batches; the
  extension code and the paper's equations use the number of samples the matrix is built on.
- The inputs are probabilities, as the paper describes. (The official "Valid L" Keras MLP ends in
  ``Dense(1)`` without a sigmoid, so there A acts on a raw linear output.)
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from ..validation import check_finite, check_positive

__all__ = ["METRICS", "SoftConfusion", "amplify", "soft_confusion", "soft_metric", "AnyLoss", "weighted_bce"]

METRICS = ("accuracy", "f1", "fbeta", "balanced_accuracy", "gmean")


class SoftConfusion(NamedTuple):
    """The four cells of the (soft) confusion matrix, each a 0-d tensor."""

    tp: torch.Tensor
    fn: torch.Tensor
    fp: torch.Tensor
    tn: torch.Tensor


def _describe(x) -> str:
    if isinstance(x, torch.Tensor):
        return f"tensor of shape {tuple(x.shape)} and dtype {x.dtype}"
    return type(x).__name__


def _check_L(L) -> float | None:
    if L is None:
        return None
    return check_positive(L, "L")


def _check_probabilities(p, name: str = "p") -> torch.Tensor:
    """A floating tensor of shape (n,) or (n, 1), n >= 1, finite, in [0, 1]; returned as (n,)."""
    if not isinstance(p, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of probabilities with shape (n,), got {_describe(p)}")
    if not p.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor of probabilities, got {_describe(p)}")
    if not (p.dim() == 1 or (p.dim() == 2 and p.shape[1] == 1)):
        raise ValueError(f"{name} must have shape (n,) or (n, 1), got {_describe(p)}")
    if p.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one probability, got {_describe(p)}")
    check_finite(p, name)
    lo, hi = float(p.detach().min()), float(p.detach().max())
    if lo < 0 or hi > 1:
        raise ValueError(f"{name} must hold probabilities in [0, 1] (apply a sigmoid to logits first), "
                         f"got values in [{lo:.4g}, {hi:.4g}]")
    return p.reshape(-1)


def _check_binary_labels(y, p: torch.Tensor, p_shape, name: str = "y") -> torch.Tensor:
    """Labels in {0, 1} (bool, integer or float) with one entry per probability; returned in p's dtype."""
    if not isinstance(y, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of 0/1 labels with shape {tuple(p_shape)}, "
                         f"got {_describe(y)}")
    if y.is_complex():
        raise ValueError(f"{name} must hold real 0/1 labels, got {_describe(y)}")
    if y.reshape(-1).shape[0] != p.shape[0] or not (y.dim() == 1 or (y.dim() == 2 and y.shape[1] == 1)):
        raise ValueError(f"{name} must have one label per probability: p has shape {tuple(p_shape)}, "
                         f"{name} has shape {tuple(y.shape)}")
    y = y.reshape(-1)
    if y.is_floating_point():
        check_finite(y, name)
    bad = (y != 0) & (y != 1)
    if bool(bad.any()):
        values = sorted({float(v) for v in torch.unique(y).tolist()})
        raise ValueError(f"{name} must hold binary labels 0/1 (positive class = 1), got values {values[:10]}")
    return y.to(device=p.device, dtype=p.dtype)


def amplify(p: torch.Tensor, L: float = 73.0) -> torch.Tensor:
    """The amplifying approximation ``A(p) = 1 / (1 + exp(-L (p - 0.5)))`` (paper ``anyloss``, Sec. 3.1).

    Maps a probability towards 0 (p < 0.5) or 1 (p > 0.5) without reaching them, so the soft
    confusion matrix is close to the hard one at threshold 0.5 yet differentiable. Its derivative
    ``L A (1 − A)`` is what the paper's chain rule multiplies into ``∂p/∂z = p (1 − p)``.

    Args:
        p: probabilities in [0, 1], any shape (checked finite and in range).
        L: amplification scale > 0 (paper default 73; the extension suggests 2-70, its tabular
            notebook 30).
    """
    if not isinstance(p, torch.Tensor) or not p.is_floating_point():
        raise ValueError(f"p must be a floating-point torch.Tensor of probabilities, got {_describe(p)}")
    check_finite(p, "p")
    if p.numel():
        lo, hi = float(p.detach().min()), float(p.detach().max())
        if lo < 0 or hi > 1:
            raise ValueError(f"p must hold probabilities in [0, 1], got values in [{lo:.4g}, {hi:.4g}]")
    L = check_positive(L, "L")
    return torch.sigmoid(L * (p - 0.5))


def soft_confusion(p: torch.Tensor, y: torch.Tensor, L: float | None = 73.0) -> SoftConfusion:
    """The soft confusion matrix ``(TP, FN, FP, TN)`` of a batch (paper ``anyloss``, Sec. 3.2).

    With ``ŷ = A(p)`` (``amplify``; ``L=None`` uses ``ŷ = p`` unamplified) and labels y in {0, 1}:
    ``TP = Σ y ŷ``, ``FN = Σ y − TP``, ``FP = Σ ŷ − TP``, ``TN = N − Σ y − Σ ŷ + TP``.
    The four cells add up to the batch size N exactly. For large L and p away from 0.5 they tend
    to the hard confusion matrix at threshold 0.5.

    Args:
        p: probabilities of the positive class, shape (n,) or (n, 1).
        y: labels 0/1 (bool, integer or float), one per probability.
        L: amplification scale > 0, or None for no amplification.
    """
    p_shape = p.shape if isinstance(p, torch.Tensor) else None
    p = _check_probabilities(p)
    y = _check_binary_labels(y, p, p_shape)
    L = _check_L(L)
    y_hat = p if L is None else torch.sigmoid(L * (p - 0.5))
    n = p.shape[0]
    tp = (y * y_hat).sum()
    sum_y, sum_hat = y.sum(), y_hat.sum()
    return SoftConfusion(tp=tp, fn=sum_y - tp, fp=sum_hat - tp, tn=n - sum_y - sum_hat + tp)


def soft_metric(
    p: torch.Tensor,
    y: torch.Tensor,
    metric: str = "f1",
    L: float | None = 73.0,
    beta: float = 1.0,
    eps: float = 1e-5,
    gmean_sqrt: bool = True,
) -> torch.Tensor:
    """A confusion-matrix metric of the soft confusion matrix (paper ``anyloss``, Sec. 3.2-3.3).

    ``metric`` is one of ``METRICS``:

    - ``"accuracy"``: ``(TP + TN) / N``
    - ``"f1"`` / ``"fbeta"``: ``(1 + β²) TP / (β² y1 + Σ ŷ + eps)`` (``"f1"`` requires β = 1)
    - ``"gmean"``: ``sqrt(TP TN / (y1 y0 + eps))`` (``gmean_sqrt=False``: without the root, as the extension)
    - ``"balanced_accuracy"``: ``(y0 TP + y1 TN) / (2 y1 y0 + eps)``

    ``y1 = Σ y`` and ``y0 = N − y1``. See ``soft_confusion`` for ``p``, ``y`` and ``L``, and the
    module docstring for ``eps`` (0 reproduces the original notebooks). A batch without positives
    (or negatives) gives a finite value with a finite gradient when ``eps > 0``.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    beta = check_positive(beta, "beta")
    if metric == "f1" and beta != 1.0:
        raise ValueError(f"metric 'f1' means beta = 1; use metric='fbeta' for beta = {beta}")
    eps = check_positive(eps, "eps", allow_zero=True)
    if not isinstance(gmean_sqrt, bool):
        raise ValueError(f"gmean_sqrt must be a bool, got {gmean_sqrt!r}")
    tp, fn, fp, tn = soft_confusion(p, y, L)
    y1 = tp + fn
    n = tp + fn + fp + tn
    y0 = n - y1
    if metric == "accuracy":
        return (tp + tn) / n
    if metric in ("f1", "fbeta"):
        b2 = beta * beta
        return (1 + b2) * tp / (b2 * y1 + tp + fp + eps)
    if metric == "balanced_accuracy":
        return (y0 * tp + y1 * tn) / (2 * y1 * y0 + eps)
    ratio = tp * tn / (y1 * y0 + eps)
    if not gmean_sqrt:
        return ratio
    return torch.sqrt(ratio.clamp_min(eps * eps)) if eps > 0 else torch.sqrt(ratio)


class AnyLoss(nn.Module):
    """``1 − soft_metric(p, y)``: a confusion-matrix metric as a loss (paper ``anyloss``, Sec. 3).

    ``forward(p, y)`` takes probabilities of the positive class (shape (n,) or (n, 1); apply the
    sigmoid first) and 0/1 labels, and returns a 0-d tensor in [0, 1] (up to ``eps``).

    Args:
        metric: ``"accuracy"``, ``"f1"``, ``"fbeta"``, ``"balanced_accuracy"`` or ``"gmean"``.
        L: amplification scale (paper default 73; None disables amplification).
        beta: β of F_β (``"fbeta"`` only; ``"f1"`` is β = 1).
        eps: denominator stabiliser (extension code 1e-5; 0 = original notebooks).
        gmean_sqrt: keep the G-mean square root (original) or drop it (extension).
    """

    def __init__(self, metric: str = "f1", L: float | None = 73.0, beta: float = 1.0, eps: float = 1e-5,
                 gmean_sqrt: bool = True):
        super().__init__()
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
        self.metric = metric
        self.L = _check_L(L)
        self.beta = check_positive(beta, "beta")
        if metric == "f1" and self.beta != 1.0:
            raise ValueError(f"metric 'f1' means beta = 1; use metric='fbeta' for beta = {beta}")
        self.eps = check_positive(eps, "eps", allow_zero=True)
        if not isinstance(gmean_sqrt, bool):
            raise ValueError(f"gmean_sqrt must be a bool, got {gmean_sqrt!r}")
        self.gmean_sqrt = gmean_sqrt

    def forward(self, p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return 1 - soft_metric(p, y, self.metric, L=self.L, beta=self.beta, eps=self.eps, gmean_sqrt=self.gmean_sqrt)

    def extra_repr(self) -> str:
        beta = f", beta={self.beta}" if self.metric == "fbeta" else ""
        return f"metric={self.metric!r}, L={self.L}{beta}, eps={self.eps}"


def weighted_bce(p: torch.Tensor, y: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Class-weighted binary cross-entropy, the WBCE baseline of paper ``anyloss`` (official code).

    ``−mean(w1 y log(p + eps) + w0 (1 − y) log(1 − p + eps))`` with batch-level weights
    ``w1 = y0 / N`` and ``w0 = y1 / N``: each class's total weight is proportional to the size of
    the *other* class, so both classes pull equally. ``eps`` inside the logs is the official
    stabiliser ``s = 1e-5``.
    """
    p_shape = p.shape if isinstance(p, torch.Tensor) else None
    p = _check_probabilities(p)
    y = _check_binary_labels(y, p, p_shape)
    eps = check_positive(eps, "eps", allow_zero=True)
    n = p.shape[0]
    y1 = y.sum()
    w1, w0 = (n - y1) / n, y1 / n
    return -(w1 * y * torch.log(p + eps) + w0 * (1 - y) * torch.log(1 - p + eps)).mean()

