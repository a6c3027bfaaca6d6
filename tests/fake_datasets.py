"""Tiny fake copies of the CUB-200-2011, Cars196 and Stanford Online Products folders.

Same file layout and annotation formats as the real archives, with small random-colour-block
JPEGs, so the readers of ``mlcompanion.data.folders`` (and notebooks) can be exercised offline.
Each builder returns the folder to pass as ``root``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["make_fake_cub", "make_fake_cars196", "make_fake_sop", "random_image"]


def random_image(rng: np.random.Generator, size, blocks: int = 4) -> Image.Image:
    """An RGB image of ``blocks x blocks`` random colour blocks; ``size`` is an int or (w, h)."""
    w, h = (size, size) if isinstance(size, int) else size
    small = rng.integers(0, 256, size=(blocks, blocks, 3), dtype=np.uint8)
    return Image.fromarray(small, "RGB").resize((w, h), Image.NEAREST)


def _save(img: Image.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        img.save(path, quality=85)
    else:
        img.save(path)


def make_fake_cub(root, n_classes: int = 200, images_per_class: int = 2, size=64, seed: int = 0) -> Path:
    """Write a fake ``CUB_200_2011`` folder at ``root`` (created) and return it.

    Classes are numbered 1..n_classes with folders ``001.Class_001``; with the default 200
    classes the first 100 are the train split and the last 100 the test split, as in the real set.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    images, labels, classes = [], [], []
    img_id = 0
    for c in range(1, n_classes + 1):
        folder = f"{c:03d}.Class_{c:03d}"
        classes.append(f"{c} {folder}")
        for k in range(images_per_class):
            img_id += 1
            rel = f"{folder}/Class_{c:03d}_{k:04d}_{img_id}.jpg"
            _save(random_image(rng, size), root / "images" / rel)
            images.append(f"{img_id} {rel}")
            labels.append(f"{img_id} {c}")
    (root / "images.txt").write_text("\n".join(images) + "\n")
    (root / "image_class_labels.txt").write_text("\n".join(labels) + "\n")
    (root / "classes.txt").write_text("\n".join(classes) + "\n")
    return root


def make_fake_cars196(root, n_classes: int = 196, images_per_class: int = 2, size=(48, 32), seed: int = 0) -> Path:
    """Write a fake Cars196 folder (``car_ims/`` + ``cars_annos.mat``) at ``root``; return it.

    ``cars_annos.mat`` holds a 1 x N struct array ``annotations`` with the real fields
    (relative_im_path, bbox_x1, bbox_y1, bbox_x2, bbox_y2, class, test) and a 1 x C cell array
    ``class_names``, written with :func:`scipy.io.savemat`. The ``test`` flag alternates per
    image, independent of the class, as in the real file.
    """
    from scipy.io import savemat

    root = Path(root)
    rng = np.random.default_rng(seed)
    (root / "car_ims").mkdir(parents=True, exist_ok=True)
    fields = ["relative_im_path", "bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "test"]
    n = n_classes * images_per_class
    ann = np.zeros((1, n), dtype=[(f, object) for f in fields])
    w, h = (size, size) if isinstance(size, int) else size
    k = 0
    for c in range(1, n_classes + 1):
        for _ in range(images_per_class):
            rel = f"car_ims/{k + 1:06d}.jpg"
            _save(random_image(rng, (w, h)), root / rel)
            ann[0, k] = (rel, np.uint8(1), np.uint8(1), np.uint16(w - 1), np.uint16(h - 1),
                         np.uint8(c), np.uint8(k % 2))
            k += 1
    names = np.empty((1, n_classes), dtype=object)
    for c in range(n_classes):
        names[0, c] = f"Fake Car {c + 1:03d} 2012"
    savemat(str(root / "cars_annos.mat"), {"annotations": ann, "class_names": names})
    return root


def make_fake_sop(root, n_train_classes: int = 6, n_test_classes: int = 6, images_per_class: int = 2,
                  size=32, seed: int = 0) -> Path:
    """Write a fake Stanford Online Products folder at ``root`` and return it.

    Train classes are 1..n_train_classes and test classes follow, as in the real files; products
    are spread over two categories (``bicycle_final/``, ``chair_final/``).
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    supers = ["bicycle", "chair"]
    header = "image_id class_id super_class_id path"
    rows = {"train": [header], "test": [header]}
    img_id = {"train": 0, "test": 0}
    for c in range(1, n_train_classes + n_test_classes + 1):
        split = "train" if c <= n_train_classes else "test"
        s = c % len(supers)
        for k in range(images_per_class):
            img_id[split] += 1
            rel = f"{supers[s]}_final/{100000000000 + c}_{k}.JPG"
            _save(random_image(rng, size), root / rel)
            rows[split].append(f"{img_id[split]} {c} {s + 1} {rel}")
    (root / "Ebay_train.txt").write_text("\n".join(rows["train"]) + "\n")
    (root / "Ebay_test.txt").write_text("\n".join(rows["test"]) + "\n")
    return root
