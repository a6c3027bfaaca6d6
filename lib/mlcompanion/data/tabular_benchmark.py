"""Binary tabular data of paper ``anyloss`` (AnyLoss, arXiv:2405.14745): the synthetic "Data#1"
of its Sec. 3.3 and a reader for its 102 UCI/KEEL-style tabular datasets from a local folder.

**Data#1** (official learning-curve notebook): ``sklearn.datasets.make_classification`` with
10,000 samples, 2 classes weighted 0.9 / 0.1, ``class_sep=1.2``, 5 features (3 informative,
1 redundant), one cluster per class, ``random_state=0``, then PCA to 2 dimensions.

**The 102 tabular datasets** (paper Sec. 4-5, official notebooks: ``ds<i>.csv`` for i = 1..105
without 23, 82 and 84; released as ``data_num.zip`` with the official code). Nothing is
downloaded: unpack the archive so that the CSVs sit in ``<data_root>/anyloss_tabular/``. Each CSV
has a header, numeric feature columns and the class in the **last** column; as in the official
code the minority class becomes 1 (the positive class) and the majority class 0.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch

from .folders import DatasetNotFoundError

__all__ = ["anyloss_data1", "TabularData", "TABULAR_IDS", "TABULAR_DIR", "check_tabular_layout",
           "load_tabular_csv", "iter_tabular_datasets"]

TABULAR_DIR = "anyloss_tabular"
TABULAR_IDS = tuple(i for i in range(1, 106) if i not in (23, 82, 84))  # the 102 datasets of the paper

_TREE = """    <data_root>/                    <- pass this folder as data_root
    `-- anyloss_tabular/
        |-- ds1.csv                 header row; numeric features; the class in the last column
        |-- ds2.csv
        `-- ... ds105.csv           (102 files: ds23, ds82 and ds84 are not used)"""


@dataclass(frozen=True)
class TabularData:
    """One binary dataset: raw features ``x`` (float32, (n, d)), labels ``y`` (int64, 1 = minority)."""

    name: str
    x: torch.Tensor
    y: torch.Tensor
    feature_names: tuple[str, ...]

    @property
    def positive_rate(self) -> float:
        return float(self.y.double().mean())


def anyloss_data1(n_samples: int = 10000, positive_weight: float = 0.1, random_state: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Data#1 of paper ``anyloss`` Sec. 3.3: 2-d, about ``positive_weight`` positives.

    The defaults reproduce the official notebook exactly; ``positive_weight`` (the class-1 weight of
    ``make_classification``, in (0, 1)) and ``n_samples`` let a notebook sweep the imbalance.
    Returns ``x`` (float32, (n, 2), the PCA projection) and ``y`` (int64, 0/1).
    """
    from sklearn.datasets import make_classification
    from sklearn.decomposition import PCA

    if not isinstance(n_samples, int) or n_samples < 10:
        raise ValueError(f"n_samples must be an int >= 10, got {n_samples!r}")
    if not (isinstance(positive_weight, (int, float)) and 0 < positive_weight < 1):
        raise ValueError(f"positive_weight must be a number in (0, 1), got {positive_weight!r}")
    x, y = make_classification(n_samples=n_samples, n_classes=2, weights=[1 - positive_weight, positive_weight],
                               class_sep=1.2, n_features=5, n_informative=3, n_redundant=1,
                               n_clusters_per_class=1, random_state=random_state)
    x = PCA(n_components=2).fit_transform(x)
    return torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.int64)


def _not_found(root, problem: str) -> DatasetNotFoundError:
    return DatasetNotFoundError(
        f"AnyLoss tabular datasets (102 CSVs of arXiv:2405.14745) not found: {problem}.\n"
        f"  data_root given: {None if root is None else str(root)!r}\n"
        f"  Get 'data_num.zip' from the official code (https://github.com/doheonhan/anyloss, also listed in "
        f"https://github.com/doheonhan/anyloss_extension) and unpack it.\n"
        f"  Nothing is downloaded automatically. Expected layout:\n{_TREE}"
    )


def _check_ids(ids) -> tuple[int, ...]:
    ids = TABULAR_IDS if ids is None else tuple(ids)
    if not ids or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 1 for i in ids):
        raise ValueError(f"ids must be a non-empty sequence of positive ints (dataset numbers), got {ids!r}")
    return ids


def check_tabular_layout(root, ids: Sequence[int] | None = None) -> Path:
    """Check that ``<root>/anyloss_tabular/ds<i>.csv`` exists for every id (default: the paper's 102).

    Returns the ``anyloss_tabular`` folder. Raises :class:`~mlcompanion.data.DatasetNotFoundError` naming
    the datasets, where to get them and the expected tree when ``root`` is None, missing, or
    lacks the folder or any file. No file is read.
    """
    ids = _check_ids(ids)
    if root is None:
        raise _not_found(root, "data_root is None; pass the folder that holds anyloss_tabular/")
    try:
        base = Path(os.fspath(root)).expanduser()
    except TypeError:
        raise ValueError(f"root must be a str or os.PathLike, got {type(root).__name__}") from None
    if not base.is_dir():
        raise _not_found(root, f"{str(base)!r} does not exist or is not a folder")
    folder = base / TABULAR_DIR
    if not folder.is_dir():
        raise _not_found(root, f"{str(base)!r} has no {TABULAR_DIR}/ folder")
    missing = [f"ds{i}.csv" for i in ids if not (folder / f"ds{i}.csv").is_file()]
    if missing:
        shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
        raise _not_found(root, f"{str(folder)!r} lacks {len(missing)} of {len(ids)} files: {shown}")
    return folder.resolve()


def load_tabular_csv(path) -> TabularData:
    """Read one AnyLoss tabular CSV: header, numeric features, class in the last column.

    The minority class becomes 1 and the majority class 0 (official code; a tie makes the
    class that sorts last the positive one). Raises ``ValueError`` when the file has other than two
    classes, non-numeric features, or missing values (the official loader stops on those too).
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(f"tabular CSV {str(path)!r} does not exist")
    df = pd.read_csv(path)
    if df.shape[1] < 2 or len(df) < 2:
        raise ValueError(f"{path}: expected a header, >= 1 feature column and a class column with >= 2 rows, "
                         f"got shape {df.shape}")
    if df.isnull().to_numpy().any():
        raise ValueError(f"{path}: has {int(df.isnull().to_numpy().sum())} missing value(s); expected none")
    features, target = df.iloc[:, :-1], df.iloc[:, -1]
    non_numeric = [c for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if non_numeric:
        raise ValueError(f"{path}: feature columns must be numeric, got non-numeric {non_numeric[:5]}")
    counts = target.value_counts()
    if len(counts) != 2:
        raise ValueError(f"{path}: the last column must hold exactly 2 classes, got {len(counts)}: "
                         f"{sorted(map(str, counts.index))[:10]}")
    order = sorted(counts.index, key=lambda c: (counts[c], str(c)))
    minority = order[0] if counts[order[0]] < counts[order[1]] else order[1]
    y = torch.tensor((target == minority).to_numpy(copy=True), dtype=torch.int64)
    x = torch.tensor(features.to_numpy(dtype=np.float64, copy=True), dtype=torch.float32)
    return TabularData(name=path.stem, x=x, y=y, feature_names=tuple(map(str, features.columns)))


def iter_tabular_datasets(root, ids: Sequence[int] | None = None) -> Iterator[tuple[int, TabularData]]:
    """``(id, TabularData)`` for each dataset in ``ids`` (default: the paper's 102), after checking all exist."""
    folder = check_tabular_layout(root, ids)
    for i in _check_ids(ids):
        yield i, load_tabular_csv(folder / f"ds{i}.csv")
