"""Label-space geometry: the Loki (Fréchet-mean) prediction rule and the expected squared label distance.

Paper: Roberts, Li, Adila, Cromp, Huang, Zhao & Sala, "Geometry-Aware Adaptation for Pretrained
Models", NeurIPS 2023, arXiv:2307.12226 (slug ``loki``); official code ``SprocketLab/loki``
(``simclr_exps/loki.py``, ``simclr_exps/metrics.py``).

Setting. A label space of ``N`` labels with a metric ``d`` given as the ``(N, N)`` distance matrix
``D``; a model that only knows ``K`` *observed* labels ``Λ = (λ_1..λ_K)`` and outputs probabilities
``P(λ_i | x)`` over them (rows of ``probs``, shape ``(n, K)``).

* **Loki / Fréchet-mean rule** (the paper's prediction rule, :func:`frechet_predict`)::

      ŷ(x) = argmin_{y ∈ Y} Σ_i P(λ_i | x) d²(y, λ_i)

  computed for a whole batch as one matrix product ``probs @ D[Λ, :]**2`` followed by an argmin over
  the ``N`` columns (:func:`frechet_objective` returns that matrix, differentiable in ``probs``).
  Argmax over ``Λ`` is the special case of the discrete metric (all off-diagonal distances equal).
  With a Euclidean metric ``d(y, y') = ||e_y - e_{y'}||`` between label vectors the rule is "the
  label whose vector is nearest to the probability-weighted mean of the observed labels' vectors".
* **Expected squared distance** (the paper's evaluation metric, :func:`expected_squared_distance`,
  the official ``MeanSquaredDistance``): ``E[d²(y, ŷ)]``, the mean of ``D[ŷ_n, y_n]**2``.
* **Locus** (:func:`locus`): the labels the rule can ever output for some probability vector,
  enumerated on a grid of the simplex (``simplex_grid``).

Ties. The argmin breaks ties towards the lowest label index, as ``np.argmin`` in the official code;
scores within a relative ``1e-9`` of the row minimum count as tied (float64), so a tie that is exact
on paper (e.g. the two middle labels of a path) does not depend on rounding.

Label metrics (each returns an ``(N, N)`` float64 distance matrix): :func:`discrete_metric`,
:func:`path_metric`, :func:`grid_metric` (shortest paths on a rows × cols grid graph, node
``(i, j)`` -> label ``cols * i + j`` as in networkx's ``grid_2d_graph`` order, used for Figure 1),
:func:`graph_metric` (shortest paths on any graph from an edge list, e.g. a WordNet tree) and
:func:`euclidean_metric` (between label vectors: class-name embeddings, class-mean images).
:func:`check_label_metric` validates a matrix (square, finite, non-negative, symmetric, zero diagonal).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..distances.base import full_precision
from ..validation import check_finite, check_int

__all__ = [
    "check_label_metric",
    "check_probabilities",
    "frechet_objective",
    "frechet_predict",
    "argmax_predict",
    "expected_squared_distance",
    "simplex_grid",
    "locus",
    "discrete_metric",
    "path_metric",
    "grid_metric",
    "graph_metric",
    "euclidean_metric",
]

_TIE_RTOL = 1e-9
_SUM_ATOL = 1e-4


def _describe(x) -> str:
    if isinstance(x, torch.Tensor):
        return f"tensor of shape {tuple(x.shape)} and dtype {x.dtype}"
    return type(x).__name__


def check_label_metric(D, name: str = "D", *, atol: float = 1e-6) -> torch.Tensor:
    """Check a label metric given as a distance matrix and return it as float64.

    Expected: a floating ``torch.Tensor`` of shape ``(N, N)``, ``N >= 1``, finite, non-negative,
    symmetric and with a zero diagonal (within ``atol`` times the largest entry). Raises
    ``ValueError`` saying what was given otherwise. (The triangle inequality is not checked: the
    rule is defined for any dissimilarity, and the paper's self-derived "metrics" need not obey it.)
    """
    if not isinstance(D, torch.Tensor) or not D.is_floating_point():
        raise ValueError(f"{name} must be a floating-point torch.Tensor of shape (N, N) (label distances), "
                         f"got {_describe(D)}")
    if D.dim() != 2 or D.shape[0] != D.shape[1] or D.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty square matrix (N, N) of label distances, got {_describe(D)}")
    check_finite(D, name)
    D = D.detach().to(torch.float64)
    tol = atol * max(1.0, float(D.abs().max()))
    if bool((D < -tol).any()):
        raise ValueError(f"{name} must be non-negative (a distance), got a minimum of {float(D.min()):.6g}")
    asym = float((D - D.T).abs().max())
    if asym > tol:
        raise ValueError(f"{name} must be symmetric (d(a, b) = d(b, a)), got max |D - D^T| = {asym:.6g}")
    diag = float(D.diagonal().abs().max())
    if diag > tol:
        raise ValueError(f"{name} must have a zero diagonal (d(a, a) = 0), got max |D_aa| = {diag:.6g}")
    return D.clamp_min(0.0)


def check_probabilities(probs, name: str = "probs", *, atol: float = _SUM_ATOL) -> torch.Tensor:
    """Check a batch of probability vectors ``(n, K)``: floating, finite, >= 0, rows summing to 1 (±atol)."""
    if not isinstance(probs, torch.Tensor) or not probs.is_floating_point():
        raise ValueError(f"{name} must be a floating-point torch.Tensor of shape (n, K), got {_describe(probs)}")
    if probs.dim() != 2 or probs.shape[0] == 0 or probs.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D tensor (n, K): one probability vector over the "
                         f"K observed labels per row, got {_describe(probs)}")
    check_finite(probs, name)
    if bool((probs < -atol).any()):
        raise ValueError(f"{name} must be non-negative, got a minimum of {float(probs.min()):.6g}")
    sums = probs.detach().double().sum(1)
    worst = float((sums - 1).abs().max())
    # rows rounded entry by entry to a coarse dtype (float16: eps ~ 1e-3) sum to 1 only within K eps
    if worst > max(atol, probs.shape[1] * torch.finfo(probs.dtype).eps):
        raise ValueError(f"each row of {name} must sum to 1 (probabilities over the observed labels; "
                         f"normalise first), got row sums off by up to {worst:.6g}")
    return full_precision(probs)


def _check_observed(observed, K: int, N: int | None) -> torch.Tensor:
    if observed is None:
        if N is None:
            return torch.arange(K)
        if K != N:
            raise ValueError(f"observed must list the label (0..{N - 1}) of each of the K = {K} probability "
                             f"columns when K != N = {N}; got observed=None")
        return torch.arange(N)
    if not isinstance(observed, torch.Tensor):
        observed = torch.as_tensor(observed)
    if observed.is_floating_point() or observed.dtype == torch.bool or observed.dim() != 1:
        raise ValueError(f"observed must be a 1-D integer tensor of {K} label indices, got {_describe(observed)}")
    if observed.shape[0] != K:
        raise ValueError(f"observed must hold one label per probability column: expected {K}, "
                         f"got {observed.shape[0]}")
    if int(observed.min()) < 0 or (N is not None and int(observed.max()) >= N):
        raise ValueError(f"observed labels must lie in [0, {'N-1' if N is None else N - 1}] (rows of D), got range "
                         f"[{int(observed.min())}, {int(observed.max())}]")
    if torch.unique(observed).numel() != K:
        raise ValueError(f"observed labels must be distinct, got {observed.tolist()}")
    return observed.long()


def frechet_objective(probs: torch.Tensor, D: torch.Tensor, observed=None) -> torch.Tensor:
    """Fréchet variance of every candidate label: ``S[n, y] = Σ_i probs[n, i] · D[observed[i], y]²``.

    Paper ``loki``, the objective of the prediction rule (Sec. 3; official ``s = -probs @ dists**2``).
    Args:
        probs: ``(n, K)`` probabilities over the observed labels (rows sum to 1).
        D: ``(N, N)`` label distances (not squared), see :func:`check_label_metric`.
        observed: ``(K,)`` label index of each column of ``probs``; ``None`` means ``K == N`` and
            column ``i`` is label ``i``.
    Returns ``(n, N)`` in the dtype of ``probs`` (float64 when ``probs`` is float64); differentiable
    in ``probs``.
    """
    check_probabilities(probs)
    D = check_label_metric(D)
    obs = _check_observed(observed, probs.shape[1], D.shape[0])
    return probs @ (D[obs] ** 2).to(device=probs.device, dtype=probs.dtype)


def frechet_predict(probs: torch.Tensor, D: torch.Tensor, observed=None) -> torch.Tensor:
    """Loki's prediction: ``ŷ = argmin_{y ∈ 0..N-1} Σ_i P(λ_i | x) d²(y, λ_i)`` for each row of ``probs``.

    Paper ``loki`` (the Fréchet-mean rule; official ``loki_exact_predict``: ``argmax(-probs @ D**2)``).
    Vectorised over the batch: one ``(n, K) @ (K, N)`` product in float64, then the argmin with
    ties (within a relative 1e-9) broken towards the lowest label index.

    Args: as :func:`frechet_objective`.
    Returns ``(n,)`` int64 labels in ``0..N-1`` (any label of the space, observed or not).
    """
    half = probs.dtype in (torch.float16, torch.bfloat16) if isinstance(probs, torch.Tensor) else False
    probs = check_probabilities(probs).detach().to(torch.float64)
    if half:  # rows rounded to half precision sum to 1 only within K eps: renormalise in float64
        probs = probs / probs.sum(1, keepdim=True)
    scores = frechet_objective(probs, D, observed)
    best = scores.min(dim=1, keepdim=True).values
    tied = scores <= best + _TIE_RTOL * best.abs().clamp_min(1.0)
    return tied.to(torch.uint8).argmax(dim=1)  # first True: the lowest tied index


def argmax_predict(probs: torch.Tensor, observed=None) -> torch.Tensor:
    """The baseline the paper compares with: the most probable *observed* label, ``observed[argmax_i probs]``."""
    check_probabilities(probs)
    K = probs.shape[1]
    obs = _check_observed(observed, K, None)
    return obs.to(probs.device)[probs.argmax(dim=1)]


def expected_squared_distance(pred: torch.Tensor, target: torch.Tensor, D: torch.Tensor) -> torch.Tensor:
    """``E[d²(y, ŷ)]``: mean over the batch of ``D[pred, target]**2`` (paper ``loki``'s evaluation metric,
    official ``MeanSquaredDistance``). Returns a 0-d float64 tensor.

    ``pred`` and ``target`` are int64 label indices of the same shape (n,), in ``0..N-1``.
    """
    D = check_label_metric(D)
    N = D.shape[0]
    for name, t in (("pred", pred), ("target", target)):
        if not isinstance(t, torch.Tensor) or t.is_floating_point() or t.dtype == torch.bool or t.dim() != 1:
            raise ValueError(f"{name} must be a 1-D integer tensor of label indices, got {_describe(t)}")
        if t.numel() == 0:
            raise ValueError(f"{name} must be non-empty (the mean over no prediction is undefined)")
        if int(t.min()) < 0 or int(t.max()) >= N:
            raise ValueError(f"{name} labels must lie in [0, {N - 1}] (rows of D), got range "
                             f"[{int(t.min())}, {int(t.max())}]")
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same shape, got {tuple(pred.shape)} and {tuple(target.shape)}")
    return (D[pred.cpu().long(), target.cpu().long()] ** 2).mean()


def simplex_grid(k: int, n_steps: int, max_points: int = 2_000_000) -> torch.Tensor:
    """All weight vectors ``w`` with ``k`` entries in ``{0, 1/n_steps, ..., 1}`` summing to 1, float64 ``(M, k)``,
    ``M = C(n_steps + k - 1, k - 1)`` (stars and bars)."""
    if not isinstance(k, int) or k < 1 or not isinstance(n_steps, int) or n_steps < 1:
        raise ValueError(f"k and n_steps must be positive ints, got k={k!r}, n_steps={n_steps!r}")
    M = math.comb(n_steps + k - 1, k - 1)
    if M > max_points:
        raise ValueError(f"the simplex grid would hold {M} points (k={k}, n_steps={n_steps}); "
                         f"at most {max_points} are allowed: lower n_steps")
    if k == 1:
        return torch.ones(1, 1, dtype=torch.float64)
    # stars and bars: each (k-1)-subset of the n_steps + k - 1 slots marks where the bars are
    bars = torch.combinations(torch.arange(n_steps + k - 1), r=k - 1)
    if bars.dim() == 1:
        bars = bars.unsqueeze(1)
    edges = torch.cat([torch.full((bars.shape[0], 1), -1), bars, torch.full((bars.shape[0], 1), n_steps + k - 1)], 1)
    counts = edges.diff(dim=1) - 1
    return counts.to(torch.float64) / n_steps


def locus(D: torch.Tensor, observed, n_steps: int = 100) -> torch.Tensor:
    """The labels the Fréchet rule outputs for some weight vector on the observed labels
    (paper ``loki``'s locus Π(Λ)), enumerated on the simplex grid of step ``1/n_steps``.
    Returns the sorted int64 labels. A grid can miss labels whose region is thinner than the step."""
    D = check_label_metric(D)
    obs = _check_observed(observed, len(observed), D.shape[0])
    W = simplex_grid(len(obs), n_steps)
    return torch.unique(frechet_predict(W, D, obs))


# ------------------------------------------------------------------------------------------------
# label metrics
# ------------------------------------------------------------------------------------------------


def discrete_metric(n: int) -> torch.Tensor:
    """``d(a, b) = 1`` for ``a != b``: the metric under which the Fréchet rule is argmax."""
    n = check_int(n, "n")
    return 1.0 - torch.eye(n, dtype=torch.float64)


def path_metric(n: int) -> torch.Tensor:
    """``d(a, b) = |a - b|``: shortest paths on the path graph 0 - 1 - ... - (n-1)."""
    n = check_int(n, "n")
    i = torch.arange(n, dtype=torch.float64)
    return (i[:, None] - i[None, :]).abs()


def grid_metric(rows: int, cols: int) -> torch.Tensor:
    """Shortest paths on the ``rows × cols`` grid graph (4-neighbours): ``|i - i'| + |j - j'|``,
    label of node ``(i, j)`` = ``cols * i + j`` (networkx ``grid_2d_graph`` node order). Figure 1 of
    the paper uses 10 × 10."""
    rows, cols = check_int(rows, "rows"), check_int(cols, "cols")
    idx = torch.arange(rows * cols)
    i, j = (idx // cols).to(torch.float64), (idx % cols).to(torch.float64)
    return (i[:, None] - i[None, :]).abs() + (j[:, None] - j[None, :]).abs()


def graph_metric(edges, n: int, weights=None) -> torch.Tensor:
    """Shortest-path distances on an undirected graph with ``n`` nodes (labels ``0..n-1``).

    ``edges``: ``(E, 2)`` integer pairs (e.g. child-parent links of a label tree, whose internal nodes
    are extra node ids); ``weights``: optional ``(E,)`` positive edge lengths (default 1). Uses
    ``scipy.sparse.csgraph.shortest_path``. Raises if the graph is disconnected (infinite distances).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import shortest_path

    n = check_int(n, "n")
    e = np.asarray(edges.cpu() if isinstance(edges, torch.Tensor) else edges)
    if e.size == 0:
        e = e.reshape(0, 2)
    if e.ndim != 2 or e.shape[1] != 2 or not np.issubdtype(e.dtype, np.integer):
        raise ValueError(f"edges must be an (E, 2) array of integer node pairs, got shape {e.shape} dtype {e.dtype}")
    if e.size and (e.min() < 0 or e.max() >= n):
        raise ValueError(f"edge endpoints must lie in [0, {n - 1}], got range [{e.min()}, {e.max()}]")
    w = np.ones(len(e)) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (len(e),) or not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise ValueError(f"weights must be {len(e)} finite positive edge lengths, got shape {w.shape}")
    A = coo_matrix((w, (e[:, 0], e[:, 1])), shape=(n, n)).tocsr()
    dist = shortest_path(A, method="D", directed=False)
    if not np.all(np.isfinite(dist)):
        raise ValueError("the label graph must be connected: some pairs of nodes have no path between them")
    return torch.from_numpy(dist)


def euclidean_metric(vectors: torch.Tensor) -> torch.Tensor:
    """``d(a, b) = ||v_a - v_b||_2`` between label vectors ``(N, p)`` (class-name embeddings, class-mean
    images, ...). Computed in float64 from exact squared differences (no Gram-matrix cancellation)."""
    if not isinstance(vectors, torch.Tensor) or not vectors.is_floating_point() or vectors.dim() != 2 \
            or vectors.shape[0] == 0 or vectors.shape[1] == 0:
        raise ValueError(f"vectors must be a non-empty floating (N, p) tensor, got {_describe(vectors)}")
    check_finite(vectors, "vectors")
    v = vectors.detach().to(torch.float64)
    return torch.cdist(v, v, compute_mode="donot_use_mm_for_euclid_dist").fill_diagonal_(0.0)
