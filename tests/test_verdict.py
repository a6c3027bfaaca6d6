"""The shared verdict rule (mlcompanion.verdict), the convergence check, validation-driven stopping in
the trainer, the class hold-out, and write_result's schema."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from mlcompanion.data import holdout_classes, holdout_items
from mlcompanion.gallery import build_gallery, paper_row, write_result
from mlcompanion.train import TrainConfig, train_classifier
from mlcompanion.verdict import (Criterion, convergence_check, convergence_table, decide, judge,
                                 register_criteria)


def runs_table(diffs, base=0.5, metric="R@1"):
    """Paired runs: arm 'm' = base + diff on seed s, arm 'b' = base."""
    rows = [{"arm": "b", "seed": s, metric: base} for s in range(len(diffs))]
    rows += [{"arm": "m", "seed": s, metric: base + d} for s, d in enumerate(diffs)]
    return pd.DataFrame(rows)


def beats(min_effect=0.01, role="headline", name="m_beats_b"):
    return Criterion(name, "m above b", metric="R@1", method="m", baseline="b", min_effect=min_effect, role=role)


def test_all_seeds_agree_and_large_is_clear():
    c = register_criteria([beats()])
    c.evaluate_runs(runs_table([0.05, 0.06, 0.04]))
    assert c.outcome("m_beats_b").status == "holds"
    assert c.verdict() == "reproduced"


def test_one_or_two_seeds_are_never_clear():
    for diffs in ([0.30], [0.30, 0.31]):
        c = register_criteria([beats()])
        c.evaluate_runs(runs_table(diffs))
        assert c.outcome("m_beats_b").status == "direction only"
        assert c.verdict() == "inconclusive at this scale"


def test_mixed_signs_are_within_noise():
    c = register_criteria([beats()])
    c.evaluate_runs(runs_table([0.10, 0.08, -0.01]))
    assert c.outcome("m_beats_b").status == "within noise"
    assert c.verdict() == "inconclusive at this scale"


def test_small_or_noisy_effects_are_not_clear():
    assert judge(beats(min_effect=0.05), [0.01, 0.02, 0.015]).status == "within noise"  # below min effect
    # same sign everywhere but mean < 2 s.e.: 0.001, 0.001, 0.2 -> mean 0.067, s.e. 0.066
    assert judge(beats(min_effect=0.0), [0.001, 0.001, 0.2]).status == "within noise"


def test_clear_opposite_is_contradicted_and_wins_over_holds():
    c = register_criteria([beats(), beats(name="other")])
    c.record("m_beats_b", [-0.05, -0.04, -0.06])
    c.record("other", [0.05, 0.04, 0.06])
    assert c.outcome("m_beats_b").status == "contradicted"
    assert c.verdict() == "contradicted at this scale"


def test_partly_and_secondary():
    c = register_criteria([beats(), beats(name="h2"), beats(name="s", role="secondary")])
    c.record("m_beats_b", [0.05, 0.04, 0.06])
    c.record("h2", [0.05, -0.04, 0.06])
    c.record("s", [0.05, 0.04, 0.06])
    assert c.verdict() == "partly reproduced"
    c.record("h2", [0.05, 0.04, 0.06])
    c.record("s", [-0.05, -0.04, -0.06])  # every headline holds, a secondary is contradicted
    assert c.verdict() == "partly reproduced"


def test_unregistered_or_exploratory_criteria_cannot_change_the_verdict():
    c = register_criteria([beats()])
    c.record("m_beats_b", [0.05, 0.04, 0.06])
    with pytest.raises(KeyError, match="not registered"):
        c.record("later", [-1.0, -1.0, -1.0])
    c.add_exploratory(beats(name="later", role="headline"))  # forced to exploratory
    c.record("later", [-0.5, -0.4, -0.6])
    assert c["later"].role == "exploratory" and c.outcome("later").status == "contradicted"
    assert c.verdict() == "reproduced"
    assert decide([judge(beats(role="exploratory", name="x"), [-1, -1, -1]), judge(beats(), [1, 1, 1])]) == "reproduced"


def test_unconverged_arm_makes_its_comparison_inconclusive():
    c = register_criteria([beats()])
    c.record("m_beats_b", [0.05, 0.04, 0.06])
    assert c.verdict({"m": True, "b": False}) == "inconclusive at this scale"
    assert c.table().loc["m_beats_b", "outcome"] == "unconverged"
    assert c.verdict({"m": True, "b": True}) == "reproduced"


def test_noise_free_and_thresholds():
    exact = Criterion("slope", "slope below -1", direction="below", threshold=-1.0, min_effect=0.1, noise_free=True)
    assert judge(exact, [-1.5]).status == "holds"
    assert judge(exact, [-0.5]).status == "contradicted"
    assert judge(exact, [-1.05]).status == "within noise"
    with pytest.raises(ValueError, match="noise-free"):
        judge(exact, [-1.5, -1.4])
    # non-inferiority: m at most 1 point below b
    noninf = Criterion("not_lower", "m not lower than b by > 1 point", metric="R@1", method="m", baseline="b",
                       threshold=-0.01)
    assert judge(noninf, [0.0, 0.002, -0.003]).status == "holds"


def test_registration_is_validated():
    with pytest.raises(ValueError, match="headline"):
        register_criteria([beats(role="secondary")])
    with pytest.raises(ValueError, match="unique"):
        register_criteria([beats(), beats()])
    with pytest.raises(ValueError, match="direction"):
        Criterion("x", "claim", direction="up")
    with pytest.raises(ValueError, match="finite"):
        judge(beats(), [float("nan"), 1.0, 1.0])


def test_convergence_check_plateau_and_rising():
    steps = np.arange(1, 21) * 10
    plateau = 0.8 - 0.5 * np.exp(-steps / 30.0)
    rising = 0.2 + 0.003 * steps
    assert convergence_check(list(zip(steps, plateau)), tol=0.005)["converged"]
    check = convergence_check(list(zip(steps, rising)), tol=0.005)
    assert not check["converged"] and check["last_gain"] > 0.1
    assert not convergence_check([0.1, 0.2, 0.3], tol=0.01)["converged"]  # too few points
    assert convergence_check([3.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0], tol=0.0, higher_is_better=False)["converged"]


def _toy_classification(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y = (x[:, 0] > 0).long()
    return TensorDataset(x, y)


def test_trainer_stops_at_a_plateau_and_runs_to_the_cap_otherwise():
    data = _toy_classification()
    cfg = TrainConfig(iterations=400, batch_size=32, eval_every=10, plateau_tol=0.01, progress=False)
    torch.manual_seed(0)
    flat = train_classifier(nn.Linear(4, 2), nn.CrossEntropyLoss(), data, cfg, validate=lambda m: 0.5)
    assert flat.stopped == "plateau" and flat.iterations == 80 and len(flat.curve) == 8
    counter = iter(range(10_000))
    rising = train_classifier(nn.Linear(4, 2), nn.CrossEntropyLoss(), data, cfg,
                              validate=lambda m: 0.01 * next(counter))
    assert rising.stopped == "cap" and rising.iterations == 400 and rising.curve[-1][0] == 400
    table = convergence_table({("flat", 0): flat, ("rising", 0): rising}, tol=0.01)
    assert table.set_index("arm")["converged"].to_dict() == {"flat": True, "rising": False}
    with pytest.raises(ValueError, match="validate"):
        train_classifier(nn.Linear(4, 2), nn.CrossEntropyLoss(), data, cfg)


def test_holdout_classes_is_class_disjoint_and_relabelled():
    x = torch.arange(60, dtype=torch.float32).unsqueeze(1)
    y = torch.arange(60) // 6  # 10 classes of 6
    split = holdout_classes(TensorDataset(x, y), 3, seed=1)
    train_orig = set((split.train.tensors[0].squeeze(1) // 6).long().tolist())
    val_orig = set((split.val.tensors[0].squeeze(1) // 6).long().tolist())
    assert val_orig == set(split.val_classes) and not train_orig & val_orig and len(train_orig) == 7
    assert split.train_labels.unique().tolist() == list(range(7))
    assert split.val.tensors[1].unique().tolist() == [0, 1, 2]
    assert holdout_classes(TensorDataset(x, y), 3, seed=1).val_classes == split.val_classes
    with pytest.raises(ValueError, match="n_val_classes"):
        holdout_classes(TensorDataset(x, y), 9)
    train, val = holdout_items(TensorDataset(x, y), 0.5, seed=0)
    assert len(train) == len(val) == 30 and val.tensors[1].bincount().tolist() == [3] * 10


def test_write_result_records_criteria_convergence_budget_and_rows(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_FIGURES_DIR", str(tmp_path))
    c = register_criteria([beats(), beats(name="explore_me", role="exploratory")])
    c.record("m_beats_b", [0.05, 0.04, 0.06])
    c.record("explore_me", [-0.05, -0.04, -0.06])
    c.set_convergence({"m": True, "b": True})
    rows = [paper_row("m R@1 (%)", paper=65.7, paper_setting="CUB-200, 512-d", source="paper Table 1",
                      ours=83.1, ours_setting="glyphs, 64-d", comparable_as="ordering")]
    kwargs = dict(title="Toy", claim="m beats b.", explanation="e", ours={}, paper={}, profile="ci", criteria=c,
                  convergence={"m": True, "b": True}, budget={"cap iterations": 600, "seeds": 3}, rows=rows)
    with pytest.raises(ValueError, match="registered criteria give"):
        write_result("toy", verdict="partly reproduced", **kwargs)
    with pytest.raises(ValueError, match="verdict must be one of"):
        write_result("toy", verdict="not reproduced at this scale", **kwargs)
    path = write_result("toy", verdict="reproduced", **kwargs)
    record = json.loads(path.read_text())
    assert set(record) >= {"criteria", "convergence", "budget", "rows", "verdict"}
    first = record["criteria"][0]
    assert first["name"] == "m_beats_b" and first["outcome"] == "holds" and first["threshold"] == 0.0
    assert first["values"] == [0.05, 0.04, 0.06] and first["arms_converged"] is True
    assert record["criteria"][1]["role"] == "exploratory"
    text = build_gallery(tmp_path).read_text()
    assert "| m_beats_b | headline |" in text and "m: converged" in text and "paper Table 1" in text
    with pytest.raises(ValueError, match="source"):
        paper_row("x", paper=1.0)
    # time measurements never reach the committed ci record (they differ between runs) ...
    assert "cap iterations" in record["budget"] and "timing" not in record
    kwargs["budget"] = {"cap iterations": 600, "train seconds (all runs)": 12.3, "wall seconds": 40.0}
    record = json.loads(write_result("toy", verdict="reproduced", **kwargs).read_text())
    assert record["budget"] == {"cap iterations": 600} and "timing" not in record
    # ... but a paper-profile run keeps them
    monkeypatch.setenv("COMPANION_RUN_DIR", str(tmp_path / "run"))
    record = json.loads(write_result("toy", verdict="reproduced", **kwargs).read_text())
    assert record["timing"] == {"train seconds (all runs)": 12.3, "wall seconds": 40.0}


def test_retrieval_setup_ci_and_paper(tmp_path):
    from types import SimpleNamespace

    from fake_datasets import make_fake_cub
    from mlcompanion.models import resnet50
    from mlcompanion.setups import check_paper_inputs, retrieval_setup

    ci = retrieval_setup(SimpleNamespace(profile="ci", seed=0, embedding_dim=8, crop=32))
    assert len(ci.train_set) == 48 * 32 and len(ci.val_set) == 16 * 32 and len(ci.test_set) == 64 * 32
    assert ci.make_model()(ci.test_set.tensors[0][:2]).shape == (2, 8)

    root = make_fake_cub(tmp_path / "cub", n_classes=20, images_per_class=2)
    weights = tmp_path / "r50.pth"
    torch.save(resnet50(num_classes=None).state_dict(), weights)
    P = SimpleNamespace(profile="paper", seed=0, embedding_dim=8, crop=32, resize=36, data_root=root,
                        backbone_weights=str(weights))
    check_paper_inputs(P, "cub200")
    paper = retrieval_setup(P, dataset="cub200")
    assert len(paper.val_set) == 2 * 2 and len(paper.train_set) == 8 * 2 and len(paper.test_set) == 10 * 2
    x, y = paper.val_set[0]
    assert x.shape == (3, 32, 32) and 0 <= y < 2
    assert sorted(set(paper.train_labels.tolist())) == list(range(8))
    with pytest.raises(Exception, match="cub"):
        check_paper_inputs(SimpleNamespace(data_root=tmp_path / "nothing", backbone_weights=str(weights)), "cub200")


def test_evaluate_classifier_ranks_by_the_losses_class_scores():
    """A head whose probabilities are not increasing in its outputs: raw-logit top-k is wrong."""
    from mlcompanion.losses import SphericalSoftmaxLoss, TaylorSoftmaxLoss
    from mlcompanion.train import evaluate_classifier

    logits = torch.tensor([[-3.0, 0.5, 0.1], [2.0, -0.2, 0.3], [-0.1, -4.0, 1.0]])
    labels = torch.tensor([0, 0, 1])  # spherical p ~ o^2: classes 0, 0, 1 are the most likely
    data = TensorDataset(logits, labels)
    spherical = SphericalSoftmaxLoss()
    raw = evaluate_classifier(nn.Identity(), data, ks=(1, 2))
    ranked = evaluate_classifier(nn.Identity(), data, ks=(1, 2), scores=spherical.class_scores)
    assert raw["top1"] == pytest.approx(1 / 3) and ranked["top1"] == 1.0
    # the true ranking is the one of the loss's own distribution
    probs = torch.softmax(-torch.stack([spherical_nll_per_class(spherical, logits, k) for k in range(3)], 1), 1)
    assert (probs.argmax(1) == spherical.class_scores(logits).argmax(1)).all()
    taylor = TaylorSoftmaxLoss()
    assert taylor.class_scores(torch.tensor([[-3.0, -1.0]])).argmax().item() == 0  # 2.5 > 0.5: not by raw logit
    with pytest.raises(ValueError, match="scores"):
        evaluate_classifier(nn.Identity(), data, scores=lambda o: o[:, :2])


def spherical_nll_per_class(loss, logits, k):
    return torch.stack([loss(logits[i:i + 1], torch.tensor([k])) for i in range(len(logits))])


def test_convergence_check_window_reference_is_robust_to_an_early_dip():
    # a pre-trained start (0.8) that fine-tuning first destroys, then a steady recovery
    recovering = [0.8, 0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7]
    history = convergence_check(recovering, tol=0.005)
    assert history["converged"] and history["last_gain"] == pytest.approx(-0.1)  # the false plateau
    window = convergence_check(recovering, tol=0.005, reference="window")
    assert not window["converged"] and window["last_gain"] == pytest.approx(0.1)  # 0.7 vs 0.6
    settled = [0.8, 0.3, 0.6, 0.7, 0.7, 0.7, 0.7, 0.7]
    assert convergence_check(settled, tol=0.005, reference="window")["converged"]
    assert convergence_check([3.0, 2.0, 1.5, 1.2, 1.0, 1.0, 1.0, 1.0], tol=0.0, higher_is_better=False,
                             reference="window")["converged"]
    with pytest.raises(ValueError, match="reference"):
        convergence_check(settled, tol=0.005, reference="best")
