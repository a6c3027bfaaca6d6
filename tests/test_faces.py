"""Identity-folder face dataset (mlcompanion.data.faces) on a fake folder built with PIL."""

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import TensorDataset

from mlcompanion.data import EvalTransform
from mlcompanion.data.faces import TEST_FRACTION, FaceIdentityFolder, cap_dataset, check_face_folder
from mlcompanion.data.folders import DatasetNotFoundError


def make_faces(root, n_ids=10, n_images=3, size=112):
    rng = np.random.default_rng(0)
    for i in range(n_ids):
        folder = root / f"{i:07d}"
        folder.mkdir(parents=True)
        for j in range(n_images):
            arr = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            Image.fromarray(arr).save(folder / f"{j:03d}.{'png' if j % 2 else 'jpg'}")
    return root


@pytest.fixture
def faces(tmp_path):
    return make_faces(tmp_path / "casia", n_ids=12, n_images=4)


def test_split_by_identity_sorted_last_fraction_is_test(faces):
    train = FaceIdentityFolder(faces, "train")
    test = FaceIdentityFolder(faces, "test")
    n_test = int(np.ceil(round(12 * TEST_FRACTION, 9)))
    assert test.class_names == [f"{i:07d}" for i in range(12 - n_test, 12)]
    assert train.class_names == [f"{i:07d}" for i in range(12 - n_test)]
    assert not set(train.class_names) & set(test.class_names)
    assert len(train) == 4 * (12 - n_test) and len(test) == 4 * n_test
    assert train.labels.tolist() == [k // 4 for k in range(len(train))]
    assert all(p.parent.name == train.class_names[int(y)] for p, y in zip(train.paths, train.labels))
    img, label = train[5]
    assert isinstance(img, Image.Image) and img.size == (112, 112) and img.mode == "RGB" and label == 1


def test_fraction_rounding_15_identities(tmp_path):
    root = make_faces(tmp_path / "f", n_ids=15, n_images=1)
    assert FaceIdentityFolder(root, "test").num_classes == 3  # 0.2 * 15, not ceil(3.0000000000000004)


def test_transform_and_cap(faces):
    test = FaceIdentityFolder(faces, "test", transform=EvalTransform(resize=112, crop=112), max_per_identity=2)
    assert len(test) == 2 * test.num_classes
    assert [p.name for p in test.paths[:2]] == ["000.jpg", "001.png"]
    x, _ = test[0]
    assert x.shape == (3, 112, 112) and x.dtype == torch.float32


def test_cap_dataset():
    x = torch.arange(20.0).unsqueeze(1)
    y = torch.tensor([0] * 5 + [1] * 5 + [2] * 5 + [3] * 5)
    ds = TensorDataset(x, y)
    assert cap_dataset(ds) is ds and cap_dataset(ds, images=20, identities=4, images_per_identity=5) is ds
    per = cap_dataset(ds, images_per_identity=2)
    assert [float(per[i][0]) for i in range(len(per))] == [0, 1, 5, 6, 10, 11, 15, 16]
    assert per.labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]  # original labels kept
    two = cap_dataset(ds, identities=2, seed=3)
    assert len(two) == 10 and len(torch.unique(two.labels)) == 2
    some = cap_dataset(ds, images=7, seed=1)
    assert len(some) == 7 and some.indices.tolist() == sorted(some.indices.tolist())
    assert cap_dataset(ds, images=7, seed=1).indices.tolist() == some.indices.tolist()
    with pytest.raises(ValueError, match="images_per_identity must be an int >= 0"):
        cap_dataset(ds, images_per_identity=-1)


@pytest.mark.parametrize("case, match", [
    ("none", "root is None"),
    ("missing", "does not exist"),
    ("file", "is not a folder"),
    ("flat", "no identity sub-folders"),
    ("few", "expected at least 10"),
    ("empty_id", "hold no image"),
])
def test_errors_name_layout_and_source(tmp_path, case, match):
    if case == "none":
        root = None
    elif case == "missing":
        root = tmp_path / "nope"
    elif case == "file":
        root = tmp_path / "f.txt"
        root.write_text("x")
    elif case == "flat":
        root = tmp_path / "flat"
        root.mkdir()
        Image.new("RGB", (112, 112)).save(root / "a.jpg")
    elif case == "few":
        root = make_faces(tmp_path / "few", n_ids=3, n_images=1)
    else:
        root = make_faces(tmp_path / "e", n_ids=10, n_images=1)
        (root / "0000003" / "000.jpg").unlink()
    with pytest.raises(DatasetNotFoundError, match=match) as err:
        FaceIdentityFolder(root, "train")
    msg = str(err.value)
    assert "CASIA-WebFace" in msg and "rec2image.py" in msg and "<identity>/" in msg
    assert "Nothing is downloaded" in msg and "root given" in msg


def test_bad_arguments(faces):
    with pytest.raises(ValueError, match="split"):
        FaceIdentityFolder(faces, "val")
    with pytest.raises(ValueError, match="transform"):
        FaceIdentityFolder(faces, transform=3)
    with pytest.raises(ValueError, match="max_per_identity"):
        FaceIdentityFolder(faces, max_per_identity=0)
    assert check_face_folder(faces) == faces.resolve()


def test_missing_image_after_listing(faces):
    ds = FaceIdentityFolder(faces, "train")
    ds.paths[0].unlink()
    with pytest.raises(DatasetNotFoundError, match="is missing"):
        ds[0]
