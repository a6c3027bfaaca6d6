"""Training and scoring semi-supervised anomaly detectors: the cDCM loss and its baselines, each with
its score and its own operating rule, trained on random batches until the validation AUROC reaches a
plateau (paper ``cdcm``).

Arms (``detector_arms``): ``cdcm`` (score d = ||z - c||, rule d > m), ``deep_sad`` (score
||z - c||, rule: above the 95 % quantile of the training normals' scores, the official nu = 0.05),
and the BCE family on one logit (score: the logit, rule p > 0.5): ``bce``, ``wbce`` (BCE with the
anomalies weighted by n_normal / n_anomaly of the training set, the usual answer to the imbalance)
and ``focal`` (focal loss, Lin et al. 2017, gamma = 2, alpha = 0.25 on anomalies).

``train_detector`` runs Adam on random batches (one permutation per epoch from a seeded generator,
so every arm of a seed sees the same batches), evaluates the validation AUROC every
``eval_every`` iterations, and stops once the curve has reached a plateau in the sense of
``mlcompanion.verdict.convergence_check`` (after ``min_iterations`` and at least
``min_evaluations`` points), or at the iteration cap.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from .losses.center import CDCMLoss, DeepSADLoss
from .metrics.anomaly import auroc
from .validation import check_positive
from .verdict import convergence_check

__all__ = ["WeightedBCELoss", "FocalLoss", "DetectorArm", "detector_arms", "DetectorConfig", "DetectorResult",
           "iterate_batches", "detector_scores", "train_detector", "evaluate_detector",
           "DETECTOR_ARMS"]

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


@dataclass(frozen=True)
class DetectorConfig:
    """``iterations``: the cap. Validation every ``eval_every`` iterations (0: none); stop at a plateau
    (``convergence_check(curve, plateau_tol)``) once ``min_iterations`` are done and the curve has
    ``min_evaluations`` points. ``keep_best``: restore the weights of the best validation AUROC
    (the official model selection) instead of keeping the last ones."""

    iterations: int = 1000
    batch_size: int = 64
    lr: float = 1e-3
    eval_every: int = 20
    plateau_tol: float = 0.005
    min_iterations: int = 200
    min_evaluations: int = 8
    stop_at_plateau: bool = True
    keep_best: bool = False

    def __post_init__(self):
        for name in ("iterations", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive int, got {getattr(self, name)!r}")
        for name in ("eval_every", "min_iterations", "min_evaluations"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        check_positive(self.lr, "lr")
        check_positive(self.plateau_tol, "plateau_tol", allow_zero=True)


@dataclass
class DetectorResult:
    """The validation curve ``[(iteration, AUROC), ...]``, why training stopped (``"plateau"``,
    ``"cap"``, ``""`` without validation), the iterations run, the training losses, the iteration
    whose weights were kept, and the training time in seconds."""

    curve: list[tuple[int, float]] = field(default_factory=list)
    stopped: str = ""
    iterations: int = 0
    losses: list[float] = field(default_factory=list)
    kept_iteration: int = 0
    train_seconds: float = 0.0


def iterate_batches(dataset: Dataset, batch_size: int, generator: torch.Generator | None = None, num_workers: int = 0):
    """Batches of ``dataset`` in a random order (one permutation per call, from ``generator``) or,
    without a generator, in dataset order; a ``TensorDataset`` is indexed directly."""
    n = len(dataset)
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    if isinstance(dataset, TensorDataset):
        tensors = dataset.tensors
        for idx in order.split(batch_size):
            yield tuple(t[idx] for t in tensors)
    else:
        yield from DataLoader(dataset, batch_size=batch_size, sampler=order.tolist(), num_workers=num_workers)


@torch.no_grad()
def detector_scores(model: nn.Module, loss_fn: nn.Module, score: Callable, dataset: Dataset,
                    device: str | torch.device = "cpu", batch_size: int = 256, num_workers: int = 0) -> np.ndarray:
    """The anomaly score of every sample of ``dataset`` (in order), as float64, model in eval mode
    during the call (its mode is restored)."""
    was_training = model.training
    model.eval()
    try:
        out = [score(loss_fn, model(batch[0].to(device))).double().cpu()
               for batch in iterate_batches(dataset, batch_size, None, num_workers)]
    finally:
        model.train(was_training)
    return torch.cat(out).numpy()


def train_detector(model: nn.Module, loss_fn: nn.Module, score: Callable, train_set: Dataset, cfg: DetectorConfig,
                   seed: int, val_set: Dataset | None = None, val_labels=None, device: str | torch.device = "cpu",
                   num_workers: int = 0) -> DetectorResult:
    """Train ``model`` with ``loss_fn(model(x), y)`` (module docstring); returns a ``DetectorResult``.

    ``val_set`` / ``val_labels`` (0 normal, 1 anomaly, both present): the validation split, carved
    from the training data; the curve is its AUROC of ``score``.
    """
    validating = bool(cfg.eval_every) and val_set is not None
    if validating:
        val_labels = np.asarray(val_labels)
        if val_labels.shape != (len(val_set),) or not (0 < val_labels.sum() < val_labels.size):
            raise ValueError("val_labels must give one 0/1 label per validation sample, with both present")
    model.to(device).train()
    loss_fn = loss_fn.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    generator = torch.Generator().manual_seed(int(seed))
    result, best = DetectorResult(), (-np.inf, 0, None)
    start = time.process_time()

    def validate(step):
        nonlocal best
        auc = auroc(val_labels, detector_scores(model, loss_fn, score, val_set, device, num_workers=num_workers))
        result.curve.append((step, auc))
        if cfg.keep_best and auc > best[0]:
            best = (auc, step, {k: v.detach().clone() for k, v in model.state_dict().items()})
        if not cfg.stop_at_plateau or step < cfg.min_iterations or len(result.curve) < max(cfg.min_evaluations, 4):
            return False
        return convergence_check(result.curve, cfg.plateau_tol)["converged"]

    step = 0
    while step < cfg.iterations and not result.stopped:
        for batch in iterate_batches(train_set, cfg.batch_size, generator, num_workers):
            x, y = batch[0].to(device), batch[1].to(device)
            loss = loss_fn(model(x), y)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"the loss became {loss.item()} at iteration {step}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            result.losses.append(float(loss.item()))
            step += 1
            if validating and (step % cfg.eval_every == 0 or step == cfg.iterations):
                if validate(step):
                    result.stopped = "plateau"
                    break
            if step >= cfg.iterations:
                break
    if validating and not result.stopped:
        result.stopped = "cap"
    result.iterations = step
    result.kept_iteration = step
    if cfg.keep_best and best[2] is not None:
        model.load_state_dict(best[2])
        result.kept_iteration = best[1]
    result.train_seconds = time.process_time() - start
    return result


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
