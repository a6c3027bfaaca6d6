# %% [markdown]
# # AnyLoss: Transforming Classification Metrics into Loss Functions
#
# Han, Moniz & Chawla, arXiv 2024, [arXiv:2405.14745](https://arxiv.org/abs/2405.14745) (venue not
# checked). Official code (TensorFlow/Keras notebooks): `doheonhan/anyloss` (the paper) and
# `doheonhan/anyloss_extension` (later extension work; its 102-dataset notebook is the one we read).
#
# **Claim tested here.** Passing the network's probability through a steep "amplifier"
# $A(p) = \sigma(L(p - \tfrac12))$ turns the confusion matrix into a differentiable *soft* confusion
# matrix, so any confusion-matrix metric (accuracy, F1, G-mean, balanced accuracy) can be trained
# directly as $1 - \text{metric}$; trained this way, a network scores better **on the metric it
# targets** than with MSE/BCE/class-weighted BCE, above all on imbalanced data (paper Sec. 3.3 learning
# curves on Data#1, Sec. 3.4 valid-L analysis, Sec. 4-5 tables over 102 tabular datasets and the
# imbalance study; table numbers not retrieved, see "Paper vs ours").
#
# This notebook shows
# 1. **exactly, without training**: the amplifier, the soft confusion matrix on a hand-worked batch,
#    and that the soft metrics become scikit-learn's hard metrics as L grows;
# 2. **by training** the official MLP on the paper's imbalanced Data#1 (10 % positives) and on
#    scikit-learn's breast-cancer data: each AnyLoss variant against BCE and class-weighted BCE, scored
#    by the metric it targets, mean ± std over 3 seeds; F1 as a function of L; what the learning rate
#    does to the comparison;
# 3. a plain verdict.
#
# | profile | data | hardware | wall time |
# |---|---|---|---|
# | `ci` (default) | Data#1 (make_classification, 10,000 × 2-d) and breast cancer (569 × 30), 3 stratified 80/20 splits | 1 CPU thread | about 1 minute |
# | `paper` | Data#1, breast cancer and the paper's 102 tabular CSVs from `data_root/anyloss_tabular/`, 5-fold stratified CV | 1 CPU core (a GPU does not help models this small) | about 1-3 hours (estimate: 3,000+ runs of 1,000 Adam steps) |

# %% tags=["parameters"]
profile = "ci"
device = "cpu"
data_root = None
seed = 0
# Knobs: None means "the profile's value" (see PROFILES below).
n_seeds = None
arms = None
tabular_ids = None
epochs = None
batch_fraction = None
hidden = None
lr = None
extra_lrs = None
L = None
L_sweep = None

# %% [markdown]
# ## Profiles
# Both profiles train the MLP of the official notebooks: `Dense(2, he_normal)` → batch norm →
# sigmoid → `Dense(1)` → sigmoid, Adam, mini-batches of 5 % of the training set, 50 epochs,
# prediction = [p > 0.5]. The learning rate is 0.01 as in the official 102-dataset notebook (the
# original "valid L" notebook uses 1e-3; `extra_lrs` reruns the key arms at other rates, because the
# comparison turns out to depend on it). `ci` scores 3 stratified 80/20 splits (one per seed, which
# also seeds the initialisation); `paper` uses the official 5-fold stratified CV
# (`random_state=2`) and adds the 102 tabular datasets. `arms` picks losses among
# `bce, wbce, any_acc, any_f1, any_ba, any_gmean`; `tabular_ids` picks datasets by number.

# %%
import sys
from pathlib import Path

sys.path.insert(0, str(Path.cwd().parent))  # the repository root, when run from notebooks/

from mlcompanion.data.tabular_benchmark import TABULAR_IDS, check_tabular_layout
from mlcompanion.profiles import resolve_profile

ALL_ARMS = ("bce", "wbce", "any_acc", "any_f1", "any_ba", "any_gmean")
PROFILES = {
    "ci": dict(n_seeds=3, arms=list(ALL_ARMS), tabular_ids=[], epochs=50, batch_fraction=0.05, hidden=2,
               lr=0.01, extra_lrs=[0.001], L=73.0, L_sweep=[1.0, 4.0, 16.0, 30.0]),
    "paper": dict(n_seeds=5, arms=list(ALL_ARMS), tabular_ids=list(TABULAR_IDS), epochs=50, batch_fraction=0.05, hidden=2,
                  lr=0.01, extra_lrs=[0.001], L=73.0, L_sweep=[float(v) for v in range(1, 101, 3)]),
}
P = resolve_profile(
    PROFILES, profile, device=device, data_root=data_root, seed=seed, namespace=globals(),
    n_seeds=n_seeds, arms=arms, tabular_ids=tabular_ids, epochs=epochs, batch_fraction=batch_fraction,
    hidden=hidden, lr=lr, extra_lrs=extra_lrs, L=L, L_sweep=L_sweep,
)
unknown_arms = sorted(set(P.arms) - set(ALL_ARMS))
if unknown_arms or not P.arms:
    raise ValueError(f"arms must be a non-empty subset of {ALL_ARMS}, got {P.arms}")
if not 0 < P.batch_fraction <= 1:
    raise ValueError(f"batch_fraction must lie in (0, 1], got {P.batch_fraction}")
if P.L <= 0 or any(v <= 0 for v in P.L_sweep) or any(v <= 0 for v in [P.lr, *P.extra_lrs]):
    raise ValueError(f"L, L_sweep, lr and extra_lrs must be > 0, got {P.L}, {P.L_sweep}, {P.lr}, {P.extra_lrs}")
if P.profile == "paper" and P.n_seeds != 5:
    raise ValueError(f"the paper profile uses 5-fold CV (n_seeds=5), got n_seeds={P.n_seeds}")
TAB_IDS = list(P.tabular_ids)
if TAB_IDS:
    check_tabular_layout(P.data_root, TAB_IDS)  # stops here, naming the datasets and the layout, if absent

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy.stats import binomtest
from sklearn.datasets import load_breast_cancer
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, recall_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from torch import nn
from torch.utils.data import TensorDataset
from tqdm import tqdm

from mlcompanion.data.tabular_benchmark import anyloss_data1, iter_tabular_datasets
from mlcompanion.experiments import compare_arms, format_mean_std, summarize_runs
from mlcompanion.gallery import write_result
from mlcompanion.losses.anyloss import AnyLoss, amplify, soft_confusion, soft_metric, weighted_bce
from mlcompanion.plotting import PALETTE, savefig, use_style
from mlcompanion.repro import make_deterministic
from mlcompanion.train import TrainConfig, embed, evaluate_classifier, train_classifier

SLUG = "anyloss"
make_deterministic(P.seed)
use_style()
pd.set_option("display.precision", 3)

# %% [markdown]
# ## Method
#
# **Amplifier (Sec. 3.1).** The network ends in a sigmoid, $p_i = \sigma(z_i)$. AnyLoss pushes each
# probability towards 0 or 1 without reaching it:
# $$A(p_i) = \frac{1}{1 + e^{-L (p_i - 0.5)}}, \qquad L = 73 .$$
# `mlcompanion.losses.anyloss.amplify(p, L=73.0)`
#
# **Soft confusion matrix (Sec. 3.2).** With $\hat y_i = A(p_i)$, labels $y_i \in \{0, 1\}$ and $N$ the
# batch size,
# $$TP = \textstyle\sum y \hat y, \quad FN = \sum y - TP, \quad FP = \sum \hat y - TP, \quad TN = N - \sum y - \sum \hat y + TP .$$
# `mlcompanion.losses.anyloss.soft_confusion(p, y, L=73.0)` (`L=None`: $\hat y = p$)
#
# **Losses = 1 − metric (Sec. 3.2-3.3)**, with $y_1 = \sum y$, $y_0 = N - y_1$:
# accuracy $\frac{TP + TN}{N}$; $F_\beta = \frac{(1+\beta^2)\,TP}{\beta^2 y_1 + \sum \hat y}$;
# G-mean $\sqrt{\frac{TP\cdot TN}{y_1 y_0}}$; balanced accuracy $\frac{y_0\,TP + y_1\,TN}{2\,y_1 y_0}$.
# `mlcompanion.losses.anyloss.AnyLoss(metric="f1" | "fbeta" | "accuracy" | "gmean" | "balanced_accuracy", L=73.0)`
#
# The gradient flows through $\partial \hat y / \partial z = L\,\hat y(1-\hat y)\,p(1-p)$: only samples
# whose probability is near 0.5 (within about $5/L$) move the weights.
#
# **Defaults and where the official code differs.** $\varepsilon = 10^{-5}$ is added to the F, G-mean
# and BA denominators as in the extension code (the original notebooks add none; `eps=0` gives their
# 0/0 on a batch without positives). The extension drops the G-mean root (`gmean_sqrt=False`). The
# original Keras snippets divide accuracy/G-mean/BA by the *training-set* size even on mini-batches;
# `lib` uses the batch size, as the equations do. The class-weighted BCE baseline
# (`weighted_bce`) weights positives by $y_0/N$ and negatives by $y_1/N$ per batch (official WBCE).
#
# ### A worked example
# Five samples, two positives, with the probabilities used *as is* ($L$ = None) and amplified ($L$ = 73):

# %%
toy_y = torch.tensor([1, 1, 0, 0, 0])
toy_p = torch.tensor([0.9, 0.2, 0.1, 0.3, 0.0], dtype=torch.float64)
toy_rows = {}
for name, L_toy in (("L = None (ŷ = p)", None), ("L = 73", 73.0)):
    cells = soft_confusion(toy_p, toy_y, L=L_toy)
    toy_rows[name] = {**{k.upper(): v.item() for k, v in cells._asdict().items()},
                      **{m: soft_metric(toy_p, toy_y, m, L=L_toy, eps=0.0).item()
                         for m in ("accuracy", "f1", "balanced_accuracy", "gmean")}}
toy_table = pd.DataFrame(toy_rows).T
print("y =", toy_y.tolist(), " p =", toy_p.tolist())
print(toy_table.round(4).to_string())
print("hard (threshold 0.5): TP 1, FN 1, FP 0, TN 3 -> accuracy 0.8, F1 0.667, BA 0.75, G-mean 0.707")

# %% [markdown]
# With $L = 73$ the cells are already the hard counts to 4 decimals; the sample at $p = 0.2$ (a missed
# positive) counts as a false negative, where the unamplified matrix would count it as 0.2 of a true
# positive. That is the point of $A$: the soft metric measures the *thresholded* classifier.
#
# ### The amplifier, and the soft metrics tending to scikit-learn's
# Left: $A(p)$ for three values of L. Right: 400 samples (30 % positives) whose probabilities lie at
# least 0.05 from 0.5, on the correct side for 80 % of them; the gap between the soft metric and
# scikit-learn's hard metric at threshold 0.5, as L grows (an exact 0 is drawn at 1e-16). At L = 73
# the soft metrics are within about 1e-3 of the hard ones only because no probability is within 0.05
# of 0.5; during training many are, and there the soft metric is genuinely soft.

# %%
gen = torch.Generator().manual_seed(P.seed)
conv_y = (torch.rand(400, generator=gen) < 0.3).long()
conv_p = 0.05 + 0.45 * torch.rand(400, generator=gen, dtype=torch.float64)  # distance from 0.5
right_side = torch.rand(400, generator=gen) < 0.8  # an informative classifier: 80 % on the correct side
conv_p = torch.where(right_side == (conv_y == 1), 0.5 + conv_p, 0.5 - conv_p)
conv_pred = (conv_p > 0.5).long().numpy()


def g_mean_score(y_true, y_pred):
    """G-mean from scikit-learn's per-class recall: sqrt(recall of 1 x recall of 0)."""
    r = recall_score(y_true, y_pred, average=None, labels=[0, 1], zero_division=0.0)
    return float(np.sqrt(r[0] * r[1]))


HARD = {"accuracy": accuracy_score, "f1": lambda a, b: f1_score(a, b, zero_division=0.0),
        "balanced_accuracy": balanced_accuracy_score, "gmean": g_mean_score}
L_grid = [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 73.0, 200.0, 1000.0]
conv_gap = pd.DataFrame(
    {m: [abs(soft_metric(conv_p, conv_y, m, L=Lv, eps=0.0).item() - ref(conv_y.numpy(), conv_pred)) for Lv in L_grid]
     for m, ref in HARD.items()}, index=pd.Index(L_grid, name="L"))

fig, (ax_a, ax_c) = plt.subplots(1, 2, figsize=(11, 3.8))
grid_p = torch.linspace(0, 1, 401, dtype=torch.float64)
ax_a.plot(grid_p, grid_p, ":", color="grey", label="identity (no amplification)")
for k, Lv in enumerate((5.0, 30.0, 73.0)):
    ax_a.plot(grid_p, amplify(grid_p, Lv), color=PALETTE[k], label=f"A(p), L = {Lv:g}")
ax_a.set_xlabel("network probability p")
ax_a.set_ylabel("amplified A(p)")
ax_a.set_title("the amplifying function")
ax_a.legend(fontsize=8)
for k, m in enumerate(HARD):
    ax_c.loglog(L_grid, conv_gap[m].clip(lower=1e-16), "o-", color=PALETTE[k], label=m)
ax_c.set_xlabel("L")
ax_c.set_ylabel("|soft metric − sklearn metric|")
ax_c.set_title("soft metrics → hard metrics as L grows")
ax_c.legend(fontsize=8)
fig.tight_layout()
savefig(fig, SLUG, "amplifier")
plt.show()
conv_gap.round(5)

# %% [markdown]
# ## Training: each AnyLoss variant against BCE and class-weighted BCE
#
# **Data.** *Data#1* is the paper's Sec. 3.3 synthetic set, generated exactly as in the official notebook
# (`make_classification(n_samples=10000, weights=[0.9, 0.1], class_sep=1.2, n_features=5,
# n_informative=3, n_redundant=1, n_clusters_per_class=1, random_state=0)`, then PCA to 2-d):
# 10.5 % positives. The bundled real set is scikit-learn's **breast cancer** (Wisconsin diagnostic,
# a UCI dataset): it is the one real dataset the official repository ships (`DATA/breast_cancer.csv`),
# it is tabular like the paper's 102, and it is mildly imbalanced (212 malignant of 569; we make
# malignant the positive class, as the official code makes the minority class 1). So Data#1 tests
# the imbalance claim and breast cancer checks that AnyLoss does not lose where BCE is already fine.
# Features are standardised with the training split's statistics (the official code uses the whole
# dataset's).
#
# **Arms.** BCE; class-weighted BCE (WBCE); AnyLoss-accuracy, -F1, -balanced accuracy, -G-mean at
# L = 73. Same network, initialisation (per seed), batches and budget; only the loss changes.
#
# **Shared code.** Every run is `mlcompanion.train.train_classifier` (shuffled batches, Adam) and is checked with
# `mlcompanion.train.evaluate_classifier` (top-1 accuracy of the two-column head, which must equal our
# accuracy). We do not use `mlcompanion.experiments.run_classifier_arms` because it scores top-k accuracy only
# and takes one train/test pair, while the paper scores F1 / BA / G-mean on per-split standardised data;
# the loop below only builds each split and scores the trained model.

# %%
class BinaryMLP(nn.Module):
    """The official MLP: Dense(hidden, he_normal) + BatchNorm + sigmoid + Dense(1). Returns the
    two-column scores [0, z] so that argmax = [sigmoid(z) > 0.5] (for evaluate_classifier)."""

    def __init__(self, d: int, hidden: int):
        super().__init__()
        self.hidden = nn.Linear(d, hidden)
        self.bn = nn.BatchNorm1d(hidden, eps=1e-3, momentum=0.01)  # Keras defaults (momentum 0.99)
        self.out = nn.Linear(hidden, 1)
        nn.init.kaiming_normal_(self.hidden.weight, nonlinearity="relu")  # he_normal (Keras truncates it)
        nn.init.zeros_(self.hidden.bias)
        nn.init.xavier_uniform_(self.out.weight)  # Keras glorot_uniform
        nn.init.zeros_(self.out.bias)

    def forward(self, x):
        z = self.out(torch.sigmoid(self.bn(self.hidden(x)))).squeeze(1)
        return torch.stack([torch.zeros_like(z), z], dim=1)


class BinaryLoss(nn.Module):
    """One arm's loss on the trainer's (scores, labels): z = score_1 − score_0, p = sigmoid(z)."""

    ANY = {"any_acc": "accuracy", "any_f1": "f1", "any_ba": "balanced_accuracy", "any_gmean": "gmean"}

    def __init__(self, arm: str, L: float):
        super().__init__()
        self.arm = arm
        self.anyloss = AnyLoss(self.ANY[arm], L=L) if arm in self.ANY else None

    def forward(self, scores, y):
        z = scores[:, 1] - scores[:, 0]
        if self.arm == "bce":
            return F.binary_cross_entropy_with_logits(z, y.to(z.dtype))
        if self.arm == "wbce":
            return weighted_bce(torch.sigmoid(z), y)
        return self.anyloss(torch.sigmoid(z), y)


ARM_NAMES = {"bce": "BCE", "wbce": "class-weighted BCE", "any_acc": "AnyLoss-accuracy", "any_f1": "AnyLoss-F1",
             "any_ba": "AnyLoss-BA", "any_gmean": "AnyLoss-G-mean"}
METRICS = ["accuracy", "F1", "BA", "G-mean"]
TARGET = {"any_acc": "accuracy", "any_f1": "F1", "any_ba": "BA", "any_gmean": "G-mean"}


def hard_metrics(y_true, y_pred) -> dict:
    return {"accuracy": accuracy_score(y_true, y_pred), "F1": f1_score(y_true, y_pred, zero_division=0.0),
            "BA": balanced_accuracy_score(y_true, y_pred), "G-mean": g_mean_score(y_true, y_pred)}


def splits_of(y: np.ndarray) -> list:
    """(seed, train_idx, test_idx): ci = one stratified 80/20 split per seed; paper = official 5-fold CV."""
    if P.profile == "paper":
        folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=2).split(np.zeros(len(y)), y)
        return [(P.seed + k, tr, te) for k, (tr, te) in enumerate(folds)]
    out = []
    for k in range(P.n_seeds):
        tr, te = train_test_split(np.arange(len(y)), test_size=0.2, stratify=y, random_state=P.seed + k)
        out.append((P.seed + k, np.sort(tr), np.sort(te)))
    return out


def run_losses(dataset: str, x: torch.Tensor, y: torch.Tensor, arms, lr: float, L: float, bar=None):
    """Train every arm on every split of one dataset; one row per (arm, split), plus the loss curves."""
    rows, curves = [], {}
    for split, (s, tr, te) in enumerate(splits_of(y.numpy())):
        mu, sd = x[tr].mean(0), x[tr].std(0).clamp_min(1e-12)
        xs = (x - mu) / sd
        train_set, test_set = TensorDataset(xs[tr], y[tr]), TensorDataset(xs[te], y[te])
        batch = max(2, int(P.batch_fraction * len(tr)))
        cfg = TrainConfig(iterations=P.epochs * (len(tr) // batch), batch_size=batch, lr=lr, device=P.device,
                          progress=False)
        for arm in arms:
            make_deterministic(int(s))
            model = BinaryMLP(x.shape[1], P.hidden)
            result = train_classifier(model, BinaryLoss(arm, L), train_set, cfg, seed=int(s),
                                      desc=f"{dataset} {arm} split {split}")
            scores, labels = embed(model, test_set, device=P.device)
            row = hard_metrics(labels.numpy(), (scores[:, 1] > scores[:, 0]).long().numpy())
            top1 = evaluate_classifier(model, test_set, device=P.device)["top1"]
            assert abs(top1 - row["accuracy"]) < 1e-9, (top1, row["accuracy"])
            rows.append({"dataset": dataset, "arm": arm, "seed": int(s), "lr": lr, "L": L, **row,
                         "first_loss": float(np.mean(result.losses[:10])),
                         "last_loss": float(np.mean(result.losses[-10:])), "train_seconds": result.seconds})
            curves[(dataset, arm, int(s))] = np.asarray(result.losses)
            if bar is not None:
                bar.update(1)
    return pd.DataFrame(rows), curves


x_data1, y_data1 = anyloss_data1()
bc = load_breast_cancer()
x_bc = torch.tensor(bc.data, dtype=torch.float32)
y_bc = torch.tensor(1 - bc.target, dtype=torch.int64)  # sklearn codes malignant as 0: make it the positive 1
DATASETS = {"Data#1": (x_data1, y_data1), "breast cancer": (x_bc, y_bc)}
for name, (xd, yd) in DATASETS.items():
    print(f"{name:13s}: {len(yd)} samples, {xd.shape[1]} features, {yd.double().mean().item():.1%} positives")

# %%
n_splits = 5 if P.profile == "paper" else P.n_seeds
lr_arms = [a for a in ("bce", "any_f1", "any_ba") if a in P.arms]
n_runs = n_splits * (len(DATASETS) * len(P.arms) + len(P.L_sweep) * ("any_f1" in P.arms)
                     + len(P.extra_lrs) * len(lr_arms))
parts, curves = [], {}
with tqdm(total=n_runs, desc="training runs", mininterval=2.0, ascii=True) as bar:
    for name, (xd, yd) in DATASETS.items():
        df, c = run_losses(name, xd, yd, P.arms, P.lr, P.L, bar)
        parts.append(df.assign(study="main"))
        curves.update(c)
    if "any_f1" in P.arms:  # F1 against L (paper Sec. 3.4), Data#1
        for Lv in P.L_sweep:
            df, _ = run_losses("Data#1", x_data1, y_data1, ["any_f1"], P.lr, Lv, bar)
            parts.append(df.assign(study="L sweep"))
    for lr_v in P.extra_lrs:  # the learning-rate check, Data#1
        df, _ = run_losses("Data#1", x_data1, y_data1, lr_arms, lr_v, P.L, bar)
        parts.append(df.assign(study="lr check"))
runs_all = pd.concat(parts, ignore_index=True)
main_runs = runs_all[runs_all.study == "main"]

# %% [markdown]
# ## Results
# Test-split metrics at threshold 0.5, mean ± std over the splits (%). The cell each AnyLoss variant
# targets is the one to read in its row.

# %%
tables = {}
for name in DATASETS:
    summary = summarize_runs(main_runs[main_runs.dataset == name], METRICS)
    table = format_mean_std(summary)
    table.index = [ARM_NAMES[a] for a in table.index]
    tables[name] = table
results_table = pd.concat(tables, names=["dataset", "loss"])
results_table


# %%
def targeted_gaps(runs: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """For each AnyLoss arm: its targeted metric, and the gap to BCE / WBCE on that metric."""
    d = runs[runs.dataset == dataset]
    rows = {}
    for arm, metric in TARGET.items():
        if arm not in set(d.arm):
            continue
        row = {"metric": metric, "AnyLoss": d[d.arm == arm][metric].mean()}
        for base in ("bce", "wbce"):
            if base in set(d.arm):
                c = compare_arms(d, arm, base, metric)
                row[f"{ARM_NAMES[base]}"] = d[d.arm == base][metric].mean()
                row[f"gap vs {base}"] = c["gap"]
                row[f"wins vs {base}"] = f"{c['wins']}/{c['seeds']}"
                row[f"clear vs {base}"] = c["gap"] > c["spread"] and c["wins"] == c["seeds"]
        rows[(dataset, ARM_NAMES[arm])] = row
    return pd.DataFrame(rows).T


gap_table = pd.concat([targeted_gaps(main_runs, name) for name in DATASETS])
gap_table

# %%
fig, axes = plt.subplots(1, len(DATASETS) + 1, figsize=(15, 3.9))
arm_order = [a for a in ALL_ARMS if a in P.arms]
width = 0.8 / len(arm_order)
for ax, name in zip(axes, DATASETS):
    d = main_runs[main_runs.dataset == name]
    for k, arm in enumerate(arm_order):
        mean = [d[d.arm == arm][m].mean() for m in METRICS]
        std = [d[d.arm == arm][m].std(ddof=1) if P.n_seeds > 1 else 0.0 for m in METRICS]
        ax.bar(np.arange(len(METRICS)) + k * width, mean, width, yerr=std, capsize=2, color=PALETTE[k],
               label=ARM_NAMES[arm])
    ax.set_xticks(np.arange(len(METRICS)) + 0.4 - width / 2, METRICS)
    ax.set_ylim(0, 1)
    ax.set_ylabel("test score (threshold 0.5)")
    ax.set_title(f"{name}: mean ± std over {n_splits} splits")
axes[0].legend(fontsize=7, loc="lower left")
ax = axes[-1]
for k, arm in enumerate(arm_order):
    losses = np.mean([curves[("Data#1", arm, s)] for s in sorted(set(main_runs.seed))], axis=0)
    per_epoch = losses[: len(losses) // P.epochs * P.epochs].reshape(P.epochs, -1).mean(1)
    ax.plot(np.arange(1, P.epochs + 1), per_epoch / per_epoch[0], color=PALETTE[k], label=ARM_NAMES[arm])
ax.set_xlabel("epoch")
ax.set_ylabel("training loss / first-epoch loss")
ax.set_title("Data#1 learning curves (mean over splits)")
fig.tight_layout()
savefig(fig, SLUG, "comparison")
plt.show()

# %% [markdown]
# ### F1 as a function of L (paper Sec. 3.4), and the learning rate
# AnyLoss-F1 on Data#1 at several L (L = 73 is the main run). Then the key arms rerun at the other
# learning rate(s): the original "valid L" notebook trains with Adam 1e-3, the 102-dataset notebook
# with 1e-2.

# %%
sweep = pd.concat([runs_all[runs_all.study == "L sweep"],
                   main_runs[(main_runs.dataset == "Data#1") & (main_runs.arm == "any_f1")]])
L_curve = sweep.groupby("L")["F1"].agg(["mean", "std"]).fillna(0.0).sort_index()
lr_runs = pd.concat([main_runs[(main_runs.dataset == "Data#1") & main_runs.arm.isin(lr_arms)],
                     runs_all[runs_all.study == "lr check"]])
lr_table = lr_runs.groupby(["lr", "arm"], sort=False)[["F1", "BA"]].mean().unstack("lr")
lr_table.index = [ARM_NAMES[a] for a in lr_table.index]

fig, (ax_l, ax_r) = plt.subplots(1, 2, figsize=(11, 3.6))
ax_l.errorbar(L_curve.index, L_curve["mean"], yerr=L_curve["std"], fmt="o-", capsize=3, color=PALETTE[0],
              label="AnyLoss-F1")
bce_f1 = main_runs[(main_runs.dataset == "Data#1") & (main_runs.arm == "bce")]["F1"]
if len(bce_f1):
    ax_l.axhline(bce_f1.mean(), ls="--", color=PALETTE[1], label="BCE")
ax_l.set_xscale("log")
ax_l.set_xlabel("L (log scale)")
ax_l.set_ylabel("test F1 on Data#1")
ax_l.set_title(f"F1 vs L (lr {P.lr:g}), mean ± std")
ax_l.legend()
lrs = sorted(set(lr_runs.lr))
for k, arm in enumerate(lr_arms):
    vals = [lr_runs[(lr_runs.arm == arm) & (lr_runs.lr == v)]["F1"].mean() for v in lrs]
    ax_r.plot(lrs, vals, "o-", color=PALETTE[k], label=ARM_NAMES[arm])
ax_r.set_xscale("log")
ax_r.set_xlabel("Adam learning rate (log scale)")
ax_r.set_ylabel("test F1 on Data#1")
ax_r.set_title("the comparison depends on the learning rate")
ax_r.legend(fontsize=8)
fig.tight_layout()
savefig(fig, SLUG, "l_and_lr")
plt.show()
print("F1 of AnyLoss-F1 on Data#1 by L:\n"
      + pd.concat([L_curve, sweep.pivot_table(index="L", columns="seed", values="F1").add_prefix("seed ")], axis=1)
      .round(3).to_string())
lr_table.round(3)

# %% [markdown]
# **Reading the results (ci run).** Three things stand out.
# - *The learning rate decides the headline.* With Adam 1e-3, the rate of the original "valid L"
#   notebook, BCE has not left the all-negative classifier after 50 epochs on Data#1 (F1 0), so
#   AnyLoss-F1 "wins" by about 0.6 F1; the baseline is under-trained, not beaten. With Adam 1e-2 (the
#   official 102-dataset rate) BCE trains and AnyLoss-F1 only ties it on F1.
# - *What does carry over* is the imbalance effect on the class-balanced metrics: AnyLoss-BA and
#   AnyLoss-G-mean beat plain BCE on BA / G-mean on Data#1 on every seed, by 7-9 points. But the cheap
#   baseline that also targets balance, class-weighted BCE, is better still on both, so on this data
#   the gain comes from re-weighting the classes, which WBCE does more reliably.
# - *AnyLoss-accuracy collapses* to the all-negative classifier on Data#1 (accuracy 0.895 = the
#   negative rate, F1 0) on every seed. This is consistent with the amplifier's gradient
#   $L\hat y(1-\hat y)$ vanishing once the positives sit more than about $5/L$ below 0.5: the majority
#   solution is a flat, stable point of $1 - \text{soft accuracy}$ at L = 73.
#
# F1 against L rises from L = 1 to L = 16 and then, at L = 30 and 73, *falls and scatters*: some
# seeds end as well as at L = 16, others far lower (per-seed table above). The paper reports a plateau
# for large L; here the large-L runs are less reliable, consistent with a steeper amplifier leaving
# fewer samples (those within about $5/L$ of 0.5) with a non-vanishing gradient. On breast cancer (37 % positives) every loss lands within about 1 point of the others, as
# expected when BCE is already adequate.

# %% [markdown]
# ### The paper's 102 tabular datasets (`paper` profile only)
# Per dataset, each arm's targeted metric is averaged over the 5 folds; we count on how many datasets
# each AnyLoss variant beats BCE and WBCE and give a two-sided sign test (the paper uses Bayesian sign
# tests, `baycomp`, which is not installed here). In `ci` this cell only says it was skipped.

# %%
tabular_summary = None
if TAB_IDS:
    tab_parts = []
    with tqdm(total=len(TAB_IDS) * 5 * len(P.arms), desc="102 datasets", mininterval=5.0, ascii=True) as bar:
        for i, data in iter_tabular_datasets(P.data_root, TAB_IDS):
            df, _ = run_losses(data.name, data.x, data.y, P.arms, P.lr, P.L, bar)
            tab_parts.append(df)
    tab_runs = pd.concat(tab_parts, ignore_index=True)
    per_dataset = tab_runs.groupby(["dataset", "arm"])[METRICS].mean()
    rows = {}
    for arm, metric in TARGET.items():
        if arm not in P.arms:
            continue
        for base in ("bce", "wbce"):
            if base not in P.arms:
                continue
            diff = (per_dataset.xs(arm, level="arm")[metric] - per_dataset.xs(base, level="arm")[metric])
            wins, losses = int((diff > 0).sum()), int((diff < 0).sum())
            p_value = binomtest(wins, wins + losses).pvalue if wins + losses else 1.0
            rows[(ARM_NAMES[arm], ARM_NAMES[base])] = {"metric": metric, "wins": wins, "ties": int((diff == 0).sum()),
                                                       "losses": losses, "mean gap": diff.mean(), "sign-test p": p_value}
    tabular_summary = pd.DataFrame(rows).T
    display(tabular_summary)
else:
    print("102 tabular datasets: skipped in the ci profile (run the paper profile with data_root).")

# %% [markdown]
# ## Paper vs ours
# The brief lists the paper's per-dataset numbers, the Sec. 3.3 learning-curve values, the Sec. 3.4
# F1-vs-L values and the sign-test outcomes as **not verified** (they were not transcribed from the PDF
# or matched to the official `Result/*.csv`), so none is printed as the paper's: the column says
# "not retrieved". What the paper states in words is the direction: AnyLoss beats MSE/BCE/WBCE on the
# targeted metric, most clearly on imbalanced data, and F1 stays flat over a wide range of L.

# %%
paper_vs_ours = pd.DataFrame(
    [{"quantity": f"{name}: {ARM_NAMES[a]} {TARGET[a]}", "paper (source)": "not retrieved (Sec. 4-5 tables)",
      "ours": f"{main_runs[(main_runs.dataset == name) & (main_runs.arm == a)][TARGET[a]].mean():.3f}",
      "ours, BCE": f"{main_runs[(main_runs.dataset == name) & (main_runs.arm == 'bce')][TARGET[a]].mean():.3f}"
      if "bce" in P.arms else "–"}
     for name in DATASETS for a in TARGET if a in P.arms]
    + [{"quantity": "Data#1: F1 of AnyLoss-F1, L = 1 → 73", "paper (source)": "not retrieved (Sec. 3.4 figure)",
        "ours": " → ".join(f"{v:.3f}" for v in L_curve["mean"]), "ours, BCE": "–"}]
).set_index("quantity")
paper_vs_ours

# %% [markdown]
# ## Claim check

# %%
assert np.isfinite(runs_all[METRICS].to_numpy()).all()
assert ((runs_all[METRICS] >= 0) & (runs_all[METRICS] <= 1)).all().all()
assert np.isfinite(runs_all[["first_loss", "last_loss"]].to_numpy()).all()
if P.epochs >= 10:  # shorter smoke runs cannot be judged on this
    for r in runs_all.itertuples():
        assert r.last_loss < r.first_loss, f"{r.dataset} {r.arm} seed {r.seed} did not train: {r.first_loss:.3f} -> {r.last_loss:.3f}"

d1 = main_runs[main_runs.dataset == "Data#1"]
have = set(P.arms)
c_f1 = compare_arms(d1, "any_f1", "bce", "F1") if {"any_f1", "bce"} <= have else None
c_ba = compare_arms(d1, "any_ba", "bce", "BA") if {"any_ba", "bce"} <= have else None
f1_claim = c_f1 is not None and c_f1["gap"] >= 0.02
ba_claim = c_ba is not None and c_ba["gap"] >= 0.0
# F1 flat in L once L >= 10 (spread of the means <= 0.02) and poor at L ~ 1 (>= 0.05 below L = 73)
large_L = L_curve[L_curve.index >= 10]["mean"]
small_L = L_curve[L_curve.index <= 1.5]["mean"]
flat_ok = len(large_L) >= 2 and float(large_L.max() - large_L.min()) <= 0.02
poor_at_1 = len(small_L) > 0 and P.L in L_curve.index and float(small_L.iloc[0]) <= float(L_curve.loc[P.L, "mean"]) - 0.05
n_pairs = len(gap_table)
n_beat_bce = int((gap_table["gap vs bce"] > 0).sum()) if "gap vs bce" in gap_table else 0
n_clear_bce = int(gap_table["clear vs bce"].sum()) if "clear vs bce" in gap_table else 0
n_beat_wbce = int((gap_table["gap vs wbce"] > 0).sum()) if "gap vs wbce" in gap_table else 0

if c_f1 is not None:
    print(f"Data#1, AnyLoss-F1 vs BCE on F1: gap {c_f1['gap']:+.3f} (seed std {c_f1['spread']:.3f}, wins "
          f"{c_f1['wins']}/{c_f1['seeds']}); the criterion fixed before the run (>= +0.02) {'holds' if f1_claim else 'fails'}")
if c_ba is not None:
    print(f"Data#1, AnyLoss-BA vs BCE on BA: gap {c_ba['gap']:+.3f} (seed std {c_ba['spread']:.3f}, wins "
          f"{c_ba['wins']}/{c_ba['seeds']}); the criterion fixed before the run (>= 0) {'holds' if ba_claim else 'fails'}")
print(f"AnyLoss variants beating BCE on their targeted metric: {n_beat_bce}/{n_pairs} (clearly: {n_clear_bce}); "
      f"beating class-weighted BCE: {n_beat_wbce}/{n_pairs}")
print(f"F1 vs L: spread over L >= 10 = {float(large_L.max() - large_L.min()) if len(large_L) else float('nan'):.3f} "
      f"({'flat' if flat_ok else 'not flat'}); L = 1 {'is' if poor_at_1 else 'is not'} >= 0.05 below L = {P.L:g}")
for v in P.extra_lrs:
    at = lr_runs[(lr_runs.lr == v)]
    if {"any_f1", "bce"} <= set(at.arm):
        print(f"at lr {v:g}: AnyLoss-F1 vs BCE F1 gap {at[at.arm == 'any_f1'].F1.mean() - at[at.arm == 'bce'].F1.mean():+.3f}"
              f"; BCE F1 {at[at.arm == 'bce'].F1.mean():.3f}")

if f1_claim and ba_claim and flat_ok and n_beat_wbce >= n_pairs / 2:
    verdict = "reproduced"
elif f1_claim or ba_claim or n_beat_bce >= n_pairs / 2:
    verdict = "partly reproduced"
else:
    verdict = "not reproduced at this scale"
explanation = (
    f"On Data#1 (10% positives) AnyLoss-F1 {'beats' if f1_claim else 'does not beat'} BCE on F1 by 0.02 "
    f"({c_f1['gap']:+.3f}) and AnyLoss-BA {'matches or beats' if ba_claim else 'loses to'} BCE on BA ({c_ba['gap']:+.3f}); "
    f"over both datasets {n_beat_bce}/{n_pairs} AnyLoss variants beat BCE and {n_beat_wbce}/{n_pairs} beat class-weighted "
    f"BCE on the metric they target (lr {P.lr:g}); F1 is {'flat' if flat_ok else 'not flat'} for L >= 10."
    if c_f1 is not None and c_ba is not None else "the arms needed for the claim (bce, any_f1, any_ba) were not all run."
)
print(f"verdict: {verdict}. {explanation}")

# %%
ours = {f"{name} {ARM_NAMES[a]} {TARGET[a]}": float(main_runs[(main_runs.dataset == name) & (main_runs.arm == a)][TARGET[a]].mean())
        for name in DATASETS for a in TARGET if a in P.arms}
ours.update({f"{name} BCE {m}": float(main_runs[(main_runs.dataset == name) & (main_runs.arm == "bce")][m].mean())
             for name in DATASETS for m in METRICS if "bce" in P.arms})
result_file = write_result(
    SLUG,
    title="AnyLoss: Transforming Classification Metrics into Loss Functions (arXiv 2024)",
    claim="1 − (soft metric of an amplified confusion matrix) trains a classifier that scores better on the targeted "
          "metric (F1, BA, G-mean, accuracy) than BCE / weighted BCE, above all on imbalanced data.",
    verdict=verdict,
    explanation=explanation,
    ours=ours,
    paper={"per-dataset scores": "not retrieved (unverified)"},
    profile=P.profile,
)

# %%
# NBVAL_CHECK_OUTPUT
print("toy soft confusion (L=None): " + ", ".join(f"{k} {toy_table.loc['L = None (ŷ = p)', k]:.3f}"
                                                 for k in ("TP", "FN", "FP", "TN", "f1", "balanced_accuracy")))
print(f"soft-vs-sklearn gap at L=1000: {conv_gap.loc[1000.0].max():.3f}")
for name in DATASETS:
    d = main_runs[main_runs.dataset == name]
    for arm in P.arms:
        r = d[d.arm == arm]
        print(f"{name:13s} {ARM_NAMES[arm]:18s} " + "  ".join(f"{m} {r[m].mean():.3f}±{r[m].std(ddof=1):.3f}"
                                                             for m in METRICS))
print("F1 vs L: " + ", ".join(f"L={Lv:g} {v:.3f}" for Lv, v in L_curve["mean"].items()))
print(f"verdict: {verdict}")
