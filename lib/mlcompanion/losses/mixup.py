"""Metrix: mixup for pair-based deep metric learning losses (metrix, Venkataramanan et al., ICLR 2022).

A pair loss is written in the paper's generic form (structure from the paper, Sec. 3; equation
numbers not verified against the PDF): for an anchor a with positives P(a) and negatives N(a),

    l(a)  = tau( sigma+( sum_{p in P(a)} rho+(s(a,p)) ) + sigma-( sum_{n in N(a)} rho-(s(a,n)) ) )

Metrix mixes two embeddings (or inputs, or features) x, x' with a factor lam and gives the mix u an
*interpolated positivity* v = lam y(a,x) + (1-lam) y(a,x') in [0, 1] (y = 1 for a positive or the
anchor itself, 0 for a negative). The mixed loss weights each mix by v on the positive side and by
1 - v on the negative side:

    l~(a) = tau( sigma+( sum_{(u,v) in M(a)} v rho+(s(a,u)) ) + sigma-( sum_{(u,v) in M(a)} (1-v) rho-(s(a,u)) ) )
    L     = clean loss + w * mixed loss

Mixing pairs (``pairing``):
  ``"pos_neg"``    u = lam e_p + (1-lam) e_n for every p in P(a), n in N(a); v = lam.
  ``"anchor_neg"`` u = lam e_a + (1-lam) e_n for every n in N(a); v = lam. The official code only
                   uses anchors that have *no positive* in the batch
                   (``anchor_neg_only_without_pos=True``); with class-balanced (m-per-class)
                   batches that set is empty and the branch adds exactly 0.
  ``"random"``     one of the two per iteration, with probability 1/2 (official).
Mixes are re-normalised to the unit sphere before the similarity (the official LpDistance does it).

Mixup levels (``level``):
  ``"embedding"`` (Metrix/embed): mix the L2-normalised embeddings, every pair of the chosen kind.
  ``"feature"``   (Metrix, the paper's best): mix backbone features. For ``mlcompanion.models.EmbeddingNet``
                  the mix is taken after global average pooling; since the head is affine and the
                  weights sum to 1, fc(lam g + (1-lam) g') = lam fc(g) + (1-lam) fc(g'), so this is
                  computed exactly as a mix of the *un-normalised* embeddings (no extra forward).
                  With GAP only this equals mixing the last feature maps; the paper pools with
                  GAP + GMP, where it does not.
  ``"input"``     (Metrix/input): mix images with the anchor's top-1 hardest negative (by clean
                  similarity) and run one extra forward pass on the mixed images; the clean anchor
                  embeddings are reused (the official code re-embeds the anchors in a second pass).

Base losses (``base``): ``mlcompanion.losses.MultiSimilarityLoss`` (the paper's MS instance:
    l~(a) = (1/alpha) log(1 + sum_M v e^{-alpha (s_au - b)}) + (1/beta) log(1 + sum_M (1-v) e^{beta (s_au - b)}),
averaged over the full batch; computed as a log-sum-exp with log-weights log v, log(1-v) and an
appended zero; terms with weight 0 are masked, never log(0)) and ``mlcompanion.losses.ContrastiveLoss``
(the official contrastive code: per mix, v [d(a,u) - m_pos]_+ and (1-v) [m_neg - d(a,u)]_+, each
side reduced like the base loss, AvgNonZero by default). The MS miner applies to the clean term only.

Where the official code differs (``billpsomas/Metrix_ICLR22``):
- contrastive pos-neg: for each positive pair (a, p) it mixes the *first* positive of a (not p)
  with every negative of a; with m-per-class batches that counts each anchor's first positive
  |P(a)| times. We mix every positive, as the paper's equation says.
- the later MS + Metrix file combines clean and mixed terms inside one log and writes the mixed
  negative weight into the clean mask, so its mixed negative term is always masked out. We follow
  the paper's formula.
- it samples lam ~ Beta(2, 2) once per batch (as here), clips gradients by value 10 (the shared
  trainer does not), and uses w = 0.3 for the embedding-level anchor-neg branch
  (``w_anchor_neg``; default here: the same as ``w``).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..miners import pair_masks
from ..validation import check_embeddings, check_labels, check_positive, check_probability, check_seed
from .pair import ContrastiveLoss, MultiSimilarityLoss, masked_mean

__all__ = ["MetrixLoss", "metrix_mixed_term", "mix_pairs", "PAIRINGS", "LEVELS"]

PAIRINGS = ("pos_neg", "anchor_neg")
LEVELS = ("embedding", "feature", "input")
_SUPPORTED = (MultiSimilarityLoss, ContrastiveLoss)


def _check_base(base) -> nn.Module:
    if not isinstance(base, _SUPPORTED):
        names = ", ".join(c.__name__ for c in _SUPPORTED)
        raise ValueError(f"base must be one of mlcompanion.losses {names}, got {type(base).__name__}")
    return base


def _check_pairing(pairing, allow_random: bool = False) -> str:
    choices = PAIRINGS + (("random",) if allow_random else ())
    if pairing not in choices:
        raise ValueError(f"pairing must be one of {choices}, got {pairing!r}")
    return pairing


def mix_pairs(
    labels: torch.Tensor,
    pairing: str,
    anchor_neg_only_without_pos: bool = True,
) -> torch.Tensor:
    """Boolean (n, n, n) mask ``M[a, i, j]``: anchor a meets the mix of items i and j
    (u = lam x_i + (1-lam) x_j, positivity v = lam) (metrix, Sec. 3, the two pairings).

    ``pos_neg``: i in P(a), j in N(a). ``anchor_neg``: i = a, j in N(a), and, with
    ``anchor_neg_only_without_pos``, only anchors without any positive in the batch (official code).
    """
    _check_pairing(pairing)
    pos, neg = pair_masks(labels)
    if pairing == "pos_neg":
        return pos.unsqueeze(2) & neg.unsqueeze(1)
    n = labels.shape[0]
    eye = torch.eye(n, dtype=torch.bool, device=labels.device)
    mask = eye.unsqueeze(2) & neg.unsqueeze(1)
    if anchor_neg_only_without_pos:
        mask = mask & ~pos.any(1).view(n, 1, 1)
    return mask


def _mixed_from_similarities(base, mat: torch.Tensor, mask: torch.Tensor, v: float) -> torch.Tensor:
    """The mixed term of ``base`` from the (n, K) anchor-to-mix matrix ``mat`` (distance or
    similarity, as ``base.distance``), the (n, K) mask of mixes each anchor meets and the positivity v."""
    n = mat.shape[0]
    if isinstance(base, MultiSimilarityLoss):
        pos_mask = mask if v > 0 else torch.zeros_like(mask)
        neg_mask = mask if v < 1 else torch.zeros_like(mask)
        log_v = float(np.log(v)) if v > 0 else 0.0
        log_1mv = float(np.log1p(-v)) if v < 1 else 0.0
        pos_term = _log1p_weighted_sum_exp(-base.alpha * (mat - base.base) + log_v, pos_mask) / base.alpha
        neg_term = _log1p_weighted_sum_exp(base.beta * (mat - base.base) + log_1mv, neg_mask) / base.beta
        return (pos_term + neg_term).sum() / n
    # ContrastiveLoss: v [d - m_pos]_+ and (1 - v) [m_neg - d]_+ (similarities: [m_pos - s]_+, [s - m_neg]_+)
    if base.distance.is_similarity:
        l_pos, l_neg = F.relu(base.pos_margin - mat), F.relu(mat - base.neg_margin)
    else:
        l_pos, l_neg = F.relu(mat - base.pos_margin), F.relu(base.neg_margin - mat)
    if base.power != 1.0:
        l_pos, l_neg = l_pos.pow(base.power), l_neg.pow(base.power)
    return masked_mean(v * l_pos, mask, base.reduction) + masked_mean((1.0 - v) * l_neg, mask, base.reduction)


def _log1p_weighted_sum_exp(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Row-wise log(1 + sum_{j in mask} exp(logits_ij)); zero gradient off the mask, 0 on an empty row."""
    masked = torch.where(mask, logits, torch.full_like(logits, float("-inf")))
    zero = torch.zeros_like(logits[:, :1])
    return torch.logsumexp(torch.cat([zero, masked], dim=1), dim=1)


def _anchor_to_mix(base, anchors: torch.Tensor, mixes: torch.Tensor) -> torch.Tensor:
    """(n, K) matrix from the anchors to the re-normalised mixes with the base loss's distance."""
    return base.distance(anchors, F.normalize(mixes, dim=1))


def metrix_mixed_term(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    lam: float,
    pairing: str,
    base: nn.Module,
    anchor_neg_only_without_pos: bool = True,
    sources: torch.Tensor | None = None,
) -> torch.Tensor:
    """The Metrix mixed loss at the embedding (or feature) level, before the weight w (metrix, Sec. 3).

    Every anchor a meets every mix of ``mix_pairs(labels, pairing)``, u = normalise(lam x_i +
    (1-lam) x_j) with positivity v = lam, and the base loss's mixed form is applied (module
    docstring). ``sources``: the vectors that are mixed (default: ``embeddings``; Metrix/feature
    passes the un-normalised head outputs). Anchors are ``embeddings`` (normalised by the caller or
    by the distance). MS returns (1/n) sum_a l~(a); contrastive returns the AvgNonZero-reduced
    positive side plus negative side. No mix at all gives 0, connected to the graph.
    """
    _check_base(base)
    check_embeddings(embeddings)
    check_labels(labels, embeddings.shape[0])
    lam = check_probability(lam, "lam")
    _check_pairing(pairing)
    src = embeddings if sources is None else check_embeddings(sources, "sources")
    if src.shape[0] != embeddings.shape[0]:
        raise ValueError(f"sources must have one row per embedding: expected {embeddings.shape[0]}, got {src.shape[0]}")
    if embeddings.dtype in (torch.float16, torch.bfloat16):
        embeddings, src = embeddings.float(), src.float()
    n, d = src.shape
    mask = mix_pairs(labels, pairing, anchor_neg_only_without_pos).reshape(n, n * n)
    mixes = (lam * src.unsqueeze(1) + (1.0 - lam) * src.unsqueeze(0)).reshape(n * n, d)
    mat = _anchor_to_mix(base, embeddings, mixes)
    return _mixed_from_similarities(base, mat, mask, lam)


class MetrixLoss(nn.Module):
    """Clean pair loss + w * Metrix mixed loss (metrix, Venkataramanan et al. ICLR 2022, Sec. 3-4).

        L = base(E, y) + w * mixed(E, y; lam, pairing),    lam ~ Beta(beta_ab, beta_ab), one per batch

    Args:
        base: ``MultiSimilarityLoss`` or ``ContrastiveLoss`` from ``mlcompanion.losses`` (its distance,
            margins/scales and reduction define both terms; its miner, if any, acts on the clean term).
        w: weight of the mixed term (official 0.4).
        beta_ab: the Beta(a, a) parameter lam is drawn from (official 2).
        pairing: ``"random"`` (official: each iteration one of the two), ``"pos_neg"`` or ``"anchor_neg"``.
        anchor_neg_only_without_pos: the official restriction of the anchor-neg branch to anchors
            without positives in the batch (empty under m-per-class sampling).
        level: ``"embedding"``, ``"feature"`` or ``"input"`` (module docstring). The trainer calls
            ``batch_loss(model, x, y)``; ``forward(embeddings, labels)`` is the embedding level.
        w_anchor_neg: weight of the anchor-neg branch (official embed code: 0.3); None = ``w``.
        generator: ``numpy.random.Generator`` or int seed for lam and the pairing draw; None draws a
            seed from torch's global generator (so ``make_deterministic`` fixes it).

    After each call ``last_lam``, ``last_pairing`` and ``last_mixed`` (the mixed term's value) are set.
    """

    def __init__(
        self,
        base: nn.Module,
        w: float = 0.4,
        beta_ab: float = 2.0,
        pairing: str = "random",
        anchor_neg_only_without_pos: bool = True,
        level: str = "embedding",
        w_anchor_neg: float | None = None,
        generator: np.random.Generator | int | None = None,
    ):
        super().__init__()
        self.base = _check_base(base)
        self.w = check_positive(w, "w", allow_zero=True)
        self.w_anchor_neg = self.w if w_anchor_neg is None else check_positive(w_anchor_neg, "w_anchor_neg", allow_zero=True)
        self.beta_ab = check_positive(beta_ab, "beta_ab")
        self.pairing = _check_pairing(pairing, allow_random=True)
        self.anchor_neg_only_without_pos = bool(anchor_neg_only_without_pos)
        if level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
        self.level = level
        if generator is None:
            generator = int(torch.randint(0, 2**31 - 1, (1,)).item())
        if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
            generator = np.random.default_rng(check_seed(generator, "generator"))
        if not isinstance(generator, np.random.Generator):
            raise ValueError(f"generator must be a numpy.random.Generator, an int seed or None, got {type(generator).__name__}")
        self.rng = generator
        self.last_lam: float | None = None
        self.last_pairing: str | None = None
        self.last_mixed: float | None = None

    def _draw(self, lam, pairing) -> tuple[float, str]:
        # Draw both every call (same stream whatever is given), then override with what was given.
        drawn_lam = float(self.rng.beta(self.beta_ab, self.beta_ab))
        drawn_pairing = PAIRINGS[int(self.rng.integers(2))]
        lam = drawn_lam if lam is None else check_probability(lam, "lam")
        pairing = self.pairing if pairing is None else _check_pairing(pairing, allow_random=True)
        if pairing == "random":
            pairing = drawn_pairing
        return lam, pairing

    def _combine(self, clean, mixed, lam, pairing):
        self.last_lam, self.last_pairing, self.last_mixed = lam, pairing, float(mixed.detach())
        weight = self.w_anchor_neg if pairing == "anchor_neg" else self.w
        return clean + weight * mixed

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor, lam: float | None = None,
                pairing: str | None = None) -> torch.Tensor:
        """Embedding-level Metrix (Metrix/embed) on a batch of embeddings."""
        check_embeddings(embeddings)
        check_labels(labels, embeddings.shape[0])
        lam, pairing = self._draw(lam, pairing)
        clean = self.base(embeddings, labels)
        mixed = metrix_mixed_term(embeddings, labels, lam, pairing, self.base, self.anchor_neg_only_without_pos)
        return self._combine(clean, mixed, lam, pairing)

    def batch_loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                   lam: float | None = None, pairing: str | None = None):
        """``(loss, embeddings)`` for the trainer, at ``self.level``."""
        if self.level == "embedding":
            emb = model(x)
            return self.forward(emb, y, lam, pairing), emb
        if self.level == "feature":
            fn = getattr(model, "forward_features_and_embedding", None)
            if not callable(fn):
                raise ValueError(f"level='feature' needs a model with forward_features_and_embedding "
                                 f"(mlcompanion.models.EmbeddingNet), got {type(model).__name__}")
            _, raw = fn(x)
            emb = F.normalize(raw, dim=1)
            check_labels(y, emb.shape[0])
            lam, pairing = self._draw(lam, pairing)
            clean = self.base(emb, y)
            mixed = metrix_mixed_term(emb, y, lam, pairing, self.base, self.anchor_neg_only_without_pos, sources=raw)
            return self._combine(clean, mixed, lam, pairing), emb
        return self._input_level(model, x, y, lam, pairing)

    def _input_level(self, model, x, y, lam, pairing):
        emb = model(x)
        check_embeddings(emb)
        check_labels(y, emb.shape[0])
        lam, pairing = self._draw(lam, pairing)
        clean = self.base(emb, y)
        pos, neg = pair_masks(y)
        sim = F.normalize(emb.detach(), dim=1) @ F.normalize(emb.detach(), dim=1).T
        hardest = torch.where(neg, sim, torch.full_like(sim, -float("inf"))).argmax(1)  # top-1 hardest negative
        has_neg = neg.any(1)
        if pairing == "pos_neg":
            anchors, firsts = (pos & has_neg.unsqueeze(1)).nonzero(as_tuple=True)  # one mix per positive pair
        else:
            keep = has_neg & (~pos.any(1) if self.anchor_neg_only_without_pos else torch.ones_like(has_neg))
            anchors = keep.nonzero(as_tuple=True)[0]
            firsts = anchors
        if anchors.numel() == 0:
            mixed = 0.0 * emb.sum()
        else:
            mixed_x = lam * x[firsts] + (1.0 - lam) * x[hardest[anchors]]
            mixed_emb = model(mixed_x)
            mask = anchors.unsqueeze(0) == torch.arange(len(y), device=y.device).unsqueeze(1)  # (n, K)
            mat = _anchor_to_mix(self.base, emb, mixed_emb)
            mixed = _mixed_from_similarities(self.base, mat, mask, lam)
        return self._combine(clean, mixed, lam, pairing), emb

    def extra_repr(self) -> str:
        return (f"w={self.w}, w_anchor_neg={self.w_anchor_neg}, beta_ab={self.beta_ab}, pairing={self.pairing!r}, "
                f"level={self.level!r}, anchor_neg_only_without_pos={self.anchor_neg_only_without_pos}")
