"""Evaluation metrics, grouped by kind (import from here or from the module).

- ``retrieval``: k-NN retrieval and clustering (Recall@K, P@1, R-precision, MAP@R, NMI)
- ``embedding_utilization``: how far test embeddings fall from the training embeddings (Metrix)
- ``anomaly``: a thresholded distance rule and its AUROC / precision / recall
- ``verification``: face-verification style TAR@FAR and ROC-AUC over all pairs (unpg)
- ``fewshot``: episode accuracy with a 95% CI, the ICNN score
- ``threshold``: per-class TAR/FAR/utility curves over thresholds and OPIS
- ``centroid``: nearest-centroid classification of unseen classes
- ``inductive_bias_estimation``: inductive bias as -log P(error <= eps) of random hypotheses (fitted or exact)
- ``information_geometry``: exact Fisher information of small Ising models, natural gradient, the
  regime parameter alpha
- ``label_geometry``: Loki's Fréchet-mean prediction over a label metric, expected squared distance
- ``spectrum``: representation eigenspectra (RankMe, alpha-ReQ)
- ``reward``: reward canonicalisations, EPIC/DARD/STARC distances, exact policy evaluation and regret

Names are imported on first use (PEP 562), so ``import mlcompanion.metrics`` stays cheap: the heavy
dependencies of one kind (scipy.stats for ``inductive_bias_estimation``, scikit-learn for ``nmi``) load only
when that kind is used.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "retrieval": ["knn", "recall_at_k", "precision_at_1", "r_precision", "map_at_r", "nmi", "retrieval_metrics"],
    "embedding_utilization": ["utilization", "nearest_train_distances"],
    "anomaly": ["anomaly_rule", "detection_metrics", "auroc"],
    "verification": ["verification_pairs", "tar_at_far", "roc_auc", "verification_metrics"],
    "fewshot": ["fewshot_accuracy", "fewshot_eval", "icnn_score"],
    "threshold": ["class_utility_curves", "opis", "eps_opis", "ThresholdCurves", "UTILITIES"],
    "reward": ["canonicalize", "reward_norm", "starc_distance", "starc_distance_grid", "epic_distance", "potential_shaping", "policy_evaluation", "policy_iteration", "value_iteration", "normalized_regret"],
    "centroid": ["class_centroids", "nearest_centroid_predict", "split_support_query", "centroid_accuracy", "fewshot_episodes"],
    "label_geometry": ["frechet_predict", "frechet_objective", "argmax_predict", "expected_squared_distance", "discrete_metric", "path_metric", "grid_metric", "graph_metric", "euclidean_metric"],
    "information_geometry": ["ising_fisher", "fisher_information", "fisher_from_samples", "natural_gradient", "alpha_opt", "convergence_time", "directional_alpha", "alpha_spread", "deviation_tensor", "make_graph"],
    "inductive_bias_estimation": ["estimate_inductive_bias", "inductive_bias", "empirical_inductive_bias", "fit_scaled_ncx2", "sample_hypothesis_errors"],
    "spectrum": ["rankme", "rankme_from_spectrum", "alpha_req", "eigenspectrum", "spectral_summary"],
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = [name for names in _EXPORTS.values() for name in names]


def __getattr__(name: str):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
