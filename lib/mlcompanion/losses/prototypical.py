"""Prototype-based few-shot losses: Prototypical Networks' cross-entropy, the Proto-Triplet loss
and the ICNN loss, and their episodic combination.

Paper: susana_distancia -- Mendez-Ruiz, Gonzalez-Zapata, Reyes-Amezcua, Flores-Araiza, Lopez-Tiro,
Mendez-Vazquez & Ochoa-Ruiz, "SuSana Distancia is all you need: Enforcing class separability in
metric learning via two novel distance-based loss functions for few-shot image classification",
arXiv 2305.09062 (2023). Official code: ``maumruiz/FSL-Loss`` (``algorithms/icnn_loss.py``:
``modified_score``, ``proto_triplet_loss``, ``get_icnn_loss``; ``models/protonet.py``).

An episode holds ``way`` classes with ``shot`` supports and ``query`` queries each; episode-local
labels are 0..way-1. Prototypes are the support means, c_k = mean_{s: y_s = k} f(s).

* :class:`ProtoNetLoss`: L_CE = CE(-||q - c_k||^2 / T) over the ``way`` classes (Snell et al. 2017;
  the "cross" term; T = 1 in the paper).
* :class:`ProtoTripletLoss`: L_PT = mean_q max(0, delta(q, c_{y_q}) - min_{k != y_q} delta(q, c_k) + m),
  delta(a, b) = sqrt(||a - b||^2 + 1e-6), m = 0.5 (the "prototriplet" term).
* :class:`ICNNLoss`: -log of the ICNN score (:func:`mlcompanion.metrics.fewshot.icnn_score`) of the supports
  ("suppicnn"), of the queries against the supports or prototypes ("queryicnn") or of supports +
  queries ("fullicnn", ipc = shot + query).
* :class:`EpisodicProtoLoss`: the paper's total loss, the **mean** of the selected terms
  (``get_icnn_loss`` divides the sum by the number of terms), on a class-grouped batch as made by
  ``mlcompanion.data.ClassBalancedBatchSampler`` -- so it plugs into ``mlcompanion.train.train_embedding``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..distances.base import safe_sqrt
from ..metrics.fewshot import DISTANCE_EPS, _sq_dists, icnn_score
from ..validation import check_embeddings, check_labels, check_positive

__all__ = [
    "prototypes",
    "split_episode",
    "ProtoNetLoss",
    "ProtoTripletLoss",
    "ICNNLoss",
    "EpisodicProtoLoss",
    "TERMS",
]

#: The loss terms of the official ``--losses`` flag, in its spelling.
TERMS = ("cross", "prototriplet", "suppicnn", "queryicnn", "fullicnn")


def _check_local_labels(labels: torch.Tensor, way: int, name: str) -> None:
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= way):
        raise ValueError(
            f"{name} must be episode-local class indices in [0, {way}), got values in "
            f"[{int(labels.min())}, {int(labels.max())}]"
        )


def _float(x: torch.Tensor) -> torch.Tensor:
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def prototypes(support: torch.Tensor, support_labels: torch.Tensor) -> torch.Tensor:
    """Class prototypes c_k = mean of the support embeddings of class k (ProtoNet eq. 1).

    ``support_labels`` are episode-local, 0..way-1, every class present (way = max + 1).
    Returns (way, d). Any number of supports per class.
    """
    check_embeddings(support, "support")
    check_labels(support_labels, support.shape[0], "support_labels")
    way = int(support_labels.max()) + 1
    _check_local_labels(support_labels, way, "support_labels")
    counts = torch.bincount(support_labels, minlength=way)
    if bool((counts == 0).any()):
        missing = torch.nonzero(counts == 0).flatten().tolist()
        raise ValueError(f"support_labels must cover every class 0..{way - 1}, got none for class(es) {missing}")
    support = _float(support)
    sums = torch.zeros(way, support.shape[1], dtype=support.dtype, device=support.device)
    sums = sums.index_add(0, support_labels, support)
    return sums / counts.unsqueeze(1).to(support.dtype)


def split_episode(embeddings: torch.Tensor, labels: torch.Tensor, shot: int):
    """Split a class-grouped batch into an episode: the first ``shot`` items of each class are the
    supports, the rest the queries (``ClassBalancedBatchSampler`` batches are grouped by class and
    drawn without replacement within a class, so supports and queries are disjoint).

    Every class must have the same number of items, more than ``shot``. Labels are re-indexed to
    episode-local 0..way-1 (sorted original labels). Returns
    ``(support, support_labels, query, query_labels)``.
    """
    check_embeddings(embeddings)
    check_labels(labels, embeddings.shape[0])
    if isinstance(shot, bool) or not isinstance(shot, int) or shot < 1:
        raise ValueError(f"shot must be an int >= 1, got {shot!r}")
    _, local = torch.unique(labels, return_inverse=True)
    counts = torch.bincount(local)
    if bool((counts != counts[0]).any()):
        raise ValueError(f"labels: every class of the episode must have the same number of items, got counts {counts.tolist()}")
    if int(counts[0]) <= shot:
        raise ValueError(f"labels: each class needs more than shot = {shot} items (at least one query), got {int(counts[0])}")
    order = torch.argsort(local, stable=True)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.empty_like(local)
    rank[order] = torch.arange(len(local), device=local.device) - starts[local[order]]
    is_support = rank < shot
    return embeddings[is_support], local[is_support], embeddings[~is_support], local[~is_support]


class ProtoNetLoss(nn.Module):
    """Prototypical Networks' cross-entropy, the "cross" term of susana_distancia.

    logits_qk = -||q - c_k||^2 / T (squared Euclidean, as ``euclidean_dist`` of the official
    code), L = mean_q -log softmax_k(logits)_{y_q}. T = ``temperature`` (1 in the paper).
    ``forward(query, query_labels, protos)``; labels index the rows of ``protos``.
    """

    def __init__(self, temperature: float = 1.0):
        super().__init__()
        self.temperature = check_positive(temperature, "temperature")

    def logits(self, query: torch.Tensor, protos: torch.Tensor) -> torch.Tensor:
        return -_sq_dists(_float(query), _float(protos)) / self.temperature

    def forward(self, query: torch.Tensor, query_labels: torch.Tensor, protos: torch.Tensor) -> torch.Tensor:
        _check_episode(query, query_labels, protos)
        return F.cross_entropy(self.logits(query, protos), query_labels)


def _check_episode(query, query_labels, protos):
    check_embeddings(query, "query")
    check_labels(query_labels, query.shape[0], "query_labels")
    check_embeddings(protos, "protos")
    if protos.shape[1] != query.shape[1]:
        raise ValueError(f"protos must have the embedding dimension of query ({query.shape[1]}), got {protos.shape[1]}")
    _check_local_labels(query_labels, protos.shape[0], "query_labels")


class ProtoTripletLoss(nn.Module):
    """Proto-Triplet loss (susana_distancia, eq. "Proto-Triplet"; ``proto_triplet_loss``).

    Each query is an anchor, its own prototype the positive and the nearest other prototype the
    (hardest) negative:
        L_PT = (1/|Q|) sum_q max(0, delta(q, c_{y_q}) - min_{k != y_q} delta(q, c_k) + margin),
    delta(a, b) = sqrt(||a - b||^2 + eps), margin 0.5 and eps 1e-6 as the official code (plain,
    not squared, distances). With a single prototype there is no negative: the loss is 0, still
    connected to the graph.
    """

    def __init__(self, margin: float = 0.5, eps: float = DISTANCE_EPS):
        super().__init__()
        self.margin = check_positive(margin, "margin", allow_zero=True)
        self.eps = check_positive(eps, "eps", allow_zero=True)

    def forward(self, query: torch.Tensor, query_labels: torch.Tensor, protos: torch.Tensor) -> torch.Tensor:
        _check_episode(query, query_labels, protos)
        dist = safe_sqrt(_sq_dists(_float(query), _float(protos)) + self.eps)  # eps = 0: gradient 0 at d = 0
        own = F.one_hot(query_labels, protos.shape[0]).bool()
        pos = dist[own]
        neg = dist.masked_fill(own, float("inf")).min(dim=1).values
        return F.relu(pos - neg + self.margin).mean()


class ICNNLoss(nn.Module):
    """ICNN loss = -log(ICNN score) (susana_distancia, Sec. "ICNN loss"; ``get_icnn_loss``).

    ``mode``:
    * ``"support"`` ("suppicnn"): score of the supports among themselves (ipc = k + 1);
    * ``"query"`` ("queryicnn"): queries against the supports (``query_targets="support"``) or the
      prototypes (``"prototypes"``, the official ``--query_protos``);
    * ``"full"`` ("fullicnn", the default): supports + queries together, ipc = shot + query.

    ``faithful=True`` keeps the official dropping of the first neighbour in the ``"query"`` mode,
    where inputs and targets differ (so the true nearest support/prototype is ignored);
    ``faithful=False`` uses every target (the fix). The other modes always drop the point itself.

    ``forward(support, support_labels, query, query_labels)``; labels episode-local.
    """

    MODES = ("full", "support", "query")

    def __init__(self, mode: str = "full", k: int = 4, query_targets: str = "support", faithful: bool = True):
        super().__init__()
        if mode not in self.MODES:
            raise ValueError(f"mode must be one of {self.MODES}, got {mode!r}")
        if query_targets not in ("support", "prototypes"):
            raise ValueError(f"query_targets must be 'support' or 'prototypes', got {query_targets!r}")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be an int >= 1, got {k!r}")
        self.mode, self.k, self.query_targets, self.faithful = mode, k, query_targets, bool(faithful)

    def score(self, support, support_labels, query, query_labels) -> torch.Tensor:
        check_embeddings(support, "support")
        check_labels(support_labels, support.shape[0], "support_labels")
        check_embeddings(query, "query")
        check_labels(query_labels, query.shape[0], "query_labels")
        if self.mode == "support":
            self._check_targets(support.shape[0], "support")
            return icnn_score(support, support_labels, k=self.k)
        if self.mode == "query":
            if self.query_targets == "prototypes":
                targets = prototypes(support, support_labels)
                target_labels = torch.arange(targets.shape[0], device=targets.device)
            else:
                targets, target_labels = support, support_labels
            self._check_targets(targets.shape[0], f"the {self.query_targets} the queries are scored against")
            return icnn_score(query, query_labels, targets, target_labels, k=self.k, drop_first=self.faithful)
        way = int(support_labels.max()) + 1
        n = support.shape[0] + query.shape[0]
        if n % way:
            raise ValueError(f"mode 'full' needs the same shot + query for every class of support_labels and "
                             f"query_labels: {n} items for {way} classes")
        self._check_targets(n, "support and query together")
        if way < 2:  # each item's shot + query neighbours must exclude some item: another class
            raise ValueError(f"mode 'full' needs at least 2 classes in support_labels and query_labels, got {way}")
        x = torch.cat([support, query])
        return icnn_score(x, torch.cat([support_labels, query_labels]), k=self.k, ipc=n // way)

    def _check_targets(self, m: int, what: str) -> None:
        """icnn_score needs at least 3 targets (k is clipped to m - 2 >= 1): say so in the caller's terms."""
        if m < 3:
            raise ValueError(f"{what} hold too few items for ICNN (mode {self.mode!r}): icnn_score needs at "
                             f"least 3 targets, got {m}")

    def forward(self, support, support_labels, query, query_labels) -> torch.Tensor:
        return -torch.log(self.score(support, support_labels, query, query_labels))


class EpisodicProtoLoss(nn.Module):
    """The susana_distancia training loss on one episode: the mean of the selected terms.

    ``terms`` is a subset of :data:`TERMS` (the official ``--losses`` list): ``"cross"``
    (:class:`ProtoNetLoss`), ``"prototriplet"`` (:class:`ProtoTripletLoss`), ``"suppicnn"``,
    ``"queryicnn"``, ``"fullicnn"`` (:class:`ICNNLoss`). Total = sum of the terms / number of terms
    (``get_icnn_loss``).

    ``forward(embeddings, labels)`` takes a class-grouped batch (``ClassBalancedBatchSampler`` with
    ``classes_per_batch = way`` and ``samples_per_class = shot + query``) and splits it with
    :func:`split_episode`; ``episode_loss(support, support_labels, query, query_labels)`` takes an
    explicit episode. The detached value of each term of the last call is in ``last_terms``.
    """

    def __init__(self, shot: int, terms=("cross",), temperature: float = 1.0, margin: float = 0.5,
                 icnn_k: int = 4, query_targets: str = "support", faithful: bool = True):
        super().__init__()
        if isinstance(shot, bool) or not isinstance(shot, int) or shot < 1:
            raise ValueError(f"shot must be an int >= 1, got {shot!r}")
        terms = (terms,) if isinstance(terms, str) else tuple(terms)
        bad = [t for t in terms if t not in TERMS]
        if not terms or bad or len(set(terms)) != len(terms):
            raise ValueError(f"terms must be distinct names from {TERMS}, got {terms!r}")
        if isinstance(icnn_k, bool) or not isinstance(icnn_k, int) or icnn_k < 1:
            raise ValueError(f"icnn_k must be an int >= 1, got {icnn_k!r}")
        self.shot, self.terms = shot, terms
        self.cross = ProtoNetLoss(temperature)
        self.triplet = ProtoTripletLoss(margin)
        self.icnn = {
            "suppicnn": ICNNLoss("support", icnn_k),
            "queryicnn": ICNNLoss("query", icnn_k, query_targets=query_targets, faithful=faithful),
            "fullicnn": ICNNLoss("full", icnn_k),
        }
        self.last_terms: dict[str, float] = {}

    def episode_loss(self, support, support_labels, query, query_labels) -> torch.Tensor:
        protos = prototypes(support, support_labels)
        values = {}
        for term in self.terms:
            if term == "cross":
                values[term] = self.cross(query, query_labels, protos)
            elif term == "prototriplet":
                values[term] = self.triplet(query, query_labels, protos)
            else:
                values[term] = self.icnn[term](support, support_labels, query, query_labels)
        self.last_terms = {t: float(v.detach()) for t, v in values.items()}
        return torch.stack(list(values.values())).sum() / len(values)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.episode_loss(*split_episode(embeddings, labels, self.shot))
