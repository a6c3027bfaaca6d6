"""Benchmark: retrieval metrics at dataset scale, lib against pytorch-metric-learning's
AccuracyCalculator, on one CPU thread.

Data: ``--n`` (default 60,000, the size of the Stanford Online Products test split) embeddings of
``--dim`` (128) dimensions in classes of 2 to 12 items (SOP's range), each item its class centre plus
noise, so the metrics are far from 0 and 1. Both compute Precision@1 (= Recall@1), R-precision and
MAP@R leave-one-out with cosine similarity, blocked 1,024 queries at a time (PML: ``CustomKNN(
CosineSimilarity(), batch_size=1024)``, since faiss is not installed; without a batch size it would
need the 60,000 x 60,000 matrix, 13.4 GiB). Both search the same number of neighbours: the largest
class size less one (11; PML: k="max_bin_count"); lib also returns Recall@{2, 4, 8} from that search.
(Asking lib for Recall@100 makes it search 100 neighbours: measured at 12,000 items, the top-k
selection is then a third of the time and the matrix product the rest.)

Prints wall time and peak memory (rise of the peak resident set over the call, see _memory.py) of
each, and the metrics side by side (they must agree). Run:
``OMP_NUM_THREADS=1 .venv/bin/python tests/benchmarks/bench_retrieval.py [--n 60000]``.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from _memory import fmt_mib, peak_mib, reexec_with_mmap_threshold  # tests/benchmarks/_memory.py
from mlcompanion.metrics.retrieval import retrieval_metrics


def sop_like(n: int, dim: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    sizes = []
    while sum(sizes) < n:
        sizes.append(int(torch.randint(2, 13, (1,), generator=g)))
    sizes[-1] -= sum(sizes) - n
    while sizes[-1] < 2:  # keep every class retrievable: fold a too small last class into the one before
        extra = sizes.pop()
        sizes[-1] += extra
    labels = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    centres = torch.randn(len(sizes), dim, generator=g)
    x = centres[labels] + 2.0 * torch.randn(n, dim, generator=g)
    perm = torch.randperm(n, generator=g)
    return x[perm].contiguous(), labels[perm].contiguous()


def run_lib(x, y, block):
    return retrieval_metrics(x, y, ks=(1, 2, 4, 8), block_size=block)


def run_pml(x, y, block):
    from pytorch_metric_learning.distances import CosineSimilarity
    from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator
    from pytorch_metric_learning.utils.inference import CustomKNN

    calc = AccuracyCalculator(include=("precision_at_1", "r_precision", "mean_average_precision_at_r"),
                              k="max_bin_count", knn_func=CustomKNN(CosineSimilarity(), batch_size=block))
    return calc.get_accuracy(x, y)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=60_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--block", type=int, default=1024)
    parser.add_argument("--skip-pml", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    x, y = sop_like(args.n, args.dim)
    print(f"{args.n} x {args.dim} embeddings, {int(y.max()) + 1} classes of 2-12, blocks of {args.block} "
          f"queries, 1 thread, 1-min load average {os.getloadavg()[0]:.2f}")
    rows = []
    for name, fn in (("lib", run_lib), ("PML", run_pml)):
        if name == "PML" and args.skip_pml:
            continue
        out = {}
        start = time.perf_counter()
        mem = peak_mib(lambda: out.update(fn(x, y, args.block)))
        seconds = time.perf_counter() - start
        rows.append((name, seconds, mem, out))
        print(f"{name}: {seconds:.1f} s, peak {fmt_mib(mem)} MiB")
    lib = rows[0][3]
    print(f"{'metric':14s} {'lib':>10s} {'PML':>10s}")
    pairs = (("R@1", "precision_at_1"), ("r_precision", "r_precision"), ("map_at_r", "mean_average_precision_at_r"))
    for ours, theirs in pairs:
        other = f"{rows[1][3][theirs]:10.6f}" if len(rows) > 1 else f"{'-':>10s}"
        print(f"{ours:14s} {lib[ours]:10.6f} {other}")
    print(f"{'R@2, R@4, R@8':14s} {lib['R@2']:.6f}, {lib['R@4']:.6f}, {lib['R@8']:.6f} (lib only)")


if __name__ == "__main__":
    reexec_with_mmap_threshold()
    main()
