"""Weighted sums of losses on the same batch (a base loss plus regularisers)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..validation import check_embeddings, check_labels, check_positive

__all__ = ["CombinedLoss"]


class CombinedLoss(nn.Module):
    """A weighted sum of losses on the same batch: L = sum_k w_k L_k(embeddings, labels).

    threshold_consistency (Sec. 4, Fig. 4a) adds TCM to a base loss: ``CombinedLoss([(MultiSimilarityLoss(),
    1.0), (TCMLoss(), w)])``. A term with weight 0 is skipped (not computed). After each call
    ``last_terms`` holds each term's unweighted value (floats, for logging), keyed by
    ``names`` (default: the class names, made unique).
    """

    def __init__(self, terms: Sequence[tuple[nn.Module, float]], names: Sequence[str] | None = None):
        super().__init__()
        terms = list(terms)
        if not terms:
            raise ValueError("terms must hold at least one (loss, weight) pair, got none")
        for k, term in enumerate(terms):
            if not (isinstance(term, (tuple, list)) and len(term) == 2 and isinstance(term[0], nn.Module)):
                raise ValueError(f"terms[{k}] must be a (loss module, weight) pair, got {term!r}")
        weights = [check_positive(w, f"weight of term {k}", allow_zero=True) for k, (_, w) in enumerate(terms)]
        if names is None:
            names = []
            for loss, _ in terms:
                base, name, i = type(loss).__name__, type(loss).__name__, 1
                while name in names:
                    i += 1
                    name = f"{base}_{i}"
                names.append(name)
        names = list(names)
        if len(names) != len(terms) or len(set(names)) != len(names):
            raise ValueError(f"names must be {len(terms)} distinct strings, got {names!r}")
        self.losses = nn.ModuleList([loss for loss, _ in terms])
        self.weights = weights
        self.names = names
        self.last_terms: dict[str, float] = {}

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        check_embeddings(embeddings)
        check_labels(labels, embeddings.shape[0])
        total = embeddings.sum() * 0.0  # connected to the graph even if every weight is 0
        terms = {}
        for name, loss, w in zip(self.names, self.losses, self.weights):
            if w == 0.0:
                continue
            value = loss(embeddings, labels)
            terms[name] = float(value.detach())
            total = total + w * value
        self.last_terms = terms
        return total

    def extra_repr(self) -> str:
        return "weights=" + ", ".join(f"{n}: {w}" for n, w in zip(self.names, self.weights))
