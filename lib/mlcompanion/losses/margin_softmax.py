"""Additive-margin softmax heads (ArcFace, CosFace) and UNPG's unified negative pair generation
(paper slug ``unpg``).

Jung, Lee, Oh, Park, Park & Son, "Unified Negative Pair Generation toward Well-discriminative Feature
Space for Face Recognition", arXiv:2203.11593 (2022). Official code: ``Jung-Jun-Uk/UNPG``
(``recognition/models/head.py``: the ArcFace, CosFace and UNPG heads; ``recognition/models/build.py``:
``convert_label_to_similarity``, ``box_and_whisker_algorithm``, ``HeadAndLoss``).
ArcFace: Deng, Guo, Xue & Zafeiriou, CVPR 2019, arXiv:1801.07698 (eq. 3). CosFace: Wang et al.,
CVPR 2018, arXiv:1801.09414 (eq. 4).

Notation (brief ``unpg``, Definitions): batch features x_i (B, d), labels y_i, class weights W_j (C, d);
f_i = x_i/||x_i||, w_j = W_j/||W_j||, cos theta_ij = f_i . w_j; scale s, margin m.

1. CLPG (classification-loss pair generation) = the margin-softmax logits (:func:`margin_logits`):
   ArcFace ``l_{i,y_i} = cos(theta_{i,y_i} + m)``, CosFace ``l_{i,y_i} = cos theta_{i,y_i} - m``,
   ``l_ij = cos theta_ij`` for j != y_i; the logits are ``s * l``.
2. MLPG (metric-loss pair generation, :func:`negative_pair_similarities`): the in-batch
   sample-to-sample negatives S_n = {f_i . f_k : i < k, y_i != y_k}, not detached.
3. The box-and-whisker filter (:func:`box_and_whisker_filter`, k = the official ``wisk``): index-based
   quartiles Q1 = sorted[floor(l/4)], Q3 = sorted[floor(3l/4)], IQR = Q3 - Q1,
   S'_n = {s in S_n : Q1 - k IQR <= s <= Q3 + k IQR}.
4. UNPG (:func:`cross_entropy_with_negatives`, :class:`UNPGLoss`): the filtered similarities are
   appended as extra logit columns, the same for every row, with the same scale and no margin:

       L = (1/B) sum_i -log( e^{s l_{i,y_i}} / ( sum_{j=1..C} e^{s l_ij} + sum_{t in S'_n} e^{s t} ) ).

   With S'_n empty it is exactly the plain head (ArcFace / CosFace). With k = inf nothing is filtered
   (S'_n = S_n): that is *not* the plain head; the loss is then >= the plain head's, strictly when the
   batch holds two classes.

Numerics: everything is computed in at least float32 (half-precision inputs upcast, autocast off inside):
``s * cos`` with s = 64 gives e^64, which overflows float16. The appended columns enter through one
``logsumexp`` over S'_n shared by every row, so the (B, C + |S'_n|) matrix of the official code is never
built (memory O(B^2) for the pair similarities only).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..distances.base import full_precision, no_autocast, safe_sqrt
from ..validation import check_choice, check_embeddings, check_finite, check_int, check_labels, check_positive

__all__ = [
    "margin_logits",
    "negative_pair_similarities",
    "box_and_whisker_filter",
    "cross_entropy_with_negatives",
    "ArcFaceLoss",
    "CosFaceLoss",
    "UNPGLoss",
]

_KINDS = ("arcface", "cosface")
# paper defaults: ArcFace m = 0.5 rad (Deng et al.; UNPG head.zoo.yaml); CosFace m = 0.35 (Wang et al.,
# pytorch-metric-learning, the official UNPG CosFace class default; head.zoo.yaml says 0.5)
DEFAULT_MARGIN = {"arcface": 0.5, "cosface": 0.35}
# cosines a rounding error may put just outside [-1, 1]; anything further out is refused
_COS_SLACK = 1e-3


def _check_margin(m, kind: str, name: str = "m") -> float:
    if m is None:
        return DEFAULT_MARGIN[kind]
    m = check_positive(m, name, allow_zero=True)
    if kind == "arcface" and m >= math.pi:
        raise ValueError(f"{name} must lie in [0, pi) radians for arcface (an angle added to theta), got {m!r}; "
                         f"pytorch-metric-learning's ArcFaceLoss takes degrees, ours takes radians")
    return m


def _check_bool(value, name: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


def _check_class_labels(labels, n: int, num_classes: int, name: str = "labels") -> torch.Tensor:
    check_labels(labels, n, name)
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(f"{name} must lie in 0..{num_classes - 1} ({num_classes} classes), got values in "
                         f"{int(labels.min())}..{int(labels.max())}")
    return labels.long()


def _compute_dtype(*tensors: torch.Tensor) -> torch.dtype:
    dtype = full_precision(tensors[0]).dtype
    for t in tensors[1:]:
        dtype = torch.promote_types(dtype, full_precision(t).dtype)
    return dtype


def _margin_logits(cos: torch.Tensor, labels: torch.Tensor, kind: str, s: float, m: float,
                   theta_fallback: bool) -> torch.Tensor:
    """margin_logits on validated, full-precision inputs."""
    cos = cos.clamp(-1.0, 1.0)
    idx = labels[:, None]
    c = cos.gather(1, idx).squeeze(1)
    if kind == "cosface":
        target = c - m
    else:
        # cos(theta + m) = cos(theta) cos(m) - sin(theta) sin(m), sin(theta) = sqrt((1 - c)(1 + c)) >= 0
        # (theta in [0, pi]); safe_sqrt has gradient 0 at c = +-1, where d/dc of acos is infinite
        sin = safe_sqrt((1.0 - c) * (1.0 + c))
        target = c * math.cos(m) - sin * math.sin(m)
        if theta_fallback:  # insightface / pytorch-metric-learning: theta > pi - m -> cos(theta) - m sin(m)
            target = torch.where(c >= math.cos(math.pi - m), target, c - m * math.sin(m))
    return cos.scatter(1, idx, target[:, None]) * s


def margin_logits(cos: torch.Tensor, labels: torch.Tensor, kind: str = "arcface", s: float = 64.0,
                  m: float | None = None, theta_fallback: bool = False) -> torch.Tensor:
    """Scaled margin-softmax logits, UNPG's CLPG (unpg, Definitions 1; ArcFace eq. 3, CosFace eq. 4).

    For the target column j = y_i:

    - ``kind="arcface"``: ``s cos(theta_{i,y_i} + m)``, m in **radians** (default 0.5 = 28.65 degrees).
      pytorch-metric-learning's ``ArcFaceLoss(margin=...)`` takes the margin in **degrees**
      (``margin=np.degrees(0.5)`` is ours with m = 0.5).
    - ``kind="cosface"``: ``s (cos theta_{i,y_i} - m)`` (default m = 0.35, CosFace's and
      pytorch-metric-learning's; the official UNPG ``head.zoo.yaml`` uses 0.5).

    and ``s cos theta_ij`` for j != y_i. Defaults s = 64 (ArcFace, CosFace, UNPG's zoo).

    ``theta_fallback`` (ArcFace only): False (default) is the paper's formula and the official UNPG head:
    cos(theta + m) on every target, which stops decreasing past theta = pi - m. True is the insightface
    variant that pytorch-metric-learning copies: for theta > pi - m (cos theta < cos(pi - m)) the target
    logit is ``cos theta - m sin m`` instead, which keeps it monotonic in theta. Both agree for
    theta <= pi - m.

    ArcFace is computed as ``c cos m - sqrt((1 - c)(1 + c)) sin m`` (c = cos theta clamped to [-1, 1]),
    equal to cos(acos(c) + m); its gradient is finite everywhere (at c = +-1 the sin term contributes 0,
    where acos has an infinite derivative).

    Args:
        cos: (B, C) cosines of the samples with the class weights, in [-1, 1] (values up to 1e-3 outside,
            rounding, are clamped; further out is refused).
        labels: (B,) integer targets in 0..C-1.
        kind: "arcface" or "cosface". s: scale > 0. m: margin >= 0 (arcface: < pi); None gives the
            kind's default (0.5 arcface, 0.35 cosface). theta_fallback: see above.
    Returns (B, C) logits in at least float32 (float64 stays float64).
    """
    check_embeddings(cos, "cos", allow_empty=True)
    kind = check_choice(kind, "kind", _KINDS)
    labels = _check_class_labels(labels, cos.shape[0], cos.shape[1], "labels")
    s = check_positive(s, "s")
    m = _check_margin(m, kind)
    theta_fallback = _check_bool(theta_fallback, "theta_fallback")
    if cos.numel() and float(cos.detach().abs().max()) > 1.0 + _COS_SLACK:
        raise ValueError(f"cos must hold cosines in [-1, 1], got values up to {float(cos.detach().abs().max()):.4g} "
                         f"in absolute value; pass normalised similarities, not raw logits")
    with no_autocast(cos.device):
        return _margin_logits(full_precision(cos), labels, kind, s, m, theta_fallback)


def _negative_pair_similarities(f: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """S_n from L2-normalised features f (validated)."""
    negative = (labels[:, None] != labels[None, :]).triu(diagonal=1)
    return (f @ f.t())[negative]


def negative_pair_similarities(features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """UNPG's MLPG negatives (unpg, Definitions 2; official ``convert_label_to_similarity``):

        S_n = { f_i . f_k : i < k, y_i != y_k },   f_i = x_i / ||x_i||,

    each different-label pair once (strict upper triangle), in row-major order (i, then k), as the
    official code. **Not detached**: the gradient reaches the features through S_n.

    Args:
        features: (B, d) float features, normalised or not (a zero row gives cosine 0, as F.normalize).
        labels: (B,) integer labels.
    Returns a 1-D tensor of the |S_n| cosines, in at least float32; empty when the batch holds one class.
    Memory O(B^2) (the full cosine matrix).
    """
    check_embeddings(features, "features", allow_empty=True)
    labels = check_labels(labels, features.shape[0], "labels")
    with no_autocast(features.device):
        f = F.normalize(full_precision(features), dim=1)
        return _negative_pair_similarities(f, labels)


def _check_whisker(k, name: str) -> float:
    """A whisker length: a number >= 0, or +inf (no filtering)."""
    if not isinstance(k, (bool, str, bytes)) and isinstance(k, (int, float)) and k == float("inf"):
        return float("inf")
    try:
        return check_positive(k, name, allow_zero=True)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number >= 0 or float('inf') (no filtering), got {k!r}") from None


def _box_and_whisker_filter(sims: torch.Tensor, k: float) -> torch.Tensor:
    """The filter on a validated full-precision 1-D tensor; k may be inf."""
    n = sims.numel()
    if n == 0 or k == float("inf"):  # k = inf: keep all (and no inf * 0 = NaN when IQR = 0)
        return sims
    ordered = torch.sort(sims.detach()).values
    q1, q3 = ordered[n // 4], ordered[(3 * n) // 4]  # = int(0.25 l), int(0.75 l) exactly
    iqr = q3 - q1
    keep = (sims >= q1 - k * iqr) & (sims <= q3 + k * iqr)
    return sims[keep]


def box_and_whisker_filter(sims: torch.Tensor, k: float = 1.5) -> torch.Tensor:
    """UNPG's box-and-whisker noise filter on the negative similarities (unpg, Definitions 3; official
    ``box_and_whisker_algorithm`` with ``wisk = k``):

        Q1 = sorted(S)[floor(l/4)],  Q3 = sorted(S)[floor(3l/4)],  IQR = Q3 - Q1,
        S' = { t in S : Q1 - k IQR <= t <= Q3 + k IQR }.

    The quartiles are order statistics at those integer indices, **not** interpolated quantiles
    (``torch.quantile`` / ``np.percentile`` differ). Default k = 1.5 (the MS1MV2 checkpoint
    ``wisk1.5``; the K-FACE checkpoint uses 1.0). ``k = float("inf")`` keeps every value. Values equal to a
    bound are kept. An empty input gives an empty output (the official code indexes an empty tensor there).

    Args:
        sims: 1-D float tensor of similarities (finite).
        k: whisker length, a number >= 0 or ``float("inf")``.
    Returns the kept values in their input order (the official code returns them sorted; the UNPG loss is a
    sum over them, so the order does not matter), in at least float32, connected to the graph of ``sims``.
    """
    if not isinstance(sims, torch.Tensor) or sims.dim() != 1 or not sims.is_floating_point():
        got = f"tensor of shape {tuple(sims.shape)} and dtype {sims.dtype}" if isinstance(sims, torch.Tensor) \
            else type(sims).__name__
        raise ValueError(f"sims must be a 1-D floating-point tensor of similarities, got {got}")
    check_finite(sims, "sims")
    k = _check_whisker(k, "k")
    return _box_and_whisker_filter(full_precision(sims), k)


def _cross_entropy_with_negatives(logits: torch.Tensor, labels: torch.Tensor, negatives: torch.Tensor | None,
                                  s: float) -> torch.Tensor:
    """Per-sample loss on validated full-precision inputs."""
    lse = torch.logsumexp(logits, dim=1)
    if negatives is not None and negatives.numel():
        lse = torch.logaddexp(lse, torch.logsumexp(s * negatives.to(logits.dtype), dim=0))
    return lse - logits.gather(1, labels[:, None]).squeeze(1)


def cross_entropy_with_negatives(logits: torch.Tensor, labels: torch.Tensor, negatives: torch.Tensor | None = None,
                                 s: float = 64.0, reduction: str = "mean") -> torch.Tensor:
    """UNPG's loss (unpg, Definitions 4; official ``UNPG.forward``): cross-entropy over C + |S'| columns,
    the C class logits of each row followed by the same ``s * t`` for every t in ``negatives``:

        L_i = -log( e^{z_{i,y_i}} / ( sum_{j=1..C} e^{z_ij} + sum_{t in S'} e^{s t} ) ).

    Equal to ``F.cross_entropy(torch.cat([logits, s * negatives.expand(B, -1)], 1), labels)`` (tested)
    without building that matrix: the negatives enter through one logsumexp shared by all rows. With
    ``negatives`` None or empty it is ``F.cross_entropy(logits, labels)``.

    Args:
        logits: (B, C) class logits, already scaled (e.g. :func:`margin_logits`).
        labels: (B,) targets in 0..C-1 (never an appended column).
        negatives: 1-D similarities S' (unscaled, no margin), e.g. from :func:`box_and_whisker_filter`; None
            for the plain head.
        s: the scale applied to the negatives (the head's s; default 64).
        reduction: "mean" (default, the official code), "sum" or "none" (shape (B,)).
    Returns the loss in at least float32; a batch of zero rows gives 0 (mean/sum) connected to the graph.
    """
    check_embeddings(logits, "logits", allow_empty=True)
    if logits.shape[1] == 0:
        raise ValueError(f"logits must have at least one class column, got shape {tuple(logits.shape)}")
    labels = _check_class_labels(labels, logits.shape[0], logits.shape[1], "labels")
    s = check_positive(s, "s")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be one of ('mean', 'sum', 'none'), got {reduction!r}")
    if negatives is not None:
        if not isinstance(negatives, torch.Tensor) or negatives.dim() != 1 or not negatives.is_floating_point():
            raise ValueError("negatives must be None or a 1-D floating-point tensor of similarities, got "
                             + (f"shape {tuple(negatives.shape)} and dtype {negatives.dtype}"
                                if isinstance(negatives, torch.Tensor) else type(negatives).__name__))
        check_finite(negatives, "negatives")
    with no_autocast(logits.device):
        logits = full_precision(logits)
        if negatives is not None:
            logits = logits.to(_compute_dtype(logits, negatives))
        per_sample = _cross_entropy_with_negatives(logits, labels, negatives, s)
    if reduction == "none":
        return per_sample
    if per_sample.numel() == 0:
        return logits.sum() * 0.0
    return per_sample.mean() if reduction == "mean" else per_sample.sum()


class _MarginSoftmaxHead(nn.Module):
    """Shared machinery of the heads: class weights (C, d), validation, cosines and margin logits."""

    kind = "arcface"

    def __init__(self, num_classes: int, embedding_size: int, s: float, m, theta_fallback: bool):
        super().__init__()
        self.num_classes = check_int(num_classes, "num_classes")
        self.embedding_size = check_int(embedding_size, "embedding_size")
        self.s = check_positive(s, "s")
        self.m = _check_margin(m, self.kind)
        self.theta_fallback = _check_bool(theta_fallback, "theta_fallback")
        # (C, d), xavier-uniform as the official UNPG heads (pytorch-metric-learning: (d, C), normal_)
        self.weight = nn.Parameter(torch.empty(self.num_classes, self.embedding_size))
        nn.init.xavier_uniform_(self.weight)

    @torch.no_grad()
    def set_class_weights(self, W: torch.Tensor) -> None:
        """Set the class weights (C, d) (pytorch-metric-learning's ``W`` is (d, C): pass ``pml.W.T``)."""
        check_embeddings(W, "W")
        if tuple(W.shape) != (self.num_classes, self.embedding_size):
            raise ValueError(f"W must have shape ({self.num_classes}, {self.embedding_size}) (num_classes, "
                             f"embedding_size), got {tuple(W.shape)}")
        self.weight.data = W.detach().to(self.weight.dtype).clone()

    def _validate(self, embeddings, labels):
        check_embeddings(embeddings, "embeddings", allow_empty=True)
        if embeddings.shape[1] != self.embedding_size:
            raise ValueError(f"embeddings must have {self.embedding_size} columns (embedding_size), got shape "
                             f"{tuple(embeddings.shape)}")
        if labels is not None:
            labels = _check_class_labels(labels, embeddings.shape[0], self.num_classes, "labels")
        return embeddings, labels

    def _normalised(self, embeddings: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        dtype = _compute_dtype(embeddings, self.weight)
        return F.normalize(embeddings.to(dtype), dim=1), F.normalize(self.weight.to(dtype), dim=1)

    def cosines(self, embeddings: torch.Tensor) -> torch.Tensor:
        """cos theta_ij = f_i . w_j, shape (B, C), in at least float32."""
        embeddings, _ = self._validate(embeddings, None)
        with no_autocast(embeddings.device):
            f, w = self._normalised(embeddings)
            return f @ w.t()

    def logits(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The scaled margin logits (B, C) of :func:`margin_logits` (margin on each row's target column)."""
        embeddings, labels = self._validate(embeddings, labels)
        with no_autocast(embeddings.device):
            f, w = self._normalised(embeddings)
            return _margin_logits(f @ w.t(), labels, self.kind, self.s, self.m, self.theta_fallback)

    def _negatives(self, f: torch.Tensor, labels: torch.Tensor) -> torch.Tensor | None:
        return None  # plain head: no appended column

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy over the batch (scalar, float32 for half inputs); 0 connected to the graph of
        the class weights for an empty batch."""
        embeddings, labels = self._validate(embeddings, labels)
        with no_autocast(embeddings.device):
            f, w = self._normalised(embeddings)
            if f.shape[0] == 0:
                return w.sum() * 0.0
            logits = _margin_logits(f @ w.t(), labels, self.kind, self.s, self.m, self.theta_fallback)
            return _cross_entropy_with_negatives(logits, labels, self._negatives(f, labels), self.s).mean()

    def extra_repr(self) -> str:
        fallback = f", theta_fallback={self.theta_fallback}" if self.kind == "arcface" else ""
        return (f"num_classes={self.num_classes}, embedding_size={self.embedding_size}, s={self.s}, "
                f"m={self.m}{fallback}")


class ArcFaceLoss(_MarginSoftmaxHead):
    """ArcFace (additive angular margin) loss with its class weights (Deng et al. 2019, eq. 3; the CLPG of
    unpg, Definitions 1; official UNPG ``ArcFace`` head):

        L = (1/B) sum_i -log( e^{s cos(theta_{i,y_i} + m)} / (e^{s cos(theta_{i,y_i} + m)}
                                                            + sum_{j != y_i} e^{s cos theta_ij}) ).

    Args:
        num_classes: C (labels in 0..C-1). embedding_size: d.
        s: scale, default 64. m: angular margin in **radians**, default 0.5 (pytorch-metric-learning's
            ``ArcFaceLoss(margin=28.6)`` takes **degrees**: ``margin=np.degrees(m)`` matches).
        theta_fallback: False (default; paper and official UNPG head): cos(theta + m) for every theta. True:
            insightface's ``cos theta - m sin m`` for theta > pi - m, as pytorch-metric-learning always does.

    Attributes: ``weight`` (C, d) nn.Parameter, xavier-uniform initialised (official UNPG head); normalised in
    the forward pass. pytorch-metric-learning stores the transpose (d, C): ``set_class_weights(pml.W.T)``.

    Inputs ``embeddings`` (B, d) float (normalised inside), ``labels`` (B,) int. Output: scalar mean loss,
    computed in at least float32 (half inputs upcast, autocast off).
    """

    kind = "arcface"

    def __init__(self, num_classes: int, embedding_size: int, s: float = 64.0, m: float = 0.5,
                 theta_fallback: bool = False):
        super().__init__(num_classes, embedding_size, s, m, theta_fallback)


class CosFaceLoss(_MarginSoftmaxHead):
    """CosFace (large margin cosine) loss with its class weights (Wang et al. 2018, eq. 4; the CLPG of
    unpg, Definitions 1; official UNPG ``CosFace`` head):

        L = (1/B) sum_i -log( e^{s (cos theta_{i,y_i} - m)} / (e^{s (cos theta_{i,y_i} - m)}
                                                              + sum_{j != y_i} e^{s cos theta_ij}) ).

    Args:
        num_classes: C. embedding_size: d. s: scale, default 64 (CosFace paper, pytorch-metric-learning).
        m: cosine margin, default 0.35 (CosFace paper, pytorch-metric-learning, the official UNPG class
            default; the official ``head.zoo.yaml`` trains with m = 0.5, and the class's own default s is 30).

    Attributes, inputs and output as :class:`ArcFaceLoss`.
    """

    kind = "cosface"

    def __init__(self, num_classes: int, embedding_size: int, s: float = 64.0, m: float = 0.35):
        super().__init__(num_classes, embedding_size, s, m, False)


class UNPGLoss(_MarginSoftmaxHead):
    """A margin-softmax head with UNPG's unified negative pair generation (unpg, Definitions 1-4; official
    ``HeadAndLoss`` with ``UNPG``):

        L = (1/B) sum_i -log( e^{s l_{i,y_i}} / ( sum_{j=1..C} e^{s l_ij} + sum_{t in S'_n} e^{s t} ) ),

    l the head's margin cosines (:func:`margin_logits`), S_n the in-batch different-label cosines
    (:func:`negative_pair_similarities`, not detached), S'_n = :func:`box_and_whisker_filter` (S_n, wisk).
    The same S'_n is appended to every row; no margin on it; the same scale s.

    Args:
        num_classes: C. embedding_size: d.
        head: "arcface" (default) or "cosface" (MagFace, the paper's third head, is not implemented).
        s: scale, default 64 (head.zoo.yaml). m: margin; None (default) gives the head's default, 0.5 rad for
            ArcFace, 0.35 for CosFace (the official zoo trains CosFace with 0.5: pass m=0.5 for that).
        wisk: the filter's k, default 1.5 (MS1MV2 checkpoint; K-FACE used 1.0); ``float("inf")`` appends
            every negative (no filtering; the loss is then >= the plain head's, not equal to it).
        theta_fallback: ArcFace only, as in :class:`ArcFaceLoss` (default False, the official head).

    A batch of one class has S_n empty and gives exactly the plain head's loss (the official code crashes
    there). Memory O(B^2). Computed in at least float32; output a scalar (mean over the batch).
    """

    def __init__(self, num_classes: int, embedding_size: int, head: str = "arcface", s: float = 64.0,
                 m: float | None = None, wisk: float = 1.5, theta_fallback: bool = False):
        self.kind = check_choice(head, "head", _KINDS)
        if head == "cosface" and theta_fallback:
            raise ValueError("theta_fallback applies to head='arcface' only, got head='cosface' with "
                             "theta_fallback=True")
        super().__init__(num_classes, embedding_size, s, m, theta_fallback)
        self.wisk = _check_whisker(wisk, "wisk")

    def _negatives(self, f: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return _box_and_whisker_filter(_negative_pair_similarities(f, labels), self.wisk)

    def negatives(self, embeddings: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(S_n, S'_n) of a batch: all in-batch negative cosines and those the filter keeps (1-D each)."""
        embeddings, labels = self._validate(embeddings, labels)
        with no_autocast(embeddings.device):
            f = F.normalize(full_precision(embeddings), dim=1)
            sn = _negative_pair_similarities(f, labels)
            return sn, _box_and_whisker_filter(sn, self.wisk)

    def extra_repr(self) -> str:
        return f"head={self.kind!r}, " + super().extra_repr() + f", wisk={self.wisk}"

