"""Utilization of the embedding space (metrix, Venkataramanan et al. ICLR 2022, Sec. 4; recalled from
the paper, equation number and exact form not verified against the PDF).

For a test (query) set Q and the training set X, with L2-normalised embeddings f,

    u(Q) = (1/|Q|) sum_{q in Q} min_{x in X} ||f(q) - f(x)||^2

the mean squared distance of a test embedding to its nearest training embedding. Lower means the
test examples (of unseen classes) fall in regions of the space that training explored; the paper
reports that Metrix lowers it. The paper also evaluates it with mixed embeddings added to X and
over epochs (not verified); pass those as ``train_emb`` to do the same.
"""

from __future__ import annotations

import torch

from ..distances import EuclideanDistance, SquaredEuclideanDistance
from ..validation import check_embeddings

__all__ = ["utilization", "nearest_train_distances"]


def nearest_train_distances(
    query_emb: torch.Tensor,
    train_emb: torch.Tensor,
    normalize: bool = True,
    squared: bool = True,
    block_size: int = 1024,
) -> torch.Tensor:
    """(|Q|,) distance of each query to its nearest training embedding (squared by default), in blocks
    of ``block_size`` queries (memory block_size x |X|)."""
    check_embeddings(query_emb, "query_emb")
    check_embeddings(train_emb, "train_emb")
    if query_emb.shape[1] != train_emb.shape[1]:
        raise ValueError(f"query_emb and train_emb must have the same embedding size, got d={query_emb.shape[1]} "
                         f"and d={train_emb.shape[1]}")
    if not isinstance(block_size, int) or isinstance(block_size, bool) or block_size < 1:
        raise ValueError(f"block_size must be a positive int, got {block_size!r}")
    train_emb = train_emb.to(query_emb.dtype)
    dist = SquaredEuclideanDistance(normalize=normalize) if squared else EuclideanDistance(normalize=normalize)
    return torch.cat([dist(query_emb[i:i + block_size], train_emb).amin(1)
                      for i in range(0, query_emb.shape[0], block_size)])


def utilization(
    query_emb: torch.Tensor,
    train_emb: torch.Tensor,
    normalize: bool = True,
    squared: bool = True,
    block_size: int = 1024,
) -> float:
    """u(Q) = mean over queries of the (squared) Euclidean distance to the nearest training embedding
    (metrix, Sec. 4). ``normalize`` L2-normalises both sets first (the paper's embeddings are unit
    vectors, so u lies in [0, 4]); ``squared=False`` uses the plain distance."""
    return float(nearest_train_distances(query_emb, train_emb, normalize, squared, block_size).mean().detach())
