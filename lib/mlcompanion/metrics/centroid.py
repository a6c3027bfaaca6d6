"""Nearest-centroid classification of novel classes from a few labelled examples.

The evaluation of hyperspherical_embedding (Pereira et al., arXiv:2102.03243, Sec. 4): a class
never seen in training is represented by the centroid of a few labelled "support" embeddings of
it; a "query" embedding is assigned to the class of the most similar centroid. Two protocols:

- disjoint: supports and queries from unseen classes only (N-way K-shot episodes,
  :func:`fewshot_episodes`, or all unseen classes at once, :func:`centroid_accuracy`);
- joint: the candidate classes are the seen and the unseen ones together
  (:func:`centroid_accuracy` on the union, with ``groups`` to report each part).

Cosine centroids are re-normalised means (argmax of cos(q, mean) == argmin of
||q/|q| - mean/|mean| ||), so cosine and Euclidean-on-the-sphere give the same prediction.
Everything is vectorised: one matrix product per call (per batch of episodes).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..validation import check_choice, check_embeddings, check_int, check_labels, check_seed

__all__ = [
    "class_centroids",
    "nearest_centroid_predict",
    "split_support_query",
    "centroid_accuracy",
    "fewshot_episodes",
]

_METRICS = ("cosine", "euclidean")


def class_centroids(embeddings: torch.Tensor, labels: torch.Tensor, metric: str = "cosine"):
    """Per-class mean embedding (hyperspherical_embedding, Sec. 4: the class representative).

    ``metric="cosine"``: the embeddings are L2-normalised first and the mean is re-normalised
    (a point on the sphere); ``"euclidean"``: the plain mean (scikit-learn's NearestCentroid).
    Returns ``(classes, centroids)``: the sorted distinct labels (K,) and the centroids (K, d).
    """
    return _centroids(embeddings, labels, metric, "embeddings", "labels")


def _centroids(embeddings, labels, metric, emb_name, labels_name):
    check_embeddings(embeddings, emb_name)
    check_labels(labels, embeddings.shape[0], labels_name)
    check_choice(metric, "metric", _METRICS)
    x = F.normalize(embeddings, dim=1) if metric == "cosine" else embeddings
    classes, inverse = torch.unique(labels, sorted=True, return_inverse=True)
    sums = torch.zeros(len(classes), x.shape[1], dtype=x.dtype, device=x.device).index_add_(0, inverse, x)
    counts = torch.bincount(inverse, minlength=len(classes)).to(x.dtype)
    centroids = sums / counts[:, None]
    if metric == "cosine":
        centroids = F.normalize(centroids, dim=1)
    return classes, centroids


def _scores(queries: torch.Tensor, centroids: torch.Tensor, metric: str) -> torch.Tensor:
    """Larger = closer, (..., Q, K)."""
    if metric == "cosine":
        return F.normalize(queries, dim=-1) @ centroids.transpose(-1, -2)
    return -torch.cdist(queries, centroids)


def nearest_centroid_predict(support_emb: torch.Tensor, support_labels: torch.Tensor,
                             query_emb: torch.Tensor, metric: str = "cosine") -> torch.Tensor:
    """Label of the nearest class centroid for every query (hyperspherical_embedding, Sec. 4).

    Centroids come from ``support_emb`` / ``support_labels`` (:func:`class_centroids`); ties go to
    the smaller label. Returns int64 labels (n_query,).
    """
    classes, centroids = _centroids(support_emb, support_labels, metric, "support_emb", "support_labels")
    check_embeddings(query_emb, "query_emb")
    if query_emb.shape[1] != support_emb.shape[1]:
        raise ValueError(
            f"query_emb must have the support's dimension {support_emb.shape[1]}, got shape {tuple(query_emb.shape)}"
        )
    return classes[_scores(query_emb.to(centroids.dtype), centroids, metric).argmax(dim=1)]


def split_support_query(labels: torch.Tensor, shot: int, seed: int = 0, eligible: torch.Tensor | None = None):
    """Draw ``shot`` support items per class at random; every other item is a query.

    ``eligible`` (bool, same length) restricts which items may be supports (default: all).
    Every class needs at least ``shot`` eligible items and one query. Returns two bool masks
    (support, query) over the items.
    """
    check_labels(labels)
    shot = check_int(shot, "shot")
    seed = check_seed(seed)
    n = len(labels)
    if n == 0:
        raise ValueError("labels must be non-empty, got 0 items")
    if eligible is None:
        eligible = torch.ones(n, dtype=torch.bool)
    elif not isinstance(eligible, torch.Tensor) or eligible.dtype != torch.bool or eligible.shape != (n,):
        raise ValueError(f"eligible must be a bool tensor of shape ({n},), got {eligible!r:.80}")
    g = torch.Generator().manual_seed(seed)
    keys = torch.rand(n, generator=g, dtype=torch.float64)
    keys = torch.where(eligible, keys, torch.full_like(keys, 2.0))  # ineligible items sort last
    classes, inverse = torch.unique(labels, return_inverse=True)
    order = torch.argsort(inverse.double() * 4.0 + keys)  # grouped by class, random within (eligible first)
    counts = torch.bincount(inverse, minlength=len(classes))
    n_eligible = torch.bincount(inverse[eligible], minlength=len(classes))
    if int(n_eligible.min()) < shot or int(counts.min()) <= shot:
        k = int(torch.argmin(torch.minimum(n_eligible, counts - 1)))
        raise ValueError(
            f"labels: every class needs >= {shot} eligible supports and >= 1 query: class {int(classes[k])} has "
            f"{int(n_eligible[k])} eligible of {int(counts[k])} items"
        )
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.empty(n, dtype=torch.long)
    rank[order] = torch.arange(n) - starts[inverse[order]]
    support = rank < shot
    return support, ~support


def centroid_accuracy(embeddings: torch.Tensor, labels: torch.Tensor, shot: int = 5, seed: int = 0,
                      metric: str = "cosine", eligible: torch.Tensor | None = None,
                      groups: dict[str, torch.Tensor] | None = None) -> dict[str, float]:
    """All-way nearest-centroid accuracy: ``shot`` supports per class, every other item a query.

    The candidate classes are all classes in ``labels``: unseen classes only for the disjoint
    scenario, seen + unseen for the joint one (hyperspherical_embedding, Sec. 4). ``groups`` maps a
    name to a bool mask over the items (e.g. ``{"seen": ..., "unseen": ...}``) and adds the
    accuracy on that group's queries. Returns ``{"accuracy": ..., "<group>": ...}``.
    """
    check_embeddings(embeddings)
    check_labels(labels, embeddings.shape[0])
    support, query = split_support_query(labels, shot, seed, eligible)
    pred = nearest_centroid_predict(embeddings[support], labels[support], embeddings[query], metric)
    correct = (pred == labels[query]).double()
    out = {"accuracy": float(correct.mean())}
    for name, mask in (groups or {}).items():
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or mask.shape != labels.shape:
            raise ValueError(f"groups[{name!r}] must be a bool tensor of shape {tuple(labels.shape)}")
        sel = mask[query]
        out[name] = float(correct[sel].mean()) if bool(sel.any()) else float("nan")
    return out


def fewshot_episodes(embeddings: torch.Tensor, labels: torch.Tensor, way: int = 5, shot: int = 1,
                     query: int = 15, episodes: int = 600, seed: int = 0, metric: str = "cosine") -> dict:
    """N-way K-shot episodes on cached embeddings (disjoint scenario; hyperspherical_embedding Sec. 4).

    Each episode draws ``way`` classes, then ``shot`` supports and ``query`` queries per class
    without replacement; queries go to the nearest support centroid among the episode's classes.
    Returns ``{"accuracy": mean over episodes, "ci95": 1.96 * std / sqrt(episodes),
    "per_episode": tensor (episodes,)}``. All episodes are computed at once (no Python loop).
    """
    check_embeddings(embeddings)
    check_labels(labels, embeddings.shape[0])
    way, shot, query, episodes = (check_int(v, n) for v, n in
                                  ((way, "way"), (shot, "shot"), (query, "query"), (episodes, "episodes")))
    check_choice(metric, "metric", _METRICS)
    classes, inverse = torch.unique(labels, return_inverse=True)
    if len(classes) < way:
        raise ValueError(f"way must be <= the number of classes in labels ({len(classes)}), got {way}")
    counts = torch.bincount(inverse, minlength=len(classes))
    if int(counts.min()) < shot + query:
        raise ValueError(f"labels: every class needs shot + query = {shot + query} items, the smallest has {int(counts.min())}")
    # padded (C, max_count) table of item indices per class
    order = torch.argsort(inverse, stable=True)
    starts = torch.cumsum(counts, 0) - counts
    width = int(counts.max())
    pos = torch.arange(width)
    table = order[(starts[:, None] + pos).clamp_max(len(order) - 1)]
    valid = pos[None, :] < counts[:, None]
    g = torch.Generator().manual_seed(check_seed(seed))
    chosen = torch.rand(episodes, len(classes), generator=g).argsort(dim=1)[:, :way]  # (E, way)
    keys = torch.rand(episodes, way, width, generator=g).masked_fill(~valid[chosen], 2.0)
    picks = keys.argsort(dim=2)[:, :, : shot + query]  # (E, way, shot+query) positions
    items = torch.gather(table[chosen], 2, picks)  # dataset indices
    x = embeddings[items]  # (E, way, shot+query, d)
    if metric == "cosine":
        x = F.normalize(x, dim=-1)
    centroids = x[:, :, :shot].mean(dim=2)
    if metric == "cosine":
        centroids = F.normalize(centroids, dim=-1)
    q = x[:, :, shot:].reshape(episodes, way * query, -1)
    pred = _scores(q, centroids, metric).argmax(dim=-1)  # (E, way*query)
    truth = torch.arange(way).repeat_interleave(query)
    acc = (pred == truth).double().mean(dim=1)
    std = float(acc.std()) if episodes > 1 else 0.0
    return {"accuracy": float(acc.mean()), "ci95": 1.96 * std / math.sqrt(episodes), "per_episode": acc}
