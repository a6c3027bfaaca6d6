"""Few-shot domains for multiscale_fewshot (MSENet, arXiv 2409.07989): in-domain and cross-domain
novel classes, on CPU glyphs and on the paper's benchmarks.

* :func:`glyph_fewshot_domains` (ci): the 128 glyph classes (``mlcompanion.data.glyphs``) split by
  script. Base (training) classes = a seeded two thirds of the Latin letters + digits, of which
  ``n_val_classes`` are held out for episodic validation; in-domain novel classes = the remaining
  Latin letters; cross-domain novel classes = the Greek and Cyrillic letters (another script), and
  scikit-learn's handwritten digits (8x8, upsampled bilinearly to the glyph size; another style).
  The stand-in for MSENet's miniImageNet (in-domain) and miniImageNet -> CUB (cross-domain).
* :class:`EasyFSLCsvDataset` (paper): an easyfsl-style split CSV (``image_name,class_name``) over an
  image folder -- miniImageNet ``data_root/mini_imagenet/{train,val,test}.csv`` with the images in
  ``data_root/mini_imagenet/images/`` (flat, or one sub-folder per class).
* :func:`cub_all_classes` (paper): CUB-200-2011 as distributed (``data_root/CUB_200_2011/``), every
  class; the official ``CrossDomain/test_CUB_final.py`` draws its episodes from CUB's train split.
"""

from __future__ import annotations

import csv
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from .folders import DatasetNotFoundError, ImageListDataset

__all__ = ["FewShotDomains", "glyph_script", "glyph_fewshot_domains", "EasyFSLCsvDataset",
           "check_easyfsl_layout", "cub_all_classes", "EASYFSL_LAYOUT"]


def glyph_script(char: str) -> str:
    """``"latin"``, ``"digit"``, ``"greek"`` or ``"cyrillic"`` from the character's Unicode name."""
    if not isinstance(char, str) or len(char) != 1:
        raise ValueError(f"char must be a single character, got {char!r}")
    name = unicodedata.name(char, "")
    for prefix, script in (("LATIN", "latin"), ("DIGIT", "digit"), ("GREEK", "greek"), ("CYRILLIC", "cyrillic")):
        if name.startswith(prefix):
            return script
    raise ValueError(f"{char!r} ({name or 'unnamed'}) is not a Latin, digit, Greek or Cyrillic character")


@dataclass
class FewShotDomains:
    """Base classes (train / validation) and the novel-class test domains, as TensorDatasets with
    labels 0..C-1 per set; ``classes[name]`` lists each set's characters (digits: '0'..'9')."""

    train: TensorDataset
    val: TensorDataset
    tests: dict
    classes: dict
    description: str


def _relabel(images: torch.Tensor, labels: torch.Tensor, keep: list[int]) -> TensorDataset:
    mask = torch.isin(labels, torch.tensor(keep, dtype=labels.dtype))
    lut = torch.full((int(labels.max()) + 1,), -1, dtype=torch.long)
    lut[torch.tensor(sorted(keep))] = torch.arange(len(keep))
    return TensorDataset(images[mask].contiguous(), lut[labels[mask]])


def glyph_fewshot_domains(image_size: int = 24, n_augments: int = 2, base_fraction: float = 2 / 3,
                          n_val_classes: int = 8, seed: int = 0, with_digits: bool = True) -> FewShotDomains:
    """The ci domains of multiscale_fewshot (module docstring). Deterministic in ``seed`` (class draw)."""
    from .glyphs import load_glyphs

    if not isinstance(base_fraction, float) or not 0 < base_fraction < 1:
        raise ValueError(f"base_fraction must be a float in (0, 1), got {base_fraction!r}")
    if isinstance(n_val_classes, bool) or not isinstance(n_val_classes, int) or n_val_classes < 2:
        raise ValueError(f"n_val_classes must be an int >= 2, got {n_val_classes!r}")
    g = load_glyphs(n_train_classes=127, n_test_classes=1, n_augments=n_augments, image_size=image_size, seed=0)
    images = torch.cat([g.train.images, g.test.images])
    labels = torch.cat([g.train.labels, g.test.labels + len(g.train.classes)])
    chars = g.train.classes + g.test.classes
    script = [glyph_script(c) for c in chars]
    latin_digit = [i for i, s in enumerate(script) if s in ("latin", "digit")]
    foreign = [i for i, s in enumerate(script) if s in ("greek", "cyrillic")]
    rng = np.random.default_rng(seed)
    perm = [latin_digit[i] for i in rng.permutation(len(latin_digit))]
    n_base = int(round(base_fraction * len(perm)))
    if not n_val_classes + 5 <= n_base <= len(perm) - 5:
        raise ValueError(f"base_fraction {base_fraction} leaves {n_base} base classes: need >= n_val_classes + 5 and "
                         f"<= {len(perm) - 5} (5 novel classes at least)")
    base, novel = perm[:n_base], sorted(perm[n_base:])
    val, train = sorted(base[:n_val_classes]), sorted(base[n_val_classes:])
    tests = {"in-domain": _relabel(images, labels, novel), "cross-script": _relabel(images, labels, foreign)}
    classes = {"train": [chars[i] for i in train], "val": [chars[i] for i in val],
               "in-domain": [chars[i] for i in novel], "cross-script": [chars[i] for i in foreign]}
    if with_digits:
        from .digits import load_digits_tensors

        d_img, d_lab = load_digits_tensors()
        d_img = F.interpolate(d_img, size=(image_size, image_size), mode="bilinear", align_corners=False)
        tests["digits"] = TensorDataset(d_img.clamp(0, 1).contiguous(), d_lab)
        classes["digits"] = [str(i) for i in range(10)]
    description = (f"glyphs {image_size}x{image_size}: base {len(train)} training + {len(val)} validation classes "
                   f"(Latin letters and digits); in-domain novel {len(novel)} Latin-letter/digit classes; cross-domain novel "
                   f"{len(foreign)} Greek/Cyrillic classes" + (" and the 10 scikit-learn handwritten digits"
                                                             if with_digits else "")
                   + f"; {16 * n_augments} images per glyph class")
    return FewShotDomains(_relabel(images, labels, train), _relabel(images, labels, val), tests, classes, description)


EASYFSL_LAYOUT = """    <data_root>/mini_imagenet/
    |-- train.csv, val.csv, test.csv     (header 'image_name,class_name'; easyfsl's split files)
    `-- images/
        |-- n0153282900000005.jpg ...    (flat), or
        `-- n01532829/n0153282900000005.jpg ...  (one folder per class)
    <data_root>/CUB_200_2011/             (as distributed: images.txt, image_class_labels.txt, classes.txt, images/)"""


def check_easyfsl_layout(root) -> Path:
    """``root`` holds ``train.csv``, ``val.csv``, ``test.csv`` and ``images/``; else a
    :class:`DatasetNotFoundError` naming the expected layout."""
    if root is None:
        raise DatasetNotFoundError(f"miniImageNet (easyfsl layout) not found: no data_root given. Expected:\n{EASYFSL_LAYOUT}")
    r = Path(root).expanduser()
    missing = [n for n in ("train.csv", "val.csv", "test.csv") if not (r / n).is_file()]
    if not (r / "images").is_dir():
        missing.append("images/")
    if missing:
        raise DatasetNotFoundError(f"miniImageNet (easyfsl layout) not found in {str(r)!r}: missing {missing}. "
                                   f"Nothing is downloaded. Expected:\n{EASYFSL_LAYOUT}")
    return r


class EasyFSLCsvDataset(ImageListDataset):
    """Images listed by an easyfsl split CSV (``image_name,class_name``); labels 0..C-1 in order of
    first appearance. ``root`` is the folder holding the CSVs and ``images/``."""

    def __init__(self, root, split: str = "train", transform: Optional[Callable] = None):
        if split not in ("train", "val", "test"):
            raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
        self.root = check_easyfsl_layout(root)
        self.split, self.transform = split, transform
        with open(self.root / f"{split}.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        if not rows or not {"image_name", "class_name"} <= set(rows[0]):
            raise ValueError(f"{self.root / (split + '.csv')}: expected columns 'image_name,class_name'. "
                             f"Expected layout:\n{EASYFSL_LAYOUT}")
        self.class_names = list(dict.fromkeys(r["class_name"] for r in rows))
        index = {c: i for i, c in enumerate(self.class_names)}
        images = self.root / "images"
        nested = (images / rows[0]["class_name"]).is_dir()
        self.paths = [images / r["class_name"] / r["image_name"] if nested else images / r["image_name"] for r in rows]
        self.labels = torch.tensor([index[r["class_name"]] for r in rows], dtype=torch.long)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def _missing_image(self, path: Path) -> DatasetNotFoundError:
        return DatasetNotFoundError(f"miniImageNet image {str(path)!r} is missing. Expected layout:\n{EASYFSL_LAYOUT}")


def cub_all_classes(root, transform: Optional[Callable] = None):
    """CUB-200-2011, all 200 classes (the union of ``CUB200``'s two class halves), as one dataset."""
    from torch.utils.data import ConcatDataset

    from .folders import CUB200

    first, second = CUB200(root, "train", transform), CUB200(root, "test", transform)
    first.labels, second.labels = first.labels, second.labels + first.num_classes
    both = ConcatDataset([first, second])
    both.labels = torch.cat([first.labels, second.labels])
    return both
