"""The closed-set medical datasets of dynamic_subspaces (Adiga Vasudeva et al., JBHI 2022, Sec. III-A):
ISIC-2019 (8 classes), MURA (14) and HyperKvasir labelled images (23), read through the official split
files of ``adigasu/Dynamic_subspace_learners`` (``Datasets/{ISIC19,MURA,HyperKvasir}/*.txt``, commit
84fce0a), whose first line is the header ``image_id class_id path`` and whose rows give a 1-based class
id and an image path relative to the dataset folder (official ``lib/data/set/{isic,mura,hkvasir}.py``).
Train and test hold the same classes (closed set); nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from .folders import DatasetNotFoundError, ImageListDataset

__all__ = ["SUBSPACE_DATASETS", "SplitFileDataset", "check_split_layout"]

# key: (folder under data_root, split-file prefix, classes, train rows, test rows, where to get the images)
SUBSPACE_DATASETS = {
    "isic": ("ISIC19", "ISIC", 8, 20000, 5331,
             "ISIC-2019 training images (https://challenge.isic-archive.com/data/#2019), extracted as "
             "ISIC_data_full_scale/ISIC_*.jpg"),
    "mura": ("MURA", "MURA", 14, 36808, 3197,
             "MURA-v1.1 (https://stanfordmlgroup.github.io/competitions/mura/), extracted as MURA-v1.1/"),
    "hkvasir": ("HyperKvasir", "HKVASIR", 23, 8567, 2095,
                "HyperKvasir labelled images (https://datasets.simula.no/hyper-kvasir/), extracted as "
                "labeled-images/"),
}


def _layout(key: str, root) -> str:
    folder, prefix, n_classes, n_train, n_test, source = SUBSPACE_DATASETS[key]
    return (
        f"  root given: {str(root)!r}\n"
        f"  Expected layout (the official repository's split files next to the images):\n"
        f"    <data_root>/{folder}/\n"
        f"    |-- {prefix}_train.txt   (header 'image_id class_id path'; {n_train} rows, class ids 1..{n_classes})\n"
        f"    |-- {prefix}_test.txt    ({n_test} rows)\n"
        f"    `-- the image paths those files name\n"
        f"  Copy Datasets/{folder}/*.txt from github.com/adigasu/Dynamic_subspace_learners and add the images: "
        f"{source}. Nothing is downloaded automatically."
    )


def check_split_layout(name: str, data_root) -> Path:
    """The dataset folder ``data_root/<folder>`` after checking that both split files exist; a
    ``DatasetNotFoundError`` naming the expected layout otherwise."""
    if not isinstance(name, str) or name.lower() not in SUBSPACE_DATASETS:
        raise ValueError(f"dataset must be one of {sorted(SUBSPACE_DATASETS)}, got {name!r}")
    key = name.lower()
    folder, prefix = SUBSPACE_DATASETS[key][:2]
    if data_root is None:
        raise DatasetNotFoundError(f"dynamic_subspaces {key}: data_root is not set (pass --data-root).\n"
                                   + _layout(key, data_root))
    root = Path(data_root).expanduser() / folder
    for split in ("train", "test"):
        if not (root / f"{prefix}_{split}.txt").is_file():
            raise DatasetNotFoundError(f"dynamic_subspaces {key}: {root / f'{prefix}_{split}.txt'} is missing.\n"
                                       + _layout(key, data_root))
    return root


class SplitFileDataset(ImageListDataset):
    """One split (``"train"`` / ``"test"``) of ISIC-2019, MURA or HyperKvasir as the official code reads
    it: labels = class_id - 1; items ``(transform(rgb image), label)`` (grey X-rays converted to RGB)."""

    def __init__(self, name: str, data_root, split: str = "train", transform: Callable | None = None):
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        if transform is not None and not callable(transform):
            raise ValueError(f"transform must be callable or None, got {type(transform).__name__}")
        self.root = check_split_layout(name, data_root)
        key = name.lower()
        self.key, self.split, self.transform = key, split, transform
        prefix, n_classes = SUBSPACE_DATASETS[key][1], SUBSPACE_DATASETS[key][2]
        path = self.root / f"{prefix}_{split}.txt"
        paths, labels = [], []
        with open(path) as f:
            header = f.readline().split()
            if header[:3] != ["image_id", "class_id", "path"]:
                raise ValueError(f"{path}: the first line must be the header 'image_id class_id path', got {header}")
            for lineno, line in enumerate(f, start=2):
                parts = line.split()
                if not parts:
                    continue
                if len(parts) != 3 or not parts[1].isdigit() or not 1 <= int(parts[1]) <= n_classes:
                    raise ValueError(f"{path}:{lineno}: expected '<image_id> <class_id 1..{n_classes}> <path>', "
                                     f"got {line.strip()!r}")
                paths.append(self.root / parts[2])
                labels.append(int(parts[1]) - 1)
        if not paths:
            raise ValueError(f"{path} lists no image")
        self.paths = paths
        self.labels = torch.tensor(labels, dtype=torch.int64)
        self._n_classes = n_classes

    @property
    def num_classes(self) -> int:
        return self._n_classes

    def _missing_image(self, path: Path) -> DatasetNotFoundError:
        return DatasetNotFoundError(f"dynamic_subspaces {self.key}: image {str(path)!r} is missing.\n"
                                    + _layout(self.key, self.root.parent))
