"""The PPMR dataset (pediatric polymicrogyria MRI, paper ``cdcm``) from a local folder.

Zhang, Abdeen & Lang (arXiv 2211.12565) release coronal MRI slices of PMG patients and controls
from CHEO, Ottawa, on Kaggle ("pediatric-polymicrogyria-mri-dataset"). Nothing is downloaded: the
user unpacks the archive and passes the folder holding the two sub-folders below as ``root``.

Layout (as read by the official scripts, e.g. ``PPMR/ResNet50_without_NAN_metric_learning_classification.py``)::

    <root>/
    |-- PMGstudycaseslabelled/            PMG patients
    |   `-- <patient_id>/
    |       |-- <...cor...>/              the coronal series (the sub-folder whose name contains "cor")
    |       |   `-- <slice>_<label>.<ext> label 1 = PMG slice, 3 = unusable (skipped), other = normal
    |       `-- <other series>/           ignored
    `-- PMGControlsEditedDec2021/         controls: every slice is normal
        `-- <patient_id>/<series>/<slice>.<ext>

Slices are labelled 1 (PMG, abnormal) or 0 (normal). Splits are by patient (nested
cross-validation in the official ``PPMR/run.sh``: 4 test patients, 4 validation patients per fold);
as in the official code a patient id selects that id in *both* folders, and patient ``33`` is left
out of training.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from .folders import DatasetNotFoundError

__all__ = ["PPMRSlice", "PPMRSlices", "check_ppmr_layout", "index_ppmr", "split_by_patient",
           "CASES_DIR", "CONTROLS_DIR"]

CASES_DIR = "PMGstudycaseslabelled"
CONTROLS_DIR = "PMGControlsEditedDec2021"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
UNUSABLE_LABEL = 3
PMG_LABEL = 1

_TREE = """    <root>/                                  <- pass this folder as data_root
    |-- PMGstudycaseslabelled/<patient_id>/<series with 'cor' in its name>/<slice>_<label>.jpg
    |        (label 1 = PMG slice, 3 = unusable and skipped, any other = normal)
    `-- PMGControlsEditedDec2021/<patient_id>/<series>/<slice>.jpg   (all normal)"""


def _not_found(root, problem: str) -> DatasetNotFoundError:
    return DatasetNotFoundError(
        f"PPMR (pediatric polymicrogyria MRI) dataset not found: {problem}.\n"
        f"  root given: {root!r}\n"
        f"  Get it from Kaggle ('pediatric-polymicrogyria-mri-dataset', released with arXiv 2211.12565) "
        f"and unpack it.\n  Nothing is downloaded automatically. Expected layout:\n{_TREE}"
    )


def check_ppmr_layout(root) -> Path:
    """Check that ``root`` holds both PPMR folders (without reading any image); return it resolved.

    Raises :class:`~mlcompanion.data.DatasetNotFoundError` (naming the dataset, where to get it and the
    expected tree) when ``root`` is None, missing, not a folder, or lacks a folder.
    """
    if root is None:
        raise _not_found(root, "root is None; pass the folder holding the unpacked dataset")
    try:
        path = Path(os.fspath(root)).expanduser()
    except TypeError:
        raise ValueError(f"root must be a str or os.PathLike, got {type(root).__name__}") from None
    if not path.is_dir():
        raise _not_found(root, f"{str(path)!r} does not exist or is not a folder")
    missing = [f"{d}/" for d in (CASES_DIR, CONTROLS_DIR) if not (path / d).is_dir()]
    if missing:
        raise _not_found(root, f"{str(path)!r} is missing {', '.join(repr(m) for m in missing)}")
    return path.resolve()


@dataclass(frozen=True)
class PPMRSlice:
    """One slice: its file, label (1 = PMG, 0 = normal), patient id (folder name) and source folder."""

    path: Path
    label: int
    patient: str
    source: str  # "case" or "control"


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def _slice_label(path: Path) -> int:
    token = path.stem.rsplit("_", 1)[-1]
    try:
        return int(token)
    except ValueError:
        raise ValueError(f"{path}: a PMG case slice must be named <slice>_<label>.<ext> with an integer label, "
                         f"got {path.name!r}") from None


def index_ppmr(root) -> list[PPMRSlice]:
    """Every usable slice of PPMR under ``root``, in a fixed order (cases then controls, sorted).

    Case slices take their label from the file-name suffix (1 -> PMG = 1, 3 -> skipped, else 0);
    only the coronal series (sub-folder name containing "cor", case-insensitive) of each case is
    read, as in the official code. Control slices are all 0.
    """
    base = check_ppmr_layout(root)
    slices: list[PPMRSlice] = []
    for patient in sorted(p for p in (base / CASES_DIR).iterdir() if p.is_dir()):
        series = [s for s in sorted(patient.iterdir()) if s.is_dir() and "cor" in s.name.lower()]
        if not series:
            raise _not_found(root, f"case patient {patient.name!r} has no coronal series "
                                   f"(a sub-folder whose name contains 'cor') under {str(patient)!r}")
        for s in series:
            for img in _images(s):
                raw = _slice_label(img)
                if raw == UNUSABLE_LABEL:
                    continue
                slices.append(PPMRSlice(img, int(raw == PMG_LABEL), patient.name, "case"))
    for patient in sorted(p for p in (base / CONTROLS_DIR).iterdir() if p.is_dir()):
        for s in sorted(p for p in patient.iterdir() if p.is_dir()):
            slices.extend(PPMRSlice(img, 0, patient.name, "control") for img in _images(s))
    if not slices:
        raise _not_found(root, "no image slices were found under either folder")
    if not any(s.label for s in slices):
        raise _not_found(root, "no PMG slice (file suffix _1) was found under PMGstudycaseslabelled/")
    return slices


def split_by_patient(slices: Sequence[PPMRSlice], test_patients: Sequence[str], val_patients: Sequence[str],
                     exclude_from_train: Sequence[str] = ("33",)) -> dict[str, list[PPMRSlice]]:
    """Patient-level split as in the official scripts: ``{"train", "val", "test"}`` lists of slices.

    A patient id listed in ``test_patients`` / ``val_patients`` sends that id's slices from both
    folders to that split; every other patient trains, except ``exclude_from_train`` (the official
    code leaves patient 33 out).
    """
    test, val = {str(p) for p in test_patients}, {str(p) for p in val_patients}
    if test & val:
        raise ValueError(f"test and validation patients must be disjoint, both hold {sorted(test & val)}")
    known = {s.patient for s in slices}
    unknown = sorted((test | val) - known)
    if unknown:
        raise ValueError(f"patients {unknown} are not in the dataset; known ids: {sorted(known)[:20]}...")
    out = {"train": [], "val": [], "test": []}
    skip = {str(p) for p in exclude_from_train}
    for s in slices:
        if s.patient in test:
            out["test"].append(s)
        elif s.patient in val:
            out["val"].append(s)
        elif s.patient not in skip:
            out["train"].append(s)
    return out


class PPMRSlices(Dataset):
    """A list of :class:`PPMRSlice` as a dataset of ``(image, label)``.

    The image is read as RGB, resized to ``size`` x ``size`` (bilinear, aspect ratio not kept, as
    the official ``get_image``) and scaled to [0, 1] as a float32 (3, size, size) tensor, unless
    ``transform`` (PIL image -> tensor) is given.
    """

    def __init__(self, slices: Sequence[PPMRSlice], size: int = 256, transform: Optional[Callable] = None):
        if not slices:
            raise ValueError("slices must be a non-empty list of PPMRSlice")
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"size must be a positive int, got {size!r}")
        self.slices = list(slices)
        self.size = size
        self.transform = transform
        self.labels = torch.tensor([s.label for s in self.slices], dtype=torch.int64)

    def __len__(self) -> int:
        return len(self.slices)

    def __getitem__(self, index: int):
        s = self.slices[index]
        with Image.open(s.path) as im:
            im = im.convert("RGB")
            if self.transform is not None:
                return self.transform(im), s.label
            im = im.resize((self.size, self.size), Image.BILINEAR)
            x = torch.from_numpy(np.asarray(im, dtype=np.float32) / 255.0).permute(2, 0, 1).contiguous()
        return x, s.label
