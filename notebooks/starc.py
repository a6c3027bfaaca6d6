# %% [markdown]
# # STARC: A General Framework For Quantifying Differences Between Reward Functions
#
# Skalse, Farnik, Motwani, Jenner, Gleave & Abate, **ICLR 2024**, [arXiv:2309.15257](https://arxiv.org/abs/2309.15257).
# Official experiment code: `lucyfarnik/starc` (read at commit e13f8fa; nothing copied).
#
# **Claim reproduced here.** A STARC pseudometric (canonicalise away potential shaping *and*
# S′-redistribution, normalise, then measure) bounds worst-case regret from above and below; empirically,
# STARC with the value-adjusted canonicalisation **VAL** correlates with the normalised regret of
# optimising the wrong reward better than **EPIC**, **DARD** and unnormalised distances (Fig. 1: one
# dot per (norm, metric) choice and canonicalisation; the authors' notebook gives 0.856 for `VAL-2-2`
# against 0.778 for `EPIC-2-2` and 0.782 for `DARD-2-2`).
#
# This notebook
# 1. checks the invariances **exactly** (shaping, positive scaling, S′-redistribution);
# 2. reruns the paper's random-MDP experiment (32 states, 4 actions, γ = 0.95, the official reward
#    generator, rewards interpolated from R₁ to R₂ in 16 steps) with **exact** regret (policy iteration and
#    linear solves instead of value iteration and Monte-Carlo rollouts), over the paper's full grid of
#    canonicalisations × norms × metrics, for 3 generator seeds;
# 3. shows the Fig. 1 analogue, scatter plots of distance against regret, our correlations beside the
#    paper's, and what Monte-Carlo returns (the paper's estimator) do to them; then a plain verdict.
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

from mlcompanion.gallery import write_result
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
# τ(·|s, a) = softmax over s′ of (z if z > 1 else −20), z ~ N(0, 1) iid, so each (s, a) reaches about
# 16 % of the states. A reward is iid N(0, 1) over (s, a, s′); with probability 0.2 it is made sparse
# (only entries > 3 kept), with probability 0.7 scaled by 10·U(0, 1), with probability 0.3 shifted by
# 10·U(0, 1), and with probability 0.5 potential-shaped with Φ = N(0, 1)·10U + U. Each pair (R₁, R₂) is
# interpolated, $R_i = R_1 + (R_2 - R_1)\, i/16$, i = 1…16, and every $R_i$ is compared with $R_1$.
# This scaffolding is short and only this experiment needs it, so it lives here, not in `lib`.

# %%
def random_mdps(n_envs, n_s, n_a, rng):
    """Transition tensors (n_envs, S, A, S) of the official RandomEnv (threshold 1 for n_s < 50)."""
    thresh = 1.0 if n_s < 50 else (1.5 if n_s < 100 else 1.8)
    z = rng.standard_normal((n_envs, n_s, n_a, n_s))
    z = np.where(z > thresh, z, -20.0)
    e = np.exp(z - z.max(-1, keepdims=True))
    return torch.tensor(e / e.sum(-1, keepdims=True))


def random_rewards(batch, n_s, n_a, gamma, rng, sparse=None):
    """Rewards (*batch, S, A, S) of the official random_reward (each draw decided per reward;
    ``sparse=None`` makes 20 % of them sparse, as the official default, ``False`` none)."""
    n = int(np.prod(batch))
    r = rng.standard_normal((n, n_s, n_a, n_s))
    sparse = (rng.random(n) > 0.8) & (sparse is None)
    thresh = 3.0 if n_s < 50 else (3.5 if n_s < 100 else 3.8)
    r = np.where(sparse[:, None, None, None] & (r <= thresh), 0.0, r)
    scale = np.where(rng.random(n) > 0.3, 10 * rng.random(n), 1.0)
    shift = np.where(rng.random(n) > 0.7, 10 * rng.random(n), 0.0)
    r = r * scale[:, None, None, None] + shift[:, None, None, None]
    shaped = rng.random(n) > 0.5
    phi = (rng.standard_normal((n, n_s)) * (10 * rng.random(n))[:, None] + rng.random(n)[:, None]) * shaped[:, None]
    r = r + gamma * phi[:, None, None, :] - phi[:, :, None, None]
    return torch.tensor(r.reshape(*batch, n_s, n_a, n_s))


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

# %% [markdown]
# VAL is the only canonicalisation that removes all three transformations (a STARC canonicalisation);
# EPIC, DARD, MinimalPotential and VALPotential remove shaping and scale but not S′-redistribution,
# although it changes no policy's return (regret 0 above).

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
fig, ax = plt.subplots(figsize=(8, 4.2))
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
ax.set_title(f"Fig. 1 analogue: {P.profile} profile, mean over {len(seeds)} seed(s), exact regret")
ax.legend(bbox_to_anchor=(1.02, 1), loc="upper left", fontsize=8)
fig.tight_layout()
savefig(fig, SLUG, "correlations_strip")
plt.show()

# %%
SCATTER = [("None-0-2", "none: raw L2 distance"), ("EPIC-2-2", "EPIC-2-2"), ("DARD-2-2", "DARD-2-2"), ("VAL-2-2", "STARC: VAL-2-2")]
d0 = data[seeds[0]]
fig, axes = plt.subplots(1, 4, figsize=(15, 3.8), sharey=True)
for ax, (col, title) in zip(axes, SCATTER):
    sc = ax.scatter(d0[col], d0["regret"], c=d0["step"], s=4, alpha=0.5, cmap="viridis")
    ax.set_title(f"{title}\nPearson r = {corr.loc[col, seeds[0]]:.3f}")
    ax.set_xlabel("distance d(R1, Ri) (unitless)" if col != "None-0-2" else "||R1 - Ri||_2 (reward units)")
    if col == "None-0-2":
        ax.set_xscale("log")
axes[0].set_ylabel("normalised regret (fraction of the return range)")
fig.colorbar(sc, ax=axes, label="interpolation step i (of 16)")
fig.suptitle(f"distance vs exact regret, seed {seeds[0]}, {len(d0)} points", y=1.04)
savefig(fig, SLUG, "distance_vs_regret")
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
    ax.legend(fontsize=8)
    savefig(fig, SLUG, "exact_vs_monte_carlo_regret")
    plt.show()
else:
    mc_table, mc_agreement, mc_agreement_ok = None, float("nan"), float("nan")
    print("no Monte-Carlo regret in this run (mc_envs = 0)")

# %% [markdown]
# ## Paper vs ours
# The paper's numbers are the correlations printed by the authors' final notebook `src/visualize.ipynb`
# (49,152 points, one generator seed, Monte-Carlo regret), the data behind **Fig. 1**
# (`results/final/correlations.pdf`); the means are over the 36 normalised (norm, metric) combinations, the count
# over all 42. The paper's MinimalPotential is the Adam-optimised potential for each norm; ours is the
# exact L2 minimiser, paired with norm 2 only.

# %%
PAPER = {
    "None-0-2": 0.304, "None-2-2": 0.618, "EPIC-2-2": 0.778, "DARD-2-2": 0.782, "MinimalPotential-2-2": 0.778,
    "VALPotential-2-2": 0.782, "VAL-2-2": 0.856, "VAL-1-1": 0.873,
}
PAPER_MEANS = {"EPIC": 0.615, "VAL": 0.797}
PAPER_WINS = (40, 42)


def val_beats_epic(c):
    pairs = [(k, k.replace("EPIC-", "VAL-", 1)) for k in DIST_COLS if canon_of(k) == "EPIC"]
    return sum(c[v] > c[e] for e, v in pairs), len(pairs)


wins_per_seed = {s: val_beats_epic(corr[s]) for s in seeds}
means_per_seed = {s: {c: corr.loc[[k for k in DIST_COLS if canon_of(k) == c and is_normalised(k)], s].mean()
                      for c in CANON_ORDER} for s in seeds}
comparison = pd.DataFrame({
    "paper (visualize.ipynb / Fig. 1)": {**{f"r({k})": v for k, v in PAPER.items()},
                                         "mean r, normalised EPIC": PAPER_MEANS["EPIC"],
                                         "mean r, normalised VAL": PAPER_MEANS["VAL"],
                                         "VAL > EPIC in (norm, metric) combinations": f"{PAPER_WINS[0]} of {PAPER_WINS[1]}"},
    f"ours ({P.profile}, mean over {len(seeds)} seeds)": {
        **{f"r({k})": round(float(corr_mean[k]), 3) for k in PAPER},
        "mean r, normalised EPIC": round(float(np.mean([means_per_seed[s]["EPIC"] for s in seeds])), 3),
        "mean r, normalised VAL": round(float(np.mean([means_per_seed[s]["VAL"] for s in seeds])), 3),
        "VAL > EPIC in (norm, metric) combinations": " / ".join(f"{w} of {n}" for w, n in wins_per_seed.values()) + " (per seed)",
    },
})
comparison

# %% [markdown]
# **Reading.** The ordering of Fig. 1 carries over: VAL (STARC) above DARD ≈ EPIC, which sit well above the
# raw-reward distances; VALPotential and MinimalPotential, which remove shaping but not S′-redistribution,
# behave like EPIC and DARD, as the paper's theory predicts. Our absolute correlations are higher than the
# paper's and the VAL-over-EPIC count over the 42 (norm, metric) choices is lower. Two differences are
# measured above, not guessed: (1) with exact returns the near-trivial pairs carry a well-defined regret
# that VAL predicts and EPIC does not, which is where most of the VAL-EPIC gap comes from; (2) with the
# paper's Monte-Carlo estimator those pairs get a regret made of noise (their return differences are about
# 10⁻⁸, far below the rollout noise), which lowers VAL's correlation towards the paper's value and narrows
# the gap. The rest (generator seed and RNG, 16× fewer points) we cannot separate at this scale.

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

# The claim, per seed: (a) STARC VAL-2-2 correlates better than EPIC-2-2 and DARD-2-2; (b) the mean over
# normalised VAL variants beats the mean over normalised EPIC variants; (c) the unnormalised raw-reward
# distance (None-0-2) and the normalised raw one (None-2-2) are below EPIC, DARD and VAL (X-2-2).
checks = {}
for s in seeds:
    c = corr[s]
    checks[s] = {
        "a: VAL-2-2 > max(EPIC-2-2, DARD-2-2)": bool(c["VAL-2-2"] > max(c["EPIC-2-2"], c["DARD-2-2"])),
        "b: mean normalised VAL > EPIC": bool(means_per_seed[s]["VAL"] > means_per_seed[s]["EPIC"]),
        "c: None lowest": bool(max(c["None-0-2"], c["None-2-2"]) < min(c["EPIC-2-2"], c["DARD-2-2"], c["VAL-2-2"])),
    }
check_table = pd.DataFrame(checks)
print(check_table.to_string())
n_all = sum(all(v.values()) for v in checks.values())
n_a = sum(v["a: VAL-2-2 > max(EPIC-2-2, DARD-2-2)"] for v in checks.values())
need = (2 * len(seeds) + 2) // 3  # 2 of 3 seeds
if n_all >= need:
    verdict = "reproduced"
elif n_a >= need:
    verdict = "partly reproduced"
else:
    verdict = "not reproduced at this scale"
gap_epic = float(corr_mean["VAL-2-2"] - corr_mean["EPIC-2-2"])
gap_dard = float(corr_mean["VAL-2-2"] - corr_mean["DARD-2-2"])
explanation = (
    f"With exact regret on {len(data[seeds[0]])} points per seed, STARC VAL-2-2 correlates with regret at "
    f"r = {corr_mean['VAL-2-2']:.3f} vs EPIC-2-2 {corr_mean['EPIC-2-2']:.3f} and DARD-2-2 {corr_mean['DARD-2-2']:.3f} "
    f"(gaps {gap_epic:+.3f} / {gap_dard:+.3f}; paper 0.856 vs 0.778 / 0.782), raw L2 {corr_mean['None-0-2']:.3f}; "
    f"all three parts hold in {n_all} of {len(seeds)} seeds. Much of VAL's lead comes from sparse rewards whose "
    f"non-zero entries all sit on near-impossible transitions (EPIC/DARD count them, VAL does not): without them "
    f"VAL-2-2 {split.loc['VAL-2-2', 'without near-trivial R1']:.3f} vs EPIC-2-2 "
    f"{split.loc['EPIC-2-2', 'without near-trivial R1']:.3f}."
)
print(f"verdict: {verdict}. {explanation}")

# %%
ours_numbers = {f"r({k})": float(corr_mean[k]) for k in PAPER}
ours_numbers["mean r, normalised EPIC"] = float(np.mean([means_per_seed[s]["EPIC"] for s in seeds]))
ours_numbers["mean r, normalised VAL"] = float(np.mean([means_per_seed[s]["VAL"] for s in seeds]))
ours_numbers["r(VAL-2-2) without near-trivial R1"] = float(split.loc["VAL-2-2", "without near-trivial R1"])
ours_numbers["r(EPIC-2-2) without near-trivial R1"] = float(split.loc["EPIC-2-2", "without near-trivial R1"])
if len(mc_rows):
    ours_numbers["r(VAL-2-2) with Monte-Carlo regret"] = float(mc_table.loc["VAL-2-2", "Monte-Carlo regret"])
    ours_numbers["r(EPIC-2-2) with Monte-Carlo regret"] = float(mc_table.loc["EPIC-2-2", "Monte-Carlo regret"])
result_file = write_result(
    SLUG,
    title="STARC: A General Framework For Quantifying Differences Between Reward Functions (ICLR 2024)",
    claim="The STARC distance with the VAL canonicalisation correlates with the regret of optimising the wrong "
          "reward better than EPIC, DARD and unnormalised distances (Fig. 1, random MDPs).",
    verdict=verdict,
    explanation=explanation,
    ours=ours_numbers,
    paper={**{f"r({k})": v for k, v in PAPER.items()}, "mean r, normalised EPIC": PAPER_MEANS["EPIC"],
           "mean r, normalised VAL": PAPER_MEANS["VAL"]},
    profile=P.profile,
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
