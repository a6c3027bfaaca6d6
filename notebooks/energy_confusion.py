# %% [markdown]
# # Energy Confused Adversarial Metric Learning for Zero-Shot Image Retrieval and Clustering
#
# Binghui Chen & Weihong Deng, **AAAI 2019**, [arXiv:1901.07169](https://arxiv.org/abs/1901.07169).
# Official code (Caffe): `chenbinghui1/ECAML` (`src/energy_confusion.cpp`, `src/BIER_loss_layer.cpp`,
# `examples/car/train_confusion.prototxt`).
#
# **Claim tested here.** Adding an *Energy Confusion* (EC) term, which adversarially pulls
# different-class embeddings together on the embedding layer only, to a metric loss reduces
# over-fitting to the seen training classes and so improves zero-shot retrieval and clustering
# (Recall@K, NMI) on unseen classes, for triplet, N-pair and binomial base losses (paper's main
# tables). We test the released configuration: **binomial deviance vs binomial deviance + EC**
# (lambda_EC = 0.13), and the mechanism the paper names: a smaller gap between seen-class and
# unseen-class retrieval.
#
# This notebook shows
# 1. the EC term exactly (hand-worked values, the pair sampling of the C++ layer, and why EC can
#    lower itself by shrinking the FC weights without the cosine metric loss noticing);
# 2. by training, mean ± std over 3 seeds: unseen-class R@1/2/4 and NMI, and seen-class R@1 on
#    held-out fonts of the training classes vs unseen-class R@1 on the same fonts (the gap);
# 3. what EC does during training (energy, metric loss, size and direction of its push on W);
# 4. why the effect is small at this scale, and a verdict.
#
# | profile | data | hardware | wall time |
# |---|---|---|---|
# | `ci` (default) | font glyphs, 64 train / 64 unseen test classes, 2 of 16 fonts of the train classes held out | 1 CPU thread | about 1 minute |
# | `paper` | CUB-200-2011, Cars196 or Stanford Online Products from `data_root` (`dataset` knob) | 1 GPU | about 30-60 min per arm and seed (estimate: 10k iterations × 130 images with ResNet-50) |

# %% tags=["parameters"]
profile = "ci"
device = "cpu"
data_root = None
seed = 0
# Knobs: None means "the profile's value" (see PROFILES below).
dataset = None
iterations = None
n_seeds = None
ec_lambda = None
ec_lambdas = None
sampling = None
n_partners = None
embedding_dim = None
classes_per_batch = None
samples_per_class = None
lr = None
weight_decay = None
held_out_fonts = None
resize = None
crop = None
backbone_weights = None
num_workers = None

# %% [markdown]
# ## Profiles
# `ci` trains a 3-layer CNN (→ 64-d GAP features g) with a linear 64-d embedding layer on 32×32
# glyphs, 16 classes × 4 images per batch, Adam 1e-3. The EC term uses 10 random **negative**
# partners per sample (`sampling="negatives"`): our batches hold 4 consecutive images per class, so
# the C++ layer's positional rule would also draw same-class pairs (shown below).
# `ec_lambdas` adds extra EC arms (a lambda sweep); `sampling="positional"` runs the official rule.
#
# `paper` follows the released solver/prototxt where `lib` allows: batches of 65 classes × 2 images
# (consecutive pairs, so positional sampling draws negatives only), Adam lr 1e-5, weight decay 2e-4,
# 10,000 iterations, 512-d embedding, lambda_EC = 0.13, positional sampling with 10 partners, random
# crops of 227 from 256. **Deviations:** ResNet-50 (ImageNet, local weights file) instead of BVLC
# GoogLeNet (torchvision's GoogLeNet has BatchNorm, weights and numbers differ anyway); ImageNet
# mean/std instead of the Caffe mean; no ×10 / ×20 learning-rate multipliers on the FC layer
# (`mlcompanion.train.TrainConfig` has no parameter groups). Seen-class R@1 there is measured on the
# training images themselves (no held-out split exists), so it is the classic train/test gap.

# %%
import sys
from pathlib import Path

sys.path.insert(0, str(Path.cwd().parent))  # the repository root, when run from notebooks/

from mlcompanion.profiles import resolve_profile

DATASETS = ("glyphs", "cub200", "cars196", "sop")
PROFILES = {
    "ci": dict(dataset="glyphs", iterations=150, n_seeds=3, ec_lambda=0.13, ec_lambdas=[], sampling="negatives",
               n_partners=10, embedding_dim=64, classes_per_batch=16, samples_per_class=4, lr=1e-3,
               weight_decay=0.0, held_out_fonts=[5, 10], resize=32, crop=32, backbone_weights="", num_workers=0),
    "paper": dict(dataset="cub200", iterations=10000, n_seeds=1, ec_lambda=0.13, ec_lambdas=[],
                  sampling="positional", n_partners=10, embedding_dim=512, classes_per_batch=65,
                  samples_per_class=2, lr=1e-5, weight_decay=2e-4, held_out_fonts=[], resize=256, crop=227,
                  backbone_weights="~/.cache/torch/hub/checkpoints/resnet50-11ad3fa6.pth", num_workers=8),
}
P = resolve_profile(
    PROFILES, profile, device=device, data_root=data_root, seed=seed, namespace=globals(),
    dataset=dataset, iterations=iterations, n_seeds=n_seeds, ec_lambda=ec_lambda, ec_lambdas=ec_lambdas,
    sampling=sampling, n_partners=n_partners, embedding_dim=embedding_dim, classes_per_batch=classes_per_batch,
    samples_per_class=samples_per_class, lr=lr, weight_decay=weight_decay, held_out_fonts=held_out_fonts,
    resize=resize, crop=crop, backbone_weights=backbone_weights, num_workers=num_workers,
)
if P.dataset not in DATASETS:
    raise ValueError(f"dataset must be one of {DATASETS}, got {P.dataset!r}")
if P.sampling not in ("negatives", "positional"):
    raise ValueError(f"sampling must be 'negatives' or 'positional', got {P.sampling!r}")
if not (P.ec_lambda > 0 and all(isinstance(v, (int, float)) and v > 0 for v in P.ec_lambdas)):
    raise ValueError(f"ec_lambda and every ec_lambdas entry must be > 0, got {P.ec_lambda!r} and {P.ec_lambdas!r}")
if P.dataset == "glyphs" and (len(P.held_out_fonts) == 0 or not set(P.held_out_fonts) <= set(range(16))):
    raise ValueError(f"held_out_fonts must be a non-empty list of font indices 0..15, got {P.held_out_fonts!r}")
if P.dataset != "glyphs":
    from mlcompanion.data import check_layout
    from mlcompanion.models import load_backbone_weights, resnet50

    check_layout(P.dataset, P.data_root)  # stops here, naming the dataset and its layout, if absent
    load_backbone_weights(resnet50(num_classes=None), Path(P.backbone_weights).expanduser())

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from torch.utils.data import TensorDataset

from mlcompanion.experiments import compare_arms, format_mean_std, run_arms, summarize_runs
from mlcompanion.gallery import write_result
from mlcompanion.losses import BinomialDevianceLoss
from mlcompanion.losses.energy import EnergyConfusedLoss, EnergyConfusion, log_energy, sample_energy_pairs
from mlcompanion.plotting import PALETTE, savefig, use_style
from mlcompanion.repro import make_deterministic
from mlcompanion.train import TrainConfig, evaluate_retrieval

SLUG = "energy_confusion"
make_deterministic(P.seed)
use_style()
pd.set_option("display.precision", 3)

# %% [markdown]
# ## Method
#
# **Adversarial split.** With g the backbone features and $e = Wg + b$ the **un-normalised** output
# of the embedding FC layer, the metric loss is computed on $e$ (cosine inside), and EC on
# $e' = W\,\mathrm{sg}(g) + b$: the same W, b applied to *detached* features (the prototxt's
# `propagate_down: false`). The backbone is trained by the metric loss only; W, b by both.
#
# **Energy confusion (Eq. 5-6, C++ layer).** For a sampled set S of pairs $i<j$,
# $$E = \sum_{(i,j)\in S} \frac{1}{w_{ij}}\,\tfrac12\lVert e'_i - e'_j\rVert^2, \qquad
#   L = L_{bin} + \lambda_{EC} \log E, \quad \lambda_{EC} = 0.13,$$
# $w_{ij}$ = number of positive (or negative) pairs among all $i<j$ pairs of the batch. The layer
# prints E but back-propagates $\frac{1}{E}\frac{\partial E}{\partial e'}$, so the optimised quantity
# is $\log E$. `mlcompanion.losses.energy.log_energy(e, labels, pairs)`; with sampling:
# `EnergyConfusion(n_partners=10, sampling=...)`; the whole objective with the split:
# `EnergyConfusedLoss(BinomialDevianceLoss(), ec_lambda=0.13).batch_loss(model, x, y)`.
#
# **Binomial deviance (the released base loss, BIER layer with one learner).**
# $L_{bin} = \frac{1}{|P|}\sum_P \log(1+e^{-\alpha C_p(s_{ij}-\beta)}) + \frac{1}{|N|}\sum_N \log(1+e^{\alpha C_n(s_{ij}-\beta)})$,
# cosine $s$, α = 2, β = 0.5, $C_p$ = 1, $C_n$ = 25: `mlcompanion.losses.BinomialDevianceLoss()`.
#
# ### Worked example (the brief's hand vector)
# Four embeddings of four classes (6 negative pairs, so w = 6) and S = {(0,1), (0,2), (1,3)}:
# E = (1/6)(½·1 + ½·4 + ½·4) = 0.75.

# %%
hand_e = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [3.0, 0.0]], dtype=torch.float64, requires_grad=True)
hand_y = torch.tensor([0, 1, 2, 3])
hand_pairs = torch.zeros(4, 4, dtype=torch.bool)
hand_pairs[0, 1] = hand_pairs[0, 2] = hand_pairs[1, 3] = True
hand_log_e = log_energy(hand_e, hand_y, hand_pairs)
hand_log_e.backward()
print(f"E = {hand_log_e.exp().item():.6f}, log E = {hand_log_e.item():.6f}")
print("d log E / d e =\n", hand_e.grad.numpy().round(4))
bin_e = torch.tensor([[0, 1], [0.43, 0.9], [1, 0], [0.5, 0.5]], dtype=torch.float64)
bin_value = BinomialDevianceLoss()(bin_e, torch.tensor([0, 0, 1, 1])).item()
print(f"binomial deviance on the brief's 4-point example = {bin_value:.6f}")

# %% [markdown]
# ### Which pairs EC sees
# The C++ layer draws, for every position $i < n - 2r$, r = 10 partners among the positions
# $\ge i+2$. With the official batch order (65 classes × 2 consecutive images) that never hits a
# same-class pair. With our m-per-class batches (4 consecutive images per class) it does, and positive
# pairs then weigh $w_{neg}/w_{pos}$ = 20× more than negatives, so EC would mostly pull *positives*
# together, i.e. help the metric loss instead of confusing it. Hence `sampling="negatives"` in `ci`.

# %%
gen = torch.Generator().manual_seed(0)
sampling_rows = []
for name, labels_b, rule in (("official 65 × 2, positional", torch.arange(65).repeat_interleave(2), "positional"),
                             ("ours 16 × 4, positional", torch.arange(16).repeat_interleave(4), "positional"),
                             ("ours 16 × 4, negatives", torch.arange(16).repeat_interleave(4), "negatives")):
    pairs_b = sample_energy_pairs(labels_b, 10, rule, gen)
    same_b = labels_b[:, None] == labels_b[None, :]
    n_pos_all = int(torch.triu(same_b, 1).sum())
    n_neg_all = int(torch.triu(~same_b, 1).sum())
    k_pos, k_neg = int((pairs_b & same_b).sum()), int((pairs_b & ~same_b).sum())
    sampling_rows.append({"batch, sampling": name, "pairs in S": k_pos + k_neg, "positive pairs in S": k_pos,
                          "share of E's weight on positives (equal distances)":
                              (k_pos / max(n_pos_all, 1)) / (k_pos / max(n_pos_all, 1) + k_neg / n_neg_all)})
sampling_table = pd.DataFrame(sampling_rows).set_index("batch, sampling")
sampling_table.round(3)

# %% [markdown]
# ### EC can lower itself by shrinking W, which a cosine loss does not see
# E only depends on differences $W(g_i - g_j)$ (b cancels, so b gets **no** EC gradient) and
# $\log E(cW) = \log E(W) + 2\log c$. The binomial loss is computed on cosines, which do not change
# when W is scaled (up to the bias). So part of what EC asks for, "shrink W", is invisible to the
# metric branch: it changes nothing about retrieval except the effective step size. We therefore
# record, during training, $\log E$, $\lVert W\rVert_F$ and $\log E$ of the unit-norm $W/\lVert W\rVert_F$
# (the part of the energy the cosine can see), and the size and direction of EC's gradient on W
# relative to the metric loss's.

# %%
scale_check = [float(log_energy(c * hand_e.detach(), hand_y, hand_pairs)) - hand_log_e.item() for c in (0.5, 2.0)]
print(f"log E(c e) - log E(e): c=0.5 -> {scale_check[0]:.4f} (2 log 0.5 = {2 * np.log(0.5):.4f}), "
      f"c=2 -> {scale_check[1]:.4f}")

# %% [markdown]
# ## Data
# `ci`: glyphs of 64 training characters in 14 fonts (2 renders each) for training; the remaining 2
# fonts of the training characters (`held_out_fonts`, default DejaVu Sans Mono Bold and DejaVu
# Serif Italic) form the **seen-class** evaluation set; the 64 unseen characters in all 16 fonts form
# the **unseen** test set (R@K, NMI with k-means, k = 64). For the gap we also evaluate the unseen
# characters in the same 2 held-out fonts, so both sides of the gap are galleries of 64 classes × 4
# images in the same fonts: only "class seen in training or not" differs.

# %%
if P.dataset == "glyphs":
    from mlcompanion.data import load_glyphs
    from mlcompanion.models import EmbeddingNet, SmallConvNet

    glyphs = load_glyphs(n_train_classes=64, n_test_classes=64, n_augments=2, image_size=P.crop, seed=P.seed)
    held = torch.tensor(P.held_out_fonts)
    keep = ~torch.isin(glyphs.train.fonts, held)
    train_set = TensorDataset(glyphs.train.images[keep], glyphs.train.labels[keep])
    train_labels = glyphs.train.labels[keep]
    seen_set = TensorDataset(glyphs.train.images[~keep], glyphs.train.labels[~keep])
    matched = torch.isin(glyphs.test.fonts, held)
    unseen_matched_set = TensorDataset(glyphs.test.images[matched], glyphs.test.labels[matched])
    test_set = TensorDataset(glyphs.test.images, glyphs.test.labels)

    def make_backbone_and_head():
        return EmbeddingNet(SmallConvNet(in_channels=1, embedding_dim=P.embedding_dim), P.embedding_dim)

    print(f"train: {len(train_set)} images ({len(glyphs.train.classes)} classes, {16 - len(held)} fonts); "
          f"seen-class eval: {len(seen_set)} images (fonts {[glyphs.font_names[f] for f in P.held_out_fonts]}); "
          f"unseen: {len(test_set)} images ({len(glyphs.test.classes)} classes), "
          f"{len(unseen_matched_set)} of them in the held-out fonts")
else:
    from mlcompanion.data import EvalTransform, TrainTransform, open_dataset
    from mlcompanion.models import EmbeddingNet, load_backbone_weights, resnet50

    train_set = open_dataset(P.dataset, P.data_root, "train",
                             transform=TrainTransform(resize=P.resize, crop=P.crop, seed=P.seed))
    train_labels = train_set.labels
    seen_set = open_dataset(P.dataset, P.data_root, "train", transform=EvalTransform(resize=P.resize, crop=P.crop))
    test_set = open_dataset(P.dataset, P.data_root, "test", transform=EvalTransform(resize=P.resize, crop=P.crop))
    unseen_matched_set = test_set

    def make_backbone_and_head():
        backbone = load_backbone_weights(resnet50(num_classes=None), Path(P.backbone_weights).expanduser())
        return EmbeddingNet(backbone, P.embedding_dim)

    print(f"{P.dataset}: {len(train_set)} train images ({train_set.num_classes} classes), "
          f"{len(test_set)} test images ({test_set.num_classes} unseen classes)")

# %% [markdown]
# ## Experiment
# Arms, all with the same initialisation, batches and budget per seed: `binomial` (lambda_EC = 0; the
# energy is still recorded, without gradient) and `binomial + EC` (lambda_EC = 0.13), plus one arm per
# extra `ec_lambdas` value. Each run is evaluated on the unseen classes (R@1/2/4, NMI), on the
# seen-class held-out fonts and on the unseen classes in those fonts.

# %%
ARMS = {"binomial": 0.0, "binomial + EC": float(P.ec_lambda)}
ARMS.update({f"EC lambda={v:g}": float(v) for v in P.ec_lambdas if float(v) != float(P.ec_lambda)})
models, objectives = [], []


def make_model():
    model = make_backbone_and_head()
    models.append(model)  # kept to evaluate the seen / matched-unseen sets after training
    return model


def make_objective(lam):
    def build():
        obj = EnergyConfusedLoss(BinomialDevianceLoss(), ec_lambda=lam, n_partners=P.n_partners,
                                 sampling=P.sampling, seed=P.seed, diagnostics=True)
        objectives.append(obj)
        return obj
    return build


def record_stats(step, embeddings, labels):
    return {"step": step, **objectives[-1].last_stats}


cfg = TrainConfig(iterations=P.iterations, classes_per_batch=P.classes_per_batch,
                  samples_per_class=P.samples_per_class, lr=P.lr, weight_decay=P.weight_decay,
                  device=P.device, num_workers=P.num_workers)
seeds = [P.seed + k for k in range(P.n_seeds)]
runs, train_results = run_arms({a: make_objective(lam) for a, lam in ARMS.items()}, make_model, train_set,
                               train_labels, test_set, cfg, seeds, ks=(1, 2, 4), with_nmi=True,
                               on_step={a: record_stats for a in ARMS})
runs["seen R@1"] = [evaluate_retrieval(m, seen_set, ks=(1,), device=P.device)["R@1"] for m in models]
runs["unseen R@1 (held-out fonts)"] = [evaluate_retrieval(m, unseen_matched_set, ks=(1,), device=P.device)["R@1"]
                                       for m in models]
runs["gap"] = runs["seen R@1"] - runs["unseen R@1 (held-out fonts)"]
stats = {key: pd.DataFrame(result.records) for key, result in train_results.items()}

# %% [markdown]
# ## Results

# %%
METRICS = ["R@1", "R@2", "R@4", "nmi", "seen R@1", "unseen R@1 (held-out fonts)", "gap"]
summary = summarize_runs(runs, METRICS)
table = format_mean_std(summary)
table.columns = ["unseen R@1 (%)", "unseen R@2 (%)", "unseen R@4 (%)", "unseen NMI (%)",
                 "seen R@1, held-out fonts (%)", "unseen R@1, held-out fonts (%)", "gap seen − unseen (points)"]
table


# %%
def mean_curve(arm, column):
    return np.mean([stats[(arm, s)][column].to_numpy() for s in seeds], axis=0)


def smooth(values, k=10):
    return np.convolve(values, np.ones(k) / k, mode="valid") if len(values) >= k else values


diag = pd.DataFrame({
    arm: {
        "log E, last 10 it": mean_curve(arm, "log_E")[-10:].mean(),
        "log E of W/||W||, last 10 it": mean_curve(arm, "log_E_unit_W")[-10:].mean(),
        "||W||_F at the end": mean_curve(arm, "W_norm")[-1],
        "||dlogE/dW|| / ||dL_bin/dW||, mean": mean_curve(arm, "grad_ratio").mean(),
        "lambda × that ratio": ARMS[arm] * mean_curve(arm, "grad_ratio").mean(),
        "cos(dlogE/dW, dL_bin/dW), mean": mean_curve(arm, "grad_cosine").mean(),
    } for arm in ARMS
}).T
diag.round(3)

# %%
fig, axes = plt.subplots(1, 4, figsize=(16, 3.8))
arms_list = list(ARMS)
width = 0.8 / len(arms_list)
bar_metrics = [("R@1", "unseen R@1"), ("nmi", "unseen NMI"), ("seen R@1", "seen R@1\n(held-out fonts)"),
               ("unseen R@1 (held-out fonts)", "unseen R@1\n(held-out fonts)")]
for a, arm in enumerate(arms_list):
    mean = [100 * summary.loc[arm, ("mean", m)] for m, _ in bar_metrics]
    std = [100 * summary.loc[arm, ("std", m)] for m, _ in bar_metrics]
    axes[0].bar(np.arange(len(bar_metrics)) + a * width, mean, width, yerr=std, capsize=2, label=arm,
                color=PALETTE[a])
axes[0].set_xticks(np.arange(len(bar_metrics)) + 0.4 - width / 2, [lbl for _, lbl in bar_metrics], fontsize=8)
axes[0].set_ylim(max(0, 100 * float(summary["mean"][[m for m, _ in bar_metrics]].min().min()) - 15), 100)
axes[0].set_ylabel("%")
axes[0].set_title(f"retrieval / clustering, mean ± std ({len(seeds)} seeds)")
axes[0].legend(fontsize=8)
for a, arm in enumerate(arms_list):
    it = np.arange(1, P.iterations + 1)
    log_e = smooth(mean_curve(arm, "log_E"))
    metric = smooth(mean_curve(arm, "metric"))
    axes[1].plot(it[len(it) - len(log_e):], log_e, color=PALETTE[a], label=arm)
    axes[1].plot(it[len(it) - len(log_e):], smooth(mean_curve(arm, "log_E_unit_W")) + 2 * np.log(mean_curve(arm, "W_norm")[0]),
                 "--", color=PALETTE[a], lw=1)
    axes[2].plot(it[len(it) - len(metric):], metric, color=PALETTE[a], label=arm)
    axes[3].plot(it, mean_curve(arm, "W_norm"), color=PALETTE[a], label=arm)
axes[1].set_xlabel("iteration")
axes[1].set_ylabel("log E (10-it moving average)")
axes[1].set_title("energy: solid = log E, dashed = with ||W|| fixed at init")
axes[2].set_xlabel("iteration")
axes[2].set_ylabel("binomial loss (10-it moving average)")
axes[2].set_title("metric loss")
axes[3].set_xlabel("iteration")
axes[3].set_ylabel("||W||_F of the embedding layer")
axes[3].set_title("size of the shared FC weights")
axes[3].legend(fontsize=8)
fig.tight_layout()
savefig(fig, SLUG, "training")
plt.show()

# %% [markdown]
# ## Why the effect is small here (investigation)
# The brief's pilot (multi-similarity base, 150 iterations, 2 seeds) was inconclusive. What we found
# (3 seeds each; every number is regenerated by the command in brackets, which writes its notebook
# under `results/energy_confusion/`, e.g.
# `python -m mlcompanion.pipeline run energy_confusion -p ec_lambdas "[1.0]"`):
#
# 1. **Budget.** At 75 iterations (the brief's first budget) the network has not over-fitted yet:
#    seen-class and unseen-class R@1 on the held-out fonts are equal (gap −0.7 ± 4.3 points without
#    EC, −1.0 ± 1.8 with), so there is nothing for EC to shrink; unseen R@1 54.3 ± 1.8 vs
#    54.8 ± 1.6 with EC. At 150 iterations (this notebook, within the ci budget) a gap of several
#    points opens without EC (table above). [`-p iterations 75`]
# 2. **lambda_EC.** EC's push on W is weak and hardly adversarial: at lambda 0.13 its gradient on W
#    is about 6 % of the metric loss's (table above, "lambda × that ratio"), and the cosine between
#    the two gradients is slightly *positive* (≈ +0.08): EC mostly pushes in directions the cosine
#    loss does not care about, including shrinking ||W|| (the dashed vs solid energy curves). A 7.7×
#    larger lambda (1.0) shrinks ||W|| from 4.74 to 4.28 and lowers log E much more, but does not
#    help: unseen R@1 73.2 ± 1.3, NMI 70.1 ± 2.2, gap 4.2 ± 2.2 points (vs 73.5 ± 1.9, 70.0 ± 2.5,
#    7.6 ± 4.1 without EC). [`-p ec_lambdas "[1.0]"`]
# 3. **Sampling.** The official positional rule on our 4-per-class batches puts about a third of E's
#    weight on positive pairs (table "Which pairs EC sees"), turning part of the confusion into an
#    extra pull-together of positives; with it: unseen R@1 73.7 ± 1.8, NMI 70.6 ± 2.6, gap
#    6.0 ± 4.1. Negative partners (our default) give the numbers above. [`-p sampling '"positional"'`]
# 4. **Noise.** The seen/unseen gap is measured on 256-image galleries (3 relevant items per query),
#    so its seed std is 2-5 points; EC shrinks it on every seed, but 3 seeds cannot separate a
#    5-point change from that noise, and the unseen R@1 / NMI gains (+0.5 / +0.9) are below their
#    seed std.

# %% [markdown]
# ## Paper vs ours
# The brief lists the paper's ECAML (binomial) R@1 on CUB-200 / Cars196 / SOP / In-Shop only as
# recalled values, **unverified**, and the base-loss-without-EC rows and the NMI values as not
# retrieved, so no paper number is printed as the paper's. Ours are glyph classes at ci scale: the
# absolute numbers are not comparable, the *difference with and without EC* is what we test.

# %%
paper_vs_ours = pd.DataFrame(
    {"R@1 (%)": ["not retrieved"] * 2, "NMI (%)": ["not retrieved"] * 2},
    index=["paper: binomial, CUB-200 (Table 1)", "paper: binomial + EC (ECAML), CUB-200 (Table 1)"],
)
ours = pd.DataFrame({
    "R@1 (%)": [f"{100 * summary.loc[a, ('mean', 'R@1')]:.1f} ± {100 * summary.loc[a, ('std', 'R@1')]:.1f}" for a in ARMS],
    "NMI (%)": [f"{100 * summary.loc[a, ('mean', 'nmi')]:.1f} ± {100 * summary.loc[a, ('std', 'nmi')]:.1f}" for a in ARMS],
}, index=[f"ours ({P.profile}, {P.dataset}): {a}" for a in ARMS])
pd.concat([paper_vs_ours, ours])

# %% [markdown]
# ## Claim check

# %%
checked = ["R@1", "R@2", "R@4", "nmi", "seen R@1", "unseen R@1 (held-out fonts)"]
assert np.isfinite(runs[checked].to_numpy()).all()
assert ((runs[checked] >= 0) & (runs[checked] <= 1)).all().all()
assert np.isfinite(np.concatenate([s[["metric", "log_E", "W_norm"]].to_numpy() for s in stats.values()])).all()
if P.iterations >= 50:  # shorter smoke runs cannot be judged on this
    for (arm, s) in train_results:
        assert stats[(arm, s)]["metric"].iloc[-10:].mean() < stats[(arm, s)]["metric"].iloc[:10].mean(), \
            f"{arm} seed {s}: the metric loss did not fall"
    # EC does what it is built to do: with it, the recorded energy ends lower than without it
    assert mean_curve("binomial + EC", "log_E")[-10:].mean() < mean_curve("binomial", "log_E")[-10:].mean()

c_r1 = compare_arms(runs, "binomial + EC", "binomial", "R@1")
c_nmi = compare_arms(runs, "binomial + EC", "binomial", "nmi")
c_gap = compare_arms(runs, "binomial", "binomial + EC", "gap")  # positive: EC shrinks the gap
for name, c in (("unseen R@1", c_r1), ("unseen NMI", c_nmi)):
    print(f"EC vs none, {name:10s}: {100 * c['gap']:+.1f} points, larger seed std {100 * c['spread']:.1f}, "
          f"EC better on {c['wins']}/{c['seeds']} seeds")
print(f"seen-unseen gap: {100 * summary.loc['binomial', ('mean', 'gap')]:+.1f} without EC, "
      f"{100 * summary.loc['binomial + EC', ('mean', 'gap')]:+.1f} with EC "
      f"(shrinks by {100 * c_gap['gap']:+.1f} points, larger seed std {100 * c_gap['spread']:.1f}, "
      f"smaller on {c_gap['wins']}/{c_gap['seeds']} seeds)")


def is_clear(c):
    return c["gap"] > c["spread"] and c["wins"] == c["seeds"]


not_worse = c_r1["gap"] >= 0 and c_nmi["gap"] >= 0
if not_worse and is_clear(c_r1) and is_clear(c_nmi):
    verdict = "reproduced"
elif not_worse and (is_clear(c_r1) or is_clear(c_nmi) or is_clear(c_gap)):
    verdict = "partly reproduced"
else:
    verdict = "not reproduced at this scale"
explanation = (
    f"With EC (lambda {P.ec_lambda:g}) unseen R@1 changes by {100 * c_r1['gap']:+.1f} and NMI by "
    f"{100 * c_nmi['gap']:+.1f} points (seed std up to {100 * max(c_r1['spread'], c_nmi['spread']):.1f}); "
    f"the seen-unseen R@1 gap changes from {100 * summary.loc['binomial', ('mean', 'gap')]:.1f} to "
    f"{100 * summary.loc['binomial + EC', ('mean', 'gap')]:.1f} points (std {100 * c_gap['spread']:.1f}). "
    + ("The means move the paper's way but within seed noise." if not_worse and verdict != "reproduced" else "")
)
print(f"verdict: {verdict}. {explanation}")

# %%
summary_numbers = {}
for arm in ARMS:
    for m, label in (("R@1", "unseen R@1"), ("nmi", "unseen NMI"), ("gap", "seen-unseen gap")):
        summary_numbers[f"{arm} {label}"] = float(summary.loc[arm, ("mean", m)])
result_file = write_result(
    SLUG,
    title="Energy Confused Adversarial Metric Learning (AAAI 2019)",
    claim="Adding the energy-confusion term to the binomial metric loss reduces over-fitting to seen classes "
          "and improves zero-shot retrieval (R@K) and clustering (NMI).",
    verdict=verdict,
    explanation=explanation,
    ours=summary_numbers,
    paper={"ECAML R@1 / NMI": "not retrieved (recalled values unverified)"},
    profile=P.profile,
)

# %%
# NBVAL_CHECK_OUTPUT
print(f"hand vector: E {hand_log_e.exp().item():.3f}, log E {hand_log_e.item():.6f}; binomial {bin_value:.6f}")
for arm in ARMS:
    print(f"{arm:15s} unseen R@1 {summary.loc[arm, ('mean', 'R@1')]:.3f} ± {summary.loc[arm, ('std', 'R@1')]:.3f}"
          f"   NMI {summary.loc[arm, ('mean', 'nmi')]:.3f} ± {summary.loc[arm, ('std', 'nmi')]:.3f}"
          f"   seen-unseen gap {summary.loc[arm, ('mean', 'gap')]:+.3f}")
print(f"verdict: {verdict}")
