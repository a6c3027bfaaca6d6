"""Centre-based losses for semi-supervised anomaly detection, and the distance rule they use.

Paper ``cdcm``: Zhang, Abdeen & Lang, "A Novel Center-based Deep Contrastive Metric Learning Method
for the Detection of Polymicrogyria in Pediatric Brain MRI" (arXiv 2211.12565, 2022; CMIG 2024).
Official code (TensorFlow): ``RichardChangCA/Deep-Contrastive-Metric-Learning-Method-to-Detect-
Polymicrogyria-in-Pediatric-Brain-MRI``, ``compute_loss`` in ``Modified_CIFAR_10/cifar10_metric_loss.py``.

Setting: embeddings ``z = f(x)`` in R^D, **not normalised**, a fixed centre ``c`` (all ones in the
paper, never trained), labels ``y = 0`` normal / ``y = 1`` abnormal, ``d_i = ||z_i - c||_2``.

* :class:`CDCMLoss`  (cDCM loss)
  ``L = mean_{i: y=0} d_i + theta * [ mean_{i: y=1} max(0, m - d_i) + mean_{i: y=1} sigmoid(m - d_i) ]``
* :class:`DeepSADLoss` (the paper's Deep SAD baseline, Ruff et al. 2020, as in the official
  ``cifar10_Deep_SAD_loss.py``)
  ``L = mean_i [ (1 - y_i) ||z_i - c||^2 + eta * y_i / (||z_i - c||^2 + eps) ]``
The paper's decision rule (abnormal iff ``d > m``) and its detection metrics live in
``mlcompanion.metrics.anomaly`` (``anomaly_rule``, ``detection_metrics``).

Conventions: a group (normals or abnormals) absent from the batch contributes exactly 0, still
connected to the autograd graph (the official code branches to 0 for a batch without abnormal
sample; with no normal sample its ``reduce_mean`` of an empty tensor would give NaN -- here 0).
"""

from __future__ import annotations

import torch
from torch import nn

from ..metrics.anomaly import anomaly_rule
from ..distances.base import full_precision, safe_sqrt
from ..validation import check_embeddings, check_finite, check_positive

__all__ = [
    "center_distance",
    "CDCMLoss",
    "DeepSADLoss",
]


def _check_binary_labels(labels, n: int, name: str = "labels") -> torch.Tensor:
    """Labels of shape (n,), integer or bool, with values in {0, 1}; returned as a bool mask (True = abnormal)."""
    if not isinstance(labels, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape ({n},) with 0 = normal, 1 = abnormal, "
                         f"got {type(labels).__name__}")
    if labels.is_floating_point() or labels.is_complex():
        raise ValueError(f"{name} must be an integer or bool tensor (0 = normal, 1 = abnormal), got dtype {labels.dtype}")
    if labels.dim() != 1 or labels.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},) (one per embedding), got shape {tuple(labels.shape)}")
    if labels.dtype != torch.bool:
        bad = (labels != 0) & (labels != 1)
        if bool(bad.any()):
            values = sorted({int(v) for v in labels[bad].unique().tolist()})
            raise ValueError(f"{name} must hold only 0 (normal) and 1 (abnormal), got value(s) {values}")
    return labels.bool()


def _make_center(center) -> torch.Tensor:
    """None -> 1.0 (broadcast to the all-ones vector 1_D); a number or a 1-D finite tensor otherwise."""
    if center is None:
        return torch.tensor(1.0)
    if isinstance(center, (int, float)) and not isinstance(center, bool):
        c = torch.tensor(float(center))
    elif isinstance(center, torch.Tensor) and center.dim() in (0, 1) and center.is_floating_point():
        c = center.detach().clone()
        if c.numel() == 0:
            raise ValueError("center must be non-empty, got a tensor of shape (0,)")
    else:
        got = f"tensor of shape {tuple(center.shape)} and dtype {center.dtype}" if isinstance(center, torch.Tensor) \
            else repr(center)
        raise ValueError(f"center must be None (all ones), a number, or a 1-D float tensor of shape (D,), got {got}")
    check_finite(c, "center")
    return c


def center_distance(z: torch.Tensor, center: torch.Tensor, eps: float = 1e-12, clamp_max: float | None = None):
    """Euclidean distance of each row of ``z`` to ``center`` (cdcm, the d_i of the cDCM equation).

    ``d_i = sqrt(sum_k (z_ik - c_k)^2 + eps)``. The official code takes ``sqrt`` of the plain sum,
    whose gradient is NaN at ``z = c``; the ``eps`` guard (1e-12 by default, so ``d`` differs by
    at most 1e-6) keeps it finite. ``clamp_max`` caps ``d`` from above (``min(d, clamp_max)``, its
    gradient 0 beyond), as the official PPMR ``*_without_NAN_*`` scripts do with 20.

    Args:
        z: (n, D) float embeddings. center: a scalar tensor (broadcast) or a (D,) tensor.
    Returns (n,) distances.
    """
    check_embeddings(z, "z")
    z = full_precision(z)  # (z - c)^2 summed overflows float16 for rows of norm ~256
    eps = check_positive(eps, "eps", allow_zero=True)
    if not isinstance(center, torch.Tensor):
        raise ValueError(f"center must be a scalar or (D,) tensor, got {type(center).__name__}")
    c = center.to(device=z.device, dtype=z.dtype)
    if c.dim() == 1 and c.shape[0] != z.shape[1]:
        raise ValueError(f"center has {c.shape[0]} entries but the embeddings have D = {z.shape[1]} dimensions")
    d = safe_sqrt(((z - c) ** 2).sum(dim=1).add(eps))  # eps = 0: the official formula, gradient 0 at z = c
    if clamp_max is not None:
        d = d.clamp(max=check_positive(clamp_max, "clamp_max"))
    return d


class CDCMLoss(nn.Module):
    """The center-based deep contrastive metric learning loss (cdcm, the paper's cDCM equation).

    ``L = (1/|N|) sum_{i in N} d_i + theta * [ (1/|A|) sum_{i in A} max(0, m - d_i)
                                              + (1/|A|) sum_{i in A} 1 / (1 + exp(d_i - m)) ]``

    with N the normal (y = 0) and A the abnormal (y = 1) samples of the batch and
    ``d_i = ||z_i - c||_2`` (:func:`center_distance`). The first term pulls normals to the centre
    (**un-squared** distance); the hinge pushes abnormals beyond the margin; the last term,
    ``sigmoid(m - d_i)``, keeps pushing them outward with a decaying force ("expansion").
    The reduction is per group -- mean over normals plus theta times the means over abnormals --
    not one batch mean. The decision rule that goes with it is ``d > m`` (:meth:`predict`).

    Defaults are the official code's: ``margin = 5``, ``theta = 5``, centre ``c = 1_D`` (a buffer,
    never a parameter). ``eps`` guards the gradient at ``z = c`` (see :func:`center_distance`);
    ``clamp_max=20`` reproduces the PPMR ``without_NAN`` variant (default None: no clamp, as in
    ``compute_loss`` of the CIFAR and SE-dilated-CNN scripts).
    """

    def __init__(self, margin: float = 5.0, theta: float = 5.0, center=None, eps: float = 1e-12,
                 clamp_max: float | None = None):
        super().__init__()
        self.margin = check_positive(margin, "margin")
        self.theta = check_positive(theta, "theta", allow_zero=True)
        self.eps = check_positive(eps, "eps", allow_zero=True)
        self.clamp_max = None if clamp_max is None else check_positive(clamp_max, "clamp_max")
        self.register_buffer("center", _make_center(center))

    def distance(self, z: torch.Tensor) -> torch.Tensor:
        """d_i = ||z_i - c|| for each row of ``z`` (n, D) -> (n,)."""
        return center_distance(z, self.center, self.eps, self.clamp_max)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The loss of a batch: ``z`` (n, D) embeddings, ``labels`` (n,) with 0 normal, 1 abnormal."""
        if isinstance(z, torch.Tensor) and z.dtype in (torch.float16, torch.bfloat16):
            z = z.float()
        d = self.distance(z)
        abnormal = _check_binary_labels(labels, d.shape[0]).to(d.device)
        normal = ~abnormal
        zero = d.sum() * 0.0  # an empty group gives 0, connected to the graph
        n_norm, n_abn = int(normal.sum()), int(abnormal.sum())
        pull = (d * normal).sum() / n_norm if n_norm else zero
        if n_abn:
            hinge = (torch.relu(self.margin - d) * abnormal).sum() / n_abn
            expansion = (torch.sigmoid(self.margin - d) * abnormal).sum() / n_abn
            push = hinge + expansion
        else:
            push = zero
        return pull + self.theta * push

    @torch.no_grad()
    def predict(self, z: torch.Tensor) -> torch.Tensor:
        """The paper's rule: True (abnormal) where ``d > margin``."""
        return anomaly_rule(self.distance(z), self.margin)

    def extra_repr(self) -> str:
        return f"margin={self.margin}, theta={self.theta}, eps={self.eps}, clamp_max={self.clamp_max}"


class DeepSADLoss(nn.Module):
    """Deep SAD loss with labelled anomalies (Ruff et al., ICLR 2020), the cdcm paper's baseline.

    ``L = (1/n) sum_i [ (1 - y_i) ||z_i - c||^2 + eta * y_i / (||z_i - c||^2 + eps) ]``

    As in the official ``cifar10_Deep_SAD_loss.py``: fixed centre ``c = 1_D`` (a buffer), eta = 1,
    eps = 1e-4, one mean over the whole batch (not per group). The anomaly score is the squared
    distance (:meth:`score`); the official code thresholds the distance at ``R``, the (1 - nu)
    quantile of the training normals' distances (nu = 0.05).
    (Ruff et al. also have no bias terms in the network to rule out the trivial solution ``z = c``;
    the official baseline keeps biases, and so does this reproduction.)
    """

    def __init__(self, center=None, eta: float = 1.0, eps: float = 1e-4):
        super().__init__()
        self.eta = check_positive(eta, "eta", allow_zero=True)
        self.eps = check_positive(eps, "eps")
        self.register_buffer("center", _make_center(center))

    def score(self, z: torch.Tensor) -> torch.Tensor:
        """Anomaly score ``||z_i - c||^2`` for each row of ``z`` (n, D) -> (n,)."""
        return center_distance(z, self.center, eps=0.0) ** 2

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if isinstance(z, torch.Tensor) and z.dtype in (torch.float16, torch.bfloat16):
            z = z.float()
        check_embeddings(z, "z")
        abnormal = _check_binary_labels(labels, z.shape[0]).to(z.device)
        c = self.center.to(device=z.device, dtype=z.dtype)
        if c.dim() == 1 and c.shape[0] != z.shape[1]:
            raise ValueError(f"center has {c.shape[0]} entries but the embeddings have D = {z.shape[1]} dimensions")
        sq = ((z - c) ** 2).sum(dim=1)
        per_sample = torch.where(abnormal, self.eta / (sq + self.eps), sq)
        return per_sample.mean()

    def extra_repr(self) -> str:
        return f"eta={self.eta}, eps={self.eps}"
