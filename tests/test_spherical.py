"""Tests of mlcompanion.losses.spherical: the Z-loss (de Brébisson & Vincent, arXiv:1604.08859) and the other
spherical-family losses. No external oracle exists (the PaLM "z-loss" is a different function and
must not be used as one): the references are a numpy transcription of the official Theano formula,
hand-worked values, autograd against the closed-form gradient, and the invariances."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mlcompanion.losses.spherical import (
    FactoredStats,
    OneHotMSELoss,
    SphericalSoftmaxLoss,
    SphericalZLoss,
    TaylorSoftmaxLoss,
    onehot_mse,
    spherical_softmax_nll,
    taylor_softmax_nll,
    zloss,
    zloss_from_stats,
    zloss_grad,
    zscore_target,
)


def _batch(B=6, D=9, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, D, generator=g, dtype=dtype) * 2 + 0.5, torch.randint(0, D, (B,), generator=g)


def _theano_numpy(o, c):
    """Transcription of the official example (timing_example.py, ``z_loss``): a = 1, b = 0, n = D,
    summed over the batch."""
    n = o.shape[1]
    s, q = o.sum(1), (o ** 2).sum(1)
    mu = s / n
    sigma = np.sqrt(q / n - mu ** 2)
    o_c = o[np.arange(len(c)), c]
    return np.log1p(np.exp((mu - o_c) / (sigma + 1e-12))).sum()


def test_matches_official_formula():
    o, c = _batch()
    ours = zloss(o, c, reduction="sum").item()
    assert ours == pytest.approx(_theano_numpy(o.numpy(), c.numpy()), rel=1e-12)
    assert zloss(o, c).item() == pytest.approx(ours / o.shape[0], rel=1e-12)  # mean is the default


def test_hand_worked_values():
    # o = (0, 1, 2), target 2: mu = 1, sigma = sqrt(2/3), z_c = sqrt(3/2)
    o, c = torch.tensor([[0.0, 1.0, 2.0]], dtype=torch.float64), torch.tensor([2])
    z = math.sqrt(1.5)
    assert zscore_target(o, c, eps=0.0).item() == pytest.approx(z, rel=1e-14)
    assert zscore_target(o, c).item() == pytest.approx(z, rel=1e-11)  # eps = 1e-12 added to sigma
    assert zloss(o, c, eps=0.0).item() == pytest.approx(math.log1p(math.exp(-z)), rel=1e-14)
    assert zloss(o, c, a=2.0, b=0.5, eps=0.0).item() == pytest.approx(
        0.5 * math.log1p(math.exp(2 * (0.5 - z))), rel=1e-14)
    # the target at the mean: z_c = 0, L = softplus(a b) / a; with b = 0 it is log 2
    assert zloss(o, torch.tensor([1])).item() == pytest.approx(math.log(2), rel=1e-12)
    # other spherical losses on the same row, target 2
    f = np.array([1.0, 2.5, 5.0])  # 1 + o + o^2 / 2
    assert taylor_softmax_nll(o, c).item() == pytest.approx(-math.log(5.0 / f.sum()), rel=1e-12)
    assert spherical_softmax_nll(o, c, eps=1e-4).item() == pytest.approx(
        -math.log((4 + 1e-4) / (5 + 3e-4)), rel=1e-12)
    assert onehot_mse(o, c).item() == pytest.approx(0 + 1 + 1, rel=1e-12)


def test_bound_sqrt_d_minus_one():
    D = 10
    spike = torch.zeros(1, D, dtype=torch.float64)
    spike[0, 3] = 5.0
    assert zscore_target(spike, torch.tensor([3])).item() == pytest.approx(3.0, abs=1e-9)
    o, c = _batch(B=200, D=D, seed=3)
    assert bool((zscore_target(o, c) <= math.sqrt(D - 1) + 1e-12).all())


@pytest.mark.parametrize("alpha,beta,dtype,tol", [(3.0, 7.0, torch.float32, 1e-5), (250.0, 0.0, torch.float32, 1e-5),
                                                   (0.5, -2.0, torch.float32, 1e-5), (0.01, -100.0, torch.float64, 1e-9),
                                                   (1.0, 1e3, torch.float64, 1e-9)])
def test_shift_and_scale_invariance(alpha, beta, dtype, tol):
    o, c = _batch(dtype=dtype)
    loss = SphericalZLoss(a=1.5, b=0.7, reduction="none")
    assert torch.allclose(loss(alpha * o + beta, c), loss(o, c), atol=tol, rtol=0)
    assert not torch.allclose(loss(o + 0.3 * o ** 2, c), loss(o, c), atol=tol, rtol=0)  # a non-affine map changes it
    # the gradient w.r.t. the untransformed outputs is unchanged too
    x = o.double().requires_grad_()
    g0, = torch.autograd.grad(loss(x, c).sum(), x)
    g1, = torch.autograd.grad(loss(alpha * x + beta, c).sum(), x)
    assert torch.allclose(g0, g1, atol=1e-9, rtol=1e-6)


def test_negative_scale_flips_z_and_cross_entropy_is_not_scale_invariant():
    o, c = _batch()
    assert torch.allclose(zscore_target(-2.0 * o, c), -zscore_target(o, c), atol=1e-12)
    assert not torch.allclose(F.cross_entropy(3 * o, c), F.cross_entropy(o, c))
    assert torch.allclose(F.cross_entropy(o + 7, c), F.cross_entropy(o, c))


@pytest.mark.parametrize("a,b", [(1.0, 0.0), (2.0, 1.3), (0.3, -0.5)])
def test_closed_form_gradient_equals_autograd(a, b):
    o, c = _batch(B=5, D=12)
    x = o.clone().requires_grad_()
    g, = torch.autograd.grad(zloss(x, c, a, b, eps=0.0, reduction="sum"), x)
    closed = zloss_grad(o, c, a, b)
    assert torch.allclose(g, closed, atol=1e-10, rtol=0)
    assert torch.allclose(closed.sum(1), torch.zeros(5, dtype=torch.float64), atol=1e-12)  # shift invariance
    centred = o - o.mean(1, keepdim=True)
    assert torch.allclose((closed * centred).sum(1), torch.zeros(5, dtype=torch.float64), atol=1e-12)  # scale


def test_gradcheck_float64():
    o, c = _batch(B=3, D=5)
    for fn in (lambda x: zloss(x, c, 1.7, 0.4), lambda x: taylor_softmax_nll(x, c),
               lambda x: spherical_softmax_nll(x, c), lambda x: onehot_mse(x, c)):
        assert torch.autograd.gradcheck(fn, (o.clone().requires_grad_(),))
    h = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    stats = FactoredStats(torch.randn(6, 3, dtype=torch.float64), torch.randn(6, dtype=torch.float64))
    y = torch.tensor([0, 5, 2, 2])
    assert torch.autograd.gradcheck(lambda hh: zloss_from_stats(*stats.stats(hh, y), 6, a=1.3, b=0.2), (h,))


def test_factored_stats_give_the_dense_loss():
    g = torch.Generator().manual_seed(1)
    layer = torch.nn.Linear(7, 50).double()
    h = torch.randn(8, 7, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 50, (8,), generator=g)
    stats = FactoredStats.from_linear(layer)
    o_c, s, q = stats.stats(h, y)
    dense = layer(h)
    assert torch.allclose(o_c, dense.gather(1, y[:, None]).squeeze(1), atol=1e-12)
    assert torch.allclose(s, dense.sum(1), atol=1e-12)
    assert torch.allclose(q, (dense ** 2).sum(1), atol=1e-10)
    a, b = 0.8, 1.1
    lf = zloss_from_stats(o_c, s, q, 50, a, b)
    ld = zloss(dense, y, a, b)
    assert lf.item() == pytest.approx(ld.item(), rel=1e-10)
    gf, = torch.autograd.grad(lf, h)
    gd, = torch.autograd.grad(ld, h)
    assert torch.allclose(gf, gd, atol=1e-10)
    # the other spherical losses through their (o_c, s, q) forms
    D = 50
    assert onehot_mse(dense, y).item() == pytest.approx((q - 2 * o_c + 1).mean().item(), rel=1e-10)
    f_c = 1 + o_c + o_c ** 2 / 2
    assert taylor_softmax_nll(dense, y).item() == pytest.approx((-(f_c / (D + s + q / 2)).log()).mean().item(), rel=1e-10)
    sph = -((o_c ** 2 + 1e-4) / (q + D * 1e-4)).log()
    assert spherical_softmax_nll(dense, y).item() == pytest.approx(sph.mean().item(), rel=1e-10)


def test_limits_hinge_and_monotone():
    o, c = _batch(B=50, D=8, seed=4)
    z = zscore_target(o, c)
    b = 0.6
    hinge = (b - z).clamp_min(0)
    assert torch.allclose(zloss(o, c, a=1e6, b=b, reduction="none"), hinge, atol=1e-6)
    order = z.argsort()
    per = zloss(o, c, a=2.0, b=b, reduction="none")[order]
    assert bool((per[1:] <= per[:-1]).all())  # decreasing in z_c


def test_relative_location_and_modules():
    m = SphericalZLoss.relative(101, a=2.0, b_fraction=0.5)
    assert m.b == pytest.approx(5.0) and m.a == 2.0
    o, c = _batch()
    assert m(o, c).item() == pytest.approx(zloss(o, c, 2.0, 5.0).item())
    assert TaylorSoftmaxLoss()(o, c).item() == taylor_softmax_nll(o, c).item()
    assert SphericalSoftmaxLoss(eps=1e-3)(o, c).item() == spherical_softmax_nll(o, c, eps=1e-3).item()
    assert OneHotMSELoss(reduction="sum")(o, c).item() == onehot_mse(o, c, reduction="sum").item()
    assert zloss(o, c, reduction="none").shape == (o.shape[0],)
    assert "a=2" in repr(m)


def test_constant_rows_raise_but_near_constant_rows_are_fine():
    c = torch.tensor([0, 1])
    with pytest.raises(ValueError, match="constant row"):
        zloss(torch.zeros(2, 5), c)
    with pytest.raises(ValueError, match=r"\[1\]"):
        zloss(torch.stack([torch.arange(5.0), torch.full((5,), 0.1)]), c)
    with pytest.raises(ValueError, match="variance"):
        zloss_from_stats(torch.zeros(1), torch.zeros(1), torch.zeros(1), 5)
    o = torch.ones(2, 5, dtype=torch.float64)
    o[:, 0] += 1e-9
    x = o.requires_grad_()
    loss = zloss(x, c, eps=0.0)
    loss.backward()
    assert torch.isfinite(loss) and bool(torch.isfinite(x.grad).all())
    assert loss.item() == pytest.approx(zloss(o.detach() * 1e9, c).item(), rel=1e-5)  # still scale invariant


def test_bad_inputs():
    o, c = _batch()
    with pytest.raises(ValueError, match="at least 2 classes"):
        zloss(torch.randn(3, 1), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 8\]"):
        zloss(o, torch.full_like(c, 9))
    with pytest.raises(ValueError, match="targets must lie"):
        onehot_mse(o, torch.full_like(c, -1))
    with pytest.raises(ValueError, match="one entry per"):
        taylor_softmax_nll(o, c[:-1])
    with pytest.raises(ValueError, match="integer"):
        zloss(o, c.float())
    with pytest.raises(ValueError, match="2-D"):
        zloss(o[0], c[:1])
    with pytest.raises(ValueError, match="finite"):
        zloss(torch.full((2, 3), float("nan")), c[:2])
    with pytest.raises(ValueError, match="a must be"):
        SphericalZLoss(a=0.0)
    with pytest.raises(ValueError, match="b must be a finite number"):
        SphericalZLoss(b=float("inf"))
    with pytest.raises(ValueError, match="reduction"):
        SphericalZLoss(reduction="max")
    with pytest.raises(ValueError, match="eps"):
        spherical_softmax_nll(o, c, eps=0.0)
    with pytest.raises(ValueError, match="num_classes"):
        zloss_from_stats(torch.ones(1), torch.ones(1), torch.ones(1) * 3, 1)
    with pytest.raises(ValueError, match="same shape"):
        zloss_from_stats(torch.ones(2), torch.ones(1), torch.ones(1), 4)
    with pytest.raises(ValueError, match="columns"):
        FactoredStats(torch.randn(5, 3)).stats(torch.randn(2, 4), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="bias"):
        FactoredStats(torch.randn(5, 3), torch.randn(4))


# --- half precision (issue 13) ------------------------------------------------------------------

@pytest.mark.parametrize("loss", [SphericalZLoss(), TaylorSoftmaxLoss(), SphericalSoftmaxLoss(), OneHotMSELoss()],
                         ids=lambda loss: type(loss).__name__)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_logits_learn_like_float64(loss, dtype):
    # logits spread over +-600: o^2 and the Z-loss's variance overflow float16 (max 65504)
    g = torch.Generator().manual_seed(0)
    logits = (torch.randn(8, 10, generator=g, dtype=torch.float64) * 300).to(dtype).double()
    targets = torch.randint(0, 10, (8,), generator=g)
    results = []
    for x in (logits.to(dtype), logits):
        x = x.clone().requires_grad_()
        value = loss(x, targets)
        value.backward()
        results.append((value.detach().double(), x.grad.double()))
    (v16, g16), (v64, g64) = results
    assert torch.isfinite(v16) and torch.isfinite(g16).all()
    assert float(v16) == pytest.approx(float(v64), rel=1e-4, abs=1e-6)
    scale = float(g64.abs().max())
    assert scale > 0
    # the gradient is returned in the input's dtype: compare at that dtype's resolution
    tol = 2 * torch.finfo(dtype).eps * scale
    assert float((g16 - g64).abs().max()) <= tol
