# %% [markdown]
# # Equiangular Basis Vectors
#
# Shen, Sun & Wei, **CVPR 2023**, [arXiv:2303.11637](https://arxiv.org/abs/2303.11637).
# Official code: `NJUST-VIPGroup/Equiangular-Basis-Vectors` (also `aassxun/Equiangular-Basis-Vectors`):
# `Generate_EBV/Generate_EBV.py`, `ImageNet_Validation_Experiment/EBV_ImageNet.py`.
#
# **Claim reproduced here.** Replace the learned k-way fully connected (FC) classifier by a *fixed*
# set of N normalised, nearly orthogonal "equiangular basis vectors" (EBVs) in R^d, train the
# network so that its normalised output is close (softmax over cosines, τ = 0.07) to its class's
# vector, and the accuracy matches or beats the FC classifier on ImageNet-1K; d can be much smaller
# than N with little loss (the paper's ImageNet FC-vs-EBV comparison and its EBV-dimension study;
# numbers below from the official training logs, the PDF's table layout was not retrieved).
#
# This notebook shows
# 1. **exactly, without training**: how nearly orthogonal the generated vectors get as a function
#    of d and N, against the Welch lower bound, and where the official generator **stalls**
#    (vectors merge when N is large for d and the threshold is close to the bound);
# 2. **by training**: test accuracy of EBV (d = N) vs a learned FC head with cross-entropy, same
#    network and budget, 3 seeds, on 128 glyph classes split by *font* (train on 12 fonts, test on
#    4 unseen fonts of the same classes); plus EBV at smaller d and a random fixed classifier;
# 3. the paper's numbers beside ours, and a verdict.
#
# | profile | data | hardware | wall time |
# |---|---|---|---|
# | `ci` (default) | font glyphs, all 128 classes, 24×24, 12 train fonts / 4 test fonts | 1 CPU thread | about 1 minute |
# | `paper` | ImageNet-1K from `data_root` (ImageFolder layout: `train/<wnid>/`, `val/<wnid>/`) | 1 GPU | days per arm (105 epochs of ResNet-50; the official runs used 8 GPUs) |

# %% tags=["parameters"]
profile = "ci"
device = "cpu"
data_root = None
seed = 0
# Knobs: None means "the profile's value" (see PROFILES below).
n_classes = None
image_size = None
test_fonts = None
n_augments = None
width = None
iterations = None
batch_size = None
lr = None
optimizer = None
weight_decay = None
lr_milestones = None
n_seeds = None
sweep_dims = None
ablation_dim = None
temperature = None
label_smoothing = None
gen_classes = None
gen_dims = None
gen_factors = None
gen_steps = None
eval_crop = None
num_workers = None

# %% [markdown]
# ## Profiles
# `ci`: a 3-block CNN (16 channels) on 24×24 glyphs, Adam, 400 iterations of 64 images (lr ×0.1 at
# 300), random affine augmentation of every training batch. `paper`: the official recipe as far as
# `mlcompanion.train` allows: ResNet-50 from scratch, SGD (momentum 0.9, lr 0.5, weight decay 2e-5),
# batch 1024, 105 epochs, label smoothing 0.1, τ = 0.07, N = d = 1000, evaluation at resize 256 /
# crop 256 (the official `EBV_ImageNet.py`; crop 224 is the usual protocol and ≈1 point lower).
# Differences: step decay instead of 5-epoch warm-up + cosine, random-resized-crop + flip instead of
# TrivialAugment + random erasing + mixup/cutmix, last epoch instead of the best epoch on val.

# %%
import sys
from pathlib import Path

sys.path.insert(0, str(Path.cwd().parent))  # the repository root, when run from notebooks/

from mlcompanion.profiles import resolve_profile

IMAGENET_EPOCH = 1_281_167 // 1024  # iterations per epoch at batch 1024
PROFILES = {
    "ci": dict(n_classes=128, image_size=24, test_fonts=[3, 6, 9, 12], n_augments=2, width=16,
               iterations=400, batch_size=64, lr=5e-3, optimizer="adam", weight_decay=0.0,
               lr_milestones=[300], n_seeds=3, sweep_dims=[32, 64], ablation_dim=32, temperature=0.07,
               label_smoothing=0.1, gen_classes=[32, 64, 128, 256], gen_dims=[8, 16, 32, 64, 128],
               gen_factors=[1.1, 1.3, 1.6, 2.0, 2.5], gen_steps=1000, eval_crop=24, num_workers=0),
    "paper": dict(n_classes=1000, image_size=224, test_fonts=[], n_augments=0, width=0,
                  iterations=105 * IMAGENET_EPOCH, batch_size=1024, lr=0.5, optimizer="sgd", weight_decay=2e-5,
                  lr_milestones=[35 * IMAGENET_EPOCH, 70 * IMAGENET_EPOCH, 95 * IMAGENET_EPOCH], n_seeds=1,
                  sweep_dims=[100, 300], ablation_dim=0, temperature=0.07, label_smoothing=0.1,
                  gen_classes=[1000], gen_dims=[100, 300, 1000], gen_factors=[1.2, 1.3, 1.5],
                  gen_steps=20000, eval_crop=256, num_workers=16),
}
P = resolve_profile(
    PROFILES, profile, device=device, data_root=data_root, seed=seed, namespace=globals(),
    n_classes=n_classes, image_size=image_size, test_fonts=test_fonts, n_augments=n_augments, width=width,
    iterations=iterations, batch_size=batch_size, lr=lr, optimizer=optimizer, weight_decay=weight_decay,
    lr_milestones=lr_milestones, n_seeds=n_seeds, sweep_dims=sweep_dims, ablation_dim=ablation_dim,
    temperature=temperature, label_smoothing=label_smoothing, gen_classes=gen_classes, gen_dims=gen_dims,
    gen_factors=gen_factors, gen_steps=gen_steps, eval_crop=eval_crop, num_workers=num_workers,
)
if P.optimizer not in ("adam", "adamw", "sgd"):
    raise ValueError(f"optimizer must be 'adam', 'adamw' or 'sgd', got {P.optimizer!r}")
if any(not 1 <= d < P.n_classes for d in P.sweep_dims) or not 0 <= P.ablation_dim < P.n_classes:
    raise ValueError(f"sweep_dims and ablation_dim must lie in [1, n_classes) (0: no ablation), "
                     f"got {P.sweep_dims} and {P.ablation_dim}")
if P.profile == "ci" and (not P.test_fonts or not set(P.test_fonts) < set(range(16))):
    raise ValueError(f"test_fonts must be a non-empty proper subset of the font indices 0..15, got {P.test_fonts!r}")
if P.profile == "paper":
    from mlcompanion.data.imagenet import check_imagenet_layout

    check_imagenet_layout(P.data_root)  # stops here, naming the dataset and its layout, if absent

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import TensorDataset

from mlcompanion.experiments import compare_arms, format_mean_std, run_classifier_arms, summarize_runs
from mlcompanion.gallery import write_result
from mlcompanion.losses.equiangular import (
    DEFAULT_WELCH_FACTOR,
    EquiangularHead,
    EquiangularLoss,
    generate_equiangular_basis,
    max_abs_cosine,
    random_unit_vectors,
    search_equiangular_basis,
    welch_bound,
)
from mlcompanion.plotting import PALETTE, savefig, use_style
from mlcompanion.repro import make_deterministic
from mlcompanion.train import TrainConfig

SLUG = "equiangular_basis"
make_deterministic(P.seed)
use_style()
pd.set_option("display.precision", 3)

# %% [markdown]
# ## Method
#
# **Generation (Sec. 3.2, `Generate_EBV.py`).** Start from N row-normalised Gaussian vectors
# W ∈ R^{N×d} (seed 42) and run plain gradient descent (SGD, lr 10⁻³, no momentum) on
# $$L(W) = \sum_{i \ne j} \big[\,|\langle w_i, w_j\rangle| - \alpha\,\big]_+ ,$$
# renormalising the rows before every step, until $\max_{i\ne j}|\langle w_i,w_j\rangle| \le \alpha + 10^{-4}$.
# `mlcompanion.losses.equiangular.search_equiangular_basis(N, d, alpha)` (one run, never raises) and
# `generate_equiangular_basis(N, d)` (α = 0.002 as in the official script when N ≤ d, where we take
# an exact orthonormal set instead; α = 1.3 × Welch bound when N > d; restarts; raises if α is not
# reached). The vectors trained with in Part B use the smallest α that Part A reached for (N, d). No set does better than the **Welch bound**
# $\max_{i\ne j}|\cos| \ge \sqrt{(N-d)/(d(N-1))}$ (`welch_bound(N, d)`), so α must exceed it.
#
# **Classifier (eq. 5-6, `EBV_ImageNet.py`).** The network outputs $f(x) \in \mathbb R^d$; with the
# fixed EBVs $w_c$,
# $$\ell(x, y) = \mathrm{CE}_{\varepsilon}\Big(\big[\cos(f(x), w_c)/\tau\big]_{c=1}^N,\ y\Big),\qquad
#   \hat y = \arg\max_c \cos(f(x), w_c),$$
# τ = 0.07, label smoothing ε = 0.1. `EquiangularHead(W, temperature=0.07)` (logits; a buffer, no
# parameter) and `EquiangularLoss(W, temperature=0.07, label_smoothing=0.1)` (the loss on f).
# The FC baseline is the same network with an N-way linear layer and the same cross-entropy.
#
# ### A worked example
# Four EBVs in R³ (α = 0.6, above the Welch bound 1/3: four vectors cannot be orthogonal in R³) and
# two outputs, labelled 0 and 2: one near w₀, one near w₂ pulled toward w₃. Logits are the cosines
# / 0.07, so a lead of a few tenths in cosine already makes the loss small:
# %%
toy_basis = generate_equiangular_basis(4, 3, threshold=0.6, seed=0)
toy_f = torch.stack([toy_basis[0] + 0.1 * toy_basis[1], toy_basis[2] + 0.3 * toy_basis[3]])
toy_y = torch.tensor([0, 2])
toy_head = EquiangularHead(toy_basis)
print(f"Welch bound N=4, d=3: {welch_bound(4, 3):.3f}; max |cos| of the 4 EBVs: {max_abs_cosine(toy_basis):.3f}")
print("cosines to the EBVs:\n", pd.DataFrame(toy_head.cosines(toy_f).numpy()).round(3).to_string())
print("predicted classes:", toy_head.predict(toy_f).tolist())
print(f"EBV loss (tau 0.07, label smoothing 0.1) = {EquiangularLoss(toy_basis)(toy_f, toy_y).item():.4f}; "
      f"without smoothing = {EquiangularLoss(toy_basis, label_smoothing=0.0)(toy_f, toy_y).item():.4f}")

# %% [markdown]
# ## Part A: how orthogonal can N vectors in R^d be made? (no training)
# For each (N, d) we try thresholds α = factor × Welch bound, smallest factor first, each for at
# most `gen_steps` official steps, and keep the first that is reached. A run **stalls** when it
# ends with two vectors merged (max |cos| > 0.99); it is **slow** when it ends below that without
# reaching α. When N ≤ d an orthonormal set is exact (max |cos| = 0).

# %%
gen_rows, histories = [], {}
for n_vec in P.gen_classes:
    for dim in P.gen_dims:
        bound = welch_bound(n_vec, dim)
        start = max_abs_cosine(random_unit_vectors(n_vec, dim, seed=42))
        row = {"N": n_vec, "d": dim, "welch": bound, "random start": start, "stalled at": [], "slow at": []}
        if n_vec <= dim:
            row.update({"EBV max|cos|": max_abs_cosine(generate_equiangular_basis(n_vec, dim)),
                        "factor": 0.0, "steps": 0})
        else:
            row.update({"EBV max|cos|": np.nan, "factor": np.nan, "steps": np.nan})
            for factor in P.gen_factors:
                if factor * bound >= 1:
                    break
                res = search_equiangular_basis(n_vec, dim, factor * bound, max_steps=P.gen_steps, seed=42)
                histories[(n_vec, dim, factor)] = res.history
                if res.converged:
                    row.update({"EBV max|cos|": res.max_abs_cos, "factor": factor, "steps": res.steps})
                    break
                row["stalled at" if res.collapsed else "slow at"].append(factor)
        gen_rows.append(row)
gen = pd.DataFrame(gen_rows)
gen["stalled at"] = gen["stalled at"].map(lambda v: ", ".join(f"{f:g}×" for f in v) or "-")
gen["slow at"] = gen["slow at"].map(lambda v: ", ".join(f"{f:g}×" for f in v) or "-")
gen.round(3)

# %%
fig, (ax_d, ax_map, ax_hist) = plt.subplots(1, 3, figsize=(15, 4.2))
n_ref = 128 if 128 in P.gen_classes else max(P.gen_classes)
sub = gen[gen.N == n_ref]
ax_d.plot(sub.d, sub["random start"], "o-", color=PALETTE[2], label="random unit vectors (the start)")
ax_d.plot(sub.d, sub["EBV max|cos|"], "s-", color=PALETTE[0], label="EBV (smallest α reached)")
ax_d.plot(sub.d, sub.welch, "k--", label="Welch lower bound")
stalled = sub[sub["stalled at"] != "-"]
ax_d.scatter(stalled.d, np.ones(len(stalled)), marker="x", s=80, color=PALETTE[1],
             label=f"a run stalled (vectors merged, max|cos| ≈ 1)")
ax_d.set_xscale("log", base=2)
ax_d.set_xlabel("dimension d")
ax_d.set_ylabel("max pairwise |cos|")
ax_d.set_title(f"N = {n_ref} vectors")
ax_d.set_ylim(-0.03, 1.4)
ax_d.legend(fontsize=7.5, loc="upper center", ncol=2)
grid = gen.pivot(index="N", columns="d", values="EBV max|cos|")
im = ax_map.imshow(grid.to_numpy(), cmap="viridis_r", vmin=0, vmax=1, aspect="auto")
for i, n_vec in enumerate(grid.index):
    for j, dim in enumerate(grid.columns):
        r = gen[(gen.N == n_vec) & (gen.d == dim)].iloc[0]
        label = ("none" if np.isnan(r["EBV max|cos|"]) else "0\n(orth.)" if r["factor"] == 0
                 else f"{r['EBV max|cos|']:.2f}\n({r['factor']:g}×W)")
        ax_map.text(j, i, label, ha="center", va="center", fontsize=7,
                    color="white" if (np.isnan(r["EBV max|cos|"]) or r["EBV max|cos|"] > 0.5) else "black")
ax_map.set_xticks(range(len(grid.columns)), grid.columns)
ax_map.set_yticks(range(len(grid.index)), grid.index)
ax_map.set_xlabel("dimension d")
ax_map.set_ylabel("number of vectors N")
ax_map.set_title("EBV max|cos| reached (threshold as × Welch bound)")
fig.colorbar(im, ax=ax_map, label="max pairwise |cos|")
hist_dims = [d for d in P.gen_dims if any((n_ref, d, f) in histories for f in P.gen_factors)]
n_h, d_h = n_ref, (min(hist_dims) if hist_dims else None)
for k, factor in enumerate(P.gen_factors):
    if (n_h, d_h, factor) in histories:
        h = histories[(n_h, d_h, factor)]
        ax_hist.plot(np.arange(len(h)), h, color=PALETTE[k], label=f"α = {factor:g} × Welch = {factor * welch_bound(n_h, d_h):.2f}")
if d_h is not None:
    ax_hist.axhline(welch_bound(n_h, d_h), color="k", ls="--", lw=1, label="Welch bound")
ax_hist.set_xlabel("generator step")
ax_hist.set_ylabel("max pairwise |cos|")
ax_hist.set_title(f"generator runs, N = {n_h}, d = {d_h}")
ax_hist.legend(fontsize=8)
fig.tight_layout()
savefig(fig, SLUG, "generation")
plt.show()

# %% [markdown]
# Reading the figure: random unit vectors already have a pair at |cos| ≈ 0.6-0.95 once N > d; the
# generator brings the maximum down to 1.3-2× the Welch bound, but only when α leaves room. With α
# close to the bound and a small d, the hinge sum is lowered by *merging* two vectors (|cos| → 1):
# there the hinge's gradient on w_i (±w_j) is parallel to w_i, vanishes once projected on the
# sphere, and the run never leaves (right panel). With d ≥ 32 a tight α is merely slow (not
# reached in `gen_steps`). The smaller d is for a given N, the larger the α actually reachable.

# %% [markdown]
# ## Part B: EBV vs a learned FC classifier
# `ci`: the 128 glyph classes (all characters of the alphabet), each image a character in one of 16
# fonts (2 renders per font); the 12 training fonts are the training set (with a fresh random
# affine augmentation of every batch), the 4 held-out fonts (`test_fonts`) the test set: the same
# classes, drawn differently. Arms (all with the same CNN body, initialisation per seed, batches,
# optimiser, label-smoothed cross-entropy):
# - `fc`: the CNN's last layer is a learned N-way linear classifier (bias included);
# - `ebv d=N`: the last layer outputs d = N numbers, scored against N fixed EBVs (orthonormal here);
# - `ebv d=k` for the smaller `sweep_dims` (1 seed) and `random d=k`: N random fixed unit vectors
#   at `ablation_dim` instead of EBVs (1 seed).

# %%
if P.profile == "ci":
    from mlcompanion.data import augment_batch, load_glyphs
    from mlcompanion.models import SmallConvNet

    glyphs = load_glyphs(n_train_classes=64, n_test_classes=P.n_classes - 64, n_augments=P.n_augments,
                         image_size=P.image_size, seed=P.seed)
    offset = len(glyphs.train.classes)
    images = torch.cat([glyphs.train.images, glyphs.test.images])
    labels = torch.cat([glyphs.train.labels, glyphs.test.labels + offset])
    fonts = torch.cat([glyphs.train.fonts, glyphs.test.fonts])
    class_names = glyphs.train.classes + glyphs.test.classes
    held = torch.isin(fonts, torch.tensor(P.test_fonts))
    train_set = TensorDataset(images[~held], labels[~held])
    test_set = TensorDataset(images[held], labels[held])

    def batch_transform(x, generator):
        return augment_batch(x, generator)

    def make_body(out_dim):
        return SmallConvNet(in_channels=1, embedding_dim=out_dim, width=P.width, image_size=P.image_size)

    print(f"glyphs: {len(train_set)} train images ({16 - len(P.test_fonts)} fonts), {len(test_set)} test images "
          f"({len(P.test_fonts)} held-out fonts: {', '.join(glyphs.font_names[f] for f in P.test_fonts)}), "
          f"{len(class_names)} classes")
    fig, axes = plt.subplots(2, 12, figsize=(12, 2.3))
    for k, ax in enumerate(axes.flat):
        c = 11 * (k % 12)
        pool = (labels == c) & (held if k >= 12 else ~held)
        ax.imshow(images[pool.nonzero()[0, 0], 0], cmap="gray_r")
        ax.set_title(class_names[c], fontsize=9)
        ax.axis("off")
    fig.suptitle("top: a training font; bottom: a held-out test font (same classes)", y=1.04)
    savefig(fig, SLUG, "glyph_samples")
    plt.show()
else:
    from mlcompanion.data import EvalTransform, TrainTransform
    from mlcompanion.data.imagenet import ImageNet1K
    from mlcompanion.models import resnet50

    train_set = ImageNet1K(P.data_root, "train", TrainTransform(resize=256, crop=P.image_size, scale=(0.08, 1.0),
                                                                seed=P.seed), classes=P.n_classes)
    test_set = ImageNet1K(P.data_root, "val", EvalTransform(resize=256, crop=P.eval_crop), classes=P.n_classes)
    batch_transform = None

    def make_body(out_dim):
        return resnet50(num_classes=out_dim)

    print(f"ImageNet: {len(train_set)} train images, {len(test_set)} val images, {train_set.num_classes} classes")

# %%
N = P.n_classes


def ebv_threshold(dim):
    """alpha for N vectors in R^dim: the smallest factor x Welch that Part A reached for (N, dim), else 1.3 x."""
    if dim >= N:
        return 0.002
    row = gen[(gen.N == N) & (gen.d == dim)]
    reached = row["factor"].iloc[0] if len(row) else np.nan
    return (reached if np.isfinite(reached) and reached > 0 else DEFAULT_WELCH_FACTOR) * welch_bound(N, dim)


ebv_thresholds = {d: ebv_threshold(d) for d in sorted({N, *P.sweep_dims} | ({P.ablation_dim} - {0}))}
ebv_bases = {d: generate_equiangular_basis(N, d, threshold=alpha) for d, alpha in ebv_thresholds.items()}
random_bases = {P.ablation_dim: random_unit_vectors(N, P.ablation_dim, seed=42)} if P.ablation_dim else {}
basis_table = pd.DataFrame(
    [{"head": f"EBV d={d}", "d": d, "threshold α": ebv_thresholds[d], "max|cos|": max_abs_cosine(w),
      "Welch bound": welch_bound(N, d)}
     for d, w in sorted(ebv_bases.items())]
    + [{"head": f"random d={d}", "d": d, "threshold α": np.nan, "max|cos|": max_abs_cosine(w),
        "Welch bound": welch_bound(N, d)}
       for d, w in random_bases.items()]
).set_index("head")
basis_table.round(3)


# %%
def fc_arm():
    return make_body(N), nn.CrossEntropyLoss(label_smoothing=P.label_smoothing)


def fixed_arm(basis):
    def make():
        model = nn.Sequential(make_body(basis.shape[1]), EquiangularHead(basis, temperature=P.temperature))
        return model, nn.CrossEntropyLoss(label_smoothing=P.label_smoothing)  # = EquiangularLoss on the body output
    return make


MAIN_ARMS = {"fc": fc_arm, f"ebv d={N}": fixed_arm(ebv_bases[N])}
EXTRA_ARMS = {f"ebv d={d}": fixed_arm(ebv_bases[d]) for d in sorted(P.sweep_dims, reverse=True)}
EXTRA_ARMS.update({f"random d={d}": fixed_arm(w) for d, w in random_bases.items()})

cfg = TrainConfig(iterations=P.iterations, batch_size=P.batch_size, lr=P.lr, optimizer=P.optimizer,
                  weight_decay=P.weight_decay, lr_milestones=tuple(P.lr_milestones), device=P.device,
                  num_workers=P.num_workers)
seeds = [P.seed + k for k in range(P.n_seeds)]
runs, train_results = run_classifier_arms(MAIN_ARMS, train_set, test_set, cfg, seeds, batch_transform=batch_transform)
if EXTRA_ARMS:
    extra_runs, extra_results = run_classifier_arms(EXTRA_ARMS, train_set, test_set, cfg, seeds[:1],
                                                    batch_transform=batch_transform)
    runs = pd.concat([runs, extra_runs], ignore_index=True)
    train_results.update(extra_results)

# %% [markdown]
# ## Results

# %%
summary = summarize_runs(runs, ["top1"])
n_trainable = {}
for arm in list(MAIN_ARMS) + list(EXTRA_ARMS):
    model, _ = (MAIN_ARMS | EXTRA_ARMS)[arm]()
    head = model if arm == "fc" else model[0]
    n_trainable[arm] = sum(p.numel() for p in head.fc.parameters())  # the last layer of the body
table = format_mean_std(summary)
table.columns = ["test top-1 (%)"]
table["seeds"] = runs.groupby("arm", sort=False).size()
table["trainable last-layer params"] = pd.Series(n_trainable)
table["fixed classifier"] = ["no" if a == "fc" else "yes" for a in table.index]
table

# %%
fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(12, 3.9))
order = list(summary.index)
for k, arm in enumerate(order):
    accs = 100 * runs[runs.arm == arm]["top1"].to_numpy()
    ax_acc.bar(k, accs.mean(), yerr=accs.std(ddof=1) if len(accs) > 1 else 0, capsize=3,
               color=PALETTE[k % len(PALETTE)])
    ax_acc.scatter(np.full(len(accs), k), accs, color="k", s=10, zorder=3)
    losses = np.mean([train_results[(arm, s)].losses for s in seeds if (arm, s) in train_results], axis=0)
    window = max(1, len(losses) // 40)
    smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
    ax_loss.plot(np.arange(len(smooth)) + window, smooth, label=arm, color=PALETTE[k % len(PALETTE)])
ax_acc.axhline(100 / N, color="grey", ls=":", label="chance")
ax_acc.set_xticks(range(len(order)), order, rotation=20)
ax_acc.set_ylabel("test top-1 accuracy (%)")
ax_acc.set_title("held-out fonts (bars: mean ± std; dots: seeds)" if P.profile == "ci" else "ImageNet val")
ax_acc.legend(fontsize=8)
ax_loss.set_xlabel("iteration")
ax_loss.set_ylabel("training loss (label-smoothed CE,\nrunning mean; scales differ by head)")
ax_loss.set_title("training curves (mean over seeds)")
ax_loss.legend(fontsize=8)
fig.tight_layout()
savefig(fig, SLUG, "accuracy")
plt.show()

# %% [markdown]
# ## Paper vs ours
# The paper's ImageNet-1K numbers, from the **official training logs** (best top-1 over epochs on
# the val set, evaluated at resize 256 / crop 256; `ImageNet_Validation_Experiment/Log/*.txt` and
# `EBV_Dim_Experiment/Log/*.txt`). Which of them the PDF's Table 1 prints, and its FC rows
# (possibly external reference recipes), were **not retrieved**, so the rows are labelled by their
# log files, not as "Table 1". Ours are glyphs at ci scale: absolute numbers are not comparable;
# the *gap* EBV − FC and the effect of d are what we test.

# %%
paper = pd.DataFrame([
    ("ResNet-50, AdamW, setting 1, 105 ep", "74.03 (lr 1e-2) / 73.79 (lr 1e-3)", 77.14, "+3.11", "logs: ResNet_AdamW_setting1_*.txt, EBV_ResNet_dim1000_AdamW_setting1_epoch105.txt"),
    ("ResNet-50, AdamW, setting 2, 105 ep", "76.48", 77.52, "+1.04", "logs: ResNet_AdamW_setting2_0.001.txt, EBV_ResNet_dim1000_AdamW_setting2_epoch105.txt"),
    ("Swin-T, AdamW, setting 2, 105 ep", "79.12", 79.34, "+0.22", "logs: SwinT_AdamW_setting2_0.001.txt, EBV_SwinT_dim1000_AdamW_setting2_epoch105.txt"),
    ("ResNet-50, SGD, setting 1, 105 ep", "not retrieved", 78.73, "-", "log: EBV_ResNet_dim1000_SGD_setting1_epoch105.txt"),
], columns=["setting (ImageNet-1K, N = d = 1000)", "FC top-1", "EBV top-1", "EBV − FC", "source"]).set_index(
    "setting (ImageNet-1K, N = d = 1000)")
paper_dims = pd.Series({100: 76.83, 200: 77.83, 300: 78.08, 400: 78.38, 500: 78.34, 1000: 78.73, 2000: 78.58},
                       name="EBV top-1, ResNet-50 SGD 105 ep (EBV_Dim_Experiment logs)")
fc_mean, ebv_mean = (100 * summary.loc[a, ("mean", "top1")] for a in ("fc", f"ebv d={N}"))
ours = pd.DataFrame([(f"ours ({P.profile}): {'CNN, glyphs by font' if P.profile == 'ci' else 'ResNet-50'}, N = d = {N}",
                      f"{fc_mean:.1f}", round(ebv_mean, 1), f"{ebv_mean - fc_mean:+.1f}", f"this notebook, {len(seeds)} seeds")],
                    columns=paper.reset_index().columns).set_index(paper.index.name)
display_table = pd.concat([paper, ours])
display_table

# %%
dims_ours = {d: 100 * summary.loc[f"ebv d={d}", ("mean", "top1")] for d in [*P.sweep_dims, N]}
dim_table = pd.DataFrame({
    "d / N": [f"{d / 1000:.2f}" for d in paper_dims.index] + [f"{d / N:.2f}" for d in dims_ours],
    "top-1 (%)": list(paper_dims.values) + [round(v, 1) for v in dims_ours.values()],
    "drop vs d = N (points)": [round(paper_dims[1000] - v, 2) for v in paper_dims.values]
    + [round(dims_ours[N] - v, 1) for v in dims_ours.values()],
}, index=[f"paper logs: d = {d}" for d in paper_dims.index] + [f"ours: d = {d}" for d in dims_ours])
dim_table

# %% [markdown]
# ## Claim check

# %%
assert np.isfinite(runs["top1"].to_numpy()).all() and runs["top1"].between(0, 1).all()
assert all(max_abs_cosine(w) <= ebv_thresholds[d] + 1e-4 for d, w in ebv_bases.items()), "an EBV set misses its threshold"
assert all(np.isfinite(r.losses).all() for r in train_results.values())
if P.iterations >= 200:  # shorter smoke runs cannot be judged on this
    assert (summary["mean"]["top1"] > 2 / N).all(), "an arm is at chance level"
    for (arm, s), result in train_results.items():
        first, last = np.mean(result.losses[:10]), np.mean(result.losses[-10:])
        assert last < first, f"{arm} seed {s} did not train: loss {first:.3f} -> {last:.3f}"

# (1) EBV (d = N) matches or beats FC: "matches" = the gap is above -max(1 point, larger seed std).
main = compare_arms(runs, f"ebv d={N}", "fc", "top1")
tolerance = max(0.01, main["spread"])
matches = main["gap"] >= -tolerance
beats = main["gap"] > main["spread"] and main["wins"] == main["seeds"]
print(f"EBV (d={N}) vs FC: top-1 gap {100 * main['gap']:+.1f} points, larger seed std {100 * main['spread']:.1f}, "
      f"EBV wins on {main['wins']}/{main['seeds']} seeds -> {'beats' if beats else 'matches' if matches else 'falls behind'} FC")
# (2) d << N costs little: the paper loses 1.9 points at d = N/10. Ours: the drop at the smallest swept d.
small_d = min(P.sweep_dims) if P.sweep_dims else None
drop = None if small_d is None else dims_ours[N] - dims_ours[small_d]
small_d_ok = drop is not None and drop <= 3.0
if small_d is not None:
    print(f"EBV d={small_d} (d/N = {small_d / N:.2f}) vs d={N}: {-drop:+.1f} points "
          f"(paper logs: {paper_dims[100] - paper_dims[1000]:+.2f} at d/N = 0.10)")
# (3) the equiangular set matters at small d: EBV vs random fixed vectors at the same d (1 seed, indicative).
if P.ablation_dim:
    rnd = compare_arms(runs, f"ebv d={P.ablation_dim}", f"random d={P.ablation_dim}", "top1")
    print(f"EBV vs random fixed vectors at d={P.ablation_dim}: {100 * rnd['gap']:+.1f} points (1 seed)")

if matches and (small_d is None or small_d_ok):
    verdict = "reproduced"
elif matches or small_d_ok:
    verdict = "partly reproduced"
else:
    verdict = "not reproduced at this scale"
relation = "beats" if beats else "matches" if matches else "falls behind"
explanation = (
    f"EBV with d = N = {N} {relation} the learned FC head ({100 * main['gap']:+.1f} points top-1, larger seed std "
    f"{100 * main['spread']:.1f}, EBV ahead on {main['wins']}/{main['seeds']} seeds)"
)
if small_d is not None:
    explanation += (f"; at d = {small_d} (d/N = {small_d / N:.2f}) EBV loses {drop:.1f} points vs d = N within the same "
                    f"training budget ({'as little as' if small_d_ok else 'far more than'} the paper's 1.9 at d/N = 0.1)")
explanation += "."
print(f"verdict: {verdict}. {explanation}")

# %%
summary_numbers = {f"{arm} top1": float(summary.loc[arm, ("mean", "top1")]) for arm in summary.index}
summary_numbers["EBV - FC gap (d=N)"] = float(main["gap"])
result_file = write_result(
    SLUG,
    title="Equiangular Basis Vectors (CVPR 2023)",
    claim="A fixed set of nearly orthogonal class vectors (EBVs, cosine softmax with tau 0.07) matches or beats "
          "a learned FC classifier, and d << N costs little.",
    verdict=verdict,
    explanation=explanation,
    ours=summary_numbers,
    paper={"FC top-1 (ResNet-50 AdamW setting 2, logs)": 0.7648, "EBV top-1 (same, logs)": 0.7752,
           "EBV top-1 d=100 (SGD 105 ep, logs)": 0.7683, "EBV top-1 d=1000 (SGD 105 ep, logs)": 0.7873},
    profile=P.profile,
)

# %% [markdown]
# ## What we learned
# *Written after the ci run (seed 0); the printed numbers above are the ones to trust.*
# - **Generation.** The official generator gets within 1.3-2× of the Welch bound, but it is a
#   first-order method on a non-smooth hinge sum: when α is too close to the bound (the official
#   α = 0.002 is even below it whenever N > d) and d is small, it lowers the sum by *merging* two
#   vectors (max|cos| → 1), a point it cannot leave, and more steps do not help. In ci this happens
#   for d ≤ 16 at 1.1-1.6× and for N = 256, d = 32 at 1.3×. Check max|cos| of the vectors you train
#   with (`generate_equiangular_basis` raises instead of returning merged vectors); for N ≤ d take an
#   orthonormal set.
# - **EBV vs FC (d = N).** Within the seed spread: EBV is about as accurate as the learned FC head on
#   unseen fonts, and noticeably more stable across seeds. The paper's ImageNet margins (+0.2 to
#   +3.1 points in the logs, one seed each) are of the order of our seed spread, so "matches" is what
#   this scale can confirm; "beats" would need more seeds and longer training.
# - **Small d.** The paper's "d ≪ N costs little" (ImageNet, 2048-d ResNet-50 features, 105 epochs,
#   d/N = 0.1: −1.9 points) does not hold at our budget: d = 32 and d = 64 are far behind d = 128
#   after 400 steps, and random fixed vectors at d = 32 are close to EBVs. It is mostly a matter of
#   speed, not of geometry: in a pilot outside the ci budget (seed 0, 1,200 iterations, lr ×0.1 at
#   900) EBV at d = 32 reached 66 % test top-1. Rerun with
#   `-p iterations 1200 -p lr_milestones "[900]"` to see it; the `paper` profile is where the
#   paper's claim is to be checked.

# %%
# NBVAL_CHECK_OUTPUT
print(f"toy EBV loss: {EquiangularLoss(toy_basis)(toy_f, toy_y).item():.3f}")
print(f"generation, N={n_ref}: " + ", ".join(
    f"d={int(r.d)} {'-' if np.isnan(r['EBV max|cos|']) else format(r['EBV max|cos|'], '.3f')}"
    for _, r in gen[gen.N == n_ref].iterrows()))
print("stalled (N, d): " + (", ".join(f"({int(r.N)}, {int(r.d)})" for _, r in gen.iterrows() if r["stalled at"] != "-") or "none"))
for arm in summary.index:
    print(f"{arm:13s} top-1 {summary.loc[arm, ('mean', 'top1')]:.3f} ± {summary.loc[arm, ('std', 'top1')]:.3f}")
print(f"EBV - FC gap: {main['gap']:+.3f}")
print(f"verdict: {verdict}")
