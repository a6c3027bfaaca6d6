"""Pairwise distances and similarities; every loss and metric takes one as an argument.

``base``: Euclidean, squared Euclidean, cosine, dot product (and the ``PairwiseDistance`` contract).
"""

from .base import (
    CosineSimilarity,
    DotProductSimilarity,
    EuclideanDistance,
    PairwiseDistance,
    SquaredEuclideanDistance,
    get_distance,
)

__all__ = [
    "PairwiseDistance",
    "EuclideanDistance",
    "SquaredEuclideanDistance",
    "CosineSimilarity",
    "DotProductSimilarity",
    "get_distance",
]
