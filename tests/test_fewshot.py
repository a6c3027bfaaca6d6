"""Few-shot code of the susana_distancia notebook: ProtoNet CE, Proto-Triplet and ICNN losses, the
ICNN score, the episode sampler, episode accuracy with its 95 % CI, and the miniImageNet loader.

References: a row-by-row NumPy port (float64) of the official ``modified_score`` and
``proto_triplet_loss`` (maumruiz/FSL-Loss, algorithms/icnn_loss.py), plain-loop ProtoNet CE, and
hand-worked cases from the paper's equations.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mlcompanion.data.episodes import EpisodeSampler
from mlcompanion.data.folders import DatasetNotFoundError
from mlcompanion.data.miniimagenet import MiniImageNet, check_miniimagenet_layout
from mlcompanion.data.samplers import ClassBalancedBatchSampler
from mlcompanion.losses.prototypical import (
    EpisodicProtoLoss,
    ICNNLoss,
    ProtoNetLoss,
    ProtoTripletLoss,
    prototypes,
    split_episode,
)
from mlcompanion.metrics.fewshot import fewshot_accuracy, fewshot_eval, icnn_score

D64 = torch.float64


# ------------------------------------------------------------------------------------------------
# independent references
# ------------------------------------------------------------------------------------------------


def ref_modified_score(x, y, t=None, yt=None, k=4, ipc=None):
    """Row-by-row NumPy port of the official ``modified_score`` (float64)."""
    x, y = np.asarray(x, float), np.asarray(y)
    t = x if t is None else np.asarray(t, float)
    yt = y if yt is None else np.asarray(yt)
    m, n = len(t), len(x)
    k = m - 2 if k + 2 >= m else k
    ipc = k + 1 if ipc is None else ipc
    eps = 1e-7
    D, S = np.zeros((n, ipc)), np.zeros((n, ipc))
    for i in range(n):
        d = np.sqrt(((x[i] - t) ** 2).sum(1) + 1e-6)
        order = np.argsort(d, kind="stable")[1:ipc + 1]  # drop the first ("self")
        D[i], S[i] = d[order], (yt[order] == y[i])
    sc_sum, sc_rows, dc_vals, dc_rows, dc_counts = 0.0, 0, [], 0, []
    for i in range(n):
        dcs = [D[i, j] for j in range(ipc) if S[i, j] == 0]
        nn = min(dcs) if dcs else math.inf
        first_k = range(min(k, ipc))  # the official slicing [:k] keeps all ipc columns when ipc < k
        rel = [D[i, j] / (nn + eps) for j in first_k]
        top = max(1.0, max(rel))
        rel = [r / top for r in rel]
        cnt = sum(S[i, :k])
        sc_sum += sum(rel[j] * S[i, j] for j in first_k) / (cnt + eps)
        sc_rows += cnt > 0
        dc_vals.append([D[i, j] * (1 - S[i, j]) for j in first_k])
        dc_counts.append(sum(1 - S[i, :k]))
    lam_sc = 1 - sc_sum / (sc_rows + eps)
    big = max(max(r) for r in dc_vals)
    total = sum(sum(v / (big + eps) for v in r) / (c + eps) for r, c in zip(dc_vals, dc_counts))
    dc_rows = sum(c > 0 for c in dc_counts)
    lam_dc = abs(total / (dc_rows + eps) - (1 if dc_rows == 0 else 0))
    gamma = sum(S[i, :k].sum() / k for i in range(n)) / n if k + 2 < m else 1.0
    return ((lam_sc + lam_dc) / 2 + gamma) / 2


def ref_proto_triplet(q, yq, protos, margin=0.5):
    q, protos = np.asarray(q, float), np.asarray(protos, float)
    out = []
    for i in range(len(q)):
        d = np.sqrt(((q[i] - protos) ** 2).sum(1) + 1e-6)
        neg = min(d[c] for c in range(len(protos)) if c != yq[i])
        out.append(max(0.0, d[yq[i]] - neg + margin))
    return float(np.mean(out))


def ref_protonet_ce(q, yq, protos):
    total = 0.0
    for i in range(len(q)):
        logits = [-sum((q[i][j] - p[j]) ** 2 for j in range(len(p))) for p in protos]
        mx = max(logits)
        lse = mx + math.log(sum(math.exp(v - mx) for v in logits))
        total += lse - logits[yq[i]]
    return total / len(q)


def random_episode(way=5, shot=2, query=3, d=8, seed=0, spread=1.0):
    g = torch.Generator().manual_seed(seed)
    centres = 3 * torch.randn(way, d, generator=g, dtype=D64)
    ys, yq = torch.arange(way).repeat_interleave(shot), torch.arange(way).repeat_interleave(query)
    s = centres[ys] + spread * torch.randn(len(ys), d, generator=g, dtype=D64)
    q = centres[yq] + spread * torch.randn(len(yq), d, generator=g, dtype=D64)
    return s, ys, q, yq


# ------------------------------------------------------------------------------------------------
# ProtoNet cross-entropy and prototypes
# ------------------------------------------------------------------------------------------------


def test_prototypes_are_class_means():
    s = torch.tensor([[0.0, 0.0], [2.0, 0.0], [1.0, 5.0], [4.0, 4.0], [0.0, 3.0]], dtype=D64)
    ys = torch.tensor([0, 0, 1, 2, 2])
    expected = torch.tensor([[1.0, 0.0], [1.0, 5.0], [2.0, 3.5]], dtype=D64)
    assert torch.equal(prototypes(s, ys), expected)


def test_protonet_ce_matches_plain_loop():
    s, ys, q, yq = random_episode(seed=1)
    protos = prototypes(s, ys)
    ours = ProtoNetLoss()(q, yq, protos).item()
    assert ours == pytest.approx(ref_protonet_ce(q.tolist(), yq.tolist(), protos.tolist()), abs=1e-10)
    # temperature divides the logits
    hot = ProtoNetLoss(temperature=4.0)(q, yq, protos).item()
    assert hot == pytest.approx(ref_protonet_ce((q / 2).tolist(), yq.tolist(), (protos / 2).tolist()), abs=1e-10)


def test_protonet_ce_hand_case():
    # query at the origin, prototypes at distance^2 0 and 1: CE = log(1 + e^-1)
    q = torch.zeros(1, 2, dtype=D64)
    protos = torch.tensor([[0.0, 0.0], [1.0, 0.0]], dtype=D64)
    assert ProtoNetLoss()(q, torch.tensor([0]), protos).item() == pytest.approx(math.log(1 + math.exp(-1)), abs=1e-12)


# ------------------------------------------------------------------------------------------------
# Proto-Triplet
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("qx, expected", [(0.2, 0.0), (0.4, 0.3)])
def test_proto_triplet_hand_vectors(qx, expected):
    protos = torch.tensor([[0.0, 0.0], [1.0, 0.0]], dtype=D64)
    q = torch.tensor([[qx, 0.0]], dtype=D64)
    exact = max(0.0, math.sqrt(qx**2 + 1e-6) - math.sqrt((1 - qx) ** 2 + 1e-6) + 0.5)
    loss = ProtoTripletLoss()(q, torch.tensor([0]), protos).item()
    assert loss == pytest.approx(exact, abs=1e-14)
    assert loss == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_proto_triplet_matches_official_port(seed):
    s, ys, q, yq = random_episode(way=5, shot=1, query=4, seed=seed, spread=2.0)
    protos = prototypes(s, ys)
    ours = ProtoTripletLoss()(q, yq, protos).item()
    assert ours == pytest.approx(ref_proto_triplet(q.numpy(), yq.numpy(), protos.numpy()), abs=1e-10)
    assert ours > 0  # the case is not trivially zero


def test_proto_triplet_single_class_is_zero_and_connected():
    q = torch.randn(3, 4, dtype=D64, requires_grad=True)
    loss = ProtoTripletLoss()(q, torch.zeros(3, dtype=torch.long), torch.zeros(1, 4, dtype=D64))
    assert loss.item() == 0.0 and loss.requires_grad
    loss.backward()
    assert torch.equal(q.grad, torch.zeros_like(q))


# ------------------------------------------------------------------------------------------------
# ICNN score and loss
# ------------------------------------------------------------------------------------------------


def test_icnn_hand_worked_case():
    # 1-D points 0, 1 (class 0) and 10, 11 (class 1); m = 4 so k = 4 is clipped to 2, gamma = 1.
    # lambda_sc = 1 - (1/10 + 1/9 + 1/9 + 1/10) / 4, lambda_dc = (1 + .9 + .9 + 1) / 4 = 0.95
    x = torch.tensor([[0.0], [1.0], [10.0], [11.0]], dtype=D64)
    y = torch.tensor([0, 0, 1, 1])
    lam_sc = 1 - (0.1 + 1 / 9 + 1 / 9 + 0.1) / 4
    expected = ((lam_sc + 0.95) / 2 + 1.0) / 2
    assert icnn_score(x, y).item() == pytest.approx(expected, abs=1e-5)
    assert ICNNLoss("support")(x, y, x[:1], y[:1]).item() == pytest.approx(-math.log(expected), abs=1e-5)


@pytest.mark.parametrize("way, per_class, k, ipc, spread, seed", [
    (5, 6, 4, None, 1.0, 0),  # default ipc = k + 1
    (5, 6, 4, 6, 1.5, 1),  # "fullicnn": ipc = shot + query
    (3, 4, 4, 4, 3.0, 2),  # overlapping classes
    (2, 2, 4, None, 1.0, 3),  # n = 4: k clipped to n - 2, gamma = 1
    (3, 6, 4, None, 0.01, 4),  # tight far clusters: no different-class neighbour at all
    (4, 2, 4, 2, 1.0, 5),  # ipc < k ("fullicnn" with 1 shot + 1 query): gamma still divides by k
])
def test_icnn_matches_official_port(way, per_class, k, ipc, spread, seed):
    x, y, _, _ = random_episode(way=way, shot=per_class, query=1, d=6, seed=seed, spread=spread)
    ours = icnn_score(x, y, k=k, ipc=ipc).item()
    assert ours == pytest.approx(ref_modified_score(x.numpy(), y.numpy(), k=k, ipc=ipc), abs=1e-10)
    assert 0.0 <= ours <= 1.0


def test_icnn_queries_vs_prototypes_matches_port_with_its_self_drop():
    s, ys, q, yq = random_episode(way=5, shot=3, query=4, seed=5, spread=2.0)
    protos = prototypes(s, ys)
    pl = torch.arange(5)
    ours = icnn_score(q, yq, protos, pl, k=4).item()  # drop_first=True: the official quirk
    assert ours == pytest.approx(ref_modified_score(q.numpy(), yq.numpy(), protos.numpy(), pl.numpy()), abs=1e-10)
    fixed = icnn_score(q, yq, protos, pl, k=2, drop_first=False).item()
    assert fixed != pytest.approx(icnn_score(q, yq, protos, pl, k=2).item(), abs=1e-6)


def test_icnn_properties():
    x, y, _, _ = random_episode(way=5, shot=6, query=1, d=8, seed=6, spread=0.001)
    tight = icnn_score(x, y).item()
    assert tight > 0.999  # tight, well separated clusters: score -> 1, loss -> 0
    x2, y2, _, _ = random_episode(way=5, shot=6, query=1, d=8, seed=7, spread=1.0)
    clean = icnn_score(x2, y2).item()
    shuffled = icnn_score(x2, y2[torch.randperm(len(y2), generator=torch.Generator().manual_seed(0))]).item()
    assert shuffled < clean - 0.1
    perm = torch.randperm(len(y2), generator=torch.Generator().manual_seed(1))
    assert icnn_score(x2[perm], y2[perm]).item() == pytest.approx(clean, abs=1e-12)
    # relabelling the classes does not matter
    assert icnn_score(x2, (y2 + 3) % 5).item() == pytest.approx(clean, abs=1e-12)


def test_icnn_loss_modes():
    s, ys, q, yq = random_episode(way=5, shot=2, query=3, seed=8)
    full = ICNNLoss("full")(s, ys, q, yq).item()
    x, y = torch.cat([s, q]), torch.cat([ys, yq])
    assert full == pytest.approx(-math.log(ref_modified_score(x.numpy(), y.numpy(), ipc=5)), abs=1e-10)
    sup = ICNNLoss("support")(s, ys, q, yq).item()
    assert sup == pytest.approx(-math.log(ref_modified_score(s.numpy(), ys.numpy())), abs=1e-10)
    qry = ICNNLoss("query")(s, ys, q, yq).item()
    assert qry == pytest.approx(-math.log(ref_modified_score(q.numpy(), yq.numpy(), s.numpy(), ys.numpy())), abs=1e-10)


# ------------------------------------------------------------------------------------------------
# the episodic total loss
# ------------------------------------------------------------------------------------------------


def test_total_loss_is_the_mean_of_terms():
    s, ys, q, yq = random_episode(seed=9, spread=2.0)
    protos = prototypes(s, ys)
    ce, pt = ProtoNetLoss()(q, yq, protos), ProtoTripletLoss()(q, yq, protos)
    icnn = ICNNLoss("full")(s, ys, q, yq)
    both = EpisodicProtoLoss(shot=2, terms=("cross", "prototriplet")).episode_loss(s, ys, q, yq)
    assert both.item() == pytest.approx((ce + pt).item() / 2, abs=1e-12)
    three = EpisodicProtoLoss(shot=2, terms=("cross", "prototriplet", "fullicnn"))
    assert three.episode_loss(s, ys, q, yq).item() == pytest.approx((ce + pt + icnn).item() / 3, abs=1e-12)
    assert set(three.last_terms) == {"cross", "prototriplet", "fullicnn"}


def test_split_episode_on_class_balanced_batches():
    labels = torch.arange(10).repeat_interleave(8)
    emb = torch.arange(80, dtype=D64).unsqueeze(1)  # embedding = dataset index
    batch = next(iter(ClassBalancedBatchSampler(labels, 4, 5, n_batches=1, seed=3)))
    s, ys, q, yq = split_episode(emb[batch], labels[batch], shot=2)
    assert len(s) == 8 and len(q) == 12
    groups = [batch[5 * c:5 * c + 5] for c in range(4)]
    want_support = sorted(i for g in groups for i in g[:2])
    assert sorted(int(v) for v in s.flatten()) == want_support
    assert set(int(v) for v in s.flatten()).isdisjoint(int(v) for v in q.flatten())
    assert torch.equal(torch.bincount(ys), torch.full((4,), 2)) and torch.equal(torch.bincount(yq), torch.full((4,), 3))
    # the loss on the batch equals the loss on the explicit episode
    loss = EpisodicProtoLoss(shot=2, terms=("cross", "fullicnn"))
    x = torch.randn(80, 3, dtype=D64)
    a = loss(x[batch], labels[batch]).item()
    s2, ys2, q2, yq2 = split_episode(x[batch], labels[batch], 2)
    assert a == pytest.approx(loss.episode_loss(s2, ys2, q2, yq2).item(), abs=0)


# ------------------------------------------------------------------------------------------------
# gradients
# ------------------------------------------------------------------------------------------------


def test_gradcheck_float64():
    s, ys, q, yq = random_episode(way=4, shot=2, query=2, d=3, seed=10, spread=1.5)
    s, q = s.requires_grad_(), q.requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: ProtoNetLoss()(b, yq, prototypes(a, ys)), (s, q))
    assert torch.autograd.gradcheck(lambda a, b: ProtoTripletLoss()(b, yq, prototypes(a, ys)), (s, q))
    assert torch.autograd.gradcheck(lambda a, b: ICNNLoss("full")(a, ys, b, yq), (s, q))
    assert torch.autograd.gradcheck(lambda a, b: ICNNLoss("query", query_targets="prototypes")(a, ys, b, yq), (s, q))
    loss = EpisodicProtoLoss(shot=2, terms=("cross", "prototriplet", "fullicnn"))
    assert torch.autograd.gradcheck(lambda a, b: loss.episode_loss(a, ys, b, yq), (s, q))


def test_icnn_gradient_finite_without_different_class_neighbours():
    x, y, _, _ = random_episode(way=3, shot=6, query=1, d=4, seed=11, spread=0.01)
    x.requires_grad_()
    (-torch.log(icnn_score(x, y))).backward()
    assert torch.isfinite(x.grad).all()


# ------------------------------------------------------------------------------------------------
# the episode sampler
# ------------------------------------------------------------------------------------------------


def test_episode_sampler_structure_and_determinism():
    labels = torch.arange(12).repeat_interleave(7)[torch.randperm(84, generator=torch.Generator().manual_seed(0))]
    sampler = EpisodeSampler(labels, way=5, shot=2, query=3, n_episodes=20, seed=4)
    episodes = list(sampler)
    assert len(episodes) == len(sampler) == 20
    ys, yq = sampler.episode_labels()
    for ep in episodes:
        assert len(ep) == sampler.episode_size == 25
        sup, qry = ep[:10], ep[10:]
        assert len(set(sup)) == 10 and len(set(qry)) == 15 and set(sup).isdisjoint(qry)
        cls_s, cls_q = labels[sup], labels[qry]
        assert len(set(cls_s.tolist())) == 5
        # class-major: each block of `shot` supports / `query` queries is one class, same order
        assert torch.equal(cls_s.view(5, 2)[:, 0], cls_q.view(5, 3)[:, 0])
        assert (cls_s.view(5, 2) == cls_s.view(5, 2)[:, :1]).all() and (cls_q.view(5, 3) == cls_q.view(5, 3)[:, :1]).all()
        assert torch.equal(torch.unique(cls_s, return_inverse=True)[1].view(5, 2)[:, 0].sort().values, torch.arange(5))
    assert episodes == list(sampler)  # iterating again gives the same episodes
    assert episodes == list(EpisodeSampler(labels, 5, 2, 3, n_episodes=20, seed=4))
    assert episodes != list(EpisodeSampler(labels, 5, 2, 3, n_episodes=20, seed=5))
    assert torch.equal(ys, torch.arange(5).repeat_interleave(2)) and torch.equal(yq, torch.arange(5).repeat_interleave(3))


def test_episode_sampler_official_mode_leaks():
    labels = torch.arange(6).repeat_interleave(3)  # 3 items per class, shot 2 + query 2 must overlap
    leaky = EpisodeSampler(labels, way=3, shot=2, query=2, n_episodes=5, seed=0, disjoint_support_query=False)
    for ep in leaky:
        assert set(ep[:6]) & set(ep[6:])
    with pytest.raises(ValueError, match="at least 4 items"):
        EpisodeSampler(labels, way=3, shot=2, query=2)


@pytest.mark.parametrize("kwargs, match", [
    (dict(way=11), "way must be <="),
    (dict(way=0), "way must be an int >= 1"),
    (dict(shot=1.5), "shot must be an int"),
    (dict(query=0), "query must be an int >= 1"),
    (dict(seed=-1), "seed must be an int >= 0"),
])
def test_episode_sampler_bad_inputs(kwargs, match):
    args = dict(labels=torch.arange(10).repeat_interleave(5), way=5, shot=1, query=3) | kwargs
    with pytest.raises(ValueError, match=match):
        EpisodeSampler(**args)
    with pytest.raises(ValueError, match="integer"):
        EpisodeSampler(torch.rand(10), 2, 1, 1)


# ------------------------------------------------------------------------------------------------
# accuracy, CI and evaluation
# ------------------------------------------------------------------------------------------------


def test_fewshot_accuracy_ci_formula():
    mean, ci = fewshot_accuracy([0.0, 1.0])
    assert mean == 0.5 and ci == pytest.approx(1.96 * 0.5 / math.sqrt(2), abs=1e-15)
    acc = np.random.default_rng(0).uniform(0.5, 1.0, 600)
    mean, ci = fewshot_accuracy(torch.tensor(acc))
    assert mean == pytest.approx(acc.mean()) and ci == pytest.approx(1.96 * acc.std() / math.sqrt(600))
    assert fewshot_accuracy(acc, ddof=1)[1] == pytest.approx(1.96 * acc.std(ddof=1) / math.sqrt(600))
    assert fewshot_accuracy([0.7]) == (0.7, 0.0)


@pytest.mark.parametrize("bad, match", [([], "non-empty"), ([[0.5]], "1-D"), ([0.5, float("nan")], "finite"),
                                        ("abc", "1-D sequence of numbers")])
def test_fewshot_accuracy_bad_inputs(bad, match):
    with pytest.raises(ValueError, match=match):
        fewshot_accuracy(bad)


def test_fewshot_eval_against_a_loop():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(10).repeat_interleave(20)
    emb = torch.randn(10, 4, generator=g)[labels] + 0.9 * torch.randn(200, 4, generator=g)
    out = fewshot_eval(emb, labels, way=5, shot=2, query=4, episodes=30, seed=1)
    sampler = EpisodeSampler(labels, 5, 2, 4, n_episodes=30, seed=1)
    accs = []
    for ep in sampler:
        e = emb[ep].double()
        protos = [e[2 * c:2 * c + 2].mean(0) for c in range(5)]
        hits = 0
        for j in range(20):
            d = [float(((e[10 + j] - p) ** 2).sum()) for p in protos]
            hits += int(np.argmin(d) == j // 4)
        accs.append(hits / 20)
    assert np.allclose(out["per_episode"], accs)
    assert 0.2 < out["acc"] < 1.0  # neither trivial nor chance
    assert (out["acc"], out["ci"]) == pytest.approx(fewshot_accuracy(accs))
    separated = fewshot_eval(10 * torch.eye(10)[labels], labels, way=5, shot=1, query=3, episodes=10, with_icnn=True)
    assert separated["acc"] == 1.0 and separated["ci"] == 0.0
    # identical points per class: lambda = 1, but only 3 of the k = 4 neighbours can share the class
    assert separated["icnn"] == pytest.approx(np.full(10, (1 + 3 / 4) / 2), abs=1e-4)


# ------------------------------------------------------------------------------------------------
# bad inputs of the losses
# ------------------------------------------------------------------------------------------------


def test_loss_bad_inputs():
    s, ys, q, yq = random_episode()
    protos = prototypes(s, ys)
    with pytest.raises(ValueError, match=r"episode-local class indices in \[0, 5\)"):
        ProtoNetLoss()(q, yq + 1, protos)
    with pytest.raises(ValueError, match="embedding dimension"):
        ProtoTripletLoss()(q, yq, protos[:, :3])
    with pytest.raises(ValueError, match="every class"):
        prototypes(s, torch.where(ys == 1, 2, ys))
    with pytest.raises(ValueError, match="floating-point"):
        ProtoNetLoss()(q.long(), yq, protos)
    with pytest.raises(ValueError, match="temperature"):
        ProtoNetLoss(temperature=0)
    with pytest.raises(ValueError, match="terms must be"):
        EpisodicProtoLoss(shot=1, terms=("cross", "icnn"))
    with pytest.raises(ValueError, match="mode must be"):
        ICNNLoss("both")
    with pytest.raises(ValueError, match="at least 3 targets"):
        icnn_score(s[:2], ys[:2])
    with pytest.raises(ValueError, match="together"):
        icnn_score(q, yq, targets=s)
    with pytest.raises(ValueError, match="neighbours must exist"):
        icnn_score(s, ys, k=2, ipc=10)
    with pytest.raises(ValueError, match="same number of items"):
        split_episode(s[:9], ys[:9], shot=1)
    with pytest.raises(ValueError, match="more than shot"):
        split_episode(s, ys, shot=2)


# ------------------------------------------------------------------------------------------------
# miniImageNet loader on a tiny fake folder
# ------------------------------------------------------------------------------------------------


def make_fake_miniimagenet(root, classes_per_split=(3, 2, 2), per_class=2):
    from PIL import Image

    (root / "images").mkdir(parents=True)
    (root / "split").mkdir()
    wnid = 0
    for split, n_cls in zip(("train", "val", "test"), classes_per_split):
        rows = ["filename,label"]
        for _ in range(n_cls):
            wnid += 1
            for j in range(per_class):
                name = f"n{wnid:08d}{j:08d}.jpg"
                Image.new("RGB", (10, 8), (wnid * 20, j * 50, 0)).save(root / "images" / name)
                rows.append(f"{name},n{wnid:08d}")
        (root / "split" / f"{split}.csv").write_text("\n".join(rows) + "\n")
    return root


def test_miniimagenet_fake_folder(tmp_path):
    root = make_fake_miniimagenet(tmp_path / "MiniImagenet")
    train, test = MiniImageNet(root, "train"), MiniImageNet(tmp_path, "test", check_files=True)  # parent works too
    assert len(train) == 6 and train.num_classes == 3 and len(test) == 4 and test.num_classes == 2
    assert train.labels.tolist() == [0, 0, 1, 1, 2, 2] and set(train.wnids).isdisjoint(test.wnids)
    img, label = train[3]
    assert img.mode == "RGB" and img.size == (10, 8) and label == 1
    assert MiniImageNet(root, "val", transform=lambda im: im.size)[0] == ((10, 8), 0)
    assert check_miniimagenet_layout(tmp_path) == root.resolve()


def test_miniimagenet_missing_or_broken(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="miniImageNet dataset not found.*does not exist"):
        MiniImageNet(tmp_path / "nowhere", "train")
    with pytest.raises(DatasetNotFoundError, match="root is None"):
        check_miniimagenet_layout(None)
    root = make_fake_miniimagenet(tmp_path / "mini")
    (root / "split" / "val.csv").unlink()
    with pytest.raises(DatasetNotFoundError, match="split/val.csv"):
        MiniImageNet(root, "train")
    root2 = make_fake_miniimagenet(tmp_path / "mini2")
    (root2 / "split" / "test.csv").write_text("filename,label\nbroken-line\n")
    with pytest.raises(ValueError, match="line 2"):
        MiniImageNet(root2, "test")
    with pytest.raises(ValueError, match="split must be one of"):
        MiniImageNet(root2, "validation")
    (root2 / "images" / sorted(p.name for p in (root2 / "images").iterdir())[0]).unlink()
    with pytest.raises(DatasetNotFoundError, match="missing"):
        MiniImageNet(root2, "train", check_files=True)


def test_fewshot_eval_distance_choices():
    """cosine against scikit-learn's cosine_similarity in a loop; a PairwiseDistance (Euclidean: the
    same nearest prototype as the squared default; CosineSimilarity: as "cosine")."""
    from sklearn.metrics.pairwise import cosine_similarity

    from mlcompanion.distances import CosineSimilarity, EuclideanDistance

    g = torch.Generator().manual_seed(3)
    labels = torch.arange(10).repeat_interleave(20)
    # class means of different norms: cosine and Euclidean nearest prototypes then disagree
    emb = (torch.randn(10, 4, generator=g) * torch.linspace(0.2, 3, 10).unsqueeze(1))[labels]
    emb = emb + 0.8 * torch.randn(200, 4, generator=g)
    cos = fewshot_eval(emb, labels, way=5, shot=2, query=4, episodes=30, seed=1, distance="cosine")
    accs = []
    for ep in EpisodeSampler(labels, 5, 2, 4, n_episodes=30, seed=1):
        e = emb[ep].double().numpy()
        protos = np.stack([e[2 * c:2 * c + 2].mean(0) for c in range(5)])
        pred = cosine_similarity(e[10:], protos).argmax(1)
        accs.append(float((pred == np.arange(20) // 4).mean()))
    assert np.allclose(cos["per_episode"], accs)
    sq = fewshot_eval(emb, labels, way=5, shot=2, query=4, episodes=30, seed=1)
    assert not np.allclose(sq["per_episode"], cos["per_episode"])  # the choice matters here
    euc = fewshot_eval(emb, labels, way=5, shot=2, query=4, episodes=30, seed=1, distance=EuclideanDistance())
    assert np.array_equal(euc["per_episode"], sq["per_episode"])
    sim = fewshot_eval(emb, labels, way=5, shot=2, query=4, episodes=30, seed=1, distance=CosineSimilarity())
    assert np.array_equal(sim["per_episode"], cos["per_episode"])
    with pytest.raises(ValueError, match="distance must be"):
        fewshot_eval(emb, labels, way=5, shot=2, query=4, episodes=3, distance="manhattan")
