"""Few-shot evaluation: episode accuracy with a 95 % confidence interval, nearest-prototype
evaluation from cached embeddings, and the ICNN embedding-quality score.

Paper: susana_distancia -- Mendez-Ruiz et al., "SuSana Distancia is all you need: Enforcing class
separability in metric learning via two novel distance-based loss functions for few-shot image
classification", arXiv 2305.09062 (2023). Official code: ``maumruiz/FSL-Loss``.

* :func:`fewshot_accuracy`: mean and 95 % half-width ``1.96 * std / sqrt(n)`` over test episodes,
  the convention of the few-shot literature (``compute_confidence_interval`` of the official code,
  ``np.std`` i.e. ``ddof=0``).
* :func:`fewshot_eval`: N-way K-shot episodes drawn from the embeddings of a whole test set,
  computed once (one forward pass per model), classified by the nearest prototype under the squared
  Euclidean distance (Prototypical Networks, Snell et al. 2017).
* :func:`icnn_score`: the ICNN score (``modified_score`` of the official code; the score was
  introduced by the ICNN paper, arXiv 2107.06992), in [0, 1], higher = tighter, better separated
  classes. ``mlcompanion.losses.prototypical.ICNNLoss`` is ``-log`` of it.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..validation import check_embeddings, check_int, check_labels, check_positive

__all__ = ["fewshot_accuracy", "fewshot_eval", "icnn_score", "DISTANCE_EPS"]

#: Added under the square root of every distance inside the susana_distancia losses and score
#: (``nearest_neighbors`` of the official code: ``sqrt(||x - y||^2 + 1e-6)``).
DISTANCE_EPS = 1e-6


def fewshot_accuracy(acc_per_episode, ddof: int = 0) -> tuple[float, float]:
    """Mean accuracy and the half-width of its 95 % confidence interval over test episodes.

    ``ci = 1.96 * std(acc) / sqrt(n)`` with ``std`` of ``ddof`` degrees of freedom (default 0, as
    ``np.std`` in the official ``compute_confidence_interval`` of susana_distancia / FEAT; with
    600-1000 episodes the difference to ``ddof=1`` is < 0.1 %). Report as ``mean ± ci``.

    Args:
        acc_per_episode: 1-D sequence / array / tensor of per-episode accuracies (any scale).
        ddof: 0 or 1.
    Returns ``(mean, ci)`` as Python floats; ``ci`` is 0 for a single episode when ``ddof=0``.
    """
    if isinstance(acc_per_episode, torch.Tensor):
        acc = acc_per_episode.detach().cpu().double().numpy()
    else:
        try:
            acc = np.asarray(acc_per_episode, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(
                f"acc_per_episode must be a 1-D sequence of numbers, got {type(acc_per_episode).__name__}"
            ) from None
    if acc.ndim != 1 or acc.size == 0:
        raise ValueError(f"acc_per_episode must be 1-D and non-empty, got shape {tuple(acc.shape)}")
    if not np.isfinite(acc).all():
        raise ValueError(f"acc_per_episode must be finite, got {int((~np.isfinite(acc)).sum())} NaN/Inf value(s)")
    if ddof not in (0, 1):
        raise ValueError(f"ddof must be 0 or 1, got {ddof!r}")
    if ddof == 1 and acc.size < 2:
        raise ValueError(f"ddof=1 needs at least 2 episodes, got {acc.size}")
    return float(acc.mean()), float(1.96 * acc.std(ddof=ddof) / math.sqrt(acc.size))


def _sq_dists(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances by explicit differences (exactly 0 on the diagonal; batched)."""
    return (x.unsqueeze(-2) - y.unsqueeze(-3)).pow(2).sum(-1)


def _nearest_prototype(queries: torch.Tensor, protos: torch.Tensor, distance) -> torch.Tensor:
    """(E, q) index of each query's prototype under ``distance`` (see ``fewshot_eval``)."""
    from ..distances import PairwiseDistance

    if isinstance(distance, str) and distance == "squared_euclidean":
        return _sq_dists(queries, protos).argmin(dim=-1)
    if isinstance(distance, str) and distance == "cosine":
        q = torch.nn.functional.normalize(queries, dim=-1)
        p = torch.nn.functional.normalize(protos, dim=-1)
        return (q @ p.transpose(-1, -2)).argmax(dim=-1)
    if isinstance(distance, PairwiseDistance):
        scores = torch.stack([distance(q, p) for q, p in zip(queries, protos)])
        return scores.argmax(dim=-1) if distance.is_similarity else scores.argmin(dim=-1)
    raise ValueError("distance must be 'squared_euclidean', 'cosine' or a mlcompanion.distances.PairwiseDistance, "
                     f"got {distance!r}")


def icnn_score(
    x: torch.Tensor,
    labels: torch.Tensor,
    targets: torch.Tensor | None = None,
    target_labels: torch.Tensor | None = None,
    k: int = 4,
    ipc: int | None = None,
    eps: float = 1e-7,
    drop_first: bool = True,
) -> torch.Tensor:
    """ICNN score of embeddings ``x`` against ``targets`` (default: ``x`` itself), in [0, 1].

    susana_distancia, Sec. "ICNN loss" (the ``modified_score`` of the official code). With
    delta(a, b) = sqrt(||a - b||^2 + 1e-6) and, for each input i, its ``ipc`` nearest targets after
    dropping the first one (the point itself when targets = inputs): distances D_ij, same-class
    indicators sc_ij, dc_ij = 1 - sc_ij (j = 1..ipc, nearest first):

    1. nn_i = min_{j: dc_ij = 1} D_ij over the ipc neighbours (inf if none);
       D~_ij = D_ij / (nn_i + eps) for j <= k, each row divided by max(1, max_j D~_ij);
       lambda_sc = 1 - sum_i [sum_j sc_ij D~_ij / (sum_j sc_ij + eps)] / (#{i: sum_j sc_ij > 0} + eps).
    2. D^_ij = dc_ij D_ij / (max_{i, j<=k} dc_ij D_ij + eps) (global max over the first k);
       lambda_dc = | sum_i [sum_j D^_ij / (sum_j dc_ij + eps)] / (#{i: sum_j dc_ij > 0} + eps)
                     - 1[no different-class neighbour among the first k at all] |.
    3. lambda = (lambda_sc + lambda_dc) / 2; gamma = (1/n) sum_i (1/k) sum_{j<=k} sc_ij (kNN purity),
       gamma = 1 when k had to be clipped.
    4. score = (lambda + gamma) / 2.

    ``k`` is clipped to ``m - 2`` when ``k + 2 >= m`` (m = number of targets); ``ipc`` defaults to
    ``k + 1`` (the official loss passes ``shot + query`` for its "fullicnn" term; when ``ipc < k`` the
    first-k parts use the ipc neighbours there are and gamma still divides by k, as the official
    slicing does). Top-k and min are
    piecewise: gradients flow only through the selected distances.

    ``drop_first=True`` is the official behaviour, also when targets differ from the inputs (queries
    vs prototypes), where it drops the *true* nearest target (a quirk); pass ``drop_first=False``
    for the fixed behaviour in that case.

    Returns a 0-d tensor (differentiable w.r.t. ``x`` and ``targets``).
    """
    check_embeddings(x, "x")
    check_labels(labels, x.shape[0])
    if (targets is None) != (target_labels is None):
        raise ValueError("targets and target_labels must be given together (or both None for targets = x)")
    if targets is None:
        targets, target_labels = x, labels
    else:
        check_embeddings(targets, "targets")
        check_labels(target_labels, targets.shape[0], "target_labels")
        if targets.shape[1] != x.shape[1]:
            raise ValueError(f"targets must have the embedding dimension of x ({x.shape[1]}), got {targets.shape[1]}")
    k = check_int(k, "k", 1)
    check_positive(eps, "eps")
    m = targets.shape[0]
    first = 1 if drop_first else 0
    if m < 3:
        raise ValueError(f"icnn_score needs at least 3 targets (the rows of targets, or of x without targets; "
                         f"k is clipped to m - 2 >= 1), got {m}")
    clipped = k + 2 >= m
    if clipped:
        k = m - 2
    ipc = k + 1 if ipc is None else check_int(ipc, "ipc", 1)
    if ipc + first > m:
        raise ValueError(f"icnn_score: ipc + {first} neighbours must exist among the {m} targets (rows of x or "
                         f"targets), got ipc = {ipc}")
    if x.dtype in (torch.float16, torch.bfloat16):
        x, targets = x.float(), targets.float()

    dist = (_sq_dists(x, targets) + DISTANCE_EPS).sqrt()
    near, idx = dist.topk(ipc + first, dim=1, largest=False)  # sorted, nearest first
    near, idx = near[:, first:], idx[:, first:]
    same = labels.unsqueeze(1) == target_labels[idx]
    sc = same.to(near.dtype)
    dc = 1.0 - sc
    inf = torch.tensor(float("inf"), dtype=near.dtype, device=near.device)

    # same-class part: distances relative to the nearest different-class neighbour
    nn_dc = torch.where(same, inf, near).min(dim=1).values
    # with ipc < k only ipc neighbours exist: the official slicing [:k] keeps them all, gamma still divides by k
    rel = near[:, :k] / (nn_dc.unsqueeze(1) + eps)
    rel = rel / rel.max(dim=1, keepdim=True).values.clamp_min(1.0)
    sc_k, dc_k = sc[:, :k], dc[:, :k]
    sc_counts = sc_k.sum(dim=1)
    sc_mean = (rel * sc_k).sum(dim=1) / (sc_counts + eps)
    lambda_sc = 1.0 - sc_mean.sum() / ((sc_counts > 0).sum().to(near.dtype) + eps)

    # different-class part: distances relative to the largest different-class distance
    dcd = near[:, :k] * dc_k
    dcd = dcd / (dcd.max() + eps)
    dc_counts = dc_k.sum(dim=1)
    none_dc = 1.0 if bool((dc_k == 0).all()) else 0.0
    lambda_dc = ((dcd.sum(dim=1) / (dc_counts + eps)).sum() / ((dc_counts > 0).sum().to(near.dtype) + eps) - none_dc).abs()

    lam = (lambda_sc + lambda_dc) / 2
    gamma = 1.0 if clipped else (sc_counts / k).sum() / x.shape[0]
    return (lam + gamma) / 2


@torch.no_grad()
def fewshot_eval(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    way: int = 5,
    shot: int = 1,
    query: int = 15,
    episodes: int = 600,
    seed: int = 0,
    with_icnn: bool = False,
    icnn_k: int = 4,
    distance="squared_euclidean",
) -> dict:
    """Nearest-prototype N-way K-shot accuracy on episodes drawn from cached test embeddings.

    susana_distancia / ProtoNet test protocol: ``episodes`` episodes of ``way`` unseen classes with
    ``shot`` support and ``query`` query images each (support and query disjoint, drawn by
    :class:`mlcompanion.data.episodes.EpisodeSampler` with ``seed``); prototypes are support means; a query
    is assigned to the prototype at the smallest squared Euclidean distance (``distance``: the
    default; ``"cosine"``: the largest cosine similarity, as cosine-classifier baselines; or any
    ``mlcompanion.distances.PairwiseDistance``, nearest by its distance or largest by its similarity,
    called on each episode's (queries, prototypes)).

    Embeddings are computed once per model (pass ``mlcompanion.train.embed``'s output): the test episodes of
    every model are then the same index sets for the same ``seed``, so arms are compared on
    identical episodes (paired).

    Returns ``{"acc": mean, "ci": 1.96 std / sqrt(episodes), "per_episode": float64 array}`` and,
    with ``with_icnn``, ``"icnn"``: the ICNN score of each episode (supports + queries, ipc = shot +
    query, as the "fullicnn" term of the paper).
    """
    from ..data.episodes import EpisodeSampler

    check_embeddings(embeddings)
    check_labels(labels, embeddings.shape[0])
    for value, name in ((way, "way"), (shot, "shot"), (query, "query"), (episodes, "episodes")):
        check_int(value, name, 1)
    try:
        sampler = EpisodeSampler(labels, way=way, shot=shot, query=query, n_episodes=episodes, seed=seed)
    except ValueError as err:
        raise ValueError(f"labels cannot supply {way}-way {shot}-shot episodes with {query} queries: {err}") from None
    idx = torch.as_tensor(np.asarray(list(sampler)), dtype=torch.long)  # (E, way*(shot+query))
    emb = embeddings.detach().to(torch.float64)
    n_sup = way * shot
    support = emb[idx[:, :n_sup]].reshape(episodes, way, shot, -1)
    protos = support.mean(dim=2)  # (E, way, d)
    queries = emb[idx[:, n_sup:]]  # (E, way*query, d), class-major
    pred = _nearest_prototype(queries, protos, distance)
    truth = torch.arange(way).repeat_interleave(query)
    per_episode = (pred == truth).double().mean(dim=1).numpy()
    acc, ci = fewshot_accuracy(per_episode)
    out = {"acc": acc, "ci": ci, "per_episode": per_episode}
    if with_icnn:
        ep_labels = torch.cat([torch.arange(way).repeat_interleave(shot), truth])
        out["icnn"] = np.array([
            float(icnn_score(emb[i], ep_labels, k=icnn_k, ipc=shot + query)) for i in idx
        ])
    return out
