"""Font-glyph dataset: alphabet, look-alike removal, rendering geometry, augmentation, split,
determinism and caching."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from matplotlib.ft2font import FT2Font

from mlcompanion.data import glyphs
from mlcompanion.data.glyphs import (
    FONT_FILES,
    LOOKALIKES,
    augment_batch,
    glyph_alphabet,
    glyph_font_paths,
    load_glyphs,
    render_glyphs,
)

# Look-alike criterion (see test_no_two_classes_render_nearly_identically and glyphs.LOOKALIKES).
# A per-font Pearson correlation above 0.95 between two 32x32 clean renders means "the same
# drawing up to a pixel or a small mark": every cross-script homoglyph sharing one design reaches
# it in most fonts, and I/l, O/Q, И/Й, Ш/Щ in 7-8 of the 16.  The closest kept pairs (O/Θ, A/Λ,
# b/h, p/ρ) stay at mean <= 0.918 and <= 5 such fonts.
NEAR_IDENTICAL_CORR = 0.95
MAX_NEAR_IDENTICAL_FONTS = 5  # "most fonts" would be > 8; we keep a margin: at most a third
MAX_MEAN_CORR = 0.93


@pytest.fixture(autouse=True)
def _tmp_cache(tmp_path, monkeypatch):
    """Every test's default cache lives in its own temp folder, never in the home cache."""
    monkeypatch.setenv("COMPANION_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def clean_alphabet():
    """Clean renders of the whole alphabet, float (128, 16, 32*32)."""
    alphabet = glyph_alphabet()
    return alphabet, render_glyphs(alphabet, 32).float().div(255.0)


def _pairwise_corr(renders: torch.Tensor) -> torch.Tensor:
    """Per-font Pearson correlation between classes: (fonts, C, C) from (C, fonts, S, S)."""
    x = renders.reshape(renders.shape[0], renders.shape[1], -1).double()
    x = x - x.mean(-1, keepdim=True)
    x = x / x.norm(dim=-1, keepdim=True)
    return torch.einsum("afp,bfp->fab", x, x)


# ---------------------------------------------------------------------------------------------
# alphabet
# ---------------------------------------------------------------------------------------------


def test_alphabet_size_order_and_uniqueness():
    alphabet = glyph_alphabet()
    assert len(alphabet) == 128
    assert len(set(alphabet)) == 128
    assert alphabet == glyph_alphabet()  # fixed order
    assert alphabet[:3] == ["1", "2", "3"]
    assert {"A", "a", "Ω", "ω", "Ж", "ж"} <= set(alphabet)


def test_alphabet_keeps_one_representative_per_lookalike_group():
    alphabet = set(glyph_alphabet())
    assert not alphabet & set(LOOKALIKES)  # no removed character is a class
    assert set(LOOKALIKES.values()) <= alphabet  # every group keeps its representative
    # Latin O, Greek Omicron and Cyrillic O are one class; likewise the 1/l/I group keeps 1 and l
    assert sum(c in alphabet for c in ("O", "\u039f", "\u041e", "0")) == 1
    assert "I" not in alphabet and "\u0399" not in alphabet


def test_every_class_has_a_real_glyph_in_every_font():
    paths = glyph_font_paths()
    assert [os.path.basename(p) for p in paths] == list(FONT_FILES)
    assert len(paths) == 16
    for path in paths:
        cmap = FT2Font(path).get_charmap()
        missing = [c for c in glyph_alphabet() if cmap.get(ord(c), 0) == 0]
        assert missing == [], f"{os.path.basename(path)} has no glyph for {missing}"


def test_characters_without_a_glyph_are_rejected():
    # U+03A2 is an unassigned Greek code point: no font maps it, it must never be rendered
    assert 0x03A2 not in glyphs._covered_codepoints()
    with pytest.raises(ValueError, match="covered by every font"):
        render_glyphs(["\u03a2"])
    with pytest.raises(ValueError, match="single characters"):
        render_glyphs(["ab"])


def test_no_two_classes_render_nearly_identically(clean_alphabet):
    """Property: kept classes are visually distinct in most fonts.

    For each pair of classes, correlate the clean renders font by font.  The pair fails if its
    mean correlation over the 16 fonts reaches MAX_MEAN_CORR, or if it is nearly identical
    (correlation > 0.95) in more than MAX_NEAR_IDENTICAL_FONTS fonts.
    """
    alphabet, renders = clean_alphabet
    corr = _pairwise_corr(renders)
    mean = corr.mean(0)
    near = (corr > NEAR_IDENTICAL_CORR).sum(0)
    iu = torch.triu_indices(len(alphabet), len(alphabet), 1)
    bad = [
        (alphabet[i], alphabet[j], round(float(mean[i, j]), 3), int(near[i, j]))
        for i, j in iu.T.tolist()
        if mean[i, j] >= MAX_MEAN_CORR or near[i, j] > MAX_NEAR_IDENTICAL_FONTS
    ]
    assert bad == []


@pytest.mark.parametrize(
    "removed, kept",
    [("\u041e", "O"), ("\u0397", "H"), ("\u0439", "\u0438"), ("I", "l"), ("Q", "O"),
     ("\u043a", "\u03ba"), ("\u0420", "P")],
)  # fmt: skip
def test_lookalike_criterion_flags_removed_pairs(removed, kept):
    """The criterion above is not vacuous: it flags pairs that were removed as look-alikes."""
    r = render_glyphs([removed, kept], 32).float()
    corr = _pairwise_corr(r)[:, 0, 1]
    assert corr.mean() >= MAX_MEAN_CORR or (corr > NEAR_IDENTICAL_CORR).sum() > (
        MAX_NEAR_IDENTICAL_FONTS
    )


# ---------------------------------------------------------------------------------------------
# rendering geometry
# ---------------------------------------------------------------------------------------------


def _ink_rows(img: torch.Tensor) -> torch.Tensor:
    return torch.nonzero(img.sum(-1) > 0.25).flatten()


def test_renders_have_ink_and_fit_inside_the_image(clean_alphabet):
    _, renders = clean_alphabet
    assert renders.shape == (128, 16, 32, 32)
    assert (renders.flatten(2).sum(-1) > 5).all()  # no blank glyph anywhere
    border = torch.cat(
        [renders[..., 0, :], renders[..., -1, :], renders[..., :, 0], renders[..., :, -1]], -1
    )
    assert border.max() == 0  # nothing clipped at the edges


def test_fixed_size_and_baseline_keep_case_and_descenders():
    r = render_glyphs(["O", "o", "x", "X", "p", "H"], 32).float()
    for f in range(16):
        o_up, o_low, x_low, x_up, p, h = (_ink_rows(r[i, f]) for i in range(6))
        assert len(o_up) >= len(o_low) + 3, FONT_FILES[f]  # capital taller than lower case
        assert abs(int(x_low.max()) - int(x_up.max())) <= 1  # same baseline
        assert int(p.max()) >= int(h.max()) + 3  # descender below the baseline
        assert abs(int(o_up.min()) - int(h.min())) <= 1  # same cap height for O and H


def test_glyphs_are_centred_horizontally(clean_alphabet):
    _, renders = clean_alphabet
    cols = renders.sum(-2)  # (C, fonts, W)
    x = torch.arange(32, dtype=cols.dtype) + 0.5
    centre = (cols * x).sum(-1) / cols.sum(-1)
    assert (centre - 16).abs().max() < 4.5  # asymmetric glyphs (Г, ь, italics) shift a little
    assert (centre - 16).abs().mean() < 1.0


# ---------------------------------------------------------------------------------------------
# dataset
# ---------------------------------------------------------------------------------------------


def test_load_glyphs_shapes_labels_and_fonts(tmp_path):
    data = load_glyphs(n_train_classes=5, n_test_classes=3, n_augments=2, cache_dir=tmp_path)
    alphabet = glyph_alphabet()
    assert data.font_names == [os.path.splitext(f)[0] for f in FONT_FILES]
    for split, n_classes in ((data.train, 5), (data.test, 3)):
        n = n_classes * 16 * 2
        assert split.images.shape == (n, 1, 32, 32) and split.images.dtype == torch.float32
        assert split.labels.shape == (n,) and split.labels.dtype == torch.int64
        assert split.fonts.shape == (n,) and split.fonts.dtype == torch.int64
        assert len(split) == n
        assert 0.0 <= split.images.min() and split.images.max() <= 1.0
        assert split.images.max() > 0.9
        scaled = split.images * 255
        assert torch.equal(scaled, scaled.round())  # values are multiples of 1/255
        assert torch.equal(torch.bincount(split.labels), torch.full((n_classes,), 32))
        assert torch.equal(split.labels, torch.sort(split.labels).values)  # grouped by label
        for c in range(n_classes):
            fonts_c = split.fonts[split.labels == c]
            assert torch.equal(torch.bincount(fonts_c, minlength=16), torch.full((16,), 2))
        assert len(split.classes) == n_classes
        assert split.classes == sorted(split.classes, key=alphabet.index)  # alphabet order
    assert not set(data.train.classes) & set(data.test.classes)  # class-disjoint


def test_default_sizes_use_the_whole_alphabet(tmp_path):
    data = load_glyphs(cache_dir=tmp_path)
    assert data.train.images.shape == (64 * 32, 1, 32, 32)
    assert data.test.images.shape == (64 * 32, 1, 32, 32)
    assert sorted(data.train.classes + data.test.classes) == sorted(glyph_alphabet())


def test_include_clean_puts_the_clean_render_first(tmp_path):
    data = load_glyphs(2, 1, n_augments=1, include_clean=True, cache_dir=tmp_path)
    split = data.train
    assert split.images.shape[0] == 2 * 16 * 2
    clean = render_glyphs(split.classes, 32).float() / 255.0  # (2, 16, 32, 32)
    imgs = split.images.reshape(2, 16, 2, 32, 32)
    assert torch.equal(imgs[:, :, 0], clean)
    assert not torch.equal(imgs[:, :, 1], clean)  # the augmented copy moved
    clean_only = load_glyphs(2, 1, n_augments=0, include_clean=True, use_cache=False)
    assert torch.equal(clean_only.train.images.reshape(2, 16, 32, 32), clean)


def test_augmented_copies_are_small_perturbations(tmp_path):
    data = load_glyphs(3, 1, n_augments=2, include_clean=True, cache_dir=tmp_path)
    imgs = data.train.images.reshape(3, 16, 3, -1)
    clean, aug = imgs[:, :, :1], imgs[:, :, 1:]
    assert not torch.equal(aug[:, :, 0], aug[:, :, 1])
    # same glyph after a small affine: ink mass is roughly kept
    ratio = aug.sum(-1) / clean.sum(-1)
    assert ((ratio > 0.6) & (ratio < 1.5)).all()


def test_split_is_deterministic_and_depends_on_split_seed():
    a = load_glyphs(10, 10, n_augments=1, use_cache=False)
    b = load_glyphs(10, 10, n_augments=1, use_cache=False, split_seed=1)
    assert a.train.classes != b.train.classes


def test_same_seed_identical_without_and_with_cache(tmp_path):
    kw = dict(n_train_classes=4, n_test_classes=2, n_augments=2, seed=3)
    a = load_glyphs(**kw, use_cache=False)
    b = load_glyphs(**kw, use_cache=False)
    c = load_glyphs(**kw, cache_dir=tmp_path)  # renders and writes
    d = load_glyphs(**kw, cache_dir=tmp_path)  # reads
    for other in (b, c, d):
        for name in ("train", "test"):
            x, y = getattr(a, name), getattr(other, name)
            assert torch.equal(x.images, y.images)
            assert torch.equal(x.labels, y.labels)
            assert torch.equal(x.fonts, y.fonts)
            assert x.classes == y.classes
    e = load_glyphs(**{**kw, "seed": 4}, use_cache=False)
    assert e.train.classes == a.train.classes
    assert not torch.equal(e.train.images, a.train.images)


def test_cached_load_does_not_render(tmp_path, monkeypatch):
    load_glyphs(2, 2, n_augments=1, cache_dir=tmp_path)

    def fail(*args, **kwargs):
        raise AssertionError("rendered although a cache file exists")

    monkeypatch.setattr(glyphs, "_render_dataset", fail)
    load_glyphs(2, 2, n_augments=1, cache_dir=tmp_path)
    with pytest.raises(AssertionError, match="rendered"):
        load_glyphs(2, 2, n_augments=1, seed=1, cache_dir=tmp_path)  # other key


def test_image_depends_only_on_class_font_copy_and_seed():
    a = load_glyphs(6, 6, n_augments=2, use_cache=False, split_seed=0)
    b = load_glyphs(3, 9, n_augments=3, use_cache=False, split_seed=0)
    # b's train classes are a's first 3 permuted classes; copies 0-1 must match a's
    first = set(b.train.classes)
    checked = 0
    for split_a in (a.train, a.test):
        for ch in first & set(split_a.classes):
            ia = split_a.images[split_a.labels == split_a.classes.index(ch)].reshape(16, 2, 32, 32)
            ib = b.train.images[b.train.labels == b.train.classes.index(ch)].reshape(16, 3, 32, 32)
            assert torch.equal(ia, ib[:, :2])
            checked += 1
    assert checked == 3


def test_cache_file_is_written_atomically_and_keyed(tmp_path, monkeypatch):
    load_glyphs(2, 1, n_augments=1, cache_dir=tmp_path)
    files = sorted(os.listdir(tmp_path))
    assert len(files) == 1 and files[0].startswith("glyphs-") and files[0].endswith(".npz")
    load_glyphs(2, 1, n_augments=1, image_size=24, cache_dir=tmp_path)
    assert len(os.listdir(tmp_path)) == 2  # other settings, other file; no temp file left over
    monkeypatch.setattr(glyphs.PIL, "__version__", "0.0.0")
    load_glyphs(2, 1, n_augments=1, cache_dir=tmp_path)
    assert len(os.listdir(tmp_path)) == 3  # a different Pillow never reuses the file
    monkeypatch.setattr(glyphs, "_font_digest", lambda: "different fonts")
    load_glyphs(2, 1, n_augments=1, cache_dir=tmp_path)
    assert len(os.listdir(tmp_path)) == 4  # nor do different font files


def test_default_cache_dir_comes_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_CACHE_DIR", str(tmp_path / "env-cache"))
    load_glyphs(2, 1, n_augments=1)
    assert len(os.listdir(tmp_path / "env-cache")) == 1
    monkeypatch.delenv("COMPANION_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    load_glyphs(2, 1, n_augments=1)
    assert len(os.listdir(tmp_path / "home" / ".cache" / "metric-learning-companion")) == 1


def test_corrupt_cache_is_rerendered(tmp_path):
    ref = load_glyphs(2, 1, n_augments=1, cache_dir=tmp_path)
    (path,) = [tmp_path / f for f in os.listdir(tmp_path)]
    path.write_bytes(b"not a zip file")
    again = load_glyphs(2, 1, n_augments=1, cache_dir=tmp_path)
    assert torch.equal(again.train.images, ref.train.images)
    with np.load(path) as f:  # and the file was repaired
        assert "train_images" in f.files


def test_other_image_size(tmp_path):
    data = load_glyphs(2, 1, n_augments=1, image_size=48, cache_dir=tmp_path)
    assert data.train.images.shape == (2 * 16, 1, 48, 48)
    assert data.train.images.max() > 0.9


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_train_classes=0), "n_train_classes"),
        (dict(n_test_classes=-1), "n_test_classes"),
        (dict(n_train_classes=2.5), "n_train_classes"),
        (dict(n_augments=-1), "n_augments"),
        (dict(n_augments=0), "n_augments"),
        (dict(image_size=15), "image_size"),
        (dict(image_size=0), "image_size"),
        (dict(seed=-1), "seed"),
        (dict(n_train_classes=100, n_test_classes=29), "<= 128"),
    ],
)
def test_invalid_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_glyphs(**kwargs, use_cache=False)


# ---------------------------------------------------------------------------------------------
# augment_batch
# ---------------------------------------------------------------------------------------------


def test_augment_batch_is_deterministic_and_random():
    x = render_glyphs(["A", "g", "Ж"], 32)[:, :4].reshape(-1, 1, 32, 32).float() / 255
    a = augment_batch(x, torch.Generator().manual_seed(0))
    b = augment_batch(x, torch.Generator().manual_seed(0))
    c = augment_batch(x, torch.Generator().manual_seed(1))
    assert a.shape == x.shape and a.dtype == x.dtype
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert not torch.equal(a, x)
    assert 0 <= a.min() and a.max() <= 1
    blank = torch.zeros(2, 1, 32, 32)
    assert torch.equal(augment_batch(blank, torch.Generator()), blank)


def test_augment_batch_identity_parameters_keep_the_image():
    x = render_glyphs(["R"], 32)[0, :3].reshape(3, 1, 32, 32).float() / 255
    y = augment_batch(
        x, torch.Generator(), max_rotation_deg=0, scale_range=(1, 1), max_shift=0, max_shear=0
    )
    assert torch.allclose(y, x, atol=1e-5)


def test_augment_batch_shift_moves_the_ink():
    x = torch.zeros(1, 1, 32, 32)
    x[0, 0, 14:18, 14:18] = 1.0
    y = augment_batch(
        x, torch.Generator(), max_rotation_deg=0, scale_range=(1, 1), max_shift=0.25, max_shear=0
    )
    centre = lambda im: (torch.nonzero(im[0, 0] > 0.5).float().mean(0))  # noqa: E731
    moved = (centre(y) - centre(x)).abs()
    assert moved.max() > 0.5 and moved.max() <= 8.01  # within +-0.25 * 32 px


@pytest.mark.parametrize(
    "images, kwargs, match",
    [
        (torch.zeros(2, 32, 32), {}, "images"),
        (torch.zeros(2, 1, 32, 32, dtype=torch.uint8), {}, "images"),
        (torch.zeros(2, 1, 32, 32), {"scale_range": (0.0, 1.0)}, "scale_range"),
        (torch.zeros(2, 1, 32, 32), {"max_rotation_deg": -1}, "max_rotation_deg"),
        (torch.zeros(2, 1, 32, 32), {"max_shift": 2}, "max_shift"),
    ],
)
def test_augment_batch_errors(images, kwargs, match):
    with pytest.raises(ValueError, match=match):
        augment_batch(images, torch.Generator(), **kwargs)
    with pytest.raises(ValueError, match="generator"):
        augment_batch(torch.zeros(1, 1, 16, 16), 0)
