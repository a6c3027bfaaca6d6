"""Spherical-family classification losses, the Z-loss first (paper slug ``z_loss``).

de Brébisson & Vincent, "The Z-loss: a shift and scale invariant classification loss belonging to
the Spherical Family", arXiv:1604.08859 (2016). Official code (Theano): ``pascal20100/
factored_output_layer`` (``example/timing_example.py``).

**Name clash.** The *Z-loss* here is the classification loss of de Brébisson & Vincent. It is
unrelated to the "z-loss" of PaLM / T5X / OLMo, an auxiliary ``1e-4 * log(Z)**2`` regulariser of the
softmax log-partition of large language models; that is why the class is called
``SphericalZLoss`` and not ``ZLoss``.

The spherical family (Vincent, de Brébisson & Bouthillier, NeurIPS 2015). For pre-activations
``o`` in R^D (the output layer ``o = W h + b``) and target class ``c``, a loss is *spherical* when
it depends on ``o`` only through

    o_c,   s = sum_k o_k,   q = sum_k o_k^2 .

With ``o = W h`` those are ``o_c = w_c . h``, ``s = h . (sum_k w_k)`` and ``q = h^T (W^T W) h``:
once ``sum_k w_k`` and ``W^T W`` are kept, loss and gradient with respect to ``h`` cost O(d^2) per
example whatever the number of classes D (:class:`FactoredStats`). Every loss of this module is
spherical; the log-softmax (cross-entropy) is not (it needs all D exponentials).

Conventions shared by the functions below: ``logits`` is a float tensor (B, D) with D >= 2
classes, ``targets`` int64 (B,) in ``0..D-1``; ``reduction`` is ``"mean"`` (default: mean over the
batch), ``"sum"`` or ``"none"`` (per example, shape (B,)).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..distances.base import full_precision
from ..validation import check_embeddings, check_finite, check_labels, check_number, check_positive

__all__ = [
    "zscore_target",
    "zloss",
    "zloss_from_stats",
    "zloss_grad",
    "SphericalZLoss",
    "taylor_softmax_nll",
    "spherical_softmax_nll",
    "onehot_mse",
    "TaylorSoftmaxLoss",
    "SphericalSoftmaxLoss",
    "OneHotMSELoss",
    "FactoredStats",
]

_REDUCTIONS = ("mean", "sum", "none")


# ---------------------------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------------------------


def _check_reduction(reduction) -> str:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    return reduction


def _reduce(per_example: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return per_example.mean()
    if reduction == "sum":
        return per_example.sum()
    return per_example


_check_real = check_number


def _check_logits_targets(logits, targets) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, D) float logits with D >= 2 and (B,) integer targets in 0..D-1; half-precision logits are
    returned in float32 (o^2 overflows float16 past |o| = 256, and the Z-loss's variance of logits
    spread beyond ~250 is Inf in float16: sigma = Inf, z = 0, a constant loss with zero gradient)."""
    check_embeddings(logits, "logits")
    check_labels(targets, logits.shape[0], "targets")
    n_classes = logits.shape[1]
    if n_classes < 2:
        raise ValueError(
            f"logits must have at least 2 classes (columns): a loss on one class is constant, got shape "
            f"{tuple(logits.shape)}"
        )
    lo, hi = int(targets.min()), int(targets.max())
    if lo < 0 or hi >= n_classes:
        raise ValueError(f"targets must lie in [0, {n_classes - 1}] (the logits have {n_classes} columns), "
                         f"got values in [{lo}, {hi}]")
    return full_precision(logits), targets.long()


def _check_not_constant(logits: torch.Tensor) -> None:
    """The z-score of a tie is 0/0: refuse rows whose D outputs are all equal (sigma = 0)."""
    constant = logits.amax(dim=1) == logits.amin(dim=1)
    if bool(constant.any()):
        rows = constant.nonzero().flatten().tolist()
        shown = rows[:5] + (["..."] if len(rows) > 5 else [])
        raise ValueError(
            "the Z-loss standardises each row of logits by its standard deviation, so it needs rows whose "
            f"outputs are not all equal (std > 0); got {len(rows)} constant row(s) {shown}. A zero-initialised "
            "output layer gives such rows: initialise it randomly (torch's nn.Linear default is fine)."
        )


# ---------------------------------------------------------------------------------------------
# the Z-loss
# ---------------------------------------------------------------------------------------------


def zscore_target(logits: torch.Tensor, targets: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Z-normalised target score ``z_c = (o_c - mu) / (sigma + eps)`` of each row (z_loss, Sec. 3).

    ``mu = (1/D) sum_k o_k`` and ``sigma`` the **population** standard deviation
    ``sqrt((1/D) sum_k (o_k - mu)^2)`` (the official code's ``sqrt(q/n - mu^2)`` with ``n = D``,
    computed here from centred values, which is exact for near-constant rows). ``eps = 1e-12`` is
    the official code's guard on sigma. ``z_c <= sqrt(D - 1)``, with equality for a one-hot spike
    on the target. Invariant to ``o -> alpha * o + beta`` for ``alpha > 0`` (``alpha < 0`` flips the
    sign). Rows whose outputs are all equal (sigma = 0, where z_c is 0/0) raise ``ValueError``.
    Returns (B,).
    """
    logits, targets = _check_logits_targets(logits, targets)
    eps = check_positive(eps, "eps", allow_zero=True)
    _check_not_constant(logits)
    mu = logits.mean(dim=1, keepdim=True)
    centred = logits - mu
    var = centred.pow(2).mean(dim=1).clamp_min(torch.finfo(logits.dtype).tiny)
    sigma = var.sqrt()
    return centred.gather(1, targets[:, None]).squeeze(1) / (sigma + eps)


def _softplus_a(t: torch.Tensor, a: float) -> torch.Tensor:
    """(1/a) log(1 + exp(t)), exact and stable for every t (gradient sigmoid(t)/a, also at t = 0)."""
    return torch.logaddexp(torch.zeros_like(t), t) / a


def zloss(logits: torch.Tensor, targets: torch.Tensor, a: float = 1.0, b: float = 0.0, eps: float = 1e-12,
          reduction: str = "mean") -> torch.Tensor:
    """Z-loss of de Brébisson & Vincent (z_loss, eq. of Sec. 3):

        L_Z(o, c) = (1/a) softplus(a (b - z_c)) = (1/a) log(1 + exp(a (b - z_c))),

    ``z_c`` from :func:`zscore_target`. ``a > 0`` is the sharpness (``a -> inf`` gives the hinge
    ``max(0, b - z_c)``), ``b`` the location (a target score above ``b`` standard deviations costs
    almost nothing). Since ``z_c <= sqrt(D - 1)``, ``b`` should stay below ``sqrt(D - 1)``.

    Defaults: ``a = 1, b = 0, eps = 1e-12`` are the official Theano example's
    (``softplus((mu - o_c) / (sigma + 1e-12))``); the paper tunes ``a, b`` per task by validation. The
    official example *sums* over the batch; the default reduction here is the batch mean.
    Constant rows (sigma = 0) raise ``ValueError`` (see :func:`zscore_target`).
    """
    a = check_positive(a, "a")
    b = _check_real(b, "b")
    reduction = _check_reduction(reduction)
    z = zscore_target(logits, targets, eps)
    return _reduce(_softplus_a(a * (b - z), a), reduction)


def zloss_from_stats(o_c: torch.Tensor, s: torch.Tensor, q: torch.Tensor, num_classes: int, a: float = 1.0,
                     b: float = 0.0, eps: float = 1e-12, reduction: str = "mean") -> torch.Tensor:
    """The Z-loss from the spherical-family statistics (z_loss, Sec. 2-3): target output ``o_c``,
    ``s = sum_k o_k`` and ``q = sum_k o_k^2`` (each (B,)), ``D = num_classes``:

        mu = s / D,  sigma = sqrt(q / D - mu^2),  z_c = (o_c - mu) / (sigma + eps).

    Same value as :func:`zloss` on the full logits (up to the cancellation in ``q/D - mu^2``, which
    is the official code's formula; prefer float64 when the outputs are nearly constant). Rows with
    ``q/D - mu^2 <= 0`` (constant outputs) raise ``ValueError``. Differentiable in ``(o_c, s, q)``,
    so the gradient with respect to the hidden layer flows through :class:`FactoredStats`.
    """
    for name, t in (("o_c", o_c), ("s", s), ("q", q)):
        if not isinstance(t, torch.Tensor) or not t.is_floating_point() or t.dim() != 1:
            got = f"shape {tuple(t.shape)}, dtype {t.dtype}" if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f"{name} must be a 1-D float tensor (B,), got {got}")
        check_finite(t, name)
    if not (o_c.shape == s.shape == q.shape):
        raise ValueError(f"o_c, s and q must have the same shape (B,), got {tuple(o_c.shape)}, "
                         f"{tuple(s.shape)}, {tuple(q.shape)}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
    a = check_positive(a, "a")
    b = _check_real(b, "b")
    eps = check_positive(eps, "eps", allow_zero=True)
    reduction = _check_reduction(reduction)
    mu = s / num_classes
    var = q / num_classes - mu * mu
    if bool((var <= 0).any()):
        raise ValueError(f"q/D - (s/D)^2 (the variance of the outputs) must be > 0, got {int((var <= 0).sum())} "
                         "row(s) with variance <= 0 (constant outputs, or q inconsistent with s)")
    z = (o_c - mu) / (var.sqrt() + eps)
    return _reduce(_softplus_a(a * (b - z), a), reduction)


@torch.no_grad()
def zloss_grad(logits: torch.Tensor, targets: torch.Tensor, a: float = 1.0, b: float = 0.0) -> torch.Tensor:
    """Closed-form gradient of the per-example Z-loss (``eps = 0``) with respect to the logits (z_loss,
    Sec. 3), shape (B, D):

        dL/do_k = -(1/sigma) sigmoid(a (b - z_c)) (delta_kc - 1/D - z_c z_k / D),

    with ``z_k = (o_k - mu) / sigma``. It sums to 0 over k (shift invariance) and is orthogonal to
    ``o - mu`` (scale invariance). Divide by B for ``reduction="mean"``.
    """
    a = check_positive(a, "a")
    b = _check_real(b, "b")
    logits, targets = _check_logits_targets(logits, targets)
    _check_not_constant(logits)
    n_classes = logits.shape[1]
    centred = logits - logits.mean(dim=1, keepdim=True)
    sigma = centred.pow(2).mean(dim=1, keepdim=True).sqrt()
    z = centred / sigma
    z_c = z.gather(1, targets[:, None])
    onehot = F.one_hot(targets, n_classes).to(logits.dtype)
    return -(torch.sigmoid(a * (b - z_c)) / sigma) * (onehot - 1.0 / n_classes - z_c * z / n_classes)


class SphericalZLoss(nn.Module):
    """The Z-loss of de Brébisson & Vincent (arXiv:1604.08859) as a module: ``forward(logits, targets)``.

    ``L = (1/a) softplus(a (b - z_c))`` with ``z_c`` the target output standardised by the mean and
    population std of the row (see :func:`zloss`). Not the PaLM / T5X "z-loss" log-partition
    regulariser (unrelated; hence the name).

    Args: ``a > 0`` sharpness, ``b`` location (defaults 1 and 0 as in the official example; the paper
    tunes both per task), ``eps = 1e-12`` added to sigma (official), ``reduction`` ``"mean"``
    (default; the official example sums), ``"sum"`` or ``"none"``. Constant rows raise ``ValueError``.
    """

    def __init__(self, a: float = 1.0, b: float = 0.0, eps: float = 1e-12, reduction: str = "mean"):
        super().__init__()
        self.a = check_positive(a, "a")
        self.b = _check_real(b, "b")
        self.eps = check_positive(eps, "eps", allow_zero=True)
        self.reduction = _check_reduction(reduction)

    @classmethod
    def relative(cls, num_classes: int, a: float = 1.0, b_fraction: float = 0.0, **kwargs) -> "SphericalZLoss":
        """``b = b_fraction * sqrt(D - 1)``: the location as a fraction of the largest possible z_c."""
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
        return cls(a=a, b=_check_real(b_fraction, "b_fraction") * (num_classes - 1) ** 0.5, **kwargs)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return zloss(logits, targets, self.a, self.b, self.eps, self.reduction)

    def extra_repr(self) -> str:
        return f"a={self.a:g}, b={self.b:g}, eps={self.eps:g}, reduction={self.reduction!r}"


# ---------------------------------------------------------------------------------------------
# the other spherical losses the paper compares with
# ---------------------------------------------------------------------------------------------


def taylor_softmax_nll(logits: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Log-Taylor-softmax loss (z_loss, Sec. 2, after Vincent et al. 2015 / de Brébisson & Vincent,
    ICLR 2016): the second-order Taylor expansion of exp replaces it in the softmax,

        p_k = (1 + o_k + o_k^2 / 2) / sum_j (1 + o_j + o_j^2 / 2),   L = -log p_c .

    ``1 + o + o^2/2 >= 1/2``, so p is always a distribution. Spherical: the denominator is
    ``D + s + q / 2``.
    """
    logits, targets = _check_logits_targets(logits, targets)
    reduction = _check_reduction(reduction)
    f = 1.0 + logits + 0.5 * logits * logits
    return _reduce(f.sum(dim=1).log() - f.gather(1, targets[:, None]).squeeze(1).log(), reduction)


def spherical_softmax_nll(logits: torch.Tensor, targets: torch.Tensor, eps: float = 1e-4,
                          reduction: str = "mean") -> torch.Tensor:
    """Log-spherical-softmax loss (z_loss, Sec. 2; Vincent et al. 2015):

        p_k = (o_k^2 + eps) / sum_j (o_j^2 + eps),   L = -log p_c ,

    ``eps = 1e-4`` keeps ``log p_c`` finite at ``o_c = 0``. Spherical: the denominator is
    ``q + D eps``. Invariant to scaling only up to eps, not to shifts.
    """
    logits, targets = _check_logits_targets(logits, targets)
    eps = check_positive(eps, "eps")
    reduction = _check_reduction(reduction)
    f = logits * logits + eps
    return _reduce(f.sum(dim=1).log() - f.gather(1, targets[:, None]).squeeze(1).log(), reduction)


def onehot_mse(logits: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Squared error to the one-hot target (z_loss, Sec. 2): ``L = sum_k (o_k - delta_kc)^2``, summed
    over the D classes (mean over the batch by default). Spherical: ``L = q - 2 o_c + 1``.
    """
    logits, targets = _check_logits_targets(logits, targets)
    reduction = _check_reduction(reduction)
    o_c = logits.gather(1, targets[:, None]).squeeze(1)
    return _reduce(logits.pow(2).sum(dim=1) - 2.0 * o_c + 1.0, reduction)


class TaylorSoftmaxLoss(nn.Module):
    """Module form of :func:`taylor_softmax_nll` (log-Taylor-softmax, z_loss Sec. 2)."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = _check_reduction(reduction)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return taylor_softmax_nll(logits, targets, self.reduction)

    @staticmethod
    def class_scores(logits: torch.Tensor) -> torch.Tensor:
        """What the model's distribution ranks classes by: ``1 + o + o^2/2`` (not monotone in o below -1)."""
        return 1.0 + logits + 0.5 * logits * logits


class SphericalSoftmaxLoss(nn.Module):
    """Module form of :func:`spherical_softmax_nll` (log-spherical-softmax, z_loss Sec. 2)."""

    def __init__(self, eps: float = 1e-4, reduction: str = "mean"):
        super().__init__()
        self.eps = check_positive(eps, "eps")
        self.reduction = _check_reduction(reduction)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return spherical_softmax_nll(logits, targets, self.eps, self.reduction)

    def class_scores(self, logits: torch.Tensor) -> torch.Tensor:
        """What the model's distribution ranks classes by: ``o^2 + eps`` (a large negative o is likely)."""
        return logits * logits + self.eps


class OneHotMSELoss(nn.Module):
    """Module form of :func:`onehot_mse` (squared error to the one-hot target, z_loss Sec. 2)."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = _check_reduction(reduction)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return onehot_mse(logits, targets, self.reduction)


# ---------------------------------------------------------------------------------------------
# the factored statistics
# ---------------------------------------------------------------------------------------------


class FactoredStats:
    """The spherical-family bookkeeping of Vincent et al. (2015) for a linear output layer
    ``o = W h + bias`` (z_loss, Sec. 2): keeps ``w_bar = sum_k w_k`` (d,) and ``Q = W^T W`` (d, d), so

        o_c = w_c . h + bias_c,   s = w_bar . h + sum(bias),
        q = h^T Q h + 2 h . (W^T bias) + bias . bias

    cost O(d^2) per example instead of the O(D d) of computing all D outputs.

    It is a **snapshot** of ``W``: building it costs O(D d^2); when ``W`` changes it must be rebuilt.
    The paper's speed-up also needs the factored *weight update* that keeps ``W`` implicit and ``Q``
    up to date in O(d^2) per example (the official C++/Theano op); that part is not implemented here,
    so gradients flow to ``h`` only (``weight`` and ``bias`` are detached).
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None = None):
        check_embeddings(weight, "weight")
        if weight.shape[0] < 2:
            raise ValueError(f"weight must have at least 2 rows (classes), got shape {tuple(weight.shape)}")
        w = weight.detach()
        self.num_classes, self.dim = w.shape
        if bias is not None:
            if not isinstance(bias, torch.Tensor) or bias.shape != (self.num_classes,):
                got = tuple(bias.shape) if isinstance(bias, torch.Tensor) else type(bias).__name__
                raise ValueError(f"bias must be a tensor of shape ({self.num_classes},), got {got}")
            check_finite(bias, "bias")
            bias = bias.detach().to(w.dtype)
        self.weight = w
        self.bias = bias
        self.w_bar = w.sum(dim=0)
        self.Q = w.T @ w
        if bias is not None:
            self.w_bias = w.T @ bias
            self.bias_sum = bias.sum()
            self.bias_sq = bias @ bias

    @classmethod
    def from_linear(cls, layer: nn.Linear) -> "FactoredStats":
        """Stats of an ``nn.Linear(d, D)`` output layer (its weight is (D, d))."""
        if not isinstance(layer, nn.Linear):
            raise ValueError(f"layer must be a torch.nn.Linear, got {type(layer).__name__}")
        return cls(layer.weight, layer.bias)

    def stats(self, h: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(o_c, s, q)``, each (B,), for hidden states ``h`` (B, d) and targets (B,), in O(B d^2)."""
        check_embeddings(h, "h")
        if h.shape[1] != self.dim:
            raise ValueError(f"h must have {self.dim} columns (the layer's input size), got shape {tuple(h.shape)}")
        check_labels(targets, h.shape[0], "targets")
        if int(targets.min()) < 0 or int(targets.max()) >= self.num_classes:
            raise ValueError(f"targets must lie in [0, {self.num_classes - 1}], got values in "
                             f"[{int(targets.min())}, {int(targets.max())}]")
        w = self.weight.to(h.dtype)
        o_c = (h * w[targets]).sum(dim=1)
        s = h @ self.w_bar.to(h.dtype)
        q = ((h @ self.Q.to(h.dtype)) * h).sum(dim=1)
        if self.bias is not None:
            o_c = o_c + self.bias.to(h.dtype)[targets]
            s = s + self.bias_sum.to(h.dtype)
            q = q + 2.0 * (h @ self.w_bias.to(h.dtype)) + self.bias_sq.to(h.dtype)
        return o_c, s, q
