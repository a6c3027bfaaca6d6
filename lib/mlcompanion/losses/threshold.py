"""Threshold-consistency regularisers: the Threshold-Consistent Margin (TCM) loss, and a weighted
sum of losses to add it to a base loss.

TCM (threshold_consistency: Zhang et al., ICLR 2024, arXiv 2307.04047, Sec. 4, the TCM equation).
With S+ / S- the cosine similarities of the batch's positive / negative pairs,

    L_TCM = lambda+ * sum_{s in S+} (m+ - s) 1[s <= m+] / sum_{s in S+} 1[s <= m+]
          + lambda- * sum_{s in S-} (s - m-) 1[s >= m-] / sum_{s in S-} 1[s >= m-]

and the model is trained on L = L_base + w * L_TCM (the paper: w = 1). Each term is a mean over the
*violating* ("hard") pairs only, so its size does not depend on how many pairs violate; a term with
no violating pair is 0.

Implementation notes (each tested):
- defaults lambda+ = lambda- = 1, m+ = 0.9, m- = 0.5 are those of pytorch-metric-learning's
  ``ThresholdConsistentMarginLoss`` (its PR says they follow the paper's Sec. 5.2; the paper may
  tune the margins per dataset -- not verified);
- cosine similarity of the raw embeddings (normalised here), all ordered pairs i != j of the batch
  (each unordered pair twice, which leaves both means unchanged), as pytorch-metric-learning;
- with ``ref_emb`` the pairs are (query, reference), all of them (no diagonal removed). Here the
  reference similarities come from ``ref_emb``; pytorch-metric-learning 2.9.0 indexes the query
  embeddings with reference indices on that path (a bug), so the two differ there;
- the indicator masks are not differentiated (the loss is piecewise linear: gradient -lambda+/count
  on violating positives, +lambda-/count on violating negatives);
- a batch with no violating pair gives exactly 0, still connected to the graph (zero gradient).
"""

from __future__ import annotations


import torch
from torch import nn

from ..distances import CosineSimilarity
from ..miners import pair_masks
from ..validation import check_embeddings, check_labels, check_positive
from .pair import PairLoss

__all__ = ["TCMLoss"]


def _check_margin(value, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in [-1, 1] (a cosine similarity), got {value!r}") from None
    if not -1.0 <= v <= 1.0:
        raise ValueError(f"{name} must be a number in [-1, 1] (a cosine similarity), got {value!r}")
    return v


def _mean_over(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` over ``mask``; exactly 0 (connected to the graph) when the mask is empty."""
    return (values * mask).sum() / mask.sum().clamp_min(1)


class TCMLoss(PairLoss):
    """Threshold-Consistent Margin regulariser (threshold_consistency, Zhang et al. ICLR 2024, TCM eq.).

    Args:
        lambda_pos, lambda_neg: weights lambda+ / lambda- of the positive and negative terms (>= 0).
        m_pos: positive margin m+; positive pairs with cosine similarity <= m_pos are penalised by
            (m_pos - s), averaged over those pairs.
        m_neg: negative margin m-; negative pairs with s >= m_neg are penalised by (s - m_neg),
            averaged over those pairs.

    ``forward(embeddings, labels, ref_emb=None, ref_labels=None)``: without a reference set, all
    ordered pairs i != j of the batch; with one, all (query, reference) pairs. ``from_matrix(sim,
    labels)`` takes a precomputed (n, n) cosine-similarity matrix (for pair-weight analyses).

    Equal to ``pytorch_metric_learning.losses.ThresholdConsistentMarginLoss(lambda_plus=lambda_pos,
    lambda_minus=lambda_neg, margin_plus=m_pos, margin_minus=m_neg)`` without ``ref_emb`` (tested to
    1e-10 in float64); see the module docstring for the ``ref_emb`` difference.
    """

    def __init__(self, lambda_pos: float = 1.0, lambda_neg: float = 1.0, m_pos: float = 0.9, m_neg: float = 0.5):
        super().__init__(CosineSimilarity())
        self.lambda_pos = check_positive(lambda_pos, "lambda_pos", allow_zero=True)
        self.lambda_neg = check_positive(lambda_neg, "lambda_neg", allow_zero=True)
        self.m_pos = _check_margin(m_pos, "m_pos")
        self.m_neg = _check_margin(m_neg, "m_neg")

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor,
                ref_emb: torch.Tensor | None = None, ref_labels: torch.Tensor | None = None) -> torch.Tensor:
        check_embeddings(embeddings)
        check_labels(labels, embeddings.shape[0])
        if (ref_emb is None) != (ref_labels is None):
            raise ValueError("ref_emb and ref_labels must be given together, got only "
                             f"{'ref_emb' if ref_labels is None else 'ref_labels'}")
        if embeddings.dtype in (torch.float16, torch.bfloat16):
            embeddings = embeddings.float()
        if ref_emb is None:
            return self.from_matrix(self.distance(embeddings), labels)
        check_embeddings(ref_emb, "ref_emb")
        check_labels(ref_labels, ref_emb.shape[0], "ref_labels")
        if ref_emb.dtype in (torch.float16, torch.bfloat16):
            ref_emb = ref_emb.float()
        sim = self.distance(embeddings, ref_emb)
        pos = labels.unsqueeze(1) == ref_labels.unsqueeze(0)
        return self._terms(sim, pos, ~pos)

    def from_matrix(self, sim: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        sim = self._prepare(sim, labels, "sim")
        pos, neg = pair_masks(labels)
        return self._terms(sim, pos, neg)

    def _terms(self, sim, pos, neg):
        s = sim.detach()
        hard_pos = pos & (s <= self.m_pos)
        hard_neg = neg & (s >= self.m_neg)
        return (self.lambda_pos * _mean_over(self.m_pos - sim, hard_pos)
                + self.lambda_neg * _mean_over(sim - self.m_neg, hard_neg))

    def extra_repr(self) -> str:
        return f"lambda_pos={self.lambda_pos}, lambda_neg={self.lambda_neg}, m_pos={self.m_pos}, m_neg={self.m_neg}"


