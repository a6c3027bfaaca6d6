"""Peak-memory measurement shared by the benchmark scripts (Linux; None elsewhere).

``peak_mib(fn)``: the rise of the process's peak resident set (VmHWM, reset through
/proc/self/clear_refs) over one call of ``fn``. ``reexec_with_mmap_threshold()`` re-executes the
script once (``run_with_mmap_threshold`` runs it as a child) with glibc's mmap threshold at 64 KiB,
so that freed tensors go back to the system and the rise tracks what the call holds at once rather
than what the allocator kept from before. That setting slows allocation-heavy code (every large
tensor a fresh mmap): time in a process without it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

_REEXEC = "COMPANION_BENCH_MMAP"


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def peak_mib(fn) -> float | None:
    """Rise of the peak resident set over one call of ``fn``, MiB (None where /proc is missing)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    except OSError:
        fn()
        return None
    before = _status_kib("VmRSS")
    fn()
    after = _status_kib("VmHWM")
    return None if before is None or after is None else max(after - before, 0) / 1024


def reexec_with_mmap_threshold() -> None:
    if sys.platform.startswith("linux") and os.environ.get(_REEXEC) != "1":
        env = dict(os.environ, **{_REEXEC: "1", "MALLOC_MMAP_THRESHOLD_": "65536"})
        os.execve(sys.executable, [sys.executable, *sys.argv], env)


def run_with_mmap_threshold(script: str, args: list[str]):
    """Run ``script args`` in a child interpreter with the mmap threshold at 64 KiB; its last line of
    output is JSON, returned parsed (None off Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    env = dict(os.environ, **{_REEXEC: "1", "MALLOC_MMAP_THRESHOLD_": "65536"})
    out = subprocess.run([sys.executable, script, *args], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def fmt_mib(value) -> str:
    return "-" if value is None else f"{value:.0f}"
