"""Readers for the three standard deep-metric-learning image benchmarks, from a local folder.

Nothing is ever downloaded: the user fetches the archive once, extracts it, and passes the folder
as ``root``. When the folder is missing or incomplete, :class:`DatasetNotFoundError` says which
dataset, where to get it, which path was given, what is missing, and the expected layout.

All three use the *zero-shot* protocol of the metric-learning literature (Song et al. 2016,
"Deep Metric Learning via Lifted Structured Feature Embedding"): train and test classes are
disjoint.

==========================  =============================  ===============================
dataset                     train split                    test split
==========================  =============================  ===============================
CUB-200-2011 (``cub200``)   classes 1-100 (5,864 images)   classes 101-200 (5,924 images)
Cars196 (``cars196``)       classes 1-98 (8,054 images)    classes 99-196 (8,131 images)
Stanford Online Products    ``Ebay_train.txt``: 11,318     ``Ebay_test.txt``: 11,316
(``sop``)                   classes, 59,551 images         classes, 60,502 images
==========================  =============================  ===============================

For CUB and Cars the rule is implemented as "the first half of the sorted class ids is train,
the second half is test", which is exactly 1-100 / 101-200 and 1-98 / 99-196 on the real data
and keeps small synthetic folders meaningful.

Every dataset is a :class:`torch.utils.data.Dataset` whose items are ``(image, label)``:
``image`` is ``transform(pil_rgb_image)`` (the RGB :class:`PIL.Image.Image` itself when
``transform`` is None) and ``label`` a Python int in ``0..num_classes-1``. Attributes:

``labels``       int64 tensor (n,), contiguous class indices within the split
``class_ids``    list of the original integer class ids, ``class_ids[label]``
``class_names``  list of human-readable names, ``class_names[label]``
``paths``        list of absolute :class:`pathlib.Path` of the images, in item order
``num_classes``  number of classes in the split
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

__all__ = [
    "DatasetNotFoundError",
    "check_layout",
    "ImageListDataset",
    "ImageFolderDataset",
    "CUB200",
    "Cars196",
    "StanfordOnlineProducts",
    "DATASETS",
    "SPLITS",
    "open_dataset",
]

SPLITS = ("train", "test")


class DatasetNotFoundError(FileNotFoundError):
    """A benchmark folder is absent or incomplete. The message explains how to obtain it."""


# ---------------------------------------------------------------------------------------------
# Expected layouts, one entry per dataset key.
# ---------------------------------------------------------------------------------------------

_LAYOUTS = {
    "cub200": {
        "title": "CUB-200-2011",
        "urls": (
            "https://www.vision.caltech.edu/datasets/cub_200_2011/",
            "https://data.caltech.edu/records/65de6-vgt44",
        ),
        "root_name": "CUB_200_2011",
        "required": (("images", "dir"), ("images.txt", "file"),
                     ("image_class_labels.txt", "file"), ("classes.txt", "file")),
        "tree": (
            "CUB_200_2011/                      <- pass this folder as root",
            "|-- images/",
            "|   |-- 001.Black_footed_Albatross/",
            "|   |   `-- Black_Footed_Albatross_0001_796111.jpg ...",
            "|   `-- ... (200 class folders)",
            "|-- images.txt                     (<image_id> <relative path under images/>)",
            "|-- image_class_labels.txt         (<image_id> <class_id 1..200>)",
            "`-- classes.txt                    (<class_id> <class name>)",
        ),
        "hint": "extract CUB_200_2011.tgz and pass the CUB_200_2011/ folder it creates",
    },
    "cars196": {
        "title": "Cars196 (Stanford Cars)",
        "urls": ("https://ai.stanford.edu/~jkrause/cars/car_dataset.html",),
        "root_name": "cars196",
        "required": (("car_ims", "dir"), ("cars_annos.mat", "file")),
        "tree": (
            "<root>/                            <- pass this folder as root",
            "|-- car_ims/",
            "|   |-- 000001.jpg",
            "|   `-- ... (16,185 images)",
            "`-- cars_annos.mat                 (struct array 'annotations': relative_im_path,",
            "                                    bbox_x1, bbox_y1, bbox_x2, bbox_y2, class, test)",
        ),
        "hint": "download car_ims.tgz and cars_annos.mat, extract car_ims.tgz next to the .mat",
    },
    "sop": {
        "title": "Stanford Online Products",
        "urls": ("https://cvgl.stanford.edu/projects/lifted_struct/",),
        "root_name": "Stanford_Online_Products",
        "required": (("Ebay_train.txt", "file"), ("Ebay_test.txt", "file")),
        "tree": (
            "Stanford_Online_Products/          <- pass this folder as root",
            "|-- bicycle_final/",
            "|   `-- 111085122871_0.JPG ...",
            "|-- ... (12 <category>_final/ folders)",
            "|-- Ebay_train.txt                 (header 'image_id class_id super_class_id path')",
            "`-- Ebay_test.txt",
        ),
        "hint": "extract Stanford_Online_Products.zip and pass the folder it creates",
    },
}


def _dataset_key(name) -> str:
    if not isinstance(name, str) or name.lower() not in _LAYOUTS:
        raise ValueError(f"unknown dataset: expected one of {sorted(_LAYOUTS)}, got {name!r}")
    return name.lower()


def _not_found(key: str, root, problem: str) -> DatasetNotFoundError:
    info = _LAYOUTS[key]
    urls = info["urls"]
    where = urls[0] + (f" (also {', '.join(urls[1:])})" if len(urls) > 1 else "")
    tree = "\n".join("    " + line for line in info["tree"])
    msg = (
        f"{info['title']} dataset not found: {problem}.\n"
        f"  root given: {root!r}\n"
        f"  Get it from {where}; {info['hint']}.\n"
        f"  Nothing is downloaded automatically. Expected layout:\n{tree}"
    )
    return DatasetNotFoundError(msg)


def check_layout(name: str, root) -> Path:
    """Check that ``root`` holds the files dataset ``name`` needs, without reading any of them.

    ``name`` is a key of :data:`DATASETS` (``"cub200"``, ``"cars196"``, ``"sop"``). Returns the
    resolved root as a :class:`~pathlib.Path`; raises :class:`DatasetNotFoundError` when ``root``
    is None, does not exist, is not a folder, or lacks a required file or folder (all missing
    pieces are listed).
    """
    key = _dataset_key(name)
    if root is None:
        raise _not_found(key, root, "root is None; pass the folder holding the extracted dataset")
    try:
        path = Path(os.fspath(root)).expanduser()
    except TypeError:
        raise ValueError(f"root must be a str or os.PathLike, got {type(root).__name__}") from None
    if not path.exists():
        raise _not_found(key, root, f"the folder {str(path)!r} does not exist")
    if not path.is_dir():
        raise _not_found(key, root, f"{str(path)!r} is not a folder")
    missing = []
    for rel, kind in _LAYOUTS[key]["required"]:
        p = path / rel
        ok = p.is_dir() if kind == "dir" else p.is_file()
        if not ok:
            missing.append(f"{rel}/" if kind == "dir" else rel)
    if missing:
        what = ", ".join(repr(m) for m in missing)
        raise _not_found(key, root, f"{str(path)!r} is missing {what}")
    return path.resolve()


def _check_split(split) -> str:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
    return split


def _read_table(path: Path, n_cols: int, *, skip_header: bool = False) -> list[list[str]]:
    """Whitespace-separated rows; the last column keeps any spaces. Blank lines are skipped."""
    rows = []
    with open(path, "r", encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if skip_header and lineno == 1:
                continue
            line = line.strip()
            if not line:
                continue
            parts = line.split(None, n_cols - 1)
            if len(parts) != n_cols:
                raise ValueError(
                    f"{path}: line {lineno}: expected {n_cols} whitespace-separated columns, "
                    f"got {len(parts)}: {line!r}"
                )
            rows.append(parts)
    return rows


def _to_int(text: str, path: Path, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{path}: expected an integer {what}, got {text!r}") from None


class ImageListDataset(Dataset):
    """Base of every image-file dataset: ``paths``, int64 ``labels``, an optional ``transform``.

    Subclasses fill ``root``, ``split``, ``transform``, ``paths`` and ``labels``, define
    ``num_classes``, and may override ``_missing_image(path)`` to say which dataset lacks the file.
    Items are ``(transform(rgb_image), int label)``.
    """

    def __len__(self) -> int:
        return len(self.paths)

    def _missing_image(self, path: Path) -> FileNotFoundError:
        return FileNotFoundError(f"image file {str(path)!r} is missing")

    def load_image(self, index: int) -> Image.Image:
        """The RGB PIL image of item ``index`` (no transform)."""
        path = self.paths[index]
        if not path.is_file():
            raise self._missing_image(path)
        with Image.open(path) as img:
            return img.convert("RGB")

    def __getitem__(self, index: int):
        n = len(self.paths)
        if not -n <= index < n:
            raise IndexError(f"index must be in [-{n}, {n}), got {index}")
        img = self.load_image(index)
        if self.transform is not None:
            img = self.transform(img)
        return img, int(self.labels[index])

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(root={str(self.root)!r}, split={self.split!r}, "
            f"n_images={len(self)}, n_classes={self.num_classes})"
        )


class ImageFolderDataset(ImageListDataset):
    """Base class: a list of image paths with original class ids, relabelled 0..C-1.

    Subclasses fill ``paths`` and per-image original class ids, then call :meth:`_finalize`.
    """

    dataset_key = ""

    def __init__(self, root, split: str = "train", transform: Optional[Callable] = None):
        _check_split(split)
        if transform is not None and not callable(transform):
            raise ValueError(f"transform must be callable or None, got {type(transform).__name__}")
        self.root = check_layout(self.dataset_key, root)
        self.split = split
        self.transform = transform
        self.paths: list[Path] = []
        self.labels = torch.empty(0, dtype=torch.int64)
        self.class_ids: list[int] = []
        self.class_names: list[str] = []

    def _finalize(self, paths: Sequence[Path], ids: Sequence[int], names: dict[int, str]) -> None:
        if len(paths) == 0:
            raise ValueError(
                f"{_LAYOUTS[self.dataset_key]['title']} at {str(self.root)!r}: the {self.split!r} "
                f"split is empty; check the annotation files"
            )
        self.class_ids = sorted(set(int(i) for i in ids))
        index = {cid: k for k, cid in enumerate(self.class_ids)}
        self.labels = torch.tensor([index[int(i)] for i in ids], dtype=torch.int64)
        self.paths = [Path(p) for p in paths]
        self.class_names = [names.get(cid, str(cid)) for cid in self.class_ids]

    @property
    def num_classes(self) -> int:
        return len(self.class_ids)

    def _missing_image(self, path: Path) -> DatasetNotFoundError:
        return _not_found(self.dataset_key, str(self.root), f"image file {str(path)!r} is missing")


def _first_half(ids: Sequence[int], split: str) -> set[int]:
    """The class ids of ``split`` when the first half of the sorted ids is train."""
    unique = sorted(set(ids))
    half = len(unique) // 2
    return set(unique[:half]) if split == "train" else set(unique[half:])


class CUB200(ImageFolderDataset):
    """CUB-200-2011 birds; ``root`` is the extracted ``CUB_200_2011/`` folder.

    Zero-shot split: classes 1-100 train, 101-200 test (the ``train_test_split.txt`` of the
    archive, a per-image split for classification, is ignored).
    """

    dataset_key = "cub200"

    def __init__(self, root, split: str = "train", transform: Optional[Callable] = None):
        super().__init__(root, split, transform)
        r = self.root
        rel_paths = {}
        for img_id, rel in _read_table(r / "images.txt", 2):
            rel_paths[_to_int(img_id, r / "images.txt", "image id")] = rel
        labels = {}
        for img_id, cls in _read_table(r / "image_class_labels.txt", 2):
            p = r / "image_class_labels.txt"
            labels[_to_int(img_id, p, "image id")] = _to_int(cls, p, "class id")
        names = {}
        for cls, name in _read_table(r / "classes.txt", 2):
            cid = _to_int(cls, r / "classes.txt", "class id")
            # "001.Black_footed_Albatross" -> "Black_footed_Albatross"
            names[cid] = name.split(".", 1)[1] if "." in name else name
        unlabelled = sorted(set(rel_paths) - set(labels))
        if unlabelled:
            raise ValueError(
                f"{r / 'image_class_labels.txt'}: expected a class for every image of images.txt, "
                f"got none for image id(s) {unlabelled[:5]}"
            )
        keep = _first_half(list(labels.values()), split)
        ids = sorted(i for i in rel_paths if labels[i] in keep)
        self.image_ids = ids
        self._finalize([r / "images" / rel_paths[i] for i in ids], [labels[i] for i in ids], names)


def _mat_scalar(x):
    """Unwrap the nested 1x1 object/str arrays that ``scipy.io.loadmat`` makes of struct fields."""
    while isinstance(x, np.ndarray):
        if x.size != 1:
            if x.dtype.kind in "US" and x.ndim <= 1:  # char arrays already collapsed to strings
                return "".join(str(c) for c in x.ravel())
            raise ValueError(f"expected a single value in a cars_annos.mat field, got shape {x.shape}")
        x = x.reshape(-1)[0]
    if isinstance(x, bytes):
        return x.decode("utf-8")
    if isinstance(x, np.generic):
        return x.item()
    return x


class Cars196(ImageFolderDataset):
    """Cars196 (Stanford Cars); ``root`` holds ``car_ims/`` and ``cars_annos.mat``.

    Zero-shot split: classes 1-98 train, 99-196 test. The ``test`` flag of the annotations (the
    classification split) is ignored, as in the metric-learning protocol.
    """

    dataset_key = "cars196"

    def __init__(self, root, split: str = "train", transform: Optional[Callable] = None):
        super().__init__(root, split, transform)
        from scipy.io import loadmat

        mat_path = self.root / "cars_annos.mat"
        mat = loadmat(str(mat_path))
        if "annotations" not in mat:
            raise ValueError(
                f"{mat_path}: expected a struct array 'annotations', got variables "
                f"{sorted(k for k in mat if not k.startswith('__'))}"
            )
        ann = np.asarray(mat["annotations"]).reshape(-1)
        fields = ann.dtype.names or ()
        for need in ("relative_im_path", "class"):
            if need not in fields:
                raise ValueError(
                    f"{mat_path}: expected field {need!r} in 'annotations', got fields {list(fields)}"
                )
        rel_paths = [str(_mat_scalar(a["relative_im_path"])) for a in ann]
        classes = [int(_mat_scalar(a["class"])) for a in ann]
        names = {}
        if "class_names" in mat:
            for k, n in enumerate(np.asarray(mat["class_names"], dtype=object).reshape(-1), 1):
                names[k] = str(_mat_scalar(n))
        keep = _first_half(classes, split)
        sel = [k for k, c in enumerate(classes) if c in keep]
        self._finalize([self.root / rel_paths[k] for k in sel], [classes[k] for k in sel], names)


class StanfordOnlineProducts(ImageFolderDataset):
    """Stanford Online Products; ``root`` holds ``Ebay_train.txt``, ``Ebay_test.txt`` and the
    ``<category>_final/`` image folders. The split is the one of the two files (11,318 train
    classes, 11,316 test classes). ``super_labels`` (int64 tensor) holds the 0-based category
    (``super_class_id - 1``) of each image.
    """

    dataset_key = "sop"

    def __init__(self, root, split: str = "train", transform: Optional[Callable] = None):
        super().__init__(root, split, transform)
        table = self.root / ("Ebay_train.txt" if split == "train" else "Ebay_test.txt")
        rows = _read_table(table, 4, skip_header=True)
        paths, ids, supers, names = [], [], [], {}
        for _img_id, cls, sup, rel in rows:
            cid = _to_int(cls, table, "class_id")
            paths.append(self.root / rel)
            ids.append(cid)
            supers.append(_to_int(sup, table, "super_class_id") - 1)
            folder = rel.replace("\\", "/").split("/", 1)[0]
            names.setdefault(cid, f"{folder.removesuffix('_final')}/{cid}")
        self._finalize(paths, ids, names)
        self.super_labels = torch.tensor(supers, dtype=torch.int64)


DATASETS = {"cub200": CUB200, "cars196": Cars196, "sop": StanfordOnlineProducts}


def open_dataset(name: str, root, split: str, transform: Optional[Callable] = None):
    """Open benchmark ``name`` (a key of :data:`DATASETS`) at ``root``; see the module docstring."""
    if not isinstance(name, str) or name.lower() not in DATASETS:
        raise ValueError(f"unknown dataset: expected one of {sorted(DATASETS)}, got {name!r}")
    _check_split(split)
    return DATASETS[name.lower()](root, split=split, transform=transform)
