"""Networks: ``backbones`` (SmallConvNet, torchvision-compatible ResNet-18/50, EmbeddingNet)."""

from .backbones import (
    RESNET50_WEIGHTS_URL,
    BasicBlock,
    Bottleneck,
    EmbeddingNet,
    ResNet,
    SmallConvNet,
    load_backbone_weights,
    resnet18,
    resnet50,
)

__all__ = [
    "SmallConvNet", "BasicBlock", "Bottleneck", "ResNet", "resnet18", "resnet50",
    "load_backbone_weights", "EmbeddingNet", "RESNET50_WEIGHTS_URL",
]
