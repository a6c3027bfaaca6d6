"""The data and network of a zero-shot retrieval notebook, set up once for every profile.

``retrieval_setup(P)`` returns the training set (with a validation split of *training classes*
carved off), the test set of unseen classes, and ``make_model``:

- ``ci``: the font-glyph dataset (``mlcompanion.data.load_glyphs``, 64 train / 64 test classes, two
  augmented renders per font), ``n_val_classes`` of the training classes held out for validation,
  and ``EmbeddingNet(SmallConvNet)``;
- ``paper``: a benchmark folder (``cub200``, ``cars196``, ``sop``) at ``P.data_root`` with the
  usual train/test class split, ``n_val_classes`` training classes held out, the paper's crops, and
  an ImageNet ResNet-50 read from the local file ``P.backbone_weights`` with a linear embedding head.

``check_paper_inputs(P, dataset)`` stops a paper-profile run in its first cell when the dataset
folder or the weights file is missing, naming what is expected.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from torch import nn
from torch.utils.data import Dataset, TensorDataset

from .data.splits import holdout_classes

__all__ = ["RetrievalSetup", "retrieval_setup", "check_paper_inputs"]


@dataclass
class RetrievalSetup:
    """What a retrieval experiment trains and tests on.

    ``train_set`` / ``train_labels``: the training classes minus the validation ones (augmented);
    ``val_set``: the held-out training classes (no augmentation); ``test_set``: unseen classes;
    ``train_eval_set``: the training classes without augmentation (for statistics on seen classes);
    ``make_model()``: a fresh network (seed first with ``make_deterministic``); ``description``:
    one line for the notebook; ``glyphs``: the ``GlyphData`` in the ci profile (for showing samples).
    """

    train_set: Dataset
    train_labels: object
    val_set: Dataset
    test_set: Dataset
    train_eval_set: Dataset
    make_model: Callable[[], nn.Module]
    description: str
    glyphs: object = None


def _knob(P, name: str, default=None):
    return getattr(P, name, default)


def check_paper_inputs(P, dataset: str = "cub200") -> None:
    """Fail early (before any training) when the paper profile's dataset or weights are absent."""
    from .data import check_layout
    from .models import load_backbone_weights, resnet50

    check_layout(dataset, P.data_root)
    load_backbone_weights(resnet50(num_classes=None), Path(P.backbone_weights).expanduser())


def retrieval_setup(P, *, dataset: str = "cub200", n_val_classes: int | None = None,
                    backbone: Callable[[], nn.Module] | None = None) -> RetrievalSetup:
    """Set up data and network for profile ``P.profile`` (see the module docstring).

    ``P`` needs ``profile``, ``seed``, ``embedding_dim``, ``crop``; the paper profile also
    ``data_root``, ``resize`` and ``backbone_weights``. ``n_val_classes`` defaults to 16 of the 64
    glyph training classes (ci) and to a fifth of the benchmark's training classes (paper).
    ``backbone()`` replaces the default feature network (it must have ``feature_dim``).
    """
    from .models import EmbeddingNet

    if P.profile == "ci":
        from .data import load_glyphs
        from .models import SmallConvNet

        glyphs = load_glyphs(n_train_classes=64, n_test_classes=64, n_augments=2, image_size=P.crop, seed=P.seed)
        full = TensorDataset(glyphs.train.images, glyphs.train.labels)
        split = holdout_classes(full, 16 if n_val_classes is None else n_val_classes, seed=P.seed)
        test_set = TensorDataset(glyphs.test.images, glyphs.test.labels)
        make_backbone = backbone or (lambda: SmallConvNet(in_channels=1, embedding_dim=P.embedding_dim,
                                                          image_size=P.crop))
        description = (f"glyphs: {len(split.train)} training images of {64 - len(split.val_classes)} classes, "
                       f"{len(split.val)} validation images of {len(split.val_classes)} held-out training classes, "
                       f"{len(test_set)} test images of 64 unseen classes")
        return RetrievalSetup(split.train, split.train_labels, split.val, test_set, split.train,
                              lambda: EmbeddingNet(make_backbone(), P.embedding_dim), description, glyphs)

    from .data import EvalTransform, TrainTransform, open_dataset
    from .models import load_backbone_weights, resnet50

    weights = Path(P.backbone_weights).expanduser()
    train_aug = open_dataset(dataset, P.data_root, "train",
                             transform=TrainTransform(resize=P.resize, crop=P.crop, seed=P.seed))
    train_plain = open_dataset(dataset, P.data_root, "train", transform=EvalTransform(resize=P.resize, crop=P.crop))
    test_set = open_dataset(dataset, P.data_root, "test", transform=EvalTransform(resize=P.resize, crop=P.crop))
    n_val = max(2, train_aug.num_classes // 5) if n_val_classes is None else n_val_classes
    split = holdout_classes(train_aug, n_val, seed=P.seed)
    plain_split = holdout_classes(train_plain, n_val, seed=P.seed)  # the same classes, untransformed images
    val_set, train_eval = plain_split.val, plain_split.train
    make_backbone = backbone or (lambda: load_backbone_weights(resnet50(num_classes=None), weights))
    description = (f"{dataset}: {len(split.train)} training images ({train_aug.num_classes - n_val} classes), "
                   f"{len(val_set)} validation images ({n_val} held-out training classes), "
                   f"{len(test_set)} test images ({test_set.num_classes} unseen classes)")
    return RetrievalSetup(split.train, split.train_labels, val_set, test_set, train_eval,
                          lambda: EmbeddingNet(make_backbone(), P.embedding_dim), description)
