"""Face-verification style metrics over all pairs of a test set (paper slug ``unpg``): TAR@FAR and ROC-AUC.

A *genuine* pair is two different samples of the same identity, an *impostor* pair two samples of different
identities; the score of a pair is the cosine similarity of the two embeddings (accept when high). Over all
n(n-1)/2 pairs of the test identities (brief ``unpg``, "verification over all pairs of test identities"):

- TAR(t) = fraction of genuine pairs with score >= t (true accept rate), FAR(t) = fraction of impostor pairs
  with score >= t (false accept rate); the ROC is TAR against FAR over all thresholds t.
- :func:`tar_at_far` reads the ROC at a given FAR, :func:`roc_auc` is the area under it
  (= ``sklearn.metrics.roc_auc_score``, ties counted one half).

The paper reports TAR@FAR = 1e-5 / 1e-4 on IJB-B/IJB-C (template protocols, not reproduced here); at
glyph scale (~40 identities x 16 samples: ~2e5 pairs) FAR down to ~1e-4 is resolvable.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..distances.base import no_autocast
from ..validation import check_embeddings, check_labels, check_probability
from .anomaly import auroc

__all__ = ["verification_pairs", "tar_at_far", "roc_auc", "verification_metrics"]

_INTERPOLATIONS = ("step", "linear")


def verification_pairs(embeddings: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores and ground truth of every unordered pair i < j of a test set (unpg, verification protocol).

    Args:
        embeddings: (n, d) float embeddings (normalised inside; a zero row has cosine 0 with everything).
        labels: (n,) integer identities.
    Returns ``(scores, is_same)``: 1-D tensors of length n(n-1)/2 in row-major order (i, then j), the cosine
    similarities (float64 whatever the input dtype, detached: the metrics rank the scores, and float32 rounding
    reorders near-duplicate pairs, whose cosines all round to ~1) and whether the two samples share a label
    (bool). Memory O(n^2) (n = 2,000: 32 MB of float64 scores).
    """
    check_embeddings(embeddings, "embeddings")
    labels = check_labels(labels, embeddings.shape[0], "labels")
    n = embeddings.shape[0]
    if n < 2:
        raise ValueError(f"embeddings must hold at least 2 samples to form a pair, got shape {tuple(embeddings.shape)}")
    with torch.no_grad(), no_autocast(embeddings.device):
        f = F.normalize(embeddings.detach().double(), dim=1)
        upper = torch.ones(n, n, dtype=torch.bool, device=f.device).triu(diagonal=1)
        scores = (f @ f.t())[upper]
        is_same = (labels[:, None] == labels[None, :])[upper]
    return scores, is_same


def _as_float64(x, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        if not (x.is_floating_point() or x.dtype in (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)):
            raise ValueError(f"{name} must be a real tensor or array, got dtype {x.dtype}")
        return x.detach().cpu().double().numpy()
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a 1-D real tensor or array, got {type(x).__name__}") from None
    return a


def _check_scores_truth(scores, is_same) -> tuple[np.ndarray, np.ndarray]:
    s = _as_float64(scores, "scores")
    if s.ndim != 1:
        raise ValueError(f"scores must be 1-D (one score per pair), got shape {s.shape}")
    if not np.isfinite(s).all():
        raise ValueError(f"scores must be finite, got {int((~np.isfinite(s)).sum())} NaN/Inf value(s)")
    t = np.asarray(is_same.detach().cpu() if isinstance(is_same, torch.Tensor) else is_same)
    if t.shape != s.shape:
        raise ValueError(f"is_same must have one entry per score: scores has shape {s.shape}, is_same {t.shape}")
    if t.dtype != bool:
        if not (np.issubdtype(t.dtype, np.number) and np.isin(t, (0, 1)).all()):
            raise ValueError(f"is_same must hold bools or 0/1, got dtype {t.dtype}")
        t = t.astype(bool)
    n_genuine = int(t.sum())
    if n_genuine == 0 or n_genuine == t.size:
        raise ValueError(f"is_same must contain both genuine (True) and impostor (False) pairs, got {n_genuine} "
                         f"genuine and {t.size - n_genuine} impostor")
    return s, t


def _roc_points(s: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(FAR, TAR) at every distinct threshold, highest threshold first, starting at (0, 0): the points of
    ``sklearn.metrics.roc_curve(t, s, drop_intermediate=False)``."""
    order = np.argsort(-s, kind="mergesort")
    s_sorted, t_sorted = s[order], t[order]
    last_of_tie = np.r_[np.nonzero(np.diff(s_sorted))[0], s.size - 1]
    tp = np.cumsum(t_sorted)[last_of_tie]
    fp = (last_of_tie + 1) - tp
    return np.r_[0.0, fp / fp[-1]], np.r_[0.0, tp / tp[-1]]


def _check_fars(far, name: str) -> tuple[bool, np.ndarray]:
    """(is_scalar, FARs as a float64 array): a number in [0, 1] or a non-empty 1-D sequence of them."""
    if np.ndim(far) == 0 and not isinstance(far, (list, tuple)):
        return True, np.array([check_probability(far, name)])
    fars_in = far.detach().cpu().double().numpy() if isinstance(far, torch.Tensor) else far
    try:
        fars = np.asarray(fars_in, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in [0, 1] or a 1-D sequence of them, got {far!r}") from None
    if fars.ndim != 1 or fars.size == 0:
        raise ValueError(f"{name} must be a number in [0, 1] or a non-empty 1-D sequence of them, got shape "
                         f"{fars.shape}")
    if not (np.isfinite(fars).all() and (fars >= 0).all() and (fars <= 1).all()):
        raise ValueError(f"{name} must lie in [0, 1], got {fars.tolist()}")
    return False, fars


def tar_at_far(scores, is_same, far, *, interpolation: str = "step"):
    """True accept rate at a false accept rate (unpg, the verification metric of the paper's tables).

    Conventions (pairs accepted when score >= threshold):

    - ``interpolation="step"`` (default): the highest TAR over the thresholds whose FAR does not exceed
      ``far``, i.e. ``max{tpr : fpr <= far}`` on ``sklearn.metrics.roc_curve(..., drop_intermediate=False)``
      (tested; sklearn's default drops collinear ROC points, and with genuine/impostor ties a dropped point
      can be the best one). An operating point a
      threshold actually achieves; with N impostor pairs, FAR values below 1/N give the TAR of accepting only
      scores above every impostor.
    - ``interpolation="linear"``: the ROC read at FAR = ``far`` by linear interpolation between its points
      (``np.interp(far, fpr, tpr)`` on sklearn's roc_curve where fpr has no repeated value at ``far``; on a
      vertical segment at exactly ``far`` its top is returned). Never below the step value.

    insightface's IJB scripts take instead the ROC point whose FPR is nearest to ``far`` (which may exceed it);
    at paper scale (~1e8 impostor pairs) the conventions differ negligibly, at glyph scale they need not.

    Args:
        scores: 1-D real scores (tensor or array), higher = more likely genuine; finite.
        is_same: 1-D bools (or 0/1) of the same length, with both genuine and impostor pairs.
        far: a FAR in [0, 1], or a 1-D sequence of them.
        interpolation: "step" or "linear".
    Returns a float for a scalar ``far``, a float64 numpy array (one TAR per FAR) for a sequence.
    """
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {_INTERPOLATIONS}, got {interpolation!r}")
    s, t = _check_scores_truth(scores, is_same)
    scalar, fars = _check_fars(far, "far")
    fpr, tpr = _roc_points(s, t)
    # last ROC point with fpr <= far; fpr is non-decreasing and the last point of a run of equal fpr has the
    # highest tpr, so this is max{tpr : fpr <= far}
    idx = np.searchsorted(fpr, fars, side="right") - 1
    out = tpr[idx]
    if interpolation == "linear":
        nxt = np.minimum(idx + 1, fpr.size - 1)
        inside = (fpr[idx] < fars) & (nxt > idx)
        span = np.where(inside, fpr[nxt] - fpr[idx], 1.0)
        w = np.where(inside, (fars - fpr[idx]) / span, 0.0)
        out = out + w * (tpr[nxt] - out)
    return float(out[0]) if scalar else out.astype(np.float64)


def roc_auc(scores, is_same) -> float:
    """Area under the verification ROC (unpg): the probability that a random genuine pair scores higher
    than a random impostor pair, ties counting one half (= ``sklearn.metrics.roc_auc_score(is_same, scores)``,
    tested). Args as :func:`tar_at_far`."""
    s, t = _check_scores_truth(scores, is_same)
    return auroc(t, s)


def verification_metrics(embeddings: torch.Tensor, labels: torch.Tensor, fars=(1e-3, 1e-2), *,
                         interpolation: str = "step") -> dict:
    """TAR@FAR and ROC-AUC over all pairs of a test set, with cosine scores (unpg, the table's metrics).

    Args:
        embeddings: (n, d) float test embeddings. labels: (n,) identities, with at least one genuine pair and
            one impostor pair. fars: the FARs (default 1e-3 and 1e-2, the brief's ci table).
        interpolation: see :func:`tar_at_far`.
    Returns ``{"tar_at_far": {far: tar}, "roc_auc": float, "n_genuine": int, "n_impostor": int}``.
    """
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {_INTERPOLATIONS}, got {interpolation!r}")
    _, fars_arr = _check_fars(fars, "fars")
    scores, is_same = verification_pairs(embeddings, labels)
    n_genuine = int(is_same.sum())
    if n_genuine == 0 or n_genuine == is_same.numel():
        raise ValueError(f"labels must give at least one genuine pair (two samples of one identity) and one impostor "
                         f"pair (two identities), got {n_genuine} genuine and {is_same.numel() - n_genuine} impostor "
                         f"pairs")
    s, t = _check_scores_truth(scores, is_same)
    tars = tar_at_far(s, t, fars_arr, interpolation=interpolation)
    return {
        "tar_at_far": {float(f): float(v) for f, v in zip(fars_arr, tars)},
        "roc_auc": auroc(t, s),
        "n_genuine": n_genuine,
        "n_impostor": int(t.size) - n_genuine,
    }

