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
# reports that Metrix lowers it, over the whole of training (test examples land in regions explored
# during training).
#
# This notebook shows
# 1. **exactly, without training**: the mixed loss on a toy batch, how it varies with λ, and that
#    the official anchor-negative branch is empty under class-balanced batches;
# 2. **by training to convergence**: R@1/2/4/8, MAP@R and utilization on *unseen* glyph classes for
#    MS with and without Metrix (embedding level), same network and batches, each run stopped at the
#    plateau of its validation MAP@R on held-out *training* classes, 3 paired seeds, with
#    utilization tracked over training;
# 3. a verdict computed from criteria registered before training (`mlcompanion.verdict`).
#
# | profile | data | hardware | wall time |
# |---|---|---|---|
# | `ci` (default) | font glyphs rendered from matplotlib's fonts, 48 train + 16 validation / 64 test classes | 1 CPU thread | about 3-4 minutes |
# | `paper` | CUB-200-2011, Cars196 or SOP from `data_root` (zero-shot class split, a fifth of the training classes held out for validation) | 1 GPU | estimate (not measured): CUB / Cars 10-30 min per run, SOP 1-2 h; 6 arms × 3 seeds on CUB ≈ 3-9 GPU-hours |

# %% tags=["parameters"]
profile = "ci"
device = "cpu"
data_root = None
seed = 0
# Knobs: None means "the profile's value" (see PROFILES below).
dataset = None
iterations = None
eval_every = None
plateau_tol = None
min_iterations = None
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
# images, Adam with the learning rate ×`lr_gamma` at each of `lr_milestones`; `iterations` is a cap:
# every run validates every `eval_every` iterations (MAP@R on held-out training classes) and stops
# once (after `min_iterations`) the last quarter of its validation curve gains no more than
# `plateau_tol`. `paper` follows the official README/code where the shared trainer allows:
# ImageNet ResNet-50 (read from a local weights file) → Linear(512) → L2, batches of 100, Adam
# lr 1e-4 with weight decay 1e-4, about 60 epochs (CUB: 5,864 training images → ~3,500 iterations)
# with the learning rate ×0.5 every 5 epochs (the MS schedule; the official contrastive runs use
# ×0.1 every 10), Metrix weight 0.4, λ ~ Beta(2, 2), 3 seeds.
#
# Deviations from the official protocol, all forced by the shared trainer (`mlcompanion.train`):
# class-balanced batches (20 classes × 5) instead of random batches on CUB/Cars, no 5-epoch warm-up
# of the embedding layer, no frozen BatchNorm, no gradient clipping (official: by value 10), one
# learning-rate schedule for all arms, GAP only (official: GAP + GMP), and a fifth of the training
# classes held out for validation. In-Shop needs a query/gallery evaluation and a loader that
# `mlcompanion.data` does not have yet: not covered.
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
    "ci": dict(dataset="glyphs", iterations=480, eval_every=40, plateau_tol=0.005, min_iterations=300, n_seeds=3,
               arms=["ms", "ms_metrix"], embedding_dim=64, classes_per_batch=16, samples_per_class=4, lr=1e-3,
               weight_decay=0.0, lr_milestones=[200, 300], lr_gamma=0.1, metrix_weight=0.4,
               metrix_pairing="pos_neg", resize=32, crop=32, backbone_weights="", num_workers=0),
    "paper": dict(dataset="cub200", iterations=3500, eval_every=290, plateau_tol=0.005, min_iterations=2900,
                  n_seeds=3, arms=list(ALL_ARMS), embedding_dim=512, classes_per_batch=20, samples_per_class=5,
                  lr=1e-4, weight_decay=1e-4, lr_milestones=[290 * k for k in range(1, 12)], lr_gamma=0.5,
                  metrix_weight=0.4, metrix_pairing="pos_neg", resize=256, crop=224,
                  backbone_weights="~/.cache/torch/hub/checkpoints/resnet50-11ad3fa6.pth", num_workers=8),
}
# One run's wall time per profile as the profile table states it (upper end, hours) and its GPUs:
# `python -m mlcompanion.pipeline sweep` sets each job's time limit from it.
COSTS = {"ci": {"hours": 0.07, "gpus": 0}, "paper": {"hours": 9, "gpus": 1}}
P = resolve_profile(
    PROFILES, profile, device=device, data_root=data_root, seed=seed, namespace=globals(),
    dataset=dataset, iterations=iterations, eval_every=eval_every, plateau_tol=plateau_tol,
    min_iterations=min_iterations, n_seeds=n_seeds, arms=arms, embedding_dim=embedding_dim,
    classes_per_batch=classes_per_batch, samples_per_class=samples_per_class, lr=lr,
    weight_decay=weight_decay, lr_milestones=lr_milestones, lr_gamma=lr_gamma, metrix_weight=metrix_weight,
    metrix_pairing=metrix_pairing, resize=resize, crop=crop, backbone_weights=backbone_weights,
    num_workers=num_workers,
)
unknown_arms = sorted(set(P.arms) - set(ALL_ARMS))
if unknown_arms or not {"ms", "ms_metrix"} <= set(P.arms):
    raise ValueError(f"arms must be a subset of {ALL_ARMS} holding 'ms' and 'ms_metrix' (the headline pair), got {P.arms}")
if P.dataset not in DATASETS:
    raise ValueError(f"dataset must be one of {DATASETS}, got {P.dataset!r}")
if (P.profile == "ci") != (P.dataset == "glyphs"):
    raise ValueError(f"the ci profile trains on glyphs, the paper profile on a benchmark; got {P.profile!r} with {P.dataset!r}")
if P.metrix_pairing not in PAIRINGS:
    raise ValueError(f"metrix_pairing must be one of {PAIRINGS}, got {P.metrix_pairing!r}")
if P.profile == "paper":
    from mlcompanion.setups import check_paper_inputs

    check_paper_inputs(P, P.dataset)  # stops here, naming the dataset layout or the weights file, if absent

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import Markdown, display

from mlcompanion.distances import EuclideanDistance
from mlcompanion.experiments import format_mean_std, run_arms, summarize_runs
from mlcompanion.gallery import paper_row, write_result
from mlcompanion.losses import ContrastiveLoss, MultiSimilarityLoss
from mlcompanion.losses.mixup import MetrixLoss, metrix_mixed_term, mix_pairs
from mlcompanion.metrics.embedding_utilization import utilization
from mlcompanion.plotting import PALETTE, savefig, use_style
from mlcompanion.repro import make_deterministic
from mlcompanion.setups import retrieval_setup
from mlcompanion.train import TrainConfig, embed, evaluate_retrieval
from mlcompanion.convergence_report import convergence_sentence, plot_validation_curves
from mlcompanion.verdict import Criterion, arm_convergence, convergence_table, register_criteria

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
# `mlcompanion.metrics.embedding_utilization.utilization(test_emb, train_emb)`
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
fig, axes = plt.subplots(1, 2, figsize=(8.8, 3.4))
for ax, loss_name in zip(axes, ("MS", "contrastive")):
    for k, pairing in enumerate(("pos-neg", "anchor-neg")):
        ax.plot(lams, sweep[(loss_name, pairing)], label=pairing, color=PALETTE[k])
    ax.set_xlabel("mixing factor λ (= positivity v of the mix)")
    ax.set_ylabel("mixed term (loss units)")
    ax.set_title(f"{loss_name}: mixed term, toy batch")
    ax.legend()
fig.tight_layout()
savefig(fig, SLUG, "mixed_term_vs_lambda", caption=(
    "The Metrix mixed term (in the loss's own units) on the toy batch against the mixing factor λ, for the MS "
    "loss (left) and the contrastive loss (right); one line per way of pairing the mixed embedding "
    "(positive with negative, or anchor with negative)."))
plt.show()

# %% [markdown]
# ## Zero-shot retrieval with and without Metrix, trained to convergence
# Train on one set of classes, retrieve among **unseen** classes. For a given seed every arm starts
# from the same weights and sees the same batches; only the loss changes. Arms:
# - `ms`: MS with its miner (α 2, β 40, λ 0.5, ε 0.1); `ms_metrix`: + `metrix_weight` × Metrix/embed
#   (pos-neg; the miner acts on the clean term only, our choice);
# - optional (`arms` knob; in the paper profile): `contrastive` (Euclidean on unit vectors, margins
#   0 / 0.5, official) and `contrastive_metrix`; `ms_metrix_feature` (mix backbone features after
#   global pooling: exactly a mix of the un-normalised embeddings, since the head is affine) and
#   `ms_metrix_input` (mix images with each anchor's hardest negative, one extra forward pass).
#
# Every run validates on classes held out from the *training* classes (MAP@R; never the test
# classes) and stops at the plateau of that curve or at the cap. At each validation point it also
# measures utilization (test embeddings against training embeddings), for the paper's
# utilization-over-training figure; that measurement never decides anything during training. It is
# stored on the model and read back, with the trained model, through `run_arms(keep_models=True)`.
#
# ### Criteria, registered before training
# The brief's rule, as two headline criteria on the paired seeds: Metrix's R@1 on the unseen classes
# is **not lower** than the base loss's (the paired gap clearly above minus one point: a
# non-inferiority test), **and** its utilization is **lower** (the paired gap clearly below zero by
# more than the minimum effect). That Metrix *raises* R@1, as the paper's table shows, is a
# secondary criterion; so are the contrastive pair and the feature-level variant when they are run.

# %%
registered = [
    Criterion("ms_metrix_r1_not_lower", "MS + Metrix/embed R@1 not more than 1 point below MS R@1", metric="R@1",
              method="ms_metrix", baseline="ms", threshold=-0.01),
    Criterion("ms_metrix_lowers_utilization", "MS + Metrix/embed utilization below MS utilization",
              metric="utilization", method="ms_metrix", baseline="ms", direction="below", min_effect=0.005),
    Criterion("ms_metrix_raises_r1", "MS + Metrix/embed R@1 above MS R@1", metric="R@1", method="ms_metrix",
              baseline="ms", min_effect=0.005, role="secondary"),
]
if {"contrastive", "contrastive_metrix"} <= set(P.arms):
    registered += [
        Criterion("contrastive_metrix_r1_not_lower", "contrastive + Metrix/embed R@1 not more than 1 point below "
                  "contrastive R@1", metric="R@1", method="contrastive_metrix", baseline="contrastive",
                  threshold=-0.01, role="secondary"),
        Criterion("contrastive_metrix_lowers_utilization", "contrastive + Metrix/embed utilization below contrastive",
                  metric="utilization", method="contrastive_metrix", baseline="contrastive", direction="below",
                  min_effect=0.005, role="secondary"),
    ]
if "ms_metrix_feature" in P.arms:
    registered.append(Criterion("ms_metrix_feature_raises_r1", "MS + Metrix (feature) R@1 above MS R@1", metric="R@1",
                                method="ms_metrix_feature", baseline="ms", min_effect=0.005, role="secondary"))
criteria = register_criteria(registered)
criteria.registered_table()

# %%
S = retrieval_setup(P, dataset=P.dataset)
print(S.description)


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


def model_utilization(model):
    """Utilization of the test set against the training set (no augmentation) for one model."""
    test_emb, _ = embed(model, S.test_set, device=P.device, num_workers=P.num_workers)
    train_emb, _ = embed(model, S.train_eval_set, device=P.device, num_workers=P.num_workers)
    return utilization(test_emb, train_emb)


def validate(model):
    """Validation MAP@R on the held-out training classes (decides the plateau). Also appends the
    model's utilization at this point to ``model.utilization_curve`` (read back via keep_models)."""
    value = evaluate_retrieval(model, S.val_set, ks=(1,), device=P.device)["map_at_r"]
    if not hasattr(model, "utilization_curve"):
        model.utilization_curve = []
    model.utilization_curve.append(model_utilization(model))
    return value


cfg = TrainConfig(iterations=P.iterations, classes_per_batch=P.classes_per_batch,
                  samples_per_class=P.samples_per_class, lr=P.lr, weight_decay=P.weight_decay,
                  lr_milestones=tuple(P.lr_milestones), lr_gamma=P.lr_gamma, device=P.device,
                  num_workers=P.num_workers, eval_every=P.eval_every, plateau_tol=P.plateau_tol,
                  min_iterations=P.min_iterations)
seeds = [P.seed + k for k in range(P.n_seeds)]
runs, train_results = run_arms({a: ARM_LOSSES[a] for a in P.arms}, S.make_model, S.train_set, S.train_labels,
                               S.test_set, cfg, seeds, validate=validate, keep_models=True)
runs["utilization"] = [model_utilization(train_results[(arm, s)].model) for arm, s in zip(runs["arm"], runs["seed"])]

# %% [markdown]
# ## Did every arm converge?
# One row per run: iterations run, why it stopped (`plateau` or `cap`), the best validation MAP@R,
# and how much the last quarter of the validation curve improved on the best value before it.
# A run has converged when that gain is at most the plateau tolerance.

# %%
conv = convergence_table(train_results, P.plateau_tol)
converged = arm_convergence(conv)
display(conv.round(4))
display(Markdown(convergence_sentence(conv, converged, P.plateau_tol, P.iterations)))

# %% [markdown]
# ## Results
# Test metrics on the unseen classes, mean ± std over seeds (recalls and MAP@R in %), utilization
# (mean squared distance from a test embedding to its nearest training embedding, unit vectors,
# so between 0 and 4), and the mean number of iterations each arm ran before its plateau.

# %%
METRICS = ["R@1", "R@2", "R@4", "R@8", "map_at_r"]
summary = summarize_runs(runs, METRICS + ["utilization", "iterations"])
table = format_mean_std(summary[[(st, m) for st in ("mean", "std") for m in METRICS]])
table.columns = ["R@1 (%)", "R@2 (%)", "R@4 (%)", "R@8 (%)", "MAP@R (%)"]
table["utilization"] = format_mean_std(summary[[("mean", "utilization"), ("std", "utilization")]], scale=1.0, digits=3)
table["iterations"] = summary["mean"]["iterations"].round(0).astype(int)
table

# %% [markdown]
# **Reading the figures.** First figure: R@1 on unseen classes (top left), utilization (top right;
# lower = test embeddings lie closer to training embeddings), and (bottom) every run's validation
# MAP@R on the held-out training classes (one thin line per seed; it decided when the run stopped).
# Second figure: utilization over training, one line per seed, as in the paper's utilization plot.

# %%
colors = {arm: PALETTE[k % len(PALETTE)] for k, arm in enumerate(P.arms)}
fig, axd = plt.subplot_mosaic([["r", "u"], ["val", "val"]], figsize=(8.8, 7.4))
ax_r, ax_u, ax_val = axd["r"], axd["u"], axd["val"]
x_pos = np.arange(len(P.arms))
ax_r.bar(x_pos, 100 * summary["mean"]["R@1"], yerr=100 * summary["std"]["R@1"], capsize=3,
         color=[colors[a] for a in P.arms])
ax_r.set_ylim(max(0, 100 * float(summary["mean"]["R@1"].min()) - 10), min(100, 100 * float(summary["mean"]["R@1"].max()) + 4))
ax_r.set_ylabel("Recall@1 on unseen classes (%)")
ax_r.set_title(f"R@1, mean ± std over {len(seeds)} seed(s)")
ax_u.bar(x_pos, summary["mean"]["utilization"], yerr=summary["std"]["utilization"], capsize=3,
         color=[colors[a] for a in P.arms])
ax_u.set_ylabel("utilization: mean squared distance\ntest → nearest train embedding")
ax_u.set_title("utilization (lower = closer to train)")
for ax in (ax_r, ax_u):
    ax.set_xticks(x_pos, P.arms, rotation=25, ha="right")
plot_validation_curves(ax_val, train_results, P.arms, seeds, colors)
fig.tight_layout()
savefig(fig, SLUG, "retrieval_utilization", caption=(
    f"Top left: Recall@1 (%) on the unseen test classes per arm; the axis does not start at zero. Top right: "
    "utilization, the mean squared distance from each test embedding to its nearest training embedding. Bars "
    f"are the mean over {len(seeds)} seed(s), error bars ± one standard deviation. Bottom: validation MAP@R on "
    "held-out training classes against iteration, one line per seed, one colour per arm."))
plt.show()

fig, ax = plt.subplots(figsize=(6.5, 3.8))
for arm in P.arms:
    for k, s in enumerate(seeds):
        result = train_results[(arm, s)]
        steps = [step for step, _ in result.curve]
        ax.plot(steps, result.model.utilization_curve, "o-" if len(steps) < 3 else "-", lw=1, ms=3,
                color=colors[arm], label=arm if k == 0 else None)
ax.set_xlabel("iteration")
ax.set_ylabel("utilization (test → nearest train)")
ax.set_title("utilization over training (one line per seed)")
ax.legend()
fig.tight_layout()
savefig(fig, SLUG, "utilization_over_training", caption=(
    "Utilization (mean squared distance from each test embedding to its nearest training embedding) at each "
    "validation point against training iteration, one line per seed, one colour per arm."))
plt.show()

# %% [markdown]
# ## Claim check
# The registered criteria, judged on the paired seeds, and the verdict of the shared rule.

# %%
assert np.isfinite(runs[METRICS + ["utilization"]].to_numpy()).all()
assert ((runs[METRICS] >= 0) & (runs[METRICS] <= 1)).all().all()
assert ((runs["utilization"] >= 0) & (runs["utilization"] <= 4)).all()
for result in train_results.values():
    assert np.isfinite(result.losses).all()
if P.dataset == "glyphs" and P.iterations >= 50:
    # raw-pixel nearest neighbour on the same test classes gives R@1 = 0.561 (brief); trained nets must beat it
    assert (runs["R@1"] > 0.561).all(), runs[["arm", "seed", "R@1"]]

criteria.evaluate_runs(runs)
verdict = criteria.verdict(converged)
display(criteria.table(scale=100, digits=2))


def criterion_sentence(c):
    if c.metric == "utilization":
        return criteria.sentence(c.name, scale=1.0, unit="", digits=4)
    return criteria.sentence(c.name)


display(Markdown("\n".join(f"- {criterion_sentence(c)}" for c in criteria) + f"\n\n**Verdict: {verdict}.**"
                 + "\n\n(Values in the table above are ×100: R@1 in points, utilization ×100.)"))

# %% [markdown]
# ## Paper vs ours
# One row per quantity. The paper's R@1 values (ResNet-50, 512-d) are from the official README's
# results table, which repeats the paper's main R@K table (its table number was not verified against
# the PDF); the gains are differences of those rows. The paper's utilization values were not
# retrieved: its rows give only the direction the paper reports. In `ci` the data are glyphs: only
# the *ordering* (the sign of the gain) is compared, never the values.

# %%
PAPER_R1 = {  # official README (billpsomas/Metrix_ICLR22) = the paper's main table; R@1 %, ResNet-50, 512-d
    "cub200": {"contrastive": 64.7, "contrastive_metrix": 66.4, "ms": 67.8, "ms_metrix": 70.2, "ms_metrix_feature": 71.4,
               "ms_metrix_input": 69.0},
    "cars196": {"contrastive": 81.6, "contrastive_metrix": 83.9, "ms": 87.8, "ms_metrix": 88.8, "ms_metrix_feature": 89.6,
                "ms_metrix_input": 89.0},
    "sop": {"contrastive": 74.9, "contrastive_metrix": 76.7, "ms": 76.9, "ms_metrix": 78.5, "ms_metrix_feature": 81.0,
            "ms_metrix_input": 77.9},
}
ARM_TITLES = {"contrastive": "contrastive", "contrastive_metrix": "contrastive + Metrix/embed", "ms": "MS",
              "ms_metrix": "MS + Metrix/embed", "ms_metrix_feature": "MS + Metrix (feature)",
              "ms_metrix_input": "MS + Metrix/input"}
paper_data = "cub200" if P.dataset == "glyphs" else P.dataset
paper_setting = f"{paper_data}, ResNet-50, 512-d"
source = "official README (Metrix_ICLR22) = paper's main table"
ours_setting = (f"{'glyphs, SmallConvNet' if P.dataset == 'glyphs' else P.dataset + ', ResNet-50'}, "
                f"{P.embedding_dim}-d, {len(seeds)} seeds")
as_what = "ordering" if P.dataset == "glyphs" else "value"
rows = [paper_row(f"{ARM_TITLES[arm]} R@1 (%)", paper=PAPER_R1[paper_data][arm], paper_setting=paper_setting,
                  source=source, ours=round(100 * float(summary.loc[arm, ("mean", "R@1")]), 1),
                  ours_setting=ours_setting, comparable_as=as_what) for arm in P.arms]
for method in ("ms_metrix", "contrastive_metrix", "ms_metrix_feature", "ms_metrix_input"):
    base = "contrastive" if method.startswith("contrastive") else "ms"
    if not {method, base} <= set(P.arms):
        continue
    gap = runs[runs.arm == method].set_index("seed")["R@1"] - runs[runs.arm == base].set_index("seed")["R@1"]
    rows.append(paper_row(f"R@1 gain, {ARM_TITLES[method]} − {ARM_TITLES[base]} (points)",
                          paper=round(PAPER_R1[paper_data][method] - PAPER_R1[paper_data][base], 1),
                          paper_setting=paper_setting, source=source + " (difference of two rows)",
                          ours=round(100 * float(gap.mean()), 2), ours_setting=ours_setting + ", paired mean",
                          comparable_as=as_what))
    ugap = (runs[runs.arm == method].set_index("seed")["utilization"]
            - runs[runs.arm == base].set_index("seed")["utilization"])
    rows.append(paper_row(f"utilization, {ARM_TITLES[method]} − {ARM_TITLES[base]}",
                          paper_setting="paper: lower with Metrix (values not retrieved)",
                          ours=round(float(ugap.mean()), 4), ours_setting=ours_setting + ", paired mean",
                          comparable_as="ordering"))
pd.DataFrame(rows)

# %%
summary_numbers = {f"{arm} R@1": float(summary.loc[arm, ("mean", "R@1")]) for arm in P.arms}
summary_numbers.update({f"{arm} MAP@R": float(summary.loc[arm, ("mean", "map_at_r")]) for arm in P.arms})
summary_numbers.update({f"{arm} utilization": float(summary.loc[arm, ("mean", "utilization")]) for arm in P.arms})
budget = {"cap iterations": P.iterations, "eval_every": P.eval_every, "min_iterations": P.min_iterations,
          "plateau_tol": P.plateau_tol, "lr_milestones": list(P.lr_milestones), "seeds": len(seeds),
          "arms": list(P.arms), "iterations run (all runs)": int(runs["iterations"].sum()),
          "train seconds (all runs)": round(float(runs["train_seconds"].sum()), 1)}
explanation = " ".join(criterion_sentence(c) for c in criteria if c.role == "headline") + (
    "" if all(converged.values()) else
    " Not converged: " + ", ".join(a for a, ok in converged.items() if not ok) + ".")
result_file = write_result(
    SLUG,
    title="It Takes Two to Tango: Mixup for Deep Metric Learning (Metrix, ICLR 2022)",
    claim="Mixing examples and their interpolated labels inside a pair loss (Metrix) keeps or raises unseen-class "
          "R@1 over the same loss without mixup and lowers utilization.",
    verdict=verdict,
    explanation=explanation,
    ours=summary_numbers,
    paper={f"{ARM_TITLES[arm]} R@1 ({paper_data})": PAPER_R1[paper_data][arm] / 100 for arm in P.arms},
    profile=P.profile,
    criteria=criteria,
    convergence=converged,
    budget=budget,
    rows=rows,
)

# %%
# NBVAL_CHECK_OUTPUT
print(f"toy MS mixed term (pos-neg, lam 0.5): {toy['MS mixed term, pos-neg, lam 0.5']:.6f}; "
      f"anchor-neg with the official exclusion: {toy['MS mixed term, anchor-neg (official: anchors without positives)']:.6f}")
for arm in P.arms:
    print(f"{arm:20s} R@1 {summary.loc[arm, ('mean', 'R@1')]:.3f} ± {summary.loc[arm, ('std', 'R@1')]:.3f}"
          f"   utilization {summary.loc[arm, ('mean', 'utilization')]:.3f}"
          f"   iterations {int(summary.loc[arm, ('mean', 'iterations')])}   converged {converged[arm]}")
for name, row in criteria.table(scale=100, digits=2).iterrows():
    print(f"{name}: {row['value']:+.2f} ± {row['± s.e.']:.2f} (×100), {row['outcome']}")
print(f"verdict: {verdict}")
