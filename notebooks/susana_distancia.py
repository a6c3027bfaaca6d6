# %% [markdown]
# # SuSana Distancia is all you need: Enforcing class separability in metric learning via two novel distance-based loss functions for few-shot image classification
#
# Mendez-Ruiz, Gonzalez-Zapata, Reyes-Amezcua, Flores-Araiza, Lopez-Tiro, Mendez-Vazquez & Ochoa-Ruiz,
# 2023 (venue not confirmed), [arXiv:2305.09062](https://arxiv.org/abs/2305.09062).
# Official code: `maumruiz/FSL-Loss` (`algorithms/icnn_loss.py`, `models/protonet.py`, `train.py`).
#
# **Claim tested here.** Adding a **Proto-Triplet** loss and/or an **ICNN** loss to the
# cross-entropy of Prototypical Networks improves few-shot accuracy on unseen classes (abstract:
# about +2 % on miniImageNet 5-way 1-shot and 5-shot over other metric-based methods; the
# per-combination values of the paper's miniImageNet table were not retrieved).
#
# This notebook shows
# 1. the three losses, each equation next to the `lib` call that implements it, on hand-checkable toy episodes;
# 2. **by training**: 5-way 1-shot and 5-shot accuracy on *unseen* glyph classes, with 95 % confidence
#    intervals over 600 test episodes and mean ± std over 3 seeds, for ProtoNet cross-entropy (CE),
#    CE + Proto-Triplet and CE + ICNN: same network, initialisation, episodes and budget per seed;
# 3. whether the ICNN score of a test episode predicts its accuracy (the paper's use of the score
#    as an embedding-quality measure), and a plain verdict.
#
# | profile | data | hardware | wall time |
# |---|---|---|---|
# | `ci` (default) | font glyphs 32×32, 64 train / 64 unseen test classes, 32 images per class | 1 CPU thread | about 1 minute |
# | `paper` | miniImageNet (Ravi split: 64 / 16 / 20 classes × 600) from `data_root` | 1 GPU | ConvNet-4, 20,000 episodes: about 30-60 min per arm and seed (estimate) |

# %% tags=["parameters"]
profile = "ci"
device = "cpu"
data_root = None
seed = 0
# Knobs: None means "the profile's value" (see PROFILES below).
iterations = None
n_seeds = None
arms = None
train_way = None
train_shot = None
train_query = None
test_episodes = None
test_query = None
embedding_dim = None
lr = None
lr_milestones = None
lr_gamma = None
icnn_k = None
resize = None
crop = None
num_workers = None

# %% [markdown]
# ## Profiles
# `ci` trains a 3-block CNN (32-64-64 channels, global average pooling, a linear layer to 64-d, no
# L2 normalisation, as ProtoNet) on episodes of 20 classes × (1 support + 5 queries) for 60 episodes,
# Adam 1e-3. `paper` follows the official scripts (`scripts/*/loss-*.sh`, `util/args_parser.py`):
# ConvNet-4 (64-d after average pooling), Adam 1e-3 halved every 20 epochs of 100 episodes, 200
# epochs, train way 30 for 1-shot (use `train_way=20 train_shot=5` for the 5-shot model), 15 queries,
# images resized to 92 and centre-cropped to 84, 1,000 test episodes. Differences to the official
# run: supports and queries never share an image (the official sampler draws them independently, so
# one image can be both), and the last model is tested (the official code keeps the best of 500
# validation episodes per epoch).

# %%
import sys
from pathlib import Path

sys.path.insert(0, str(Path.cwd().parent))  # the repository root, when run from notebooks/

from mlcompanion.profiles import resolve_profile

# arm -> the terms of the official --losses flag; the total loss is their mean (get_icnn_loss)
ALL_ARMS = {
    "CE": ("cross",),
    "CE+PT": ("cross", "prototriplet"),
    "CE+ICNN": ("cross", "fullicnn"),
    "CE+PT+ICNN": ("cross", "prototriplet", "fullicnn"),
}
PROFILES = {
    "ci": dict(iterations=60, n_seeds=3, arms=["CE", "CE+PT", "CE+ICNN"], train_way=20, train_shot=1,
               train_query=5, test_episodes=600, test_query=15, embedding_dim=64, lr=1e-3, lr_milestones=[],
               lr_gamma=0.5, icnn_k=4, resize=32, crop=32, num_workers=0),
    "paper": dict(iterations=20000, n_seeds=1, arms=list(ALL_ARMS), train_way=30, train_shot=1, train_query=15,
                  test_episodes=1000, test_query=15, embedding_dim=64, lr=1e-3,
                  lr_milestones=list(range(2000, 20000, 2000)), lr_gamma=0.5, icnn_k=4, resize=92, crop=84,
                  num_workers=8),
}
P = resolve_profile(
    PROFILES, profile, device=device, data_root=data_root, seed=seed, namespace=globals(),
    iterations=iterations, n_seeds=n_seeds, arms=arms, train_way=train_way, train_shot=train_shot,
    train_query=train_query, test_episodes=test_episodes, test_query=test_query, embedding_dim=embedding_dim,
    lr=lr, lr_milestones=lr_milestones, lr_gamma=lr_gamma, icnn_k=icnn_k, resize=resize, crop=crop,
    num_workers=num_workers,
)
unknown_arms = sorted(set(P.arms) - set(ALL_ARMS))
if unknown_arms or not P.arms or "CE" not in P.arms:
    raise ValueError(f"arms must be a subset of {list(ALL_ARMS)} that contains the baseline 'CE', got {P.arms}")
if P.profile == "paper":
    from mlcompanion.data.miniimagenet import check_miniimagenet_layout

    check_miniimagenet_layout(P.data_root)  # stops here, naming the dataset and its layout, if absent

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import TensorDataset

from mlcompanion.losses.prototypical import EpisodicProtoLoss, ICNNLoss, ProtoNetLoss, ProtoTripletLoss, prototypes
from mlcompanion.metrics.fewshot import fewshot_accuracy, fewshot_eval, icnn_score
from mlcompanion.gallery import write_result
from mlcompanion.plotting import PALETTE, savefig, use_style
from mlcompanion.repro import make_deterministic
from mlcompanion.train import TrainConfig, embed, train_embedding

SLUG = "susana_distancia"
make_deterministic(P.seed)
use_style()
pd.set_option("display.precision", 3)

# %% [markdown]
# ## Method
# An **episode** has $N$ (way) classes with $K$ (shot) supports and $Q$ queries each. With $f$ the
# embedding network, the prototype of class $k$ is the mean of its supports,
# $c_k = \frac1K \sum_{s \in S_k} f(s)$ — `mlcompanion.losses.prototypical.prototypes(support, support_labels)`.
#
# **ProtoNet cross-entropy** (the "cross" term; squared Euclidean distance, $T = 1$):
# $$L_{CE} = -\frac1{|Q|}\sum_{q} \log \frac{\exp(-\|f(q) - c_{y_q}\|^2 / T)}{\sum_k \exp(-\|f(q) - c_k\|^2 / T)}$$
# `ProtoNetLoss(temperature=1.0)(query, query_labels, protos)`
#
# **Proto-Triplet loss** (own prototype = positive, nearest other prototype = hardest negative,
# $\delta(a, b) = \sqrt{\|a - b\|^2 + 10^{-6}}$, margin $m = 0.5$):
# $$L_{PT} = \frac1{|Q|}\sum_q \max\big(0,\ \delta(q, c_{y_q}) - \min_{k \neq y_q} \delta(q, c_k) + m\big)$$
# `ProtoTripletLoss(margin=0.5)(query, query_labels, protos)`
#
# **ICNN loss** $L_{ICNN} = -\log \mathrm{score}$, with the ICNN score (the official `modified_score`)
# of the $n$ points of the episode. For point $i$ take its `ipc` nearest other points (`ipc` = $K + Q$
# for the "fullicnn" term), distances $D_{ij}$ nearest first, same-class indicators $s_{ij}$, and
# $nn_i$ = its nearest different-class distance among them. On the first $k = 4$:
# $$\lambda_{sc} = 1 - \operatorname{mean}_{i:\,\sum_j s_{ij}>0} \frac{\sum_j s_{ij}\tilde D_{ij}}{\sum_j s_{ij}},\quad
#   \tilde D_{ij} = \frac{D_{ij}/nn_i}{\max(1, \max_j D_{ij}/nn_i)};\qquad
#   \lambda_{dc} = \operatorname{mean}_{i:\,\sum_j (1-s_{ij})>0} \frac{\sum_j (1-s_{ij}) D_{ij}}{\sum_j(1-s_{ij})\,\max_{i'j'} (1-s_{i'j'})D_{i'j'}}$$
# ($\lambda_{dc} = 1$ when no point has a different-class neighbour among its first $k$),
# $\gamma = \frac1n\sum_i \frac1k \sum_{j\le k} s_{ij}$ (kNN purity), and
# $\mathrm{score} = \big(\tfrac{\lambda_{sc} + \lambda_{dc}}2 + \gamma\big)/2 \in [0, 1]$.
# `mlcompanion.metrics.fewshot.icnn_score(x, labels, k=4, ipc=None)`; `ICNNLoss(mode="full", k=4)(support, support_labels, query, query_labels)`.
# The score rewards same-class neighbours that are close *relative to the nearest other class*,
# different-class neighbours that are far, and pure neighbourhoods.
#
# **Total loss** = the *mean* of the selected terms (`get_icnn_loss` divides the sum by their number):
# `EpisodicProtoLoss(shot, terms=("cross", "prototriplet"))`. It takes a class-grouped batch from
# `mlcompanion.data.ClassBalancedBatchSampler` (way classes × (shot + query) images) and uses the first
# `shot` images of each class as supports, so the shared trainer `mlcompanion.train.train_embedding` runs it.
#
# ### A worked example
# Two prototypes $c_0 = (0, 0)$, $c_1 = (1, 0)$ and a query of class 0 at $(0.2, 0)$ or $(0.4, 0)$:
# Proto-Triplet gives $\max(0, 0.2 - 0.8 + 0.5) = 0$ and $0.4 - 0.6 + 0.5 = 0.3$. Four 1-D points
# $0, 1$ (class 0) and $10, 11$ (class 1): $k$ is clipped to $n - 2 = 2$ so $\gamma = 1$;
# $\lambda_{sc} = 1 - (\frac1{10} + \frac19 + \frac19 + \frac1{10})/4 = 0.8944$, $\lambda_{dc} = (1 + 0.9 + 0.9 + 1)/4 = 0.95$,
# score $= ((0.8944 + 0.95)/2 + 1)/2 = 0.9611$.

# %%
toy_protos = torch.tensor([[0.0, 0.0], [1.0, 0.0]], dtype=torch.float64)
toy_q = torch.tensor([[0.2, 0.0], [0.4, 0.0]], dtype=torch.float64)
toy_pt = [ProtoTripletLoss()(toy_q[i:i + 1], torch.tensor([0]), toy_protos).item() for i in range(2)]
toy_ce = ProtoNetLoss()(toy_q, torch.tensor([0, 0]), toy_protos).item()
toy_x = torch.tensor([[0.0], [1.0], [10.0], [11.0]], dtype=torch.float64)
toy_y = torch.tensor([0, 0, 1, 1])
toy_score = icnn_score(toy_x, toy_y).item()
print(f"Proto-Triplet, query (0.2, 0): {toy_pt[0]:.6f}   query (0.4, 0): {toy_pt[1]:.6f}")
print(f"ProtoNet CE of both queries: {toy_ce:.6f}")
print(f"ICNN score of 0, 1 | 10, 11: {toy_score:.6f}  -> ICNN loss {-np.log(toy_score):.6f}")
print(f"same points, labels 0, 1 | 0, 1 (classes mixed): score {icnn_score(toy_x, torch.tensor([0, 1, 0, 1])).item():.6f}")

# %% [markdown]
# ## Experiment: few-shot classification of unseen classes
# Train episodically on one set of classes, test on **unseen** classes with 5-way episodes of 1 or 5
# supports and 15 queries per class, nearest prototype. All arms of a seed start from the same
# weights and see the same training episodes; every model is tested on the same 600 test episodes
# (embeddings computed once per model), so the arms are compared on identical tasks.

# %%
if P.profile == "ci":
    from mlcompanion.data import load_glyphs
    from mlcompanion.models import SmallConvNet

    glyphs = load_glyphs(n_train_classes=64, n_test_classes=64, n_augments=2, image_size=P.crop, seed=P.seed)
    train_set = TensorDataset(glyphs.train.images, glyphs.train.labels)
    test_set = TensorDataset(glyphs.test.images, glyphs.test.labels)
    train_labels = glyphs.train.labels

    def make_model():
        return SmallConvNet(in_channels=1, embedding_dim=P.embedding_dim, width=32, image_size=P.crop)

    print(f"glyphs: {len(train_set)} train images of {len(glyphs.train.classes)} classes, "
          f"{len(test_set)} test images of {len(glyphs.test.classes)} unseen classes")
else:
    from mlcompanion.data import EvalTransform
    from mlcompanion.data.miniimagenet import MiniImageNet

    transform = EvalTransform(resize=P.resize, crop=P.crop)  # ImageNet mean / std, as the official loader
    train_set = MiniImageNet(P.data_root, "train", transform=transform)
    test_set = MiniImageNet(P.data_root, "test", transform=transform)
    train_labels = train_set.labels

    class ConvNet4(nn.Module):
        """The 4-block ConvNet of ProtoNet (64 channels, conv3x3-BN-ReLU-maxpool), average-pooled to 64-d."""

        def __init__(self):
            super().__init__()
            blocks, cin = [], 3
            for _ in range(4):
                blocks += [nn.Conv2d(cin, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2)]
                cin = 64
            self.encoder = nn.Sequential(*blocks)

        def forward(self, x):
            return self.encoder(x).mean(dim=(2, 3))

    def make_model():
        return ConvNet4()

    print(f"miniImageNet: {len(train_set)} train images ({train_set.num_classes} classes), "
          f"{len(test_set)} test images ({test_set.num_classes} unseen classes)")

# %%
cfg = TrainConfig(iterations=P.iterations, classes_per_batch=P.train_way, samples_per_class=P.train_shot + P.train_query,
                  lr=P.lr, lr_milestones=tuple(P.lr_milestones), lr_gamma=P.lr_gamma, device=P.device,
                  num_workers=P.num_workers)
seeds = [P.seed + s for s in range(P.n_seeds)]
SHOTS = (1, 5)
rows, train_results, test_evals = [], {}, {}
for arm in P.arms:
    for s in seeds:
        make_deterministic(s)
        model = make_model()
        loss_fn = EpisodicProtoLoss(shot=P.train_shot, terms=ALL_ARMS[arm], icnn_k=P.icnn_k)
        term_log = []
        result = train_embedding(model, loss_fn, train_set, train_labels, cfg, seed=s, desc=f"{arm} seed {s}",
                                 on_step=lambda step, e, y: term_log.append(dict(loss_fn.last_terms)))
        result.records = term_log
        emb, lab = embed(model, test_set, device=P.device, num_workers=P.num_workers)
        for shot in SHOTS:
            ev = fewshot_eval(emb, lab, way=5, shot=shot, query=P.test_query, episodes=P.test_episodes,
                              seed=P.seed, with_icnn=(s == seeds[0]), icnn_k=P.icnn_k)
            test_evals[(arm, s, shot)] = ev
            rows.append({"arm": arm, "seed": s, "setting": f"5w{shot}s", "acc": ev["acc"], "ci95": ev["ci"]})
        train_results[(arm, s)] = result
runs = pd.DataFrame(rows)

# %% [markdown]
# ## Results
# Accuracy in % on unseen classes: per seed the mean over test episodes ± its 95 % CI
# ($1.96\,\sigma/\sqrt{n}$ over episodes, the few-shot convention); across seeds the mean ± std.

# %%
per_seed = runs.assign(cell=[f"{100 * a:.1f} ± {100 * c:.1f}" for a, c in zip(runs.acc, runs.ci95)])
per_seed.pivot_table(index=["arm", "seed"], columns="setting", values="cell", aggfunc="first", sort=False)

# %%
summary = runs.groupby(["arm", "setting"], sort=False)["acc"].agg(["mean", "std"]).unstack("setting")
summary = summary.reindex(P.arms)
table = pd.DataFrame({
    f"{st} acc (%)": [f"{100 * summary.loc[a, ('mean', st)]:.1f} ± {100 * (summary.loc[a, ('std', st)] if len(seeds) > 1 else 0):.1f}"
                      for a in P.arms]
    for st in ("5w1s", "5w5s")
}, index=P.arms)
table["mean episode CI (%)"] = [f"± {100 * runs[runs.arm == a].ci95.mean():.1f}" for a in P.arms]
table

# %% [markdown]
# **Paired gaps.** Because every model is tested on the same episodes, the gap of a new arm to CE can
# be measured episode by episode: mean per-episode gap over all seeds ± its 95 % CI over episodes
# (pooling seeds treats training noise as part of the sampling noise only partly; the seed std above
# is the other half of the story).

# %%
gap_rows = []
for arm in [a for a in P.arms if a != "CE"]:
    for shot in SHOTS:
        diffs = np.concatenate([test_evals[(arm, s, shot)]["per_episode"] - test_evals[("CE", s, shot)]["per_episode"]
                                for s in seeds])
        per_seed_gap = [test_evals[(arm, s, shot)]["acc"] - test_evals[("CE", s, shot)]["acc"] for s in seeds]
        g, ci = fewshot_accuracy(diffs)
        gap_rows.append({"arm": arm, "setting": f"5w{shot}s", "gap": g, "ci95": ci,
                         "seed std": float(np.std(per_seed_gap, ddof=1)) if len(seeds) > 1 else 0.0,
                         "wins": int(sum(x > 0 for x in per_seed_gap)), "seeds": len(seeds)})
gaps = pd.DataFrame(gap_rows)
gaps.assign(**{"gap (points)": (100 * gaps.gap).round(2), "± CI (points)": (100 * gaps.ci95).round(2),
               "seed std (points)": (100 * gaps["seed std"]).round(2)})[
    ["arm", "setting", "gap (points)", "± CI (points)", "seed std (points)", "wins", "seeds"]]

# %%
fig, (ax_bar, ax_loss, ax_icnn) = plt.subplots(1, 3, figsize=(15, 4))
width = 0.8 / len(P.arms)
for a, arm in enumerate(P.arms):
    means = [100 * summary.loc[arm, ("mean", f"5w{k}s")] for k in SHOTS]
    cis = [100 * np.mean([test_evals[(arm, s, k)]["ci"] for s in seeds]) for k in SHOTS]
    ax_bar.bar(np.arange(2) + a * width, means, width, yerr=cis, capsize=3, label=arm, color=PALETTE[a])
    for k_i, k in enumerate(SHOTS):
        ax_bar.scatter([k_i + a * width] * len(seeds), [100 * test_evals[(arm, s, k)]["acc"] for s in seeds],
                       color="black", s=8, zorder=3)
    ce_curve = np.mean([[r["cross"] for r in train_results[(arm, s)].records] for s in seeds], axis=0)
    ax_loss.plot(np.arange(1, len(ce_curve) + 1), ce_curve, label=arm, color=PALETTE[a])
ax_bar.set_xticks(np.arange(2) + 0.4 - width / 2, ["5-way 1-shot", "5-way 5-shot"])
lo = 100 * float(runs.acc.min())
ax_bar.set_ylim(max(0, lo - 8), min(100, 100 * float(runs.acc.max()) + 4))
ax_bar.set_ylabel("accuracy on unseen classes (%)")
ax_bar.set_title(f"bars: mean over {len(seeds)} seed(s); whiskers: 95% CI\nover {P.test_episodes} episodes; dots: seeds")
ax_bar.legend(fontsize=8, loc="upper left")
ax_loss.set_xlabel("training episode")
ax_loss.set_ylabel("ProtoNet CE term on the training episode")
ax_loss.set_title("the CE term during training (mean over seeds)")
ax_loss.legend(fontsize=8)
s0 = seeds[0]
for a, arm in enumerate(P.arms):
    ev = test_evals[(arm, s0, 5)]
    ax_icnn.scatter(ev["icnn"], 100 * ev["per_episode"], s=5, alpha=0.35, color=PALETTE[a], label=arm)
ax_icnn.set_xlabel("ICNN score of the test episode (supports + queries)")
ax_icnn.set_ylabel("episode accuracy, 5-way 5-shot (%)")
ax_icnn.set_title(f"embedding quality vs accuracy (seed {s0})")
ax_icnn.legend(fontsize=8, markerscale=3)
fig.tight_layout()
savefig(fig, SLUG, "fewshot_accuracy")
plt.show()

# %%
icnn_rows = []
for arm in P.arms:
    for shot in SHOTS:
        ev = test_evals[(arm, s0, shot)]
        icnn_rows.append({"arm": arm, "setting": f"5w{shot}s", "mean ICNN score": float(ev["icnn"].mean()),
                          "corr(score, episode acc)": float(np.corrcoef(ev["icnn"], ev["per_episode"])[0, 1])})
icnn_table = pd.DataFrame(icnn_rows)
icnn_table.round(3)

# %% [markdown]
# ## Paper vs ours
# The paper reports its miniImageNet results (ConvNet-4 and ResNet backbones, 5-way 1-shot and
# 5-shot, 95 % CIs over test episodes) in its miniImageNet table; those per-combination values
# **were not retrieved** for this companion, so they are not printed as the paper's. What is printed
# is the abstract's headline: about **+2 %** accuracy over other metric-based few-shot methods. Ours
# are gaps to our own ProtoNet (CE) baseline on glyphs: the absolute numbers are not comparable, the
# sign and size of the gap are what we test.

# %%
paper_vs_ours = pd.DataFrame({
    "paper (miniImageNet, abstract)": ["≈ +2 (vs metric-based FSL methods)", "not retrieved", "not retrieved"],
}, index=["best new-loss gain, points", "CE+PT vs CE, points", "CE+ICNN vs CE, points"])
for shot in SHOTS:
    col = f"ours ({P.profile}), 5w{shot}s"
    sub = gaps[gaps.setting == f"5w{shot}s"].set_index("arm")
    best = sub.gap.max() if len(sub) else float("nan")
    paper_vs_ours[col] = [f"{100 * best:+.1f}",
                          f"{100 * sub.gap['CE+PT']:+.1f} ± {100 * sub.ci95['CE+PT']:.1f}" if "CE+PT" in sub.index else "-",
                          f"{100 * sub.gap['CE+ICNN']:+.1f} ± {100 * sub.ci95['CE+ICNN']:.1f}" if "CE+ICNN" in sub.index else "-"]
paper_vs_ours

# %% [markdown]
# ## Claim check

# %%
assert np.isfinite(runs.acc).all() and ((runs.acc >= 0) & (runs.acc <= 1)).all()
assert all(np.isfinite(r.losses).all() for r in train_results.values())
if P.iterations >= 50:  # shorter smoke runs cannot be judged on this
    assert (runs.acc > 0.4).all(), "a model is near chance (0.2) on unseen classes: training failed"
    for (arm, s), result in train_results.items():
        first, last = np.mean(result.losses[:10]), np.mean(result.losses[-10:])
        assert last < first, f"{arm} seed {s} did not train: loss {first:.3f} -> {last:.3f}"

# Rule (written before running): a new-loss arm *clearly* helps in a setting when its mean gain over
# CE is >= 1 point (the brief's threshold), it wins on every seed and the gain exceeds both the seed
# std of the gain and the 95 % CI over episodes.
# reproduced: every new loss tested clearly helps in at least one setting;
# partly reproduced: at least one new-loss arm clearly helps somewhere, or gains >= 1 point without being clear;
# not reproduced at this scale: otherwise.
gaps["clear"] = (gaps.gap >= 0.01) & (gaps.wins == gaps.seeds) & (gaps.gap > gaps["seed std"]) & (gaps.gap > gaps.ci95)
for _, r in gaps.iterrows():
    print(f"{r.arm:10s} vs CE, {r.setting}: {100 * r.gap:+.2f} points (± {100 * r.ci95:.2f} over episodes, "
          f"seed std {100 * r['seed std']:.2f}), wins {r.wins}/{r.seeds} seeds -> {'clear' if r.clear else 'not clear'}")
clear_arms = sorted(set(gaps[gaps.clear].arm))
tested = [a for a in P.arms if a != "CE"]
if tested and set(clear_arms) == set(tested):
    verdict = "reproduced"
elif clear_arms or (gaps.gap >= 0.01).any():
    verdict = "partly reproduced"
else:
    verdict = "not reproduced at this scale"


def _describe(arm):
    sub = gaps[gaps.arm == arm]
    parts = ", ".join(f"{100 * g:+.1f} ({st})" for g, st in zip(sub.gap, sub.setting))
    return f"{arm} {parts} points{' (clear)' if arm in clear_arms else ''}"


explanation = (
    f"Gains over ProtoNet CE on unseen glyph classes, mean of {len(seeds)} seed(s): "
    + "; ".join(_describe(a) for a in tested)
    + ". A gain counts as clear when it is >= 1 point, wins on every seed and exceeds the seed std and the "
      "95% CI over test episodes; "
    + (f"{' and '.join(clear_arms)} clearly help{'s' if len(clear_arms) == 1 else ''}." if clear_arms
       else "no new loss clearly helps.")
)
print(f"verdict: {verdict}. {explanation}")

# %% [markdown]
# **Reading the ci result.** In the committed ci run the two new losses behave differently.
# Proto-Triplet adds a margin between each query's own prototype and the nearest *other* prototype
# (the quantity nearest-prototype classification depends on), and CE + Proto-Triplet beats CE on
# every seed in both settings, by more than the CI over episodes and the seed spread, with its CE
# term falling as fast as in the CE arm (middle panel). The ICNN term does not help here: it is a
# ratio of a few selected neighbour distances (top-k and min are piecewise, so most pairs get no
# gradient); training with it does not even raise the ICNN score of test episodes above the CE arm's
# (table above; Proto-Triplet does), and with it the CE term falls more slowly. Halving the CE weight (the total is a *mean* of terms) is not
# the reason by itself: Adam is insensitive to a global rescaling of the loss. The ICNN score of a test
# episode does track its accuracy (correlation about 0.7-0.8), so as an embedding-quality *measure* it
# works. What the ci scale cannot tell: whether ICNN helps with longer training, a larger backbone or
# the 5-shot training regime of the paper (train way 20, 5 shots), which the `paper` profile runs.

# %%
ours = {}
for arm in P.arms:
    for shot in SHOTS:
        ours[f"{arm} 5w{shot}s acc"] = float(summary.loc[arm, ("mean", f"5w{shot}s")])
for _, r in gaps.iterrows():
    ours[f"{r.arm} - CE {r.setting} (points)"] = float(100 * r.gap)
result_file = write_result(
    SLUG,
    title="SuSana Distancia is all you need: Proto-Triplet and ICNN losses for few-shot learning (arXiv 2023)",
    claim="Adding the Proto-Triplet and/or ICNN loss to ProtoNet's cross-entropy improves few-shot accuracy on "
          "unseen classes (about +2 % on miniImageNet 5-way 1/5-shot).",
    verdict=verdict,
    explanation=explanation,
    ours=ours,
    paper={"best new-loss gain, miniImageNet (points, abstract)": "about +2", "per-combination table": "not retrieved"},
    profile=P.profile,
)

# %%
# NBVAL_CHECK_OUTPUT
print(f"toy: Proto-Triplet {toy_pt[0]:.3f} / {toy_pt[1]:.3f}, ICNN score {toy_score:.3f}")
for arm in P.arms:
    cells = "   ".join(f"5w{k}s {summary.loc[arm, ('mean', f'5w{k}s')]:.3f} ± "
                       f"{np.mean([test_evals[(arm, s, k)]['ci'] for s in seeds]):.3f}" for k in SHOTS)
    print(f"{arm:10s} {cells}")
for _, r in gaps.iterrows():
    print(f"{r.arm:10s} - CE {r.setting}: {r.gap:+.3f}")
print(f"verdict: {verdict}")
