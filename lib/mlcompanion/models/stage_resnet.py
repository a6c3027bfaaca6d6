"""A small 4-stage residual CNN whose stage layout mirrors torchvision's ResNet-18 (CPU stand-in).

Paper: multiscale_fewshot -- MSENet (Askari, Fateh & Mohammadi, arXiv 2409.07989). The paper taps a
ResNet-18 at ``maxpool``, ``layer2.0.conv1``, ``layer3.0.conv1``, ``layer4.0.conv1`` and ``avgpool``.
:class:`SmallStageResNet` has the same module names (``stem`` in place of conv1/bn1/relu/maxpool,
``layer1``-``layer4`` of one ``BasicBlock`` each, ``avgpool``, ``fc = Flatten``), widths 16/32/64/64
by default, so the taps :data:`STAGE_TAPS` sit at the official positions: the stem output, the
first (pre-BN) conv of stages 2-4, and the global average pool. The stem ends with a 2x2 max-pool
(``stem_pool``, as ResNet-18's stem downsamples before ``layer1``): a 24x24 input gives tapped maps
of 12/6/3/2/1 pixels (24/12/6/3/1 without the pool; the stem's self-attention then costs 16x more).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..validation import check_int
from .backbones import BasicBlock, _check_images, _conv1x1

__all__ = ["SmallStageResNet", "STAGE_TAPS", "RESNET18_STAGE_TAPS"]

#: Tap positions of :class:`SmallStageResNet` (the official positions, ``stem`` for ``maxpool``).
STAGE_TAPS = ("stem", "layer2.0.conv1", "layer3.0.conv1", "layer4.0.conv1", "avgpool")
#: The official taps of torchvision's ResNet-18 (``get_graph_node_names`` indices 4, 19, 35, 51, 67).
RESNET18_STAGE_TAPS = ("maxpool", "layer2.0.conv1", "layer3.0.conv1", "layer4.0.conv1", "avgpool")


class SmallStageResNet(nn.Module):
    """stem (3x3 conv, BN, ReLU, 2x2 max-pool) -> 4 residual stages (one BasicBlock each, stride 1/2/2/2) -> GAP.

    ``forward(x)`` returns the (B, widths[-1]) pooled features; ``feature_dim`` is widths[-1].
    ``stage_channels`` lists the channels of :data:`STAGE_TAPS` (widths[0], widths[1..3], widths[3]).
    """

    def __init__(self, in_channels: int = 1, widths: Sequence[int] = (16, 32, 64, 64), stem_pool: bool = True):
        super().__init__()
        self.in_channels = check_int(in_channels, "in_channels")
        widths = tuple(widths)
        if len(widths) != 4:
            raise ValueError(f"widths must hold 4 channel counts, got {widths!r}")
        widths = tuple(check_int(w, "widths[i]") for w in widths)
        if not isinstance(stem_pool, bool):
            raise TypeError(f"stem_pool must be a bool, got {stem_pool!r}")
        stem = [nn.Conv2d(self.in_channels, widths[0], 3, padding=1, bias=False), nn.BatchNorm2d(widths[0]),
                nn.ReLU(inplace=True)]
        self.stem = nn.Sequential(*stem, *([nn.MaxPool2d(2)] if stem_pool else []))
        layers, cin = [], widths[0]
        for i, w in enumerate(widths):
            stride = 1 if i == 0 else 2
            down = None if (stride == 1 and cin == w) else nn.Sequential(_conv1x1(cin, w, stride), nn.BatchNorm2d(w))
            layers.append(nn.Sequential(BasicBlock(cin, w, stride, down)))
            cin = w
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Flatten()
        self.feature_dim = widths[-1]
        self.stage_channels = (widths[0], widths[1], widths[2], widths[3], widths[3])
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _check_images(x, self.in_channels)
        x = self.stem(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x))
