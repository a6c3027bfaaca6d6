"""Energy Confusion (EC), the adversarial regulariser of ECAML (energy_confusion: Chen & Deng,
"Energy Confused Adversarial Metric Learning for Zero-Shot Image Retrieval and Clustering",
AAAI 2019, arXiv 1901.07169; official Caffe layer ``src/energy_confusion.cpp`` of chenbinghui1/ECAML).

With ``e_i = W g_i + b`` the **un-normalised** output of the embedding FC layer applied to the
**detached** backbone features g (the EC branch shares W, b with the metric branch, but its
gradient never reaches the backbone), the energy of a set S of sampled pairs (i < j) is

    E = sum_{(i,j) in S} (1 / w_ij) * 1/2 * ||e_i - e_j||^2                       (paper Eq. 5-6)

where w_ij is the number of positive pairs (y_i = y_j) or of negative pairs (y_i != y_j) among
*all* i < j pairs of the batch. The layer reports E but back-propagates ``top_diff / E`` times
dE/de, so the optimised quantity is ``L_EC = log E``; the total objective is
``L_metric + lambda_EC * log E`` with lambda_EC = 0.13 (``examples/car/train_confusion.prototxt``).
Minimising log E pulls the sampled (different-class) embeddings together: it *confuses* the
metric layer, against the metric loss, by design.

Pair sampling S:

* ``"positional"`` (the C++ layer): for every position i < n - 2r (r = ``n_partners``, the
  layer's ``random_num`` = 10), r distinct partners drawn uniformly without replacement from the
  positions i + 2, ..., n - 1 (``std::random_shuffle`` of those positions, first r kept). With the
  official batch order (65 classes x 2 consecutive images) a same-class pair is never drawn, so EC
  acts on negative pairs only. With m-per-class batches (m > 2) it would also draw positives.
* ``"negatives"`` (the default here, for m-per-class batches such as ``ClassBalancedBatchSampler``):
  every anchor i draws min(r, #negatives of i) distinct partners uniformly among its negatives
  (any position); S is the union of the resulting unordered pairs (a pair drawn from both ends
  counts once). This keeps the official *intent* (random negative pairs) under any batch order.

Sampling is vectorised (random scores, masked top-k) and drawn on the CPU from a seeded
``torch.Generator``, so it is reproducible and identical on every device. The exact pairs of the
C++ layer cannot be reproduced (it uses the C library's ``rand()``).

Not in pytorch-metric-learning or any other library; the tests check a hand-worked case from the
equation and an independent float64 port of the C++ gradient accumulation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..validation import check_choice, check_embeddings, check_labels, check_positive

__all__ = ["sample_energy_pairs", "log_energy", "EnergyConfusion", "EnergyConfusedLoss", "SAMPLINGS"]

SAMPLINGS = ("negatives", "positional")


def _check_n_partners(n_partners) -> int:
    if isinstance(n_partners, bool) or not isinstance(n_partners, int) or n_partners < 1:
        raise ValueError(f"n_partners must be a positive int, got {n_partners!r}")
    return n_partners


def sample_energy_pairs(
    labels: torch.Tensor,
    n_partners: int = 10,
    sampling: str = "negatives",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The sampled pair set S of ECAML's energy confusion (energy_confusion, Sec. 3.2 / the C++ layer).

    Returns a bool (n, n) mask, True at (i, j) with i < j for every pair in S, on ``labels``' device.
    ``generator`` must be a CPU generator (None: torch's global CPU stream). See the module
    docstring for the two samplings.
    """
    n_partners = _check_n_partners(n_partners)
    sampling = check_choice(sampling, "sampling", SAMPLINGS)
    if generator is not None and (not isinstance(generator, torch.Generator) or generator.device.type != "cpu"):
        raise ValueError(f"generator must be a CPU torch.Generator or None, got {generator!r}")
    if not isinstance(labels, torch.Tensor):
        raise ValueError(f"labels must be a 1-D integer torch.Tensor, got {type(labels).__name__}")
    n = labels.shape[0] if labels.dim() == 1 else -1
    labels = check_labels(labels, n)
    device = labels.device
    y = labels.cpu()
    idx = torch.arange(n)
    if sampling == "positional":
        # rows i < n - 2r, partners among positions >= i + 2 (there are always >= r of them)
        valid = (idx.unsqueeze(0) >= idx.unsqueeze(1) + 2) & (idx < n - 2 * n_partners).unsqueeze(1)
    else:
        valid = y.unsqueeze(0) != y.unsqueeze(1)
    scores = torch.rand((n, n), generator=generator, dtype=torch.float64)
    scores = torch.where(valid, scores, torch.full_like(scores, -1.0))
    k = min(n_partners, max(n - 1, 0))
    picked = torch.zeros((n, n), dtype=torch.bool)
    if k > 0:
        top = scores.topk(k, dim=1).indices
        picked.scatter_(1, top, True)
        picked &= valid  # rows with fewer than k valid partners picked some invalid ones: drop them
    pairs = torch.triu(picked | picked.T, diagonal=1)
    return pairs.to(device)


def _pair_counts(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Number of positive and of negative pairs among all i < j pairs of the batch."""
    n = labels.shape[0]
    _, counts = torch.unique(labels, return_counts=True)
    n_pos = (counts * (counts - 1) // 2).sum()
    n_neg = n * (n - 1) // 2 - n_pos
    return n_pos, n_neg


def log_energy(embeddings: torch.Tensor, labels: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
    """``L_EC = log E`` of ECAML (energy_confusion, Eq. 5-6) for an explicit pair set.

    ``embeddings`` (n, d): the un-normalised FC output on detached backbone features;
    ``labels`` (n,); ``pairs``: bool (n, n), True at the sampled (i, j), i < j (entries on or below
    the diagonal must be False). w_ij counts the positive / negative pairs among all i < j pairs.
    A set with no pair gives 0 connected to the graph; an energy of exactly 0 (all sampled pairs
    identical) is clamped to the smallest positive float, so the loss stays finite.
    """
    check_embeddings(embeddings)
    labels = check_labels(labels, embeddings.shape[0])
    n = embeddings.shape[0]
    if not isinstance(pairs, torch.Tensor) or pairs.dtype != torch.bool or tuple(pairs.shape) != (n, n):
        got = f"{pairs.dtype} tensor of shape {tuple(pairs.shape)}" if isinstance(pairs, torch.Tensor) else type(pairs).__name__
        raise ValueError(f"pairs must be a bool tensor of shape ({n}, {n}) (one row and column per row of "
                         f"embeddings), got {got}")
    if bool(torch.tril(pairs).any()):
        raise ValueError("pairs must only mark i < j (strictly upper triangle), got entries on or below the diagonal")
    if embeddings.dtype in (torch.float16, torch.bfloat16):
        embeddings = embeddings.float()
    pairs = pairs.to(embeddings.device)
    labels = labels.to(embeddings.device)
    if not bool(pairs.any()):
        return embeddings.sum() * 0.0
    i, j = pairs.nonzero(as_tuple=True)
    n_pos, n_neg = _pair_counts(labels)
    w = torch.where(labels[i] == labels[j], n_pos, n_neg).clamp_min(1).to(embeddings.dtype)
    diff = embeddings[i] - embeddings[j]
    energy = (0.5 * (diff * diff).sum(dim=1) / w).sum()
    return energy.clamp_min(torch.finfo(energy.dtype).tiny).log()


class EnergyConfusion(nn.Module):
    """ECAML's energy confusion term ``log E`` on freshly sampled pairs (energy_confusion, Eq. 5-6).

    Args:
        n_partners: r, partners per anchor (the C++ ``random_num``, default 10).
        sampling: ``"negatives"`` (default; random negative partners, any batch order) or
            ``"positional"`` (the C++ layer's rule, negatives only for 2-per-class ordered batches).
        generator: a seeded CPU ``torch.Generator`` for the pair sampling; None: one seeded with
            ``seed``.
        seed: seed of the internal generator when ``generator`` is None.

    ``forward(e, labels) -> log E``. ``e`` must be the **un-normalised** FC output on **detached**
    backbone features (see :class:`EnergyConfusedLoss`, which does that split). After each call
    ``last_pairs`` holds the sampled mask and ``last_energy`` the value of E (a float).
    """

    def __init__(self, n_partners: int = 10, sampling: str = "negatives",
                 generator: torch.Generator | None = None, seed: int = 0):
        super().__init__()
        self.n_partners = _check_n_partners(n_partners)
        self.sampling = check_choice(sampling, "sampling", SAMPLINGS)
        if generator is None:
            if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
                raise ValueError(f"seed must be a non-negative int, got {seed!r}")
            generator = torch.Generator().manual_seed(seed)
        elif not isinstance(generator, torch.Generator) or generator.device.type != "cpu":
            raise ValueError(f"generator must be a CPU torch.Generator or None, got {generator!r}")
        self.generator = generator
        self.last_pairs: torch.Tensor | None = None
        self.last_energy: float = float("nan")

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        check_embeddings(embeddings)
        labels = check_labels(labels, embeddings.shape[0])
        pairs = sample_energy_pairs(labels, self.n_partners, self.sampling, self.generator)
        out = log_energy(embeddings, labels, pairs)
        self.last_pairs = pairs
        self.last_energy = float(out.detach().exp()) if bool(pairs.any()) else 0.0
        return out

    def extra_repr(self) -> str:
        return f"n_partners={self.n_partners}, sampling={self.sampling!r}"


class EnergyConfusedLoss(nn.Module):
    """ECAML's objective ``L_metric + lambda_EC * log E`` with the adversarial split (energy_confusion).

    ``batch_loss(model, x, y) -> (loss, embeddings)`` (called by ``mlcompanion.train.train_embedding``):
    with ``g, e = model.forward_features_and_embedding(x)`` (``mlcompanion.models.EmbeddingNet``),

    * the metric loss sees what ``model(x)`` returns (``e``, L2-normalised when ``model.normalize``);
    * EC sees ``model.fc(g.detach())``: the same W, b, un-normalised, but no gradient to the backbone.

    So the backbone is trained by the metric loss only, and W, b by both (the official prototxt's
    ``propagate_down: false`` on the EC copy of the FC layer).

    Args:
        metric_loss: ``loss(embeddings, labels)``; default ``BinomialDevianceLoss()`` (the released
            prototxt's base loss: alpha 2, beta 0.5, C_p 1, C_n 25, cosine inside).
        ec_lambda: lambda_EC (paper/prototxt 0.13). With 0, log E is still computed (without
            gradient) so that a baseline run can record its energy.
        n_partners, sampling, seed: of the :class:`EnergyConfusion` term.
        diagnostics: also record, per batch, ``grad_ratio`` = ||d log E / dW|| / ||d L_metric / dW||
            and ``grad_cosine`` between the two gradients on W (two extra small backward passes).

    After each ``batch_loss`` call, ``last_stats`` holds floats ``metric``, ``log_E`` and
    ``log_E_unit_W`` (log E with W rescaled to unit Frobenius norm and b dropped: the part of the
    energy that the cosine metric loss can see) and ``W_norm``.
    """

    def __init__(self, metric_loss: nn.Module | None = None, ec_lambda: float = 0.13, n_partners: int = 10,
                 sampling: str = "negatives", seed: int = 0, diagnostics: bool = False):
        super().__init__()
        if metric_loss is None:
            from .pair import BinomialDevianceLoss

            metric_loss = BinomialDevianceLoss()
        if not isinstance(metric_loss, nn.Module):
            raise ValueError(f"metric_loss must be a torch.nn.Module, got {type(metric_loss).__name__}")
        self.metric_loss = metric_loss
        self.ec_lambda = check_positive(ec_lambda, "ec_lambda", allow_zero=True)
        self.energy = EnergyConfusion(n_partners=n_partners, sampling=sampling, seed=seed)
        self.diagnostics = bool(diagnostics)
        self.last_stats: dict[str, float] = {}

    def forward(self, embeddings, labels):  # pragma: no cover - the trainer calls batch_loss
        raise ValueError("EnergyConfusedLoss needs the model (EC acts on fc(g.detach())): call "
                         "batch_loss(model, x, y), got a call with embeddings only")

    def batch_loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fwd = getattr(model, "forward_features_and_embedding", None)
        fc = getattr(model, "fc", None)
        if not callable(fwd) or not isinstance(fc, nn.Module):
            raise ValueError("model must expose forward_features_and_embedding(x) -> (g, e) and an fc layer "
                             f"(mlcompanion.models.EmbeddingNet), got {type(model).__name__}")
        if not isinstance(x, torch.Tensor) or x.dim() < 1 or x.shape[0] == 0:
            got = f"shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x must be a non-empty batch of model inputs, got {got}")
        check_labels(y, x.shape[0], "y")
        g, e = fwd(x)
        emb = F.normalize(e, p=2, dim=1) if getattr(model, "normalize", False) else e
        metric = self.metric_loss(emb, y)
        need_graph = self.ec_lambda > 0 or self.diagnostics
        with torch.set_grad_enabled(need_graph and torch.is_grad_enabled()):
            ec = self.energy(fc(g.detach()), y)  # shared W, b; no gradient to the backbone
        loss = metric + self.ec_lambda * ec if self.ec_lambda > 0 else metric
        stats = {"metric": float(metric.detach()), "log_E": float(ec.detach())}
        w = getattr(fc, "weight", None)
        if isinstance(w, torch.Tensor) and w.dim() == 2 and self.energy.last_pairs is not None:
            with torch.no_grad():
                w_norm = w.norm()
                stats["W_norm"] = float(w_norm)
                stats["log_E_unit_W"] = float(log_energy(g.detach() @ (w / w_norm).T, y, self.energy.last_pairs))
            if self.diagnostics and ec.requires_grad and metric.requires_grad:
                (g_metric,) = torch.autograd.grad(metric, w, retain_graph=True, allow_unused=True)
                (g_ec,) = torch.autograd.grad(ec, w, retain_graph=True, allow_unused=True)
                if g_metric is not None and g_ec is not None:
                    # how strongly EC (at lambda = 1) pushes on W relative to the metric loss
                    stats["grad_ratio"] = float(g_ec.norm() / g_metric.norm().clamp_min(1e-30))
                    # cosine between the two pushes: < 0 means EC works against the metric loss
                    stats["grad_cosine"] = float(F.cosine_similarity(g_ec.flatten(), g_metric.flatten(), dim=0))
        self.last_stats = stats
        return loss, emb

    def extra_repr(self) -> str:
        return f"ec_lambda={self.ec_lambda}"
