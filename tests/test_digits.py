"""sklearn digits as tensors: shapes, dtypes, scaling, label counts."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits

from mlcompanion.data.digits import load_digits_tensors


def test_shapes_dtypes_and_range():
    images, labels = load_digits_tensors()
    assert images.shape == (1797, 1, 8, 8) and images.dtype == torch.float32
    assert labels.shape == (1797,) and labels.dtype == torch.int64
    assert images.min() == 0.0 and images.max() == 1.0  # raw values 0..16 divided by 16
    assert torch.equal(images * 16, (images * 16).round())


def test_labels_and_pixels_match_sklearn():
    images, labels = load_digits_tensors()
    bunch = load_digits()
    counts = torch.bincount(labels)
    assert counts.shape == (10,) and int(counts.sum()) == 1797
    assert int(counts.min()) >= 174 and int(counts.max()) <= 183
    assert np.array_equal(labels.numpy(), bunch.target)
    assert np.allclose(images[:, 0].numpy() * 16, bunch.images)
