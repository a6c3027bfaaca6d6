"""Data: the font-glyph dataset (ci profile), sklearn digits, the DML benchmark folder loaders
(paper profile), image transforms without torchvision, and the class-balanced batch sampler."""

from .digits import load_digits_tensors
from .folders import (
    CUB200,
    DATASETS,
    Cars196,
    DatasetNotFoundError,
    StanfordOnlineProducts,
    check_layout,
    open_dataset,
)
from .glyphs import GlyphData, GlyphSplit, augment_batch, glyph_alphabet, load_glyphs
from .samplers import ClassBalancedBatchSampler
from .transforms import CAFFE_BGR_MEAN, CAFFE_BGR_STD, IMAGENET_MEAN, IMAGENET_STD, EvalTransform, TrainTransform

__all__ = [
    "load_glyphs", "glyph_alphabet", "augment_batch", "GlyphData", "GlyphSplit",
    "load_digits_tensors",
    "ClassBalancedBatchSampler",
    "CUB200", "Cars196", "StanfordOnlineProducts", "DATASETS", "DatasetNotFoundError", "check_layout", "open_dataset",
    "TrainTransform", "EvalTransform", "IMAGENET_MEAN", "IMAGENET_STD", "CAFFE_BGR_MEAN", "CAFFE_BGR_STD",
]
