"""Semi-supervised anomaly splits of a labelled dataset: one class is normal, a few labelled anomalies
of some "seen" classes are added to training, and the test set holds every class (paper ``cdcm``).

The protocol follows the official modified-CIFAR-10 script of the cDCM paper (normal class plus a
few labelled anomalies of some classes in training, every class at test), on scikit-learn's digits
in the ``ci`` profile (``digits_anomaly_split``):

1. every class is split ``1 - test_fraction`` / ``test_fraction`` into a train pool and a test pool;
2. the seen anomaly classes are drawn with the seed (or given);
3. ``val_fraction`` of the normal train pool is held out for validation; the rest is the training
   normals, and ``anomaly_fraction`` x (their count) labelled anomalies are drawn from the train
   pools of the seen classes (at least one);
4. validation: the held-out normals and as many further samples of the seen classes' train pools
   (never the test pools), so validation only ever shows seen anomaly types;
5. test: the test pools of all classes, grouped 0 = normal, 1 = seen anomaly type, 2 = unseen type.

Validation carries more anomalies than the official 80/20 split of the training set would (with
one seen digit at 5 %, that split leaves one anomaly in validation, too few for a validation
AUROC); they come from the training pools only, so the test set is never looked at.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["AnomalySplit", "anomaly_split", "digits_anomaly_split"]


@dataclass(frozen=True)
class AnomalySplit:
    """Index arrays into the dataset and their anomaly labels.

    ``train_labels`` / ``val_labels``: 0 normal, 1 labelled anomaly. ``test_groups``: 0 normal,
    1 anomaly of a seen class, 2 anomaly of a class never seen in training (``test_labels`` is
    ``test_groups > 0``). ``seen``: the seen anomaly classes, sorted.
    """

    normal: int
    seen: tuple[int, ...]
    train: np.ndarray
    train_labels: np.ndarray
    val: np.ndarray
    val_labels: np.ndarray
    test: np.ndarray
    test_groups: np.ndarray

    @property
    def test_labels(self) -> np.ndarray:
        return (self.test_groups > 0).astype(np.int64)


def _check_fraction(value, name: str, low_open: bool = True) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in (0, 1), got {value!r}") from None
    if not (0.0 < v < 1.0) if low_open else not (0.0 <= v < 1.0):
        raise ValueError(f"{name} must be in {'(0, 1)' if low_open else '[0, 1)'}, got {value!r}")
    return v


def anomaly_split(labels, normal: int, seen_anomalies: int | Sequence[int], anomaly_fraction: float, seed: int,
                  test_fraction: float = 0.3, val_fraction: float = 0.2) -> AnomalySplit:
    """One semi-supervised anomaly split of a labelled dataset (protocol in the module docstring).

    Args:
        labels: (n,) integer class labels of the whole dataset.
        normal: the normal class. seen_anomalies: how many anomaly classes are seen in training
            (drawn with ``seed`` among the other classes), or the classes themselves.
        anomaly_fraction: labelled anomalies in training, as a fraction of the training normals.
        seed: a non-negative int; the split is a function of (seed, normal, seen_anomalies).
        test_fraction: share of every class held out for test. val_fraction: share of the normal
            train pool held out for validation (0: no validation set).
    """
    y = np.asarray(labels)
    if y.ndim != 1 or y.size == 0 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be a non-empty 1-D integer array, got shape {y.shape} dtype {y.dtype}")
    classes = sorted(np.unique(y).tolist())
    if normal not in classes:
        raise ValueError(f"normal class {normal!r} is not among the labels {classes}")
    others = [k for k in classes if k != normal]
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    anomaly_fraction = _check_fraction(anomaly_fraction, "anomaly_fraction")
    test_fraction = _check_fraction(test_fraction, "test_fraction")
    val_fraction = _check_fraction(val_fraction, "val_fraction", low_open=False)
    if isinstance(seen_anomalies, (int, np.integer)) and not isinstance(seen_anomalies, bool):
        n_seen = int(seen_anomalies)
        if not 1 <= n_seen <= len(others):
            raise ValueError(f"seen_anomalies must be between 1 and {len(others)}, got {n_seen}")
        seen_key = [n_seen]
    else:
        seen_given = sorted(int(k) for k in seen_anomalies)
        if not seen_given or len(set(seen_given)) != len(seen_given) or not set(seen_given) <= set(others):
            raise ValueError(f"seen_anomalies must be distinct classes other than the normal one, got {seen_anomalies!r}")
        n_seen, seen_key = len(seen_given), seen_given
    rng = np.random.default_rng([int(seed), int(normal), *seen_key])
    train_pool, test_idx = {}, []
    for k in classes:
        idx = rng.permutation(np.flatnonzero(y == k))
        n_test = int(round(test_fraction * idx.size))
        if n_test < 1 or n_test >= idx.size:
            raise ValueError(f"class {k} has {idx.size} samples: too few for test_fraction {test_fraction}")
        train_pool[k], test_idx = idx[n_test:], test_idx + [idx[:n_test]]
    if isinstance(seen_anomalies, (int, np.integer)):
        seen = sorted(rng.choice(others, size=n_seen, replace=False).tolist())
    else:
        seen = seen_key
    normal_pool = train_pool[normal]
    n_val = int(round(val_fraction * normal_pool.size))
    val_normals, train_normals = normal_pool[:n_val], normal_pool[n_val:]
    seen_pool = rng.permutation(np.concatenate([train_pool[k] for k in seen]))
    n_anomalies = max(1, int(round(anomaly_fraction * train_normals.size)))
    if n_anomalies + n_val > seen_pool.size:
        raise ValueError(f"the seen classes' train pools hold {seen_pool.size} samples: too few for "
                         f"{n_anomalies} training and {n_val} validation anomalies")
    train_anomalies, val_anomalies = seen_pool[:n_anomalies], seen_pool[n_anomalies:n_anomalies + n_val]
    test = np.concatenate(test_idx)
    groups = np.where(y[test] == normal, 0, np.where(np.isin(y[test], seen), 1, 2)).astype(np.int64)
    return AnomalySplit(
        normal=int(normal), seen=tuple(int(k) for k in seen),
        train=np.concatenate([train_normals, train_anomalies]),
        train_labels=np.r_[np.zeros(train_normals.size, np.int64), np.ones(n_anomalies, np.int64)],
        val=np.concatenate([val_normals, val_anomalies]),
        val_labels=np.r_[np.zeros(n_val, np.int64), np.ones(val_anomalies.size, np.int64)],
        test=test, test_groups=groups,
    )


def digits_anomaly_split(normal_digit: int, seen_anomalies: int | Sequence[int], anomaly_fraction: float, seed: int,
                         test_fraction: float = 0.3, val_fraction: float = 0.2) -> AnomalySplit:
    """``anomaly_split`` on scikit-learn's 8x8 digits (1,797 images; index them with
    ``mlcompanion.data.load_digits_tensors()``). The hard regime of the cdcm notebook is
    ``seen_anomalies=1, anomaly_fraction=0.05``; the paper-like one ``5, 0.10``."""
    from .digits import load_digits_tensors

    _, labels = load_digits_tensors()
    return anomaly_split(labels.numpy(), normal_digit, seen_anomalies, anomaly_fraction, seed,
                         test_fraction=test_fraction, val_fraction=val_fraction)
