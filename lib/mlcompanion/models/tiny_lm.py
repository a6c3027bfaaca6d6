"""A tiny n-gram MLP language model (Bengio et al. 2003 style) and a training loop with a linear
warmup + cosine learning-rate schedule that calls back at chosen steps: the ci model of
``representation_geometry`` (Li et al., NeurIPS 2025, arXiv:2509.23024), whose three phases are
read off the last hidden layer at checkpoints over training (paper Fig. 2).

    context (k tokens) -> k embeddings of size e, concatenated -> Linear(k e, d) -> tanh -> h in R^d
    -> Linear(d, V) -> logits

``h`` is the "last-layer representation of the last position" the spectral metrics are computed on
(the paper reads the final hidden state before the unembedding of an autoregressive transformer).

``mlcompanion.train`` has no warmup / cosine schedule and no step-indexed model callback, which the paper's
warmup phase (it coincides with the LR ramp) needs; hence the small loop here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn
from tqdm import tqdm

from ..repro import torch_generator
from ..validation import check_positive

__all__ = ["MLPLanguageModel", "context_windows", "warmup_cosine", "LMTrainConfig", "LMTrainResult", "train_lm",
           "lm_loss"]


class MLPLanguageModel(nn.Module):
    """n-gram MLP LM: ``context`` token ids -> embeddings (``embed_dim`` each) -> Linear -> tanh
    (``hidden_dim``) -> Linear -> ``vocab_size`` logits. ``features(x)`` returns the tanh layer.

    ``init_std``: None keeps PyTorch's default initialisation (embeddings N(0, 1), linear layers
    uniform +-1/sqrt(fan_in)); a number draws every weight from N(0, init_std^2) with zero biases,
    as GPT-style LMs (Pythia, OLMo: std about 0.02)."""

    def __init__(self, vocab_size: int, context: int = 4, embed_dim: int = 32, hidden_dim: int = 32,
                 init_std: float | None = None):
        super().__init__()
        for name, v in (("vocab_size", vocab_size), ("context", context), ("embed_dim", embed_dim),
                        ("hidden_dim", hidden_dim)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        self.context = context
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.hidden = nn.Linear(context * embed_dim, hidden_dim)
        self.out = nn.Linear(hidden_dim, vocab_size)
        if init_std is not None:
            std = check_positive(init_std, "init_std")
            for module in (self.embed, self.hidden, self.out):
                nn.init.normal_(module.weight, std=std)
            nn.init.zeros_(self.hidden.bias)
            nn.init.zeros_(self.out.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or x.shape[1] != self.context:
            raise ValueError(f"x must be (batch, {self.context}) token ids, got shape {tuple(x.shape)}")
        return torch.tanh(self.hidden(self.embed(x).flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(x))


def context_windows(ids: torch.Tensor, context: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All (context, next token) pairs of a 1-D token stream: ``(x, y)`` with x (n, context), y (n,)."""
    if not isinstance(ids, torch.Tensor) or ids.dim() != 1 or ids.is_floating_point():
        raise ValueError(f"ids must be a 1-D integer tensor, got {getattr(ids, 'shape', type(ids).__name__)}")
    if isinstance(context, bool) or not isinstance(context, int) or context < 1 or ids.numel() <= context:
        raise ValueError(f"context must be an int in 1 ... {ids.numel() - 1}, got {context!r}")
    x = ids.unfold(0, context + 1, 1)
    return x[:, :context].contiguous(), x[:, context].contiguous()


def warmup_cosine(step: int, total: int, warmup: int, min_ratio: float = 0.0) -> float:
    """Learning-rate multiplier at ``step`` (0-based): linear from 1/warmup to 1 over the first
    ``warmup`` steps, then cosine down to ``min_ratio`` at ``total`` (the usual LLM schedule)."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


@dataclass
class LMTrainConfig:
    steps: int = 3000
    batch_size: int = 256
    lr: float = 3e-3
    warmup: int = 300
    min_lr_ratio: float = 0.0
    weight_decay: float = 0.0
    progress: bool = True

    def __post_init__(self):
        for name in ("steps", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if isinstance(self.warmup, bool) or not isinstance(self.warmup, int) or not 0 <= self.warmup <= self.steps:
            raise ValueError(f"warmup must be an int in 0 ... steps={self.steps}, got {self.warmup!r}")
        check_positive(self.lr, "lr")
        check_positive(self.weight_decay, "weight_decay", allow_zero=True)
        if not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"min_lr_ratio must lie in [0, 1], got {self.min_lr_ratio!r}")


@dataclass
class LMTrainResult:
    losses: list[float] = field(default_factory=list)  # training loss of every step
    lrs: list[float] = field(default_factory=list)
    records: list = field(default_factory=list)  # what on_checkpoint returned


@torch.no_grad()
def lm_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 4096) -> float:
    """Mean next-token cross-entropy (nats) of ``model`` on ``(x, y)``, in eval mode."""
    was_training = model.training
    model.eval()
    total = 0.0
    for i in range(0, len(y), batch_size):
        total += float(nn.functional.cross_entropy(model(x[i:i + batch_size]), y[i:i + batch_size], reduction="sum"))
    model.train(was_training)
    return total / len(y)


def train_lm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, cfg: LMTrainConfig, seed: int = 0,
             checkpoints=(), on_checkpoint: Callable[[int, nn.Module], object] | None = None,
             desc: str = "train LM") -> LMTrainResult:
    """Adam on next-token cross-entropy, uniformly sampled batches (seeded), warmup + cosine LR.

    ``on_checkpoint(step, model)`` is called (under ``torch.no_grad`` and eval mode) *before* update
    ``step`` for every step in ``checkpoints`` (0 = the initialisation; ``cfg.steps`` = after training).
    """
    checkpoints = sorted({int(s) for s in checkpoints})
    if checkpoints and (checkpoints[0] < 0 or checkpoints[-1] > cfg.steps):
        raise ValueError(f"checkpoints must lie in 0 ... steps={cfg.steps}, got {checkpoints[0]} ... {checkpoints[-1]}")
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    generator = torch_generator(seed + 1)
    result = LMTrainResult()
    pending = list(checkpoints)

    def checkpoint(step):
        while pending and pending[0] == step:
            pending.pop(0)
            if on_checkpoint is not None:
                model.eval()
                with torch.no_grad():
                    record = on_checkpoint(step, model)
                model.train()
                if record is not None:
                    result.records.append(record)

    model.train()
    for step in tqdm(range(cfg.steps), desc=desc, disable=not cfg.progress, mininterval=1.0, ascii=True, leave=False):
        checkpoint(step)
        lr = cfg.lr * warmup_cosine(step, cfg.steps, cfg.warmup, cfg.min_lr_ratio)
        for group in optimizer.param_groups:
            group["lr"] = lr
        idx = torch.randint(0, len(y), (cfg.batch_size,), generator=generator)
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        if not torch.isfinite(loss):
            raise FloatingPointError(f"{desc}: loss became {loss.item()} at step {step}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        result.losses.append(loss.item())
        result.lrs.append(lr)
    checkpoint(cfg.steps)
    return result
