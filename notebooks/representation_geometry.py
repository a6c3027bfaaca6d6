# %% [markdown]
# # Tracing the Representation Geometry of Language Models from Pretraining to Post-training
#
# Li, Agrawal, Ghosh, Teru, Santoro, Lajoie & Richards, **NeurIPS 2025**,
# [arXiv:2509.23024](https://arxiv.org/abs/2509.23024).
# Official code: `melodylizx/Tracing-the-representation-geometry-of-language-models` (`utils/powerlaw.py`,
# `rankme_alpha_scripts/`).
#
# **Claim tested.** While the pretraining loss falls, the spectrum of the last-layer, last-token
# representations moves *non-monotonically* through three phases (paper **Fig. 2**, OLMo-2 7B and
# Pythia 1B-12B): a **warmup** phase (RankMe collapses, α-ReQ jumps; it coincides with the
# learning-rate ramp), an **entropy-seeking** phase (RankMe expands 2-3×, α falls) and a
# **compression-seeking** phase (RankMe falls again, α rises). The paper's mechanism (§3.3, App. B):
# cross-entropy under skewed token frequencies with a bottleneck d ≪ |V|, shown on a toy model with
# negative controls (uniform frequencies, d ≈ |V|).
#
# This notebook
# 1. registers its criteria (from the brief) before anything is trained;
# 2. checks the two measures on Gaussian data with a planted spectrum λ_i ∝ i^-α (RankMe in this paper's
#    covariance convention and Garrido et al.'s singular-value convention; α-ReQ over ranks 12-100);
# 3. trains the **toy cross-entropy model** of App. B (free per-example embeddings, d = 2, |V| = 6,
#    skewed class counts) beside its two **negative controls**, uniform counts and d = |V|;
# 4. trains a **tiny language model** on the English help text that ships with Python, from two
#    initialisations (GPT-style N(0, 0.02²), as Pythia/OLMo, and PyTorch's default), 3 seeds each, and
#    reads RankMe and α-ReQ of its last hidden layer at log-spaced checkpoints beside the validation loss;
# 5. decides the verdict from the registered criteria by the shared rule, and puts the paper beside ours.
#
# | profile | data | hardware | time |
# |---|---|---|---|
# | `ci` (default) | `pydoc_data.topics` (Python's own help text), V = 2,000 words; toy model | 1 CPU thread | about 3 CPU minutes |
# | `paper` | the same, trained longer, plus local Pythia-160m/410m/1b checkpoints (13 revisions each) and FineWeb sample-10BT text from `data_root` | 1 GPU (Pythia forwards) + 1 CPU thread | tiny LM about 10 CPU minutes (estimate); Pythia about 1 h for 3 sizes × 13 revisions (estimate, unmeasured) |

# %% tags=["parameters"]
profile = "ci"
device = "cpu"
data_root = None
seed = 0
# Knobs: None means "the profile's value" (see PROFILES below).
n_seeds = None
lm_steps = None
lm_warmup = None
lm_lr = None
lm_min_lr_ratio = None
lm_batch_size = None
vocab_size = None
lm_context = None
lm_embed_dim = None
lm_hidden_dim = None
lm_init_std = None
n_probe = None
n_val = None
n_checkpoints = None
lm_alpha_ranks = None
val_tol = None
turn_tol = None
toy_counts = None
toy_dim = None
toy_steps = None
toy_lr = None
toy_init_std = None
toy_seeds = None
toy_tol = None
models = None
checkpoint_steps = None
n_sequences = None
min_tokens = None
max_length = None
batch_size = None

# %% [markdown]
# ## Profiles
# **Tiny LM** (both profiles): a 4-gram MLP LM with a 32-d tanh last hidden layer and V = 2,000 (the
# brief's design), Adam with a linear warmup then cosine decay to `lm_min_lr_ratio` of the peak rate
# (Pythia decays to 10 %), batch 256, `lm_steps` steps, two initialisations × `n_seeds` seeds.
# `ci` trains as long as the 3-minute budget allows; `paper` trains longer (`-p lm_steps N` sets it in
# any profile) to look for the turn of RankMe. **Toy model** (both): the brief's App.-B setting,
# full-batch gradient descent, lr 0.1, init N(0, 1e-4), 20,000 steps, `toy_seeds` seeds per arm.
# **Pythia** (`paper` only): the paper's protocol (Table 3; Sec. 2): for each local checkpoint, 15,000
# FineWeb sequences of ≥ 32 tokens (max length 512, right padding, batch 16), fp16 forward, last-layer
# hidden state at the last non-pad token, float64 PCA with ≤ 2,048 components, ε = 1e-7, α over ranks
# 12-100 (the official Pythia scripts use WikiText, min length 10, max length 128; we follow Table 3).
# It needs `torch` + `transformers` and a GPU; 7B models are out of the profile's hour, so it stops at 1B.

# %%
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path.cwd().parent))  # the repository root, when run from notebooks/

from mlcompanion.profiles import resolve_profile
from mlcompanion.data.text import PYTHIA_STEPS

SKEWED = [20, 5, 2, 1, 1, 1]  # the brief's App.-B class counts
PROFILES = {
    "ci": dict(n_seeds=3, lm_steps=5000, lm_warmup=300, lm_lr=3e-3, lm_min_lr_ratio=0.1, lm_batch_size=256,
               vocab_size=2000, lm_context=4, lm_embed_dim=32, lm_hidden_dim=32, lm_init_std=0.02, n_probe=1024,
               n_val=4096, n_checkpoints=30, lm_alpha_ranks=[2, 16], val_tol=0.01, turn_tol=0.05,
               toy_counts=SKEWED, toy_dim=2, toy_steps=20000, toy_lr=0.1, toy_init_std=0.01, toy_seeds=5,
               toy_tol=0.02, models=[], checkpoint_steps=[], n_sequences=0, min_tokens=0, max_length=0, batch_size=0),
    "paper": dict(n_seeds=3, lm_steps=20000, lm_warmup=300, lm_lr=3e-3, lm_min_lr_ratio=0.1, lm_batch_size=256,
                  vocab_size=2000, lm_context=4, lm_embed_dim=32, lm_hidden_dim=32, lm_init_std=0.02, n_probe=1024,
                  n_val=8192, n_checkpoints=40, lm_alpha_ranks=[2, 16], val_tol=0.01, turn_tol=0.05,
                  toy_counts=SKEWED, toy_dim=2, toy_steps=20000, toy_lr=0.1, toy_init_std=0.01, toy_seeds=5,
                  toy_tol=0.02, models=["pythia-160m", "pythia-410m", "pythia-1b"],
                  checkpoint_steps=list(PYTHIA_STEPS), n_sequences=15000, min_tokens=32, max_length=512, batch_size=16),
}
# One run's wall time per profile as the profile table states it (upper end, hours) and its GPUs:
# `python -m mlcompanion.pipeline sweep` sets each job's time limit from it.
COSTS = {"ci": {"hours": 0.05, "gpus": 0}, "paper": {"hours": 1.2, "gpus": 1}}
P = resolve_profile(
    PROFILES, profile, device=device, data_root=data_root, seed=seed, namespace=globals(),
    n_seeds=n_seeds, lm_steps=lm_steps, lm_warmup=lm_warmup, lm_lr=lm_lr, lm_min_lr_ratio=lm_min_lr_ratio,
    lm_batch_size=lm_batch_size, vocab_size=vocab_size, lm_context=lm_context, lm_embed_dim=lm_embed_dim,
    lm_hidden_dim=lm_hidden_dim, lm_init_std=lm_init_std, n_probe=n_probe, n_val=n_val, n_checkpoints=n_checkpoints,
    lm_alpha_ranks=lm_alpha_ranks, val_tol=val_tol, turn_tol=turn_tol, toy_counts=toy_counts, toy_dim=toy_dim,
    toy_steps=toy_steps, toy_lr=toy_lr, toy_init_std=toy_init_std, toy_seeds=toy_seeds, toy_tol=toy_tol,
    models=models, checkpoint_steps=checkpoint_steps, n_sequences=n_sequences, min_tokens=min_tokens,
    max_length=max_length, batch_size=batch_size,
)
if len(P.lm_alpha_ranks) != 2 or not 1 <= P.lm_alpha_ranks[0] < P.lm_alpha_ranks[1] <= min(P.lm_hidden_dim, P.n_probe):
    raise ValueError(f"lm_alpha_ranks must be [first, last] with 1 <= first < last <= hidden dim "
                     f"({P.lm_hidden_dim}), got {P.lm_alpha_ranks}")
if P.lm_steps < 2 * P.lm_warmup:
    raise ValueError(f"lm_steps ({P.lm_steps}) must be at least twice lm_warmup ({P.lm_warmup}): the warmup window is read")
if P.toy_dim >= len(P.toy_counts):
    raise ValueError(f"toy_dim ({P.toy_dim}) must be below the number of classes ({len(P.toy_counts)}): "
                     "the d >= |V| control is built from it")
if P.profile == "paper":
    from mlcompanion.data.text import find_lm_checkpoints, load_probe_texts

    if not P.models:
        raise ValueError("the paper profile needs at least one model folder name in `models`")
    # stops here, naming the missing revisions, the download addresses and the layout, if absent
    CHECKPOINTS = {m: find_lm_checkpoints(P.data_root, m, P.checkpoint_steps) for m in P.models}
    load_probe_texts(P.data_root, 1)

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import Markdown, display

from mlcompanion.data.text import pydoc_corpus
from mlcompanion.gallery import paper_row, write_result
from mlcompanion.metrics.spectrum import (PAPER_RANKS, alpha_req, eigenspectrum, last_token_features, rankme,
                                          rankme_from_spectrum)
from mlcompanion.models.tiny_lm import LMTrainConfig, MLPLanguageModel, context_windows, lm_loss, train_lm, warmup_cosine
from mlcompanion.models.toy_ce import log_checkpoints, train_toy_ce
from mlcompanion.plotting import PALETTE, savefig, use_style
from mlcompanion.repro import make_deterministic, torch_generator
from mlcompanion.verdict import Criterion, convergence_check, register_criteria

SLUG = "representation_geometry"
make_deterministic(P.seed)
torch.set_num_threads(1)
use_style()
pd.set_option("display.precision", 3)
cpu_start = time.process_time()

# %% [markdown]
# ## Method
#
# **Features** (Sec. 2). For M probe sequences, $F \in \mathbb R^{M\times d}$ holds the last-layer
# hidden state at the last non-pad token, $y_N = f^{(L)}(t_N \mid t_{<N})$.
# `mlcompanion.metrics.spectrum.last_token_features(hidden, attention_mask, padding_side="right")`
#
# **Eigenspectrum.** $\hat\Sigma = \frac1M F_c^\top F_c$ ($F_c$ column-centred), eigenvalues
# $\sigma_1 \ge \dots \ge \sigma_d$, normalised $\tilde\lambda_i = \sigma_i / \sum_j \sigma_j$
# (the official code's `PCA(svd_solver="full").explained_variance_ratio_`, ≤ 2,048 components, float64).
# `eigenspectrum(F)`
#
# **RankMe** (this paper's convention): $p_i = \tilde\lambda_i/\lVert\tilde\lambda\rVert_1 + \varepsilon$,
# ε = 1e-7 added *after* normalising, $\mathrm{RankMe} = \exp(-\sum_i p_i \log p_i)$.
# `rankme(F)` (= `rankme_from_spectrum(eigenspectrum(F))`).
# Garrido et al. (ICML 2023) apply the same entropy to the singular values of the *uncentred* $F$:
# `rankme(F, convention="sv")`. The two give different absolute numbers; the paper's figures use the first.
#
# **α-ReQ.** $\tilde\lambda_i \propto i^{-\alpha}$: weighted least squares of $\log\tilde\lambda_i$ on
# $(-\log i, 1)$ over ranks $i = 12 \dots 100$ with weights $1/i$ (the official Stringer-Pachitariu
# fit); α is the slope. `alpha_req(spectrum, ranks=(12, 100))`. The window needs min(M, d) ≥ 100: the
# tiny LM (d = 32) uses a smaller window (a documented substitute, printed below).
#
# ### A worked example
# Hand values from the definition (ε = 1e-7, covariance convention on given eigenvalues); `tests/test_spectrum.py`
# asserts the same values.

# %%
worked = {
    "[1, 1, 1, 1]": torch.tensor([1.0, 1, 1, 1], dtype=torch.float64),
    "[1, 0, 0, 0]": torch.tensor([1.0, 0, 0, 0], dtype=torch.float64),
    "[4, 2, 1, 1]": torch.tensor([4.0, 2, 1, 1], dtype=torch.float64),
    "1/i, i = 1...100": 1.0 / torch.arange(1, 101, dtype=torch.float64),
}
for name, spec in worked.items():
    print(f"RankMe({name:16s}) = {rankme_from_spectrum(spec):.7f}")
exact = torch.arange(1, 201, dtype=torch.float64) ** -1.3 * 7.5
print(f"alpha_req(7.5 * i^-1.3, ranks 12-100) = {alpha_req(exact).alpha:.6f}")

# %% [markdown]
# ## Criteria, registered before anything is trained
# From the brief (`../shared/papers/representation_geometry.md`), judged by the shared rule
# (`mlcompanion.verdict`: a criterion *holds* when every seed is on the claimed side of its threshold and
# the mean clears both the minimum effect and twice its standard error; fewer than 3 seeds is never clear).
#
# **Headline** (the paper's Fig. 2 sequence, on the tiny LM with GPT-style initialisation, the
# initialisation of the paper's models):
# - `lm_warmup_collapse`: RankMe at step 0 divided by its minimum within the first 2 × warmup steps is
#   at least 5 (the brief's threshold);
# - `lm_entropy_seeking`: after that minimum RankMe expands at least 2× (the paper: 2-3×);
# - `lm_compression`: after its peak RankMe falls by at least 10 % by the end of training
#   (1 − final / peak). This criterion depends on the run being long enough to see RankMe turn
#   (see "Convergence" below): if RankMe is still at or near its peak when training ends, the arm is
#   *unconverged* for this criterion and the criterion counts as unconverged, not as contradicted.
#
# **Secondary**: α-ReQ jumps during warmup (`lm_alpha_jump`: largest α within 2 × warmup minus α at
# step 0, above 0.1) and falls during entropy-seeking (`lm_alpha_falls`: that largest α minus α at the
# RankMe peak, above 0.1); the same collapse and expansion with PyTorch's default initialisation
# (`lm_default_init_collapse`, `lm_default_init_entropy`: is the collapse a property of one
# initialisation?); on the toy model, the skewed frequencies drive the collapse (`toy_skew_drives_collapse`:
# the fraction of rank left at the minimum, (RankMe_min − 1)/(d − 1), is larger with uniform than
# with skewed class counts, by at least 0.1; the paper's "primacy bias"), the skewed bottlenecked toy
# shows a compression phase (`toy_compression`, App. B), and the negative controls do not
# (`toy_controls_no_compression`, App. Figs. 12-13: the larger of the two controls' 1 − final / peak is
# below 0.1).
#
# **Exploratory** (shown, not counted): `toy_collapse_needs_bottleneck`, whether the d = |V| control
# keeps more rank at its minimum than the d ≪ |V| toy (the paper names the bottleneck as a condition of
# its mechanism but does not claim the collapse itself needs it).
#
# The LM collapse and expansion criteria do not depend on the run's length (they are read before the
# peak; a longer run can only raise the peak), so they carry no convergence dependency.

# %%
LM_ARMS = {"lm_gpt_init": P.lm_init_std, "lm_default_init": None}  # None: PyTorch's default initialisation
N_TOTAL = sum(P.toy_counts)
UNIFORM = [N_TOTAL // len(P.toy_counts)] * len(P.toy_counts)
TOY_ARMS = {  # name: (class counts, feature dimension d)
    "toy_skewed": (list(P.toy_counts), P.toy_dim),
    "toy_uniform": (UNIFORM, P.toy_dim),
    "toy_wide": (list(P.toy_counts), len(P.toy_counts)),
}
criteria = register_criteria([
    Criterion("lm_warmup_collapse", "warmup: RankMe(step 0) / its minimum within 2x warmup, GPT-style init (ratio)",
              direction="above", threshold=5.0),
    Criterion("lm_entropy_seeking", "entropy-seeking: RankMe peak after the warmup minimum / that minimum, "
              "GPT-style init (ratio; paper 2-3x)", direction="above", threshold=2.0),
    Criterion("lm_compression", "compression-seeking: RankMe falls after its peak, GPT-style init (1 - final/peak)",
              direction="above", threshold=0.1, arms=("lm_gpt_init",)),
    Criterion("lm_alpha_jump", "alpha-ReQ jumps in warmup: max alpha within 2x warmup - alpha at step 0, GPT-style init",
              direction="above", threshold=0.0, min_effect=0.1, role="secondary"),
    Criterion("lm_alpha_falls", "alpha-ReQ falls in entropy-seeking: max alpha within 2x warmup - alpha at the RankMe "
              "peak, GPT-style init", direction="above", threshold=0.0, min_effect=0.1, role="secondary"),
    Criterion("lm_default_init_collapse", "warmup collapse also with PyTorch's default init (ratio)",
              direction="above", threshold=5.0, role="secondary"),
    Criterion("lm_default_init_entropy", "entropy-seeking also with PyTorch's default init (ratio)",
              direction="above", threshold=2.0, role="secondary"),
    Criterion("toy_skew_drives_collapse", "toy: rank fraction left at the minimum, uniform - skewed classes (d = "
              f"{P.toy_dim})", direction="above", threshold=0.0, min_effect=0.1, role="secondary",
              arms=("toy_skewed", "toy_uniform")),
    Criterion("toy_compression", f"toy (skewed, d = {P.toy_dim} < |V|) shows compression (1 - final/peak RankMe)",
              direction="above", threshold=0.1, role="secondary", arms=("toy_skewed",)),
    Criterion("toy_controls_no_compression", "toy negative controls (uniform; d = |V|) show no compression "
              "(larger 1 - final/peak)", direction="below", threshold=0.1, role="secondary",
              arms=("toy_uniform", "toy_wide")),
    Criterion("toy_collapse_needs_bottleneck", f"toy: rank fraction left at the minimum, d = |V| - d = {P.toy_dim} "
              "(skewed)", direction="above", threshold=0.0, min_effect=0.1, role="exploratory",
              arms=("toy_skewed", "toy_wide")),
])
criteria.registered_table()

# %% [markdown]
# ## Part A: the measures on a planted spectrum
# M = 4,000 Gaussian vectors in d = 256 with covariance eigenvalues $i^{-\alpha}$, α ∈ {0.5, 1, 2},
# 3 seeds. α-ReQ over ranks 12-100 should recover α; the sample RankMe should be near the population
# value $\exp H(p_\text{true})$ (it is biased low at finite M: M ≫ d matters, as the paper's App. Fig. 8
# says). These are correctness checks of the measures (asserted below), not criteria of the claim.

# %%
def planted_gaussians(alpha: float, m: int, d: int, seed: int) -> torch.Tensor:
    g = torch_generator(seed)
    scale = torch.arange(1, d + 1, dtype=torch.float64) ** (-alpha / 2)
    return torch.randn(m, d, generator=g, dtype=torch.float64) * scale


planted_rows = []
for alpha_true in (0.5, 1.0, 2.0):
    population = rankme_from_spectrum(torch.arange(1, 257, dtype=torch.float64) ** -alpha_true)
    for s in range(3):
        F = planted_gaussians(alpha_true, 4000, 256, 100 * P.seed + s)
        spec = eigenspectrum(F)
        planted_rows.append({"alpha (true)": alpha_true, "seed": s, "alpha-ReQ": alpha_req(spec).alpha,
                             "RankMe (cov)": rankme_from_spectrum(spec), "RankMe (population)": population,
                             "RankMe (sv, Garrido)": rankme(F, convention="sv")})
planted = pd.DataFrame(planted_rows)
planted_summary = planted.groupby("alpha (true)").agg(["mean", "min", "max"]).drop(columns="seed")
planted_alpha_err = float((planted["alpha-ReQ"] - planted["alpha (true)"]).abs().max())
planted_rankme_err = float(((planted["RankMe (cov)"] - planted["RankMe (population)"]).abs()
                            / planted["RankMe (population)"]).max())
conventions_differ = bool((planted["RankMe (cov)"] - planted["RankMe (sv, Garrido)"]).abs().min() > 1e-3)
print(f"largest |alpha-ReQ - alpha|: {planted_alpha_err:.4f}; largest relative RankMe error vs population: "
      f"{planted_rankme_err:.3%}; cov and sv conventions differ on every matrix: {conventions_differ}")
planted_summary.round(3)

# %% [markdown]
# ## Part B: the toy cross-entropy model (App. B) and its negative controls
# Free per-example embeddings $F = \theta \in \mathbb R^{N\times d}$ (one-hot inputs, $f_\theta(s) = \theta^\top s$),
# logits $FW$, $W \in \mathbb R^{d\times |V|}$, mean cross-entropy, full-batch gradient descent
# (`mlcompanion.models.toy_ce.train_toy_ce`). Three arms, the same seeds (initial draws):
# - `toy_skewed`: the brief's setting, class counts skewed, d < |V| (both of the mechanism's conditions);
# - `toy_uniform`: the same number of examples spread evenly over the classes (no skew);
# - `toy_wide`: skewed counts, d = |V| (no bottleneck).
#
# RankMe (covariance convention) of $F$ at log-spaced steps. **Convergence** of a toy arm: RankMe has
# settled, i.e. over the second half of training it moves by at most a fraction `toy_tol` of its final
# value, far below the 10 % fall the compression criterion asks for (the loss goes to 0 only
# logarithmically slowly, so a loss plateau is not the test).

# %%
toy_steps_ck = log_checkpoints(P.toy_steps, 40)
toy_seeds = [P.seed + k for k in range(P.toy_seeds)]
toy = {(arm, s): train_toy_ce(counts, d, P.toy_steps, P.toy_lr, P.toy_init_std, s, toy_steps_ck)
       for arm, (counts, d) in TOY_ARMS.items() for s in toy_seeds}


def turn_stats(steps, values) -> dict:
    """Minimum of a RankMe trajectory, the peak after it, the final value and the drop after the peak."""
    v = np.asarray(values, dtype=float)
    i_min = int(v.argmin())
    i_peak = i_min + int(v[i_min:].argmax())
    return {"RankMe step 0": v[0], "RankMe min": v[i_min], "step of min": int(steps[i_min]), "RankMe peak": v[i_peak],
            "step of peak": int(steps[i_peak]), "RankMe final": v[-1], "drop after peak": 1 - v[-1] / v[i_peak],
            "peak is last": i_peak == len(v) - 1}


toy_rows = []
for (arm, s), r in toy.items():
    d = TOY_ARMS[arm][1]
    st = turn_stats(r.steps, r.rankme)
    late = [rm for step, rm in zip(r.steps, r.rankme) if step >= P.toy_steps / 2]
    toy_rows.append({"arm": arm, "seed": s, "d": d, **st, "rank fraction at min": (st["RankMe min"] - 1) / (d - 1),
                     "final loss": r.loss[-1], "RankMe change, 2nd half": (max(late) - min(late)) / r.rankme[-1],
                     "converged": bool(max(late) - min(late) <= P.toy_tol * r.rankme[-1])})
toy_table = pd.DataFrame(toy_rows)
toy_conv = toy_table.groupby("arm", sort=False)["converged"].all().to_dict()
toy_table.groupby("arm", sort=False)[["RankMe step 0", "RankMe min", "step of min", "RankMe peak", "RankMe final",
                                      "rank fraction at min", "drop after peak", "RankMe change, 2nd half",
                                      "final loss"]].agg(["mean", "min", "max"]).T.round(4)

# %%
fig, axes = plt.subplots(2, 2, figsize=(8.8, 7.4), layout="constrained")
axes = axes.ravel()
labels = {"toy_skewed": f"skewed {P.toy_counts}, d = {P.toy_dim}", "toy_uniform": f"uniform {UNIFORM}, d = {P.toy_dim}",
          "toy_wide": f"skewed, d = |V| = {len(P.toy_counts)}"}
for k, arm in enumerate(TOY_ARMS):
    d = TOY_ARMS[arm][1]
    for s in toy_seeds:
        r = toy[(arm, s)]
        steps_plot = np.maximum(r.steps, 1)
        axes[0].plot(steps_plot, (np.asarray(r.rankme) - 1) / (d - 1), color=PALETTE[k], lw=1, alpha=0.8,
                     label=labels[arm] if s == toy_seeds[0] else None)
        axes[3].plot(steps_plot, r.loss, color=PALETTE[k], lw=1, alpha=0.8)
    r0 = toy[(arm, toy_seeds[0])]
    axes[1 if arm != "toy_wide" else 2].plot(np.maximum(r0.steps, 1), r0.rankme, color=PALETTE[k], marker=".")
sig = np.asarray(toy[("toy_skewed", toy_seeds[0])].sigma)
ax_sig = axes[1].twinx()
for j in range(min(2, sig.shape[1])):
    ax_sig.plot(np.maximum(toy_steps_ck, 1), sig[:, j], color="0.3", ls="--" if j else ":", lw=1,
                label=f"σ{j + 1} of skewed (right axis of b)")
ax_sig.set_yscale("log")
ax_sig.set_ylabel("covariance eigenvalue σ_i")
for ax in axes:
    ax.set_xscale("log")
for ax in axes[2:]:
    ax.set_xlabel("gradient step (log; 0 drawn at 1)")
axes[0].set_ylabel("(RankMe − 1)/(d − 1)")
axes[0].set_title("(a) rank fraction, every arm and seed")
axes[1].set_ylabel("RankMe (covariance)")
axes[1].set_title(f"(b) d = {P.toy_dim}, seed {toy_seeds[0]}")
axes[2].set_ylabel("RankMe (covariance)")
axes[2].set_title(f"(c) d = |V| control, seed {toy_seeds[0]}")
axes[3].set_yscale("log")
axes[3].set_ylabel("training cross-entropy (nats)")
axes[3].set_title("(d) loss, every arm and seed")
handles = axes[0].get_legend_handles_labels()[0] + ax_sig.get_legend_handles_labels()[0]
fig.legend(handles=handles, loc="outside lower center", ncol=2)
savefig(fig, SLUG, "toy_model", caption=(
    "Toy cross-entropy model, RankMe against gradient step (log axis, step 0 drawn at 1); colour = arm (legend). "
    "(a) rank fraction (RankMe − 1)/(d − 1) of every arm and seed, 0 meaning one direction; (b) RankMe of the "
    "skewed and uniform arms for the first seed, with the two covariance eigenvalues σ1, σ2 of the skewed arm "
    "(grey, right log axis); (c) RankMe of the d = |V| control, first seed; (d) training cross-entropy "
    "(nats, log axis), every arm and seed."))
plt.show()

# %%
def toy_mean(arm: str, col: str) -> float:
    return float(toy_table.loc[toy_table.arm == arm, col].mean())


display(Markdown(
    "**Toy model.** " + "; ".join(
        f"{labels[arm]}: RankMe {toy_mean(arm, 'RankMe step 0'):.2f} at step 0 → {toy_mean(arm, 'RankMe min'):.3f} "
        f"at its minimum (rank fraction left {toy_mean(arm, 'rank fraction at min'):.2f}) → {toy_mean(arm, 'RankMe final'):.3f} "
        f"at step {P.toy_steps:,}; the peak after the minimum is the last checkpoint in "
        f"{int(toy_table.loc[toy_table.arm == arm, 'peak is last'].sum())}/{len(toy_seeds)} seeds"
        for arm in TOY_ARMS)
    + f" (means over {len(toy_seeds)} seeds). RankMe settled (second half moves ≤ {P.toy_tol:.0%} of the final value) in "
    + ", ".join(f"{arm}: {'yes' if ok else 'no'}" for arm, ok in toy_conv.items()) + "."))

# %% [markdown]
# ## Part C: a tiny language model over training
# Word-level LM on `pydoc_data.topics` (topics in sorted order, lower-cased, tokens
# `[a-z_]+ | [0-9]+ | punctuation`; vocabulary = the most frequent words + `<unk>`), 90/10 split;
# the 10 % is held out (never trained on). Model: 4 previous tokens → 32-d embeddings → linear → tanh →
# **h ∈ R^32** → softmax over V (a bottleneck d ≪ |V|, the condition of the paper's §3.3 mechanism).
# Two initialisations, the same seeds and batches: `lm_gpt_init` draws every weight from N(0, 0.02²) with
# zero biases, as GPT-style LMs (Pythia, OLMo); `lm_default_init` keeps PyTorch's default (embeddings
# N(0, 1), linear layers uniform ± 1/√fan-in). At log-spaced checkpoints plus every 1/20 of training:
# h on a fixed probe of held-out contexts → RankMe (covariance) and α-ReQ over a window that fits
# d = 32 (printed), and the next-token loss on a held-out validation sample.
#
# **Convergence.** Two checks per run: the validation loss has plateaued (`convergence_check` on the
# evenly spaced checkpoints: the last quarter improves on the best before it by at most `val_tol`
# nats), and **RankMe has turned**: after its peak RankMe has fallen by more than `turn_tol` of the peak
# by the end of training. The second is what the compression criterion needs; an arm whose RankMe has
# not turned in every seed is unconverged for it.

# %%
corpus = pydoc_corpus(P.vocab_size)
cut = int(0.9 * len(corpus))
x_train, y_train = context_windows(corpus.ids[:cut], P.lm_context)
x_held, y_held = context_windows(corpus.ids[cut:], P.lm_context)
held_order = torch.randperm(len(y_held), generator=torch_generator(P.seed + 12345))
probe_idx, val_idx = held_order[:P.n_probe], held_order[P.n_probe:P.n_probe + P.n_val]
x_probe = x_held[probe_idx]
x_val, y_val = x_held[val_idx], y_held[val_idx]
lm_ranks = tuple(P.lm_alpha_ranks)
print(f"pydoc corpus: {len(corpus):,} tokens, V = {len(corpus.vocab)}, coverage {corpus.coverage:.3f}; "
      f"{len(y_train):,} training windows; held out: probe M = {len(x_probe)}, validation {len(y_val):,}")
print(f"alpha-ReQ window for the tiny LM: ranks {lm_ranks[0]}-{lm_ranks[1]} of d = {P.lm_hidden_dim}")

even_steps = sorted({int(round(P.lm_steps * k / 20)) for k in range(1, 21)})
lm_checkpoints = sorted(set(log_checkpoints(P.lm_steps, P.n_checkpoints)) | set(even_steps))
lm_cfg = LMTrainConfig(steps=P.lm_steps, batch_size=P.lm_batch_size, lr=P.lm_lr, warmup=P.lm_warmup,
                       min_lr_ratio=P.lm_min_lr_ratio, progress=False)
lm_seeds = [P.seed + k for k in range(P.n_seeds)]
spectra = {}  # (arm, seed) -> {step: normalised eigenvalues}


def make_probe(arm, run_seed):
    spectra[(arm, run_seed)] = {}

    def probe_lm(step, model):
        spec = eigenspectrum(model.features(x_probe))
        spectra[(arm, run_seed)][step] = spec.numpy()
        fit = alpha_req(spec, lm_ranks)
        return {"step": step, "RankMe": rankme_from_spectrum(spec), "alpha": fit.alpha, "alpha R2": fit.r2,
                "val loss": lm_loss(model, x_val, y_val)}
    return probe_lm


runs = {}
for arm, init_std in LM_ARMS.items():
    for run_seed in lm_seeds:
        make_deterministic(run_seed)
        lm = MLPLanguageModel(len(corpus.vocab), P.lm_context, P.lm_embed_dim, P.lm_hidden_dim, init_std=init_std)
        result = train_lm(lm, x_train, y_train, lm_cfg, seed=run_seed, checkpoints=lm_checkpoints,
                          on_checkpoint=make_probe(arm, run_seed), desc=f"{arm} seed {run_seed}")
        runs[(arm, run_seed)] = pd.DataFrame(result.records)
lr_curve = np.array([warmup_cosine(t, P.lm_steps, P.lm_warmup, P.lm_min_lr_ratio) for t in range(P.lm_steps)]) * P.lm_lr
warmup_end = P.lm_warmup

# %% [markdown]
# ### Paper profile: Pythia checkpoints
# (Skipped in `ci`.) For each model and revision: the paper's probe (above), RankMe, α-ReQ over ranks
# 12-100, and the probe's mean next-token loss; one run per model, read with the same phase rule as
# the tiny LM and recorded as exploratory criteria (the models are not seeds of one arm).

# %%
pythia_runs = {}
if P.profile == "paper":
    from transformers import AutoModelForCausalLM, AutoTokenizer

    probe_texts = load_probe_texts(P.data_root, 4 * P.n_sequences)

    def paper_probe(model_name: str, folders: dict) -> pd.DataFrame:
        tok = AutoTokenizer.from_pretrained(next(iter(folders.values())))
        tok.padding_side = "right"  # the official scripts' last-token index assumes right padding
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        lengths = [len(ids) for ids in tok(probe_texts, truncation=True, max_length=P.max_length)["input_ids"]]
        texts = [t for t, n in zip(probe_texts, lengths) if n >= P.min_tokens][:P.n_sequences]
        if len(texts) < P.n_sequences:
            raise ValueError(f"only {len(texts)} probe texts have >= {P.min_tokens} tokens, {P.n_sequences} needed")
        rows = []
        for step, folder in folders.items():
            model = AutoModelForCausalLM.from_pretrained(folder, torch_dtype=torch.float16).to(P.device).eval()
            feats, nll, n_tok = [], 0.0, 0
            with torch.no_grad():
                for i in range(0, len(texts), P.batch_size):
                    enc = tok(texts[i:i + P.batch_size], padding="longest", truncation=True,
                              max_length=P.max_length, return_tensors="pt").to(P.device)
                    out = model(**enc, output_hidden_states=True)
                    feats.append(last_token_features(out.hidden_states[-1], enc["attention_mask"]).double().cpu())
                    logits = out.logits[:, :-1].float()
                    target = enc["input_ids"][:, 1:].masked_fill(enc["attention_mask"][:, 1:] == 0, -100)
                    nll += float(torch.nn.functional.cross_entropy(logits.transpose(1, 2), target,
                                                                   ignore_index=-100, reduction="sum"))
                    n_tok += int((target != -100).sum())
            spec = eigenspectrum(torch.cat(feats), max_components=2048)
            fit = alpha_req(spec, PAPER_RANKS)
            rows.append({"step": step, "RankMe": rankme_from_spectrum(spec), "alpha": fit.alpha,
                         "alpha R2": fit.r2, "probe loss": nll / n_tok})
            print(f"{model_name} step {step}: RankMe {rows[-1]['RankMe']:.1f}, alpha {fit.alpha:.3f}, "
                  f"loss {rows[-1]['probe loss']:.3f}")
            del model
        return pd.DataFrame(rows)

    pythia_runs = {m: paper_probe(m, folders) for m, folders in CHECKPOINTS.items()}

# %% [markdown]
# ### Phases, read by a rule fixed in advance
# Per run: the warmup minimum of RankMe (within the first 2 × warmup steps), the peak after it, the
# final value; α-ReQ at step 0, its largest value within 2 × warmup, and at the peak.

# %%
def phases(df: pd.DataFrame, warmup: int) -> dict:
    df = df.sort_values("step").reset_index(drop=True)
    early = df[df["step"] <= 2 * warmup]
    i_min = int(early["RankMe"].idxmin())
    i_peak = i_min + int(df["RankMe"].iloc[i_min:].to_numpy().argmax())
    first, low, peak, last = df.iloc[0], df.iloc[i_min], df.iloc[i_peak], df.iloc[-1]
    alpha_warm = float(early["alpha"].max())
    return {
        "RankMe step 0": first["RankMe"], "RankMe min": low["RankMe"], "step of min": int(low["step"]),
        "RankMe peak": peak["RankMe"], "step of peak": int(peak["step"]), "RankMe final": last["RankMe"],
        "peak is last": bool(i_peak == len(df) - 1),
        "alpha step 0": first["alpha"], "alpha max (warmup)": alpha_warm, "alpha at peak": peak["alpha"],
        "alpha final": last["alpha"],
        "collapse x": first["RankMe"] / low["RankMe"], "expansion x": peak["RankMe"] / low["RankMe"],
        "drop after peak": 1 - last["RankMe"] / peak["RankMe"], "alpha rise after peak": last["alpha"] - peak["alpha"],
        "alpha jump": alpha_warm - first["alpha"], "alpha fall": alpha_warm - peak["alpha"],
    }


phase_table = pd.DataFrame({f"{arm} seed {s}": {"arm": arm, "seed": s, **phases(df, warmup_end)}
                            for (arm, s), df in runs.items()}).T
conv_rows = []
for (arm, s), df in runs.items():
    val_curve = [(int(st), float(v)) for st, v in zip(df["step"], df["val loss"]) if st in even_steps]
    check = convergence_check(val_curve, P.val_tol, higher_is_better=False)
    ph = phase_table.loc[f"{arm} seed {s}"]
    val_best_step = val_curve[int(np.argmin([v for _, v in val_curve]))][0]
    conv_rows.append({"arm": arm, "seed": s, "iterations": P.lm_steps, "best val loss": check["best"],
                      "step of best val loss": val_best_step, "val last-quarter gain": check["last_gain"],
                      "val plateaued": check["converged"], "step of RankMe peak": int(ph["step of peak"]),
                      "drop after peak": float(ph["drop after peak"]),
                      "RankMe turned": bool(not ph["peak is last"] and ph["drop after peak"] > P.turn_tol)})
lm_conv = pd.DataFrame(conv_rows)
lm_converged = lm_conv.groupby("arm", sort=False)["RankMe turned"].all().to_dict()
lm_val_plateau = lm_conv.groupby("arm", sort=False)["val plateaued"].all().to_dict()
converged = {**lm_converged, **toy_conv}
print(f"RankMe turned (every seed): {lm_converged}; validation loss plateaued (every seed): {lm_val_plateau}")
lm_conv.round(4)

# %%
phase_table.drop(columns=["arm", "seed"]).astype(float).round(3)

# %%
fig, axes = plt.subplots(3, len(LM_ARMS), figsize=(8.8, 9.6), sharex=True, squeeze=False, layout="constrained")
for col, arm in enumerate(LM_ARMS):
    ax_loss, ax_rm, ax_a = axes[:, col]
    for k, s in enumerate(lm_seeds):
        df = runs[(arm, s)]
        steps_plot = df["step"].clip(lower=1)  # step 0 drawn at 1 on the log axis
        ax_loss.plot(steps_plot, df["val loss"], color=PALETTE[k], label=f"seed {s}")
        ax_rm.plot(steps_plot, df["RankMe"], color=PALETTE[k], marker=".", ms=3, label=f"seed {s}")
        ax_a.plot(steps_plot, df["alpha"], color=PALETTE[k], marker=".", ms=3, label=f"seed {s}")
        ph = phase_table.loc[f"{arm} seed {s}"]
        ax_rm.axvline(max(int(ph["step of peak"]), 1), color=PALETTE[k], lw=0.8, ls="--")
    for ax in (ax_loss, ax_rm, ax_a):
        ax.axvspan(1, warmup_end, color="0.6", alpha=0.25, lw=0, zorder=0)
        ax.axvspan(warmup_end, 2 * warmup_end, color="0.85", alpha=0.3, lw=0, zorder=0)
        ax.set_xscale("log")
    name = "GPT-style init N(0, 0.02²)" if LM_ARMS[arm] else "PyTorch default init"
    ax_loss.set_title(f"{arm}\n{name}")
    if col == 0:
        ax_loss.set_ylabel("validation loss (nats)")
        ax_rm.set_ylabel("RankMe (covariance, ε = 1e-7)")
        ax_a.set_ylabel(f"α-ReQ (ranks {lm_ranks[0]}-{lm_ranks[1]})")
    twin = ax_loss.twinx()
    twin.plot(np.arange(1, len(lr_curve) + 1), lr_curve, color="0.5", lw=0.8, ls=":", label="learning rate (right axis)")
    twin.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
    if col == len(LM_ARMS) - 1:
        twin.set_ylabel("learning rate (dotted)", color="0.5")
for ax in axes[-1]:
    ax.set_xlabel("training step (log; 0 drawn at 1)")
handles = axes[0, 0].get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0] + [
    plt.Line2D([], [], color="0.3", lw=0.8, ls="--", label="step of the seed's RankMe peak")]
fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 3))
savefig(fig, SLUG, "phases", caption=(
    "Language-model probe over training (log step axis, step 0 drawn at 1), one column per initialisation, "
    "one colour per seed. Rows: validation next-token loss (nats) with the learning-rate schedule dotted "
    "on the right axis; RankMe of the last hidden layer, a dashed vertical line at each seed's RankMe peak; "
    "α-ReQ over the fit window of ranks. Dark grey band: learning-rate warmup; light grey band: warmup "
    "end to twice the warmup, where the collapse is read."))
plt.show()

# %% [markdown]
# **The eigenspectra behind the numbers.** Normalised covariance eigenvalues λ̃_i (fraction of the total
# variance, dimensionless) of the probe's last hidden layer at step 0, at the warmup minimum of RankMe
# and at the end of training, first seed of each initialisation. Eigenvalues below 10⁻⁸ of the largest
# are numerical zeros of a (nearly) rank-deficient matrix and are not drawn; the shaded band is the α-ReQ
# fit window.

# %%
FLOOR = 1e-8
fig, axes = plt.subplots(1, len(LM_ARMS), figsize=(8.8, 4.4), squeeze=False, layout="constrained")
for ax, arm in zip(axes[0], LM_ARMS):
    s = lm_seeds[0]
    ph = phase_table.loc[f"{arm} seed {s}"]
    shown = {"step 0": 0, f"warmup minimum (step {int(ph['step of min'])})": int(ph["step of min"]),
             f"end (step {P.lm_steps:,})": P.lm_steps}
    lowest = 1.0
    for k, (label, step) in enumerate(shown.items()):
        spec = spectra[(arm, s)][step]
        keep = spec >= FLOOR * spec[0]
        lowest = min(lowest, float(spec[keep].min()))
        ranks_all = np.arange(1, len(spec) + 1)
        ax.loglog(ranks_all[keep], spec[keep], color=PALETTE[k], marker=".", ms=4,
                  label=f"{label}: RankMe {rankme_from_spectrum(torch.from_numpy(spec)):.2f}")
    ax.axvspan(*lm_ranks, color="0.9", zorder=0)
    ax.set_ylim(bottom=lowest / 3, top=1.5)
    ax.set_xlabel("rank i (descending)")
    ax.set_ylabel("λ̃_i (fraction of variance)")
    ax.set_title(f"{arm}, seed {s}")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18))
savefig(fig, SLUG, "spectra", caption=(
    "Normalised covariance eigenvalues λ̃_i (fraction of the total variance) of the probe's last hidden "
    "layer against their rank, both axes log, first seed of each initialisation (one panel each), at step 0, "
    "at the warmup minimum of RankMe and at the end of training (colours; the legend gives each one's "
    "RankMe). Eigenvalues below 1e-8 of the largest are not drawn; the grey band is the α-ReQ fit window."))
plt.show()

# %% [markdown]
# ## Verdict
# From the registered criteria only (`criteria.verdict(converged)`), with `converged` holding, per LM
# arm, whether RankMe turned in every seed, and per toy arm whether RankMe settled.

# %%
for (arm, s), df in runs.items():
    assert np.isfinite(df[["RankMe", "alpha", "val loss"]].to_numpy()).all(), f"{arm} seed {s}: non-finite metrics"
    assert ((df["RankMe"] >= 1) & (df["RankMe"] <= P.lm_hidden_dim + 1e-3)).all()
    assert df["val loss"].min() < df["val loss"].iloc[0] - 1.0, f"{arm} seed {s} did not train"
for (arm, s), r in toy.items():
    assert np.isfinite(r.rankme).all() and r.loss[-1] < r.loss[0], f"{arm} seed {s} did not train"
assert planted_alpha_err < 0.05, f"alpha-ReQ missed a planted power law by {planted_alpha_err:.3f}"
assert planted_rankme_err < 0.05, f"RankMe is {planted_rankme_err:.1%} off the population value"
assert conventions_differ


def arm_phases(arm: str) -> pd.DataFrame:
    return phase_table[phase_table["arm"] == arm].sort_values("seed")


def toy_col(arm: str, col: str) -> np.ndarray:
    return toy_table[toy_table["arm"] == arm].sort_values("seed")[col].to_numpy(dtype=float)


gpt, default = arm_phases("lm_gpt_init"), arm_phases("lm_default_init")
criteria.record("lm_warmup_collapse", gpt["collapse x"].astype(float).tolist())
criteria.record("lm_entropy_seeking", gpt["expansion x"].astype(float).tolist())
criteria.record("lm_compression", gpt["drop after peak"].astype(float).tolist())
criteria.record("lm_alpha_jump", gpt["alpha jump"].astype(float).tolist())
criteria.record("lm_alpha_falls", gpt["alpha fall"].astype(float).tolist())
criteria.record("lm_default_init_collapse", default["collapse x"].astype(float).tolist())
criteria.record("lm_default_init_entropy", default["expansion x"].astype(float).tolist())
criteria.record("toy_skew_drives_collapse",
                toy_col("toy_uniform", "rank fraction at min") - toy_col("toy_skewed", "rank fraction at min"))
criteria.record("toy_compression", toy_col("toy_skewed", "drop after peak"))
criteria.record("toy_controls_no_compression",
                np.maximum(toy_col("toy_uniform", "drop after peak"), toy_col("toy_wide", "drop after peak")))
criteria.record("toy_collapse_needs_bottleneck",
                toy_col("toy_wide", "rank fraction at min") - toy_col("toy_skewed", "rank fraction at min"))
if pythia_runs:  # paper profile: the same phase rule on the Pythia checkpoints (one value per model)
    pythia_phases = pd.DataFrame({m: phases(df, 1430) for m, df in pythia_runs.items()}).T  # warmup: 1 % of 143k steps
    for name, col, thr in (("pythia_collapse", "collapse x", 5.0), ("pythia_entropy_seeking", "expansion x", 2.0),
                           ("pythia_compression", "drop after peak", 0.1)):
        criteria.add_exploratory(Criterion(name, f"Pythia checkpoints ({', '.join(pythia_runs)}): {col}",
                                           direction="above", threshold=thr))
        criteria.record(name, pythia_phases[col].astype(float).tolist())
verdict = criteria.verdict(converged)
criteria.table(digits=3)

# %%
sentences = {c.name: criteria.sentence(c.name, 1.0, "", 3) for c in criteria}
n_turned = int(lm_conv.loc[lm_conv.arm == "lm_gpt_init", "RankMe turned"].sum())
n_peak_last = int(gpt["peak is last"].sum())
gpt_conv = lm_conv[lm_conv.arm == "lm_gpt_init"]
turn_sentence = (
    f"Within {P.lm_steps:,} steps RankMe turned in {n_turned}/{len(lm_seeds)} GPT-init seeds (its peak is the last "
    f"checkpoint in {n_peak_last}/{len(lm_seeds)}; largest drop after the peak "
    f"{gpt['drop after peak'].astype(float).max():.3f}, turn tolerance {P.turn_tol}), so the compression criterion is "
    + ("judged at convergence." if lm_converged["lm_gpt_init"] else
       "unconverged: this run does not say whether a compression phase follows.")
    + f" The validation loss reached its best value at step {int(gpt_conv['step of best val loss'].median()):,} "
    f"(median over seeds) and plateaued in {int(gpt_conv['val plateaued'].sum())}/{len(lm_seeds)} seeds, while RankMe "
    f"peaked at step {int(gpt['step of peak'].astype(int).median()):,} (median)."
)
init_sentence = (
    f"Initialisation: GPT-style init collapses RankMe {gpt['collapse x'].astype(float).mean():.1f}x "
    f"(to {gpt['RankMe min'].astype(float).mean():.2f}), PyTorch's default init {default['collapse x'].astype(float).mean():.1f}x "
    f"(to {default['RankMe min'].astype(float).mean():.2f}); the expansion after the minimum is "
    f"{gpt['expansion x'].astype(float).mean():.1f}x and {default['expansion x'].astype(float).mean():.1f}x."
)
toy_sentence = (
    f"Toy model: skewed counts leave a rank fraction of {toy_col('toy_skewed', 'rank fraction at min').mean():.2f} at the "
    f"minimum, uniform counts {toy_col('toy_uniform', 'rank fraction at min').mean():.2f}, skewed counts without the "
    f"bottleneck (d = |V|) {toy_col('toy_wide', 'rank fraction at min').mean():.2f}; the largest RankMe drop after the peak "
    f"over every toy run is {toy_table['drop after peak'].max():.3f}."
)
explanation = (" ".join(sentences[c.name] for c in criteria if c.role != "exploratory")
               + f" {turn_sentence} {init_sentence} {toy_sentence}")
display(Markdown(f"**Verdict: {verdict}.**\n\n" + "\n".join(f"- {x}" for x in sentences.values())
                 + f"\n\n{turn_sentence}\n\n{init_sentence}\n\n{toy_sentence}"))

# %% [markdown]
# ## Paper vs ours
# One row per quantity. The paper's evidence is mostly qualitative (Fig. 2: curves over checkpoints);
# its numbers below are the ones the brief quotes from the paper (`../shared/papers/paper-numbers.md` has
# no entry for this paper), labelled with the figure or table they come from. The correlations with
# downstream accuracy (Table 9) and the eigendirection ablation (Table 8) are not measured here.

# %%
lm_setting = (f"{P.profile}: tiny LM (d = {P.lm_hidden_dim}, V = {len(corpus.vocab)}), {P.lm_steps:,} steps, "
              f"{len(lm_seeds)} seeds")
toy_setting = f"toy CE model, {P.toy_counts} vs {UNIFORM}, d = {P.toy_dim} vs {len(P.toy_counts)}, {len(toy_seeds)} seeds"
FIG2 = "paper Fig. 2 (as quoted in the brief)"
rows = [
    paper_row("warmup: RankMe collapse, step 0 / minimum (x)", paper="collapse during the LR warmup",
              paper_setting="OLMo-2 7B, Pythia 1B-12B checkpoints", source=FIG2,
              ours=round(float(gpt["collapse x"].astype(float).mean()), 2), ours_setting=lm_setting + ", GPT-style init",
              comparable_as="trend"),
    paper_row("warmup: RankMe collapse with PyTorch's default init (x)",
              ours=round(float(default["collapse x"].astype(float).mean()), 2), ours_setting=lm_setting + ", default init",
              comparable_as="trend"),
    paper_row("entropy-seeking: RankMe expansion after the minimum (x)", paper="2-3",
              paper_setting="OLMo-2 7B, Pythia 1B-12B", source=FIG2,
              ours=round(float(gpt["expansion x"].astype(float).mean()), 2), ours_setting=lm_setting + ", GPT-style init",
              comparable_as="trend"),
    paper_row("alpha-ReQ: jump in warmup, then fall (largest alpha in warmup -> alpha at the RankMe peak)",
              paper="jumps, then falls", paper_setting="OLMo-2 7B, Pythia 1B-12B (ranks 12-100)", source=FIG2,
              ours=f"{gpt['alpha step 0'].astype(float).mean():.2f} -> {gpt['alpha max (warmup)'].astype(float).mean():.2f} -> "
                   f"{gpt['alpha at peak'].astype(float).mean():.2f}",
              ours_setting=lm_setting + f", ranks {lm_ranks[0]}-{lm_ranks[1]}", comparable_as="trend"),
    paper_row("compression-seeking: RankMe drop after its peak (1 - final/peak)", paper="RankMe falls, alpha rises",
              paper_setting="late pretraining, 10^4-10^5 steps", source=FIG2,
              ours=round(float(gpt["drop after peak"].astype(float).mean()), 3),
              ours_setting=lm_setting + f"; RankMe turned in {n_turned}/{len(lm_seeds)} seeds", comparable_as="trend"),
    paper_row("toy (skewed, d < |V|): RankMe drop after its peak (1 - final/peak)",
              paper="compression phase", paper_setting="App. B toy, exact setup not confirmed by the brief",
              source="paper App. Fig. 4 (as quoted in the brief)",
              ours=round(float(toy_col("toy_skewed", "drop after peak").mean()), 3), ours_setting=toy_setting,
              comparable_as="trend"),
    paper_row("toy negative controls (uniform; d = |V|): largest RankMe drop after the peak",
              paper="warmup + monotone expansion only", paper_setting="App. B controls",
              source="paper App. Figs. 12-13 (as quoted in the brief)",
              ours=round(float(np.maximum(toy_col("toy_uniform", "drop after peak"),
                                          toy_col("toy_wide", "drop after peak")).mean()), 3),
              ours_setting=toy_setting, comparable_as="trend"),
    paper_row("toy: rank fraction left at the minimum, uniform - skewed",
              ours=round(float(criteria.outcome("toy_skew_drives_collapse").mean), 3), ours_setting=toy_setting,
              comparable_as="ordering"),
    paper_row("corr(SciQ accuracy, alpha-ReQ) over checkpoints", paper="+0.54 to +0.84 (all p < 3e-3)",
              paper_setting="Pythia 1B-12B, OLMo-2-1B", source="paper Table 9 (as quoted in the brief)",
              comparable_as="value"),
    paper_row("corr(SciQ accuracy, RankMe) over checkpoints", paper="-0.62 to -0.89 (all p < 3e-3)",
              paper_setting="Pythia 1B-12B, OLMo-2-1B", source="paper Table 9 (as quoted in the brief)",
              comparable_as="value"),
]
pd.DataFrame(rows)

# %% tags=["timing"]
cpu_seconds = time.process_time() - cpu_start
print(f"CPU time of the notebook's computation: {cpu_seconds:.1f} s")

# %%
budget = {"LM steps (cap)": P.lm_steps, "LM seeds per arm": len(lm_seeds), "LM arms": len(LM_ARMS),
          "LM checkpoints per run": len(lm_checkpoints), "toy steps": P.toy_steps, "toy seeds per arm": len(toy_seeds),
          "toy arms": len(TOY_ARMS), "CPU seconds (notebook)": round(cpu_seconds, 1)}
convergence_record = {
    **{arm: {"converged": ok, "criterion": "RankMe turned (drop after peak > turn_tol) in every seed",
             "val loss plateaued": lm_val_plateau[arm], "iterations": P.lm_steps,
             "best val loss": float(lm_conv.loc[lm_conv.arm == arm, "best val loss"].mean())}
       for arm, ok in lm_converged.items()},
    **{arm: {"converged": ok, "criterion": f"RankMe settled (2nd half moves <= {P.toy_tol} x final)", "iterations": P.toy_steps}
       for arm, ok in toy_conv.items()},
}
ours = {
    "LM RankMe collapse (x), GPT init": float(gpt["collapse x"].astype(float).mean()),
    "LM RankMe collapse (x), default init": float(default["collapse x"].astype(float).mean()),
    "LM RankMe expansion (x), GPT init": float(gpt["expansion x"].astype(float).mean()),
    "LM RankMe drop after peak, GPT init": float(gpt["drop after peak"].astype(float).mean()),
    "LM seeds where RankMe turned, GPT init": f"{n_turned}/{len(lm_seeds)}",
    "toy rank fraction at min, skewed / uniform / d=|V|": "{:.3f} / {:.3f} / {:.3f}".format(
        *(toy_col(a, "rank fraction at min").mean() for a in TOY_ARMS)),
}
result_file = write_result(
    SLUG,
    title="Tracing the Representation Geometry of Language Models from Pretraining to Post-training (NeurIPS 2025)",
    claim=("While the LM loss falls, RankMe / alpha-ReQ of last-token representations go through warmup collapse, "
           "entropy-seeking expansion and compression-seeking phases (Fig. 2); mechanism: cross-entropy under skewed "
           "frequencies with a bottleneck (toy model, App. B)."),
    verdict=verdict,
    explanation=explanation,
    ours=ours,
    paper={"entropy-seeking RankMe expansion (Fig. 2)": "2-3x", "corr(SciQ, alpha) (Table 9)": "+0.54..+0.84",
           "corr(SciQ, RankMe) (Table 9)": "-0.62..-0.89"},
    profile=P.profile,
    criteria=criteria,
    convergence=convergence_record,
    budget=budget,
    rows=rows,
)

# %%
# NBVAL_CHECK_OUTPUT
print(f"worked RankMe: [1,1,1,1] {rankme_from_spectrum(worked['[1, 1, 1, 1]']):.3f}, "
      f"1/i (100) {rankme_from_spectrum(worked['1/i, i = 1...100']):.3f}")
print(f"planted spectra: max |alpha error| {planted_alpha_err:.3f}, max RankMe rel. error {planted_rankme_err:.3f}")
for arm in TOY_ARMS:
    print(f"{arm}: RankMe min {toy_col(arm, 'RankMe min').mean():.3f}, final {toy_col(arm, 'RankMe final').mean():.3f}, "
          f"drop after peak {toy_col(arm, 'drop after peak').max():.3f}, settled {toy_conv[arm]}")
for name, row in phase_table.iterrows():
    print(f"{name}: RankMe {row['RankMe step 0']:.2f} -> {row['RankMe min']:.2f} (step {row['step of min']}) -> "
          f"{row['RankMe peak']:.2f} (step {row['step of peak']}) -> {row['RankMe final']:.2f}; alpha "
          f"{row['alpha step 0']:.2f} -> {row['alpha max (warmup)']:.2f} -> {row['alpha final']:.2f}")
for c in criteria:
    oc = criteria.outcome(c.name)
    print(f"{c.name}: {round(oc.mean, 3) + 0.0:+.3f} -> {oc.status}")
print(f"RankMe turned: {lm_converged}; verdict: {verdict}")
