"""Episodic N-way K-shot sampling for few-shot learning (Prototypical Networks and susana_distancia).

An *episode* is ``way`` classes drawn at random, with ``shot`` support and ``query`` query items per
class. :class:`EpisodeSampler` yields the dataset indices of each episode in the order of the
official susana_distancia code (``maumruiz/FSL-Loss``, ``FewShotSampler``): first the ``way * shot``
supports, class-major (class 0's shots, then class 1's, ...), then the ``way * query`` queries,
class-major. So within an episode the support labels are ``arange(way).repeat_interleave(shot)``
and the query labels ``arange(way).repeat_interleave(query)`` (:meth:`EpisodeSampler.episode_labels`).

Training can also use :class:`mlcompanion.data.ClassBalancedBatchSampler` with ``classes_per_batch = way``
and ``samples_per_class = shot + query``: its batches are grouped by class and drawn without
replacement within a class, so the first ``shot`` items of each class group are the supports
(``mlcompanion.losses.prototypical.split_episode`` does that split).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from .samplers import _as_label_array
from ..validation import check_int

__all__ = ["EpisodeSampler"]


class EpisodeSampler:
    """Deterministic N-way K-shot episodes: ``way`` classes x (``shot`` support + ``query`` query).

    Each iteration re-creates a ``numpy.random.Generator`` from ``seed``, so iterating twice gives
    the same episodes. For each episode ``way`` distinct classes are drawn uniformly among the
    classes that have enough items, then per class:

    * ``disjoint_support_query=True`` (default, the correct protocol): ``shot + query`` distinct
      items, the first ``shot`` are the supports -- support and query never share an item;
    * ``disjoint_support_query=False`` (the official susana_distancia sampler, kept for fidelity):
      ``shot`` supports and ``query`` queries drawn *independently*, each without replacement, so
      the same item can be a support and a query of one episode (leakage).

    Args:
        labels: 1-D integer labels of the dataset (tensor, array or list).
        way, shot, query: classes per episode, supports and queries per class (``query >= 1``).
        n_episodes: episodes per iteration (``len(sampler)``).
        seed: seed of the generator (int >= 0).
    Yields lists of ``way * (shot + query)`` dataset indices: supports then queries, class-major.
    """

    def __init__(self, labels, way: int, shot: int, query: int, n_episodes: int = 600, seed: int = 0,
                 disjoint_support_query: bool = True) -> None:
        arr = _as_label_array(labels)
        self.way = check_int(way, "way", 1)
        self.shot = check_int(shot, "shot", 1)
        self.query = check_int(query, "query", 1)
        self.n_episodes = check_int(n_episodes, "n_episodes", 1)
        self.seed = check_int(seed, "seed", 0)
        if not isinstance(disjoint_support_query, bool):
            raise ValueError(f"disjoint_support_query must be a bool, got {disjoint_support_query!r}")
        self.disjoint = disjoint_support_query
        classes, inverse = np.unique(arr, return_inverse=True)
        counts = np.bincount(inverse, minlength=len(classes))
        order = np.argsort(inverse, kind="stable")
        per_class = np.split(order, np.cumsum(counts)[:-1]) if len(arr) else []
        need = self.shot + self.query if self.disjoint else max(self.shot, self.query)
        keep = [c for c in range(len(classes)) if counts[c] >= need]
        if len(keep) < self.way:
            raise ValueError(
                f"way must be <= the number of classes with at least {need} items "
                f"({'shot + query' if self.disjoint else 'max(shot, query)'}): expected at most "
                f"{len(keep)}, got way = {self.way}"
            )
        self.classes = classes[keep]
        self._pools = [per_class[c] for c in keep]

    @property
    def episode_size(self) -> int:
        return self.way * (self.shot + self.query)

    def __len__(self) -> int:
        return self.n_episodes

    def episode_labels(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Episode-local labels ``(support_labels, query_labels)`` of every yielded episode."""
        ways = torch.arange(self.way)
        return ways.repeat_interleave(self.shot), ways.repeat_interleave(self.query)

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng(self.seed)
        for _ in range(self.n_episodes):
            chosen = rng.choice(len(self._pools), size=self.way, replace=False)
            support, query = [], []
            for c in chosen:
                pool = self._pools[c]
                if self.disjoint:
                    pick = rng.choice(pool, size=self.shot + self.query, replace=False)
                    support.append(pick[: self.shot])
                    query.append(pick[self.shot:])
                else:
                    support.append(rng.choice(pool, size=self.shot, replace=False))
                    query.append(rng.choice(pool, size=self.query, replace=False))
            yield np.concatenate(support + query).tolist()
