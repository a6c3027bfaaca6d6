"""One house style and one ``savefig`` for every figure of the companion.

``savefig(fig, slug, name)`` writes ``<figure dir>/<name>.png`` atomically (temp file, then rename)
with fixed PNG metadata, so the bytes change only when the pixels do. The figure dir is

- ``$COMPANION_RUN_DIR/figures`` when set (a paper-profile run: ``results/<slug>/<profile>-<time>/``);
- else ``<figures root>/<slug>``, the root being ``$COMPANION_FIGURES_DIR`` when set (the test suite
  points it elsewhere so it never overwrites the committed ci figures), else ``figures/`` of the
  repository checkout, else (the package installed outside a checkout) ``./figures``.

The inline copy a notebook shows (and the companion site's paper page shows) is drawn at
``figure.dpi`` (80); the PNG file at ``savefig.dpi`` (120).

Every figure carries a caption saying what it shows: ``savefig(..., caption=...)`` writes it into the
PNG (the ``Description`` text chunk, which ``figures/README.md`` prints under the image) and, inside a
notebook, shows the figure with the caption under it.

**Legible at page width.** A figure is read on the site's paper page, where an output image is at most
``PAGE_WIDTH_PX`` (720 px: the notebook column of a 1280-px-wide browser window) wide. Text of ``s`` pt
in a figure ``w`` inches wide (tight bounding box) shows at ``s / 72 * min(figure.dpi, PAGE_WIDTH_PX / w)``
px. ``legible_text_px(fig)`` is that for the figure's smallest visible text; ``savefig`` records it in the
PNG (``Companion-Min-Text-Px``) and warns below ``MIN_TEXT_PX`` (11 px), which in practice means: no
text under 10 pt, and a figure drawn at most about 8.8 in wide (the tight bounding box adds 0.1 in of
padding on each side; wider only with proportionally larger text). The test suite holds every
committed figure to it.
"""

from __future__ import annotations

import os
import re
import tempfile
import warnings
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
from matplotlib.text import Text

from .validation import check_int

__all__ = ["use_style", "savefig", "figures_root", "figure_dir", "run_dir", "PALETTE", "arm_colors", "legible_text_px",
           "figure_caption", "PAGE_WIDTH_PX", "MIN_TEXT_PX", "INLINE_DPI"]

REPO_ROOT = Path(__file__).resolve().parents[2]
_SLUG = re.compile(r"^[a-z0-9_]+$")
_NAME = re.compile(r"^[a-z0-9_\-]+$")

# Colour-blind-safe (Okabe-Ito), in a fixed order so a method keeps its colour across figures.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]

INLINE_DPI = 80
PAGE_WIDTH_PX = 720
MIN_TEXT_PX = 11.0
_TIGHT_PAD_IN = 0.1  # matplotlib's savefig.pad_inches around a bbox_inches="tight" figure

_STYLE = {
    "figure.dpi": INLINE_DPI,
    "savefig.dpi": 120,
    "font.family": "DejaVu Sans",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "legend.title_fontsize": 10,
    "figure.titlesize": 12,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
    "legend.frameon": False,
    "text.usetex": False,
    "svg.hashsalt": "companion",
}


def arm_colors(n: int) -> list:
    """``n`` distinct colours, one per arm: ``PALETTE``'s first ``n`` (colour-blind safe) when it has
    enough, else matplotlib's ``tab20`` (up to 20; a paper-profile sweep can have more arms than the
    ci one). More than 20 is an error: no legend tells that many colours apart."""
    n = check_int(n, "n", 0)
    if n <= len(PALETTE):
        return PALETTE[:n]
    if n > 20:
        raise ValueError(f"arm_colors: {n} arms are too many to tell apart by colour (at most 20); split the figure")
    tab20 = plt.get_cmap("tab20")
    return [matplotlib.colors.to_hex(tab20(i)) for i in range(n)]


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


def _drawn_texts(fig) -> list[Text]:
    """The figure's visible, non-empty text artists (titles, labels, tick labels, legends, annotations)."""
    fig.canvas.draw()  # lays out ticks and legends as the saved figure has them
    fig_box = fig.bbox
    texts = []
    for text in fig.findobj(Text):
        if not text.get_visible() or not text.get_text().strip():
            continue
        axes = text.axes
        if axes is not None and not axes.get_visible():
            continue
        box = text.get_window_extent()
        if box.width <= 0 or not box.overlaps(fig_box):
            continue
        texts.append(text)
    return texts


def legible_text_px(fig) -> float:
    """CSS px of the figure's smallest visible text where the site shows it (see the module docstring):
    ``min_size_pt / 72 * min(figure dpi, PAGE_WIDTH_PX / tight_width_in)``; ``inf`` for a figure with
    no text."""
    texts = _drawn_texts(fig)
    if not texts:
        return float("inf")
    width_in = fig.get_tightbbox(fig.canvas.get_renderer()).width + 2 * _TIGHT_PAD_IN
    scale = min(float(fig.dpi), PAGE_WIDTH_PX / width_in)
    return min(t.get_fontsize() for t in texts) / 72.0 * scale


def figure_caption(path) -> str | None:
    """The caption ``savefig`` wrote into a PNG (its ``Description`` text chunk), or None."""
    from PIL import Image

    with Image.open(path) as image:
        return image.text.get("Description")


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def _show_with_caption(fig, caption: str) -> None:
    """In a notebook: the figure, the caption under it, then close it (the inline backend would show it
    again at the end of the cell)."""
    if not _in_notebook():
        return
    from IPython.display import Markdown, display

    display(fig)
    display(Markdown(f"**Figure.** {caption}"))
    plt.close(fig)


def savefig(fig, slug: str, name: str, *, caption: str, timing: bool = False) -> Path | None:
    """Write ``fig`` to ``figure_dir(slug)/<name>.png`` atomically, with pinned metadata and its caption.

    ``caption`` (required, one or more sentences) says what the figure shows; it goes into the PNG and,
    in a notebook, under the figure, which is then shown and closed. ``savefig`` warns when the
    figure's smallest text would show under ``MIN_TEXT_PX`` on the site (``legible_text_px``).

    ``timing=True`` marks a figure of wall-clock measurements: it is written only in a run folder
    (``$COMPANION_RUN_DIR``, a paper-profile run), never into the committed ``figures/``, whose files
    must be a function of the code alone (the notebook still shows it inline); returns None then.
    """
    if not isinstance(slug, str) or not _SLUG.match(slug):
        raise ValueError(f"slug must be lower-case letters, digits and '_', got {slug!r}")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"name must be lower-case letters, digits, '_' or '-', without extension, got {name!r}")
    if not isinstance(caption, str) or len(caption.strip()) < 10:
        raise ValueError(f"caption must say what the figure shows (a sentence), got {caption!r}")
    caption = " ".join(caption.split())
    text_px = legible_text_px(fig)
    if round(text_px, 1) < MIN_TEXT_PX:  # the value the PNG records (and the test of committed figures reads)
        warnings.warn(f"figure {slug}/{name}: its smallest text shows at {text_px:.1f} px on a "
                      f"{PAGE_WIDTH_PX}-px page, under {MIN_TEXT_PX:g} px; use larger text or a narrower "
                      f"figure", stacklevel=2)
    target = None
    if timing and run_dir() is None:
        (figures_root() / slug / f"{name}.png").unlink(missing_ok=True)  # a stale copy from before
    else:
        out_dir = figure_dir(slug)
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / f"{name}.png"
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".png", dir=out_dir)
        os.close(fd)
        # Software and other text chunks would carry the matplotlib version; pin them.
        metadata = {"Software": None, "Description": caption,
                    "Companion-Min-Text-Px": "inf" if text_px == float("inf") else f"{text_px:.1f}"}
        try:
            fig.savefig(tmp, format="png", metadata=metadata, bbox_inches="tight")
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    _show_with_caption(fig, caption)
    return target
