"""One house style and one ``savefig`` for every figure of the companion.

``savefig(fig, slug, name)`` writes ``<figures root>/<slug>/<name>.png`` atomically (temp file, then
rename) with fixed PNG metadata, so the bytes change only when the pixels do. The figures root is
``figures/`` of the repository, or ``$COMPANION_FIGURES_DIR`` when set (paper-profile runs and the
test suite point it elsewhere so they never overwrite the committed ci figures).
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt

__all__ = ["use_style", "savefig", "figures_root", "PALETTE"]

REPO_ROOT = Path(__file__).resolve().parent.parent
_SLUG = re.compile(r"^[a-z0-9_]+$")
_NAME = re.compile(r"^[a-z0-9_\-]+$")

# Colour-blind-safe (Okabe-Ito), in a fixed order so a method keeps its colour across figures.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]

_STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 120,
    "font.family": "DejaVu Sans",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
    "legend.frameon": False,
    "text.usetex": False,
    "svg.hashsalt": "companion",
}


def use_style() -> None:
    """Apply the house style (fonts that ship with matplotlib, no TeX, a colour-blind-safe cycle)."""
    plt.rcParams.update(_STYLE)


def figures_root() -> Path:
    """Where figures go: ``$COMPANION_FIGURES_DIR`` if set, else ``<repo>/figures``."""
    env = os.environ.get("COMPANION_FIGURES_DIR")
    return Path(env) if env else REPO_ROOT / "figures"


def savefig(fig, slug: str, name: str) -> Path:
    """Write ``fig`` to ``<figures root>/<slug>/<name>.png`` atomically, with pinned metadata."""
    if not isinstance(slug, str) or not _SLUG.match(slug):
        raise ValueError(f"slug must be lower-case letters, digits and '_', got {slug!r}")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"name must be lower-case letters, digits, '_' or '-', without extension, got {name!r}")
    out_dir = figures_root() / slug
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{name}.png"
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".png", dir=out_dir)
    os.close(fd)
    try:
        # Software and other text chunks would carry the matplotlib version; pin them.
        fig.savefig(tmp, format="png", metadata={"Software": None}, bbox_inches="tight")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target
