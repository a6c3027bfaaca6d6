"""General Pair Weighting (multi_similarity, Wang et al. 2019, Sec. 3.1, eq. 1-2).

Any loss L(S) of the similarity matrix S has gradient dL/dtheta = sum_ij (dL/dS_ij)(dS_ij/dtheta),
so w_ij = |dL/dS_ij| is the weight the loss gives pair (i, j). ``gpw_weights`` measures it by
autograd, treating S as an unconstrained input so that entry (i, j) belongs to anchor i alone.
"""

from __future__ import annotations

import torch

from .miners import _check_square

__all__ = ["gpw_weights"]


def gpw_weights(loss, sim_grid, context: torch.Tensor, labels: torch.Tensor, pair: tuple[int, int]) -> torch.Tensor:
    """Weight |dL/dS_ij| of one pair as its similarity sweeps ``sim_grid``, all other entries fixed.

    Args:
        loss: any loss of ``mlcompanion.losses`` (it must have ``from_matrix(mat, labels)``).
        sim_grid: 1-D values for S_ij.
        context: (n, n) matrix holding the other pairs' values.
        labels: (n,) labels; whether (i, j) is a positive or a negative pair comes from them.
        pair: (i, j), the anchor and the other item.
    Returns a 1-D float64 tensor of weights, one per grid value.
    """
    _check_square(context, labels, "context")
    i, j = pair
    n = context.shape[0]
    if not (0 <= i < n and 0 <= j < n and i != j):
        raise ValueError(f"pair must be two different indices in [0, {n}), got {pair!r}")
    grid = torch.as_tensor(sim_grid, dtype=torch.float64)
    if grid.dim() != 1 or grid.numel() == 0:
        raise ValueError(f"sim_grid must be a non-empty 1-D sequence, got shape {tuple(grid.shape)}")
    weights = torch.empty_like(grid)
    base = context.detach().to(torch.float64)
    for t, value in enumerate(grid):
        sim = base.clone()
        sim[i, j] = value
        sim.requires_grad_(True)
        (grad,) = torch.autograd.grad(loss.from_matrix(sim, labels), sim, allow_unused=True)
        weights[t] = 0.0 if grad is None else grad[i, j].abs()
    return weights
