"""Tests of mlcompanion.losses.equiangular (EBV generation, head and loss) and mlcompanion.data.imagenet.

Reference for the loss: pytorch-metric-learning 2.9.0 ``NormalizedSoftmaxLoss`` used as a *fixed*
classifier. Adapter: its weight ``W`` has the layout (embedding_size, num_classes) and is normalised
along dim 0, so ``pml.W.data = basis.T``; its default temperature is 0.05, so 0.07 is passed; it has
no label smoothing, so it is compared with ``EquiangularLoss(..., label_smoothing=0)``; and
``requires_grad_(False)`` freezes it as the EBVs are frozen.
"""

from __future__ import annotations

import math
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from mlcompanion.data.folders import DatasetNotFoundError
from mlcompanion.data.imagenet import ImageNet1K, check_imagenet_layout
from mlcompanion.losses.equiangular import (
    EquiangularGenerationError,
    EquiangularHead,
    EquiangularLoss,
    NormFaceHead,
    generate_equiangular_basis,
    load_official_basis,
    max_abs_cosine,
    random_unit_vectors,
    search_equiangular_basis,
    welch_bound,
)

pml_losses = pytest.importorskip("pytorch_metric_learning.losses")


def _batch(n=12, d=16, n_cls=10, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=dtype), torch.randint(0, n_cls, (n,), generator=g)


# ------------------------------------------------------------------ loss against the reference


@pytest.mark.parametrize("n_cls,d", [(10, 16), (40, 8)])
def test_loss_equals_pml_normalized_softmax_with_frozen_ebv_weights(n_cls, d):
    basis = generate_equiangular_basis(n_cls, d, threshold=max(0.002, 2 * welch_bound(n_cls, d)), seed=1)
    x, y = _batch(n=32, d=d, n_cls=n_cls, seed=3)
    ref = pml_losses.NormalizedSoftmaxLoss(num_classes=n_cls, embedding_size=d, temperature=0.07)
    ref.W.data = basis.t().clone()  # PML layout (embedding_size, num_classes)
    ref.W.requires_grad_(False)
    ours = EquiangularLoss(basis, label_smoothing=0.0)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    l_ref, l_ours = ref(x1, y), ours(x2, y)
    torch.testing.assert_close(l_ours, l_ref, rtol=1e-6, atol=1e-6)
    l_ref.backward(), l_ours.backward()
    torch.testing.assert_close(x2.grad, x1.grad, rtol=1e-5, atol=1e-7)


def test_pml_default_temperature_differs():
    """The adapter matters: with PML's default temperature 0.05 the values differ."""
    basis = generate_equiangular_basis(10, 16)
    x, y = _batch()
    ref = pml_losses.NormalizedSoftmaxLoss(num_classes=10, embedding_size=16)
    ref.W.data = basis.t().clone()
    assert not torch.isclose(ref(x, y), EquiangularLoss(basis, label_smoothing=0.0)(x, y))


def test_label_smoothing_by_hand():
    basis = generate_equiangular_basis(10, 16)
    x, y = _batch(dtype=torch.float64)
    eps, tau = 0.1, 0.07
    cos = F.normalize(x, dim=1) @ basis.double().t()
    logp = torch.log_softmax(cos / tau, dim=1)
    q = torch.full_like(logp, eps / 10)
    q[torch.arange(len(y)), y] += 1 - eps
    expected = -(q * logp).sum(1).mean()
    torch.testing.assert_close(EquiangularLoss(basis)(x, y), expected)
    assert EquiangularLoss(basis).label_smoothing == 0.1 and EquiangularLoss(basis).head.temperature == 0.07


def test_head_is_fixed_and_sequential_model_matches_loss():
    basis = generate_equiangular_basis(10, 16)
    head = EquiangularHead(basis)
    assert list(head.parameters()) == [] and not head.basis.requires_grad
    assert "basis" in head.state_dict()
    torch.testing.assert_close(head.basis.norm(dim=1), torch.ones(10))
    backbone = nn.Linear(5, 16)
    model = nn.Sequential(backbone, head)
    x, y = torch.randn(7, 5), torch.randint(0, 10, (7,))
    ce = nn.CrossEntropyLoss(label_smoothing=0.1)(model(x), y)
    torch.testing.assert_close(ce, EquiangularLoss(basis)(backbone(x), y))
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in backbone.parameters())


def test_normface_head_is_the_learnable_ebv_head():
    """Same logits as EquiangularHead when its weights are the basis; the weights are trainable and
    their scale does not matter; it equals pytorch-metric-learning's normalized softmax logits."""
    basis = generate_equiangular_basis(10, 16)
    torch.manual_seed(0)
    head = NormFaceHead(10, 16, temperature=0.07)
    assert [p.shape for p in head.parameters()] == [torch.Size([10, 16])] and head.weight.requires_grad
    with torch.no_grad():
        head.weight.copy_(3.0 * basis)
    x, y = _batch(n=9, d=16, n_cls=10)
    torch.testing.assert_close(head(x), EquiangularHead(basis)(x))
    ce = F.cross_entropy(head(x), y)
    ce.backward()
    assert head.weight.grad is not None and torch.isfinite(head.weight.grad).all()
    pml = pml_losses.NormalizedSoftmaxLoss(num_classes=10, embedding_size=16, temperature=0.07)
    pml.W.data = head.weight.detach().t().clone()
    torch.testing.assert_close(pml(x, y), ce.detach())
    assert head(x.half()).dtype == torch.float16
    for bad in (dict(num_classes=1, dim=4), dict(num_classes=3, dim=0), dict(num_classes=3, dim=4, temperature=0.0)):
        with pytest.raises(ValueError):
            NormFaceHead(**bad)
    with pytest.raises(ValueError):
        head(torch.randn(3, 5))


def test_predict_is_nearest_basis_vector_and_scale_invariant():
    basis = generate_equiangular_basis(10, 16)
    head = EquiangularHead(basis)
    targets = torch.tensor([3, 0, 9, 5])
    x = basis[targets] * torch.tensor([[0.5], [2.0], [10.0], [1.0]]) + 0.01 * torch.randn(4, 16)
    assert torch.equal(head.predict(x), targets)
    torch.testing.assert_close(head(x), head(3.0 * x))
    assert head(x).abs().max() <= 1 / 0.07 + 1e-4


def test_gradcheck_float64():
    basis = generate_equiangular_basis(6, 4, threshold=2 * welch_bound(6, 4), dtype=torch.float64)
    x, y = _batch(n=5, d=4, n_cls=6, dtype=torch.float64)
    x.requires_grad_()
    assert torch.autograd.gradcheck(lambda e: EquiangularLoss(basis)(e, y), (x,))
    assert torch.autograd.gradcheck(lambda e: EquiangularHead(basis)(e), (x,))


def test_empty_batch_is_zero_and_connected():
    loss = EquiangularLoss(generate_equiangular_basis(10, 16))
    x = torch.zeros(0, 16, requires_grad=True)
    out = loss(x, torch.zeros(0, dtype=torch.int64))
    assert out.item() == 0.0 and out.requires_grad
    out.backward()
    assert x.grad.shape == (0, 16)


def test_bad_inputs_of_head_and_loss():
    basis = generate_equiangular_basis(10, 16)
    loss = EquiangularLoss(basis)
    x, y = _batch()
    with pytest.raises(ValueError, match="16 columns"):
        loss(torch.randn(4, 8), y[:4])
    with pytest.raises(ValueError, match=r"labels must lie in 0\.\.9"):
        loss(x, y + 10)
    with pytest.raises(ValueError, match="one entry per embedding"):
        loss(x, y[:3])
    with pytest.raises(ValueError, match="floating-point"):
        loss(x.long(), y)
    with pytest.raises(ValueError, match="temperature"):
        EquiangularHead(basis, temperature=0.0)
    with pytest.raises(ValueError, match="label_smoothing"):
        EquiangularLoss(basis, label_smoothing=1.5)
    with pytest.raises(ValueError, match="non-zero"):
        EquiangularHead(torch.cat([basis, torch.zeros(1, 16)]))
    with pytest.raises(ValueError, match="at least 2"):
        EquiangularHead(basis[:1])
    with pytest.raises(ValueError, match="finite"):
        EquiangularHead(basis)(torch.full((2, 16), float("nan")))


# ------------------------------------------------------------------ generation


def test_welch_bound_values_and_sanity():
    assert welch_bound(1000, 100) == pytest.approx(math.sqrt(900 / (100 * 999)), abs=1e-12)
    assert welch_bound(1000, 100) == pytest.approx(0.095, abs=5e-4)  # the brief's rounded value
    assert welch_bound(128, 32) == pytest.approx(0.1537, abs=1e-4)
    assert welch_bound(64, 64) == 0.0
    for n, d in [(20, 3), (50, 8)]:  # no set beats the bound: random ones and generated ones
        assert max_abs_cosine(random_unit_vectors(n, d, seed=5)) >= welch_bound(n, d) - 1e-6
        found = search_equiangular_basis(n, d, 1.6 * welch_bound(n, d), max_steps=2000)
        assert found.max_abs_cos >= welch_bound(n, d) - 1e-6


def test_generator_reduces_max_cos_and_returns_unit_rows():
    n, d = 64, 32
    alpha = 1.3 * welch_bound(n, d)
    result = search_equiangular_basis(n, d, alpha, max_steps=5000, seed=0)
    assert result.converged and result.steps > 0
    assert result.max_abs_cos <= alpha + 1e-4 < result.history[0]
    torch.testing.assert_close(result.basis.norm(dim=1), torch.ones(n))
    assert max_abs_cosine(result.basis) == pytest.approx(result.max_abs_cos, abs=1e-6)
    assert len(result.history) == result.steps + 1


def test_generator_is_deterministic_and_seeded():
    a = generate_equiangular_basis(48, 16, threshold=0.35, seed=7)
    b = generate_equiangular_basis(48, 16, threshold=0.35, seed=7)
    c = generate_equiangular_basis(48, 16, threshold=0.35, seed=8)
    assert torch.equal(a, b) and not torch.allclose(a, c)


def test_closed_form_gradient_matches_official_sliced_autograd_and_slicing_is_irrelevant():
    n, d, alpha, lr = 30, 6, 0.5, 1e-2
    w0 = random_unit_vectors(n, d, seed=42, dtype=torch.float64)
    w = w0.clone().requires_grad_()
    for start in range(0, n, 7):  # official: row slices, |W_s W^T| - e, hinge sum, accumulated grads
        e = F.one_hot(torch.arange(start, min(n, start + 7)), n).double()
        F.relu((w[start:start + 7] @ w.t()).abs() - e - alpha).sum().backward()
    expected = F.normalize(w0 - lr * w.grad, dim=1)
    for slice_size in (7, 130):
        r = search_equiangular_basis(n, d, alpha, lr=lr, max_steps=1, seed=42, slice_size=slice_size,
                                     dtype=torch.float64)
        torch.testing.assert_close(F.normalize(r.basis, dim=1), expected)


def test_orthonormal_shortcut_when_dim_at_least_num_vectors():
    w = generate_equiangular_basis(20, 32)
    assert w.shape == (20, 32) and max_abs_cosine(w) < 1e-6
    torch.testing.assert_close(w.norm(dim=1), torch.ones(20))
    slow = generate_equiangular_basis(20, 32, orthonormal_if_possible=False, max_steps=20000)
    assert max_abs_cosine(slow) <= 0.002 + 1e-4


def test_stall_when_threshold_near_welch_bound_is_reported():
    n, d = 128, 16
    stuck = search_equiangular_basis(n, d, 1.3 * welch_bound(n, d), max_steps=1500, seed=42)
    assert not stuck.converged and stuck.collapsed
    ok = search_equiangular_basis(n, d, 2.0 * welch_bound(n, d), max_steps=1500, seed=42)
    assert ok.converged and not ok.collapsed
    with pytest.raises(EquiangularGenerationError, match=r"best reached (0\.99|1\.00).*merged"):
        generate_equiangular_basis(n, d, max_steps=1500, restarts=0)


def test_bad_inputs_of_generation():
    with pytest.raises(ValueError, match="Welch bound"):
        generate_equiangular_basis(128, 16, threshold=0.1)
    with pytest.raises(ValueError, match="< 1"):
        search_equiangular_basis(10, 4, threshold=1.0)
    with pytest.raises(ValueError, match="num_vectors"):
        generate_equiangular_basis(1, 4)
    with pytest.raises(ValueError, match="dim"):
        welch_bound(10, 0)
    with pytest.raises(ValueError, match="seed"):
        generate_equiangular_basis(10, 4, threshold=0.9, seed=-1)
    with pytest.raises(ValueError, match="lr"):
        search_equiangular_basis(10, 4, threshold=0.9, lr=0)
    with pytest.raises(ValueError, match="restarts"):
        generate_equiangular_basis(10, 4, threshold=0.9, restarts=-1)
    with pytest.raises(ValueError, match="at least 2 rows"):
        max_abs_cosine(torch.ones(1, 3))


# ------------------------------------------------------------------ official files


def test_load_official_pickle_on_cpu(tmp_path):
    basis = random_unit_vectors(12, 5, seed=3) * 2.0
    path = tmp_path / "eq_5_12.pkl"
    with open(path, "wb") as f:
        pickle.dump(basis, f)  # what Generate_EBV.py writes (there a CUDA tensor)
    torch.testing.assert_close(load_official_basis(path), F.normalize(basis, dim=1))
    with open(tmp_path / "evil.pkl", "wb") as f:
        pickle.dump(Path("x"), f)
    with pytest.raises(pickle.UnpicklingError, match="torch tensor only"):
        load_official_basis(tmp_path / "evil.pkl")
    with pytest.raises(FileNotFoundError, match="eq_<d>_<N>"):
        load_official_basis(tmp_path / "missing.pkl")


def test_load_real_official_file_if_present():
    path = os.environ.get("EBV_OFFICIAL_PKL")  # e.g. .../EBV_pkl/eq_100_1000.pkl
    if not path or not os.path.isfile(path):
        pytest.skip("set EBV_OFFICIAL_PKL to an official eq_<d>_<N>.pkl to run this check")
    w = load_official_basis(path)
    assert w.shape[0] == 1000 and max_abs_cosine(w) < 0.2


# ------------------------------------------------------------------ ImageNet folder loader


def _fake_imagenet(root: Path, wnids=("n01440764", "n01443537", "n01484850"), per_class=2, val_flat=False):
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for w in wnids:
            folder = root / "imagenet" / split / ("" if (split == "val" and val_flat) else w)
            folder.mkdir(parents=True, exist_ok=True)
            for k in range(per_class):
                arr = rng.integers(0, 256, size=(8, 10, 3), dtype=np.uint8)
                Image.fromarray(arr, "RGB").save(folder / f"{w}_{split}_{k}.JPEG", quality=90)
        (root / "imagenet" / split / "README.txt").write_text("not an image")
    return root


def test_imagenet_loader_on_fake_folder(tmp_path):
    root = _fake_imagenet(tmp_path)
    train = ImageNet1K(root, "train")
    val = ImageNet1K(root / "imagenet", "val", transform=lambda im: torch.tensor(im.size))
    assert len(train) == 6 and train.num_classes == 3 and train.wnids[0] == "n01440764"
    assert train.labels.tolist() == [0, 0, 1, 1, 2, 2]
    img, label = train[3]
    assert img.mode == "RGB" and img.size == (10, 8) and label == 1
    assert val[0][0].tolist() == [10, 8]
    sub = ImageNet1K(root, "val", classes=2)
    assert len(sub) == 4 and sub.num_classes == 2
    with pytest.raises(ValueError, match="classes"):
        ImageNet1K(root, "val", classes=4)
    with pytest.raises(ValueError, match="split"):
        ImageNet1K(root, "test")
    with pytest.raises(IndexError):
        train[6]


def test_imagenet_missing_or_broken_layout_fails_clearly(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="ImageNet-1K dataset not found.*does not exist"):
        ImageNet1K(tmp_path / "nowhere")
    with pytest.raises(DatasetNotFoundError, match="root is None"):
        check_imagenet_layout(None)
    (tmp_path / "a" / "train" / "n1").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError, match="missing 'val/'") as err:
        check_imagenet_layout(tmp_path / "a")
    assert "image-net.org" in str(err.value) and "n01440764" in str(err.value)
    root = _fake_imagenet(tmp_path / "b", val_flat=True)
    with pytest.raises(DatasetNotFoundError, match="no class folders"):
        check_imagenet_layout(root)
    (tmp_path / "c" / "train" / "n1").mkdir(parents=True)
    (tmp_path / "c" / "val" / "n2").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError, match="same class folders"):
        check_imagenet_layout(tmp_path / "c")
