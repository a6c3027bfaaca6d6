"""Backbones and the embedding head used by the metric-learning experiments.

* :class:`SmallConvNet`: a 3-block CNN for 32x32 toy images, fast on one CPU thread.
* :class:`ResNet` with :func:`resnet18` / :func:`resnet50`: the torchvision architecture
  (v1.5: Bottleneck stride on the 3x3 conv) with *identical* ``state_dict`` keys and shapes, so
  torchvision ImageNet checkpoints load with ``strict=True`` via :func:`load_backbone_weights`.
* :class:`EmbeddingNet`: backbone features -> linear head -> (optionally) L2-normalised embedding.

Conventions: a backbone exposes ``forward_features(x) -> (n, feature_dim)`` and a
``feature_dim`` attribute. ``SmallConvNet.forward`` returns the raw output of its own final
linear layer (not normalised); normalisation is done by :class:`EmbeddingNet` or the trainer.
So a SmallConvNet can be used directly (``SmallConvNet(embedding_dim=64)``) or as a backbone of
an :class:`EmbeddingNet` (which then ignores its final linear layer).

Nothing is downloaded: pretrained weights are read from a local file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence, Type, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from ..validation import check_int

__all__ = [
    "SmallConvNet",
    "BasicBlock",
    "Bottleneck",
    "ResNet",
    "resnet18",
    "resnet50",
    "load_backbone_weights",
    "EmbeddingNet",
    "RESNET50_WEIGHTS_URL",
]

RESNET50_WEIGHTS_URL = "https://download.pytorch.org/models/resnet50-11ad3fa6.pth"


def _check_images(x, in_channels: int, name: str = "x") -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        got = f"shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a 4-D tensor (n, {in_channels}, H, W), got {got}")
    if x.shape[1] != in_channels:
        raise ValueError(
            f"{name} must have {in_channels} channel(s): expected shape (n, {in_channels}, H, W), "
            f"got {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    return x


# ---------------------------------------------------------------------------------------------
# Small CNN
# ---------------------------------------------------------------------------------------------


class SmallConvNet(nn.Module):
    """Three conv blocks (conv3x3 - BatchNorm - ReLU - maxpool 2x2), global average pooling, linear.

    Channel widths are ``width, 2*width, 2*width``; ``feature_dim = 2*width``. ``image_size`` is the
    nominal input side (>= 8 so that the three poolings leave at least one pixel); inputs of any
    size >= 8 work thanks to the global pooling.

    ``forward_features(x)`` -> (n, feature_dim) pooled features; ``forward(x)`` -> (n,
    embedding_dim) raw linear output (not normalised).
    """

    def __init__(self, in_channels: int = 1, embedding_dim: int = 64, width: int = 32, image_size: int = 32):
        super().__init__()
        self.in_channels = check_int(in_channels, "in_channels")
        self.embedding_dim = check_int(embedding_dim, "embedding_dim")
        width = check_int(width, "width")
        self.image_size = check_int(image_size, "image_size")
        if image_size < 8:
            raise ValueError(f"image_size must be >= 8 (three 2x2 poolings), got {image_size}")
        chans = [in_channels, width, 2 * width, 2 * width]
        blocks = []
        for cin, cout in zip(chans[:-1], chans[1:]):
            blocks += [
                nn.Conv2d(cin, cout, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
        self.features = nn.Sequential(*blocks)
        self.feature_dim = chans[-1]
        self.fc = nn.Linear(self.feature_dim, embedding_dim)
        # Speed (same function, same parameters and state_dict keys): the conv weights are stored
        # channels-last and the images are made channels-last, so every activation is NHWC. On a CPU
        # that takes oneDNN's direct NHWC kernels for conv, BatchNorm, ReLU and 2x2 max-pooling
        # instead of NCHW paths with layout reorders; max-pooling alone is >10x faster. The modules and
        # their order in ``features`` are as they always were; forward_features applies each block's
        # ReLU after its pooling (the same values and gradients, on a tensor 4x smaller).
        self.features.to(memory_format=torch.channels_last)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = _check_images(x, self.in_channels)
        if min(x.shape[-2:]) < 8:
            raise ValueError(f"x must be at least 8x8 pixels, got {tuple(x.shape)}")
        x = x.contiguous(memory_format=torch.channels_last)
        for i in range(0, len(self.features), 4):
            conv, bn, relu, pool = self.features[i:i + 4]
            # relu(maxpool(z)) == maxpool(relu(z)) exactly (both monotone, no arithmetic), and the
            # gradients route to the same entries; ReLU then runs on a tensor 4x smaller.
            x = relu(pool(bn(conv(x))))
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.forward_features(x))


# ---------------------------------------------------------------------------------------------
# ResNet (torchvision-compatible parameter names)
# ---------------------------------------------------------------------------------------------


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False)


def _conv1x1(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convs with a residual connection (ResNet-18/34)."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: Optional[nn.Module] = None):
        super().__init__()
        self.conv1 = _conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (carrying the stride, "ResNet v1.5"), 1x1 expand x4, residual."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: Optional[nn.Module] = None):
        super().__init__()
        self.conv1 = _conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = _conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """ResNet with torchvision's module names: conv1, bn1, layer1..layer4, fc.

    ``ResNet(block, layers, num_classes=1000)``; ``num_classes=None`` builds no ``fc`` (a pure
    feature extractor, ``forward`` then returns the pooled features). ``forward_features(x)``
    returns the globally average-pooled (n, feature_dim) features, ``feature_dim`` = 512 x
    ``block.expansion`` (512 for ResNet-18, 2048 for ResNet-50). Initialisation as torchvision
    (Kaiming-normal fan-out convs, BatchNorm weight 1 / bias 0).
    """

    def __init__(self, block: Type[Union[BasicBlock, Bottleneck]], layers: Sequence[int],
                 num_classes: Optional[int] = 1000):
        super().__init__()
        if block not in (BasicBlock, Bottleneck):
            raise ValueError(f"block must be BasicBlock or Bottleneck, got {block!r}")
        if len(layers) != 4 or not all(isinstance(n, int) and n >= 1 for n in layers):
            raise ValueError(f"layers must be 4 positive ints, got {layers!r}")
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.feature_dim = 512 * block.expansion
        if num_classes is None:
            self.fc = None
        else:
            self.fc = nn.Linear(self.feature_dim, check_int(num_classes, "num_classes"))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _make_layer(self, block, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                _conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = _check_images(x, 3)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = self.forward_features(x)
        return g if self.fc is None else self.fc(g)


def resnet18(num_classes: Optional[int] = 1000) -> ResNet:
    """ResNet-18 (11,689,512 parameters with the 1000-class fc), torchvision layout."""
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes=num_classes)


def resnet50(num_classes: Optional[int] = 1000) -> ResNet:
    """ResNet-50 v1.5 (25,557,032 parameters with the 1000-class fc), torchvision layout."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes=num_classes)


def _short_list(keys, k: int = 5) -> str:
    keys = sorted(keys)
    more = f" ... (+{len(keys) - k} more)" if len(keys) > k else ""
    return ", ".join(keys[:k]) + more


def load_backbone_weights(model: nn.Module, path) -> nn.Module:
    """Load a local ``.pth`` state dict (e.g. torchvision's ImageNet ResNet-50) into ``model``.

    The file is read with ``torch.load(path, map_location="cpu", weights_only=True)``; a dict
    wrapping the weights under ``"state_dict"`` or ``"model"`` and a ``"module."`` prefix (from
    DataParallel) are accepted. ``fc.*`` entries are dropped when ``model`` has no ``fc`` or its
    shapes differ (a classifier for another number of classes); every other key must match in
    name and shape (strict). Returns ``model``.

    Raises FileNotFoundError when ``path`` does not exist (nothing is downloaded at run time) and
    ValueError when keys are missing/unexpected or shapes differ.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    p = Path(os.fspath(path)).expanduser() if path is not None else None
    if p is None or not p.is_file():
        raise FileNotFoundError(
            f"backbone weights not found: {str(path)!r} is not a file. Nothing is downloaded at "
            f"run time: fetch torchvision's ImageNet ResNet-50 weights once from "
            f"{RESNET50_WEIGHTS_URL} (older: https://download.pytorch.org/models/resnet50-0676ba61.pth), "
            f"or reuse a copy from the torch hub cache ~/.cache/torch/hub/checkpoints/, and pass "
            f"that local path."
        )
    state = torch.load(str(p), map_location="cpu", weights_only=True)
    if isinstance(state, dict):
        for wrapper in ("state_dict", "model"):
            if wrapper in state and isinstance(state[wrapper], dict):
                state = state[wrapper]
                break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{p}: expected a state dict (name -> tensor), got {type(state).__name__}")
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}

    own = model.state_dict()
    fc_keys = {k for k in state if k.startswith("fc.")}
    model_fc = {k for k in own if k.startswith("fc.")}
    skip_fc = False
    if fc_keys or model_fc:
        fc_matches = fc_keys == model_fc and all(state[k].shape == own[k].shape for k in fc_keys)
        if not fc_matches:
            skip_fc = True
            state = {k: v for k, v in state.items() if k not in fc_keys}

    state = dict(state)
    for k in set(own) - set(state):
        # checkpoints older than torch 0.4.1 (e.g. resnet50-19c8e357.pth) lack BatchNorm counters
        if k.endswith(".num_batches_tracked"):
            state[k] = torch.zeros_like(own[k])
    missing = set(own) - set(state)
    if skip_fc:
        missing -= model_fc
    unexpected = set(state) - set(own)
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s): {_short_list(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s): {_short_list(unexpected)}")
        raise ValueError(
            f"{p}: the checkpoint does not match {type(model).__name__}: expected its "
            f"{len(own)} state_dict keys, got " + "; ".join(parts)
        )
    bad = [f"{k}: expected {tuple(own[k].shape)}, got {tuple(v.shape)}"
           for k, v in state.items() if v.shape != own[k].shape]
    if bad:
        raise ValueError(f"{p}: shape mismatch in {len(bad)} tensor(s): " + "; ".join(bad[:5]))
    model.load_state_dict(state, strict=not skip_fc)
    return model


# ---------------------------------------------------------------------------------------------
# Embedding head
# ---------------------------------------------------------------------------------------------


class EmbeddingNet(nn.Module):
    """``backbone`` features g -> ``fc`` (Linear(feature_dim, embedding_dim)) -> L2-normalise.

    ``backbone`` must have a ``feature_dim`` attribute and return (n, feature_dim) features from
    ``forward_features(x)`` (used when present) or from ``forward(x)``.

    * ``forward(x)``: the embedding, unit L2 norm per row (raw ``fc(g)`` if ``normalize=False``).
    * ``forward_features_and_embedding(x) -> (g, e)``: backbone features and the UN-normalised
      ``e = fc(g)``; ``self.fc`` can then also be applied to ``g.detach()`` with the same weights.
    """

    def __init__(self, backbone: nn.Module, embedding_dim: int, normalize: bool = True):
        super().__init__()
        if not isinstance(backbone, nn.Module):
            raise ValueError(f"backbone must be a torch.nn.Module, got {type(backbone).__name__}")
        feature_dim = getattr(backbone, "feature_dim", None)
        if isinstance(feature_dim, bool) or not isinstance(feature_dim, int) or feature_dim < 1:
            raise ValueError(
                f"backbone must have a positive int attribute feature_dim, got {feature_dim!r}"
            )
        self.backbone = backbone
        self.feature_dim = feature_dim
        self.embedding_dim = check_int(embedding_dim, "embedding_dim")
        self.normalize = bool(normalize)
        self.fc = nn.Linear(feature_dim, embedding_dim)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone features g of shape (n, feature_dim)."""
        fn = getattr(self.backbone, "forward_features", None)
        g = fn(x) if callable(fn) else self.backbone(x)
        if not isinstance(g, torch.Tensor) or g.dim() != 2 or g.shape[1] != self.feature_dim:
            got = tuple(g.shape) if isinstance(g, torch.Tensor) else type(g).__name__
            raise ValueError(
                f"backbone features must have shape (n, {self.feature_dim}), got {got}"
            )
        return g

    def forward_features_and_embedding(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        g = self.features(x)
        return g, self.fc(g)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = self.fc(self.features(x))
        return F.normalize(e, p=2, dim=1) if self.normalize else e
