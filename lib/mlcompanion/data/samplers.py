"""Class-balanced ("m classes x k samples") batch sampling for pair- and triplet-based losses.

Most metric-learning losses need several positives per anchor in every batch; a uniformly random
batch of a dataset with many classes has almost none.  :class:`ClassBalancedBatchSampler` builds
each batch from ``classes_per_batch`` distinct classes with ``samples_per_class`` indices each,
like pytorch-metric-learning's ``MPerClassSampler``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from ..validation import check_int

__all__ = ["ClassBalancedBatchSampler", "ShuffledBatchSampler"]


def _as_label_array(labels) -> np.ndarray:
    if isinstance(labels, torch.Tensor):
        if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
            raise ValueError(
                f"labels must be an integer tensor, got a tensor of dtype {labels.dtype}"
            )
        arr = labels.detach().cpu().numpy()
    else:
        arr = np.asarray(labels)
        if arr.dtype == object or not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"labels must hold integers, got an array of dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"labels must be 1-D with shape (n,), got shape {tuple(arr.shape)}")
    return arr.astype(np.int64, copy=False)


class ClassBalancedBatchSampler:
    """Batches of ``classes_per_batch`` classes x ``samples_per_class`` indices per class.

    Each of the ``n_batches`` batches is a list of ``classes_per_batch * samples_per_class``
    dataset indices: ``classes_per_batch`` distinct classes drawn uniformly at random (without
    replacement within the batch), then ``samples_per_class`` indices of each class, drawn
    without replacement when the class has at least ``samples_per_class`` samples and *with*
    replacement otherwise (so a small class repeats some indices -- the same rule as
    pytorch-metric-learning's ``MPerClassSampler``).  A batch is grouped by class: its first
    ``samples_per_class`` indices belong to the first drawn class, the next ones to the second,
    and so on.

    Randomness comes only from a ``numpy.random.Generator`` created from ``seed`` at the start
    of every iteration, so iterating twice gives the same batches (for different batches per
    epoch, build the sampler with a different seed, e.g. ``seed=base_seed + epoch``).

    Use it as ``DataLoader(dataset, batch_sampler=sampler)`` or index tensors directly:
    ``for idx in sampler: x, y = images[idx], labels[idx]``.

    Args:
        labels: 1-D integer class labels of the dataset (tensor, array or list), length n.
        classes_per_batch: number of distinct classes per batch (m), at most the number of
            classes present in ``labels``.
        samples_per_class: indices per class in a batch (k).
        n_batches: number of batches per iteration; ``len(sampler) == n_batches``.
        seed: seed of the generator.
    """

    def __init__(
        self,
        labels,
        classes_per_batch: int,
        samples_per_class: int,
        n_batches: int,
        seed: int = 0,
    ) -> None:
        arr = _as_label_array(labels)
        self.classes_per_batch = check_int(classes_per_batch, "classes_per_batch")
        self.samples_per_class = check_int(samples_per_class, "samples_per_class")
        self.n_batches = check_int(n_batches, "n_batches")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be an int >= 0, got {seed!r}")
        self.seed = int(seed)
        classes, inverse = np.unique(arr, return_inverse=True)
        if len(classes) < self.classes_per_batch:
            raise ValueError(
                f"classes_per_batch must be <= the number of classes in labels: expected at most "
                f"{len(classes)}, got {self.classes_per_batch}"
            )
        self.classes = classes
        order = np.argsort(inverse, kind="stable")
        counts = np.bincount(inverse, minlength=len(classes))
        self._indices_per_class = np.split(order, np.cumsum(counts)[:-1])

    @property
    def batch_size(self) -> int:
        return self.classes_per_batch * self.samples_per_class

    def __len__(self) -> int:
        return self.n_batches

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng(self.seed)
        k = self.samples_per_class
        for _ in range(self.n_batches):
            chosen = rng.choice(len(self.classes), size=self.classes_per_batch, replace=False)
            batch: list[int] = []
            for c in chosen:
                pool = self._indices_per_class[c]
                batch.extend(rng.choice(pool, size=k, replace=len(pool) < k).tolist())
            yield batch


class ShuffledBatchSampler:
    """``n_batches`` batches of ``batch_size`` indices of a dataset of ``n`` items, drawn by walking
    through a fresh random permutation per epoch (the usual shuffled mini-batches of classifier
    training); the last, incomplete part of each permutation is dropped. Deterministic from
    ``seed``: iterating twice gives the same batches.
    """

    def __init__(self, n: int, batch_size: int, n_batches: int, seed: int = 0) -> None:
        self.n = check_int(n, "n")
        self.batch_size = check_int(batch_size, "batch_size")
        self.n_batches = check_int(n_batches, "n_batches")
        if self.batch_size > self.n:
            raise ValueError(f"batch_size must be <= the dataset size {self.n}, got {self.batch_size}")
        self.seed = int(seed)

    def __len__(self) -> int:
        return self.n_batches

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng(self.seed)
        per_epoch = self.n // self.batch_size
        produced = 0
        while produced < self.n_batches:
            order = rng.permutation(self.n)
            for b in range(min(per_epoch, self.n_batches - produced)):
                yield order[b * self.batch_size:(b + 1) * self.batch_size].tolist()
            produced += min(per_epoch, self.n_batches - produced)
