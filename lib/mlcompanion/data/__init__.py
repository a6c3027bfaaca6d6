"""Data.

- ci profile: the font-glyph dataset (generated), sklearn digits, tabular generators, English text
  shipped with Python (pydoc topics)
- paper profile: folder loaders for CUB-200, Cars196, SOP, ImageNet-1K, miniImageNet, PPMR,
  MNIST/Fashion-MNIST/CIFAR, label graphs with precomputed embeddings, PTB / One Billion Word,
  tabular CSV benchmarks, language-model checkpoints; image transforms without torchvision
- batch samplers (class-balanced, shuffled, few-shot episodes)
- data pruning scores and the teacher-student perceptron
"""

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
from .text import find_lm_checkpoints, load_probe_texts, pydoc_corpus, pydoc_sentences
from .word_corpora import WORD_CORPORA, check_word_corpus, load_word_corpus
from .perceptron import generalisation_error, max_margin_student, probe_at_angle, teacher_student
from .pruning import classifier_margins, linear_margins, n_kept, prototype_scores, select_subset
from .samplers import ClassBalancedBatchSampler, ShuffledBatchSampler
from .splits import ClassHoldout, RelabeledSubset, dataset_labels, holdout_classes, holdout_items
from .transforms import CAFFE_BGR_MEAN, CAFFE_BGR_STD, IMAGENET_MEAN, IMAGENET_STD, EvalTransform, TrainTransform

__all__ = [
    "load_glyphs", "glyph_alphabet", "augment_batch", "GlyphData", "GlyphSplit",
    "load_digits_tensors",
    "ClassBalancedBatchSampler", "ShuffledBatchSampler", "EpisodeSampler",
    "holdout_classes", "holdout_items", "ClassHoldout", "RelabeledSubset", "dataset_labels",
    "MiniImageNet", "check_miniimagenet_layout", "PPMRSlices", "check_ppmr_layout",
    "load_small_images", "check_small_images_layout", "SMALL_IMAGE_DATASETS",
    "LabelGraphEmbeddings", "load_label_graph_embeddings", "check_label_graph_layout",
    "load_word_corpus", "check_word_corpus", "WORD_CORPORA",
    "anyloss_data1", "load_tabular_csv", "check_tabular_layout",
    "ImageNet1K", "check_imagenet_layout",
    "prototype_scores", "select_subset", "linear_margins", "classifier_margins", "n_kept",
    "teacher_student", "probe_at_angle", "max_margin_student", "generalisation_error",
    "pydoc_corpus", "pydoc_sentences", "find_lm_checkpoints", "load_probe_texts",
    "CUB200", "Cars196", "StanfordOnlineProducts", "DATASETS", "DatasetNotFoundError", "check_layout", "open_dataset",
    "TrainTransform", "EvalTransform", "IMAGENET_MEAN", "IMAGENET_STD", "CAFFE_BGR_MEAN", "CAFFE_BGR_STD",
]
