"""Proxy-Anchor loss (Kim, Kim, Cho & Kwak, "Proxy Anchor Loss for Deep Metric Learning", CVPR 2020).

Used by semantic_proxies (Ren et al., ICLR 2024, VPTSP-G), whose official code divides the positive
term by all C classes instead of by the classes present in the batch (``pos_divisor="all"``).

Like ``mlcompanion.losses.proxy.NormalizedSoftmaxLoss`` the module owns parameters (the proxies), so
``mlcompanion.train.train_embedding`` optimises them with the model. The functional form
``proxy_anchor_from_proxies`` takes proxies built elsewhere (e.g. VPTSP-G's mixed semantic proxies).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..distances.base import full_precision, no_autocast
from ..validation import check_choice, check_embeddings, check_int, check_labels, check_number, check_positive

__all__ = ["ProxyAnchorLoss", "proxy_anchor_from_proxies"]

POS_DIVISORS = ("present", "all")


def _log1p_sum_exp(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Column-wise log(1 + sum_{i in mask[:, c]} exp(logits[i, c])), stable for any logit size:
    a logsumexp over the masked column with a zero logit appended (the "1 +"). The appended row keeps
    every column's maximum finite, so the masked-out entries (-inf) get gradient exactly 0."""
    masked = logits.masked_fill(~mask, float("-inf"))
    return torch.logsumexp(torch.cat([masked, logits.new_zeros(1, logits.shape[1])]), dim=0)


def proxy_anchor_from_proxies(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    proxies: torch.Tensor,
    margin: float = 0.1,
    alpha: float = 32.0,
    pos_divisor: str = "present",
) -> torch.Tensor:
    """Proxy-Anchor loss (Kim et al. 2020, eq. 4) of a batch against given proxies.

    With s(x, p) the cosine similarity of embedding x and proxy p, P the C proxies, P+ the proxies of
    the classes present in the batch, X_p+ the batch samples of p's class and X_p- the others,

        L = 1/|P+| sum_{p in P+} log(1 + sum_{x in X_p+} exp(-alpha (s(x, p) - delta)))
          + 1/|P|  sum_{p in P}  log(1 + sum_{x in X_p-} exp( alpha (s(x, p) + delta)))

    with delta = ``margin``. Every log(1 + sum exp) is a logsumexp with a zero logit appended, so
    alpha = 32 cannot overflow (the official code exponentiates directly).

    Args:
        embeddings: float (N, d); need not be normalised (cosine similarity normalises).
        labels: int (N,) in 0..C-1.
        proxies: float (C, d), one row per class; need not be normalised.
        margin: delta, a finite number (default 0.1, the paper's and pytorch-metric-learning's).
        alpha: scale > 0 (default 32, the paper's and pytorch-metric-learning's).
        pos_divisor: ``"present"`` divides the positive term by |P+| (eq. 4, the official
            Proxy-Anchor code and pytorch-metric-learning 2.9.0); ``"all"`` divides it by C, as the
            official VPTSP-G code (semantic_proxies brief). The two differ by the factor |P+| / C on
            the positive term only. The negative term is always divided by C.

    Returns a scalar in float32 for half-precision inputs (the computation runs in at least float32,
    outside autocast), in the promoted dtype of ``embeddings`` and ``proxies`` otherwise. An empty
    batch (N = 0) gives exactly 0, connected to the graph of the proxies (gradient 0).
    """
    check_embeddings(embeddings, allow_empty=True)
    check_labels(labels, embeddings.shape[0])
    check_embeddings(proxies, "proxies")
    if proxies.shape[1] != embeddings.shape[1]:
        raise ValueError(
            f"proxies must have the embedding size of embeddings ({embeddings.shape[1]} columns), got "
            f"shape {tuple(proxies.shape)}"
        )
    num_classes = proxies.shape[0]
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(
            f"labels must lie in 0..{num_classes - 1} (one proxy per class, {num_classes} proxies), got "
            f"values in {int(labels.min())}..{int(labels.max())}"
        )
    margin = check_number(margin, "margin")
    alpha = check_positive(alpha, "alpha")
    check_choice(pos_divisor, "pos_divisor", POS_DIVISORS)
    return _proxy_anchor(embeddings, labels, proxies, margin, alpha, pos_divisor)


def _proxy_anchor(embeddings, labels, proxies, margin, alpha, pos_divisor):
    """The loss on validated inputs."""
    with no_autocast(embeddings.device):
        x, p = full_precision(embeddings), full_precision(proxies)
        dtype = torch.promote_types(x.dtype, p.dtype)
        x, p = x.to(dtype), p.to(dtype)
        cos = F.normalize(x, dim=1) @ F.normalize(p, dim=1).t()  # (N, C)
        num_classes = p.shape[0]
        pos_mask = F.one_hot(labels.long(), num_classes).bool() if labels.numel() else \
            torch.zeros(0, num_classes, dtype=torch.bool, device=cos.device)
        pos_term = _log1p_sum_exp(-alpha * (cos - margin), pos_mask)  # (C,), 0 for an absent class
        neg_term = _log1p_sum_exp(alpha * (cos + margin), ~pos_mask)  # (C,), 0 for a class with no negative
        if pos_divisor == "present":
            divisor = max(int(pos_mask.any(0).sum()), 1)  # empty batch: the sum is 0 anyway
        else:
            divisor = num_classes
        return pos_term.sum() / divisor + neg_term.sum() / num_classes


class ProxyAnchorLoss(nn.Module):
    """Proxy-Anchor loss (Kim et al. 2020, eq. 4) with one learnable proxy per class.

    See ``proxy_anchor_from_proxies`` for the formula and ``pos_divisor``.

    Args:
        num_classes: number of training classes C (labels must lie in 0..C-1).
        embedding_dim: dimension d of the embeddings (pytorch-metric-learning calls it
            ``embedding_size``).
        margin: delta (default 0.1), alpha: scale (default 32), as the paper, its official code and
            pytorch-metric-learning 2.9.0 ``ProxyAnchorLoss``.
        pos_divisor: ``"present"`` (default; eq. 4 and pytorch-metric-learning) or ``"all"`` (the
            official VPTSP-G code of semantic_proxies).

    Attributes:
        proxies: ``nn.Parameter`` (num_classes, embedding_dim), the layout of pytorch-metric-learning's
            ``proxies`` (copy it across as is), initialised as the official code and
            pytorch-metric-learning: ``kaiming_normal_(mode="fan_out")``, i.e. N(0, 2 / C).

    Inputs ``embeddings`` float (N, d), ``labels`` int (N,); output a scalar (float32 for half
    inputs). An empty batch gives 0 connected to the graph of the proxies.
    """

    def __init__(self, num_classes: int, embedding_dim: int, margin: float = 0.1, alpha: float = 32.0,
                 pos_divisor: str = "present"):
        super().__init__()
        self.num_classes = check_int(num_classes, "num_classes")
        self.embedding_dim = check_int(embedding_dim, "embedding_dim")
        self.margin = check_number(margin, "margin")
        self.alpha = check_positive(alpha, "alpha")
        self.pos_divisor = check_choice(pos_divisor, "pos_divisor", POS_DIVISORS)
        self.proxies = nn.Parameter(torch.empty(num_classes, embedding_dim))
        nn.init.kaiming_normal_(self.proxies, mode="fan_out")

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        check_embeddings(embeddings, allow_empty=True)
        if embeddings.shape[1] != self.embedding_dim:
            raise ValueError(
                f"embeddings must have {self.embedding_dim} columns (embedding_dim), got shape "
                f"{tuple(embeddings.shape)}"
            )
        return proxy_anchor_from_proxies(embeddings, labels, self.proxies, self.margin, self.alpha,
                                         self.pos_divisor)

    def extra_repr(self) -> str:
        return (f"num_classes={self.num_classes}, embedding_dim={self.embedding_dim}, margin={self.margin}, "
                f"alpha={self.alpha}, pos_divisor={self.pos_divisor!r}")
