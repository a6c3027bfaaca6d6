"""ImageNet-1K (ILSVRC-2012 classification) in the torchvision ``ImageFolder`` layout, from a local folder.

The dataset of equiangular_basis (Shen, Sun & Wei, CVPR 2023: ResNet-50 / Swin-T on ImageNet-1K,
1,000 classes; train 1,281,167 images, val 50,000). Nothing is downloaded. Expected layout::

    imagenet/                          <- pass this folder (or its parent) as root
    |-- train/
    |   |-- n01440764/
    |   |   `-- n01440764_10026.JPEG ...
    |   `-- ... (1,000 wnid folders)
    `-- val/
        |-- n01440764/                 (the 50,000 val images sorted into wnid folders,
        |   `-- ILSVRC2012_val_00000293.JPEG ...   e.g. by the widely used valprep.sh)
        `-- ...

Items are ``(transform(pil_rgb_image), label)``; labels follow the sorted wnids of ``train/``
(torchvision ``ImageFolder`` order), and ``val/`` must hold the same wnids. ``classes`` keeps the
first k sorted wnids only (an "ImageNet-k" subset). Attributes: ``labels`` (int64 tensor),
``paths``, ``wnids`` (``wnids[label]``), ``num_classes``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Optional

import torch

from .folders import DatasetNotFoundError, ImageListDataset

__all__ = ["ImageNet1K", "check_imagenet_layout", "IMAGENET_SPLITS", "IMAGE_EXTENSIONS"]

IMAGENET_SPLITS = ("train", "val")
IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png")
_URL = "https://image-net.org/download-images (ILSVRC2012_img_train.tar, ILSVRC2012_img_val.tar)"
_TREE = """    imagenet/                          <- pass this folder (or its parent) as root
    |-- train/
    |   |-- n01440764/
    |   |   `-- n01440764_10026.JPEG ...
    |   `-- ... (1,000 wnid folders)
    `-- val/
        |-- n01440764/
        |   `-- ILSVRC2012_val_00000293.JPEG ...
        `-- ... (the same wnid folders)"""


def _not_found(root, problem: str) -> DatasetNotFoundError:
    return DatasetNotFoundError(
        f"ImageNet-1K dataset not found: {problem}.\n"
        f"  root given: {root!r}\n"
        f"  Get it from {_URL}; extract train (one tar per class) and sort val into wnid folders.\n"
        f"  Nothing is downloaded automatically. Expected layout:\n{_TREE}"
    )


def _wnid_dirs(path: Path) -> list[str]:
    return sorted(e.name for e in os.scandir(path) if e.is_dir() and not e.name.startswith("."))


def check_imagenet_layout(root) -> Path:
    """Check that ``root`` (or ``root/imagenet``) holds ``train/`` and ``val/`` with the same,
    non-empty set of class folders, without reading images; return the resolved folder.

    Raises :class:`mlcompanion.data.DatasetNotFoundError` naming the dataset, where to get it, what is
    missing and the expected layout.
    """
    if root is None:
        raise _not_found(root, "root is None; pass the folder holding train/ and val/")
    try:
        path = Path(os.fspath(root)).expanduser()
    except TypeError:
        raise ValueError(f"root must be a str or os.PathLike, got {type(root).__name__}") from None
    if not path.is_dir():
        raise _not_found(root, f"the folder {str(path)!r} does not exist")
    if not (path / "train").is_dir() and (path / "imagenet").is_dir():
        path = path / "imagenet"
    missing = [f"{s}/" for s in IMAGENET_SPLITS if not (path / s).is_dir()]
    if missing:
        raise _not_found(root, f"{str(path)!r} is missing {', '.join(repr(m) for m in missing)}")
    train, val = _wnid_dirs(path / "train"), _wnid_dirs(path / "val")
    if not train:
        raise _not_found(root, f"{str(path / 'train')!r} has no class folders")
    if not val:
        raise _not_found(root, f"{str(path / 'val')!r} has no class folders (is val still flat? sort it "
                               f"into wnid folders)")
    if set(train) != set(val):
        only_t, only_v = sorted(set(train) - set(val)), sorted(set(val) - set(train))
        raise _not_found(root, f"train/ and val/ must hold the same class folders: {len(only_t)} only in "
                               f"train ({only_t[:3]}), {len(only_v)} only in val ({only_v[:3]})")
    return path.resolve()


class ImageNet1K(ImageListDataset):
    """ImageNet-1K ``split`` ("train" or "val") from a local ImageFolder tree (see the module doc).

    Args:
        root: the folder holding ``train/`` and ``val/`` (or its parent holding ``imagenet/``).
        split: "train" or "val".
        transform: callable applied to the RGB PIL image, or None.
        classes: None (all class folders) or k >= 1: keep the first k sorted wnids.
    """

    def __init__(self, root, split: str = "train", transform: Optional[Callable] = None,
                 classes: Optional[int] = None):
        if split not in IMAGENET_SPLITS:
            raise ValueError(f"split must be one of {list(IMAGENET_SPLITS)}, got {split!r}")
        if transform is not None and not callable(transform):
            raise ValueError(f"transform must be callable or None, got {type(transform).__name__}")
        self.root = check_imagenet_layout(root)
        wnids = _wnid_dirs(self.root / "train")
        if classes is not None:
            if isinstance(classes, bool) or not isinstance(classes, int) or not 1 <= classes <= len(wnids):
                raise ValueError(f"classes must be None or an int in [1, {len(wnids)}], got {classes!r}")
            wnids = wnids[:classes]
        self.split, self.transform, self.wnids = split, transform, wnids
        paths, labels = [], []
        for label, wnid in enumerate(wnids):
            folder = self.root / split / wnid
            files = sorted(e.name for e in os.scandir(folder)
                           if e.is_file() and e.name.lower().endswith(IMAGE_EXTENSIONS))
            paths += [folder / f for f in files]
            labels += [label] * len(files)
        if not paths:
            raise _not_found(str(root), f"no images ({'/'.join(IMAGE_EXTENSIONS)}) under "
                                        f"{str(self.root / split)!r}")
        self.paths = paths
        self.labels = torch.tensor(labels, dtype=torch.int64)

    @property
    def num_classes(self) -> int:
        return len(self.wnids)

    def _missing_image(self, path: Path) -> DatasetNotFoundError:
        return _not_found(str(self.root), f"image file {str(path)!r} is missing")
