"""Proxy (class-weight) losses: the embedding is compared with one learnable vector per class.

``NormalizedSoftmaxLoss``: the normalized softmax of Zhai & Wu (BMVC 2019, "Classification is a
strong baseline for deep metric learning"), the loss used by hyperspherical_embedding (Pereira,
Joly, Valduriez & Porto, arXiv:2102.03243) to put the embedding on the unit hypersphere without
pairwise or triplet sampling.

Unlike the pair losses of ``mlcompanion.losses.pair`` this loss owns parameters (the class weights), so
``mlcompanion.train.train_embedding`` optimises them together with the model (it adds
``loss_fn.parameters()`` to the optimiser).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..validation import check_embeddings, check_int, check_labels, check_positive

__all__ = ["NormalizedSoftmaxLoss"]


class NormalizedSoftmaxLoss(nn.Module):
    """Normalized softmax loss (hyperspherical_embedding, Sec. 3; Zhai & Wu 2019, eq. 2).

    With z_i the embedding of sample i and W_k the weight ("proxy") of class k, both L2-normalised,

        L_NS = -(1/N) sum_i log( exp(cos(z_i, W_{y_i}) / T) / sum_k exp(cos(z_i, W_k) / T) ),

    i.e. cross-entropy on the logits cos(z_i, W_k) / T. Every sample is compared with every class
    weight, never with another sample: no pair or triplet sampling, and any batch (even one sample
    per class, or a single sample) gives a loss.

    Args:
        num_classes: number of training classes C (labels must lie in 0..C-1).
        embedding_dim: dimension d of the embeddings.
        temperature: T > 0. Default 0.05, the value of Zhai & Wu and of pytorch-metric-learning;
            the value used by hyperspherical_embedding is not confirmed (brief: unverified).
        weight_lr_multiplier: m > 0. The class weights are stored as ``m * weight`` (the parameter
            is ``weight``); under Adam, which is invariant to the scale of a gradient (up to its
            eps), this trains the class weights with the learning rate x m while the rest of the
            model keeps the trainer's single learning rate. ``mlcompanion.train`` has one learning rate for
            all parameters; this is how the loss asks for a faster one for its proxies (Zhai & Wu
            train the class weights faster). Default 1 (plain). With SGD it scales the effective
            learning rate by m**2, not m.

    Attributes:
        weight: the ``nn.Parameter`` of shape (num_classes, embedding_dim), initialised N(0, 1)
            / m (pytorch-metric-learning's initialisation, normal_, when m = 1).
        W: the class weights actually used, ``m * weight`` (un-normalised), shape (C, d).

    Differences from pytorch-metric-learning 2.9.0 ``NormalizedSoftmaxLoss(num_classes,
    embedding_size, temperature=0.05)``: its ``W`` has the transposed layout (embedding_size,
    num_classes) and is normalised along dim 0; the results are equal when ``pml.W = ours.W.T``
    (tests/test_proxy.py). Both normalise the embeddings (its default DotProductSimilarity has
    normalize_embeddings=True). It has no learning-rate multiplier (use a parameter group).

    Inputs: ``embeddings`` float (N, d), normalised or not (the loss normalises); ``labels``
    int64 (N,) in 0..C-1. Output: a scalar, mean over the batch. An empty batch (N = 0) gives 0
    still connected to the graph of the class weights. float16/bfloat16 inputs are computed in
    float32.
    """

    def __init__(self, num_classes: int, embedding_dim: int, temperature: float = 0.05,
                 weight_lr_multiplier: float = 1.0):
        super().__init__()
        self.num_classes = check_int(num_classes, "num_classes")
        self.embedding_dim = check_int(embedding_dim, "embedding_dim")
        self.temperature = check_positive(temperature, "temperature")
        self.weight_lr_multiplier = check_positive(weight_lr_multiplier, "weight_lr_multiplier")
        self.weight = nn.Parameter(torch.randn(num_classes, embedding_dim) / self.weight_lr_multiplier)

    @property
    def W(self) -> torch.Tensor:
        """The class weights in use (C, d), before normalisation."""
        if self.weight_lr_multiplier == 1.0:  # x * 1 == x: skip a (C, d) multiply per call
            return self.weight
        return self.weight * self.weight_lr_multiplier

    @torch.no_grad()
    def set_class_weights(self, W: torch.Tensor) -> None:
        """Set the class weights in use (C, d) (e.g. to copy them from another implementation)."""
        check_embeddings(W, "W")
        if tuple(W.shape) != (self.num_classes, self.embedding_dim):
            raise ValueError(f"W must have shape ({self.num_classes}, {self.embedding_dim}), got {tuple(W.shape)}")
        self.weight.data = (W / self.weight_lr_multiplier).to(self.weight.dtype).clone()

    def _validate(self, embeddings, labels):
        check_embeddings(embeddings, allow_empty=True)
        if embeddings.shape[1] != self.embedding_dim:
            raise ValueError(
                f"embeddings must have {self.embedding_dim} columns (embedding_dim), got shape "
                f"{tuple(embeddings.shape)}"
            )
        if labels is not None:
            check_labels(labels, embeddings.shape[0])
            if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= self.num_classes):
                raise ValueError(
                    f"labels must lie in 0..{self.num_classes - 1} (num_classes={self.num_classes}), "
                    f"got values in {int(labels.min())}..{int(labels.max())}"
                )
        if embeddings.dtype in (torch.float16, torch.bfloat16):
            embeddings = embeddings.float()
        return embeddings

    def cosines(self, embeddings: torch.Tensor) -> torch.Tensor:
        """cos(z_i, W_k), shape (N, C)."""
        return self._cosines(self._validate(embeddings, None))

    def _cosines(self, embeddings: torch.Tensor) -> torch.Tensor:  # inputs already validated
        W = self.W.to(embeddings.dtype)
        return F.normalize(embeddings, dim=1) @ F.normalize(W, dim=1).t()

    def logits(self, embeddings: torch.Tensor) -> torch.Tensor:
        """cos(z_i, W_k) / T, shape (N, C): the classifier's logits."""
        return self.cosines(embeddings) / self.temperature

    def per_sample(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The loss of every sample, shape (N,)."""
        embeddings = self._validate(embeddings, labels)  # once (it was checked three times per call)
        return F.cross_entropy(self._cosines(embeddings) / self.temperature, labels, reduction="none")

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        losses = self.per_sample(embeddings, labels)
        if losses.numel() == 0:  # no sample: 0, connected to the graph of the class weights
            return self.W.sum() * 0.0
        return losses.mean()

    def extra_repr(self) -> str:
        return (f"num_classes={self.num_classes}, embedding_dim={self.embedding_dim}, "
                f"temperature={self.temperature}, weight_lr_multiplier={self.weight_lr_multiplier}")
