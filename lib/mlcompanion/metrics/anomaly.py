"""Anomaly-detection decisions and metrics: a thresholded distance rule and its AUROC,
precision and recall (used with the centre-based losses of ``mlcompanion.losses.center``; paper ``cdcm``).
"""

from __future__ import annotations

import numpy as np
import torch

from ..validation import check_finite

__all__ = ["anomaly_rule", "detection_metrics", "auroc"]


def anomaly_rule(scores: torch.Tensor, threshold: float) -> torch.Tensor:
    """The cdcm decision rule: abnormal (True) iff ``score > threshold`` (strict).

    With ``scores = d`` (the distance to the centre) and ``threshold = m`` (the margin, 5) this is
    the rule the paper reports its recall and precision at; the official code uses the same strict
    ``dist > margin``.
    """
    if not isinstance(scores, torch.Tensor) or scores.dim() != 1 or not scores.is_floating_point():
        got = f"shape {tuple(scores.shape)}, dtype {scores.dtype}" if isinstance(scores, torch.Tensor) \
            else type(scores).__name__
        raise ValueError(f"scores must be a 1-D float tensor (one score per sample), got {got}")
    try:
        t = float(threshold)
    except (TypeError, ValueError):
        raise ValueError(f"threshold must be a number, got {threshold!r}") from None
    if t != t:
        raise ValueError("threshold must not be NaN")
    check_finite(scores, "scores")
    return scores > t


def detection_metrics(scores, is_anomaly, threshold: float) -> dict:
    """AUROC of ``scores`` and the confusion counts, precision and recall of ``score > threshold``.

    AUROC is ``sklearn.metrics.roc_auc_score`` (higher score = more abnormal); precision
    ``TP / (TP + FP)`` (0 when nothing is flagged) and recall ``TP / (TP + FN)`` are exact, without
    the official code's ``+1e-4`` in the denominators.

    Args:
        scores: (n,) float tensor or array. is_anomaly: (n,) bool / 0-1 ground truth with both
            classes present. threshold: the rule's threshold (the margin m for cDCM).
    Returns ``{"auroc", "precision", "recall", "tp", "fp", "fn", "tn"}``.
    """
    from sklearn.metrics import roc_auc_score

    s = torch.as_tensor(np.asarray(scores.detach().cpu().double() if isinstance(scores, torch.Tensor) else scores,
                                   dtype=np.float64))
    truth = np.asarray(is_anomaly.detach().cpu() if isinstance(is_anomaly, torch.Tensor) else is_anomaly)
    if s.dim() != 1 or truth.ndim != 1 or truth.shape[0] != s.shape[0]:
        raise ValueError(f"scores and is_anomaly must be 1-D of the same length, got shapes "
                         f"{tuple(s.shape)} and {truth.shape}")
    if truth.dtype != bool:
        if not np.isin(truth, (0, 1)).all():
            raise ValueError(f"is_anomaly must hold only 0/1 or bools, got values {np.unique(truth)[:5].tolist()}")
        truth = truth.astype(bool)
    if truth.all() or not truth.any():
        raise ValueError("is_anomaly must contain both normal and abnormal samples (AUROC is undefined otherwise)")
    flagged = anomaly_rule(s, threshold).numpy()
    tp = int((flagged & truth).sum())
    fp = int((flagged & ~truth).sum())
    fn = int((~flagged & truth).sum())
    tn = int((~flagged & ~truth).sum())
    return {
        "auroc": float(roc_auc_score(truth, s.numpy())),
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn),
        "tp": tp, "fp": fp, "fn": fn, "tn": tn,
    }


def auroc(labels, scores) -> float:
    """AUROC of ``scores`` (higher = anomaly) for 0/1 ``labels``, by the Mann-Whitney rank sum with
    average ranks for ties: ``(sum of the anomalies' ranks - P(P+1)/2) / (P N)``. The same value as
    ``sklearn.metrics.roc_auc_score`` (tested) without its per-call input validation (about 10 ms),
    which dominated validation on small sets."""
    from scipy.stats import rankdata

    def as_numpy(x, dtype):  # tensors of any float dtype (bfloat16 included), grad or not
        return np.asarray(x.detach().cpu().double() if isinstance(x, torch.Tensor) else x, dtype=dtype)

    y = as_numpy(labels, np.float64)
    s = as_numpy(scores, np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(f"labels and scores must be 1-D of the same length, got {y.shape} and {s.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"labels must hold only 0/1 or bools, got values {np.unique(y)[:5].tolist()}")
    y = y.astype(bool)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"labels must contain both normal (0) and anomalous (1) samples for an AUROC, got "
                         f"{n_neg} normal and {n_pos} anomalous")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite")
    ranks = rankdata(s)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))
