"""Fingerprint the CPU kernels the notebooks' numbers depend on.

Runs a fixed set of torch ops (BLAS products, convolutions forward and backward, batch norm,
pooling, reductions, transcendental functions, LAPACK, a few steps of training a small CNN) on
seeded inputs, one thread, and prints a short hash of each result's bytes. Two machines (or two
settings of the CPU pins) whose fingerprints agree compute those ops bit for bit alike.

    python tools/cpu_fingerprint.py              # table: op, hash
    python tools/cpu_fingerprint.py --json       # the same as JSON
    python tools/cpu_fingerprint.py --quick --json > tests/data/cpu_fingerprint.json
                                                 # the reference tests/test_cpu_pins.py compares with

Run it under QEMU's user-mode emulator (Debian's qemu-user) to see what another CPU would compute,
e.g. ``qemu-x86_64 -cpu EPYC-Milan .venv/bin/python tools/cpu_fingerprint.py --quick`` (an AMD CPU
with AVX2, no AVX-512, other cache sizes) or ``-cpu Haswell`` (an Intel CPU with AVX2 only); about
two minutes each. The emulator computes IEEE arithmetic exactly but not the CPU's approximate
reciprocal (square root) tables, so an op that uses those differs under it -- as it would on a
real CPU of another vendor.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _digest(*tensors) -> str:
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.detach().contiguous().numpy().tobytes())
    return h.hexdigest()[:12]


def fingerprints(quick: bool = False) -> dict[str, str]:
    """Op name -> hash of its results. ``quick``: smaller sizes, for emulated CPUs (about 100x slower)."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    g = torch.Generator().manual_seed(0)

    def randn(*shape):
        return torch.randn(*shape, generator=g)

    out: dict[str, str] = {}
    # BLAS (MKL sgemm/dgemm): several shapes, since kernels and blockings differ by shape.
    for m, k, n in [(7, 5, 3), (64, 64, 64), (33, 300, 65)] + ([] if quick else [(256, 128, 512)]):
        a, b = randn(m, k), randn(k, n)
        out[f"mm {m}x{k}x{n}"] = _digest(a @ b, a.T.contiguous().T @ b)
    a = randn(300, 200).double()
    out["mm float64 300x200x300"] = _digest(a @ a.T)
    x, w, bias = randn(128, 96).requires_grad_(), randn(48, 96).requires_grad_(), randn(48).requires_grad_()
    y = F.linear(x, w, bias)
    y.square().sum().backward()
    out["linear fwd+bwd"] = _digest(y, x.grad, w.grad, bias.grad)
    # Convolutions (oneDNN when enabled, else ATen's im2col + BLAS), forward and backward.
    batch = 4 if quick else 16
    for cin, cout, side in [(1, 32, 32), (32, 64, 16), (64, 64, 8)]:
        x = randn(batch, cin, side, side).requires_grad_()
        w = (randn(cout, cin, 3, 3) * 0.1).requires_grad_()
        y = F.conv2d(x, w, padding=1)
        (y * randn(*y.shape)).sum().backward()
        out[f"conv3x3 {cin}->{cout} {side}px fwd+bwd"] = _digest(y, x.grad, w.grad)
    x = randn(8, 3, 32, 32).requires_grad_()
    w = (randn(16, 3, 7, 7) * 0.1).requires_grad_()
    y = F.conv2d(x, w, stride=2, padding=3)
    y.sum().backward()
    out["conv7x7 stride 2 fwd+bwd"] = _digest(y, x.grad, w.grad)
    # Normalisation, pooling, activations.
    x = randn(16, 32, 16, 16).requires_grad_()
    bn = torch.nn.BatchNorm2d(32)
    y = F.max_pool2d(F.relu(bn(x)), 2)
    (y * randn(*y.shape)).sum().backward()
    out["batchnorm+relu+maxpool fwd+bwd"] = _digest(y, x.grad, bn.running_var)
    x = randn(16, 32, 16, 16)
    out["avg_pool / adaptive_avg_pool / mean(2,3)"] = _digest(F.avg_pool2d(x, 2), F.adaptive_avg_pool2d(x, 1), x.mean((2, 3)))
    # Reductions (ATen's vectorised kernels: the summation order follows the vector width).
    v = randn(100_003)
    m = randn(257, 129)
    out["sum / mean / var / norm"] = _digest(v.sum(), v.mean(), v.var(), m.norm(dim=1), m.sum(0), m.sum(1))
    out["softmax / log_softmax / logsumexp"] = _digest(m.softmax(1), m.log_softmax(0), m.logsumexp(1))
    out["cumsum / prod"] = _digest(v.cumsum(0), (1 + v[:50] / 100).prod())
    # Element-wise transcendental functions (SLEEF/vectorised in ATen).
    u = randn(10_000)
    out["exp / log / tanh / sigmoid"] = _digest(u.exp(), u.abs().add(1e-3).log(), u.tanh(), u.sigmoid())
    out["sqrt / rsqrt / pow / erf / reciprocal"] = _digest(u.abs().sqrt(), u.abs().add(1).rsqrt(), u.abs().pow(1.7), torch.erf(u), (u + 10).reciprocal())
    out["sin / cos / atan2 / log1p / expm1"] = _digest(u.sin(), u.cos(), torch.atan2(u, u.flip(0)), u.abs().log1p(), u.expm1())
    # Distances and ranking.
    p, q = randn(300, 64), randn(200, 64)
    out["cdist / topk / sort"] = _digest(torch.cdist(p, q), torch.cdist(p, q).topk(5, dim=1).values, p.sum(1).sort().values)
    # LAPACK (MKL).
    s = randn(64, 64).double()
    spd = s @ s.T + 64 * torch.eye(64, dtype=torch.float64)
    out["eigh / cholesky / solve / svdvals float64"] = _digest(torch.linalg.eigh(spd).eigenvalues, torch.linalg.cholesky(spd),
                                                              torch.linalg.solve(spd, s), torch.linalg.svdvals(s))
    out["eigh float32"] = _digest(torch.linalg.eigh(spd.float()).eigenvalues)
    # A few steps of what the notebooks do: a small CNN, an embedding loss, Adam.
    from mlcompanion.losses import MultiSimilarityLoss
    from mlcompanion.models import SmallConvNet

    torch.manual_seed(0)
    model = SmallConvNet(in_channels=1, embedding_dim=64, width=32)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = MultiSimilarityLoss()
    n_classes = 4 if quick else 16
    x = randn(4 * n_classes, 1, 32, 32)
    labels = torch.arange(n_classes).repeat_interleave(4)
    losses = []
    for _ in range(2 if quick else 5):
        opt.zero_grad()
        loss = loss_fn(F.normalize(model(x), dim=1), labels)
        loss.backward()
        opt.step()
        losses.append(loss.detach())
    out["SmallConvNet + MS loss + Adam, training steps"] = _digest(torch.stack(losses), *[p.data for p in model.parameters()])
    out.update(numpy_fingerprints(quick))
    return out


def numpy_fingerprints(quick: bool = False) -> dict[str, str]:
    """The numpy / scipy / scikit-learn side: OpenBLAS (numpy's and scipy's copies, dispatched by
    core type), numpy's SIMD loops (dispatched by instruction set), scipy's special functions and
    the scikit-learn estimators the notebooks use."""
    import numpy as np
    import scipy.linalg
    import scipy.special
    import scipy.stats

    rng = np.random.default_rng(0)
    out: dict[str, str] = {}
    n = 96 if quick else 256
    for dtype in (np.float32, np.float64):
        a, b = rng.standard_normal((n, 300)).astype(dtype), rng.standard_normal((300, n)).astype(dtype)
        out[f"numpy matmul {np.dtype(dtype).name}"] = _np_digest(a @ b, a.sum(1), a.T @ a)
        u = rng.standard_normal(10_001).astype(dtype)
        out[f"numpy exp/log/sin/tanh/sqrt {np.dtype(dtype).name}"] = _np_digest(
            np.exp(u), np.log(np.abs(u) + 1e-3), np.sin(u), np.tanh(u), np.sqrt(np.abs(u)), np.sort(u), np.cumsum(u))
    m = rng.standard_normal((64, 64))
    spd = m @ m.T + 64 * np.eye(64)
    out["numpy.linalg eigh/solve/svd/qr/inv/cholesky"] = _np_digest(
        np.linalg.eigh(spd)[0], np.linalg.solve(spd, m), np.linalg.svd(m)[1], np.linalg.qr(m)[1], np.linalg.inv(spd),
        np.linalg.cholesky(spd))
    out["scipy.linalg eigvalsh/solve/svd/expm"] = _np_digest(
        scipy.linalg.eigvalsh(spd), scipy.linalg.solve(spd, m), scipy.linalg.svd(m)[1], scipy.linalg.expm(m / 10))
    x = np.linspace(0.01, 20, 2001)
    out["scipy.special / stats (ncx2, log_ndtr, gammaln)"] = _np_digest(
        scipy.special.log_ndtr(x - 10), scipy.special.gammaln(x), scipy.stats.ncx2.logpdf(x, 3, 2.5),
        np.array(scipy.stats.spearmanr(x, np.sin(x))[0]))
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.metrics import roc_auc_score

    X = rng.standard_normal((300 if quick else 1000, 32))
    labels = KMeans(n_clusters=8, n_init=2, random_state=0).fit_predict(X)
    # (Integer sorting, e.g. inside NMI, has one right answer; QEMU 7.2 also crashes in numpy's AVX2 int sort.)
    out["sklearn KMeans / PCA / AUROC"] = _np_digest(
        labels, PCA(n_components=8, random_state=0).fit_transform(X), np.array(roc_auc_score(X[:, 0] > 0, X[:, 1])))
    return out


def _np_digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:12]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--quick", action="store_true", help="fewer training steps (for emulated runs)")
    args = parser.parse_args(argv)
    import torch

    from mlcompanion.repro import cpu_report

    prints = fingerprints(quick=args.quick)
    if args.json:
        print(json.dumps({"cpu": cpu_report(), "fingerprints": prints}))
        return
    for key, value in cpu_report().items():
        print(f"# {key}: {value}")
    width = max(map(len, prints))
    for name, digest in prints.items():
        print(f"{name:<{width}}  {digest}")


if __name__ == "__main__":
    main()
