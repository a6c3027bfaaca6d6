# %% [markdown]
# # Verifying Good Regulator Conditions for Hypergraph Observers: Natural Gradient Learning from Causal Invariance via Established Theorems
#
# Max Zhuravlev (independent), **arXiv:2603.09067** (March 2026), Zenodo 10.5281/zenodo.18942494.
# No official code; the LaTeX is public (`MaxZhuravlev/physics-cosmo-papers`, `paper3-good-regulator/main.tex`,
# and the author's companion on the directional α, `paper6-directional-alpha/main.tex`, "paper6" below).
# Every number here is recomputed from the formulas; nothing is trained.
#
# **Claim tested.** For an exponential-family observer with Fisher matrix $F$, under the ansatz $M = F^2$
# for Vanchurin's mass tensor and the "Model A" convergence time $T = \kappa(g)\,\mu_{\max}(g)$, the optimal
# regime parameter is $\alpha_{\rm opt} = (-\Delta + \sqrt{\Delta(\Delta+4)})/2$ with
# $\Delta = \lambda_{\max}(F) - 2\lambda_{\min}(F)$, non-zero only when $\kappa(F) > 2$ (a "quantum-classical
# threshold" at $\kappa(F) = 2$); the paper's support is an α table for four Ising observers (K3, K4, K5, P6 at
# $J = 0.5$, Sec. "Computational Verification") and a 91-configuration check (mean $|\alpha_{\rm pred} - \alpha_{\rm num}| = 0.007$).
# The physics claims (Good Regulator, hypergraph cosmology, Amari uniqueness) are not computational and are
# **out of scope**: this notebook tests the α formula, its conditions, its derivation, the directional α and
# deviation tensor, and — the paper's own caveat — whether the optimum survives other convergence models and
# real preconditioned gradient descent.
#
# | profile | what | hardware | time |
# |---|---|---|---|
# | `ci` (default) | the paper's full scale: 13 topologies × 7 couplings (91 configurations, n ≤ 6 spins), 6 extra loopy graphs, the dynamics and natural-gradient checks | 1 CPU thread | about 10 s CPU (measured) |
# | `paper` | the same plus larger observers (n ≤ 16 spins, 2¹⁶ states enumerated) and a 29-point coupling grid | 1 CPU thread, or `device="cuda"` (enumeration only) | about 20 s CPU (measured: 16 s on one thread; 29 × 32 = 928 configurations, K16/grid4x4 enumeration dominates) |
#
# The paper's own computations are CPU-sized (graphs of at most 6 vertices), so `ci` already *is* the
# paper's sweep; `paper` only extends it. There is no dataset: `data_root` must stay `None`.

# %% tags=["parameters"]
profile = "ci"
device = "cpu"
data_root = None
seed = 0
# Knobs: None means "the profile's value" (see PROFILES below).
topologies = None
extra_topologies = None
n_couplings = None
coupling_range = None
dynamics_graph = None
dynamics_cs = None
tol = None

# %% [markdown]
# ## Profiles
# `topologies` are the 13 graphs of our 91-configuration sweep (the paper does not list its 13; the brief's
# choice: paths P3-P6, stars S4-S6, cycles C4-C6, complete graphs K3-K5; `S<n>` has n vertices);
# `extra_topologies` add loopy graphs (wheels, grids, K₃,₃, K6) so the sweep says more than "trees give κ = 1".
# Couplings: `n_couplings` values in `coupling_range` (the paper: 7 values in [0.1, 1.5]). At strong coupling the
# largest complete graphs freeze and their Fisher matrix is singular to float64 precision (K16 for J ≥ 1.1); those
# configurations are listed and skipped.

# %%
import sys
from pathlib import Path

sys.path.insert(0, str(Path.cwd().parent))  # the repository root, when run from notebooks/

from mlcompanion.profiles import resolve_profile

PAPER_TOPOLOGIES = ["P3", "P4", "P5", "P6", "S4", "S5", "S6", "C4", "C5", "C6", "K3", "K4", "K5"]
PROFILES = {
    "ci": dict(topologies=PAPER_TOPOLOGIES, extra_topologies=["W5", "W6", "grid2x3", "K3,3", "K6", "C3"],
               n_couplings=7, coupling_range=[0.1, 1.5], dynamics_graph="K4",
               dynamics_cs=[0.0, 0.25, 0.5, -1.0, 2.0, 5.0, 20.0, 100.0], tol=1e-6),
    "paper": dict(topologies=PAPER_TOPOLOGIES,
                  extra_topologies=["W5", "W6", "grid2x3", "K3,3", "K6", "C3", "K7", "K8", "W10", "C12", "K4,4",
                                    "grid3x3", "grid3x4", "grid4x4", "K12", "P16", "K16"],
                  n_couplings=29, coupling_range=[0.1, 1.5], dynamics_graph="K4",
                  dynamics_cs=[0.0, 0.1, 0.25, 0.5, -1.0, 1.0, 2.0, 5.0, 20.0, 100.0, 1000.0], tol=1e-6),
}
# One run's wall time per profile as the profile table states it (upper end, hours) and its GPUs:
# `python -m mlcompanion.pipeline sweep` sets each job's time limit from it.
COSTS = {"ci": {"hours": 0.01, "gpus": 0}, "paper": {"hours": 0.01, "gpus": 0}}
P = resolve_profile(
    PROFILES, profile, device=device, data_root=data_root, seed=seed, namespace=globals(),
    topologies=topologies, extra_topologies=extra_topologies, n_couplings=n_couplings,
    coupling_range=coupling_range, dynamics_graph=dynamics_graph, dynamics_cs=dynamics_cs, tol=tol,
)
if P.data_root is not None:
    raise ValueError(f"good_regulator uses no dataset (observers are enumerated exactly); data_root must be None, got {P.data_root}")
if P.n_couplings < 2 or len(P.coupling_range) != 2 or not 0 < P.coupling_range[0] < P.coupling_range[1]:
    raise ValueError(f"need n_couplings >= 2 and 0 < coupling_range[0] < coupling_range[1], got {P.n_couplings}, {P.coupling_range}")
if not P.topologies or not 0 < P.tol < 1:
    raise ValueError(f"topologies must be non-empty and 0 < tol < 1, got {P.topologies}, {P.tol}")
# (-1 in dynamics_cs stands for c* of the dynamics graph)

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import sympy as sp
import torch
from scipy.optimize import minimize_scalar
from tqdm import tqdm

from IPython.display import Markdown, display

from mlcompanion.gallery import paper_row, write_result
from mlcompanion.metrics.information_geometry import (
    alpha_from_c,
    alpha_opt,
    alpha_spread,
    c_from_alpha,
    combined_metric,
    condition_number,
    convergence_time,
    deviation_tensor,
    directional_alpha,
    exp_family_moments,
    ising_fisher,
    ising_log_partition,
    ising_statistics,
    make_graph,
    natural_gradient,
    preconditioned_descent_iterations,
)
from mlcompanion.plotting import PALETTE, savefig, use_style
from mlcompanion.repro import make_deterministic
from mlcompanion.verdict import Criterion, register_criteria

SLUG = "good_regulator"
make_deterministic(P.seed)
use_style()
pd.set_option("display.precision", 3)
DEV = torch.device(P.device)
cpu_start = time.process_time()

# %% [markdown]
# ## Method
#
# **Fisher metric.** $g_{ij}(\theta) = \mathbb E_\theta[\partial_i \log p_\theta\, \partial_j \log p_\theta]$
# (`fisher_information(log_prob, theta, points)`, literally, by autograd). For an exponential family
# $p_\theta(s) \propto \exp(\theta^\top T(s))$ it is $F(\theta) = \mathrm{Cov}_\theta[T] = \nabla^2 \log Z(\theta)$
# (`exp_family_moments(T, theta)`).
#
# **Ising observers** (the paper's table): $\pm1$ spins on a graph, one coupling per edge, uniform $J$, **no
# fields**: $p(s) \propto \exp(J\sum_{(i,j)\in E} s_i s_j)$, statistics $T_e = s_i s_j$; $F$ is $|E|\times|E|$,
# computed exactly by enumerating the $2^n$ states (`ising_fisher(graph, J)`; `fields=True` adds the $h_i$).
#
# **Vanchurin's Type II metric with the ansatz $M = F^2$** (paper, Remark "Ansatz"): $g(c) = F^2 + cF$
# (`combined_metric(F, c)`), eigenvalues $\mu_k = \lambda_k(\lambda_k + c)$, with $c = \beta = \alpha^2/(1-\alpha)$
# (`c_from_alpha`, `alpha_from_c`).
#
# **Model A** (paper, Theorem "Convergence-Time Optimal α"): $T(c) = \kappa(g(c))\,\mu_{\max}(g(c)) = \mu_{\max}^2/\mu_{\min}$
# (`convergence_time(F, c, "A")`). Then
# $\frac{dT}{dc} \propto (\lambda_{\max} + c)\,(c - (\lambda_{\max} - 2\lambda_{\min}))$, so
# $$\Delta = \lambda_{\max} - 2\lambda_{\min},\qquad c^* = \max(\Delta, 0),\qquad
#   \alpha_{\rm opt} = \tfrac12\big(-\Delta + \sqrt{\Delta(\Delta+4)}\big)\ \text{ if } \kappa(F) > 2,\ \text{else } 0$$
# (`alpha_opt(F) -> (alpha, c_star, kappa, delta, lam_min, lam_max)`).
#
# **Directional α** (paper Def. "Directional Regime Parameter", paper6): $\alpha(v) = \frac{v^\top F^2 v}{v^\top F^2 v + \beta\, v^\top F v}$,
# $\alpha_{v_k} = \lambda_k/(\lambda_k + \beta)$ along eigenvectors (`directional_alpha(F, beta)`), spread
# $\Delta\alpha = \alpha_{\max} - \alpha_{\min}$ (`alpha_spread`). **Deviation tensor**: $\Delta_{\mu\nu} = M_{\mu\nu} - k_{\rm tr}F_{\mu\nu}$,
# $k_{\rm tr} = \mathrm{tr}M/\mathrm{tr}F$, $\delta = \|\Delta\|_F/\|M\|_F$ (`deviation_tensor(F)`).
#
# ### A worked example: the triangle K3 at J = 0.5
# Three edge statistics; by symmetry $F$ has one "uniform" eigenvector (1, 1, 1) and two "differential" ones.

# %%
F_k3 = ising_fisher("K3", 0.5, device=DEV).cpu()
a_k3 = alpha_opt(F_k3)
print("F(K3, J=0.5) =\n", np.round(F_k3.numpy(), 4))
print("eigenvalues:", np.round(torch.linalg.eigvalsh(F_k3).numpy(), 4), f" kappa = {a_k3.kappa:.4f}")
print(f"Delta = lam_max - 2 lam_min = {a_k3.delta:.4f}  ->  alpha_opt = {a_k3.alpha:.4f}")
print(f"check: c(alpha_opt) = {float(c_from_alpha(a_k3.alpha)):.4f} = c*")
F_p6 = ising_fisher("P6", 0.5, device=DEV).cpu()
print(f"tree P6: F = {F_p6[0, 0]:.4f} * I  (sech^2(0.5) = {1 / np.cosh(0.5) ** 2:.4f}: edge spins of a tree are independent)")
print(f"with fields h as parameters, K3 has kappa = {alpha_opt(ising_fisher('K3', 0.5, fields=True)).kappa:.3f} (edges only: {a_k3.kappa:.3f})")

# %% [markdown]
# ## Criteria, registered before anything is computed
# Everything here is an exact computation, so every criterion is decided by its one exact value
# (`noise_free`; `mlcompanion.verdict`). The **claim** is the α formula with its threshold, as the paper states
# and supports it:
# - headline `alpha_table`: α_opt of the four observers of the paper's table (K3, K4, K5, P6 at J = 0.5) equals
#   the printed values to their precision (largest |ours − paper| below 0.001);
# - headline `kappa_threshold`: α_opt = 0 exactly when κ(F) ≤ 2, judged on an independent numerical minimisation
#   of Model A over every configuration of the sweep (number of configurations that break it: must be 0);
# - secondary `kappa_table`: κ(F) of the four observers equals the printed values (largest relative difference
#   below 0.5%, the printed precision);
# - secondary `formula_is_the_minimum`: the closed form agrees with the numerical minimum over the paper-size
#   sweep at least as well as the paper reports (mean |α_pred − α_num| below the paper's value).
#
# The **errata** (derivation steps and tables that do not follow from the paper's own definitions, and the
# Remark on other convergence models) are findings about the paper, not its claim: they are recorded below as
# exploratory criteria (shown, never counted in the verdict).

# %%
PAPER_ALPHA_TOL, PAPER_KAPPA_RTOL, PAPER_MEAN_ERROR = 1e-3, 5e-3, 0.007
criteria = register_criteria([
    Criterion("alpha_table", "alpha_opt of K3, K4, K5, P6 (J = 0.5) equals the paper's table "
              "(largest |ours - paper|)", direction="below", threshold=PAPER_ALPHA_TOL, noise_free=True),
    Criterion("kappa_threshold", "alpha_opt = 0 exactly when kappa(F) <= 2 (configurations of the sweep that break "
              "it, numerical minimum of model A)", direction="below", threshold=0.5, noise_free=True),
    Criterion("kappa_table", "kappa(F) of K3, K4, K5, P6 equals the paper's table (largest relative difference)",
              direction="below", threshold=PAPER_KAPPA_RTOL, role="secondary", noise_free=True),
    Criterion("formula_is_the_minimum", "the closed form equals the numerical minimum of model A over the paper-size "
              "sweep (mean |alpha_pred - alpha_num|, paper 0.007)", direction="below", threshold=PAPER_MEAN_ERROR,
              role="secondary", noise_free=True),
])
criteria.registered_table()

# %% [markdown]
# ## Part A: the paper's α table, exactly
# Paper, Sec. "Computational Verification", table at $J = 0.5$ (observer names are the paper's; the graphs are the
# brief's reading: `tri_perfect_GR` = K3, `c4_complete` = K4, `k5_perfect_GR` = K5, `ch6_perfect_GR` = P6 — the
# eigenvalues and κ match exactly, so the reading is safe).

# %%
NAMED = {"K3": "tri_perfect_GR", "K4": "c4_complete", "K5": "k5_perfect_GR", "P6": "ch6_perfect_GR"}
# paper's table (main.tex, Sec. "Computational Verification"): kappa, Delta, alpha_pred, alpha_num, |error|
PAPER_TABLE = {"K3": (2.84, 0.325, 0.430, 0.431, 0.001), "K4": (9.73, 0.903, 0.601, 0.601, 0.0),
               "K5": (21.4, 0.689, 0.554, 0.554, 0.0), "P6": (1.00, 0.000, 0.000, 0.010, 0.010)}
named = {g: alpha_opt(ising_fisher(g, 0.5, device=DEV).cpu()) for g in NAMED}
table_a = pd.DataFrame({
    (f"{g} ({NAMED[g]})"): {
        "eigenvalues of F": ", ".join(f"{v:.3f}" for v in sorted(set(np.round(torch.linalg.eigvalsh(ising_fisher(g, 0.5)).numpy(), 3)))),
        "kappa(F) paper": PAPER_TABLE[g][0], "kappa(F) ours": round(a.kappa, 3),
        "Delta paper": PAPER_TABLE[g][1], "Delta ours": round(a.delta, 3),
        "alpha_opt paper": PAPER_TABLE[g][2], "alpha_opt ours": round(a.alpha, 3),
    }
    for g, a in named.items()
}).T
table_a

# %%
off = {g: (abs(named[g].kappa - PAPER_TABLE[g][0]), abs(named[g].delta - PAPER_TABLE[g][1]),
           abs(named[g].alpha - PAPER_TABLE[g][2])) for g in NAMED}
display(Markdown(
    "Largest |ours − paper| per row (κ, Δ, α_opt): " + "; ".join(f"{g} {k:.3f}, {d:.3f}, {a:.4f}" for g, (k, d, a) in off.items())
    + f". P6's Δ: the paper prints {PAPER_TABLE['P6'][1]:.3f}, the formula gives "
    f"Δ = λ_max − 2λ_min = {named['P6'].delta:.3f} (any κ ≤ 2 gives Δ ≤ 0; the paper evidently clips)."))

# %% [markdown]
# ## Part B: α_opt against κ(F) and the threshold κ = 2
# α_opt is **not** a function of κ(F) alone: $\Delta = \lambda_{\min}(\kappa - 2)$ also carries the scale
# $\lambda_{\min}$. The curves show α_opt for fixed $\lambda_{\min}$; the dots are every configuration of the sweep below.

# %%
Js = np.round(np.linspace(P.coupling_range[0], P.coupling_range[1], P.n_couplings), 6)


def alpha_numeric(lam_min, lam_max, bounds=(0.0, 0.99)):
    """The paper's check, done independently: minimise Model A's T over alpha numerically (bounded Brent)."""
    def T(a):
        c = a * a / (1 - a)
        return (lam_max * (lam_max + c)) ** 2 / (lam_min * (lam_min + c))
    grid = np.linspace(bounds[0], bounds[1], 199)
    start = grid[int(np.argmin([T(a) for a in grid]))]
    lo, hi = max(bounds[0], start - 0.01), min(bounds[1], start + 0.01)
    return float(minimize_scalar(T, bounds=(lo, hi), method="bounded", options={"xatol": 1e-9}).x)


rows, singular = [], []
all_graphs = list(dict.fromkeys(P.topologies + P.extra_topologies))
for gname in tqdm(all_graphs, desc="observers"):
    g = make_graph(gname)
    for J in Js:
        F = ising_fisher(g, float(J), device=DEV).cpu()
        lam_lo = float(torch.linalg.eigvalsh(F)[0])
        if lam_lo <= 1e-12 * float(F.diagonal().max()):  # frozen ordered state: F singular in float64
            singular.append(f"{gname}@J={J:g} (lambda_min = {lam_lo:.1e})")
            continue
        a = alpha_opt(F)
        rows.append(dict(graph=gname, set="paper's 13" if gname in P.topologies else "extra", n=g.n, edges=len(g.edges),
                         J=float(J), lam_min=a.lam_min, lam_max=a.lam_max, kappa=a.kappa, Delta=a.delta,
                         alpha_pred=a.alpha, alpha_num=alpha_numeric(a.lam_min, a.lam_max),
                         alpha_num_guess=alpha_numeric(a.lam_min, a.lam_max, bounds=(0.01, 0.99))))
sweep = pd.DataFrame(rows)
sweep["err"] = (sweep.alpha_pred - sweep.alpha_num).abs()
sweep["err_guess"] = (sweep.alpha_pred - sweep.alpha_num_guess).abs()
core = sweep[sweep.set == "paper's 13"]
print(f"{len(core)} configurations of the paper's size ({len(P.topologies)} topologies x {len(Js)} couplings J = {Js.tolist()})")
print(f"  trees (kappa = 1): {int((core.kappa < 1 + 1e-9).sum())},  kappa > 2: {int((core.kappa > 2).sum())}")
print(f"  mean |alpha_pred - alpha_num| = {core.err.mean():.2e}, max = {core.err.max():.2e}  (paper: mean 0.007, max 0.023)")
print(f"  same with a minimiser bounded to alpha in [0.01, 0.99] (our guess at the paper's): "
      f"mean {core.err_guess.mean():.4f}, max {core.err_guess.max():.4f}")
if singular:
    print(f"skipped {len(singular)} configurations whose Fisher matrix is singular to float64 precision: {singular}")
print(f"extra loopy graphs: {len(sweep) - len(core)} configurations, kappa > 2 in {int((sweep[sweep.set == 'extra'].kappa > 2).sum())}, "
      f"max |error| {sweep[sweep.set == 'extra'].err.max():.2e}")
print("paper's K3 row, alpha_num 0.431 / P6 row 0.010; the [0.01, 0.99] minimiser gives "
      f"{alpha_numeric(named['K3'].lam_min, named['K3'].lam_max, (0.01, 0.99)):.3f} / "
      f"{alpha_numeric(named['P6'].lam_min, named['P6'].lam_max, (0.01, 0.99)):.3f}")
sweep.groupby("graph", sort=False)[["kappa", "alpha_pred", "err"]].agg(["min", "max"]).round(4)

# %%
fig, axes = plt.subplots(2, 1, figsize=(8, 8.6))
ax = axes[0]
kap = np.linspace(1, 60, 600)
for k, lmin in enumerate((0.02, 0.1, 0.4)):
    delta_curve = torch.tensor(np.clip(lmin * (kap - 2), 0, None))
    ax.plot(kap, alpha_from_c(delta_curve).numpy(), color=PALETTE[k], lw=1.2, label=f"formula, λ_min = {lmin}")
for s, marker in (("paper's 13", "o"), ("extra", "s")):
    d = sweep[sweep.set == s]
    ax.scatter(d.kappa, d.alpha_num, s=14, marker=marker, facecolors="none", edgecolors="0.4", label=f"numerical min. of T, {s}")
for k, (gname, a) in enumerate(named.items()):
    ax.scatter([a.kappa], [a.alpha], s=70, marker="*", color=PALETTE[3 + k], zorder=5, label=f"{gname} at J = 0.5")
ax.axvline(2, color="k", ls="--", lw=1)
ax.text(2.1, 0.93, "κ(F) = 2")
ax.set_xscale("log")
ax.set_xlabel("condition number κ(F) = λ_max/λ_min (log scale)")
ax.set_ylabel("α_opt (Model A)")
ax.set_title("α_opt vs κ(F): zero up to κ = 2, then set by Δ = λ_min(κ − 2)")
ax.legend(loc="upper right")
ax = axes[1]
cs = torch.linspace(0, 2.5, 501, dtype=torch.float64)
for k, (gname, a) in enumerate(named.items()):
    F = ising_fisher(gname, 0.5)
    T = convergence_time(F, cs, "A")
    ax.plot(cs.numpy(), (T / T[0]).numpy(), color=PALETTE[3 + k], label=f"{gname}: κ = {a.kappa:.2f}, c* = {a.c_star:.3f}")
    if a.c_star > 0:
        ax.scatter([a.c_star], [float(convergence_time(F, a.c_star) / T[0])], color=PALETTE[3 + k], zorder=5)
ax.set_yscale("log")
ax.set_xlabel("c = β = α²/(1 − α)")
ax.set_ylabel("T(c)/T(0), Model A (log scale)")
ax.set_title("Model A's convergence time at J = 0.5; dots: c* = λ_max − 2λ_min")
ax.legend()
fig.tight_layout()
savefig(fig, SLUG, "alpha_vs_kappa", caption=(
    "Top: the optimal regime parameter α_opt of Model A against the condition number κ(F) of the Fisher "
    "matrix (log scale): lines are the closed-form α_opt for three fixed λ_min, open markers the numerical "
    "minimum of the convergence time T for each swept configuration (circles: the 13 topologies, squares: "
    "the extra loopy graphs), stars the named graphs at J = 0.5, the dashed line κ = 2. Bottom: Model A's "
    "convergence time T(c)/T(0) (log scale) against c = β = α²/(1 − α) for the named graphs at J = 0.5, "
    "dots at c* = λ_max − 2λ_min."))
plt.show()

# %%
low, high = sweep[sweep.kappa <= 2], sweep[sweep.kappa > 2]
display(Markdown(
    f"Configurations with κ(F) ≤ 2: {len(low)}, largest numerical α_opt among them {low.alpha_num.max():.1e}; with "
    f"κ(F) > 2: {len(high)}, formula vs numerical minimum of the same functional agree to {high.err.max():.1e}. Our "
    f"mean error over the paper-size sweep is {core.err.mean():.1e}, not the paper's 0.007: a minimiser restricted to "
    f"α ∈ [0.01, 0.99] (our guess; the paper does not describe its minimiser) gives "
    f"{core[core.kappa <= 2].err_guess.max():.3f} for the κ ≤ 2 observers (the paper's P6 row: "
    f"{PAPER_TABLE['P6'][4]:.3f}) and a mean error of {core.err_guess.mean():.4f}, with max {core.err_guess.max():.3f} "
    "against the paper's max 0.023. Either way this check verifies calculus, not physics (the paper says so)."))

# %% [markdown]
# ## Reproduction notes: errors found in the derivation
# Checked symbolically (sympy) and numerically on K3/K4/K5.

# %%
lmin, lmax, c = sp.symbols("lambda_min lambda_max c", positive=True)
mu_min, mu_max = lmin * (lmin + c), lmax * (lmax + c)
T_A = mu_max ** 2 / mu_min
dT = sp.factor(sp.together(sp.diff(T_A, c)))
c_star = lmax - 2 * lmin
kappa_g_star = sp.simplify((mu_max / mu_min).subs(c, c_star))
ratio = sp.simplify(T_A.subs(c, 0) / T_A.subs(c, c_star))
kap_s = sp.symbols("kappa", positive=True)
T_D = mu_max / sp.sqrt(mu_min)
print("dT_A/dc                =", dT)
print("kappa(g(c*))           =", kappa_g_star, "  (the theorem says 2)")
print("T(0)/T(c*)             =", sp.simplify(ratio.subs(lmax, kap_s * lmin)), "  (the theorem says ~ kappa/4)")
print("model D / sqrt(model A) =", sp.simplify(T_D / sp.sqrt(T_A)), " -> same minimiser c* as model A")
print("dT_D/dc = 0 at c =", sp.solve(sp.diff(sp.log(T_D), c), c))

notes = {}
for gname in ("K3", "K4", "K5"):
    F = ising_fisher(gname, 0.5)
    a = named[gname]
    H = torch.autograd.functional.hessian(lambda t: ising_log_partition(gname, t), torch.full((F.shape[0],), 0.5, dtype=torch.float64))
    notes[gname] = {
        "kappa(F)": a.kappa,
        "kappa(g(c*)) [paper: 2]": float(condition_number(combined_metric(F, a.c_star))),
        "2 kappa(F)": 2 * a.kappa,
        "T(0)/T(c*)": float(convergence_time(F, 0.0) / convergence_time(F, a.c_star)),
        "kappa^2/(4(kappa-1))": a.kappa ** 2 / (4 * (a.kappa - 1)),
        "kappa/4 [paper]": a.kappa / 4,
        "max|Hess log Z - F|": float((H - F).abs().max()),
        "max|Hess log Z - F^2|": float((H - F @ F).abs().max()),
    }
notes_table = pd.DataFrame(notes).T
notes_table.round(3)

# %% [markdown]
# 1. **κ(g(c\*)) = 2κ(F), not 2** (Theorem, item 3 and proof: "by construction"). At $c^* = \lambda_{\max} - 2\lambda_{\min}$,
#    $\kappa(g) = \frac{\lambda_{\max}(2\lambda_{\max} - 2\lambda_{\min})}{\lambda_{\min}(\lambda_{\max} - \lambda_{\min})} = 2\kappa(F)$.
#    What equals 2 at the optimum is $(\lambda_{\max} + c^*)/(\lambda_{\min} + c^*)$, the condition number of $F + c^*I$.
# 2. **The gain is $T(0)/T(c^*) = \kappa^2/(4(\kappa - 1))$**, not "≈ κ/4" (columns `T(0)/T(c*)` and `kappa/4 [paper]`
#    above; where κ/4 < 1 it would even be a loss); ≈ κ/4 only as κ → ∞.
# 3. **α_opt depends on the scale of F** (Part C below): Δ has the units of F, so rescaling the parameters, a
#    1/N-normalised loss or {0, 1} spins change α_opt; only the threshold κ(F) > 2 is scale-free.
# 4. **The directional table does not follow from the definitions** (Part D below).
# 5. **"M = Hessian of log Z ⇒ M = F²"** (Remark "Ansatz") conflicts with $\nabla^2 \log Z = F$ (the table above:
#    Hessian − F vanishes to rounding, Hessian − F² does not). The paper itself calls $M = F^2$ an unverified ansatz.
# 6. **Model D has an interior optimum, the same as Model A**: $T_D = \mu_{\max}/\mu_{\min}^{1/2} = \sqrt{T_A}$, a
#    monotone transform, so the Remark's "only Model A produces an interior optimum" is wrong for D (B and C are
#    indeed monotone). The Remark also announces "four alternative models" and lists three (the abstract says three).
# 7. Smaller points: the proof's $dT/dc \propto (2\lambda_{\min} - \lambda_{\max} + c)$ drops the positive factor
#    $(\lambda_{\max} + c)$ (harmless); the Proposition calls the largest-λ direction ($\alpha \to 1$) "most classical"
#    while the same section calls $\lambda_k \gg \beta$ quantum (paper6 uses large λ = classical, against the
#    Corollary's "κ → ∞: α → 1 (quantum limit)"); the α table is at J = 0.5, which is not one of the 7 sweep
#    couplings of [0.1, 1.5] if they are evenly spaced; the 91-configuration check compares the formula with a
#    numerical minimum of the same functional — calculus only, as the paper says.
#
# ## Part C: the scale of F changes α_opt, not the threshold

# %%
J_fine = np.linspace(0.05, 2.0, 79)
scale_rows = []
for gname in ("K3", "K4", "K5", "K6"):
    for J in J_fine:
        a = alpha_opt(ising_fisher(gname, float(J)))
        scale_rows.append(dict(graph=gname, J=J, kappa=a.kappa, alpha=a.alpha, lam_max=a.lam_max))
scale_df = pd.DataFrame(scale_rows)
F_k4 = ising_fisher("K4", 0.5)
rescale = pd.DataFrame({
    name: {"kappa(F)": alpha_opt(F).kappa, "Delta": alpha_opt(F).delta, "alpha_opt": alpha_opt(F).alpha}
    for name, F in {
        "F (±1 spins, as the paper)": F_k4,
        "F/6 (loss averaged over the 6 edges)": F_k4 / 6,
        "F/4": F_k4 / 4,
        "4F (θ' = θ/2)": 4 * F_k4,
        "{0,1} spins, same J = 0.5": ising_fisher("K4", 0.5, spins="01"),
        "{0,1} spins, J = 2 (= ±1 coupling 0.5 plus fields)": ising_fisher("K4", 2.0, spins="01"),
    }.items()
}).T
print("K4 at J = 0.5 under rescalings of F (kappa is unchanged by a scalar factor, alpha_opt is not):")
print(rescale.round(3).to_string())

fig, axes = plt.subplots(1, 2, figsize=(8.6, 3.8))
for k, (gname, d) in enumerate(scale_df.groupby("graph", sort=False)):
    axes[0].plot(d.J, d.alpha, color=PALETTE[k], label=gname)
    axes[1].plot(d.J, d.kappa, color=PALETTE[k], label=gname)
axes[0].set_xlabel("coupling J")
axes[0].set_ylabel("α_opt (Model A)")
axes[0].set_title("α_opt rises, then falls with J")
axes[1].axhline(2, color="k", ls="--", lw=1)
axes[1].set_yscale("log")
axes[1].set_xlabel("coupling J")
axes[1].set_ylabel("κ(F) (log scale)")
axes[1].set_title("κ(F) grows with J")
axes[0].legend()
fig.tight_layout()
savefig(fig, SLUG, "alpha_vs_coupling", caption=(
    "Left: α_opt of Model A against the Ising coupling J for the complete graphs K3 to K6 (one colour per "
    "graph). Right: the condition number κ(F) of their Fisher matrices (log scale) against J, the dashed "
    "line at κ = 2."))
plt.show()
k4 = scale_df[scale_df.graph == "K4"]
k4_peak_J = float(k4.J.iloc[int(k4.alpha.argmax())])
print(f"K4: alpha_opt peaks at J = {k4_peak_J:.2f} ({k4.alpha.max():.3f}) and falls to {k4.alpha.iloc[-1]:.3f} at J = 2 "
      f"while kappa(F) goes {k4.kappa.iloc[0]:.2f} -> {k4.kappa.iloc[-1]:.1f}")

# %% [markdown]
# **Reading.** A scalar factor on F (averaging the loss over edges, rescaling θ) leaves κ(F) and the threshold alone
# but moves α_opt anywhere in (0, 1); {0, 1} spins are a different parameterisation again. The Corollary's
# "κ → ∞ ⇒ α_opt → 1" holds only at fixed λ_min: along the physical route to large κ, stronger coupling, all
# eigenvalues shrink and α_opt → 0 (the K4 line printed above).
#
# ## Part D: directional α and the deviation tensor
# The paper's table (Sec. "Directional Alpha and the Deviation Tensor") gives K3: Δα 0.226, δ 0.167; K4: Δα 0.397,
# δ 0.380, without saying which β. paper6 uses β = 1/2 (its Example K5: Δα = 0.536, α_min = 0.067, α_max = 0.603;
# its Example K3: α = 0.435 and 0.687, i.e. Δα = 0.252). We compute both natural choices, β = 1/2 and β = c*.

# %%
dir_rows, dir_bars = {}, {}
for gname in ("K3", "K4", "K5"):
    F = ising_fisher(gname, 0.5)
    a = named[gname]
    _, delta, k_tr = deviation_tensor(F)
    dir_bars[gname] = {b: directional_alpha(F, bval).numpy() for b, bval in (("β = 1/2", 0.5), ("β = c*", a.c_star))}
    dir_rows[gname] = {
        "Delta alpha, beta=1/2": float(alpha_spread(F, 0.5)), "Delta alpha, beta=c*": float(alpha_spread(F, a.c_star)),
        "bound 1-1/kappa": 1 - 1 / a.kappa, "tight bound (sqrt k-1)/(sqrt k+1)": (a.kappa ** 0.5 - 1) / (a.kappa ** 0.5 + 1),
        "alpha_min, beta=1/2": float(directional_alpha(F, 0.5)[0]), "alpha_max, beta=1/2": float(directional_alpha(F, 0.5)[-1]),
        "delta (deviation fraction)": delta, "k_tr = tr M / tr F": k_tr,
    }
dir_table = pd.DataFrame(dir_rows).T
PAPER_DIR = {"K3": {"Delta alpha (paper)": 0.226, "delta (paper)": 0.167, "Delta alpha (paper6, beta=1/2)": 0.252},
             "K4": {"Delta alpha (paper)": 0.397, "delta (paper)": 0.380, "Delta alpha (paper6, beta=1/2)": np.nan},
             "K5": {"Delta alpha (paper)": np.nan, "delta (paper)": np.nan, "Delta alpha (paper6, beta=1/2)": 0.536}}
dir_table = dir_table.join(pd.DataFrame(PAPER_DIR).T)
print(dir_table.round(3).T.to_string())

fig, axes = plt.subplots(1, len(dir_bars), figsize=(8.6, 3.9), sharey=True, layout="constrained",
                         gridspec_kw=dict(width_ratios=[len(next(iter(b.values()))) + 3 for b in dir_bars.values()]))
for ax, (gname, bars) in zip(axes, dir_bars.items()):
    F = ising_fisher(gname, 0.5)
    lam = torch.linalg.eigvalsh(F).numpy()
    x = np.arange(len(lam))
    for k, (lab, vals) in enumerate(bars.items()):
        ax.bar(x + (k - 0.5) * 0.38, vals, width=0.38, color=PALETTE[k], label=lab)
    _, _, k_tr = deviation_tensor(F)
    ax.set_xticks(x, [f"{v:.3f}" for v in lam], rotation=90)
    ax.set_xlabel("eigenvalue λ_k")
    ax.set_title(f"{gname}, J = 0.5\nk_tr = {k_tr:.3f}")
axes[0].set_ylabel("directional α = λ_k/(λ_k + β)")
fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=2)
fig.suptitle("One observer, several regimes: directional α per eigendirection")
savefig(fig, SLUG, "directional_alpha", caption=(
    "Directional α = λ_k/(λ_k + β) along each eigendirection of the Fisher matrix (labelled by its eigenvalue "
    "λ_k, in increasing order) for K3, K4 and K5 at J = 0.5, for β = 1/2 and β = c* = λ_max − 2λ_min. Each panel's title gives k_tr = tr M / tr F of the deviation tensor."))
plt.show()

# %%
display(Markdown(
    f"With β = 1/2 our K3 spread is {dir_rows['K3']['Delta alpha, beta=1/2']:.3f} (paper6 "
    f"{PAPER_DIR['K3']['Delta alpha (paper6, beta=1/2)']}) and our K5 spread {dir_rows['K5']['Delta alpha, beta=1/2']:.3f} "
    f"(paper6 {PAPER_DIR['K5']['Delta alpha (paper6, beta=1/2)']}; our K5 α_min {dir_rows['K5']['alpha_min, beta=1/2']:.4f}). "
    "This paper's table: " + "; ".join(
        f"{g} Δα {PAPER_DIR[g]['Delta alpha (paper)']} against ours {dir_rows[g]['Delta alpha, beta=1/2']:.3f} (β = 1/2) or "
        f"{dir_rows[g]['Delta alpha, beta=c*']:.3f} (β = c*), δ {PAPER_DIR[g]['delta (paper)']} against ours "
        f"{dir_rows[g]['delta (deviation fraction)']:.3f} (δ does not depend on β)" for g in ("K3", "K4"))
    + ". The bound Δα < 1 − 1/κ holds in every row: " + str(bool((dir_table['Delta alpha, beta=1/2']
                                                                  < dir_table['bound 1-1/kappa']).all()))
    + "; the tight bound, reached at β = √(λ_min λ_max), is (√κ − 1)/(√κ + 1)."))

# %% [markdown]
# ## Part E: the paper's caveat — other convergence models and real preconditioned descent
# The Remark "Honest Limitations" says the interior optimum is Model-A-specific. We check it two ways: the
# alternative functionals B, C, D of the Remark, and the dynamics Model A is meant to summarise —
# preconditioned gradient descent $x \leftarrow x - \eta\, g(c)^{-1} H x$ on the quadratic loss $\tfrac12 x^\top H x$
# with $H = I$ (the theorem's isotropic loss) and $H = F$ (the expected Hessian of maximum likelihood), counting
# iterations to shrink the error by `tol`, with the best fixed step $\eta = 2/(m + L)$ per c, or $\eta = 1/L$
# ($m, L$ the extreme eigenvalues of $g^{-1}H$).

# %%
dyn_g = make_graph(P.dynamics_graph)
F_dyn = ising_fisher(dyn_g, 0.5)
a_dyn = alpha_opt(F_dyn)
dyn_cs = [a_dyn.c_star if c_val == -1.0 else float(c_val) for c_val in P.dynamics_cs]
x0 = torch.randn(F_dyn.shape[0], dtype=torch.float64, generator=torch.Generator().manual_seed(P.seed))


def iterations(c_val, H, step):
    g = combined_metric(F_dyn, c_val)
    if step == "tuned":
        return preconditioned_descent_iterations(H, g, x0, tol=P.tol)
    Li = torch.linalg.inv(torch.linalg.cholesky(g))
    L = float(torch.linalg.eigvalsh(Li @ H @ Li.T)[-1])
    return preconditioned_descent_iterations(H, g, x0, eta=1.0 / L, tol=P.tol)


dyn = pd.DataFrame({
    f"c = {c_val:.3f}" + (" (c*)" if abs(c_val - a_dyn.c_star) < 1e-12 else ""): {
        "alpha": float(alpha_from_c(c_val)),
        "T_A/T_A(0)": float(convergence_time(F_dyn, c_val, "A") / convergence_time(F_dyn, 0.0, "A")),
        "T_B": float(convergence_time(F_dyn, c_val, "B")), "T_C": float(convergence_time(F_dyn, c_val, "C")),
        "T_D/T_D(0)": float(convergence_time(F_dyn, c_val, "D") / convergence_time(F_dyn, 0.0, "D")),
        "iters H=I, tuned eta": iterations(c_val, torch.eye(F_dyn.shape[0], dtype=torch.float64), "tuned"),
        "iters H=I, eta=1/L": iterations(c_val, torch.eye(F_dyn.shape[0], dtype=torch.float64), "1/L"),
        "iters H=F, tuned eta": iterations(c_val, F_dyn, "tuned"),
        "iters H=F, eta=1/L": iterations(c_val, F_dyn, "1/L"),
    }
    for c_val in dyn_cs
}).T
print(f"{P.dynamics_graph} at J = 0.5: kappa(F) = {a_dyn.kappa:.3f}, c* = {a_dyn.c_star:.3f}, alpha_opt = {a_dyn.alpha:.3f}")
print(dyn.round(3).to_string())
iter_cols = [k for k in dyn.columns if k.startswith("iters")]
monotone = {k: bool((np.diff(dyn[k].to_numpy()) <= 0).all()) for k in iter_cols}
print("iterations non-increasing in c (no interior optimum):", monotone)

# %%
fig, axes = plt.subplots(2, 1, figsize=(8, 7.6))
cgrid = torch.logspace(-3, 3, 400, dtype=torch.float64)
for k, m in enumerate(("A", "B", "C", "D")):
    T = convergence_time(F_dyn, cgrid, m)
    axes[0].plot(cgrid.numpy(), (T / T[0]).numpy(), color=PALETTE[k], ls="--" if m == "D" else "-", label=f"model {m}")
axes[0].axvline(a_dyn.c_star, color="k", lw=0.8, ls=":")
axes[0].text(a_dyn.c_star * 1.15, 200, "c*")
axes[0].set_xscale("log")
axes[0].set_yscale("log")
axes[0].set_xlabel("c = α²/(1 − α) (log scale)")
axes[0].set_ylabel("T(c)/T(c→0) (log scale)")
axes[0].set_title(f"{P.dynamics_graph}: convergence functionals A (κ·μ_max), B (κ), C (μ_max), D (μ_max/√μ_min)")
axes[0].legend()
cs_plot = np.array(dyn_cs)
order = np.argsort(cs_plot)
for k, col in enumerate(iter_cols):
    axes[1].plot(np.maximum(cs_plot[order], 1e-2), dyn[col].to_numpy()[order], "o-", color=PALETTE[k], label=col.replace("iters ", ""))
axes[1].axvline(a_dyn.c_star, color="k", lw=0.8, ls=":")
axes[1].set_xscale("log")
axes[1].set_yscale("log")
axes[1].set_xlabel("c (log scale; c = 0 drawn at 0.01)")
axes[1].set_ylabel(f"iterations to shrink the error by {P.tol:g}")
axes[1].set_title("preconditioned GD with g(c) = F² + cF: monotone, no optimum at c*")
axes[1].legend()
fig.tight_layout()
savefig(fig, SLUG, "convergence_models_and_dynamics", caption=(
    f"Top: the convergence-time functionals of models A to D for {P.dynamics_graph} at J = 0.5, each "
    f"relative to its value as c → 0, against c = α²/(1 − α) (both axes logarithmic; model D dashed). "
    f"Bottom: iterations of preconditioned gradient descent with g(c) = F² + cF to shrink the error by "
    f"{P.tol:g}, for the two Hessians (H = I, H = F) and two step-size rules, against c (log scale, c = 0 "
    f"drawn at 0.01). The dotted vertical line in both panels is c* = λ_max − 2λ_min."))
plt.show()

# %% [markdown]
# **Reading.** The actual descent never has an optimum at c\*: with $H = I$ the iteration count follows
# $\kappa(g^{-1}) = \kappa(g(c))$, which *falls* with c (Model B), and with $H = F$ it follows
# $\kappa((F + cI)^{-1})$, which falls too — both favour α → 1, as the paper's Remark says for $H = F$. Model A's interior
# optimum comes from multiplying by $\mu_{\max}(g)$, which would be a time only for a fixed step size that does
# not adapt to g. Model D, being √(Model A), shares its optimum (the Remark says it does not).
#
# ## Part F: what natural gradient buys — reparameterisation invariance
# Fit the K4 couplings to target moments, $L(\theta) = \log Z(\theta) - \theta^\top \bar T$ (= KL to the target up to a
# constant), from θ = 0, by GD and by natural gradient (`natural_gradient(F, grad)`), once in θ and once in
# φ with θ = Aφ for an ill-conditioned A (κ(A) = 100). Natural gradient is Amari's invariant rule: its two runs trace
# the same distributions; GD's do not.

# %%
T_k4 = ising_statistics("K4")
theta_target = torch.tensor([0.8, -0.3, 0.5, 0.2, -0.6, 0.4], dtype=torch.float64)
_, target_mean, _ = exp_family_moments(T_k4, theta_target)
logz_target = exp_family_moments(T_k4, theta_target)[0]
Q, _ = torch.linalg.qr(torch.randn(6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(P.seed + 1)))
A_bad = Q @ torch.diag(torch.logspace(-1, 1, 6, dtype=torch.float64))


def kl_to_target(theta):
    logz, _, _ = exp_family_moments(T_k4, theta)
    return float(logz - theta @ target_mean - (logz_target - theta_target @ target_mean))


def fit(method, A, steps=400, eta_ngd=0.5):
    phi = torch.zeros(6, dtype=torch.float64)
    F_star = exp_family_moments(T_k4, theta_target)[2]
    eta_gd = 1.0 / float(torch.linalg.eigvalsh(A.T @ F_star @ A)[-1])  # the largest stable-ish step near the optimum
    path, kls = [], []
    for _ in range(steps):
        theta = A @ phi
        _, mean, F = exp_family_moments(T_k4, theta)
        grad_phi = A.T @ (mean - target_mean)
        phi = phi - (eta_ngd * natural_gradient(A.T @ F @ A, grad_phi) if method == "NGD" else eta_gd * grad_phi)
        path.append(mean)
        kls.append(kl_to_target(A @ phi))
    return torch.stack(path), np.array(kls)


runs = {(m, p): fit(m, A) for m in ("GD", "NGD") for p, A in (("θ", torch.eye(6, dtype=torch.float64)), ("φ, θ = Aφ", A_bad))}
path_gap = {m: float((runs[(m, "θ")][0] - runs[(m, "φ, θ = Aφ")][0]).abs().max()) for m in ("GD", "NGD")}


def steps_to(kls, level=1e-8):
    hit = np.nonzero(kls < level)[0]
    return int(hit[0]) + 1 if len(hit) else None


print(f"target: K4 couplings {theta_target.tolist()}, kappa(F) at the target = {float(condition_number(exp_family_moments(T_k4, theta_target)[2])):.1f}; "
      f"GD step 1/lambda_max of the Hessian at the target in each parameterisation, NGD step 0.5")
ngd_table = pd.DataFrame({f"{m} in {p}": {"KL after 400 steps": f"{kls[-1]:.2e}",
                                          "steps to KL < 1e-8": steps_to(kls) or "> 400"}
                          for (m, p), (_, kls) in runs.items()}).T
print(ngd_table.to_string())
print(f"max difference of the moment paths between the two parameterisations: GD {path_gap['GD']:.3f}, NGD {path_gap['NGD']:.1e}")

fig, axes = plt.subplots(1, 2, figsize=(8.6, 3.9))
for k, ((m, p), (path, kls)) in enumerate(runs.items()):
    axes[0].semilogy(np.maximum(kls, 1e-16), color=PALETTE[k // 2], ls="-" if p == "θ" else "--", label=f"{m} in {p}")
    axes[1].plot(path[:, 0].numpy(), path[:, 4].numpy(), color=PALETTE[k // 2], ls="-" if p == "θ" else "--", label=f"{m} in {p}")
axes[1].scatter([float(target_mean[0])], [float(target_mean[4])], marker="*", s=120, color="k", zorder=5, label="target")
axes[0].set_xlabel("step")
axes[0].set_ylabel("KL(target ‖ model) (log scale)")
axes[0].set_title("K4 fit: KL to the target")
axes[1].set_xlabel("E[s₀s₁] along the path")
axes[1].set_ylabel("E[s₁s₃] along the path")
axes[1].set_title("paths in moment space")
axes[0].legend()
fig.tight_layout()
savefig(fig, SLUG, "natural_gradient_invariance", caption=(
    "Fitting the K4 couplings to target moments with gradient descent (GD) and natural-gradient descent "
    "(NGD), each in the natural parameters θ (solid) and in a reparameterisation θ = Aφ (dashed). Left: "
    "KL(target ‖ model) against the step (log scale). Right: the paths in moment space, E[s₀s₁] against "
    "E[s₁s₃], the star at the target."))
plt.show()

# %% [markdown]
# **Reading.** Natural gradient reaches the target in the same number of steps in both parameterisations and its
# moment paths coincide to rounding (Amari's invariance, the paper's Theorem 2, which is standard); plain GD converges
# in θ but stalls in φ, whose Hessian $A^\top F A$ is ill-conditioned. This is the part of the paper's chain that is
# textbook information geometry; it says nothing about α.
#
# ## Paper profile: larger observers
# Only in `paper` (or with a longer `extra_topologies`): the same α formula on bigger graphs. Shown here: the
# largest observers of the run.

# %%
largest = sweep[sweep.n == sweep.n.max()]
print(f"largest observers in this run: {sorted(largest.graph.unique())}, n = {int(sweep.n.max())} spins "
      f"({2 ** int(sweep.n.max())} states enumerated), {int(largest.edges.max())} edge parameters")
print(largest.groupby("graph")[["kappa", "alpha_pred", "err"]].agg(["min", "max"]).round(4).to_string())

# %% [markdown]
# ## Paper vs ours
# One row per quantity; the paper's values are from its LaTeX source (`paper3-good-regulator/main.tex`, tables of
# Sec. "Computational Verification" and "Directional Alpha and the Deviation Tensor", as quoted in
# `../shared/papers/good_regulator.md`). Everything is exact, so every row compares as a value.

# %%
SRC = "paper (main.tex), Sec. Computational Verification"
SRC_DIR = "paper (main.tex), Sec. Directional Alpha and the Deviation Tensor"
EXACT = "exact enumeration, J = 0.5"
rows = []
for g in NAMED:
    rows.append(paper_row(f"kappa(F) {g}", paper=PAPER_TABLE[g][0], paper_setting=f"{NAMED[g]}, J = 0.5", source=SRC,
                          ours=round(named[g].kappa, 3), ours_setting=EXACT, comparable_as="value"))
    rows.append(paper_row(f"alpha_opt {g}", paper=PAPER_TABLE[g][2], paper_setting=f"{NAMED[g]}, J = 0.5", source=SRC,
                          ours=round(named[g].alpha, 3), ours_setting=EXACT, comparable_as="value"))
rows += [
    paper_row("mean |alpha_pred - alpha_num| over 91 configurations", paper=PAPER_MEAN_ERROR,
              paper_setting="13 topologies (not listed) x 7 couplings, minimiser not described", source=SRC,
              ours=float(f"{core.err.mean():.2e}"), ours_setting=f"{len(core)} configurations (our 13 topologies), "
              "bounded scalar minimisation over c", comparable_as="value"),
    paper_row("kappa(g(c*)) K4", paper=2.0, paper_setting="Theorem, item 3", source="paper (main.tex), Theorem",
              ours=round(notes["K4"]["kappa(g(c*)) [paper: 2]"], 3), ours_setting=EXACT, comparable_as="value"),
    paper_row("T(0)/T(c*) K4", paper=round(named["K4"].kappa / 4, 3), paper_setting="\"≈ kappa/4\"",
              source="paper (main.tex), Theorem", ours=round(notes["K4"]["T(0)/T(c*)"], 3), ours_setting=EXACT,
              comparable_as="value"),
]
for g in ("K3", "K4"):
    rows.append(paper_row(f"Delta alpha {g}", paper=PAPER_DIR[g]["Delta alpha (paper)"], paper_setting="beta not stated",
                          source=SRC_DIR, ours=round(dir_rows[g]["Delta alpha, beta=1/2"], 3),
                          ours_setting=f"beta = 1/2 ({dir_rows[g]['Delta alpha, beta=c*']:.3f} with beta = c*)",
                          comparable_as="value"))
    rows.append(paper_row(f"deviation fraction delta {g}", paper=PAPER_DIR[g]["delta (paper)"], paper_setting="",
                          source=SRC_DIR, ours=round(dir_rows[g]["delta (deviation fraction)"], 3),
                          ours_setting="M = F^2 (delta does not depend on beta)", comparable_as="value"))
pd.DataFrame(rows)

# %% [markdown]
# ## Claim check

# %%
# What must hold for this notebook to be correct (exact computations):
for g, (kap_p, _, alpha_p, _, _) in PAPER_TABLE.items():
    assert abs(named[g].alpha - alpha_p) <= 1e-3, (g, named[g].alpha)
    assert abs(named[g].kappa - kap_p) <= 0.01 * max(1.0, kap_p / 10) + 1e-9, (g, named[g].kappa)
assert abs(named["K3"].c_star - 0.325) < 1e-3 and abs(named["K4"].c_star - 0.903) < 1e-3 and abs(named["K5"].c_star - 0.689) < 1e-3
assert np.isfinite(sweep[["kappa", "alpha_pred", "alpha_num"]].to_numpy()).all()
assert (sweep.loc[sweep.kappa <= 2, "alpha_pred"] == 0).all() and (sweep.loc[sweep.kappa > 2, "alpha_pred"] > 0).all()
assert core.err.max() < 1e-6 and sweep.err.max() < 1e-6  # formula == numerical minimum of the same functional
for g in ("K3", "K4", "K5"):
    assert abs(notes[g]["kappa(g(c*)) [paper: 2]"] - notes[g]["2 kappa(F)"]) < 1e-9
    assert abs(notes[g]["T(0)/T(c*)"] - notes[g]["kappa^2/(4(kappa-1))"]) < 1e-9
    assert notes[g]["max|Hess log Z - F|"] < 1e-8 < notes[g]["max|Hess log Z - F^2|"]
assert path_gap["NGD"] < 1e-8 < path_gap["GD"]

# The registered criteria (the claim), each one exact value.
criteria.record("alpha_table", max(abs(named[g].alpha - PAPER_TABLE[g][2]) for g in NAMED))
broken = ((sweep.kappa <= 2) & (sweep.alpha_num >= 1e-4)) | ((sweep.kappa > 2) & (sweep.alpha_num <= 0))
criteria.record("kappa_threshold", float(broken.sum()))
criteria.record("kappa_table", max(abs(named[g].kappa / PAPER_TABLE[g][0] - 1) for g in NAMED))
criteria.record("formula_is_the_minimum", float(core.err.mean()))

# The errata: findings about the paper's derivation and tables, shown and never counted.
c_fine = torch.linspace(0, 5 * max(a_dyn.c_star, 0.1), 20001, dtype=torch.float64)
model_d_argmin = float(c_fine[int(convergence_time(F_dyn, c_fine, "D").argmin())])
ERRATA = [
    (Criterion("erratum_kappa_g_star", "Theorem item 3: kappa(g(c*)) = 2 (K4; |kappa(g(c*)) - 2|)", direction="below",
               threshold=1e-3, noise_free=True), abs(notes["K4"]["kappa(g(c*)) [paper: 2]"] - 2.0)),
    (Criterion("erratum_gain", "Theorem: T(0)/T(c*) is about kappa/4 (K4; relative difference)", direction="below",
               threshold=0.01, noise_free=True), abs(notes["K4"]["T(0)/T(c*)"] / (named["K4"].kappa / 4) - 1)),
    (Criterion("erratum_directional_table", "directional table: Delta alpha of K3, K4 (largest |ours - paper|, "
               "better of beta = 1/2 and beta = c*)", direction="below", threshold=1e-3, noise_free=True),
     min(max(abs(dir_rows[g][f"Delta alpha, beta={b}"] - PAPER_DIR[g]["Delta alpha (paper)"]) for g in ("K3", "K4"))
         for b in ("1/2", "c*"))),
    (Criterion("erratum_deviation_table", "deviation fraction delta of K3, K4 (largest |ours - paper|)",
               direction="below", threshold=1e-3, noise_free=True),
     max(abs(dir_rows[g]["delta (deviation fraction)"] - PAPER_DIR[g]["delta (paper)"]) for g in ("K3", "K4"))),
    (Criterion("erratum_model_d", f"Remark: model D has no interior optimum ({P.dynamics_graph}; |argmin T_D - c*|)",
               direction="above", threshold=1e-3, noise_free=True), abs(model_d_argmin - a_dyn.c_star)),
]
for crit, value in ERRATA:
    criteria.add_exploratory(crit)
    criteria.record(crit.name, float(value))
dynamics_optimum = not all(monotone.values())
verdict = criteria.verdict()
display(criteria.table(digits=4))
sentences = [criteria.sentence(c.name, 1.0, "", 4) for c in criteria]
display(Markdown("**The claim** (counted):\n" + "\n".join(f"- {x}" for x in sentences[:4])
                 + "\n\n**Errata** (findings, not counted):\n" + "\n".join(f"- {x}" for x in sentences[4:])
                 + f"\n\nPreconditioned descent on {P.dynamics_graph} "
                 + ("has" if dynamics_optimum else "has no") + " interior optimum in c (what Model A stands for; the "
                 f"paper's caveat).\n\n**Verdict: {verdict}.**"))
claim_part = " ".join(criteria.sentence(c.name, 1.0, "", 4) for c in criteria if c.role != "exploratory")
errata = [crit.name for crit, _ in ERRATA if criteria.outcome(crit.name).status == "contradicted"]
explanation = (f"{claim_part} Errata found (findings, not part of the claim): "
               + (", ".join(errata) if errata else "none") + "; preconditioned descent "
               + ("has" if dynamics_optimum else "has no") + " optimum at c*, so the result is a property of one "
               "assumed functional.")
print(f"verdict: {verdict}")

# %% tags=["timing"]
cpu_seconds = time.process_time() - cpu_start
print(f"(CPU time of the computation cells: {cpu_seconds:.1f} s)")

# %%
budget = {"configurations (paper-size sweep)": len(core), "configurations (all)": len(sweep),
          "CPU seconds": round(cpu_seconds, 1), "trained to convergence": "nothing is trained (exact computations)"}
result_file = write_result(
    SLUG,
    title="Verifying Good Regulator Conditions for Hypergraph Observers (arXiv 2603.09067, 2026)",
    claim="Under the ansatz M = F² and the Model A convergence time, the optimal Vanchurin regime parameter is "
          "alpha = (-Delta + sqrt(Delta(Delta+4)))/2 with Delta = lambda_max - 2 lambda_min, non-zero only when kappa(F) > 2 "
          "(alpha table for K3, K4, K5, P6 Ising observers; 91-configuration check).",
    verdict=verdict,
    explanation=explanation,
    ours={**{f"alpha_opt {g}": named[g].alpha for g in NAMED}, **{f"kappa(F) {g}": named[g].kappa for g in NAMED},
          "91-config mean |error|": float(core.err.mean()),
          "91-config mean |error|, alpha >= 0.01 minimiser": float(core.err_guess.mean()),
          "kappa(g(c*)) K4": notes["K4"]["kappa(g(c*)) [paper: 2]"], "T(0)/T(c*) K4": notes["K4"]["T(0)/T(c*)"],
          "Delta alpha K3 (ours: beta=1/2)": dir_rows["K3"]["Delta alpha, beta=1/2"],
          "Delta alpha K4 (ours: beta=1/2)": dir_rows["K4"]["Delta alpha, beta=1/2"],
          "delta K3": dir_rows["K3"]["delta (deviation fraction)"], "delta K4": dir_rows["K4"]["delta (deviation fraction)"],
          "PGD iterations K4 H=I at c=0 / c* / c=100": f"{int(dyn.iloc[0]['iters H=I, tuned eta'])} / "
                                                       f"{int(dyn.loc[[i for i in dyn.index if '(c*)' in i][0], 'iters H=I, tuned eta'])} / "
                                                       f"{int(dyn.iloc[-1]['iters H=I, tuned eta'])}"},
    paper={**{f"alpha_opt {g}": PAPER_TABLE[g][2] for g in NAMED}, **{f"kappa(F) {g}": PAPER_TABLE[g][0] for g in NAMED},
           "91-config mean |error|": 0.007, "kappa(g(c*)) K4": 2.0, "T(0)/T(c*) K4": "≈ kappa/4",
           "Delta alpha K3 (ours: beta=1/2)": 0.226, "Delta alpha K4 (ours: beta=1/2)": 0.397, "delta K3": 0.167, "delta K4": 0.380},
    profile=P.profile,
    criteria=criteria,
    convergence={},
    budget=budget,
    rows=rows,
)

# %%
# NBVAL_CHECK_OUTPUT
for g in NAMED:
    a = named[g]
    print(f"{g:3s} ({NAMED[g]:15s}) kappa {a.kappa:7.3f}  Delta {a.delta:6.3f}  alpha_opt {a.alpha:.3f}")
print(f"sweep: {len(core)} paper-size configs, kappa > 2 in {int((core.kappa > 2).sum())}; "
      f"max |alpha_pred - alpha_num| {'< 1e-6' if core.err.max() < 1e-6 else f'{core.err.max():.3f}'}; "
      f"alpha >= 0.01 minimiser: mean {core.err_guess.mean():.3f}, max {core.err_guess.max():.3f}")
print("kappa(g(c*)) K3/K4/K5:", " / ".join(f"{notes[g]['kappa(g(c*)) [paper: 2]']:.3f}" for g in ("K3", "K4", "K5")),
      "  T(0)/T(c*):", " / ".join(f"{notes[g]['T(0)/T(c*)']:.3f}" for g in ("K3", "K4", "K5")))
print("Delta alpha (beta=1/2) K3/K4/K5:", " / ".join(f"{dir_rows[g]['Delta alpha, beta=1/2']:.3f}" for g in ("K3", "K4", "K5")),
      "  delta:", " / ".join(f"{dir_rows[g]['delta (deviation fraction)']:.3f}" for g in ("K3", "K4", "K5")))
print(f"{P.dynamics_graph} PGD iterations (H=I, tuned) over c:", dyn["iters H=I, tuned eta"].astype(int).tolist())
print(f"{P.dynamics_graph} PGD iterations (H=F, tuned) over c:", dyn["iters H=F, tuned eta"].astype(int).tolist())
print(f"NGD path gap between parameterisations < 1e-8: {path_gap['NGD'] < 1e-8}; GD path gap {path_gap['GD']:.3f}")
print(f"verdict: {verdict}")
