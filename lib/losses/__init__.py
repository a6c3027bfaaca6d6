"""Losses, grouped by kind: ``pair`` (pair and triplet losses on a pairwise matrix)."""

from .pair import (
    BinomialDevianceLoss,
    ContrastiveLoss,
    MultiSimilarityLoss,
    PairLoss,
    TripletMarginLoss,
)

__all__ = [
    "PairLoss",
    "ContrastiveLoss",
    "TripletMarginLoss",
    "MultiSimilarityLoss",
    "BinomialDevianceLoss",
]
