"""PIL/torch image transforms: shapes, normalisation, determinism, crop geometry, errors."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from PIL import Image

from mlcompanion.data.transforms import (
    CAFFE_BGR_MEAN,
    CAFFE_BGR_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    EvalTransform,
    TrainTransform,
    center_crop_box,
    random_resized_crop_box,
    resize_shorter,
    to_tensor,
)


def _noise(w, h, seed=0):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")


def test_constants():
    assert IMAGENET_MEAN == (0.485, 0.456, 0.406) and IMAGENET_STD == (0.229, 0.224, 0.225)
    assert CAFFE_BGR_MEAN == (104.0, 117.0, 128.0) and CAFFE_BGR_STD == (1.0, 1.0, 1.0)


@pytest.mark.parametrize("size", [(100, 80), (80, 100), (64, 64)])
def test_output_shapes_and_dtypes(size):
    img = _noise(*size)
    for t in (TrainTransform(resize=64, crop=56), EvalTransform(resize=64, crop=56)):
        out = t(img)
        assert out.shape == (3, 56, 56) and out.dtype == torch.float32
        assert torch.isfinite(out).all()
    assert TrainTransform()(img).shape == (3, 227, 227)
    assert EvalTransform()(img).shape == (3, 227, 227)


def test_resize_shorter_side():
    assert resize_shorter(_noise(100, 50), 20).size == (40, 20)
    assert resize_shorter(_noise(30, 90), 20).size == (20, 60)
    assert resize_shorter(_noise(33, 50), 20).size == (20, 30)  # int(20 * 50 / 33) = 30


def test_non_rgb_input_is_converted():
    gray = Image.new("L", (40, 40), 128)
    assert EvalTransform(resize=32, crop=32)(gray).shape == (3, 32, 32)


@pytest.mark.parametrize("transform_cls", [TrainTransform, EvalTransform])
def test_normalisation_on_constant_image(transform_cls):
    rgb = (255, 128, 0)
    img = Image.new("RGB", (50, 40), rgb)
    out = transform_cls(resize=32, crop=24)(img)
    for c in range(3):
        expected = (rgb[c] / 255 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]
        assert torch.allclose(out[c], torch.full((24, 24), expected), atol=1e-5)

    caffe = transform_cls(resize=32, crop=24, bgr_255=True)(img)
    bgr = rgb[::-1]
    for c in range(3):
        assert torch.allclose(caffe[c], torch.full((24, 24), bgr[c] - CAFFE_BGR_MEAN[c]), atol=1e-4)

    plain = transform_cls(resize=32, crop=24, mean=(0, 0, 0), std=(1, 1, 1))(img)
    assert torch.allclose(plain[:, 0, 0], torch.tensor([1.0, 128 / 255, 0.0]))


def test_to_tensor_range_and_order():
    img = Image.new("RGB", (3, 2), (10, 20, 30))
    t = to_tensor(img)
    assert t.shape == (3, 2, 3) and torch.allclose(t[:, 0, 0], torch.tensor([10, 20, 30]) / 255)
    assert torch.equal(to_tensor(img, bgr_255=True)[:, 1, 2], torch.tensor([30.0, 20.0, 10.0]))


def test_train_transform_is_deterministic_with_seed():
    imgs = [_noise(90, 70, s) for s in range(4)]
    a, b = TrainTransform(resize=64, crop=48, seed=3), TrainTransform(resize=64, crop=48, seed=3)
    out_a = [a(im) for im in imgs]
    out_b = [b(im) for im in imgs]
    assert all(torch.equal(x, y) for x, y in zip(out_a, out_b))
    c = TrainTransform(resize=64, crop=48, seed=4)
    assert not all(torch.equal(x, c(im)) for x, im in zip(out_a, imgs))
    # successive calls on the same image differ (fresh random crops)
    assert not torch.equal(a(imgs[0]), a(imgs[0]))
    a.reseed(3)
    assert torch.equal(a(imgs[0]), out_a[0])


def test_random_crop_boxes_lie_inside_the_image():
    rng = random.Random(0)
    for _ in range(500):
        w, h = rng.randint(10, 300), rng.randint(10, 300)
        left, top, right, bottom = random_resized_crop_box(w, h, (0.08, 1.0), (3 / 4, 4 / 3), rng)
        assert 0 <= left < right <= w and 0 <= top < bottom <= h
    t = TrainTransform(resize=64, crop=32, seed=1)
    for s in range(20):
        img = _noise(96, 64, s)
        t(img)
        left, top, right, bottom = t.last_box
        assert 0 <= left < right <= 96 and 0 <= top < bottom <= 64  # resized image is 96x64
        area = (right - left) * (bottom - top) / (96 * 64)
        assert 0.16 * 0.9 <= area <= 1.0


def test_random_crop_area_and_ratio_follow_arguments():
    rng = random.Random(1)
    for _ in range(200):
        left, top, right, bottom = random_resized_crop_box(200, 200, (0.25, 0.5), (0.5, 2.0), rng)
        w, h = right - left, bottom - top
        assert 0.25 * 0.95 <= w * h / 40000 <= 0.5 * 1.05
        assert 0.5 * 0.95 <= w / h <= 2.0 * 1.05


def test_random_crop_fallback_is_central():
    # no box of the full area with ratio in [3/4, 4/3] fits a 400x100 image: central fallback
    box = random_resized_crop_box(400, 100, (1.0, 1.0), (3 / 4, 4 / 3), random.Random(0))
    assert box == (133, 0, 266, 100)
    box = random_resized_crop_box(100, 400, (1.0, 1.0), (3 / 4, 4 / 3), random.Random(0))
    assert box == (0, 133, 100, 266)


def test_flip_is_horizontal():
    img = _noise(32, 32)
    base = EvalTransform(resize=32, crop=32)(img)
    t = TrainTransform(resize=32, crop=32, scale=(1.0, 1.0), ratio=(1.0, 1.0), seed=0)
    outs = [t(img) for _ in range(20)]
    n_flipped = sum(torch.allclose(o, base.flip(-1)) for o in outs)
    n_same = sum(torch.allclose(o, base) for o in outs)
    assert n_flipped + n_same == 20 and n_flipped > 0 and n_same > 0
    no_flip = TrainTransform(resize=32, crop=32, scale=(1.0, 1.0), ratio=(1.0, 1.0), flip=False)
    assert all(torch.allclose(no_flip(img), base) for _ in range(5))


def test_center_crop_picks_the_centre():
    arr = np.zeros((9, 9, 3), dtype=np.uint8)
    arr[4, 4] = 255
    out = EvalTransform(resize=9, crop=3, mean=(0, 0, 0), std=(1, 1, 1))(Image.fromarray(arr))
    expected = torch.zeros(3, 3, 3)
    expected[:, 1, 1] = 1.0
    assert torch.equal(out, expected)

    # non-square: 20x10 (w x h), crop 4 -> left = 8, top = 3
    assert center_crop_box(20, 10, 4) == (8, 3, 12, 7)
    arr = np.zeros((10, 20, 3), dtype=np.uint8)
    arr[3:7, 8:12] = 200
    out = EvalTransform(resize=10, crop=4, mean=(0, 0, 0), std=(1, 1, 1))(Image.fromarray(arr))
    assert torch.allclose(out, torch.full((3, 4, 4), 200 / 255))


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(crop=0), dict(resize=-1), dict(crop=2.5), dict(resize=True),
        dict(scale=(0.5, 0.2)), dict(scale=(0.0, 1.5)), dict(scale=(0.0, 0.0)), dict(scale=0.5),
        dict(ratio=(2.0, 1.0)), dict(ratio=(0.0, 1.0)),
        dict(mean=(0.5, 0.5)), dict(std=(0.2, 0.0, 0.2)), dict(std=(1, float("nan"), 1)),
    ],
)
def test_train_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        TrainTransform(**kwargs)


def test_eval_bad_arguments():
    with pytest.raises(ValueError, match="crop must be <= resize"):
        EvalTransform(resize=100, crop=227)
    with pytest.raises(ValueError, match="std"):
        EvalTransform(std=(-1, 1, 1))
    with pytest.raises(ValueError, match="PIL"):
        EvalTransform()(torch.zeros(3, 8, 8))
    with pytest.raises(ValueError, match="at least"):
        center_crop_box(5, 10, 8)
