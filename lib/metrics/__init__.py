"""Evaluation metrics, grouped by kind: ``retrieval`` (k-NN retrieval and clustering)."""

from .retrieval import (
    knn,
    map_at_r,
    nmi,
    precision_at_1,
    r_precision,
    recall_at_k,
    retrieval_metrics,
)

__all__ = ["knn", "recall_at_k", "precision_at_1", "r_precision", "map_at_r", "nmi", "retrieval_metrics"]
