"""The cdcm notebook's anomaly split (mlcompanion.data.anomaly) and detector training / scoring
(mlcompanion.detectors, trained by the shared mlcompanion.train.train_classifier): the protocol's
invariants, the baselines' losses against PyTorch / hand values, the rank AUROC and the validation
value against scikit-learn, and the training's stopping, pairing and model selection."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch import nn
from torch.utils.data import TensorDataset

from mlcompanion.data.anomaly import anomaly_split, digits_anomaly_split
from mlcompanion.detectors import (DETECTOR_ARMS, FocalLoss, WeightedBCELoss, detector_arms, detector_validator,
                                   evaluate_detector)
from mlcompanion.metrics import auroc
from mlcompanion.train import TrainConfig, train_classifier

LABELS = np.repeat(np.arange(10), 100)  # 10 classes of 100 samples


# ---------------------------------------------------------------- the split


@pytest.mark.parametrize("n_seen,fraction", [(1, 0.05), (5, 0.10)])
def test_split_follows_the_protocol(n_seen, fraction):
    sp = anomaly_split(LABELS, 3, n_seen, fraction, seed=7)
    train, val, test = set(sp.train), set(sp.val), set(sp.test)
    assert len(train) == len(sp.train) and len(val) == len(sp.val) and len(test) == len(sp.test)
    assert not (train & val) and not (train & test) and not (val & test)
    # test: 30 % of every class; groups 0 normal / 1 seen / 2 unseen
    assert np.bincount(LABELS[sp.test], minlength=10).tolist() == [30] * 10
    assert len(sp.seen) == n_seen and 3 not in sp.seen
    expected_groups = np.where(LABELS[sp.test] == 3, 0, np.where(np.isin(LABELS[sp.test], sp.seen), 1, 2))
    assert (sp.test_groups == expected_groups).all()
    assert (sp.test_labels == (expected_groups > 0)).all()
    # validation: 20 % of the normal train pool (70) and as many seen-type anomalies
    assert int((sp.val_labels == 0).sum()) == 14 and int(sp.val_labels.sum()) == 14
    assert (LABELS[sp.val][sp.val_labels == 0] == 3).all()
    assert np.isin(LABELS[sp.val][sp.val_labels == 1], sp.seen).all()
    # training: the other 56 normals and round(fraction * 56) anomalies of the seen classes
    normals = sp.train[sp.train_labels == 0]
    assert len(normals) == 56 and (LABELS[normals] == 3).all()
    anomalies = sp.train[sp.train_labels == 1]
    assert len(anomalies) == max(1, round(fraction * 56)) and np.isin(LABELS[anomalies], sp.seen).all()


def test_split_is_a_function_of_its_seed():
    a, b = anomaly_split(LABELS, 0, 1, 0.05, seed=1), anomaly_split(LABELS, 0, 1, 0.05, seed=1)
    c = anomaly_split(LABELS, 0, 1, 0.05, seed=2)
    assert (a.train == b.train).all() and (a.test == b.test).all() and a.seen == b.seen
    assert not np.array_equal(np.sort(a.test), np.sort(c.test))


def test_split_with_given_seen_classes_and_no_validation():
    sp = anomaly_split(LABELS, 0, [4, 2], 0.10, seed=0, val_fraction=0.0)
    assert sp.seen == (2, 4) and len(sp.val) == 0
    assert int((sp.train_labels == 0).sum()) == 70 and int(sp.train_labels.sum()) == 7


@pytest.mark.parametrize("kwargs,match", [
    (dict(normal=11), "normal class"), (dict(seen_anomalies=0), "between 1 and 9"),
    (dict(seen_anomalies=[0]), "distinct classes"), (dict(anomaly_fraction=0.0), "anomaly_fraction"),
    (dict(test_fraction=1.0), "test_fraction"), (dict(seed=-1), "seed"),
])
def test_split_rejects_bad_arguments(kwargs, match):
    args = dict(labels=LABELS, normal=0, seen_anomalies=1, anomaly_fraction=0.05, seed=0) | kwargs
    with pytest.raises(ValueError, match=match):
        anomaly_split(**args)


def test_digits_split_hard_regime():
    sp = digits_anomaly_split(0, 1, 0.05, seed=0)
    assert len(sp.seen) == 1 and sp.normal == 0
    assert set(np.unique(sp.test_groups)) == {0, 1, 2}
    n_normal = int((sp.train_labels == 0).sum())
    assert int(sp.train_labels.sum()) == round(0.05 * n_normal)


# ---------------------------------------------------------------- losses and the AUROC


def test_weighted_bce_matches_torch_and_plain_bce():
    g = torch.Generator().manual_seed(0)
    out, y = torch.randn(50, 1, generator=g, dtype=torch.float64), (torch.rand(50, generator=g) < 0.2).long()
    ref = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(7.5, dtype=torch.float64))(out[:, 0], y.double())
    assert torch.allclose(WeightedBCELoss(7.5)(out, y), ref, rtol=0, atol=1e-12)
    plain = nn.functional.binary_cross_entropy_with_logits(out[:, 0], y.double())
    assert torch.allclose(WeightedBCELoss(1.0)(out, y), plain, rtol=0, atol=1e-12)


def test_focal_loss_hand_values():
    # gamma = 0, alpha = 0.5: half the BCE; one normal at logit 0: 0.75 * 0.5^2 * log 2 (alpha = 0.25)
    out, y = torch.tensor([[0.3], [-1.2]], dtype=torch.float64), torch.tensor([1, 0])
    bce = nn.functional.binary_cross_entropy_with_logits(out[:, 0], y.double())
    assert torch.allclose(FocalLoss(gamma=0.0, alpha=0.5)(out, y), 0.5 * bce, rtol=0, atol=1e-12)
    one = FocalLoss()(torch.zeros(1, 1, dtype=torch.float64), torch.tensor([0]))
    assert math.isclose(one.item(), 0.75 * 0.25 * math.log(2), rel_tol=1e-12)


def test_rank_auroc_equals_sklearn_with_ties():
    rng = np.random.default_rng(0)
    for _ in range(20):
        y = rng.random(60) < 0.3
        y[:2] = [True, False]
        s = rng.integers(0, 5, 60).astype(float)  # many ties
        assert math.isclose(auroc(y, s), roc_auc_score(y, s), rel_tol=0, abs_tol=1e-12)
    with pytest.raises(ValueError, match="both"):
        auroc(np.zeros(5), np.arange(5.0))


def test_detector_arms_rules():
    arms = detector_arms(embedding_dim=4, margin=5.0)
    assert tuple(arms) == DETECTOR_ARMS
    assert arms["wbce"].make_loss(np.array([0] * 19 + [1])).pos_weight == 19.0
    assert arms["cdcm"].threshold(None, np.array([1.0])) == 5.0
    assert arms["deep_sad"].threshold(None, np.arange(101.0)) == pytest.approx(95.0)
    assert arms["bce"].out_dim == 1 and arms["cdcm"].out_dim == 4


# ---------------------------------------------------------------- training and evaluation


def toy_task(seed=0, n=80):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 5, generator=g)
    y = torch.zeros(n, dtype=torch.long)
    y[: n // 8] = 1
    x[y == 1] += 3.0
    return TensorDataset(x, y), y.numpy()


def make(out_dim, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 16), nn.LeakyReLU(0.01), nn.Linear(16, out_dim))


def hand_scores(arm_name, model, x):
    """The arm's score computed here from the raw outputs: distance to c = 1 (cDCM, Deep SAD) or the logit."""
    with torch.no_grad():
        out = model.eval()(x).double()
    if arm_name in ("cdcm", "deep_sad"):
        return (out - 1.0).norm(dim=1).numpy()
    return out[:, 0].numpy()


@pytest.mark.parametrize("name", ["cdcm", "deep_sad", "wbce"])
def test_validator_is_the_sklearn_auroc_of_the_arm_score(name):
    val, yv = toy_task(seed=1)
    arm = detector_arms(embedding_dim=3)[name]
    model = make(arm.out_dim, seed=2)
    value = detector_validator(arm, arm.make_loss(yv), val, yv)(model.train())
    assert model.training  # the model's mode is restored
    assert math.isclose(value, roc_auc_score(yv, hand_scores(name, model, val.tensors[0])), abs_tol=1e-6)
    with pytest.raises(ValueError, match="both present"):
        detector_validator(arm, arm.make_loss(yv), val, np.zeros(len(val)))
    with pytest.raises(ValueError, match="one 0/1 label"):
        detector_validator(arm, arm.make_loss(yv), val, yv[:-1])


def train_arm(name, cfg, seed=3, data=None, model=None):
    data, y = data or toy_task()
    val, yv = toy_task(seed=1)
    arm = detector_arms(embedding_dim=3)[name]
    model, loss = model or make(arm.out_dim), arm.make_loss(y)
    res = train_classifier(model, loss, data, cfg, seed=seed, validate=detector_validator(arm, loss, val, yv))
    return model, res, (arm, val, yv)


def test_training_is_paired_and_stops_at_a_plateau():
    cfg = TrainConfig(iterations=400, batch_size=16, eval_every=10, min_iterations=50, plateau_tol=0.002,
                      progress=False)
    _, a, _ = train_arm("cdcm", cfg)
    _, b, _ = train_arm("cdcm", cfg)
    assert a.losses == b.losses and a.curve == b.curve  # same seed: same batches, same run
    assert a.stopped == "plateau" and 50 <= a.iterations < 400
    assert a.curve[-1][0] == a.iterations and len(a.curve) >= 8
    _, capped, _ = train_arm("cdcm", TrainConfig(iterations=30, batch_size=16, eval_every=10, progress=False))
    assert capped.stopped == "cap" and capped.iterations == 30 and [p[0] for p in capped.curve] == [10, 20, 30]


class Recording(nn.Module):
    """The toy MLP, recording the first input feature of every training batch (the item's index here)."""

    def __init__(self, out_dim):
        super().__init__()
        self.inner, self.seen = make(out_dim), []

    def forward(self, x):
        if self.training:
            self.seen.append(x[:, 0].long().tolist())
        return self.inner(x)


def test_arms_of_a_seed_see_the_same_batches():
    # 80 items whose first feature is their index: every epoch is a permutation of them (5 batches of
    # 16); two arms with the same seed draw the same batches, another seed draws others
    data, y = toy_task()
    x = data.tensors[0].clone()
    x[:, 0] = torch.arange(80.0)
    data = (TensorDataset(x, data.tensors[1]), y)
    cfg = TrainConfig(iterations=10, batch_size=16, eval_every=5, stop_at_plateau=False, progress=False)

    def batches(name, seed):
        model = Recording(detector_arms(embedding_dim=3)[name].out_dim)
        train_arm(name, cfg, seed=seed, data=data, model=model)
        return model.seen

    a, b, c = batches("cdcm", 3), batches("bce", 3), batches("cdcm", 4)
    assert len(a) == 10 and all(len(batch) == 16 for batch in a)
    assert sorted(sum(a[:5], [])) == sorted(sum(a[5:], [])) == list(range(80))
    assert a == b and a != c


def test_keep_best_restores_the_best_validation_weights():
    cfg = TrainConfig(iterations=60, batch_size=16, eval_every=10, stop_at_plateau=False, keep_best=True,
                      progress=False)
    model, res, (arm, val, yv) = train_arm("bce", cfg, seed=0)
    best_step, best_auc = max(res.curve, key=lambda p: (p[1], -p[0]))
    assert res.kept_iteration == best_step
    assert math.isclose(roc_auc_score(yv, hand_scores("bce", model, val.tensors[0])), best_auc, abs_tol=1e-12)


def test_evaluate_detector_by_hand():
    # the model returns its input: cDCM scores are the distances to c = (1, 1)
    z_train = torch.tensor([[1.0, 1.0], [1.0, 2.0], [9.0, 1.0]])
    train = TensorDataset(z_train, torch.tensor([0, 0, 1]))
    z_test = torch.tensor([[1.0, 1.5], [1.0, 7.0], [1.0, 4.0], [1.0, 10.0]])  # d = 0.5, 6, 3, 9
    groups = np.array([0, 0, 1, 2])
    test = TensorDataset(z_test, torch.as_tensor(groups > 0).long())
    arm = detector_arms(embedding_dim=2)["cdcm"]
    row, s = evaluate_detector(arm, nn.Identity(), arm.make_loss(None), train, np.array([0, 0, 1]), test, groups)
    assert np.allclose(s, [0.5, 6.0, 3.0, 9.0], atol=1e-6)
    assert row["threshold"] == 5.0
    assert row["recall"] == 0.5 and row["recall_seen"] == 0.0 and row["recall_unseen"] == 1.0
    assert row["fpr"] == 0.5 and row["precision"] == 0.5
    assert row["auroc_all"] == pytest.approx(roc_auc_score(groups > 0, s))
    assert row["auroc_seen"] == pytest.approx(0.5) and row["auroc_unseen"] == pytest.approx(1.0)
