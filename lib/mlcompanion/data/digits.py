"""scikit-learn's bundled 8x8 handwritten digits (offline, 1797 images, 10 classes) as tensors."""

from __future__ import annotations

import torch


__all__ = ["load_digits_tensors"]


def load_digits_tensors() -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(images, labels)``: float32 ``(1797, 1, 8, 8)`` in [0, 1] and int64 ``(1797,)``.

    The raw pixel values are integers 0..16 (ink intensity); they are divided by 16.
    """
    from sklearn.datasets import load_digits  # scikit-learn loads only when digits are asked for

    bunch = load_digits()
    images = torch.as_tensor(bunch.images, dtype=torch.float32).div_(16.0).unsqueeze(1)
    labels = torch.as_tensor(bunch.target, dtype=torch.int64)
    return images.contiguous(), labels
