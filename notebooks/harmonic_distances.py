# %% [markdown]
# # Rethinking the Harmonic Loss via Non-Euclidean Distance Layers
#
# arXiv preprint, 2026 (arXiv id, author list and venue **not confirmed**). Official code:
# `maxwellmg/rethinking-harmonic-loss` (`vision/models/distlayers.py`, `vision/utils/pca_analysis.py`,
# `vision/custom_config_runs/regular_config.py`). It builds on Baek et al., "Harmonic Loss Trains
# Interpretable AI Models", [arXiv:2502.01628](https://arxiv.org/abs/2502.01628), code
# `KindXiaoming/grow-crystals`.
#
# **Claim tested here.** The harmonic loss replaces the linear-softmax head by class prototypes
# $w_c$ and probabilities $p_c \propto D(x, w_c)^{-n}$. The paper swaps the Euclidean $D$ for other
# distances and reports (Figure 1, vision radar plots) that **cosine distance gives the best
# accuracy / sustainability trade-off** (accuracy up, emissions down vs cross-entropy and Euclidean
# harmonic), while **Bray-Curtis and Mahalanobis raise interpretability** (PCA-structure scores) at
# some cost. We also re-test the premise of the original paper: on modular addition the harmonic
# loss generalises without the long grokking delay of cross-entropy and learns a circular "crystal"
# embedding.
#
# This notebook shows
# 1. the harmonic layer and every distance family exactly, on a toy batch;
# 2. **Part A** (original premise): modular addition, CE vs harmonic-Euclidean vs harmonic-cosine,
#    test accuracy over training and the embedding's PCA, under the original (with-replacement)
#    sampling and a clean disjoint split;
# 3. **Part B** (the paper's claim, vision analogue): one MLP, CE and eight distance heads (plus n = √d for Euclidean and cosine), per distance accuracy,
#    macro-F1, training time per epoch and the PCA-structure scores, as a table and radar plots;
# 4. **Part C**: the class prototypes of a one-layer harmonic classifier vs linear CE weights;
# 5. the paper beside ours, and a verdict.
#
# | profile | data | hardware | wall time |
# |---|---|---|---|
# | `ci` (default) | modular addition (p = 31, generated); sklearn digits 8×8 (bundled) | 1 CPU thread | about 1 minute |
# | `paper` | modular addition at grow-crystals scale; MNIST / CIFAR-10 / CIFAR-100 from `data_root` (`dataset` knob) | 1 GPU | estimate: 15-30 min for Part A (175k steps × 9 models), MLP on MNIST a few min per head (40 epochs) |

# %% tags=["parameters"]
profile = "ci"
device = "cpu"
data_root = None
seed = 0
# Knobs: None means "the profile's value" (see PROFILES below).
dataset = None
modadd_p = None
modadd_pairs = None
modadd_steps = None
modadd_batch = None
modadd_seeds = None
modadd_disjoint_steps = None
modadd_disjoint_seeds = None
modadd_eval_every = None
heads = None
sharp_heads = None
hidden = None
epochs = None
batch_size = None
lr = None
n_seeds = None
weights_epochs = None
weights_batch = None

# %% [markdown]
# ## Profiles
# `ci`: Part A at the original toy setting (p = 31, 1,000 pairs, MLP [32, 100, 16, 31] with SiLU,
# weight-tied, AdamW lr 2e-3, wd 0.01 + the embedding regulariser) but full-batch and 1,500 steps
# (the original: batch 32, 7,000 epochs); Part B on sklearn digits (1,347 train / 450 test, fixed
# split), MLP 64→64 ReLU + head, Adam lr 1e-3 (paper: 3e-4 for 40 epochs on MNIST; higher here
# because we train 30 epochs on 1,347 images), batch 64, 30 epochs, 3 seeds; n = 1 for every head
# (the paper's vision config) plus n = √64 = 8 for Euclidean and cosine (the original paper's
# √d rule). Part C: a one-layer harmonic head on digits (n = 8, init N(0, 1/8²), AdamW 1e-3).
#
# `paper`: Part A with the grow-crystals protocol (batch 32, 7,000 epochs = 175,000 steps); Part B
# on MNIST (or CIFAR-10/100) with the official MLP [512, 256], Adam 3e-4, 40 epochs, batch 2048
# (the H100 batch of `regular_config.py`), one seed, no early stopping (the official runs stop
# early with patience 15, which also changes their emissions); Part C: `DistLayer(784, 10, n=28)`,
# AdamW 1e-3, batch 64. CodeCarbon emissions are **not** measured (we report wall time per epoch).

# %%
import sys
from pathlib import Path

sys.path.insert(0, str(Path.cwd().parent))  # the repository root, when run from notebooks/

from mlcompanion.profiles import resolve_profile

ALL_HEADS = ("ce", "euclidean", "manhattan", "cosine", "bray_curtis", "bray_curtis_abs", "bray_curtis_normalized",
             "mahalanobis", "mahalanobis_diagonal", "mahalanobis_cholesky", "chebyshev", "chebyshev_smooth",
             "minkowski", "canberra", "hamming_soft", "cosine_unstable")
DATASETS = ("digits", "mnist", "cifar10", "cifar100")
CI_HEADS = ["ce", "euclidean", "manhattan", "cosine", "bray_curtis", "bray_curtis_abs", "mahalanobis",
            "chebyshev", "minkowski"]
PROFILES = {
    "ci": dict(dataset="digits", modadd_p=31, modadd_pairs=1000, modadd_steps=1500, modadd_batch=0,
               modadd_seeds=3, modadd_disjoint_steps=1000, modadd_disjoint_seeds=2, modadd_eval_every=100,
               heads=CI_HEADS, sharp_heads=["euclidean", "cosine"], hidden=[64], epochs=30, batch_size=64,
               lr=1e-3, n_seeds=3, weights_epochs=30, weights_batch=64),
    "paper": dict(dataset="mnist", modadd_p=31, modadd_pairs=1000, modadd_steps=175000, modadd_batch=32,
                  modadd_seeds=3, modadd_disjoint_steps=175000, modadd_disjoint_seeds=3, modadd_eval_every=1000,
                  heads=[h for h in ALL_HEADS if h != "hamming_soft"], sharp_heads=["euclidean", "cosine"],
                  hidden=[512, 256], epochs=40, batch_size=2048, lr=3e-4, n_seeds=1, weights_epochs=100,
                  weights_batch=64),
}
P = resolve_profile(
    PROFILES, profile, device=device, data_root=data_root, seed=seed, namespace=globals(),
    dataset=dataset, modadd_p=modadd_p, modadd_pairs=modadd_pairs, modadd_steps=modadd_steps,
    modadd_batch=modadd_batch, modadd_seeds=modadd_seeds, modadd_disjoint_steps=modadd_disjoint_steps,
    modadd_disjoint_seeds=modadd_disjoint_seeds, modadd_eval_every=modadd_eval_every, heads=heads,
    sharp_heads=sharp_heads, hidden=hidden, epochs=epochs, batch_size=batch_size, lr=lr, n_seeds=n_seeds,
    weights_epochs=weights_epochs, weights_batch=weights_batch,
)
if P.dataset not in DATASETS:
    raise ValueError(f"dataset must be one of {DATASETS}, got {P.dataset!r}")
if not P.heads or not set(P.heads) <= set(ALL_HEADS) or "ce" not in P.heads:
    raise ValueError(f"heads must be a subset of {ALL_HEADS} that contains 'ce', got {P.heads!r}")
if not set(P.sharp_heads) <= set(P.heads) - {"ce"}:
    raise ValueError(f"sharp_heads must be harmonic heads listed in heads, got {P.sharp_heads!r}")
if P.modadd_p < 3 or min(P.modadd_seeds, P.modadd_steps, P.modadd_eval_every, P.epochs, P.n_seeds) < 1:
    raise ValueError("modadd_p must be >= 3 and steps, seeds, epochs and eval_every must be >= 1")
if P.dataset != "digits":
    from mlcompanion.data.small_images import check_small_images_layout

    check_small_images_layout(P.dataset, P.data_root)  # stops here, naming the dataset and its layout, if absent

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.metrics import f1_score
from torch import nn
from torch.utils.data import TensorDataset

from mlcompanion.distances.families import pairwise
from mlcompanion.experiments import format_mean_std, run_classifier_arms, summarize_runs
from mlcompanion.gallery import write_result
from mlcompanion.losses.harmonic import HarmonicHead, HarmonicLoss, grow_crystals_distlayer, harmonic_logits, pca_structure
from mlcompanion.plotting import PALETTE, savefig, use_style
from mlcompanion.repro import make_deterministic
from mlcompanion.train import TrainConfig, embed, train_classifier

SLUG = "harmonic_distances"
make_deterministic(P.seed)
use_style()
pd.set_option("display.precision", 3)

# %% [markdown]
# ## Method
#
# **Harmonic max and loss** (Baek et al., Sec. 2). With $d_c = D(x, w_c)$ the distance between the
# features $x$ and the prototype of class $c$,
# $$p_c = \frac{d_c^{-n}}{\sum_j d_j^{-n}}, \qquad L = -\log p_y .$$
# `mlcompanion.losses.harmonic.harmonic_logits(D, n)` computes it in log space,
# $\log p_c = -n\log d_c - \operatorname{logsumexp}_j(-n \log d_j)$: exact, no overflow for large $n$,
# and invariant to rescaling a row of distances (the official code divides by the row minimum to
# avoid overflow; here that is a no-op). `HarmonicLoss()` is $-\log p_y$.
# `HarmonicHead(d, C, distance, n)` holds the prototypes and applies the official layer.
#
# **Distance families** (`mlcompanion.distances.families.pairwise(x, w, kind)`, official `distlayers.py`).
# Euclidean is the **squared** distance $\lVert x-w\rVert^2+\epsilon$ (so code $n=1$ means $d^{-2}$,
# as in grow-crystals' `DistLayer`); cosine $1-\hat x\cdot\hat w+\epsilon$; Manhattan
# $\sum|x-w|+\epsilon$; Bray-Curtis $\sum|x-w| / \max(|\sum(x+w)|+\epsilon, 10\epsilon)$ (**not**
# scipy's $\sum|x+w|$ denominator: they differ for signed inputs); "abs" variant with
# $\sum(|x|+|w|)$; Mahalanobis $\sqrt{(x-w)^\top P (x-w)+\epsilon}$ with a learned, not
# PSD-constrained precision $P$ (standard) or a diagonal one; "Chebyshev" is **not a max** but the
# softmax-weighted mean of standardised gaps $\delta_k = |x_k-w_k| / (\operatorname{std}_k|x-w|+\epsilon)$;
# Minkowski $p = 1.5$; Canberra. Euclidean, Manhattan and cosine are min-normalised,
# $\psi = (D/\min D)^{-n}$; the others use $\psi = \operatorname{clamp}(D+\epsilon)^{-n}$.
# `official=False` gives the textbook metrics (tested against `scipy.spatial.distance.cdist`).
#
# ### A worked example
# Two features and three prototypes in 2-D; distances of each family and the harmonic
# probabilities with n = 1 (float64).

# %%
toy_x = torch.tensor([[1.0, 0.5], [-0.5, 1.0]], dtype=torch.float64)
toy_w = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]], dtype=torch.float64)
toy_rows = {}
for kind in ("euclidean", "manhattan", "cosine", "bray_curtis", "bray_curtis_abs", "chebyshev", "minkowski", "canberra"):
    D = pairwise(toy_x, toy_w, kind)
    toy_rows[kind] = {**{f"D(x1,w{c + 1})": float(D[0, c]) for c in range(3)},
                      **{f"p(w{c + 1}|x1)": float(harmonic_logits(D, 1.0).exp()[0, c]) for c in range(3)}}
D = pairwise(toy_x, toy_w, "mahalanobis", precision=torch.diag(torch.tensor([4.0, 0.25], dtype=torch.float64)))
toy_rows["mahalanobis, P=diag(4, 1/4)"] = {**{f"D(x1,w{c + 1})": float(D[0, c]) for c in range(3)},
                                           **{f"p(w{c + 1}|x1)": float(harmonic_logits(D, 1.0).exp()[0, c]) for c in range(3)}}
toy_table = pd.DataFrame(toy_rows).T
gc_gap = float((grow_crystals_distlayer(toy_x, toy_w, 1.0) - harmonic_logits(pairwise(toy_x, toy_w, "euclidean"), 1.0).exp()).abs().max())
print(f"grow-crystals DistLayer(n=1) vs harmonic_logits(squared Euclidean, n=1): max |diff| = {gc_gap:.1e}")
toy_table.round(3)

# %% [markdown]
# ## Part A: modular addition, does the harmonic loss avoid grokking?
# Inputs $(a, b)$, target $(a+b) \bmod p$. Embeddings $E$ (p × 16) are **tied** to the output layer:
# CE uses $h E^\top + b$, the harmonic heads use $D(h, E_c)$. Two data protocols:
# - **with replacement** (grow-crystals `src/run_exp.py`): 1,000 pairs drawn with replacement from
#   all $p^2$, then split 80/20, so **duplicates straddle the split** (some test pairs were seen);
# - **disjoint**: a random 80/20 split of all $p^2$ pairs (no leakage).
#
# Loss = task loss + 0.01 · mean_k √(mean_v E_vk²) (the original regulariser), AdamW (wd 0.01).
#
# **Budget.** The original trains 7,000 epochs of batch 32 (≈175,000 steps); `ci` affords 1,500
# full-batch steps (1,000 on the disjoint split), about 1% of the original number of updates. A
# harmonic run that has not generalised yet at this budget may still do so later; the verdict
# below is about this budget only.

# %%
def modadd_data(p: int, protocol: str, n_pairs: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    a, b = torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")
    x = torch.stack([a.flatten(), b.flatten()], 1)
    idx = torch.randint(0, p * p, (n_pairs,), generator=g) if protocol == "with replacement" else torch.randperm(p * p, generator=g)
    x = x[idx]
    y = (x[:, 0] + x[:, 1]) % p
    n_train = int(0.8 * len(x))
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])


class ModAddNet(nn.Module):
    """grow-crystals toy MLP [2·16, 100, 16, p], SiLU, embedding tied to the output layer."""

    def __init__(self, p: int, head: str, embd: int = 16, width: int = 100):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(2 * embd, width), nn.SiLU(), nn.Linear(width, embd))
        self.out = nn.Linear(embd, p) if head == "ce" else HarmonicHead(embd, p, head, n=1.0)

    @property
    def embedding(self) -> torch.Tensor:
        return self.out.weight

    def forward(self, tokens):
        return self.out(self.mlp(self.embedding[tokens].flatten(1)))


class EmbeddingRegularised(nn.Module):
    """Task loss (CE on logits or NLL on log p, the same call) + the grow-crystals embedding regulariser."""

    def __init__(self, weight: float = 0.01):
        super().__init__()
        self.weight = weight

    def batch_loss(self, model, x, y):
        out = model(x)
        reg = model.embedding.pow(2).mean(0).sqrt().mean()
        return F.cross_entropy(out, y) + self.weight * reg, out


MODADD_ARMS = ("ce", "euclidean", "cosine")
PROTOCOLS = {"with replacement": (P.modadd_steps, P.modadd_seeds), "disjoint": (P.modadd_disjoint_steps, P.modadd_disjoint_seeds)}
modadd_curves, modadd_models, modadd_rows = {}, {}, []
for protocol, (steps, n_runs) in PROTOCOLS.items():
    for s in range(P.seed, P.seed + n_runs):
        (xtr, ytr), (xte, yte) = modadd_data(P.modadd_p, protocol, P.modadd_pairs, s)
        seen = {tuple(r) for r in xtr.tolist()}
        unseen = torch.tensor([tuple(r) not in seen for r in xte.tolist()])
        for arm in MODADD_ARMS:
            make_deterministic(s)
            model = ModAddNet(P.modadd_p, arm)
            curve = []

            def track(step, outputs, labels, model=model, curve=curve, xte=xte, yte=yte):
                if (step + 1) % P.modadd_eval_every == 0:
                    with torch.no_grad():
                        curve.append(float((model(xte.to(P.device)).argmax(1).cpu() == yte).float().mean()))

            cfg = TrainConfig(iterations=steps, batch_size=min(P.modadd_batch or len(xtr), len(xtr)), lr=2e-3, weight_decay=0.01,
                              optimizer="adamw", device=P.device)
            train_classifier(model, EmbeddingRegularised(), TensorDataset(xtr, ytr), cfg, seed=s, on_step=track,
                             desc=f"{protocol} {arm} seed {s}")
            with torch.no_grad():
                hit = (model(xte.to(P.device)).argmax(1).cpu() == yte)
            first90 = next(((k + 1) * P.modadd_eval_every for k, acc in enumerate(curve) if acc >= 0.9), np.nan)
            emb = model.embedding.detach().cpu()
            modadd_rows.append({"protocol": protocol, "arm": arm, "seed": s, "test acc": float(hit.float().mean()),
                                "acc on unseen test pairs": float(hit[unseen].float().mean()),
                                "test pairs seen in train": float(1 - unseen.float().mean()),
                                "step to 90%": first90, "EV 2 PCs (embedding)": pca_structure(emb, standardize=False)["pc2_ev"]})
            modadd_curves[(protocol, arm, s)] = np.array(curve)
            modadd_models[(protocol, arm, s)] = emb

modadd = pd.DataFrame(modadd_rows)
modadd_summary = modadd.groupby(["protocol", "arm"], sort=False).agg(
    **{"test acc": ("test acc", "mean"), "acc on unseen test pairs": ("acc on unseen test pairs", "mean"),
       "test pairs seen in train": ("test pairs seen in train", "mean"),
       "runs reaching 90%": ("step to 90%", lambda v: f"{int(v.notna().sum())}/{len(v)}"),
       "mean step to 90% (reached)": ("step to 90%", "mean"),
       "EV 2 PCs (embedding)": ("EV 2 PCs (embedding)", "mean")})
modadd_summary.round(3)

# %%
fig = plt.figure(figsize=(14, 7.2))
grid = fig.add_gridspec(2, 4)
for col, protocol in enumerate(PROTOCOLS):
    ax = fig.add_subplot(grid[0, 2 * col:2 * col + 2])
    for k, arm in enumerate(MODADD_ARMS):
        curves = np.stack([c for (pr, a, _), c in modadd_curves.items() if pr == protocol and a == arm])
        steps_axis = np.arange(1, curves.shape[1] + 1) * P.modadd_eval_every
        ax.plot(steps_axis, curves.mean(0), color=PALETTE[k], label=f"{arm if arm == 'ce' else 'harmonic-' + arm}")
        ax.fill_between(steps_axis, curves.min(0), curves.max(0), color=PALETTE[k], alpha=0.2)
    ax.axhline(0.9, color="grey", ls=":", lw=1)
    ax.set_xlabel("training step (full batch)" if not P.modadd_batch else "training step")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"{protocol} split: mean, band = min-max over {curves.shape[0]} seeds")
    ax.legend(loc="lower right")
for k, arm in enumerate(MODADD_ARMS):
    ax = fig.add_subplot(grid[1, k])
    emb = modadd_models[("with replacement", arm, P.seed)].double()
    emb = emb - emb.mean(0)
    pcs = (emb @ torch.linalg.svd(emb, full_matrices=False).Vh[:2].T).numpy()
    ax.scatter(pcs[:, 0], pcs[:, 1], c=np.arange(P.modadd_p), cmap="hsv", s=30)
    for v in range(P.modadd_p):
        ax.annotate(str(v), pcs[v], fontsize=7)
    ev = pca_structure(emb, standardize=False)["pc2_ev"]
    ax.set_title(f"{arm if arm == 'ce' else 'harmonic-' + arm}: embedding PC1-PC2\n(EV of 2 PCs {ev:.2f}, seed {P.seed})")
    ax.set_xlabel("PC1")
    ax.set_ylabel("PC2")
ax = fig.add_subplot(grid[1, 3])
ax.axis("off")
ax.text(0, 0.5, "colour = token value 0..p-1;\na circle ordered by colour is the\n'crystal' of the original paper", fontsize=9)
fig.tight_layout()
savefig(fig, SLUG, "modular_addition")
plt.show()

# %% [markdown]
# Reading Part A: the "test pairs seen in train" column is the leak of the with-replacement
# protocol; "acc on unseen test pairs" is the honest generalisation number there.

# %% [markdown]
# ## Part B: distance heads on one network (vision analogue of Figure 1)
# Every arm: the same MLP body and initialisation per seed, the same batches; only the head
# changes. Scores per arm: test accuracy, macro-F1, training wall time per epoch (the paper's
# emissions / duration axis; one shared CPU thread here, so noisy), and the paper's PCA-structure
# scores (`pca_structure`, official `pca_analysis.py`: StandardScaler → PCA(50)) of the
# **penultimate features** of the test set (what the official code measures) and of the **class
# prototypes / weights** (C × d; the original paper's interpretability view).

# %%
if P.dataset == "digits":
    from mlcompanion.data import load_digits_tensors

    images, labels = load_digits_tensors()
    images = images.flatten(1)
    perm = torch.randperm(len(images), generator=torch.Generator().manual_seed(12345))
    test_idx, train_idx = perm[:450], perm[450:]
    x_train, y_train, x_test, y_test = images[train_idx], labels[train_idx], images[test_idx], labels[test_idx]
else:
    from mlcompanion.data.small_images import load_small_images

    x_train, y_train = load_small_images(P.dataset, P.data_root, "train")
    x_test, y_test = load_small_images(P.dataset, P.data_root, "test")
    x_train, x_test = x_train.flatten(1), x_test.flatten(1)
num_classes, in_dim = int(y_train.max()) + 1, x_train.shape[1]
train_set, test_set = TensorDataset(x_train, y_train), TensorDataset(x_test, y_test)
sharp_n = float(round(math.sqrt(P.hidden[-1])))
print(f"{P.dataset}: {len(train_set)} train / {len(test_set)} test, {in_dim}-d inputs, {num_classes} classes; "
      f"MLP {[in_dim] + list(P.hidden)} + head; sharp n = sqrt({P.hidden[-1]}) = {sharp_n:g}")


def mlp_body() -> nn.Sequential:
    layers, width = [], in_dim
    for h in P.hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    return nn.Sequential(*layers)


built: dict[str, list] = {}


def make_arm(head: str, n: float = 1.0):
    def build():
        body = mlp_body()
        if head == "ce":
            model, loss = nn.Sequential(body, nn.Linear(P.hidden[-1], num_classes)), nn.CrossEntropyLoss()
        else:
            model, loss = nn.Sequential(body, HarmonicHead(P.hidden[-1], num_classes, head, n=n)), HarmonicLoss()
        built.setdefault(arm_name(head, n), []).append(model)
        return model, loss
    return build


def arm_name(head: str, n: float = 1.0) -> str:
    return head if n == 1.0 else f"{head} (n={n:g})"


ARMS = {arm_name(h): make_arm(h) for h in P.heads}
ARMS.update({arm_name(h, sharp_n): make_arm(h, sharp_n) for h in P.sharp_heads})
steps_per_epoch = max(1, len(train_set) // P.batch_size)
cfg = TrainConfig(iterations=P.epochs * steps_per_epoch, batch_size=min(P.batch_size, len(train_set)), lr=P.lr, device=P.device)
seeds = [P.seed + k for k in range(P.n_seeds)]
runs, train_results = run_classifier_arms(ARMS, train_set, test_set, cfg, seeds)

# %%
extra = []
for arm, models in built.items():
    for s, model in zip(seeds, models):
        scores, _ = embed(model, test_set, device=P.device)
        feats, _ = embed(model[0], test_set, device=P.device)
        head = model[1]
        weights = head.weight.detach().cpu()
        f_struct = pca_structure(feats)
        w_struct = pca_structure(weights)
        extra.append({"arm": arm, "seed": s, "macro_f1": f1_score(y_test.numpy(), scores.argmax(1).numpy(), average="macro"),
                      "feat_pc2_ev": f_struct["pc2_ev"], "feat_pca90": f_struct["pca90"],
                      "feat_eff_rank": f_struct["effective_rank"], "weight_pc2_ev": w_struct["pc2_ev"],
                      "weight_pca90": w_struct["pca90"]})
runs = runs.merge(pd.DataFrame(extra), on=["arm", "seed"])
runs["sec_per_epoch"] = runs["train_seconds"] / P.epochs
METRICS = ["top1", "macro_f1", "feat_pc2_ev", "feat_pca90", "feat_eff_rank", "weight_pc2_ev", "weight_pca90"]
summary = summarize_runs(runs, METRICS + ["sec_per_epoch"])
table = pd.concat([format_mean_std(summary[[("mean", "top1"), ("std", "top1"), ("mean", "macro_f1"), ("std", "macro_f1")]]),
                   summary["mean"][METRICS[2:]].round(3)], axis=1)
table.columns = ["accuracy (%)", "macro-F1 (%)", "PC2 EV (features)", "PCA 90% (features)", "eff. rank (features)",
                 "PC2 EV (class weights)", "PCA 90% (class weights)"]
table

# %% tags=["timing"]
print("training wall time per epoch (s; shared CPU, indicative only):")
print(summary["mean"]["sec_per_epoch"].round(4).to_string())

# %% [markdown]
# **Radar plots** (the paper's presentation): every score min-max normalised to 0-10 across the
# arms, larger = better: accuracy, macro-F1, speed (1 / time per epoch), PC2 EV of the features,
# compactness of the features (fewer PCs for 90%), PC2 EV of the class weights. CE is drawn
# dashed in every panel as the reference.

# %% tags=["timing"]
radar_cols = {"accuracy": summary["mean"]["top1"], "macro-F1": summary["mean"]["macro_f1"],
              "speed": 1.0 / summary["mean"]["sec_per_epoch"], "PC2 EV\n(features)": summary["mean"]["feat_pc2_ev"],
              "compact\n(-PCA 90%)": -summary["mean"]["feat_pca90"], "PC2 EV\n(weights)": summary["mean"]["weight_pc2_ev"]}
radar = pd.DataFrame(radar_cols)
span = (radar.max() - radar.min()).replace(0, 1.0)
radar = 10 * (radar - radar.min()) / span
angles = np.linspace(0, 2 * np.pi, radar.shape[1], endpoint=False)
closed = np.append(angles, angles[0])
n_panels = len(radar)
n_cols = 5
fig, axes = plt.subplots(math.ceil(n_panels / n_cols), n_cols, figsize=(3.1 * n_cols, 3.2 * math.ceil(n_panels / n_cols)),
                         subplot_kw={"projection": "polar"})
for ax in axes.flat[n_panels:]:
    ax.set_visible(False)
for k, (arm, row) in enumerate(radar.iterrows()):
    ax = axes.flat[k]
    ref = np.append(radar.loc["ce"].to_numpy(), radar.loc["ce"].to_numpy()[0])
    vals = np.append(row.to_numpy(), row.to_numpy()[0])
    ax.plot(closed, ref, color="grey", ls="--", lw=1)
    ax.plot(closed, vals, color=PALETTE[k % len(PALETTE)])
    ax.fill(closed, vals, color=PALETTE[k % len(PALETTE)], alpha=0.25)
    ax.set_xticks(angles, radar.columns, fontsize=6.5)
    ax.set_yticks([0, 5, 10], ["", "5", "10"], fontsize=6)
    ax.set_ylim(0, 10.5)
    ax.set_title(f"{arm}\nacc {100 * summary.loc[arm, ('mean', 'top1')]:.1f}%", fontsize=9)
fig.suptitle(f"{P.dataset}: scores normalised 0-10 across heads (larger = better; CE dashed)")
fig.tight_layout()
savefig(fig, SLUG, "radar", timing=True)
plt.show()

# %% [markdown]
# ## Part C: what the prototypes look like
# A single harmonic layer on the raw pixels (grow-crystals MNIST notebook: `DistLayer(784, 10, n=28)`,
# n = √d, init N(0, 1/√d)) vs a linear CE classifier, same optimiser (AdamW 1e-3). We show the 10
# class vectors as images and measure how prototype-like they are: the cosine similarity of each
# class vector with its class-mean image.

# %%
side = int(round(math.sqrt(in_dim / (3 if P.dataset.startswith("cifar") else 1))))
n_single = float(round(math.sqrt(in_dim)))
single = {}
for arm in ("ce", "harmonic"):
    make_deterministic(P.seed)
    if arm == "ce":
        model, loss = nn.Linear(in_dim, num_classes), nn.CrossEntropyLoss()
    else:
        model, loss = HarmonicHead(in_dim, num_classes, "euclidean", n=n_single, init_std=1 / n_single), HarmonicLoss()
    cfg_single = TrainConfig(iterations=P.weights_epochs * max(1, len(train_set) // P.weights_batch),
                             batch_size=min(P.weights_batch, len(train_set)), lr=1e-3, optimizer="adamw", weight_decay=0.01, device=P.device)
    train_classifier(model, loss, train_set, cfg_single, seed=P.seed, desc=f"single layer {arm}")
    scores, _ = embed(model, test_set, device=P.device)
    class_means = torch.stack([x_train[y_train == c].mean(0) for c in range(num_classes)])
    w = model.weight.detach().cpu()
    single[arm] = {"weights": w, "test acc": float((scores.argmax(1) == y_test).float().mean()),
                   "cos(w_c, class mean)": float(F.cosine_similarity(w, class_means, dim=1).mean())}

fig, axes = plt.subplots(2, num_classes if num_classes <= 10 else 10, figsize=(12, 2.9))
for r, arm in enumerate(("ce", "harmonic")):
    for c, ax in enumerate(axes[r]):
        img = single[arm]["weights"][c].reshape(-1, side, side).mean(0)
        lim = float(img.abs().max())
        ax.imshow(img.numpy(), cmap="RdBu_r" if arm == "ce" else "gray_r", vmin=-lim if arm == "ce" else 0, vmax=lim)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        if c == 0:
            ax.set_ylabel("linear CE" if arm == "ce" else f"harmonic\nn={n_single:g}", fontsize=9)
        if r == 0:
            ax.set_title(str(c), fontsize=9)
fig.suptitle("class vectors as images (CE: signed weights, red +, blue -; harmonic: prototypes)")
fig.tight_layout()
savefig(fig, SLUG, "prototypes")
plt.show()
pd.DataFrame({arm: {k: v for k, v in d.items() if k != "weights"} for arm, d in single.items()}).T.round(3)

# %% [markdown]
# ## Paper vs ours
# The paper reports its vision results only as radar plots normalised to 0-10 (Figure 1: MarathiSign,
# TinyImageNet, CIFAR-100 × MLP/CNN/ResNet-50/PVT); **no raw numbers were retrieved**, and the
# original harmonic paper's modular-addition numbers were not transcribed either. The paper column
# therefore holds the qualitative headline (abstract / Figure 1), not numbers.

# %%
ce_acc = summary.loc["ce", ("mean", "top1")]


def acc(arm):
    return summary.loc[arm, ("mean", "top1")] if arm in summary.index else np.nan


def feat_ev(arm):
    return summary.loc[arm, ("mean", "feat_pc2_ev")] if arm in summary.index else np.nan


rep = modadd_summary.loc["with replacement"]
cos_sharp = arm_name("cosine", sharp_n)
paper_vs_ours = pd.DataFrame([
    ("cosine head vs CE: accuracy", "higher (Fig. 1, qualitative)", f"{100 * (acc('cosine') - ce_acc):+.1f} pt (n=1), "
     f"{100 * (acc(cos_sharp) - ce_acc):+.1f} pt (n={sharp_n:g})"),
    ("cosine head vs Euclidean: time", "lower emissions (Fig. 1, qualitative)",
     "wall time per epoch: see the timing cell above (not kept in the committed notebook)"),
    ("Bray-Curtis vs Euclidean: PC2 EV (features)", "higher interpretability (abstract)",
     f"{feat_ev('bray_curtis') - feat_ev('euclidean'):+.3f}"),
    ("Mahalanobis vs Euclidean: PC2 EV (features)", "higher interpretability (abstract)",
     f"{feat_ev('mahalanobis') - feat_ev('euclidean'):+.3f}"),
    ("modular addition: CE / harmonic-Euclid test acc", "less grokking for harmonic (orig. paper, numbers not retrieved)",
     f"{rep.loc['ce', 'test acc']:.3f} / {rep.loc['euclidean', 'test acc']:.3f}"),
    ("modular addition: embedding EV of 2 PCs, harmonic-Euclid", "near-perfect circle (orig. paper)",
     f"{rep.loc['euclidean', 'EV 2 PCs (embedding)']:.3f}"),
], columns=["quantity", "paper", f"ours ({P.profile})"]).set_index("quantity")
paper_vs_ours

# %% [markdown]
# ## Claim check

# %%
assert np.isfinite(runs[METRICS].to_numpy()).all()
assert ((runs["top1"] >= 0) & (runs["top1"] <= 1)).all()
assert np.isfinite(modadd[["test acc", "EV 2 PCs (embedding)"]].to_numpy()).all()
if P.epochs >= 10:  # smoke runs cannot be judged on this
    assert (runs["top1"] > 2.0 / num_classes).all(), "a head did not train (accuracy near chance)"
    for (arm, s), result in train_results.items():
        first, last = np.mean(result.losses[:10]), np.mean(result.losses[-10:])
        assert last < first, f"{arm} seed {s} did not train: loss {first:.3f} -> {last:.3f}"

# (A) premise: under the original protocol, harmonic-Euclid reaches 90% test accuracy in fewer steps
# than CE on every seed (never reaching counts as infinitely many steps) and its embedding is a circle.
rep_runs = modadd[modadd.protocol == "with replacement"].set_index(["arm", "seed"])
steps_to90 = rep_runs["step to 90%"].fillna(np.inf)
a_faster = all(steps_to90[("euclidean", s)] < steps_to90[("ce", s)] for s in rep_runs.loc["euclidean"].index)
a_circle = rep.loc["euclidean", "EV 2 PCs (embedding)"] >= 0.9
a_holds = bool(a_faster and a_circle)
dis = modadd_summary.loc["disjoint"]
print(f"(A) with replacement: harmonic-Euclid reaches 90% before CE on every seed: {a_faster}; "
      f"embedding EV(2 PCs) {rep.loc['euclidean', 'EV 2 PCs (embedding)']:.3f} (>= 0.9: {a_circle}); "
      f"CE reaches 90% on {rep.loc['ce', 'runs reaching 90%']} seeds, harmonic-Euclid on {rep.loc['euclidean', 'runs reaching 90%']}")
print(f"    leak: {rep.loc['ce', 'test pairs seen in train']:.3f} of the test pairs were seen in training; "
      f"accuracy on unseen test pairs CE {rep.loc['ce', 'acc on unseen test pairs']:.3f}, "
      f"harmonic-Euclid {rep.loc['euclidean', 'acc on unseen test pairs']:.3f}")
print(f"    disjoint split: final test acc CE {dis.loc['ce', 'test acc']:.3f}, harmonic-Euclid {dis.loc['euclidean', 'test acc']:.3f}, "
      f"harmonic-cosine {dis.loc['cosine', 'test acc']:.3f}")

# (B) paper's claim: cosine improves accuracy over CE (at the paper's n = 1, or at n = sqrt(d));
# "within 1 point" is the weaker, partial form. Time is not judged (noisy shared CPU).
cos_gap = max(acc("cosine") - ce_acc, acc(cos_sharp) - ce_acc if cos_sharp in summary.index else -np.inf)
b_better = cos_gap > 0
b_close = cos_gap > -0.01
print(f"(B) cosine head minus CE accuracy: n=1 {100 * (acc('cosine') - ce_acc):+.1f} pt, "
      f"n={sharp_n:g} {100 * (acc(cos_sharp) - ce_acc):+.1f} pt; best {100 * cos_gap:+.1f} pt "
      f"(better: {b_better}, within 1 pt: {b_close})")
# (B') interpretability: Bray-Curtis and Mahalanobis raise the features' PC2 EV above Euclidean
interp = {h: feat_ev(h) > feat_ev("euclidean") for h in ("bray_curtis", "mahalanobis") if h in summary.index}
print(f"(B') PC2 EV of features above Euclidean's ({feat_ev('euclidean'):.3f}): "
      + ", ".join(f"{h} {feat_ev(h):.3f} ({ok})" for h, ok in interp.items())
      + f"; CE {feat_ev('ce'):.3f}")
b_interp = bool(interp) and all(interp.values())
# (B'') the same on the class prototypes / weights (the original paper's interpretability view)
def weight_ev(arm):
    return summary.loc[arm, ("mean", "weight_pc2_ev")] if arm in summary.index else np.nan


interp_w = {h: weight_ev(h) > weight_ev("euclidean") for h in ("bray_curtis", "mahalanobis") if h in summary.index}
print(f"(B'') PC2 EV of class weights above Euclidean's ({weight_ev('euclidean'):.3f}): "
      + ", ".join(f"{h} {weight_ev(h):.3f} ({ok})" for h, ok in interp_w.items()) + f"; CE {weight_ev('ce'):.3f}")
b_interp_w = bool(interp_w) and all(interp_w.values())

if a_holds and b_better and b_interp:
    verdict = "reproduced"
elif a_holds or b_close or b_interp or b_interp_w:
    verdict = "partly reproduced"
else:
    verdict = "not reproduced at this scale"
n_faster = sum(steps_to90[("euclidean", s)] < steps_to90[("ce", s)] for s in rep_runs.loc["euclidean"].index)
explanation = (
    f"Modular addition, original with-replacement protocol, {P.modadd_steps} steps: harmonic-Euclid reaches 90% test "
    f"accuracy before CE on {n_faster}/{len(rep_runs.loc['euclidean'])} seeds; its embedding is "
    f"{'circular' if a_circle else 'not circular'} "
    f"(EV of 2 PCs {rep.loc['euclidean', 'EV 2 PCs (embedding)']:.2f} vs CE {rep.loc['ce', 'EV 2 PCs (embedding)']:.2f}); "
    f"{rep.loc['ce', 'test pairs seen in train']:.0%} of its test pairs duplicate training pairs, and on the unseen ones "
    f"harmonic-Euclid scores {rep.loc['euclidean', 'acc on unseen test pairs']:.2f} vs CE {rep.loc['ce', 'acc on unseen test pairs']:.2f}. "
    f"Disjoint split ({P.modadd_disjoint_steps} steps): CE {dis.loc['ce', 'test acc']:.2f}, harmonic-Euclid "
    f"{dis.loc['euclidean', 'test acc']:.2f}, harmonic-cosine {dis.loc['cosine', 'test acc']:.2f}. "
    f"{P.dataset}: the cosine head is {100 * (acc('cosine') - ce_acc):+.1f} pt vs CE at the paper's n = 1 and "
    f"{100 * (acc(cos_sharp) - ce_acc):+.1f} pt at n = {sharp_n:g}; Bray-Curtis/Mahalanobis "
    f"{'raise' if b_interp else 'do not both raise'} the features' PC2 EV over Euclidean (official metric) and "
    f"{'raise' if b_interp_w else 'do not both raise'} the class weights' PC2 EV. Emissions were not measured."
)
print(f"verdict: {verdict}. {explanation}")

# %% [markdown]
# ### What the ci run shows
# - **Part A.** At about 1% of the original number of updates the clean picture "CE groks late,
#   harmonic does not" does **not** appear: harmonic-Euclid passes 90% test accuracy on one seed
#   of three. What does carry over is the *crystal*: its embedding lies on a circle (2 PCs explain
#   almost all variance, CE's do not), and, under the original with-replacement sampling, most of
#   CE's test accuracy is duplicates of training pairs: on the truly unseen test pairs harmonic-Euclid
#   is far ahead of CE. On the clean disjoint split, harmonic-*cosine* generalises on every seed,
#   CE on one, harmonic-Euclid on none within 1,000 steps. The protocol matters as much as the loss.
# - **Part B.** With the paper's n = 1 no distance head beats CE on digits (cosine ties it); with
#   the original paper's n = √d both Euclidean and cosine heads beat CE by about 2 points. The
#   sharpness n moves accuracy more than the choice of distance, and "n = 1" means a different
#   sharpness per family (Euclidean and cosine are squared distances, the others are not).
#   The paper's signed Bray-Curtis (denominator |Σ(x + w)|) loses about 12 points on ReLU features
#   with signed prototypes; its "abs" variant does not. On the official interpretability metric
#   (PCA of penultimate features) CE has the most 2-D structure, and Bray-Curtis and Mahalanobis
#   are both slightly *below* Euclidean; on the class weights, Bray-Curtis and
#   Mahalanobis are above Euclidean (as the paper says). Which reading the paper's radar uses
#   decides the interpretability verdict; the official code measures features.
# - **Part C.** Harmonic prototypes look like the digits (cosine with the class-mean image about
#   0.6 vs 0.25 for CE weights), as in the original paper.

# %%
summary_numbers = {f"{arm} accuracy": float(summary.loc[arm, ("mean", "top1")]) for arm in summary.index}
summary_numbers.update({f"{arm} PC2 EV (features)": float(summary.loc[arm, ("mean", "feat_pc2_ev")]) for arm in summary.index})
summary_numbers.update({f"modadd {arm} test acc (with replacement)": float(rep.loc[arm, "test acc"]) for arm in MODADD_ARMS})
summary_numbers.update({f"modadd {arm} test acc (disjoint)": float(dis.loc[arm, "test acc"]) for arm in MODADD_ARMS})
summary_numbers["modadd harmonic-euclidean embedding EV(2 PCs)"] = float(rep.loc["euclidean", "EV 2 PCs (embedding)"])
result_file = write_result(
    SLUG,
    title="Rethinking the Harmonic Loss via Non-Euclidean Distance Layers (arXiv 2026)",
    claim="Cosine-distance harmonic heads give the best accuracy/emissions trade-off on vision (accuracy up vs CE); "
          "Bray-Curtis and Mahalanobis raise PCA-structure interpretability; harmonic loss avoids grokking on modular addition.",
    verdict=verdict,
    explanation=explanation,
    ours=summary_numbers,
    paper={"cosine vs CE accuracy": "higher (Fig. 1, qualitative; numbers not retrieved)",
           "Bray-Curtis / Mahalanobis interpretability": "higher (abstract, qualitative)",
           "modular addition": "less grokking, circular embedding (orig. paper, numbers not retrieved)"},
    profile=P.profile,
)

# %%
# NBVAL_CHECK_OUTPUT
print(f"toy: grow-crystals identity gap < 1e-12: {gc_gap < 1e-12}; "
      f"p(w1|x1) euclidean {toy_table.loc['euclidean', 'p(w1|x1)']:.3f}, cosine {toy_table.loc['cosine', 'p(w1|x1)']:.3f}, "
      f"bray_curtis {toy_table.loc['bray_curtis', 'p(w1|x1)']:.3f}")
for (protocol, arm), row in modadd_summary.iterrows():
    print(f"modadd {protocol:16s} {arm:9s} test acc {row['test acc']:.3f}  unseen-pair acc {row['acc on unseen test pairs']:.3f}"
          f"  reached 90% {row['runs reaching 90%']}  EV(2 PCs) {row['EV 2 PCs (embedding)']:.3f}")
for arm in summary.index:
    print(f"{arm:22s} acc {summary.loc[arm, ('mean', 'top1')]:.3f} ± {summary.loc[arm, ('std', 'top1')]:.3f}"
          f"  F1 {summary.loc[arm, ('mean', 'macro_f1')]:.3f}  PC2 EV feat {summary.loc[arm, ('mean', 'feat_pc2_ev')]:.3f}"
          f"  weights {summary.loc[arm, ('mean', 'weight_pc2_ev')]:.3f}")
print(f"prototype cos(w_c, class mean): CE {single['ce']['cos(w_c, class mean)']:.3f}, harmonic {single['harmonic']['cos(w_c, class mean)']:.3f}")
print(f"verdict: {verdict}")
