"""Networks: ``backbones`` (SmallConvNet, torchvision-compatible ResNet-18/50, EmbeddingNet) and
``tiny_lm`` (a small n-gram MLP language model with its training loop)."""

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
from .tiny_lm import LMTrainConfig, MLPLanguageModel, train_lm

__all__ = [
    "SmallConvNet", "BasicBlock", "Bottleneck", "ResNet", "resnet18", "resnet50",
    "load_backbone_weights", "EmbeddingNet", "RESNET50_WEIGHTS_URL",
    "MLPLanguageModel", "LMTrainConfig", "train_lm",
]
