"""Data pruning (data_pruning, Sorscher et al. NeurIPS 2022): mlcompanion.data.pruning and mlcompanion.data.perceptron.

References:
- prototype scores: scikit-learn ``KMeans`` (same seed, same n_init) on the L2-normalised
  embeddings, then scipy's ``cosine`` distance to every centroid in a plain loop;
- margins: hand-worked points for a known teacher; classifier margins by a loop;
- max-margin student: a 2-point hand case, and the KKT certificate of optimality on random data
  (all margins >= 1, w = sum_i a_i y_i x_i with a_i >= 0 only on margin-1 points);
- perceptron error: arccos(R)/pi on hand angles.
"""

import math

import numpy as np
import pytest
import torch
from scipy.optimize import nnls
from scipy.spatial.distance import cosine as scipy_cosine
from sklearn.cluster import KMeans

from mlcompanion.data.perceptron import generalisation_error, max_margin_student, probe_at_angle, teacher_student
from mlcompanion.data.pruning import classifier_margins, linear_margins, n_kept, prototype_scores, select_subset


def _blobs(n=60, d=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(3, d, generator=g, dtype=torch.float64) * 3
    return centres.repeat_interleave(n // 3, 0) + torch.randn(n, d, generator=g, dtype=torch.float64)


# ---------------------------------------------------------------- prototype (SSP) scores

def test_prototype_scores_match_sklearn_kmeans_and_scipy_cosine():
    emb = _blobs()
    out = prototype_scores(emb, k=4, seed=3)
    x = (emb / emb.norm(dim=1, keepdim=True)).numpy()
    ref_km = KMeans(n_clusters=4, n_init=10, max_iter=300, random_state=3).fit(x)
    expected = np.array([min(scipy_cosine(xi, c) for c in ref_km.cluster_centers_) for xi in x])
    torch.testing.assert_close(out.scores, torch.as_tensor(expected), rtol=0, atol=1e-12)
    torch.testing.assert_close(out.centroids, torch.as_tensor(ref_km.cluster_centers_), rtol=0, atol=1e-12)
    assert out.scores.shape == (60,) and out.nearest.shape == (60,)
    assert bool((out.scores >= 0).all()) and bool((out.scores <= 2).all())


def test_prototype_scores_euclidean_unnormalised_match_sklearn_transform():
    emb = _blobs(seed=1)
    out = prototype_scores(emb, k=3, seed=0, metric="euclidean", normalize=False)
    ref = KMeans(n_clusters=3, n_init=10, random_state=0).fit(emb.numpy())
    torch.testing.assert_close(out.scores, torch.as_tensor(ref.transform(emb.numpy()).min(1)), rtol=0, atol=1e-10)
    assert torch.equal(out.nearest, torch.as_tensor(ref.labels_, dtype=torch.int64))


def test_prototype_scores_deterministic_and_scale_invariant():
    emb = _blobs(seed=2)
    a = prototype_scores(emb, k=5, seed=7).scores
    b = prototype_scores(emb.clone(), k=5, seed=7).scores
    assert torch.equal(a, b)
    c = prototype_scores(emb * 12.5, k=5, seed=7).scores  # cosine score of normalised embeddings
    torch.testing.assert_close(a, c, rtol=0, atol=1e-10)


def test_prototype_scores_centre_point_is_easiest():
    # a tight cluster around (1, 0) plus two outliers at +-45 degrees (the centroid stays on the x axis):
    # the central point is easiest, the outliers hardest, with the hand value 1 - cos(45 deg)
    angles = torch.tensor([-0.02, -0.01, 0.0, 0.01, 0.02, math.pi / 4, -math.pi / 4], dtype=torch.float64)
    emb = torch.stack([angles.cos(), angles.sin()], 1)
    s = prototype_scores(emb, k=1, seed=0).scores
    assert int(s.argmin()) == 2
    assert float(s[5]) == pytest.approx(1 - math.cos(math.pi / 4), abs=1e-12)
    assert select_subset(s, 2 / 7, "hard", hard="high").tolist() == [5, 6]
    assert select_subset(s, 1 / 7, "easy", hard="high").tolist() == [2]


@pytest.mark.parametrize("k", [0, 61, 2.0, True])
def test_prototype_scores_bad_k(k):
    with pytest.raises(ValueError, match="k must be"):
        prototype_scores(_blobs(), k=k)


def test_prototype_scores_bad_embeddings():
    emb = _blobs()
    emb[3, 1] = float("nan")
    with pytest.raises(ValueError, match="finite"):
        prototype_scores(emb, k=2)
    zero = _blobs()
    zero[0] = 0.0
    with pytest.raises(ValueError, match="zero row"):
        prototype_scores(zero, k=2)
    with pytest.raises(ValueError, match="metric"):
        prototype_scores(_blobs(), k=2, metric="l1")
    with pytest.raises(ValueError, match="2-D"):
        prototype_scores(torch.randn(10), k=2)


# ---------------------------------------------------------------- subset selection

def test_keep_easy_and_keep_hard_are_complementary_and_sized():
    scores = torch.randn(40, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for hard in ("low", "high"):
        h = select_subset(scores, 0.5, "hard", hard=hard)
        e = select_subset(scores, 0.5, "easy", hard=hard)
        assert len(h) == len(e) == 20
        assert set(h.tolist()).isdisjoint(e.tolist()) and set(h.tolist()) | set(e.tolist()) == set(range(40))
        # keep-hard at 0.25 and keep-easy at 0.75 partition the set too
        h25, e75 = select_subset(scores, 0.25, "hard", hard=hard), select_subset(scores, 0.75, "easy", hard=hard)
        assert len(h25) == 10 and len(e75) == 30 and set(h25.tolist()) | set(e75.tolist()) == set(range(40))
        # every kept-hard score is at least as hard as every kept-easy score
        sh, se = scores[h], scores[e]
        assert (sh.max() <= se.min()) if hard == "low" else (sh.min() >= se.max())


def test_select_subset_fraction_one_keeps_all_and_floor():
    scores = torch.arange(10, dtype=torch.float32)
    for keep in ("easy", "hard"):
        assert select_subset(scores, 1.0, keep, hard="low").tolist() == list(range(10))
    assert select_subset(scores, 1.0, "random", hard="low", seed=0).tolist() == list(range(10))
    assert select_subset(scores, 0.39, "hard", hard="low").tolist() == [0, 1, 2]  # floor(3.9) = 3
    assert select_subset(scores, 0.3, "easy", hard="low").tolist() == [7, 8, 9]  # 0.3*10 is 3 despite rounding
    assert select_subset(scores, 0.3, "easy", hard="high").tolist() == [0, 1, 2]
    assert n_kept(1300, 0.1) == 130


def test_select_subset_ties_and_random_determinism():
    scores = torch.zeros(6)
    assert select_subset(scores, 0.5, "hard", hard="low").tolist() == [0, 1, 2]
    assert select_subset(scores, 0.5, "easy", hard="low").tolist() == [3, 4, 5]
    r1 = select_subset(torch.zeros(100), 0.3, "random", hard="low", seed=5)
    r2 = select_subset(torch.zeros(100), 0.3, "random", hard="low", seed=5)
    r3 = select_subset(torch.zeros(100), 0.3, "random", hard="low", seed=6)
    assert torch.equal(r1, r2) and not torch.equal(r1, r3) and len(set(r1.tolist())) == 30


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.01, float("nan"), "half"])
def test_select_subset_bad_fraction(fraction):
    with pytest.raises(ValueError, match="fraction"):
        select_subset(torch.randn(10), fraction, "hard", hard="low")


def test_select_subset_bad_inputs():
    with pytest.raises(ValueError, match="keeps none"):
        select_subset(torch.randn(10), 0.05, "hard", hard="low")
    with pytest.raises(ValueError, match="keep must be"):
        select_subset(torch.randn(10), 0.5, "middle", hard="low")
    with pytest.raises(ValueError, match="hard must be"):
        select_subset(torch.randn(10), 0.5, "easy", hard="small")
    with pytest.raises(ValueError, match="seed"):
        select_subset(torch.randn(10), 0.5, "random", hard="low")
    with pytest.raises(ValueError, match="finite"):
        select_subset(torch.tensor([0.0, float("nan")]), 0.5, "easy", hard="low")
    with pytest.raises(ValueError, match="1-D float"):
        select_subset(torch.arange(4), 0.5, "easy", hard="low")


# ---------------------------------------------------------------- margins

def test_linear_margins_of_a_known_teacher():
    teacher = torch.tensor([3.0, 4.0], dtype=torch.float64)  # unit direction (0.6, 0.8)
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-4.0, 3.0], [-1.0, -1.0], [2.0, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(linear_margins(x, teacher), torch.tensor([0.6, 0.8, 0.0, 1.4, 2.0], dtype=torch.float64))
    torch.testing.assert_close(linear_margins(x, 10 * teacher), linear_margins(x, teacher))
    # keep-hard keeps the point on the decision boundary and the next one
    assert select_subset(linear_margins(x, teacher), 0.4, "hard", hard="low").tolist() == [0, 2]
    with pytest.raises(ValueError, match="non-zero"):
        linear_margins(x, torch.zeros(2, dtype=torch.float64))
    with pytest.raises(ValueError, match="one entry per input dimension"):
        linear_margins(x, torch.ones(3, dtype=torch.float64))
    bad = x.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="finite"):
        linear_margins(bad, teacher)


def test_classifier_margins_against_loop():
    g = torch.Generator().manual_seed(0)
    s = torch.randn(7, 4, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3, 0, 1, 2])
    expected = torch.tensor([float(s[i, y[i]] - max(s[i, c] for c in range(4) if c != y[i])) for i in range(7)],
                            dtype=torch.float64)
    torch.testing.assert_close(classifier_margins(s, y), expected)
    with pytest.raises(ValueError, match="labels must lie"):
        classifier_margins(s, torch.tensor([0, 1, 2, 3, 4, 1, 2]))
    with pytest.raises(ValueError, match="at least 2 classes"):
        classifier_margins(s[:, :1], torch.zeros(7, dtype=torch.int64))


# ---------------------------------------------------------------- perceptron

def test_generalisation_error_hand_angles():
    t = torch.tensor([1.0, 0.0], dtype=torch.float64)
    assert generalisation_error(t, t) == 0.0
    assert generalisation_error(torch.tensor([0.0, 2.0], dtype=torch.float64), t) == pytest.approx(0.5, abs=1e-15)
    assert generalisation_error(-t, t) == pytest.approx(1.0, abs=1e-15)
    theta = 0.3
    j = torch.tensor([math.cos(theta), math.sin(theta)], dtype=torch.float64)
    assert generalisation_error(7 * j, t) == pytest.approx(theta / math.pi, abs=1e-12)
    with pytest.raises(ValueError, match="same shape"):
        generalisation_error(torch.ones(3, dtype=torch.float64), t)


@pytest.mark.parametrize("theta_deg", [0.0, 10.0, 30.0, 90.0])
def test_probe_has_exact_angle(theta_deg):
    _, _, teacher = teacher_student(50, 5, seed=1)
    j = probe_at_angle(teacher, math.radians(theta_deg), seed=2)
    assert float(j.norm()) == pytest.approx(1.0, abs=1e-12)
    assert generalisation_error(j, teacher) * 180 == pytest.approx(theta_deg, abs=1e-8)
    with pytest.raises(ValueError, match="theta"):
        probe_at_angle(teacher, 4.0, seed=0)


def test_teacher_student_labels_and_determinism():
    x, y, t = teacher_student(20, 200, seed=4)
    assert x.shape == (200, 20) and x.dtype == torch.float64
    assert torch.equal(y, torch.sign(x @ t))
    x2, y2, t2 = teacher_student(20, 200, seed=4)
    assert torch.equal(x, x2) and torch.equal(t, t2)
    assert not torch.equal(teacher_student(20, 200, seed=5)[0], x)


def test_max_margin_two_points_by_hand():
    # z1 = (1, 0), z2 = (0, 1): the min-norm point of their hull is (1/2, 1/2); w = (1, 1) gives margins 1
    x = torch.tensor([[1.0, 0.0], [0.0, -1.0]], dtype=torch.float64)
    y = torch.tensor([1.0, -1.0], dtype=torch.float64)
    torch.testing.assert_close(max_margin_student(x, y), torch.tensor([1.0, 1.0], dtype=torch.float64))


def test_max_margin_kkt_certificate_on_teacher_data():
    x, y, t = teacher_student(30, 120, seed=0)
    w = max_margin_student(x, y)
    z = (x * y.unsqueeze(1)).numpy()
    m = z @ w.numpy()
    assert m.min() == pytest.approx(1.0, abs=1e-9)  # feasible and tight
    # w must be a non-negative combination of the margin-1 (support) points only
    support = m < 1 + 1e-7
    coef, resid = nnls(z[support].T, w.numpy())
    assert resid < 1e-6 * np.linalg.norm(w.numpy())
    # and it beats chance clearly on this separable problem
    assert generalisation_error(w, t) < 0.3


def test_max_margin_rejects_non_separable():
    x = torch.tensor([[1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64)
    with pytest.raises(ValueError, match="not linearly separable"):
        max_margin_student(x, torch.tensor([1.0, 1.0], dtype=torch.float64))
    with pytest.raises(ValueError, match="-1 and \\+1"):
        max_margin_student(x, torch.tensor([1.0, 0.0], dtype=torch.float64))


def test_unpruned_error_times_alpha_in_classical_band():
    # max-margin learning: eps ~ 0.50 / alpha at large alpha (classical result, used as a loose band)
    vals = []
    for alpha in (16, 32):
        errs = []
        for s in range(2):
            x, y, t = teacher_student(60, alpha * 60, seed=100 + s)
            errs.append(generalisation_error(max_margin_student(x, y), t))
        vals.append(alpha * float(np.mean(errs)))
    assert all(0.35 < v < 0.7 for v in vals), vals


def test_two_step_draw_labels_margins_and_distribution():
    from mlcompanion.data.perceptron import canonical_teacher, complete_inputs, plane_probe_margins, teacher_projections

    proj = teacher_projections(4000, seed=3)
    assert torch.equal(proj, teacher_projections(4000, seed=3))
    idx = torch.arange(0, 4000, 2)
    x, y = complete_inputs(proj, idx, 6, seed=5)
    t = canonical_teacher(6)
    assert x.shape == (2000, 6) and torch.equal(y, torch.where(x @ t >= 0, 1.0, -1.0).double())
    assert torch.equal(x[:, :2], proj[idx])
    # the completed inputs are standard Gaussian in every coordinate (moments of 2000 draws)
    assert x.mean(0).abs().max() < 0.1 and (torch.cov(x.T) - torch.eye(6, dtype=torch.float64)).abs().max() < 0.1
    # plane probe margins equal linear_margins with the explicit probe
    theta = math.radians(30)
    probe = math.cos(theta) * t + math.sin(theta) * canonical_teacher(6).roll(1)
    assert torch.allclose(plane_probe_margins(proj[idx], theta), linear_margins(x, probe), atol=1e-12)
    assert torch.allclose(plane_probe_margins(proj, 0.0), proj[:, 0].abs())
    with pytest.raises(ValueError):
        complete_inputs(proj, torch.tensor([1, 1]), 6, seed=0)
    with pytest.raises(ValueError):
        plane_probe_margins(proj, 4.0)


def test_two_step_draw_unpruned_error_matches_direct_draw():
    # the same distribution as teacher_student: unpruned max-margin error at alpha = 4, N = 20 (40 draws each)
    from mlcompanion.data.perceptron import canonical_teacher, complete_inputs, teacher_projections

    n, p = 20, 80
    direct, two_step = [], []
    for s in range(40):
        x, y, t = teacher_student(n, p, seed=s)
        direct.append(generalisation_error(max_margin_student(x, y), t))
        proj = teacher_projections(p, seed=s)
        x2, y2 = complete_inputs(proj, torch.arange(p), n, seed=1000 + s)
        two_step.append(generalisation_error(max_margin_student(x2, y2), canonical_teacher(n)))
    se = math.sqrt((np.var(direct) + np.var(two_step)) / 40)
    assert abs(np.mean(direct) - np.mean(two_step)) < 3 * se
