"""miniImageNet (Vinyals et al. 2016) with the Ravi & Larochelle (2017) class split, from a local folder.

The few-shot benchmark of susana_distancia (and of ProtoNet, FEAT, ...): 100 ImageNet classes x 600
images, 64 train / 16 validation / 20 test classes. Nothing is downloaded. Expected layout (the
one of the official susana_distancia / FEAT code, ``datasets/MiniImagenet``)::

    MiniImagenet/                      <- pass this folder (or its parent) as root
    |-- images/
    |   |-- n0153282900000005.jpg ...  (60,000 images)
    `-- split/
        |-- train.csv                  (header "filename,label"; then "<file name>,<wnid>")
        |-- val.csv
        `-- test.csv

Items are ``(transform(pil_rgb_image), label)``; labels are 0..C-1 in the order in which the wnids
first appear in the csv (as the official loader). Attributes: ``labels`` (int64 tensor), ``paths``,
``wnids`` (``wnids[label]``), ``num_classes``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Optional

import torch

from .folders import DatasetNotFoundError, ImageListDataset

__all__ = ["MiniImageNet", "check_miniimagenet_layout", "MINIIMAGENET_SPLITS"]

MINIIMAGENET_SPLITS = ("train", "val", "test")
_URLS = ("https://github.com/twitter/meta-learning-lstm/tree/master/data/miniImagenet (split csv files)",
         "https://github.com/yaoyao-liu/mini-imagenet-tools (images)")
_TREE = """    MiniImagenet/                      <- pass this folder (or its parent) as root
    |-- images/
    |   `-- n0153282900000005.jpg ...  (60,000 images)
    `-- split/
        |-- train.csv                  (header 'filename,label', then '<file name>,<wnid>')
        |-- val.csv
        `-- test.csv"""


def _not_found(root, problem: str) -> DatasetNotFoundError:
    return DatasetNotFoundError(
        f"miniImageNet dataset not found: {problem}.\n"
        f"  root given: {root!r}\n"
        f"  Get the Ravi & Larochelle split files from {_URLS[0]} and the images from {_URLS[1]}.\n"
        f"  Nothing is downloaded automatically. Expected layout:\n{_TREE}"
    )


def check_miniimagenet_layout(root) -> Path:
    """Check ``root`` holds ``images/`` and ``split/{train,val,test}.csv`` (or a ``MiniImagenet/``
    folder that does) without reading the images; return the resolved folder.

    Raises :class:`mlcompanion.data.DatasetNotFoundError` naming the dataset, where to get it, what is
    missing and the expected layout.
    """
    if root is None:
        raise _not_found(root, "root is None; pass the folder holding images/ and split/")
    try:
        path = Path(os.fspath(root)).expanduser()
    except TypeError:
        raise ValueError(f"root must be a str or os.PathLike, got {type(root).__name__}") from None
    if not path.is_dir():
        raise _not_found(root, f"the folder {str(path)!r} does not exist")
    if not (path / "split").is_dir() and (path / "MiniImagenet").is_dir():
        path = path / "MiniImagenet"
    missing = [] if (path / "images").is_dir() else ["'images/'"]
    missing += [f"'split/{s}.csv'" for s in MINIIMAGENET_SPLITS if not (path / "split" / f"{s}.csv").is_file()]
    if missing:
        raise _not_found(root, f"{str(path)!r} is missing {', '.join(missing)}")
    return path.resolve()


class MiniImageNet(ImageListDataset):
    """One split (``"train"``, ``"val"`` or ``"test"``) of miniImageNet; see the module docstring.

    ``transform`` maps the RGB PIL image to what the model takes (paper profile of susana_distancia:
    ``mlcompanion.data.EvalTransform(resize=92, crop=84)``, ImageNet mean/std). ``check_files=True`` also
    checks every image file listed in the csv exists (one ``stat`` per image).
    """

    def __init__(self, root, split: str = "train", transform: Optional[Callable] = None, check_files: bool = False):
        if split not in MINIIMAGENET_SPLITS:
            raise ValueError(f"split must be one of {list(MINIIMAGENET_SPLITS)}, got {split!r}")
        if transform is not None and not callable(transform):
            raise ValueError(f"transform must be callable or None, got {type(transform).__name__}")
        self.root = check_miniimagenet_layout(root)
        self.split, self.transform = split, transform
        csv = self.root / "split" / f"{split}.csv"
        lines = [ln.strip() for ln in csv.read_text(encoding="utf-8").splitlines()]
        if not lines or lines[0].replace(" ", "").lower() != "filename,label":
            raise ValueError(f"{csv}: expected the header 'filename,label', got {lines[0] if lines else ''!r}")
        paths, labels, self.wnids = [], [], []
        index: dict[str, int] = {}
        for lineno, line in enumerate(lines[1:], start=2):
            if not line:
                continue
            parts = line.split(",")
            if len(parts) != 2 or not parts[0] or not parts[1]:
                raise ValueError(f"{csv}: line {lineno}: expected '<file name>,<wnid>', got {line!r}")
            name, wnid = parts
            if wnid not in index:
                index[wnid] = len(self.wnids)
                self.wnids.append(wnid)
            paths.append(self.root / "images" / name)
            labels.append(index[wnid])
        if not paths:
            raise ValueError(f"{csv}: the {split!r} split lists no image")
        if check_files:
            absent = [str(p) for p in paths if not p.is_file()]
            if absent:
                raise _not_found(str(root), f"{len(absent)} image file(s) of {csv.name} are missing, e.g. {absent[0]!r}")
        self.paths = paths
        self.labels = torch.tensor(labels, dtype=torch.int64)

    @property
    def num_classes(self) -> int:
        return len(self.wnids)

    def _missing_image(self, path: Path) -> DatasetNotFoundError:
        return _not_found(str(self.root), f"image file {str(path)!r} is missing")
