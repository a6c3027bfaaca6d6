"""Dynamic subspace learners: Adiga Vasudeva, Dolz & Lombaert, "Attention-based Dynamic Subspace
Learners for Medical Image Analysis" (IEEE JBHI 2022, arXiv 2206.09068; DSL without attention, ADSL
with it), after the official code ``adigasu/Dynamic_subspace_learners`` (84fce0a): ``lib/loss/sampler.py``,
``lib/model.py`` (``FilterLearner``, ``split_neurons``), ``lib/clustering.py``,
``lib/data/loader/reassignment.py``, ``lib/data/loader/sampler.py`` and ``train.py``.

- ``margin_cutoff_triplets``: the official triplet sampler (every in-batch positive of an anchor; the
  floor(#positive pairs / B) closest negatives at distance >= ``cutoff``).
- ``taylor_scores`` / ``split_candidates`` / ``dynamic_split``: the learner-splitting rule (first-order
  Taylor importance of the last learner's neurons, as in filter pruning).
- ``recluster`` / ``drop_singletons``: divide-and-conquer data-to-learner assignment (Sanakoyeu et al.,
  CVPR 2019): K-means on the penultimate features and a linear assignment keeping learner identity.
- ``SubspaceSchedule`` / ``train_subspace_learners``: the training loop (classification network,
  K = 1, fixed K (DCML), dynamic K (DSL / ADSL)), validated every epoch.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset, TensorDataset

from .losses.margin import MarginLoss
from .miners import margin_cutoff_triplets
from .validation import check_embeddings, check_labels, check_positive, check_seed

__all__ = ["margin_cutoff_triplets", "taylor_scores", "split_candidates", "dynamic_split", "recluster",
           "drop_singletons", "cluster_batches", "SubspaceSchedule", "SubspaceResult", "train_subspace_learners"]


# The triplet sampler, margin_cutoff_triplets, lives with the other miners (mlcompanion.miners).


# ------------------------------------------------------------------------------------------------
# Splitting rule
# ------------------------------------------------------------------------------------------------


def taylor_scores(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """Importance of each neuron of a learner (official ``FilterLearner.compute_score`` /
    ``normalize_ranks``; JBHI 2022 Sec. II "Dynamic learners", after Molchanov et al.'s Taylor pruning).

    tau_j = mean_n a_nj g_nj over the stored activations a and their loss gradients g (n, m);
    v = |tau| / sqrt(sum_j tau_j^2 + 1e-8); returned min-max scaled to [0, 1]. A constant v (all
    neurons equally important, e.g. no gradient reached the learner) gives all zeros (the official
    code divides 0 by 0 and then refuses to split on the NaN).
    """
    for name, t in (("activations", activations), ("gradients", gradients)):
        check_embeddings(t, name)
    if activations.shape != gradients.shape:
        raise ValueError(f"activations and gradients must have the same shape (n, m), got "
                         f"{tuple(activations.shape)} and {tuple(gradients.shape)}")
    a, g = activations.detach().double(), gradients.detach().double()
    v = (a * g).mean(0).abs()
    v = v / torch.sqrt((v * v).sum() + 1e-8)
    span = v.max() - v.min()
    if not bool(span > 0):
        return torch.zeros_like(v, dtype=torch.float32)
    return ((v - v.min()) / span).float()


def _check_count(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def split_candidates(scores: torch.Tensor, neurons: torch.Tensor | None = None, thresh: float = 0.5,
                     min_neurons: int = 10, min_candidates: int = 5) -> torch.Tensor:
    """The neurons a split keeps in the old learner (official ``split_learner`` and the checks of
    ``train.py``), or an empty tensor when the rule does not split.

    The candidates are the neurons with score > ``thresh`` (0.5), best first. A split happens only
    when the learner has more than ``min_neurons`` (10) neurons, at least ``min_candidates`` (5)
    candidates, and at least one neuron is left for the new learner (the official code would create
    an empty learner).

    Args:
        scores: (m,) ``taylor_scores`` of the last learner's neurons, in [0, 1].
        neurons: (m,) the embedding indices of those neurons (default 0..m-1).
    Returns: LongTensor of embedding indices (best first), empty when no split.
    """
    if not isinstance(scores, torch.Tensor) or scores.dim() != 1 or not scores.is_floating_point():
        raise ValueError(f"scores must be a 1-D floating-point tensor, got "
                         f"{tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__}")
    if not bool(torch.isfinite(scores).all()) or (scores.numel() and (scores.min() < 0 or scores.max() > 1)):
        raise ValueError("scores must be finite and in [0, 1] (taylor_scores' min-max scaling)")
    thresh = check_positive(thresh, "thresh", allow_zero=True)
    if thresh >= 1:
        raise ValueError(f"thresh must be in [0, 1), got {thresh!r}")
    min_neurons = _check_count(min_neurons, "min_neurons", 0)
    min_candidates = _check_count(min_candidates, "min_candidates", 1)
    m = scores.numel()
    if neurons is None:
        neurons = torch.arange(m)
    if not isinstance(neurons, torch.Tensor) or neurons.shape != (m,) or neurons.is_floating_point():
        raise ValueError(f"neurons must be an integer tensor of shape ({m},), got {neurons!r}")
    empty = torch.empty(0, dtype=torch.long)
    if m <= min_neurons:
        return empty
    order = torch.sort(scores.detach().cpu(), descending=True, stable=True).indices
    chosen = order[scores.detach().cpu()[order] > thresh]
    if chosen.numel() < min_candidates or chosen.numel() >= m:
        return empty
    return neurons.cpu().long()[chosen]


def dynamic_split(embedding, activations: torch.Tensor, gradients: torch.Tensor, thresh: float = 0.5,
                  min_neurons: int = 10, min_candidates: int = 5, max_learners: int | None = None) -> bool:
    """Apply the splitting rule to the last learner of a ``SubspaceEmbedding`` (JBHI 2022 Sec. II;
    official ``train.py``). ``activations`` / ``gradients``: (n, dim) embedding outputs stored over the
    epoch and their loss gradients. Returns True when K grew by one (``embedding.split_last``)."""
    dim = embedding.dim
    for name, t in (("activations", activations), ("gradients", gradients)):
        check_embeddings(t, name)
        if t.shape[1] != dim:
            raise ValueError(f"{name} must have the embedding's {dim} columns, got {tuple(t.shape)}")
    if max_learners is not None and embedding.n_learners >= _check_count(max_learners, "max_learners", 1):
        return False
    last = embedding.learner_slices[-1]
    idx = last.to(activations.device)
    scores = taylor_scores(activations[:, idx], gradients[:, idx])
    cand = split_candidates(scores, last, thresh, min_neurons, min_candidates)
    if cand.numel() == 0:
        return False
    embedding.split_last(cand)
    return True


# ------------------------------------------------------------------------------------------------
# Divide and conquer
# ------------------------------------------------------------------------------------------------


def _as_assignment(x, n: int, name: str) -> np.ndarray:
    arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if arr.shape != (n,) or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must be an integer array of shape ({n},), got shape {arr.shape} and dtype {arr.dtype}")
    return arr.astype(np.int64)


def recluster(features, n_clusters: int, prev_assignment=None, seed: int = 0, n_init: int = 5) -> np.ndarray:
    """Divide-and-conquer data-to-learner assignment (Sanakoyeu et al. CVPR 2019, used by ADSL;
    official ``make_clustered_dataloaders`` / ``reassign_clusters``).

    K-means (scikit-learn, ``n_init`` restarts, seeded; the official code uses faiss with 5 redos) on
    the (n, D) features; with ``prev_assignment`` (learner ids in 0..K-1, -1 = unassigned) each new
    cluster c is given to learner l by a linear assignment minimising the L1 distance between the
    membership vectors, |C_c| + |P_l| - 2 |C_c and P_l|, so the learners keep their data as far as
    possible. (The official code builds this cost matrix only over the previous K clusters, so after a
    split the new cluster is never re-matched; here it is K x K with empty previous learners.)

    Returns: (n,) int64 learner ids in 0..K-1.
    """
    from scipy.optimize import linear_sum_assignment
    from sklearn.cluster import KMeans

    if isinstance(features, torch.Tensor):
        check_embeddings(features, "features")
        x = features.detach().cpu().double().numpy()
    else:
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.size == 0 or not np.isfinite(x).all():
            raise ValueError(f"features must be a finite non-empty (n, D) array, got shape {x.shape}")
    n = x.shape[0]
    k = _check_count(n_clusters, "n_clusters", 1)
    if k > n:
        raise ValueError(f"n_clusters must be <= the number of samples {n}, got {k}")
    seed = check_seed(seed)
    n_init = _check_count(n_init, "n_init", 1)
    if k == 1:
        return np.zeros(n, dtype=np.int64)
    curr = KMeans(n_clusters=k, n_init=n_init, random_state=seed % 2 ** 32).fit_predict(x).astype(np.int64)
    if prev_assignment is None:
        return curr
    prev = _as_assignment(prev_assignment, n, "prev_assignment")
    if prev.max() >= k or prev.min() < -1:
        raise ValueError(f"prev_assignment must hold learner ids in 0..{k - 1} or -1, got {prev.min()}..{prev.max()}")
    member_c = np.stack([curr == c for c in range(k)]).astype(np.int64)
    member_l = np.stack([prev == ell for ell in range(k)]).astype(np.int64)
    cost = member_c.sum(1)[None, :] + member_l.sum(1)[:, None] - 2 * member_l @ member_c.T  # (learner, cluster)
    learners, clusters = linear_sum_assignment(cost)
    out = np.empty(n, dtype=np.int64)
    for ell, c in zip(learners, clusters):
        out[curr == c] = ell
    return out


def drop_singletons(assignment, labels) -> np.ndarray:
    """A class with a single sample in a cluster is removed from it (learner id -1), as the official
    ``make_clustered_dataloaders`` (a lone sample has no positive)."""
    lab = _as_assignment(labels, len(labels), "labels")
    out = _as_assignment(assignment, len(lab), "assignment").copy()
    for c in np.unique(out[out >= 0]):
        in_c = out == c
        classes, counts = np.unique(lab[in_c], return_counts=True)
        for t in classes[counts == 1]:
            out[in_c & (lab == t)] = -1
    return out


def cluster_batches(assignment, labels, n_learners: int, classes_per_batch: int, samples_per_class: int,
                    generator: torch.Generator) -> list[tuple[int, torch.Tensor]]:
    """One epoch of class-balanced batches from each learner's cluster, merged round-robin (official
    ``ClassBalancedSampler`` and ``lib/data/loader/utils.merge``): cluster c gives max(1, floor((n_c - 1)
    / B)) batches of ``classes_per_batch`` random classes x ``samples_per_class`` samples (drawn
    without replacement from a shuffled pool per class, refilled when used up); the merge takes
    one batch of every cluster in turn, restarting the shorter ones, until the longest is used up.
    A cluster with fewer than two classes gives no batch. Returns [(learner, indices), ...]."""
    lab = _as_assignment(labels, len(labels), "labels")
    asg = _as_assignment(assignment, len(lab), "assignment")
    n_learners = _check_count(n_learners, "n_learners", 1)
    cpb = _check_count(classes_per_batch, "classes_per_batch", 1)
    spc = _check_count(samples_per_class, "samples_per_class", 1)
    b = cpb * spc
    per_cluster = []
    for c in range(n_learners):
        members = np.nonzero(asg == c)[0]
        classes = np.unique(lab[members])
        if classes.size < 2:
            continue
        pools = {int(t): [members[lab[members] == t], 0] for t in classes}
        for t in pools:
            perm = torch.randperm(len(pools[t][0]), generator=generator).numpy()
            pools[t][0] = pools[t][0][perm]
        per_cluster.append((c, classes, pools, max(1, (len(members) - 1) // b)))
    if not per_cluster:
        return []
    out = []
    for _ in range(max(n for *_, n in per_cluster)):
        for c, classes, pools, _n in per_cluster:
            if classes.size >= cpb:
                chosen = classes[torch.randperm(classes.size, generator=generator)[:cpb].numpy()]
            else:
                chosen = classes[torch.randint(classes.size, (cpb,), generator=generator).numpy()]
            idx = []
            for t in chosen:
                pool = pools[int(t)]
                for _s in range(spc):
                    if pool[1] >= len(pool[0]):
                        pool[0] = pool[0][torch.randperm(len(pool[0]), generator=generator).numpy()]
                        pool[1] = 0
                    idx.append(int(pool[0][pool[1]]))
                    pool[1] += 1
            out.append((c, torch.tensor(idx, dtype=torch.long)))
    return out


# ------------------------------------------------------------------------------------------------
# Training loop
# ------------------------------------------------------------------------------------------------


@dataclass
class SubspaceSchedule:
    """The ADSL training schedule (official ``config.json`` / ``train.py`` defaults; JBHI 2022 Sec. III).

    epochs 300, K = 1 fine-tuning of the whole embedding from ``finetune_epoch`` 250, re-clustering every
    ``mod_epoch`` = 2 epochs, exploration ``patience`` 10 epochs after the best validation NMI, batches
    of 4 classes x 8 samples, Adam lr 1e-5 and weight decay 1e-4, margin 0.2, beta 1.2 (fixed), sampler
    cutoff 0.5, split threshold 0.5, > 10 neurons and >= 5 candidates; ``max_learners`` None (no cap).
    """

    epochs: int = 300
    finetune_epoch: int = 250
    mod_epoch: int = 2
    patience: int = 10
    classes_per_batch: int = 4
    samples_per_class: int = 8
    lr: float = 1e-5
    weight_decay: float = 1e-4
    margin: float = 0.2
    beta: float = 1.2
    cutoff: float = 0.5
    score_threshold: float = 0.5
    min_neurons: int = 10
    min_candidates: int = 5
    max_learners: int | None = None
    kmeans_n_init: int = 5
    eval_batch_size: int = 256
    num_workers: int = 0
    device: str = "cpu"

    def __post_init__(self):
        for name in ("epochs", "mod_epoch", "classes_per_batch", "samples_per_class", "min_candidates",
                     "kmeans_n_init", "eval_batch_size"):
            _check_count(getattr(self, name), name, 1)
        for name in ("finetune_epoch", "patience", "min_neurons", "num_workers"):
            _check_count(getattr(self, name), name, 0)
        if self.max_learners is not None:
            _check_count(self.max_learners, "max_learners", 1)
        check_positive(self.lr, "lr")
        for name in ("weight_decay", "margin", "cutoff"):
            check_positive(getattr(self, name), name, allow_zero=True)
        check_positive(self.beta, "beta")
        if not 0 <= self.score_threshold < 1:
            raise ValueError(f"score_threshold must be in [0, 1), got {self.score_threshold!r}")


@dataclass
class SubspaceResult:
    """One run: per-iteration losses, the validation ``curve`` [(iterations done, value)], the number
    of learners after each epoch (``learners``), the epochs where a split happened, the best validation
    epoch (whose weights ``model`` holds), the training seconds (validation excluded), ``stopped``
    ("schedule": the fixed epoch schedule ran out), the CE head (classification arm)."""

    losses: list = field(default_factory=list)
    curve: list = field(default_factory=list)
    learners: list = field(default_factory=list)
    splits: list = field(default_factory=list)
    best_epoch: int = -1
    seconds: float = 0.0
    stopped: str = "schedule"
    model: nn.Module | None = None
    head: nn.Module | None = None

    @property
    def iterations(self) -> int:
        return len(self.losses)


MODES = ("ce", "fixed", "dynamic")


def _tensors(dataset: Dataset):
    if isinstance(dataset, TensorDataset):
        return dataset.tensors[0], dataset.tensors[1]
    return None


def _get_batch(dataset, idx: torch.Tensor):
    t = _tensors(dataset)
    if t is not None:
        return t[0][idx], t[1][idx]
    items = [dataset[int(i)] for i in idx]
    return torch.stack([x for x, _ in items]), torch.tensor([int(y) for _, y in items])


def _load(dataset, index_lists, num_workers: int):
    """Yield (x, y) for each list of indices: direct indexing for in-memory tensors, else a DataLoader
    with ``num_workers`` processes decoding the images (the paper profile)."""
    if _tensors(dataset) is not None or num_workers == 0:
        for idx in index_lists:
            yield _get_batch(dataset, torch.as_tensor(idx))
        return
    from torch.utils.data import DataLoader

    yield from DataLoader(dataset, batch_sampler=[list(map(int, idx)) for idx in index_lists],
                          num_workers=num_workers)


@torch.no_grad()
def _penultimate(model, dataset, batch_size: int, device, num_workers: int = 0) -> torch.Tensor:
    was = model.training
    model.eval()
    chunks = [torch.arange(s, min(s + batch_size, len(dataset))) for s in range(0, len(dataset), batch_size)]
    out = [model.penultimate(x.to(device)).float().cpu() for x, _ in _load(dataset, chunks, num_workers)]
    model.train(was)
    return torch.cat(out)


def train_subspace_learners(model: nn.Module, train_set: Dataset, labels, schedule: SubspaceSchedule, *,
                            mode: str, validate: Callable[[nn.Module], float], seed: int = 0,
                            n_classes: int | None = None, cluster_set: Dataset | None = None,
                            on_epoch: Callable | None = None) -> SubspaceResult:
    """Train one arm of the ADSL comparison (JBHI 2022 Sec. II-III; official ``train.py``).

    ``model``: a ``mlcompanion.models.subspace.SubspaceNet`` (its ``embedding.learner_slices`` give the
    initial K). ``mode``:

    - ``"ce"``: the classification network: a linear head on the raw embedding, cross-entropy
      (``n_classes`` needed), class-balanced batches of all the data;
    - ``"fixed"``: DCML with the model's K (K = 1: a single margin-loss learner); K > 1 re-clusters the
      penultimate features every ``mod_epoch`` epochs (``recluster``), each batch from one cluster trains
      its learner's normalised slice with ``MarginLoss`` on ``margin_cutoff_triplets``;
    - ``"dynamic"``: DSL / ADSL: start with the model's K (1), store the embedding activations and
      their gradients during each epoch, and apply ``dynamic_split`` when the epoch is at least
      ``patience`` after the best validation value, exploration is armed (a new best re-arms it after a
      split) and the epoch is before ``finetune_epoch``; a split enables re-clustering.

    From ``finetune_epoch`` on, the margin loss sees the whole embedding (K = 1 fine-tuning). After
    every epoch ``validate(model)`` (e.g. NMI on a split of the *training* images) is recorded; the
    weights of the best validation epoch are returned in ``result.model`` (model selection on the
    validation split; the official code selects on the test NMI).

    ``cluster_set``: the training images without augmentation for the K-means features (default
    ``train_set``); ``on_epoch(epoch, model, result)`` is called after each validation.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if not isinstance(schedule, SubspaceSchedule):
        raise ValueError(f"schedule must be a SubspaceSchedule, got {type(schedule).__name__}")
    if not callable(validate):
        raise ValueError("validate must be a callable model -> float (a validation split of the training data)")
    emb_module = getattr(model, "embedding", None)
    if not isinstance(model, nn.Module) or not hasattr(emb_module, "learner_slices"):
        raise ValueError("model must be a SubspaceNet (with .embedding.learner_slices)")
    seed = check_seed(seed)
    lab = labels if isinstance(labels, torch.Tensor) else torch.as_tensor(labels)
    lab = check_labels(lab.long(), len(train_set))
    device = torch.device(schedule.device)
    model.to(device).train()
    head = None
    params = list(model.parameters())
    if mode == "ce":
        n_classes = _check_count(n_classes, "n_classes", 2)
        if int(lab.max()) >= n_classes or int(lab.min()) < 0:
            raise ValueError(f"labels must lie in 0..{n_classes - 1} for the classification head")
        head = nn.Linear(emb_module.dim, n_classes).to(device)
        params += list(head.parameters())
    opt = torch.optim.Adam(params, lr=schedule.lr, weight_decay=schedule.weight_decay)
    margin = MarginLoss(margin=schedule.margin, beta=schedule.beta).to(device)
    gen = torch.Generator().manual_seed(seed + 1)
    cluster_set = train_set if cluster_set is None else cluster_set
    lab_np = lab.numpy()

    k = emb_module.n_learners
    recluster_on = mode == "fixed" and k > 1
    if recluster_on:
        feats = _penultimate(model, cluster_set, schedule.eval_batch_size, device, schedule.num_workers)
        assignment = recluster(feats, k, None, seed, schedule.kmeans_n_init)
    else:
        assignment = np.zeros(len(lab_np), dtype=np.int64)
    assignment = drop_singletons(assignment, lab_np)

    result = SubspaceResult()
    best, explore, best_state = -math.inf, True, None
    seconds = 0.0
    for epoch in range(schedule.epochs):
        start = time.perf_counter()
        finetune = mode != "ce" and epoch >= schedule.finetune_epoch
        k = emb_module.n_learners
        if finetune and (epoch == schedule.finetune_epoch):
            assignment = drop_singletons(np.zeros(len(lab_np), dtype=np.int64), lab_np)
        elif not finetune and epoch > 0 and recluster_on and epoch % schedule.mod_epoch == 0:
            feats = _penultimate(model, cluster_set, schedule.eval_batch_size, device, schedule.num_workers)
            assignment = drop_singletons(recluster(feats, k, assignment, seed + epoch, schedule.kmeans_n_init),
                                         lab_np)
        record = mode == "dynamic" and not finetune
        acts, grads = [], []
        batches = cluster_batches(assignment, lab_np, 1 if finetune else k, schedule.classes_per_batch,
                                  schedule.samples_per_class, gen)
        loader = _load(train_set, [idx for _, idx in batches], schedule.num_workers)
        for (learner, _), (x, y) in zip(batches, loader):
            x, y = x.to(device), y.to(device)
            if mode == "ce":
                loss = F.cross_entropy(head(model.raw_embedding(x)), y)
            else:
                out = model(x)
                if record:
                    out.retain_grad()
                m = F.normalize(out if finetune else out[:, emb_module.learner_slices[learner].to(device)], dim=1)
                loss = margin(m, y, indices_tuple=margin_cutoff_triplets(m, y, schedule.cutoff))
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {loss.item()} at epoch {epoch}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            result.losses.append(loss.item())
            if record:
                acts.append(out.detach())
                grads.append(out.grad.detach() if out.grad is not None else torch.zeros_like(out))
        seconds += time.perf_counter() - start
        value = float(validate(model))
        model.train()
        if not math.isfinite(value):
            raise FloatingPointError(f"validation returned {value} after epoch {epoch}")
        result.curve.append((len(result.losses), value))
        if value > best:
            best, result.best_epoch, explore = value, epoch, True
            best_state = copy.deepcopy(model)
        start = time.perf_counter()
        if (record and epoch > 0 and epoch >= result.best_epoch + schedule.patience and explore and acts):
            if dynamic_split(emb_module, torch.cat(acts), torch.cat(grads), schedule.score_threshold,
                             schedule.min_neurons, schedule.min_candidates, schedule.max_learners):
                result.splits.append(epoch)
                recluster_on = True
                explore = False
        result.learners.append(emb_module.n_learners)
        seconds += time.perf_counter() - start
        if on_epoch is not None:
            on_epoch(epoch, model, result)
    result.seconds = seconds
    result.model = best_state if best_state is not None else model
    result.head = head
    return result
