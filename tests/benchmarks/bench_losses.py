"""Benchmark: every pair and proxy loss of lib against pytorch-metric-learning (PML) and against
the floor, forward + backward, on one CPU thread.

Run with `make bench` (a script, never collected by pytest: timings are measured here, never
asserted in tests). For each batch x dim in ``--sizes`` (default 128x128, 512x512, 2048x512) it
prints, per case, the median milliseconds of lib, PML (where PML has the same loss) and the floor,
the ratios PML / lib (> 1: lib is faster) and lib / floor, and the peak memory of one call; writes
``figures/benchmarks/losses.png`` (ms against batch size, log-log, one line per implementation)
and ``figures/benchmarks/losses.json`` (every number).

- floor: L2-normalise, ``z @ z.T``, backward of its sum: what any pairwise loss must at least do.
- timing: each timed repeat runs a call enough times to last ~25 ms; the repeats are interleaved (case by case, implementation by implementation, then the
  next repeat), so a load that comes and goes on a shared machine hits every implementation alike;
  the median is reported.
- peak memory: the rise of the process's peak resident set (VmHWM, reset through
  /proc/self/clear_refs) over one forward + backward, measured in a child process that runs with
  glibc's mmap threshold at 64 KiB, so freed tensors go back to the system and the rise tracks what
  the call holds at once (timing is measured here, without it: every large allocation would
  otherwise be a fresh mmap and page faults, which slows allocation-heavy code). Linux only
  (shown as "-" elsewhere).
- labels: ``batch / classes`` samples per class, 4 (128 and 512) or 16 (2048, 128 classes).
- settings made equal as in tests/test_losses.py and tests/test_proxy.py.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from pytorch_metric_learning import distances as pml_distances
from pytorch_metric_learning import losses as pml_losses
from pytorch_metric_learning import miners as pml_miners

from _memory import fmt_mib, peak_mib, run_with_mmap_threshold  # tests/benchmarks/_memory.py
from mlcompanion.distances import EuclideanDistance, SquaredEuclideanDistance
from mlcompanion.losses import (
    BinomialDevianceLoss,
    ContrastiveLoss,
    MultiSimilarityLoss,
    NormalizedSoftmaxLoss,
    TripletMarginLoss,
)

DEFAULT_SIZES = ("128x128", "512x512", "2048x512")


def step(loss_fn, x, y):
    def run():
        emb = x.detach().requires_grad_(True)
        loss_fn(emb, y).backward()
    return run


def floor(x, y):
    def run():
        emb = x.detach().requires_grad_(True)
        z = F.normalize(emb, dim=1)
        (z @ z.T).sum().backward()
    return run


def cases(batch: int, dim: int, classes: int):
    """name -> (lib loss, PML loss or None); each is called as f(embeddings, labels)."""
    lp2 = pml_distances.LpDistance(power=2)
    pml_ms = pml_losses.MultiSimilarityLoss(alpha=2, beta=40, base=0.5)
    ms_miner = pml_miners.MultiSimilarityMiner(epsilon=0.1)
    pml_triplet = pml_losses.TripletMarginLoss(margin=0.2, distance=lp2)
    semihard = pml_miners.TripletMarginMiner(margin=0.2, type_of_triplets="semihard", distance=lp2)
    hard = pml_miners.TripletMarginMiner(margin=0.2, type_of_triplets="hard", distance=lp2)
    ours_ns = NormalizedSoftmaxLoss(classes, dim)
    pml_ns = pml_losses.NormalizedSoftmaxLoss(classes, dim, temperature=0.05)
    with torch.no_grad():
        pml_ns.W.copy_(ours_ns.W.T)

    def triplet(mining):
        return TripletMarginLoss(0.2, mining=mining, distance=SquaredEuclideanDistance(normalize=True))

    return {
        "multi-similarity + mining": (MultiSimilarityLoss(), lambda e, t: pml_ms(e, t, ms_miner(e, t))),
        "multi-similarity, no mining": (MultiSimilarityLoss(mining=False, dup_thresh=None), pml_ms),
        "contrastive": (ContrastiveLoss(distance=EuclideanDistance(normalize=True)),
                        pml_losses.ContrastiveLoss(pos_margin=0, neg_margin=1)),
        "triplet, all": (triplet("all"), pml_triplet),
        "triplet, semi-hard": (triplet("semihard"), lambda e, t: pml_triplet(e, t, semihard(e, t))),
        "triplet, hard": (triplet("hard"), lambda e, t: pml_triplet(e, t, hard(e, t))),
        "binomial deviance": (BinomialDevianceLoss(), None),
        "normalized softmax (proxy)": (ours_ns, pml_ns),
    }


CASE_FILTER: list[str] = []  # --cases: keep the cases whose name contains one of these


def functions(batch: int, dim: int) -> tuple[dict, int]:
    classes = 128 if batch >= 2048 else max(batch // 4, 1)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, dim, generator=g)
    y = torch.arange(batch) % classes
    fns = {}
    for name, (ours, theirs) in cases(batch, dim, classes).items():
        if CASE_FILTER and not any(part in name for part in CASE_FILTER):
            continue
        fns[f"{name}|lib"] = step(ours, x, y)
        if theirs is not None:
            fns[f"{name}|PML"] = step(theirs, x, y)
    fns["floor|floor"] = floor(x, y)
    return fns, classes


def memory(batch: int, dim: int) -> dict:
    """Peak memory of one call of each, MiB (run in a child process, see run_with_mmap_threshold)."""
    fns, _ = functions(batch, dim)
    for fn in fns.values():  # warm up: lazy imports, first-call allocations
        fn()
    return {key: peak_mib(fn) for key, fn in fns.items()}


def measure(batch: int, dim: int, repeats: int, warmup: int = 2) -> dict:
    fns, classes = functions(batch, dim)
    number = {}
    for key, fn in fns.items():  # calls per timed repeat: enough for ~25 ms, so timer noise is small
        start = time.perf_counter()
        for _ in range(max(warmup - 1, 1)):
            fn()
        per_call = (time.perf_counter() - start) / max(warmup - 1, 1)
        number[key] = max(1, min(200, int(0.025 / max(per_call, 1e-6))))
    times = {key: [] for key in fns}
    for _ in range(repeats):
        for key, fn in fns.items():
            start = time.perf_counter()
            for _ in range(number[key]):
                fn()
            times[key].append((time.perf_counter() - start) / number[key])
    peak = run_with_mmap_threshold(__file__, ["--memory-only", f"{batch}x{dim}", "--cases", *CASE_FILTER])
    return {"batch": batch, "dim": dim, "classes": classes,
            "ms": {key: 1e3 * statistics.median(t) for key, t in times.items()},
            "peak_mib": peak if peak is not None else {key: None for key in fns}}


def report(result: dict) -> None:
    ms, mem = result["ms"], result["peak_mib"]
    floor_ms = ms["floor|floor"]
    b, d = result["batch"], result["dim"]
    print(f"\nbatch {b} x {d}-d, {result['classes']} classes; floor {floor_ms:.1f} ms "
          f"(peak {fmt_mib(mem['floor|floor'])} MiB)")
    print(f"{'loss':28s} {'lib ms':>9s} {'PML ms':>9s} {'PML/lib':>8s} {'lib/mlcompanion/floor':>9s} {'lib MiB':>8s} {'PML MiB':>8s}")
    names = [n for n in dict.fromkeys(k.split("|")[0] for k in ms) if n != "floor"]
    for name in names:
        ours, theirs = ms[f"{name}|lib"], ms.get(f"{name}|PML")
        ratio = f"{theirs / ours:8.2f}" if theirs is not None else f"{'-':>8s}"
        theirs_s = f"{theirs:9.1f}" if theirs is not None else f"{'-':>9s}"
        print(f"{name:28s} {ours:9.1f} {theirs_s} {ratio} {ours / floor_ms:9.2f} "
              f"{fmt_mib(mem[f'{name}|lib']):>8s} {fmt_mib(mem.get(f'{name}|PML')):>8s}")


def plot(results: list[dict], out_name: str) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mlcompanion.plotting import savefig, use_style

    use_style()
    names = [n for n in dict.fromkeys(k.split("|")[0] for k in results[0]["ms"]) if n != "floor"]
    cols = 3
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(9, 2.6 * rows + 0.6), squeeze=False, sharex=True)
    batches = [r["batch"] for r in results]
    dims = "/".join(str(r["dim"]) for r in results)
    for i, (ax, name) in enumerate(zip(axes.flat, names)):
        for impl, style in (("lib", "o-"), ("PML", "s--"), ("floor", "k:")):
            key = "floor|floor" if impl == "floor" else f"{name}|{impl}"
            if key in results[0]["ms"]:
                ax.plot(batches, [r["ms"][key] for r in results], style, label=impl)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_title(name, fontsize=10)
        if i % cols == 0:
            ax.set_ylabel("fwd + bwd (ms)")
        if i == 0:
            ax.legend()
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.supxlabel(f"batch size (embedding dim {dims})", fontsize=10)
    fig.suptitle("Loss time on one CPU thread, median of interleaved repeats", fontsize=11)
    fig.tight_layout()
    path = savefig(fig, "benchmarks", out_name, caption=(
        "Forward + backward time of each loss on one CPU thread (log-log), the companion's implementation "
        "(lib) beside pytorch-metric-learning (PML) where it has the loss; the dotted line is the floor, "
        "what any pairwise loss must at least do (L2-normalise, the similarity matmul z z^T and its backward)."))
    plt.close(fig)
    return path


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+", default=list(DEFAULT_SIZES), help="batch x dim, e.g. 512x512")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="losses", help="name of the figure and JSON under figures/benchmarks/")
    parser.add_argument("--no-save", action="store_true", help="print only")
    parser.add_argument("--replot", action="store_true",
                        help="redraw the figure from the saved figures/benchmarks/<out>.json; measure nothing")
    parser.add_argument("--cases", nargs="*", default=[], help="only the cases whose name contains one of these")
    parser.add_argument("--memory-only", metavar="BxD", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args(argv)
    CASE_FILTER[:] = args.cases
    torch.set_num_threads(args.threads)
    if args.replot:
        from mlcompanion.plotting import figure_dir

        saved = figure_dir("benchmarks") / f"{args.out}.json"
        if not saved.exists():
            raise SystemExit(f"--replot: no {saved}; run the benchmark first")
        print(f"wrote {plot(json.loads(saved.read_text())['results'], args.out)}")
        return
    if args.memory_only:
        batch, dim = (int(v) for v in args.memory_only.split("x"))
        print(json.dumps(memory(batch, dim)))
        return
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    print(f"{args.threads} thread(s), median of {args.repeats} interleaved repeats, forward + backward; "
          f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}, "
          f"1-min load average at start {load:.2f}")
    results = []
    for size in args.sizes:
        batch, dim = (int(v) for v in size.lower().split("x"))
        results.append(measure(batch, dim, args.repeats))
        report(results[-1])
    if not args.no_save:
        path = plot(results, args.out)
        meta = {"threads": args.threads, "repeats": args.repeats, "torch": torch.__version__,
                "cpu_capability": torch.backends.cpu.get_cpu_capability(), "load_average_at_start": load}
        path.with_suffix(".json").write_text(json.dumps({"meta": meta, "results": results}, indent=1) + "\n")
        print(f"\nwrote {path} and {path.with_suffix('.json').name}")


if __name__ == "__main__":
    main()
