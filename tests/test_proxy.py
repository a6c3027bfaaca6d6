"""NormalizedSoftmaxLoss (mlcompanion.losses.proxy) and nearest-centroid evaluation (mlcompanion.metrics.centroid)
for hyperspherical_embedding; the small-image loaders (mlcompanion.data.small_images) on fake folders.

Adapter to pytorch-metric-learning 2.9.0: ``pml.NormalizedSoftmaxLoss(num_classes, embedding_size,
temperature=T)`` stores its weights as W of shape (embedding_size, num_classes) and normalises them
along dim 0; its default distance DotProductSimilarity normalises the embeddings. We copy ours
across as ``pml.W = ours.W.T`` (the temperature is passed explicitly on both sides; both default to
0.05), so both compute cross-entropy on cos(z, W_k) / T with the same class weights.

Nearest centroid vs scikit-learn's NearestCentroid: with metric="euclidean" ours is its rule exactly
(plain mean centroids). For cosine, sklearn is fitted on our re-normalised centroids (one point per
class, so its centroid is that point) and asked to predict the L2-normalised queries: on the unit
sphere argmin ||q - c|| == argmax cos(q, c).
"""

import gzip
import math
import pickle

import numpy as np
import pytest
import torch
from pytorch_metric_learning import losses as pml_losses
from sklearn.neighbors import NearestCentroid

from mlcompanion.data.folders import DatasetNotFoundError
from mlcompanion.data.small_images import load_small_images
from mlcompanion.losses.proxy import NormalizedSoftmaxLoss
from mlcompanion.metrics.centroid import (
    centroid_accuracy,
    class_centroids,
    fewshot_episodes,
    nearest_centroid_predict,
    split_support_query,
)


def batch(seed, n=24, d=8, c=5, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return 3 * torch.randn(n, d, generator=g, dtype=dtype), torch.randint(0, c, (n,), generator=g)


# ---------------------------------------------------------------- normalized softmax

@pytest.mark.parametrize("temperature", [0.05, 0.1, 1.0])
def test_ns_matches_pml(temperature):
    for seed in range(10):
        x, y = batch(seed)
        ours = NormalizedSoftmaxLoss(5, 8, temperature=temperature).double()
        pml = pml_losses.NormalizedSoftmaxLoss(5, 8, temperature=temperature).double()
        pml.W.data = ours.W.detach().t().clone()  # adapter: (C, d) -> pml's (d, C)
        assert ours(x, y).item() == pytest.approx(pml(x, y).item(), abs=1e-10), seed


def test_ns_gradients_match_pml():
    x, y = batch(3)
    ours = NormalizedSoftmaxLoss(5, 8, temperature=0.05).double()
    pml = pml_losses.NormalizedSoftmaxLoss(5, 8, temperature=0.05).double()
    pml.W.data = ours.W.detach().t().clone()
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    ours(xa, y).backward()
    pml(xb, y).backward()
    torch.testing.assert_close(xa.grad, xb.grad, atol=1e-10, rtol=0)
    torch.testing.assert_close(ours.weight.grad, pml.W.grad.t(), atol=1e-10, rtol=0)


def test_ns_hand_vector():
    loss = NormalizedSoftmaxLoss(2, 2, temperature=0.05)
    loss.set_class_weights(torch.eye(2))
    z = torch.tensor([[1.0, 1.0], [2.0, 0.0]])
    y = torch.tensor([0, 0])
    per = loss.per_sample(z, y)
    assert per[0].item() == pytest.approx(math.log(2), abs=1e-6)
    assert per[1].item() == pytest.approx(math.log1p(math.exp(-20)), abs=1e-7)
    assert loss(z, y).item() == pytest.approx(0.346574, abs=1e-6)


def test_ns_invariances_and_sign():
    x, y = batch(1)
    loss = NormalizedSoftmaxLoss(5, 8, temperature=0.1).double()
    base = loss(x, y)
    assert base.item() >= 0
    scales = torch.rand(len(x), 1, dtype=torch.float64) * 10 + 0.1
    assert loss(x * scales, y).item() == pytest.approx(base.item(), abs=1e-12)
    loss.set_class_weights(loss.W.detach() * torch.arange(1, 6, dtype=torch.float64)[:, None])
    assert loss(x, y).item() == pytest.approx(base.item(), abs=1e-12)


def test_ns_zero_temperature_limit():
    x, y = batch(2)
    T = 1e-3
    loss = NormalizedSoftmaxLoss(5, 8, temperature=T).double()
    cos = torch.nn.functional.normalize(x, dim=1) @ torch.nn.functional.normalize(loss.W.detach(), dim=1).t()
    target = cos.gather(1, y[:, None])
    others = cos.masked_fill(torch.nn.functional.one_hot(y, 5).bool(), -math.inf).max(1, keepdim=True).values
    limit = torch.relu(others - target).mean()
    assert T * loss(x, y).item() == pytest.approx(limit.item(), abs=5e-3)


def test_ns_gradcheck():
    x, y = batch(4, n=6, d=4, c=3)
    loss = NormalizedSoftmaxLoss(3, 4, temperature=0.2, weight_lr_multiplier=10.0).double()
    assert torch.autograd.gradcheck(lambda xx: loss(xx, y), (x.clone().requires_grad_(),))
    v = loss.weight.detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda vv: torch.func.functional_call(loss, {"weight": vv}, (x, y)), (v,))


def test_ns_weight_lr_multiplier_under_adam():
    """Adam on m*V equals Adam with lr*m on W (the multiplier is a learning-rate multiplier)."""
    x, y = batch(6, dtype=torch.float32)
    fast = NormalizedSoftmaxLoss(5, 8, temperature=0.05, weight_lr_multiplier=10.0)
    plain = NormalizedSoftmaxLoss(5, 8, temperature=0.05)
    plain.set_class_weights(fast.W.detach())
    opt_fast = torch.optim.Adam(fast.parameters(), lr=1e-3, eps=1e-12)
    opt_plain = torch.optim.Adam(plain.parameters(), lr=1e-2, eps=1e-12)
    for _ in range(5):
        for loss, opt in ((fast, opt_fast), (plain, opt_plain)):
            opt.zero_grad()
            loss(x, y).backward()
            opt.step()
    torch.testing.assert_close(fast.W, plain.W, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(fast.W, NormalizedSoftmaxLoss(5, 8).W)  # it moved


def test_ns_empty_batch_and_half():
    loss = NormalizedSoftmaxLoss(5, 8)
    out = loss(torch.zeros(0, 8), torch.zeros(0, dtype=torch.long))
    assert out.item() == 0.0 and out.requires_grad
    out.backward()
    assert torch.all(loss.weight.grad == 0)
    x, y = batch(0, dtype=torch.float32)
    assert torch.isfinite(loss(x.half(), y))


@pytest.mark.parametrize("call,match", [
    (lambda l: l(torch.randn(4, 7), torch.zeros(4, dtype=torch.long)), "8 columns"),
    (lambda l: l(torch.randn(4, 8), torch.tensor([0, 1, 2, 5])), r"0\.\.4"),
    (lambda l: l(torch.randn(4, 8), torch.tensor([0, 1, 2, -1])), r"0\.\.4"),
    (lambda l: l(torch.randn(4, 8), torch.zeros(3, dtype=torch.long)), "one entry per embedding"),
    (lambda l: l(torch.randn(4, 8), torch.zeros(4)), "integer"),
    (lambda l: l(torch.full((4, 8), float("nan")), torch.zeros(4, dtype=torch.long)), "finite"),
    (lambda l: l(torch.randn(4, 8, 1), torch.zeros(4, dtype=torch.long)), "2-D"),
    (lambda l: l.set_class_weights(torch.randn(4, 8)), r"\(5, 8\)"),
])
def test_ns_bad_inputs(call, match):
    with pytest.raises(ValueError, match=match):
        call(NormalizedSoftmaxLoss(5, 8))


@pytest.mark.parametrize("kwargs,match", [
    (dict(num_classes=0, embedding_dim=8), "num_classes"),
    (dict(num_classes=5, embedding_dim=2.0), "embedding_dim"),
    (dict(num_classes=5, embedding_dim=8, temperature=0), "temperature"),
    (dict(num_classes=5, embedding_dim=8, weight_lr_multiplier=-1), "weight_lr_multiplier"),
])
def test_ns_bad_construction(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NormalizedSoftmaxLoss(**kwargs)


# ---------------------------------------------------------------- nearest centroid

def clusters(seed, n_classes=6, per_class=10, d=5, noise=0.3):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(n_classes, d, generator=g, dtype=torch.float64)
    y = torch.arange(n_classes).repeat_interleave(per_class)
    return centres[y] + noise * torch.randn(len(y), d, generator=g, dtype=torch.float64), y


def test_centroid_matches_sklearn_euclidean():
    x, y = clusters(0, noise=1.5)
    s, q = split_support_query(y, 3, seed=1)
    ours = nearest_centroid_predict(x[s], y[s], x[q], metric="euclidean")
    ref = NearestCentroid().fit(x[s].numpy(), y[s].numpy()).predict(x[q].numpy())
    assert np.array_equal(ours.numpy(), ref)
    assert (ours != y[q]).any()  # noisy enough for the test to be able to fail


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # sklearn: 1 point per class
def test_centroid_matches_sklearn_cosine():
    x, y = clusters(1, noise=1.5)
    s, q = split_support_query(y, 3, seed=2)
    ours = nearest_centroid_predict(x[s], y[s], x[q], metric="cosine")
    classes, cents = class_centroids(x[s], y[s], metric="cosine")
    qn = torch.nn.functional.normalize(x[q], dim=1)
    ref = NearestCentroid().fit(cents.numpy(), classes.numpy()).predict(qn.numpy())
    assert np.array_equal(ours.numpy(), ref)
    # the plain (un-normalised) Euclidean rule differs on some query: the re-normalisation matters
    assert (nearest_centroid_predict(x[s], y[s], x[q], metric="euclidean") != ours).any()


def test_centroid_hand_case_and_one_shot():
    support = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    labels = torch.tensor([7, 3])
    classes, cents = class_centroids(support, labels)
    assert classes.tolist() == [3, 7]
    torch.testing.assert_close(cents, torch.tensor([[0.0, 1.0], [1.0, 0.0]]))  # 1-shot centroid = the (unit) support
    pred = nearest_centroid_predict(support, labels, torch.tensor([[0.9, 0.5], [0.4, 0.6], [5.0, -1.0]]))
    assert pred.tolist() == [7, 3, 7]


def test_centroid_perfect_clusters_and_permutation():
    x, y = clusters(2, noise=0.01)
    assert centroid_accuracy(x, y, shot=2)["accuracy"] == 1.0
    assert fewshot_episodes(x, y, way=3, shot=1, query=5, episodes=50)["accuracy"] == 1.0
    x2, y2 = clusters(3, noise=1.0)
    perm = torch.randperm(len(y2), generator=torch.Generator().manual_seed(0))
    s, q = split_support_query(y2, 3, seed=0)
    p1 = nearest_centroid_predict(x2[s], y2[s], x2[q])
    sp = s.nonzero().squeeze(1)[torch.randperm(int(s.sum()), generator=torch.Generator().manual_seed(1))]
    p2 = nearest_centroid_predict(x2[sp], y2[sp], x2[q])
    assert torch.equal(p1, p2)
    acc = centroid_accuracy(x2[perm], y2[perm], shot=3, seed=0)["accuracy"]
    assert 0.0 < acc < 1.0


def test_split_support_query():
    y = torch.arange(4).repeat_interleave(6)
    eligible = torch.arange(24) % 6 < 3
    s, q = split_support_query(y, 2, seed=5, eligible=eligible)
    assert torch.equal(torch.bincount(y[s]), torch.full((4,), 2))
    assert not (s & q).any() and (s | q).all()
    assert eligible[s].all()
    s2, _ = split_support_query(y, 2, seed=6, eligible=eligible)
    assert not torch.equal(s, s2)  # random draw changes with the seed


def test_centroid_groups():
    x, y = clusters(4, n_classes=4, noise=0.01)
    seen = y < 2
    out = centroid_accuracy(x, y, shot=2, groups={"seen": seen, "unseen": ~seen})
    assert out == {"accuracy": 1.0, "seen": 1.0, "unseen": 1.0}


def test_fewshot_episodes_matches_loop():
    """The vectorised episodes equal a per-episode loop over the same draws (recomputed by hand)."""
    x, y = clusters(5, n_classes=8, per_class=12, noise=1.2)
    out = fewshot_episodes(x, y, way=4, shot=2, query=3, episodes=40, seed=3)
    assert 0.2 < out["accuracy"] < 1.0
    assert out["ci95"] == pytest.approx(1.96 * float(out["per_episode"].std()) / math.sqrt(40))
    # independent recomputation of the draws
    g = torch.Generator().manual_seed(3)
    chosen = torch.rand(40, 8, generator=g).argsort(1)[:, :4]
    keys = torch.rand(40, 4, 12, generator=g)
    picks = keys.argsort(2)[:, :, :5]
    idx_of = [torch.nonzero(y == c).squeeze(1) for c in range(8)]
    accs = []
    for e in range(40):
        sx, sy, qx, qy = [], [], [], []
        for w in range(4):
            items = idx_of[int(chosen[e, w])][picks[e, w]]
            sx.append(x[items[:2]]); sy += [w, w]
            qx.append(x[items[2:]]); qy += [w] * 3
        pred = nearest_centroid_predict(torch.cat(sx), torch.tensor(sy), torch.cat(qx))
        accs.append(float((pred == torch.tensor(qy)).double().mean()))
    assert out["per_episode"].tolist() == pytest.approx(accs)


@pytest.mark.parametrize("call,match", [
    (lambda x, y: nearest_centroid_predict(x, y, x, metric="manhattan"), "metric"),
    (lambda x, y: nearest_centroid_predict(x, y, x[:, :2]), "dimension"),
    (lambda x, y: nearest_centroid_predict(x, y[:-1], x), "one entry per embedding"),
    (lambda x, y: split_support_query(y, 10), "needs >= 10"),
    (lambda x, y: split_support_query(y, 0), "shot"),
    (lambda x, y: fewshot_episodes(x, y, way=7, shot=1, query=2), "way"),
    (lambda x, y: fewshot_episodes(x, y, way=2, shot=5, query=6), "shot \\+ query"),
    (lambda x, y: centroid_accuracy(x, y, shot=2, groups={"a": torch.ones(3, dtype=torch.bool)}), "groups"),
    (lambda x, y: class_centroids(x.long(), y), "floating-point"),
])
def test_centroid_bad_inputs(call, match):
    x, y = clusters(0)
    with pytest.raises(ValueError, match=match):
        call(x, y)


# ---------------------------------------------------------------- small-image loaders (fake folders)

def _idx(path, arr):
    arr = np.asarray(arr, dtype=np.uint8)
    header = (0x0800 + arr.ndim).to_bytes(4, "big") + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.tobytes())


def test_mnist_layout(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    imgs = np.arange(3 * 28 * 28).reshape(3, 28, 28) % 256
    _idx(raw / "train-images-idx3-ubyte.gz", imgs)
    _idx(raw / "train-labels-idx1-ubyte.gz", [4, 1, 9])
    with pytest.raises(DatasetNotFoundError, match="t10k-images-idx3-ubyte"):
        load_small_images("mnist", tmp_path, "train")
    _idx(raw / "t10k-images-idx3-ubyte.gz", imgs[:2])
    _idx(raw / "t10k-labels-idx1-ubyte.gz", [0, 2])
    x, y = load_small_images("mnist", tmp_path, "train")
    assert x.shape == (3, 1, 28, 28) and x.dtype == torch.float32 and y.tolist() == [4, 1, 9]
    assert x[0, 0, 0, 5].item() == pytest.approx(5 / 255)
    assert load_small_images("mnist", tmp_path, "test")[1].tolist() == [0, 2]


def test_cifar_layouts(tmp_path):
    c10 = tmp_path / "cifar-10-batches-py"
    c10.mkdir()
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        data = np.full((2, 3072), i, dtype=np.uint8)
        with open(c10 / name, "wb") as f:
            pickle.dump({b"data": data, b"labels": [i % 10, (i + 1) % 10]}, f)
    x, y = load_small_images("cifar10", tmp_path, "train")
    assert x.shape == (10, 3, 32, 32) and y.tolist() == [0, 1, 1, 2, 2, 3, 3, 4, 4, 5]
    assert load_small_images("cifar10", tmp_path, "test")[0].max().item() == pytest.approx(5 / 255)
    c100 = tmp_path / "cifar-100-python"
    c100.mkdir()
    for name in ("train", "test"):
        with open(c100 / name, "wb") as f:
            pickle.dump({"data": np.zeros((3, 3072), np.uint8), "fine_labels": [99, 0, 50], "coarse_labels": [1, 2, 3]}, f)
    assert load_small_images("cifar100", tmp_path, "test")[1].tolist() == [99, 0, 50]


def test_small_images_bad_inputs(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="CIFAR-100.*root is None"):
        load_small_images("cifar100", None)
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        load_small_images("fashion_mnist", tmp_path)
    with pytest.raises(ValueError, match="dataset must be one of"):
        load_small_images("svhn", tmp_path)
    with pytest.raises(ValueError, match="split"):
        load_small_images("mnist", tmp_path, "val")
