"""Data: the font-glyph dataset (ci profile), sklearn digits, the DML benchmark folder loaders
(paper profile: CUB-200, Cars196, SOP, ImageNet-1K, miniImageNet, PPMR, MNIST/Fashion-MNIST/CIFAR, label graphs with precomputed embeddings, PTB / One Billion Word, tabular CSV benchmarks), image transforms without torchvision,
and batch samplers (class-balanced, shuffled, few-shot episodes)."""

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
from .episodes import EpisodeSampler
from .imagenet import ImageNet1K, check_imagenet_layout
from .label_graph import LabelGraphEmbeddings, check_label_graph_layout, load_label_graph_embeddings
from .miniimagenet import MiniImageNet, check_miniimagenet_layout
from .ppmr import PPMRSlices, check_ppmr_layout
from .small_images import SMALL_IMAGE_DATASETS, check_small_images_layout, load_small_images
from .tabular_benchmark import anyloss_data1, check_tabular_layout, load_tabular_csv
from .word_corpora import WORD_CORPORA, check_word_corpus, load_word_corpus
from .samplers import ClassBalancedBatchSampler, ShuffledBatchSampler
from .transforms import CAFFE_BGR_MEAN, CAFFE_BGR_STD, IMAGENET_MEAN, IMAGENET_STD, EvalTransform, TrainTransform

__all__ = [
    "load_glyphs", "glyph_alphabet", "augment_batch", "GlyphData", "GlyphSplit",
    "load_digits_tensors",
    "ClassBalancedBatchSampler", "ShuffledBatchSampler", "EpisodeSampler",
    "MiniImageNet", "check_miniimagenet_layout", "PPMRSlices", "check_ppmr_layout",
    "load_small_images", "check_small_images_layout", "SMALL_IMAGE_DATASETS",
    "LabelGraphEmbeddings", "load_label_graph_embeddings", "check_label_graph_layout",
    "load_word_corpus", "check_word_corpus", "WORD_CORPORA",
    "anyloss_data1", "load_tabular_csv", "check_tabular_layout",
    "ImageNet1K", "check_imagenet_layout",
    "CUB200", "Cars196", "StanfordOnlineProducts", "DATASETS", "DatasetNotFoundError", "check_layout", "open_dataset",
    "TrainTransform", "EvalTransform", "IMAGENET_MEAN", "IMAGENET_STD", "CAFFE_BGR_MEAN", "CAFFE_BGR_STD",
]
