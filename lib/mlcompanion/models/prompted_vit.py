"""VPT-deep prompted ViT with BitFit and a metric-learning head (semantic_proxies' parameter-efficient encoder).

Ren, Chen, Wang & Hua, "Learning Semantic Proxies from Visual Prompts for Parameter-Efficient
Fine-Tuning in Deep Metric Learning" (ICLR 2024, arXiv 2402.02340), Sec. 4.1 and the official
``architectures/peft_vit.py`` (``forward_feature``, ``_forward_vpt_block``, ``forward_head``): the
backbone is frozen; before block l < depth, ``num_prompts`` learnt prompt tokens P^l are prepended
to the tokens and dropped again after the block (VPT-deep, Jia et al. 2022, with per-layer
replacement); with BitFit (Ben Zaken et al. 2022) every bias of the ViT trains too; the CLS token
after the final LayerNorm goes through LayerNorm(D) -> Linear(D -> E) -> L2 normalisation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from ..validation import check_int

__all__ = ["PromptedViT", "run_prompted_blocks", "metric_head"]


def metric_head(dim: int, embed_dim: int) -> nn.Sequential:
    """LayerNorm(dim) -> Linear(dim -> embed_dim), initialised as the official ``_setup_head``
    (xavier-uniform weight, zero bias; LayerNorm weight 1, bias 0)."""
    head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, embed_dim))
    nn.init.xavier_uniform_(head[1].weight)
    nn.init.zeros_(head[1].bias)
    return head


def run_prompted_blocks(vit: nn.Module, x: torch.Tensor, prompts_per_block) -> torch.Tensor:
    """Normalised CLS feature of ``vit`` (a ``TinyViT``-like module: ``tokens``, ``blocks``, ``norm``)
    with ``prompts_per_block[l]`` ((B, n_l, D) or None) prepended before block l and removed after it
    (the official ``_forward_vpt_block``); blocks beyond the list run without prompts."""
    t = vit.tokens(x)
    for idx, blk in enumerate(vit.blocks):
        p = prompts_per_block[idx] if idx < len(prompts_per_block) else None
        if p is None or p.shape[1] == 0:
            t = blk(t)
        else:
            n = p.shape[1]
            t = blk(torch.cat([p, t], dim=1))[:, n:]
    return vit.norm(t)[:, 0]


class PromptedViT(nn.Module):
    """VPT-deep + BitFit + head on a frozen ViT (Ren et al. 2024, Sec. 4.1; official ``Network.forward``).

    Args:
        vit: the backbone (``mlcompanion.models.tiny_vit.TinyViT`` or ``load_timm_vit(...)``); owned
            by the wrapper, which sets its ``requires_grad`` flags.
        num_prompts: prompt tokens per block (the paper's ``num_prompt``: 10 for ViT-S, 20 for
            ViT-B); 0 = no prompts (a linear probe with ``bitfit=False``).
        depth: blocks that get prompts, counted from the first (default: all, the paper's 12).
        bitfit: unfreeze every bias of the ViT (the paper's ``vit_bitfit: true``).
        embed_dim: output dimension E (paper: 384 small / 512 base).
        train_backbone: full fine-tuning (every ViT parameter trains); the reference arm.

    Prompts are stored as ``prompts[l]`` of shape (1, num_prompts, D), initialised xavier-normal as
    the official ``_setup_prompt``. ``forward(x)`` returns L2-normalised embeddings (B, E).
    ``trainable_parameter_count()`` counts the parameters the optimiser updates.
    """

    def __init__(self, vit: nn.Module, num_prompts: int = 10, depth: int | None = None, bitfit: bool = True,
                 embed_dim: int = 384, train_backbone: bool = False):
        super().__init__()
        if not all(hasattr(vit, a) for a in ("tokens", "blocks", "norm", "embed_dim")):
            raise TypeError(f"vit must be a TinyViT-like module (tokens, blocks, norm, embed_dim), got "
                            f"{type(vit).__name__}")
        self.num_prompts = check_int(num_prompts, "num_prompts", 0)
        n_blocks = len(vit.blocks)
        self.depth = n_blocks if depth is None else check_int(depth, "depth", 0)
        if self.depth > n_blocks:
            raise ValueError(f"depth must be <= the number of blocks ({n_blocks}), got {depth}")
        self.embed_dim = check_int(embed_dim, "embed_dim", 1)
        self.bitfit, self.train_backbone = bool(bitfit), bool(train_backbone)
        self.vit = vit
        for name, p in vit.named_parameters():
            p.requires_grad_(self.train_backbone or (self.bitfit and name.endswith("bias")))
        dim = vit.embed_dim
        self.prompts = nn.ParameterList(
            [nn.Parameter(nn.init.xavier_normal_(torch.zeros(1, self.num_prompts, dim))) for _ in range(self.depth)]
            if self.num_prompts else [])
        self.head = metric_head(dim, self.embed_dim)
        self.feature_dim = self.embed_dim

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The normalised CLS token of the prompted ViT, (B, D)."""
        b = x.shape[0]
        return run_prompted_blocks(self.vit, x, [p.expand(b, -1, -1) for p in self.prompts])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.head(self.features(x)), dim=-1)

    def trainable_parameter_count(self) -> int:
        """Number of parameters with ``requires_grad`` (each shared tensor counted once)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def extra_repr(self) -> str:
        return (f"num_prompts={self.num_prompts}, depth={self.depth}, bitfit={self.bitfit}, "
                f"embed_dim={self.embed_dim}, train_backbone={self.train_backbone}")
