"""AnyLoss (mlcompanion.losses.anyloss, paper ``anyloss``) and its data (mlcompanion.data.tabular_benchmark).

References: scikit-learn's accuracy_score, f1_score, fbeta_score, balanced_accuracy_score and a
G-mean from recall_score per class, which the soft metrics must reach for large L when the
probabilities stay away from 0.5; the hand-worked vector of the brief (L = None); the chain rule
of the paper for dA/dz; gradcheck in float64; batches without positives; bad inputs.
"""

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, fbeta_score, recall_score

from mlcompanion.data import DatasetNotFoundError
from mlcompanion.data.tabular_benchmark import (
    TABULAR_IDS,
    anyloss_data1,
    check_tabular_layout,
    iter_tabular_datasets,
    load_tabular_csv,
)
from mlcompanion.losses.anyloss import METRICS, AnyLoss, amplify, soft_confusion, soft_metric, weighted_bce


def _away_from_half(seed, n=200, margin=0.05, pos_rate=0.3, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    y = (torch.rand(n, generator=g) < pos_rate).long()
    p = torch.rand(n, generator=g, dtype=dtype)
    p = torch.where((p - 0.5).abs() < margin, p + torch.sign(p - 0.5 + 1e-12) * margin, p).clamp(0, 1)
    assert float((p - 0.5).abs().min()) >= margin - 1e-12
    return p, y


def _sk_gmean(y, pred):
    r = recall_score(y, pred, average=None, labels=[0, 1], zero_division=0.0)
    return math.sqrt(r[0] * r[1])


# ------------------------------------------------------------------ limit L -> infinity = sklearn
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_large_L_matches_sklearn(seed):
    p, y = _away_from_half(seed)
    pred = (p > 0.5).long().numpy()
    yn = y.numpy()
    L = 1000.0  # |A(p) - [p > 0.5]| < exp(-50) for |p - 0.5| >= 0.05
    refs = {
        "accuracy": accuracy_score(yn, pred),
        "f1": f1_score(yn, pred),
        "balanced_accuracy": balanced_accuracy_score(yn, pred),
        "gmean": _sk_gmean(yn, pred),
    }
    for metric, ref in refs.items():
        ours = soft_metric(p, y, metric, L=L, eps=0.0).item()
        assert ours == pytest.approx(ref, abs=1e-9), metric
    for beta in (0.5, 2.0):
        ours = soft_metric(p, y, "fbeta", L=L, beta=beta, eps=0.0).item()
        assert ours == pytest.approx(fbeta_score(yn, pred, beta=beta), abs=1e-9)
    tp, fn, fp, tn = (c.item() for c in soft_confusion(p, y, L))
    assert (tp, fn, fp, tn) == pytest.approx(
        (((pred == 1) & (yn == 1)).sum(), ((pred == 0) & (yn == 1)).sum(),
         ((pred == 1) & (yn == 0)).sum(), ((pred == 0) & (yn == 0)).sum()), abs=1e-9)


def test_default_L_and_eps_are_close_to_sklearn_away_from_half():
    # L = 73, eps = 1e-5 (the defaults): p at least 0.15 from 0.5 -> |A - hard| < 2e-5 per sample
    p, y = _away_from_half(5, n=400, margin=0.15)
    pred = (p > 0.5).long().numpy()
    assert soft_metric(p, y, "f1").item() == pytest.approx(f1_score(y.numpy(), pred), abs=1e-3)
    assert soft_metric(p, y, "balanced_accuracy").item() == pytest.approx(
        balanced_accuracy_score(y.numpy(), pred), abs=1e-3)


def test_small_L_is_not_the_hard_metric():
    # the limit tests above can fail: at L = 2 the soft F1 of confident, correct predictions
    # (p = 0.8 on positives, 0.2 on negatives; hard F1 = 1) is A(0.8) / (1/2 + A(0.8)/2 + ...) < 0.8
    y = torch.tensor([1, 1, 0, 0, 0, 0])
    p = torch.where(y == 1, 0.8, 0.2).double()
    assert f1_score(y.numpy(), (p > 0.5).long().numpy()) == 1.0
    assert soft_metric(p, y, "f1", L=2.0).item() < 0.8
    assert soft_metric(p, y, "f1", L=73.0).item() > 0.999


# ------------------------------------------------------------------ hand-worked case (brief)
def test_hand_case():
    y = torch.tensor([1, 1, 0, 0, 0])
    p = torch.tensor([0.9, 0.2, 0.1, 0.3, 0.0], dtype=torch.float64)
    tp, fn, fp, tn = soft_confusion(p, y, L=None)
    assert [tp.item(), fn.item(), fp.item(), tn.item()] == pytest.approx([1.1, 0.9, 0.4, 2.6], abs=1e-12)
    assert soft_metric(p, y, "f1", L=None, eps=0).item() == pytest.approx(2.2 / 3.5, abs=1e-12)
    assert soft_metric(p, y, "accuracy", L=None, eps=0).item() == pytest.approx(0.74, abs=1e-12)
    assert soft_metric(p, y, "balanced_accuracy", L=None, eps=0).item() == pytest.approx(8.5 / 12, abs=1e-12)
    assert soft_metric(p, y, "gmean", L=None, eps=0).item() == pytest.approx(math.sqrt(1.1 * 2.6 / 6), abs=1e-12)
    assert soft_metric(p, y, "gmean", L=None, eps=0, gmean_sqrt=False).item() == pytest.approx(
        1.1 * 2.6 / 6, abs=1e-12)
    assert AnyLoss("f1", L=None, eps=0)(p, y).item() == pytest.approx(1 - 2.2 / 3.5, abs=1e-12)
    # amplification at L = 73: A(0.9) = sigmoid(29.2), A(0.0) = sigmoid(-36.5)
    a = amplify(p, 73.0)
    assert a[0].item() == pytest.approx(1 / (1 + math.exp(-29.2)), rel=1e-12)
    assert a[4].item() == pytest.approx(1 / (1 + math.exp(36.5)), rel=1e-9)
    assert amplify(torch.tensor([0.5]), 5.0).item() == 0.5


@pytest.mark.parametrize("seed", [0, 1])
def test_cells_sum_to_n_and_two_ba_forms_agree(seed):
    p, y = _away_from_half(seed, n=37, margin=0.0)
    tp, fn, fp, tn = soft_confusion(p, y, L=7.0)
    assert (tp + fn + fp + tn).item() == pytest.approx(37, abs=1e-12)
    n, y1, s = 37.0, float(y.sum()), float(amplify(p, 7.0).sum())
    alt = (n * (tp.item() + y1) - y1 * (s + y1)) / (2 * y1 * (n - y1))  # the paper's closed form
    assert soft_metric(p, y, "balanced_accuracy", L=7.0, eps=0).item() == pytest.approx(alt, abs=1e-12)


def test_shapes_and_label_dtypes_agree():
    p, y = _away_from_half(3, n=20)
    ref = soft_metric(p, y, "f1")
    assert soft_metric(p.unsqueeze(1), y.unsqueeze(1), "f1").item() == pytest.approx(ref.item(), abs=1e-15)
    assert soft_metric(p, y.bool(), "f1").item() == pytest.approx(ref.item(), abs=1e-15)
    assert soft_metric(p, y.double(), "f1").item() == pytest.approx(ref.item(), abs=1e-15)
    # permutation invariance
    perm = torch.randperm(20, generator=torch.Generator().manual_seed(0))
    assert soft_metric(p[perm], y[perm], "gmean").item() == pytest.approx(soft_metric(p, y, "gmean").item(),
                                                                          abs=1e-12)


# ------------------------------------------------------------------ gradients
def test_chain_rule_of_the_paper():
    # d A(sigmoid(z)) / dz = L A (1 - A) p (1 - p)
    z = torch.linspace(-3, 3, 13, dtype=torch.float64, requires_grad=True)
    L = 9.0
    p = torch.sigmoid(z)
    a = amplify(p, L)
    (g,) = torch.autograd.grad(a.sum(), z)
    expected = L * a * (1 - a) * p * (1 - p)
    assert torch.allclose(g, expected.detach(), atol=1e-12)


@pytest.mark.parametrize("metric", METRICS)
def test_gradcheck(metric):
    g = torch.Generator().manual_seed(1)
    y = torch.tensor([1, 0, 0, 1, 0, 0, 0, 1, 0, 0])
    z = torch.randn(10, generator=g, dtype=torch.float64, requires_grad=True)
    loss = AnyLoss(metric, L=5.0, beta=2.0 if metric == "fbeta" else 1.0)
    assert torch.autograd.gradcheck(lambda t: loss(torch.sigmoid(t), y), (z,))
    assert torch.autograd.gradcheck(lambda t: weighted_bce(torch.sigmoid(t), y), (z,))


@pytest.mark.parametrize("metric", METRICS)
def test_batch_without_positives_or_negatives(metric):
    z = torch.tensor([-2.0, 0.1, 0.3, -0.4], dtype=torch.float64, requires_grad=True)
    for y in (torch.zeros(4, dtype=torch.long), torch.ones(4, dtype=torch.long)):
        loss = AnyLoss(metric)(torch.sigmoid(z), y)
        (g,) = torch.autograd.grad(loss, z)
        assert torch.isfinite(loss) and torch.isfinite(g).all(), (metric, y)
        assert 0 <= loss.item() <= 1 + 1e-6
    # eps = 0 reproduces the original notebooks' 0/0
    if metric in ("f1", "balanced_accuracy", "gmean"):
        assert torch.isnan(AnyLoss(metric, L=None, eps=0.0)(torch.zeros(4, dtype=torch.float64), torch.zeros(4)))


def test_loss_prefers_the_right_answer():
    y = torch.tensor([1, 0, 0, 0, 1, 0])
    good = torch.tensor([0.9, 0.1, 0.2, 0.1, 0.8, 0.3])
    bad = 1 - good
    for metric in METRICS:
        assert AnyLoss(metric)(good, y) < 0.01 < 0.99 < AnyLoss(metric)(bad, y)
    assert weighted_bce(good, y) < weighted_bce(bad, y)


def test_weighted_bce_formula():
    y = torch.tensor([1, 0, 0, 0], dtype=torch.long)
    p = torch.tensor([0.7, 0.2, 0.4, 0.1], dtype=torch.float64)
    w1, w0 = 3 / 4, 1 / 4
    expected = -(w1 * math.log(0.7 + 1e-5) + w0 * (math.log(0.8 + 1e-5) + math.log(0.6 + 1e-5)
                                                    + math.log(0.9 + 1e-5))) / 4
    assert weighted_bce(p, y).item() == pytest.approx(expected, abs=1e-12)


# ------------------------------------------------------------------ bad inputs
@pytest.mark.parametrize("p, y, match", [
    (torch.tensor([0.2, 1.2]), torch.tensor([0, 1]), r"probabilities in \[0, 1\]"),
    (torch.tensor([-0.1, 0.5]), torch.tensor([0, 1]), r"probabilities in \[0, 1\]"),
    (torch.tensor([0.2, float("nan")]), torch.tensor([0, 1]), "finite"),
    (torch.tensor([0.2, 0.4, 0.6]), torch.tensor([0, 1]), "one label per probability"),
    (torch.tensor([0.2, 0.4]), torch.tensor([[0, 1], [1, 0]]), "one label per probability"),
    (torch.tensor([0.2, 0.4]), torch.tensor([0, 2]), "binary labels 0/1"),
    (torch.tensor([0.2, 0.4]), torch.tensor([0.0, 0.5]), "binary labels 0/1"),
    (torch.tensor([0.2, 0.4]), torch.tensor([-1, 1]), "binary labels 0/1"),
    (torch.tensor([0.2, 0.4]), torch.tensor([0.0, float("nan")]), "finite"),
    (torch.tensor([1, 0]), torch.tensor([0, 1]), "floating-point"),
    (torch.zeros(0), torch.zeros(0), "at least one"),
    (torch.zeros(2, 2), torch.zeros(2), r"shape \(n,\) or \(n, 1\)"),
    ([0.2, 0.4], torch.tensor([0, 1]), "torch.Tensor"),
    (torch.tensor([0.2, 0.4]), [0, 1], "torch.Tensor"),
])
def test_bad_inputs(p, y, match):
    with pytest.raises(ValueError, match=match):
        AnyLoss("f1")(p, y)
    with pytest.raises(ValueError, match=match):
        weighted_bce(p, y)


def test_bad_settings():
    with pytest.raises(ValueError, match="metric must be one of"):
        AnyLoss("precision")
    with pytest.raises(ValueError, match="L must be a finite number > 0"):
        AnyLoss("f1", L=0)
    with pytest.raises(ValueError, match="L must be a finite number > 0"):
        amplify(torch.tensor([0.3]), L=float("inf"))
    with pytest.raises(ValueError, match="beta = 1"):
        AnyLoss("f1", beta=2.0)
    with pytest.raises(ValueError, match="eps must be"):
        AnyLoss("gmean", eps=-1e-5)
    with pytest.raises(ValueError, match="probabilities in"):
        amplify(torch.tensor([1.5]))


# ------------------------------------------------------------------ data
def test_data1_is_the_official_generator():
    x, y = anyloss_data1()
    assert x.shape == (10000, 2) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert 0.09 < y.double().mean().item() < 0.11
    x2, y2 = anyloss_data1()
    assert torch.equal(x, x2) and torch.equal(y, y2)
    _, yb = anyloss_data1(n_samples=2000, positive_weight=0.5)
    assert 0.45 < yb.double().mean().item() < 0.55
    with pytest.raises(ValueError, match="positive_weight"):
        anyloss_data1(positive_weight=1.0)


@pytest.fixture()
def fake_tabular(tmp_path):
    folder = tmp_path / "anyloss_tabular"
    folder.mkdir()
    (folder / "ds1.csv").write_text("a,b,class\n1,2,yes\n3,4,no\n5,6,no\n7,8,no\n")  # minority 'yes'
    (folder / "ds2.csv").write_text("a,label\n0.5,0\n1.5,1\n2.5,1\n")                 # minority 0 -> 1
    (folder / "ds3.csv").write_text("a,label\n0.5,0\n1.5,1\n2.5,2\n")                 # three classes
    (folder / "ds4.csv").write_text("a,label\n0.5,0\n,1\n2.5,1\n")                    # missing value
    (folder / "ds5.csv").write_text("a,label\nx,0\ny,1\nz,1\n")                       # text feature
    return tmp_path


def test_tabular_reader(fake_tabular):
    d1 = load_tabular_csv(fake_tabular / "anyloss_tabular" / "ds1.csv")
    assert d1.y.tolist() == [1, 0, 0, 0] and d1.x.shape == (4, 2) and d1.feature_names == ("a", "b")
    assert d1.x.dtype == torch.float32 and d1.positive_rate == 0.25
    d2 = load_tabular_csv(fake_tabular / "anyloss_tabular" / "ds2.csv")
    assert d2.y.tolist() == [1, 0, 0]  # the minority class is the positive one
    got = [(i, d.name) for i, d in iter_tabular_datasets(fake_tabular, ids=[1, 2])]
    assert got == [(1, "ds1"), (2, "ds2")]
    for bad, match in (("ds3.csv", "exactly 2 classes"), ("ds4.csv", "missing value"), ("ds5.csv", "numeric")):
        with pytest.raises(ValueError, match=match):
            load_tabular_csv(fake_tabular / "anyloss_tabular" / bad)


def test_tabular_layout_errors(fake_tabular, tmp_path):
    assert len(TABULAR_IDS) == 102 and 23 not in TABULAR_IDS
    assert check_tabular_layout(fake_tabular, ids=[1, 2]).name == "anyloss_tabular"
    with pytest.raises(DatasetNotFoundError, match=r"lacks 97 of 102 files: ds6.csv"):
        check_tabular_layout(fake_tabular)
    with pytest.raises(DatasetNotFoundError, match="no anyloss_tabular/ folder"):
        check_tabular_layout(tmp_path / "anyloss_tabular")
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        check_tabular_layout(tmp_path / "nowhere")
    with pytest.raises(DatasetNotFoundError, match="(?s)data_root is None.*data_num.zip"):
        check_tabular_layout(None)
    with pytest.raises(ValueError, match="ids must be"):
        check_tabular_layout(fake_tabular, ids=[])


# --- mlcompanion.anyloss_protocol: the notebook's two training protocols -------------------------

def test_binary_loss_arms_match_their_formulas():
    from mlcompanion.anyloss_protocol import ARMS, BinaryLoss

    torch.manual_seed(0)
    z = torch.randn(20)
    y = (torch.rand(20) < 0.3).long()
    y[0], y[1] = 1, 0
    scores = torch.stack([torch.zeros_like(z), z], dim=1)
    p = torch.sigmoid(z)
    assert math.isclose(BinaryLoss("bce")(scores, y).item(),
                        torch.nn.functional.binary_cross_entropy(p, y.float()).item(), rel_tol=1e-5)
    assert math.isclose(BinaryLoss("mse")(scores, y).item(), ((p - y.float()) ** 2).mean().item(), rel_tol=1e-6)
    assert math.isclose(BinaryLoss("wbce")(scores, y).item(), weighted_bce(p, y).item(), rel_tol=1e-6)
    assert math.isclose(BinaryLoss("any_f1", L=73.0)(scores, y).item(), AnyLoss("f1", L=73.0)(p, y).item(), rel_tol=1e-6)
    for arm in ARMS:
        assert torch.isfinite(BinaryLoss(arm)(scores, y))
    with pytest.raises(ValueError, match="arm"):
        BinaryLoss("focal")


def test_full_batch_gd_is_plain_gd_and_stops_at_a_plateau():
    from mlcompanion.anyloss_protocol import SLP, BinaryLoss, full_batch_gd

    torch.manual_seed(0)
    x = torch.randn(200, 2)
    y = (x[:, 0] > 0).long()
    model = SLP(2)
    w0 = [p.detach().clone() for p in model.parameters()]
    loss_fn = BinaryLoss("bce")
    loss = loss_fn(model(x), y)
    grads = torch.autograd.grad(loss, list(model.parameters()))
    full_batch_gd(model, loss_fn, x, y, lr=0.5, iterations=1, eval_every=1, validate=lambda m: 0.0)
    for p, p0, g in zip(model.parameters(), w0, grads):  # one step = w - lr * grad, no momentum
        assert torch.allclose(p, p0 - 0.5 * g, atol=1e-6)

    model = SLP(2)
    acc = lambda m: float(((m(x)[:, 1] > 0).long() == y).float().mean())  # noqa: E731
    result = full_batch_gd(model, loss_fn, x, y, lr=0.5, iterations=5000, eval_every=10, validate=acc,
                           min_iterations=100)
    assert result.stopped == "plateau" and result.curve[-1][0] < 5000
    assert result.curve[-1][1] > 0.95 and result.losses[-1] < result.losses[0]
    with pytest.raises(ValueError, match="lr"):
        full_batch_gd(model, loss_fn, x, y, lr=0.0, iterations=1, eval_every=1, validate=acc)
