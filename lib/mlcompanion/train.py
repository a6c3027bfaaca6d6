"""A small trainer for embedding networks: class-balanced batches, one loss, Adam, evaluation.

It is deliberately short: what a paper changes (the loss, the miner, a regulariser, a callback that
records statistics) is passed in, and everything else is the same for every notebook.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset
from tqdm import tqdm

from .data.samplers import ClassBalancedBatchSampler, ShuffledBatchSampler
from .metrics.retrieval import retrieval_metrics
from .repro import torch_generator
from .validation import check_choice, check_int, check_positive
from .verdict import convergence_check

__all__ = ["TrainConfig", "TrainResult", "train_embedding", "train_classifier", "embed", "evaluate_retrieval", "lr_factor", "param_groups",
           "evaluate_classifier"]


@dataclass
class TrainConfig:
    """What every training run needs.

    Learning rate at iteration k (0-based), for every parameter group (each group's base lr times):

        warm-up(k) * schedule(k),   warm-up(k) = min(1, (k + 1) / warmup_iterations)  (1 without warm-up)
        schedule "step":   lr_gamma ** #{milestones m in lr_milestones with m <= k}
        schedule "cosine": r + (1 - r) (1 + cos(pi t / T)) / 2,  t = k - warmup_iterations (>= 0),
                           T = iterations - warmup_iterations, r = min_lr_ratio

    (the cosine decay of Loshchilov & Hutter, SGDR, ICLR 2017, without restarts, over the cap
    ``iterations``, after a linear warm-up as in Goyal et al. 2017). Base lrs: ``lr`` for the model,
    ``lr * m`` for a model parameter whose name starts with a prefix of ``lr_multipliers``
    (``(("head.", 50.0),)``: the head learns 50x faster; the first matching prefix counts, and a prefix
    that matches no parameter is an error), ``lr * loss_lr_multiplier`` for the loss's own parameters.
    """

    iterations: int = 100
    classes_per_batch: int = 16
    samples_per_class: int = 4
    batch_size: int = 64  # train_classifier only (train_embedding's batch = classes x samples)
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: str = "adam"
    lr_milestones: tuple[int, ...] = ()
    lr_gamma: float = 0.1
    lr_schedule: str = "step"  # "step" (lr_milestones, lr_gamma) or "cosine" (to lr * min_lr_ratio at the cap)
    min_lr_ratio: float = 0.0
    warmup_iterations: int = 0
    lr_multipliers: tuple[tuple[str, float], ...] = ()  # (model parameter-name prefix, lr multiplier), ...
    loss_lr_multiplier: float = 1.0  # learning rate of the loss's own parameters (proxies, class weights) x this
    grad_clip_value: float | None = None  # clip every gradient entry to [-v, v] (e.g. 10, as some official code)
    device: str = "cpu"
    num_workers: int = 0
    progress: bool = True
    # Validation and stopping at a plateau (mlcompanion.verdict.convergence_check): with eval_every > 0
    # and a ``validate`` callable, the trainer records validation every eval_every iterations and
    # stops once (after min_iterations, with at least 8 evaluations) the last quarter of the curve
    # improved on the best value before it by no more than plateau_tol; cfg.iterations is the cap.
    eval_every: int = 0
    plateau_tol: float = 0.005
    plateau_reference: str = "history"  # or "window": robust to an early dip (see convergence_check)
    min_iterations: int = 0
    stop_at_plateau: bool = True
    # keep_best: at the end, restore the weights of the best validation value (model selection on the
    # validation split, as some official code does) instead of keeping the last ones
    keep_best: bool = False

    def __post_init__(self):
        if not isinstance(self.iterations, int) or self.iterations < 1:
            raise ValueError(f"iterations must be a positive int, got {self.iterations!r}")
        for name in ("classes_per_batch", "samples_per_class", "batch_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        check_positive(self.lr, "lr")
        check_positive(self.weight_decay, "weight_decay", allow_zero=True)
        check_positive(self.loss_lr_multiplier, "loss_lr_multiplier")
        if self.grad_clip_value is not None:
            check_positive(self.grad_clip_value, "grad_clip_value")
        for name in ("eval_every", "min_iterations"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ValueError(f"{name} must be an int >= 0, got {v!r}")
        check_positive(self.plateau_tol, "plateau_tol", allow_zero=True)
        if self.keep_best and not self.eval_every:
            raise ValueError("keep_best=True needs validation (eval_every > 0 and a validate callable)")
        if self.optimizer not in ("adam", "adamw", "sgd"):
            raise ValueError(f"optimizer must be 'adam', 'adamw' or 'sgd', got {self.optimizer!r}")
        check_choice(self.plateau_reference, "plateau_reference", ("history", "window"))
        check_choice(self.lr_schedule, "lr_schedule", ("step", "cosine"))
        if self.lr_schedule == "cosine" and self.lr_milestones:
            raise ValueError("lr_milestones belong to lr_schedule='step'; the cosine schedule has none")
        if not (isinstance(self.min_lr_ratio, (int, float)) and 0.0 <= self.min_lr_ratio <= 1.0):
            raise ValueError(f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio!r}")
        if check_int(self.warmup_iterations, "warmup_iterations", 0) >= self.iterations:
            raise ValueError(f"warmup_iterations must be below iterations, got {self.warmup_iterations!r}")
        if not isinstance(self.lr_multipliers, (tuple, list)) or not all(
                isinstance(e, (tuple, list)) and len(e) == 2 and isinstance(e[0], str) and e[0]
                for e in self.lr_multipliers):
            raise ValueError("lr_multipliers must be ((parameter-name prefix, multiplier), ...), "
                             f"got {self.lr_multipliers!r}")
        for _, multiplier in self.lr_multipliers:
            check_positive(multiplier, "lr_multipliers multiplier")


@dataclass
class TrainResult:
    """Loss of every iteration, training wall time (``on_step`` callbacks and validation excluded),
    what ``on_step`` returned, the validation curve ``[(iterations done, value), ...]``, why training
    stopped (``"plateau"``, ``"cap"``; ``""`` without validation), and (if kept) the model."""

    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    records: list = field(default_factory=list)
    model: nn.Module | None = None
    loss: nn.Module | None = None  # kept with the model by run_arms / run_classifier_arms(keep_models=True)
    curve: list = field(default_factory=list)
    stopped: str = ""
    kept_iteration: int | None = None  # with cfg.keep_best: the iteration whose weights were restored
    _best: tuple = field(default=(-math.inf, None, None), repr=False)

    @property
    def iterations(self) -> int:
        return len(self.losses)


def lr_factor(cfg: TrainConfig, k: int) -> float:
    """The factor on every base learning rate at iteration ``k`` (see ``TrainConfig``)."""
    warm = min(1.0, (k + 1) / cfg.warmup_iterations) if cfg.warmup_iterations else 1.0
    if cfg.lr_schedule == "cosine":
        t = max(0, k - cfg.warmup_iterations)
        span = cfg.iterations - cfg.warmup_iterations
        r = cfg.min_lr_ratio
        return warm * (r + (1.0 - r) * 0.5 * (1.0 + math.cos(math.pi * min(t, span) / span)))
    return warm * cfg.lr_gamma ** sum(m <= k for m in cfg.lr_milestones)


def _make_scheduler(optimizer, cfg: TrainConfig):
    if cfg.lr_schedule == "step" and not cfg.warmup_iterations:
        # the multiplicative form: the same floats as every run before the schedule options existed
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, list(cfg.lr_milestones), cfg.lr_gamma)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda k: lr_factor(cfg, k))


def param_groups(model: nn.Module, loss_fn: nn.Module, cfg: TrainConfig) -> list[dict]:
    """The optimiser's parameter groups (see ``TrainConfig``): the model at ``lr`` (one group per
    ``lr_multipliers`` prefix at ``lr * m``), then the loss's own parameters at ``lr * loss_lr_multiplier``."""
    named = list(model.named_parameters())
    groups = [{"params": [], "lr": cfg.lr}] + [{"params": [], "lr": cfg.lr * m, "prefix": p}
                                                for p, m in cfg.lr_multipliers]
    for name, param in named:
        slot = next((i + 1 for i, (prefix, _) in enumerate(cfg.lr_multipliers) if name.startswith(prefix)), 0)
        groups[slot]["params"].append(param)
    for group in groups[1:]:
        if not group["params"]:
            raise ValueError(f"lr_multipliers: no model parameter name starts with {group['prefix']!r} "
                             f"(names: {', '.join(n for n, _ in named[:8])}{', ...' if len(named) > 8 else ''})")
    groups = [g for g in groups if g["params"]]
    loss_params = list(loss_fn.parameters())
    if loss_params:
        groups.append({"params": loss_params, "lr": cfg.lr * cfg.loss_lr_multiplier})
    return groups


def _make_optimizer(params, cfg: TrainConfig):
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)


def _batches(dataset: Dataset, sampler, cfg: TrainConfig):
    """Yield (inputs, labels) batches; in-memory tensors are indexed directly (no collate cost)."""
    if isinstance(dataset, TensorDataset):
        x, y = dataset.tensors[:2]
        for idx in sampler:
            idx = torch.as_tensor(idx)
            yield x[idx], y[idx]
    else:
        yield from DataLoader(dataset, batch_sampler=sampler, num_workers=cfg.num_workers,
                              worker_init_fn=_reseed_worker_transform, pin_memory=cfg.device.startswith("cuda"))


def _reseed_worker_transform(worker_id: int) -> None:
    """Give each DataLoader worker its own augmentation stream (derived from the torch seed)."""
    info = torch.utils.data.get_worker_info()
    transform = getattr(info.dataset, "transform", None)
    if hasattr(transform, "reseed"):
        transform.reseed(torch.initial_seed() % 2**32)


def train_embedding(
    model: nn.Module,
    loss_fn: nn.Module,
    dataset: Dataset,
    labels: torch.Tensor,
    cfg: TrainConfig,
    seed: int = 0,
    batch_transform: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
    on_step: Callable[[int, torch.Tensor, torch.Tensor], object] | None = None,
    desc: str = "train",
    validate: Callable[[nn.Module], float] | None = None,
) -> TrainResult:
    """Train ``model`` so that ``loss_fn(model(x), y)`` falls, on class-balanced batches
    (``cfg.classes_per_batch`` classes x ``cfg.samples_per_class`` samples).

    A loss that needs more than the embeddings (mixing inputs, a detached feature branch, support /
    query splits) defines ``batch_loss(model, x, y) -> (loss, embeddings)``; the trainer then calls
    that instead of ``loss_fn(model(x), y)``.

    Args:
        dataset: a ``TensorDataset(images, labels)`` or any dataset returning ``(input, label)``.
        labels: the dataset's labels (int64, one per item), used by the batch sampler.
        batch_transform: optional on-the-fly augmentation ``f(x, generator) -> x`` (on the device).
        on_step: optional callback ``f(step, embeddings, labels)``; what it returns (if not None) is
            appended to ``result.records`` (e.g. how many pairs a miner kept).
        seed: seeds the sampler and the augmentation generator (the model is seeded by the caller).
        validate: ``f(model) -> float`` (larger = better) on a validation split carved from the
            training classes; called every ``cfg.eval_every`` iterations (and at the end), and training
            stops at a plateau (see ``TrainConfig``). The model is in eval mode during the call.
    Returns ``TrainResult`` with the loss of every iteration and the wall time.
    """
    if len(dataset) != len(labels):
        raise ValueError(f"labels must have one entry per dataset item: {len(dataset)} items, {len(labels)} labels")
    sampler = ClassBalancedBatchSampler(
        labels, cfg.classes_per_batch, cfg.samples_per_class, n_batches=cfg.iterations, seed=seed
    )
    return _optimise(model, loss_fn, dataset, sampler, cfg, seed, batch_transform, on_step, desc, validate)


def train_classifier(
    model: nn.Module,
    loss_fn: nn.Module,
    dataset: Dataset,
    cfg: TrainConfig,
    seed: int = 0,
    batch_transform: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
    on_step: Callable[[int, torch.Tensor, torch.Tensor], object] | None = None,
    desc: str = "train",
    validate: Callable[[nn.Module], float] | None = None,
) -> TrainResult:
    """Train ``model`` so that ``loss_fn(model(x), y)`` falls, on shuffled batches of
    ``cfg.batch_size`` (a new permutation of the dataset every epoch), for ``cfg.iterations`` steps.

    ``model(x)`` returns per-class scores (logits, or any head's output where larger = more likely);
    everything else (validation and stopping at a plateau included) is as in ``train_embedding``.
    """
    sampler = ShuffledBatchSampler(len(dataset), cfg.batch_size, n_batches=cfg.iterations, seed=seed)
    return _optimise(model, loss_fn, dataset, sampler, cfg, seed, batch_transform, on_step, desc, validate)


@contextmanager
def _without_uninitialized_fill():
    """Inside the training step only: torch does not fill fresh tensors with NaN first.

    ``torch.use_deterministic_algorithms(True)`` (``mlcompanion.repro.make_deterministic``) also turns on
    ``torch.utils.deterministic.fill_uninitialized_memory``: every uninitialised allocation is
    written with NaN before the kernel overwrites it, a guard against kernels that read memory they
    never wrote. No torch kernel of a training step does; the fill only costs time (measured: about
    a fifth of the ci SmallConvNet step, every activation and gradient of the first block written
    twice). The step's results are bit-for-bit the same with and without it (tests/test_train.py);
    the setting is restored afterwards, and the user's callbacks run with it as it was.
    """
    previous = torch.utils.deterministic.fill_uninitialized_memory
    torch.utils.deterministic.fill_uninitialized_memory = False
    try:
        yield
    finally:
        torch.utils.deterministic.fill_uninitialized_memory = previous


def _validation_point(model, validate, step: int, result: TrainResult, cfg) -> bool:
    """Record one validation value; True when the curve has reached a plateau (stop)."""
    value = float(validate(model))
    model.train()
    if not math.isfinite(value):
        raise FloatingPointError(f"validation returned {value} after {step} iterations")
    result.curve.append((step, value))
    if cfg.keep_best and value > result._best[0]:
        result._best = (value, step, {k: v.detach().clone() for k, v in model.state_dict().items()})
    if not cfg.stop_at_plateau or step < cfg.min_iterations or len(result.curve) < 8:
        return False
    return convergence_check(result.curve, cfg.plateau_tol, reference=cfg.plateau_reference)["converged"]


def _optimise(model, loss_fn, dataset, sampler, cfg, seed, batch_transform, on_step, desc,
              validate=None) -> TrainResult:
    device = torch.device(cfg.device)
    model.to(device).train()
    loss_fn.to(device)
    optimizer = _make_optimizer(param_groups(model, loss_fn, cfg), cfg)
    scheduler = _make_scheduler(optimizer, cfg)
    generator = torch_generator(seed + 1, device=device)
    if cfg.eval_every and validate is None:
        raise ValueError("cfg.eval_every > 0 needs a validate(model) -> float callable (a validation split)")
    validating = bool(cfg.eval_every) and validate is not None
    result = TrainResult()
    callback_seconds = 0.0
    start = time.perf_counter()
    bar = tqdm(_batches(dataset, sampler, cfg), total=len(sampler), desc=desc, disable=not cfg.progress,
               mininterval=1.0, ascii=True, leave=False)
    for step, (x, y) in enumerate(bar):
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with _without_uninitialized_fill():
            if batch_transform is not None:
                x = batch_transform(x, generator)
            if hasattr(loss_fn, "batch_loss"):
                loss, outputs = loss_fn.batch_loss(model, x, y)
            else:
                outputs = model(x)
                loss = loss_fn(outputs, y)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{desc}: loss became {loss.item()} at iteration {step}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip_value is not None:
                torch.nn.utils.clip_grad_value_(model.parameters(), cfg.grad_clip_value)
                torch.nn.utils.clip_grad_value_(loss_fn.parameters(), cfg.grad_clip_value)
            optimizer.step()
        scheduler.step()
        result.losses.append(loss.item())
        if on_step is not None:
            callback_start = time.perf_counter()
            record = on_step(step, outputs.detach(), y)
            if record is not None:
                result.records.append(record)
            callback_seconds += time.perf_counter() - callback_start
        done = step + 1
        if validating and (done % cfg.eval_every == 0 or done == len(sampler)):
            callback_start = time.perf_counter()
            plateau = _validation_point(model, validate, done, result, cfg)
            callback_seconds += time.perf_counter() - callback_start
            if plateau:
                result.stopped = "plateau"
                break
    if validating and not result.stopped:
        result.stopped = "cap"
    if cfg.keep_best and result._best[2] is not None:
        model.load_state_dict(result._best[2])
        result.kept_iteration = result._best[1]
    result._best = (-math.inf, None, None)
    bar.close()
    result.seconds = time.perf_counter() - start - callback_seconds
    return result


@torch.no_grad()
def embed(model: nn.Module, dataset: Dataset, batch_size: int = 256, device: str = "cpu", num_workers: int = 0):
    """Embeddings (n, d) on the CPU and labels (n,) of a whole dataset, in eval mode."""
    model.to(device).eval()
    if isinstance(dataset, TensorDataset):
        x_all, y_all = dataset.tensors[:2]
        chunks = [model(x_all[i:i + batch_size].to(device)).float().cpu() for i in range(0, len(x_all), batch_size)]
        labels = y_all
    else:
        chunks, label_chunks = [], []
        for x, y in DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers):
            chunks.append(model(x.to(device)).float().cpu())
            label_chunks.append(y)
        labels = torch.cat(label_chunks)
    model.train()
    return torch.cat(chunks), labels.long()


def evaluate_retrieval(model, dataset, ks=(1, 2, 4, 8), device="cpu", batch_size=256, with_nmi=False, seed=0):
    """Zero-shot retrieval metrics of ``model`` on ``dataset`` (see ``mlcompanion.metrics.retrieval_metrics``)."""
    emb, labels = embed(model, dataset, batch_size=batch_size, device=device)
    return retrieval_metrics(emb, labels, ks=ks, with_nmi=with_nmi, seed=seed)


def evaluate_classifier(model, dataset, ks=(1,), device="cpu", batch_size=256, scores=None) -> dict[str, float]:
    """Top-k accuracy (``top1``, ``top5``, ...) of the model's class ranking.

    The ranking is by ``scores(model(x))`` when given, else by ``model(x)`` itself. A loss whose
    class probabilities are not increasing in the raw outputs says so with a ``class_scores(outputs)``
    method (e.g. the log-spherical softmax ranks by o^2 + eps, the Taylor softmax by 1 + o + o^2/2,
    which is not monotone below o = -1): pass ``scores=loss.class_scores`` (``run_classifier_arms``
    does this for every arm's loss).
    """
    ks = (ks,) if isinstance(ks, int) else tuple(ks)
    if scores is not None and not callable(scores):
        raise ValueError(f"scores must be a callable outputs -> class scores, got {type(scores).__name__}")
    outputs, labels = embed(model, dataset, batch_size=batch_size, device=device)
    scores = outputs if scores is None else scores(outputs)
    if not isinstance(scores, torch.Tensor) or scores.shape != outputs.shape:
        raise ValueError(f"scores(outputs) must return a tensor of shape {tuple(outputs.shape)}")
    if not ks or not all(isinstance(k, int) and 1 <= k <= scores.shape[1] for k in ks):
        raise ValueError(f"ks must be ints in [1, {scores.shape[1]}] (the number of classes), got {ks!r}")
    top = scores.topk(max(ks), dim=1).indices
    hits = top == labels.unsqueeze(1)
    return {f"top{k}": hits[:, :k].any(1).double().mean().item() for k in ks}
