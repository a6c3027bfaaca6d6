# %% [markdown]
# # Beyond neural scaling laws: beating power law scaling via data pruning
#
# Sorscher, Geirhos, Shekhar, Ganguli & Morcos, **NeurIPS 2022** (Outstanding Paper),
# [arXiv:2206.14486](https://arxiv.org/abs/2206.14486). No official code for the theory or the
# training was found; `rgeirhos/dataset-pruning-metrics` releases per-example ImageNet scores.
#
# **Claim tested here.** In a teacher-student perceptron, if a metric ranks training examples by
# difficulty and we keep only a fraction $f$ of them, (1) the best strategy depends on how much data
# there is: **keep the easy examples when data are scarce, the hard ones when data are abundant**;
# (2) with a perfect metric and $f$ chosen for each pruned size, the test error falls faster than
# the usual power law in the pruned dataset size $\alpha_{prune}$ (towards exponential); (3) with an
# imperfect metric (probe at angle $\theta$ to the teacher) the gain shrinks and pruning must become
# less aggressive. The carrier is the paper's first (theory + simulation) figure (figure number
# not checked against the PDF). The paper's practical, label-free metric is the **self-supervised
# prototype** (SSP) score: distance to the nearest k-means centroid in a self-supervised embedding.
#
# This notebook shows
# 1. **Part A, by simulation**: test error of the max-margin student versus $\alpha_{prune}$ and
#    $\alpha_{tot}$ for several kept fractions, keep-hard versus keep-easy, the keep-easy / keep-hard
#    crossover, and the Pareto frontier with a perfect and two imperfect metrics;
# 2. **Part B, on real data**: the SSP score on sklearn digits (a small MLP, 3 seeds): accuracy
#    versus fraction kept for random / keep-easy / keep-hard, on an abundant and a scarce pool;
# 3. a plain verdict.
#
# | profile | data | hardware | wall time |
# |---|---|---|---|
# | `ci` (default) | Gaussian perceptron, N = 100; sklearn digits (1,300 / 497), PCA-32 embedding | 1 CPU thread | about 1 minute |
# | `paper` | perceptron at N = 400, α_tot up to 512, 10 seeds; CIFAR-10 from `data_root`, ResNet-18, pools of 50,000 and 10,000 | 1 GPU (+ 1 CPU core for the perceptron) | perceptron about 30 min on one core; CIFAR-10: 132 ResNet-18 runs of 10,000 iterations, roughly 5-10 min each, so 10-20 GPU-hours (estimates, not measured) |

# %% tags=["parameters"]
profile = "ci"
device = "cpu"
data_root = None
seed = 0
# Knobs: None means "the profile's value" (see PROFILES below).
n_dim = None
alphas_tot = None
fractions = None
thetas_deg = None
max_alpha_prune = None
n_seeds_perceptron = None
dataset = None
pool_sizes = None
fractions_real = None
k_values = None
ssl_embeddings = None
pca_dim = None
iterations = None
batch_size = None
lr = None
optimizer = None
weight_decay = None
n_seeds = None

# %% [markdown]
# ## Profiles
# Part A: inputs in $N$ dimensions, $P_{tot} = \alpha_{tot} N$ examples, kept fractions $f = 2^{-j}$ so
# that $\alpha_{prune} = f \alpha_{tot}$ falls on one grid and every $\alpha_{prune}$ is reached by several
# $(f, \alpha_{tot})$ pairs (which is what the Pareto frontier needs); only fits with
# $\alpha_{prune} \le$ `max_alpha_prune` are run (the fit cost grows with the kept set, not with
# $\alpha_{tot}$). Part B: `ci` trains a 64-128-10 MLP on digits for a fixed number of Adam steps
# (the same compute for every subset); `paper` trains ResNet-18 on CIFAR-10 with SGD and random
# crop + flip, and reads self-supervised embeddings of the 50,000 training images from
# `ssl_embeddings` (a `.pt` / `.npy` array, e.g. SwAV or DINO features, the paper's SSP input; without
# it, PCA of the pixels stands in and the notebook says so).

# %%
import sys
from pathlib import Path

sys.path.insert(0, str(Path.cwd().parent))  # the repository root, when run from notebooks/

from mlcompanion.profiles import resolve_profile

DATASETS = ("digits", "cifar10")
PROFILES = {
    "ci": dict(n_dim=100, alphas_tot=[0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0],
               fractions=[1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625], thetas_deg=[0.0, 10.0, 30.0], max_alpha_prune=16.0,
               n_seeds_perceptron=3, dataset="digits", pool_sizes=[1300, 250],
               fractions_real=[1.0, 0.8, 0.6, 0.4, 0.2, 0.1], k_values=[10, 30], ssl_embeddings="", pca_dim=32,
               iterations=300, batch_size=64, lr=3e-3, optimizer="adam", weight_decay=0.0, n_seeds=3),
    "paper": dict(n_dim=400, alphas_tot=[0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0],
                  fractions=[1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125],
                  thetas_deg=[0.0, 10.0, 20.0, 30.0], max_alpha_prune=16.0, n_seeds_perceptron=10,
                  dataset="cifar10", pool_sizes=[50000, 10000], fractions_real=[1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3],
                  k_values=[100], ssl_embeddings="", pca_dim=256, iterations=10000, batch_size=128, lr=0.1,
                  optimizer="sgd", weight_decay=5e-4, n_seeds=3),
}
P = resolve_profile(
    PROFILES, profile, device=device, data_root=data_root, seed=seed, namespace=globals(),
    n_dim=n_dim, alphas_tot=alphas_tot, fractions=fractions, thetas_deg=thetas_deg, max_alpha_prune=max_alpha_prune,
    n_seeds_perceptron=n_seeds_perceptron, dataset=dataset, pool_sizes=pool_sizes, fractions_real=fractions_real,
    k_values=k_values, ssl_embeddings=ssl_embeddings, pca_dim=pca_dim, iterations=iterations, batch_size=batch_size,
    lr=lr, optimizer=optimizer, weight_decay=weight_decay, n_seeds=n_seeds,
)
if P.dataset not in DATASETS:
    raise ValueError(f"dataset must be one of {DATASETS}, got {P.dataset!r}")
if 1.0 not in P.fractions or 1.0 not in P.fractions_real:
    raise ValueError(f"fractions and fractions_real must contain 1.0 (the unpruned reference), got "
                     f"{P.fractions} and {P.fractions_real}")
if 0.0 not in P.thetas_deg:
    raise ValueError(f"thetas_deg must contain 0.0 (the perfect metric), got {P.thetas_deg}")
if not P.k_values or not P.pool_sizes:
    raise ValueError(f"k_values and pool_sizes must be non-empty, got {P.k_values} and {P.pool_sizes}")
if P.dataset == "cifar10":
    from mlcompanion.data import check_small_images_layout

    check_small_images_layout("cifar10", P.data_root)  # stops here, naming the dataset and its layout, if absent
    if P.ssl_embeddings and not Path(P.ssl_embeddings).expanduser().is_file():
        raise ValueError(f"ssl_embeddings must be a .pt or .npy file of (50000, d) CIFAR-10 train embeddings, "
                         f"got {P.ssl_embeddings!r} (not a file)")

# %%
import dataclasses
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import TensorDataset
from tqdm import tqdm

from mlcompanion.data.perceptron import generalisation_error, max_margin_student, probe_at_angle, teacher_student
from mlcompanion.data.pruning import linear_margins, n_kept, prototype_scores, select_subset
from mlcompanion.gallery import write_result
from mlcompanion.plotting import PALETTE, savefig, use_style
from mlcompanion.repro import make_deterministic
from mlcompanion.train import TrainConfig, evaluate_classifier, train_classifier

SLUG = "data_pruning"
make_deterministic(P.seed)
use_style()
pd.set_option("display.precision", 4)

# %% [markdown]
# ## Method
#
# **Teacher-student perceptron (Sec. 2).** A teacher $T \in \mathbb R^N$, inputs $x^\mu \sim \mathcal N(0, I_N)$,
# labels $y^\mu = \mathrm{sign}(T \cdot x^\mu)$, $\mu = 1 \dots P_{tot}$, $\alpha_{tot} = P_{tot}/N$.
# `mlcompanion.data.perceptron.teacher_student(N, P, seed)`
#
# **Pruning metric: the margin along a probe.** $m^\mu = |J_{probe} \cdot x^\mu| / \lVert J_{probe} \rVert$;
# small margins are hard. A perfect metric uses $J_{probe} = T$; an imperfect one a probe at angle
# $\theta$: $J_{probe} = \cos\theta\, \hat T + \sin\theta\, \hat T_\perp$.
# `mlcompanion.data.pruning.linear_margins(x, J)`, `mlcompanion.data.perceptron.probe_at_angle(T, theta, seed)`
#
# **Keep a fraction $f$.** Keep-hard keeps the $\lfloor f P_{tot} \rfloor$ smallest margins, keep-easy
# the largest; $\alpha_{prune} = f\,\alpha_{tot}$. `mlcompanion.data.pruning.select_subset(m, f, keep, hard="low")`
#
# **Student and error.** The maximum-margin perceptron on the kept set, solved exactly (as the
# minimum-norm point of the convex hull of $y^\mu x^\mu$, a non-negative least-squares problem; the
# brief's weakly regularised logistic proxy differs from it by about 0.1 rad in our pilot, which is
# not negligible at small errors), and the generalisation error $\varepsilon = \arccos(R)/\pi$,
# $R = J\cdot T/(\lVert J\rVert \lVert T\rVert)$. `max_margin_student(x, y)`, `generalisation_error(J, T)`.
# (That the paper's student is exactly the max-margin perceptron is our reading, not checked in the PDF.)
#
# **Self-supervised prototypes (Sec. 5).** L2-normalise the embeddings $e_i$, run k-means, score
# $d_i = \min_j \big(1 - \cos(e_i, c_j)\big)$; the smallest scores are the most prototypical (easy).
# `mlcompanion.data.pruning.prototype_scores(emb, k, seed=...)`, then `select_subset(d, f, keep, hard="high")`.
#
# ### A worked example
# Five points and the teacher $T = (3, 4)$: margins, and what keep-hard / keep-easy keep at $f = 0.4$.

# %%
toy_t = torch.tensor([3.0, 4.0], dtype=torch.float64)
toy_x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-4.0, 3.0], [-1.0, -1.0], [2.0, 1.0]], dtype=torch.float64)
toy_m = linear_margins(toy_x, toy_t)
print("margins |T.x|/|T|:", [round(v, 3) for v in toy_m.tolist()])
print("keep-hard f=0.4:", select_subset(toy_m, 0.4, "hard", hard="low").tolist(),
      " keep-easy f=0.4:", select_subset(toy_m, 0.4, "easy", hard="low").tolist())
toy_angles = torch.tensor([-0.02, -0.01, 0.0, 0.01, 0.02, math.pi / 4, -math.pi / 4], dtype=torch.float64)
toy_emb = torch.stack([toy_angles.cos(), toy_angles.sin()], 1)
toy_ssp = prototype_scores(toy_emb, k=1, seed=0).scores
print("SSP scores (k=1) of 5 clustered points and 2 outliers:", [round(v, 4) for v in toy_ssp.tolist()])

# %% [markdown]
# ## Part A: the teacher-student perceptron
# For each seed and $\alpha_{tot}$ we draw one dataset, score it with the teacher ($\theta = 0$) and
# with probes at the other angles, and fit the max-margin student on every kept subset with
# $\alpha_{prune} \le$ `max_alpha_prune` (keep-hard and keep-easy for $\theta = 0$, keep-hard only
# for the imperfect probes). Errors are exact ($\arccos R / \pi$), no test set needed.

# %%
def simulate_perceptron(run_seed: int) -> list[dict]:
    rows = []
    for ia, alpha in enumerate(P.alphas_tot):
        n_total = int(round(alpha * P.n_dim))
        x, y, teacher = teacher_student(P.n_dim, n_total, seed=100_000 * run_seed + ia)
        for theta in P.thetas_deg:
            probe = teacher if theta == 0 else probe_at_angle(teacher, math.radians(theta), seed=100_000 * run_seed + 1_000 + ia)
            margins = linear_margins(x, probe)
            for f in P.fractions:
                if f * alpha > P.max_alpha_prune + 1e-9 or math.floor(f * n_total + 1e-9) < 1:
                    continue
                if f == 1.0 and theta != 0:
                    continue  # unpruned: the same fit for every metric
                for keep in (("hard", "easy") if theta == 0 and f < 1 else ("hard",)):
                    idx = select_subset(margins, f, keep, hard="low")
                    student = max_margin_student(x[idx], y[idx])
                    rows.append({"seed": run_seed, "alpha_tot": alpha, "f": f, "theta": theta,
                                 "keep": "none" if f == 1.0 else keep, "alpha_prune": len(idx) / P.n_dim,
                                 "eps": generalisation_error(student, teacher)})
    return rows


perceptron_seeds = [P.seed + s for s in range(P.n_seeds_perceptron)]
sim = pd.DataFrame([r for s in tqdm(perceptron_seeds, desc="perceptron seeds", mininterval=1.0, ascii=True)
                    for r in simulate_perceptron(s)])
perfect = sim[sim.theta == 0]
mean_eps = perfect.groupby(["alpha_tot", "f", "keep"]).eps.mean()
unpruned = perfect[perfect.f == 1.0].groupby("alpha_tot").eps.agg(["mean", "std"])
print(f"{len(sim)} max-margin fits, N = {P.n_dim}, {len(perceptron_seeds)} seeds")
unpruned.assign(**{"eps * alpha": unpruned["mean"] * unpruned.index}).round(4)

# %% [markdown]
# **Keep-hard versus keep-easy at fixed $\alpha_{tot}$** (mean test error over seeds; rows
# $\alpha_{tot}$, columns the kept fraction $f$; `hard - easy` > 0 means keep-easy is better).

# %%
pivot = perfect[perfect.f < 1].groupby(["alpha_tot", "f", "keep"]).eps.mean().unstack("keep")
delta = (pivot["hard"] - pivot["easy"]).unstack("f").sort_index(axis=1, ascending=False)
delta.columns = [f"f={f:g}" for f in delta.columns]
print("eps(keep-hard) - eps(keep-easy):")
delta.round(4)

# %%
def crossover_alpha(f: float) -> float:
    """Smallest alpha_tot from which keep-hard beats keep-easy at every larger alpha_tot (nan if never)."""
    d = (pivot["hard"] - pivot["easy"]).xs(f, level="f").sort_index()
    hard_wins = (d < 0).to_numpy()
    for i in range(len(d)):
        if hard_wins[i:].all():
            return float(d.index[i])
    return float("nan")


fractions_pruned = sorted((f for f in P.fractions if f < 1), reverse=True)
crossover = {}
for f in fractions_pruned:
    d = (pivot["hard"] - pivot["easy"]).xs(f, level="f").sort_index()
    crossover[f] = {"smallest alpha_tot": float(d.index[0]), "easy better there": bool(d.iloc[0] > 0),
                    "largest alpha_tot": float(d.index[-1]), "hard better there": bool(d.iloc[-1] < 0),
                    "crossover alpha_tot": crossover_alpha(f)}
crossover_table = pd.DataFrame(crossover).T
crossover_table.index = [f"f={f:g}" for f in crossover_table.index]
crossover_table

# %% [markdown]
# **The Pareto frontier.** At each $\alpha_{prune}$ the frontier is the lowest error over all ways of
# reaching that pruned size ($f$, $\alpha_{tot} = \alpha_{prune}/f$, keep-hard or keep-easy). Power-law
# learning (unpruned max margin) has $\varepsilon \approx 0.50/\alpha$ at large $\alpha$ (a classical
# result for the max-margin perceptron, not from this paper; a guide only), so $\varepsilon\,\alpha$ is
# flat; a frontier that beats the power law has $\varepsilon\,\alpha_{prune}$ falling.

# %%
def frontier(frame: pd.DataFrame) -> pd.DataFrame:
    """Min over (f, keep) of the seed-mean error at each alpha_prune, with the f and keep that reach it."""
    means = frame.groupby(["alpha_prune", "f", "keep"]).eps.mean().reset_index()
    best = means.loc[means.groupby("alpha_prune").eps.idxmin()].set_index("alpha_prune")
    return best[["eps", "f", "keep"]]


fronts = {theta: frontier(pd.concat([sim[sim.theta == theta], perfect[perfect.f == 1.0]]))
          for theta in P.thetas_deg}
unpruned_by_size = perfect[perfect.f == 1.0].groupby("alpha_prune").eps.mean()
front_table = pd.DataFrame({"unpruned eps": unpruned_by_size})
for theta, fr in fronts.items():
    front_table[f"frontier eps, theta={theta:g}"] = fr["eps"]
    front_table[f"best f, theta={theta:g}"] = fr["f"]
    if theta == 0:
        front_table["best keep, theta=0"] = fr["keep"]
front_table["unpruned eps*alpha"] = front_table["unpruned eps"] * front_table.index
front_table["frontier eps*alpha, theta=0"] = front_table["frontier eps, theta=0"] * front_table.index
front_table = front_table.dropna(subset=["unpruned eps"])
front_table.round(4)

# %%
fig, axes = plt.subplots(1, 4, figsize=(17, 4.2))
alpha_grid = np.array(sorted(unpruned_by_size.index))
colors = {f: PALETTE[i % len(PALETTE)] for i, f in enumerate(sorted(P.fractions, reverse=True))}
for ax, keep in ((axes[0], "hard"), (axes[1], "easy")):
    for f in sorted(P.fractions, reverse=True):
        sel = perfect[(perfect.f == f) & (perfect.keep == ("none" if f == 1.0 else keep))]
        curve = sel.groupby("alpha_prune").eps.agg(["mean", "std"])
        ax.errorbar(curve.index, curve["mean"], yerr=curve["std"], marker="o", ms=3, capsize=2, color=colors[f],
                    label=f"f = {f:g}" + (" (unpruned)" if f == 1.0 else ""), lw=1.2)
    ax.plot(alpha_grid, 0.5 / alpha_grid, "k:", lw=1, label="0.50/α (classical guide)")
    ax.plot(fronts[0.0].index, fronts[0.0]["eps"], "k-", lw=2, alpha=0.35, label="Pareto frontier (θ = 0)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("α_prune = (kept examples) / N")
    ax.set_ylabel("test error ε")
    ax.set_title(f"keep {keep} (perfect metric, θ = 0)")
axes[0].legend(fontsize=7, loc="lower left")
ax = axes[2]
for f in fractions_pruned:
    d = (pivot["hard"] - pivot["easy"]).xs(f, level="f").sort_index()
    ax.plot(d.index, d.to_numpy(), marker="o", ms=3, color=colors[f], label=f"f = {f:g}")
ax.axhline(0, color="k", lw=0.8)
ax.set_xscale("log", base=2)
ax.set_xlabel("α_tot = (all examples) / N")
ax.set_ylabel("ε(keep hard) − ε(keep easy)")
ax.set_title("crossover: > 0 keep easy wins, < 0 keep hard wins")
ax.legend(fontsize=7)
ax = axes[3]
ax.plot(unpruned_by_size.index, unpruned_by_size.to_numpy(), "o--", color="gray", ms=3, label="no pruning")
for i, theta in enumerate(P.thetas_deg):
    fr = fronts[theta]
    ax.plot(fr.index, fr["eps"], "o-", ms=3, color=PALETTE[i], label=f"frontier, θ = {theta:g}°")
ax.set_yscale("log")
ax.set_xlabel("α_prune (linear axis: a straight line is exponential decay)")
ax.set_ylabel("test error ε")
ax.set_title("Pareto frontier, perfect and imperfect metrics")
ax.legend(fontsize=7)
fig.suptitle(f"Teacher-student perceptron, N = {P.n_dim}, max-margin student, mean ± std over {len(perceptron_seeds)} seeds")
fig.tight_layout()
savefig(fig, SLUG, "perceptron_scaling")
plt.show()

# %% [markdown]
# Reading the figure. With the teacher as metric, keeping the hard examples at a fixed $f$ shifts the
# power law down by about a factor $f$ once $\alpha_{tot}$ is large: the kept set still holds every
# support vector of the full set, so the student *is* the full-data student, learned from only
# $f P_{tot}$ examples ($\varepsilon \approx 0.5 f / \alpha_{prune}$). At small $\alpha_{tot}$ the same
# keep-hard rule is far worse than keep-easy (panel 3, positive values), and the crossover moves to
# larger $\alpha_{tot}$ as $f$ shrinks. The frontier (min over $f$) falls much faster than the unpruned
# power law, but **our grid bounds it**: with a perfect metric the smallest $f$ of the grid is the best
# at almost every $\alpha_{prune}$, so beyond $\alpha_{prune} \approx 4$ the measured frontier is the
# $f = f_{min}$ power law ($\varepsilon\,\alpha \approx 0.5 f_{min}$); reaching exponential decay needs
# $f \to 0$, i.e. exponentially large $\alpha_{tot}$ (the `paper` profile widens the grid a little).
# An imperfect probe lifts the frontier back towards the unpruned curve and its best $f$ grows with
# $\theta$ (pruning must become less aggressive).

# %% [markdown]
# ## Part B: self-supervised prototypes on real data
# `ci`: sklearn digits, a stratified 1,300 / 497 split; the *abundant* pool is all 1,300 training
# digits, the *scarce* pool a stratified 250 of them. The embedding is **PCA of the pixels** fitted on
# the pool without labels: an unsupervised stand-in, *not* a self-supervised network as in the paper.
# For each pool, seed and fraction we score the pool with `prototype_scores` (k-means seeded by the
# run's seed, k = `k_values[0]`; the other k's on the largest pool only), keep the subset, and train
# the same MLP for the same number of steps; accuracy on the fixed test split.

# %%
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split

if P.dataset == "digits":
    from mlcompanion.data import load_digits_tensors

    all_x, all_y = load_digits_tensors()
    train_idx, test_idx = train_test_split(np.arange(len(all_y)), train_size=1300, stratify=all_y.numpy(),
                                           random_state=P.seed)
    x_train, y_train = all_x[train_idx].flatten(1), all_y[train_idx]
    x_test, y_test = all_x[test_idx].flatten(1), all_y[test_idx]
    batch_transform = None

    def make_model():
        return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))

else:
    from mlcompanion.data import load_small_images
    from mlcompanion.models import resnet18

    x_train, y_train = load_small_images("cifar10", P.data_root, "train")
    x_test, y_test = load_small_images("cifar10", P.data_root, "test")
    cifar_mean = x_train.mean(dim=(0, 2, 3), keepdim=True)
    cifar_std = x_train.std(dim=(0, 2, 3), keepdim=True)
    x_train, x_test = (x_train - cifar_mean) / cifar_std, (x_test - cifar_mean) / cifar_std

    def batch_transform(x, generator):
        """Random crop with 4-pixel zero padding and horizontal flip (the usual CIFAR-10 augmentation)."""
        n, c = x.shape[:2]
        padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
        offsets = torch.randint(0, 9, (2, n), generator=generator, device=x.device)
        grid = torch.arange(32, device=x.device)
        rows = (offsets[0][:, None] + grid)[:, None, :, None]
        cols = (offsets[1][:, None] + grid)[:, None, None, :]
        out = padded[torch.arange(n, device=x.device)[:, None, None, None],
                     torch.arange(c, device=x.device)[None, :, None, None], rows, cols]
        flip = torch.rand(n, generator=generator, device=x.device) < 0.5
        return torch.where(flip[:, None, None, None], out.flip(3), out)

    def make_model():
        return resnet18(num_classes=10)

test_set = TensorDataset(x_test, y_test)
n_classes = int(y_train.max()) + 1
pools = {}
for size in P.pool_sizes:
    if size > len(y_train):
        raise ValueError(f"pool_sizes must be <= {len(y_train)} (the training split), got {size}")
    idx = (np.arange(len(y_train)) if size == len(y_train) else
           np.sort(train_test_split(np.arange(len(y_train)), train_size=size, stratify=y_train.numpy(),
                                    random_state=P.seed)[0]))
    pools[size] = torch.as_tensor(idx)
print(f"{P.dataset}: {len(y_train)} training and {len(y_test)} test examples, {n_classes} classes; "
      f"pools {list(pools)}")

if P.ssl_embeddings:
    path = Path(P.ssl_embeddings).expanduser()
    loaded = torch.load(path) if path.suffix == ".pt" else torch.as_tensor(np.load(path))
    if loaded.shape[0] != len(y_train):
        raise ValueError(f"ssl_embeddings must have one row per training image ({len(y_train)}), got {tuple(loaded.shape)}")
    embedding_name = f"self-supervised embeddings from {path.name}"
else:
    embedding_name = f"PCA-{P.pca_dim} of the pixels (unsupervised stand-in)"


def pool_embeddings(pool: torch.Tensor) -> torch.Tensor:
    if P.ssl_embeddings:
        return loaded[pool].double()
    flat = x_train[pool].flatten(1).double().numpy()
    return torch.as_tensor(PCA(P.pca_dim, random_state=P.seed).fit_transform(flat))


print("embedding:", embedding_name)

# %%
real_seeds = [P.seed + s for s in range(P.n_seeds)]
base_cfg = TrainConfig(iterations=P.iterations, batch_size=P.batch_size, lr=P.lr, optimizer=P.optimizer,
                       weight_decay=P.weight_decay, device=P.device, progress=False)
jobs = []
for size, pool in pools.items():
    emb = pool_embeddings(pool)
    ks = P.k_values if size == max(pools) else P.k_values[:1]
    for s in real_seeds:
        scores_by_k = {k: prototype_scores(emb, k=k, seed=s).scores for k in ks}
        for f in P.fractions_real:
            if f == 1.0:
                jobs.append((size, s, f, "none", ks[0], pool))
                continue
            jobs.append((size, s, f, "random", ks[0], pool[select_subset(scores_by_k[ks[0]], f, "random", hard="high", seed=s)]))
            for k in ks:
                for keep in ("easy", "hard"):
                    jobs.append((size, s, f, keep, k, pool[select_subset(scores_by_k[k], f, keep, hard="high")]))

real_rows = []
for size, s, f, keep, k, kept in tqdm(jobs, desc="train", mininterval=2.0, ascii=True):
    cfg = dataclasses.replace(base_cfg, batch_size=min(P.batch_size, len(kept)))
    make_deterministic(s)
    model = make_model()
    train_classifier(model, nn.CrossEntropyLoss(), TensorDataset(x_train[kept], y_train[kept]), cfg, seed=s,
                     batch_transform=batch_transform)
    counts = torch.bincount(y_train[kept], minlength=n_classes)
    real_rows.append({"pool": size, "seed": s, "f": f, "keep": keep, "k": k, "n_kept": len(kept),
                      "top1": evaluate_classifier(model, test_set, device=P.device)["top1"],
                      "classes present": int((counts > 0).sum()), "smallest class": int(counts.min())})
real = pd.DataFrame(real_rows)

# %% [markdown]
# ## Results

# %%
main_k = P.k_values[0]
main = real[(real.k == main_k)]
acc = main.groupby(["pool", "f", "keep"]).top1.agg(["mean", "std"]).unstack("keep")
acc_table = pd.DataFrame({
    f"{keep}": [f"{100 * m:.1f} ± {100 * sd:.1f}" if not np.isnan(m) else "" for m, sd in
                zip(acc[("mean", keep)], acc[("std", keep)])]
    for keep in ("random", "easy", "hard") if ("mean", keep) in acc.columns
}, index=acc.index)
full_acc = main[main.f == 1.0].groupby("pool").top1.agg(["mean", "std"])
print(f"test accuracy (%), mean ± std over {len(real_seeds)} seeds, SSP k = {main_k}; unpruned:",
      {int(p): f"{100 * r['mean']:.1f} ± {100 * r['std']:.1f}" for p, r in full_acc.iterrows()})
acc_table.drop(index=[i for i in acc_table.index if i[1] == 1.0])

# %%
balance = main[main.f < 1].groupby(["pool", "f", "keep"])[["classes present", "smallest class"]].min().unstack("keep")
print("class coverage of the kept subsets (minimum over seeds): SSP pruning is not class-balanced")
balance

# %%
if len(P.k_values) > 1:
    big = real[(real.pool == max(pools)) & real.keep.isin(["easy", "hard"])]
    k_table = big.groupby(["f", "k", "keep"]).top1.mean().unstack(["keep", "k"]).sort_index(ascending=False)
    print(f"robustness to k (pool {max(pools)}, mean top-1 over seeds)")
    display_k = (100 * k_table).round(1)
else:
    display_k = None
display_k

# %%
fig, axes = plt.subplots(1, len(pools), figsize=(5.5 * len(pools), 4), squeeze=False)
for ax, size in zip(axes[0], pools):
    sel = main[main.pool == size]
    full = sel[sel.f == 1.0].top1
    for i, keep in enumerate(("random", "easy", "hard")):
        curve = pd.concat([sel[sel.keep == keep], sel[sel.f == 1.0]]).groupby("f").top1.agg(["mean", "std"])
        ax.errorbar(curve.index, 100 * curve["mean"], yerr=100 * curve["std"], marker="o", ms=4, capsize=3,
                    color=PALETTE[i], label={"random": "random", "easy": "SSP keep easy", "hard": "SSP keep hard"}[keep])
    ax.axhline(100 * full.mean(), color="gray", ls=":", lw=1)
    ax.set_xlabel("fraction of the pool kept f")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{P.dataset}: pool of {size} ({'abundant' if size == max(pools) else 'scarce'})")
    ax.invert_xaxis()
axes[0][0].legend()
fig.suptitle(f"Self-supervised-prototype pruning ({embedding_name}, k = {main_k}), mean ± std over {len(real_seeds)} seeds")
fig.tight_layout()
savefig(fig, SLUG, "prototype_pruning")
plt.show()

# %% [markdown]
# ## Paper vs ours
# The paper's claims are qualitative curves (the theory figure; CIFAR-10 / SVHN scaling with EL2N;
# the ImageNet benchmark of ten metrics, where the label-free SSP is among the best). None of its
# numbers were checked against the PDF, so no number is printed as the paper's (not retrieved): the
# table states the paper's *claims* beside our numbers.

# %%
def gap(pool, f, a, b):
    m = main[(main.pool == pool) & (main.f == f)].groupby("keep").top1.mean()
    return float(m[a] - m[b])


largest_pool, smallest_pool = max(pools), min(pools)
f_big, f_small = max(f for f in P.fractions_real if f < 1), min(P.fractions_real)
front0 = front_table["frontier eps*alpha, theta=0"]
paper_vs_ours = pd.DataFrame({
    "paper (claim; numbers not retrieved)": [
        "keep easy wins at small α_tot",
        "keep hard wins at large α_tot",
        "frontier beats the power law (exponential)",
        "imperfect metric: frontier returns towards a power law",
        "SSP keep-hard ≥ random at mild pruning (ImageNet)",
        "theory: at small α_prune keep easy beats keep hard",
    ],
    "ours": [
        f"ε(hard)−ε(easy) at α_tot={P.alphas_tot[0]:g}: " + ", ".join(
            f"f={f:g}: {(pivot['hard'] - pivot['easy']).xs(f, level='f').sort_index().iloc[0]:+.3f}" for f in fractions_pruned[:3]),
        "at the largest α_tot of each f: " + ", ".join(
            f"f={f:g} (α_tot={crossover[f]['largest alpha_tot']:g}): "
            f"{(pivot['hard'] - pivot['easy']).xs(f, level='f').sort_index().iloc[-1]:+.4f}" for f in fractions_pruned),
        f"frontier ε·α: {front0.iloc[0]:.3f} at α={front0.index[0]:g} → {front0.iloc[-1]:.3f} at α={front0.index[-1]:g} "
        f"(unpruned {front_table['unpruned eps*alpha'].iloc[-1]:.3f})",
        ", ".join(f"θ={t:g}°: ε={fronts[t]['eps'].iloc[-1]:.4f}" for t in P.thetas_deg) + f" at α_prune={fronts[0.0].index[-1]:g}",
        f"pool {largest_pool}, f={f_big:g}: hard − random = {100 * gap(largest_pool, f_big, 'hard', 'random'):+.1f} points",
        f"pool {largest_pool}, f={f_small:g}: easy − hard = {100 * gap(largest_pool, f_small, 'easy', 'hard'):+.1f}, "
        f"but random beats both (easy − random = {100 * gap(largest_pool, f_small, 'easy', 'random'):+.1f} points)",
    ],
})
paper_vs_ours

# %% [markdown]
# ## Claim check

# %%
assert np.isfinite(sim.eps).all() and ((sim.eps >= 0) & (sim.eps <= 0.5 + 1e-9)).all()
assert np.isfinite(real.top1).all() and ((real.top1 >= 0) & (real.top1 <= 1)).all()
# the student learns: unpruned error falls with alpha and beats chance clearly at the largest alpha
assert unpruned["mean"].iloc[-1] < unpruned["mean"].iloc[0] < 0.5
# the unpruned model trains: accuracy far above chance (1 / classes); smoke runs with a handful of
# iterations (a paper-path check on a fake folder) cannot be judged on this
if P.iterations >= 100:
    assert full_acc["mean"].min() > 2.0 / n_classes, f"unpruned accuracy {full_acc['mean'].min():.3f} is near chance"

# (1) crossover: for every pruned f, keep-easy beats keep-hard at the smallest alpha_tot and keep-hard
#     beats keep-easy at the largest alpha_tot reached with that f.
crossover_holds = bool(crossover_table["easy better there"].all() and crossover_table["hard better there"].all())
# (2) beyond power law: along the theta = 0 frontier eps*alpha_prune falls by at least 2x from the start of
#     the large-alpha regime (alpha_prune >= 2) to the largest alpha_prune, while the unpruned eps*alpha
#     stays within a factor 1.5; and the frontier is below the unpruned curve at every alpha_prune >= 1.
large = front_table[front_table.index >= 2]
front_drop = float(large["frontier eps*alpha, theta=0"].iloc[0] / large["frontier eps*alpha, theta=0"].iloc[-1])
unpruned_drop = float(large["unpruned eps*alpha"].iloc[0] / large["unpruned eps*alpha"].iloc[-1])
below = bool((front_table.loc[front_table.index >= 1, "frontier eps, theta=0"]
              < front_table.loc[front_table.index >= 1, "unpruned eps"]).all())
beyond_power_law = front_drop >= 2.0 and unpruned_drop < 1.5 and below
# (3) imperfect metric: at the largest alpha_prune the frontier error grows with theta
last = front_table.index.max()
theta_errors = [float(front_table.loc[last, f"frontier eps, theta={t:g}"]) for t in P.thetas_deg]
imperfect_worse = all(b > a for a, b in zip(theta_errors, theta_errors[1:]))
best_f_last = [float(front_table.loc[last, f"best f, theta={t:g}"]) for t in P.thetas_deg]
# (B) SSP on real data, largest pool: keep-hard beats random on every seed (paired) at every mild fraction
#     (f >= 0.6), and keep-hard is above keep-easy at mild pruning but below it at the most aggressive
#     pruning (a crossover in f); reported per pool: the largest f at which keep-easy still beats keep-hard.
mild = [f for f in P.fractions_real if 0.6 <= f < 1]


def seed_wins(pool, f, a, b):
    sel = main[(main.pool == pool) & (main.f == f)].set_index("seed")
    return int((sel[sel.keep == a].top1 > sel[sel.keep == b].top1.reindex(sel[sel.keep == a].index)).sum())


sd_big = float(main[(main.pool == largest_pool) & (main.f == f_big)].groupby("keep").top1.std().max())
hard_ok_mild = bool(mild) and all(seed_wins(largest_pool, f, "hard", "random") == len(real_seeds) for f in mild)
real_crossover = gap(largest_pool, f_big, "hard", "easy") > 0 and gap(largest_pool, f_small, "hard", "easy") < 0
easy_beats_random_small = gap(largest_pool, f_small, "easy", "random") > 0
easy_up_to = {pool: max([f for f in P.fractions_real if f < 1 and gap(pool, f, "easy", "hard") > 0], default=float("nan"))
              for pool in pools}

print(f"(1) crossover keep-easy -> keep-hard in alpha_tot for every f: {crossover_holds}; "
      f"crossover alpha_tot by f: " + ", ".join(f"{f:g}: {crossover[f]['crossover alpha_tot']:g}" for f in fractions_pruned))
print(f"(2) frontier eps*alpha drops {front_drop:.2f}x over alpha_prune in [{large.index[0]:g}, {large.index[-1]:g}] "
      f"(unpruned: {unpruned_drop:.2f}x); frontier below unpruned at every alpha_prune >= 1: {below} -> {beyond_power_law}")
print(f"(3) frontier error at alpha_prune={last:g} by theta {P.thetas_deg}: {[round(e, 4) for e in theta_errors]} "
      f"-> grows with theta: {imperfect_worse}; best f there: {best_f_last}")
print(f"(B) {P.dataset} pool {largest_pool}: SSP keep-hard vs random at f={f_big:g}: "
      f"{100 * gap(largest_pool, f_big, 'hard', 'random'):+.1f} points (seed std {100 * sd_big:.1f}); "
      f"keep-hard beats random on every seed at f in {mild}: {hard_ok_mild}; "
      f"keep-hard above keep-easy at f={f_big:g} and below at f={f_small:g}: {real_crossover}; "
      f"keep-easy beats random at f={f_small:g}: {easy_beats_random_small}; "
      f"largest f where keep-easy beats keep-hard, by pool: {easy_up_to}")

theory_ok = crossover_holds and beyond_power_law and imperfect_worse
if theory_ok and hard_ok_mild and real_crossover:
    verdict = "reproduced"
elif theory_ok or (crossover_holds and beyond_power_law):
    verdict = "partly reproduced"
else:
    verdict = "not reproduced at this scale"
explanation = (
    f"Perceptron (N={P.n_dim}, exact max-margin student): keep-easy wins at small and keep-hard at large alpha_tot "
    f"for {'every' if crossover_holds else 'not every'} kept fraction; the perfect-metric Pareto frontier's eps*alpha "
    f"falls {front_drop:.1f}x while the unpruned one stays flat ({unpruned_drop:.2f}x), and imperfect probes "
    f"{'lift it back' if imperfect_worse else 'do not clearly lift it'}. On {P.dataset} with {embedding_name}, "
    f"SSP keep-hard {'beats random on every seed' if hard_ok_mild else 'does not beat random on every seed'} at f >= 0.6 "
    f"({100 * gap(largest_pool, f_big, 'hard', 'random'):+.1f} points at f={f_big:g}) "
    f"{'and crosses keep-easy' if real_crossover else 'without a keep-easy/keep-hard crossover'} as f shrinks, "
    f"but {'random also beats' if not easy_beats_random_small else 'keep-easy beats'} both SSP rules at f={f_small:g}."
)
print(f"verdict: {verdict}. {explanation}")

# %% [markdown]
# **What we learned.** (i) With the exact max-margin student, keep-hard pruning with a perfect metric
# is not magic: as long as the kept set holds the full set's support vectors the student is
# *identical* to the full-data one, so at fixed $\alpha_{tot}$ pruning never beats the full set; the
# gain is in $\alpha_{prune}$ (the same error from $f$ times fewer examples). (ii) The frontier's
# faster-than-power-law fall needs $f \to 0$ and hence ever larger $\alpha_{tot}$; on a finite grid it
# ends as the $f_{min}$ power law, which is what our frontier shows beyond $\alpha_{prune} \approx 4$.
# (iii) The crossover is robust and moves to larger $\alpha_{tot}$ as $f$ shrinks. (iv) On digits the
# SSP score with a PCA stand-in behaves like the theory's *abundant-data* regime only at mild pruning
# (keep-hard slightly above random at $f \ge 0.6$); at aggressive pruning keep-hard collapses (it
# drops whole classes, see the coverage table) and random beats both SSP rules; in the scarce pool
# keep-easy overtakes keep-hard at a larger $f$ than in the abundant pool, the direction the theory
# predicts.

# %%
ours_numbers = {
    "unpruned eps at largest alpha (perceptron)": float(front_table["unpruned eps"].iloc[-1]),
    f"frontier eps*alpha at alpha_prune={last:g}, theta=0": float(front_table["frontier eps*alpha, theta=0"].iloc[-1]),
    f"unpruned eps*alpha at alpha={last:g}": float(front_table["unpruned eps*alpha"].iloc[-1]),
    "frontier eps*alpha drop (theta=0)": front_drop,
    "unpruned eps*alpha drop": unpruned_drop,
    "crossover for every f": str(crossover_holds),
    f"{P.dataset} unpruned top-1 (pool {largest_pool})": float(full_acc.loc[largest_pool, "mean"]),
    f"{P.dataset} SSP hard - random, f={f_big:g}": gap(largest_pool, f_big, "hard", "random"),
    f"{P.dataset} SSP hard - random, f={f_small:g}": gap(largest_pool, f_small, "hard", "random"),
    f"{P.dataset} SSP easy - random, f={f_small:g}": gap(largest_pool, f_small, "easy", "random"),
}
result_file = write_result(
    SLUG,
    title="Beyond neural scaling laws: beating power law scaling via data pruning (NeurIPS 2022)",
    claim="Keep easy examples when data are scarce and hard ones when abundant; with a good metric and the kept "
          "fraction tuned per size, error falls faster than a power law; self-supervised prototypes are a good label-free metric.",
    verdict=verdict,
    explanation=explanation,
    ours=ours_numbers,
    paper={"perceptron and ImageNet numbers": "not retrieved (qualitative claims only)"},
    profile=P.profile,
)

# %%
# NBVAL_CHECK_OUTPUT
print("toy margins:", [round(v, 3) for v in toy_m.tolist()], " toy SSP:", [round(v, 3) for v in toy_ssp.tolist()])
print("unpruned eps by alpha:", {float(a): round(float(e), 3) for a, e in unpruned["mean"].items()})
print("frontier eps*alpha_prune (theta=0):", {float(a): round(float(e), 3) for a, e in front_table["frontier eps*alpha, theta=0"].items()})
print("crossover alpha_tot by f:", {f: crossover[f]["crossover alpha_tot"] for f in fractions_pruned})
print(f"frontier eps*alpha drop {front_drop:.3f}, unpruned {unpruned_drop:.3f}; eps at alpha_prune={last:g} by theta:",
      [round(e, 3) for e in theta_errors])
for size in pools:
    m = main[main.pool == size].groupby(["f", "keep"]).top1.mean()
    print(f"{P.dataset} pool {size} top-1:", {f"{f:g} {k}": round(float(v), 3) for (f, k), v in m.items()})
print(f"verdict: {verdict}")
