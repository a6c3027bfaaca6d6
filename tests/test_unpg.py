"""Tests of the margin-softmax heads, UNPG's negative pair generation (lib/mlcompanion/losses/margin_softmax.py)
and the verification metrics (lib/mlcompanion/metrics/verification.py); paper slug ``unpg``.

References: pytorch-metric-learning 2.9.0 ArcFaceLoss / CosFaceLoss (margin converted to degrees, same scale,
its W = our weight transposed), naive loops (the official code's operations written out), numpy for the
index-based quartiles, scikit-learn's roc_curve / roc_auc_score for the metrics.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from pytorch_metric_learning import losses as pml_losses
from sklearn.metrics import roc_auc_score, roc_curve

from mlcompanion.losses.margin_softmax import (
    ArcFaceLoss,
    CosFaceLoss,
    UNPGLoss,
    box_and_whisker_filter,
    cross_entropy_with_negatives,
    margin_logits,
    negative_pair_similarities,
)
from mlcompanion.metrics.verification import roc_auc, tar_at_far, verification_metrics, verification_pairs

M = 0.5
S = 64.0


def _batch(b=24, d=8, c=6, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, d, generator=g, dtype=dtype)
    y = torch.arange(b) % c
    return x, y


def _pml_pair(kind, c=6, d=8, theta_fallback=False, m=None):
    """(ours, pml) in float64 with the same class weights."""
    torch.manual_seed(1)
    if kind == "arcface":
        m = M if m is None else m
        pml = pml_losses.ArcFaceLoss(c, d, margin=np.degrees(m), scale=S)
        ours = ArcFaceLoss(c, d, s=S, m=m, theta_fallback=theta_fallback)
    else:
        m = 0.35 if m is None else m
        pml = pml_losses.CosFaceLoss(c, d, margin=m, scale=S)
        ours = CosFaceLoss(c, d, s=S, m=m)
    pml = pml.double()
    ours = ours.double()
    ours.set_class_weights(pml.W.detach().t())
    return ours, pml


def _assert_matches_pml(ours, pml, x, y):
    """Loss (rtol 1e-10) and gradients on embeddings and class weights (rtol 1e-8) equal PML's, float64."""
    x1 = x.clone().requires_grad_(True)
    x2 = x.clone().requires_grad_(True)
    a, b = ours(x1, y), pml(x2, y)
    torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    a.backward()
    b.backward()
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-8, atol=1e-12)
    torch.testing.assert_close(ours.weight.grad, pml.W.grad.t(), rtol=1e-8, atol=1e-12)


def _official_arcface_logits(cos, labels, m, s):
    """The official UNPG ArcFace head written out: acos, + m on the target column, cos back, times s."""
    theta = torch.acos(cos.clamp(-1, 1))
    theta = theta + m * F.one_hot(labels, cos.shape[1]).to(cos.dtype)
    return s * torch.cos(theta)


def _naive_negatives(f, labels):
    out = []
    for i in range(f.shape[0]):
        for k in range(i + 1, f.shape[0]):
            if labels[i] != labels[k]:
                out.append(f[i] @ f[k])
    return torch.stack(out) if out else f.new_zeros(0)


def _numpy_box_whisker(x, k):
    x = np.sort(np.asarray(x, dtype=np.float64))
    n = len(x)
    q1, q3 = x[int(0.25 * n)], x[int(0.75 * n)]
    iqr = q3 - q1
    return x[(x >= q1 - k * iqr) & (x <= q3 + k * iqr)]


def _explicit_unpg(logits, labels, negatives, s):
    """The official UNPG forward: append s * S'_n to every row, then cross-entropy over C + |S'_n| columns."""
    cols = torch.cat([logits, (s * negatives)[None, :].expand(logits.shape[0], -1)], dim=1)
    return F.cross_entropy(cols, labels)


# ---------------------------------------------------------------------------------------------------------
# ArcFace / CosFace against pytorch-metric-learning
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("theta_fallback", [False, True])
def test_arcface_matches_pml_when_all_theta_below_pi_minus_m(theta_fallback):
    ours, pml = _pml_pair("arcface", theta_fallback=theta_fallback)
    x, y = _batch()
    theta = torch.acos(ours.cosines(x).detach().gather(1, y[:, None]))
    assert float(theta.max()) < math.pi - M  # the fallback is not triggered: both variants equal PML
    _assert_matches_pml(ours, pml, x, y)


def test_arcface_beyond_pi_minus_m_fallback_matches_pml_and_default_matches_official():
    ours_fb, pml = _pml_pair("arcface", theta_fallback=True)
    ours = ArcFaceLoss(6, 8, s=S, m=M).double()
    ours.set_class_weights(ours_fb.weight.detach())
    x, y = _batch()
    w = F.normalize(ours.weight.detach(), dim=1)
    x[0] = -w[y[0]] + 0.05 * w[(y[0] + 1) % 6]  # theta_0 close to pi: beyond pi - m
    x[1] = -w[y[1]]  # theta_1 = pi exactly (cos = -1: the sin term's gradient is 0 there, not NaN)
    cos = ours.cosines(x).detach()
    theta = torch.acos(cos.gather(1, y[:, None]).clamp(-1, 1)).squeeze(1)
    assert float(theta[0]) > math.pi - M and float(theta[1]) > math.pi - M - 1e-9
    torch.testing.assert_close(ours_fb(x, y), pml(x, y), rtol=1e-10, atol=1e-10)
    # default (no fallback) = the official UNPG head, cos(theta + m), and differs from PML there
    ref = F.cross_entropy(_official_arcface_logits(cos, y, M, S), y)
    torch.testing.assert_close(ours(x, y), ref, rtol=1e-10, atol=1e-10)
    assert abs(float(ours(x, y).detach()) - float(pml(x, y).detach())) > 1e-3
    # finite gradients at theta = pi
    xg = x.clone().requires_grad_(True)
    ours(xg, y).backward()
    assert torch.isfinite(xg.grad).all()


def test_margin_logits_fallback_formula():
    cos = torch.tensor([[-0.99, 0.1], [0.3, -0.2]], dtype=torch.float64)
    y = torch.tensor([0, 0])
    out = margin_logits(cos, y, "arcface", s=1.0, m=M, theta_fallback=True)
    assert math.acos(-0.99) > math.pi - M
    assert float(out[0, 0]) == pytest.approx(-0.99 - M * math.sin(M), abs=1e-14)
    assert float(out[1, 0]) == pytest.approx(math.cos(math.acos(0.3) + M), abs=1e-14)
    out0 = margin_logits(cos, y, "arcface", s=1.0, m=M)
    assert float(out0[0, 0]) == pytest.approx(math.cos(math.acos(-0.99) + M), abs=1e-14)
    torch.testing.assert_close(out0[:, 1], cos[:, 1])  # non-target columns untouched
    cf = margin_logits(cos, y, "cosface", s=2.0, m=0.35)
    torch.testing.assert_close(cf, 2.0 * (cos - 0.35 * F.one_hot(y, 2)))


def test_cosface_matches_pml():
    ours, pml = _pml_pair("cosface")
    x, y = _batch(seed=3)
    _assert_matches_pml(ours, pml, x, y)


def test_defaults_are_the_papers():
    a, c, u = ArcFaceLoss(3, 4), CosFaceLoss(3, 4), UNPGLoss(3, 4)
    assert (a.s, a.m, a.theta_fallback) == (64.0, 0.5, False)
    assert (c.s, c.m) == (64.0, 0.35)
    assert (u.kind, u.s, u.m, u.wisk, u.theta_fallback) == ("arcface", 64.0, 0.5, 1.5, False)
    assert UNPGLoss(3, 4, head="cosface").m == 0.35


# ---------------------------------------------------------------------------------------------------------
# MLPG, the filter, the UNPG loss
# ---------------------------------------------------------------------------------------------------------


def test_negative_pair_similarities_match_loop():
    x, y = _batch(b=13, c=4, seed=5)
    y = torch.tensor([0, 1, 1, 2, 0, 3, 3, 3, 1, 0, 2, 2, 1])
    got = negative_pair_similarities(x, y)
    ref = _naive_negatives(F.normalize(x, dim=1), y)
    torch.testing.assert_close(got, ref, rtol=0, atol=1e-14)  # same order (row-major upper triangle)
    assert negative_pair_similarities(x, torch.zeros(13, dtype=torch.long)).numel() == 0
    xg = x.clone().requires_grad_(True)
    negative_pair_similarities(xg, y).sum().backward()  # not detached
    assert float(xg.grad.abs().sum()) > 0


def test_box_and_whisker_matches_numpy_index_quartiles():
    rng = np.random.default_rng(0)
    for n in (1, 2, 3, 5, 7, 10, 101, 1000):
        x = np.r_[rng.normal(size=n - min(n, 3)), 5.0, -4.0, 9.0][:n]
        for k in (0.0, 0.5, 1.0, 1.5, 3.0):
            got = box_and_whisker_filter(torch.tensor(x), k)
            np.testing.assert_array_equal(np.sort(got.numpy()), _numpy_box_whisker(x, k))
    # a case where index-based quartiles differ from interpolated ones (np.percentile): the bounds move
    x = np.array([0.0, 1.0, 2.0, 3.0, 10.0, 11.0])
    q1, q3 = x[int(0.25 * 6)], x[int(0.75 * 6)]  # 1, 10 -> IQR 9
    p1, p3 = np.percentile(x, [25, 75])  # 1.25, 8.25 -> IQR 7
    assert (q1, q3) != (p1, p3)
    k = 0.1
    got = box_and_whisker_filter(torch.tensor(x), k).numpy()
    np.testing.assert_array_equal(got, [1.0, 2.0, 3.0, 10.0])  # [0.1, 10.9]
    interp_keep = x[(x >= p1 - k * (p3 - p1)) & (x <= p3 + k * (p3 - p1))]  # [0.55, 8.95]: drops 10
    assert len(interp_keep) != len(got)


def test_box_and_whisker_edge_cases():
    x = torch.tensor([0.3, -0.1, 0.2, 0.9, -0.8], requires_grad=True)
    torch.testing.assert_close(box_and_whisker_filter(x, float("inf")), x)  # k = inf keeps all, in order
    assert box_and_whisker_filter(x[:0], 1.5).numel() == 0
    const = torch.full((7,), 0.25)
    assert box_and_whisker_filter(const, float("inf")).tolist() == [0.25] * 7  # IQR = 0: no inf * 0 NaN
    assert box_and_whisker_filter(const, 1.5).tolist() == [0.25] * 7
    out = box_and_whisker_filter(x, 0.0)  # keeps [Q1, Q3] = [sorted[1], sorted[3]] = [-0.1, 0.3]
    assert sorted(out.tolist()) == pytest.approx([-0.1, 0.2, 0.3])
    out.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0, 1.0, 0.0, 0.0]


def test_cross_entropy_with_negatives_equals_explicit_concatenation():
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(9, 5, generator=g, dtype=torch.float64) * 20
    y = torch.randint(0, 5, (9,), generator=g)
    neg = torch.rand(40, generator=g, dtype=torch.float64) * 2 - 1
    torch.testing.assert_close(cross_entropy_with_negatives(logits, y, neg, s=S), _explicit_unpg(logits, y, neg, S))
    cols = torch.cat([logits, (S * neg)[None].expand(9, -1)], 1)
    torch.testing.assert_close(cross_entropy_with_negatives(logits, y, neg, s=S, reduction="none"),
                               F.cross_entropy(cols, y, reduction="none"))
    torch.testing.assert_close(cross_entropy_with_negatives(logits, y, neg, s=S, reduction="sum"),
                               F.cross_entropy(cols, y, reduction="sum"))
    for empty in (None, neg[:0]):
        torch.testing.assert_close(cross_entropy_with_negatives(logits, y, empty), F.cross_entropy(logits, y))


@pytest.mark.parametrize("head", ["arcface", "cosface"])
@pytest.mark.parametrize("wisk", [1.5, 1.0, 0.0, float("inf")])
def test_unpg_matches_naive_reference(head, wisk):
    x, y = _batch(b=20, d=64, c=5, seed=7)  # d = 64: cosines concentrate near 0
    x[1] = x[0] + 1e-3 * x[2]  # labels 0 and 1: a near-duplicate negative pair, an outlier of S_n
    loss = UNPGLoss(5, 64, head=head, wisk=wisk).double()
    f = F.normalize(x, dim=1)
    cos = f @ F.normalize(loss.weight.detach(), dim=1).t()
    if head == "arcface":
        logits = _official_arcface_logits(cos, y, loss.m, S)
    else:
        logits = S * (cos - loss.m * F.one_hot(y, 5).double())
    sn = _naive_negatives(f, y)
    kept = torch.tensor(_numpy_box_whisker(sn.numpy(), wisk), dtype=torch.float64)
    torch.testing.assert_close(loss(x, y), _explicit_unpg(logits, y, kept, S), rtol=1e-10, atol=1e-10)
    sn_got, kept_got = loss.negatives(x, y)
    assert sn_got.numel() == sn.numel() == 20 * 19 // 2 - 5 * (4 * 3 // 2)
    if wisk == 1.5:
        assert 0 < kept_got.numel() < sn_got.numel()  # the filter removed something on this batch


def test_unpg_k_inf_is_no_filtering_not_the_plain_head():
    """Issue 14 asks "UNPG with k = inf equals the plain head". By the brief's definition k = inf keeps every
    negative (S'_n = S_n), so UNPG(k = inf) is the loss with *all* in-batch negatives appended: strictly
    above the plain head whenever the batch holds two classes. What equals the plain head is S'_n empty
    (a one-class batch, tested below), for every k."""
    x, y = _batch(b=16, c=4, seed=11)
    plain = ArcFaceLoss(4, 8).double()
    unpg = UNPGLoss(4, 8, wisk=float("inf")).double()
    unpg.set_class_weights(plain.weight.detach())
    sn, kept = unpg.negatives(x, y)
    torch.testing.assert_close(kept, sn)
    logits = plain.logits(x, y)
    torch.testing.assert_close(unpg(x, y), _explicit_unpg(logits, y, sn, S), rtol=1e-12, atol=1e-12)
    assert float(unpg(x, y).detach()) > float(plain(x, y).detach())
    # monotone in k: a longer whisker keeps more columns, and each extra column raises the loss
    vals = []
    for k in (0.0, 0.5, 1.5, float("inf")):
        u = UNPGLoss(4, 8, wisk=k).double()
        u.set_class_weights(plain.weight.detach())
        vals.append(float(u(x, y).detach()))
    assert all(a <= b for a, b in zip(vals, vals[1:]))
    assert vals[0] > float(plain(x, y).detach())


@pytest.mark.parametrize("head", ["arcface", "cosface"])
def test_unpg_single_class_batch_is_plain_head_and_pml(head):
    ours_plain, pml = _pml_pair(head)
    unpg = UNPGLoss(6, 8, head=head).double()
    unpg.set_class_weights(ours_plain.weight.detach())
    x, _ = _batch(b=10, seed=4)
    y = torch.full((10,), 2)
    xg = x.clone().requires_grad_(True)
    val = unpg(xg, y)
    torch.testing.assert_close(val, pml(x, y), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(val, ours_plain(x, y), rtol=1e-12, atol=1e-12)
    val.backward()
    assert torch.isfinite(xg.grad).all()
    y1 = torch.tensor([3])  # one sample
    assert torch.isfinite(unpg(x[:1], y1))


def test_unpg_gradient_reaches_features_through_negatives():
    x, y = _batch(b=16, c=4, seed=9)
    unpg = UNPGLoss(4, 8).double()
    xg = x.clone().requires_grad_(True)
    sn_kept = unpg.negatives(xg, y)[1]
    logits = unpg.logits(x, y).detach()  # the C class logits cut from the graph
    cross_entropy_with_negatives(logits, y, sn_kept, s=unpg.s).backward()
    assert float(xg.grad.abs().sum()) > 0
    # and the full loss's gradient differs from the plain head's
    plain = ArcFaceLoss(4, 8).double()
    plain.set_class_weights(unpg.weight.detach())
    x1, x2 = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    unpg(x1, y).backward()
    plain(x2, y).backward()
    assert float((x1.grad - x2.grad).abs().max()) > 1e-6


def test_unpg_at_least_plain_on_random_batches():
    for seed in range(5):
        x, y = _batch(b=32, c=8, seed=seed)
        plain = ArcFaceLoss(8, 8).double()
        unpg = UNPGLoss(8, 8).double()
        unpg.set_class_weights(plain.weight.detach())
        assert float(unpg(x, y).detach()) >= float(plain(x, y).detach())


def test_empty_batch_is_zero_and_connected():
    for loss in (ArcFaceLoss(3, 4), CosFaceLoss(3, 4), UNPGLoss(3, 4)):
        out = loss(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long))
        assert float(out.detach()) == 0.0
        out.backward()
        assert torch.equal(loss.weight.grad, torch.zeros_like(loss.weight))


# ---------------------------------------------------------------------------------------------------------
# gradcheck, half precision
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind,fallback", [("arcface", False), ("arcface", True), ("cosface", False)])
def test_margin_logits_gradcheck(kind, fallback):
    g = torch.Generator().manual_seed(0)
    cos = (torch.rand(5, 4, generator=g, dtype=torch.float64) * 1.8 - 0.9).requires_grad_(True)
    cos.data[0, 1] = -0.97  # a target beyond pi - m (fallback branch)
    y = torch.tensor([1, 0, 3, 2, 1])
    torch.autograd.gradcheck(lambda c: margin_logits(c, y, kind, s=4.0, theta_fallback=fallback), (cos,))


@pytest.mark.parametrize("head", ["arcface", "cosface"])
@pytest.mark.parametrize("wisk", [1.5, float("inf")])
def test_unpg_gradcheck(head, wisk):
    x, y = _batch(b=12, d=5, c=3, seed=13)
    unpg = UNPGLoss(3, 5, head=head, s=8.0, wisk=wisk).double()
    w = unpg.weight.detach().clone().requires_grad_(True)
    x = x.requires_grad_(True)

    def fn(xx, ww):
        unpg.weight.data = ww.detach()
        return torch.func.functional_call(unpg, {"weight": ww}, (xx, y))

    torch.autograd.gradcheck(fn, (x, w))


def test_cross_entropy_with_negatives_gradcheck():
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    neg = (torch.rand(6, generator=g, dtype=torch.float64) * 2 - 1).requires_grad_(True)
    y = torch.tensor([0, 2, 1, 1])
    torch.autograd.gradcheck(lambda a, b: cross_entropy_with_negatives(a, y, b, s=3.0), (logits, neg))


@pytest.mark.parametrize("half", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("head", ["arcface", "cosface"])
def test_half_input_matches_float64_within_float32_error(half, head):
    """Half embeddings are computed in float32: against float64 on the *same* (rounded) inputs the loss agrees
    to rtol 1e-5 (float32 rounding, amplified by s = 64); e^{64} overflows float16, so a half computation would
    give inf."""
    x, y = _batch(b=32, c=6, seed=21, dtype=torch.float32)
    unpg = UNPGLoss(6, 8, head=head)
    ref = UNPGLoss(6, 8, head=head).double()
    ref.set_class_weights(unpg.weight.detach())
    xh = x.to(half)
    out = unpg(xh, y)
    assert out.dtype == torch.float32 and torch.isfinite(out)
    torch.testing.assert_close(out.double(), ref(xh.double(), y), rtol=1e-5, atol=1e-5)
    assert negative_pair_similarities(xh, y).dtype == torch.float32
    assert margin_logits(torch.zeros(2, 3, dtype=half), torch.tensor([0, 1])).dtype == torch.float32
    xg = xh.clone().requires_grad_(True)
    unpg(xg, y).backward()
    assert xg.grad.dtype == half and torch.isfinite(xg.grad).all()


def test_autocast_is_switched_off_inside():
    """Under CPU autocast (bfloat16) the loss is computed as without it (float32), not in bfloat16."""
    x, y = _batch(b=16, c=4, seed=5, dtype=torch.float32)
    unpg = UNPGLoss(4, 8)
    plain = unpg(x, y)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        auto = unpg(x, y)
    assert auto.dtype == torch.float32
    torch.testing.assert_close(auto, plain, rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------------------------------------------------
# bad inputs
# ---------------------------------------------------------------------------------------------------------

_X, _Y = torch.randn(4, 3), torch.tensor([0, 1, 1, 2])
_COS = torch.rand(4, 3) * 2 - 1


@pytest.mark.parametrize("call,match", [
    (lambda: ArcFaceLoss(0, 3), "num_classes"),
    (lambda: ArcFaceLoss(3, 2.5), "embedding_size"),
    (lambda: ArcFaceLoss(3, 3, s=0.0), "s must"),
    (lambda: ArcFaceLoss(3, 3, m=-0.1), "m must"),
    (lambda: ArcFaceLoss(3, 3, m=28.6), "radians"),
    (lambda: ArcFaceLoss(3, 3, m=float("nan")), "m must"),
    (lambda: ArcFaceLoss(3, 3, theta_fallback="yes"), "theta_fallback"),
    (lambda: CosFaceLoss(3, 3, m="0.35"), "m must"),
    (lambda: UNPGLoss(3, 3, head="magface"), "head"),
    (lambda: UNPGLoss(3, 3, wisk=-1.0), "wisk"),
    (lambda: UNPGLoss(3, 3, wisk=float("nan")), "wisk"),
    (lambda: UNPGLoss(3, 3, head="cosface", theta_fallback=True), "theta_fallback"),
    (lambda: ArcFaceLoss(3, 3)(_X[:, :2], _Y), "embeddings"),
    (lambda: ArcFaceLoss(3, 3)(_X.long(), _Y), "embeddings"),
    (lambda: ArcFaceLoss(3, 3)(torch.full((4, 3), float("nan")), _Y), "embeddings"),
    (lambda: ArcFaceLoss(3, 3)(_X, _Y.float()), "labels"),
    (lambda: ArcFaceLoss(3, 3)(_X, _Y[:3]), "labels"),
    (lambda: ArcFaceLoss(3, 3)(_X, _Y + 1), "labels"),
    (lambda: UNPGLoss(3, 3)(_X, -_Y), "labels"),
    (lambda: ArcFaceLoss(3, 3).set_class_weights(torch.randn(3, 4)), "W must"),
    (lambda: margin_logits(_COS * 5, _Y), "cos must"),
    (lambda: margin_logits(_COS[0], _Y), "cos must"),
    (lambda: margin_logits(_COS, _Y, kind="sphereface"), "kind"),
    (lambda: margin_logits(_COS, _Y, s=-1), "s must"),
    (lambda: margin_logits(_COS, _Y + 1), "labels"),
    (lambda: negative_pair_similarities([[0.0, 1.0]], torch.tensor([0])), "features"),
    (lambda: negative_pair_similarities(_X, _Y[:2]), "labels"),
    (lambda: box_and_whisker_filter(_X, 1.5), "sims"),
    (lambda: box_and_whisker_filter(torch.tensor([0.0, float("inf")]), 1.5), "sims"),
    (lambda: box_and_whisker_filter(_X[0], -0.5), "k must"),
    (lambda: box_and_whisker_filter(_X[0], None), "k must"),
    (lambda: cross_entropy_with_negatives(_COS, _Y, _X), "negatives"),
    (lambda: cross_entropy_with_negatives(_COS, _Y, torch.tensor([float("nan")])), "negatives"),
    (lambda: cross_entropy_with_negatives(_COS, _Y, None, s=0), "s must"),
    (lambda: cross_entropy_with_negatives(_COS, _Y, None, reduction="avg"), "reduction"),
    (lambda: cross_entropy_with_negatives(_COS[:, :0], _Y), "logits"),
])
def test_bad_inputs_name_the_argument(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


# ---------------------------------------------------------------------------------------------------------
# verification metrics
# ---------------------------------------------------------------------------------------------------------


def test_verification_pairs_match_loop():
    x, y = _batch(b=9, c=3, seed=1, dtype=torch.float32)
    scores, same = verification_pairs(x, y)
    f = F.normalize(x.double(), dim=1)
    ref_s, ref_t = [], []
    for i in range(9):
        for j in range(i + 1, 9):
            ref_s.append(float(f[i] @ f[j]))
            ref_t.append(bool(y[i] == y[j]))
    np.testing.assert_allclose(scores.numpy(), ref_s, atol=1e-6)
    assert same.tolist() == ref_t
    s16, _ = verification_pairs(x.half(), y)
    assert s16.dtype == torch.float64  # scores are ranked: computed in float64 whatever the input
    np.testing.assert_allclose(s16.numpy(), verification_pairs(x.half().double(), y)[0].numpy(), rtol=0, atol=0)
    # near duplicates: float32 input gives the same ranking as its float64 upcast
    xd = torch.cat([x, x[:3] + 1e-6 * x[3:6]])
    yd = torch.cat([y, (y[:3] + 1) % 3])
    np.testing.assert_array_equal(verification_pairs(xd, yd)[0].numpy(), verification_pairs(xd.double(), yd)[0].numpy())


def _sk_step(scores, truth, far, drop):
    fpr, tpr, _ = roc_curve(truth, scores, drop_intermediate=drop)
    return tpr[fpr <= far].max()


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("ties", [False, True])
def test_tar_at_far_step_matches_sklearn(seed, ties):
    rng = np.random.default_rng(seed)
    n = 600
    truth = rng.random(n) < 0.2
    scores = rng.normal(size=n) + 1.2 * truth
    if ties:
        scores = np.round(scores, 1)  # many tied scores, genuine and impostor alike
    fars = np.r_[0.0, 1e-3, 1.0 / (~truth).sum(), 0.01, 0.05, 0.1, 0.29, 0.5, 1.0, rng.random(5)]
    got = tar_at_far(torch.tensor(scores), torch.tensor(truth), fars)
    # drop_intermediate=False: sklearn's default drops collinear ROC points, and with tied genuine/impostor
    # scores a dropped point can be the best one with fpr <= far (seen with seed 2)
    ref = [_sk_step(scores, truth, f, False) for f in fars]
    np.testing.assert_array_equal(got, ref)
    assert tar_at_far(scores, truth, 0.01) == got[3]
    lin = tar_at_far(scores, truth, fars, interpolation="linear")
    assert (lin >= got - 1e-15).all()


@pytest.mark.parametrize("seed", range(3))
def test_tar_at_far_linear_matches_np_interp_on_sklearn_roc(seed):
    rng = np.random.default_rng(seed)
    truth = rng.random(500) < 0.3
    scores = rng.normal(size=500) + truth  # continuous: no ties, no repeated fpr off the vertical runs
    fpr, tpr, _ = roc_curve(truth, scores, drop_intermediate=False)
    fars = np.sort(rng.random(20) * 0.5)
    fars = fars[~np.isin(fars, fpr)]
    np.testing.assert_allclose(tar_at_far(scores, truth, fars, interpolation="linear"),
                               np.interp(fars, fpr, tpr), rtol=0, atol=1e-12)


def test_tar_at_far_and_auc_hand_worked():
    # genuine 0.9, 0.8, 0.4; impostor 0.85, 0.3, 0.2, 0.1 (4 impostors: FAR steps of 0.25)
    scores = [0.9, 0.85, 0.8, 0.4, 0.3, 0.2, 0.1]
    truth = [1, 0, 1, 1, 0, 0, 0]
    assert tar_at_far(scores, truth, 0.0) == pytest.approx(1 / 3)  # only scores above 0.85
    assert tar_at_far(scores, truth, 0.24) == pytest.approx(1 / 3)
    assert tar_at_far(scores, truth, 0.25) == pytest.approx(1.0)  # accept 0.85 too: every genuine in
    assert roc_auc(scores, truth) == pytest.approx(10 / 12)  # 0.9 beats 4, 0.8 beats 3, 0.4 beats 3
    # a genuine/impostor tie: the ROC has a diagonal segment from (0, 1/2) to (1/2, 1)
    scores, truth = [0.9, 0.5, 0.5, 0.1], [True, True, False, False]
    assert tar_at_far(scores, truth, 0.25) == pytest.approx(0.5)
    assert tar_at_far(scores, truth, 0.25, interpolation="linear") == pytest.approx(0.75)
    assert tar_at_far(scores, truth, 0.5, interpolation="linear") == pytest.approx(1.0)
    assert roc_auc(scores, truth) == pytest.approx(3.5 / 4)  # the tie counts one half
    assert roc_auc(scores, truth) == pytest.approx(roc_auc_score(truth, scores))


def test_roc_auc_and_report_match_sklearn():
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(6, 5, generator=g)
    y = torch.arange(60) % 6
    x = centres[y] + 0.9 * torch.randn(60, 5, generator=g)
    scores, same = verification_pairs(x, y)
    assert roc_auc(scores, same) == pytest.approx(roc_auc_score(same.numpy(), scores.numpy()), abs=1e-12)
    rep = verification_metrics(x, y, fars=(1e-3, 1e-2))
    assert rep["n_genuine"] == 6 * 45 and rep["n_impostor"] == 60 * 59 // 2 - 6 * 45
    assert rep["roc_auc"] == pytest.approx(roc_auc_score(same.numpy(), scores.numpy()), abs=1e-12)
    for far, tar in rep["tar_at_far"].items():
        assert tar == _sk_step(scores.numpy(), same.numpy(), far, False)
    assert list(verification_metrics(x, y, fars=0.1)["tar_at_far"]) == [0.1]


@pytest.mark.parametrize("call,match", [
    (lambda: tar_at_far([0.1, 0.2], [True, True], 0.1), "is_same"),
    (lambda: tar_at_far([0.1, 0.2], [True, False, True], 0.1), "is_same"),
    (lambda: tar_at_far([0.1, 0.2], [2, 0], 0.1), "is_same"),
    (lambda: tar_at_far([0.1, float("nan")], [True, False], 0.1), "scores"),
    (lambda: tar_at_far([[0.1, 0.2]], [True, False], 0.1), "scores"),
    (lambda: tar_at_far(["a", "b"], [True, False], 0.1), "scores"),
    (lambda: tar_at_far([0.1, 0.2], [True, False], 1.5), "far"),
    (lambda: tar_at_far([0.1, 0.2], [True, False], -0.1), "far"),
    (lambda: tar_at_far([0.1, 0.2], [True, False], "0.1"), "far"),
    (lambda: tar_at_far([0.1, 0.2], [True, False], [0.1, 2.0]), "far"),
    (lambda: tar_at_far([0.1, 0.2], [True, False], []), "far"),
    (lambda: tar_at_far([0.1, 0.2], [True, False], 0.1, interpolation="nearest"), "interpolation"),
    (lambda: roc_auc([0.1, 0.2], [False, False]), "is_same"),
    (lambda: verification_pairs(torch.randn(1, 3), torch.tensor([0])), "embeddings"),
    (lambda: verification_pairs(torch.randn(4, 3), torch.tensor([0, 1])), "labels"),
    (lambda: verification_metrics(torch.randn(4, 3), torch.tensor([0, 0, 0, 0])), "labels must give"),
    (lambda: verification_metrics(torch.randn(4, 3), torch.tensor([0, 1, 2, 3])), "labels must give"),
    (lambda: verification_metrics(torch.randn(4, 3), torch.tensor([0, 0, 1, 1]), fars=2.0), "fars must"),
    (lambda: verification_metrics(torch.randn(4, 3), torch.tensor([0, 0, 1, 1]), interpolation="x"), "interpolation"),
    (lambda: verification_metrics(torch.randn(4, 3), torch.tensor([0, 0, 1, 1]), fars=["x"]), "far"),
])
def test_metric_bad_inputs_name_the_argument(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
