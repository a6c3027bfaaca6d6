"""A plain ViT (Dosovitskiy et al., ICLR 2021) with timm's parameter names, small enough for one CPU thread.

Used by semantic_proxies (Ren, Chen, Wang & Hua, "Learning Semantic Proxies from Visual Prompts for
Parameter-Efficient Fine-Tuning in Deep Metric Learning", ICLR 2024, arXiv 2402.02340), whose frozen
backbone is timm's ``vit_small_patch16_224_in21k`` / ``vit_base_patch16_224_in21k``.

- ``TinyViT``: patch embedding (a strided conv), a CLS token, learnt position embeddings, ``depth``
  pre-norm blocks (LayerNorm eps 1e-6, multi-head self-attention through
  ``F.scaled_dot_product_attention``, a GELU MLP), a final LayerNorm and an optional linear head.
  Its ``state_dict`` keys are timm's (``patch_embed.proj``, ``cls_token``, ``pos_embed``,
  ``blocks.i.norm1``, ``blocks.i.attn.qkv``, ``blocks.i.attn.proj``, ``blocks.i.norm2``,
  ``blocks.i.mlp.fc1``/``fc2``, ``norm``, ``head``), so a timm checkpoint loads without timm:
  ``load_timm_vit(path, "vit_small_patch16_224_in21k")`` (the paper profile).
- The ci backbone (d = 64, depth 4, 4 heads, patch 4, 16 x 16 grey glyphs) is pre-trained with
  cross-entropy on glyph classes disjoint from the metric-learning classes by
  ``python -m mlcompanion.models.tiny_vit_pretrain`` and shipped as
  ``mlcompanion/models/weights/tiny_vit_glyphs.pt``; ``load_pretrained_tiny_vit()`` checks its
  SHA-256 before loading it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "TinyViT",
    "TINY_VIT_GLYPHS_CONFIG",
    "TINY_VIT_GLYPHS_PATH",
    "TINY_VIT_GLYPHS_SHA256",
    "TIMM_VIT_CONFIGS",
    "file_sha256",
    "load_pretrained_tiny_vit",
    "load_timm_vit",
]

#: Architecture of the shipped glyph backbone (the semantic_proxies brief's ci ViT).
TINY_VIT_GLYPHS_CONFIG = dict(image_size=16, patch_size=4, in_channels=1, dim=64, depth=4, heads=4, mlp_ratio=4.0)
#: The shipped checkpoint (package data) and its SHA-256, written by ``tiny_vit_pretrain``.
TINY_VIT_GLYPHS_PATH = Path(__file__).resolve().parent / "weights" / "tiny_vit_glyphs.pt"
TINY_VIT_GLYPHS_SHA256 = "b9ec0673ed2cef570da8d96749a68a3a142def126c5fcaa7c5eb2c888cbcb1cf"

#: timm in21k ViTs of the paper (ViT-S/16 and ViT-B/16 at 224 px, RGB).
TIMM_VIT_CONFIGS = {
    "vit_small_patch16_224_in21k": dict(image_size=224, patch_size=16, in_channels=3, dim=384, depth=12, heads=6,
                                        mlp_ratio=4.0),
    "vit_base_patch16_224_in21k": dict(image_size=224, patch_size=16, in_channels=3, dim=768, depth=12, heads=12,
                                       mlp_ratio=4.0),
}


def _int_at_least(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


class Attention(nn.Module):
    """Multi-head self-attention (timm's ``Attention``: one ``qkv`` linear, one ``proj``)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])  # (b, heads, n, d/heads)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm1(x)), then x + mlp(norm2(x)) (timm ``Block``)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, patch_size: int, in_channels: int, dim: int):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)  # (B, N, dim)


class TinyViT(nn.Module):
    """ViT (Dosovitskiy et al. 2021, eq. 1-4) with timm's layout; defaults = the ci glyph backbone.

    Args:
        image_size, patch_size: square images, ``image_size`` divisible by ``patch_size``.
        in_channels: 1 (glyphs) or 3 (RGB).
        dim, depth, heads, mlp_ratio: width, number of blocks, attention heads (``dim % heads == 0``),
            MLP hidden size ``dim * mlp_ratio``.
        num_classes: size of the linear ``head`` on the CLS token (pre-training); 0 = no head.

    ``tokens(x)`` gives the block input (CLS + patches + position embeddings, shape (B, 1 + N, dim));
    ``forward_features(x)`` the normalised CLS feature (B, dim); ``forward(x)`` the head's logits (or
    the CLS feature without a head). Initialisation as timm: truncated normal (std 0.02) for
    linear weights, position embeddings and the CLS token (std 1e-6), zero biases.
    """

    def __init__(self, image_size: int = 16, patch_size: int = 4, in_channels: int = 1, dim: int = 64,
                 depth: int = 4, heads: int = 4, mlp_ratio: float = 4.0, num_classes: int = 0):
        super().__init__()
        image_size = _int_at_least(image_size, "image_size", 1)
        patch_size = _int_at_least(patch_size, "patch_size", 1)
        if image_size % patch_size:
            raise ValueError(f"image_size ({image_size}) must be divisible by patch_size ({patch_size})")
        dim = _int_at_least(dim, "dim", 1)
        heads = _int_at_least(heads, "heads", 1)
        if dim % heads:
            raise ValueError(f"dim ({dim}) must be divisible by heads ({heads})")
        _int_at_least(depth, "depth", 1)
        _int_at_least(num_classes, "num_classes", 0)
        _int_at_least(in_channels, "in_channels", 1)
        if not isinstance(mlp_ratio, (int, float)) or not mlp_ratio > 0:
            raise ValueError(f"mlp_ratio must be a positive number, got {mlp_ratio!r}")
        self.image_size, self.patch_size, self.in_channels = image_size, patch_size, in_channels
        self.embed_dim = self.feature_dim = dim
        n_patches = (image_size // patch_size) ** 2
        self.patch_embed = PatchEmbed(patch_size, in_channels, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + n_patches, dim))
        self.blocks = nn.ModuleList(Block(dim, heads, float(mlp_ratio)) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, num_classes) if num_classes else None
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def config(self) -> dict:
        return dict(image_size=self.image_size, patch_size=self.patch_size, in_channels=self.in_channels,
                    dim=self.embed_dim, depth=len(self.blocks), heads=self.blocks[0].attn.heads,
                    mlp_ratio=self.blocks[0].mlp.fc1.out_features / self.embed_dim)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Patch tokens with the CLS token prepended and position embeddings added: (B, 1 + N, dim)."""
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or not x.is_floating_point():
            raise ValueError(f"x must be a float image batch (B, C, H, W), got "
                             f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
        if tuple(x.shape[1:]) != (self.in_channels, self.image_size, self.image_size):
            raise ValueError(f"x must have shape (B, {self.in_channels}, {self.image_size}, {self.image_size}), "
                             f"got {tuple(x.shape)}")
        t = self.patch_embed(x)
        t = torch.cat([self.cls_token.expand(t.shape[0], -1, -1), t], dim=1)
        return t + self.pos_embed

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        t = self.tokens(x)
        for blk in self.blocks:
            t = blk(t)
        return self.norm(t)[:, 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.forward_features(x)
        return f if self.head is None else self.head(f)


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_pretrained_tiny_vit(path=None, sha256: str | None = None) -> TinyViT:
    """The glyph-pretrained ci backbone (no head), after checking the file's SHA-256.

    ``path`` defaults to the shipped ``TINY_VIT_GLYPHS_PATH`` and ``sha256`` to
    ``TINY_VIT_GLYPHS_SHA256``; a mismatch raises ``ValueError`` naming both digests and the script
    that rebuilds the file (``python -m mlcompanion.models.tiny_vit_pretrain``).
    """
    path = Path(TINY_VIT_GLYPHS_PATH if path is None else path)
    expected = TINY_VIT_GLYPHS_SHA256 if sha256 is None else sha256
    if not path.is_file():
        raise FileNotFoundError(f"tiny ViT checkpoint not found at {path}; rebuild it with "
                                "`python -m mlcompanion.models.tiny_vit_pretrain`")
    got = file_sha256(path)
    if got != expected:
        raise ValueError(f"tiny ViT checkpoint {path} has SHA-256 {got}, expected {expected}: the file is not the "
                         "committed one (rebuild with `python -m mlcompanion.models.tiny_vit_pretrain`)")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    vit = TinyViT(**blob["config"])
    state = {k: v for k, v in blob["state_dict"].items() if not k.startswith("head.")}
    vit.load_state_dict(state)
    return vit


def load_timm_vit(path, variant: str = "vit_small_patch16_224_in21k") -> TinyViT:
    """A timm in21k ViT (the paper's backbone) from a local state-dict file, without timm.

    Reads ``.pth``/``.bin`` (``torch.load``) or ``.safetensors`` (needs the ``safetensors`` package);
    a dict holding ``"state_dict"`` or ``"model"`` is unwrapped. Our parameter names are timm's, so the
    keys map one to one; timm's ``head.*``, ``pre_logits.*`` and ``fc_norm`` (identity in these
    models) are dropped. Missing or unexpected keys, or a shape mismatch, raise ``ValueError``.
    """
    if variant not in TIMM_VIT_CONFIGS:
        raise ValueError(f"variant must be one of {sorted(TIMM_VIT_CONFIGS)}, got {variant!r}")
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"timm ViT weights not found at {path}: save "
                                f"timm.create_model('{variant}', pretrained=True).state_dict() there "
                                "(torch.save) or give its model.safetensors file")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    state = {k: v for k, v in state.items() if not k.startswith(("head.", "pre_logits.", "fc_norm."))}
    vit = TinyViT(**TIMM_VIT_CONFIGS[variant])
    own = vit.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing or unexpected:
        raise ValueError(f"{path} is not a timm {variant} state dict: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}")
    bad = [k for k in own if own[k].shape != state[k].shape]
    if bad:
        raise ValueError(f"{path}: shape mismatch for {bad[:5]} (is it {variant}?)")
    vit.load_state_dict(state)
    return vit
