# %% [markdown]
# # STARC: A General Framework For Quantifying Differences Between Reward Functions
#
# Skalse, Farnik, Motwani, Jenner, Gleave & Abate, **ICLR 2024**, [arXiv:2309.15257](https://arxiv.org/abs/2309.15257).
# Official experiment code: `lucyfarnik/starc` (read at commit e13f8fa; nothing copied).
#
# **Claim tested here.** A STARC pseudometric (canonicalise away potential shaping *and*
# S′-redistribution, normalise, then measure) bounds worst-case regret from above and below; empirically,
# STARC with the value-adjusted canonicalisation **VAL** correlates with the normalised regret of
# optimising the wrong reward better than **EPIC**, **DARD** and unnormalised distances (Fig. 1: one
# dot per (norm, metric) choice and canonicalisation; the authors' values are in the paper-vs-ours table).
#
# This notebook
# 1. checks the invariances **exactly** (shaping, positive scaling, S′-redistribution);
# 2. registers the criteria of the claim before the experiment;
# 3. reruns the paper's random-MDP experiment (32 states, 4 actions, γ = 0.95, the official reward
#    generator, rewards interpolated from R₁ to R₂ in 16 steps) with **exact** regret (policy iteration and
#    linear solves instead of value iteration and Monte-Carlo rollouts), over the paper's full grid of
#    canonicalisations × norms × metrics, for 3 generator seeds;
# 4. shows the Fig. 1 analogue, scatter plots of distance against regret, our correlations beside the
#    paper's, and what Monte-Carlo returns (the paper's estimator) do to them; then the verdict of the
#    shared rule (`mlcompanion.verdict`).
#
# | profile | data | hardware | wall time |
# |---|---|---|---|
# | `ci` (default) | 3 seeds × 32 random MDPs × 4 reward pairs × 16 steps = 3 × 2,048 points; Monte-Carlo regret on 16 MDPs of one seed | 1 CPU thread | about 45 s |
# | `paper` | 3 seeds × 128 MDPs × 24 pairs × 16 steps = 3 × 49,152 points (the size of the authors' final notebook); Monte-Carlo regret on all 128 MDPs of one seed | 1 CPU thread, or `device="cuda"` | about 25 min on one CPU core (5 min exact part + 20 min Monte-Carlo, extrapolated from the ci timings); a few minutes on a GPU (estimate) |
#
# No dataset: `data_root` is unused (the MDPs are generated).

# %% tags=["parameters"]
profile = "ci"
device = "cpu"
data_root = None
seed = 0
# Knobs: None means "the profile's value" (see PROFILES below).
n_seeds = None
n_envs = None
n_pairs = None
interp_steps = None
n_states = None
n_actions = None
gamma = None
mc_envs = None
chunk_envs = None

# %% [markdown]
# ## Profiles
# Both profiles use the paper's MDP size (32 states, 4 actions, γ = 0.95, uniform initial state) and
# the official generator. `ci` is 2,048 (reward, interpolated reward) points per seed instead of the
# 49,152 rows of the authors' final notebook; `paper` is that size. `mc_envs` MDPs of the first seed also
# get the paper's Monte-Carlo regret (n_actions × n_states episodes of 224 steps per return).

# %%
import sys
from pathlib import Path

sys.path.insert(0, str(Path.cwd().parent))  # the repository root, when run from notebooks/

from mlcompanion.profiles import resolve_profile

PROFILES = {
    "ci": dict(n_seeds=3, n_envs=32, n_pairs=4, interp_steps=16, n_states=32, n_actions=4, gamma=0.95,
               mc_envs=16, chunk_envs=32),
    "paper": dict(n_seeds=3, n_envs=128, n_pairs=24, interp_steps=16, n_states=32, n_actions=4, gamma=0.95,
                  mc_envs=128, chunk_envs=8),
}
# One run's wall time per profile as the profile table states it (upper end, hours) and its GPUs:
# `python -m mlcompanion.pipeline sweep` sets each job's time limit from it.
COSTS = {"ci": {"hours": 0.02, "gpus": 0}, "paper": {"hours": 0.42, "gpus": 0}}
P = resolve_profile(
    PROFILES, profile, device=device, data_root=data_root, seed=seed, namespace=globals(),
    n_seeds=n_seeds, n_envs=n_envs, n_pairs=n_pairs, interp_steps=interp_steps, n_states=n_states,
    n_actions=n_actions, gamma=gamma, mc_envs=mc_envs, chunk_envs=chunk_envs,
)
for knob in ("n_seeds", "n_envs", "n_pairs", "interp_steps", "n_states", "n_actions", "chunk_envs"):
    if getattr(P, knob) < 1:
        raise ValueError(f"{knob} must be >= 1, got {getattr(P, knob)}")
if not 0 <= P.mc_envs <= P.n_envs:
    raise ValueError(f"mc_envs must lie in [0, n_envs={P.n_envs}], got {P.mc_envs}")
if not 0 < P.gamma < 1:
    raise ValueError(f"gamma must lie in (0, 1), got {P.gamma}")

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from IPython.display import Markdown, display

from mlcompanion.data.random_mdp import random_mdps, random_rewards
from mlcompanion.gallery import paper_row, write_result
from mlcompanion.metrics.reward import (
    canonicalize,
    epic_distance,
    normalized_regret,
    policy_evaluation,
    policy_iteration,
    potential_shaping,
    reward_norm,
    s_prime_redistribute,
    starc_distance,
    starc_distance_grid,
    uniform_policy,
)
from mlcompanion.plotting import PALETTE, savefig, use_style
from mlcompanion.repro import make_deterministic
from mlcompanion.verdict import Criterion, register_criteria

SLUG = "starc"
make_deterministic(P.seed)
use_style()
pd.set_option("display.precision", 3)

# %% [markdown]
# ## Method
#
# A finite MDP has transitions τ(s, a, s′), discount γ and rewards R(s, a, s′);
# $J_R(\pi) = \mathbb E[\sum_t \gamma^t R(S_t, A_t, S_{t+1})]$ with $S_0 \sim \mu_0$ (uniform).
# Two rewards that differ by **potential shaping** $R'(s,a,s') = R(s,a,s') + \gamma\Phi(s') - \Phi(s)$
# (`potential_shaping(R, phi, gamma)`), by **S′-redistribution** (same $\mathbb E_{S'\sim\tau(s,a)}[R(s,a,S')]$,
# `s_prime_redistribute(R, T, X)`) or by a **positive scale** induce the same ordering of policies.
#
# **Canonicalisation** (`canonicalize(R, T, gamma, kind)`), with uniform $D_S$, $D_A$ and, for VAL, the uniform policy π:
# - EPIC (Gleave et al. 2021): $C(R)(s,a,s') = R(s,a,s') + \gamma\mathbb E[R(s',A,S')] - \mathbb E[R(s,A,S')] - \gamma\mathbb E[R(S,A,S')]$, $S, S' \sim D_S$, $A \sim D_A$;
# - DARD (Wulfe et al. 2022): the same with $S' \sim \tau(s,A)$, $S'' \sim \tau(s',A)$: $R + \gamma\mathbb E[R(s',A,S'')] - \mathbb E[R(s,A,S')] - \gamma\mathbb E[R(S',A,S'')]$;
# - **VAL** (STARC): $C(R)(s,a,s') = \mathbb E_{S'\sim\tau(s,a)}[R(s,a,S') + \gamma V^\pi_R(S')] - V^\pi_R(s)$, the advantage $A^\pi_R(s,a)$,
#   which removes shaping *and* S′-redistribution; VALPotential $R(s,a,s') - V^\pi_R(s) + \gamma V^\pi_R(s')$ removes shaping only;
# - MinimalPotential: $R$ shaped by the potential of least L2 norm (closed-form least squares; the official code uses Adam).
#
# **Standardisation** $s(R) = C(R)/n(C(R))$ (`standardize`), and the **distance**
# $d(R_1, R_2) = m(s(R_1) - s(R_2))$ (`starc_distance(R1, R2, T, gamma, canon, norm, metric)`), with $n$, $m$ among the
# L1, L2, L∞ norms over all |S||A||S| entries, their τ-weighted versions, and $n = 0$ (no normalisation).
# `starc_distance_grid` evaluates all `{canon}-{norm}-{metric}` combinations at once.
# **EPIC's factor 2:** with uniform coverage the EPIC-canonical reward has mean 0, so
# `EPIC-2-2` $= \|u - v\|_2 = \sqrt{2(1-\rho)} = 2\,D_{EPIC}$ (`epic_distance` is Gleave's Pearson distance).
#
# **Regret** (`normalized_regret`): with $\pi_1, \pi_2$ optimal for $R_1, R_2$ and $\pi_x, \pi_y$ optimal for $-R_1, -R_2$,
# $\mathrm{regret} = \frac12\Big[\frac{J_1(\pi_1) - J_1(\pi_2)}{J_1(\pi_1) - J_1(\pi_x)} + \frac{J_2(\pi_2) - J_2(\pi_1)}{J_2(\pi_2) - J_2(\pi_y)}\Big]$,
# optimal policies by policy iteration (`policy_iteration`), returns exactly, $V^\pi = (I - \gamma P_\pi)^{-1} r_\pi$ (`policy_evaluation`).
#
# ### A worked example
# Two states, two actions, γ = 0.5: in s0, a0 stays (reward 0.5) and a1 moves to s1 (reward 0); in s1,
# a0 stays (reward 2) and a1 moves back (reward 0). By hand: the uniform policy has $V = (7/8, 13/8)$,
# the optimal one moves to s1 and stays, $V^* = (2, 4)$.

# %%
toy_T = torch.zeros(2, 2, 2, dtype=torch.float64)
toy_T[0, 0, 0] = toy_T[0, 1, 1] = toy_T[1, 0, 1] = toy_T[1, 1, 0] = 1.0
toy_R = torch.zeros(2, 2, 2, dtype=torch.float64)
toy_R[0, 0, 0], toy_R[1, 0, 1] = 0.5, 2.0
toy_V = policy_evaluation(toy_R, toy_T, uniform_policy(2, 2), 0.5)
toy_pi, toy_V_star = policy_iteration(toy_R, toy_T, 0.5)
toy_val = canonicalize(toy_R, toy_T, 0.5, "val")[..., 0]  # constant in s': the advantage A(s, a)
toy_shaped = potential_shaping(toy_R, torch.tensor([3.0, -1.0], dtype=torch.float64), 0.5)
print("V of the uniform policy:", np.round(toy_V.numpy(), 3).tolist(), " optimal policy:", toy_pi.tolist(),
      " V*:", np.round(toy_V_star.numpy(), 3).tolist())
print("VAL canonical reward (advantage, rows s, columns a):", np.round(toy_val.numpy(), 3).tolist())
print(f"VAL-2-2 distance to a shaped copy: {float(starc_distance(toy_R, toy_shaped, toy_T, 0.5)):.3f}, "
      f"to 5x the reward: {float(starc_distance(toy_R, 5 * toy_R, toy_T, 0.5)):.3f}, "
      f"to its negation: {float(starc_distance(toy_R, -toy_R, toy_T, 0.5)):.3f}")
print(f"raw L2 distance to the shaped copy: {float(starc_distance(toy_R, toy_shaped, toy_T, 0.5, 'none', 0, 2)):.3f}")

# %% [markdown]
# ## The random MDPs and rewards (official generator, `src/env/env.py` and `src/env/reward.py`)
# τ(·|s, a) = softmax over s′ of (z if z > 1 else −20), z ~ N(0, 1) iid, so each (s, a) reaches the states
# whose z cleared the threshold and every other state with probability about e⁻²⁰. A reward is iid N(0, 1)
# over (s, a, s′); with probability 0.2 it is made sparse (only entries > 3 kept), with probability 0.7 scaled
# by 10·U(0, 1), with probability 0.3 shifted by 10·U(0, 1), and with probability 0.5 potential-shaped with
# Φ = N(0, 1)·10U + U′. Each pair (R₁, R₂) is interpolated, $R_i = R_1 + (R_2 - R_1)\, i/16$, i = 1…16, and every
# $R_i$ is compared with $R_1$. `mlcompanion.data.random_mdp` (`random_mdps`, `random_rewards`) draws them in
# batches; `tests/test_starc.py` checks that their distribution is the official one (a reference that
# follows the official procedure reward by reward, two-sample KS tests on statistics isolating each step,
# and the coin probabilities and transition sparsity against their closed forms).

# %% [markdown]
# ## The invariances, exactly
# One random MDP and 8 random rewards; each reward is compared with a transformed copy of itself by
# `{canon}-2-2`. Entries are the largest distance over the 8 rewards: 0 means the canonicalisation (and
# normalisation) removes the transformation. The rewards here are the generator's dense ones (see the
# note on near-trivial sparse rewards below). The S′-redistribution adds $X - \mathbb E_{\tau}[X]$ with
# X ~ 5·N(0, 1); under the sparse τ of these MDPs most of it lands on (almost) impossible transitions.

# %%
inv_rng = np.random.default_rng(P.seed + 1000)
inv_T = random_mdps(1, P.n_states, P.n_actions, inv_rng)[0]
inv_R = random_rewards((8,), P.n_states, P.n_actions, P.gamma, inv_rng, sparse=False)
inv_phi = torch.tensor(10 * inv_rng.standard_normal((8, P.n_states)))
inv_X = torch.tensor(5 * inv_rng.standard_normal(inv_R.shape))
transforms = {
    "potential shaping": potential_shaping(inv_R, inv_phi, P.gamma),
    "positive scaling (x 7.3)": 7.3 * inv_R,
    "S'-redistribution": s_prime_redistribute(inv_R, inv_T, inv_X),
    "all three": 7.3 * s_prime_redistribute(potential_shaping(inv_R, inv_phi, P.gamma), inv_T, inv_X),
}
INV_CANONS = {"None": "none", "EPIC": "epic", "DARD": "dard", "MinimalPotential": "minimal_potential_l2",
              "VALPotential": "val_potential", "VAL": "val"}
invariance = pd.DataFrame({
    label: {name: float(starc_distance(inv_R, other, inv_T, P.gamma, kind, 2, 2).max()) for name, other in transforms.items()}
    for label, kind in INV_CANONS.items()
})
same_regret = float(normalized_regret(inv_R, transforms["all three"], inv_T, P.gamma)["regret"].abs().max())
print(f"largest regret between each reward and its transformed copy (all three at once): {same_regret:.2e}")
invariance.round(3)

# %%
removes = {c: [t for t in ("potential shaping", "positive scaling (x 7.3)", "S'-redistribution")
               if invariance.loc[t, c] < 1e-8] for c in invariance.columns}
display(Markdown("Removed exactly (largest distance below 1e-8): " + "; ".join(
    f"**{c}**: {', '.join(ts) if ts else 'none'}" for c, ts in removes.items())
    + f". The largest regret between a reward and its transformed copy is {same_regret:.1e}: none of the three "
    "transformations changes which policies are better."))

# %% [markdown]
# ## Criteria, registered before the experiment
# The claim of Fig. 1 in Pearson correlations between distance and regret, one value per seed (each seed a
# new set of MDPs, reward pairs and interpolations). A criterion *holds* when every seed is on the claimed
# side and the mean clears both its minimum effect and twice its standard error, and is *contradicted* when
# the same holds on the other side (the shared rule of `mlcompanion.verdict`).
# - headline `val22_beats_epic_dard`: the STARC metric on the paper's L2 / L2 choice beats both baselines,
#   r(VAL-2-2) − max(r(EPIC-2-2), r(DARD-2-2)) > 0;
# - headline `val_mean_beats_epic_mean`: the mean r over the normalised VAL variants exceeds the mean over the
#   normalised EPIC variants (the paper's strip plot, column against column);
# - secondary `none_lowest`: the raw-reward distances (None-0-2 and None-2-2) correlate worse than each of
#   EPIC-2-2, DARD-2-2 and VAL-2-2;
# - secondary `val_beats_epic_count`: VAL beats EPIC in at least as many of the 42 (norm, metric) combinations
#   as the authors' notebook counts (the count itself is in the table below).

# %%
PAPER = {
    "None-0-2": 0.304, "None-2-2": 0.618, "EPIC-2-2": 0.778, "DARD-2-2": 0.782, "MinimalPotential-2-2": 0.778,
    "VALPotential-2-2": 0.782, "VAL-2-2": 0.856, "VAL-1-1": 0.873,
}  # authors' src/visualize.ipynb (the data of Fig. 1), via ../shared/papers/starc.md
PAPER_MEANS = {"EPIC": 0.615, "VAL": 0.797}
PAPER_WINS = (40, 42)
criteria = register_criteria([
    Criterion("val22_beats_epic_dard", "STARC VAL-2-2 correlates with regret better than EPIC-2-2 and DARD-2-2 "
              "(r gap to the better of the two)", threshold=0.0, min_effect=0.01),
    Criterion("val_mean_beats_epic_mean", "mean r over normalised VAL variants above the mean over normalised "
              "EPIC variants", threshold=0.0, min_effect=0.01),
    Criterion("none_lowest", "raw-reward distances (None-0-2, None-2-2) below EPIC-2-2, DARD-2-2 and VAL-2-2 "
              "(r gap of the worst of those to the best raw one)", threshold=0.0, min_effect=0.01, role="secondary"),
    Criterion("val_beats_epic_count", f"VAL beats EPIC in at least {PAPER_WINS[0]} of {PAPER_WINS[1]} (norm, metric) "
              "combinations (the paper's count)", threshold=PAPER_WINS[0] - 0.5, role="secondary"),
])
criteria.registered_table()

# %% [markdown]
# ## The experiment
# For each seed: `n_envs` MDPs, `n_pairs` reward pairs per MDP, `interp_steps` interpolated rewards per
# pair; for each (R₁, Rᵢ) the exact normalised regret and every `{canon}-{norm}-{metric}` distance
# (6 canonicalisations, norms {0, 1, 2, ∞, w1, w2, w∞}, metrics {1, 2, ∞, w1, w2, w∞}; MinimalPotential
# with norm 2 only). Points are processed `chunk_envs` MDPs at a time.

# %%
def run_seed(seed_value, n_mc_envs=0):
    rng = np.random.default_rng(seed_value)
    T_all = random_mdps(P.n_envs, P.n_states, P.n_actions, rng)
    R1_all = random_rewards((P.n_envs, P.n_pairs), P.n_states, P.n_actions, P.gamma, rng)
    R2_all = random_rewards((P.n_envs, P.n_pairs), P.n_states, P.n_actions, P.gamma, rng)
    frac = torch.arange(1, P.interp_steps + 1, dtype=torch.float64) / P.interp_steps
    mc_gen = torch.Generator(device=P.device).manual_seed(seed_value)
    frames = []
    for start in range(0, P.n_envs, P.chunk_envs):
        sl = slice(start, min(start + P.chunk_envs, P.n_envs))
        T = T_all[sl, None, None].to(P.device)  # (E, 1, 1, S, A, S)
        R1 = R1_all[sl, :, None].to(P.device)  # (E, pairs, 1, S, A, S)
        Ri = R1 + (R2_all[sl, :, None].to(P.device) - R1) * frac.to(P.device)[:, None, None, None]
        regret = normalized_regret(R1, Ri, T, P.gamma)
        # how much of R1 survives VAL canonicalisation (near 0: R1 is almost equivalent to a constant)
        r1_ratio = reward_norm(canonicalize(R1, T, P.gamma, "val"), 2) / reward_norm(R1, 2)
        cols = {k: v.flatten().cpu().numpy() for k, v in starc_distance_grid(R1, Ri, T, P.gamma).items()}
        e_idx, p_idx, i_idx = np.meshgrid(np.arange(sl.start, sl.stop), np.arange(P.n_pairs),
                                          np.arange(1, P.interp_steps + 1), indexing="ij")
        frame = pd.DataFrame({"env": e_idx.ravel(), "pair": p_idx.ravel(), "step": i_idx.ravel(),
                              "regret": regret["regret"].flatten().cpu().numpy(),
                              "r1_val_ratio": r1_ratio.expand(regret["regret"].shape).flatten().cpu().numpy(), **cols})
        n_mc = max(0, min(n_mc_envs, sl.stop) - sl.start)
        if n_mc:
            mc = normalized_regret(R1[:n_mc], Ri[:n_mc], T[:n_mc], P.gamma, monte_carlo=True, generator=mc_gen)
            frame["regret_mc"] = np.nan
            frame.loc[: mc["regret"].numel() - 1, "regret_mc"] = mc["regret"].flatten().cpu().numpy()
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


seeds = [P.seed + k for k in range(P.n_seeds)]
data = {}
for s in tqdm(seeds, desc="seeds"):
    data[s] = run_seed(s, n_mc_envs=P.mc_envs if s == seeds[0] else 0)
DIST_COLS = [c for c in data[seeds[0]].columns if c.count("-") == 2]
print(f"{len(seeds)} seed(s) x {len(data[seeds[0]])} points, {len(DIST_COLS)} distances per point")

# %% [markdown]
# ## Results
# Pearson correlation between each distance and the regret, over all points of a seed (as
# `df.corr()['regret']` in the authors' `src/visualize.ipynb`), then mean ± std over seeds.

# %%
corr = pd.DataFrame({s: data[s][DIST_COLS].corrwith(data[s]["regret"]) for s in seeds})
corr_mean, corr_std = corr.mean(axis=1), corr.std(axis=1, ddof=1) if len(seeds) > 1 else corr.mean(axis=1) * 0
CANON_ORDER = ["None", "EPIC", "DARD", "MinimalPotential", "VALPotential", "VAL"]


def canon_of(col):
    return col.split("-")[0]


def is_normalised(col):
    return col.split("-")[1] != "0"


HEADLINE = ["None-0-2", "None-2-2", "EPIC-2-2", "DARD-2-2", "MinimalPotential-2-2", "VALPotential-2-2", "VAL-2-2", "VAL-1-1"]
headline = pd.DataFrame({"mean r": corr_mean[HEADLINE], "std over seeds": corr_std[HEADLINE]})
headline.index = [f"{c} (raw L2)" if c == "None-0-2" else f"{c} (STARC)" if c.startswith("VAL-") else c for c in HEADLINE]
per_canon = pd.DataFrame({
    "mean r, normalised (norm != 0)": {c: corr_mean[[k for k in DIST_COLS if canon_of(k) == c and is_normalised(k)]].mean() for c in CANON_ORDER},
    "best r": {c: corr_mean[[k for k in DIST_COLS if canon_of(k) == c]].max() for c in CANON_ORDER},
    "best combination": {c: corr_mean[[k for k in DIST_COLS if canon_of(k) == c]].idxmax() for c in CANON_ORDER},
})
display(headline.round(3))
per_canon.round(3)

# %% [markdown]
# ### Near-trivial rewards: where VAL's advantage comes from
# The transitions are sparse only in effect: an "impossible" next state has probability about e⁻²⁰ ≈ 2·10⁻⁹.
# A sparse reward keeps only its entries above 3 (about 5 of 4,096); when all of them fall on such
# transitions, the reward is, for every policy's return, a constant plus shaping plus a signal of order
# 10⁻⁸. VAL (which weights rewards by τ) sees almost nothing left; EPIC and DARD (which also use R on
# impossible transitions, the failure the paper's theory points at) see a large reward. We flag R₁ as
# near-trivial when ‖VAL(R₁)‖₂ < 10⁻⁶ ‖R₁‖₂ and recompute the correlations without those pairs.

# %%
trivial = {s: data[s]["r1_val_ratio"] < 1e-6 for s in seeds}
n_trivial_pairs = {s: int(trivial[s].sum()) // P.interp_steps for s in seeds}
corr_nontrivial = pd.DataFrame({s: data[s].loc[~trivial[s], DIST_COLS].corrwith(data[s].loc[~trivial[s], "regret"])
                                for s in seeds})
split = pd.DataFrame({"all points": corr_mean[HEADLINE[:-1]],
                      "without near-trivial R1": corr_nontrivial.mean(axis=1)[HEADLINE[:-1]]})
print("near-trivial R1 per seed (pairs): " + ", ".join(f"seed {s}: {n} of {P.n_envs * P.n_pairs}" for s, n in n_trivial_pairs.items()))
split.round(3)

# %%
fig, ax = plt.subplots(figsize=(8.6, 4.4))
jitter = np.random.default_rng(0)
for i, canon in enumerate(CANON_ORDER):
    cols = [k for k in DIST_COLS if canon_of(k) == canon]
    normed = [k for k in cols if is_normalised(k)]
    raw = [k for k in cols if not is_normalised(k)]
    ax.scatter(i + jitter.uniform(-0.12, 0.12, len(normed)), corr_mean[normed], s=16, color=PALETTE[i % len(PALETTE)],
               label=f"STARC ({canon})" if canon == "VAL" else canon)
    ax.scatter(i + jitter.uniform(-0.12, 0.12, len(raw)), corr_mean[raw], s=16, color="0.6")
    if f"{canon}-2-2" in corr_mean and canon in ("EPIC", "DARD", "VAL"):
        ax.scatter([i], [corr_mean[f"{canon}-2-2"]], s=70, facecolors="none", edgecolors="red", linewidths=1.5)
ax.scatter([], [], s=16, color="0.6", label="unnormalised (norm 0)")
ax.scatter([], [], s=70, facecolors="none", edgecolors="red", label="EPIC-2-2 / DARD-2-2 / VAL-2-2")
ax.set_xticks(range(len(CANON_ORDER)), [c.replace("Potential", "\nPotential") for c in CANON_ORDER])
ax.set_xlabel("canonicalisation (one dot per norm x metric)")
ax.set_ylabel("Pearson correlation with regret")
ax.set_title(f"Fig. 1 analogue ({P.profile}, {len(seeds)} seed(s), exact regret)")
ax.legend(bbox_to_anchor=(1.02, 1), loc="upper left")
fig.tight_layout()
savefig(fig, SLUG, "correlations_strip", caption=(
    f"Pearson correlation between each reward distance and the exact normalised regret, mean over {len(seeds)} "
    "seed(s), one dot per distance, grouped by canonicalisation (x axis; dots jittered sideways) and coloured by "
    "it when the distance normalises the rewards, grey when it does not (norm 0); the red rings mark the "
    "EPIC-2-2, DARD-2-2 and VAL-2-2 (STARC) distances."))
plt.show()

# %%
SCATTER = [("None-0-2", "none: raw L2 distance"), ("EPIC-2-2", "EPIC-2-2"), ("DARD-2-2", "DARD-2-2"), ("VAL-2-2", "STARC: VAL-2-2")]
d0 = data[seeds[0]]
fig, axes = plt.subplots(2, 2, figsize=(8.7, 7.6), sharey=True, layout="constrained")
for ax, (col, title) in zip(axes.flat, SCATTER):
    sc = ax.scatter(d0[col], d0["regret"], c=d0["step"], s=4, alpha=0.5, cmap="viridis")
    ax.set_title(f"{title}\nPearson r = {corr.loc[col, seeds[0]]:.3f}")
    ax.set_xlabel("distance d(R1, Ri) (unitless)" if col != "None-0-2" else "||R1 - Ri||_2 (reward units, log)")
    if col == "None-0-2":
        ax.set_xscale("log")
for ax in axes[:, 0]:
    ax.set_ylabel("normalised regret")
fig.colorbar(sc, ax=axes, label=f"interpolation step i (of {P.interp_steps})")
fig.suptitle(f"distance vs exact regret, seed {seeds[0]}, {len(d0)} points")
savefig(fig, SLUG, "distance_vs_regret", caption=(
    f"Exact normalised regret (y; a fraction of the return range) against the distance between R1 and each "
    f"interpolated reward Ri (x) for every point of seed {seeds[0]}, one panel per distance: raw L2 (top left, "
    "log x axis), EPIC-2-2, DARD-2-2 and STARC's VAL-2-2, each titled with its Pearson r. Colour is the "
    "interpolation step i."))
plt.show()

# %% [markdown]
# ### Exact versus Monte-Carlo regret
# The paper estimates every return by rollouts (4 × 32 episodes of 224 steps) and optimises by value
# iteration to 1e-5; we use exact returns. On the first `mc_envs` MDPs of the first seed we recompute the
# regret with the paper's estimator (same, exact, optimal policies) and correlate both with the distances.

# %%
mc_rows = d0.dropna(subset=["regret_mc"]) if "regret_mc" in d0 else d0.iloc[:0]
if len(mc_rows):
    mc_ok = mc_rows[mc_rows["r1_val_ratio"] >= 1e-6]
    mc_table = pd.DataFrame({
        "exact regret": mc_rows[HEADLINE].corrwith(mc_rows["regret"]),
        "Monte-Carlo regret": mc_rows[HEADLINE].corrwith(mc_rows["regret_mc"]),
        "exact, without near-trivial R1": mc_ok[HEADLINE].corrwith(mc_ok["regret"]),
        "Monte-Carlo, without near-trivial R1": mc_ok[HEADLINE].corrwith(mc_ok["regret_mc"]),
    })
    mc_agreement = float(np.corrcoef(mc_rows["regret"], mc_rows["regret_mc"])[0, 1])
    mc_agreement_ok = float(np.corrcoef(mc_ok["regret"], mc_ok["regret_mc"])[0, 1])
    print(f"{len(mc_rows)} points ({(len(mc_rows) - len(mc_ok)) // P.interp_steps} near-trivial R1 pairs): "
          f"corr(exact, Monte-Carlo regret) = {mc_agreement:.3f}, without near-trivial R1 {mc_agreement_ok:.3f}")
    display(mc_table.round(3))
    fig, ax = plt.subplots(figsize=(4.6, 4))
    flag = mc_rows["r1_val_ratio"] < 1e-6
    ax.scatter(mc_rows.loc[~flag, "regret"], mc_rows.loc[~flag, "regret_mc"], s=5, alpha=0.5, color=PALETTE[0], label="other pairs")
    ax.scatter(mc_rows.loc[flag, "regret"], mc_rows.loc[flag, "regret_mc"], s=5, alpha=0.7, color=PALETTE[1], label="near-trivial R1")
    ax.plot([0, 1], [0, 1], color="0.5", lw=1)
    ax.set_xlabel("exact normalised regret")
    ax.set_ylabel("Monte-Carlo normalised regret (paper's estimator)")
    ax.set_title("regret estimators, first seed")
    ax.legend()
    savefig(fig, SLUG, "exact_vs_monte_carlo_regret", caption=(
        f"Normalised regret of each point of the first {P.mc_envs} MDPs of the first seed: exact (x) against the "
        "paper's Monte-Carlo estimate (y); orange points are pairs with a near-trivial R1, blue the others, and "
        "the grey line is y = x."))
    plt.show()
else:
    mc_table, mc_agreement, mc_agreement_ok = None, float("nan"), float("nan")
    print("no Monte-Carlo regret in this run (mc_envs = 0)")

# %% [markdown]
# ### VAL against EPIC over all (norm, metric) choices
# For each seed: in how many of the 42 EPIC `(norm, metric)` combinations the VAL distance with the same choice
# correlates better, and the mean correlation over each canonicalisation's normalised variants.

# %%
def val_beats_epic(c):
    pairs = [(k, k.replace("EPIC-", "VAL-", 1)) for k in DIST_COLS if canon_of(k) == "EPIC"]
    return sum(c[v] > c[e] for e, v in pairs), len(pairs)


means_per_seed = {s: {c: corr.loc[[k for k in DIST_COLS if canon_of(k) == c and is_normalised(k)], s].mean()
                      for c in CANON_ORDER} for s in seeds}
pd.DataFrame({s: {"VAL > EPIC (combinations)": f"{val_beats_epic(corr[s])[0]} of {val_beats_epic(corr[s])[1]}",
                  **{f"mean r, normalised {c}": round(float(means_per_seed[s][c]), 3) for c in CANON_ORDER}}
              for s in seeds})

# %% [markdown]
# Two differences from the paper's protocol are measured here rather than guessed: the near-trivial sparse
# rewards (correlations with and without them, above) and the regret estimator (exact against the paper's
# Monte-Carlo estimate on the same points, above). The sentence under the paper-vs-ours table gives both
# numbers; what remains (generator seed and RNG, fewer points) cannot be separated at this scale.

# %% [markdown]
# ## Claim check

# %%
# What must hold for this notebook to be correct (not the paper's claim):
assert invariance.loc["potential shaping", ["EPIC", "DARD", "MinimalPotential", "VALPotential", "VAL"]].max() < 1e-8
assert invariance.loc["positive scaling (x 7.3)", ["None", "EPIC", "DARD", "MinimalPotential", "VALPotential", "VAL"]].max() < 1e-8
assert invariance.loc["all three", "VAL"] < 1e-8 and invariance.loc["S'-redistribution", "VAL"] < 1e-8
assert min(invariance.loc["S'-redistribution", c] for c in ("EPIC", "DARD", "VALPotential")) > 1e-3
assert invariance.loc["potential shaping", "None"] > 1e-3 and same_regret < 1e-10
for s in seeds:
    d = data[s]
    assert np.isfinite(d[DIST_COLS + ["regret"]].to_numpy()).all()
    assert d["regret"].between(-1e-9, 1 + 1e-9).all(), "exact normalised regret must lie in [0, 1]"
    assert (d[[k for k in DIST_COLS if k.endswith("-2-2")]] <= 2 + 1e-9).all().all()

# The factor-2 relation on real data: EPIC-2-2 of the first pair = 2 x Gleave's EPIC (Pearson distance).
first_rng = np.random.default_rng(seeds[0])
_ = random_mdps(P.n_envs, P.n_states, P.n_actions, first_rng)
first_R1 = random_rewards((P.n_envs, P.n_pairs), P.n_states, P.n_actions, P.gamma, first_rng)[0, 0]
first_R2 = random_rewards((P.n_envs, P.n_pairs), P.n_states, P.n_actions, P.gamma, first_rng)[0, 0]
first_Ri = first_R1 + (first_R2 - first_R1) * (torch.arange(1, P.interp_steps + 1, dtype=torch.float64) / P.interp_steps)[:, None, None, None]
gleave = epic_distance(first_R1, first_Ri, P.gamma).numpy()
np.testing.assert_allclose(data[seeds[0]]["EPIC-2-2"].to_numpy()[: P.interp_steps], 2 * gleave, atol=1e-10)

# The registered criteria, one value per seed.
wins_per_seed = {s: val_beats_epic(corr[s]) for s in seeds}
criteria.record("val22_beats_epic_dard", [float(corr.loc["VAL-2-2", s] - max(corr.loc["EPIC-2-2", s], corr.loc["DARD-2-2", s]))
                                          for s in seeds])
criteria.record("val_mean_beats_epic_mean", [float(means_per_seed[s]["VAL"] - means_per_seed[s]["EPIC"]) for s in seeds])
criteria.record("none_lowest", [float(min(corr.loc[k, s] for k in ("EPIC-2-2", "DARD-2-2", "VAL-2-2"))
                                      - max(corr.loc["None-0-2", s], corr.loc["None-2-2", s])) for s in seeds])
criteria.record("val_beats_epic_count", [float(w) for w, _ in wins_per_seed.values()])
# Added after seeing the results (shown, never counted): the VAL-EPIC gap without near-trivial R1, and with
# the paper's Monte-Carlo regret (first seed only: one value, direction only).
criteria.add_exploratory(Criterion("val22_beats_epic22_nontrivial", "VAL-2-2 above EPIC-2-2 without near-trivial R1",
                                   threshold=0.0, min_effect=0.01))
criteria.record("val22_beats_epic22_nontrivial", [float(corr_nontrivial.loc["VAL-2-2", s] - corr_nontrivial.loc["EPIC-2-2", s])
                                                  for s in seeds])
if mc_table is not None:
    criteria.add_exploratory(Criterion("val22_beats_epic22_monte_carlo", "VAL-2-2 above EPIC-2-2 with Monte-Carlo regret "
                                       "(first seed, first mc_envs MDPs)", threshold=0.0, min_effect=0.01))
    criteria.record("val22_beats_epic22_monte_carlo",
                    [float(mc_table.loc["VAL-2-2", "Monte-Carlo regret"] - mc_table.loc["EPIC-2-2", "Monte-Carlo regret"])])
verdict = criteria.verdict()
display(criteria.table(digits=3))
SENTENCE_UNITS = {"val_beats_epic_count": (1.0, " of 42 combinations", 1)}
sentences = [criteria.sentence(c.name, *SENTENCE_UNITS.get(c.name, (1.0, " in r", 3))) for c in criteria]
display(Markdown("\n".join(f"- {x}" for x in sentences) + f"\n\n**Verdict: {verdict}.**"))

# %% [markdown]
# ## Paper vs ours
# One row per quantity. The paper's values are the correlations printed by the authors' final notebook
# `src/visualize.ipynb` (one generator seed, Monte-Carlo regret, the data behind **Fig. 1**,
# `results/final/correlations.pdf`; quoted in `../shared/papers/starc.md`); the means are over the 36 normalised
# (norm, metric) combinations, the count over all 42. The paper's MinimalPotential is the Adam-optimised
# potential for each norm; ours is the exact L2 minimiser, paired with norm 2 only. Our regret is exact, the
# paper's a Monte-Carlo estimate, so single correlations compare as an ordering; the count compares as a value.

# %%
PAPER_SOURCE = "official repo, authors' notebook src/visualize.ipynb (data of Fig. 1)"
PAPER_SETTING = "32 states, 4 actions, 49,152 points, 1 seed, Monte-Carlo regret"
OURS_SETTING = f"{P.profile}: {len(data[seeds[0]])} points x {len(seeds)} seeds, exact regret, mean over seeds"
rows = [paper_row(f"r({k}) with regret", paper=v, paper_setting=PAPER_SETTING, source=PAPER_SOURCE,
                  ours=round(float(corr_mean[k]), 3), ours_setting=OURS_SETTING, comparable_as="ordering")
        for k, v in PAPER.items()]
rows += [paper_row(f"mean r over normalised {c} variants", paper=PAPER_MEANS[c], paper_setting=PAPER_SETTING,
                   source=PAPER_SOURCE, ours=round(float(np.mean([means_per_seed[s][c] for s in seeds])), 3),
                   ours_setting=OURS_SETTING, comparable_as="ordering") for c in ("EPIC", "VAL")]
rows.append(paper_row(f"(norm, metric) combinations where VAL beats EPIC (of {PAPER_WINS[1]})", paper=PAPER_WINS[0],
                      paper_setting=PAPER_SETTING, source=PAPER_SOURCE,
                      ours=round(float(np.mean([w for w, _ in wins_per_seed.values()])), 1),
                      ours_setting=f"{P.profile}: per seed " + ", ".join(str(w) for w, _ in wins_per_seed.values())
                      + " (mean shown)", comparable_as="value"))
display(pd.DataFrame(rows))
gap_epic = float(corr_mean["VAL-2-2"] - corr_mean["EPIC-2-2"])
display(Markdown(
    f"Ours against the paper: r(VAL-2-2) {corr_mean['VAL-2-2']:.3f} vs {PAPER['VAL-2-2']}, r(EPIC-2-2) "
    f"{corr_mean['EPIC-2-2']:.3f} vs {PAPER['EPIC-2-2']}, r(DARD-2-2) {corr_mean['DARD-2-2']:.3f} vs {PAPER['DARD-2-2']}, "
    f"raw L2 (None-0-2) {corr_mean['None-0-2']:.3f} vs {PAPER['None-0-2']}; VAL beats EPIC in "
    + ", ".join(f"{w}" for w, _ in wins_per_seed.values()) + f" of {PAPER_WINS[1]} combinations per seed against the "
    f"paper's {PAPER_WINS[0]}. Without near-trivial R₁ the VAL-2-2 − EPIC-2-2 gap is "
    f"{float(corr_nontrivial.loc['VAL-2-2'].mean() - corr_nontrivial.loc['EPIC-2-2'].mean()):+.3f} (all points "
    f"{gap_epic:+.3f})"
    + (f"; with the paper's Monte-Carlo regret (first seed, {len(mc_rows)} points) it is "
       f"{float(mc_table.loc['VAL-2-2', 'Monte-Carlo regret'] - mc_table.loc['EPIC-2-2', 'Monte-Carlo regret']):+.3f} "
       f"against {float(mc_table.loc['VAL-2-2', 'exact regret'] - mc_table.loc['EPIC-2-2', 'exact regret']):+.3f} "
       "with exact regret on the same points" if mc_table is not None else "") + "."))

# %%
ours_numbers = {f"r({k})": float(corr_mean[k]) for k in PAPER}
ours_numbers["mean r, normalised EPIC"] = float(np.mean([means_per_seed[s]["EPIC"] for s in seeds]))
ours_numbers["mean r, normalised VAL"] = float(np.mean([means_per_seed[s]["VAL"] for s in seeds]))
ours_numbers["VAL > EPIC combinations (mean of seeds)"] = float(np.mean([w for w, _ in wins_per_seed.values()]))
ours_numbers["r(VAL-2-2) without near-trivial R1"] = float(split.loc["VAL-2-2", "without near-trivial R1"])
ours_numbers["r(EPIC-2-2) without near-trivial R1"] = float(split.loc["EPIC-2-2", "without near-trivial R1"])
if len(mc_rows):
    ours_numbers["r(VAL-2-2) with Monte-Carlo regret"] = float(mc_table.loc["VAL-2-2", "Monte-Carlo regret"])
    ours_numbers["r(EPIC-2-2) with Monte-Carlo regret"] = float(mc_table.loc["EPIC-2-2", "Monte-Carlo regret"])
budget = {"seeds": len(seeds), "MDPs per seed": P.n_envs, "reward pairs per MDP": P.n_pairs,
          "interpolation steps": P.interp_steps, "points per seed": len(data[seeds[0]]),
          "distances per point": len(DIST_COLS), "Monte-Carlo MDPs (first seed)": P.mc_envs,
          "trained to convergence": "nothing is trained (exact policy iteration)"}
explanation = " ".join(criteria.sentence(c.name, *SENTENCE_UNITS.get(c.name, (1.0, " in r", 3)))
                       for c in criteria if c.role != "exploratory")
result_file = write_result(
    SLUG,
    title="STARC: A General Framework For Quantifying Differences Between Reward Functions (ICLR 2024)",
    claim="The STARC distance with the VAL canonicalisation correlates with the regret of optimising the wrong "
          "reward better than EPIC, DARD and unnormalised distances (Fig. 1, random MDPs).",
    verdict=verdict,
    explanation=explanation,
    ours=ours_numbers,
    paper={**{f"r({k})": v for k, v in PAPER.items()}, "mean r, normalised EPIC": PAPER_MEANS["EPIC"],
           "mean r, normalised VAL": PAPER_MEANS["VAL"], "VAL > EPIC combinations": PAPER_WINS[0]},
    profile=P.profile,
    criteria=criteria,
    convergence={},
    budget=budget,
    rows=rows,
)

# %%
# NBVAL_CHECK_OUTPUT
print("toy MDP: V(uniform) =", np.round(toy_V.numpy(), 3).tolist(), " V* =", np.round(toy_V_star.numpy(), 3).tolist())
print("invariance (max X-2-2 distance): " + "; ".join(
    f"{t}: " + ", ".join(f"{c} {invariance.loc[t, c]:.3f}" for c in ("EPIC", "DARD", "VAL")) for t in invariance.index))
for k in HEADLINE:
    print(f"r({k:20s}) = {corr_mean[k]:.3f} ± {corr_std[k]:.3f}   per seed " + ", ".join(f"{corr.loc[k, s]:.3f}" for s in seeds))
print("without near-trivial R1: " + ", ".join(f"{k} {split.loc[k, 'without near-trivial R1']:.3f}" for k in ("EPIC-2-2", "DARD-2-2", "VAL-2-2")))
if mc_table is not None:
    print("with Monte-Carlo regret (first seed): " + ", ".join(f"{k} {mc_table.loc[k, 'Monte-Carlo regret']:.3f}" for k in ("EPIC-2-2", "DARD-2-2", "VAL-2-2")))
print("mean r over normalised variants: " + ", ".join(
    f"{c} {np.mean([means_per_seed[s][c] for s in seeds]):.3f}" for c in CANON_ORDER))
print(f"verdict: {verdict}")
