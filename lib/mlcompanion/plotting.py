"""One house style and one ``savefig`` for every figure of the companion.

``savefig(fig, slug, name)`` writes ``<figure dir>/<name>.png`` atomically (temp file, then rename)
with fixed PNG metadata, so the bytes change only when the pixels do. The figure dir is

- ``$COMPANION_RUN_DIR/figures`` when set (a paper-profile run: ``results/<slug>/<profile>-<time>/``);
- else ``<figures root>/<slug>``, the root being ``$COMPANION_FIGURES_DIR`` when set (the test suite
  points it elsewhere so it never overwrites the committed ci figures), else ``figures/`` of the
  repository checkout, else (the package installed outside a checkout) ``./figures``.

The inline copy a notebook shows is drawn at ``figure.dpi`` (80: small notebooks); the PNG file at
``savefig.dpi``.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt

__all__ = ["use_style", "savefig", "figures_root", "figure_dir", "run_dir", "PALETTE"]

REPO_ROOT = Path(__file__).resolve().parents[2]
_SLUG = re.compile(r"^[a-z0-9_]+$")
_NAME = re.compile(r"^[a-z0-9_\-]+$")

# Colour-blind-safe (Okabe-Ito), in a fixed order so a method keeps its colour across figures.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]

_STYLE = {
    "figure.dpi": 80,
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
    """``$COMPANION_FIGURES_DIR`` if set, else ``figures/`` of the repository checkout this package
    lives in, else ``./figures`` (an installed package never writes into site-packages)."""
    env = os.environ.get("COMPANION_FIGURES_DIR")
    if env:
        return Path(env)
    if (REPO_ROOT / "notebooks").is_dir() and (REPO_ROOT / "lib" / "mlcompanion").is_dir():
        return REPO_ROOT / "figures"
    return Path.cwd() / "figures"


def run_dir() -> Path | None:
    """The folder of a paper-profile run (``$COMPANION_RUN_DIR``), or None."""
    env = os.environ.get("COMPANION_RUN_DIR")
    return Path(env) if env else None


def figure_dir(slug: str) -> Path:
    """Where ``savefig(fig, slug, ...)`` writes (see the module docstring)."""
    return run_dir() / "figures" if run_dir() is not None else figures_root() / slug


def savefig(fig, slug: str, name: str, *, timing: bool = False) -> Path | None:
    """Write ``fig`` to ``figure_dir(slug)/<name>.png`` atomically, with pinned metadata.

    ``timing=True`` marks a figure of wall-clock measurements: it is written only in a run folder
    (``$COMPANION_RUN_DIR``, a paper-profile run), never into the committed ``figures/``, whose files
    must be a function of the code alone (the notebook still shows it inline); returns None then.
    """
    if not isinstance(slug, str) or not _SLUG.match(slug):
        raise ValueError(f"slug must be lower-case letters, digits and '_', got {slug!r}")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"name must be lower-case letters, digits, '_' or '-', without extension, got {name!r}")
    if timing and run_dir() is None:
        (figures_root() / slug / f"{name}.png").unlink(missing_ok=True)  # a stale copy from before
        return None
    out_dir = figure_dir(slug)
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
