# %% [markdown]
# # Towards Exact Computation of Inductive Bias
#
# Boopathy, Yue, Hwang, Iyer & Fiete, **IJCAI 2024**, [arXiv:2406.15941](https://arxiv.org/abs/2406.15941).
# Official code: `FieteLab/Exact-Inductive-Bias` (`utils.py`, `kernel_inductive_bias.py`, `nn_inductive_bias.py`).
#
# **Claim reproduced here.** The inductive bias a task requires, $I(\varepsilon) = -\log P_{h\sim q}(e(h) \le \varepsilon)$,
# can be estimated directly by fitting a scaled non-central $\chi^2$ to the test errors of randomly sampled
# hypotheses that fit the training data; with it, (i) *higher-dimensional tasks require more inductive bias*
# and (ii) *neural networks encode a large amount of inductive bias relative to kernel hypothesis spaces*
# ($I_\text{kernel}(\varepsilon) - I_\text{NN}(\varepsilon) > 0$). The paper shows this on MNIST, CIFAR-10,
# 5-way 1-shot Omniglot and inverted-pendulum control (main figure; its numbers were not retrieved here).
#
# This notebook shows
# 1. the estimator and a check on a known distribution (the fit recovers a known $\chi^2$ tail);
# 2. **I(ε) versus task dimension**: a family of synthetic 10-class tasks with 2-64 input dimensions and
#    sklearn's digits at 2×2, 4×4 and 8×8 pixels, kernel (GP) hypotheses;
# 3. **how far the fit can be trusted**: for GP hypotheses the test error has an exactly known law (a
#    generalised $\chi^2$), so the fitted tail is compared with the empirical *and* the exact tail, and
#    with the number of sampled hypotheses M;
# 4. **hypothesis spaces compared**: GP-RBF (two bandwidths), random ReLU features, trained MLPs;
# 5. the paper beside ours and a plain verdict.
#
# | profile | data | hardware | wall time |
# |---|---|---|---|
# | `ci` (default) | synthetic Gaussian-input tasks (d = 2…64) and sklearn digits, 200 train / 300 test points | 1 CPU thread | about 55 s of CPU time |
# | `paper` | MNIST and CIFAR-10 from `data_root` (torchvision layout), 1,000 train / 1,000 test points, 10,000 GP hypotheses, 100 MLPs | 1 GPU (MLPs) + CPU (GP sampling) | about 10-20 min (estimate) |

# %% tags=["parameters"]
profile = "ci"
device = "cpu"
data_root = None
seed = 0
# Knobs: None means "the profile's value" (see PROFILES below).
tasks = None
compare_task = None
n_train = None
n_test = None
n_samples = None
fit_subsample = None
jitter = None
eps_fractions = None
headline_eps = None
m_grid = None
rf_width = None
rf_samples = None
mlp_width = None
mlp_depth = None
mlp_epochs = None
mlp_batch_size = None
mlp_lr = None
mlp_trials = None

# %% [markdown]
# ## Profiles
# Errors are MSE to one-hot targets averaged over test points and outputs (as the official code). The target
# error ε is given as a fraction of the *chance* MSE $(C-1)/C^2$ (predicting $1/C$ everywhere; 0.09 for 10
# classes), the same absolute ε for every task with C = 10. `headline_eps` is the ε at which the trends are
# judged. `ci` samples 10,000 GP hypotheses per task (the official number) and fits on a 2,000 subsample;
# `paper` fits on all of them. `mlp_batch_size = 0` means full batch.

# %%
import sys
from pathlib import Path

sys.path.insert(0, str(Path.cwd().parent))  # the repository root, when run from notebooks/

from mlcompanion.profiles import resolve_profile

CI_TASKS = ["synth_2", "synth_4", "synth_8", "synth_16", "synth_32", "synth_64", "digits_4", "digits_16", "digits_64"]
PAPER_TASKS = ["mnist", "cifar10"]
PROFILES = {
    "ci": dict(tasks=CI_TASKS, compare_task="synth_16", n_train=200, n_test=300, n_samples=10000,
               fit_subsample=2000, jitter=1e-3, eps_fractions=[0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
               headline_eps=0.5, m_grid=[100, 1000, 10000], rf_width=256, rf_samples=300, mlp_width=64,
               mlp_depth=1, mlp_epochs=150, mlp_batch_size=0, mlp_lr=1e-3, mlp_trials=100),
    "paper": dict(tasks=PAPER_TASKS, compare_task="mnist", n_train=1000, n_test=1000, n_samples=10000,
                  fit_subsample=10000, jitter=1e-3, eps_fractions=[0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
                  headline_eps=0.5, m_grid=[100, 1000, 10000], rf_width=2048, rf_samples=1000, mlp_width=512,
                  mlp_depth=2, mlp_epochs=100, mlp_batch_size=64, mlp_lr=1e-3, mlp_trials=100),
}
P = resolve_profile(
    PROFILES, profile, device=device, data_root=data_root, seed=seed, namespace=globals(),
    tasks=tasks, compare_task=compare_task, n_train=n_train, n_test=n_test, n_samples=n_samples,
    fit_subsample=fit_subsample, jitter=jitter, eps_fractions=eps_fractions, headline_eps=headline_eps,
    m_grid=m_grid, rf_width=rf_width, rf_samples=rf_samples, mlp_width=mlp_width, mlp_depth=mlp_depth,
    mlp_epochs=mlp_epochs, mlp_batch_size=mlp_batch_size, mlp_lr=mlp_lr, mlp_trials=mlp_trials,
)
KNOWN_TASKS = set(CI_TASKS) | set(PAPER_TASKS) | {f"synth_{d}" for d in (1, 128, 256)} | {"digits_1"}
unknown = sorted(set(P.tasks) - KNOWN_TASKS)
if unknown or len(P.tasks) < 2:
    raise ValueError(f"tasks must be at least two of {sorted(KNOWN_TASKS)}, got {P.tasks}")
if P.compare_task not in P.tasks:
    raise ValueError(f"compare_task must be one of tasks {P.tasks}, got {P.compare_task!r}")
if P.headline_eps not in P.eps_fractions:
    raise ValueError(f"headline_eps must be one of eps_fractions {P.eps_fractions}, got {P.headline_eps}")
if P.profile == "paper" or any(t in PAPER_TASKS for t in P.tasks):
    from mlcompanion.data.small_images import check_small_images_layout

    for name in sorted(set(P.tasks) & set(PAPER_TASKS)):
        check_small_images_layout(name, P.data_root)  # stops here, naming the dataset and its layout, if absent

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from scipy import stats

from mlcompanion.data import load_digits_tensors
from mlcompanion.gallery import write_result
from mlcompanion.metrics.inductive_bias import (
    empirical_inductive_bias,
    estimate_inductive_bias,
    fit_scaled_ncx2,
    generalized_chi2_log_cdf,
    gp_error_spectrum,
    gp_hypothesis_errors,
    inductive_bias,
    median_bandwidth,
    mlp_hypothesis_errors,
    random_feature_hypothesis_errors,
    sankaran_log_cdf,
    sankaran_z,
)
from mlcompanion.plotting import PALETTE, savefig, use_style
from mlcompanion.repro import make_deterministic

SLUG = "inductive_bias"
make_deterministic(P.seed)
use_style()
pd.set_option("display.precision", 3)
LN2 = math.log(2.0)

# %% [markdown]
# ## Method
#
# **Required inductive bias** relative to a hypothesis space with sampling distribution $q$ over the
# hypotheses that fit the training data: $I(\varepsilon) = -\log P_{h\sim q}(e(h) \le \varepsilon)$, in nats
# (the official unit; bits = nats / ln 2).
#
# **Estimator** (official `utils.py`): sample M hypotheses, measure their test errors $e_1..e_M$, fit
# $e \sim s\cdot\chi'^2_{k}(\lambda)$ (scaled non-central $\chi^2$, location 0) by maximum likelihood and
# read off $I(\varepsilon) = -\log F_{k,\lambda}(\varepsilon / s)$.
# `mlcompanion.metrics.inductive_bias.estimate_inductive_bias(errors, eps)` (→ `.nats`, `.bits`, `.fit`); the fit
# alone is `fit_scaled_ncx2` (on errors / mean, scale mapped back), the read-off `inductive_bias(eps, fit)`.
# Where `ncx2.logcdf` underflows (I ≳ 700 nats) the official code uses Sankaran's normal approximation and
# returns $z^2/2$; we return $-\log\Phi(z)$ (`sankaran_log_cdf`), because $z^2/2$ drops $\log(|z|\sqrt{2\pi})$.
#
# **Kernel hypotheses** (Algorithm 1): $f(X_*) = K_{*X}K_{XX}^{-1}Y + (K_{**} - K_{*X}K_{XX}^{-1}K_{X*})^{1/2}\xi$,
# $\xi\sim N(0, I)$ per output, RBF kernel $\exp(-\|a-b\|^2/2\sigma^2)$. `gp_hypothesis_errors`. Deviations
# from the official code (documented): closed form by Cholesky instead of 10,000 epochs of Adam, an
# eigendecomposition instead of `scipy.linalg.sqrtm` (complex noise on near-singular matrices), and a
# **jitter of 1e-3** on $K_{XX}$: the official Adam solve from zero never reaches the ill-conditioned
# directions, while an exact interpolant with jitter 1e-8 explodes on low-dimensional inputs (shown below).
# We use the median-distance bandwidth (σ = 1 is hard-coded officially; on standardised inputs in ≥16
# dimensions it makes $K_{*X} \approx 0$, so the "posterior" is the prior; both are compared in Part D).
#
# **Exact law of the GP error.** With $\Sigma = V\Lambda V^\top$ and $b = V^\top(\mu - Y_*)$, the test MSE is
# $\sum_{k,c} (\sqrt{\lambda_k/N}\,Z_{kc} + b_{kc}/\sqrt N)^2$, a generalised $\chi^2$ (`gp_error_spectrum`);
# its log-CDF deep in the tail comes from a saddlepoint approximation (`generalized_chi2_log_cdf`). This is
# the yardstick for the ncx2 extrapolation, which otherwise can only be checked where samples exist.
#
# **Bugs in the official code** (not copied): `kernel_inductive_bias.py` line 4 `import utils import ...` is a
# SyntaxError; `nn_inductive_bias.evaluate` has a stray `breakpoint()`; its `test_loss` sums per-batch means
# and divides by the dataset size (mis-scaled by the batch size); `torch.manual_seed(99)` is fixed globally;
# the kernel `main()` documents `y_train` as shape (n,) but needs one-hot (n, C) targets; `Net(width, depth)`
# has depth + 1 hidden layers.
#
# ### A worked example: a known distribution
# 2,000 draws from $0.02\cdot\chi'^2_{10}(5)$; the fit should recover the tail, not necessarily the parameters.

# %%
true = stats.ncx2(10, 5, loc=0.0, scale=0.02)
toy_errors = true.rvs(size=2000, random_state=np.random.default_rng(P.seed))
toy_eps = np.array([0.2, 0.3, 0.5]) * true.mean()
toy = estimate_inductive_bias(toy_errors, toy_eps)
print(f"fitted (df, nc, scale) = ({toy.fit.df:.2f}, {toy.fit.nc:.2f}, {toy.fit.scale:.4f}); true (10, 5, 0.02); "
      f"KS {toy.fit.ks:.3f}")
print(pd.DataFrame({"eps / mean": [0.2, 0.3, 0.5], "I fitted (nats)": toy.nats, "I exact (nats)": -true.logcdf(toy_eps),
                    "I fitted (bits)": toy.bits, "I empirical (nats)": empirical_inductive_bias(toy_eps, toy_errors)})
      .round(3).to_string(index=False))

# %% [markdown]
# ## Tasks
# - `synth_d`: inputs $x\sim N(0, I_d)$, 10 classes by $\arg\max_c (x^\top T)_c$ for a fixed random
#   $T\in\mathbb R^{d\times 10}$: the same kind of task at every dimension d.
# - `digits_d`: sklearn's 8×8 digits average-pooled to 2×2 (d = 4), 4×4 (16) or kept at 8×8 (64);
#   pooling removes information, so these tasks differ in more than dimension.
# - `mnist`, `cifar10` (paper profile): flattened images (784 and 3,072 dimensions).
#
# Inputs are standardised with the training statistics; targets are one-hot; the train / test points are
# a seeded random subset.

# %%
C = 10
CHANCE = (C - 1) / C ** 2


def standardise(xtr, xte):
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-8
    return (xtr - mu) / sd, (xte - mu) / sd


def load_task(name: str, rng: np.random.Generator) -> dict:
    kind, _, arg = name.partition("_")
    if kind == "synth":
        d = int(arg)
        T = rng.standard_normal((d, C))
        X = rng.standard_normal((P.n_train + P.n_test, d))
        y = np.argmax(X @ T, 1)
        xtr, xte, ytr, yte = X[:P.n_train], X[P.n_train:], y[:P.n_train], y[P.n_train:]
        group = "synthetic"
    elif kind == "digits":
        pool = {4: 4, 16: 2, 64: 1, 1: 8}[int(arg)]
        images, labels = load_digits_tensors()
        X = torch.nn.functional.avg_pool2d(images, pool).flatten(1).double().numpy()
        perm = rng.permutation(len(X))[:P.n_train + P.n_test]
        xtr, xte = X[perm[:P.n_train]], X[perm[P.n_train:]]
        ytr, yte = labels.numpy()[perm[:P.n_train]], labels.numpy()[perm[P.n_train:]]
        group = "digits"
    else:
        from mlcompanion.data.small_images import load_small_images

        tr_x, tr_y = load_small_images(name, P.data_root, "train")
        te_x, te_y = load_small_images(name, P.data_root, "test")
        i = rng.permutation(len(tr_x))[:P.n_train]
        j = rng.permutation(len(te_x))[:P.n_test]
        xtr, ytr = tr_x[i].flatten(1).double().numpy(), tr_y[i].numpy()
        xte, yte = te_x[j].flatten(1).double().numpy(), te_y[j].numpy()
        group = "images"
    xtr, xte = standardise(xtr, xte)
    eye = np.eye(C)
    return dict(name=name, group=group, dim=xtr.shape[1], Xtr=xtr, Ytr=eye[ytr], Xte=xte, Yte=eye[yte])


TASKS = {name: load_task(name, np.random.default_rng(P.seed + k)) for k, name in enumerate(P.tasks)}
for t in TASKS.values():
    t["sigma"] = median_bandwidth(t["Xtr"])
print(pd.DataFrame({n: {"group": t["group"], "input dim": t["dim"], "train": len(t["Xtr"]), "test": len(t["Xte"]),
                        "median sigma": round(t["sigma"], 3)} for n, t in TASKS.items()}).T.to_string())

# %% [markdown]
# ## Part A: required inductive bias versus task dimension (kernel hypotheses)
# For each task: 10,000 GP-posterior hypotheses (RBF, median σ), their test MSEs, the scaled-ncx2 fit and
# I(ε) over the ε grid (**fit** = the official `scipy.stats.ncx2.fit`; **refined** = the same MLE polished by
# Nelder-Mead, see Part B); beside it the exact I(ε) of the GP's generalised-χ² error law and the empirical
# −log of the fraction of sampled hypotheses below ε (finite only down to −log(1/M) ≈ 9.2 nats).

# %%
EPS = np.asarray(P.eps_fractions, dtype=float) * CHANCE
H = P.eps_fractions.index(P.headline_eps)
rows, curves = [], {}
for k, (name, t) in enumerate(TASKS.items()):
    errors = gp_hypothesis_errors(t["Xtr"], t["Ytr"], t["Xte"], t["Yte"], sigma=t["sigma"], n_samples=P.n_samples,
                                  jitter=P.jitter, seed=P.seed + k)
    est = estimate_inductive_bias(errors, EPS, max_samples=P.fit_subsample, seed=P.seed)
    est_ref = estimate_inductive_bias(errors, EPS, max_samples=P.fit_subsample, seed=P.seed, refine=True)
    scales, means = gp_error_spectrum(t["Xtr"], t["Ytr"], t["Xte"], t["Yte"], sigma=t["sigma"], jitter=P.jitter)
    exact = -generalized_chi2_log_cdf(EPS, scales, means)
    t.update(errors=errors, est=est, est_ref=est_ref, scales=scales, means=means)
    curves[name] = dict(fit=est.nats, refined=est_ref.nats, exact=exact, empirical=empirical_inductive_bias(EPS, errors))
    rows.append({"task": name, "group": t["group"], "dim": t["dim"], "mean error": errors.mean(),
                 "error floor": float((means ** 2)[scales ** 2 <= 1e-10 * (scales ** 2).max()].sum()),
                 "KS": est.fit.ks, "I fit (nats)": est.nats[H], "I fit (bits)": est.bits[H],
                 "KS refined": est_ref.fit.ks, "I refined (nats)": est_ref.nats[H],
                 "I exact (nats)": exact[H], "I empirical (nats)": curves[name]["empirical"][H]})
dim_table = pd.DataFrame(rows).set_index("task")
print(f"I(eps) at eps = {P.headline_eps} x chance MSE = {EPS[H]:.4f}")
dim_table.round(3)

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4))
ax = axes[0]
for g, (group, marker) in enumerate((("synthetic", "o"), ("digits", "s"), ("images", "^"))):
    sub = dim_table[dim_table["group"] == group]
    if len(sub):
        ax.plot(sub["dim"], sub["I fit (nats)"] + 1e-3, marker + "-", color=PALETTE[g], label=f"{group}: ncx2 fit")
        ax.plot(sub["dim"], sub["I refined (nats)"] + 1e-3, marker + "--", color=PALETTE[g], alpha=0.7,
                label=f"{group}: refined fit")
        ax.plot(sub["dim"], sub["I exact (nats)"] + 1e-3, marker + ":", color=PALETTE[g], alpha=0.7,
                label=f"{group}: exact (generalised χ²)")
ax.set_xscale("log", base=2)
ax.set_yscale("log")
ax.set_xlabel("input dimension d")
ax.set_ylabel(f"I(ε = {P.headline_eps} × chance MSE) in nats (+1e-3)")
ax.set_title("required inductive bias vs task dimension (GP-RBF)")
ax.legend(fontsize=8)
ax = axes[1]
synth_names = [n for n in TASKS if TASKS[n]["group"] == dim_table["group"].iloc[0]]
for k, name in enumerate(synth_names):
    ax.plot(P.eps_fractions, curves[name]["fit"] + 1e-3, "-", color=PALETTE[k % len(PALETTE)], label=name)
    ax.plot(P.eps_fractions, curves[name]["exact"] + 1e-3, ":", color=PALETTE[k % len(PALETTE)])
ax.set_yscale("log")
ax.set_xlabel("target error ε / chance MSE")
ax.set_ylabel("I(ε) in nats (+1e-3)")
ax.set_title("I(ε): ncx2 fit (solid) and exact (dotted)")
ax.legend(fontsize=8, ncol=2)
fig.tight_layout()
savefig(fig, SLUG, "dimension")
plt.show()

# %% [markdown]
# Reading the table: a low-dimensional task is *easy for the kernel* (most GP hypotheses already reach ε, so I
# is near 0); as d grows with a fixed training set, test points are far from the training points, the
# posterior stays close to the prior and the error distribution moves up and concentrates, so reaching ε
# costs hundreds of nats. The digits tasks differ in more than dimension: average-pooling to 2×2 destroys
# class information, so there the 4-d task is the *hardest* and I falls with d; "dimension" is confounded with
# task content on real data. Column "error floor": error in directions of (numerically) zero posterior
# variance, a constant no GP hypothesis can go below (the loc-0 ncx2 family cannot represent such a floor).

# %% [markdown]
# ### The jitter is part of the hypothesis space
# Exact I(ε) (no sampling needed) for the synthetic tasks with the official σ = 1 and with the median σ, for a
# near-exact interpolant (jitter 1e-8) and ours (1e-3).

# %%
jit_rows = {}
for name, t in TASKS.items():
    if t["group"] != dim_table["group"].iloc[0]:
        continue
    for sig_name, sig in (("median σ", t["sigma"]), ("σ = 1 (official)", 1.0)):
        for jit in (1e-8, P.jitter):
            s_, m_ = gp_error_spectrum(t["Xtr"], t["Ytr"], t["Xte"], t["Yte"], sigma=sig, jitter=jit)
            jit_rows[(name, sig_name, f"jitter {jit:g}")] = {
                "mean error": float((s_ ** 2 + m_ ** 2).sum()),
                "I exact (nats)": float(-generalized_chi2_log_cdf([EPS[H]], s_, m_)[0])}
jitter_table = pd.DataFrame(jit_rows).T
jitter_table["I exact (nats)"].unstack([1, 2]).round(1)

# %% [markdown]
# ## Part B: can the fitted tail be trusted?
# On the comparison task: the empirical −log CDF (where samples exist), the fitted ncx2 and the exact
# generalised χ², on a log scale down to the headline ε; a QQ plot of the sampled errors against the fit.
#
# **scipy's MLE stops early.** On these concentrated error distributions (hundreds of independent squared
# terms) `ncx2.fit` returns nearly the same df/nc ratio (≈ 0.36) for every task, and its KS distance (≈ 0.05
# on 10,000 errors) is far above sampling noise (≈ 0.014). Polishing the same likelihood with Nelder-Mead
# (`fit_scaled_ncx2(..., refine=True)`, not in the official code) raises the likelihood, cuts the KS distance
# several-fold and moves the extrapolated I(ε) towards the exact value: the official estimator's numbers
# depend on where the optimiser stops.

# %%
ct = TASKS[P.compare_task]
e_ct, fit_ct = ct["errors"], ct["est"].fit
grid = np.linspace(min(EPS.min(), e_ct.min()) * 0.98, np.quantile(e_ct, 0.999), 80)
I_fit_grid = inductive_bias(grid, fit_ct)
I_exact_grid = -generalized_chi2_log_cdf(grid, ct["scales"], ct["means"])
I_emp_grid = empirical_inductive_bias(grid, e_ct)
q = (np.arange(1, len(e_ct) + 1) - 0.5) / len(e_ct)

fig, axes = plt.subplots(1, 2, figsize=(12, 4))
ax = axes[0]
ax.plot(grid, I_exact_grid, "-", color=PALETTE[2], label="exact (generalised χ², saddlepoint)")
ax.plot(grid, I_fit_grid, "--", color=PALETTE[0], label=f"ncx2 fit, official (KS {fit_ct.ks:.3f})")
ax.plot(grid, inductive_bias(grid, ct["est_ref"].fit), "-.", color=PALETTE[3],
        label=f"ncx2 fit, refined (KS {ct['est_ref'].fit.ks:.3f})")
ax.plot(grid, np.where(np.isfinite(I_emp_grid), I_emp_grid, np.nan), ".", color=PALETTE[1], ms=4,
        label=f"empirical, M = {len(e_ct)}")
ax.axvline(EPS[H], color="grey", lw=0.8)
ax.axhline(math.log(len(e_ct)), color=PALETTE[1], lw=0.6, ls=":")
ax.set_yscale("log")
ax.set_xlabel("target test MSE ε")
ax.set_ylabel("I(ε) = −log P(e ≤ ε) in nats")
ax.set_title(f"{P.compare_task}: fitted vs empirical vs exact tail")
ax.legend(fontsize=8)
ax = axes[1]
ax.plot(fit_ct.dist().ppf(q), np.sort(e_ct), ".", ms=2, color=PALETTE[0])
lims = [np.sort(e_ct)[0], np.sort(e_ct)[-1]]
ax.plot(lims, lims, "k-", lw=0.8)
ax.set_xlabel("fitted ncx2 quantile")
ax.set_ylabel("sampled test MSE quantile")
ax.set_title("QQ plot of the sampled errors against the fit")
fig.tight_layout()
savefig(fig, SLUG, "fit_sensitivity")
plt.show()

# %% [markdown]
# ### Stability in the number of sampled hypotheses M
# Fits on the first M errors (all of them, no subsample), I at the headline ε and at the 1% quantile of the
# 10,000 errors (inside the sampled range).

# %%
eps_in = float(np.quantile(e_ct, 0.01))
m_rows = {}
for M in P.m_grid:
    f = fit_scaled_ncx2(e_ct[:M])
    m_rows[M] = {"df": f.df, "nc": f.nc, "KS": f.ks, "I(headline ε) nats": inductive_bias(EPS[H], f),
                 "I(1% quantile) nats": inductive_bias(eps_in, f),
                 "I exact (headline ε)": curves[P.compare_task]["exact"][H],
                 "I exact (1% quantile)": float(-generalized_chi2_log_cdf([eps_in], ct["scales"], ct["means"])[0])}
m_table = pd.DataFrame(m_rows).T
m_table.index.name = "M"
M_lo, M_hi = P.m_grid[-2], P.m_grid[-1]
m_change = abs(m_table.loc[M_hi, "I(headline ε) nats"] / m_table.loc[M_lo, "I(headline ε) nats"] - 1)
print(f"relative change of I(headline ε) from M = {M_lo} to {M_hi}: {m_change:.3f}")
m_table.round(3)

# %% [markdown]
# **The official fallback.** Where `ncx2.logcdf` underflows, `utils.inductive_bias_alt` returns $z^2/2$. For the
# comparison task's fit, over ε where the exact logcdf is still finite:

# %%
fb_eps = np.array([0.3, 0.5, 0.7, 0.9]) * fit_ct.mean_error
z_fb = sankaran_z(fb_eps / fit_ct.scale, fit_ct.df, fit_ct.nc)
fallback = pd.DataFrame({"eps / mean error": [0.3, 0.5, 0.7, 0.9],
                         "-ncx2.logcdf": -stats.ncx2.logcdf(fb_eps, fit_ct.df, fit_ct.nc, scale=fit_ct.scale),
                         "ours: -log_ndtr(z)": -sankaran_log_cdf(fb_eps / fit_ct.scale, fit_ct.df, fit_ct.nc),
                         "official: z²/2": z_fb ** 2 / 2})
fallback.round(3)

# %% [markdown]
# ## Part C: hypothesis spaces compared
# On the comparison task: GP-RBF with the median σ (Part A) and with the official σ = 1; min-norm interpolants
# on random ReLU features; ReLU MLPs from random initialisations trained with Adam on MSE to one-hot (the
# paper's NN space, a fixed training budget: they need not reach zero training error). The encoded inductive
# bias of a space relative to the kernel is $I_\text{kernel}(\varepsilon) - I_\text{space}(\varepsilon)$.

# %%
k0 = len(TASKS)
args = (ct["Xtr"], ct["Ytr"], ct["Xte"], ct["Yte"])
space_errors = {
    "GP-RBF (median σ)": e_ct,
    "GP-RBF (σ = 1, official)": gp_hypothesis_errors(*args, sigma=1.0, n_samples=P.n_samples, jitter=P.jitter,
                                                     seed=P.seed + k0),
    "random ReLU features": random_feature_hypothesis_errors(*args, width=P.rf_width, n_samples=P.rf_samples,
                                                             seed=P.seed + k0 + 1, device=P.device),
}
mlp_test, mlp_train = mlp_hypothesis_errors(*args, width=P.mlp_width, depth=P.mlp_depth, epochs=P.mlp_epochs,
                                            batch_size=P.mlp_batch_size or None, lr=P.mlp_lr, n_trials=P.mlp_trials,
                                            seed=P.seed + k0 + 2, return_train_error=True, device=P.device)
space_errors[f"MLP {P.mlp_depth}×{P.mlp_width} (trained)"] = mlp_test
print(f"MLP training MSE after {P.mlp_epochs} epochs: {mlp_train.mean():.4f} ± {mlp_train.std():.4f} "
      f"(test {mlp_test.mean():.4f} ± {mlp_test.std():.4f})")

space_est = {name: estimate_inductive_bias(e, EPS, max_samples=P.fit_subsample, seed=P.seed)
             for name, e in space_errors.items()}
space_ref = {name: estimate_inductive_bias(e, EPS, max_samples=P.fit_subsample, seed=P.seed, refine=True)
             for name, e in space_errors.items()}
KERNEL = "GP-RBF (median σ)"
NN = f"MLP {P.mlp_depth}×{P.mlp_width} (trained)"
space_table = pd.DataFrame({
    name: {"M": len(space_errors[name]), "mean error": space_errors[name].mean(), "KS": est.fit.ks,
           "I fit (nats)": est.nats[H], "I fit (bits)": est.bits[H],
           "I refined (nats)": space_ref[name].nats[H],
           "I empirical (nats)": empirical_inductive_bias(EPS[H], space_errors[name]),
           "encoded vs kernel (nats)": space_est[KERNEL].nats[H] - est.nats[H]}
    for name, est in space_est.items()}).T
print(f"{P.compare_task}, eps = {P.headline_eps} x chance MSE = {EPS[H]:.4f}")
space_table.round(3)

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4))
ax = axes[0]
for k, (name, e) in enumerate(space_errors.items()):
    ax.hist(e, bins=40, density=True, alpha=0.55, color=PALETTE[k], label=name)
ax.axvline(EPS[H], color="grey", lw=0.8, label="headline ε")
ax.set_xlabel("test MSE of a sampled hypothesis")
ax.set_ylabel("density")
ax.set_title(f"{P.compare_task}: test-error distributions")
ax.legend(fontsize=8)
ax = axes[1]
for k, (name, est) in enumerate(space_est.items()):
    ax.plot(P.eps_fractions, est.nats + 1e-3, "-o", ms=3, color=PALETTE[k], label=name)
ax.set_yscale("log")
ax.set_xlabel("target error ε / chance MSE")
ax.set_ylabel("I(ε) in nats (ncx2 fit, +1e-3)")
ax.set_title("required inductive bias per hypothesis space")
ax.legend(fontsize=8)
fig.tight_layout()
savefig(fig, SLUG, "hypothesis_spaces")
plt.show()

# %% [markdown]
# ## Paper vs ours
# The paper's main figure (required inductive bias vs target error on MNIST, CIFAR-10, Omniglot, inverted
# pendulum) and its kernel-vs-NN comparison: **numbers not retrieved** (the brief marks them unverified), so
# only the qualitative claims of the abstract are set beside ours. Ours are small synthetic / digits tasks
# with 200 training points: absolute values are not comparable (they scale with n_test × C, the number of
# independent error terms), the direction is what we test.

# %%
encoded = space_table.loc[KERNEL, "I fit (nats)"] - space_table.loc[NN, "I fit (nats)"]
groups = {g: sub.sort_values("dim") for g, sub in dim_table.groupby("group", sort=False) if len(sub) >= 2}
rho = {g: float(stats.spearmanr(sub["dim"], sub["I fit (nats)"]).statistic) if sub["I fit (nats)"].nunique() > 1
       else 0.0 for g, sub in groups.items()}
rho_ref = {g: float(stats.spearmanr(sub["dim"], sub["I refined (nats)"]).statistic)
           if sub["I refined (nats)"].nunique() > 1 else 0.0 for g, sub in groups.items()}
rho_exact = {g: float(stats.spearmanr(sub["dim"], sub["I exact (nats)"]).statistic)
             if sub["I exact (nats)"].nunique() > 1 else 0.0 for g, sub in groups.items()}
comparison = pd.DataFrame({
    "paper (abstract; figure numbers not retrieved)": {
        "higher-dimensional tasks need more inductive bias": "yes (MNIST, CIFAR-10, Omniglot, pendulum)",
        "NN encodes bias relative to kernels (I_kernel − I_NN)": "large, > 0",
        "unit of I": "nats in the official code (bits in places in the text)"},
    f"ours ({P.profile})": {
        "higher-dimensional tasks need more inductive bias":
            "; ".join(f"{g}: Spearman ρ(d, I) = {rho[g]:.2f} (refined {rho_ref[g]:.2f}, exact {rho_exact[g]:.2f})"
                      for g in groups),
        "NN encodes bias relative to kernels (I_kernel − I_NN)": f"{encoded:.1f} nats on {P.compare_task}",
        "unit of I": "nats and bits (both reported)"},
})
comparison

# %% [markdown]
# ## Claim check

# %%
for t in TASKS.values():
    assert np.isfinite(t["errors"]).all() and (t["errors"] > 0).all()
    assert np.isfinite(t["est"].nats).all() and (np.diff(t["est"].nats) <= 1e-9).all()
for est in space_est.values():
    assert np.isfinite(est.nats).all() and (est.nats >= 0).all()
assert toy.fit.ks < 0.05 and np.allclose(toy.nats, -true.logcdf(toy_eps), rtol=0.15)
assert np.isfinite(mlp_test).all()

# (1) dimension: I(headline eps) rises with d within each task group (Spearman rho > 0; clear if >= 0.8);
# (2) kernel vs NN: the NN space needs fewer nats than the kernel at the same eps;
# (3) the estimator: KS of the comparison fit < 0.05 and I stable within 10% between the two largest M.
trend = {g: r > 0 for g, r in rho.items()}
trend_clear = {g: r >= 0.8 for g, r in rho.items()}
nn_encodes = bool(encoded > 0)
stable = bool(m_change <= 0.10 and fit_ct.ks < 0.05)
fit_vs_exact = float(dim_table.loc[P.compare_task, "I fit (nats)"] / dim_table.loc[P.compare_task, "I exact (nats)"])
ref_vs_exact = float(dim_table.loc[P.compare_task, "I refined (nats)"] / dim_table.loc[P.compare_task, "I exact (nats)"])
for g in groups:
    print(f"dimension trend [{g}]: rho = {rho[g]:.2f} (refined fit {rho_ref[g]:.2f}, exact law {rho_exact[g]:.2f}) -> "
          f"{'holds' if trend[g] else 'does not hold'}{' clearly' if trend_clear[g] else ''}")
print(f"NN encodes {encoded:.1f} nats relative to the GP kernel on {P.compare_task}: "
      f"{'holds' if nn_encodes else 'does not hold'}")
print(f"estimator: KS {fit_ct.ks:.3f}, M {M_lo}->{M_hi} change {m_change:.3f} ({'stable' if stable else 'unstable'}); "
      f"fitted / exact I at the headline eps on {P.compare_task}: {fit_vs_exact:.2f} (refined fit {ref_vs_exact:.2f})")

first_group = next(iter(groups))
if trend_clear[first_group] and all(trend.values()) and nn_encodes:
    verdict = "reproduced"
elif any(trend.values()) or nn_encodes:
    verdict = "partly reproduced"
else:
    verdict = "not reproduced at this scale"
explanation = (
    f"I(eps) at eps = {P.headline_eps} x chance MSE rises with input dimension for "
    f"{', '.join(g for g in groups if trend[g]) or 'no group'}"
    + (f" but not for {', '.join(g for g in groups if not trend[g])}" if not all(trend.values()) else "")
    + f" (Spearman " + ", ".join(f"{g} {rho[g]:.2f}" for g in groups) + "); "
    + f"trained MLPs {'need' if nn_encodes else 'do not need'} fewer nats than GP-RBF hypotheses "
    + f"({encoded:.1f} nats encoded on {P.compare_task}). The ncx2 fit extrapolates the tail: "
    + f"scipy's ncx2.fit gives {fit_vs_exact:.2f} x the exact GP value at the headline eps "
    + f"({ref_vs_exact:.2f} x after polishing the MLE), so the absolute numbers are optimiser- and family-dependent."
)
print(f"verdict: {verdict}. {explanation}")

# %%
ours = {f"I nats {n} (eps {P.headline_eps} chance)": float(dim_table.loc[n, "I fit (nats)"]) for n in TASKS}
ours.update({f"I exact nats {n}": float(dim_table.loc[n, "I exact (nats)"]) for n in TASKS
             if np.isfinite(dim_table.loc[n, "I exact (nats)"])})
ours.update({f"spearman rho dim vs I ({g})": rho[g] for g in groups})
ours[f"encoded NN vs kernel nats ({P.compare_task})"] = float(encoded)
ours["fit KS (compare task)"] = float(fit_ct.ks)
result_file = write_result(
    SLUG,
    title="Towards Exact Computation of Inductive Bias (IJCAI 2024)",
    claim="Required inductive bias I(eps) = -log P(e(h) <= eps), estimated by a scaled-ncx2 fit to the errors of "
          "sampled hypotheses, grows with task dimension, and neural networks encode much of it relative to kernels.",
    verdict=verdict,
    explanation=explanation,
    ours=ours,
    paper={"figure numbers": "not retrieved"},
    profile=P.profile,
)

# %%
# NBVAL_CHECK_OUTPUT
print(f"toy fit: I = {', '.join(f'{v:.3f}' for v in toy.nats)} nats (exact "
      f"{', '.join(f'{v:.3f}' for v in -true.logcdf(toy_eps))})")
for n in TASKS:
    print(f"{n:10s} d={TASKS[n]['dim']:4d}  I fit {dim_table.loc[n, 'I fit (nats)']:10.3f} nats"
          f"  refined {dim_table.loc[n, 'I refined (nats)']:10.3f}  exact {dim_table.loc[n, 'I exact (nats)']:10.3f}"
          f"  KS {dim_table.loc[n, 'KS']:.3f}")
for name in space_table.index:
    print(f"{name:28s} I {space_table.loc[name, 'I fit (nats)']:9.3f} nats")
print(f"M stability: {m_change:.3f}")
print(f"verdict: {verdict}")
