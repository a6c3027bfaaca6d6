"""ClassBalancedBatchSampler: m classes x k samples per batch, determinism, replacement, errors."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from mlcompanion.data.samplers import ClassBalancedBatchSampler


def _labels(n_classes=10, per_class=8, seed=0):
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.permutation(np.repeat(np.arange(n_classes), per_class)))


def test_every_batch_has_m_classes_times_k_grouped_by_class():
    labels = _labels()
    sampler = ClassBalancedBatchSampler(
        labels, classes_per_batch=4, samples_per_class=3, n_batches=25
    )
    batches = list(sampler)
    assert len(sampler) == 25 and len(batches) == 25 and sampler.batch_size == 12
    for batch in batches:
        assert len(batch) == 12 and all(isinstance(i, int) for i in batch)
        y = labels[batch].tolist()
        assert len(Counter(y)) == 4 and set(Counter(y).values()) == {3}
        groups = [y[i : i + 3] for i in range(0, 12, 3)]
        assert all(len(set(g)) == 1 for g in groups)  # k consecutive indices per class
        assert len(set(batch)) == 12  # enough samples per class: no repeats
    seen = {c for b in batches for c in labels[b].tolist()}
    assert seen == set(range(10))  # classes are drawn at random, not always the same ones


def test_iterating_twice_gives_the_same_batches_and_seeds_differ():
    labels = _labels()
    s = ClassBalancedBatchSampler(labels, 3, 2, n_batches=10, seed=5)
    assert list(s) == list(s)
    assert list(s) == list(ClassBalancedBatchSampler(labels, 3, 2, n_batches=10, seed=5))
    assert list(s) != list(ClassBalancedBatchSampler(labels, 3, 2, n_batches=10, seed=6))


def test_small_classes_are_sampled_with_replacement():
    labels = torch.tensor([0, 0, 1, 1, 1, 1, 1, 2])  # class 2 has one sample, class 0 two
    s = ClassBalancedBatchSampler(labels, classes_per_batch=3, samples_per_class=4, n_batches=5)
    for batch in s:
        y = labels[batch].tolist()
        assert Counter(y) == {0: 4, 1: 4, 2: 4}
        by_class = {c: [i for i in batch if int(labels[i]) == c] for c in range(3)}
        assert by_class[2] == [7] * 4
        assert set(by_class[0]) <= {0, 1}
        assert len(set(by_class[1])) == 4  # class 1 has 5 samples: drawn without replacement


def test_arbitrary_label_values_and_input_types():
    labels = [100, 7, 7, 100, -3, -3, 7, 100, -3]
    for lab in (labels, np.array(labels), torch.tensor(labels, dtype=torch.int32)):
        s = ClassBalancedBatchSampler(lab, 2, 2, n_batches=4)
        for batch in s:
            y = np.asarray(labels)[batch]
            assert len(set(y.tolist())) == 2 and all(y[i] == y[i + 1] for i in (0, 2))


def test_works_as_dataloader_batch_sampler():
    labels = _labels(6, 5)
    x = torch.arange(len(labels)).float()[:, None]
    s = ClassBalancedBatchSampler(labels, 2, 4, n_batches=3)
    loader = DataLoader(TensorDataset(x, labels), batch_sampler=s)
    out = list(loader)
    assert len(out) == 3
    for (xb, yb), idx in zip(out, s):
        assert xb.shape == (8, 1)
        assert torch.equal(xb[:, 0].long(), torch.tensor(idx))
        assert torch.equal(yb, labels[idx])


@pytest.mark.parametrize(
    "labels, args, match",
    [
        (torch.tensor([0.0, 1.0]), (1, 1, 1), "integer"),
        (np.array([0.5, 1.0]), (1, 1, 1), "integers"),
        (torch.tensor([[0, 1], [1, 0]]), (1, 1, 1), "1-D"),
        (torch.tensor([True, False]), (1, 1, 1), "integer"),
        (torch.tensor([0, 0, 1]), (3, 1, 1), "classes_per_batch must be <= "),
        (torch.tensor([0, 1]), (0, 1, 1), "classes_per_batch"),
        (torch.tensor([0, 1]), (1, 0, 1), "samples_per_class"),
        (torch.tensor([0, 1]), (1, 1, 0), "n_batches"),
        (torch.tensor([0, 1]), (1, 1.5, 1), "samples_per_class"),
    ],
)
def test_errors(labels, args, match):
    with pytest.raises(ValueError, match=match):
        ClassBalancedBatchSampler(labels, *args)
    with pytest.raises(ValueError, match="seed"):
        ClassBalancedBatchSampler(torch.tensor([0, 1]), 1, 1, 1, seed=-1)


def test_shuffled_batch_sampler_covers_each_epoch_once():
    from mlcompanion.data.samplers import ShuffledBatchSampler

    s = ShuffledBatchSampler(10, 3, n_batches=7, seed=1)
    batches = list(s)
    assert len(batches) == len(s) == 7 and all(len(b) == 3 for b in batches)
    first_epoch = sum(batches[:3], [])
    assert len(set(first_epoch)) == 9  # 3 batches of one permutation: no repeats
    assert batches == list(s)  # deterministic
    assert batches != list(ShuffledBatchSampler(10, 3, n_batches=7, seed=2))
    with pytest.raises(ValueError, match="batch_size"):
        ShuffledBatchSampler(5, 6, n_batches=1)
