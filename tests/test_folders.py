"""Dataset folder readers on tiny fake copies of the CUB-200-2011, Cars196 and SOP layouts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.io import loadmat

from fake_datasets import make_fake_cars196, make_fake_cub, make_fake_sop
from mlcompanion.data.folders import (
    CUB200,
    DATASETS,
    Cars196,
    DatasetNotFoundError,
    StanfordOnlineProducts,
    check_layout,
    open_dataset,
)

URLS = {
    "cub200": "https://www.vision.caltech.edu/datasets/cub_200_2011/",
    "cars196": "https://ai.stanford.edu/~jkrause/cars/car_dataset.html",
    "sop": "https://cvgl.stanford.edu/projects/lifted_struct/",
}
TITLES = {"cub200": "CUB-200-2011", "cars196": "Cars196", "sop": "Stanford Online Products"}


@pytest.fixture(scope="module")
def fake_roots(tmp_path_factory):
    base = tmp_path_factory.mktemp("fake_dml")
    return {
        "cub200": make_fake_cub(base / "CUB_200_2011", n_classes=200, images_per_class=2, size=16),
        "cars196": make_fake_cars196(base / "cars196", n_classes=8, images_per_class=3),
        "sop": make_fake_sop(base / "Stanford_Online_Products", n_train_classes=5, n_test_classes=4,
                             images_per_class=2),
    }


def _check_split_pair(train, test, n_train_images, n_test_images, n_train_cls, n_test_cls):
    assert len(train) == n_train_images and len(test) == n_test_images
    assert train.num_classes == n_train_cls and test.num_classes == n_test_cls
    # zero-shot: the original class ids are disjoint
    assert set(train.class_ids).isdisjoint(test.class_ids)
    for ds in (train, test):
        assert ds.labels.dtype == torch.int64 and ds.labels.shape == (len(ds),)
        assert sorted(set(ds.labels.tolist())) == list(range(ds.num_classes))  # contiguous
        assert len(ds.paths) == len(ds) and len(ds.class_names) == ds.num_classes
        assert all(p.is_file() for p in ds.paths)
        img, label = ds[0]
        assert isinstance(img, Image.Image) and img.mode == "RGB"
        assert label == int(ds.labels[0]) and isinstance(label, int)
        img, label = ds[len(ds) - 1]
        assert img.mode == "RGB" and label == int(ds.labels[-1])


def test_cub200_zero_shot_split(fake_roots):
    root = fake_roots["cub200"]
    assert check_layout("cub200", root) == root.resolve()
    train, test = CUB200(root, "train"), CUB200(root, split="test")
    _check_split_pair(train, test, 200, 200, 100, 100)
    assert train.class_ids == list(range(1, 101)) and test.class_ids == list(range(101, 201))
    assert train.class_names[0] == "Class_001" and test.class_names[0] == "Class_101"
    # label k of train is original class k + 1, and the image lives in that class folder
    for i in (0, 57, 199):
        assert train.paths[i].parent.name.startswith(f"{train.class_ids[int(train.labels[i])]:03d}.")


def test_cub200_small_fake_keeps_split_meaningful(tmp_path):
    root = make_fake_cub(tmp_path / "CUB_200_2011", n_classes=6, images_per_class=1, size=8)
    train, test = CUB200(root, "train"), CUB200(root, "test")
    assert train.class_ids == [1, 2, 3] and test.class_ids == [4, 5, 6]


def test_cars196_mat_layout_and_split(fake_roots):
    root = fake_roots["cars196"]
    # the fake file has the nested layout loadmat gives for the real struct array
    ann = loadmat(str(root / "cars_annos.mat"))["annotations"]
    assert ann.shape == (1, 24)
    assert set(ann.dtype.names) == {"relative_im_path", "bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2",
                                    "class", "test"}
    assert ann[0, 0]["relative_im_path"].shape == (1,) and ann[0, 0]["class"].shape == (1, 1)

    train, test = Cars196(root, "train"), Cars196(root, "test")
    _check_split_pair(train, test, 12, 12, 4, 4)
    assert train.class_ids == [1, 2, 3, 4] and test.class_ids == [5, 6, 7, 8]
    assert train.class_names[0] == "Fake Car 001 2012"
    assert train.paths[0].name == "000001.jpg" and train.paths[0].parent.name == "car_ims"
    # the per-image `test` flag is ignored: both flags appear in each split
    assert len(train) == 12


def test_sop_split_from_files(fake_roots):
    root = fake_roots["sop"]
    train, test = StanfordOnlineProducts(root, "train"), StanfordOnlineProducts(root, "test")
    _check_split_pair(train, test, 10, 8, 5, 4)
    assert train.class_ids == [1, 2, 3, 4, 5] and test.class_ids == [6, 7, 8, 9]
    assert train.super_labels.dtype == torch.int64 and set(train.super_labels.tolist()) <= {0, 1}
    assert train.class_names[0] == "chair/1"


def test_transform_is_applied(fake_roots):
    ds = CUB200(fake_roots["cub200"], "train", transform=lambda im: np.asarray(im).shape)
    assert ds[0][0] == (16, 16, 3)


def test_registry_and_open_dataset(fake_roots):
    assert set(DATASETS) == {"cub200", "cars196", "sop"}
    for name, cls in DATASETS.items():
        ds = open_dataset(name, fake_roots[name], "test")
        assert isinstance(ds, cls) and ds.split == "test"
    with pytest.raises(ValueError, match="cub200"):
        open_dataset("mnist", fake_roots["cub200"], "train")
    with pytest.raises(ValueError, match="'train', 'test'"):
        open_dataset("cub200", fake_roots["cub200"], "val")
    with pytest.raises(ValueError, match="split"):
        CUB200(fake_roots["cub200"], split="validation")
    with pytest.raises(ValueError, match="unknown dataset"):
        check_layout("imagenet", fake_roots["cub200"])


def test_index_error(fake_roots):
    ds = Cars196(fake_roots["cars196"], "train")
    with pytest.raises(IndexError):
        ds[len(ds)]


@pytest.mark.parametrize("name", ["cub200", "cars196", "sop"])
def test_missing_root_errors(name, tmp_path):
    cls = DATASETS[name]
    missing = tmp_path / "does_not_exist"
    for root, piece in ((missing, "does not exist"), (None, "root is None")):
        with pytest.raises(DatasetNotFoundError) as info:
            cls(root, "train")
        msg = str(info.value)
        assert TITLES[name] in msg and URLS[name] in msg and piece in msg
        assert repr(str(missing) if root is not None else None) in msg  # the path given
        assert "|--" in msg  # the layout tree
        assert isinstance(info.value, FileNotFoundError)
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        check_layout(name, missing)
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        open_dataset(name, missing, "test")


@pytest.mark.parametrize(
    "name, remove",
    [("cub200", "classes.txt"), ("cub200", "images"), ("cars196", "cars_annos.mat"),
     ("cars196", "car_ims"), ("sop", "Ebay_test.txt")],
)
def test_missing_piece_errors(name, remove, tmp_path):
    builders = {
        "cub200": lambda r: make_fake_cub(r, n_classes=4, images_per_class=1, size=8),
        "cars196": lambda r: make_fake_cars196(r, n_classes=4, images_per_class=1, size=8),
        "sop": lambda r: make_fake_sop(r, 2, 2, 1, size=8),
    }
    root = builders[name](tmp_path / "data")
    target = root / remove
    if target.is_dir():
        import shutil

        shutil.rmtree(target)
    else:
        target.unlink()
    for call in (lambda: check_layout(name, root), lambda: DATASETS[name](root, "train")):
        with pytest.raises(DatasetNotFoundError) as info:
            call()
        msg = str(info.value)
        assert TITLES[name] in msg and URLS[name] in msg and remove in msg and str(root) in msg


def test_layout_checked_before_reading(tmp_path):
    # a garbled images.txt must not be parsed when other required files are missing
    root = tmp_path / "CUB_200_2011"
    (root / "images").mkdir(parents=True)
    (root / "images.txt").write_text("this is not an index\n")
    with pytest.raises(DatasetNotFoundError, match="image_class_labels.txt") as info:
        CUB200(root)
    assert "classes.txt" in str(info.value)  # every missing piece is listed


def test_root_is_a_file(tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x")
    with pytest.raises(DatasetNotFoundError, match="not a folder"):
        check_layout("sop", f)


def test_missing_image_file_is_reported(tmp_path):
    root = make_fake_sop(tmp_path / "sop", 2, 2, 1, size=8)
    ds = StanfordOnlineProducts(root, "train")
    ds.paths[0].unlink()
    with pytest.raises(DatasetNotFoundError, match="image file"):
        ds[0]


def test_malformed_annotation_is_a_value_error(tmp_path):
    root = make_fake_cub(tmp_path / "CUB_200_2011", n_classes=4, images_per_class=1, size=8)
    (root / "image_class_labels.txt").write_text("1 one\n")
    with pytest.raises(ValueError, match="integer"):
        CUB200(root)
