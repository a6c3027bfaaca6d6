"""Zero-shot retrieval metrics in the deep-metric-learning sense (Musgrave et al. 2020, "A Metric
Learning Reality Check", Sec. 3.2), computed from a blocked k-nearest-neighbour search.

Every embedding is a query against all the others (leave-one-out): a query is never its own
neighbour, and queries whose class has no other member are skipped (they have nothing to find).

- Recall@K (the DML "recall", really a hit rate): 1 if any of the K nearest neighbours shares the
  query's label. Recall@1 = Precision@1.
- R-Precision: with R = number of other items of the query's class, the fraction of the R nearest
  neighbours that share its label.
- MAP@R: (1/R) sum_{i=1..R} P(i) rel(i), where P(i) is the precision among the first i neighbours
  and rel(i) = 1 if neighbour i is relevant. Unlike MAP it only looks at the first R neighbours.
- NMI: normalised mutual information (arithmetic normaliser) between the labels and a seeded
  k-means clustering with as many clusters as classes.

The k-NN is computed ``block_size`` queries at a time, so 60k embeddings never need a 60k x 60k
matrix; memory is block_size x n. Half-precision embeddings are searched in float32.

Ties: neighbours are ranked by distance, then by reference index (the lower index first), whatever
``k`` is, so every metric sees the same neighbour list on tied data (collapsed or duplicated
embeddings) and Recall@1 equals Precision@1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..distances import CosineSimilarity, PairwiseDistance
from ..distances.base import no_autocast
from ..validation import check_embeddings, check_labels

__all__ = ["knn", "recall_at_k", "precision_at_1", "r_precision", "map_at_r", "nmi", "retrieval_metrics"]


def knn(
    query: torch.Tensor,
    k: int,
    reference: torch.Tensor | None = None,
    distance: PairwiseDistance | None = None,
    block_size: int = 1024,
) -> torch.Tensor:
    """Indices (n_query, k) of the k nearest references of each query, nearest first.

    With ``reference=None`` the queries are searched among themselves and a query is never its
    own neighbour. ``distance`` defaults to cosine similarity. Equal distances are ranked by
    reference index (lower first).
    """
    distance = distance if distance is not None else CosineSimilarity()
    check_embeddings(query, "query")
    same = reference is None
    reference = query if same else check_embeddings(reference, "reference")
    n_ref = reference.shape[0] - (1 if same else 0)
    if n_ref < 1:
        raise ValueError("query must have at least 2 rows when searched among themselves (a query is never "
                         f"its own neighbour), got {query.shape[0]}")
    if not isinstance(k, int) or not 1 <= k <= n_ref:
        raise ValueError(f"k must be an int in [1, {n_ref}] (the number of candidate neighbours), got {k!r}")
    if not isinstance(block_size, int) or block_size < 1:
        raise ValueError(f"block_size must be a positive int, got {block_size!r}")
    worst = float("-inf") if distance.is_similarity else float("inf")
    # Validate and (if the distance normalises) L2-normalise both sides once, not once per block:
    # row-wise normalisation gives the same rows either way, and then every block is one call of
    # the distance's kernel on ready inputs.
    if not same:
        distance(query[:1], reference[:1])  # the distance's own checks (dtype, width)
    with no_autocast(query.device):
        query, reference = distance.prepare(query, None if same else reference)
        out = []
        for start in range(0, query.shape[0], block_size):
            block = query[start:start + block_size]
            scores = distance._compute(block, reference, False)
            if same:
                rows = torch.arange(block.shape[0], device=scores.device)
                scores[rows, rows + start] = worst
            out.append(_top_k_stable(scores, k, distance.is_similarity))
    return torch.cat(out)


def _top_k_stable(scores: torch.Tensor, k: int, largest: bool) -> torch.Tensor:
    """Column indices of the k best entries of each row, best first, ties by column index.

    ``torch.topk`` orders ties arbitrarily (and differently for different k). One more entry than
    asked is taken: a row has a tie that matters iff two adjacent values among its k + 1 best are
    equal (equal values inside the top k, or an equal value just outside it). Only such rows are
    re-ranked, by a stable full sort, which keeps equal values in column order.
    """
    extra = min(k + 1, scores.shape[1])
    values, idx = torch.topk(scores, extra, dim=1, largest=largest, sorted=True)
    tied = (values[:, 1:] == values[:, :-1]).any(1)
    idx = idx[:, :k]
    if bool(tied.any()):
        rows = tied.nonzero(as_tuple=True)[0]
        idx[rows] = torch.sort(scores[rows], dim=1, descending=largest, stable=True).indices[:, :k]
    return idx


def _neighbour_relevance(embeddings, labels, k_needed, distance, block_size):
    """Relevance (n, k) of each query's neighbours, R per query, and the mask of usable queries."""
    check_embeddings(embeddings)
    labels = check_labels(labels, embeddings.shape[0]).to(embeddings.device)
    _, inverse, counts = torch.unique(labels, return_inverse=True, return_counts=True)
    r = counts[inverse] - 1
    usable = r > 0
    if not bool(usable.any()):
        raise ValueError("labels: no query has another item of its class (every class has one member); "
                         "retrieval metrics are undefined")
    k = min(max(k_needed, int(r.max())), embeddings.shape[0] - 1)
    idx = knn(embeddings, k, distance=distance, block_size=block_size)
    relevant = labels[idx] == labels.unsqueeze(1)
    return relevant[usable], r[usable]


def _check_ks(ks) -> tuple[int, ...]:
    if isinstance(ks, int) and not isinstance(ks, bool):
        ks = (ks,)
    elif isinstance(ks, (list, tuple, range)):
        ks = tuple(ks)
    else:
        raise TypeError(f"ks must be an int or a sequence of ints (e.g. (1, 2, 4, 8)), got {ks!r}")
    if not ks or not all(isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in ks):
        raise ValueError(f"ks must be positive ints, got {ks!r}")
    return ks


def _recall_from(relevant: torch.Tensor, ks: Sequence[int]) -> dict[int, float]:
    return {k: relevant[:, :k].any(1).double().mean().item() for k in ks}


def _r_precision_from(relevant: torch.Tensor, r: torch.Tensor) -> float:
    ranks = torch.arange(1, relevant.shape[1] + 1, device=relevant.device)
    within_r = ranks.unsqueeze(0) <= r.unsqueeze(1)
    return ((relevant & within_r).sum(1).double() / r.double()).mean().item()


def _map_at_r_from(relevant: torch.Tensor, r: torch.Tensor) -> float:
    ranks = torch.arange(1, relevant.shape[1] + 1, device=relevant.device)
    within_r = ranks.unsqueeze(0) <= r.unsqueeze(1)
    rel = (relevant & within_r).double()
    precision_at_i = rel.cumsum(1) / ranks.double()
    return ((precision_at_i * rel).sum(1) / r.double()).mean().item()


def recall_at_k(embeddings, labels, ks=(1, 2, 4, 8), distance=None, block_size=1024) -> dict[int, float]:
    """Recall@K for each K in ``ks`` (hit rate: any of the K nearest neighbours is relevant)."""
    ks = _check_ks(ks)
    relevant, _ = _neighbour_relevance(embeddings, labels, max(ks), distance, block_size)
    if max(ks) > relevant.shape[1]:
        raise ValueError(f"K={max(ks)} exceeds the number of other embeddings ({relevant.shape[1]})")
    return _recall_from(relevant, ks)


def precision_at_1(embeddings, labels, distance=None, block_size=1024) -> float:
    """Precision@1 = Recall@1: the nearest neighbour shares the query's label."""
    return recall_at_k(embeddings, labels, (1,), distance, block_size)[1]


def r_precision(embeddings, labels, distance=None, block_size=1024) -> float:
    """R-Precision (Musgrave et al. 2020, eq. 1)."""
    relevant, r = _neighbour_relevance(embeddings, labels, 1, distance, block_size)
    return _r_precision_from(relevant, r)


def map_at_r(embeddings, labels, distance=None, block_size=1024) -> float:
    """MAP@R (Musgrave et al. 2020, eq. 2)."""
    relevant, r = _neighbour_relevance(embeddings, labels, 1, distance, block_size)
    return _map_at_r_from(relevant, r)


def nmi(embeddings, labels, seed: int = 0, n_init: int = 10) -> float:
    """NMI between labels and k-means (k = number of classes, seeded) on the embeddings."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import normalized_mutual_info_score

    check_embeddings(embeddings)
    labels = check_labels(labels, embeddings.shape[0])
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2 ** 32:
        raise ValueError(f"seed must be an int in [0, 2^32) (scikit-learn's random_state), got {seed!r}")
    if isinstance(n_init, bool) or not isinstance(n_init, (int, np.integer)) or n_init < 1:
        raise ValueError(f"n_init must be an int >= 1, got {n_init!r}")
    y = labels.cpu().numpy()
    n_clusters = len(np.unique(y))
    if n_clusters > embeddings.shape[0]:
        raise ValueError("more classes than embeddings")
    x = embeddings.detach().cpu().double().numpy()
    pred = KMeans(n_clusters=n_clusters, n_init=n_init, random_state=seed).fit_predict(x)
    return float(normalized_mutual_info_score(y, pred, average_method="arithmetic"))


def retrieval_metrics(
    embeddings,
    labels,
    ks=(1, 2, 4, 8),
    distance=None,
    block_size: int = 1024,
    with_nmi: bool = False,
    seed: int = 0,
) -> dict[str, float]:
    """Recall@K, R-Precision and MAP@R (and NMI) from one k-NN search.

    Keys: ``R@1``, ``R@2``, ..., ``r_precision``, ``map_at_r`` (and ``nmi``).
    """
    ks = _check_ks(ks)
    relevant, r = _neighbour_relevance(embeddings, labels, max(ks), distance, block_size)
    out = {f"R@{k}": v for k, v in _recall_from(relevant, ks).items()}
    out["r_precision"] = _r_precision_from(relevant, r)
    out["map_at_r"] = _map_at_r_from(relevant, r)
    if with_nmi:
        out["nmi"] = nmi(embeddings, labels, seed=seed)
    return out
