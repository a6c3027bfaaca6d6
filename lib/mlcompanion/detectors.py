"""Training and scoring semi-supervised anomaly detectors: the cDCM loss and its baselines, each with
its score and its own operating rule, trained on random batches until the validation AUROC reaches a
plateau (paper ``cdcm``).

Arms (``detector_arms``): ``cdcm`` (score d = ||z - c||, rule d > m), ``deep_sad`` (score
||z - c||, rule: above the 95 % quantile of the training normals' scores, the official nu = 0.05),
and the BCE family on one logit (score: the logit, rule p > 0.5): ``bce``, ``wbce`` (BCE with the
anomalies weighted by n_normal / n_anomaly of the training set, the usual answer to the imbalance)
and ``focal`` (focal loss, Lin et al. 2017, gamma = 2, alpha = 0.25 on anomalies).

Training is the shared ``mlcompanion.train.train_classifier`` (shuffled batches of
``TrainConfig.batch_size`` from the run's seed, so every arm of a seed sees the same batches; Adam;
validation every ``eval_every`` iterations and a stop at a plateau, ``keep_best``); this module gives
it the validation value of an arm, ``detector_validator`` (the AUROC of the arm's own score on a
validation split), and scores the test set with the arm's own rule, ``evaluate_detector``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from .losses.center import CDCMLoss, DeepSADLoss
from .metrics.anomaly import auroc
from .train import embed
from .validation import check_positive

__all__ = ["WeightedBCELoss", "FocalLoss", "DetectorArm", "detector_arms", "detector_scores", "detector_validator",
           "evaluate_detector", "DETECTOR_ARMS"]

DETECTOR_ARMS = ("cdcm", "bce", "wbce", "focal", "deep_sad")


def _binary_targets(out: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if out.dim() != 2 or out.shape[1] != 1:
        raise ValueError(f"a BCE-family arm needs outputs of shape (n, 1) (one logit), got {tuple(out.shape)}")
    if labels.shape != (out.shape[0],):
        raise ValueError(f"labels must have shape ({out.shape[0]},), got {tuple(labels.shape)}")
    return out[:, 0], labels.to(out.dtype)


class WeightedBCELoss(nn.Module):
    """Binary cross-entropy on one logit, the anomaly (label 1) term weighted by ``pos_weight``
    (1: plain BCE). Mean over the batch."""

    def __init__(self, pos_weight: float = 1.0):
        super().__init__()
        self.pos_weight = check_positive(pos_weight, "pos_weight")

    def forward(self, out: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logit, target = _binary_targets(out, labels)
        w = torch.tensor(self.pos_weight, dtype=logit.dtype, device=logit.device)
        return nn.functional.binary_cross_entropy_with_logits(logit, target, pos_weight=w)


class FocalLoss(nn.Module):
    """Binary focal loss on one logit (Lin et al. 2017): ``-alpha_t (1 - p_t)^gamma log p_t`` with
    ``alpha_t = alpha`` for anomalies and ``1 - alpha`` for normals. Mean over the batch."""

    def __init__(self, gamma: float = 2.0, alpha: float = 0.25):
        super().__init__()
        self.gamma = check_positive(gamma, "gamma", allow_zero=True)
        if not 0.0 < float(alpha) < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
        self.alpha = float(alpha)

    def forward(self, out: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logit, target = _binary_targets(out, labels)
        log_pt = -nn.functional.binary_cross_entropy_with_logits(logit, target, reduction="none")
        alpha_t = self.alpha * target + (1.0 - self.alpha) * (1.0 - target)
        return (-alpha_t * (1.0 - log_pt.exp()).pow(self.gamma) * log_pt).mean()


@dataclass(frozen=True)
class DetectorArm:
    """One arm: its output size, how to build its loss from the training labels, its anomaly score
    (higher = more abnormal) and its own threshold (given the training normals' scores)."""

    name: str
    out_dim: int
    make_loss: Callable[[np.ndarray], nn.Module]
    score: Callable[[nn.Module, torch.Tensor], torch.Tensor]
    threshold: Callable[[nn.Module, np.ndarray], float]
    rule: str


def _logit_score(loss, out):
    return out[:, 0]


def detector_arms(embedding_dim: int = 32, margin: float = 5.0, theta: float = 5.0,
                  clamp_max: float | None = None, deep_sad_quantile: float = 0.95) -> dict[str, DetectorArm]:
    """The five arms of ``DETECTOR_ARMS`` (module docstring), keyed by name."""
    embedding_dim = int(embedding_dim)
    if embedding_dim < 1:
        raise ValueError(f"embedding_dim must be positive, got {embedding_dim}")
    margin = check_positive(margin, "margin")

    def pos_weight(labels):
        labels = np.asarray(labels)
        n_pos = int((labels == 1).sum())
        if n_pos == 0:
            raise ValueError("weighted BCE needs at least one labelled anomaly in the training labels")
        return float((labels == 0).sum()) / n_pos

    return {
        "cdcm": DetectorArm("cdcm", embedding_dim,
                            lambda labels: CDCMLoss(margin=margin, theta=theta, clamp_max=clamp_max),
                            lambda loss, out: loss.distance(out), lambda loss, normal: margin, f"d > m = {margin:g}"),
        "bce": DetectorArm("bce", 1, lambda labels: WeightedBCELoss(1.0), _logit_score,
                           lambda loss, normal: 0.0, "p > 0.5"),
        "wbce": DetectorArm("wbce", 1, lambda labels: WeightedBCELoss(pos_weight(labels)), _logit_score,
                            lambda loss, normal: 0.0, "p > 0.5"),
        "focal": DetectorArm("focal", 1, lambda labels: FocalLoss(), _logit_score,
                             lambda loss, normal: 0.0, "p > 0.5"),
        "deep_sad": DetectorArm("deep_sad", embedding_dim, lambda labels: DeepSADLoss(),
                                lambda loss, out: loss.score(out).sqrt(),
                                lambda loss, normal: float(np.quantile(normal, deep_sad_quantile)),
                                f"d > {deep_sad_quantile:.0%} quantile of training normals"),
    }


def detector_scores(model: nn.Module, loss_fn: nn.Module, score: Callable, dataset: Dataset,
                    device: str | torch.device = "cpu", batch_size: int = 256, num_workers: int = 0) -> np.ndarray:
    """The anomaly score of every sample of ``dataset`` (in order), as float64; the model's outputs
    come from ``mlcompanion.train.embed`` (eval mode; the model's mode is restored)."""
    was_training = model.training
    try:
        out, _ = embed(model, dataset, batch_size=batch_size, device=str(device), num_workers=num_workers)
        with torch.no_grad():
            scores = score(loss_fn, out.to(device)).double().cpu()
    finally:
        model.train(was_training)
    return scores.numpy()


def detector_validator(arm: DetectorArm, loss_fn: nn.Module, val_set: Dataset, val_labels,
                       device: str | torch.device = "cpu", num_workers: int = 0) -> Callable[[nn.Module], float]:
    """``validate(model) -> AUROC`` of ``arm``'s score on ``val_set`` (a split carved from the training
    data; ``val_labels``: 0 normal, 1 anomaly, both present), for ``train_classifier(validate=...)``."""
    val_labels = np.asarray(val_labels)
    if val_labels.shape != (len(val_set),) or not np.isin(val_labels, (0, 1)).all() \
            or not (0 < val_labels.sum() < val_labels.size):
        raise ValueError("val_labels must give one 0/1 label per validation sample, with both present")

    def validate(model: nn.Module) -> float:
        return auroc(val_labels, detector_scores(model, loss_fn, arm.score, val_set, device, num_workers=num_workers))

    return validate


def evaluate_detector(arm: DetectorArm, model: nn.Module, loss_fn: nn.Module, train_set: Dataset, train_labels,
                      test_set: Dataset, test_groups, device: str | torch.device = "cpu",
                      num_workers: int = 0) -> tuple[dict, np.ndarray]:
    """Score the test set, set the arm's own threshold from the training normals' scores, and measure.

    ``test_groups``: 0 normal, 1 anomaly of a seen type, 2 anomaly of an unseen type (the unseen
    metrics are NaN when there is none). Returns (metrics, test scores): ``auroc_all``,
    ``auroc_seen``, ``auroc_unseen`` (normals against that group only), ``recall``,
    ``recall_seen``, ``recall_unseen``, ``precision`` and ``fpr`` (on normals) of the rule
    ``score > threshold``, and ``threshold``.
    """
    groups = np.asarray(test_groups)
    if groups.shape != (len(test_set),) or not np.isin(groups, (0, 1, 2)).all():
        raise ValueError("test_groups must give one of 0 (normal), 1 (seen), 2 (unseen) per test sample")
    if not (groups == 0).any() or not (groups > 0).any():
        raise ValueError("the test set needs both normal and anomalous samples")
    s_test = detector_scores(model, loss_fn, arm.score, test_set, device, num_workers=num_workers)
    s_train = detector_scores(model, loss_fn, arm.score, train_set, device, num_workers=num_workers)
    normal_train = s_train[np.asarray(train_labels) == 0]
    threshold = float(arm.threshold(loss_fn, normal_train))
    flagged = s_test > threshold
    anomalous = groups > 0
    tp = int((flagged & anomalous).sum())
    fp = int((flagged & ~anomalous).sum())
    row = {"auroc_all": auroc(anomalous, s_test), "recall": tp / int(anomalous.sum()),
           "precision": tp / (tp + fp) if tp + fp else 0.0, "fpr": fp / int((~anomalous).sum()),
           "threshold": threshold}
    for name, g in (("seen", 1), ("unseen", 2)):
        has = bool((groups == g).any())
        keep = (groups == 0) | (groups == g)
        row[f"auroc_{name}"] = auroc(groups[keep] > 0, s_test[keep]) if has else float("nan")
        row[f"recall_{name}"] = float(flagged[groups == g].mean()) if has else float("nan")
    return row, s_test
