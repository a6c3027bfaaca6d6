"""Losses of mlcompanion.losses against pytorch-metric-learning (settings made equal), hand-worked values,
an independent port of the official MS loop, closed-form pair weights, gradcheck and bad inputs.

Adapters (how each PML object is configured to compute the same quantity as ours):
- MultiSimilarityLoss(2, 40, 0.5) + MultiSimilarityMiner(0.1), default CosineSimilarity (normalises)
  == ours with defaults (on batches without near-duplicate positives, see test_near_duplicates).
- ContrastiveLoss(pos_margin=0, neg_margin=1) with its default LpDistance (normalises)
  == ours with EuclideanDistance(normalize=True).
- TripletMarginLoss(margin=0.2, distance=LpDistance(power=2)) [+ TripletMarginMiner(0.2, "semihard" / "hard")]
  == ours with SquaredEuclideanDistance(normalize=True), mining "all" / "semihard" / "hard" (values and gradients).
"""

import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from pytorch_metric_learning import distances as pml_distances
from pytorch_metric_learning import losses as pml_losses
from pytorch_metric_learning import miners as pml_miners

from mlcompanion.distances import CosineSimilarity, EuclideanDistance, SquaredEuclideanDistance
from mlcompanion.losses import BinomialDevianceLoss, ContrastiveLoss, MultiSimilarityLoss, TripletMarginLoss, masked_mean
from mlcompanion.miners import multi_similarity_mine

torch.set_default_dtype(torch.float32)


def random_batch(seed, n=32, d=16, classes=8, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=dtype)
    y = torch.randint(0, classes, (n,), generator=g)
    return x, y


def unit_angles(degrees):
    a = torch.tensor(degrees, dtype=torch.float64) * math.pi / 180
    return torch.stack([a.cos(), a.sin()], 1)


# ---------------------------------------------------------------- Multi-Similarity

def test_ms_hand_vector():
    x = unit_angles([0, 20, 50, 90, 110, 170])
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    assert MultiSimilarityLoss()(x, y).item() == pytest.approx(0.432278, abs=1e-6)
    assert MultiSimilarityLoss(mining=False)(x, y).item() == pytest.approx(0.542783, abs=1e-6)


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
def test_ms_matches_pml(dtype, tol):
    ours = MultiSimilarityLoss(alpha=2, beta=40, base=0.5, eps=0.1)
    pml = pml_losses.MultiSimilarityLoss(alpha=2, beta=40, base=0.5)
    miner = pml_miners.MultiSimilarityMiner(epsilon=0.1)
    for seed in range(50):
        x, y = random_batch(seed, dtype=dtype)
        expected = pml(x, y, miner(x, y))
        assert ours(x, y).item() == pytest.approx(expected.item(), abs=tol), seed


def test_ms_without_mining_matches_pml():
    ours = MultiSimilarityLoss(mining=False, beta=50)
    pml = pml_losses.MultiSimilarityLoss(alpha=2, beta=50, base=0.5)
    for seed in range(20):
        x, _ = random_batch(seed, n=24)
        y = torch.arange(24) % 4  # every anchor has a positive (see test_anchor_without_positive)
        assert ours(x, y).item() == pytest.approx(pml(x, y).item(), abs=1e-5)


def test_anchor_without_positive_is_skipped():
    # Documented rule: an anchor with no positive contributes 0 (PML keeps its negative term).
    x, _ = random_batch(0, n=7)
    y = torch.tensor([0, 0, 1, 1, 2, 2, 3])
    loss = MultiSimilarityLoss(mining=False)
    sim = CosineSimilarity()(x).detach().requires_grad_(True)
    loss.from_matrix(sim, y).backward()
    assert torch.all(sim.grad[6] == 0)
    assert torch.any(sim.grad[5] != 0)


def test_pml_anchor_rule_matches_pml_with_lone_anchors():
    # singletons (no positive) and, in the last case, a batch of one class (no negatives at all)
    labels = [torch.tensor([0, 0, 1, 1, 2, 2, 3, 4]), torch.tensor([0, 0, 0, 1, 2, 3]), torch.zeros(5, dtype=torch.long)]
    for seed, y in enumerate(labels):
        x, _ = random_batch(seed, n=len(y), dtype=torch.float64)
        ours = MultiSimilarityLoss(mining=False, beta=50, dup_thresh=None, anchor_rule="pml")(x, y)
        pml = pml_losses.MultiSimilarityLoss(alpha=2, beta=50, base=0.5)(x, y)
        assert ours.item() == pytest.approx(pml.item(), abs=1e-10)
        official = MultiSimilarityLoss(mining=False, beta=50, dup_thresh=None)(x, y)
        assert official.item() < ours.item()  # the skipped anchors' terms are positive
    with pytest.raises(ValueError, match="anchor_rule"):
        MultiSimilarityLoss(anchor_rule="pytorch")


def official_ms_loop(x, y, alpha=2.0, beta=40.0, thresh=0.5, margin=0.1):
    """Independent float64 port of the official per-anchor loop (msight-tech/research-ms-loss)."""
    x = torch.nn.functional.normalize(x.double(), dim=1)
    sim = x @ x.T
    total = 0.0
    for i in range(len(y)):
        pos = sim[i][y == y[i]]
        pos = pos[pos < 1 - 1e-5]
        neg = sim[i][y != y[i]]
        if len(pos) == 0 or len(neg) == 0:
            continue
        neg_kept = neg[neg + margin > pos.min()]
        pos_kept = pos[pos - margin < neg.max()]
        if len(neg_kept) < 1 or len(pos_kept) < 1:
            continue
        total += 1.0 / alpha * math.log(1 + torch.exp(-alpha * (pos_kept - thresh)).sum().item())
        total += 1.0 / beta * math.log(1 + torch.exp(beta * (neg_kept - thresh)).sum().item())
    return total / len(y)


def test_ms_matches_official_loop():
    for seed in range(30):
        x, y = random_batch(seed, dtype=torch.float64)
        assert MultiSimilarityLoss()(x, y).item() == pytest.approx(official_ms_loop(x, y), abs=1e-10)


def test_near_duplicates_follow_official_code():
    x, y = random_batch(3, n=16, classes=4, dtype=torch.float64)
    # items 0 and 1 are duplicates and the only members of their class; item 2 is a close negative
    x[1] = x[0]
    x[2] = x[0] + 0.05 * x[3]
    y[0] = y[1] = 99
    ours = MultiSimilarityLoss()(x, y).item()
    assert ours == pytest.approx(official_ms_loop(x, y), abs=1e-10)
    # PML keeps the duplicate positive: the values differ, and our dup_thresh=None reproduces PML.
    pml = pml_losses.MultiSimilarityLoss(alpha=2, beta=40, base=0.5)(x, y, pml_miners.MultiSimilarityMiner(0.1)(x, y))
    assert abs(ours - pml.item()) > 1e-6
    assert MultiSimilarityLoss(dup_thresh=None)(x, y).item() == pytest.approx(pml.item(), abs=1e-10)


def test_ms_mining_sets_empty_together():
    for seed in range(20):
        x, y = random_batch(seed, n=20, classes=5)
        sim = CosineSimilarity()(x)
        pos, neg = multi_similarity_mine(sim, y)
        assert torch.equal(pos.any(1), neg.any(1))


def test_ms_autograd_weights_equal_closed_form():
    """GPW (eq. 12-13): |dL/dS_ij| = w_ij / m on the mined pairs, 0 elsewhere."""
    alpha, beta, lam = 2.0, 40.0, 0.5
    x, y = random_batch(5, n=12, classes=3, dtype=torch.float64)
    loss = MultiSimilarityLoss(alpha, beta, lam)
    sim = CosineSimilarity()(x).detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss.from_matrix(sim, y), sim)
    pos, neg = multi_similarity_mine(sim.detach(), y)
    s, m = sim.detach(), len(y)
    for i in range(m):
        if not (pos[i].any() and neg[i].any()):
            assert torch.all(grad[i] == 0)
            continue
        for j in range(m):
            if pos[i, j]:
                w = 1.0 / (math.exp(alpha * (s[i, j] - lam)) + torch.exp(-alpha * (s[i][pos[i]] - s[i, j])).sum())
            elif neg[i, j]:
                w = 1.0 / (math.exp(beta * (lam - s[i, j])) + torch.exp(beta * (s[i][neg[i]] - s[i, j])).sum())
            else:
                w = 0.0
            assert abs(grad[i, j].item()) == pytest.approx(float(w) / m, rel=1e-9, abs=1e-15)


def test_ms_large_logits_finite():
    x = torch.ones(8, 4, dtype=torch.float16)  # every S = 1: beta (S - lambda) large
    y = torch.arange(8) % 4
    loss = MultiSimilarityLoss.paper(beta=1000.0, dup_thresh=None)
    value = loss(x, y)
    assert torch.isfinite(value)
    sim = torch.ones(8, 8, dtype=torch.float32, requires_grad=True)
    out = loss.from_matrix(sim, y)
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(sim.grad).all()


def test_ms_paper_hyperparameters():
    loss = MultiSimilarityLoss.paper()
    assert (loss.alpha, loss.beta, loss.base, loss.eps) == (2.0, 50.0, 1.0, 0.1)


# ---------------------------------------------------------------- contrastive and triplet

def test_contrastive_matches_pml():
    ours = ContrastiveLoss(0.0, 1.0, distance=EuclideanDistance(normalize=True))
    pml = pml_losses.ContrastiveLoss(pos_margin=0, neg_margin=1)
    for seed in range(30):
        x, y = random_batch(seed)
        assert ours(x, y).item() == pytest.approx(pml(x, y).item(), abs=1e-5)


def plain_contrastive(mat, y, loss):
    """The definition with whole-matrix masks (autograd does the gradient)."""
    from mlcompanion.losses.pair import masked_mean
    from mlcompanion.miners import pair_masks
    pos, neg = pair_masks(y)
    if loss.distance.is_similarity:
        l_pos, l_neg = torch.relu(loss.pos_margin - mat), torch.relu(mat - loss.neg_margin)
    else:
        l_pos, l_neg = torch.relu(mat - loss.pos_margin), torch.relu(loss.neg_margin - mat)
    l_pos, l_neg = l_pos.pow(loss.power), l_neg.pow(loss.power)
    return masked_mean(l_pos, pos, loss.reduction) + masked_mean(l_neg, neg, loss.reduction)


@pytest.mark.parametrize("power", [1.0, 2.0, 1.5])
@pytest.mark.parametrize("reduction", ["mean_nonzero", "mean"])
@pytest.mark.parametrize("distance,margins", [(EuclideanDistance(normalize=True), (0.1, 1.0)),
                                              (CosineSimilarity(), (0.9, 0.3))], ids=["euclidean", "cosine"])
def test_contrastive_blocked_equals_definition(power, reduction, distance, margins, monkeypatch):
    import mlcompanion.losses.pair as pair
    monkeypatch.setattr(pair, "_BLOCK_ENTRIES", 64)  # several row blocks even at n = 40
    loss = ContrastiveLoss(*margins, distance=distance, power=power, reduction=reduction)
    for seed in range(5):
        x, y = random_batch(seed, n=40, d=4, classes=6, dtype=torch.float64)
        mat = distance(x).detach()
        m1, m2 = mat.clone().requires_grad_(True), mat.clone().requires_grad_(True)
        value, expected = loss.from_matrix(m1, y), plain_contrastive(m2, y, loss)
        assert value.item() == pytest.approx(expected.item(), abs=1e-12)
        value.backward()
        expected.backward()
        torch.testing.assert_close(m1.grad, m2.grad, atol=1e-14, rtol=1e-10)


def test_ms_blocked_equals_unblocked(monkeypatch):
    import mlcompanion.losses.pair as pair
    for mining in (True, False):
        loss = MultiSimilarityLoss(mining=mining)
        x, y = random_batch(11, n=50, d=8, classes=7, dtype=torch.float64)
        sim = CosineSimilarity()(x).detach()
        s1, s2 = sim.clone().requires_grad_(True), sim.clone().requires_grad_(True)
        whole = loss.from_matrix(s1, y)
        monkeypatch.setattr(pair, "_BLOCK_ENTRIES", 100)  # 2 rows per block
        blocked = loss.from_matrix(s2, y)
        monkeypatch.undo()
        assert blocked.item() == pytest.approx(whole.item(), abs=1e-13) and whole.item() > 0
        whole.backward()
        blocked.backward()
        torch.testing.assert_close(s1.grad, s2.grad, atol=1e-15, rtol=1e-12)


def test_contrastive_cosine_form_hand_case():
    # Two positives at cos 0.8, one negative pair at cos 0.6 with lambda 0.5: l+ = 0.2, l- = 0.1.
    x = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.6, -0.8]], dtype=torch.float64)
    y = torch.tensor([0, 0, 1])
    loss = ContrastiveLoss(pos_margin=1.0, neg_margin=0.5, distance=CosineSimilarity(), reduction="mean")
    # negatives: (0,2) cos 0.6 -> 0.1; (1,2) cos 0.48-0.48 = 0 -> 0; mean over 4 ordered pairs = 0.05
    assert loss(x, y).item() == pytest.approx(0.2 + 0.05, abs=1e-12)


@pytest.mark.parametrize("mining", ["all", "semihard", "hard"])
def test_triplet_matches_pml(mining):
    dist = pml_distances.LpDistance(power=2)
    pml = pml_losses.TripletMarginLoss(margin=0.2, distance=dist)
    miner = pml_miners.TripletMarginMiner(margin=0.2, type_of_triplets=mining, distance=dist)
    ours = TripletMarginLoss(0.2, mining=mining, distance=SquaredEuclideanDistance(normalize=True))
    for seed in range(20):
        x, y = random_batch(seed, n=24, classes=6)
        x_ours, x_pml = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
        expected = pml(x_pml, y) if mining == "all" else pml(x_pml, y, miner(x_pml, y))
        value = ours(x_ours, y)
        assert value.item() == pytest.approx(expected.item(), abs=1e-5), seed
        value.backward()
        expected.backward()
        torch.testing.assert_close(x_ours.grad, x_pml.grad, atol=1e-5, rtol=1e-4, msg=f"seed {seed}")


def dense_triplet_reference(mat, y, distance, margin, mining, reduction):
    """The definition, written out over the (n, n, n) triplet tensor (small n only)."""
    same = y.unsqueeze(0) == y.unsqueeze(1)
    pos = same & ~torch.eye(len(y), dtype=torch.bool)
    valid = pos.unsqueeze(2) & ~same.unsqueeze(1)
    d_ap, d_an = mat.unsqueeze(2), mat.unsqueeze(1)
    sign = -1.0 if distance.is_similarity else 1.0
    gap = sign * (d_an - d_ap)
    if mining == "semihard":
        valid = valid & (gap > 0) & (gap <= margin)
    elif mining == "hard":
        valid = valid & (gap <= 0)
    violation = torch.relu(sign * (d_ap - d_an) + margin)
    if reduction == "mean_nonzero":
        valid = valid & (violation > 0)
    return (violation * valid).sum() / valid.sum().clamp_min(1)


@pytest.mark.parametrize("mining", ["all", "semihard", "hard"])
@pytest.mark.parametrize("reduction", ["mean_nonzero", "mean"])
@pytest.mark.parametrize("distance", [SquaredEuclideanDistance(normalize=True), EuclideanDistance(), CosineSimilarity()],
                         ids=lambda d: type(d).__name__)
def test_triplet_equals_dense_definition(mining, reduction, distance):
    """Values and gradients of the sorted, O(n^2)-memory loss equal the (n, n, n) definition."""
    for seed, (n, margin) in enumerate([(6, 0.2), (24, 0.2), (40, 0.0), (64, 1.0), (33, 0.5)]):
        for dtype, tol in ((torch.float32, 2e-6), (torch.float64, 1e-12)):
            x, y = random_batch(seed, n=n, d=6, classes=5, dtype=dtype)
            loss = TripletMarginLoss(margin, mining=mining, distance=distance, reduction=reduction)
            x_ours, x_ref = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
            value = loss(x_ours, y)
            expected = dense_triplet_reference(distance(x_ref), y, distance, margin, mining, reduction)
            assert value.item() == pytest.approx(expected.item(), abs=tol), (seed, dtype)
            value.backward()
            expected.backward()
            torch.testing.assert_close(x_ours.grad, x_ref.grad, atol=tol * 10, rtol=1e-5)


def test_triplet_ties_on_the_margin_counted_as_defined():
    # Distances on a grid of exact binary fractions: many triplets sit exactly on gap == margin and
    # on gap == 0, where the mining rule and the non-zero count must follow the definition.
    mat = torch.tensor([[0, 1, 1.5, 1.25, 1, 2], [1, 0, 1.25, 1, 2, 1.5], [1.5, 1.25, 0, 0.5, 1, 1],
                        [1.25, 1, 0.5, 0, 1.5, 1.25], [1, 2, 1, 1.5, 0, 0.25], [2, 1.5, 1, 1.25, 0.25, 0]],
                       dtype=torch.float64)
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    dist = SquaredEuclideanDistance()
    for mining in ("all", "semihard", "hard"):
        for reduction in ("mean_nonzero", "mean"):
            for margin in (0.0, 0.25, 0.5):
                loss = TripletMarginLoss(margin, mining=mining, distance=dist, reduction=reduction)
                m1, m2 = mat.clone().requires_grad_(True), mat.clone().requires_grad_(True)
                value = loss.from_matrix(m1, y)
                expected = dense_triplet_reference(m2, y, dist, margin, mining, reduction)
                assert value.item() == expected.item(), (mining, reduction, margin)
                value.backward()
                expected.backward()
                torch.testing.assert_close(m1.grad, m2.grad, atol=1e-15, rtol=0)


_BIG_TRIPLET_SCRIPT = """
import resource, sys, torch
from mlcompanion.distances import SquaredEuclideanDistance
from mlcompanion.losses import TripletMarginLoss
vm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmSize")) * 1024
resource.setrlimit(resource.RLIMIT_AS, (vm + 2 * 2**30, resource.RLIM_INFINITY))  # 2 GiB more at most
x, y = torch.load(sys.argv[1])
x.requires_grad_(True)
loss = TripletMarginLoss(0.2, mining=sys.argv[3], distance=SquaredEuclideanDistance(normalize=True))
value = loss(x, y)
value.backward()
torch.save((value.detach(), x.grad), sys.argv[2])
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="address-space limit via /proc and RLIMIT_AS")
@pytest.mark.parametrize("mining", ["all", "semihard"])
def test_triplet_batch_1024_in_bounded_memory(tmp_path, mining):
    """n = 1024: the (n, n, n) float tensor alone is 4 GiB; here the loss must fit in 2 GiB of address
    space beyond the interpreter's, and equal a per-anchor loop (float64 reference)."""
    x, y = random_batch(7, n=1024, d=32, classes=64)
    torch.save((x, y), tmp_path / "in.pt")
    subprocess.run([sys.executable, "-c", _BIG_TRIPLET_SCRIPT, str(tmp_path / "in.pt"), str(tmp_path / "out.pt"),
                    mining], check=True, cwd=Path(__file__).resolve().parents[1])
    value, grad = torch.load(tmp_path / "out.pt")

    ref_x = x.double().requires_grad_(True)
    d = SquaredEuclideanDistance(normalize=True)(ref_x)
    total, count = 0.0, 0
    for a in range(len(y)):
        pos = (y == y[a]) & (torch.arange(len(y)) != a)
        neg = y != y[a]
        d_ap, d_an = d[a, pos].unsqueeze(1), d[a, neg].unsqueeze(0)
        violation = d_ap - d_an + 0.2
        keep = violation > 0
        if mining == "semihard":
            keep = keep & (d_an - d_ap > 0) & (d_an - d_ap <= 0.2)
        total = total + (violation * keep).sum()
        count += int(keep.sum())
    expected = total / count
    expected.backward()
    assert value.item() == pytest.approx(expected.item(), abs=1e-6)
    # float32 against float64: a triplet within rounding of a boundary may be mined by one only
    scale = ref_x.grad.abs().max().item()
    torch.testing.assert_close(grad.double(), ref_x.grad, atol=1e-3 * scale, rtol=1e-4)


def test_triplet_with_similarity_hand_case():
    # anchor (1,0), positive at cos 0.6, negative at cos 0.8: violation 0.8 - 0.6 + 0.1 = 0.3
    x = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.8, -0.6]], dtype=torch.float64)
    y = torch.tensor([0, 0, 1])
    loss = TripletMarginLoss(0.1, distance=CosineSimilarity(), reduction="mean")
    # triplets (0,1,2): 0.3 ; (1,0,2): s(1,0)=0.6, s(1,2)=0.48-0.48=0 -> relu(0 - 0.6 + 0.1)=0
    assert loss(x, y).item() == pytest.approx(0.15, abs=1e-12)


def test_triplet_semihard_selects_only_semihard():
    x, y = random_batch(1, n=16, classes=4)
    loss = TripletMarginLoss(0.2, mining="semihard")
    from mlcompanion.miners import triplet_mask
    d = loss.distance(x)
    mask = triplet_mask(d, y, loss.distance, 0.2, "semihard")
    a, p, n = mask.nonzero(as_tuple=True)
    gap = d[a, n] - d[a, p]
    assert len(gap) > 0 and bool((gap > 0).all()) and bool((gap <= 0.2).all())


# ---------------------------------------------------------------- binomial deviance

def test_binomial_hand_vector():
    e = torch.tensor([[0, 1], [0.43, 0.9], [1, 0], [0.5, 0.5]], dtype=torch.float64)
    y = torch.tensor([0, 0, 1, 1])
    loss = BinomialDevianceLoss()
    sim = CosineSimilarity()(e)
    from mlcompanion.miners import pair_masks
    pos, neg = pair_masks(y)
    l_pos = torch.nn.functional.softplus(-2 * (sim - 0.5))[pos].mean()
    l_neg = torch.nn.functional.softplus(50 * (sim - 0.5))[neg].mean()
    assert l_pos.item() == pytest.approx(0.438505, abs=1e-6)
    assert l_neg.item() == pytest.approx(8.132437, abs=1e-6)
    assert loss(e, y).item() == pytest.approx(8.570942, abs=1e-6)


# ---------------------------------------------------------------- shared contracts

ALL_LOSSES = [
    ContrastiveLoss(),
    ContrastiveLoss(distance=CosineSimilarity(), pos_margin=1.0, neg_margin=0.5),
    TripletMarginLoss(),
    TripletMarginLoss(mining="semihard"),
    MultiSimilarityLoss(),
    MultiSimilarityLoss(mining=False),
    BinomialDevianceLoss(),
]


def _assert_connected_zero(loss, x, y):
    x = x.clone().requires_grad_(True)
    out = loss(x, y)
    assert out.item() == 0.0
    assert out.requires_grad
    out.backward()
    assert torch.isfinite(x.grad).all() and torch.all(x.grad == 0)


@pytest.mark.parametrize("loss", ALL_LOSSES, ids=lambda l: repr(l).replace("\n", ""))
def test_single_item_batch_gives_connected_zero(loss):
    _assert_connected_zero(loss, torch.randn(1, 4), torch.tensor([3]))


@pytest.mark.parametrize("loss", ALL_LOSSES[2:6], ids=lambda l: repr(l).replace("\n", ""))
def test_no_positive_pair_gives_connected_zero(loss):
    # all labels distinct: no triplet and no MS anchor with a positive
    _assert_connected_zero(loss, torch.randn(6, 4), torch.arange(6))


@pytest.mark.parametrize("loss", ALL_LOSSES, ids=lambda l: repr(l).replace("\n", ""))
def test_gradcheck_float64(loss):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(10, 5, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 3, 3])
    assert torch.autograd.gradcheck(lambda t: loss(t, y), (x,), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("loss", ALL_LOSSES, ids=lambda l: repr(l).replace("\n", ""))
def test_bad_inputs_raise_clear_errors(loss):
    x = torch.randn(6, 4)
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    cases = [
        (x[0], y, "2-D"),
        (x, y[:5], "one entry per embedding"),
        (torch.full((6, 4), float("nan")), y, "finite"),
        (torch.ones(6, 4, dtype=torch.long), y, "floating-point"),
        (torch.empty(0, 4), torch.empty(0, dtype=torch.long), "non-empty"),
        (x, y.float(), "integer"),
        (x.tolist(), y, "torch.Tensor"),
    ]
    for xx, yy, message in cases:
        with pytest.raises(ValueError, match=message):
            loss(xx, yy)


def test_bad_hyperparameters():
    with pytest.raises(ValueError, match="alpha"):
        MultiSimilarityLoss(alpha=0)
    with pytest.raises(ValueError, match="similarity"):
        MultiSimilarityLoss(distance=EuclideanDistance())
    with pytest.raises(ValueError, match="mining"):
        TripletMarginLoss(mining="hardest")
    with pytest.raises(ValueError, match="reduction"):
        ContrastiveLoss(reduction="sum")


def test_check_finite_fast_path_never_hides_a_bad_entry():
    """The sum-first shortcut of check_finite: finite entries whose sum overflows pass, any NaN or
    infinity (also +inf and -inf together, whose sum is NaN) is refused."""
    from mlcompanion.validation import check_finite

    check_finite(torch.tensor([3e38, 3e38, -1.0]), "x")  # sum overflows to inf, entries finite
    check_finite(torch.full((4, 4), 6e4, dtype=torch.float16), "x")
    for bad in ([1.0, float("nan")], [float("inf"), 1.0], [float("inf"), -float("inf")], [3e38, 3e38, float("nan")]):
        with pytest.raises(ValueError, match="must be finite"):
            check_finite(torch.tensor(bad), "x")


# --- hyper-parameters and matrices (issue 13) ----------------------------------------------------

@pytest.mark.parametrize("make,arg", [
    (lambda v: ContrastiveLoss(pos_margin=v), "pos_margin"),
    (lambda v: ContrastiveLoss(neg_margin=v), "neg_margin"),
    (lambda v: MultiSimilarityLoss(base=v), "base"),
    (lambda v: MultiSimilarityLoss(dup_thresh=v), "dup_thresh"),
    (lambda v: MultiSimilarityLoss(alpha=v), "alpha"),
    (lambda v: BinomialDevianceLoss(beta=v), "beta"),
])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), "0.5"])
def test_bad_hyper_parameters_name_the_argument(make, arg, value):
    with pytest.raises((ValueError, TypeError), match=rf"^{arg} must be a finite number"):
        make(value)


@pytest.mark.parametrize("loss", [ContrastiveLoss(), MultiSimilarityLoss(), BinomialDevianceLoss(),
                                  TripletMarginLoss()], ids=lambda loss: type(loss).__name__)
def test_from_matrix_refuses_nan_and_inf(loss):
    x, y = random_batch(0, n=8)
    mat = loss.distance(x)
    for bad in (float("nan"), float("inf")):
        m = mat.clone()
        m[0, 1] = bad
        with pytest.raises(ValueError, match="must be finite"):
            loss.from_matrix(m, y)


def test_masked_mean_selects_instead_of_multiplying():
    values = torch.tensor([[float("inf"), 2.0], [3.0, float("nan")]])
    mask = torch.tensor([[False, True], [True, False]])
    assert masked_mean(values, mask, "mean").item() == 2.5
    assert masked_mean(values, mask, "mean_nonzero").item() == 2.5
    with pytest.raises(ValueError, match="mask must be a bool tensor"):
        masked_mean(values, mask.float(), "mean")


def test_pair_masks_refuse_float_and_2d_labels():
    from mlcompanion.miners import pair_masks

    for bad in (torch.tensor([0.0, 1.0]), torch.tensor([[0, 1]]), [0, 1]):
        with pytest.raises(ValueError, match="labels must be"):
            pair_masks(bad)


def test_contrastive_near_duplicate_positive_matches_float64():
    # a positive pair 1e-4 apart: the Gram expansion made its distance exactly 0 in float32, so it
    # dropped out of mean_nonzero's count (value 25 % off, gradient 50 % off)
    x64, _ = random_batch(1, n=6, dtype=torch.float64)
    x64 = torch.nn.functional.normalize(x64, dim=1).float().double()
    x64[1] = x64[0] + 2.0 ** -13
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    loss = ContrastiveLoss(pos_margin=0.0, neg_margin=1.5)
    out = []
    for x in (x64.float(), x64):
        x = x.clone().requires_grad_()
        value = loss(x, y)
        value.backward()
        out.append((value.item(), x.grad.double()))
    assert out[0][0] == pytest.approx(out[1][0], rel=1e-5)
    assert float((out[0][1] - out[1][1]).norm() / out[1][1].norm()) < 1e-4
