# %% [markdown]
# # It Takes Two to Tango: Mixup for Deep Metric Learning (Metrix)
#
# Venkataramanan, Psomas, Kijak, Amsaleg, Karantzalos & Avrithis, **ICLR 2022**,
# [arXiv:2106.04990](https://arxiv.org/abs/2106.04990). Official code: `billpsomas/Metrix_ICLR22`
# (built on pytorch-metric-learning 1.3.0 and the Proxy-Anchor code base).
#
# **Claim reproduced here.** Mixing examples *and their target labels* inside a pair-based loss
# (Metrix: a mix of a positive and a negative is "positive to degree λ") improves retrieval of
# *unseen* classes (Recall@1) over the same loss without mixup, for contrastive, Multi-Similarity (MS)
# and Proxy-Anchor losses on CUB-200-2011, Cars196, SOP and In-Shop (the paper's main R@K table, also
# in the official README; its table number not verified here). The paper also introduces
# **utilization**, the mean distance of a test embedding to its nearest training embedding, and
# reports that Metrix lowers it (test examples land in regions explored during training).
#
# This notebook shows
# 1. **exactly, without training**: the mixed loss on a toy batch, how it varies with λ, and that
#    the official anchor-negative branch is empty under class-balanced batches;
# 2. **by training**: R@1/2/4/8, MAP@R and utilization on *unseen* glyph classes for contrastive and
#    MS, each with and without Metrix (embedding level), same network / batches / budget,
#    mean ± std over 3 seeds, beside the paper's numbers;
# 3. a plain verdict.
#
# | profile | data | hardware | wall time |
# |---|---|---|---|
# | `ci` (default) | font glyphs rendered from matplotlib's fonts, 64 train / 64 test classes | 1 CPU thread | about 1 minute |
# | `paper` | CUB-200-2011, Cars196 or SOP from `data_root` (zero-shot class split) | 1 GPU | estimate: CUB / Cars 10-30 min per arm and seed, SOP 1-2 h (not measured) |

# %% tags=["parameters"]
profile = "ci"
device = "cpu"
data_root = None
seed = 0
# Knobs: None means "the profile's value" (see PROFILES below).
dataset = None
iterations = None
n_seeds = None
arms = None
embedding_dim = None
classes_per_batch = None
samples_per_class = None
lr = None
weight_decay = None
lr_milestones = None
lr_gamma = None
metrix_weight = None
metrix_pairing = None
resize = None
crop = None
backbone_weights = None
num_workers = None

# %% [markdown]
# ## Profiles
# `ci` trains a 3-layer CNN (64-d, L2-normalised) on 32×32 glyphs with batches of 16 classes × 4
# images, Adam 1e-3. `paper` follows the official README/code where the shared trainer allows:
# ImageNet ResNet-50 (read from a local weights file) → Linear(512) → L2, batches of 100, Adam
# lr 1e-4 with weight decay 1e-4, about 60 epochs (CUB: 5,864 training images → ~3,500 iterations)
# with the learning rate ×0.5 every 5 epochs (the MS schedule; the official contrastive runs use
# ×0.1 every 10), Metrix weight 0.4, λ ~ Beta(2, 2).
#
# Deviations from the official protocol, all forced by the shared trainer (`mlcompanion.train`):
# class-balanced batches (20 classes × 5) instead of random batches on CUB/Cars, no 5-epoch warm-up
# of the embedding layer, no frozen BatchNorm, no gradient clipping (official: by value 10), one
# learning-rate schedule for all arms, GAP only (official: GAP + GMP). In-Shop needs a query/gallery
# evaluation and a loader that `mlcompanion.data` does not have yet: not covered.
#
# Because batches are class-balanced, every anchor has positives, so the official anchor-negative
# branch (only anchors *without* positives) is empty; both profiles therefore use the
# **positive-negative pairing every iteration** (`metrix_pairing="pos_neg"`).

# %%
import sys
from pathlib import Path

sys.path.insert(0, str(Path.cwd().parent))  # the repository root, when run from notebooks/

from mlcompanion.profiles import resolve_profile

ALL_ARMS = ("contrastive", "contrastive_metrix", "ms", "ms_metrix", "ms_metrix_feature", "ms_metrix_input")
DATASETS = ("glyphs", "cub200", "cars196", "sop")
PAIRINGS = ("pos_neg", "anchor_neg", "random")
PROFILES = {
    "ci": dict(dataset="glyphs", iterations=50, n_seeds=3, arms=list(ALL_ARMS[:4]), embedding_dim=64,
               classes_per_batch=16, samples_per_class=4, lr=1e-3, weight_decay=0.0, lr_milestones=[],
               lr_gamma=0.5, metrix_weight=0.4, metrix_pairing="pos_neg", resize=32, crop=32,
               backbone_weights="", num_workers=0),
    "paper": dict(dataset="cub200", iterations=3500, n_seeds=1, arms=list(ALL_ARMS), embedding_dim=512,
                  classes_per_batch=20, samples_per_class=5, lr=1e-4, weight_decay=1e-4,
                  lr_milestones=[290 * k for k in range(1, 12)], lr_gamma=0.5, metrix_weight=0.4,
                  metrix_pairing="pos_neg", resize=256, crop=224,
                  backbone_weights="~/.cache/torch/hub/checkpoints/resnet50-11ad3fa6.pth", num_workers=8),
}
P = resolve_profile(
    PROFILES, profile, device=device, data_root=data_root, seed=seed, namespace=globals(),
    dataset=dataset, iterations=iterations, n_seeds=n_seeds, arms=arms, embedding_dim=embedding_dim,
    classes_per_batch=classes_per_batch, samples_per_class=samples_per_class, lr=lr,
    weight_decay=weight_decay, lr_milestones=lr_milestones, lr_gamma=lr_gamma, metrix_weight=metrix_weight,
    metrix_pairing=metrix_pairing, resize=resize, crop=crop, backbone_weights=backbone_weights,
    num_workers=num_workers,
)
unknown_arms = sorted(set(P.arms) - set(ALL_ARMS))
if unknown_arms or not P.arms:
    raise ValueError(f"arms must be a non-empty subset of {ALL_ARMS}, got {P.arms}")
if P.dataset not in DATASETS:
    raise ValueError(f"dataset must be one of {DATASETS}, got {P.dataset!r}")
if P.metrix_pairing not in PAIRINGS:
    raise ValueError(f"metrix_pairing must be one of {PAIRINGS}, got {P.metrix_pairing!r}")
if P.dataset != "glyphs":
    from mlcompanion.data import check_layout
    from mlcompanion.models import load_backbone_weights, resnet50

    check_layout(P.dataset, P.data_root)  # stops here, naming the dataset and its layout, if absent
    load_backbone_weights(resnet50(num_classes=None), Path(P.backbone_weights).expanduser())

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from torch.utils.data import TensorDataset

from mlcompanion.distances import EuclideanDistance
from mlcompanion.experiments import compare_arms, format_mean_std, run_arms, summarize_runs
from mlcompanion.gallery import write_result
from mlcompanion.losses import ContrastiveLoss, MultiSimilarityLoss
from mlcompanion.losses.mixup import MetrixLoss, metrix_mixed_term, mix_pairs
from mlcompanion.metrics.utilization import utilization
from mlcompanion.plotting import PALETTE, savefig, use_style
from mlcompanion.repro import make_deterministic
from mlcompanion.train import TrainConfig, embed

SLUG = "metrix"
make_deterministic(P.seed)
use_style()
pd.set_option("display.precision", 3)

# %% [markdown]
# ## Method
#
# **A generic pair loss (Sec. 3).** For anchor $a$ with positives $P(a)$, negatives $N(a)$ and
# cosine similarity $s$,
# $$\ell(a) = \tau\Big(\sigma^+\big(\textstyle\sum_{p\in P(a)} \rho^+(s(a,p))\big) + \sigma^-\big(\sum_{n\in N(a)} \rho^-(s(a,n))\big)\Big).$$
# MS: $\sigma^+(x) = \frac1\alpha\log(1+x)$, $\rho^+(s) = e^{-\alpha(s-b)}$, $\sigma^-(x) = \frac1\beta\log(1+x)$,
# $\rho^-(s) = e^{\beta(s-b)}$. Contrastive: $\tau, \sigma^\pm$ the identity, $\rho^+ = $ distance,
# $\rho^- = [m - \text{distance}]_+$ (the official code's form, Euclidean on unit vectors, m = 0.5).
# `mlcompanion.losses.MultiSimilarityLoss()`, `mlcompanion.losses.ContrastiveLoss(0, 0.5, EuclideanDistance(normalize=True))`
#
# **Metrix (Sec. 3).** A mix $u = \lambda x + (1-\lambda)x'$ gets the *interpolated positivity*
# $v = \lambda y(a,x) + (1-\lambda) y(a,x')$ ($y = 1$ positive, 0 negative), and the mixed loss
# weights each mix by $v$ on the positive side and $1-v$ on the negative side:
# $$\tilde\ell(a) = \tau\Big(\sigma^+\big(\textstyle\sum_{(u,v)\in M(a)} v\,\rho^+(s(a,u))\big) + \sigma^-\big(\sum_{(u,v)\in M(a)} (1-v)\,\rho^-(s(a,u))\big)\Big),
# \qquad L = \frac1{|B|}\sum_a \ell(a) + w\,\frac1{|B|}\sum_a \tilde\ell(a).$$
# Pairs mixed: positive-negative ($u = \lambda e_p + (1-\lambda) e_n$, $v = \lambda$) or
# anchor-negative ($u = \lambda e_a + (1-\lambda) e_n$, $v = \lambda$), mixes re-normalised to the
# sphere; $\lambda \sim \mathrm{Beta}(2,2)$ once per batch; $w = 0.4$.
# `mlcompanion.losses.mixup.MetrixLoss(base, w=0.4, beta_ab=2, pairing="pos_neg", level="embedding")`;
# the mixed term alone: `mlcompanion.losses.mixup.metrix_mixed_term(emb, labels, lam, pairing, base)`.
#
# **Utilization (Sec. 4; formula recalled, not verified against the PDF).** With $Q$ the test and
# $X$ the training embeddings, $u(Q) = \frac1{|Q|}\sum_{q\in Q} \min_{x\in X} \|f(q) - f(x)\|^2$.
# `mlcompanion.metrics.utilization.utilization(test_emb, train_emb)`
#
# **Where the official code differs.** Its contrastive pos-neg branch mixes each anchor's *first*
# positive with every negative (once per positive pair); we mix every positive, as the equation
# says. Its later MS + Metrix file puts clean and mixed terms inside one log and writes the mixed
# negative weight into the clean mask, so the mixed negative term is always masked out; we implement
# the paper's formula. Its embedding-level anchor-negative branch uses $w = 0.3$.
#
# ### A worked example
# Six unit vectors at angles 0°, 20°, 50°, 90°, 110°, 170°, two per class; λ = 0.5.

# %%
angles = torch.tensor([0.0, 20.0, 50.0, 90.0, 110.0, 170.0], dtype=torch.float64).deg2rad()
toy_x = torch.stack([angles.cos(), angles.sin()], dim=1)
toy_y = torch.tensor([0, 0, 1, 1, 2, 2])
ms_base = MultiSimilarityLoss()
ct_base = ContrastiveLoss(pos_margin=0.0, neg_margin=0.5, distance=EuclideanDistance(normalize=True))
toy = {
    "MS clean loss": ms_base(toy_x, toy_y).item(),
    "MS mixed term, pos-neg, lam 0.5": metrix_mixed_term(toy_x, toy_y, 0.5, "pos_neg", ms_base).item(),
    "MS mixed term, anchor-neg (all anchors), lam 0.5":
        metrix_mixed_term(toy_x, toy_y, 0.5, "anchor_neg", ms_base, anchor_neg_only_without_pos=False).item(),
    "MS mixed term, anchor-neg (official: anchors without positives)":
        metrix_mixed_term(toy_x, toy_y, 0.5, "anchor_neg", ms_base, anchor_neg_only_without_pos=True).item(),
    "contrastive clean loss": ct_base(toy_x, toy_y).item(),
    "contrastive mixed term, pos-neg, lam 0.5": metrix_mixed_term(toy_x, toy_y, 0.5, "pos_neg", ct_base).item(),
    "MS + 0.4 x mixed (MetrixLoss), lam 0.5":
        MetrixLoss(ms_base, generator=0)(toy_x, toy_y, lam=0.5, pairing="pos_neg").item(),
}
print(f"mixes per anchor (pos-neg): {mix_pairs(toy_y, 'pos_neg').flatten(1).sum(1).tolist()}")
for k, v in toy.items():
    print(f"{k:66s} {v:.6f}")

# %% [markdown]
# How the mixed term moves with λ on the same batch: at λ = 1 every pos-neg mix *is* its positive
# (only the positive side remains, each positive counted |N(a)| times), at λ = 0 it is its negative.
# The MS negative side ($\beta = 40$) dominates as soon as mixes lean towards negatives.

# %%
lams = np.linspace(0.0, 1.0, 51)
sweep = pd.DataFrame({
    ("MS", "pos-neg"): [metrix_mixed_term(toy_x, toy_y, l, "pos_neg", ms_base).item() for l in lams],
    ("MS", "anchor-neg"): [metrix_mixed_term(toy_x, toy_y, l, "anchor_neg", ms_base, False).item() for l in lams],
    ("contrastive", "pos-neg"): [metrix_mixed_term(toy_x, toy_y, l, "pos_neg", ct_base).item() for l in lams],
    ("contrastive", "anchor-neg"): [metrix_mixed_term(toy_x, toy_y, l, "anchor_neg", ct_base, False).item() for l in lams],
}, index=lams)
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
for ax, loss_name in zip(axes, ("MS", "contrastive")):
    for k, pairing in enumerate(("pos-neg", "anchor-neg")):
        ax.plot(lams, sweep[(loss_name, pairing)], label=pairing, color=PALETTE[k])
    ax.set_xlabel("mixing factor λ (= positivity v of the mix)")
    ax.set_ylabel("mixed term (loss units)")
    ax.set_title(f"{loss_name}: Metrix mixed term on the toy batch")
    ax.legend()
fig.tight_layout()
savefig(fig, SLUG, "mixed_term_vs_lambda")
plt.show()

# %% [markdown]
# ## Zero-shot retrieval with and without Metrix
# Train on one set of classes, retrieve among **unseen** classes. For a given seed every arm starts
# from the same weights and sees the same batches; only the loss changes. Arms:
# - `contrastive`: Euclidean on unit vectors, margins 0 / 0.5 (official), AvgNonZero;
#   `contrastive_metrix`: + 0.4 × Metrix/embed (pos-neg);
# - `ms`: MS with its miner (α 2, β 40, λ 0.5, ε 0.1); `ms_metrix`: + 0.4 × Metrix/embed (pos-neg;
#   the miner acts on the clean term only, our choice);
# - optional (`arms` knob; in the paper profile): `ms_metrix_feature` (mix backbone features after
#   global pooling: exactly a mix of the un-normalised embeddings, since the head is affine) and
#   `ms_metrix_input` (mix images with each anchor's hardest negative, one extra forward pass).
#
# Utilization is computed after training from the test and training embeddings of each run.

# %%
if P.dataset == "glyphs":
    from mlcompanion.data import load_glyphs
    from mlcompanion.models import EmbeddingNet, SmallConvNet

    glyphs = load_glyphs(n_train_classes=64, n_test_classes=64, n_augments=2, image_size=P.crop, seed=P.seed)
    train_set = TensorDataset(glyphs.train.images, glyphs.train.labels)
    test_set = TensorDataset(glyphs.test.images, glyphs.test.labels)
    train_labels = glyphs.train.labels

    def build_model():
        return EmbeddingNet(SmallConvNet(in_channels=1, embedding_dim=P.embedding_dim), P.embedding_dim)

    print(f"glyphs: {len(train_set)} train images of {len(glyphs.train.classes)} classes, "
          f"{len(test_set)} test images of {len(glyphs.test.classes)} unseen classes")
else:
    from mlcompanion.data import EvalTransform, TrainTransform, open_dataset
    from mlcompanion.models import EmbeddingNet, load_backbone_weights, resnet50

    train_set = open_dataset(P.dataset, P.data_root, "train", transform=TrainTransform(resize=P.resize, crop=P.crop, seed=P.seed))
    test_set = open_dataset(P.dataset, P.data_root, "test", transform=EvalTransform(resize=P.resize, crop=P.crop))
    train_eval_set = open_dataset(P.dataset, P.data_root, "train", transform=EvalTransform(resize=P.resize, crop=P.crop))
    train_labels = train_set.labels

    def build_model():
        backbone = load_backbone_weights(resnet50(num_classes=None), Path(P.backbone_weights).expanduser())
        return EmbeddingNet(backbone, P.embedding_dim)

    print(f"{P.dataset}: {len(train_set)} train images ({train_set.num_classes} classes), "
          f"{len(test_set)} test images ({test_set.num_classes} unseen classes)")

trained_models = []  # run_arms builds one model per (arm, seed), in that order; keep them for utilization


def make_model():
    model = build_model()
    trained_models.append(model)
    return model

# %%
def metrix(base, level="embedding"):
    return MetrixLoss(base, w=P.metrix_weight, beta_ab=2.0, pairing=P.metrix_pairing, level=level)


def contrastive_base():
    return ContrastiveLoss(pos_margin=0.0, neg_margin=0.5, distance=EuclideanDistance(normalize=True))


ARM_LOSSES = {
    "contrastive": contrastive_base,
    "contrastive_metrix": lambda: metrix(contrastive_base()),
    "ms": MultiSimilarityLoss,
    "ms_metrix": lambda: metrix(MultiSimilarityLoss()),
    "ms_metrix_feature": lambda: metrix(MultiSimilarityLoss(), level="feature"),
    "ms_metrix_input": lambda: metrix(MultiSimilarityLoss(), level="input"),
}

cfg = TrainConfig(iterations=P.iterations, classes_per_batch=P.classes_per_batch,
                  samples_per_class=P.samples_per_class, lr=P.lr, weight_decay=P.weight_decay,
                  lr_milestones=tuple(P.lr_milestones), lr_gamma=P.lr_gamma, device=P.device,
                  num_workers=P.num_workers)
seeds = [P.seed + k for k in range(P.n_seeds)]
runs, train_results = run_arms({a: ARM_LOSSES[a] for a in P.arms}, make_model, train_set, train_labels,
                               test_set, cfg, seeds)
train_for_util = train_set if P.dataset == "glyphs" else train_eval_set
util = []
for (arm, s), model in zip(zip(runs["arm"], runs["seed"]), trained_models):
    train_emb, _ = embed(model, train_for_util, device=P.device)
    test_emb, _ = embed(model, test_set, device=P.device)
    util.append(utilization(test_emb, train_emb))
runs["utilization"] = util

# %% [markdown]
# ## Results

# %%
METRICS = ["R@1", "R@2", "R@4", "R@8", "map_at_r"]
summary = summarize_runs(runs, METRICS + ["utilization"])
table = format_mean_std(summary[[(st, m) for st in ("mean", "std") for m in METRICS]])
table.columns = ["R@1 (%)", "R@2 (%)", "R@4 (%)", "R@8 (%)", "MAP@R (%)"]
table["utilization"] = format_mean_std(summary[[("mean", "utilization"), ("std", "utilization")]], scale=1.0, digits=3)
table

# %%
fig, (ax_r, ax_u, ax_loss) = plt.subplots(1, 3, figsize=(14, 3.8))
x_pos = np.arange(len(P.arms))
colors = [PALETTE[k % len(PALETTE)] for k in range(len(P.arms))]
ax_r.bar(x_pos, 100 * summary["mean"]["R@1"], yerr=100 * summary["std"]["R@1"], capsize=3, color=colors)
ax_r.set_ylim(max(0, 100 * float(summary["mean"]["R@1"].min()) - 10), 100 * float(summary["mean"]["R@1"].max()) + 4)
ax_r.set_ylabel("Recall@1 on unseen classes (%)")
ax_r.set_title(f"R@1, mean ± std over {len(seeds)} seed(s)")
ax_u.bar(x_pos, summary["mean"]["utilization"], yerr=summary["std"]["utilization"], capsize=3, color=colors)
ax_u.set_ylabel("utilization: mean squared distance\ntest → nearest train embedding")
ax_u.set_title("utilization (lower = test falls in explored regions)")
for ax in (ax_r, ax_u):
    ax.set_xticks(x_pos, P.arms, rotation=25, ha="right")
for a, arm in enumerate(P.arms):
    losses = np.mean([train_results[(arm, s)].losses for s in seeds], axis=0)
    ax_loss.plot(np.arange(1, len(losses) + 1), losses, label=arm, color=colors[a])
ax_loss.set_xlabel("iteration")
ax_loss.set_ylabel("training loss (clean + w × mixed)")
ax_loss.set_title("training curves (mean over seeds)")
ax_loss.legend(fontsize=8)
fig.tight_layout()
savefig(fig, SLUG, "retrieval_utilization")
plt.show()

# %% [markdown]
# ## Paper vs ours
# The paper's R@1 (%), ResNet-50, 512-d, from the official README's results table, which repeats the
# paper's main R@K table (its table number was not verified against the PDF). "Metrix (feature)" is
# the paper's best variant; our `*_metrix` arms are Metrix/embed. The paper's utilization values
# were not retrieved, so none is printed as the paper's. Ours are glyph classes at ci scale: absolute
# numbers are not comparable, the *gain* (Metrix − base) is what we test.

# %%
paper = pd.DataFrame(
    {"CUB": [64.7, 66.4, 67.4, 67.8, 70.2, 71.4], "Cars": [81.6, 83.9, 85.1, 87.8, 88.8, 89.6],
     "SOP": [74.9, 76.7, 77.5, 76.9, 78.5, 81.0], "In-Shop": [86.4, 88.4, 89.1, 90.1, 91.9, 92.2]},
    index=["Contrastive", "+ Metrix/embed", "+ Metrix (feature)", "MS", "+ Metrix/embed", "+ Metrix (feature)"],
)
paper.index = [f"paper (README = main table): {r}" for r in paper.index]
ours = pd.DataFrame({
    f"ours ({P.profile}, {P.dataset}) R@1": (100 * summary["mean"]["R@1"]).round(1),
    "MAP@R": (100 * summary["mean"]["map_at_r"]).round(1),
    "utilization": summary["mean"]["utilization"].round(3),
})
def our_gain(base_arm):
    metrix_arm = f"{base_arm}_metrix"
    if not {base_arm, metrix_arm} <= set(P.arms):
        return np.nan
    return 100 * (summary.loc[metrix_arm, ("mean", "R@1")] - summary.loc[base_arm, ("mean", "R@1")])


gains = pd.DataFrame({
    "paper CUB gain (R@1 points)": {"contrastive -> + Metrix/embed": 66.4 - 64.7, "MS -> + Metrix/embed": 70.2 - 67.8},
    f"ours, {P.dataset} (R@1 points)": {"contrastive -> + Metrix/embed": our_gain("contrastive"),
                                      "MS -> + Metrix/embed": our_gain("ms")},
}).round(1)
print(paper.to_string())
print()
print(ours.to_string())
print()
gains

# %% [markdown]
# ## Claim check

# %%
assert np.isfinite(runs[METRICS + ["utilization"]].to_numpy()).all()
assert ((runs[METRICS] >= 0) & (runs[METRICS] <= 1)).all().all()
assert ((runs["utilization"] >= 0) & (runs["utilization"] <= 4)).all()
for result in train_results.values():
    assert np.isfinite(result.losses).all()
if P.dataset == "glyphs" and P.iterations >= 50:
    # raw-pixel nearest neighbour on the same test classes gives R@1 = 0.561 (brief); trained nets must beat it
    assert (runs["R@1"] > 0.561).all(), runs[["arm", "seed", "R@1"]]

# The claim, per base loss: Metrix raises mean R@1 on unseen classes AND lowers mean utilization.
pairs = [(b, f"{b}_metrix") for b in ("contrastive", "ms") if {b, f"{b}_metrix"} <= set(P.arms)]
checks = {}
for base_arm, metrix_arm in pairs:
    r1 = compare_arms(runs, metrix_arm, base_arm, "R@1")
    ut = compare_arms(runs, base_arm, metrix_arm, "utilization")  # positive gap = Metrix lower
    checks[base_arm] = {"r1": r1, "util": ut, "r1_up": r1["gap"] >= 0, "util_down": ut["gap"] > 0}
    print(f"{base_arm:12s}: R@1 gap {100 * r1['gap']:+.1f} points (larger seed std {100 * r1['spread']:.1f}, "
          f"Metrix wins {r1['wins']}/{r1['seeds']} seeds); utilization "
          f"{summary.loc[base_arm, ('mean', 'utilization')]:.3f} -> {summary.loc[metrix_arm, ('mean', 'utilization')]:.3f} "
          f"(lower on {ut['wins']}/{ut['seeds']} seeds)")

# R@1 is the paper's headline claim; utilization is its explanation. A utilization drop counts only
# when it holds on every seed (the seed-to-seed spread of utilization is as large as the gaps).
for c in checks.values():
    c["util_clear"] = c["util_down"] and c["util"]["wins"] == c["util"]["seeds"]
r1_all = bool(checks) and all(c["r1_up"] for c in checks.values())
util_all = bool(checks) and all(c["util_clear"] for c in checks.values())
if r1_all and util_all:
    verdict = "reproduced"
elif any(c["r1_up"] for c in checks.values()) or util_all:
    verdict = "partly reproduced"
else:
    verdict = "not reproduced at this scale"
explanation = "; ".join(
    f"{b}: Metrix/embed {'raises' if c['r1_up'] else 'lowers'} mean R@1 ({100 * c['r1']['gap']:+.1f} points, "
    f"larger seed std {100 * c['r1']['spread']:.1f}, higher on {c['r1']['wins']}/{c['r1']['seeds']} seeds) and "
    f"{'lowers utilization on every seed' if c['util_clear'] else 'does not lower utilization consistently'}"
    for b, c in checks.items()
) + (f" ({P.iterations} iterations, {len(seeds)} seeds, {P.dataset}, pos-neg pairing)." if checks else "no base/Metrix pair was run.")
print(f"verdict: {verdict}. {explanation}")

# %% [markdown]
# **Reading the verdict.** The rule: *reproduced* when, for every base loss, Metrix raises mean R@1
# and lowers utilization on every seed; *partly* when R@1 rises for some base loss, or utilization
# falls consistently for all; otherwise *not reproduced at this scale*.
#
# What we learn at ci scale: the mixed term is not free. With weight 0.4 on 3 × 60 mixes per anchor,
# it takes part of every gradient step away from the clean objective that R@1 measures; within a
# budget of 50 iterations on a small CNN trained from scratch that acts as a brake rather than as a
# regulariser, and R@1 drops for both base losses. Runs with a longer budget (`-p iterations 150`)
# are the natural next check; in our pilots they narrowed the gap without reversing it, while
# utilization fell more clearly. The paper's gains come from ImageNet-pretrained ResNet-50 on natural
# images trained for 60+ epochs, where the best variant mixes *features*; 64-d embeddings of 64
# glyph classes leave little unexplored space for mixup to fill. The `paper` profile (optionally
# with `ms_metrix_feature` and `ms_metrix_input`) tests the claim at its own scale.

# %%
summary_numbers = {f"{arm} R@1": float(summary.loc[arm, ("mean", "R@1")]) for arm in P.arms}
summary_numbers.update({f"{arm} MAP@R": float(summary.loc[arm, ("mean", "map_at_r")]) for arm in P.arms})
summary_numbers.update({f"{arm} utilization": float(summary.loc[arm, ("mean", "utilization")]) for arm in P.arms})
result_file = write_result(
    SLUG,
    title="It Takes Two to Tango: Mixup for Deep Metric Learning (Metrix, ICLR 2022)",
    claim="Mixing examples and their interpolated labels inside a pair loss (Metrix) raises unseen-class R@1 "
          "over the same loss without mixup and lowers utilization.",
    verdict=verdict,
    explanation=explanation,
    ours=summary_numbers,
    paper={"contrastive R@1 (CUB)": 0.647, "contrastive + Metrix/embed R@1 (CUB)": 0.664,
           "ms R@1 (CUB)": 0.678, "ms + Metrix/embed R@1 (CUB)": 0.702},
    profile=P.profile,
)

# %%
# NBVAL_CHECK_OUTPUT
print(f"toy MS mixed term (pos-neg, lam 0.5): {toy['MS mixed term, pos-neg, lam 0.5']:.6f}; "
      f"anchor-neg with the official exclusion: {toy['MS mixed term, anchor-neg (official: anchors without positives)']:.6f}")
for arm in P.arms:
    print(f"{arm:20s} R@1 {summary.loc[arm, ('mean', 'R@1')]:.3f} ± {summary.loc[arm, ('std', 'R@1')]:.3f}"
          f"   MAP@R {summary.loc[arm, ('mean', 'map_at_r')]:.3f}"
          f"   utilization {summary.loc[arm, ('mean', 'utilization')]:.3f}")
print(f"verdict: {verdict}")
