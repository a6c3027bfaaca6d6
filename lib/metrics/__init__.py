"""Evaluation metrics, grouped by kind (import from here or from the module).

- ``retrieval``: k-NN retrieval and clustering (Recall@K, P@1, R-precision, MAP@R, NMI)
- ``utilization``: how far test embeddings fall from the training embeddings (Metrix)
- ``anomaly``: a thresholded distance rule and its AUROC / precision / recall
- ``fewshot``: episode accuracy with a 95% CI, the ICNN score
- ``threshold``: per-class TAR/FAR/utility curves over thresholds and OPIS
- ``centroid``: nearest-centroid classification of unseen classes
- ``inductive_bias``: inductive bias as -log P(error <= eps) of random hypotheses (fitted or exact)
- ``information_geometry``: exact Fisher information of small Ising models, natural gradient, the
  regime parameter alpha
- ``label_geometry``: Loki's Fréchet-mean prediction over a label metric, expected squared distance
- ``spectrum``: representation eigenspectra (RankMe, alpha-ReQ)
- ``reward``: reward canonicalisations, EPIC/DARD/STARC distances, exact policy evaluation and regret
"""

from .anomaly import anomaly_rule, detection_metrics
from .centroid import centroid_accuracy, class_centroids, fewshot_episodes, nearest_centroid_predict, split_support_query
from .fewshot import fewshot_accuracy, fewshot_eval, icnn_score
from .inductive_bias import (
    empirical_inductive_bias,
    estimate_inductive_bias,
    fit_scaled_ncx2,
    inductive_bias,
    sample_hypothesis_errors,
)
from .information_geometry import (
    alpha_opt,
    alpha_spread,
    convergence_time,
    deviation_tensor,
    directional_alpha,
    fisher_from_samples,
    fisher_information,
    ising_fisher,
    make_graph,
    natural_gradient,
)
from .label_geometry import (
    argmax_predict,
    discrete_metric,
    euclidean_metric,
    expected_squared_distance,
    frechet_objective,
    frechet_predict,
    graph_metric,
    grid_metric,
    path_metric,
)
from .retrieval import (
    knn,
    map_at_r,
    nmi,
    precision_at_1,
    r_precision,
    recall_at_k,
    retrieval_metrics,
)
from .reward import (
    canonicalize,
    epic_distance,
    normalized_regret,
    policy_evaluation,
    policy_iteration,
    potential_shaping,
    reward_norm,
    starc_distance,
    starc_distance_grid,
    value_iteration,
)
from .spectrum import alpha_req, eigenspectrum, rankme, rankme_from_spectrum, spectral_summary
from .threshold import UTILITIES, ThresholdCurves, class_utility_curves, eps_opis, opis
from .utilization import nearest_train_distances, utilization

__all__ = [
    "knn", "recall_at_k", "precision_at_1", "r_precision", "map_at_r", "nmi", "retrieval_metrics",
    "utilization", "nearest_train_distances",
    "anomaly_rule", "detection_metrics",
    "fewshot_accuracy", "fewshot_eval", "icnn_score",
    "class_utility_curves", "opis", "eps_opis", "ThresholdCurves", "UTILITIES",
    "canonicalize", "reward_norm", "starc_distance", "starc_distance_grid", "epic_distance", "potential_shaping",
    "policy_evaluation", "policy_iteration", "value_iteration", "normalized_regret",
    "class_centroids", "nearest_centroid_predict", "split_support_query", "centroid_accuracy", "fewshot_episodes",
    "frechet_predict", "frechet_objective", "argmax_predict", "expected_squared_distance",
    "discrete_metric", "path_metric", "grid_metric", "graph_metric", "euclidean_metric",
    "ising_fisher", "fisher_information", "fisher_from_samples", "natural_gradient", "alpha_opt",
    "convergence_time", "directional_alpha", "alpha_spread", "deviation_tensor", "make_graph",
    "estimate_inductive_bias", "inductive_bias", "empirical_inductive_bias", "fit_scaled_ncx2",
    "sample_hypothesis_errors",
    "rankme", "rankme_from_spectrum", "alpha_req", "eigenspectrum", "spectral_summary",
]
