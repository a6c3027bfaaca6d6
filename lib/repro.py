"""One call that makes a run deterministic (nbval compares re-executed outputs, so it must be)."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

__all__ = ["make_deterministic", "torch_generator"]


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
    return torch_generator(seed)


def torch_generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A fresh ``torch.Generator`` on ``device`` seeded with ``seed``."""
    g = torch.Generator(device=device)
    g.manual_seed(int(seed))
    return g
