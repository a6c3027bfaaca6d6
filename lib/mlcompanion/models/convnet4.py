"""ConvNet-4, the few-shot backbone of ProtoNet (Snell et al. 2017) as used by susana_distancia
(official ``maumruiz/FSL-Loss``, ``models/protonet.py``): four blocks of conv3x3 (64 channels) -
BatchNorm - ReLU - maxpool 2x2, then global average pooling to a 64-d embedding (no linear layer,
no L2 normalisation).

Import by full module path: ``from mlcompanion.models.convnet4 import ConvNet4``.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ConvNet4"]


class ConvNet4(nn.Module):
    """Four conv blocks (``width`` channels each), average-pooled: ``forward(x) -> (n, width)``.

    Args:
        in_channels: input channels (3 for miniImageNet, 1 for glyphs).
        width: channels of every block (64 in ProtoNet); also ``feature_dim`` and ``embedding_dim``.

    Inputs must be at least 16 pixels on each side (four 2x2 poolings leave >= 1 pixel).
    """

    def __init__(self, in_channels: int = 3, width: int = 64):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("width", width)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        blocks, cin = [], in_channels
        for _ in range(4):
            blocks += [nn.Conv2d(cin, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2)]
            cin = width
        self.encoder = nn.Sequential(*blocks)
        self.in_channels = in_channels
        self.feature_dim = self.embedding_dim = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != self.in_channels:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x must have shape (n, {self.in_channels}, H, W), got {got}")
        if min(x.shape[2], x.shape[3]) < 16:
            raise ValueError(f"x must be at least 16x16 (four 2x2 poolings), got {tuple(x.shape[2:])}")
        return self.encoder(x).mean(dim=(2, 3))
