"""Image transforms of the deep-metric-learning training recipes, with PIL and torch only.

Two input conventions are in use in the literature:

* **ImageNet / torchvision** (ResNet backbones): RGB in [0, 1], normalised with
  :data:`IMAGENET_MEAN` and :data:`IMAGENET_STD`. This is the default.
* **Caffe BN-Inception** (``bgr_255=True``): the BN-Inception weights ported from Caffe expect
  BGR channel order on a 0-255 scale, mean :data:`CAFFE_BGR_MEAN` = (104, 117, 128) subtracted
  per channel (B, G, R) and std :data:`CAFFE_BGR_STD` = (1, 1, 1). The official code of the
  Multi-Similarity loss (Wang et al. 2019) uses this for its BN-Inception backbone.

With ``bgr_255=True`` and ``mean``/``std`` left as None, the Caffe constants are used; given
``mean``/``std`` are always in the order and scale of the output tensor.

Each :class:`TrainTransform` owns its random generator (``random.Random(seed)``), so a run is
reproducible. Note that :class:`torch.utils.data.DataLoader` workers each receive a copy of the
transform in the same state; call :meth:`TrainTransform.reseed` from a ``worker_init_fn`` (e.g.
with ``torch.initial_seed() % 2**32``) to decorrelate workers.
"""

from __future__ import annotations

import math
import random
from typing import Optional, Sequence

import numpy as np
import torch
from PIL import Image

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "CAFFE_BGR_MEAN",
    "CAFFE_BGR_STD",
    "resize_shorter",
    "center_crop_box",
    "random_resized_crop_box",
    "to_tensor",
    "normalize",
    "TrainTransform",
    "EvalTransform",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_BGR_MEAN = (104.0, 117.0, 128.0)  # B, G, R on a 0-255 scale
CAFFE_BGR_STD = (1.0, 1.0, 1.0)


def _check_size(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _check_range(value, name: str, *, low: float, high: float) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (min, max) of numbers, got {value!r}") from None
    if not (low <= a <= b <= high) or a != a or b != b:
        raise ValueError(f"{name} must satisfy {low} <= min <= max <= {high}, got {value!r}")
    return a, b


def _check_stats(value, name: str, *, positive: bool) -> tuple[float, float, float]:
    try:
        vals = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be 3 numbers (one per channel), got {value!r}") from None
    if len(vals) != 3 or not all(math.isfinite(v) for v in vals):
        raise ValueError(f"{name} must be 3 finite numbers (one per channel), got {value!r}")
    if positive and not all(v > 0 for v in vals):
        raise ValueError(f"{name} must be > 0 in every channel, got {value!r}")
    return vals


def _check_image(img) -> Image.Image:
    if not isinstance(img, Image.Image):
        raise ValueError(f"expected a PIL.Image.Image, got {type(img).__name__}")
    return img.convert("RGB") if img.mode != "RGB" else img


def resize_shorter(img: Image.Image, size: int) -> Image.Image:
    """Resize (bilinear) so the shorter side is ``size``, keeping the aspect ratio.

    The longer side becomes ``int(size * long / short)``, as torchvision's ``Resize(int)``.
    """
    size = _check_size(size, "size")
    w, h = img.size
    if min(w, h) == size:
        return img
    if w <= h:
        new_w, new_h = size, int(size * h / w)
    else:
        new_w, new_h = int(size * w / h), size
    return img.resize((new_w, new_h), Image.BILINEAR)


def center_crop_box(width: int, height: int, crop: int) -> tuple[int, int, int, int]:
    """``(left, top, right, bottom)`` of the centred ``crop x crop`` square (rounded as torchvision).

    Raises ValueError if the image is smaller than the crop.
    """
    crop = _check_size(crop, "crop")
    if width < crop or height < crop:
        raise ValueError(f"expected an image of at least {crop}x{crop} to center-crop, got {width}x{height}")
    left = int(round((width - crop) / 2.0))
    top = int(round((height - crop) / 2.0))
    return left, top, left + crop, top + crop


def random_resized_crop_box(
    width: int,
    height: int,
    scale: Sequence[float],
    ratio: Sequence[float],
    rng: random.Random,
    attempts: int = 10,
) -> tuple[int, int, int, int]:
    """``(left, top, right, bottom)`` of a random crop, as torchvision's ``RandomResizedCrop``.

    Up to ``attempts`` tries: an area fraction uniform in ``scale`` and a log-uniform aspect
    ratio (w/h) in ``ratio``; the first box that fits is placed uniformly at random. If none fits,
    fall back to the largest centred box whose aspect ratio is clamped into ``ratio``.
    """
    area = width * height
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(attempts):
        target = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(log_lo, log_hi))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = rng.randint(0, height - h)
            left = rng.randint(0, width - w)
            return left, top, left + w, top + h
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w = width
        h = int(round(w / ratio[0]))
    elif in_ratio > ratio[1]:
        h = height
        w = int(round(h * ratio[1]))
    else:
        w, h = width, height
    top = (height - h) // 2
    left = (width - w) // 2
    return left, top, left + w, top + h


def to_tensor(img: Image.Image, *, bgr_255: bool = False) -> torch.Tensor:
    """A float32 tensor (3, H, W): RGB in [0, 1], or BGR in [0, 255] when ``bgr_255``."""
    arr = np.asarray(_check_image(img), dtype=np.uint8)
    t = torch.from_numpy(arr.copy()).permute(2, 0, 1).to(torch.float32)
    if bgr_255:
        return t.flip(0).contiguous()
    return t.div_(255.0)


def normalize(t: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """``(t - mean) / std`` per channel of a (3, H, W) tensor (returns a new tensor)."""
    m = torch.as_tensor(mean, dtype=t.dtype).view(-1, 1, 1)
    s = torch.as_tensor(std, dtype=t.dtype).view(-1, 1, 1)
    return (t - m) / s


class _Base:
    def __init__(self, resize, crop, mean, std, bgr_255):
        self.resize = _check_size(resize, "resize")
        self.crop = _check_size(crop, "crop")
        self.bgr_255 = bool(bgr_255)
        if mean is None:
            mean = CAFFE_BGR_MEAN if self.bgr_255 else IMAGENET_MEAN
        if std is None:
            std = CAFFE_BGR_STD if self.bgr_255 else IMAGENET_STD
        self.mean = _check_stats(mean, "mean", positive=False)
        self.std = _check_stats(std, "std", positive=True)

    def _finish(self, img: Image.Image) -> torch.Tensor:
        return normalize(to_tensor(img, bgr_255=self.bgr_255), self.mean, self.std)


class TrainTransform(_Base):
    """Training augmentation: resize shorter side, random resized crop, flip, tensor, normalise.

    ``TrainTransform(resize=256, crop=227, scale=(0.16, 1.0), ratio=(3/4, 4/3), flip=True,
    mean=None, std=None, bgr_255=False, seed=0)``; called on a PIL image it returns a float32
    tensor (3, crop, crop). The random resized crop follows torchvision's ``RandomResizedCrop``
    (area fraction in ``scale``, log-uniform aspect ratio in ``ratio``, 10 attempts, then a
    central fallback), resized bilinearly to ``crop x crop``; the flip is horizontal with
    probability 0.5. ``mean``/``std`` default to ImageNet's, or to the Caffe BGR constants when
    ``bgr_255`` (see the module docstring). ``seed=None`` seeds from system entropy.
    """

    def __init__(
        self,
        resize: int = 256,
        crop: int = 227,
        scale: Sequence[float] = (0.16, 1.0),
        ratio: Sequence[float] = (3 / 4, 4 / 3),
        flip: bool = True,
        mean: Optional[Sequence[float]] = None,
        std: Optional[Sequence[float]] = None,
        bgr_255: bool = False,
        seed: Optional[int] = 0,
    ):
        super().__init__(resize, crop, mean, std, bgr_255)
        self.scale = _check_range(scale, "scale", low=0.0, high=1.0)
        if self.scale[1] <= 0:
            raise ValueError(f"scale must have max > 0, got {scale!r}")
        self.ratio = _check_range(ratio, "ratio", low=1e-6, high=1e6)
        self.flip = bool(flip)
        self.seed = seed
        self.rng = random.Random(seed)
        self.last_box: Optional[tuple[int, int, int, int]] = None  # crop box of the last call

    def reseed(self, seed: Optional[int]) -> None:
        """Restart the random generator from ``seed``."""
        self.seed = seed
        self.rng = random.Random(seed)

    def __call__(self, img: Image.Image) -> torch.Tensor:
        img = resize_shorter(_check_image(img), self.resize)
        box = random_resized_crop_box(img.width, img.height, self.scale, self.ratio, self.rng)
        self.last_box = box
        img = img.crop(box).resize((self.crop, self.crop), Image.BILINEAR)
        if self.flip and self.rng.random() < 0.5:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        return self._finish(img)

    def __repr__(self) -> str:
        return (
            f"TrainTransform(resize={self.resize}, crop={self.crop}, scale={self.scale}, "
            f"ratio={self.ratio}, flip={self.flip}, mean={self.mean}, std={self.std}, "
            f"bgr_255={self.bgr_255}, seed={self.seed})"
        )


class EvalTransform(_Base):
    """Evaluation transform: resize shorter side to ``resize``, center crop ``crop``, normalise.

    ``EvalTransform(resize=256, crop=227, mean=None, std=None, bgr_255=False)``; returns a float32
    tensor (3, crop, crop). Requires ``crop <= resize``.
    """

    def __init__(
        self,
        resize: int = 256,
        crop: int = 227,
        mean: Optional[Sequence[float]] = None,
        std: Optional[Sequence[float]] = None,
        bgr_255: bool = False,
    ):
        super().__init__(resize, crop, mean, std, bgr_255)
        if self.crop > self.resize:
            raise ValueError(f"crop must be <= resize, got crop={crop} and resize={resize}")

    def __call__(self, img: Image.Image) -> torch.Tensor:
        img = resize_shorter(_check_image(img), self.resize)
        img = img.crop(center_crop_box(img.width, img.height, self.crop))
        return self._finish(img)

    def __repr__(self) -> str:
        return (
            f"EvalTransform(resize={self.resize}, crop={self.crop}, mean={self.mean}, "
            f"std={self.std}, bgr_255={self.bgr_255})"
        )
