"""TCM regulariser and OPIS (threshold_consistency): against pytorch-metric-learning's
ThresholdConsistentMarginLoss, the golden value of its test, hand-worked OPIS cases, a brute-force
pair loop, gradcheck, invariances and bad inputs."""

import itertools

import numpy as np
import pytest
import torch
from pytorch_metric_learning import distances as pml_distances
from pytorch_metric_learning import losses as pml_losses

from mlcompanion.distances import CosineSimilarity
from mlcompanion.losses.pair import ContrastiveLoss, MultiSimilarityLoss
from mlcompanion.losses.combined import CombinedLoss
from mlcompanion.losses.threshold import TCMLoss
from mlcompanion.metrics.threshold import UTILITIES, class_utility_curves, eps_opis, opis

GOLDEN_X = torch.tensor([[0.0, 1.0], [0.43, 0.9], [1.0, 0.0], [0.5, 0.5]])
GOLDEN_Y = torch.tensor([0, 0, 1, 1])


def pml_tcm(lambda_pos=1.0, lambda_neg=1.0, m_pos=0.9, m_neg=0.5):
    """The adapter: our argument names -> pytorch-metric-learning's (its default distance is the
    cosine similarity, ours is fixed to it; both use all ordered pairs i != j)."""
    return pml_losses.ThresholdConsistentMarginLoss(lambda_plus=lambda_pos, lambda_minus=lambda_neg,
                                                    margin_plus=m_pos, margin_minus=m_neg)


def random_batch(seed, n=24, d=8, n_classes=4, dtype=torch.float64, shift=0.6):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, n_classes, (n,), generator=g)
    centres = torch.randn(n_classes, d, generator=g, dtype=dtype)
    x = shift * centres[y] + torch.randn(n, d, generator=g, dtype=dtype)
    return x, y


# --------------------------------------------------------------------------------------------- TCM

def test_golden_value_of_the_reference_test():
    assert TCMLoss()(GOLDEN_X, GOLDEN_Y).item() == pytest.approx(0.51788, abs=5e-5)
    contrastive = ContrastiveLoss(pos_margin=0.9, neg_margin=0.4, distance=CosineSimilarity())
    total = CombinedLoss([(contrastive, 1.0), (TCMLoss(), 1.0)])(GOLDEN_X, GOLDEN_Y)
    assert total.item() == pytest.approx(1.0045, abs=5e-5)


def test_golden_value_by_hand():
    s = CosineSimilarity()(GOLDEN_X.double())
    pos_term = 0.9 - s[2, 3]  # (0, 1) is above m+
    neg_term = ((s[0, 3] - 0.5) + (s[1, 3] - 0.5)) / 2  # (0, 2), (1, 2) are below m-
    assert TCMLoss()(GOLDEN_X.double(), GOLDEN_Y).item() == pytest.approx((pos_term + neg_term).item(), abs=1e-12)


@pytest.mark.parametrize("seed,params", [
    (0, {}),
    (1, {"m_pos": 0.5, "m_neg": 0.2}),
    (2, {"lambda_pos": 0.3, "lambda_neg": 2.0, "m_pos": 0.7, "m_neg": 0.0}),
    (3, {"m_pos": 0.2, "m_neg": -0.1}),
])
def test_matches_pytorch_metric_learning(seed, params):
    x, y = random_batch(seed)
    x1, x2 = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    ours, ref = TCMLoss(**params)(x1, y), pml_tcm(**params)(x2, y)
    assert abs(ours.item() - ref.item()) <= 1e-10
    ours.backward()
    ref.backward()
    torch.testing.assert_close(x1.grad, x2.grad, atol=1e-10, rtol=0)


def test_each_term_is_a_mean_over_violating_pairs_only():
    """Adding a pair that satisfies the margins changes nothing (a plain mean would dilute)."""
    x = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]], dtype=torch.float64)
    y = torch.tensor([0, 0, 1])
    before = TCMLoss(m_neg=0.5)(x, y)
    x2 = torch.cat([x, torch.tensor([[-1.0, 0.0]], dtype=torch.float64)])  # far from everyone
    after = TCMLoss(m_neg=0.5)(x2, torch.tensor([0, 0, 1, 2]))
    assert after.item() == pytest.approx(before.item(), abs=1e-12)
    assert before.item() == pytest.approx(0.9 - 0.8 + (0.6 - 0.5), abs=1e-12)


def test_no_violating_pair_gives_zero_with_zero_gradient():
    x = torch.tensor([[1.0, 0.0], [0.999, 0.01], [0.0, 1.0], [0.01, 0.999]], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 0, 1, 1])
    loss = TCMLoss()(x, y)
    assert loss.item() == 0.0 and loss.requires_grad
    loss.backward()
    assert torch.equal(x.grad, torch.zeros_like(x))
    single = torch.randn(3, 4, requires_grad=True)  # one class only: no negative pair, all positives ok?
    out = TCMLoss(m_pos=-1.0)(single, torch.tensor([5, 5, 5]))
    out.backward()
    assert out.item() == 0.0 and torch.isfinite(single.grad).all()


def test_gradcheck_float64():
    x, y = random_batch(7, n=10, d=5, n_classes=3)
    x.requires_grad_(True)
    loss = TCMLoss(m_pos=0.8, m_neg=0.1)
    assert torch.autograd.gradcheck(lambda e: loss(e, y), (x,), eps=1e-6, atol=1e-7)
    ref = x.detach()[:4].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda e, r: loss(e, y, r, y[:4]), (x, ref), eps=1e-6, atol=1e-7)


def test_invariances():
    x, y = random_batch(11)
    loss = TCMLoss(m_pos=0.6, m_neg=0.2)
    base = loss(x, y).item()
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    assert loss(3.7 * x, y).item() == pytest.approx(base, abs=1e-12)  # cosine: scale-free
    assert loss(x[perm], y[perm]).item() == pytest.approx(base, abs=1e-12)
    assert loss(x, y + 10).item() == pytest.approx(base, abs=1e-12)


def test_reference_set_path():
    """The batch against itself as reference: the extra (i, i) pairs have s = 1 > m+ (inactive), so the
    value is that without a reference set; a genuine reference set is checked by hand."""
    x, y = random_batch(5)
    loss = TCMLoss(m_pos=0.6, m_neg=0.2)
    assert loss(x, y, x, y).item() == pytest.approx(loss(x, y).item(), abs=1e-12)
    q, r = x[:6], x[6:]
    s = CosineSimilarity()(q, r)
    pos = y[:6].unsqueeze(1) == y[6:].unsqueeze(0)
    hp, hn = pos & (s <= 0.6), ~pos & (s >= 0.2)
    expected = (0.6 - s)[hp].mean() + (s - 0.2)[hn].mean()
    assert loss(q, y[:6], r, y[6:]).item() == pytest.approx(expected.item(), abs=1e-12)


def test_combined_loss_is_the_weighted_sum():
    x, y = random_batch(3, dtype=torch.float32)
    ms, tcm = MultiSimilarityLoss(), TCMLoss()
    combined = CombinedLoss([(ms, 1.0), (tcm, 0.1)], names=["MS", "TCM"])
    value = combined(x, y)
    assert value.item() == pytest.approx(ms(x, y).item() + 0.1 * tcm(x, y).item(), rel=1e-6)
    assert set(combined.last_terms) == {"MS", "TCM"}
    zero = CombinedLoss([(ms, 1.0), (tcm, 0.0)])
    assert zero(x, y).item() == pytest.approx(ms(x, y).item(), rel=1e-6)
    assert set(zero.last_terms) == {"MultiSimilarityLoss"}


@pytest.mark.parametrize("call,message", [
    (lambda: TCMLoss(lambda_pos=-1), "lambda_pos"),
    (lambda: TCMLoss(m_pos=1.5), r"m_pos must be a number in \[-1, 1\]"),
    (lambda: TCMLoss(m_neg="a"), "m_neg"),
    (lambda: TCMLoss()(GOLDEN_X, GOLDEN_Y[:3]), "expected 4, got 3"),
    (lambda: TCMLoss()(GOLDEN_X, GOLDEN_Y.float()), "integer"),
    (lambda: TCMLoss()(GOLDEN_X[0], GOLDEN_Y), "2-D"),
    (lambda: TCMLoss()(GOLDEN_X * float("nan"), GOLDEN_Y), "finite"),
    (lambda: TCMLoss()(GOLDEN_X, GOLDEN_Y, GOLDEN_X), "together"),
    (lambda: TCMLoss()(GOLDEN_X, GOLDEN_Y, GOLDEN_X[:, :1], GOLDEN_Y), "same embedding size"),
    (lambda: TCMLoss().from_matrix(torch.ones(3, 4), GOLDEN_Y[:3]), "square"),
    (lambda: CombinedLoss([]), "at least one"),
    (lambda: CombinedLoss([(TCMLoss(), -1.0)]), "weight of term 0"),
    (lambda: CombinedLoss([(TCMLoss(), 1.0)], names=["a", "b"]), "names"),
    (lambda: CombinedLoss([("tcm", 1.0)]), "pair"),
])
def test_bad_inputs(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# -------------------------------------------------------------------------------------------- OPIS

def brute_force_curves(sim, labels, thresholds):
    """Per-class TAR / FAR with Python loops over unordered pairs (the independent reference)."""
    sim, labels = sim.tolist(), labels.tolist()
    classes = sorted(set(labels))
    pairs = list(itertools.combinations(range(len(labels)), 2))
    tar, far = [], []
    for c in classes:
        pos = [sim[i][j] for i, j in pairs if labels[i] == labels[j] == c]
        neg = [sim[i][j] for i, j in pairs if (labels[i] == c) != (labels[j] == c)]
        if not pos:
            continue
        tar.append([np.mean([s >= t for s in pos]) for t in thresholds])
        far.append([np.mean([s >= t for s in neg]) for t in thresholds])
    all_pos = [sim[i][j] for i, j in pairs if labels[i] == labels[j]]
    all_neg = [sim[i][j] for i, j in pairs if labels[i] != labels[j]]
    overall = ([np.mean([s >= t for s in all_pos]) for t in thresholds],
               [np.mean([s >= t for s in all_neg]) for t in thresholds])
    return np.array(tar), np.array(far), overall, np.array(all_neg)


def test_hand_worked_opis():
    """Two classes of two items, one positive pair each (0.9 and 0.5), all four negatives 0.2;
    thresholds 0.4 and 0.6, utility = TAR. Class A: TAR (1, 1); class B: TAR (1, 0); all pairs:
    (1, 0.5). OPIS = 1/2 [ ((0)^2 + (0.5)^2)/2 + ((0)^2 + (-0.5)^2)/2 ] = 0.125;
    eps-OPIS (one class per group) = ((1-1)^2 + (0-1)^2)/2 = 0.5; with reference 'mean' U_bar =
    (1, 0.5) too, so the same 0.125; with weights (3, 1): 3/4 * 0.125 + 1/4 * 0.125 = 0.125."""
    sim = torch.tensor([[1.0, 0.9, 0.2, 0.2],
                        [0.9, 1.0, 0.2, 0.2],
                        [0.2, 0.2, 1.0, 0.5],
                        [0.2, 0.2, 0.5, 1.0]], dtype=torch.float64)
    y = torch.tensor([7, 7, 3, 3])
    c = class_utility_curves(sim, y, kind="similarity", utility="tar", thresholds=[0.4, 0.6])
    assert c.classes.tolist() == [3, 7]
    torch.testing.assert_close(c.tar, torch.tensor([[1.0, 0.0], [1.0, 1.0]], dtype=torch.float64))
    torch.testing.assert_close(c.far, torch.zeros(2, 2, dtype=torch.float64))
    torch.testing.assert_close(c.overall_tar, torch.tensor([1.0, 0.5], dtype=torch.float64))
    assert c.n_pos.tolist() == [1, 1] and c.n_neg.tolist() == [4, 4]
    assert c.opis() == pytest.approx(0.125)
    assert c.opis(reference="mean") == pytest.approx(0.125)
    assert c.opis(class_weights=[3.0, 1.0]) == pytest.approx(0.125)
    assert c.eps_opis(0.5) == pytest.approx(0.5)
    # The F1 utility at threshold 0.6 for class B: TAR 0, TNR 1 -> 0; class A: 1.
    f1 = class_utility_curves(sim, y, kind="similarity", thresholds=[0.4, 0.6]).class_utility()
    torch.testing.assert_close(f1, torch.tensor([[1.0, 0.0], [1.0, 1.0]], dtype=torch.float64))


@pytest.mark.parametrize("grid", ["similarity", "far"])
def test_matches_a_brute_force_pair_loop(grid):
    g = torch.Generator().manual_seed(1)
    y = torch.arange(6).repeat_interleave(5)
    y = torch.cat([y, torch.tensor([9])])  # a singleton class: no positive pair, still has negatives
    x = torch.randn(6, 8, generator=g, dtype=torch.float64)[y.clamp(max=5)] + torch.randn(len(y), 8, generator=g,
                                                                                           dtype=torch.float64)
    c = class_utility_curves(x, y, n_thresholds=7, grid=grid, block_size=4)
    sim = CosineSimilarity()(x)
    tar, far, (otar, ofar), negs = brute_force_curves(sim, y, c.thresholds.tolist())
    np.testing.assert_allclose(c.tar.numpy(), tar, atol=1e-12)
    np.testing.assert_allclose(c.far.numpy(), far, atol=1e-12)
    np.testing.assert_allclose(c.overall_tar.numpy(), otar, atol=1e-12)
    np.testing.assert_allclose(c.overall_far.numpy(), ofar, atol=1e-12)
    assert c.classes.tolist() == [0, 1, 2, 3, 4, 5]  # the singleton class is not evaluated
    lo, hi = np.quantile(negs, [0.9, 0.999])
    assert c.calibration == pytest.approx((lo, hi), abs=1e-9)
    u, ubar = c.class_utility().numpy(), c.overall_utility().numpy()
    assert c.opis() == pytest.approx(float(((u - ubar) ** 2).mean()), abs=1e-12)


def test_histogram_calibration_for_large_sets_is_close_to_exact():
    x, y = random_batch(2, n=300, d=16, n_classes=10, shift=1.0)
    exact = class_utility_curves(x, y)
    approx = class_utility_curves(x, y, max_exact_pairs=0)
    # ~40k negatives: order statistics near FAR 1e-3 are ~1e-3 apart, so the two quantile rules differ
    # by about that much; both must put the overall FAR at the ends of the range on target.
    assert approx.calibration == pytest.approx(exact.calibration, abs=2e-3)
    assert float(approx.overall_far[0]) == pytest.approx(0.1, abs=1e-3)
    assert float(approx.overall_far[-1]) == pytest.approx(1e-3, abs=1e-4)
    assert approx.opis() == pytest.approx(exact.opis(), rel=0.1)


def circulant_similarity(n_classes=8):
    """Every class sees the same multiset of positive and negative similarities (OPIS must be 0)."""
    y = torch.arange(n_classes).repeat_interleave(2)
    n = len(y)
    sim = torch.empty(n, n, dtype=torch.float64)
    for i, j in itertools.product(range(n), range(n)):
        a, b = int(y[i]), int(y[j])
        d = min((a - b) % n_classes, (b - a) % n_classes)
        sim[i, j] = 1.0 if i == j else 0.85 if a == b else 0.6 - 0.1 * d + 0.01 * ((i % 2) + (j % 2))
    return sim, y


def test_identical_classes_give_zero():
    sim, y = circulant_similarity()
    c = class_utility_curves(sim, y, kind="similarity", far_range=(0.05, 0.5), n_thresholds=9)
    assert c.opis() == 0.0 and c.eps_opis(0.25) == 0.0 and c.opis(reference="mean") == 0.0
    assert opis(sim, y, kind="similarity", far_range=(0.05, 0.5)) == 0.0


def spread_similarity(spread, n_classes=20, per_class=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n_classes).repeat_interleave(per_class)
    mu = 0.6 + spread * (torch.linspace(0, 1, n_classes, dtype=torch.float64) - 0.5)
    n = len(y)
    raw = torch.where(y.unsqueeze(0) == y.unsqueeze(1), mu[y].unsqueeze(1) + 0.05 * torch.randn(n, n, generator=g,
                      dtype=torch.float64), 0.1 + 0.15 * torch.randn(n, n, generator=g, dtype=torch.float64))
    upper = raw.triu(1)
    return upper + upper.T + torch.eye(n, dtype=torch.float64), y


def test_opis_grows_with_the_spread_of_the_class_means():
    scores = [class_utility_curves(*spread_similarity(s), kind="similarity") for s in (0.0, 0.15, 0.3, 0.45)]
    o = [c.opis() for c in scores]
    e = [c.eps_opis() for c in scores]
    assert all(v >= 0 for v in o + e)
    assert o == sorted(o) and o[-1] > 10 * o[0]
    assert e == sorted(e)


def test_embedding_and_similarity_inputs_agree_and_are_scale_invariant():
    x, y = random_batch(4, n=60, d=8, n_classes=6, shift=1.0)
    grid = torch.linspace(-0.55, 0.95, 16)  # thresholds away from the data: no ties to round either way
    a = class_utility_curves(x, y, block_size=7, thresholds=grid)
    b = class_utility_curves(CosineSimilarity()(x), y, kind="similarity", thresholds=grid)
    c = class_utility_curves(5.0 * x, y, thresholds=grid)
    calibrated = (class_utility_curves(x, y), class_utility_curves(CosineSimilarity()(x), y, kind="similarity"))
    assert calibrated[0].calibration == pytest.approx(calibrated[1].calibration, abs=1e-12)
    torch.testing.assert_close(a.tar, b.tar)
    torch.testing.assert_close(a.far, b.far)
    assert a.opis() == pytest.approx(b.opis(), abs=1e-12) == pytest.approx(c.opis(), abs=1e-12)
    assert eps_opis(x, y, eps=0.2, thresholds=grid) == pytest.approx(a.eps_opis(0.2), abs=1e-12)


def test_class_weights_select_classes():
    x, y = random_batch(6, n=60, d=8, n_classes=4, shift=1.0)
    c = class_utility_curves(x, y)
    gaps = ((c.class_utility() - c.overall_utility()) ** 2).mean(1)
    assert c.opis(class_weights=[0, 0, 1, 0]) == pytest.approx(float(gaps[2]), abs=1e-12)
    assert c.opis(class_weights="pairs") == pytest.approx(float((gaps * c.n_pos / c.n_pos.sum()).sum()), abs=1e-12)
    assert set(UTILITIES) >= {"f1_tar_tnr", "tar", "balanced_accuracy"}


@pytest.mark.parametrize("kwargs,message", [
    ({"labels": torch.zeros(20, dtype=torch.long)}, "no negative pair"),
    ({"labels": torch.arange(20)}, "at least two classes with two or more images"),
    ({"far_range": (0.1, 0.01)}, "far_range must satisfy"),
    ({"far_range": 0.1}, "far_range must be two numbers"),
    ({"n_thresholds": 1}, "n_thresholds"),
    ({"grid": "log"}, "grid"),
    ({"utility": "f2"}, "utility"),
    ({"kind": "distances"}, "kind"),
    ({"thresholds": [0.5, 0.2]}, "strictly ascending"),
    ({"block_size": 0}, "block_size"),
    ({"x": torch.ones(20, 3)[:, :0]}, "non-empty"),
    ({"labels": torch.zeros(19, dtype=torch.long)}, "expected 20, got 19"),
])
def test_curves_bad_inputs(kwargs, message):
    x, y = random_batch(8, n=20, d=4, n_classes=3)
    args = {"x": x, "labels": y, **kwargs}
    with pytest.raises(ValueError, match=message):
        class_utility_curves(args.pop("x"), args.pop("labels"), **args)


def test_similarity_input_checks_and_score_arguments():
    sim, y = circulant_similarity()
    with pytest.raises(ValueError, match="square"):
        class_utility_curves(sim[:, :5], y, kind="similarity")
    with pytest.raises(ValueError, match="symmetric"):
        class_utility_curves(sim + torch.triu(torch.ones_like(sim), 1), y, kind="similarity")
    c = class_utility_curves(sim, y, kind="similarity", thresholds=[0.3, 0.5])
    with pytest.raises(ValueError, match=r"eps must be a number in \(0, 0.5\]"):
        c.eps_opis(0.7)
    with pytest.raises(ValueError, match="reference"):
        c.opis(reference="median")
    with pytest.raises(ValueError, match="one weight per evaluated class"):
        c.opis(class_weights=[1.0, 2.0])
    with pytest.raises(ValueError, match="not all 0"):
        c.opis(class_weights=[0.0] * 8)
    with pytest.raises(ValueError, match="calibration range is empty"):
        flat = torch.full_like(sim, 0.2).fill_diagonal_(1.0)
        flat[y.unsqueeze(0) == y.unsqueeze(1)] = 0.9
        class_utility_curves(flat, y, kind="similarity")
