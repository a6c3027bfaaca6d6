"""Data pruning: score every training example, then keep the easy, the hard or a random fraction.

From data_pruning (Sorscher, Geirhos, Shekhar, Ganguli & Morcos, "Beyond neural scaling laws:
beating power law scaling via data pruning", NeurIPS 2022, arXiv:2206.14486):

- **margin scores** (Sec. 2, the teacher-student perceptron): the margin of example ``x`` along a
  reference direction ``w`` (the teacher ``T`` for a perfect metric, a probe ``J_probe`` for an
  imperfect one), ``m(x) = |w . x| / ||w||``. Small margins are *hard*, large margins *easy*.
  ``classifier_margins`` is the multi-class analogue for a probe classifier (ours, not the paper's):
  the correct-class score minus the best other score.
- **self-supervised prototype scores** (SSP, Sec. 5): k-means in the embedding space of a
  self-supervised model; an example's difficulty is its cosine distance to the nearest centroid
  (prototype). The most prototypical (closest) examples are the easiest and are pruned first.
- ``select_subset(scores, fraction, keep, hard=...)``: the ``floor(fraction * n)`` indices to keep
  ("easy", "hard" or "random").

What the paper fixes and what it leaves open (the official training code is not public):
- The paper's SSP uses SwAV embeddings and k-means over ImageNet; its k and whether embeddings are
  L2-normalised before clustering were not retrieved. ``prototype_scores`` L2-normalises by default
  (so k-means clusters directions, matching the cosine score) and requires ``k`` explicitly.
- "Nearest centroid" is the centroid with the smallest distance *in the score's metric* (for
  ``metric="cosine"`` the centroid of largest cosine similarity), not necessarily the k-means
  assignment (the two agree for ``metric="euclidean"``).
- k-means is scikit-learn's ``KMeans`` (k-means++ initialisation, ``n_init`` restarts, seeded by
  ``seed``); the paper likely used faiss at ImageNet scale, which gives a different, equally valid
  clustering.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch

from ..validation import check_embeddings, check_finite, check_labels

__all__ = [
    "PrototypeScores",
    "linear_margins",
    "classifier_margins",
    "prototype_scores",
    "n_kept",
    "select_subset",
]

KEEP_CHOICES = ("easy", "hard", "random")
HARD_CHOICES = ("low", "high")
METRIC_CHOICES = ("cosine", "euclidean")


def linear_margins(x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Unsigned margins ``|reference . x_i| / ||reference||`` of every row of ``x`` (data_pruning, Sec. 2).

    ``reference`` is the teacher ``T`` (a perfect pruning metric) or a probe ``J_probe`` at some
    angle to it (an imperfect one). Larger = easier; pass ``hard="low"`` to ``select_subset``.

    Args:
        x: float (n, d) inputs.
        reference: float (d,) direction, not zero.
    Returns:
        (n,) margins in the dtype of ``x``.
    """
    x = check_embeddings(x, "x")
    if not isinstance(reference, torch.Tensor) or not reference.is_floating_point() or reference.dim() != 1:
        raise ValueError(f"reference must be a 1-D float tensor of shape ({x.shape[1]},), got {reference!r:.80}")
    if reference.shape[0] != x.shape[1]:
        raise ValueError(f"reference must have one entry per input dimension: expected {x.shape[1]}, "
                         f"got {reference.shape[0]}")
    check_finite(reference, "reference")
    norm = reference.norm()
    if not bool(norm > 0):
        raise ValueError("reference must be a non-zero vector, got the zero vector")
    return (x @ reference.to(x.dtype)).abs() / norm.to(x.dtype)


def classifier_margins(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Signed multi-class margins of a probe classifier: ``s_{i, y_i} - max_{c != y_i} s_{i, c}``.

    The multi-class analogue of the perceptron margin ``y (J . x)`` (ours; data_pruning benchmarks
    EL2N and forgetting scores instead). Negative = misclassified by the probe. Larger = easier.

    Args:
        scores: float (n, C) logits (or any scores, larger = more likely), C >= 2.
        labels: int64 (n,) in [0, C).
    """
    scores = check_embeddings(scores, "scores")
    labels = check_labels(labels, scores.shape[0])
    n_classes = scores.shape[1]
    if n_classes < 2:
        raise ValueError(f"scores must have at least 2 classes (columns), got {n_classes}")
    if bool((labels < 0).any()) or bool((labels >= n_classes).any()):
        raise ValueError(f"labels must lie in [0, {n_classes}), got values in "
                         f"[{int(labels.min())}, {int(labels.max())}]")
    correct = scores.gather(1, labels.unsqueeze(1)).squeeze(1)
    others = scores.scatter(1, labels.unsqueeze(1), float("-inf"))
    return correct - others.max(dim=1).values


class PrototypeScores(NamedTuple):
    """Output of ``prototype_scores``: per-example ``scores`` (n,), the k-means ``centroids`` (k, d)
    and the index of each example's ``nearest`` centroid (n,)."""

    scores: torch.Tensor
    centroids: torch.Tensor
    nearest: torch.Tensor


def prototype_scores(
    embeddings: torch.Tensor,
    k: int,
    *,
    seed: int = 0,
    metric: str = "cosine",
    normalize: bool = True,
    n_init: int = 10,
    max_iter: int = 300,
) -> PrototypeScores:
    """Self-supervised prototype (SSP) difficulty scores (data_pruning, Sec. 5).

    1. (``normalize``) L2-normalise each embedding;
    2. k-means with ``k`` clusters (scikit-learn ``KMeans``, k-means++ init, ``n_init`` restarts,
       ``random_state=seed``) gives centroids ``c_1..c_k``;
    3. score ``d_i = min_j dist(e_i, c_j)`` with ``dist`` the cosine distance ``1 - cos(e_i, c_j)``
       (the paper's choice, in [0, 2]) or the Euclidean distance (``metric="euclidean"``).

    Larger = farther from every prototype = harder; pass ``hard="high"`` to ``select_subset``.
    Keep-easy keeps the closest examples, keep-hard the farthest.

    Args:
        embeddings: float (n, d), finite, no zero rows when ``normalize`` or ``metric="cosine"``.
        k: number of clusters, 1 <= k <= n.
        seed: k-means seed (same seed, same scores).
    """
    embeddings = check_embeddings(embeddings, "embeddings")
    n = embeddings.shape[0]
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 1 <= int(k) <= n:
        raise ValueError(f"k must be an int with 1 <= k <= n = {n} (the number of embeddings), got {k!r}")
    if metric not in METRIC_CHOICES:
        raise ValueError(f"metric must be one of {METRIC_CHOICES}, got {metric!r}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    for name, value in (("n_init", n_init), ("max_iter", max_iter)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    from sklearn.cluster import KMeans

    x = embeddings.detach().to(torch.float64).cpu()
    if normalize or metric == "cosine":
        norms = x.norm(dim=1)
        if bool((norms == 0).any()):
            raise ValueError(f"embeddings must have no zero rows for L2 normalisation / cosine distance, "
                             f"got {int((norms == 0).sum())} zero row(s)")
    if normalize:
        x = x / x.norm(dim=1, keepdim=True)
    kmeans = KMeans(n_clusters=int(k), n_init=n_init, max_iter=max_iter, random_state=int(seed))
    kmeans.fit(x.numpy())
    centroids = torch.as_tensor(kmeans.cluster_centers_, dtype=torch.float64)
    if metric == "cosine":
        c_unit = centroids / centroids.norm(dim=1, keepdim=True).clamp_min(1e-300)
        dist = 1.0 - (x / x.norm(dim=1, keepdim=True)) @ c_unit.T
    else:
        dist = torch.cdist(x, centroids)
    best, nearest = dist.min(dim=1)
    out_dtype = embeddings.dtype
    return PrototypeScores(best.clamp_min(0.0).to(out_dtype), centroids.to(out_dtype), nearest)


def n_kept(n: int, fraction: float) -> int:
    """``floor(fraction * n)``: how many of ``n`` examples a kept ``fraction`` in (0, 1] retains (>= 1)."""
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    try:
        f = float(fraction)
    except (TypeError, ValueError):
        raise ValueError(f"fraction must be a number in (0, 1], got {fraction!r}") from None
    if not (0.0 < f <= 1.0):
        raise ValueError(f"fraction must lie in (0, 1] (the fraction of examples kept), got {fraction!r}")
    m = int(math.floor(f * int(n) + 1e-9))
    if m < 1:
        raise ValueError(f"fraction {fraction!r} of n = {n} examples keeps none; expected fraction >= 1/n = {1 / n:.3g}")
    return m


def select_subset(
    scores: torch.Tensor,
    fraction: float,
    keep: str,
    *,
    hard: str,
    seed: int | None = None,
) -> torch.Tensor:
    """Indices (sorted, int64) of the ``floor(fraction * n)`` examples kept by a pruning rule (data_pruning, Sec. 2).

    - ``keep="hard"``: the hardest examples; ``keep="easy"``: the easiest; ``keep="random"``: a
      uniformly random subset (needs ``seed``; ``scores`` only give ``n``).
    - ``hard`` says which end of ``scores`` is hard: ``"low"`` for margins (``linear_margins``,
      ``classifier_margins``), ``"high"`` for distances (``prototype_scores``). No default: a wrong
      guess silently swaps keep-easy and keep-hard.

    Ties are broken by index (a stable sort), so keep-hard at ``f`` and keep-easy at ``1 - f`` are
    complementary whenever ``f * n`` is an integer (both at ``f = 1/2`` for even ``n``), and
    ``fraction = 1`` keeps everything.
    """
    if not isinstance(scores, torch.Tensor) or not scores.is_floating_point() or scores.dim() != 1:
        raise ValueError(f"scores must be a 1-D float tensor (one score per example), got {scores!r:.80}")
    n = scores.shape[0]
    if n == 0:
        raise ValueError("scores must hold at least one example, got an empty tensor")
    check_finite(scores, "scores")
    if keep not in KEEP_CHOICES:
        raise ValueError(f"keep must be one of {KEEP_CHOICES}, got {keep!r}")
    if hard not in HARD_CHOICES:
        raise ValueError(f"hard must be 'low' (small scores are hard, e.g. margins) or 'high' "
                         f"(large scores are hard, e.g. prototype distances), got {hard!r}")
    m = n_kept(n, fraction)
    if keep == "random":
        if seed is None or not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"keep='random' needs a non-negative int seed, got {seed!r}")
        g = torch.Generator().manual_seed(int(seed))
        chosen = torch.randperm(n, generator=g)[:m]
    else:
        # order from hardest to easiest; stable so ties keep index order
        order = torch.sort(scores, stable=True, descending=(hard == "high")).indices
        chosen = order[:m] if keep == "hard" else order[n - m:]
    return chosen.sort().values
