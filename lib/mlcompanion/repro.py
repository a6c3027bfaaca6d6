"""One call that makes a run deterministic (nbval compares re-executed outputs, so it must be), and
the CPU pins that make it the same run on every x86-64 CPU with AVX2.

Float results depend on which code path a CPU kernel takes. Measured with
``tools/cpu_fingerprint.py`` on an Intel Xeon with AVX-512 and AMX, against the same wheel under
QEMU's user-mode emulation of an Intel Haswell (AVX2 only) and an AMD EPYC-Milan:

- ATen (torch's own kernels) dispatches by instruction set: with AVX-512 its vectorised softmax,
  exp/log/tanh/sigmoid, pow/erf and sin/cos/atan2 round differently than with AVX2 (4 of the 29
  fingerprinted ops change when this pin alone is lifted). ``ATEN_CPU_CAPABILITY=avx2``.
- MKL (matrix products, LAPACK, vector math) picks kernels by instruction set *and vendor*: on an
  AMD CPU it runs its vendor-neutral branch whatever ``MKL_CBWR`` asks for (under ``MKL_CBWR=AVX2``
  the emulated EPYC computes exactly the ``COMPATIBLE`` results). ``MKL_CBWR=COMPATIBLE`` makes every
  CPU take that branch.
- In that branch MKL's vector square root (which ``torch.sqrt`` calls, hence Adam's update and every
  Euclidean distance) starts from the CPU's approximate reciprocal square root, whose table is
  vendor-specific; the emulator's differs from the Xeon's. The companion replaces
  ``vmsSqrt``/``vmdSqrt`` with the correctly rounded IEEE square root (``lib/mlcompanion/_native/exact_sqrt.c``),
  identical on every CPU.
- oneDNN's convolutions: ``ONEDNN_MAX_CPU_ISA=AVX2``.
- numpy and scipy bring their own OpenBLAS, which picks kernels and blocking by core type
  (``OPENBLAS_CORETYPE=Haswell``), and numpy dispatches its SIMD loops by instruction set
  (``NPY_DISABLE_CPU_FEATURES`` drops the AVX-512 ones).

Under these pins all 29 fingerprinted ops (torch: products, convolutions forward and backward,
norms, reductions, transcendental functions, LAPACK, training steps of a CNN with Adam; numpy,
scipy and scikit-learn: BLAS, LAPACK, SIMD loops, special functions, KMeans/PCA) agree bit for bit
on the three CPUs; on the Xeon, 22 of the 29 change when the pins are lifted. The pins must be in place before torch first dispatches a kernel, so the project's
virtual environment applies them at interpreter start-up (``make env`` writes
``companion_cpu_pins.pth``, which runs ``mlcompanion._cpu_pins.apply``) and every process started from
``.venv`` has them: make, the pipeline, papermill's kernels, pytest and nbval, ``jupyter lab``.
``cpu_report()`` says what is in force; every executed notebook records it.
"""
from __future__ import annotations

import os
import platform
import random
import warnings

import numpy as np
import torch

from . import _cpu_pins
from ._cpu_pins import CPU_PINS, PINNED_CAPABILITY

__all__ = ["make_deterministic", "torch_generator", "CPU_PINS", "cpu_report", "cpu_pins_in_force", "exact_sqrt_in_effect"]


def make_deterministic(seed: int = 0, *, threads: int = 1) -> torch.Generator:
    """Seed Python, NumPy and torch; force deterministic kernels and a fixed thread count.

    Float results depend on the number of intra-op threads (reductions are split differently),
    so the companion runs every notebook on ``threads=1`` and gets its parallelism from running
    two notebooks at once. On CUDA this also turns TF32 off and asks cuBLAS for a fixed workspace.

    Returns a ``torch.Generator`` seeded with ``seed`` for code that wants its own stream.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive int, got {threads!r}")
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    _warn_if_unpinned()
    return torch_generator(seed)


def torch_generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A fresh ``torch.Generator`` on ``device`` seeded with ``seed``."""
    g = torch.Generator(device=device)
    g.manual_seed(int(seed))
    return g


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def exact_sqrt_in_effect() -> bool:
    """True when torch's float square root runs through the companion's exact ``vmsSqrt``.

    Checked by effect, not by a flag: a ``torch.sqrt`` call must reach the library's counter.
    """
    library = _cpu_pins._sqrt_library
    if library is None:
        return False
    before = library.companion_exact_sqrt_calls()
    torch.sqrt(torch.ones(64))
    return library.companion_exact_sqrt_calls() > before


def cpu_pins_in_force() -> bool:
    """True when every ``CPU_PINS`` variable has its pinned value, torch runs the pinned capability
    and ``torch.sqrt`` is the exact one."""
    env_ok = all(os.environ.get(key) == value for key, value in CPU_PINS.items())
    return env_ok and torch.backends.cpu.get_cpu_capability() == PINNED_CAPABILITY and exact_sqrt_in_effect()


def cpu_report() -> dict:
    """What the numbers of this process depend on: the CPU, torch's kernel dispatch and the pins."""
    return {
        "cpu_model": _cpu_model(),
        "machine": platform.machine(),
        "torch": torch.__version__,
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "pins": {key: os.environ.get(key) for key in CPU_PINS},
        "exact_sqrt": exact_sqrt_in_effect(),
        "pins_in_force": cpu_pins_in_force(),
    }


_warned = False


def _warn_if_unpinned() -> None:
    global _warned
    if _warned or cpu_pins_in_force():
        return
    _warned = True
    report = cpu_report()
    warnings.warn(
        "the CPU pins of mlcompanion.repro.CPU_PINS are not in force "
        f"(torch capability {report['torch_cpu_capability']}, environment {report['pins']}, exact sqrt "
        f"{report['exact_sqrt']}): results are "
        "deterministic on this machine but will not match the committed notebook outputs bit for bit. "
        "Run through the project's .venv (make env installs the pins into it).",
        stacklevel=3,
    )
