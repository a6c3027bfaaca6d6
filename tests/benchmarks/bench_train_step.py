"""Benchmark: one training step (forward, loss, backward, Adam) of each small model the ci
notebooks train, as SmallConvNet ran before (NCHW) and as it runs now (channels-last), on one CPU
thread under the same settings as the notebooks (``mlcompanion.repro.make_deterministic``).

The ci models (grep ``SmallConvNet(`` in notebooks/*.py):
- ``EmbeddingNet(SmallConvNet(1, 64), 64)`` on 64 glyphs of 32 x 32 (16 classes x 4): energy_confusion,
  hyperspherical_embedding, metrix, multi_similarity, threshold_consistency, and snr_distance
  (``SmallConvNet(1, 64)`` in an EmbeddingNet without normalisation: the same convolutions);
- ``SmallConvNet(1, 128, width=16, image_size=24)`` on 64 images of 24 x 24: equiangular_basis;
- ``SmallConvNet(1, 64, width=32, image_size=32)`` on 120 images (a 20-way 1-shot episode with 5
  queries per class): susana_distancia.
The loss is the MS loss on every model (4 images per class), a small share of the step.

"before" is SmallConvNet with its activations in the default NCHW layout (what the class did
before channels-last), built from the same initial weights, stepping as mlcompanion.train did before;
"channels-last" is SmallConvNet now; "after" is SmallConvNet now, stepping as ``mlcompanion.train`` now
does (inside ``_without_uninitialized_fill``: no NaN fill of fresh tensors). The results are the
same function up to rounding (and bit-for-bit the same with or without the fill). Prints ms per
step (median of interleaved repeats), images per second and training iterations per minute. Run:
``OMP_NUM_THREADS=1 .venv/bin/python tests/benchmarks/bench_train_step.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time

import torch

from mlcompanion.losses import MultiSimilarityLoss
from mlcompanion.models import EmbeddingNet, SmallConvNet
from mlcompanion.repro import make_deterministic
from mlcompanion.train import _without_uninitialized_fill


class NCHWSmallConvNet(SmallConvNet):
    """SmallConvNet as it ran before: parameters and activations in the default (NCHW) layout."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.features.to(memory_format=torch.contiguous_format)

    def forward_features(self, x):
        return self.features(x).mean(dim=(2, 3))


CONFIGS = {
    "EmbeddingNet(SmallConvNet(1, 64)), 64 x 32px (6 notebooks)":
        (lambda cls: EmbeddingNet(cls(in_channels=1, embedding_dim=64), 64), 64, 32),
    "SmallConvNet(1, 128, width 16), 64 x 24px (equiangular_basis)":
        (lambda cls: cls(in_channels=1, embedding_dim=128, width=16, image_size=24), 64, 24),
    "SmallConvNet(1, 64), 120 x 32px (susana_distancia)":
        (lambda cls: cls(in_channels=1, embedding_dim=64), 120, 32),
}


def make_step(build, cls, batch, size, seed=0, fill=True):
    make_deterministic(seed)
    model = build(cls)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = MultiSimilarityLoss()
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 1, size, size, generator=g)
    y = torch.arange(batch) // 4

    def step():
        with contextlib.nullcontext() if fill else _without_uninitialized_fill():
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
        return loss
    return step


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args(argv)
    make_deterministic(0)
    print(f"1 thread, median of {args.repeats} interleaved steps, make_deterministic(0); "
          f"1-min load average {os.getloadavg()[0]:.2f}")
    print(f"{'model, batch':64s} {'before ms':>9s} {'NHWC ms':>8s} {'after ms':>9s} {'speed-up':>8s} "
          f"{'img/s before':>12s} {'img/s after':>11s} {'it/min before':>13s} {'it/min after':>12s}")
    for name, (build, batch, size) in CONFIGS.items():
        steps = {"before": make_step(build, NCHWSmallConvNet, batch, size),
                 "channels-last": make_step(build, SmallConvNet, batch, size),
                 "after": make_step(build, SmallConvNet, batch, size, fill=False)}
        times = {k: [] for k in steps}
        for k, fn in steps.items():
            for _ in range(3):
                fn()
        for _ in range(args.repeats):
            for k, fn in steps.items():
                start = time.perf_counter()
                fn()
                times[k].append(time.perf_counter() - start)
        b, c, a = (statistics.median(times[k]) for k in ("before", "channels-last", "after"))
        print(f"{name:64s} {1e3 * b:9.1f} {1e3 * c:8.1f} {1e3 * a:9.1f} {b / a:8.2f} {batch / b:12.0f} {batch / a:11.0f} "
              f"{60 / b:13.0f} {60 / a:12.0f}")


if __name__ == "__main__":
    main()
