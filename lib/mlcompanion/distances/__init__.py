"""Pairwise distances and similarities; every loss and metric takes one as an argument.

``base``: Euclidean, squared Euclidean, cosine, dot product (and the ``PairwiseDistance`` contract).
``snr``: the signal-to-noise-ratio distance (asymmetric; rows are anchors).
``families``: feature-to-prototype distances of the harmonic-loss paper (``families.pairwise(x, w, kind)``:
Euclidean, cosine, Manhattan, Bray-Curtis, Mahalanobis, Chebyshev, Minkowski, Canberra, ...).
"""

from .base import (
    CosineSimilarity,
    DotProductSimilarity,
    EuclideanDistance,
    PairwiseDistance,
    SquaredEuclideanDistance,
)
from .snr import SNRDistance, snr_distance

__all__ = [
    "PairwiseDistance",
    "EuclideanDistance",
    "SquaredEuclideanDistance",
    "CosineSimilarity",
    "DotProductSimilarity",
    "get_distance",
    "SNRDistance",
    "snr_distance",
]

_REGISTRY = {
    "euclidean": EuclideanDistance,
    "squared_euclidean": SquaredEuclideanDistance,
    "cosine": CosineSimilarity,
    "dot": DotProductSimilarity,
    "snr": SNRDistance,
}


def get_distance(name_or_distance) -> PairwiseDistance:
    """A distance object from its name (``euclidean``, ``squared_euclidean``, ``cosine``, ``dot``, ``snr``)."""
    if isinstance(name_or_distance, PairwiseDistance):
        return name_or_distance
    if name_or_distance not in _REGISTRY:
        raise ValueError(f"unknown distance {name_or_distance!r}; expected one of {sorted(_REGISTRY)}")
    return _REGISTRY[name_or_distance]()
