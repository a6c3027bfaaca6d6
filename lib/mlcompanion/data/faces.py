"""Face-recognition training data as identity folders: CASIA-WebFace and MS1MV2, from a local folder.

The layout is the one CASIA-WebFace ships in and the one the official InsightFace script
``recognition/_tools_/mxnet_to_ort/rec2image.py`` (also ``rec2image.py`` of UNPG's ``detection/``
tools) writes when it unpacks MS1MV2's ``train.rec``: one folder per identity holding its aligned
112x112 face crops,

::

    <root>/                     <- pass this folder as root
    |-- 0000045/                (one folder per identity; any name, sorted as strings)
    |   |-- 001.jpg
    |   `-- ...                 (.jpg / .jpeg / .png / .bmp)
    `-- ...                     (CASIA-WebFace: 10,575 identities, 494,414 images;
                                 MS1MV2: 85,742 identities, 5,822,653 images)

Used by UNPG (Jung et al., "Unified Negative Pair Generation toward Well-discriminative Feature
Space for Face Recognition", arXiv 2203.11593, Sec. 4.1: training on MS1MV2 or CASIA-WebFace).
The paper evaluates on IJB-B/IJB-C templates; those protocols are *not* read here. Instead the
split is open-set by identity, the setting verification measures: identities sorted by folder name,
the last :data:`TEST_FRACTION` of them are unseen test identities, the rest training identities.

Nothing is ever downloaded. A missing, empty or wrongly laid-out folder raises
:class:`mlcompanion.data.folders.DatasetNotFoundError` naming the expected tree and where to get
the data.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable, Optional

import torch
from torch.utils.data import Dataset

from ..validation import check_int, check_seed
from .folders import SPLITS, DatasetNotFoundError, ImageListDataset
from .splits import RelabeledSubset, dataset_labels

__all__ = ["FaceIdentityFolder", "TEST_FRACTION", "IMAGE_SUFFIXES", "check_face_folder", "cap_dataset"]

#: Share of the identities (the last ones in sorted folder-name order) that form the test split.
TEST_FRACTION = 0.2
#: File suffixes read as images (case-insensitive).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")

_TREE = (
    "<root>/                       <- pass this folder as root",
    "|-- <identity>/               (one folder per identity, e.g. 0000045/)",
    "|   |-- <image>.jpg           (aligned 112x112 face crops; .jpg/.jpeg/.png/.bmp)",
    "|   `-- ...",
    "`-- ...                       (at least 10 identity folders)",
)
_WHERE = (
    "CASIA-WebFace or MS1MV2 (faces_emore) from the InsightFace dataset zoo, "
    "https://github.com/deepinsight/insightface/tree/master/recognition/_datasets_; "
    "CASIA-WebFace is already one folder per identity, MS1MV2's train.rec is unpacked into this layout with "
    "InsightFace's rec2image.py (recognition/_tools_/mxnet_to_ort/rec2image.py)"
)
MIN_IDENTITIES = 10


def _not_found(root, problem: str) -> DatasetNotFoundError:
    tree = "\n".join("    " + line for line in _TREE)
    return DatasetNotFoundError(
        f"face identity folder (CASIA-WebFace / MS1MV2) not found: {problem}.\n"
        f"  root given: {root!r}\n"
        f"  Get {_WHERE}.\n"
        f"  Nothing is downloaded automatically. Expected layout:\n{tree}"
    )


def _images_of(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def check_face_folder(root) -> Path:
    """Check that ``root`` is an identity-folder face dataset (module docstring) and return it resolved.

    Raises :class:`DatasetNotFoundError` when ``root`` is None, missing, not a folder, holds fewer
    than 10 identity folders, or an identity folder without images (UNPG, arXiv 2203.11593: the
    MS1MV2 / CASIA-WebFace training folders).
    """
    if root is None:
        raise _not_found(root, "root is None; pass the folder holding one sub-folder per identity")
    try:
        path = Path(os.fspath(root)).expanduser()
    except TypeError:
        raise ValueError(f"root must be a str or os.PathLike, got {type(root).__name__}") from None
    if not path.exists():
        raise _not_found(root, f"the folder {str(path)!r} does not exist")
    if not path.is_dir():
        raise _not_found(root, f"{str(path)!r} is not a folder")
    stray = sorted(p.name for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    ids = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if stray and not ids:
        raise _not_found(root, f"{str(path)!r} holds images ({stray[0]!r}, ...) but no identity sub-folders; "
                               "pass the folder above the identity folders, with one sub-folder per identity")
    if len(ids) < MIN_IDENTITIES:
        raise _not_found(root, f"{str(path)!r} holds {len(ids)} identity folder(s), expected at least {MIN_IDENTITIES}")
    empty = [p.name for p in ids if not _images_of(p)]
    if empty:
        more = f" (+{len(empty) - 3} more)" if len(empty) > 3 else ""
        raise _not_found(root, f"identity folder(s) {', '.join(repr(e) for e in empty[:3])}{more} hold no image "
                               f"({'/'.join(IMAGE_SUFFIXES)})")
    return path.resolve()


class FaceIdentityFolder(ImageListDataset):
    """Identity-folder face dataset, split by identity (UNPG, arXiv 2203.11593, Sec. 4.1 training data).

    ``FaceIdentityFolder(root, split="train", transform=None, max_per_identity=None)``. Identities
    are the sub-folders of ``root`` sorted by name; the last ``ceil(TEST_FRACTION * n)`` are the
    ``"test"`` split (unseen identities), the others ``"train"``. ``max_per_identity`` keeps the
    first k images (sorted file names) of each identity: all-pairs verification is quadratic in the
    test set, so the test split is usually capped. Items are ``(transform(rgb image), label)``,
    labels ``0..num_classes-1`` in identity order; ``class_names`` are the folder names.
    """

    def __init__(self, root, split: str = "train", transform: Optional[Callable] = None,
                 max_per_identity: Optional[int] = None):
        if split not in SPLITS:
            raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
        if transform is not None and not callable(transform):
            raise ValueError(f"transform must be callable or None, got {type(transform).__name__}")
        if max_per_identity is not None:
            max_per_identity = check_int(max_per_identity, "max_per_identity")
        self.root = check_face_folder(root)
        self.split, self.transform = split, transform
        ids = sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))
        n_test = math.ceil(round(TEST_FRACTION * len(ids), 9))  # round: 0.2 * 15 is 3.0000000000000004
        chosen = ids[len(ids) - n_test:] if split == "test" else ids[: len(ids) - n_test]
        paths, labels = [], []
        for label, folder in enumerate(chosen):
            images = _images_of(folder)[:max_per_identity]
            paths += images
            labels += [label] * len(images)
        self.paths = paths
        self.labels = torch.tensor(labels, dtype=torch.int64)
        self.class_names = [p.name for p in chosen]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def _missing_image(self, path: Path) -> DatasetNotFoundError:
        return _not_found(str(self.root), f"image file {str(path)!r} is missing")


def cap_dataset(dataset: Dataset, *, images_per_identity: int = 0, identities: int = 0, images: int = 0,
                seed: int = 0) -> Dataset:
    """A bounded subset of a labelled dataset, for the quadratic or (n x classes) evaluations of UNPG
    (arXiv 2203.11593: all-pairs TAR@FAR, Sec. 4; the CLPG sample-to-weight histogram, Fig. 1).

    0 means "no cap" for each of: ``identities`` (a seeded random draw of that many labels),
    ``images_per_identity`` (the first k items of each kept label, in dataset order), ``images``
    (a seeded random draw of that many of the remaining items). Item order and the original labels
    are kept. When no cap removes anything the dataset itself is returned, unchanged.
    """
    images_per_identity = check_int(images_per_identity, "images_per_identity", 0)
    identities = check_int(identities, "identities", 0)
    images = check_int(images, "images", 0)
    seed = check_seed(seed)
    labels = dataset_labels(dataset)
    gen = torch.Generator().manual_seed(seed)
    keep = torch.ones(len(labels), dtype=torch.bool)
    classes = torch.unique(labels)
    if identities and identities < len(classes):
        chosen = classes[torch.randperm(len(classes), generator=gen)[:identities]]
        keep &= torch.isin(labels, chosen)
    if images_per_identity:
        for c in torch.unique(labels[keep]):
            members = ((labels == c) & keep).nonzero().squeeze(1)
            keep[members[images_per_identity:]] = False
    idx = keep.nonzero().squeeze(1)
    if images and images < len(idx):
        idx = idx[torch.randperm(len(idx), generator=gen)[:images]].sort().values
    if len(idx) == len(labels):
        return dataset
    if len(idx) == 0:
        raise ValueError("cap_dataset: the caps leave no item")
    return RelabeledSubset(dataset, idx, labels[idx])
