"""The CPU code paths every companion process is pinned to (``mlcompanion.repro`` explains why).

Standard library only: the project's virtual environment imports this at interpreter start-up
(``companion_cpu_pins.pth`` in its site-packages, written by ``make env``), before torch is
imported, and ``apply()``

1. puts ``CPU_PINS`` into ``os.environ`` (child processes -- papermill's and Jupyter's kernels,
   pytest-xdist workers -- inherit them), and
2. loads the exact-square-root library (``lib/mlcompanion/_native/exact_sqrt.c``, compiled by ``make env``)
   into the global symbol scope, so that torch's calls to MKL's ``vmsSqrt``/``vmdSqrt`` land there.

``COMPANION_CPU_PINS=0`` turns both off for one process tree (results then differ from the
committed outputs); so does a CPU that is not x86-64 with AVX2 and FMA. What each pin does, and what was measured, is in ``lib/mlcompanion/repro.py``.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path

# Each pin changed results on an Intel Xeon with AVX-512 (tools/cpu_fingerprint.py, pinned vs not):
# ATen (torch's own kernels): the AVX2 kernels exist on every x86-64 CPU since Intel Haswell and
# AMD Zen; AVX-512 changes the rounding of its vectorised softmax and element-wise functions.
# MKL (torch's BLAS, LAPACK, vector math): CBWR COMPATIBLE is the branch MKL runs on AMD CPUs
# whatever is asked (measured: under MKL_CBWR=AVX2 an AMD CPU computes the COMPATIBLE results), so it
# is the one branch Intel and AMD share.
# oneDNN (torch's convolutions): capped at AVX2.
# OpenBLAS (numpy's and scipy's BLAS/LAPACK): the Haswell kernels and blocking, whatever the core.
# numpy's own SIMD loops (exp, log, sin, sums ...): no AVX-512 dispatch.
CPU_PINS = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "MKL_CBWR": "COMPATIBLE",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "OPENBLAS_CORETYPE": "Haswell",
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
}
# What ``torch.backends.cpu.get_cpu_capability()`` reports under the pins.
PINNED_CAPABILITY = "AVX2"

PTH_NAME = "companion_cpu_pins.pth"
# A .pth line that starts with "import" is executed by `site` at every interpreter start-up.
PTH_LINE = "import mlcompanion._cpu_pins as _pins; _pins.apply()\n"
SQRT_SOURCE = Path(__file__).resolve().parent / "_native" / "exact_sqrt.c"
SQRT_LIBRARY_NAME = "companion_exact_sqrt.so"

_sqrt_library = None  # the ctypes handle once loaded


def enabled() -> bool:
    return os.environ.get("COMPANION_CPU_PINS", "1") != "0"


def sqrt_library_path() -> Path:
    """Where ``make env`` puts the compiled exact-square-root library (this interpreter's site-packages)."""
    return Path(sysconfig.get_paths()["purelib"]) / SQRT_LIBRARY_NAME


def load_exact_sqrt():
    """Load the exact-square-root library into the global symbol scope; None if it is not built.

    Must run before torch is imported: symbols are bound when libtorch_cpu.so is loaded or first
    calls them, and only libraries already in the global scope take precedence over its own.
    """
    global _sqrt_library
    if _sqrt_library is None and sqrt_library_path().exists():
        import ctypes

        _sqrt_library = ctypes.CDLL(str(sqrt_library_path()), mode=os.RTLD_GLOBAL)
        _sqrt_library.companion_exact_sqrt_calls.restype = ctypes.c_longlong
    return _sqrt_library


def cpu_supports_pins() -> bool:
    """x86-64 with AVX2 and FMA (every pin names a code path such a CPU has)."""
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return False
    return {"avx2", "fma"} <= set(flags)


def apply() -> None:
    """Set the pins (overriding what the environment says: a pin that differs is no pin) and load
    the exact square root. Nothing happens with ``COMPANION_CPU_PINS=0`` or on a CPU without AVX2."""
    if not enabled() or not cpu_supports_pins():
        return
    os.environ.update(CPU_PINS)
    if "torch" not in sys.modules:
        load_exact_sqrt()


def build_exact_sqrt(target: Path) -> None:
    """Compile ``lib/mlcompanion/_native/exact_sqrt.c`` into ``target`` with the system C compiler."""
    import shutil
    import subprocess

    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise SystemExit(
            "make env needs a C compiler (cc or gcc) to build the exact square root of the CPU pins "
            "(lib/mlcompanion/_native/exact_sqrt.c); install one, e.g. `apt-get install gcc`, or set CC."
        )
    # Baseline x86-64 code (SSE2 sqrtss/sqrtps): correctly rounded on every CPU.
    cmd = [compiler, "-O2", "-fPIC", "-shared", "-fno-math-errno", "-o", str(target), str(SQRT_SOURCE), "-lm"]
    subprocess.run(cmd, check=True)


def install() -> list[str]:
    """Build the exact square root and write ``companion_cpu_pins.pth`` (``make env`` calls this)."""
    site = Path(sysconfig.get_paths()["purelib"])
    build_exact_sqrt(sqrt_library_path())
    (site / PTH_NAME).write_text(PTH_LINE)
    return [str(sqrt_library_path()), str(site / PTH_NAME)]


def main(argv: list[str] | None = None) -> None:
    if (sys.argv[1:] if argv is None else argv) != ["--install"]:
        raise SystemExit("usage: python -m mlcompanion._cpu_pins --install   (start-up hook + exact sqrt into site-packages)")
    print(f"CPU pins {CPU_PINS} -> {', '.join(install())}")


if __name__ == "__main__":
    main()
