"""dynamic_subspaces (ADSL, JBHI 2022): the triplet sampler, the margin loss on its triplets, the
splitting rule, the subspace learners, divide-and-conquer re-clustering and the attention module
(mlcompanion.subspaces, mlcompanion.models.subspace).

References: a naive Python loop of the sampler's definition, a transcription of the official
``Sampler`` (``lib/loss/sampler.py`` at 84fce0a) on class-balanced batches, pytorch-metric-learning
2.9.0 ``MarginLoss(margin=0.2, nu=0, beta=1.2)`` with our triplets as ``indices_tuple`` (no eps under
its square root: exact with ``eps=0``, 1e-5 with the official eps = 1e-8), scikit-learn's
``normalized_mutual_info_score``, scipy's ``linear_sum_assignment`` (through the identity property).
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from pytorch_metric_learning import losses as pml_losses
from sklearn.cluster import KMeans
from sklearn.metrics import normalized_mutual_info_score

from mlcompanion.losses.margin import MarginLoss
from mlcompanion.metrics.retrieval import nmi
from mlcompanion.models.subspace import GlyphCNN, SpatialAttention, SubspaceEmbedding, SubspaceNet, initial_slices
from mlcompanion.subspaces import (
    SubspaceSchedule,
    cluster_batches,
    drop_singletons,
    dynamic_split,
    margin_cutoff_triplets,
    recluster,
    split_candidates,
    taylor_scores,
    train_subspace_learners,
)


def naive_sampler(x, y, cutoff=0.5):
    """The sampler's definition, one anchor at a time in plain Python."""
    n = len(y)
    d = [[math.dist(x[i].tolist(), x[j].tolist()) for j in range(n)] for i in range(n)]
    n_pos_pairs = sum(1 for i in range(n) for j in range(n) if i != j and y[i] == y[j])
    n_neg = n_pos_pairs // n
    out = []
    for i in range(n):
        pos = [j for j in range(n) if j != i and y[j] == y[i]]
        negs = sorted((d[i][j], j) for j in range(n) if y[j] != y[i] and d[i][j] >= cutoff)[:n_neg]
        negs = sorted(j for _, j in negs)
        for k in range(min(len(pos), len(negs))):
            out.append((i, pos[k], negs[k]))
    return out


def official_sampler(x, y, cutoff=0.5, infinity=1e6):
    """Transcription of the official ``Sampler.forward`` (lib/loss/sampler.py)."""
    prod = x @ x.t()
    norm = prod.diag().unsqueeze(1).expand_as(prod)
    d = (norm + norm.t() - 2 * prod).clamp(min=0).clamp(min=1e-4).sqrt()
    pos = (y.unsqueeze(0) == y.unsqueeze(1)).to(d) - torch.eye(len(d)).to(d)
    num_neg = int(pos.sum()) // len(pos)
    masked = d + infinity * ((pos > 0) | (d < cutoff)).to(d)
    index = masked.topk(max(1, min(num_neg, len(d))), dim=1, largest=False)[1]
    neg = torch.zeros_like(d).scatter(1, index, 1.0)
    a, p, n = [], [], []
    for i in range(len(d)):
        a += [i] * num_neg
        p += pos[i].nonzero().squeeze(1).tolist()
        n += neg[i].nonzero().squeeze(1).tolist()
    return a, p, n


def toy_batch(seed, n=8, d=3, c=3):
    g = torch.Generator().manual_seed(seed)
    x = F.normalize(torch.randn(n, d, generator=g, dtype=torch.float64), dim=1)
    return x, torch.randint(0, c, (n,), generator=g)


# ---------------------------------------------------------------- sampler

def test_sampler_matches_naive_loop():
    checked = 0
    for seed in range(30):
        n = 6 + seed % 3
        x, y = toy_batch(seed, n=n)
        a, p, ng = margin_cutoff_triplets(x, y)
        got = list(zip(a.tolist(), p.tolist(), ng.tolist()))
        assert got == naive_sampler(x, y), seed
        checked += len(got)
    assert checked > 20


def test_sampler_hand_checked():
    # two classes on a line: class 0 at 0, 0.1, 0.2; class 1 at 0.3, 1.0, 2.0 (1-D, not normalised)
    x = torch.tensor([[0.0], [0.1], [0.2], [0.3], [1.0], [2.0]])
    y = torch.tensor([0, 0, 0, 1, 1, 1])
    a, p, ng = margin_cutoff_triplets(x, y, cutoff=0.5)
    # 12 ordered positive pairs / 6 = 2 negatives per anchor; anchor 0: negatives beyond 0.5 are 4 (1.0), 5 (2.0)
    assert (a == 0).sum() == 2 and ng[a == 0].tolist() == [4, 5] and p[a == 0].tolist() == [1, 2]
    # anchor 3 (0.3): negatives 0, 1, 2 all closer than 0.5 -> no triplet
    assert (a == 3).sum() == 0
    # anchor 4 (1.0): negatives at distance 1.0, 0.9, 0.8 -> the two closest, 1 and 2
    assert ng[a == 4].tolist() == [1, 2]


def test_sampler_matches_official_on_balanced_batches():
    g = torch.Generator().manual_seed(0)
    for trial in range(10):
        y = torch.arange(4).repeat_interleave(8)  # 4 classes x 8 samples, as the paper's batches
        x = F.normalize(torch.randn(32, 16, generator=g, dtype=torch.float64), dim=1)
        a, p, ng = margin_cutoff_triplets(x, y)
        oa, op, on = official_sampler(x, y)
        assert (a.tolist(), p.tolist(), ng.tolist()) == (oa, op, on), trial


def test_margin_loss_on_sampler_triplets_matches_pml():
    for seed in range(6):
        g = torch.Generator().manual_seed(seed)
        y = torch.arange(4).repeat_interleave(8)
        x = torch.randn(32, 8, generator=g, dtype=torch.float64)
        trip = margin_cutoff_triplets(F.normalize(x, dim=1), y)
        assert trip[0].numel() > 0
        ref = pml_losses.MarginLoss(margin=0.2, nu=0, beta=1.2)(x, y, indices_tuple=trip)
        exact = MarginLoss(margin=0.2, beta=1.2, eps=0.0).double()(x, y, indices_tuple=trip)
        official = MarginLoss(margin=0.2, beta=1.2).double()(x, y, indices_tuple=trip)  # eps = 1e-8
        assert abs(float(exact) - float(ref)) < 1e-6 * max(1.0, abs(float(ref)))
        assert abs(float(official) - float(ref)) < 1e-5


def test_sampler_bad_inputs():
    x, y = toy_batch(0)
    with pytest.raises(ValueError):
        margin_cutoff_triplets(x, y, cutoff=-1.0)
    with pytest.raises(ValueError):
        margin_cutoff_triplets(x, y.float())
    with pytest.raises(ValueError):
        margin_cutoff_triplets(x, y[:3])
    with pytest.raises(ValueError):
        margin_cutoff_triplets(x.clone().fill_(float("nan")), y)
    a, p, n = margin_cutoff_triplets(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long))
    assert a.numel() == p.numel() == n.numel() == 0
    a, _, _ = margin_cutoff_triplets(x.half(), y)  # float16 is computed in float32
    assert a.dtype == torch.long


# ---------------------------------------------------------------- metrics used

def test_nmi_matches_sklearn():
    g = torch.Generator().manual_seed(0)
    e = torch.randn(60, 5, generator=g)
    y = torch.arange(3).repeat(20)
    e[:, 0] += 3 * y
    pred = KMeans(n_clusters=3, n_init=10, random_state=4).fit_predict(e.double().numpy())
    assert abs(nmi(e, y, seed=4) - normalized_mutual_info_score(y.numpy(), pred)) < 1e-12


# ---------------------------------------------------------------- splitting rule

def synthetic_ag(high, m=16, n=50, seed=0):
    """Activations and gradients whose Taylor scores are high on the neurons ``high``."""
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(n, m, generator=g, dtype=torch.float64) + 0.5
    grad = 0.01 * torch.rand(n, m, generator=g, dtype=torch.float64)
    grad[:, high] += 1.0
    return a, grad


def test_taylor_scores_scaling():
    a, g = synthetic_ag([1, 2])
    v = taylor_scores(a, g)
    tau = (a * g).mean(0).abs()
    tau = tau / tau.norm()
    ref = (tau - tau.min()) / (tau.max() - tau.min())
    assert torch.allclose(v.double(), ref, atol=1e-6)
    assert float(v.min()) == 0.0 and float(v.max()) == 1.0
    assert torch.equal(taylor_scores(a, torch.zeros_like(a)), torch.zeros(16))  # constant: no candidate


def test_split_rule_six_of_sixteen():
    torch.manual_seed(0)
    emb = SubspaceEmbedding(in_dim=5, dim=16, n_learners=1)
    high = [13, 2, 7, 9, 4, 11]
    a, g = synthetic_ag(high)
    w_before = emb.linear.weight.detach().clone()
    cand = split_candidates(taylor_scores(a, g), emb.learner_slices[0])
    assert sorted(cand.tolist()) == sorted(high)
    assert dynamic_split(emb, a.float(), g.float())
    assert emb.n_learners == 2
    kept, new = emb.learner_slices
    assert kept.tolist() == list(range(6)) and new.tolist() == list(range(6, 16))
    order = cand.tolist()  # best first: kept neuron i holds candidate order[i]'s weights
    assert torch.equal(emb.linear.weight[kept].detach(), w_before[order])
    assert not torch.allclose(emb.linear.weight[new].detach(), w_before[6:16])  # re-initialised


def test_split_rule_refuses():
    emb = SubspaceEmbedding(in_dim=5, dim=16, n_learners=1)
    a, g = synthetic_ag([1, 5, 9, 12])  # 4 candidates < 5
    assert split_candidates(taylor_scores(a, g)).numel() == 0
    assert not dynamic_split(emb, a.float(), g.float()) and emb.n_learners == 1
    a, g = synthetic_ag([0, 1, 2, 3, 4, 5], m=10)  # 10 neurons: not more than min_neurons = 10
    assert split_candidates(taylor_scores(a, g)).numel() == 0
    emb10 = SubspaceEmbedding(in_dim=5, dim=10, n_learners=1)
    assert not dynamic_split(emb10, a.float(), g.float()) and emb10.n_learners == 1
    a, g = synthetic_ag(list(range(16)))  # constant scores
    assert split_candidates(taylor_scores(a, g)).numel() == 0
    emb2 = SubspaceEmbedding(in_dim=5, dim=16, n_learners=1)
    a, g = synthetic_ag([13, 2, 7, 9, 4, 11])
    assert not dynamic_split(emb2, a.float(), g.float(), max_learners=1)


def test_split_rule_bad_inputs():
    with pytest.raises(ValueError):
        split_candidates(torch.tensor([0.2, 1.5]))
    with pytest.raises(ValueError):
        split_candidates(torch.tensor([0.2, float("nan")]))
    with pytest.raises(ValueError):
        split_candidates(torch.rand(16), thresh=1.0)
    with pytest.raises(ValueError):
        split_candidates(torch.rand(16), min_candidates=0)
    with pytest.raises(ValueError):
        taylor_scores(torch.rand(4, 3), torch.rand(4, 2))
    emb = SubspaceEmbedding(5, 16)
    with pytest.raises(ValueError):
        emb.split_last(list(range(16)))  # nothing left for the new learner
    with pytest.raises(ValueError):
        emb.split_last([0, 0, 1])


# ---------------------------------------------------------------- learners

def check_partition_and_norms(net, x):
    slices = net.embedding.learner_slices
    allidx = torch.cat(slices).sort().values
    assert torch.equal(allidx, torch.arange(net.embedding.dim))
    e = net(x)
    for k, idx in enumerate(slices):
        assert torch.allclose(e[:, idx].norm(dim=1), torch.ones(len(x)), atol=1e-5)
        assert torch.allclose(net(x, k=k), e[:, idx], atol=1e-6)


def test_slices_unit_norm_and_partition_through_splits():
    torch.manual_seed(0)
    net = SubspaceNet(GlyphCNN(1, (4, 8, 16)), 16, dim=32, n_learners=1, attention=True).eval()
    x = torch.rand(5, 1, 12, 12)
    check_partition_and_norms(net, x)
    net.embedding.split_last(torch.tensor([3, 7, 1, 30, 12]))
    check_partition_and_norms(net, x)
    net.embedding.split_last(net.embedding.learner_slices[-1][[4, 0, 2, 9, 11, 5]])
    check_partition_and_norms(net, x)
    assert [len(s) for s in net.embedding.learner_slices] == [5, 6, 21]
    assert [len(s) for s in initial_slices(128, 3)] == [43, 43, 42]
    with pytest.raises(ValueError):
        net(x, k=3)
    with pytest.raises(ValueError):
        initial_slices(4, 5)


def test_attention_module():
    torch.manual_seed(0)
    att = SpatialAttention(64)
    assert att.hidden == (8, 2)
    x = torch.rand(2, 64, 6, 6)
    out, a = att(x)
    assert a.shape == (2, 1, 6, 6) and bool(((a > 0) & (a < 1)).all())
    assert torch.allclose(out, x * a)
    with pytest.raises(ValueError):
        att(torch.rand(2, 32, 6, 6))


# ---------------------------------------------------------------- divide and conquer

def test_recluster_keeps_identity_under_permutation():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    member = torch.arange(4).repeat_interleave(25)
    feats = centres[member] + 0.1 * torch.randn(100, 2, generator=g)
    prev = np.array([2, 0, 3, 1])[member.numpy()]  # learner ids are a permutation of any K-means labels
    for seed in range(4):
        out = recluster(feats, 4, prev, seed=seed)
        assert np.array_equal(out, prev), seed
    # growing K (after a split): the learners that existed keep most of their data
    prev2 = np.where(member.numpy() < 2, 1, 0)
    out = recluster(feats, 4, prev2, seed=0)
    assert ((out == prev2) | (out >= 2)).mean() > 0.99


def test_drop_singletons_and_batches():
    labels = np.array([0, 0, 1, 2, 2, 1, 3])
    asg = np.array([0, 0, 0, 0, 0, 1, 1])
    out = drop_singletons(asg, labels)
    assert out.tolist() == [0, 0, -1, 0, 0, -1, -1]
    lab = np.repeat(np.arange(6), 10)
    batches = cluster_batches(np.zeros(60, dtype=np.int64), lab, 1, 4, 8, torch.Generator().manual_seed(0))
    assert len(batches) == 1
    for learner, idx in batches:
        counts = np.bincount(lab[idx.numpy()], minlength=6)
        assert learner == 0 and sorted(counts[counts > 0].tolist()) == [8, 8, 8, 8]


def test_recluster_bad_inputs():
    with pytest.raises(ValueError):
        recluster(torch.rand(5, 2), 6)
    with pytest.raises(ValueError):
        recluster(torch.rand(5, 2), 2, prev_assignment=np.array([0, 1, 2, 0, 1]))
    with pytest.raises(ValueError):
        recluster(torch.full((5, 2), float("inf")), 2)


# ---------------------------------------------------------------- training loop (tiny)

def test_train_loop_runs_and_splits_keep_partition():
    torch.manual_seed(0)
    x = torch.rand(48, 1, 12, 12)
    y = torch.arange(6).repeat_interleave(8)
    ds = torch.utils.data.TensorDataset(x, y)
    net = SubspaceNet(GlyphCNN(1, (4, 8, 16)), 16, dim=24, n_learners=2, attention=False)
    sch = SubspaceSchedule(epochs=3, finetune_epoch=2, patience=1, lr=1e-3, min_neurons=4, kmeans_n_init=1)
    r = train_subspace_learners(net, ds, y, sch, mode="fixed", validate=lambda m: 0.5, seed=0)
    assert r.iterations > 0 and len(r.curve) == 3 and r.learners == [2, 2, 2]
    with pytest.raises(ValueError):
        train_subspace_learners(net, ds, y, sch, mode="bogus", validate=lambda m: 0.5)
    with pytest.raises(ValueError):
        train_subspace_learners(net, ds, y, sch, mode="ce", validate=lambda m: 0.5)  # n_classes missing
    with pytest.raises(ValueError):
        SubspaceSchedule(score_threshold=1.0)


# ---------------------------------------------------------------- paper-profile data

def test_split_files_layout_and_reader(tmp_path):
    from PIL import Image

    from mlcompanion.data.folders import DatasetNotFoundError
    from mlcompanion.data.subspace_splits import SplitFileDataset, check_split_layout

    with pytest.raises(DatasetNotFoundError, match="ISIC_train.txt"):
        check_split_layout("isic", tmp_path)
    with pytest.raises(DatasetNotFoundError, match="data_root is not set"):
        check_split_layout("mura", None)
    with pytest.raises(ValueError):
        check_split_layout("cub200", tmp_path)
    root = tmp_path / "HyperKvasir"
    (root / "imgs").mkdir(parents=True)
    for i in range(2):
        Image.new("RGB", (8, 6), color=(i * 100, 0, 0)).save(root / "imgs" / f"{i}.jpg")
    (root / "HKVASIR_train.txt").write_text("image_id class_id path\n1 1 imgs/0.jpg\n2 23 imgs/1.jpg\n")
    (root / "HKVASIR_test.txt").write_text("image_id class_id path\n3 5 imgs/missing.jpg\n")
    train = SplitFileDataset("hkvasir", tmp_path, "train")
    assert train.labels.tolist() == [0, 22] and train.num_classes == 23 and train[1][0].size == (8, 6)
    test = SplitFileDataset("hkvasir", tmp_path, "test")
    with pytest.raises(DatasetNotFoundError, match="missing"):
        test[0]
    (root / "HKVASIR_test.txt").write_text("image_id class_id path\n3 24 imgs/0.jpg\n")
    with pytest.raises(ValueError, match="class_id"):
        SplitFileDataset("hkvasir", tmp_path, "test")
