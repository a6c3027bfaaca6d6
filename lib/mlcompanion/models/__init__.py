"""Networks: ``backbones`` (SmallConvNet, torchvision-compatible ResNet-18/50, EmbeddingNet),
``tiny_lm`` (a small n-gram MLP language model with its training loop), ``stage_resnet`` (a small
ResNet with MSENet's stage taps), ``subspace`` (ADSL's spatial attention and subspace learners),
``tiny_vit`` (a ViT with timm's parameter names; the shipped glyph-pretrained checkpoint) and
``prompted_vit`` (VPT-deep prompts + BitFit around a frozen ViT)."""

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
from .prompted_vit import PromptedViT
from .stage_resnet import SmallStageResNet
from .subspace import SpatialAttention, SubspaceEmbedding, SubspaceNet
from .tiny_lm import LMTrainConfig, MLPLanguageModel, train_lm
from .tiny_vit import TinyViT, load_pretrained_tiny_vit, load_timm_vit

__all__ = [
    "SmallConvNet", "BasicBlock", "Bottleneck", "ResNet", "resnet18", "resnet50",
    "load_backbone_weights", "EmbeddingNet", "RESNET50_WEIGHTS_URL",
    "MLPLanguageModel", "LMTrainConfig", "train_lm",
    "SmallStageResNet", "SpatialAttention", "SubspaceEmbedding", "SubspaceNet",
    "TinyViT", "load_pretrained_tiny_vit", "load_timm_vit", "PromptedViT",
]
