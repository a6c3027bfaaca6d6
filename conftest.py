"""Shared pytest settings (tests/ and the nbval run over notebooks/): one torch thread, figures written to a temp folder, nbval ignores stderr. No MPLBACKEND: nbval's kernels draw figures inline, as the committed notebooks show them."""

import os
import sys
import tempfile
from pathlib import Path

# Notebooks re-executed by nbval write their figures and result.json here, never over figures/.
os.environ.setdefault("COMPANION_FIGURES_DIR", tempfile.mkdtemp(prefix="companion-figures-"))
os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent / "tests"))

import torch  # noqa: E402

torch.set_num_threads(1)


def pytest_collectstart(collector):
    # Warnings and tqdm progress bars go to stderr; they are not results.
    if collector.fspath and collector.fspath.ext == ".ipynb":
        collector.skip_compare += ("stderr",)
