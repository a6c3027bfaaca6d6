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
# 1. the **criteria**, registered before any experiment (from the brief), and the rule that turns
#    them into the verdict (`mlcompanion.verdict`);
# 2. **Part A, by simulation**: test error of the max-margin student versus $\alpha_{prune}$ and
#    $\alpha_{tot}$ for kept fractions down to $2^{-10}$ (so $\alpha_{tot}$ up to $2^{14}$), keep-hard versus
#    keep-easy, the crossover, the Pareto frontier and its local log-log slope, with a perfect and two
#    imperfect metrics;
# 3. **Part B, on real data**: the SSP score on sklearn digits (a small MLP trained to a plateau of a
#    validation split, 3 seeds): accuracy versus fraction kept for random / keep-easy / keep-hard, on
#    an abundant and a scarce pool, on a test split of most of the dataset;
# 4. the verdict from the registered criteria, and the paper beside ours.
#
# | profile | data | hardware | wall time |
# |---|---|---|---|
# | `ci` (default) | Gaussian perceptron, N = 100, α_tot 0.5 … 16,384, 3 seeds; sklearn digits (pool 750 / validation 250 / test 797), PCA-32 embedding, 3 seeds | 1 CPU thread | about 1-2 minutes of CPU time |
# | `paper` | perceptron at N = 400, α_tot up to 2^16, 10 seeds; CIFAR-10 from `data_root`, ResNet-18, pools of 45,000 and 10,000 (5,000 training images held out for validation) | 1 GPU (+ 1 CPU core for the perceptron) | perceptron about 30 min on one core; CIFAR-10: about 90 ResNet-18 runs of up to 10,000 iterations, roughly 5-10 min each, so 8-15 GPU-hours (estimates, not measured) |

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
val_size = None
test_size = None
eval_every = None
plateau_tol = None
min_iterations = None

# %% [markdown]
# ## Profiles
# Part A: inputs in $N$ dimensions, $P_{tot} = \alpha_{tot} N$ examples, kept fractions $f = 2^{-j}$ so
# that $\alpha_{prune} = f \alpha_{tot}$ falls on one grid and every $\alpha_{prune}$ is reached by several
# $(f, \alpha_{tot})$ pairs (which is what the Pareto frontier needs); only fits with
# $\alpha_{prune} \le$ `max_alpha_prune` are run (the fit cost grows with the kept set; the draw of a
# large pool costs two Gaussian coordinates per example, see Part A). Part B: `ci` trains a
# 64-128-10 MLP on digits with Adam, validating on a split of the training data every `eval_every`
# steps and stopping at a plateau (`iterations` is the cap); `paper` trains ResNet-18 on CIFAR-10 with SGD and random
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
    "ci": dict(n_dim=100, alphas_tot=[2.0 ** k for k in range(-1, 15)],
               fractions=[2.0 ** -j for j in range(11)], thetas_deg=[0.0, 10.0, 30.0], max_alpha_prune=16.0,
               n_seeds_perceptron=3, dataset="digits", pool_sizes=[750, 150],
               fractions_real=[1.0, 0.8, 0.6, 0.4, 0.2, 0.1], k_values=[10], ssl_embeddings="", pca_dim=32,
               iterations=3000, batch_size=64, lr=3e-3, optimizer="adam", weight_decay=0.0, n_seeds=3,
               val_size=250, test_size=797, eval_every=50, plateau_tol=0.005, min_iterations=300),
    "paper": dict(n_dim=400, alphas_tot=[2.0 ** k for k in range(-1, 17)],
                  fractions=[2.0 ** -j for j in range(13)],
                  thetas_deg=[0.0, 10.0, 20.0, 30.0], max_alpha_prune=16.0, n_seeds_perceptron=10,
                  dataset="cifar10", pool_sizes=[45000, 10000], fractions_real=[1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3],
                  k_values=[100], ssl_embeddings="", pca_dim=256, iterations=10000, batch_size=128, lr=0.1,
                  optimizer="sgd", weight_decay=5e-4, n_seeds=3, val_size=5000, test_size=10000, eval_every=500,
                  plateau_tol=0.002, min_iterations=3000),
}
# One run's wall time per profile as the profile table states it (upper end, hours) and its GPUs:
# `python -m mlcompanion.pipeline sweep` sets each job's time limit from it.
COSTS = {"ci": {"hours": 0.04, "gpus": 0}, "paper": {"hours": 15, "gpus": 1}}
P = resolve_profile(
    PROFILES, profile, device=device, data_root=data_root, seed=seed, namespace=globals(),
    n_dim=n_dim, alphas_tot=alphas_tot, fractions=fractions, thetas_deg=thetas_deg, max_alpha_prune=max_alpha_prune,
    n_seeds_perceptron=n_seeds_perceptron, dataset=dataset, pool_sizes=pool_sizes, fractions_real=fractions_real,
    k_values=k_values, ssl_embeddings=ssl_embeddings, pca_dim=pca_dim, iterations=iterations, batch_size=batch_size,
    lr=lr, optimizer=optimizer, weight_decay=weight_decay, n_seeds=n_seeds, val_size=val_size, test_size=test_size,
    eval_every=eval_every, plateau_tol=plateau_tol, min_iterations=min_iterations,
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
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import TensorDataset
from IPython.display import Markdown, display
from tqdm import tqdm

from mlcompanion.data.perceptron import (canonical_teacher, complete_inputs, generalisation_error, max_margin_student,
                                         plane_probe_margins, teacher_projections)
from mlcompanion.data.pruning import linear_margins, n_kept, prototype_scores, select_subset
from mlcompanion.gallery import paper_row, write_result
from mlcompanion.plotting import PALETTE, savefig, use_style
from mlcompanion.repro import make_deterministic
from mlcompanion.train import TrainConfig, evaluate_classifier, train_classifier
from mlcompanion.verdict import Criterion, arm_convergence, convergence_table, register_criteria

SLUG = "data_pruning"
make_deterministic(P.seed)
use_style()
pd.set_option("display.precision", 4)
cpu_start = time.process_time()

# %% [markdown]
# ## Method
#
# **Teacher-student perceptron (Sec. 2).** A teacher $T \in \mathbb R^N$, inputs $x^\mu \sim \mathcal N(0, I_N)$,
# labels $y^\mu = \mathrm{sign}(T \cdot x^\mu)$, $\mu = 1 \dots P_{tot}$, $\alpha_{tot} = P_{tot}/N$.
# `mlcompanion.data.perceptron.teacher_student(N, P, seed)` (and its two-step draw, Part A)
#
# **Pruning metric: the margin along a probe.** $m^\mu = |J_{probe} \cdot x^\mu| / \lVert J_{probe} \rVert$;
# small margins are hard. A perfect metric uses $J_{probe} = T$; an imperfect one a probe at angle
# $\theta$: $J_{probe} = \cos\theta\, \hat T + \sin\theta\, \hat T_\perp$.
# `mlcompanion.data.pruning.linear_margins(x, J)`, `mlcompanion.data.perceptron.probe_at_angle(T, theta, seed)` (`plane_probe_margins` in Part A)
#
# **Keep a fraction $f$.** Keep-hard keeps the $\lfloor f P_{tot} \rfloor$ smallest margins, keep-easy
# the largest; $\alpha_{prune} = f\,\alpha_{tot}$. `mlcompanion.data.pruning.select_subset(m, f, keep, hard="low")`
#
# **Student and error.** The maximum-margin perceptron on the kept set, solved exactly (as the
# minimum-norm point of the convex hull of $y^\mu x^\mu$, a non-negative least-squares problem,
# instead of the brief's weakly regularised logistic proxy), and the generalisation error $\varepsilon = \arccos(R)/\pi$,
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
# ## Criteria (registered before the experiment)
# From the brief's "reproduced if" and the review. Headline: the paper's two perceptron claims.
# Secondary: the supporting claims (imperfect metric, pruned beats full, SSP on real data).
# Perceptron errors are sampled quantities (a fresh teacher-student draw per seed, 3 seeds, paired:
# the same draw for every rule); real-data differences are paired by seed (same pool, same k-means,
# same test split).
#
# - **easy_wins_scarce** (headline): at $f$ = `F_CROSS` and every $\alpha_{tot} \le$ 4, keep-easy has a
#   lower error than keep-hard; per seed the value is the smallest $\varepsilon_{hard} - \varepsilon_{easy}$ over
#   those $\alpha_{tot}$, above 0 by more than 0.01.
# - **hard_wins_abundant** (headline): the reverse at every $\alpha_{tot} \ge$ 16 reached with that $f$;
#   the smallest $\varepsilon_{easy} - \varepsilon_{hard}$, above 0 by more than 0.001.
# - **frontier_beats_power_law** (headline): "faster than a power law" read off the local log-log slope
#   $d\log\varepsilon/d\log\alpha_{prune}$ of the $\theta = 0$ Pareto frontier at the top of the
#   $\alpha_{prune}$ range (the least-squares slope over the last three grid points, $\alpha_{prune} \in$
#   [`max_alpha_prune`/4, `max_alpha_prune`]), paired with the unpruned curve's slope over the same
#   points (a power law has a constant slope, about $-1$ here; an exponential's slope steepens as
#   $-c\,\alpha$): frontier slope minus unpruned slope, below 0 by more than 0.5.
# - **imperfect_metric_lifts_frontier** (secondary): at the largest $\alpha_{prune}$, the frontier of the
#   worst probe ($\theta$ = the largest angle) lies above the perfect metric's:
#   $\log_{10}(\varepsilon_\theta / \varepsilon_0)$ above 0 by more than 0.3 (a factor 2).
# - **pruned_beats_full** (secondary, the brief's test): at $\alpha_{tot}$ = 32, keeping the hardest
#   `F_CROSS` beats the full set: $\varepsilon_{full} - \varepsilon_{hard}$ above 0 by more than 0.001.
# - **ssp_hard_beats_random_mild**, **ssp_easy_beats_hard_aggressive**, **ssp_easy_beats_random_aggressive**
#   (secondary, abundant pool): SSP keep-hard above random at the mildest pruning; SSP keep-easy above
#   keep-hard, and above random, at the most aggressive pruning (test top-1, above 0 by more than 1 point).

# %%
F_CROSS = 0.25  # the grid's fraction nearest the brief's f = 0.3
SCARCE_MAX, ABUNDANT_MIN, FULL_REF_ALPHA = 4.0, 16.0, 32.0
if F_CROSS not in P.fractions:
    raise ValueError(f"fractions must contain {F_CROSS} (the crossover criteria's f), got {P.fractions}")
pools_sorted = sorted(P.pool_sizes, reverse=True)
largest_pool, smallest_pool = pools_sorted[0], pools_sorted[-1]
f_big, f_small = max(f for f in P.fractions_real if f < 1), min(P.fractions_real)
k_main = P.k_values[0]


def arm_name(pool: int, f: float, keep: str, k: int | None = None) -> str:
    return f"pool {pool}, f={f:g}, {keep}" + ("" if k in (None, k_main) else f", k={k}")


arm = {"hard_big": arm_name(largest_pool, f_big, "hard"), "random_big": arm_name(largest_pool, f_big, "random"),
       "easy_small": arm_name(largest_pool, f_small, "easy"), "hard_small": arm_name(largest_pool, f_small, "hard"),
       "random_small": arm_name(largest_pool, f_small, "random")}
criteria = register_criteria([
    Criterion("easy_wins_scarce", f"keep-easy beats keep-hard at f={F_CROSS:g}, every alpha_tot <= {SCARCE_MAX:g} "
              "(min of eps_hard - eps_easy)", min_effect=0.01),
    Criterion("hard_wins_abundant", f"keep-hard beats keep-easy at f={F_CROSS:g}, every alpha_tot >= {ABUNDANT_MIN:g} "
              "(min of eps_easy - eps_hard)", min_effect=0.001),
    Criterion("frontier_beats_power_law", "the theta=0 Pareto frontier falls faster than the unpruned power law at the "
              "top of the alpha_prune range (local log-log slope, frontier minus unpruned)", direction="below",
              min_effect=0.5),
    Criterion("imperfect_metric_lifts_frontier", f"an imperfect metric (theta={max(P.thetas_deg):g} deg) lifts the "
              "frontier at the largest alpha_prune (log10 of the error ratio)", min_effect=0.3, role="secondary"),
    Criterion("pruned_beats_full", f"keeping the hardest {F_CROSS:g} beats the full set at alpha_tot={FULL_REF_ALPHA:g} "
              "(eps_full - eps_hard)", min_effect=0.001, role="secondary"),
    Criterion("ssp_hard_beats_random_mild", f"SSP keep-hard beats random at f={f_big:g} ({P.dataset}, pool {largest_pool})",
              metric="top1", role="secondary", min_effect=0.01, arms=(arm["hard_big"], arm["random_big"])),
    Criterion("ssp_easy_beats_hard_aggressive", f"SSP keep-easy beats keep-hard at f={f_small:g} ({P.dataset}, pool "
              f"{largest_pool})", metric="top1", role="secondary", min_effect=0.01, arms=(arm["easy_small"], arm["hard_small"])),
    Criterion("ssp_easy_beats_random_aggressive", f"SSP keep-easy beats random at f={f_small:g} ({P.dataset}, pool "
              f"{largest_pool})", metric="top1", role="secondary", min_effect=0.01, arms=(arm["easy_small"], arm["random_small"])),
])
criteria.registered_table()

# %% [markdown]
# ## Part A: the teacher-student perceptron
# For each seed and $\alpha_{tot}$ we draw one dataset, score it with the teacher ($\theta = 0$) and
# with probes at the other angles, and fit the max-margin student on every kept subset with
# $\alpha_{prune} \le$ `max_alpha_prune` (keep-hard and keep-easy for $\theta = 0$, keep-hard only
# for the imperfect probes; the unpruned set up to $\alpha_{tot}$ = 32). Errors are exact
# ($\arccos R / \pi$), no test set needed.
#
# **Drawing pools of up to $2^{14} N$ examples.** The problem is rotation invariant, so the teacher is
# $e_1$ and every probe lies in the plane of $e_1, e_2$; labels and probe margins need only each input's
# two coordinates in that plane. We draw those two for the whole pool, select the kept subsets, and
# draw the other $N - 2$ Gaussian coordinates only for the examples some rule keeps (once per dataset,
# so all rules on one dataset share their examples). This is the same distribution as drawing every
# input in full (`teacher_projections`, `complete_inputs`; tested against `teacher_student`).

# %%
def simulate_perceptron(run_seed: int) -> list[dict]:
    rows = []
    teacher = canonical_teacher(P.n_dim)
    for ia, alpha in enumerate(P.alphas_tot):
        n_total = int(round(alpha * P.n_dim))
        proj = teacher_projections(n_total, seed=100_000 * run_seed + ia)
        subsets = {}
        for theta in P.thetas_deg:
            margins = plane_probe_margins(proj, math.radians(theta))
            for f in P.fractions:
                n_keep = math.floor(f * n_total + 1e-9)
                limit = max(P.max_alpha_prune, FULL_REF_ALPHA) if f == 1.0 else P.max_alpha_prune
                if n_keep < 2 or n_keep / P.n_dim > limit + 1e-9 or (f == 1.0 and theta != 0):
                    continue  # unpruned: one fit serves every metric
                for keep in (("hard", "easy") if theta == 0 and f < 1 else ("hard",)):
                    subsets[(theta, f, "none" if f == 1.0 else keep)] = select_subset(margins, f, keep, hard="low")
        union = torch.unique(torch.cat(list(subsets.values())))
        x_kept, y_kept = complete_inputs(proj, union, P.n_dim, seed=100_000 * run_seed + 50_000 + ia)
        position = torch.full((n_total,), -1, dtype=torch.int64)
        position[union] = torch.arange(len(union))
        for (theta, f, keep), idx in subsets.items():
            rows_kept = position[idx]
            student = max_margin_student(x_kept[rows_kept], y_kept[rows_kept])
            rows.append({"seed": run_seed, "alpha_tot": alpha, "f": f, "theta": theta, "keep": keep,
                         "alpha_prune": f * alpha, "n_kept": len(idx), "eps": generalisation_error(student, teacher)})
    return rows


perceptron_seeds = [P.seed + s for s in range(P.n_seeds_perceptron)]
sim = pd.DataFrame([r for s in tqdm(perceptron_seeds, desc="perceptron seeds", mininterval=1.0, ascii=True)
                    for r in simulate_perceptron(s)])
perfect = sim[sim.theta == 0]
unpruned = perfect[perfect.f == 1.0].groupby("alpha_tot").eps.agg(["mean", "std"])
print(f"{len(sim)} max-margin fits, N = {P.n_dim}, {len(perceptron_seeds)} seeds, alpha_tot up to {max(P.alphas_tot):g} "
      f"(pools of up to {int(max(P.alphas_tot) * P.n_dim):,} examples), kept fractions down to {min(P.fractions):g}")
unpruned.assign(**{"eps * alpha": unpruned["mean"] * unpruned.index}).round(4)

# %% [markdown]
# **Keep-hard versus keep-easy at fixed $\alpha_{tot}$** (mean test error over seeds; rows
# $\alpha_{tot}$, columns the kept fraction $f$; `hard - easy` > 0 means keep-easy is better).

# %%
pivot = perfect[perfect.f < 1].groupby(["alpha_tot", "f", "keep"]).eps.mean().unstack("keep")
delta = (pivot["hard"] - pivot["easy"]).unstack("f").sort_index(axis=1, ascending=False)
delta = delta[[f for f in delta.columns if f >= 1 / 64]]
delta.columns = [f"f={f:g}" for f in delta.columns]
print("eps(keep-hard) - eps(keep-easy) (fractions >= 1/64 shown):")
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
crossover = {f: crossover_alpha(f) for f in fractions_pruned}
print("crossover alpha_tot (keep-hard wins from there on) by f:", {f"{f:g}": a for f, a in crossover.items()})


def per_seed_hard_minus_easy(f: float) -> pd.DataFrame:
    sel = perfect[(perfect.f == f)].pivot_table(index=["seed", "alpha_tot"], columns="keep", values="eps")
    return (sel["hard"] - sel["easy"]).unstack("alpha_tot")


d_cross = per_seed_hard_minus_easy(F_CROSS)
scarce_cols = [a for a in d_cross.columns if a <= SCARCE_MAX]
abundant_cols = [a for a in d_cross.columns if a >= ABUNDANT_MIN]
criteria.record("easy_wins_scarce", d_cross[scarce_cols].min(axis=1).tolist())
criteria.record("hard_wins_abundant", (-d_cross[abundant_cols]).min(axis=1).tolist())
print(f"per seed eps_hard - eps_easy at f={F_CROSS:g}:")
d_cross.round(4)

# %% [markdown]
# **The Pareto frontier.** At each $\alpha_{prune}$ the frontier is the lowest error over all ways of
# reaching that pruned size ($f$, $\alpha_{tot} = \alpha_{prune}/f$, keep-hard or keep-easy), per seed.
# Power-law learning (unpruned max margin) has $\varepsilon \approx 0.50/\alpha$ at large $\alpha$ (a classical
# result for the max-margin perceptron, not from this paper; a guide only): a log-log slope of $-1$.
# A frontier that beats the power law has a local slope steeper than the unpruned one; an exponential
# one keeps steepening. Where the frontier's best $f$ is the grid's smallest fraction, the grid bounds it.

# %%
def seed_frontier(frame: pd.DataFrame) -> pd.DataFrame:
    """Per seed and alpha_prune: the lowest error over (f, keep), with the f that reaches it."""
    best = frame.loc[frame.groupby(["seed", "alpha_prune"]).eps.idxmin()]
    return best.set_index(["seed", "alpha_prune"])[["eps", "f", "keep"]]


fronts = {theta: seed_frontier(sim[sim.theta == 0] if theta == 0 else
                               pd.concat([sim[sim.theta == theta], perfect[perfect.f == 1.0]], ignore_index=True))
          for theta in P.thetas_deg}
unpruned_seed = perfect[perfect.f == 1.0].set_index(["seed", "alpha_tot"]).eps.unstack("alpha_tot")
alpha_grid = sorted(a for a in fronts[0.0].index.get_level_values("alpha_prune").unique()
                    if a <= P.max_alpha_prune + 1e-9 and a in unpruned_seed.columns)
front_table = pd.DataFrame({"unpruned eps": unpruned_seed[alpha_grid].mean()})
for theta, fr in fronts.items():
    front_table[f"frontier eps, theta={theta:g}"] = fr.eps.unstack("seed").mean(axis=1)
    front_table[f"best f, theta={theta:g} (seeds)"] = fr.f.unstack("seed").apply(
        lambda r: "/".join(f"{v:g}" for v in r), axis=1)
front_table = front_table.loc[alpha_grid]
front_table["frontier eps*alpha, theta=0"] = front_table["frontier eps, theta=0"] * front_table.index
front_table.round(5)

# %%
def loglog_slope(values: pd.Series) -> float:
    """Least-squares slope of log(eps) against log(alpha) over the series' points."""
    return float(np.polyfit(np.log(np.asarray(values.index, dtype=float)), np.log(values.to_numpy(dtype=float)), 1)[0])


top_alphas = alpha_grid[-3:]
front0_seed = fronts[0.0].eps.unstack("alpha_prune")
slope_rows = []
for s in perceptron_seeds:
    local = {f"{a:g}->{b:g}": loglog_slope(front0_seed.loc[s, [a, b]]) for a, b in zip(alpha_grid, alpha_grid[1:])}
    slope_rows.append({"seed": s, "frontier slope (top)": loglog_slope(front0_seed.loc[s, top_alphas]),
                       "unpruned slope (top)": loglog_slope(unpruned_seed.loc[s, top_alphas]), **local})
slopes = pd.DataFrame(slope_rows).set_index("seed")
criteria.record("frontier_beats_power_law", (slopes["frontier slope (top)"] - slopes["unpruned slope (top)"]).tolist())
theta_max = max(P.thetas_deg)
a_last = alpha_grid[-1]
lift = [math.log10(fronts[theta_max].eps.loc[(s, a_last)] / fronts[0.0].eps.loc[(s, a_last)]) for s in perceptron_seeds]
criteria.record("imperfect_metric_lifts_frontier", lift)
full_vs_hard = perfect[(perfect.alpha_tot == FULL_REF_ALPHA) & (perfect.f.isin([1.0, F_CROSS]))
                       & (perfect.keep.isin(["none", "hard"]))].pivot_table(index="seed", columns="f", values="eps")
criteria.record("pruned_beats_full", (full_vs_hard[1.0] - full_vs_hard[F_CROSS]).tolist())
best_f_top = fronts[0.0].f.xs(a_last, level="alpha_prune")
f_at_edge = bool((best_f_top == min(P.fractions)).all())
steepest = slopes[[c for c in slopes.columns if "->" in c]].mean().idxmin()
top_eps_alpha_tot = float(np.mean([fronts[0.0].eps.loc[(s, a_last)] * a_last / fronts[0.0].f.loc[(s, a_last)]
                                   for s in perceptron_seeds]))
print(f"local log-log slopes of the theta=0 frontier (per seed); top = least squares over alpha_prune {top_alphas}:")
slopes.round(2)

# %%
fig, axes = plt.subplots(2, 2, figsize=(8.8, 9.4), layout="constrained")
axes = axes.ravel()
axes[1].sharey(axes[0])
colors = {f: PALETTE[i % len(PALETTE)] for i, f in enumerate(sorted(P.fractions, reverse=True))}
shown_f = [f for f in sorted(P.fractions, reverse=True) if f >= 1 / 64 or f == min(P.fractions)]
for ax, keep in ((axes[0], "hard"), (axes[1], "easy")):
    for f in shown_f:
        sel = perfect[(perfect.f == f) & (perfect.keep == ("none" if f == 1.0 else keep))]
        curve = sel[sel.alpha_prune <= P.max_alpha_prune].groupby("alpha_prune").eps.agg(["mean", "std"])
        ax.errorbar(curve.index, curve["mean"], yerr=curve["std"], marker="o", ms=3, capsize=2, color=colors[f],
                    label=f"f = {f:g}" + (" (unpruned)" if f == 1.0 else ""), lw=1.2)
    grid = np.array(alpha_grid)
    ax.plot(grid, 0.5 / grid, "k:", lw=1, label="0.50/α (classical guide)")
    ax.plot(front_table.index, front_table["frontier eps, theta=0"], "k-", lw=2, alpha=0.35, label="Pareto frontier (θ = 0)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("α_prune = (kept examples) / N")
    ax.set_title(f"({'a' if keep == 'hard' else 'b'}) keep {keep}, perfect metric")
axes[0].set_ylabel("test error ε")
fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=3)
ax = axes[2]
for f in [f for f in fractions_pruned if f >= 1 / 64]:
    d = (pivot["hard"] - pivot["easy"]).xs(f, level="f").sort_index()
    ax.plot(d.index, d.to_numpy(), marker="o", ms=3, color=colors[f], label=f"f = {f:g}")
ax.axhline(0, color="k", lw=0.8)
ax.set_xscale("log", base=2)
ax.set_yscale("symlog", linthresh=1e-3)
ax.set_xlabel("α_tot = (all examples) / N")
ax.set_ylabel("ε(keep hard) − ε(keep easy)")
ax.set_title("(c) crossover of keep hard and keep easy")
ax = axes[3]
ax.plot(front_table.index, front_table["unpruned eps"], "o--", color="gray", ms=3, label="no pruning")
for i, theta in enumerate(P.thetas_deg):
    ax.plot(front_table.index, front_table[f"frontier eps, theta={theta:g}"], "o-", ms=3, color=PALETTE[i],
            label=f"frontier, θ = {theta:g}°")
ax.set_xscale("log", base=2)
ax.set_yscale("log")
ax.set_xlabel("α_prune = (kept examples) / N")
ax.set_ylabel("test error ε of the frontier")
ax.set_title("(d) frontiers, perfect and imperfect metrics")
ax.legend(loc="lower left")
fig.suptitle(f"Teacher-student perceptron, N = {P.n_dim}")
savefig(fig, SLUG, "perceptron_scaling", caption=(
    f"Teacher-student perceptron (N = {P.n_dim}, max-margin student), log axes. (a, b) test error ε against "
    "the pruned data-set size α_prune when keeping the hardest or the easiest fraction f of the pool (perfect "
    f"metric, θ = 0), one colour per f (legend), mean ± std over {len(perceptron_seeds)} seeds as error bars; "
    "dotted: the classical 0.5/α guide; thick grey: the Pareto frontier. (c) ε(keep hard) − ε(keep easy) "
    "against the full pool size α_tot, per f (symmetric-log axis, linear within ±10⁻³): above 0 keeping easy "
    "examples is better, below 0 keeping hard ones. (d) mean over the seeds of each seed's frontier for the "
    "perfect metric (θ = 0°) and imperfect ones (θ > 0°), and the unpruned error (grey dashed); on log-log "
    "axes a power law is a straight line."))
plt.show()

# %% [markdown]
# Reading the figure. Panels (a, b): error against the pruned size for each kept fraction (keep hard,
# keep easy), with the unpruned curve, the classical $0.5/\alpha$ guide and the frontier. Panel (c): the
# crossover, the sign of $\varepsilon_{hard} - \varepsilon_{easy}$ against $\alpha_{tot}$ per $f$. Panel (d): the
# frontiers of the perfect and the imperfect metrics on log-log axes, where a power law is straight.

# %%
fr_mean = front_table["frontier eps, theta=0"]
display(Markdown(
    f"**Part A in numbers.** {criteria.sentence('easy_wins_scarce', 1.0, '', 4)} "
    f"{criteria.sentence('hard_wins_abundant', 1.0, '', 4)} Keep-hard wins from alpha_tot = "
    + ", ".join(f"{crossover[f]:g} (f={f:g})" for f in fractions_pruned if f >= 1 / 64)
    + f" on. The frontier falls from {fr_mean.iloc[0]:.3g} at α_prune = {alpha_grid[0]:g} to {fr_mean.iloc[-1]:.3g} at "
    f"{alpha_grid[-1]:g}; its steepest local slope (mean over seeds) is {slopes[steepest].mean():.1f} between α_prune "
    f"{steepest.replace('->', ' and ')}, and over the top points {top_alphas} it is "
    f"{slopes['frontier slope (top)'].mean():.2f} against the unpruned {slopes['unpruned slope (top)'].mean():.2f}. "
    f"At α_prune = {a_last:g} the best kept fraction is {'the grid smallest, ' + format(min(P.fractions), 'g') + ', on every seed' if f_at_edge else 'interior to the grid on some seed'}"
    + (f": there the frontier is the line of the smallest fraction, with ε·α_tot = {top_eps_alpha_tot:.2f} (mean over seeds; "
       f"the unpruned ε·α at α = {unpruned.index[-1]:g} is {unpruned['mean'].iloc[-1] * unpruned.index[-1]:.2f}): the pruned "
       "student learns as well as the full-data one, so a grid with smaller fractions would move the frontier down "
       "again, and beyond the drop its slope measures the grid, not an exponential law."
       if f_at_edge else ".")
    + f" Best f at α_prune = {a_last:g} by probe angle: "
    + "; ".join(f"θ={t:g}°: {front_table.loc[a_last, f'best f, theta={t:g} (seeds)']}" for t in P.thetas_deg)
    + f". At α_tot = {FULL_REF_ALPHA:g} the hardest {F_CROSS:g} and the full set give students whose errors differ by at most "
    f"{np.abs(full_vs_hard[1.0] - full_vs_hard[F_CROSS]).max():.1e} over the seeds."
    + f" {criteria.sentence('frontier_beats_power_law', 1.0, '', 2)} {criteria.sentence('imperfect_metric_lifts_frontier', 1.0, ' (log10)', 2)} "
    f"{criteria.sentence('pruned_beats_full', 1.0, '', 4)}"
))

# %% [markdown]
# ## Part B: self-supervised prototypes on real data
# `ci`: sklearn digits, stratified into a test split (`test_size`), a validation split (`val_size`,
# used only to stop training at a plateau) and the training split; the *abundant* pool is the whole
# training split, the *scarce* pool a stratified part of it. The embedding is **PCA of the pixels**
# fitted on the pool without labels: an unsupervised stand-in, *not* a self-supervised network as in
# the paper. For each pool, seed and fraction we score the pool with `prototype_scores` (k-means seeded
# by the run's seed, k = `k_values[0]`; the other k's on the largest pool only), keep the subset, and
# train the same MLP from the same initialisation until its validation accuracy stops improving (or the
# cap); accuracy on the fixed test split. Every (pool, f, rule) is an arm of the convergence check.

# %%
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split

if P.dataset == "digits":
    from mlcompanion.data import load_digits_tensors

    all_x, all_y = load_digits_tensors()
    rest_idx, test_idx = train_test_split(np.arange(len(all_y)), test_size=P.test_size, stratify=all_y.numpy(),
                                          random_state=P.seed)
    train_idx, val_idx = train_test_split(rest_idx, test_size=P.val_size, stratify=all_y.numpy()[rest_idx],
                                          random_state=P.seed)
    x_train, y_train = all_x[train_idx].flatten(1), all_y[train_idx]
    x_val, y_val = all_x[val_idx].flatten(1), all_y[val_idx]
    x_test, y_test = all_x[test_idx].flatten(1), all_y[test_idx]
    batch_transform = None

    def make_model():
        return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))

else:
    from mlcompanion.data import load_small_images
    from mlcompanion.models import resnet18

    x_all, y_all = load_small_images("cifar10", P.data_root, "train")
    x_test, y_test = load_small_images("cifar10", P.data_root, "test")
    cifar_mean = x_all.mean(dim=(0, 2, 3), keepdim=True)
    cifar_std = x_all.std(dim=(0, 2, 3), keepdim=True)
    x_all, x_test = (x_all - cifar_mean) / cifar_std, (x_test - cifar_mean) / cifar_std
    train_idx, val_idx = train_test_split(np.arange(len(y_all)), test_size=P.val_size, stratify=y_all.numpy(),
                                          random_state=P.seed)
    x_train, y_train, x_val, y_val = x_all[train_idx], y_all[train_idx], x_all[val_idx], y_all[val_idx]

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

test_set, val_set = TensorDataset(x_test, y_test), TensorDataset(x_val, y_val)
n_classes = int(y_train.max()) + 1
pools = {}
for size in pools_sorted:
    if size > len(y_train):
        raise ValueError(f"pool_sizes must be <= {len(y_train)} (the training split), got {size}")
    idx = (np.arange(len(y_train)) if size == len(y_train) else
           np.sort(train_test_split(np.arange(len(y_train)), train_size=size, stratify=y_train.numpy(),
                                    random_state=P.seed)[0]))
    pools[size] = torch.as_tensor(idx)
print(f"{P.dataset}: {len(y_train)} training, {len(y_val)} validation and {len(y_test)} test examples, "
      f"{n_classes} classes; pools {list(pools)}")

if P.ssl_embeddings:
    path = Path(P.ssl_embeddings).expanduser()
    loaded = torch.load(path) if path.suffix == ".pt" else torch.as_tensor(np.load(path))
    if loaded.shape[0] != len(y_train) + len(y_val):
        raise ValueError(f"ssl_embeddings must have one row per training image ({len(y_train) + len(y_val)}), "
                         f"got {tuple(loaded.shape)}")
    loaded = loaded[torch.as_tensor(train_idx)]
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
                       weight_decay=P.weight_decay, device=P.device, progress=False, eval_every=P.eval_every,
                       plateau_tol=P.plateau_tol, min_iterations=P.min_iterations)
jobs = []
for size, pool in pools.items():
    emb = pool_embeddings(pool)
    ks = P.k_values if size == largest_pool else P.k_values[:1]
    for s in real_seeds:
        scores_by_k = {k: prototype_scores(emb, k=k, seed=s).scores for k in ks}
        for f in P.fractions_real:
            if f == 1.0:
                jobs.append((size, s, f, "none", k_main, pool))
                continue
            jobs.append((size, s, f, "random", k_main, pool[select_subset(scores_by_k[k_main], f, "random", hard="high", seed=s)]))
            for k in ks:
                for keep in ("easy", "hard"):
                    jobs.append((size, s, f, keep, k, pool[select_subset(scores_by_k[k], f, keep, hard="high")]))


def val_top1(model: nn.Module) -> float:
    return evaluate_classifier(model, val_set, device=P.device)["top1"]


real_rows, train_results = [], {}
for size, s, f, keep, k, kept in tqdm(jobs, desc="train", mininterval=2.0, ascii=True):
    cfg = dataclasses.replace(base_cfg, batch_size=min(P.batch_size, len(kept)))
    make_deterministic(s)
    model = make_model()
    result = train_classifier(model, nn.CrossEntropyLoss(), TensorDataset(x_train[kept], y_train[kept]), cfg, seed=s,
                              batch_transform=batch_transform, validate=val_top1)
    name = arm_name(size, f, keep, k)
    train_results[(name, s)] = result
    counts = torch.bincount(y_train[kept], minlength=n_classes)
    real_rows.append({"arm": name, "pool": size, "seed": s, "f": f, "keep": keep, "k": k, "n_kept": len(kept),
                      "top1": evaluate_classifier(model, test_set, device=P.device)["top1"],
                      "iterations": len(result.losses), "train_seconds": result.seconds,
                      "classes present": int((counts > 0).sum()), "smallest class": int(counts.min())})
real = pd.DataFrame(real_rows)

# %%
conv = convergence_table(train_results, P.plateau_tol)
converged = arm_convergence(conv)
conv_summary = conv.groupby("arm", sort=False).agg(iterations=("iterations", "max"), best_val=("best val", "mean"),
                                                   converged=("converged", "all"))
print(f"{len(conv)} runs; converged (every seed): {sum(converged.values())} of {len(converged)} arms; "
      f"iterations {int(conv.iterations.min())}-{int(conv.iterations.max())} (cap {P.iterations})")
conv_summary.round(3)

# %% tags=["timing"]
print(f"training time of the {len(real)} runs: {real.train_seconds.sum():.0f} s")

# %%
n_rows = math.ceil(len(pools) / 2)
fig, axes = plt.subplots(n_rows, min(len(pools), 2), figsize=(8.8, 3.6 * n_rows + 0.5), squeeze=False,
                         layout="constrained")
for ax in axes.flat[len(pools):]:
    ax.set_visible(False)
for ax, size in zip(axes.flat, pools):
    for (name, s), result in train_results.items():
        row = real[(real.arm == name) & (real.seed == s)].iloc[0]
        if row.pool != size or row.k != k_main:
            continue
        steps, vals = zip(*result.curve)
        color = {"none": "gray", "random": PALETTE[0], "easy": PALETTE[1], "hard": PALETTE[2]}[row.keep]
        ax.plot(steps, vals, color=color, lw=0.6, alpha=0.25 + 0.6 * row.f)
    ax.set_xlabel("iteration")
    ax.set_ylabel("validation top-1")
    ax.set_title(f"pool of {size}")
handles = [plt.Line2D([], [], color=c, label=l) for c, l in
           (("gray", "unpruned"), (PALETTE[0], "random"), (PALETTE[1], "SSP keep easy"), (PALETTE[2], "SSP keep hard"))]
fig.legend(handles=handles, loc="outside lower center", ncol=4)
savefig(fig, SLUG, "validation_curves", caption=(
    f"Validation top-1 accuracy of every {P.dataset} run (SSP k = {k_main}) against training iteration, one "
    "panel per pool size, one line per arm, kept fraction f and seed; colour = how the subset was chosen "
    "(legend), darker lines = larger kept fraction f. A run stops at a validation plateau or at the "
    "iteration cap."))
plt.show()

# %% [markdown]
# ## Results

# %%
main = real[(real.k == k_main)]
acc = main.groupby(["pool", "f", "keep"]).top1.agg(["mean", "std"]).unstack("keep")
acc_table = pd.DataFrame({
    f"{keep}": [f"{100 * m:.1f} ± {100 * sd:.1f}" if not np.isnan(m) else "" for m, sd in
                zip(acc[("mean", keep)], acc[("std", keep)])]
    for keep in ("random", "easy", "hard") if ("mean", keep) in acc.columns
}, index=acc.index)
full_acc = main[main.f == 1.0].groupby("pool").top1.agg(["mean", "std"])
print(f"test accuracy (%), mean ± std over {len(real_seeds)} seeds, SSP k = {k_main}, {len(y_test)} test images; unpruned:",
      {int(p): f"{100 * r['mean']:.1f} ± {100 * r['std']:.1f}" for p, r in full_acc.iterrows()})
acc_table.drop(index=[i for i in acc_table.index if i[1] == 1.0])

# %%
balance = main[main.f < 1].groupby(["pool", "f", "keep"])[["classes present", "smallest class"]].min().unstack("keep")
print("class coverage of the kept subsets (minimum over seeds): SSP pruning is not class-balanced")
balance

# %%
if len(P.k_values) > 1:
    big = real[(real.pool == largest_pool) & real.keep.isin(["easy", "hard"])]
    k_table = big.groupby(["f", "k", "keep"]).top1.mean().unstack(["keep", "k"]).sort_index(ascending=False)
    print(f"robustness to k (pool {largest_pool}, mean top-1 over seeds)")
    display_k = (100 * k_table).round(1)
else:
    display_k = None
display_k

# %%
fig, axes = plt.subplots(n_rows, min(len(pools), 2), figsize=(8.8, 3.8 * n_rows + 0.5), squeeze=False,
                         layout="constrained")
for ax in axes.flat[len(pools):]:
    ax.set_visible(False)
for ax, size in zip(axes.flat, pools):
    sel = main[main.pool == size]
    full = sel[sel.f == 1.0].top1
    for i, keep in enumerate(("random", "easy", "hard")):
        curve = pd.concat([sel[sel.keep == keep], sel[sel.f == 1.0]]).groupby("f").top1.agg(["mean", "std"])
        ax.errorbar(curve.index, 100 * curve["mean"], yerr=100 * curve["std"], marker="o", ms=4, capsize=3,
                    color=PALETTE[i], label={"random": "random", "easy": "SSP keep easy", "hard": "SSP keep hard"}[keep])
    ax.axhline(100 * full.mean(), color="gray", ls=":", lw=1)
    ax.set_xlabel("fraction of the pool kept f")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{P.dataset}: pool of {size} ({'abundant' if size == largest_pool else 'scarce'})")
    ax.invert_xaxis()
handles = axes[0][0].get_legend_handles_labels()[0] + [
    plt.Line2D([], [], color="gray", ls=":", lw=1, label="unpruned (mean)")]
fig.legend(handles=handles, loc="outside lower center", ncol=4)
savefig(fig, SLUG, "prototype_pruning", caption=(
    f"Test accuracy (%) of {P.dataset} against the fraction f of the pool kept (f decreasing to the right), "
    "one panel per pool size, for a random subset and for self-supervised-prototype (SSP) pruning keeping "
    f"the easy or the hard examples ({embedding_name}, k = {k_main}); mean ± std over {len(real_seeds)} seeds "
    "as error bars. The dotted line is the mean accuracy on the whole pool."))
plt.show()

# %%
def paired(pool: int, f: float, a: str, b: str) -> list[float]:
    """Per seed: test top-1 of rule a minus rule b (same pool, f, seed and test split)."""
    sel = main[(main.pool == pool) & (main.f == f)].pivot_table(index="seed", columns="keep", values="top1")
    return (sel[a] - sel[b]).tolist()


criteria.record("ssp_hard_beats_random_mild", paired(largest_pool, f_big, "hard", "random"))
criteria.record("ssp_easy_beats_hard_aggressive", paired(largest_pool, f_small, "easy", "hard"))
criteria.record("ssp_easy_beats_random_aggressive", paired(largest_pool, f_small, "easy", "random"))
easy_up_to = {pool: max([f for f in P.fractions_real if f < 1 and np.mean(paired(pool, f, "easy", "hard")) > 0],
                        default=float("nan")) for pool in pools}
display(Markdown(
    f"**Part B in numbers** ({P.dataset}, {embedding_name}, {len(y_test)} test images, differences paired by seed). "
    + " ".join(criteria.sentence(n) for n in ("ssp_hard_beats_random_mild", "ssp_easy_beats_hard_aggressive",
                                               "ssp_easy_beats_random_aggressive"))
    + " The largest f at which keep-easy beats keep-hard on average, by pool: "
    + ", ".join(f"{p}: {v:g}" for p, v in easy_up_to.items())
    + f". The smallest class of a keep-hard subset at f={f_small:g} (pool {largest_pool}) has "
    f"{int(balance.loc[(largest_pool, f_small), ('smallest class', 'hard')])} examples, of keep-easy "
    f"{int(balance.loc[(largest_pool, f_small), ('smallest class', 'easy')])}, of random "
    f"{int(balance.loc[(largest_pool, f_small), ('smallest class', 'random')])}."
))

# %% [markdown]
# ## Verdict
# From the registered criteria only (`criteria.verdict`): every headline criterion must hold clearly
# for `reproduced`; an arm that did not converge makes the criteria on it unconverged.

# %%
assert np.isfinite(sim.eps).all() and ((sim.eps >= 0) & (sim.eps <= 0.5 + 1e-9)).all()
assert np.isfinite(real.top1).all() and ((real.top1 >= 0) & (real.top1 <= 1)).all()
# the student learns: unpruned error falls with alpha and beats chance clearly at the largest alpha
assert unpruned["mean"].iloc[-1] < unpruned["mean"].iloc[0] < 0.5

verdict = criteria.verdict(converged)
criteria.table()

# %%
headline_text = " ".join(criteria.sentence(c.name, 1.0, "", 4) for c in criteria if c.role == "headline")
secondary_text = " ".join(criteria.sentence(c.name, *((1.0, "", 4) if c.metric is None else (100.0, " points", 1)))
                          for c in criteria if c.role == "secondary")
unconverged = [a for a, ok in converged.items() if not ok]
explanation = (
    f"Perceptron (N={P.n_dim}, exact max-margin student, {len(perceptron_seeds)} seeds, alpha_tot up to "
    f"{max(P.alphas_tot):g}): {headline_text} The frontier's steepest local slope is {slopes[steepest].mean():.1f} "
    f"(alpha_prune {steepest}); at alpha_prune={a_last:g} its best f is "
    f"{'the smallest of the grid on every seed' if f_at_edge else 'interior on some seed'}. "
    f"Secondary: {secondary_text}"
    + (f" Unconverged arms: {', '.join(unconverged)}." if unconverged else " Every trained arm converged.")
)
display(Markdown(f"**Verdict: {verdict}.** {explanation}"))

# %% [markdown]
# ## Paper vs ours
# The paper's claims are qualitative curves (the theory figure; CIFAR-10 / SVHN scaling with EL2N;
# the ImageNet benchmark of ten metrics). No number of the paper was verified against its text, so
# the paper column states claims, with where they come from; ours are the criteria's values.

# %%
o = criteria.outcome
setting_a = f"N={P.n_dim}, f={F_CROSS:g}, mean of {len(perceptron_seeds)} seeds"
rows = [
    paper_row("ε(keep hard) − ε(keep easy), α_tot ≤ 4 (min over α_tot)", paper="> 0: keep easy when data are scarce",
              paper_setting="teacher-student perceptron, theory + simulation", source="brief (theory figure; recalled, not checked in the PDF)",
              ours=round(o("easy_wins_scarce").mean, 4), ours_setting=setting_a, comparable_as="ordering"),
    paper_row("ε(keep easy) − ε(keep hard), α_tot ≥ 16 (min over α_tot)", paper="> 0: keep hard when data are abundant",
              paper_setting="teacher-student perceptron, theory + simulation", source="brief (theory figure; recalled, not checked in the PDF)",
              ours=round(o("hard_wins_abundant").mean, 4), ours_setting=setting_a, comparable_as="ordering"),
    paper_row("log-log slope of the frontier minus the unpruned slope (top of the α_prune range)",
              paper="< 0: better than power-law, potentially exponential scaling with a high-quality metric",
              paper_setting="perceptron theory; CIFAR-10, SVHN, ImageNet", source="abstract (claim, no number)",
              ours=round(o("frontier_beats_power_law").mean, 2),
              ours_setting=f"N={P.n_dim}, α_prune {top_alphas}, f ≥ {min(P.fractions):g}", comparable_as="trend"),
    paper_row(f"log10 ε frontier θ={theta_max:g}° / θ=0 at α_prune={a_last:g}", paper="> 0: an imperfect metric returns the frontier towards a power law",
              paper_setting="perceptron theory", source="brief (recalled, not checked in the PDF)",
              ours=round(o("imperfect_metric_lifts_frontier").mean, 2), ours_setting=f"N={P.n_dim}", comparable_as="ordering"),
    paper_row(f"ε(full) − ε(hardest {F_CROSS:g}) at α_tot={FULL_REF_ALPHA:g}", paper="> 0: a pruned set can beat the full set",
              paper_setting="perceptron", source="brief (recalled, not checked in the PDF)",
              ours=round(o("pruned_beats_full").mean, 5), ours_setting=f"N={P.n_dim}, exact max-margin student", comparable_as="ordering"),
    paper_row(f"SSP keep-hard − random, top-1 points, f={f_big:g}",
              paper="> 0: the self-supervised metric performs comparably to the best supervised metrics",
              paper_setting="ImageNet, SwAV embeddings", source="abstract (claim, no number)",
              ours=round(100 * o("ssp_hard_beats_random_mild").mean, 1),
              ours_setting=f"{P.dataset} pool {largest_pool}, {embedding_name}", comparable_as="ordering"),
    paper_row("unpruned ε·α at the largest α (perceptron)", ours=round(float(unpruned["mean"].iloc[-1] * unpruned.index[-1]), 3),
              ours_setting=f"N={P.n_dim}, α={unpruned.index[-1]:g}; classical max-margin guide 0.50", comparable_as="value"),
]
pd.DataFrame(rows)

# %% tags=["timing"]
cpu_seconds = time.process_time() - cpu_start
timings = {"MLP training seconds": float(real.train_seconds.sum()), "CPU seconds (notebook)": round(cpu_seconds, 1)}
print(timings)

# %%
budget = {"perceptron fits": len(sim), "perceptron seeds": len(perceptron_seeds), "largest alpha_tot": max(P.alphas_tot),
          "smallest kept fraction": min(P.fractions), "MLP runs": len(real), "MLP seeds": len(real_seeds),
          "iteration cap": P.iterations, "eval_every": P.eval_every, "plateau_tol": P.plateau_tol,
          "min_iterations": P.min_iterations, "MLP iterations run (total)": int(real.iterations.sum())}
print(budget)
budget.update(timings)  # time measurements: write_result drops them in ci
ours_numbers = {
    f"unpruned eps at alpha={unpruned.index[-1]:g} (perceptron)": float(unpruned["mean"].iloc[-1]),
    f"frontier eps at alpha_prune={a_last:g}, theta=0": float(fr_mean.iloc[-1]),
    f"frontier local slope, alpha_prune {top_alphas}": float(slopes["frontier slope (top)"].mean()),
    f"unpruned local slope, alpha {top_alphas}": float(slopes["unpruned slope (top)"].mean()),
    f"steepest frontier local slope ({steepest})": float(slopes[steepest].mean()),
    "best f at the top is the grid's smallest": str(f_at_edge),
    f"{P.dataset} unpruned top-1 (pool {largest_pool})": float(full_acc.loc[largest_pool, "mean"]),
    f"{P.dataset} SSP hard - random, f={f_big:g}": float(o("ssp_hard_beats_random_mild").mean),
    f"{P.dataset} SSP easy - hard, f={f_small:g}": float(o("ssp_easy_beats_hard_aggressive").mean),
    f"{P.dataset} SSP easy - random, f={f_small:g}": float(o("ssp_easy_beats_random_aggressive").mean),
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
    criteria=criteria,
    convergence={a: {"converged": ok, "iterations": int(conv_summary.loc[a, "iterations"]),
                     "best val top1": float(conv_summary.loc[a, "best_val"])} for a, ok in converged.items()},
    budget=budget,
    rows=rows,
)

# %%
# NBVAL_CHECK_OUTPUT
print("toy margins:", [round(v, 3) for v in toy_m.tolist()], " toy SSP:", [round(v, 3) for v in toy_ssp.tolist()])
print("unpruned eps by alpha:", {float(a): round(float(e), 4) for a, e in unpruned["mean"].items()})
print("frontier eps (theta=0):", {float(a): float(f"{e:.3g}") for a, e in fr_mean.items()})
print("crossover alpha_tot by f:", {f: crossover[f] for f in fractions_pruned if f >= 1 / 64})
for size in pools:
    m = main[main.pool == size].groupby(["f", "keep"]).top1.mean()
    print(f"{P.dataset} pool {size} top-1:", {f"{f:g} {k}": round(float(v), 3) for (f, k), v in m.items()})
for c in criteria:
    oc = criteria.outcome(c.name)
    print(f"{c.name}: {round(oc.mean, 4) + 0.0:+.4f} ± {round(oc.stderr, 4) + 0.0:.4f} -> {oc.status}")
print(f"converged arms: {sum(converged.values())}/{len(converged)}; verdict: {verdict}")
