"""Benchmark: our losses against pytorch-metric-learning, forward + backward, on one CPU thread.

Run with `make bench` (not collected by pytest: timings are measured here, never asserted in tests).
Prints the median time per call and the ratio PML / ours (> 1 means ours is faster).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from pytorch_metric_learning import distances as pml_distances
from pytorch_metric_learning import losses as pml_losses
from pytorch_metric_learning import miners as pml_miners

from mlcompanion.distances import EuclideanDistance
from mlcompanion.losses import ContrastiveLoss, MultiSimilarityLoss


def median_seconds(fn, repeats: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def step(loss_fn, x, y):
    def run():
        emb = x.detach().requires_grad_(True)
        loss_fn(emb, y).backward()
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--classes", type=int, default=128, help="batch = classes x (batch / classes) samples")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch, args.dim, generator=g)
    y = torch.arange(args.batch) % args.classes

    pml_ms, pml_miner = pml_losses.MultiSimilarityLoss(alpha=2, beta=40, base=0.5), pml_miners.MultiSimilarityMiner(0.1)
    pml_contrastive = pml_losses.ContrastiveLoss(pos_margin=0, neg_margin=1, distance=pml_distances.LpDistance())
    cases = {
        "multi-similarity + mining": (MultiSimilarityLoss(), lambda e, t: pml_ms(e, t, pml_miner(e, t))),
        "multi-similarity, no mining": (MultiSimilarityLoss(mining=False, dup_thresh=None), pml_ms),
        "contrastive": (ContrastiveLoss(distance=EuclideanDistance(normalize=True)), pml_contrastive),
    }
    print(f"batch {args.batch} x {args.dim}-d, {args.classes} classes, {args.threads} thread(s), "
          f"median of {args.repeats}, forward + backward")
    print(f"{'loss':30s} {'ours (ms)':>10s} {'PML (ms)':>10s} {'PML / ours':>11s}")
    for name, (ours, theirs) in cases.items():
        t_ours = median_seconds(step(ours, x, y), args.repeats)
        t_pml = median_seconds(step(theirs, x, y), args.repeats)
        print(f"{name:30s} {1e3 * t_ours:10.2f} {1e3 * t_pml:10.2f} {t_pml / t_ours:11.2f}")


if __name__ == "__main__":
    main()
