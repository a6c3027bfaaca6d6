"""Distances against scipy, exact zero self-distance at every batch size, finite gradients."""

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from mlcompanion.distances import (
    CosineSimilarity,
    DotProductSimilarity,
    EuclideanDistance,
    SquaredEuclideanDistance,
    get_distance,
)

SCIPY = {
    EuclideanDistance: lambda a, b: cdist(a, b, "euclidean"),
    SquaredEuclideanDistance: lambda a, b: cdist(a, b, "sqeuclidean"),
    CosineSimilarity: lambda a, b: 1.0 - cdist(a, b, "cosine"),
    DotProductSimilarity: lambda a, b: a @ b.T,
}


@pytest.mark.parametrize("cls", list(SCIPY))
def test_matches_scipy(cls):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 7, generator=g, dtype=torch.float64)
    y = torch.randn(30, 7, generator=g, dtype=torch.float64)
    ref = SCIPY[cls](x.numpy(), y.numpy())
    np.testing.assert_allclose(cls()(x, y).numpy(), ref, atol=1e-10)
    np.testing.assert_allclose(cls()(x).numpy(), SCIPY[cls](x.numpy(), x.numpy()), atol=1e-7)


@pytest.mark.parametrize("n", [3, 26, 200])
def test_self_distance_exact(n):
    x = torch.randn(n, 16) * 10
    assert torch.all(torch.diagonal(EuclideanDistance()(x)) == 0)
    assert torch.all(torch.diagonal(SquaredEuclideanDistance()(x)) == 0)
    assert torch.all(torch.diagonal(CosineSimilarity()(x)) == 1)


@pytest.mark.parametrize("cls", list(SCIPY))
def test_symmetric_and_direction(cls):
    x = torch.randn(12, 5, dtype=torch.float64)
    d = cls()(x)
    assert torch.allclose(d, d.T, atol=1e-12)
    assert cls.is_similarity == (cls in (CosineSimilarity, DotProductSimilarity))


def test_euclidean_gradient_finite_at_zero():
    x = torch.randn(30, 4, dtype=torch.float64)
    x[1] = x[0]  # two identical rows: an off-diagonal zero distance too
    x.requires_grad_(True)
    EuclideanDistance()(x).sum().backward()
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize("cls", list(SCIPY))
def test_gradcheck(cls):
    x = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    y = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: cls()(a, b), (x, y))


def test_scale_invariance_of_cosine():
    x = torch.randn(8, 3, dtype=torch.float64)
    assert torch.allclose(CosineSimilarity()(x), CosineSimilarity()(3.7 * x), atol=1e-12)


def test_normalize_flag():
    x = torch.randn(8, 3, dtype=torch.float64)
    assert torch.allclose(DotProductSimilarity(normalize=True)(x), CosineSimilarity()(x), atol=1e-12)


def test_bad_inputs():
    d = EuclideanDistance()
    with pytest.raises(ValueError, match="same embedding size"):
        d(torch.randn(3, 4), torch.randn(3, 5))
    with pytest.raises(ValueError, match="2-D"):
        d(torch.randn(3))
    with pytest.raises(ValueError, match="finite"):
        d(torch.tensor([[float("inf"), 0.0]]))
    with pytest.raises(ValueError, match="unknown distance"):
        get_distance("manhattan")
    with pytest.raises(ValueError, match="always normalises"):
        CosineSimilarity(normalize=False)


def test_get_distance_by_name():
    from mlcompanion.distances import SNRDistance

    assert isinstance(get_distance("snr"), SNRDistance)
    assert isinstance(get_distance("cosine"), CosineSimilarity)
    d = EuclideanDistance()
    assert get_distance(d) is d
