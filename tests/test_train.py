"""The trainer, the multi-seed experiment helpers, determinism and the plotting helper."""

import hashlib
import warnings

import matplotlib.pyplot as plt
import pandas as pd
import pytest
import torch
from PIL import Image
from torch.utils.data import TensorDataset

from mlcompanion.data import load_glyphs
from mlcompanion.experiments import format_mean_std, run_arms, summarize_runs
from mlcompanion.losses import ContrastiveLoss, MultiSimilarityLoss
from mlcompanion.models import EmbeddingNet, SmallConvNet
from mlcompanion.plotting import PAGE_WIDTH_PX, figure_caption, legible_text_px, savefig, use_style
from mlcompanion.repro import make_deterministic
from mlcompanion.train import TrainConfig, evaluate_retrieval, train_classifier, train_embedding


@pytest.fixture(scope="module")
def small_glyphs(tmp_path_factory):
    g = load_glyphs(n_train_classes=8, n_test_classes=8, n_augments=1, cache_dir=tmp_path_factory.mktemp("cache"))
    return (TensorDataset(g.train.images, g.train.labels), g.train.labels,
            TensorDataset(g.test.images, g.test.labels))


def _model():
    return EmbeddingNet(SmallConvNet(embedding_dim=16, width=8), 16)


def _train(data, seed, iterations=30):
    train_set, labels, _ = data
    make_deterministic(seed)
    model = _model()
    cfg = TrainConfig(iterations=iterations, classes_per_batch=4, samples_per_class=4, progress=False)
    return model, train_embedding(model, MultiSimilarityLoss(), train_set, labels, cfg, seed=seed)


def test_training_lowers_the_loss(small_glyphs):
    _, result = _train(small_glyphs, 0, iterations=60)
    assert len(result.losses) == 60
    assert sum(result.losses[-10:]) < sum(result.losses[:10])


def test_training_is_deterministic(small_glyphs):
    m1, r1 = _train(small_glyphs, 3)
    m2, r2 = _train(small_glyphs, 3)
    assert r1.losses == r2.losses
    assert all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(), m2.state_dict().values()))
    _, r3 = _train(small_glyphs, 4)
    assert r3.losses != r1.losses


def test_uninitialized_fill_off_in_the_step_changes_nothing(small_glyphs, monkeypatch):
    """The trainer skips torch's NaN fill of fresh tensors inside the step (mlcompanion.train
    ._without_uninitialized_fill): same losses and weights, bit for bit, as with the fill; the
    setting is restored afterwards and the callback sees it as it was."""
    import contextlib

    import mlcompanion.train as train

    seen = []
    m1, r1 = _train(small_glyphs, 5)
    assert torch.utils.deterministic.fill_uninitialized_memory  # make_deterministic turned it on; restored
    monkeypatch.setattr(train, "_without_uninitialized_fill", contextlib.nullcontext)
    m2, r2 = _train(small_glyphs, 5)
    assert r1.losses == r2.losses
    assert all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(), m2.state_dict().values()))
    monkeypatch.undo()
    train_set, labels, _ = small_glyphs
    cfg = TrainConfig(iterations=2, classes_per_batch=4, samples_per_class=4, progress=False)
    train_embedding(_model(), MultiSimilarityLoss(), train_set, labels, cfg,
                    on_step=lambda *a: seen.append(torch.utils.deterministic.fill_uninitialized_memory))
    assert seen == [True, True]


def test_evaluate_and_callbacks(small_glyphs):
    train_set, labels, test_set = small_glyphs
    make_deterministic(0)
    model = _model()
    cfg = TrainConfig(iterations=3, classes_per_batch=4, samples_per_class=2, progress=False)
    result = train_embedding(model, ContrastiveLoss(), train_set, labels, cfg,
                             on_step=lambda step, e, y: (step, tuple(e.shape)))
    assert result.records == [(0, (8, 16)), (1, (8, 16)), (2, (8, 16))]
    metrics = evaluate_retrieval(model, test_set)
    assert set(metrics) == {"R@1", "R@2", "R@4", "R@8", "r_precision", "map_at_r"}
    assert all(0 <= v <= 1 for v in metrics.values())


def test_batch_loss_hook(small_glyphs):
    train_set, labels, _ = small_glyphs

    class Doubled(torch.nn.Module):
        """A loss that sees the model: MS loss on the embeddings of x and of x flipped."""

        def __init__(self):
            super().__init__()
            self.calls = 0
            self.inner = MultiSimilarityLoss()

        def batch_loss(self, model, x, y):
            self.calls += 1
            e = model(torch.cat([x, x.flip(-1)]))
            return self.inner(e, torch.cat([y, y])), e

    make_deterministic(0)
    loss = Doubled()
    cfg = TrainConfig(iterations=4, classes_per_batch=4, samples_per_class=2, progress=False)
    result = train_embedding(_model(), loss, train_set, labels, cfg, on_step=lambda s, e, y: tuple(e.shape))
    assert loss.calls == 4 and result.records == [(16, 16)] * 4


def test_run_arms_and_summaries(small_glyphs):
    train_set, labels, test_set = small_glyphs
    cfg = TrainConfig(iterations=2, classes_per_batch=4, samples_per_class=2, progress=False)
    runs, results = run_arms({"c": ContrastiveLoss, "ms": MultiSimilarityLoss}, _model, train_set, labels,
                             test_set, cfg, seeds=[0, 1])
    assert list(runs["arm"]) == ["c", "c", "ms", "ms"] and set(results) == {("c", 0), ("c", 1), ("ms", 0), ("ms", 1)}
    summary = summarize_runs(runs, ["R@1"])
    assert summary.loc["c", ("mean", "R@1")] == pytest.approx(runs[runs.arm == "c"]["R@1"].mean())
    assert "±" in format_mean_std(summary).loc["ms", "R@1"]
    assert results[("c", 0)].model is None
    custom, kept = run_arms({"c": ContrastiveLoss}, _model, train_set, labels, test_set, cfg, seeds=[0],
                            evaluate=lambda m: {"n_params": float(sum(p.numel() for p in m.parameters()))},
                            keep_models=True)
    assert custom["n_params"].item() == sum(p.numel() for p in kept[("c", 0)].model.parameters())
    assert isinstance(kept[("c", 0)].loss, ContrastiveLoss) and results[("c", 0)].loss is None


def test_train_config_validation():
    with pytest.raises(ValueError, match="iterations"):
        TrainConfig(iterations=0)
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(optimizer="lion")
    with pytest.raises(ValueError, match="lr"):
        TrainConfig(lr=-1.0)


def test_savefig_is_atomic_and_byte_stable(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_FIGURES_DIR", str(tmp_path))
    use_style()

    def draw():
        fig, ax = plt.subplots(figsize=(3, 2))
        ax.plot([0, 1, 2], [1, 0, 2])
        ax.set_xlabel("x (units)")
        return fig

    p1 = savefig(draw(), "toy", "line", caption="A toy line.  Second sentence.")
    h1 = hashlib.sha256(p1.read_bytes()).hexdigest()
    p2 = savefig(draw(), "toy", "line", caption="A toy line. Second sentence.")
    assert p1 == p2 == tmp_path / "toy" / "line.png"
    assert hashlib.sha256(p2.read_bytes()).hexdigest() == h1
    assert sorted(x.name for x in (tmp_path / "toy").iterdir()) == ["line.png"]  # no temp files left
    plt.close("all")
    assert figure_caption(p1) == "A toy line. Second sentence."
    with pytest.raises(ValueError, match="slug"):
        savefig(draw(), "Bad Slug", "x", caption="A toy line.")
    with pytest.raises(ValueError, match="caption"):
        savefig(draw(), "toy", "x", caption=" ")
    plt.close("all")


def test_savefig_warns_on_text_illegible_at_page_width(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_FIGURES_DIR", str(tmp_path))
    use_style()

    def draw(width, fontsize=None):
        fig, ax = plt.subplots(figsize=(width, 3))
        ax.plot([0, 1, 2], [1, 0, 2], label="a line")
        ax.legend(fontsize=fontsize)
        return fig

    fig = draw(6)
    # 10-pt ticks and legend at 80 dpi, the image narrower than the page: 10 / 72 * 80 px
    assert legible_text_px(fig) == pytest.approx(10 / 72 * 80)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = savefig(fig, "toy", "narrow", caption="A narrow figure.")
    assert Image.open(path).text["Companion-Min-Text-Px"] == "11.1"
    wide = draw(16)  # shrunk to PAGE_WIDTH_PX on the page: the same text shows smaller
    width_in = wide.get_tightbbox(wide.canvas.get_renderer()).width + 0.2
    assert legible_text_px(wide) == pytest.approx(10 / 72 * PAGE_WIDTH_PX / width_in)
    with pytest.warns(UserWarning, match="smallest text"):
        savefig(wide, "toy", "wide", caption="A wide figure.")
    with pytest.warns(UserWarning, match="smallest text"):
        savefig(draw(6, fontsize=7), "toy", "small", caption="A figure with a small legend.")
    empty = plt.figure(figsize=(3, 2))
    assert legible_text_px(empty) == float("inf")
    plt.close("all")


def test_train_and_evaluate_classifier(small_glyphs):
    from mlcompanion.train import evaluate_classifier, train_classifier

    train_set, labels, _ = small_glyphs
    make_deterministic(0)
    model = SmallConvNet(embedding_dim=8, width=8)  # 8 train classes -> 8 logits
    cfg = TrainConfig(iterations=60, batch_size=32, lr=3e-3, progress=False)
    result = train_classifier(model, torch.nn.CrossEntropyLoss(), train_set, cfg)
    assert sum(result.losses[-10:]) < sum(result.losses[:10])
    acc = evaluate_classifier(model, train_set, ks=(1, 3))
    assert acc["top1"] > 0.5 and acc["top3"] >= acc["top1"]
    with pytest.raises(ValueError, match="ks"):
        evaluate_classifier(model, train_set, ks=(9,))


def test_evaluate_classifier_hand_case():
    from mlcompanion.train import evaluate_classifier

    scores = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.15, 0.05], [0.2, 0.3, 0.5], [0.5, 0.4, 0.1]])
    labels = torch.tensor([1, 1, 0, 2])
    acc = evaluate_classifier(torch.nn.Identity(), TensorDataset(scores, labels), ks=(1, 2))
    assert acc == {"top1": 0.25, "top2": 0.5}


def test_run_classifier_arms(small_glyphs):
    from mlcompanion.experiments import run_classifier_arms

    train_set, _, _ = small_glyphs
    cfg = TrainConfig(iterations=3, batch_size=16, progress=False)
    arms = {"ce": lambda: (SmallConvNet(embedding_dim=8, width=8), torch.nn.CrossEntropyLoss())}
    runs, results = run_classifier_arms(arms, train_set, train_set, cfg, seeds=[0, 1], ks=(1, 2))
    assert list(runs.columns[:4]) == ["arm", "seed", "top1", "top2"] and len(results) == 2
    again, _ = run_classifier_arms(arms, train_set, train_set, cfg, seeds=[0, 1], ks=(1, 2))
    assert runs["top1"].tolist() == again["top1"].tolist()
    custom, kept = run_classifier_arms(arms, train_set, train_set, cfg, seeds=[0], keep_models=True,
                                       evaluate=lambda m: {"out_features": float(m.fc.out_features)})
    assert custom["out_features"].tolist() == [8.0] and kept[("ce", 0)].model is not None


def test_loss_parameters_get_their_own_learning_rate_and_clipping(small_glyphs):
    train_set, labels, _ = small_glyphs

    class WithProxy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.proxy = torch.nn.Parameter(torch.zeros(16))

        def forward(self, e, y):
            return MultiSimilarityLoss()(e, y) + (e.mean(0) * self.proxy).sum() + 100.0 * self.proxy.sum()

    def run(**kw):
        make_deterministic(0)
        loss = WithProxy()
        cfg = TrainConfig(iterations=1, classes_per_batch=4, samples_per_class=2, optimizer="sgd", lr=0.1,
                          progress=False, **kw)
        train_embedding(_model(), loss, train_set, labels, cfg)
        return loss.proxy.detach().clone()

    base = run()
    assert torch.allclose(run(loss_lr_multiplier=10.0), 10 * base, atol=1e-6)  # SGD step scales with lr
    clipped = run(grad_clip_value=1.0)
    assert clipped.abs().max() <= 0.1 + 1e-6 < base.abs().max()  # |grad| <= 1 -> |step| <= lr
    with pytest.raises(ValueError, match="loss_lr_multiplier"):
        TrainConfig(loss_lr_multiplier=0)


def test_keep_best_restores_the_best_validated_weights(small_glyphs):
    # a validation score that peaks at iteration 10 of a run validated every 5 iterations
    train_set, labels, _ = small_glyphs
    snapshots = {}

    def validate(model):
        step = 5 * (len(snapshots) + 1)
        snapshots[step] = next(model.parameters()).detach().clone()
        return -abs(step - 10)

    make_deterministic(0)
    model = _model()
    cfg = TrainConfig(iterations=30, classes_per_batch=4, eval_every=5, keep_best=True, stop_at_plateau=False,
                      progress=False)
    result = train_embedding(model, MultiSimilarityLoss(), train_set, labels, cfg, seed=0, validate=validate)
    assert result.kept_iteration == 10 and len(snapshots) == 6
    assert torch.equal(next(model.parameters()).detach(), snapshots[10])
    assert not torch.equal(snapshots[10], snapshots[30])
    with pytest.raises(ValueError, match="keep_best"):
        TrainConfig(keep_best=True)


def test_lr_schedules_match_torch_schedulers():
    """lr_factor against torch's own schedulers: LinearLR for the warm-up, CosineAnnealingLR for the
    decay (its recursive form, an independent computation), MultiStepLR for the steps."""
    from mlcompanion.train import lr_factor

    def torch_lrs(make, n):
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        sched = make(opt)
        out = []
        for _ in range(n):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        return out

    n, warm = 40, 8
    cos = TrainConfig(iterations=n, lr_schedule="cosine", min_lr_ratio=0.1)
    ref = torch_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=n, eta_min=0.1), n)
    assert [lr_factor(cos, k) for k in range(n)] == pytest.approx(ref, rel=1e-12, abs=1e-12)
    both = TrainConfig(iterations=n + warm, lr_schedule="cosine", warmup_iterations=warm)
    ramp = torch_lrs(lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=1 / warm, total_iters=warm - 1), warm)
    decay = torch_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=n, eta_min=0.0), n)
    assert [lr_factor(both, k) for k in range(warm)] == pytest.approx(ramp, rel=1e-12)
    assert [lr_factor(both, warm + k) for k in range(n)] == pytest.approx(decay, rel=1e-12, abs=1e-12)
    step = TrainConfig(iterations=n, lr_milestones=(10, 25), lr_gamma=0.5)
    ref = torch_lrs(lambda o: torch.optim.lr_scheduler.MultiStepLR(o, [10, 25], 0.5), n)
    assert [lr_factor(step, k) for k in range(n)] == pytest.approx(ref, rel=1e-12)


def test_trainer_follows_the_schedule_and_per_prefix_learning_rates(monkeypatch):
    """The optimiser really runs at lr_factor(k) x each group's base lr, read back at every step."""
    from mlcompanion.train import param_groups

    x = torch.randn(64, 4, generator=torch.Generator().manual_seed(0))
    y = torch.arange(4).repeat(16)
    model = torch.nn.Sequential()
    model.add_module("body", torch.nn.Linear(4, 8))
    model.add_module("head", torch.nn.Linear(8, 4))
    cfg = TrainConfig(iterations=12, batch_size=16, lr=0.01, optimizer="sgd", lr_schedule="cosine",
                      warmup_iterations=3, lr_multipliers=(("head.", 50.0),), progress=False)
    seen = []

    class Recorder(torch.nn.CrossEntropyLoss):
        def forward(self, out, target):
            seen.append([g["lr"] for g in optimizer_groups])
            return super().forward(out, target)

    groups = param_groups(model, torch.nn.Module(), cfg)
    assert [g["lr"] for g in groups] == [0.01, 0.5] and [len(g["params"]) for g in groups] == [2, 2]
    assert groups[1]["params"][0] is model.head.weight
    from mlcompanion import train as train_module

    real = train_module._make_optimizer

    def capture(params, c):
        opt = real(params, c)
        optimizer_groups.extend(opt.param_groups)
        return opt

    optimizer_groups = []
    monkeypatch.setattr(train_module, "_make_optimizer", capture)
    train_classifier(model, Recorder(), TensorDataset(x, y), cfg)
    from mlcompanion.train import lr_factor

    assert len(seen) == 12
    for k, (body, head) in enumerate(seen):
        assert body == pytest.approx(0.01 * lr_factor(cfg, k)) and head == pytest.approx(0.5 * lr_factor(cfg, k))
    with pytest.raises(ValueError, match="no model parameter name starts with 'neck.'"):
        param_groups(model, torch.nn.Module(), TrainConfig(lr_multipliers=(("neck.", 2.0),)))
    for bad, match in ((dict(lr_schedule="linear"), "lr_schedule"), (dict(min_lr_ratio=1.5), "min_lr_ratio"),
                       (dict(warmup_iterations=100), "warmup_iterations"),
                       (dict(lr_schedule="cosine", lr_milestones=(5,)), "lr_milestones"),
                       (dict(lr_multipliers=("head", 2.0)), "lr_multipliers"),
                       (dict(lr_multipliers=(("head", -2.0),)), "multiplier")):
        with pytest.raises(ValueError, match=match):
            TrainConfig(**bad)


def test_plateau_reference_window_keeps_training_through_an_early_dip():
    """A scripted validation curve that starts high, dips and climbs back: the history reference stops
    at the 8th evaluation (a false plateau), the window reference trains on until the climb ends."""
    curve = [0.8, 0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.85, 0.85, 0.85, 0.85, 0.85, 0.85, 0.85]
    x = torch.randn(64, 4, generator=torch.Generator().manual_seed(0))
    y = torch.arange(4).repeat(16)

    def run(reference):
        calls = iter(curve)
        cfg = TrainConfig(iterations=40, batch_size=16, eval_every=2, plateau_reference=reference, progress=False)
        return train_classifier(torch.nn.Linear(4, 4), torch.nn.CrossEntropyLoss(), TensorDataset(x, y), cfg,
                                validate=lambda model: next(calls))

    history, window = run("history"), run("window")
    assert history.stopped == "plateau" and history.iterations == 16
    assert window.stopped == "plateau" and window.iterations > 24
    with pytest.raises(ValueError, match="plateau_reference"):
        TrainConfig(plateau_reference="best")


def test_arm_colors_are_distinct_up_to_twenty():
    from mlcompanion.plotting import PALETTE, arm_colors

    assert arm_colors(3) == PALETTE[:3]
    for n in (9, 12, 20):
        colours = arm_colors(n)
        assert len(colours) == n and len(set(colours)) == n
    with pytest.raises(ValueError, match="too many"):
        arm_colors(21)
    with pytest.raises(ValueError, match="int"):
        arm_colors(2.0)
