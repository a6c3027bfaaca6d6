# %% [markdown]
# # Geometry-Aware Adaptation for Pretrained Models (Loki)
#
# Roberts, Li, Adila, Cromp, Huang, Zhao & Sala, **NeurIPS 2023**, [arXiv:2307.12226](https://arxiv.org/abs/2307.12226).
# Official code: `SprocketLab/loki`.
#
# **Claim reproduced here.** A classifier trained on K observed classes of a label space of N ≫ K
# labels equipped with a metric d can be adapted *without retraining* by replacing argmax with the
# Fréchet mean of its probabilities under d. The new rule ("Loki") can predict unobserved classes
# (Figure 1: a 3-class classifier on a 100-label grid) and lowers the expected squared label distance
# E[d²(y, ŷ)] (abstract: up to 29.7% relative improvement over SimCLR + logistic regression on ImageNet
# with a WordNet metric, 10.5% for zero-shot CLIP with a self-derived metric), at the price of top-1
# accuracy when the metric, not accuracy, is what the rule optimises.
#
# This notebook shows
# 1. **exactly, without training** (Figure 1): on a 10 × 10 grid graph with 3 observed labels, the
#    labels argmax and Loki can ever output, counted and drawn on the probability simplex;
# 2. **with a learned model**: a linear softmax classifier on frozen "pretrained" features of 128 glyph
#    classes, trained on K observed classes, evaluated on all 128 with argmax and with Loki under a
#    metric between classes (distances between their mean clean renders), K from 2 to 128, 10 class
#    draws per K; with two controls (the discrete metric, where Loki must equal argmax, and a randomly
#    relabelled metric, which separates the geometry from mere hedging) and the top-1 trade-off;
# 3. the paper's numbers beside ours, and a plain verdict.
#
# | profile | data | hardware | wall time |
# |---|---|---|---|
# | `ci` (default) | 128 font-glyph classes rendered from matplotlib's fonts, PCA-64 pixel features | 1 CPU thread | about 30 s |
# | `paper` | ImageNet SimCLR embeddings + label graph (e.g. WordNet tree) from `data_root` | CPU or 1 GPU for the linear heads (embedding extraction, done once beforehand, is minutes on one GPU) | about 10-30 min for 8 K values × 10 draws (estimate) |

# %% tags=["parameters"]
profile = "ci"
device = "cpu"
data_root = None
seed = 0
# Knobs: None means "the profile's value" (see PROFILES below).
k_values = None
n_draws = None
per_class = None
pca_dim = None
iterations = None
batch_size = None
lr = None
simplex_steps = None

# %% [markdown]
# ## Profiles
# `ci` builds everything offline: 128 glyph classes (the project's glyph alphabet, both of its
# class-disjoint splits merged into one label space), 32 training images per class (16 fonts × 2
# augmented renders), 16 test images per class (the same fonts, new augmentations), pixel PCA to 64
# dimensions fitted on the training images of *all* classes without labels (the stand-in for a
# self-supervised pretrained encoder such as SimCLR, which also saw unlabelled images of every class).
#
# `paper` follows the official uniform-sampler protocol (`simclr_imagenet/scripts/simclr_uniform_exp.py`):
# precomputed SimCLR-v1 ResNet50-1x embeddings of ImageNet and a label graph read from `data_root`
# (layout: `mlcompanion.data.label_graph.LAYOUT`), K classes drawn uniformly, a logistic-regression head on
# ≤ 50 training images per observed class, evaluation on all validation images over all classes.
# The official code fits scikit-learn's one-vs-rest `LogisticRegression` and normalises its
# probabilities over the observed classes; here both profiles train a multinomial (softmax) linear
# head with `mlcompanion.train.train_classifier`, so the probabilities' calibration differs.

# %%
import sys
from pathlib import Path

sys.path.insert(0, str(Path.cwd().parent))  # the repository root, when run from notebooks/

from mlcompanion.profiles import resolve_profile

PROFILES = {
    "ci": dict(k_values=[2, 5, 10, 20, 40, 80, 128], n_draws=10, per_class=0, pca_dim=64, iterations=300,
               batch_size=64, lr=1e-2, simplex_steps=100),
    "paper": dict(k_values=[5, 10, 25, 50, 100, 250, 500, 1000], n_draws=10, per_class=50, pca_dim=0,
                  iterations=2000, batch_size=256, lr=1e-3, simplex_steps=200),
}
P = resolve_profile(
    PROFILES, profile, device=device, data_root=data_root, seed=seed, namespace=globals(),
    k_values=k_values, n_draws=n_draws, per_class=per_class, pca_dim=pca_dim, iterations=iterations,
    batch_size=batch_size, lr=lr, simplex_steps=simplex_steps,
)
if not P.k_values or any(not isinstance(k, int) or k < 1 for k in P.k_values):
    raise ValueError(f"k_values must be a non-empty list of positive ints, got {P.k_values}")
if P.n_draws < 1 or P.per_class < 0 or P.pca_dim < 0 or P.simplex_steps < 1:
    raise ValueError(f"n_draws and simplex_steps must be >= 1, per_class and pca_dim >= 0 (0 = all / none); "
                     f"got n_draws={P.n_draws}, per_class={P.per_class}, pca_dim={P.pca_dim}, "
                     f"simplex_steps={P.simplex_steps}")
if P.profile == "paper":
    from mlcompanion.data.label_graph import check_label_graph_layout

    check_label_graph_layout(P.data_root)  # stops here, naming the files and the expected layout, if absent

# %%
from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.colors import ListedColormap
from torch import nn
from torch.utils.data import TensorDataset

from mlcompanion.gallery import write_result
from mlcompanion.metrics.label_geometry import (
    argmax_predict,
    discrete_metric,
    euclidean_metric,
    expected_squared_distance,
    frechet_objective,
    frechet_predict,
    grid_metric,
    locus,
    path_metric,
    simplex_grid,
)
from mlcompanion.plotting import PALETTE, savefig, use_style
from mlcompanion.repro import make_deterministic
from mlcompanion.train import TrainConfig, evaluate_classifier, train_classifier

SLUG = "loki"
make_deterministic(P.seed)
use_style()
pd.set_option("display.precision", 3)

# %% [markdown]
# ## Method
#
# Label space $\mathcal Y = \{0..N-1\}$ with a metric $d$ (an $N \times N$ distance matrix $D$);
# observed classes $\Lambda = (\lambda_1..\lambda_K)$; a model giving $P(\lambda_i \mid x)$ over them.
#
# **Loki's prediction rule (the Fréchet mean).**
# $$\hat y(x) = \arg\min_{y \in \mathcal Y} \sum_{i=1}^K P(\lambda_i \mid x)\, d^2(y, \lambda_i)$$
# For a batch this is one product $P\,D^2[\Lambda, :]$ of shapes $(n, K)(K, N)$ and an argmin over the
# $N$ columns (ties to the lowest index, like `np.argmin` in the official code):
# `mlcompanion.metrics.label_geometry.frechet_predict(probs, D, observed)`; the matrix itself is
# `frechet_objective`. With the discrete metric ($d = 1$ off the diagonal) it is argmax over $\Lambda$
# (`argmax_predict`). With a Euclidean metric $d(a, b) = \lVert e_a - e_b\rVert$ it is "the label whose
# vector is nearest to $\sum_i P(\lambda_i\mid x)\, e_{\lambda_i}$".
#
# **Evaluation: the expected squared distance** (official `MeanSquaredDistance`)
# $$E[d^2] = \frac1n \sum_{m=1}^n d^2(y_m, \hat y_m), \qquad \text{relative improvement} = \frac{E_{\text{argmax}} - E_{\text{Loki}}}{E_{\text{argmax}}}$$
# `expected_squared_distance(pred, target, D)`.
#
# **Locus.** $\Pi(\Lambda)$, the labels the rule outputs for *some* probability vector:
# `locus(D, observed, n_steps)` evaluates the rule on every point of the simplex grid of step $1/n$.
#
# ### A worked example
# Ten labels on a line, $d(a, b) = |a - b|$, a classifier that only knows the two ends 0 and 9:

# %%
toy_D = path_metric(10)
toy_probs = torch.tensor([[1.0, 0.0], [0.7, 0.3], [0.5, 0.5], [0.2, 0.8]], dtype=torch.float64)
toy_obs = torch.tensor([0, 9])
toy_scores = frechet_objective(toy_probs, toy_D, toy_obs)
print("Fréchet variance of each candidate label y = 0..9 (rows: P(0), P(9)):")
print(pd.DataFrame(toy_scores.numpy(), index=[f"P = ({a:.1f}, {b:.1f})" for a, b in toy_probs.tolist()]).round(2)
      .to_string())
toy_argmax = argmax_predict(toy_probs, toy_obs)
toy_loki = frechet_predict(toy_probs, toy_D, toy_obs)
print("argmax:", toy_argmax.tolist(), "  Loki:", toy_loki.tolist())
print("if the true labels are [0, 3, 5, 7]:  E[d²] argmax "
      f"{expected_squared_distance(toy_argmax, torch.tensor([0, 3, 5, 7]), toy_D).item():.3f}, Loki "
      f"{expected_squared_distance(toy_loki, torch.tensor([0, 3, 5, 7]), toy_D).item():.3f}")

# %% [markdown]
# At P = (0.5, 0.5) labels 4 and 5 tie exactly (20.5); the lowest index wins.
#
# ## Part A: Figure 1, exactly
# The paper's Figure 1: a 10 × 10 grid graph (100 labels, node $(i, j)$ is label $10i + j$,
# shortest-path metric), a 3-class classifier observing labels 0, 39 and 99. Every point of the
# probability simplex (grid of step 1/`simplex_steps`) is one possible output of the classifier;
# we colour it by the label each rule predicts.

# %%
fig1_D = grid_metric(10, 10)
fig1_obs = torch.tensor([0, 39, 99])
W = simplex_grid(3, P.simplex_steps)
fig1_argmax = argmax_predict(W, fig1_obs)
fig1_loki = frechet_predict(W, fig1_D, fig1_obs)
argmax_labels = torch.unique(fig1_argmax).tolist()
loki_labels = locus(fig1_D, fig1_obs, n_steps=P.simplex_steps).tolist()
# how much the count owes to the tie-break: the grid metric has many tied minimisers
S = frechet_objective(W, fig1_D, fig1_obs)
tied = S <= S.min(1, keepdim=True).values + 1e-9
frac_tied = float((tied.sum(1) > 1).double().mean())
any_minimiser = tied.any(0).nonzero().flatten().tolist()
highest_first = torch.unique(99 - tied.flip(1).to(torch.uint8).argmax(1)).tolist()
print(f"simplex grid: {len(W)} probability vectors (step 1/{P.simplex_steps})")
print(f"argmax reaches {len(argmax_labels)} labels: {argmax_labels}")
print(f"Loki reaches  {len(loki_labels)} labels: {loki_labels}")
print(f"{100 * frac_tied:.1f}% of the simplex points have tied minimisers; with ties broken to the highest index "
      f"Loki reaches {len(highest_first)} labels, and {len(any_minimiser)} labels are a minimiser somewhere")

# %%
corners = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3) / 2]])  # weights on labels 0, 39, 99
xy = W.numpy() @ corners
palette = plt.get_cmap("tab20")
label_colour = {lab: palette(k % 20) for k, lab in enumerate(loki_labels)}  # 19 labels, 20 colours
fig, axes = plt.subplots(1, 3, figsize=(14, 4.6))
for ax, pred, title in ((axes[0], fig1_argmax, f"argmax: {len(argmax_labels)} labels"),
                        (axes[1], fig1_loki, f"Loki (Fréchet mean): {len(loki_labels)} labels")):
    ax.scatter(xy[:, 0], xy[:, 1], c=[label_colour[int(p)] for p in pred], s=6, marker="h", linewidths=0)
    for lab in torch.unique(pred).tolist():
        centre = xy[(pred == lab).numpy()].mean(0)
        ax.text(*centre, str(lab), ha="center", va="center", fontsize=7,
                bbox=dict(boxstyle="round,pad=0.1", fc="white", alpha=0.7, lw=0))
    for k, (lab, offset) in enumerate(zip(fig1_obs.tolist(), ([0.0, -0.07], [0.0, -0.07], [0.17, -0.02]))):
        ax.text(*(corners[k] + offset), f"P({lab}) = 1", fontsize=8, ha="center")
    ax.set_title(title)
    ax.set_aspect("equal")
    ax.axis("off")
grid_img = np.full((10, 10), 0.0)
grid_img.flat[loki_labels] = 1.0
grid_img.flat[fig1_obs.tolist()] = 2.0
axes[2].imshow(grid_img, cmap=ListedColormap(["#eeeeee", PALETTE[0], PALETTE[1]]), vmin=0, vmax=2)
for lab in range(100):
    axes[2].text(lab % 10, lab // 10, str(lab), ha="center", va="center", fontsize=6,
                 color="white" if grid_img.flat[lab] > 0 else "black")
axes[2].set_title("the 10 × 10 label grid: observed (orange),\nreached by Loki (blue), never predicted (grey)")
axes[2].set_xlabel("grid column j")
axes[2].set_ylabel("grid row i")
fig.suptitle("Figure 1 setting: 3 observed labels in a 100-label grid; each point of the simplex is one "
             "probability vector, coloured by the predicted label")
fig.tight_layout()
savefig(fig, SLUG, "figure1_simplex")
plt.show()

# %% [markdown]
# Loki reaches the observed labels plus the geodesics between them: with lowest-index tie-breaking the
# L-shaped path 0 → 9 → 39 → 99 along row 0 and column 9. On a grid most points of the simplex have
# several minimisers (shortest paths are not unique), so the *set* of reached labels depends on the
# tie-break; the paper's figure follows `np.argmin` (lowest index), as we do.
#
# ## Part B: a learned model
# ### Data, features and the label metric

# %%
def merged_glyphs(**kw):
    """Both class-disjoint glyph splits as one label space of 128 classes (test labels offset by 64)."""
    from mlcompanion.data import load_glyphs

    g = load_glyphs(n_train_classes=64, n_test_classes=64, **kw)
    x = torch.cat([g.train.images, g.test.images])
    y = torch.cat([g.train.labels, g.test.labels + len(g.train.classes)])
    return x, y, g.train.classes + g.test.classes


if P.profile == "ci":
    x_train, y_train, classes = merged_glyphs(n_augments=2, seed=P.seed)
    x_test, y_test, classes_test = merged_glyphs(n_augments=1, seed=P.seed + 1000)
    x_clean, y_clean, classes_clean = merged_glyphs(n_augments=0, include_clean=True)
    assert classes == classes_test == classes_clean
    N = len(classes)
    # label metric: Euclidean distance between the classes' mean clean renders (16 fonts, no augmentation)
    class_means = torch.stack([x_clean[y_clean == c].flatten(1).double().mean(0) for c in range(N)])
    D = euclidean_metric(class_means)
    # "pretrained" features: PCA of the pixels, fitted without labels on the training images of all classes
    X = x_train.flatten(1).double()
    mu = X.mean(0)
    _, sing, Vt = torch.linalg.svd(X - mu, full_matrices=False)
    basis = Vt[: P.pca_dim].T
    f_train = (X - mu) @ basis
    scale = f_train.std(0)
    f_train = (f_train / scale).float()
    f_test = (((x_test.flatten(1).double() - mu) @ basis) / scale).float()
    metric_name = "distance between mean clean renders"
    explained = float((sing[: P.pca_dim] ** 2).sum() / (sing ** 2).sum())
    print(f"{N} classes; {len(f_train)} training and {len(f_test)} test images; PCA-{P.pca_dim} features "
          f"({100 * explained:.0f}% of the pixel variance)")
else:
    from mlcompanion.data.label_graph import load_label_graph_embeddings

    data = load_label_graph_embeddings(P.data_root)
    classes, N, D = data.classes, data.num_classes, data.D
    f_train, y_train, f_test, y_test = data.train_x, data.train_y, data.val_x, data.val_y
    if P.pca_dim:
        raise ValueError("pca_dim must be 0 in the paper profile (the embeddings are used as they are)")
    metric_name = "shortest path on the label graph"
    print(f"{N} classes; {len(f_train)} training and {len(f_test)} evaluation embeddings of dimension "
          f"{f_train.shape[1]}")

D = D / D[~torch.eye(N, dtype=torch.bool)].mean()  # unit mean distance (the rule is scale-invariant)
if max(P.k_values) > N:
    raise ValueError(f"k_values must not exceed the number of classes {N}, got {P.k_values}")
offdiag = D[~torch.eye(N, dtype=torch.bool)]
class_freq = torch.bincount(y_test, minlength=N).double() / len(y_test)
central_class = int(((D ** 2) @ class_freq).argmin())
E_constant = float(((D ** 2) @ class_freq).min())
print(f"label metric ({metric_name}), scaled to mean 1: min {offdiag.min():.3f}, median {offdiag.median():.3f}, "
      f"max {offdiag.max():.3f}")
print(f"reference: always predicting the most central class ({classes[central_class]}) gives E[d²] = {E_constant:.3f}")

# %% [markdown]
# **Why this metric.** For glyphs the mean clean render of a class (its 16 fonts, no augmentation) is a
# description of the class that exists without any training image of it, like the class-name text
# embeddings the paper uses as a self-derived metric for CLIP; characters that look alike (E/F, b/h/ь)
# are close. It lives in the same pixel space as our features, which favours Loki: the classifier's
# confusions and the metric agree. The **relabelled-metric control** keeps exactly the same distances
# but assigns them to classes at random; any E[d²] gain it still shows comes from hedging towards
# labels that are central in the metric, not from geometry shared with the model.

# %%
if P.profile == "ci":
    nearest = D.clone().fill_diagonal_(float("inf")).argsort(1)[:, :3]
    show = [classes.index(c) for c in ("E", "b", "Ш", "7", "ω") if c in classes]
    fig, axes = plt.subplots(len(show), 4, figsize=(5.2, 1.35 * len(show)))
    for r, c in enumerate(show):
        for col, k in enumerate([c] + nearest[c].tolist()):
            axes[r, col].imshow(class_means[k].view(x_clean.shape[-2:]).numpy(), cmap="gray_r")
            axes[r, col].set_title(f"{classes[k]}" + ("" if col == 0 else f"  d={D[c, k]:.2f}"), fontsize=8)
            axes[r, col].axis("off")
    fig.suptitle("the label metric: a class's mean clean render and its 3 nearest classes", fontsize=9)
    fig.tight_layout()
    savefig(fig, SLUG, "label_metric")
    plt.show()

# %% [markdown]
# ### Train on K observed classes, predict over all N
# For each K and draw: K classes drawn uniformly (seeded), a linear softmax head trained with
# `mlcompanion.train.train_classifier` on the observed classes' training features only, probabilities on the
# test images of **all** N classes, then argmax (observed labels only) vs Loki (any label). Controls,
# on the same probabilities: Loki with the discrete metric (must equal argmax, asserted) and Loki with
# a randomly relabelled metric (a new relabelling per run, scored under that relabelled metric). `evaluate_classifier` gives the usual
# top-1 among the test images of observed classes.

# %%
def observed_subset(features, labels, observed, per_class, gen):
    """Items of the observed classes with labels remapped to 0..K-1 (at most per_class per class if > 0)."""
    remap = torch.full((N,), -1, dtype=torch.long)
    remap[observed] = torch.arange(len(observed))
    keep = torch.isin(labels, observed)
    if per_class:
        idx = keep.nonzero().flatten()
        order = idx[torch.randperm(len(idx), generator=gen)]
        rank = torch.zeros(len(labels), dtype=torch.long)
        lab = labels[order]
        sorted_lab, pos = lab.sort(stable=True)
        first = torch.searchsorted(sorted_lab, sorted_lab)
        rank[order[pos]] = torch.arange(len(order)) - first
        keep = keep & (rank < per_class)
    return TensorDataset(features[keep], remap[labels[keep]])


@torch.no_grad()
def probabilities(model, features, chunk=8192):
    model.eval()
    return torch.cat([model(features[i:i + chunk].to(P.device)).softmax(1).double().cpu()
                      for i in range(0, len(features), chunk)])


def chunked(fn, probs, *args, chunk=8192):
    return torch.cat([fn(probs[i:i + chunk], *args) for i in range(0, len(probs), chunk)])


cfg = TrainConfig(iterations=P.iterations, batch_size=P.batch_size, lr=P.lr, device=P.device, progress=False)
rows, examples = [], {}
for K in P.k_values:
    for draw in range(P.n_draws):
        run_seed = P.seed + 1000 * draw + K
        gen = torch.Generator().manual_seed(run_seed)
        observed = torch.randperm(N, generator=gen)[:K].sort().values
        train_set = observed_subset(f_train, y_train, observed, P.per_class, gen)
        make_deterministic(run_seed)
        model = nn.Linear(f_train.shape[1], K)
        run_cfg = replace(cfg, batch_size=min(cfg.batch_size, len(train_set)))  # K x per_class can be < a batch
        result = train_classifier(model, nn.CrossEntropyLoss(), train_set, run_cfg, seed=run_seed,
                                  desc=f"K={K} draw {draw}")
        top1_observed = evaluate_classifier(model, observed_subset(f_test, y_test, observed, 0, gen),
                                            device=P.device)["top1"]
        probs = probabilities(model, f_test)
        pred_argmax = argmax_predict(probs, observed)
        pred_loki = chunked(frechet_predict, probs, D, observed)
        pred_discrete = chunked(frechet_predict, probs, discrete_metric(N), observed)
        relabel = torch.randperm(N, generator=torch.Generator().manual_seed(run_seed + 7))
        D_perm = D[relabel][:, relabel]  # the same distances, assigned to the classes at random
        pred_perm = chunked(frechet_predict, probs, D_perm, observed)
        assert torch.equal(pred_discrete, pred_argmax), "Loki with the discrete metric must equal argmax"
        row = {
            "K": K, "draw": draw,
            "E[d2] argmax": expected_squared_distance(pred_argmax, y_test, D).item(),
            "E[d2] Loki": expected_squared_distance(pred_loki, y_test, D).item(),
            "E[d2] argmax (relabelled metric)": expected_squared_distance(pred_argmax, y_test, D_perm).item(),
            "E[d2] Loki (relabelled metric)": expected_squared_distance(pred_perm, y_test, D_perm).item(),
            "top-1 argmax": (pred_argmax == y_test).double().mean().item(),
            "top-1 Loki": (pred_loki == y_test).double().mean().item(),
            "top-1 on observed classes": top1_observed,
            "Loki outside observed": (~torch.isin(pred_loki, observed)).double().mean().item(),
            "Loki unobserved hits": ((pred_loki == y_test) & ~torch.isin(pred_loki, observed)).double().mean().item(),
            "final train loss": float(np.mean(result.losses[-20:])),
        }
        row["rel. gain"] = (row["E[d2] argmax"] - row["E[d2] Loki"]) / row["E[d2] argmax"]
        row["rel. gain (relabelled metric)"] = (row["E[d2] argmax (relabelled metric)"]
                                                - row["E[d2] Loki (relabelled metric)"]) / row["E[d2] argmax (relabelled metric)"]
        rows.append(row)
        if draw == 0:
            examples[K] = (observed, pred_argmax, pred_loki)
runs = pd.DataFrame(rows)
print(f"{len(runs)} runs (K in {P.k_values}, {P.n_draws} draws each)")

# %% [markdown]
# ## Results

# %%
COLS = ["E[d2] argmax", "E[d2] Loki", "rel. gain", "rel. gain (relabelled metric)", "top-1 argmax", "top-1 Loki",
        "top-1 on observed classes", "Loki outside observed", "Loki unobserved hits"]
mean = runs.groupby("K")[COLS].mean()
std = runs.groupby("K")[COLS].std(ddof=1).fillna(0.0)
table = pd.DataFrame({c: [f"{m:.3f} ± {s:.3f}" for m, s in zip(mean[c], std[c])] for c in COLS}, index=mean.index)
table.index.name = f"K (of N = {N})"
table

# %%
ks = mean.index.to_numpy()
fig, (ax_e, ax_g, ax_a) = plt.subplots(1, 3, figsize=(14.5, 4))
for col, colour, label in (("E[d2] argmax", PALETTE[0], "argmax"), ("E[d2] Loki", PALETTE[1], "Loki")):
    ax_e.errorbar(ks, mean[col], yerr=std[col], color=colour, marker="o", capsize=3, label=label)
ax_e.axhline(E_constant, color="grey", ls=":", lw=1, label="constant: the most central class")
ax_e.set_xscale("log")
ax_e.set_xlabel("observed classes K (log scale)")
ax_e.set_ylabel("E[d²(y, ŷ)] over all N classes\n(metric scaled to mean distance 1)")
ax_e.set_title("expected squared label distance")
ax_e.legend()
for col, colour, label in (("rel. gain", PALETTE[1], f"metric: {metric_name}"),
                           ("rel. gain (relabelled metric)", PALETTE[2], "control: relabelled metric")):
    ax_g.errorbar(ks, 100 * mean[col], yerr=100 * std[col], color=colour, marker="o", capsize=3, label=label)
ax_g.axhline(0, color="grey", lw=0.8)
ax_g.set_xscale("log")
ax_g.set_xlabel("observed classes K (log scale)")
ax_g.set_ylabel("relative E[d²] improvement of Loki (%)")
ax_g.set_title(f"gain over argmax, mean ± sd over {P.n_draws} draws")
ax_g.legend(fontsize=8)
for col, colour, style, label in (("top-1 argmax", PALETTE[0], "-", "argmax"), ("top-1 Loki", PALETTE[1], "-", "Loki"),
                                  ("Loki unobserved hits", PALETTE[3], "--", "Loki: correct on an unobserved class")):
    ax_a.errorbar(ks, 100 * mean[col], yerr=100 * std[col], color=colour, ls=style, marker="o", capsize=3, label=label)
ax_a.set_xscale("log")
ax_a.set_xlabel("observed classes K (log scale)")
ax_a.set_ylabel("top-1 accuracy over all N classes (%)")
ax_a.set_title("the accuracy side")
ax_a.legend(fontsize=8)
fig.tight_layout()
savefig(fig, SLUG, "learned_model")
plt.show()

# %% [markdown]
# **Reading the results.** Loki's E[d²] is never above argmax's, and it does output unobserved classes,
# occasionally the right one. But, unlike the paper's headline, the relative gain is smallest when few
# classes are observed and grows with K, and a metric whose distances were assigned to the classes at
# random keeps most of it: much of what Loki gains here is *hedging* (when the head is unsure it moves
# to a class that is central in the metric, which lowers squared distances whatever the image), not
# geometry shared between the model and the label space. Two reasons at this scale: our metric's
# distances are concentrated (every class is at about the same distance from every other, so the metric
# is close to the discrete one, for which Loki is argmax), and with few observed classes the Fréchet
# mean of a few far-apart prototypes rarely lands nearer another class than the prototypes themselves.
# With K ≤ 5 even a constant prediction of the most central class (dotted line) has a lower E[d²] than
# either rule: E[d²] over all N classes rewards hedging when the model knows few classes.
# Tree metrics such as the paper's WordNet tree have a large diameter and many classes "between" any two
# observed ones, which is where the paper's gains come from. Top-1 barely moves here: the trade-off the
# official notebook shows at K = N (54.8% → 32.4%) does not appear with this metric.
#
# ### What Loki predicts instead
# Test images of one draw where Loki's prediction differs from argmax (K = 20 in `ci`): true class,
# argmax over the observed classes, and Loki's label (‡ = not an observed class).

# %%
if P.profile == "ci":
    K_show = 20 if 20 in examples else P.k_values[len(P.k_values) // 2]
    obs_show, arg_show, loki_show = examples[K_show]
    changed = (arg_show != loki_show).nonzero().flatten()[:12]
    fig, axes = plt.subplots(1, max(len(changed), 1), figsize=(1.25 * max(len(changed), 1), 2.1), squeeze=False)
    for ax, i in zip(axes[0], changed.tolist()):
        ax.imshow(x_test[i, 0].numpy(), cmap="gray_r")
        mark = "" if bool(torch.isin(loki_show[i], obs_show)) else "‡"
        ax.set_title(f"true {classes[int(y_test[i])]}\nargmax {classes[int(arg_show[i])]}\n"
                     f"Loki {classes[int(loki_show[i])]}{mark}", fontsize=8)
    for ax in axes[0]:
        ax.axis("off")
    fig.suptitle(f"K = {K_show} observed classes: " + " ".join(classes[k] for k in obs_show.tolist()), fontsize=9)
    fig.tight_layout()
    savefig(fig, SLUG, "changed_predictions")
    plt.show()

# %% [markdown]
# ## Paper vs ours
# From the paper's **abstract**: up to 29.7% relative E[d²] improvement over SimCLR on ImageNet (WordNet
# metric, the best K / sampler setting) and 10.5% for zero-shot CLIP with a self-derived metric. The
# per-K rows of the paper's ImageNet table were **not retrieved** (not checked against the PDF), so they
# are not printed. For the accuracy side we quote the **official repository's notebook output**
# (`simclr_imagenet/notebooks`, uniform sampler, all 1,000 classes observed), which is not a table of
# the paper: E[d²] 85.39 → 62.76 (−26.5%) while top-1 drops 54.8% → 32.4%.

# %%
k_full = max(P.k_values)
paper_rows = pd.DataFrame(
    {"relative E[d²] gain (%)": [29.7, 10.5, 26.5], "top-1 argmax (%)": [np.nan, np.nan, 54.8],
     "top-1 Loki (%)": [np.nan, np.nan, 32.4]},
    index=["paper (abstract): SimCLR + LR, ImageNet, WordNet metric, best K",
           "paper (abstract): zero-shot CLIP, self-derived metric",
           "official repo notebook: SimCLR, ImageNet, K = N = 1000"],
)
ours_rows = pd.DataFrame(
    {"relative E[d²] gain (%)": [100 * mean.loc[k, "rel. gain"] for k in ks],
     "top-1 argmax (%)": [100 * mean.loc[k, "top-1 argmax"] for k in ks],
     "top-1 Loki (%)": [100 * mean.loc[k, "top-1 Loki"] for k in ks]},
    index=[f"ours ({P.profile}): K = {k} of {N}" for k in ks],
)
pd.concat([paper_rows, ours_rows]).round(1)

# %% [markdown]
# ## Claim check

# %%
assert len(argmax_labels) == 3, argmax_labels
if P.simplex_steps >= 100:
    assert len(loki_labels) == 19 and loki_labels == list(range(10)) + list(range(19, 100, 10)), loki_labels
assert np.isfinite(runs[COLS].to_numpy()).all()
assert ((runs[["top-1 argmax", "top-1 Loki", "Loki outside observed"]] >= 0)
        & (runs[["top-1 argmax", "top-1 Loki", "Loki outside observed"]] <= 1)).all().all()
assert (runs["top-1 on observed classes"] > 1.5 / runs["K"]).all(), "a head did not learn (chance-level top-1)"
full = runs[runs.K == N]
if len(full):
    assert (full["Loki outside observed"] == 0).all()

partial = mean[mean.index < N]
gains = partial["rel. gain"]
lower_every_K = bool((gains > 0).all()) if len(partial) else False
largest_at_small_K = bool(len(partial) > 1 and gains.idxmax() == partial.index.min())
gain_trend = float(np.corrcoef(np.log(partial.index.to_numpy()), gains.to_numpy())[0, 1]) if len(partial) > 2 else 0.0
outside = float(partial["Loki outside observed"].mean()) if len(partial) else 0.0
geometry = (partial["rel. gain"] - partial["rel. gain (relabelled metric)"]) if len(partial) else pd.Series(dtype=float)
geometry_runs = (runs["rel. gain"] - runs["rel. gain (relabelled metric)"])[runs.K < N]
# geometry counts when the gain beyond the control is positive on average and in most paired runs
geometry_positive = bool(len(geometry) and geometry.mean() > 0 and (geometry_runs > 0).mean() > 0.5)
geometry_share = float(geometry.sum() / partial["rel. gain"].sum()) if len(partial) else 0.0
acc_drop_full = (float(mean.loc[N, "top-1 argmax"] - mean.loc[N, "top-1 Loki"]) if N in mean.index else float("nan"))
gain_full = float(mean.loc[N, "rel. gain"]) if N in mean.index else float("nan")
print(f"Figure 1: argmax {len(argmax_labels)} labels, Loki {len(loki_labels)} labels (paper figure: 3 vs many)")
print(f"Loki E[d²] below argmax for every K < N: {lower_every_K} "
      f"(relative gains {', '.join(f'K={k}: {100 * g:.1f}%' for k, g in gains.items())})")
print(f"largest relative gain at the smallest K: {largest_at_small_K} (correlation of gain with log K: {gain_trend:+.2f})")
print(f"Loki predictions outside the observed classes (mean over K < N): {100 * outside:.1f}%")
print(f"gain beyond the relabelled-metric control: {geometry_positive} (differences by K "
      f"{', '.join(f'{100 * g:+.1f}' for g in geometry)} points; positive in {100 * (geometry_runs > 0).mean():.0f}% "
      f"of the runs; geometry's share of the summed gain {100 * geometry_share:.0f}%)")
if N in mean.index:
    print(f"K = N = {N}: relative gain {100 * gain_full:.1f}%, top-1 {100 * mean.loc[N, 'top-1 argmax']:.1f}% -> "
          f"{100 * mean.loc[N, 'top-1 Loki']:.1f}% ({-100 * acc_drop_full:+.1f} points)")

if lower_every_K and outside > 0 and geometry_positive and largest_at_small_K:
    verdict = "reproduced"
elif lower_every_K and outside > 0:
    verdict = "partly reproduced"
else:
    verdict = "not reproduced at this scale"
explanation = (
    f"Figure 1 is exact (argmax reaches {len(argmax_labels)} labels, Loki {len(loki_labels)}). On {N} classes with "
    f"a learned linear head, Loki {'lowers' if lower_every_K else 'does not always lower'} E[d²] for every K < N "
    f"(gains {100 * gains.min():.1f}% to {100 * gains.max():.1f}%, {100 * outside:.0f}% of predictions outside the "
    f"observed classes), {'beyond' if geometry_positive else 'not clearly beyond'} a randomly relabelled metric "
    f"(which keeps {100 * (1 - geometry_share):.0f}% of the gain: hedging towards central classes); "
    f"the gain {'is largest at the smallest K' if largest_at_small_K else 'grows with K instead of peaking at small K' if gain_trend > 0.5 else 'is not largest at the smallest K'}"
    + (f"; at K = N it is {100 * gain_full:.1f}% with top-1 changing by {-100 * acc_drop_full:+.1f} points "
       f"(the official notebook's ImageNet run loses 22 points)." if N in mean.index else ".")
)
print(f"verdict: {verdict}. {explanation}")

# %%
summary_numbers = {f"relative E[d2] gain, K={k}": float(mean.loc[k, "rel. gain"]) for k in ks}
summary_numbers.update({f"relative gain, relabelled metric, K={k}": float(mean.loc[k, "rel. gain (relabelled metric)"])
                        for k in ks})
if N in mean.index:
    summary_numbers.update({f"top-1 argmax, K=N={N}": float(mean.loc[N, "top-1 argmax"]),
                            f"top-1 Loki, K=N={N}": float(mean.loc[N, "top-1 Loki"])})
summary_numbers.update({"Figure 1: labels reached by argmax": len(argmax_labels),
                        "Figure 1: labels reached by Loki": len(loki_labels)})
result_file = write_result(
    SLUG,
    title="Geometry-Aware Adaptation for Pretrained Models (Loki, NeurIPS 2023)",
    claim="Replacing argmax by the Fréchet mean under a label metric, without retraining, predicts unobserved "
          "classes and lowers the expected squared label distance, most when few classes are observed.",
    verdict=verdict,
    explanation=explanation,
    ours=summary_numbers,
    paper={"relative E[d2] gain, SimCLR ImageNet, best K (abstract)": 0.297,
           "relative E[d2] gain, zero-shot CLIP (abstract)": 0.105},
    profile=P.profile,
)

# %%
# NBVAL_CHECK_OUTPUT
print(f"toy path metric: argmax {toy_argmax.tolist()}, Loki {toy_loki.tolist()}")
print(f"Figure 1: argmax reaches {len(argmax_labels)} labels, Loki {len(loki_labels)}: {loki_labels}")
for k in ks:
    print(f"K={k:4d}  E[d2] argmax {mean.loc[k, 'E[d2] argmax']:.3f}  Loki {mean.loc[k, 'E[d2] Loki']:.3f}  "
          f"gain {mean.loc[k, 'rel. gain']:.3f} (relabelled {mean.loc[k, 'rel. gain (relabelled metric)']:.3f})  "
          f"top-1 {mean.loc[k, 'top-1 argmax']:.3f} -> {mean.loc[k, 'top-1 Loki']:.3f}")
print(f"verdict: {verdict}")
