"""cDCM loss, Deep SAD baseline and the d > m rule (mlcompanion.losses.center; paper ``cdcm``).

References: hand-worked values from the paper's equation, an independent float64 NumPy port of
the official TensorFlow ``compute_loss`` (cDCM and Deep SAD), and scikit-learn's metrics.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import precision_score, recall_score, roc_auc_score

from mlcompanion.losses.center import CDCMLoss, DeepSADLoss, center_distance
from mlcompanion.metrics.anomaly import anomaly_rule, detection_metrics

# ---------------------------------------------------------------- independent NumPy ports


def numpy_cdcm(z, y, margin=5.0, theta=5.0, clamp=None):
    """The official compute_loss, written out in float64 NumPy (no eps, per-group means)."""
    c = np.ones(z.shape[1])
    d = np.sqrt(((z - c) ** 2).sum(axis=1))
    if clamp is not None:
        d = np.minimum(d, clamp)
    normal, abnormal = d[y == 0], d[y == 1]
    loss = normal.mean() if normal.size else 0.0
    if abnormal.size:
        loss += theta * (np.maximum(0.0, margin - abnormal).mean() + (1.0 / (1.0 + np.exp(abnormal - margin))).mean())
    return loss


def numpy_deep_sad(z, y, eps=1e-4):
    sq = ((z - 1.0) ** 2).sum(axis=1)
    return np.mean((1 - y) * sq + y / (sq + eps))


HAND_Z = torch.tensor([[1.0, 1.0], [4.0, 5.0], [1.0, 4.0]], dtype=torch.float64)
HAND_Y = torch.tensor([0, 0, 1])


# ---------------------------------------------------------------- values


def test_hand_worked_cdcm():
    # d = 0, 5 (normals), 3 (abnormal): 2.5 + 5 * (hinge 2 + sigmoid(2) = 0.8808) = 16.904
    expected = 2.5 + 5.0 * (2.0 + 1.0 / (1.0 + math.exp(-2.0)))
    loss = CDCMLoss(eps=0.0)(HAND_Z, HAND_Y)
    assert loss.item() == pytest.approx(expected, abs=1e-12)
    assert round(loss.item(), 3) == 16.904
    # the default eps = 1e-12 moves d = 0 to 1e-6 only
    assert CDCMLoss()(HAND_Z, HAND_Y).item() == pytest.approx(expected, abs=1e-5)


def test_hand_worked_deep_sad():
    expected = (0.0 + 25.0 + 1.0 / (9.0 + 1e-4)) / 3.0
    loss = DeepSADLoss()(HAND_Z, HAND_Y)
    assert loss.item() == pytest.approx(expected, abs=1e-12)
    assert round(loss.item(), 4) == 8.3704
    assert torch.allclose(DeepSADLoss().score(HAND_Z), torch.tensor([0.0, 25.0, 9.0], dtype=torch.float64))


@pytest.mark.parametrize("clamp", [None, 20.0])
def test_matches_numpy_port_of_official_code(clamp):
    rng = np.random.default_rng(0)
    for trial in range(20):
        n, dim = rng.integers(2, 40), rng.integers(1, 16)
        z = rng.normal(1.0, rng.uniform(0.5, 8.0), size=(n, dim))
        y = (rng.uniform(size=n) < 0.3).astype(np.int64)
        y[0] = 0  # at least one normal (the official code returns NaN otherwise)
        got = CDCMLoss(eps=0.0, clamp_max=clamp)(torch.from_numpy(z), torch.from_numpy(y)).item()
        assert abs(got - numpy_cdcm(z, y, clamp=clamp)) <= 1e-10, trial
        got_sad = DeepSADLoss()(torch.from_numpy(z), torch.from_numpy(y)).item()
        assert got_sad == pytest.approx(numpy_deep_sad(z, y), rel=1e-12)


def test_margin_and_theta_are_used():
    z = torch.tensor([[1.0, 1.0], [1.0, 3.0]], dtype=torch.float64)  # normal d=0, abnormal d=2
    y = torch.tensor([0, 1])
    for m, theta in [(5.0, 5.0), (3.0, 2.0), (1.0, 0.5)]:
        expected = theta * (max(0.0, m - 2.0) + 1.0 / (1.0 + math.exp(2.0 - m)))
        assert CDCMLoss(margin=m, theta=theta, eps=0.0)(z, y).item() == pytest.approx(expected, abs=1e-12)


def test_theta_zero_is_mean_normal_distance():
    torch.manual_seed(0)
    z = torch.randn(12, 5, dtype=torch.float64) * 3
    y = torch.tensor([0, 1] * 6)
    d = (z - 1).norm(dim=1)
    assert CDCMLoss(theta=0.0, eps=0.0)(z, y).item() == pytest.approx(d[y == 0].mean().item(), abs=1e-12)


def test_batch_without_one_group_is_zero_and_connected():
    z = (torch.randn(6, 4, dtype=torch.float64) * 2).requires_grad_()
    loss_fn = CDCMLoss(eps=0.0)
    only_normal = loss_fn(z, torch.zeros(6, dtype=torch.long))
    assert only_normal.item() == pytest.approx((z.detach() - 1).norm(dim=1).mean().item(), abs=1e-12)
    only_abnormal = loss_fn(z, torch.ones(6, dtype=torch.long))
    d = (z.detach() - 1).norm(dim=1)
    expected = 5.0 * (torch.relu(5 - d).mean() + torch.sigmoid(5 - d).mean()).item()
    assert only_abnormal.item() == pytest.approx(expected, abs=1e-12)
    # all samples far outside the margin and no normal: the loss is ~0 and still backpropagates
    far = (torch.full((3, 2), 100.0, dtype=torch.float64)).requires_grad_()
    loss = loss_fn(far, torch.ones(3, dtype=torch.long))
    loss.backward()
    assert loss.requires_grad and torch.isfinite(far.grad).all()


def test_translation_invariance_with_the_centre():
    torch.manual_seed(1)
    z = torch.randn(10, 3, dtype=torch.float64) * 4
    y = torch.tensor([0, 0, 0, 1, 1, 0, 1, 0, 0, 1])
    shift = torch.tensor([3.0, -2.0, 0.5], dtype=torch.float64)
    a = CDCMLoss(eps=0.0)(z, y)
    b = CDCMLoss(eps=0.0, center=torch.ones(3, dtype=torch.float64) + shift)(z + shift, y)
    assert a.item() == pytest.approx(b.item(), abs=1e-10)
    # a scalar centre is the all-equal vector
    c = CDCMLoss(eps=0.0, center=2.0)(z, y)
    d = CDCMLoss(eps=0.0, center=torch.full((3,), 2.0, dtype=torch.float64))(z, y)
    assert c.item() == pytest.approx(d.item(), abs=1e-12)


# ---------------------------------------------------------------- gradients


def test_gradcheck_float64():
    torch.manual_seed(2)
    z = (torch.randn(7, 3, dtype=torch.float64) * 3).requires_grad_()
    y = torch.tensor([0, 1, 0, 1, 0, 0, 1])
    assert torch.autograd.gradcheck(lambda t: CDCMLoss()(t, y), (z,))
    assert torch.autograd.gradcheck(lambda t: CDCMLoss(margin=2.0, theta=1.5)(t, y), (z,))
    assert torch.autograd.gradcheck(lambda t: DeepSADLoss()(t, y), (z,))


def test_finite_gradient_at_the_centre():
    z = torch.ones(3, 4, dtype=torch.float64, requires_grad=True)
    CDCMLoss()(z, torch.tensor([0, 1, 0])).backward()
    assert torch.isfinite(z.grad).all()
    # without the guard (eps = 0, the official formula) the square root is the safe one: gradient 0
    # at z = c, not NaN (issue 13)
    for dtype in (torch.float64, torch.float32, torch.float16):
        z0 = torch.ones(1, 4, dtype=dtype, requires_grad=True)
        CDCMLoss(eps=0.0)(z0, torch.tensor([0])).backward()
        assert torch.equal(z0.grad, torch.zeros_like(z0))


def test_clamp_max_caps_distance_and_zeroes_gradient():
    z = torch.tensor([[1.0, 31.0], [1.0, 11.0]], dtype=torch.float64, requires_grad=True)  # d = 30, 10
    loss_fn = CDCMLoss(clamp_max=20.0, eps=0.0)
    assert torch.allclose(loss_fn.distance(z), torch.tensor([20.0, 10.0], dtype=torch.float64))
    loss_fn(z, torch.tensor([0, 0])).backward()
    assert torch.all(z.grad[0] == 0) and torch.any(z.grad[1] != 0)
    assert CDCMLoss(eps=0.0).distance(z)[0].item() == pytest.approx(30.0)


def test_centre_is_a_buffer_never_trained():
    loss_fn = CDCMLoss(center=torch.ones(4))
    assert list(loss_fn.parameters()) == []
    assert "center" in dict(loss_fn.named_buffers())
    model = torch.nn.Linear(3, 4)
    params = list(model.parameters()) + list(loss_fn.parameters())
    opt = torch.optim.SGD(params, lr=0.5)
    before = loss_fn.center.clone()
    for _ in range(3):
        loss = loss_fn(model(torch.randn(8, 3)), torch.tensor([0, 1] * 4))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert torch.equal(loss_fn.center, before)
    assert list(DeepSADLoss().parameters()) == []


# ---------------------------------------------------------------- the rule and the metrics


def test_anomaly_rule_is_strict_d_greater_than_margin():
    d = torch.tensor([0.0, 4.999, 5.0, 5.001, 30.0])
    assert anomaly_rule(d, 5.0).tolist() == [False, False, False, True, True]
    z = torch.tensor([[1.0, 1.0], [1.0, 6.0], [1.0, 7.0]])  # d = 0, 5, 6
    assert CDCMLoss().predict(z).tolist() == [False, False, True]


def test_detection_metrics_match_sklearn():
    rng = np.random.default_rng(3)
    truth = rng.uniform(size=200) < 0.4
    scores = rng.normal(size=200) + 1.5 * truth
    scores[:20] = np.round(scores[:20])  # some ties
    out = detection_metrics(torch.from_numpy(scores), torch.from_numpy(truth), 0.5)
    pred = scores > 0.5
    assert out["auroc"] == pytest.approx(roc_auc_score(truth, scores), abs=1e-12)
    assert out["precision"] == pytest.approx(precision_score(truth, pred), abs=1e-12)
    assert out["recall"] == pytest.approx(recall_score(truth, pred), abs=1e-12)
    assert out["tp"] + out["fp"] + out["fn"] + out["tn"] == 200
    # nothing flagged: precision 0 (sklearn's zero_division=0), recall 0
    none = detection_metrics(scores, truth.astype(int), 1e9)
    assert none["precision"] == 0.0 and none["recall"] == 0.0


# ---------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    "labels, match",
    [
        (torch.tensor([0, 2, 1]), "only 0"),
        (torch.tensor([0.0, 1.0, 1.0]), "integer or bool"),
        (torch.tensor([0, 1]), r"shape \(3,\)"),
        ([0, 1, 0], "torch.Tensor"),
    ],
)
def test_bad_labels(labels, match):
    with pytest.raises(ValueError, match=match):
        CDCMLoss()(HAND_Z, labels)
    with pytest.raises(ValueError, match=match):
        DeepSADLoss()(HAND_Z, labels)


def test_bool_labels_accepted():
    a = CDCMLoss()(HAND_Z, HAND_Y)
    b = CDCMLoss()(HAND_Z, HAND_Y.bool())
    assert a.item() == b.item()


def test_bad_embeddings_and_hyperparameters():
    y = torch.tensor([0, 1])
    with pytest.raises(ValueError, match="2-D"):
        CDCMLoss()(torch.randn(2), y)
    with pytest.raises(ValueError, match="finite"):
        CDCMLoss()(torch.tensor([[float("nan"), 1.0], [1.0, 1.0]]), y)
    with pytest.raises(ValueError, match="floating-point"):
        CDCMLoss()(torch.ones(2, 2, dtype=torch.long), y)
    with pytest.raises(ValueError, match="D = 2"):
        CDCMLoss(center=torch.ones(3))(torch.ones(2, 2), y)
    with pytest.raises(ValueError, match="margin"):
        CDCMLoss(margin=0.0)
    with pytest.raises(ValueError, match="theta"):
        CDCMLoss(theta=-1.0)
    with pytest.raises(ValueError, match="clamp_max"):
        CDCMLoss(clamp_max=-5.0)
    with pytest.raises(ValueError, match="center"):
        CDCMLoss(center=torch.ones(2, 2))
    with pytest.raises(ValueError, match="center"):
        CDCMLoss(center="ones")
    with pytest.raises(ValueError, match="eps"):
        DeepSADLoss(eps=0.0)
    with pytest.raises(ValueError, match="1-D float"):
        anomaly_rule(torch.tensor([1, 2]), 5.0)
    with pytest.raises(ValueError, match="threshold"):
        anomaly_rule(torch.tensor([1.0]), "five")
    with pytest.raises(ValueError, match="both normal and abnormal"):
        detection_metrics(np.array([0.1, 0.2]), np.array([1, 1]), 0.5)
    with pytest.raises(ValueError, match="same length"):
        detection_metrics(np.array([0.1, 0.2, 0.3]), np.array([0, 1]), 0.5)
    with pytest.raises(ValueError, match="eps"):
        center_distance(torch.ones(2, 2), torch.tensor(1.0), eps=-1.0)
