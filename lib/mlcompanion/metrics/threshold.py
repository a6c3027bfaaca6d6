"""Threshold consistency of an embedding: per-class FAR / FRR / utility curves over a range of
similarity thresholds, and the Operating-Point-Inconsistency Score (OPIS) and epsilon-OPIS
(threshold_consistency: Zhang et al., ICLR 2024, arXiv 2307.04047, Sec. 3).

A verification system declares "match" when the cosine similarity of two images is >= a threshold
t. For test class i (its positive pairs: both images in i; its negative pairs: exactly one image in
i) the operating characteristics at t are

    TAR_i(t) = fraction of class-i positive pairs with s >= t      (FRR_i = 1 - TAR_i)
    FAR_i(t) = fraction of class-i negative pairs with s >= t      (TNR_i = 1 - FAR_i)

and a utility U_i(t) = u(TAR_i(t), FAR_i(t)). OPIS is the class-weighted mean squared gap between
each class's utility and the utility of all classes together, averaged over the calibration range:

    OPIS = sum_i w_i * [ integral_{t_lo}^{t_hi} (U_i(t) - U_bar(t))^2 dt ] / (t_hi - t_lo),  w_i = 1/T

and epsilon-OPIS the squared gap between the mean utility of the worst epsilon-fraction of classes
and that of the best epsilon-fraction. Lower = more threshold-consistent.

What is NOT verified against the paper (the brief recalls the definition; the PDF's Sec. 3 was not
available here), hence every item is a parameter with our default:
- ``utility``: "f1_tar_tnr" = harmonic mean of TAR and TNR (default), "balanced_accuracy",
  "tar", or a callable u(tar, far);
- ``far_range``: the calibration range is the thresholds where the *overall* FAR (all negative
  pairs) equals far_range[1] (low threshold) and far_range[0] (high threshold); default (1e-3, 1e-1);
- ``grid``: "similarity" (``n_thresholds`` thresholds evenly spaced in similarity, the integral is
  their mean) or "far" (thresholds at overall FARs evenly spaced in log FAR);
- ``reference``: U_bar = the utility of all pairs pooled ("overall", default) or the weighted mean
  of the class utilities ("mean", which makes OPIS a weighted variance across classes);
- ``class_weights``: uniform (default), "pairs" (proportional to each class's positive pairs), or
  explicit weights;
- epsilon-OPIS: classes ranked once by their mean utility over the range; k = max(1, round(eps T))
  classes per group; a group's curve is the mean of its classes' curves; ``eps`` default 0.05.

Only classes with at least two images (so at least one positive pair) are evaluated; every negative
pair of the set (singleton classes included) enters the calibration and the overall curves.
Counts are exact: the similarity matrix is processed ``block_size`` rows at a time and each pair is
binned against the threshold grid (``torch.bucketize`` + ``torch.bincount``; no Python loop over
pairs), so memory is block_size x n. The calibration quantiles are exact up to ``max_exact_pairs``
negative pairs, beyond that read from a 2^20-bin histogram (error <= its bin width, ~2e-6 in cosine).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..validation import check_embeddings, check_finite, check_int, check_labels

__all__ = [
    "UTILITIES",
    "ThresholdCurves",
    "class_utility_curves",
    "opis",
    "eps_opis",
]


def _f1_tar_tnr(tar: torch.Tensor, far: torch.Tensor) -> torch.Tensor:
    tnr = 1.0 - far
    denom = tar + tnr
    return torch.where(denom > 0, 2.0 * tar * tnr / denom.clamp_min(1e-300), torch.zeros_like(denom))


UTILITIES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "f1_tar_tnr": _f1_tar_tnr,
    "balanced_accuracy": lambda tar, far: 0.5 * (tar + 1.0 - far),
    "tar": lambda tar, far: tar.clone(),
}
_GRIDS = ("similarity", "far")
_REFERENCES = ("overall", "mean")
_HIST_BINS = 2**20


def _utility_fn(utility) -> Callable:
    if callable(utility):
        return utility
    if isinstance(utility, str) and utility in UTILITIES:
        return UTILITIES[utility]
    raise ValueError(f"utility must be one of {sorted(UTILITIES)} or a callable u(tar, far), got {utility!r}")


@dataclass
class ThresholdCurves:
    """Per-class operating characteristics over a grid of similarity thresholds.

    Attributes (T evaluated classes, K thresholds; float64 on the CPU):
        thresholds: (K,) ascending similarity thresholds.
        classes: (T,) the label values of the evaluated classes (sorted; classes with >= 2 images).
        tar, far: (T, K) per-class true / false accept rates at each threshold (``frr = 1 - tar``).
        overall_tar, overall_far: (K,) the same over all pairs of the set.
        n_pos, n_neg: (T,) the number of positive (unordered) and negative pairs of each class.
        utility: the utility's name (or the callable).
        calibration: (t_lo, t_hi), the thresholds where the overall FAR is far_range[1] / far_range[0];
            None when ``thresholds`` were given explicitly.
    """

    thresholds: torch.Tensor
    classes: torch.Tensor
    tar: torch.Tensor
    far: torch.Tensor
    overall_tar: torch.Tensor
    overall_far: torch.Tensor
    n_pos: torch.Tensor
    n_neg: torch.Tensor
    utility: object = "f1_tar_tnr"
    calibration: tuple[float, float] | None = None

    @property
    def frr(self) -> torch.Tensor:
        return 1.0 - self.tar

    def class_utility(self) -> torch.Tensor:
        """(T, K) U_i(t)."""
        return _utility_fn(self.utility)(self.tar, self.far)

    def overall_utility(self) -> torch.Tensor:
        """(K,) utility of all pairs pooled."""
        return _utility_fn(self.utility)(self.overall_tar, self.overall_far)

    def weights(self, class_weights=None) -> torch.Tensor:
        """(T,) normalised class weights w_i (see ``opis``)."""
        T = len(self.classes)
        if class_weights is None or (isinstance(class_weights, str) and class_weights == "uniform"):
            return torch.full((T,), 1.0 / T, dtype=torch.float64)
        if isinstance(class_weights, str):
            if class_weights != "pairs":
                raise ValueError(f"class_weights must be None, 'uniform', 'pairs' or {T} weights, got {class_weights!r}")
            w = self.n_pos.double()
        else:
            w = torch.as_tensor(class_weights, dtype=torch.float64).flatten()
            if w.shape[0] != T:
                raise ValueError(f"class_weights must have one weight per evaluated class ({T}), got {w.shape[0]}")
            if not bool(torch.isfinite(w).all()) or bool((w < 0).any()) or float(w.sum()) <= 0:
                raise ValueError(f"class_weights must be finite, >= 0 and not all 0, got {w.tolist()}")
        return w / w.sum()

    def opis(self, class_weights=None, reference: str = "overall") -> float:
        """OPIS = sum_i w_i mean_t (U_i(t) - U_bar(t))^2 (threshold_consistency, Sec. 3)."""
        if reference not in _REFERENCES:
            raise ValueError(f"reference must be one of {_REFERENCES}, got {reference!r}")
        w = self.weights(class_weights)
        u = self.class_utility()
        u_bar = self.overall_utility() if reference == "overall" else (w.unsqueeze(1) * u).sum(0)
        return float((w.unsqueeze(1) * (u - u_bar).pow(2)).sum(0).mean())

    def eps_opis(self, eps: float = 0.05) -> float:
        """epsilon-OPIS = mean_t (U_worst(t) - U_best(t))^2 over the worst / best eps-fraction of classes."""
        worst, best = self.extreme_classes(eps)
        u = self.class_utility()
        return float((u[worst].mean(0) - u[best].mean(0)).pow(2).mean())

    def extreme_classes(self, eps: float = 0.05) -> tuple[torch.Tensor, torch.Tensor]:
        """Row indices of the worst and best eps-fraction of classes, by mean utility over the range."""
        try:
            e = float(eps)
        except (TypeError, ValueError):
            raise ValueError(f"eps must be a number in (0, 0.5], got {eps!r}") from None
        if not 0.0 < e <= 0.5:
            raise ValueError(f"eps must be a number in (0, 0.5], got {eps!r}")
        T = len(self.classes)
        k = max(1, int(round(e * T)))
        order = torch.argsort(self.class_utility().mean(1), stable=True)
        return order[:k], order[T - k:]


def _similarity_blocks(x: torch.Tensor, kind: str, block_size: int):
    """Yield (row slice, (rows, n) similarity block)."""
    n = x.shape[0]
    xn = F.normalize(x, dim=1) if kind == "embeddings" else None
    for r0 in range(0, n, block_size):
        r1 = min(n, r0 + block_size)
        yield r0, r1, (xn[r0:r1] @ xn.T if xn is not None else x[r0:r1])


def _negative_quantiles(x, kind, cls, fars: np.ndarray, block_size: int, max_exact_pairs: int) -> np.ndarray:
    """Thresholds t with (fraction of negative pairs with s >= t) = far, for each far."""
    n = x.shape[0]
    counts = torch.bincount(cls)
    n_neg = (n * n - int((counts * counts).sum())) // 2
    if n_neg == 0:
        raise ValueError("labels: the set has no negative pair (one class only); OPIS needs at least two classes")
    q = 1.0 - fars
    if n_neg <= max_exact_pairs:
        parts = []
        for r0, r1, s in _similarity_blocks(x, kind, block_size):
            cols = torch.arange(n, device=s.device)
            upper = cols.unsqueeze(0) > torch.arange(r0, r1, device=s.device).unsqueeze(1)
            neg = (cls[r0:r1].unsqueeze(1) != cls.unsqueeze(0)) & upper
            parts.append(s[neg].double().cpu())
        return np.quantile(torch.cat(parts).numpy(), q)
    # Large sets: a 2^20-bin histogram of the negative similarities (bincount is deterministic on CUDA).
    lo, hi = float("inf"), float("-inf")
    for _, _, s in _similarity_blocks(x, kind, block_size):
        lo, hi = min(lo, float(s.min())), max(hi, float(s.max()))
    width = max(hi - lo, 1e-12) / _HIST_BINS
    hist = torch.zeros(_HIST_BINS, dtype=torch.int64)
    for r0, r1, s in _similarity_blocks(x, kind, block_size):
        cols = torch.arange(n, device=s.device)
        upper = cols.unsqueeze(0) > torch.arange(r0, r1, device=s.device).unsqueeze(1)
        neg = (cls[r0:r1].unsqueeze(1) != cls.unsqueeze(0)) & upper
        idx = ((s[neg].double() - lo) / width).long().clamp_(0, _HIST_BINS - 1)
        hist += torch.bincount(idx, minlength=_HIST_BINS).cpu()
    cum = hist.cumsum(0).double().numpy()  # number of negatives below the end of each bin
    out = []
    for qq in q:
        target = qq * n_neg
        b = int(np.searchsorted(cum, target, side="left"))
        b = min(b, _HIST_BINS - 1)
        below = cum[b - 1] if b > 0 else 0.0
        frac = (target - below) / max(hist[b].item(), 1)
        out.append(lo + (b + min(max(frac, 0.0), 1.0)) * width)
    return np.asarray(out)


def class_utility_curves(
    x: torch.Tensor,
    labels: torch.Tensor,
    *,
    kind: str = "embeddings",
    utility: str | Callable = "f1_tar_tnr",
    far_range: tuple[float, float] = (1e-3, 1e-1),
    n_thresholds: int = 50,
    grid: str = "similarity",
    thresholds: Sequence[float] | torch.Tensor | None = None,
    block_size: int = 1024,
    max_exact_pairs: int = 2**25,
) -> ThresholdCurves:
    """Per-class TAR / FAR / utility curves over the calibration range (threshold_consistency, Sec. 3).

    Args:
        x: embeddings (n, d) (cosine similarity is used) with ``kind="embeddings"``, or a symmetric
            (n, n) similarity matrix with ``kind="similarity"`` (its diagonal is ignored).
        labels: (n,) integer class labels.
        utility, far_range, n_thresholds, grid: see the module docstring.
        thresholds: explicit ascending thresholds instead of the calibration range (e.g. to plot
            the curves over a wider range); ``far_range``, ``n_thresholds`` and ``grid`` are then unused.
        block_size: rows of the similarity matrix processed at once.
        max_exact_pairs: above this many negative pairs the calibration quantiles come from a histogram.
    """
    if kind not in ("embeddings", "similarity"):
        raise ValueError(f"kind must be 'embeddings' or 'similarity', got {kind!r}")
    if kind == "embeddings":
        check_embeddings(x, "x")
    else:
        if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[0] != x.shape[1] or not x.is_floating_point():
            got = f"shape {tuple(x.shape)}, dtype {x.dtype}" if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"with kind='similarity', x must be a square floating-point (n, n) matrix, got {got}")
        check_finite(x, "x")
        if not torch.allclose(x, x.T, atol=1e-6, rtol=1e-5):
            raise ValueError("with kind='similarity', x must be symmetric (x[i, j] == x[j, i])")
    check_labels(labels, x.shape[0])
    _utility_fn(utility)
    block_size = check_int(block_size, "block_size", 1)
    max_exact_pairs = check_int(max_exact_pairs, "max_exact_pairs", 0)
    x = x.detach()  # a metric: no graph (and numpy() refuses tensors that require grad)
    if x.dtype in (torch.float16, torch.bfloat16):
        x = x.float()
    labels = labels.to(x.device)
    values, cls = torch.unique(labels, sorted=True, return_inverse=True)
    C = len(values)

    calibration = None
    if thresholds is not None:
        thr = torch.as_tensor(thresholds, dtype=torch.float64).flatten()
        if thr.numel() < 1 or not bool(torch.isfinite(thr).all()) or bool((thr[1:] <= thr[:-1]).any()):
            raise ValueError(f"thresholds must be a non-empty, finite, strictly ascending sequence, got {thr.tolist()}")
    else:
        n_thresholds = check_int(n_thresholds, "n_thresholds", 2)
        if grid not in _GRIDS:
            raise ValueError(f"grid must be one of {_GRIDS}, got {grid!r}")
        try:
            f_lo, f_hi = (float(v) for v in far_range)
        except (TypeError, ValueError):
            raise ValueError(f"far_range must be two numbers (low FAR, high FAR), got {far_range!r}") from None
        if not 0.0 < f_lo < f_hi < 1.0:
            raise ValueError(f"far_range must satisfy 0 < low < high < 1, got {far_range!r}")
        if grid == "similarity":
            t_lo, t_hi = _negative_quantiles(x, kind, cls, np.array([f_hi, f_lo]), block_size, max_exact_pairs)
            thr = torch.linspace(float(t_lo), float(t_hi), n_thresholds, dtype=torch.float64)
        else:
            fars = np.logspace(np.log10(f_hi), np.log10(f_lo), n_thresholds)
            thr = torch.as_tensor(_negative_quantiles(x, kind, cls, fars, block_size, max_exact_pairs))
            t_lo, t_hi = float(thr[0]), float(thr[-1])
        if not float(t_hi) > float(t_lo):
            raise ValueError(f"the calibration range is empty (t_lo = t_hi = {float(t_lo):.6g}): the negative "
                             f"similarities are constant over FAR {far_range}; pass thresholds= explicitly")
        thr = torch.maximum(thr, torch.cummax(thr, 0).values)  # ascending despite rounding
        calibration = (float(t_lo), float(t_hi))

    K = thr.numel()
    thr_dev = thr.to(x.device)
    hist = torch.zeros(C * 3 * (K + 1), dtype=torch.int64)
    n = x.shape[0]
    for r0, r1, s in _similarity_blocks(x, kind, block_size):
        bins = torch.bucketize(s.double(), thr_dev, right=True)  # number of thresholds <= s
        same = cls[r0:r1].unsqueeze(1) == cls.unsqueeze(0)
        pair_kind = same.long()  # 0 negative, 1 positive
        rows = torch.arange(r1 - r0, device=s.device)
        pair_kind[rows, rows + r0] = 2  # the pair (i, i): ignored
        key = (cls[r0:r1].unsqueeze(1) * 3 + pair_kind) * (K + 1) + bins
        hist += torch.bincount(key.flatten(), minlength=C * 3 * (K + 1)).cpu()
    hist = hist.view(C, 3, K + 1)
    at_least = hist.flip(-1).cumsum(-1).flip(-1)  # at_least[..., b] = pairs with bin >= b
    ge = at_least[..., 1:].double()  # (C, 3, K): pairs with s >= t_k
    total = at_least[..., 0].double()  # (C, 3)
    keep = total[:, 1] > 0
    if int(keep.sum()) < 2:
        raise ValueError(f"labels: OPIS needs at least two classes with two or more images; got {int(keep.sum())} "
                         f"such class(es) among {C}")
    tar = ge[keep, 1] / total[keep, 1:2]
    far = ge[keep, 0] / total[keep, 0:1].clamp_min(1)
    overall_tar = ge[:, 1].sum(0) / total[:, 1].sum()
    overall_far = ge[:, 0].sum(0) / total[:, 0].sum().clamp_min(1)
    return ThresholdCurves(
        thresholds=thr, classes=values[keep].cpu(), tar=tar, far=far, overall_tar=overall_tar,
        overall_far=overall_far, n_pos=(total[keep, 1] / 2).long(), n_neg=total[keep, 0].long(),
        utility=utility, calibration=calibration,
    )


def opis(x: torch.Tensor, labels: torch.Tensor, *, class_weights=None, reference: str = "overall", **kwargs) -> float:
    """Operating-Point-Inconsistency Score (threshold_consistency, Sec. 3, the OPIS equation).

    ``kwargs`` go to :func:`class_utility_curves` (``kind``, ``utility``, ``far_range``,
    ``n_thresholds``, ``grid``, ``thresholds``, ...). ``class_weights``: None / "uniform" (w_i = 1/T,
    the paper's choice as recalled), "pairs", or one weight per evaluated class. ``reference``:
    "overall" (U_bar = utility of all pairs) or "mean" (weighted mean of the class utilities).
    """
    return class_utility_curves(x, labels, **kwargs).opis(class_weights=class_weights, reference=reference)


def eps_opis(x: torch.Tensor, labels: torch.Tensor, *, eps: float = 0.05, **kwargs) -> float:
    """epsilon-OPIS (threshold_consistency, Sec. 3): squared utility gap between the worst and the best
    eps-fraction of classes, averaged over the calibration range. ``kwargs`` as :func:`opis`."""
    return class_utility_curves(x, labels, **kwargs).eps_opis(eps)
