"""MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100 from a local folder, in torchvision's layouts.

The datasets of hyperspherical_embedding (Pereira et al., arXiv:2102.03243, Sec. 4), read as
tensors without torchvision and without any download. ``root`` is the folder that holds the
torchvision sub-folders:

    <root>/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]
    <root>/FashionMNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]
    <root>/cifar-10-batches-py/data_batch_{1..5}, test_batch          (python pickles)
    <root>/cifar-100-python/train, test                               (python pickles, fine labels)

Images come back as float32 (N, C, H, W) in [0, 1] (MNIST-type: 1 x 28 x 28, CIFAR: 3 x 32 x 32),
labels as int64 (N,). A missing or incomplete folder raises ``mlcompanion.data.DatasetNotFoundError``
naming the dataset, its URL and the expected tree.
"""

from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path

import numpy as np
import torch

from .folders import DatasetNotFoundError

__all__ = ["SMALL_IMAGE_DATASETS", "load_small_images", "check_small_images_layout"]

_IDX = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

SMALL_IMAGE_DATASETS = {
    "mnist": {"title": "MNIST", "folder": "MNIST/raw", "files": _IDX, "num_classes": 10,
              "url": "https://yann.lecun.com/exdb/mnist/ (or torchvision.datasets.MNIST(root, download=True))"},
    "fashion_mnist": {"title": "Fashion-MNIST", "folder": "FashionMNIST/raw", "files": _IDX, "num_classes": 10,
                      "url": "https://github.com/zalandoresearch/fashion-mnist (or torchvision.datasets.FashionMNIST)"},
    "cifar10": {"title": "CIFAR-10", "folder": "cifar-10-batches-py", "num_classes": 10,
                "files": tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",),
                "url": "https://www.cs.toronto.edu/~kriz/cifar.html (cifar-10-python.tar.gz)"},
    "cifar100": {"title": "CIFAR-100", "folder": "cifar-100-python", "files": ("train", "test"), "num_classes": 100,
                 "url": "https://www.cs.toronto.edu/~kriz/cifar.html (cifar-100-python.tar.gz)"},
}


def _key(name) -> str:
    if not isinstance(name, str) or name.lower() not in SMALL_IMAGE_DATASETS:
        raise ValueError(f"dataset must be one of {sorted(SMALL_IMAGE_DATASETS)}, got {name!r}")
    return name.lower()


def _find(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def check_small_images_layout(name: str, root) -> Path:
    """Check that ``root`` holds dataset ``name`` in torchvision's layout; return the data folder."""
    key = _key(name)
    info = SMALL_IMAGE_DATASETS[key]
    tree = "\n".join(f"    <root>/{info['folder']}/{f}" + (" (or .gz)" if key in ("mnist", "fashion_mnist") else "")
                     for f in info["files"])

    def fail(problem):
        return DatasetNotFoundError(
            f"{info['title']} dataset not found: {problem}.\n  root given: {root!r}\n  Get it from {info['url']}; "
            f"nothing is downloaded automatically. Expected layout:\n{tree}"
        )

    if root is None:
        raise fail("root is None; pass the folder that holds the torchvision data folders")
    folder = Path(os.fspath(root)).expanduser() / info["folder"]
    if not folder.is_dir():
        raise fail(f"the folder {str(folder)!r} does not exist")
    missing = [f for f in info["files"] if _find(folder, f) is None]
    if missing:
        raise fail(f"{str(folder)!r} is missing {', '.join(missing)}")
    return folder


def _read_idx(path: Path, ndim: int) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[:4], "big")
    if magic != 0x0800 + ndim:  # unsigned byte, ndim dimensions
        raise ValueError(f"{path}: not an idx file of {ndim}-d unsigned bytes (magic {magic:#x})")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(shape)):
        raise ValueError(f"{path}: expected {int(np.prod(shape))} values for shape {shape}, got {arr.size}")
    return arr.reshape(shape)


def _read_pickle(path: Path) -> dict:
    with open(path, "rb") as f:
        d = pickle.load(f, encoding="latin1")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in d.items()}


def load_small_images(name: str, root, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """``(images, labels)`` of split ``"train"`` or ``"test"`` of ``name`` (see the module docstring)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    key = _key(name)
    folder = check_small_images_layout(key, root)
    if key in ("mnist", "fashion_mnist"):
        prefix = "train" if split == "train" else "t10k"
        images = _read_idx(_find(folder, f"{prefix}-images-idx3-ubyte"), 3)[:, None]
        labels = _read_idx(_find(folder, f"{prefix}-labels-idx1-ubyte"), 1)
    else:
        if key == "cifar10":
            files = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
            label_key = "labels"
        else:
            files, label_key = [split], "fine_labels"
        parts = [_read_pickle(folder / f) for f in files]
        images = np.concatenate([np.asarray(p["data"], dtype=np.uint8).reshape(-1, 3, 32, 32) for p in parts])
        labels = np.concatenate([np.asarray(p[label_key], dtype=np.int64) for p in parts])
    if len(images) != len(labels):
        raise ValueError(f"{name} {split}: {len(images)} images but {len(labels)} labels")
    x = torch.from_numpy(np.array(images, dtype=np.uint8)).float() / 255.0
    return x, torch.from_numpy(np.asarray(labels, dtype=np.int64))
