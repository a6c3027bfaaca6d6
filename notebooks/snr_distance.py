# %% [markdown]
# # Signal-to-Noise Ratio: A Robust Distance Metric for Deep Metric Learning
#
# Yuan, Deng, Tang, Tang & Chen, **CVPR 2019**, [arXiv:1904.02616](https://arxiv.org/abs/1904.02616).
# No official code was found; the public implementations we compare with are pytorch-metric-learning
# (`SNRDistance`, `SignalToNoiseRatioContrastiveLoss`, `ZeroMeanRegularizer`) and Revisiting-DML
# (`criteria/snr.py`).
#
# **Claim tested here.** Replacing the Euclidean distance by the SNR distance
# $d_S(h_i, h_j) = \mathrm{var}(h_j - h_i) / \mathrm{var}(h_i)$ inside standard structured losses
# (contrastive, triplet, lifted structure, N-pair: "DSML") improves zero-shot retrieval (Recall@K)
# and clustering (NMI) on CUB-200-2011 and Cars-196, because it jointly shrinks intra-class and
# enlarges inter-class distances (the per-loss Euclidean-vs-SNR tables and the distance-distribution
# figure of the paper).
#
# This notebook shows
# 1. **exactly, without training**: the algebra of $d_S$: it is the squared Euclidean distance of
#    mean-centred features divided by the anchor's centred squared norm, and for zero-mean vectors of
#    equal norm it is $2 - 2\cos$: proportional to the squared Euclidean distance;
# 2. **by training**, with criteria registered before any run: the triplet loss (and, opt-in, the
#    contrastive loss) with the Euclidean distance, the SNR distance (+ the zero-mean regulariser) and
#    the squared Euclidean distance (a control on the same scale as $d_S$). Margins and the
#    regulariser weight λ are chosen by a small sweep on a validation split of the *training* classes;
#    then every arm is trained to a plateau of its validation curve, 3 paired seeds, and tested on
#    unseen classes;
# 3. the verdict from the shared rule (`mlcompanion.verdict`), and why SNR wins or loses at this scale.
#
# | profile | data | hardware | cost |
# |---|---|---|---|
# | `ci` (default) | font glyphs rendered from matplotlib's fonts: 48 train + 16 validation classes, 64 unseen test classes | 1 CPU thread | about 4-5 CPU-minutes (8 or more short sweep runs, 9 runs to a plateau) |
# | `paper` | CUB-200-2011 (or Cars-196) from `data_root`: first half of the classes train (a fifth of them held out for validation), second half test | 1 GPU | about 10-20 min per run (estimate): 8 sweep runs of a third of the cap + 3 arms × 3 seeds |

# %% tags=["parameters"]
profile = "ci"
device = "cpu"
data_root = None
seed = 0
# Knobs: None means "the profile's value" (see PROFILES below).
iterations = None
n_seeds = None
losses = None
distances = None
triplet_margin = None
contrastive_neg_margin = None
reg_weight = None
snr_triplet_margin = None
sweep_iterations = None
eval_every = None
plateau_tol = None
min_iterations = None
embedding_dim = None
classes_per_batch = None
samples_per_class = None
lr = None
weight_decay = None
lr_milestones = None
dataset = None
resize = None
crop = None
backbone_weights = None
num_workers = None

# %% [markdown]
# ## Profiles
# `ci` trains a 3-layer CNN on 32×32 glyphs (a linear 64-d head on raw features; each distance
# normalises what it needs). `paper` follows the protocol the brief reconstructs (unverified: no
# official code): ImageNet ResNet-50 from a local weights file (the paper's GoogLeNet is not in `lib`,
# so the absolute numbers are not comparable), a linear 64-d head, batches of 16 classes × 5 images,
# Adam (lr 3e-5, weight decay 5e-4), up to 3,000 iterations (lr × 0.1 at 1,200 and 2,400), random
# resized crops of 227, first half of the classes for training and the second half for testing.
#
# Distances (knob `distances`): `euclidean` and `squared_euclidean` on L2-normalised features; `snr`
# is pytorch-metric-learning's convention (L2-normalise, then $d_S$) with the zero-mean regulariser
# λ·$L_r$ on the *raw* features. Opt-in variant: `snr_raw` ($d_S$ on raw features + λ·$L_r$,
# Revisiting-DML's form), tuned like `snr`.
#
# **Sweep (fair margins).** A margin on $d$ is not a margin on $d_S \approx d^2$ (see "Why" below),
# so each distance gets its own margin, chosen on the validation classes:
# - Euclidean arm: triplet margin in `triplet_margin` × {½, 1, 2} (contrastive: negative margin in
#   `contrastive_neg_margin` × {½, 1, 2});
# - SNR arm: triplet margin in `snr_triplet_margin` × {½, 1, 2} (contrastive: as Euclidean) at
#   λ = `reg_weight`, then λ in {0, `reg_weight`, 10 × `reg_weight`} at the chosen margin
#   (Revisiting-DML's λ = 0.005 is the centre; the paper's λ was not retrieved);
# - squared-Euclidean control: the SNR arm's margin, so that SNR vs the control isolates what $d_S$
#   adds beyond the square (centring, per-anchor scale).
#
# A winner at an edge of its grid extends the grid one step further (× 2 or ÷ 2 for margins, × 10 for
# λ; λ = 0 is the lower bound), twice at most. Sweep runs are short (`sweep_iterations`, one seed,
# scored by the mean validation MAP@R of their last two evaluations): they rank settings by how well
# they train early, which is what this budget allows. The chosen settings are then trained to a
# plateau: validation every `eval_every` iterations, stop once (after `min_iterations`, with at least
# 8 evaluations) the last quarter of the curve improved on the best value before it by no more than
# `plateau_tol`, cap `iterations`.

# %%
import sys
from pathlib import Path

sys.path.insert(0, str(Path.cwd().parent))  # the repository root, when run from notebooks/

from mlcompanion.profiles import resolve_profile

ALL_LOSSES = ("triplet", "contrastive")
ALL_DISTANCES = ("euclidean", "snr", "squared_euclidean", "snr_raw")
PROFILES = {
    "ci": dict(iterations=800, n_seeds=3, losses=["triplet"], distances=list(ALL_DISTANCES[:3]),
               triplet_margin=0.2, contrastive_neg_margin=1.0, reg_weight=0.005, snr_triplet_margin=0.4,
               sweep_iterations=120, eval_every=40, plateau_tol=0.005, min_iterations=200,
               embedding_dim=64, classes_per_batch=16, samples_per_class=4, lr=1e-3, weight_decay=0.0,
               lr_milestones=[], dataset="glyphs", resize=32, crop=32, backbone_weights="", num_workers=0),
    "paper": dict(iterations=3000, n_seeds=3, losses=list(ALL_LOSSES), distances=list(ALL_DISTANCES[:3]),
                  triplet_margin=0.2, contrastive_neg_margin=1.0, reg_weight=0.005, snr_triplet_margin=0.4,
                  sweep_iterations=1000, eval_every=200, plateau_tol=0.005, min_iterations=1200,
                  embedding_dim=64, classes_per_batch=16, samples_per_class=5, lr=3e-5, weight_decay=5e-4,
                  lr_milestones=[1200, 2400], dataset="cub200", resize=256, crop=227,
                  backbone_weights="~/.cache/torch/hub/checkpoints/resnet50-11ad3fa6.pth", num_workers=8),
}
# One run's wall time per profile as the profile table states it (upper end, hours) and its GPUs:
# `python -m mlcompanion.pipeline sweep` sets each job's time limit from it.
COSTS = {"ci": {"hours": 0.08, "gpus": 0}, "paper": {"hours": 4, "gpus": 1}}
P = resolve_profile(
    PROFILES, profile, device=device, data_root=data_root, seed=seed, namespace=globals(),
    iterations=iterations, n_seeds=n_seeds, losses=losses, distances=distances, triplet_margin=triplet_margin,
    contrastive_neg_margin=contrastive_neg_margin, reg_weight=reg_weight, snr_triplet_margin=snr_triplet_margin,
    sweep_iterations=sweep_iterations, eval_every=eval_every, plateau_tol=plateau_tol,
    min_iterations=min_iterations, embedding_dim=embedding_dim, classes_per_batch=classes_per_batch,
    samples_per_class=samples_per_class, lr=lr, weight_decay=weight_decay, lr_milestones=lr_milestones,
    dataset=dataset, resize=resize, crop=crop, backbone_weights=backbone_weights, num_workers=num_workers,
)
for knob, allowed in (("losses", ALL_LOSSES), ("distances", ALL_DISTANCES)):
    chosen = getattr(P, knob)
    if not chosen or sorted(set(chosen) - set(allowed)):
        raise ValueError(f"{knob} must be a non-empty subset of {allowed}, got {chosen}")
if "euclidean" not in P.distances or "snr" not in P.distances:
    raise ValueError(f"distances must contain 'euclidean' and 'snr' (the comparison), got {P.distances}")
if not 1 <= P.sweep_iterations <= P.iterations or P.eval_every < 1:
    raise ValueError(f"need 1 <= sweep_iterations <= iterations and eval_every >= 1, got {P.sweep_iterations}, "
                     f"{P.iterations}, {P.eval_every}")
if P.profile == "ci" and P.dataset != "glyphs":
    raise ValueError(f"the ci profile trains on dataset='glyphs', got {P.dataset!r}")
if P.profile == "paper":
    from mlcompanion.setups import check_paper_inputs

    if P.dataset not in ("cub200", "cars196"):
        raise ValueError(f"the paper profile's dataset must be 'cub200' or 'cars196', got {P.dataset!r}")
    check_paper_inputs(P, P.dataset)  # stops here, naming the dataset layout or weights file, if absent

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from IPython.display import Markdown, display
from sklearn.metrics import roc_auc_score

from mlcompanion.distances import EuclideanDistance, SquaredEuclideanDistance
from mlcompanion.distances.snr import SNRDistance, snr_distance
from mlcompanion.experiments import format_mean_std, run_arms, summarize_runs
from mlcompanion.gallery import paper_row, write_result
from mlcompanion.losses import ContrastiveLoss, TripletMarginLoss
from mlcompanion.losses.regularizers import ZeroMeanRegularizedLoss, zero_mean_penalty
from mlcompanion.metrics.retrieval import nmi, retrieval_metrics
from mlcompanion.plotting import PALETTE, arm_colors, savefig, use_style
from mlcompanion.repro import make_deterministic
from mlcompanion.setups import retrieval_setup
from mlcompanion.train import TrainConfig, embed
from mlcompanion.verdict import Criterion, arm_convergence, convergence_table, register_criteria

SLUG = "snr_distance"
make_deterministic(P.seed)
use_style()
pd.set_option("display.precision", 3)

# %% [markdown]
# ## Method
#
# **SNR distance (Sec. 3, eq. 1-3).** The anchor feature $h_i \in \mathbb R^M$ is the *signal*, the
# difference $n_{ij} = h_j - h_i$ the *noise*, $\mathrm{var}(a) = \frac1M\sum_m (a_m - \bar a)^2$:
# $$\mathrm{SNR}_{ij} = \frac{\mathrm{var}(h_i)}{\mathrm{var}(h_j - h_i)}, \qquad
#   d_S(h_i, h_j) = \frac{1}{\mathrm{SNR}_{ij}} = \frac{\mathrm{var}(h_j - h_i)}{\mathrm{var}(h_i)} .$$
# `mlcompanion.distances.snr.SNRDistance(normalize=False)`: `D[i, j]` $= d_S(x_i, y_j)$, **rows are anchors**
# (in a loss row $i$ is anchor $i$; in retrieval the query is the anchor). `snr_distance(anchor, other)`
# computes it row-wise from the variances literally.
#
# **Exact reformulation (derived).** With the centring projector $P = I - \frac1M \mathbf 1 \mathbf 1^\top$,
# $M\,\mathrm{var}(a) = \lVert P a\rVert^2$, so
# $$d_S(h_i, h_j) = \frac{\lVert P h_j - P h_i\rVert^2}{\lVert P h_i\rVert^2}$$
# (the $1/M$ vs $1/(M-1)$ variance convention cancels). Hence $d_S$ is invariant to adding a constant to
# all coordinates of either vector and to a common rescaling, and it is asymmetric: only the anchor's
# norm appears. If both vectors are **zero-mean** ($Ph = h$) and have the **same norm** $r$,
# $$d_S(h_i, h_j) = \frac{\lVert h_i\rVert^2 + \lVert h_j\rVert^2 - 2 h_i^\top h_j}{r^2}
#   = 2 - 2\cos(h_i, h_j) = \frac{\lVert h_i - h_j\rVert^2}{r^2}:$$
# on zero-mean unit vectors the SNR distance *is* the squared Euclidean distance.
# Two consequences: ranking a gallery by $d_S(q, \cdot)$ is ranking by squared Euclidean distance of the
# centred features (the denominator is constant along the query's row); and an SNR triplet on anchor $a$
# is a squared-Euclidean triplet on centred features with its margin scaled by $\lVert P h_a\rVert^2$.
#
# **Zero-mean regulariser (DSML, Sec. 4).** $L = L_{\text{metric}}(d_S) + \lambda L_r$ with
# $L_r = \frac1N\sum_i \lvert\sum_m h_{im}\rvert$ on the raw embeddings:
# `mlcompanion.losses.regularizers.ZeroMeanRegularizedLoss(loss, weight=λ)` (`zero_mean_penalty` alone). It drives
# the features towards the zero-mean regime above.
#
# **Losses** (`mlcompanion.losses`, any distance through `distance=`): triplet
# $[d(a,p) - d(a,n) + m]_+$ over all triplets of the batch, mean over the non-zero ones
# (`TripletMarginLoss(margin, distance=...)`); contrastive $[d_{ij}]_+$ on positives and
# $[m_- - d_{ij}]_+$ on negatives, each averaged over its non-zero terms (`ContrastiveLoss(0, m_-,
# distance=...)`, pytorch-metric-learning's `SignalToNoiseRatioContrastiveLoss` with the SNR distance).
#
# ### A worked example
# The brief's hand vectors: $h_0 = (1,2,3)$, $h_1 = 2h_0$ gives $d_S(h_0,h_1) = 1$ but $d_S(h_1,h_0) = 1/4$;
# $h_2 = (1,3,2)$ is at SNR distance 1 from $h_0$ in both directions.

# %%
toy = torch.tensor([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 3.0, 2.0]], dtype=torch.float64)
toy_d = SNRDistance()(toy)
print("SNR distance matrix (row = anchor):\n", pd.DataFrame(toy_d.numpy()).round(3).to_string())
toy_labels = torch.tensor([0, 0, 1])
toy_loss = ZeroMeanRegularizedLoss(TripletMarginLoss(margin=0.2, distance=SNRDistance()), weight=0.005)
print(f"zero-mean penalty L_r = {zero_mean_penalty(toy).item():.3f} (= (6 + 12 + 6) / 3)")
print(f"SNR triplet + 0.005 L_r on labels {toy_labels.tolist()}: {toy_loss(toy, toy_labels).item():.4f}")

# %% [markdown]
# ## Part A: SNR vs Euclidean, exactly (no training)
# 2,000 random pairs of 64-d vectors in three regimes: raw Gaussian vectors with an offset (mean ≠ 0,
# varying norms), L2-normalised but not centred, and zero-mean unit vectors. In the last regime the
# points must lie exactly on the line $d_S = \lVert a - b\rVert^2 = 2 - 2\cos$.

# %%
gen = torch.Generator().manual_seed(P.seed)
M = 64
a_raw = torch.randn(2000, M, generator=gen, dtype=torch.float64) * torch.rand(2000, 1, generator=gen, dtype=torch.float64).add(0.5) + 0.3
b_raw = torch.randn(2000, M, generator=gen, dtype=torch.float64) * torch.rand(2000, 1, generator=gen, dtype=torch.float64).add(0.5) + 0.3
a_raw[:1000] = b_raw[:1000] + 0.6 * a_raw[:1000]  # half the pairs close, so the axis is covered
regimes = {
    "raw (mean 0.3, norms vary)": (a_raw, b_raw),
    "unit norm, not centred": (F.normalize(a_raw, dim=1), F.normalize(b_raw, dim=1)),
    "zero-mean, unit norm": (F.normalize(a_raw - a_raw.mean(1, keepdim=True), dim=1),
                             F.normalize(b_raw - b_raw.mean(1, keepdim=True), dim=1)),
}
exact = {}
fig, axes = plt.subplots(1, 3, figsize=(8.6, 3.6), layout="constrained")
for ax, (name, (a, b)) in zip(axes, regimes.items()):
    d_snr = snr_distance(a, b)
    sq = ((a - b) ** 2).sum(1)
    cos = F.cosine_similarity(a, b, dim=1)
    pa, pb = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    exact[name] = {
        "max |d_S - ||PΔ||²/||Pa||²|": float((d_snr - ((pb - pa) ** 2).sum(1) / (pa ** 2).sum(1)).abs().max()),
        "max |d_S - (2 - 2cos)|": float((d_snr - (2 - 2 * cos)).abs().max()),
        "max |d_S - ||a-b||²|": float((d_snr - sq).abs().max()),
    }
    ax.scatter((2 - 2 * cos).numpy(), d_snr.numpy(), s=3, alpha=0.4, color=PALETTE[0], label="pairs")
    lim = float(max((2 - 2 * cos).max(), d_snr.max()))
    ax.plot([0, lim], [0, lim], "--", color=PALETTE[1], label="d_S = 2 - 2cos")
    ax.set_xlabel("2 - 2 cos(a, b)")
    ax.set_title(name.replace(" (", "\n("))
axes[0].set_ylabel("SNR distance d_S(a, b)")
fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=2, markerscale=3)
fig.suptitle("SNR distance vs 2 - 2cos: exact on zero-mean unit vectors")
savefig(fig, SLUG, "snr_vs_euclid_exact", caption=(
    "SNR distance d_S(a, b) (vertical axis) against 2 - 2 cos(a, b) (horizontal axis; equal to the squared "
    "Euclidean distance for unit vectors) for 2,000 random pairs of 64-d vectors, one panel per regime: raw "
    "vectors with mean 0.3 and varying norms, unit-norm but not centred, and zero-mean unit-norm. Each dot is "
    "one pair; the dashed line is d_S = 2 - 2cos, on which every pair must lie in the zero-mean unit-norm "
    "regime."))
plt.show()
pd.DataFrame(exact).T.map(lambda v: f"{v:.1e}")

# %% [markdown]
# How to read it: the first column of the table must be at rounding level in every regime (the
# reformulation is exact); the second only for zero-mean unit vectors. For unit but un-centred vectors
# the gap is governed by $\lVert Pa\rVert^2 = 1 - M\bar a^2$ (derived): the closer the trained features'
# $\lVert P\hat h\rVert^2$ is to 1, the closer an "SNR" loss on them is to a squared-Euclidean loss. That
# quantity is measured on the trained models below.

# %% [markdown]
# ## Criteria (registered before any training)
# Per loss, on unseen test classes, paired by seed (same initialisation and batches in every arm),
# retrieval with each model's own training distance:
# - **headline**: R@1 with the SNR distance above R@1 with the Euclidean distance, by more than 1 point
#   (the per-loss tables of the paper);
# - **secondary**: NMI (k-means on the test features) SNR above Euclidean, by more than 1 point (the
#   paper reports R@K and NMI);
# - **exploratory** (our control, not the paper's claim; shown, never in the verdict): SNR above the
#   squared-Euclidean control at the same margin, i.e. what $d_S$ adds beyond squaring the distance.
#
# "Holds" / "contradicted" follow the shared rule: 3 seeds or more, every seed on the same side, the
# mean difference above the minimum effect and above twice its standard error; an arm that did not
# reach a plateau makes its comparisons "unconverged".

# %%
MIN_EFFECT = 0.01
criteria_list = []
for loss_name in P.losses:
    criteria_list += [
        Criterion(f"{loss_name}_r1", f"{loss_name}: R@1 with SNR above R@1 with Euclidean", metric="R@1",
                  method=f"{loss_name}_snr", baseline=f"{loss_name}_euclidean", min_effect=MIN_EFFECT),
        Criterion(f"{loss_name}_nmi", f"{loss_name}: NMI with SNR above NMI with Euclidean", metric="nmi",
                  method=f"{loss_name}_snr", baseline=f"{loss_name}_euclidean", min_effect=MIN_EFFECT,
                  role="secondary"),
    ]
    if "squared_euclidean" in P.distances:
        criteria_list.append(Criterion(
            f"{loss_name}_r1_vs_squared", f"{loss_name}: R@1 with SNR above the squared-Euclidean control",
            metric="R@1", method=f"{loss_name}_snr", baseline=f"{loss_name}_squared_euclidean",
            min_effect=MIN_EFFECT, role="exploratory"))
criteria = register_criteria(criteria_list)
criteria.registered_table()

# %% [markdown]
# ## Part B: zero-shot retrieval, Euclidean vs SNR inside the same losses
# Train on the training classes, validate on held-out *training* classes, retrieve among **unseen**
# classes. Every arm uses the same network, initialisation (per seed) and batches (16 classes × 4 in
# `ci`); only the distance inside the loss (and its tuned margin / λ) changes. The network outputs raw
# 64-d features; each distance normalises what it needs:
# - `euclidean`: $\lVert \hat h_i - \hat h_j\rVert$ on L2-normalised features (the paper's baseline);
# - `snr`: $d_S$ on L2-normalised features + λ·$L_r$ on the raw features (pytorch-metric-learning's
#   convention);
# - `squared_euclidean`: $\lVert \hat h_i - \hat h_j\rVert^2$ on L2-normalised features, the control on
#   the *same scale* as $d_S$ (Part A), with the SNR arm's margin.
#
# Triplet: all triplets of the batch, mean over the non-zero ones; contrastive: positive margin 0.
# Validation and test retrieval use each arm's training distance (SNR: row-wise $d_S$ with the query as
# anchor); the validation metric is MAP@R, the test metrics R@K, MAP@R and NMI (k-means with as many
# clusters as classes on the L2-normalised features); R@1 with the common cosine yardstick is also
# reported.

# %%
S = retrieval_setup(P, dataset=P.dataset)
print(S.description)


def make_model():
    model = S.make_model()
    model.normalize = False  # raw features: each distance normalises, the regulariser sees them raw
    return model


def make_distance(name):
    if name == "euclidean":
        return EuclideanDistance(normalize=True)
    if name == "squared_euclidean":
        return SquaredEuclideanDistance(normalize=True)
    return SNRDistance(normalize=name != "snr_raw")


def make_loss(loss_name, dist_name, margin, lam=0.0):
    dist = make_distance(dist_name)
    if loss_name == "triplet":
        loss = TripletMarginLoss(margin=margin, distance=dist)
    else:
        loss = ContrastiveLoss(pos_margin=0.0, neg_margin=margin, distance=dist)
    return ZeroMeanRegularizedLoss(loss, weight=lam) if dist_name.startswith("snr") and lam > 0 else loss


def validator(dist_name):
    """Validation MAP@R on the held-out training classes, ranked by the arm's training distance."""
    def validate(model):
        emb, lab = embed(model, S.val_set, device=P.device, num_workers=P.num_workers)
        return retrieval_metrics(emb, lab, ks=(1,), distance=make_distance(dist_name))["map_at_r"]
    return validate


def config(cap, stop_at_plateau=True):
    return TrainConfig(iterations=cap, classes_per_batch=P.classes_per_batch, samples_per_class=P.samples_per_class,
                       lr=P.lr, weight_decay=P.weight_decay, lr_milestones=tuple(P.lr_milestones), device=P.device,
                       num_workers=P.num_workers, eval_every=P.eval_every if stop_at_plateau else max(1, cap // 3),
                       plateau_tol=P.plateau_tol, min_iterations=P.min_iterations, stop_at_plateau=stop_at_plateau)

# %% [markdown]
# ### The sweep (validation classes only)

# %%
sweep_rows = []


def sweep_score(loss_name, dist_name, margin, lam):
    """One short run (first seed); the mean validation MAP@R of its last two evaluations. No test data."""
    key = (loss_name, dist_name, round(margin, 6), round(lam, 6))
    for row in sweep_rows:
        if row["key"] == key:
            return row["val MAP@R"]
    _, res = run_arms({"sweep": lambda: make_loss(loss_name, dist_name, margin, lam)}, make_model, S.train_set,
                      S.train_labels, None, config(P.sweep_iterations, stop_at_plateau=False), [P.seed],
                      evaluate=lambda model: {}, validate=validator(dist_name))
    result = res[("sweep", P.seed)]
    score = float(np.mean([v for _, v in result.curve[-2:]]))
    sweep_rows.append({"key": key, "loss": loss_name, "distance": dist_name, "margin": margin, "λ": lam,
                       "val MAP@R": score, "train_seconds": result.seconds, "iterations": result.iterations})
    return score


def grid_search(values, score, up, down, max_extend=2):
    """Best value of a grid; a winner at an edge extends the grid (up(v) / down(v), None = hard bound)."""
    scores = {v: score(v) for v in values}
    notes = []
    for _ in range(max_extend):
        best, ordered = max(scores, key=scores.get), sorted(scores)
        step = up(best) if best == ordered[-1] else down(best) if best == ordered[0] else None
        if step is None:
            if best in (ordered[0], ordered[-1]):
                notes.append(f"{best:g} at a bound of the grid that cannot be extended")
            break
        notes.append(f"{best:g} at the edge, grid extended to {step:g}")
        scores[step] = score(step)
    best, ordered = max(scores, key=scores.get), sorted(scores)
    edge = best in (ordered[0], ordered[-1]) and (up(best) if best == ordered[-1] else down(best)) is not None
    return best, notes, edge


def double(v):
    return 2 * v


def halve(v):
    return v / 2


def lam_up(v):
    return 10 * v if v > 0 else None


chosen, sweep_notes = {}, []
for loss_name in P.losses:
    centre_e = P.triplet_margin if loss_name == "triplet" else P.contrastive_neg_margin
    centre_s = P.snr_triplet_margin if loss_name == "triplet" else P.contrastive_neg_margin
    m_e, notes, edge = grid_search([centre_e / 2, centre_e, 2 * centre_e],
                                   lambda m: sweep_score(loss_name, "euclidean", m, 0.0), double, halve)
    chosen[(loss_name, "euclidean")] = (m_e, 0.0)
    sweep_notes += [f"{loss_name} euclidean margin: {n}" for n in notes] + \
        ([f"{loss_name} euclidean margin {m_e:g} still at the edge"] if edge else [])
    for dist_name in [d for d in P.distances if d.startswith("snr")]:
        m_s, notes, edge = grid_search([centre_s / 2, centre_s, 2 * centre_s],
                                       lambda m: sweep_score(loss_name, dist_name, m, P.reg_weight), double, halve)
        sweep_notes += [f"{loss_name} {dist_name} margin: {n}" for n in notes] + \
            ([f"{loss_name} {dist_name} margin {m_s:g} still at the edge"] if edge else [])
        lam, notes, edge = grid_search([0.0, P.reg_weight, 10 * P.reg_weight],
                                       lambda v: sweep_score(loss_name, dist_name, m_s, v), lam_up, lambda v: None)
        sweep_notes += [f"{loss_name} {dist_name} λ: {n}" for n in notes] + \
            ([f"{loss_name} {dist_name} λ {lam:g} still at the edge"] if edge else [])
        chosen[(loss_name, dist_name)] = (m_s, lam)
    if "squared_euclidean" in P.distances:
        chosen[(loss_name, "squared_euclidean")] = (chosen[(loss_name, "snr")][0], 0.0)

sweep_table = pd.DataFrame(sweep_rows).drop(columns=["key"])
display(sweep_table.drop(columns=["train_seconds"]).round(4))
display(Markdown(
    f"{len(sweep_rows)} sweep runs of {P.sweep_iterations} iterations (seed {P.seed}, validation classes only). "
    "Chosen: " + "; ".join(f"{l} {d}: margin {m:g}" + (f", λ {v:g}" if d.startswith("snr") else "")
                           for (l, d), (m, v) in chosen.items())
    + ". " + ("Grid edges: " + "; ".join(sweep_notes) + "." if sweep_notes else "No winner at a grid edge.")))

# %% tags=["timing"]
print(f"sweep training time: {sweep_table['train_seconds'].sum():.1f} s over {len(sweep_table)} runs")
sweep_table[["loss", "distance", "margin", "λ", "train_seconds"]].round(2)

# %% [markdown]
# ### The arms, trained to a plateau (3 paired seeds)

# %%
ARMS = {f"{l}_{d}": (l, d) for l in P.losses for d in ALL_DISTANCES if d in P.distances}
seeds = [P.seed + k for k in range(P.n_seeds)]
KS = (1, 2, 4, 8)


def test_metrics(dist_name, seed):
    def evaluate(model):
        emb, lab = embed(model, S.test_set, device=P.device, num_workers=P.num_workers)
        out = retrieval_metrics(emb, lab, ks=KS, distance=make_distance(dist_name))
        unit = F.normalize(emb, dim=1)
        out["nmi"] = nmi(unit, lab, seed=seed)
        out["R@1 (cosine)"] = retrieval_metrics(unit, lab, ks=(1,))["R@1"]
        out["centred energy"] = float(((unit - unit.mean(1, keepdim=True)) ** 2).sum(1).mean())  # ||P ĥ||²
        return out
    return evaluate


run_tables, train_results = [], {}
for arm, (loss_name, dist_name) in ARMS.items():
    margin, lam = chosen[(loss_name, dist_name)]
    for s in seeds:  # one call per seed: the evaluation's k-means is seeded with the run's seed
        table_s, res_s = run_arms({arm: lambda l=loss_name, d=dist_name, m=margin, v=lam: make_loss(l, d, m, v)},
                                  make_model, S.train_set, S.train_labels, None, config(P.iterations), [s],
                                  evaluate=test_metrics(dist_name, s), validate=validator(dist_name),
                                  keep_models=s == seeds[0])
        run_tables.append(table_s)
        train_results.update(res_s)
runs = pd.concat(run_tables, ignore_index=True)

# %% [markdown]
# ### Convergence
# Every arm's validation curve (MAP@R on the held-out training classes, its own training distance; thin:
# each seed, thick: mean over the seeds while all are still running). The table says, per run, how many
# iterations it ran, why it stopped and whether the last quarter of its curve still improved by more
# than `plateau_tol`.

# %%
conv = convergence_table(train_results, P.plateau_tol)
converged = arm_convergence(conv)
fig, ax = plt.subplots(figsize=(8, 3.6 + 0.22 * ((len(ARMS) + 1) // 2)), layout="constrained")
arm_color = arm_colors(len(ARMS))  # the paper profile has 12 arms, more than PALETTE's 8
for k, arm in enumerate(ARMS):
    curves = [train_results[(arm, s)].curve for s in seeds]
    for c in curves:
        ax.plot([p[0] for p in c], [p[1] for p in c], color=arm_color[k], lw=0.7, alpha=0.5)
    n = min(len(c) for c in curves)
    ax.plot([p[0] for p in curves[0][:n]], np.mean([[p[1] for p in c[:n]] for c in curves], axis=0),
            color=arm_color[k], lw=2.2, label=f"{arm} (margin {chosen[ARMS[arm]][0]:g})")
ax.set_xlabel("iteration")
ax.set_ylabel("validation MAP@R")
ax.set_title(f"validation curves, {len(seeds)} seeds per arm")
fig.legend(loc="outside lower center", ncol=2)
savefig(fig, SLUG, "validation_curves", caption=(
    "Validation MAP@R on the held-out training classes (each arm retrieving with its own training distance) "
    "against the training iteration. Thin lines: one per seed; thick line: the mean over the seeds while all "
    "are still running. Colours are the arms; the legend gives each arm's margin, chosen by the sweep."))
plt.show()
conv.round(4)

# %% [markdown]
# ## Results

# %%
METRICS = ["R@1", "R@2", "R@4", "R@8", "map_at_r", "nmi", "R@1 (cosine)"]
summary = summarize_runs(runs, METRICS + ["centred energy"])
table = format_mean_std(summary[[(k, m) for k in ("mean", "std") for m in METRICS]])
table.columns = ["R@1 (%)", "R@2 (%)", "R@4 (%)", "R@8 (%)", "MAP@R (%)", "NMI (%)", "R@1, cosine (%)"]
table

# %%
criteria.evaluate_runs(runs)
verdict = criteria.verdict(converged)
display(criteria.table(scale=100, digits=2))
display(Markdown("\n".join(f"- {criteria.sentence(c.name)}" for c in criteria)
                 + f"\n\n**Verdict ({P.profile} profile): {verdict}.**"))

# %% [markdown]
# **The paper's analysis figure: intra- vs inter-class distances.** For the first seed, test pairs'
# distances under each model's own training distance, divided by the median inter-class distance of that
# model (so the scales compare). "Jointly shrinks intra-class and enlarges inter-class distances" is a
# scale-free statement only through the overlap of the two histograms: the title gives the probability
# that an intra-class pair is closer than an inter-class pair (ROC AUC, 1 = perfect separation).

# %%
def separation(emb, lab, dist_name, per_class=8):
    """Intra/inter distances (÷ median inter) and ROC AUC on the first per_class test images of each class."""
    keep = torch.cat([torch.nonzero(lab == c).flatten()[:per_class] for c in lab.unique()])
    d = make_distance(dist_name)(emb[keep])
    same = lab[keep].unsqueeze(0) == lab[keep].unsqueeze(1)
    off = ~torch.eye(len(keep), dtype=torch.bool)
    intra, inter = d[same & off], d[~same]
    scale = inter.median()
    auc = roc_auc_score(np.r_[np.ones(len(intra)), np.zeros(len(inter))], -np.r_[intra.numpy(), inter.numpy()])
    return (intra / scale).numpy(), (inter / scale).numpy(), float(auc)


per_loss = len(ARMS) // len(P.losses)
fig, axes = plt.subplots(len(P.losses), per_loss, figsize=(8.6, 0.6 + 2.9 * len(P.losses)), squeeze=False,
                         layout="constrained")
for ax, arm in zip(axes.flat, ARMS):
    emb, lab = embed(train_results[(arm, seeds[0])].model, S.test_set, device=P.device, num_workers=P.num_workers)
    intra, inter, auc = separation(emb, lab, ARMS[arm][1])
    bins = np.linspace(0, max(np.quantile(inter, 0.995), np.quantile(intra, 0.995)), 60)
    ax.hist(inter, bins=bins, density=True, alpha=0.6, color=PALETTE[1], label="inter-class pairs")
    ax.hist(intra, bins=bins, density=True, alpha=0.6, color=PALETTE[0], label="intra-class pairs")
    ax.set_title(f"{arm}\nAUC {auc:.3f}")
    ax.set_xlabel("distance ÷ median inter")
for row in axes:
    row[0].set_ylabel("density")
fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside lower center", ncol=2)
fig.suptitle(f"test-set distances under each model's training distance (seed {seeds[0]})")
savefig(fig, SLUG, "distance_distributions", caption=(
    f"Histograms (density) of test-pair distances for the first seed's model of each arm, under that arm's "
    f"training distance and divided by the median inter-class distance: intra-class pairs in blue, "
    f"inter-class pairs in orange, the first 8 test images of each unseen class. Each panel's title gives "
    f"the ROC AUC of separating the two kinds of pair by distance (1 = perfect separation)."))
plt.show()

# %%
fig, ax = plt.subplots(figsize=(7, 1.4 + 0.5 * len(ARMS)))
arm_list = list(ARMS)
r1 = runs.groupby("arm", sort=False)["R@1"]
ax.barh(np.arange(len(arm_list)), 100 * r1.mean().loc[arm_list], xerr=100 * r1.std().loc[arm_list].fillna(0),
        capsize=3, color=[PALETTE[ALL_DISTANCES.index(ARMS[a][1])] for a in arm_list])
for k, arm in enumerate(arm_list):
    ax.scatter(100 * runs[runs.arm == arm]["R@1"], np.full(len(seeds), k), color="k", s=8, zorder=3)
ax.set_yticks(np.arange(len(arm_list)),
              [f"{ARMS[a][0]}, {ARMS[a][1].replace('squared_euclidean', 'sq. eucl.')}" for a in arm_list])
ax.invert_yaxis()
ax.set_xlim(max(0, 100 * float(runs["R@1"].min()) - 10), 100)
ax.set_xlabel("R@1 on unseen classes (%)")
ax.set_title(f"retrieval with the training distance, {len(seeds)} seeds (dots)")
fig.tight_layout()
savefig(fig, SLUG, "retrieval", caption=(
    "Test R@1 (%) on the unseen classes for each arm (loss, training distance), retrieving with the arm's "
    "own training distance. Bars: mean over the seeds, error bars: one standard deviation across seeds, "
    "black dots: the individual seeds; bar colour marks the distance."))
plt.show()

# %% [markdown]
# ## Why SNR wins or loses here (derived, then measured)
# 1. **Normalisation makes $d_S$ a squared Euclidean distance.** For L2-normalised features
#    $d_S(\hat h_i, \hat h_j) = \lVert P\hat h_j - P\hat h_i\rVert^2 / \lVert P\hat h_i\rVert^2$ and
#    $\lVert P\hat h\rVert^2 = 1 - M\bar h^2$. When the features are nearly zero-mean
#    ($\lVert P\hat h\rVert^2 \approx 1$, measured below), the SNR arm is a squared-Euclidean arm up to
#    that factor, and the zero-mean regulariser has little left to do.
# 2. **The margin is not on the distance's scale.** A gap $\delta$ in $d$ is a gap
#    $(d_{an} + d_{ap})\,\delta \approx 2\sqrt2\,\delta$ in $d^2$ for near-orthogonal unit vectors, so a
#    margin on $d_S \approx d^2$ means about a third of the same margin on $d$: hence the separate margin
#    sweeps, and the squared-Euclidean control sharing the SNR arm's margin.
# 3. **Retrieval.** With the query as anchor, ranking by $d_S$ is ranking by squared Euclidean distance of
#    centred features, so R@1 with $d_S$ and with cosine differ only through the centring.
#
# So a gap between the `snr` and `euclidean` arms that the `squared_euclidean` control reproduces is a
# property of $d$ vs $d^2$ (and of the margins), not of the signal-to-noise ratio.

# %%
energy = summary["mean"]["centred energy"]
r1_gap_cos = {arm: float(summary.loc[arm, ("mean", "R@1")] - summary.loc[arm, ("mean", "R@1 (cosine)")]) for arm in ARMS}
why_lines = [
    "Mean $\\lVert P\\hat h\\rVert^2$ of the unit test features (1 = exactly zero-mean): "
    + ", ".join(f"{arm} {energy.loc[arm]:.3f}" for arm in ARMS) + ".",
    "R@1 with the training distance minus R@1 with cosine: "
    + ", ".join(f"{arm} {100 * g:+.1f} points" for arm, g in r1_gap_cos.items()) + ".",
]
for (loss_name, dist_name), (margin, lam) in chosen.items():
    if dist_name == "snr":
        e = float(energy.loc[f"{loss_name}_snr"])
        why_lines.append(
            f"{loss_name}: the SNR arm was trained with λ = {lam:g}; its unit test features have "
            f"$\\lVert P\\hat h\\rVert^2$ = {e:.3f}, "
            + ("so they are nearly zero-mean and $d_S$ is close to the squared Euclidean distance there."
               if e > 0.95 else "far from zero-mean: $d_S$ is invariant to a shift of all coordinates, nothing "
               "keeps the mean at zero without the regulariser, and the centring inside $d_S$ matters."))
for loss_name in P.losses:
    if f"{loss_name}_r1_vs_squared" in [c.name for c in criteria]:
        why_lines.append(criteria.sentence(f"{loss_name}_r1_vs_squared"))
display(Markdown("\n\n".join(why_lines)))

# %% [markdown]
# ## Paper vs ours
# The paper reports R@K and NMI for contrastive, triplet, lifted structure and N-pair losses with the
# Euclidean and the SNR distance on CUB-200-2011 and Cars-196 (GoogLeNet backbone, Tables 1-2). Those
# numbers were **not retrieved** for this companion (`paper-numbers.md`: no verified number), so the
# paper column names where to look instead of printing a value. Ours are glyph classes at `ci` scale:
# the absolute numbers are not comparable; the *Euclidean-vs-SNR ordering* within a loss is.

# %%
setting = (f"{P.profile}: {P.dataset}, {len(seeds)} seeds, arms to a plateau (cap {P.iterations}), "
           "margins / λ tuned on validation classes")
rows = []
for loss_name in P.losses:
    snr, euc = f"{loss_name}_snr", f"{loss_name}_euclidean"
    for metric, label in (("R@1", "R@1"), ("nmi", "NMI")):
        rows.append(paper_row(f"{loss_name}: {label} with SNR minus {label} with Euclidean (points)",
                              paper=None, paper_setting="not retrieved: check the PDF, Tables 1-2 (CUB-200 / Cars-196)",
                              ours=round(100 * float(summary.loc[snr, ("mean", metric)] - summary.loc[euc, ("mean", metric)]), 2),
                              ours_setting=setting, comparable_as="ordering"))
    for arm in (euc, snr):
        rows.append(paper_row(f"{arm}: R@1 (%)", paper=None,
                              paper_setting="not retrieved: check the PDF, Tables 1-2",
                              ours=round(100 * float(summary.loc[arm, ("mean", "R@1")]), 2), ours_setting=setting,
                              comparable_as="ordering"))
pd.DataFrame(rows)[["quantity", "paper_setting", "ours", "ours_setting", "comparable_as"]]

# %% [markdown]
# ## Claim check

# %%
assert np.isfinite(runs[METRICS].to_numpy(dtype=float)).all()
assert ((runs[METRICS] >= 0) & (runs[METRICS] <= 1)).all().all()
assert all(v["max |d_S - ||PΔ||²/||Pa||²|"] < 1e-12 for v in exact.values())
assert exact["zero-mean, unit norm"]["max |d_S - (2 - 2cos)|"] < 1e-12
headline = [c.name for c in criteria if c.role == "headline"]
explanation = (
    " ".join(criteria.sentence(name) for name in headline)
    + f" Margins and λ were tuned per distance on validation classes; arms converged: "
    + ", ".join(f"{arm} {'yes' if ok else 'no'}" for arm, ok in converged.items())
    + ". On L2-normalised features d_S is the squared Euclidean distance of centred features divided by the "
      "anchor's centred norm (exact), so the SNR arm differs from the squared-Euclidean control only through "
      "centring and that per-anchor scale."
)
print(f"verdict: {verdict}. {explanation}")

# %%
ours = {f"{arm} R@1": float(summary.loc[arm, ("mean", "R@1")]) for arm in ARMS}
ours.update({f"{arm} NMI": float(summary.loc[arm, ("mean", "nmi")]) for arm in ARMS})
budget = {"iteration cap": P.iterations, "eval_every": P.eval_every, "plateau_tol": P.plateau_tol,
          "min_iterations": P.min_iterations, "seeds": len(seeds), "sweep runs": len(sweep_rows),
          "sweep iterations per run": P.sweep_iterations,
          "iterations run (arms)": int(runs["iterations"].sum()),
          "train seconds (sweep + arms)": float(runs["train_seconds"].sum() + sweep_table["train_seconds"].sum())}
result_file = write_result(
    SLUG,
    title="Signal-to-Noise Ratio: A Robust Distance Metric for Deep Metric Learning (CVPR 2019)",
    claim="The SNR distance inside standard losses (contrastive, triplet, ...) beats the Euclidean distance on "
          "zero-shot retrieval and clustering.",
    verdict=verdict,
    explanation=explanation,
    ours=ours,
    paper={"per-loss Euclidean vs SNR (Tables 1-2)": "not retrieved: check the PDF"},
    profile=P.profile,
    criteria=criteria,
    convergence={arm: {"converged": ok, "iterations": [int(v) for v in conv[conv.arm == arm]["iterations"]],
                       "best val MAP@R": [float(v) for v in conv[conv.arm == arm]["best val"]]}
                 for arm, ok in converged.items()},
    budget=budget,
    rows=rows,
)

# %%
# NBVAL_CHECK_OUTPUT
print("toy SNR matrix:", [[round(v, 3) for v in row] for row in toy_d.tolist()])
print("exact identities hold (< 1e-12):",
      all(v["max |d_S - ||PΔ||²/||Pa||²|"] < 1e-12 for v in exact.values()),
      exact["zero-mean, unit norm"]["max |d_S - (2 - 2cos)|"] < 1e-12)
print("chosen:", {f"{l}_{d}": (round(m, 4), round(v, 4)) for (l, d), (m, v) in chosen.items()})
for arm in ARMS:
    print(f"{arm:28s} R@1 {summary.loc[arm, ('mean', 'R@1')]:.3f} ± {summary.loc[arm, ('std', 'R@1')]:.3f}"
          f"   NMI {summary.loc[arm, ('mean', 'nmi')]:.3f}   converged {converged[arm]}")
for c in criteria:
    o = criteria.outcome(c.name)
    print(f"{c.name:26s} {100 * o.mean:+.2f} ± {100 * o.stderr:.2f} points: {o.status}")
print(f"verdict: {verdict}")
