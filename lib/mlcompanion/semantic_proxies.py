"""VPTSP-G: semantic proxies from class-specific visual prompts, accumulated by a GRU memory.

Ren, Chen, Wang & Hua, "Learning Semantic Proxies from Visual Prompts for Parameter-Efficient
Fine-Tuning in Deep Metric Learning" (ICLR 2024, arXiv 2402.02340), Sec. 4.2-4.3; official code
``Noahsark/ParameterEfficient-DML`` (``architectures/peft_vit.py``: ``forward_proxy_mix_bias``,
``_proxies_generator``, ``_semantic_mix_with_container``, ``Simple_GRUCell``;
``criteria/dml_proxy_peft.py``).

- ``SemanticProxyNet``: a second pass of the same frozen (BitFit) ViT over the batch images with
  *class-specific* prompts Q_c^l (sample i uses the prompts of its label), block l getting
  max(n_q - l * step, 0) of them for l < depth; its own head LN -> Linear -> L2 gives u_i.
- ``GRUReLUCell``: z = sigma(u W_iz + h W_hz + b_z), r = sigma(u W_ir + h W_hr + b_r),
  n = ReLU(u W_in + r * (h W_hn) + b_n), h' = (1 - z) n + z h  (``Simple_GRUCell``, type ``gru_relu``).
- ``ProxyMemory``: the container (one unit vector per class). ``update(u, labels)`` is a *pure*
  function: for each class c of the batch (its samples adjacent, ``check_adjacent_labels``), h starts
  at the kept (detached) container row and takes one GRU step per sample; the new rows are
  L2-normalised and returned in a new container, differentiable in u and the GRU weights, while the
  kept container is untouched. ``commit(new)`` stores ``new.detach()`` (the official code's in-place
  write followed by ``detach``, made explicit).
- ``mix_proxies(bias, container, beta)``: P_c = beta b_c + (1 - beta) container_c (``proxy_bias_ratio``).
- ``VPTSPG``: ``PromptedViT`` + ``SemanticProxyNet`` + ``ProxyMemory`` sharing one backbone;
  ``SemanticProxyAnchorLoss`` owns the proxy bias b and trains it all through ``batch_loss`` with the
  official loss (Proxy-Anchor, alpha 32, delta 0.1, positive term divided by all C classes:
  ``mlcompanion.losses.proxy_anchor.proxy_anchor_from_proxies(pos_divisor="all")``).
- ``dml_glyphs`` / ``dml_glyph_setup``: the ci data, glyph classes disjoint from the backbone's
  pre-training classes (``mlcompanion.models.tiny_vit_pretrain``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .losses.proxy_anchor import proxy_anchor_from_proxies
from .models.prompted_vit import PromptedViT, metric_head, run_prompted_blocks
from .validation import check_embeddings, check_int, check_labels, check_number, check_probability

__all__ = [
    "check_adjacent_labels",
    "GRUReLUCell",
    "ProxyMemory",
    "mix_proxies",
    "SemanticProxyNet",
    "VPTSPG",
    "SemanticProxyAnchorLoss",
    "dml_glyphs",
    "dml_glyph_setup",
    "DML_TRAIN_CLASSES",
    "DML_TEST_CLASSES",
]

DML_TRAIN_CLASSES = 48
DML_TEST_CLASSES = 40


def check_adjacent_labels(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Check that a batch holds each class in one run of adjacent samples (the official sampler's
    "2 samples per class, adjacent"; the code's ``unique_consecutive``).

    Returns ``(classes in batch order, samples per class)``; raises ``ValueError`` for an empty batch or
    a class split over several runs (re-order the batch by class, e.g. with
    ``mlcompanion.data.samplers.ClassBalancedBatchSampler``). The official code also needs the same
    number k of samples for every class (``view(B // k, k, -1)``); ``ProxyMemory.update`` accepts
    unequal runs (each class takes one GRU step per sample it has)."""
    labels = check_labels(labels)
    if labels.numel() == 0:
        raise ValueError("labels must be non-empty (a batch with at least one class)")
    runs, counts = torch.unique_consecutive(labels, return_counts=True)
    if runs.numel() != torch.unique(labels).numel():
        raise ValueError("VPTSP-G needs the samples of each class adjacent in the batch (one run per class), got "
                         f"labels {labels.tolist()[:16]}{'...' if labels.numel() > 16 else ''}: sort the batch by "
                         "class or draw it with ClassBalancedBatchSampler")
    return runs, counts


class GRUReLUCell(nn.Module):
    """The official ``Simple_GRUCell`` (Ren et al. 2024, Sec. 4.3, "GRU" memory; type ``gru_relu``).

    z = sigma(x W_iz + h W_hz + b_iz), r = sigma(x W_ir + h W_hr + b_ir),
    n = act(x W_in + r * (h W_hn) + b_in), h' = (1 - z) * n + z * h,
    with act = ReLU (default) or tanh (``activation="tanh"``, the official type ``gru``). Weights are
    (in, out) matrices used as ``x @ W`` (xavier-uniform), biases zero; there is no hidden-side bias, so
    with tanh it equals ``torch.nn.GRUCell`` whose ``bias_hh`` is 0 (gate order r, z, n there).
    """

    def __init__(self, dim: int, activation: str = "relu"):
        super().__init__()
        self.dim = check_int(dim, "dim", 1)
        if activation not in ("relu", "tanh"):
            raise ValueError(f"activation must be 'relu' or 'tanh', got {activation!r}")
        self.activation = activation
        for g in ("r", "z", "n"):
            setattr(self, f"W_i{g}", nn.Parameter(nn.init.xavier_uniform_(torch.empty(dim, dim))))
            setattr(self, f"W_h{g}", nn.Parameter(nn.init.xavier_uniform_(torch.empty(dim, dim))))
            setattr(self, f"b_i{g}", nn.Parameter(torch.zeros(dim)))

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        check_embeddings(x, "x")
        check_embeddings(h, "h")
        if x.shape != h.shape or x.shape[1] != self.dim:
            raise ValueError(f"x and h must both have shape (n, {self.dim}), got {tuple(x.shape)} and {tuple(h.shape)}")
        if x.dtype != self.W_iz.dtype or h.dtype != self.W_iz.dtype:
            raise TypeError(f"x and h must have the cell's dtype {self.W_iz.dtype} (convert the cell with .to(dtype)), "
                            f"got {x.dtype} and {h.dtype}")
        z = torch.sigmoid(x @ self.W_iz + h @ self.W_hz + self.b_iz)
        r = torch.sigmoid(x @ self.W_ir + h @ self.W_hr + self.b_ir)
        pre = x @ self.W_in + r * (h @ self.W_hn) + self.b_in
        n = F.relu(pre) if self.activation == "relu" else torch.tanh(pre)
        return (1 - z) * n + z * h


class ProxyMemory(nn.Module):
    """The semantic-proxy container and its GRU-ReLU update (Ren et al. 2024, Sec. 4.3).

    ``container``: buffer (num_classes, dim) of unit rows, initialised xavier-uniform then
    row-normalised (the official "/ 8" precedes the in-place init and has no effect).
    ``update(u, labels) -> new_container`` (pure; see the module docstring); ``commit(new)`` keeps
    ``new.detach()``.
    """

    def __init__(self, num_classes: int, dim: int, activation: str = "relu"):
        super().__init__()
        self.num_classes = check_int(num_classes, "num_classes", 1)
        self.dim = check_int(dim, "dim", 1)
        self.cell = GRUReLUCell(dim, activation)
        self.register_buffer("container", F.normalize(nn.init.xavier_uniform_(torch.empty(num_classes, dim)), dim=1))

    def update(self, u: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """New container after one GRU step per sample of each class of the batch, in batch order.

        ``u`` (B, dim) semantic proxies, ``labels`` (B,) with each class's samples adjacent. Rows of
        classes absent from the batch are the kept rows (the same tensors' values, bit for bit); the
        others are ``normalize(h)``. The kept container is read detached: no gradient reaches it.
        """
        check_embeddings(u, "u")
        if u.shape[1] != self.dim:
            raise ValueError(f"u must have {self.dim} columns, got shape {tuple(u.shape)}")
        labels = check_labels(labels, u.shape[0])
        classes, counts = check_adjacent_labels(labels)
        if int(labels.min()) < 0 or int(labels.max()) >= self.num_classes:
            raise ValueError(f"labels must lie in 0..{self.num_classes - 1}, got "
                             f"{int(labels.min())}..{int(labels.max())}")
        if u.dtype != self.cell.W_iz.dtype:
            raise TypeError(f"u must have the memory's dtype {self.cell.W_iz.dtype} (convert it with .to(dtype)), got "
                            f"{u.dtype}")
        kept = self.container.detach()
        h = kept[classes].to(u.dtype)
        k = int(counts[0])
        if bool((counts == k).all()):  # the official layout: k samples per class
            grouped = u.view(classes.numel(), k, self.dim)
            for i in range(k):
                h = self.cell(grouped[:, i], h)
        else:  # unequal runs: step i updates the classes that have an i-th sample
            starts = torch.cumsum(counts, 0) - counts
            for i in range(int(counts.max())):
                active = (counts > i).nonzero().squeeze(1)
                h = h.index_put((active,), self.cell(u[starts[active] + i], h[active]))
        new_rows = F.normalize(h, dim=-1)
        return kept.to(u.dtype).index_put((classes,), new_rows)

    @torch.no_grad()
    def commit(self, new_container: torch.Tensor) -> None:
        """Keep ``new_container.detach()`` as the container (after the loss has used it)."""
        if not isinstance(new_container, torch.Tensor) or new_container.shape != self.container.shape:
            raise ValueError(f"new_container must have shape {tuple(self.container.shape)}")
        self.container = new_container.detach().to(self.container.dtype).clone()


def mix_proxies(bias: torch.Tensor, container: torch.Tensor, beta: float = 0.5) -> torch.Tensor:
    """P = beta * bias + (1 - beta) * container (the official ``p_all``; ``proxy_bias_ratio`` beta,
    0.5 for ViT-S, 0.4 for ViT-B). Both (C, E)."""
    check_embeddings(bias, "bias")
    check_embeddings(container, "container")
    if bias.shape != container.shape:
        raise ValueError(f"bias and container must have the same shape, got {tuple(bias.shape)} and "
                         f"{tuple(container.shape)}")
    beta = check_probability(beta, "beta")
    return beta * bias + (1 - beta) * container


class SemanticProxyNet(nn.Module):
    """Class-prompted second pass of the shared ViT (official ``forward_proxy_mix_bias``).

    Args:
        vit: the backbone shared with the ``PromptedViT`` (not re-frozen here).
        num_classes: training classes C (one prompt set per class).
        n_q: prompts per class (``num_p_prompt``: 3 small, 5 base).
        depth: blocks with class prompts (``p_prompt_depth``: 12 small, 4 base).
        step: block l gets max(n_q - l * step, 0) prompts (``prompt_p_block_step``: 0 small, 5 base).
        embed_dim: output dimension E.

    ``forward(x, labels)`` -> u (B, E), L2-normalised.
    """

    def __init__(self, vit: nn.Module, num_classes: int, n_q: int = 3, depth: int = 12, step: int = 0,
                 embed_dim: int = 384):
        super().__init__()
        self.num_classes = check_int(num_classes, "num_classes", 1)
        self.n_q = check_int(n_q, "n_q", 1)
        self.depth = min(check_int(depth, "depth", 0), len(vit.blocks))
        self.step = check_int(step, "step", 0)
        self.vit = vit
        dim = vit.embed_dim
        self.class_prompts = nn.ParameterList(
            [nn.Parameter(nn.init.xavier_normal_(torch.zeros(num_classes, self.n_q, dim))) for _ in range(self.depth)])
        self.head = metric_head(dim, check_int(embed_dim, "embed_dim", 1))

    def prompts_in_block(self, idx: int) -> int:
        return max(self.n_q - idx * self.step, 0) if idx < self.depth else 0

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        labels = check_labels(labels, x.shape[0])
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= self.num_classes):
            raise ValueError(f"labels must lie in 0..{self.num_classes - 1}")
        prompts = [q[labels][:, : self.prompts_in_block(i)] for i, q in enumerate(self.class_prompts)]
        return F.normalize(self.head(run_prompted_blocks(self.vit, x, prompts)), dim=-1)


class VPTSPG(nn.Module):
    """VPTSP-G (Ren et al. 2024): a ``PromptedViT`` encoder, a ``SemanticProxyNet`` and a
    ``ProxyMemory`` on one shared backbone. ``forward(x)`` = the encoder's embeddings (test time);
    training goes through ``SemanticProxyAnchorLoss.batch_loss``. ``trainable_parameter_count()``
    counts the encoder and the semantic branch (prompts, head, GRU) once each."""

    def __init__(self, vit: nn.Module, num_classes: int, num_prompts: int = 10, depth: int | None = None,
                 bitfit: bool = True, embed_dim: int = 384, n_q: int = 3, proxy_depth: int = 12, step: int = 0):
        super().__init__()
        self.encoder = PromptedViT(vit, num_prompts=num_prompts, depth=depth, bitfit=bitfit, embed_dim=embed_dim)
        self.proxy_net = SemanticProxyNet(vit, num_classes, n_q=n_q, depth=proxy_depth, step=step,
                                          embed_dim=embed_dim)
        self.memory = ProxyMemory(num_classes, embed_dim)
        self.feature_dim = embed_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def trainable_parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


class SemanticProxyAnchorLoss(nn.Module):
    """The VPTSP-G training loss (Ren et al. 2024, eq. 6-8; official ``dml_proxy_peft.py``, ``both_all``).

    Owns the proxy bias b (C, E), xavier-uniform / 8 (official ``proxies_bias``; give it its own learning
    rate with ``TrainConfig.loss_lr_multiplier``, the paper's ``lr_proxy``). ``batch_loss(model, x, y)``
    (called by ``mlcompanion.train``): embeddings e = model(x), semantic proxies
    u = model.proxy_net(x, y), new container = model.memory.update(u, y), proxies
    P = mix_proxies(b, new container, beta), loss = Proxy-Anchor(e, y, P; alpha, delta, divisor), then
    ``model.memory.commit`` (the kept container carries no graph). ``forward(embeddings, labels)`` is
    the loss against the eval-mode proxies, the bias b alone (as the official ``Network.forward``).

    Args: num_classes C, embedding_dim E, beta (``proxy_bias_ratio``, 0.5 small / 0.4 base),
    margin delta 0.1, alpha 32, pos_divisor ``"all"`` (the official code; ``"present"`` = Proxy-Anchor).
    """

    def __init__(self, num_classes: int, embedding_dim: int, beta: float = 0.5, margin: float = 0.1,
                 alpha: float = 32.0, pos_divisor: str = "all"):
        super().__init__()
        self.num_classes = check_int(num_classes, "num_classes", 1)
        self.embedding_dim = check_int(embedding_dim, "embedding_dim", 1)
        self.beta = check_probability(beta, "beta")
        self.margin = check_number(margin, "margin")
        self.alpha = alpha
        self.pos_divisor = pos_divisor
        proxy_anchor_from_proxies(torch.zeros(1, 1), torch.zeros(1, dtype=torch.long), torch.ones(1, 1),
                                  self.margin, alpha, pos_divisor)  # validates alpha and pos_divisor
        self.bias = nn.Parameter(nn.init.xavier_uniform_(torch.empty(num_classes, embedding_dim)) / 8.0)

    def _loss(self, embeddings, labels, container):
        proxies = mix_proxies(self.bias, container.to(self.bias.dtype), self.beta)
        return proxy_anchor_from_proxies(embeddings, labels, proxies, self.margin, self.alpha, self.pos_divisor)

    def batch_loss(self, model: VPTSPG, x: torch.Tensor, labels: torch.Tensor):
        if not all(hasattr(model, a) for a in ("proxy_net", "memory")):
            raise TypeError(f"model must be a VPTSPG (proxy_net, memory), got {type(model).__name__}")
        emb = model(x)
        new = model.memory.update(model.proxy_net(x, labels), labels)
        loss = self._loss(emb, labels, new)
        model.memory.commit(new)
        return loss, emb

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        check_embeddings(embeddings, allow_empty=True)
        if embeddings.shape[1] != self.embedding_dim:
            raise ValueError(f"embeddings must have {self.embedding_dim} columns, got {tuple(embeddings.shape)}")
        return proxy_anchor_from_proxies(embeddings, labels, self.bias, self.margin, self.alpha, self.pos_divisor)


def dml_glyphs(image_size: int = 16, n_augments: int = 2, seed: int = 0):
    """The ci metric-learning glyphs: the 88 classes *not* used to pre-train the tiny ViT
    (``tiny_vit_pretrain.pretraining_glyphs``), split by a fixed permutation into
    ``DML_TRAIN_CLASSES`` = 48 DML-train and ``DML_TEST_CLASSES`` = 40 unseen DML-test classes.
    Returns ``(train, test)`` as ``(images, labels)`` pairs, labels 0..C-1 in each."""
    from .data.glyphs import load_glyphs
    from .models.tiny_vit_pretrain import GLYPH_SPLIT_SEED, PRETRAIN_CLASSES

    data = load_glyphs(n_train_classes=PRETRAIN_CLASSES, n_test_classes=128 - PRETRAIN_CLASSES, n_augments=n_augments,
                       image_size=image_size, seed=seed, split_seed=GLYPH_SPLIT_SEED)
    pool = data.test
    n_classes = 128 - PRETRAIN_CLASSES
    perm = torch.randperm(n_classes, generator=torch.Generator().manual_seed(12345))
    out = []
    for chosen in (perm[:DML_TRAIN_CLASSES].sort().values, perm[DML_TRAIN_CLASSES:].sort().values):
        mask = torch.isin(pool.labels, chosen)
        relabel = torch.full((n_classes,), -1, dtype=torch.long)
        relabel[chosen] = torch.arange(len(chosen))
        out.append((pool.images[mask], relabel[pool.labels[mask]]))
    return tuple(out)


def dml_glyph_setup(seed: int = 0, image_size: int = 16, n_val_classes: int = 12):
    """``mlcompanion.setups.RetrievalSetup`` of the ci data: DML-train minus ``n_val_classes`` held-out
    training classes (validation, ``holdout_classes``), and the 40 unseen DML-test classes;
    ``make_model`` loads the shipped pre-trained tiny ViT (SHA-256 checked)."""
    from torch.utils.data import TensorDataset

    from .data.splits import holdout_classes
    from .models.tiny_vit import load_pretrained_tiny_vit
    from .setups import RetrievalSetup

    (xtr, ytr), (xte, yte) = dml_glyphs(image_size=image_size, seed=seed)
    split = holdout_classes(TensorDataset(xtr, ytr), n_val_classes, seed=seed)
    test_set = TensorDataset(xte, yte)
    n_train = DML_TRAIN_CLASSES - n_val_classes
    description = (f"glyphs ({image_size}x{image_size}): {len(split.train)} training images of {n_train} classes, "
                   f"{len(split.val)} validation images of {n_val_classes} held-out training classes, "
                   f"{len(test_set)} test images of {DML_TEST_CLASSES} unseen classes; the backbone was pre-trained "
                   f"on 40 further glyph classes")
    return RetrievalSetup(split.train, split.train_labels, split.val, test_set, split.train, load_pretrained_tiny_vit,
                          description)
