"""Losses, grouped by kind (import from here or from the module).

- ``pair``: pair and triplet losses on a pairwise matrix (contrastive, triplet, multi-similarity,
  binomial deviance)
- ``mixup``: Metrix, mixup of embeddings / features / inputs for pair losses
- ``center``: centre-based losses for anomaly detection (cDCM, Deep SAD)
- ``prototypical``: few-shot episode losses (prototypical CE, Proto-Triplet, ICNN)
- ``threshold``: the threshold-consistent margin (TCM) regulariser
- ``combined``: weighted sums of losses
- ``energy``: the energy-confusion regulariser (ECAML) and its objective with a metric loss
- ``proxy``: proxy / class-weight losses (normalized softmax)
- ``regularizers``: embedding regularisers (the zero-mean penalty of the SNR paper)
- ``spherical``: the spherical family of classification losses (Z-loss, Taylor/spherical softmax, MSE)
- ``anyloss``: classification metrics made differentiable (soft confusion matrix, 1 - metric losses)
- ``harmonic``: the harmonic (distance-based) output layer and loss, with any distance family
- ``equiangular``: equiangular basis vectors (generation) and the fixed-vector EBV head and loss
- ``margin_softmax``: ArcFace / CosFace heads and UNPG's unified negative pair generation
- ``proxy_anchor``: the Proxy-Anchor loss (positive divisor of pytorch-metric-learning or of the official code)
- ``margin``: the margin loss of "Sampling matters" (global or per-class, fixed or learnt beta)
"""

from .anyloss import AnyLoss, amplify, soft_confusion, soft_metric, weighted_bce
from .center import CDCMLoss, DeepSADLoss, center_distance
from .combined import CombinedLoss
from .energy import EnergyConfusedLoss, EnergyConfusion, log_energy, sample_energy_pairs
from .equiangular import (
    EquiangularHead,
    EquiangularLoss,
    generate_equiangular_basis,
    max_abs_cosine,
    search_equiangular_basis,
    welch_bound,
)
from .margin import MarginLoss
from .margin_softmax import (
    ArcFaceLoss,
    CosFaceLoss,
    UNPGLoss,
    box_and_whisker_filter,
    cross_entropy_with_negatives,
    margin_logits,
    negative_pair_similarities,
)
from .proxy_anchor import ProxyAnchorLoss, proxy_anchor_from_proxies
from .harmonic import HarmonicHead, HarmonicLoss, harmonic_logits, harmonic_loss, pca_structure
from .mixup import MetrixLoss, metrix_mixed_term, mix_pairs
from .pair import (
    BinomialDevianceLoss,
    ContrastiveLoss,
    MultiSimilarityLoss,
    PairLoss,
    TripletMarginLoss,
    masked_mean,
)
from .proxy import NormalizedSoftmaxLoss
from .prototypical import EpisodicProtoLoss, ICNNLoss, ProtoNetLoss, ProtoTripletLoss, prototypes, split_episode
from .regularizers import ZeroMeanRegularizedLoss, zero_mean_penalty
from .spherical import (
    OneHotMSELoss,
    SphericalSoftmaxLoss,
    SphericalZLoss,
    TaylorSoftmaxLoss,
    zloss,
    zloss_grad,
    zscore_target,
)
from .threshold import TCMLoss

__all__ = [
    "PairLoss", "ContrastiveLoss", "TripletMarginLoss", "MultiSimilarityLoss", "BinomialDevianceLoss", "masked_mean",
    "MetrixLoss", "metrix_mixed_term", "mix_pairs",
    "CDCMLoss", "DeepSADLoss", "center_distance",
    "prototypes", "split_episode", "ProtoNetLoss", "ProtoTripletLoss", "ICNNLoss", "EpisodicProtoLoss",
    "TCMLoss", "CombinedLoss",
    "EnergyConfusion", "EnergyConfusedLoss", "log_energy", "sample_energy_pairs",
    "NormalizedSoftmaxLoss",
    "zero_mean_penalty", "ZeroMeanRegularizedLoss",
    "SphericalZLoss", "zloss", "zloss_grad", "zscore_target", "TaylorSoftmaxLoss", "SphericalSoftmaxLoss",
    "OneHotMSELoss",
    "AnyLoss", "amplify", "soft_confusion", "soft_metric", "weighted_bce",
    "HarmonicHead", "HarmonicLoss", "harmonic_logits", "harmonic_loss", "pca_structure",
    "EquiangularHead", "EquiangularLoss", "generate_equiangular_basis", "search_equiangular_basis",
    "max_abs_cosine", "welch_bound",
    "ArcFaceLoss", "CosFaceLoss", "UNPGLoss", "margin_logits", "negative_pair_similarities", "box_and_whisker_filter",
    "cross_entropy_with_negatives",
    "ProxyAnchorLoss", "proxy_anchor_from_proxies", "MarginLoss",
]
