"""Font glyphs: a deterministic, offline image dataset for zero-shot metric learning.

Characters (Latin, digits, Greek, Cyrillic) are rendered from the 16 TrueType faces that ship
inside matplotlib -- DejaVu Sans, DejaVu Sans Mono, DejaVu Serif and STIXGeneral, each in
regular, bold, italic/oblique and bold-italic/oblique -- so nothing is downloaded.  Every class is
one character; its images are that character in the 16 fonts, each under a small random affine
transform.  Classes are split *class-disjointly* into train and test, so the test split measures
retrieval of classes never seen in training.  It stands in for CUB-200-2011 (100 train / 100 test
bird species, zero-shot retrieval on unseen classes) at a scale a CPU trains in seconds.

* Classes: :func:`glyph_alphabet` -- 128 characters, after removing the characters every font does
  not cover and all but one member of each group of look-alikes (Latin ``O``, Greek ``Ο`` and
  Cyrillic ``О`` are one class; see ``LOOKALIKES`` for the full list).
* Images: float32 ``(N, 1, image_size, image_size)``, ink 1.0 on background 0.0, values in
  [0, 1] and multiples of 1/255 (default 32x32).  Glyphs are drawn at one fixed font size with one
  fixed baseline, centred horizontally, so upper and lower case keep their size difference and
  descenders stay below the baseline.
* Sizes with the defaults: 64 train classes and 64 test classes, ``16 fonts x n_augments (2) =
  32`` images per class, i.e. 2048 train and 2048 test images.
* Augmentation: rotation +-10 degrees, scale 0.9-1.1, shear +-0.1, shift +-1/16 of the side (+-2 px
  at 32x32), bilinear, drawn from a ``torch.Generator`` seeded with ``seed``.

The first call renders (about 0.3 s on one core for the defaults) and caches the result in ``cache_dir``
(``$COMPANION_CACHE_DIR`` or ``~/.cache/metric-learning-companion``); the cache key covers every
setting, the Pillow/torch/numpy versions and the bytes of the font files.  The same settings give
bit-identical tensors with or without the cache.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import tempfile
import zipfile
from dataclasses import dataclass

import matplotlib
import numpy as np
import PIL
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

__all__ = [
    "FONT_FILES",
    "LOOKALIKES",
    "GlyphSplit",
    "GlyphData",
    "glyph_alphabet",
    "glyph_font_paths",
    "render_glyphs",
    "augment_batch",
    "load_glyphs",
]

#: The 16 font faces, in the order of ``GlyphData.font_names`` (files in matplotlib's fonts/ttf).
FONT_FILES: tuple[str, ...] = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSans-BoldOblique.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
    "DejaVuSansMono-Oblique.ttf",
    "DejaVuSansMono-BoldOblique.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf",
    "DejaVuSerif-BoldItalic.ttf",
    "STIXGeneral.ttf",
    "STIXGeneralBol.ttf",
    "STIXGeneralItalic.ttf",
    "STIXGeneralBolIta.ttf",
)

_CANDIDATES = (
    "0123456789"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "abcdefghijklmnopqrstuvwxyz"
    "ΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩ"
    "αβγδεζηθικλμνξοπρςστυφχψω"
    "АБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ"
    "абвгдежзийклмнопрстуфхцчшщъыьэюя"
)

#: Removed look-alikes: removed character -> the kept character that represents its group.
#: Criterion, on the clean 32x32 renders correlated font by font: a pair is a look-alike when
#: its mean correlation over the 16 fonts is >= 0.93 or it is nearly identical (correlation
#: > 0.95) in more than 5 fonts.  Every removed pair meets it (cross-script homoglyphs 0.91-1.0
#: mean and 6-16 fonts; I/l, Q/O, З/3, Й/И, Щ/Ш, п/n: 7-8 fonts; й/и: mean 0.932) except three
#: removed for other reasons: 0/O (near-identical only in the 4 mono faces, but the classic
#: confusable), Ф/Φ (one letter, drawn differently by some faces) and ς/σ (final sigma is a
#: positional form of sigma).  tests/test_glyphs.py checks that no kept pair meets it.
LOOKALIKES: dict[str, str] = {
    # Latin
    "I": "l", "0": "O", "Q": "O",
    # Greek capitals that are Latin capitals
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "l", "Κ": "K", "Μ": "M", "Ν": "N",
    "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
    # Greek small
    "ο": "o", "κ": "к", "ς": "σ",
    # Cyrillic capitals
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C",
    "Т": "T", "Х": "X", "Г": "Γ", "П": "Π", "Ф": "Φ", "Й": "И", "З": "3", "Щ": "Ш",
    # Cyrillic small
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "й": "и", "п": "n",
    "щ": "ш",
}  # fmt: skip

_CACHE_FORMAT = 1
_MARGIN_FRACTION = 1 / 16  # blank border kept around the tallest/widest glyph
_MIN_IMAGE_SIZE = 16


# --------------------------------------------------------------------------------------------
# fonts and alphabet
# --------------------------------------------------------------------------------------------


def glyph_font_paths() -> list[str]:
    """Absolute paths of the 16 font files, in ``FONT_FILES`` order."""
    root = os.path.join(matplotlib.get_data_path(), "fonts", "ttf")
    paths = [os.path.join(root, name) for name in FONT_FILES]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise FileNotFoundError(f"matplotlib font files not found: {missing}")
    return paths


@functools.lru_cache(maxsize=None)
def _covered_codepoints() -> frozenset[int]:
    """Code points with a real glyph (cmap entry to a glyph index > 0) in every chosen font."""
    from matplotlib.ft2font import FT2Font

    common: set[int] | None = None
    for path in glyph_font_paths():
        cmap = FT2Font(path).get_charmap()
        have = {cp for cp, gid in cmap.items() if gid > 0}
        common = have if common is None else common & have
    return frozenset(common or ())


def _usable(chars: str) -> list[str]:
    covered = _covered_codepoints()
    return [c for c in chars if ord(c) in covered]


@functools.lru_cache(maxsize=None)
def _alphabet() -> tuple[str, ...]:
    return tuple(c for c in _usable(_CANDIDATES) if c not in LOOKALIKES)


def glyph_alphabet() -> list[str]:
    """All usable classes in a fixed order: digits, Latin, Greek, Cyrillic (upper then lower).

    A character is usable when all 16 fonts map it to a real glyph and it is not a removed
    look-alike (``LOOKALIKES``).  Class ``i`` of a split is ``GlyphSplit.classes[i]``.
    """
    return list(_alphabet())


@functools.lru_cache(maxsize=None)
def _font_digest() -> str:
    h = hashlib.sha256()
    for path in glyph_font_paths():
        with open(path, "rb") as f:
            data = f.read()
        h.update(os.path.basename(path).encode())
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


# --------------------------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------------------------


def _check_image_size(image_size) -> int:
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)):
        raise ValueError(f"image_size must be an int >= {_MIN_IMAGE_SIZE}, got {image_size!r}")
    if image_size < _MIN_IMAGE_SIZE:
        raise ValueError(
            f"image_size must be >= {_MIN_IMAGE_SIZE} (smaller glyphs are unreadable), "
            f"got {image_size}"
        )
    return int(image_size)


def _extents(fonts, chars) -> tuple[int, int, int]:
    """Largest (height above baseline, depth below baseline, width) over fonts x chars."""
    up = down = width = 0
    for font in fonts:
        for ch in chars:
            left, top, right, bottom = font.getbbox(ch, anchor="ls")
            up, down, width = max(up, -top), max(down, bottom), max(width, right - left)
    return up, down, width


@functools.lru_cache(maxsize=None)
def _layout(image_size: int, chars: str) -> tuple[int, int]:
    """(font size in px, baseline y) such that every glyph of ``chars`` fits with a margin."""
    paths = glyph_font_paths()
    avail = image_size - 2 * max(1, round(image_size * _MARGIN_FRACTION))
    ref = 256
    up, down, width = _extents([ImageFont.truetype(p, ref) for p in paths], chars)
    size = max(1, math.floor(ref * min(avail / (up + down), avail / width)))
    while True:  # rasterised extents are not exactly linear in the size: shrink until it fits
        up, down, width = _extents([ImageFont.truetype(p, size) for p in paths], chars)
        if (up + down <= avail and width <= avail) or size == 1:
            break
        size -= 1
    baseline = (image_size - (up + down)) // 2 + up  # centre the tallest extent vertically
    return size, baseline


def render_glyphs(chars, image_size: int = 32) -> torch.Tensor:
    """Clean renders of ``chars`` in all 16 fonts: uint8 tensor ``(len(chars), 16, S, S)``.

    Ink is 255 on background 0.  The font size and baseline are fixed for a given
    ``image_size`` (chosen so that every glyph of the alphabet fits), so renders of different
    characters are directly comparable.
    """
    image_size = _check_image_size(image_size)
    chars = list(chars)
    bad = [c for c in chars if not (isinstance(c, str) and len(c) == 1)]
    if bad:
        raise ValueError(f"chars must be single characters, got {bad[:5]!r}")
    candidates = _usable(_CANDIDATES)
    unknown = [c for c in chars if c not in candidates]
    if unknown:
        raise ValueError(
            f"chars must be candidate characters covered by every font, got {unknown[:5]!r}"
        )
    size, baseline = _layout(image_size, "".join(candidates))
    out = np.zeros((len(chars), len(FONT_FILES), image_size, image_size), dtype=np.uint8)
    for j, path in enumerate(glyph_font_paths()):
        font = ImageFont.truetype(path, size)
        for i, ch in enumerate(chars):
            left, _, right, _ = font.getbbox(ch, anchor="ls")
            x = (image_size - (right - left)) // 2 - left
            img = Image.new("L", (image_size, image_size), 0)
            ImageDraw.Draw(img).text((x, baseline), ch, fill=255, font=font, anchor="ls")
            out[i, j] = np.asarray(img)
    return torch.from_numpy(out)


# --------------------------------------------------------------------------------------------
# augmentation
# --------------------------------------------------------------------------------------------


def _affine_thetas(
    n: int,
    generator: torch.Generator,
    max_rotation_deg: float,
    scale_range: tuple[float, float],
    max_shift: float,
    max_shear: float,
) -> torch.Tensor:
    """``n`` random 2x3 matrices for ``affine_grid`` (output -> input normalised coordinates)."""
    u = torch.rand((n, 5), generator=generator, dtype=torch.float64) * 2 - 1  # U(-1, 1)
    angle = torch.deg2rad(u[:, 0] * max_rotation_deg)
    lo, hi = scale_range
    scale = lo + (u[:, 1] + 1) / 2 * (hi - lo)
    shear = u[:, 2] * max_shear
    shift = u[:, 3:5] * (2 * max_shift)  # a fraction f of the side is 2f in normalised units
    cos, sin = torch.cos(angle), torch.sin(angle)
    # forward map of the content: x -> scale * R(angle) @ [[1, shear], [0, 1]] @ x + shift
    fwd = torch.stack(
        [
            torch.stack([cos, cos * shear - sin], dim=-1),
            torch.stack([sin, sin * shear + cos], dim=-1),
        ],
        dim=-2,
    ) * scale[:, None, None]
    inv = torch.linalg.inv(fwd)
    t = -(inv @ shift[:, :, None])
    return torch.cat([inv, t], dim=-1).float()


def _apply_thetas(images: torch.Tensor, thetas: torch.Tensor) -> torch.Tensor:
    grid = F.affine_grid(thetas.to(images.dtype), list(images.shape), align_corners=False)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.clamp_(0.0, 1.0)


def _check_augment_args(max_rotation_deg, scale_range, max_shift, max_shear):
    if not (isinstance(max_rotation_deg, (int, float)) and 0 <= max_rotation_deg <= 180):
        raise ValueError(f"max_rotation_deg must be in [0, 180], got {max_rotation_deg!r}")
    try:
        lo, hi = (float(v) for v in scale_range)
    except (TypeError, ValueError):
        raise ValueError(f"scale_range must be a pair (low, high), got {scale_range!r}") from None
    if not (0 < lo <= hi < math.inf):
        raise ValueError(f"scale_range must satisfy 0 < low <= high, got {scale_range!r}")
    if not (isinstance(max_shift, (int, float)) and 0 <= max_shift <= 1):
        raise ValueError(f"max_shift must be a fraction of the side in [0, 1], got {max_shift!r}")
    if not (isinstance(max_shear, (int, float)) and 0 <= max_shear <= 1):
        raise ValueError(f"max_shear must be in [0, 1], got {max_shear!r}")
    return (lo, hi)


def augment_batch(
    images: torch.Tensor,
    generator: torch.Generator,
    *,
    max_rotation_deg: float = 10.0,
    scale_range: tuple[float, float] = (0.9, 1.1),
    max_shift: float = 1 / 16,
    max_shear: float = 0.1,
) -> torch.Tensor:
    """Independent random affine transform of each image (the dataset's augmentation).

    ``images``: float tensor ``(N, C, H, W)`` with background 0.  Each image is rotated by
    U(-max_rotation_deg, +max_rotation_deg) degrees, scaled by U(scale_range), sheared by
    U(-max_shear, +max_shear) and shifted by U(-max_shift, +max_shift) times the side along each
    axis (defaults: +-10 deg, 0.9-1.1, +-0.1, +-2 px at 32x32), resampled bilinearly with zero
    padding and clamped to [0, 1].  The parameters are drawn from ``generator`` only, so the same
    generator state gives the same output.  Returns a new tensor of the same shape and dtype.
    """
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or not images.is_floating_point():
        desc = (
            f"tensor of shape {tuple(images.shape)} and dtype {images.dtype}"
            if isinstance(images, torch.Tensor)
            else type(images).__name__
        )
        raise ValueError(f"images must be a float tensor of shape (N, C, H, W), got {desc}")
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    scale_range = _check_augment_args(max_rotation_deg, scale_range, max_shift, max_shear)
    if images.shape[0] == 0:
        return images.clone()
    thetas = _affine_thetas(
        images.shape[0], generator, max_rotation_deg, scale_range, max_shift, max_shear
    )
    return _apply_thetas(images, thetas)


# --------------------------------------------------------------------------------------------
# dataset
# --------------------------------------------------------------------------------------------


@dataclass
class GlyphSplit:
    """One class-disjoint split.

    Images are ordered by label, then font, then copy: the images of label ``c`` are the rows
    ``c * n_per_class : (c + 1) * n_per_class`` with ``n_per_class = 16 * n_copies``.
    """

    images: torch.Tensor  # float32 (N, 1, H, W) in [0, 1], ink 1.0 on background 0.0
    labels: torch.Tensor  # int64 (N,), contiguous 0..C-1
    fonts: torch.Tensor  # int64 (N,), index into GlyphData.font_names
    classes: list[str]  # classes[label] is the character of that label

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@dataclass
class GlyphData:
    """Train and test splits with disjoint classes, and the names of the 16 fonts."""

    train: GlyphSplit
    test: GlyphSplit
    font_names: list[str]


def _check_count(value, name: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _default_cache_dir() -> str:
    env = os.environ.get("COMPANION_CACHE_DIR")
    if env:
        return env
    return os.path.join(os.path.expanduser("~"), ".cache", "metric-learning-companion")


def _split_classes(n_alpha: int, n_train: int, n_test: int, split_seed: int):
    perm = torch.randperm(n_alpha, generator=torch.Generator().manual_seed(split_seed)).tolist()
    return sorted(perm[:n_train]), sorted(perm[n_train : n_train + n_test])


def _render_dataset(settings: dict) -> dict[str, np.ndarray]:
    """Render both splits as numpy arrays (images as uint8); a pure function of ``settings``."""
    alphabet = _alphabet()
    n_alpha, n_fonts, size = len(alphabet), len(FONT_FILES), settings["image_size"]
    train_idx, test_idx = _split_classes(
        n_alpha, settings["n_train_classes"], settings["n_test_classes"], settings["split_seed"]
    )
    wanted = train_idx + test_idx
    clean = render_glyphs([alphabet[i] for i in wanted], size)  # (n_wanted, fonts, S, S) uint8
    copies = [clean] if settings["include_clean"] else []
    if settings["n_augments"] > 0:
        gen = torch.Generator().manual_seed(settings["seed"])
        flat = clean.reshape(-1, 1, size, size).float() / 255.0
        rows = (torch.tensor(wanted)[:, None] * n_fonts + torch.arange(n_fonts)).reshape(-1)
        for _ in range(settings["n_augments"]):
            # parameters for the whole alphabet, so an image depends on its (class, font, copy)
            # and the seed only -- not on which other classes are rendered
            thetas = _affine_thetas(n_alpha * n_fonts, gen, 10.0, (0.9, 1.1), 1 / 16, 0.1)
            aug = _apply_thetas(flat, thetas[rows])
            copies.append((aug * 255).round_().to(torch.uint8).reshape(clean.shape))
    stacked = torch.stack(copies, dim=2)  # (n_wanted, fonts, copies, S, S)
    n_copies = stacked.shape[2]
    out: dict[str, np.ndarray] = {}
    for name, idx, offset in (("train", train_idx, 0), ("test", test_idx, len(train_idx))):
        block = stacked[offset : offset + len(idx)]
        n = block.shape[0] * n_fonts * n_copies
        out[f"{name}_images"] = block.reshape(n, 1, size, size).numpy()
        out[f"{name}_labels"] = np.repeat(np.arange(len(idx), dtype=np.int64), n_fonts * n_copies)
        out[f"{name}_fonts"] = np.tile(
            np.repeat(np.arange(n_fonts, dtype=np.int64), n_copies), len(idx)
        )
        out[f"{name}_classes"] = np.array([alphabet[i] for i in idx], dtype="<U1")
    return out


def _cache_key(settings: dict) -> str:
    key = {
        "format": _CACHE_FORMAT,
        "settings": settings,
        "alphabet": "".join(_alphabet()),
        "fonts": list(FONT_FILES),
        "font_sha256": _font_digest(),
        "pillow": PIL.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]


_ARRAY_NAMES = tuple(
    f"{split}_{what}"
    for split in ("train", "test")
    for what in ("images", "labels", "fonts", "classes")
)


def _load_cache(path: str) -> dict[str, np.ndarray] | None:
    try:
        with np.load(path, allow_pickle=False) as f:
            return {name: f[name] for name in _ARRAY_NAMES}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None  # missing, truncated or foreign file: render again


def _save_cache(path: str, arrays: dict[str, np.ndarray]) -> None:
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".glyphs-", suffix=".npz.tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the cache is a plain shared data file
        os.replace(tmp, path)  # atomic: readers see the old file or the complete new one
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _to_split(arrays: dict[str, np.ndarray], name: str) -> GlyphSplit:
    return GlyphSplit(
        images=torch.from_numpy(np.ascontiguousarray(arrays[f"{name}_images"])).float() / 255.0,
        labels=torch.from_numpy(np.asarray(arrays[f"{name}_labels"], dtype=np.int64)),
        fonts=torch.from_numpy(np.asarray(arrays[f"{name}_fonts"], dtype=np.int64)),
        classes=[str(c) for c in arrays[f"{name}_classes"]],
    )


def load_glyphs(
    n_train_classes: int = 64,
    n_test_classes: int = 64,
    n_augments: int = 2,
    image_size: int = 32,
    seed: int = 0,
    split_seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
    include_clean: bool = False,
) -> GlyphData:
    """Load the font-glyph dataset (render on first use, then read the cache).

    Each of the ``n_train_classes + n_test_classes`` classes gets, per font, ``n_augments``
    randomly augmented renders -- plus the clean render first when ``include_clean`` -- so a
    class has ``16 * (n_augments + include_clean)`` images (defaults: 16 x 2 = 32).  The classes
    are a random, class-disjoint draw from :func:`glyph_alphabet` (permutation seeded by
    ``split_seed``); within a split, labels ``0..C-1`` follow alphabet order and
    ``split.classes[label]`` is the character.  Augmentations are drawn from a
    ``torch.Generator`` seeded by ``seed``; an image depends only on (seed, character, font,
    copy, image_size), not on the split.

    With ``use_cache`` the result is read from / written to ``cache_dir`` (default
    ``$COMPANION_CACHE_DIR`` or ``~/.cache/metric-learning-companion``) as an ``.npz`` named by a
    hash of every setting, the Pillow/torch/numpy versions and the font files' bytes; the file
    is written atomically.  Cached and freshly rendered results are bit-identical.
    """
    n_train_classes = _check_count(n_train_classes, "n_train_classes", minimum=1)
    n_test_classes = _check_count(n_test_classes, "n_test_classes", minimum=1)
    n_augments = _check_count(n_augments, "n_augments", minimum=0)
    image_size = _check_image_size(image_size)
    seed = _check_count(seed, "seed", minimum=0)
    split_seed = _check_count(split_seed, "split_seed", minimum=0)
    include_clean = bool(include_clean)
    if n_augments == 0 and not include_clean:
        raise ValueError(
            "n_augments must be >= 1 when include_clean is False (no images otherwise), got 0"
        )
    n_alpha = len(_alphabet())
    if n_train_classes + n_test_classes > n_alpha:
        raise ValueError(
            f"n_train_classes + n_test_classes must be <= {n_alpha} (the alphabet size), "
            f"got {n_train_classes} + {n_test_classes} = {n_train_classes + n_test_classes}"
        )
    settings = {
        "n_train_classes": n_train_classes,
        "n_test_classes": n_test_classes,
        "n_augments": n_augments,
        "include_clean": include_clean,
        "image_size": image_size,
        "seed": seed,
        "split_seed": split_seed,
    }
    arrays = None
    path = None
    if use_cache:
        directory = os.fspath(cache_dir) if cache_dir is not None else _default_cache_dir()
        path = os.path.join(directory, f"glyphs-{_cache_key(settings)}.npz")
        arrays = _load_cache(path)
    if arrays is None:
        arrays = _render_dataset(settings)
        if path is not None:
            _save_cache(path, arrays)
    return GlyphData(
        train=_to_split(arrays, "train"),
        test=_to_split(arrays, "test"),
        font_names=[os.path.splitext(name)[0] for name in FONT_FILES],
    )
