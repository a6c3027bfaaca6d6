"""The PPMR folder reader (mlcompanion.data.ppmr; paper ``cdcm``) on a tiny fake copy of its layout."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from mlcompanion.data import DatasetNotFoundError
from mlcompanion.data.ppmr import PPMRSlices, check_ppmr_layout, index_ppmr, split_by_patient


def _img(path, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((10, 12), value, dtype=np.uint8), mode="L").save(path)


@pytest.fixture()
def fake_ppmr(tmp_path):
    root = tmp_path / "ppmr"
    cases = root / "PMGstudycaseslabelled"
    for pid in ("1", "2", "33"):
        _img(cases / pid / "T1_cor" / "s01_1.jpg", 200)   # PMG
        _img(cases / pid / "T1_cor" / "s02_0.jpg", 100)   # normal slice of a case
        _img(cases / pid / "T1_cor" / "s03_3.jpg", 50)    # unusable: skipped
        _img(cases / pid / "T2_axial" / "s01_1.jpg", 10)  # not coronal: ignored
    (cases / "1" / "T1_cor" / "notes.txt").write_text("not an image")
    controls = root / "PMGControlsEditedDec2021"
    for pid in ("1", "7", "8"):
        _img(controls / pid / "series_a" / "a.jpg", 30)
        _img(controls / pid / "series_b" / "b.png", 40)
    return root


def test_index_labels_and_skips(fake_ppmr):
    slices = index_ppmr(fake_ppmr)
    cases = [s for s in slices if s.source == "case"]
    controls = [s for s in slices if s.source == "control"]
    assert len(cases) == 6 and len(controls) == 6
    assert sorted(s.label for s in cases) == [0, 0, 0, 1, 1, 1]
    assert all(s.label == 0 for s in controls)
    assert not any("axial" in str(s.path) or s.path.name.endswith("_3.jpg") for s in slices)
    assert index_ppmr(fake_ppmr) == slices  # deterministic order


def test_split_by_patient(fake_ppmr):
    slices = index_ppmr(fake_ppmr)
    split = split_by_patient(slices, test_patients=["2", "7"], val_patients=["1"])
    assert {s.patient for s in split["test"]} == {"2", "7"}
    assert {(s.patient, s.source) for s in split["val"]} == {("1", "case"), ("1", "control")}
    assert {s.patient for s in split["train"]} == {"8"}  # 33 is left out of training
    with pytest.raises(ValueError, match="disjoint"):
        split_by_patient(slices, ["1"], ["1"])
    with pytest.raises(ValueError, match="not in the dataset"):
        split_by_patient(slices, ["99"], ["1"])


def test_dataset_items(fake_ppmr):
    ds = PPMRSlices(index_ppmr(fake_ppmr), size=16)
    x, y = ds[0]
    assert x.shape == (3, 16, 16) and x.dtype == torch.float32
    assert y == 1 and x.max().item() == pytest.approx(200 / 255, abs=1e-6)
    assert ds.labels.tolist() == [s.label for s in ds.slices]
    with pytest.raises(ValueError, match="size"):
        PPMRSlices(ds.slices, size=0)


def test_missing_dataset_fails_clearly(tmp_path, fake_ppmr):
    with pytest.raises(DatasetNotFoundError, match="PPMR.*root is None"):
        check_ppmr_layout(None)
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        check_ppmr_layout(tmp_path / "nowhere")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "PMGstudycaseslabelled").mkdir()
    with pytest.raises(DatasetNotFoundError, match="PMGControlsEditedDec2021") as err:
        index_ppmr(tmp_path / "half")
    assert "Kaggle" in str(err.value) and "<slice>_<label>" in str(err.value)
    (fake_ppmr / "PMGstudycaseslabelled" / "5" / "T1_sag").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError, match="no coronal series"):
        index_ppmr(fake_ppmr)
