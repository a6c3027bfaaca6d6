"""Embedding regularisers added to a metric loss.

``zero_mean_penalty`` / ``ZeroMeanRegularizedLoss``: the zero-mean regulariser of DSML (snr_distance:
Yuan et al., "Signal-to-Noise Ratio: A Robust Distance Metric for Deep Metric Learning", CVPR 2019,
Sec. 4, the regularisation term of the DSML objective):

    L_r = (1/N) sum_i | sum_m h_im |,        L = L_metric(d_S) + lambda * L_r

It pushes every embedding towards zero mean over its coordinates. With zero-mean features the SNR
distance's denominator is the squared norm, and d_S(h_i, h_j) = ||h_j - h_i||^2 / ||h_i||^2: for
zero-mean vectors of equal norm this is 2 - 2 cos, the squared Euclidean distance of unit vectors.
"""

from __future__ import annotations

import torch
from torch import nn

from ..validation import check_embeddings, check_labels, check_positive

__all__ = ["zero_mean_penalty", "ZeroMeanRegularizedLoss"]


def zero_mean_penalty(embeddings: torch.Tensor) -> torch.Tensor:
    """L_r = mean over the batch of |sum of the coordinates of each embedding| (snr_distance, DSML).

    Same value as pytorch-metric-learning's ``ZeroMeanRegularizer`` (mean reduction) and as the
    regulariser term of Revisiting-DML's ``criteria/snr.py`` (without its lambda). Apply it to the
    **raw** (un-normalised) embeddings, as both implementations do. Input (N, M); returns a scalar.
    """
    check_embeddings(embeddings)
    return embeddings.sum(dim=1).abs().mean()


class ZeroMeanRegularizedLoss(nn.Module):
    """``loss(embeddings, labels) + weight * zero_mean_penalty(embeddings)`` (the DSML objective).

    Feed it the raw embeddings: if the metric loss should see L2-normalised ones, give its distance
    ``normalize=True`` (e.g. ``SNRDistance(normalize=True)``), so that the regulariser still sees the
    raw vectors, as in pytorch-metric-learning (``SNRDistance()`` normalises inside the loss,
    ``ZeroMeanRegularizer`` is an embedding regulariser on the raw batch).

    Args:
        loss: any ``mlcompanion.losses`` module (or callable ``(embeddings, labels) -> scalar``).
        weight: lambda. The paper's value was not retrieved; the default 0.005 is Revisiting-DML's
            ``loss_snr_reg_lambda``. ``weight=0`` gives the plain loss.
    """

    def __init__(self, loss: nn.Module, weight: float = 0.005):
        super().__init__()
        if not callable(loss):
            raise ValueError(f"loss must be a callable loss module, got {type(loss).__name__}")
        self.loss = loss
        self.weight = check_positive(weight, "weight", allow_zero=True)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        check_embeddings(embeddings)
        check_labels(labels, embeddings.shape[0])
        return self.loss(embeddings, labels) + self.weight * zero_mean_penalty(embeddings)

    def extra_repr(self) -> str:
        return f"weight={self.weight}"
