"""Harmonic loss and the distance families of harmonic_distances (Rethinking the Harmonic Loss via
Non-Euclidean Distance Layers; original: Baek et al., arXiv 2502.01628).

References:
- scipy.spatial.distance.cdist for every textbook metric (``official=False``) and, where the paper's
  layer is the textbook metric up to eps, for ``official=True`` too;
- hand-worked cases of the paper's own Bray-Curtis (denominator |sum(x + w)|) and "Chebyshev"
  (softmax-weighted mean of standardised gaps), where they differ from scipy;
- the grow-crystals ``DistLayer`` identity p = softmax(-2n log d) (squared distance in the code);
- sklearn PCA / StandardScaler for ``pca_structure``;
- a tiny fake torchvision folder for ``mlcompanion.data.small_images``.
"""

import gzip
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.spatial.distance import cdist
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from mlcompanion.data import DatasetNotFoundError
from mlcompanion.data.small_images import check_small_images_layout, load_small_images
from mlcompanion.distances.families import DISTANCE_KINDS, FAMILY_DEFAULTS, is_squared, pairwise
from mlcompanion.losses.harmonic import (
    HEAD_DISTANCES,
    HarmonicHead,
    HarmonicLoss,
    grow_crystals_distlayer,
    harmonic_logits,
    harmonic_loss,
    pca_structure,
)


def rand(n, d, seed=0, dtype=torch.float64, scale=1.0, shift=0.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=dtype) * scale + shift


def spd(d, seed=0):
    a = rand(d, d, seed)
    return a @ a.T / d + torch.eye(d, dtype=torch.float64)


# ------------------------------------------------------------------ distances against scipy

SCIPY = {  # kind -> (scipy metric, kwargs)
    "euclidean": ("euclidean", {}),
    "manhattan": ("cityblock", {}),
    "cosine": ("cosine", {}),
    "cosine_unstable": ("cosine", {}),
    "minkowski": ("minkowski", {"p": 1.5}),
    "chebyshev": ("chebyshev", {}),
    "chebyshev_smooth": ("chebyshev", {}),
    "canberra": ("canberra", {}),
    "bray_curtis": ("braycurtis", {}),
    "bray_curtis_abs": ("braycurtis", {}),
    "bray_curtis_normalized": ("braycurtis", {}),
}


@pytest.mark.parametrize("kind", sorted(SCIPY))
def test_textbook_matches_scipy(kind):
    x, w = rand(7, 5, 1, shift=0.2), rand(4, 5, 2)
    metric, kw = SCIPY[kind]
    ref = cdist(x.numpy(), w.numpy(), metric, **kw)
    ours = pairwise(x, w, kind, official=False).numpy()
    assert ours.shape == (7, 4)
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12)


def test_mahalanobis_matches_scipy_with_vi():
    x, w, P = rand(6, 4, 3), rand(3, 4, 4), spd(4, 5)
    ref = cdist(x.numpy(), w.numpy(), "mahalanobis", VI=P.numpy())
    np.testing.assert_allclose(pairwise(x, w, "mahalanobis", official=False, precision=P).numpy(), ref, rtol=1e-10)
    # official: sqrt(q + eps)
    off = pairwise(x, w, "mahalanobis", precision=P, eps=1e-4).numpy()
    np.testing.assert_allclose(off, np.sqrt(ref ** 2 + 1e-4), rtol=1e-10)


@pytest.mark.parametrize("kind,metric,kw", [
    ("euclidean", "sqeuclidean", {}), ("manhattan", "cityblock", {}), ("cosine", "cosine", {}),
])
def test_official_is_textbook_plus_eps(kind, metric, kw):
    """The min-normalised layers: official D = scipy metric + eps (Euclidean **squared**)."""
    x, w = rand(9, 6, 6), rand(5, 6, 7)
    ref = cdist(x.numpy(), w.numpy(), metric, **kw)
    np.testing.assert_allclose(pairwise(x, w, kind).numpy(), ref + 1e-4, rtol=1e-9, atol=1e-12)
    assert is_squared(kind) == (kind != "manhattan")


def test_official_minkowski_close_to_scipy():
    x, w = rand(5, 8, 8), rand(3, 8, 9)
    ref = cdist(x.numpy(), w.numpy(), "minkowski", p=3.0)
    np.testing.assert_allclose(pairwise(x, w, "minkowski", p=3.0).numpy(), ref, rtol=1e-3)
    # eps = 0 is floored at 1e-6 as in the official layer, so agreement is to ~1e-6, not exact
    np.testing.assert_allclose(pairwise(x, w, "minkowski", p=3.0, eps=0.0).numpy(), ref, rtol=1e-5)


def test_bray_curtis_paper_vs_scipy():
    """Paper: sum|x-w| / max(|sum(x+w)| + eps, 10 eps); scipy: sum|x-w| / sum|x+w|."""
    # non-negative inputs: equal up to eps (eps = 0 is floored at 1e-6, as in the official layer)
    x, w = rand(6, 5, 10).abs(), rand(4, 5, 11).abs()
    ref = cdist(x.numpy(), w.numpy(), "braycurtis")
    np.testing.assert_allclose(pairwise(x, w, "bray_curtis", eps=0.0).numpy(), ref, rtol=1e-6)
    np.testing.assert_allclose(pairwise(x, w, "bray_curtis").numpy(), ref, rtol=1e-2)
    # hand case with signed inputs: x = (1, -2), w = (0.5, 1)
    x = torch.tensor([[1.0, -2.0]], dtype=torch.float64)
    w = torch.tensor([[0.5, 1.0]], dtype=torch.float64)
    num = 0.5 + 3.0
    assert pairwise(x, w, "bray_curtis", eps=1e-3).item() == pytest.approx(num / (abs(1.5 - 1.0) + 1e-3))
    assert pairwise(x, w, "bray_curtis_abs", eps=1e-3).item() == pytest.approx(num / (4.5 + 1e-3))
    assert pairwise(x, w, "bray_curtis", official=False).item() == pytest.approx(num / (1.5 + 1.0))
    scipy_value = cdist(x.numpy(), w.numpy(), "braycurtis").item()
    assert scipy_value == pytest.approx(1.4)  # 3.5 / 2.5
    assert pairwise(x, w, "bray_curtis").item() > 4 * scipy_value  # 6.99 vs 1.4: the paper's is not scipy's
    # denominator floored at 10 eps when sum(x + w) = 0
    z = torch.tensor([[1.0, -1.0]], dtype=torch.float64)
    assert pairwise(z, -z, "bray_curtis", eps=1e-3).item() == pytest.approx(4.0 / 1e-2)
    # normalized variant: both sides sum to 1, so D = L1 of the normalised |.| / 2 (up to eps)
    xp, wp = x.abs() + 1e-3, w.abs() + 1e-3
    expect = (xp / xp.sum() - wp / wp.sum()).abs().sum() / (2.0 + 1e-3)
    assert pairwise(x, w, "bray_curtis_normalized").item() == pytest.approx(expect.item())


def test_chebyshev_paper_vs_scipy():
    """Paper: delta = |x-w| / (std|x-w| + eps), D = sum softmax(delta) delta; scipy: max |x-w|."""
    x = torch.tensor([[0.0, 0.0, 0.0]], dtype=torch.float64)
    w = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64)
    delta = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64) / (1.0 + 1e-4)  # unbiased std of (1,2,3) = 1
    expect = (torch.softmax(delta, 0) * delta).sum().item()
    assert pairwise(x, w, "chebyshev").item() == pytest.approx(expect, rel=1e-12)
    assert expect == pytest.approx(2.5752, abs=1e-3)  # below the max of delta, above its mean
    assert pairwise(x, w, "chebyshev", official=False).item() == 3.0 == cdist(x.numpy(), w.numpy(), "chebyshev").item()
    # the paper's form is scale-invariant (standardised), scipy's is not
    assert pairwise(10 * x, 10 * w, "chebyshev").item() == pytest.approx(expect, rel=1e-3)
    smooth = torch.logsumexp(10 * delta, 0).item() / 10
    assert pairwise(x, w, "chebyshev_smooth").item() == pytest.approx(smooth, rel=1e-12)
    # alpha clamped to 20 and alpha * delta clamped to 50, like the code (this caps D at ~2.5 here)
    capped = torch.logsumexp((20 * delta).clamp(max=50.0), 0).item() / 20
    assert pairwise(x, w, "chebyshev_smooth", alpha=1000.0).item() == pytest.approx(capped, rel=1e-12)
    assert capped < 2.51


def test_canberra_official_handles_zero_terms():
    x = torch.tensor([[0.0, 1.0]], dtype=torch.float64)
    w = torch.tensor([[0.0, 3.0]], dtype=torch.float64)
    assert pairwise(x, w, "canberra", official=False).item() == pytest.approx(0.5)  # scipy skips 0/0
    assert pairwise(x, w, "canberra").item() == pytest.approx(0.5)
    assert cdist(x.numpy(), w.numpy(), "canberra").item() == pytest.approx(0.5)


# ------------------------------------------------------------------ the harmonic layer


def test_euclidean_harmonic_is_softmax_of_minus_2n_log_d():
    x, w = rand(10, 6, 12), rand(7, 6, 13)
    for n in (1.0, 3.0, 28.0):
        ours = harmonic_logits(pairwise(x, w, "euclidean", eps=1e-4), n)
        d = torch.sqrt(torch.cdist(x, w) ** 2 + 1e-4)
        ref = F.log_softmax(-2 * n * d.log(), dim=1)
        assert torch.allclose(ours, ref, atol=1e-10)
        gc = grow_crystals_distlayer(x, w, n, eps=1e-4)
        assert torch.allclose(ours.exp(), gc, atol=1e-10)
        head = HarmonicHead(6, 7, "euclidean", n=n).double()
        with torch.no_grad():
            head.weight.copy_(w)
        assert torch.allclose(head(x), ref, atol=1e-10)
    # float32 grow-crystals layer (code n = 1) vs softmax(-2 log d): the brief's identity, tol 1e-6
    x32, w32 = x.float(), w.float()
    ref32 = F.softmax(-2 * torch.sqrt(torch.cdist(x, w) ** 2 + 1e-4).log(), dim=1).float()
    assert (grow_crystals_distlayer(x32, w32, 1.0) - ref32).abs().max() < 1e-6


def test_harmonic_max_hand_case_and_invariances():
    d = torch.tensor([[1.0, 2.0, 4.0]], dtype=torch.float64)
    p = harmonic_logits(d, 1.0).exp()
    assert torch.allclose(p, torch.tensor([[4.0, 2.0, 1.0]], dtype=torch.float64) / 7)  # d^-1 / sum
    p2 = harmonic_logits(d, 2.0).exp()
    assert torch.allclose(p2, torch.tensor([[16.0, 4.0, 1.0]], dtype=torch.float64) / 21)
    big = rand(5, 9, 14).abs() + 0.1
    base = harmonic_logits(big, 3.0)
    assert torch.allclose(base.exp().sum(1), torch.ones(5, dtype=torch.float64))
    for c in (1e-6, 0.37, 1e6):  # scale invariance: min-normalisation changes nothing
        assert torch.allclose(harmonic_logits(big * c, 3.0), base, atol=1e-10)
    row_scale = torch.tensor([[0.1], [1.0], [7.0], [1e3], [2.0]], dtype=torch.float64)
    assert torch.allclose(harmonic_logits(big * row_scale, 3.0), base, atol=1e-10)
    # large n does not overflow (the naive power would)
    huge = harmonic_logits(big, 784.0)
    assert torch.isfinite(huge).all() and not torch.isfinite(big.pow(-784.0)).all()
    # official min-normalising layers: psi = (D / min D)^-n gives the same p
    D = pairwise(rand(4, 3, 15), rand(6, 3, 16), "manhattan")
    psi = (D / D.min(1, keepdim=True).values).pow(-2.0)
    assert torch.allclose(harmonic_logits(D, 2.0).exp(), psi / psi.sum(1, keepdim=True), atol=1e-12)


def test_non_min_normalised_head_matches_official_formula():
    x = rand(5, 4, 17)
    head = HarmonicHead(4, 3, "bray_curtis_abs", n=1.0).double()
    D = pairwise(x, head.weight, "bray_curtis_abs")
    psi = (D + 1e-3).clamp(1e-3, 1e6).pow(-1.0)
    ref = (psi / psi.sum(1, keepdim=True)).log()
    assert torch.allclose(head(x), ref, atol=1e-12)


def test_harmonic_loss_is_nll_and_cross_entropy():
    log_p = harmonic_logits(rand(8, 5, 18).abs() + 0.05, 2.0)
    y = torch.tensor([0, 1, 2, 3, 4, 0, 1, 2])
    ref = -log_p[torch.arange(8), y].mean()
    assert torch.allclose(harmonic_loss(log_p, y), ref)
    assert torch.allclose(HarmonicLoss()(log_p, y), F.cross_entropy(log_p, y))
    assert HarmonicLoss("none")(log_p, y).shape == (8,)


@pytest.mark.parametrize("distance", HEAD_DISTANCES)
def test_gradcheck_every_head(distance):
    torch.manual_seed(0)
    head = HarmonicHead(4, 3, distance, n=1.5).double()
    with torch.no_grad():
        head.weight.add_(0.3)  # keep away from kinks of |.| (x != w coordinate-wise)
    x = (rand(5, 4, 19) + 0.05).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a: head(a), (x,), eps=1e-6, atol=1e-5)
    y = torch.tensor([0, 1, 2, 0, 1])
    loss = HarmonicLoss()(head(x), y)
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in head.parameters())


def test_finite_gradient_when_feature_equals_prototype():
    for distance in ("euclidean", "cosine", "mahalanobis", "bray_curtis"):
        head = HarmonicHead(3, 4, distance, n=8.0).double()
        x = head.weight[1:2].detach().clone().requires_grad_(True)
        out = head(x)
        assert torch.isfinite(out).all()
        assert out.exp()[0, 1] > 0.5  # the matching class dominates
        out[0, 1].backward()
        assert torch.isfinite(x.grad).all() and torch.isfinite(head.weight.grad).all()


# ------------------------------------------------------------------ bad inputs


def test_bad_inputs():
    d = torch.tensor([[0.0, 1.0]], dtype=torch.float64)
    with pytest.raises(ValueError, match="zero distance"):
        harmonic_logits(d, 1.0)
    out = harmonic_logits(d, 1.0, eps=1e-4)  # eps > 0: finite, mass on the zero-distance class
    assert torch.isfinite(out).all() and out.exp()[0, 0] > 0.999
    with pytest.raises(ValueError, match="non-negative"):
        harmonic_logits(torch.tensor([[-0.5, 1.0]]), 1.0)
    with pytest.raises(ValueError, match="finite"):
        harmonic_logits(torch.tensor([[float("nan"), 1.0]]), 1.0)
    with pytest.raises(ValueError, match="n must be"):
        harmonic_logits(torch.ones(2, 2), 0.0)
    with pytest.raises(ValueError, match="2-D"):
        harmonic_logits(torch.ones(3), 1.0)
    with pytest.raises(ValueError, match="finite"):
        pairwise(torch.tensor([[float("nan"), 0.0]]), torch.ones(2, 2), "manhattan")
    with pytest.raises(ValueError, match="same feature size"):
        pairwise(torch.ones(2, 3), torch.ones(2, 2), "manhattan")
    with pytest.raises(ValueError, match="kind must be one of"):
        pairwise(torch.ones(2, 3), torch.ones(2, 3), "hamming_hard")
    with pytest.raises(ValueError, match="precision"):
        pairwise(torch.ones(2, 3), torch.ones(2, 3), "mahalanobis")
    with pytest.raises(ValueError, match=r"\(3, 3\)"):
        pairwise(torch.ones(2, 3), torch.ones(2, 3), "mahalanobis", precision=torch.eye(2))
    with pytest.raises(ValueError, match="d >= 2"):
        pairwise(torch.ones(2, 1), torch.ones(2, 1), "chebyshev")
    with pytest.raises(ValueError, match="distance must be one of"):
        HarmonicHead(3, 2, "hamming")
    with pytest.raises(ValueError, match="unknown distance options"):
        HarmonicHead(3, 2, "minkowski", q=2)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 1\]"):
        harmonic_loss(torch.zeros(2, 2), torch.tensor([0, 2]))
    # signed inputs are allowed in every family (no family requires non-negative inputs):
    # the paper's Bray-Curtis stays finite where sum(x + w) = 0 thanks to its 10 eps floor
    z = torch.tensor([[1.0, -1.0]])
    assert torch.isfinite(pairwise(z, -z, "bray_curtis")).all()
    assert set(FAMILY_DEFAULTS) == set(DISTANCE_KINDS)


# ------------------------------------------------------------------ PCA structure


def test_pca_structure_matches_sklearn():
    g = np.random.default_rng(0)
    a = g.normal(size=(200, 2)) @ g.normal(size=(2, 12)) + 1e-3 * g.normal(size=(200, 12))
    s = pca_structure(a, standardize=False)
    assert s["pc2_ev"] > 0.999 and s["pca90"] <= 2
    b = g.normal(size=(120, 30)) * np.linspace(3, 0.1, 30)
    ref = PCA(n_components=20).fit(StandardScaler().fit_transform(b)).explained_variance_ratio_
    s = pca_structure(b, n_components=20)
    assert s["pc2_ev"] == pytest.approx(ref[:2].sum(), rel=1e-9)
    assert s["pca90"] == int(np.argmax(np.cumsum(ref) >= 0.9) + 1) if (np.cumsum(ref) >= 0.9).any() else 20
    q = (ref + 1e-12) / (ref + 1e-12).sum()
    assert s["effective_rank"] == pytest.approx(np.exp(-(q * np.log(q)).sum()), rel=1e-9)
    assert s["participation_ratio"] == pytest.approx(1 / (ref ** 2).sum(), rel=1e-9)
    with pytest.raises(ValueError, match="finite"):
        pca_structure(np.array([[np.nan, 1.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="n >= 2"):
        pca_structure(np.ones((1, 3)))


# ------------------------------------------------------------------ data loader (fake folder)


def _idx(path, arr):
    header = (0x0800 + arr.ndim).to_bytes(4, "big") + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def test_vision_loader_on_fake_folders(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    imgs = np.arange(3 * 28 * 28).reshape(3, 28, 28) % 256
    for prefix, n in (("train", 3), ("t10k", 2)):
        _idx(raw / f"{prefix}-images-idx3-ubyte.gz", imgs[:n])
        _idx(raw / f"{prefix}-labels-idx1-ubyte.gz", np.array([7, 1, 4][:n]))
    x, y = load_small_images("mnist", tmp_path, "train")
    assert x.shape == (3, 1, 28, 28) and x.dtype == torch.float32 and y.tolist() == [7, 1, 4]
    assert x[0, 0, 0, 5].item() == pytest.approx(5 / 255)
    assert load_small_images("mnist", tmp_path, "test")[0].shape == (2, 1, 28, 28)
    c100 = tmp_path / "cifar-100-python"
    c100.mkdir()
    for split, n in (("train", 4), ("test", 2)):
        data = {b"data": np.full((n, 3072), 255, np.uint8), b"fine_labels": list(range(n)), b"coarse_labels": [0] * n}
        (c100 / split).write_bytes(pickle.dumps(data))
    x, y = load_small_images("cifar100", tmp_path, "train")
    assert x.shape == (4, 3, 32, 32) and float(x.max()) == 1.0 and y.tolist() == [0, 1, 2, 3]
    with pytest.raises(DatasetNotFoundError, match=r"(?s)CIFAR-10 dataset not found.*data_batch_1"):
        check_small_images_layout("cifar10", tmp_path)
    with pytest.raises(DatasetNotFoundError, match="root is None"):
        load_small_images("mnist", None)
    with pytest.raises(ValueError, match="dataset must be one of"):
        load_small_images("svhn", tmp_path)
