"""Validation splits carved from the training data (never from the test set).

- ``holdout_classes``: for zero-shot retrieval, some *training classes* become the validation set
  (the test classes stay unseen until the end), as in Musgrave et al., "A Metric Learning Reality
  Check" (ECCV 2020), Sec. 4.
- ``holdout_items``: for classification, a stratified fraction of the training items.

Both work on any dataset with a ``labels`` tensor (or on ``TensorDataset``s) and return subsets
whose labels are relabelled ``0..C-1`` (proxy and classifier losses index classes by label).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch.utils.data import Dataset, TensorDataset

__all__ = ["holdout_classes", "holdout_items", "ClassHoldout", "RelabeledSubset", "dataset_labels"]


class RelabeledSubset(Dataset):
    """Items ``indices`` of ``dataset`` with labels mapped to ``0..C-1`` (``labels`` holds the new ones)."""

    def __init__(self, dataset: Dataset, indices: torch.Tensor, labels: torch.Tensor):
        self.dataset, self.indices, self.labels = dataset, indices.long(), labels.long()
        self.transform = getattr(dataset, "transform", None)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        x, _ = self.dataset[int(self.indices[i])]
        return x, int(self.labels[i])


class ClassHoldout(NamedTuple):
    """``train`` / ``val`` datasets (class-disjoint), the training labels for the batch sampler, and
    which original classes went to validation."""

    train: Dataset
    train_labels: torch.Tensor
    val: Dataset
    val_classes: list[int]


def dataset_labels(dataset: Dataset) -> torch.Tensor:
    """The int64 labels of a ``TensorDataset`` (second tensor) or of a dataset with ``.labels``."""
    if isinstance(dataset, TensorDataset):
        return dataset.tensors[1].long()
    labels = getattr(dataset, "labels", None)
    if labels is None:
        raise ValueError(f"{type(dataset).__name__} has no labels: give a TensorDataset or a dataset with .labels")
    return torch.as_tensor(labels).long()


def _relabel(labels: torch.Tensor) -> torch.Tensor:
    return torch.unique(labels, return_inverse=True)[1]


def _subset(dataset: Dataset, idx: torch.Tensor, labels: torch.Tensor) -> Dataset:
    new = _relabel(labels[idx])
    if isinstance(dataset, TensorDataset):
        x = dataset.tensors[0][idx]
        return TensorDataset(x, new)
    return RelabeledSubset(dataset, idx, new)


def holdout_classes(dataset: Dataset, n_val_classes: int, seed: int = 0) -> ClassHoldout:
    """Move ``n_val_classes`` training classes (a seeded random draw) into a validation set.

    Raises ValueError unless at least 2 classes remain on each side.
    """
    labels = dataset_labels(dataset)
    classes = torch.unique(labels)
    if not isinstance(n_val_classes, int) or isinstance(n_val_classes, bool) or not 2 <= n_val_classes <= len(classes) - 2:
        raise ValueError(f"n_val_classes must be an int in [2, {len(classes) - 2}] "
                         f"(the dataset has {len(classes)} classes), got {n_val_classes!r}")
    perm = torch.randperm(len(classes), generator=torch.Generator().manual_seed(int(seed)))
    val_classes = classes[perm[:n_val_classes]].sort().values
    is_val = torch.isin(labels, val_classes)
    train_idx, val_idx = (~is_val).nonzero().squeeze(1), is_val.nonzero().squeeze(1)
    train = _subset(dataset, train_idx, labels)
    return ClassHoldout(train, dataset_labels(train), _subset(dataset, val_idx, labels), val_classes.tolist())


def holdout_items(dataset: Dataset, fraction: float, seed: int = 0) -> tuple[Dataset, Dataset]:
    """Split off a stratified ``fraction`` of each class as validation; returns ``(train, val)``
    with the original labels kept (the classes are the same on both sides)."""
    if not isinstance(fraction, float) or not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be a float in (0, 1), got {fraction!r}")
    labels = dataset_labels(dataset)
    gen = torch.Generator().manual_seed(int(seed))
    val_parts = []
    for c in torch.unique(labels):
        members = (labels == c).nonzero().squeeze(1)
        k = int(round(fraction * len(members)))
        if k < 1 or k >= len(members):
            raise ValueError(f"class {int(c)} has {len(members)} items: fraction {fraction} leaves a side empty")
        val_parts.append(members[torch.randperm(len(members), generator=gen)[:k]])
    is_val = torch.zeros(len(labels), dtype=torch.bool)
    is_val[torch.cat(val_parts)] = True
    train_idx, val_idx = (~is_val).nonzero().squeeze(1), is_val.nonzero().squeeze(1)
    if isinstance(dataset, TensorDataset):
        return (TensorDataset(*(t[train_idx] for t in dataset.tensors)),
                TensorDataset(*(t[val_idx] for t in dataset.tensors)))
    return RelabeledSubset(dataset, train_idx, labels[train_idx]), RelabeledSubset(dataset, val_idx, labels[val_idx])
