"""Tests of the susana_distancia few-shot lib files: ConvNet4 and the episodic experiment loop."""

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from mlcompanion.fewshot_train import TrainRegime, episode_validator, run_fewshot_arms
from mlcompanion.losses.prototypical import EpisodicProtoLoss
from mlcompanion.models.convnet4 import ConvNet4
from mlcompanion.train import TrainConfig
from mlcompanion.verdict import convergence_table


def test_convnet4_shape_and_layout():
    torch.manual_seed(0)
    net = ConvNet4(in_channels=3)
    out = net(torch.randn(2, 3, 84, 84))
    assert out.shape == (2, 64) and net.feature_dim == 64
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 4 and all(c.out_channels == 64 and c.kernel_size == (3, 3) for c in convs)
    assert sum(isinstance(m, nn.MaxPool2d) for m in net.modules()) == 4
    assert ConvNet4(in_channels=1, width=8)(torch.randn(3, 1, 16, 16)).shape == (3, 8)


def test_convnet4_bad_inputs():
    with pytest.raises(ValueError, match="in_channels"):
        ConvNet4(in_channels=0)
    with pytest.raises(ValueError, match="width"):
        ConvNet4(width=True)
    net = ConvNet4(in_channels=1, width=4)
    with pytest.raises(ValueError, match="shape"):
        net(torch.randn(2, 3, 32, 32))
    with pytest.raises(ValueError, match="16x16"):
        net(torch.randn(2, 1, 8, 8))


def _toy(n_classes=10, per_class=12, dim=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    centers = 3 * torch.randn(n_classes, dim, generator=g)
    labels = torch.arange(n_classes).repeat_interleave(per_class)
    x = centers[labels] + torch.randn(len(labels), dim, generator=g)
    return TensorDataset(x, labels), labels


def _linear():
    return nn.Linear(6, 4)


def test_train_regime_checks():
    assert TrainRegime(20, 5, 15).label == "train 20w5s"
    with pytest.raises(ValueError, match="shot"):
        TrainRegime(5, 0, 15)


def test_episode_validator_is_deterministic_and_an_accuracy():
    val, _ = _toy(seed=1)
    torch.manual_seed(0)
    model = _linear()
    validate = episode_validator(val, way=3, shot=1, query=4, episodes=20, seed=3)
    a, b = validate(model), validate(model)
    assert a == b and 0.0 <= a <= 1.0
    with pytest.raises(ValueError, match="episodes"):
        episode_validator(val, episodes=0)


def test_run_fewshot_arms_one_regime_shares_the_model():
    train, train_labels = _toy(seed=0)
    test, _ = _toy(seed=2)
    cfg = TrainConfig(iterations=6, progress=False)
    arms = {"a": lambda shot: EpisodicProtoLoss(shot=shot), "b": lambda shot: EpisodicProtoLoss(shot=shot)}
    regime = TrainRegime(4, 1, 3)
    runs, results, evals, label = run_fewshot_arms(arms, _linear, train, train_labels, test, cfg, [0, 1],
                                                   {1: regime, 5: regime}, test_way=3, test_query=4,
                                                   test_episodes=30)
    assert set(results) == {("a", 0), ("a", 1), ("b", 0), ("b", 1)} and label == {"a": "a", "b": "b"}
    assert len(runs) == 2 * 2 * 2 and set(runs.setting) == {"3w1s", "3w5s"}
    assert (runs.ci95 > 0).all() and runs.acc.between(0, 1).all()
    # identical losses on the same seed: same initial weights and same episodes give the same model
    for s in (0, 1):
        for shot in (1, 5):
            assert evals[("a", s, shot)]["acc"] == evals[("b", s, shot)]["acc"]
    # each row's CI is its own seed's CI over test episodes
    row = runs[(runs.arm == "a") & (runs.seed == 1) & (runs.setting == "3w1s")].iloc[0]
    assert row.ci95 == evals[("a", 1, 1)]["ci"]


def test_run_fewshot_arms_separate_regimes_and_validation():
    train, train_labels = _toy(seed=0)
    val, _ = _toy(n_classes=6, seed=4)
    test, _ = _toy(seed=2)
    cfg = TrainConfig(iterations=8, eval_every=2, min_iterations=0, progress=False)
    regimes = {1: TrainRegime(5, 1, 3), 5: TrainRegime(3, 5, 3)}
    seen_shots = []

    def validator(shot):
        seen_shots.append(shot)
        return episode_validator(val, way=3, shot=shot, query=2, episodes=10)

    runs, results, evals, label = run_fewshot_arms(
        {"ce": lambda shot: EpisodicProtoLoss(shot=shot)}, _linear, train, train_labels, test, cfg, [0], regimes,
        test_way=3, test_query=4, test_episodes=20, validator=validator)
    assert set(results) == {("ce (train 5w1s)", 0), ("ce (train 3w5s)", 0)}
    assert set(label.values()) == {"ce"} and sorted(seen_shots) == [1, 5]
    assert dict(zip(runs.setting, runs.regime)) == {"3w1s": "train 5w1s", "3w5s": "train 3w5s"}
    table = convergence_table(results, 0.005)
    assert len(table) == 2 and (table.iterations >= 2).all()


def test_run_fewshot_arms_needs_a_validator_with_eval_every():
    train, train_labels = _toy()
    with pytest.raises(ValueError, match="validator"):
        run_fewshot_arms({"ce": lambda shot: EpisodicProtoLoss(shot=shot)}, _linear, train, train_labels, train,
                         TrainConfig(iterations=2, eval_every=1, progress=False), [0], {1: TrainRegime(3, 1, 2)})
    with pytest.raises(ValueError, match="regimes"):
        run_fewshot_arms({"ce": lambda shot: EpisodicProtoLoss(shot=shot)}, _linear, train, train_labels, train,
                         TrainConfig(iterations=2, progress=False), [0], {1: (3, 1, 2)})
