"""Multi-scale prototypical networks with learnable stage weights and per-stage self-attention.

Paper: multiscale_fewshot -- Askari, Fateh & Mohammadi, "Enhancing Few-Shot Image Classification
through Learnable Multi-Scale Embedding and Attention Mechanisms", arXiv 2409.07989 (2024); method
"MSENet", official code ``FatemehAskari/MSENet`` (``Prototypicalmultiscalewithattention/
prototypicalNetwork_attention.py``, ``PrototypicalwithmultiWeightLearnable/prototypicalNetwork.py``).

* :class:`StageTaps`: the feature maps of several backbone stages from ONE forward pass (forward
  hooks on the named modules; the official code re-runs the backbone once per stage and branch).
* :class:`SelfAttention2d`: the SAGAN block of the paper's Sec. "Self-attention": q = W_q F,
  k = W_k F (C/8 channels), v = W_v F, A = softmax over keys of q^T k, out = gamma * v A^T + F.
  Registered (trained) modules; ``official_quirks=True`` in :class:`MultiScaleProtoHead` draws fresh
  random projections at every call, as the official code does.
* :func:`proto_logits`: -||q - c_k||_2 (non-squared Euclidean, ``torch.cdist`` semantics; the
  squared distance is clamped at ``eps`` before the square root so the gradient is finite).
* :class:`MultiScaleProtoHead`: logits l_k(q) = -sum_s w_s d_s(q, c_{s,k}) over the stages
  (paper eq. for the multi-scale distance), learnable w_s (ReLU'd in the weights-only variant),
  optional per-stage attention with separate gamma for the support and the query branch.
* :class:`MultiScaleEpisodeLoss`: the cross-entropy over the query logits of a class-grouped batch
  (``ClassBalancedBatchSampler``), so ``mlcompanion.train.train_embedding`` trains backbone and head
  (the head's parameters are the loss's, at ``lr * loss_lr_multiplier``: the paper's 1e-4 / 5e-3).
* :func:`multiscale_fewshot_eval`: N-way K-shot accuracy with 95 % CI on episodes drawn from
  per-stage embeddings computed once (``mlcompanion.metrics.fewshot.fewshot_accuracy``).
* :func:`run_head_arms`: trains every (arm, seed) from the same backbone initialisation, validating
  episodically on held-out training classes with the arm's own head and stopping at a plateau.

Import by full module path: ``from mlcompanion.multiscale import MultiScaleProtoHead``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from .data.episodes import EpisodeSampler
from .losses.prototypical import prototypes, split_episode
from .metrics.fewshot import fewshot_accuracy
from .repro import make_deterministic
from .train import TrainConfig, TrainResult, train_embedding
from .validation import check_embeddings, check_finite, check_int, check_labels, check_positive

__all__ = [
    "StageTaps",
    "SelfAttention2d",
    "proto_logits",
    "MultiScaleProtoHead",
    "MultiScaleEpisodeLoss",
    "stage_embeddings",
    "multiscale_fewshot_eval",
    "run_head_arms",
    "DISTANCE_CLAMP",
]

#: The squared distance is clamped at this value before the square root (finite gradients at 0).
DISTANCE_CLAMP = 1e-12


def _float(x: torch.Tensor) -> torch.Tensor:
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def _check_maps(x, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (B, C, H, W), got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"{name} must have shape (B, C, H, W), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {x.dtype}")
    if x.numel() == 0:
        raise ValueError(f"{name} must be non-empty, got shape {tuple(x.shape)}")
    check_finite(x, name)
    return x


# --------------------------------------------------------------------------------------------
# stage taps
# --------------------------------------------------------------------------------------------


class StageTaps(nn.Module):
    """Feature maps of several named modules of ``backbone`` from one forward pass (forward hooks).

    MSENet (arXiv 2409.07989), the multi-scale embedding: the official code takes the outputs of
    the graph nodes ``maxpool``, ``layer2.0.conv1``, ``layer3.0.conv1``, ``layer4.0.conv1`` and
    ``avgpool`` of a torchvision ResNet-18 (``get_graph_node_names`` indices 4, 19, 35, 51, 67), by
    re-tracing the backbone once per stage. Here one forward with a hook on each module gives the
    same tensors (``torchvision.models.feature_extraction.create_feature_extractor`` at the same
    node names, for modules called once per forward). ``forward(x)`` returns the list of maps in
    ``layer_names`` order; the backbone's own output is discarded.
    """

    def __init__(self, backbone: nn.Module, layer_names: Sequence[str]):
        super().__init__()
        if not isinstance(backbone, nn.Module):
            raise TypeError(f"backbone must be a torch.nn.Module, got {type(backbone).__name__}")
        if isinstance(layer_names, str) or not layer_names:
            raise ValueError(f"layer_names must be a non-empty sequence of module names, got {layer_names!r}")
        modules = dict(backbone.named_modules())
        missing = [n for n in layer_names if n not in modules or n == ""]
        if missing:
            raise ValueError(f"layer_names {missing} are not modules of the backbone; some of its modules: "
                             f"{[n for n in modules if n][:12]}")
        if len(set(layer_names)) != len(layer_names):
            raise ValueError(f"layer_names must be distinct, got {list(layer_names)}")
        self.backbone = backbone
        self.layer_names = tuple(layer_names)
        self._store: dict[str, torch.Tensor] = {}
        for name in self.layer_names:
            modules[name].register_forward_hook(self._hook(name))

    def _hook(self, name: str):
        def hook(_module, _inputs, output):
            self._store[name] = output
        return hook

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        self._store = {}
        self.backbone(x)
        store, self._store = self._store, {}
        missing = [n for n in self.layer_names if n not in store]
        if missing:
            raise RuntimeError(f"the backbone's forward did not call the tapped modules {missing}")
        return [store[n] for n in self.layer_names]


# --------------------------------------------------------------------------------------------
# self-attention
# --------------------------------------------------------------------------------------------


class SelfAttention2d(nn.Module):
    """SAGAN self-attention block on a feature map (MSENet's per-stage attention, Zhang et al. 2019).

    For F in R^{C x N} (N = H W): q = W_q F and k = W_k F with ``max(1, C // reduction)`` channels,
    v = W_v F with C channels (1x1 convolutions with bias), A = softmax_keys(q^T k) (N x N),
    ``out = gamma * v A^T + F``. With gamma = 0 the block is the identity; at a 1x1 map A = 1 and
    ``out = gamma * W_v F + F``. ``gamma`` defaults to 0 (SAGAN's init); ``learn_gamma`` makes it a
    parameter. ``forward(x, gamma=None)`` uses an explicit gamma when given (the head's separate
    support / query gammas).
    """

    def __init__(self, channels: int, reduction: int = 8, gamma: float = 0.0, learn_gamma: bool = True):
        super().__init__()
        self.channels = check_int(channels, "channels")
        self.reduction = check_int(reduction, "reduction")
        g = float(gamma) if isinstance(gamma, (int, float)) and not isinstance(gamma, bool) else None
        if g is None or not math.isfinite(g):
            raise ValueError(f"gamma must be a finite number, got {gamma!r}")
        inner = max(1, self.channels // self.reduction)
        self.query = nn.Conv2d(self.channels, inner, 1)
        self.key = nn.Conv2d(self.channels, inner, 1)
        self.value = nn.Conv2d(self.channels, self.channels, 1)
        if learn_gamma:
            self.gamma = nn.Parameter(torch.tensor(g))
        else:
            self.register_buffer("gamma", torch.tensor(g))

    def forward(self, x: torch.Tensor, gamma: torch.Tensor | float | None = None) -> torch.Tensor:
        _check_maps(x, "x")
        if x.shape[1] != self.channels:
            raise ValueError(f"x must have {self.channels} channels, got {x.shape[1]}")
        dtype = x.dtype
        x = _float(x)  # half precision computes in float32; float64 input keeps float64 (weights cast)
        b, c, h, w = x.shape
        n = h * w

        def conv(layer: nn.Conv2d) -> torch.Tensor:
            return F.conv2d(x, layer.weight.to(x.dtype), layer.bias.to(x.dtype))

        q = conv(self.query).reshape(b, -1, n).transpose(1, 2)  # (B, N, C')
        k = conv(self.key).reshape(b, -1, n)  # (B, C', N)
        attn = torch.softmax(torch.bmm(q, k), dim=-1)  # (B, N, N): row i = query position i
        v = conv(self.value).reshape(b, c, n)
        out = torch.bmm(v, attn.transpose(1, 2)).reshape(b, c, h, w)
        g = self.gamma if gamma is None else gamma
        return (g * out + x).to(dtype)


# --------------------------------------------------------------------------------------------
# distances and the head
# --------------------------------------------------------------------------------------------


def proto_logits(query: torch.Tensor, protos: torch.Tensor, squared: bool = False,
                 eps: float = DISTANCE_CLAMP) -> torch.Tensor:
    """Prototypical logits -d(q, c_k): MSENet uses the non-squared Euclidean distance
    (``torch.cdist``, easyfsl's ``PrototypicalNetworks``); ``squared=True`` gives Snell et al.'s.

    The squared distance is computed from direct differences (exact for close pairs) and clamped at
    ``eps`` (> 0) before the square root, so the gradient stays finite when a query sits on a
    prototype. Computed in >= float32; returns (n_query, n_protos).
    """
    check_embeddings(query, "query")
    check_embeddings(protos, "protos")
    if query.shape[1] != protos.shape[1]:
        raise ValueError(f"query and protos must have the same dimension, got {query.shape[1]} and {protos.shape[1]}")
    if not isinstance(squared, bool):
        raise TypeError(f"squared must be a bool, got {squared!r}")
    check_positive(eps, "eps")
    q, p = _float(query), _float(protos)
    if q.dtype != p.dtype:
        q, p = q.to(torch.promote_types(q.dtype, p.dtype)), p.to(torch.promote_types(q.dtype, p.dtype))
    sq = (q.unsqueeze(1) - p.unsqueeze(0)).pow(2).sum(-1)
    return -sq if squared else -sq.clamp_min(eps).sqrt()


class MultiScaleProtoHead(nn.Module):
    """MSENet's head: logits l_k(q) = -sum_s w_s ||z_s(q) - c_{s,k}||_2 over ``num_stages`` stages.

    z_s = global average pool of the stage map (after the stage's self-attention when ``attention``),
    c_{s,k} = mean of the support z_s of class k. Defaults follow the official weights-only script
    (``PrototypicalwithmultiWeightLearnable``): w_s init 1.0, ReLU(w_s). The attention variant of the
    official code uses raw w_s (``relu_weights=False``), SAGAN blocks per stage (``channels`` needed),
    gamma 0.2 (learnable, separate for the support and the query branch).

    Args:
        num_stages: number of stages S.
        init_w: initial w_s (a float, or S floats).
        relu_weights: use ReLU(w_s) (weights-only variant) instead of raw w_s.
        learn_weights: w_s trainable (False: fixed, e.g. uniform weights or a single stage).
        attention: per-stage SAGAN blocks (``channels[s]`` channels each).
        gamma, learn_gamma, separate_gamma: the attention's gamma (init), trainable, one per branch.
        official_quirks: fresh random W_q, W_k, W_v at every call (never trained), as the official
            code; for fidelity checks only.
    """

    def __init__(self, num_stages: int, init_w=1.0, relu_weights: bool = True, learn_weights: bool = True,
                 attention: bool = False, channels: Sequence[int] | None = None, gamma: float = 0.2,
                 learn_gamma: bool = True, separate_gamma: bool = True, official_quirks: bool = False):
        super().__init__()
        self.num_stages = check_int(num_stages, "num_stages")
        w = [init_w] * self.num_stages if isinstance(init_w, (int, float)) else list(init_w)
        if len(w) != self.num_stages or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                and math.isfinite(v) for v in w):
            raise ValueError(f"init_w must be a finite number or {self.num_stages} finite numbers, got {init_w!r}")
        for flag, name in ((relu_weights, "relu_weights"), (learn_weights, "learn_weights"), (attention, "attention"),
                           (learn_gamma, "learn_gamma"), (separate_gamma, "separate_gamma"),
                           (official_quirks, "official_quirks")):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be a bool, got {flag!r}")
        weights = torch.tensor(w, dtype=torch.float32)
        if learn_weights:
            self.weights = nn.Parameter(weights)
        else:
            self.register_buffer("weights", weights)
        self.relu_weights = relu_weights
        self.attention = attention
        self.official_quirks = official_quirks
        self.separate_gamma = separate_gamma
        if attention:
            if channels is None or len(channels) != self.num_stages:
                raise ValueError(f"attention=True needs channels: one channel count per stage ({self.num_stages}), "
                                 f"got {channels!r}")
            self.channels = tuple(check_int(c, "channels[s]") for c in channels)
            if not isinstance(gamma, (int, float)) or isinstance(gamma, bool) or not math.isfinite(gamma):
                raise ValueError(f"gamma must be a finite number, got {gamma!r}")
            self.blocks = nn.ModuleList(SelfAttention2d(c, gamma=0.0, learn_gamma=False) for c in self.channels)
            g = torch.full((2 if separate_gamma else 1, self.num_stages), float(gamma))
            if learn_gamma:
                self.gammas = nn.Parameter(g)
            else:
                self.register_buffer("gammas", g)

    def stage_weights(self) -> torch.Tensor:
        """The effective weights (ReLU(w) or w), shape (S,)."""
        return F.relu(self.weights) if self.relu_weights else self.weights

    def _gamma(self, s: int, branch: str) -> torch.Tensor:
        row = 1 if (self.separate_gamma and branch == "support") else 0
        return self.gammas[row, s]

    def embed(self, maps: Sequence[torch.Tensor], branch: str = "query") -> list[torch.Tensor]:
        """Per-stage embeddings z_s (n, C_s): attention (if any, with the branch's gamma), then GAP."""
        if branch not in ("query", "support"):
            raise ValueError(f"branch must be 'query' or 'support', got {branch!r}")
        if isinstance(maps, torch.Tensor) or len(maps) != self.num_stages:
            raise ValueError(f"maps must be a list of {self.num_stages} stage maps, got "
                             f"{type(maps).__name__} of length {len(maps) if not isinstance(maps, torch.Tensor) else '-'}")
        out = []
        for s, m in enumerate(maps):
            if m.ndim == 2:
                m = m[:, :, None, None]
            _check_maps(m, f"maps[{s}]")
            if self.attention:
                block = self.blocks[s]
                if self.official_quirks:
                    block = SelfAttention2d(m.shape[1], gamma=0.0, learn_gamma=False).to(m.device)
                m = block(m, gamma=self._gamma(s, branch))
            out.append(_float(m).mean(dim=(2, 3)))
        n = {int(z.shape[0]) for z in out}
        if len(n) != 1:
            raise ValueError(f"every stage map must have the same batch size, got {sorted(n)}")
        return out

    def logits_from_embeddings(self, support: Sequence[torch.Tensor], support_labels: torch.Tensor,
                               query: Sequence[torch.Tensor]) -> torch.Tensor:
        """-sum_s w_s ||z_s(q) - c_{s,k}||_2 from per-stage embeddings; (n_query, way)."""
        if len(support) != self.num_stages or len(query) != self.num_stages:
            raise ValueError(f"support and query must hold {self.num_stages} stage embeddings each")
        w = self.stage_weights()
        total = 0.0
        for s in range(self.num_stages):
            protos = prototypes(support[s], support_labels)
            total = total + w[s].to(protos.dtype) * proto_logits(query[s], protos)
        return total

    def forward(self, support_maps: Sequence[torch.Tensor], support_labels: torch.Tensor,
                query_maps: Sequence[torch.Tensor]) -> torch.Tensor:
        """Logits (n_query, way) of an episode from the stage maps of its supports and queries."""
        return self.logits_from_embeddings(self.embed(support_maps, "support"), support_labels,
                                           self.embed(query_maps, "query"))


class MultiScaleEpisodeLoss(nn.Module):
    """MSENet's training loss: cross-entropy over the query logits of an episode (mean over queries).

    ``batch_loss(taps, x, y)`` (the ``mlcompanion.train`` hook): ``taps`` (a :class:`StageTaps`) maps
    the class-grouped batch in one forward; the first ``shot`` items of each class are the supports
    (``split_episode``), the rest the queries. The head is a submodule, so its parameters train at
    ``cfg.lr * cfg.loss_lr_multiplier`` (paper: backbone 1e-4, w_s and gamma 5e-3).
    """

    def __init__(self, head: MultiScaleProtoHead, shot: int):
        super().__init__()
        if not isinstance(head, MultiScaleProtoHead):
            raise TypeError(f"head must be a MultiScaleProtoHead, got {type(head).__name__}")
        self.head = head
        self.shot = check_int(shot, "shot")

    def batch_loss(self, taps: nn.Module, x: torch.Tensor, y: torch.Tensor):
        maps = taps(x)
        check_labels(y, x.shape[0])
        idx = torch.arange(x.shape[0], dtype=torch.float64, device=x.device).unsqueeze(1)
        s_idx, s_lab, q_idx, q_lab = split_episode(idx, y, self.shot)
        s_idx, q_idx = s_idx[:, 0].long(), q_idx[:, 0].long()
        logits = self.head([m[s_idx] for m in maps], s_lab, [m[q_idx] for m in maps])
        loss = F.cross_entropy(logits, q_lab)
        return loss, torch.cat([_float(m).mean(dim=(2, 3)) if m.ndim == 4 else m for m in maps], dim=1)

    def forward(self, embeddings, labels):  # pragma: no cover - the trainer calls batch_loss
        raise RuntimeError("MultiScaleEpisodeLoss needs the stage maps: train with mlcompanion.train.train_embedding "
                           "(which calls batch_loss(taps, x, y))")


# --------------------------------------------------------------------------------------------
# evaluation
# --------------------------------------------------------------------------------------------


@torch.no_grad()
def stage_embeddings(taps: nn.Module, head: MultiScaleProtoHead, dataset, batch_size: int = 256,
                     device: str = "cpu", num_workers: int = 0) -> dict:
    """Per-stage embeddings of a whole dataset, computed once (MSENet's test: embed, then draw
    episodes): ``{"support": [S tensors (n, C_s)], "query": [...], "labels": (n,)}``; support and query
    lists are the same object unless the head has attention with separate gammas. Eval mode during
    the pass (the previous modes are restored); float32 on the CPU. ``dataset`` is a
    ``TensorDataset(images, labels)`` or any dataset of ``(image, label)``."""
    from torch.utils.data import DataLoader, Dataset, TensorDataset

    if not isinstance(dataset, Dataset):
        raise TypeError(f"dataset must be a torch Dataset of (image, label), got {type(dataset).__name__}")
    check_int(batch_size, "batch_size")
    was = taps.training, head.training
    taps.to(device).eval()
    head.to(device).eval()
    branches = ("support", "query") if (head.attention and head.separate_gamma) else ("query",)
    chunks = {b: [[] for _ in range(head.num_stages)] for b in branches}
    if isinstance(dataset, TensorDataset):
        x_all, y_all = dataset.tensors[:2]
        batches = ((x_all[i:i + batch_size], y_all[i:i + batch_size]) for i in range(0, len(x_all), batch_size))
    else:
        batches = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    labels = []
    for x, y in batches:
        maps = taps(x.to(device))
        labels.append(torch.as_tensor(y).long().cpu())
        for b in branches:
            for s, z in enumerate(head.embed(maps, b)):
                chunks[b][s].append(z.float().cpu())
    out = {b: [torch.cat(c) for c in chunks[b]] for b in branches}
    if "support" not in out:
        out["support"] = out["query"]
    out["labels"] = torch.cat(labels)
    taps.train(was[0])
    head.train(was[1])
    return out


@torch.no_grad()
def multiscale_fewshot_eval(embeddings: Mapping[str, Sequence[torch.Tensor]], weights: torch.Tensor, way: int = 5, shot: int = 1, query: int = 15,
                            episodes: int = 600, seed: int = 0) -> dict:
    """N-way K-shot accuracy of the multi-scale prototype rule on episodes of cached embeddings.

    MSENet's test protocol (5-way, 1/5 shots; the paper reports no CI, we add the 95 % half-width
    ``1.96 std / sqrt(episodes)`` of ``fewshot_accuracy``). ``embeddings`` is
    :func:`stage_embeddings`'s output (``support``, ``query``, ``labels``); ``weights`` the effective stage weights (S,). Episodes are drawn
    by ``EpisodeSampler(labels, way, shot, query, episodes, seed)``: the same index sets for every
    model (paired). Returns ``{"acc", "ci", "per_episode"}``.
    """
    try:
        sup, qry, labels = embeddings["support"], embeddings["query"], embeddings["labels"]
    except (KeyError, TypeError):
        raise ValueError("embeddings must be stage_embeddings' output: a dict with 'support', 'query' and 'labels'") from None
    for name, lst in (("support", sup), ("query", qry)):
        for s, e in enumerate(lst):
            check_embeddings(e, f"embeddings[{name!r}][{s}]")
    check_labels(labels, sup[0].shape[0])
    for value, name in ((way, "way"), (shot, "shot"), (query, "query"), (episodes, "episodes")):
        check_int(value, name)
    w = torch.as_tensor(weights, dtype=torch.float64).flatten()
    if w.numel() != len(sup) or len(qry) != len(sup):
        raise ValueError(f"weights must have one entry per stage ({len(sup)}), got {w.numel()}")
    check_finite(w, "weights")
    try:
        sampler = EpisodeSampler(labels, way=way, shot=shot, query=query, n_episodes=episodes, seed=seed)
    except ValueError as err:
        raise ValueError(f"labels cannot supply {way}-way {shot}-shot episodes with {query} queries: {err}") from None
    idx = torch.as_tensor(np.asarray(list(sampler)), dtype=torch.long)  # (E, way*(shot+query))
    n_sup = way * shot
    total = 0.0
    for s in range(len(sup)):
        e_s, e_q = sup[s].double(), qry[s].double()
        protos = e_s[idx[:, :n_sup]].reshape(episodes, way, shot, -1).mean(dim=2)
        qs = e_q[idx[:, n_sup:]]
        d = (qs.unsqueeze(2) - protos.unsqueeze(1)).pow(2).sum(-1).clamp_min(DISTANCE_CLAMP).sqrt()
        total = total + w[s] * d
    pred = total.argmin(dim=-1)
    truth = torch.arange(way).repeat_interleave(query)
    per_episode = (pred == truth).double().mean(dim=1).numpy()
    acc, ci = fewshot_accuracy(per_episode)
    return {"acc": acc, "ci": ci, "per_episode": per_episode}


# --------------------------------------------------------------------------------------------
# training arms
# --------------------------------------------------------------------------------------------


def run_head_arms(
    arms: Mapping[str, Callable[[], MultiScaleProtoHead]],
    make_taps: Callable[[], nn.Module],
    train_set, train_labels,
    cfg: TrainConfig,
    seeds: Sequence[int],
    shot: int,
    validate: Callable[[nn.Module, MultiScaleProtoHead], float],
    evaluate: Callable[[nn.Module, MultiScaleProtoHead], dict],
    batch_transform=None,
) -> tuple[pd.DataFrame, dict[tuple[str, int], TrainResult]]:
    """Episodic fine-tuning of backbone + head per (arm, seed), as ``mlcompanion.experiments.run_arms``
    but with the head (the loss's parameters) passed to validation and evaluation.

    Each run starts from ``make_deterministic(seed)``; ``make_taps()`` builds the (pre-trained)
    backbone wrapped in :class:`StageTaps`, ``arms[name]()`` the head. ``validate(taps, head) -> float``
    scores held-out *training* classes every ``cfg.eval_every`` episodes (the trainer stops at its
    plateau); ``evaluate(taps, head) -> {metric: value}`` scores the test domains after training.
    Returns the runs table (``arm``, ``seed``, metrics, ``iterations``, ``train_seconds``) and the
    ``TrainResult`` of every run with ``.model`` (the taps) and ``.loss`` (holding ``.head``) kept.
    """
    if not arms:
        raise ValueError("arms must name at least one head")
    if not seeds:
        raise ValueError("seeds must hold at least one seed")
    rows, results = [], {}
    for name, make_head in arms.items():
        for seed in seeds:
            make_deterministic(int(seed))
            taps = make_taps()
            loss = MultiScaleEpisodeLoss(make_head(), shot)
            result = train_embedding(taps, loss, train_set, train_labels, cfg, seed=int(seed),
                                     batch_transform=batch_transform, desc=f"{name} seed {seed}",
                                     validate=lambda m, head=loss.head: validate(m, head))
            metrics = evaluate(taps, loss.head)
            rows.append({"arm": name, "seed": int(seed), **metrics, "iterations": result.iterations,
                         "train_seconds": result.seconds})
            result.model, result.loss = taps, loss
            results[(name, int(seed))] = result
    return pd.DataFrame(rows), results
