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


# --- numerics (issue 13): half precision, close pairs -------------------------------------------

def _cluster_far_from_origin(n=20, d=32, radius=245.0, width=0.25, seed=0):
    """A cluster ``width`` wide whose centre sits ``radius`` from the origin (Gram expansion cancels)."""
    g = torch.Generator().manual_seed(seed)
    centre = torch.randn(1, d, generator=g, dtype=torch.float64)
    centre = centre / centre.norm() * radius
    return centre + width * torch.rand(n, d, generator=g, dtype=torch.float64) / d ** 0.5


@pytest.mark.parametrize("cls", [EuclideanDistance, SquaredEuclideanDistance])
@pytest.mark.parametrize("same", [True, False])
def test_close_pairs_keep_float32_precision(cls, same):
    x32 = _cluster_far_from_origin().float()
    x64 = x32.double()  # the reference: the same (float32-rounded) points in float64
    got = cls()(x32) if same else cls()(x32, x32[:7].clone())
    want = cls()(x64) if same else cls()(x64, x64[:7].clone())
    off = ~torch.eye(*want.shape, dtype=torch.bool)
    rel = (got.double() - want).abs()[off] / want[off]
    assert float(rel.max()) < 1e-5  # Gram expansion alone: 19.5 % error, some distances exactly 0


def test_near_duplicate_pair_is_not_zero():
    x = torch.randn(4, 16).double()
    x[1] = x[0] + 2.0 ** -16  # representable in float32 next to values of order 1
    for distance in (EuclideanDistance(), SquaredEuclideanDistance()):
        for d32, d64 in ((distance(x.float()), distance(x)), (distance(x.float(), x[:2].float()), distance(x, x[:2]))):
            assert float(d32[1, 0]) > 0
            assert abs(float(d32[1, 0]) - float(d64[1, 0])) <= 1e-4 * float(d64[1, 0])


@pytest.mark.parametrize("same", [True, False])
def test_close_pair_gradient_matches_float64(same):
    x64 = _cluster_far_from_origin(n=12).float().double()
    x64[3] = x64[2] + 2.0 ** -8
    w = torch.rand(12, 12 if same else 5, dtype=torch.float64)
    grads = []
    for x in (x64.float(), x64):
        x = x.clone().requires_grad_()
        d = EuclideanDistance()(x) if same else EuclideanDistance()(x, x[:5])
        (d * w.to(x.dtype)).sum().backward()
        grads.append(x.grad.double())
    assert float((grads[0] - grads[1]).norm() / grads[1].norm()) < 1e-5


@pytest.mark.parametrize("cls", list(SCIPY))
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_computed_in_float32(cls, dtype):
    # rows of norm ~200: ||x||^2 alone exceeds float16's maximum (65504)
    x = (torch.randn(10, 16, dtype=torch.float64) * 50).to(dtype)
    y = (torch.randn(6, 16, dtype=torch.float64) * 50).to(dtype)
    for got, want in ((cls()(x), cls()(x.double())), (cls()(x, y), cls()(x.double(), y.double()))):
        assert got.dtype == torch.float32
        assert torch.isfinite(got).all()
        np.testing.assert_allclose(got.double().numpy(), want.numpy(), rtol=1e-5, atol=1e-3)


def test_distance_ignores_autocast():
    x = torch.randn(8, 16) * 50
    with torch.autocast("cpu", dtype=torch.bfloat16):
        d = EuclideanDistance()(x)
    assert d.dtype == torch.float32
    torch.testing.assert_close(d, EuclideanDistance()(x))


def test_normalized_squared_euclidean_keeps_near_duplicates_in_float32():
    """||u_i - u_j||^2 of u = normalize(x) for rows 1e-5 apart (relative), against float64: the
    difference is taken before the normalisation, so float32 keeps ~1e-4 relative precision where
    normalising first and then differencing (or the Gram expansion) loses it."""
    from mlcompanion.distances.base import normalized_squared_euclidean

    g = torch.Generator().manual_seed(0)
    base = torch.randn(6, 32, generator=g, dtype=torch.float64) * torch.tensor([0.5, 1, 2, 3, 5, 9.0]).unsqueeze(1)
    noise = torch.randn(6, 32, generator=g, dtype=torch.float64) / 32 ** 0.5 * base.norm(dim=1, keepdim=True)
    x32 = torch.cat([base, base * (1 + 3e-6) + 1e-5 * noise]).float()  # near-duplicate rows
    x64 = x32.double()  # the reference sees the same (float32-rounded) input
    u64 = torch.nn.functional.normalize(x64, dim=1)
    ref = (u64.unsqueeze(1) - u64.unsqueeze(0)).pow(2).sum(-1)
    got = normalized_squared_euclidean(x32).double()
    close = torch.arange(6), torch.arange(6) + 6
    assert torch.allclose(got[close], ref[close], rtol=1e-3, atol=0)
    naive = torch.nn.functional.normalize(x32, dim=1)
    naive = (naive.unsqueeze(1) - naive.unsqueeze(0)).pow(2).sum(-1).double()
    assert not torch.allclose(naive[close], ref[close], rtol=1e-3, atol=0)  # the case is hard
    far = ~torch.eye(12, dtype=torch.bool)
    assert torch.allclose(got[far], ref[far], rtol=1e-4, atol=1e-6)
    assert torch.equal(got.diagonal(), torch.zeros(12, dtype=torch.float64))
