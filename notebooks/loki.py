# %% [markdown]
# # Geometry-Aware Adaptation for Pretrained Models (Loki)
#
# Roberts, Li, Adila, Cromp, Huang, Zhao & Sala, **NeurIPS 2023**, [arXiv:2307.12226](https://arxiv.org/abs/2307.12226).
# Official code: `SprocketLab/loki`.
#
# **Claim tested.** A classifier trained on K observed classes of a label space of N ≫ K labels equipped
# with a metric d can be adapted *without retraining* by replacing argmax with the Fréchet mean of its
# probabilities under d. The new rule ("Loki") can predict unobserved classes (Figure 1: a 3-class
# classifier on a 100-label grid) and lowers the expected squared label distance E[d²(y, ŷ)] (abstract:
# up to 29.7% relative improvement over SimCLR + logistic regression on ImageNet with a WordNet tree
# metric, 10.5% for zero-shot CLIP with a self-derived metric), most when K ≪ N, at the price of top-1
# accuracy.
#
# This notebook shows
# 1. **exactly, without training** (Figure 1): on a 10 × 10 grid graph with 3 observed labels, the
#    labels argmax and Loki can ever output, counted and drawn on the probability simplex;
# 2. **with the paper's head on frozen features**: scikit-learn's one-vs-rest logistic regression (the
#    official head) on unsupervised "pretrained" features of 128 glyph classes, fitted on K observed
#    classes and evaluated on all 128 with argmax and with Loki under the **label tree script → case →
#    class** (plus a link between the two cases of one letter), against a **permuted tree** (the same
#    tree with its leaves assigned to the classes at random: a negative control that keeps the shape
#    of the metric and removes its relation to the images);
# 3. the paper's numbers beside ours, and the verdict from the criteria registered below.
#
# | profile | data | hardware | time |
# |---|---|---|---|
# | `ci` (default) | 128 font-glyph classes rendered from matplotlib's fonts, PCA-64 pixel features, 10 class draws per K | 1 CPU thread | under a CPU minute (measured: the `timing` cell) |
# | `paper` | ImageNet SimCLR-v1 embeddings + a label graph (e.g. the WordNet tree) from `data_root` | CPU for the heads (embedding extraction, done once beforehand, is minutes on one GPU) | about an hour for 8 K values × 3 draws (estimate: 1,000 binary logistic regressions on 50k × 2048 at K = N) |

# %% tags=["parameters"]
profile = "ci"
device = "cpu"
data_root = None
seed = 0
# Knobs: None means "the profile's value" (see PROFILES below).
k_values = None
n_draws = None
n_permutations = None
per_class = None
pca_dim = None
C = None
max_iter = None
case_links = None
simplex_steps = None

# %% [markdown]
# ## Profiles
# `ci` builds everything offline: 128 glyph classes (the project's glyph alphabet: digits, Latin, Greek
# and Cyrillic capitals and small letters; both class-disjoint splits merged into one label space),
# 32 training renders per class (16 fonts × 2 augmentations) of which each draw uses `per_class`
# at random, 16 test renders per class (the same fonts, new augmentations), and pixel PCA to `pca_dim`
# dimensions fitted on the training images of *all* classes without labels (the stand-in for a
# self-supervised encoder such as SimCLR, which also saw unlabelled images of every class).
#
# `paper` follows the official uniform-sampler protocol (`simclr_imagenet/scripts/simclr_uniform_exp.py`):
# precomputed SimCLR-v1 ResNet50-1x embeddings of ImageNet and a label graph read from `data_root`
# (layout: `mlcompanion.data.label_graph.LAYOUT`), K classes drawn uniformly, the one-vs-rest head on
# `per_class` training images per observed class, evaluation on all validation images over all classes.
#
# Both profiles use the official head unchanged: scikit-learn's `OneVsRestClassifier(LogisticRegression(
# random_state=0, max_iter=500))` (L2, C = 1, L-BFGS), probabilities = the K sigmoid outputs divided by
# their sum (`mlcompanion.models.ovr_logistic.fit_ovr_logistic`). Nothing is tuned, so no validation split
# is needed for selection; the fit is convex, and its convergence is L-BFGS stopping before `max_iter`
# on every binary problem.

# %%
import sys
from pathlib import Path

sys.path.insert(0, str(Path.cwd().parent))  # the repository root, when run from notebooks/

from mlcompanion.profiles import resolve_profile

PROFILES = {
    "ci": dict(k_values=[5, 10, 20, 40, 80, 128], n_draws=20, n_permutations=5, per_class=24, pca_dim=64, C=1.0,
               max_iter=500, case_links=True, simplex_steps=100),
    "paper": dict(k_values=[5, 10, 25, 50, 100, 250, 500, 1000], n_draws=3, n_permutations=5, per_class=50,
                  pca_dim=0, C=1.0, max_iter=500, case_links=True, simplex_steps=200),
}
# One run's wall time per profile as the profile table states it (upper end, hours) and its GPUs:
# `python -m mlcompanion.pipeline sweep` sets each job's time limit from it.
COSTS = {"ci": {"hours": 0.02, "gpus": 0}, "paper": {"hours": 1, "gpus": 0}}
P = resolve_profile(
    PROFILES, profile, device=device, data_root=data_root, seed=seed, namespace=globals(),
    k_values=k_values, n_draws=n_draws, n_permutations=n_permutations, per_class=per_class, pca_dim=pca_dim,
    C=C, max_iter=max_iter, case_links=case_links, simplex_steps=simplex_steps,
)
if not P.k_values or any(not isinstance(k, int) or k < 3 for k in P.k_values):
    raise ValueError(f"k_values must be a non-empty list of ints >= 3 (one-vs-rest needs 3 classes), got {P.k_values}")
if P.n_draws < 1 or P.n_permutations < 1 or P.per_class < 0 or P.pca_dim < 0 or P.simplex_steps < 1:
    raise ValueError(f"n_draws, n_permutations and simplex_steps must be >= 1, per_class and pca_dim >= 0 "
                     f"(0 = all / none); got n_draws={P.n_draws}, n_permutations={P.n_permutations}, "
                     f"per_class={P.per_class}, pca_dim={P.pca_dim}, simplex_steps={P.simplex_steps}")
if not P.C > 0 or not isinstance(P.max_iter, int) or P.max_iter < 1:
    raise ValueError(f"C must be > 0 and max_iter a positive int, got C={P.C}, max_iter={P.max_iter}")
if P.profile == "paper":
    from mlcompanion.data.label_graph import check_label_graph_layout

    check_label_graph_layout(P.data_root)  # stops here, naming the files and the expected layout, if absent

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import Markdown, display
from matplotlib.colors import ListedColormap

from mlcompanion.gallery import paper_row, write_result
from mlcompanion.metrics.label_geometry import (
    argmax_predict,
    discrete_metric,
    expected_squared_distance,
    frechet_objective,
    frechet_predict,
    grid_metric,
    locus,
    path_metric,
    simplex_grid,
)
from mlcompanion.models.ovr_logistic import fit_ovr_logistic
from mlcompanion.plotting import PALETTE, savefig, use_style
from mlcompanion.repro import make_deterministic
from mlcompanion.verdict import Criterion, register_criteria

SLUG = "loki"
make_deterministic(P.seed)
use_style()
pd.set_option("display.precision", 3)
cpu_start = time.process_time()

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
# (`argmax_predict`). When the probabilities are the true posterior over $\Lambda$, the rule is the
# Bayes decision for the loss $d^2$; it helps exactly as far as the model's uncertainty follows the metric.
#
# **Evaluation: the expected squared distance** (official `MeanSquaredDistance`)
# $$E[d^2] = \frac1n \sum_{m=1}^n d^2(y_m, \hat y_m), \qquad \text{relative gain} = \frac{E_{\text{argmax}} - E_{\text{Loki}}}{E_{\text{argmax}}}$$
# `expected_squared_distance(pred, target, D)`, over test images of **all** N classes.
#
# **Locus.** $\Pi(\Lambda)$, the labels the rule outputs for *some* probability vector:
# `locus(D, observed, n_steps)` evaluates the rule on every point of the simplex grid of step $1/n$.
#
# **A tree whose labels are all leaves at one depth is an ultrametric**, and then Loki never outputs an
# unobserved class: for the observed class $\lambda_j$ nearest to a candidate $y$,
# $d(\lambda_j, \lambda_i) \le \max(d(\lambda_j, y), d(y, \lambda_i)) = d(y, \lambda_i)$ for every $i$ and
# $d(\lambda_j, \lambda_j) = 0 < d(y, \lambda_j)$, so $\lambda_j$ scores lower than $y$ whenever
# $P(\lambda_j \mid x) > 0$. Loki then only re-ranks the observed classes (towards the subtree holding the
# most probability). The brief's glyph metric adds a link between the two cases of one letter, which
# breaks the ultrametric and lets Loki output unobserved classes.
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
# At P = (0.5, 0.5) labels 4 and 5 tie exactly; the lowest index wins.
#
# ## Criteria, registered before anything is computed
# From the brief ("reproduced if"), judged by the shared rule (`mlcompanion.verdict`: clear = every draw
# agrees in sign and the mean exceeds the minimum effect and twice its standard error; fewer than 3
# draws is never clear). A *draw* is one seed: for every K it draws the observed classes, the training
# renders and the permutations. Values that average over K use the K < N of the profile.
# - headline `loki_lowers_esd`: Loki's E[d²] is below argmax's under the label tree (relative gain,
#   mean over K < N) by more than 1%;
# - headline `gain_from_geometry`: the gain under the true tree exceeds the gain under a permuted tree
#   (each run: the mean over `n_permutations` random leaf assignments, scored under the permuted tree
#   itself) by more than 1 point. Without it a gain could be mere hedging towards central labels;
# - secondary `permuted_tree_loses_gain`: the permuted-tree control itself stays below a 1% gain;
# - secondary `largest_at_small_K`: the gain at the smallest K exceeds the gain at the largest K < N by
#   more than 1 point (the paper: "most when K ≪ N");
# - secondary `predicts_unobserved`: Loki outputs unobserved classes (fraction of its predictions
#   outside Λ above 0.1%);
# - secondary `accuracy_tradeoff`: at K = N, top-1 accuracy drops from argmax to Loki by more than
#   0.5 points (the official notebook's ImageNet run: Loki optimises E[d²], not accuracy);
# - secondary `figure1_locus`: in Figure 1 Loki reaches more labels than argmax (exact).
#
# The head is the only fitted model (arm `ovr head`); every criterion but the exact one depends on its convergence.

# %%
MIN_GAIN = 0.01  # relative E[d²]: 1% is the smallest gain that counts (the paper reports up to 29.7%)
HEAD = ("ovr head",)
criteria = register_criteria([
    Criterion("loki_lowers_esd", "Loki's E[d²] below argmax's under the label tree (relative gain, mean over K < N)",
              threshold=0.0, min_effect=MIN_GAIN, arms=HEAD),
    Criterion("gain_from_geometry", "the gain under the true tree exceeds the gain under a permuted tree "
              "(difference of relative gains, mean over K < N)", threshold=0.0, min_effect=MIN_GAIN, arms=HEAD),
    Criterion("permuted_tree_loses_gain", "a permuted tree gives no gain (its relative gain, mean over K < N, "
              "below 1%)", direction="below", threshold=MIN_GAIN, role="secondary", arms=HEAD),
    Criterion("largest_at_small_K", "the relative gain is larger at the smallest K than at the largest K < N",
              threshold=0.0, min_effect=MIN_GAIN, role="secondary", arms=HEAD),
    Criterion("predicts_unobserved", "Loki outputs unobserved classes (fraction of predictions outside the "
              "observed classes, mean over K < N)", threshold=0.0, min_effect=0.001, role="secondary", arms=HEAD),
    Criterion("accuracy_tradeoff", "top-1 accuracy drops from argmax to Loki at K = N (argmax - Loki)",
              threshold=0.0, min_effect=0.005, role="secondary", arms=HEAD),
    Criterion("figure1_locus", "Figure 1: Loki reaches more labels than argmax (labels reached, Loki - argmax)",
              threshold=0.0, role="secondary", noise_free=True),
])
criteria.registered_table()

# %% [markdown]
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
fig, axes = plt.subplot_mosaic("AB;CC", figsize=(8.6, 9.0), layout="constrained")
axes = [axes["A"], axes["B"], axes["C"]]
for ax, pred, title in ((axes[0], fig1_argmax, f"argmax: {len(argmax_labels)} labels"),
                        (axes[1], fig1_loki, f"Loki (Fréchet mean): {len(loki_labels)} labels")):
    ax.scatter(xy[:, 0], xy[:, 1], c=[label_colour[int(p)] for p in pred], s=6, marker="h", linewidths=0)
    for lab in torch.unique(pred).tolist():
        centre = xy[(pred == lab).numpy()].mean(0)
        ax.text(*centre, str(lab), ha="center", va="center",
                bbox=dict(boxstyle="round,pad=0.03", fc="white", alpha=0.7, lw=0))
    for k, (lab, offset, align) in enumerate(zip(fig1_obs.tolist(), ([-0.03, -0.08], [0.03, -0.08], [0.17, -0.02]),
                                                 ("left", "right", "center"))):
        ax.text(*(corners[k] + offset), f"P({lab}) = 1", ha=align)
    ax.set_title(title)
    ax.set_aspect("equal")
    ax.axis("off")
grid_img = np.full((10, 10), 0.0)
grid_img.flat[loki_labels] = 1.0
grid_img.flat[fig1_obs.tolist()] = 2.0
axes[2].imshow(grid_img, cmap=ListedColormap(["#eeeeee", PALETTE[0], PALETTE[1]]), vmin=0, vmax=2)
for lab in range(100):
    axes[2].text(lab % 10, lab // 10, str(lab), ha="center", va="center",
                 color="white" if grid_img.flat[lab] > 0 else "black")
axes[2].set_title("the 10 × 10 label grid: observed (orange),\nreached by Loki (blue), never predicted (grey)")
axes[2].set_xlabel("grid column j")
axes[2].set_ylabel("grid row i")
fig.suptitle("Figure 1 setting: 3 observed labels in a 100-label grid")
savefig(fig, SLUG, "figure1_simplex", caption=(
    "Top: the probability simplex over the three observed labels (corners: all probability on one label); "
    "each point is one probability vector, coloured by the label predicted from it, with the label's number "
    "at the centre of its region: argmax (left) and Loki's Fréchet mean under the grid metric (right). "
    "Bottom: the 10 × 10 label grid (row i, column j holds label 10i + j): the observed labels in orange, "
    "the other labels Loki predicts somewhere on the simplex in blue, labels never predicted in grey."))
plt.show()

# %%
criteria.record("figure1_locus", len(loki_labels) - len(argmax_labels))
off_path = [lab for lab in loki_labels if lab not in fig1_obs.tolist()]
display(Markdown(
    f"Argmax reaches {len(argmax_labels)} labels, Loki {len(loki_labels)}: the observed labels plus "
    f"{', '.join(map(str, off_path))} (with lowest-index tie-breaking, the geodesics along row 0 and column 9 of "
    f"the grid). {100 * frac_tied:.1f}% of the simplex points have tied minimisers (shortest paths on a grid "
    f"are not unique), so the *set* depends on the tie-break: broken to the highest index Loki reaches "
    f"{len(highest_first)} labels, and {len(any_minimiser)} labels are a minimiser somewhere. The paper's "
    "figure follows `np.argmin` (lowest index), as we do."))

# %% [markdown]
# ## Part B: the paper's head on frozen features
# ### Data, features and the label tree

# %%
def merged_glyphs(**kw):
    """Both class-disjoint glyph splits as one label space of 128 classes (test labels offset by 64)."""
    from mlcompanion.data import load_glyphs

    g = load_glyphs(n_train_classes=64, n_test_classes=64, **kw)
    x = torch.cat([g.train.images, g.test.images])
    y = torch.cat([g.train.labels, g.test.labels + len(g.train.classes)])
    return x, y, g.train.classes + g.test.classes


if P.profile == "ci":
    from mlcompanion.data.label_graph import edge_list_metric, glyph_character_info, glyph_label_tree

    x_train, y_train, classes = merged_glyphs(n_augments=2, seed=P.seed)
    x_test, y_test, classes_test = merged_glyphs(n_augments=1, seed=P.seed + 1000)
    assert classes == classes_test
    N = len(classes)
    D = edge_list_metric(glyph_label_tree(classes, case_links=P.case_links), classes)
    D_pure_tree = edge_list_metric(glyph_label_tree(classes, case_links=False), classes)
    group_of = [glyph_character_info(c)[:2] for c in classes]
    group_names = sorted(set(group_of), key=group_of.index)
    group = torch.tensor([group_names.index(g) for g in group_of])
    # "pretrained" features: PCA of the pixels, fitted without labels on the training images of all classes
    X = x_train.flatten(1).double()
    mu = X.mean(0)
    _, sing, Vt = torch.linalg.svd(X - mu, full_matrices=False)
    basis = Vt[: P.pca_dim].T
    f_train = (X - mu) @ basis
    scale = f_train.std(0)
    f_train = f_train / scale
    f_test = ((x_test.flatten(1).double() - mu) @ basis) / scale
    metric_name = "script → case → class tree" + (" + case links" if P.case_links else "")
    explained = float((sing[: P.pca_dim] ** 2).sum() / (sing ** 2).sum())
    print(f"{N} classes in {len(group_names)} script/case groups "
          f"({', '.join(f'{s} {c}: {int((group == k).sum())}' for k, (s, c) in enumerate(group_names))}); "
          f"{len(f_train)} training and {len(f_test)} test images; PCA-{P.pca_dim} features "
          f"({100 * explained:.0f}% of the pixel variance)")
else:
    from mlcompanion.data.label_graph import load_label_graph_embeddings

    data = load_label_graph_embeddings(P.data_root)
    classes, N, D = data.classes, data.num_classes, data.D
    D_pure_tree, group = None, None
    f_train, y_train, f_test, y_test = (data.train_x.double(), data.train_y, data.val_x.double(), data.val_y)
    if P.pca_dim:
        raise ValueError("pca_dim must be 0 in the paper profile (the embeddings are used as they are)")
    metric_name = "shortest path on the label graph"
    print(f"{N} classes; {len(f_train)} training and {len(f_test)} evaluation embeddings of dimension "
          f"{f_train.shape[1]}")

if max(P.k_values) > N:
    raise ValueError(f"k_values must not exceed the number of classes {N}, got {P.k_values}")
offdiag = D[~torch.eye(N, dtype=torch.bool)]
values, counts = torch.unique(offdiag, return_counts=True)
print(f"label metric ({metric_name}): distances between classes " +
      ", ".join(f"{v:g} ({100 * c / len(offdiag):.1f}% of pairs)" for v, c in zip(values.tolist(), counts.tolist())
                if len(values) <= 10) + (f"min {offdiag.min():g}, median {offdiag.median():g}, max {offdiag.max():g}"
                                          if len(values) > 10 else ""))

# %% [markdown]
# **The tree.** Root → script (digits, Latin, Greek, Cyrillic) → case (capital / small; digits are one
# group) → class: two classes are 2 apart in the same group, 4 in the same script across cases, 6 across
# scripts. With the case links (`case_links`), a capital and its small letter are 1 apart (Latin "A"–"a",
# Greek "Σ"–"σ", Cyrillic "Б"–"б", where both survived the look-alike removal), and paths through a link
# shorten other distances to 3. The tree is built from the characters' Unicode names
# (`mlcompanion.data.label_graph.glyph_label_tree`), not from images. The **permuted tree** is the same
# matrix with its rows and columns permuted together at random (`D[perm][:, perm]`): the same multiset of
# distances and the same shape, assigned to the classes with no relation to what they look like.

# %%
if P.profile == "ci":
    order = sorted(range(N), key=lambda c: (int(group[c]), c))
    fig, axes = plt.subplots(1, 2, figsize=(8.6, 4.3), layout="constrained")
    perm_show = torch.randperm(N, generator=torch.Generator().manual_seed(P.seed + 7))
    for ax, mat, title in ((axes[0], D, f"label metric:\n{metric_name}"),
                           (axes[1], D[perm_show][:, perm_show], "a permuted tree\n(the control)")):
        im = ax.imshow(mat[order][:, order].numpy(), cmap="viridis")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("class (by script, case, alphabet)")
        ax.grid(False)
    axes[0].set_ylabel("class")
    edges = np.cumsum([int((group == k).sum()) for k in range(len(group_names))])[:-1] - 0.5
    for e in edges:
        axes[0].axhline(e, color="white", lw=0.5)
        axes[0].axvline(e, color="white", lw=0.5)
    fig.colorbar(im, ax=axes, label="d(a, b)", shrink=0.8)
    savefig(fig, SLUG, "label_metric", caption=(
        f"The label metric as an N × N distance matrix d(a, b) (colour), classes ordered by script, case "
        f"and alphabet. Left: {metric_name}, white lines between the script/case groups. Right: the same "
        f"matrix with rows and columns permuted together at random, the control."))
    plt.show()

# %% [markdown]
# ### Fit the head on K observed classes, predict over all N
# For each K and draw: K classes drawn uniformly (seeded), `per_class` training renders of each drawn at
# random, the one-vs-rest head fitted on them, probabilities on the test images of **all** N classes,
# then argmax (observed labels only) vs Loki (any label). On the same probabilities: Loki with the
# discrete metric (must equal argmax, asserted), Loki with `n_permutations` permuted trees (each scored
# under its own permuted tree), and, in `ci`, Loki under the tree without case links.

# %%
def observed_items(labels, observed, per_class, gen):
    """Indices of the items of the observed classes (at most per_class of each, drawn at random, if > 0)."""
    keep = []
    for c in observed.tolist():
        members = (labels == c).nonzero().flatten()
        if per_class:
            members = members[torch.randperm(len(members), generator=gen)[:per_class]]
        keep.append(members)
    return torch.cat(keep)


def chunked(fn, probs, *args, chunk=8192):
    return torch.cat([fn(probs[i:i + chunk], *args) for i in range(0, len(probs), chunk)])


def rel_gain(pred_arg, pred_loki, target, metric):
    e_arg = expected_squared_distance(pred_arg, target, metric).item()
    return e_arg, (e_arg - expected_squared_distance(pred_loki, target, metric).item()) / e_arg


rows, examples = [], {}
for K in P.k_values:
    for draw in range(P.n_draws):
        run_seed = P.seed + 1000 * draw + K
        gen = torch.Generator().manual_seed(run_seed)
        observed = torch.randperm(N, generator=gen)[:K].sort().values
        idx = observed_items(y_train, observed, P.per_class, gen)
        head = fit_ovr_logistic(f_train[idx], y_train[idx], C=P.C, max_iter=P.max_iter)
        assert torch.equal(head.classes, observed)
        probs = head.predict_proba(f_test)
        pred_argmax = argmax_predict(probs, observed)
        pred_loki = chunked(frechet_predict, probs, D, observed)
        assert torch.equal(chunked(frechet_predict, probs, discrete_metric(N), observed), pred_argmax), \
            "Loki with the discrete metric must equal argmax"
        e_arg, gain = rel_gain(pred_argmax, pred_loki, y_test, D)
        perm_gains = []
        for r in range(P.n_permutations):
            perm = torch.randperm(N, generator=gen)
            D_perm = D[perm][:, perm]
            perm_gains.append(rel_gain(pred_argmax, chunked(frechet_predict, probs, D_perm, observed), y_test, D_perm)[1])
        unobserved = ~torch.isin(y_test, observed)
        row = {
            "K": K, "draw": draw, "E[d2] argmax": e_arg,
            "E[d2] Loki": expected_squared_distance(pred_loki, y_test, D).item(),
            "rel. gain": gain, "rel. gain (permuted tree)": float(np.mean(perm_gains)),
            "top-1 argmax": (pred_argmax == y_test).double().mean().item(),
            "top-1 Loki": (pred_loki == y_test).double().mean().item(),
            "Loki outside observed": (~torch.isin(pred_loki, observed)).double().mean().item(),
            "Loki changes the prediction": (pred_loki != pred_argmax).double().mean().item(),
            "L-BFGS iterations": head.n_iter, "converged": head.converged,
        }
        if D_pure_tree is not None:
            pred_pure = chunked(frechet_predict, probs, D_pure_tree, observed)
            assert bool(torch.isin(pred_pure, observed).all()), "on an ultrametric tree Loki outputs observed classes only"
            row["rel. gain (tree without links)"] = rel_gain(pred_argmax, pred_pure, y_test, D_pure_tree)[1]
        if group is not None and K < N and bool(unobserved.any()):
            # does the head place an unobserved class's images in its script/case group more than chance?
            g_true, g_pred = group[y_test[unobserved]], group[pred_argmax[unobserved]]
            chance = (group[observed][None, :] == g_true[:, None]).double().mean(1)
            row["argmax in the true group, unobserved classes (minus chance)"] = \
                float((g_pred == g_true).double().mean() - chance.mean())
        rows.append(row)
        if draw == 0:
            examples[K] = (observed, pred_argmax, pred_loki)
runs = pd.DataFrame(rows)
print(f"{len(runs)} heads fitted (K in {P.k_values}, {P.n_draws} draws each)")

# %% [markdown]
# ### Convergence of the head
# The one-vs-rest fit is convex and solved by L-BFGS; a fit has converged when every one of its K binary
# problems stopped on scikit-learn's tolerance before `max_iter`.

# %%
head_conv = runs.groupby("K").agg(fits=("converged", "size"), converged=("converged", "sum"),
                                  **{"most L-BFGS iterations": ("L-BFGS iterations", "max")})
head_conv["of max_iter"] = P.max_iter
converged = {"ovr head": bool(runs["converged"].all())}
print(head_conv.to_string())
print(f"every head converged: {converged['ovr head']}")

# %% [markdown]
# ## Results

# %%
COLS = ["E[d2] argmax", "E[d2] Loki", "rel. gain", "rel. gain (permuted tree)", "top-1 argmax", "top-1 Loki",
        "Loki outside observed", "Loki changes the prediction"]
COLS += [c for c in ("rel. gain (tree without links)", "argmax in the true group, unobserved classes (minus chance)")
         if c in runs.columns]
mean = runs.groupby("K")[COLS].mean()
std = runs.groupby("K")[COLS].std(ddof=1).fillna(0.0)
table = pd.DataFrame({c: [f"{m:.3f} ± {s:.3f}" for m, s in zip(mean[c], std[c])] for c in COLS}, index=mean.index)
table.index.name = f"K (of N = {N}), mean ± sd over {P.n_draws} draws"
table

# %%
ks = mean.index.to_numpy()
fig, axes = plt.subplot_mosaic("EA;GG", figsize=(8.6, 7.6), layout="constrained")
ax_e, ax_g, ax_a = axes["E"], axes["G"], axes["A"]
for col, colour, label in (("E[d2] argmax", PALETTE[0], "argmax"), ("E[d2] Loki", PALETTE[1], "Loki")):
    ax_e.errorbar(ks, mean[col], yerr=std[col], color=colour, marker="o", capsize=3, label=label)
ax_e.set_xscale("log")
ax_e.set_xlabel("observed classes K (log scale)")
ax_e.set_ylabel("E[d²(y, ŷ)] over all N classes")
ax_e.set_title("expected squared distance")
ax_e.legend()
gain_lines = [("rel. gain", PALETTE[1], "true tree"), ("rel. gain (permuted tree)", PALETTE[2], "control: permuted tree")]
if "rel. gain (tree without links)" in mean.columns:
    gain_lines.append(("rel. gain (tree without links)", PALETTE[4], "tree without case links"))
for col, colour, label in gain_lines:
    ax_g.errorbar(ks, 100 * mean[col], yerr=100 * std[col], color=colour, marker="o", capsize=3, label=label)
ax_g.axhline(0, color="grey", lw=0.8)
ax_g.axhspan(-100 * MIN_GAIN, 100 * MIN_GAIN, color="grey", alpha=0.15, lw=0, label="below the minimum effect (1%)")
ax_g.set_xscale("log")
ax_g.set_xlabel("observed classes K (log scale)")
ax_g.set_ylabel("relative E[d²] gain of Loki over argmax (%)")
ax_g.set_title(f"gain, mean ± sd over {P.n_draws} draws")
ax_g.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
for col, colour, label in (("top-1 argmax", PALETTE[0], "argmax"), ("top-1 Loki", PALETTE[1], "Loki")):
    ax_a.errorbar(ks, 100 * mean[col], yerr=100 * std[col], color=colour, marker="o", capsize=3, label=label)
ax_a.set_xscale("log")
ax_a.set_xlabel("observed classes K (log scale)")
ax_a.set_ylabel("top-1 accuracy, all N classes (%)")
ax_a.set_title("the accuracy side")
ax_a.legend()
savefig(fig, SLUG, "learned_model", caption=(
    f"Against the number K of observed classes (log scale), mean ± standard deviation over {P.n_draws} draws "
    f"of the observed classes, on the test images of all N = {N} classes. Top left: expected squared label "
    f"distance E[d²(y, ŷ)] under {metric_name} for argmax and Loki. Top right: top-1 accuracy of both. "
    f"Bottom: Loki's relative E[d²] gain over argmax under the true metric and the controls; the grey band "
    f"is the minimum effect of the criteria."))
plt.show()

# %% [markdown]
# **Reading the figure.** Top left: E[d²] of both rules on the test images of all N classes (lower is better).
# Bottom: Loki's relative gain under the true tree and under permuted trees; the grey band is the
# minimum effect of the criteria. A gain that the permuted tree keeps is hedging towards labels that are
# central in the metric, not geometry shared between the images and the labels. Top right: top-1 accuracy
# over all N classes (argmax can only be right on observed classes).
#
# ### Criteria

# %%
partial = runs[runs.K < N]
by_draw = partial.groupby("draw")
if len(partial):
    criteria.record("loki_lowers_esd", by_draw["rel. gain"].mean().tolist())
    criteria.record("gain_from_geometry", (by_draw["rel. gain"].mean() - by_draw["rel. gain (permuted tree)"].mean()).tolist())
    criteria.record("permuted_tree_loses_gain", by_draw["rel. gain (permuted tree)"].mean().tolist())
    criteria.record("predicts_unobserved", by_draw["Loki outside observed"].mean().tolist())
k_partial = sorted(partial.K.unique())
if len(k_partial) > 1:
    g_by = partial.pivot(index="draw", columns="K", values="rel. gain")
    criteria.record("largest_at_small_K", (g_by[k_partial[0]] - g_by[k_partial[-1]]).tolist())
full = runs[runs.K == N].set_index("draw")
if len(full):
    criteria.record("accuracy_tradeoff", (full["top-1 argmax"] - full["top-1 Loki"]).tolist())
exploratory = []
if "rel. gain (tree without links)" in partial.columns:
    criteria.add_exploratory(Criterion(
        "pure_tree_gain", "Loki's gain under the tree without case links (an ultrametric: Loki only re-ranks the "
        "observed classes), mean over K < N", threshold=0.0, min_effect=MIN_GAIN, arms=HEAD))
    criteria.record("pure_tree_gain", by_draw["rel. gain (tree without links)"].mean().tolist())
    exploratory.append("pure_tree_gain")
col = "argmax in the true group, unobserved classes (minus chance)"
if col in partial.columns:
    criteria.add_exploratory(Criterion(
        "features_know_the_group", "for images of unobserved classes, the head's argmax falls in their script/case "
        "group more often than chance (rate minus chance, mean over K < N)", threshold=0.0, min_effect=0.01, arms=HEAD))
    criteria.record("features_know_the_group", by_draw[col].mean().tolist())
    exploratory.append("features_know_the_group")
verdict = criteria.verdict(converged)
criteria.table(digits=4)

# %%
def o_mean(name):
    return criteria.outcome(name).mean


def sentence(name):
    text = criteria.sentence(name, 1.0, "", 0) if criteria[name].noise_free else criteria.sentence(name)
    return text[0].upper() + text[1:]


headline = [sentence(c.name) for c in criteria if c.role == "headline"]
secondary = [sentence(c.name) for c in criteria if c.role == "secondary"]
explanation = (
    f"Official one-vs-rest logistic-regression head on {'PCA-%d pixel features of %d glyph classes' % (P.pca_dim, N) if P.profile == 'ci' else 'the embeddings in data_root'}, "
    f"{P.n_draws} draws per K, K in {P.k_values}, metric: {metric_name}; relative gains in points of %. "
    + " ".join(headline) + " Secondary: " + " ".join(secondary)
    + (" Every head converged." if converged["ovr head"] else " Some heads did not converge (L-BFGS hit max_iter).")
)
display(Markdown(f"**Verdict: {verdict}.** {explanation}"))
if exploratory:
    display(Markdown("Exploratory (not in the verdict): " + " ".join(sentence(n) for n in exploratory)))

# %%
g_true, g_perm = o_mean("loki_lowers_esd"), o_mean("permuted_tree_loses_gain")
k_hi = k_partial[-1] if k_partial else None
reading = [
    f"Averaged over K < N, Loki lowers E[d²] by {100 * g_true:.1f}% under the tree and by {100 * g_perm:.1f}% under "
    f"permuted trees (the same distances assigned to the classes at random): "
    + ("both stay below the 1% minimum effect, so at this scale Loki neither lowers E[d²] measurably nor does better "
       "with the true tree than with a random one." if g_true < MIN_GAIN else
       "most of the gain survives the control, so it is hedging towards central labels rather than geometry shared "
       "with the images." if g_perm >= 0.5 * g_true else "the control removes most of the gain.")
    if k_partial else "No K < N was run.",
]
if "features_know_the_group" in exploratory:
    reading.append(
        f"The head does carry some of the hierarchy: for images of unobserved classes its argmax lands in their "
        f"script/case group {100 * o_mean('features_know_the_group'):.1f} points more often than chance; but its "
        f"probabilities change the prediction of {100 * partial['Loki changes the prediction'].mean():.0f}% of the test "
        "images without lowering E[d²] by much, as the Fréchet rule can only exploit probabilities that are calibrated "
        "over the whole label space.")
if k_hi is not None and len(k_partial) > 1:
    reading.append(
        f"The gain grows with K (K = {k_partial[0]}: {100 * mean.loc[k_partial[0], 'rel. gain']:.1f}%, K = {k_hi}: "
        f"{100 * mean.loc[k_hi, 'rel. gain']:.1f}%)" if mean.loc[k_hi, "rel. gain"] > mean.loc[k_partial[0], "rel. gain"]
        else f"The gain is larger at K = {k_partial[0]} than at K = {k_hi}")
    reading[-1] += ", against the paper's \"most when K ≪ N\"." if mean.loc[k_hi, "rel. gain"] > mean.loc[k_partial[0], "rel. gain"] else ", as the paper says."
if N in mean.index:
    reading.append(f"At K = N top-1 goes from {100 * mean.loc[N, 'top-1 argmax']:.1f}% to "
                   f"{100 * mean.loc[N, 'top-1 Loki']:.1f}% while E[d²] falls by {100 * mean.loc[N, 'rel. gain']:.1f}% "
                   f"(permuted tree: {100 * mean.loc[N, 'rel. gain (permuted tree)']:.1f}%).")
display(Markdown("**What the numbers say.** " + " ".join(reading)))

# %% [markdown]
# ### What Loki predicts instead
# Test images of one draw where Loki's prediction differs from argmax (K = 20 in `ci`): true class,
# argmax over the observed classes, and Loki's label (‡ = not an observed class).

# %%
if P.profile == "ci":
    K_show = 20 if 20 in examples else P.k_values[len(P.k_values) // 2]
    obs_show, arg_show, loki_show = examples[K_show]
    changed = (arg_show != loki_show).nonzero().flatten()[:12]
    n_cols = min(6, max(len(changed), 1))
    n_rows = (max(len(changed), 1) + n_cols - 1) // n_cols
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(1.4 * n_cols, 0.5 + 2.3 * n_rows), squeeze=False)
    for ax, i in zip(axes.flat, changed.tolist()):
        ax.imshow(x_test[i, 0].numpy(), cmap="gray_r")
        mark = "" if bool(torch.isin(loki_show[i], obs_show)) else "‡"
        ax.set_title(f"true {classes[int(y_test[i])]}\nargmax {classes[int(arg_show[i])]}\n"
                     f"Loki {classes[int(loki_show[i])]}{mark}")
    for ax in axes.flat:
        ax.axis("off")
    fig.suptitle(f"K = {K_show} observed classes: " + " ".join(classes[k] for k in obs_show.tolist()), fontsize=10)
    fig.tight_layout()
    savefig(fig, SLUG, "changed_predictions", caption=(
        f"Test images of one draw with K = {K_show} observed classes (listed in the title) on which Loki's "
        f"prediction differs from argmax, up to 12: each image's true class, the argmax prediction over the "
        f"observed classes and Loki's prediction (‡: not an observed class)."))
    plt.show()

# %% [markdown]
# ## Paper vs ours
# Paper values from the **abstract** (verified, `paper-numbers.md`): up to 29.7% relative E[d²] improvement
# over SimCLR on ImageNet (WordNet tree, the best K / sampler setting) and 10.5% for zero-shot CLIP with a
# self-derived metric; the per-K rows of the paper's ImageNet table were not retrieved, so they are not
# printed. For K = N we quote the **official repository's notebook output** (uniform sampler, all 1,000
# classes observed; not a table of the paper), as given in the brief.

# %%
o = criteria.outcome
ci_setting = (f"{P.profile}: {N} classes, {metric_name}, OvR LR on "
              + (f"PCA-{P.pca_dim} pixels" if P.profile == "ci" else "the given embeddings"))
best_K = int(mean.loc[mean.index < N, "rel. gain"].idxmax()) if (mean.index < N).any() else None
rows_pv = [
    paper_row("relative E[d²] gain of Loki over argmax, K < N (%)", paper="up to 29.7",
              paper_setting="SimCLR + OvR LR, ImageNet, WordNet tree, best K / sampler", source="abstract",
              ours=round(100 * o("loki_lowers_esd").mean, 1) if o("loki_lowers_esd").n else None,
              ours_setting=ci_setting + f", mean over K < N, {P.n_draws} draws", comparable_as="ordering"),
    paper_row("relative E[d²] gain at the best K < N (%)",
              ours=round(100 * float(mean.loc[best_K, "rel. gain"]), 1) if best_K else None,
              ours_setting=ci_setting + f", K = {best_K}", comparable_as="ordering"),
    paper_row("relative E[d²] gain, permuted tree (%)",
              ours=round(100 * o("permuted_tree_loses_gain").mean, 1) if o("permuted_tree_loses_gain").n else None,
              ours_setting=ci_setting + ", mean over K < N (negative control, not in the paper)", comparable_as="ordering"),
    paper_row("relative E[d²] gain, zero-shot CLIP, self-derived metric (%)", paper=10.5,
              paper_setting="CLIP zero-shot, class-name embedding metric", source="abstract", comparable_as="value"),
    paper_row("relative E[d²] gain at K = N (%)", paper=26.5, paper_setting="SimCLR + OvR LR, ImageNet, K = N = 1000 "
              "(E[d²] 85.39 → 62.76)", source="official repository notebook output (not the paper)",
              ours=round(100 * float(mean.loc[N, "rel. gain"]), 1) if N in mean.index else None,
              ours_setting=ci_setting + f", K = N", comparable_as="ordering"),
    paper_row("top-1 accuracy drop argmax → Loki at K = N (points)", paper=22.4,
              paper_setting="SimCLR + OvR LR, ImageNet, K = N (54.8% → 32.4%)",
              source="official repository notebook output (not the paper)",
              ours=round(100 * o("accuracy_tradeoff").mean, 1) if o("accuracy_tradeoff").n else None,
              ours_setting=ci_setting + ", K = N", comparable_as="ordering"),
    paper_row("Figure 1: labels reached, argmax / Loki", paper="3 / many (drawn)",
              paper_setting="10 × 10 grid graph, observed {0, 39, 99}", source="paper figure",
              ours=f"{len(argmax_labels)} / {len(loki_labels)}", ours_setting=f"simplex grid of step 1/{P.simplex_steps}",
              comparable_as="value"),
]
pd.DataFrame(rows_pv)

# %% tags=["timing"]
cpu_seconds = time.process_time() - cpu_start
budget = {"heads fitted": len(runs), "draws per K": P.n_draws, "K values": len(P.k_values),
          "permuted trees per head": P.n_permutations, "L-BFGS max_iter": P.max_iter,
          "most L-BFGS iterations used": int(runs["L-BFGS iterations"].max()),
          "CPU seconds (notebook)": round(cpu_seconds, 1)}
print(budget)
summary_numbers = {f"relative E[d2] gain, K={k}": float(mean.loc[k, "rel. gain"]) for k in ks}
summary_numbers.update({f"relative gain, permuted tree, K={k}": float(mean.loc[k, "rel. gain (permuted tree)"])
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
    criteria=criteria,
    convergence={"ovr head": {"converged": converged["ovr head"], "fits": len(runs),
                              "most L-BFGS iterations": int(runs["L-BFGS iterations"].max()), "max_iter": P.max_iter}},
    budget=budget,
    rows=rows_pv,
)

# %%
# NBVAL_CHECK_OUTPUT
print(f"toy path metric: argmax {toy_argmax.tolist()}, Loki {toy_loki.tolist()}")
print(f"Figure 1: argmax reaches {len(argmax_labels)} labels, Loki {len(loki_labels)}: {loki_labels}")
for k in ks:
    print(f"K={k:4d}  E[d2] argmax {mean.loc[k, 'E[d2] argmax']:.3f}  Loki {mean.loc[k, 'E[d2] Loki']:.3f}  "
          f"gain {mean.loc[k, 'rel. gain']:.3f} (permuted tree {mean.loc[k, 'rel. gain (permuted tree)']:.3f})  "
          f"top-1 {mean.loc[k, 'top-1 argmax']:.3f} -> {mean.loc[k, 'top-1 Loki']:.3f}")
for c in criteria:
    oc = criteria.outcome(c.name)
    print(f"{c.name}: {round(oc.mean, 3) + 0.0:+.3f} -> {oc.status}")
print(f"heads converged: {converged['ovr head']}; verdict: {verdict}")
