"""Tests of mlcompanion.metrics.label_geometry (Loki's Fréchet-mean rule, E[d²], locus, label metrics) and of
mlcompanion.data.label_graph (the paper-profile loader), paper ``loki`` (arXiv:2307.12226)."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest
import torch
from scipy.sparse.csgraph import shortest_path

from mlcompanion.data.folders import DatasetNotFoundError
from mlcompanion.data.label_graph import check_label_graph_layout, load_label_graph_embeddings, read_label_graph
from mlcompanion.metrics.label_geometry import (
    argmax_predict,
    check_label_metric,
    discrete_metric,
    euclidean_metric,
    expected_squared_distance,
    frechet_objective,
    frechet_predict,
    graph_metric,
    grid_metric,
    locus,
    path_metric,
    simplex_grid,
)


def _random_probs(n, k, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, k, generator=g, dtype=dtype).mul(2).softmax(1)


def _random_euclidean(N, p=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return euclidean_metric(torch.randn(N, p, generator=g, dtype=torch.float64))


# ------------------------------------------------------------------------------------------------
# the prediction rule
# ------------------------------------------------------------------------------------------------


def test_discrete_metric_gives_argmax():
    probs = _random_probs(200, 7, seed=1)
    assert torch.equal(frechet_predict(probs, discrete_metric(7)), probs.argmax(1))
    # also with unobserved labels in the space: the rule still returns the argmax observed label
    observed = torch.tensor([3, 11, 0, 8, 5, 14, 9])
    expected = observed[probs.argmax(1)]
    assert torch.equal(frechet_predict(probs, discrete_metric(15), observed), expected)
    assert torch.equal(argmax_predict(probs, observed), expected)


def test_path_metric_hand_cases():
    D = path_metric(10)
    obs = [0, 9]
    # 0.5 y^2 + 0.5 (9 - y)^2 is minimal at 4.5: labels 4 and 5 tie exactly (20.5), lowest index wins
    assert frechet_predict(torch.tensor([[0.5, 0.5]]), D, obs).tolist() == [4]
    # 0.7 y^2 + 0.3 (9 - y)^2 is minimal at y = 2.7 -> 3 (scores 8.2 at 3 vs 9.1 at 2)
    assert frechet_predict(torch.tensor([[0.7, 0.3]]), D, obs).tolist() == [3]
    S = frechet_objective(torch.tensor([[0.7, 0.3]], dtype=torch.float64), D, obs)
    assert S[0, 3].item() == pytest.approx(0.7 * 9 + 0.3 * 36)
    assert S[0, 2].item() == pytest.approx(0.7 * 4 + 0.3 * 49)


def test_grid_metric_hand_case_and_figure1_locus():
    D = grid_metric(10, 10)
    # weights 1/2, 1/2 on labels 0 = (0, 0) and 99 = (9, 9): the minimisers are the labels at
    # Manhattan distance 9 from both (the anti-diagonal i + j = 9), the lowest of which is 9 = (0, 9)
    assert frechet_predict(torch.tensor([[0.5, 0.5]]), D, [0, 99]).tolist() == [9]
    S = frechet_objective(torch.tensor([[0.5, 0.5]], dtype=torch.float64), D, [0, 99])
    assert torch.isclose(S[0], S[0].min()).nonzero().flatten().tolist() == [9, 18, 27, 36, 45, 54, 63, 72, 81, 90]
    # Figure 1 of the paper: observed {0, 39, 99}; argmax reaches 3 labels, the Fréchet rule 19
    reached = locus(D, [0, 39, 99], n_steps=100).tolist()
    assert reached == list(range(10)) + [19, 29, 39, 49, 59, 69, 79, 89, 99]
    assert locus(D, [0, 39, 99], n_steps=200).tolist() == reached
    assert locus(discrete_metric(100), [0, 39, 99], n_steps=50).tolist() == [0, 39, 99]


def test_one_hot_returns_that_label():
    D = _random_euclidean(30, seed=3)
    observed = torch.tensor([4, 17, 22, 9])
    probs = torch.eye(4, dtype=torch.float64)
    assert frechet_predict(probs, D, observed).tolist() == observed.tolist()
    # and on a graph with many ties (the grid)
    assert frechet_predict(torch.eye(3), grid_metric(10, 10), [0, 39, 99]).tolist() == [0, 39, 99]


def test_vectorised_equals_loop_over_labels():
    N, K = 25, 6
    D = _random_euclidean(N, seed=4)
    observed = torch.tensor([1, 5, 7, 12, 20, 24])
    probs = _random_probs(50, K, seed=5)
    pred = frechet_predict(probs, D, observed)
    for n in range(len(probs)):
        scores = [sum(probs[n, i].item() * D[y, observed[i]].item() ** 2 for i in range(K)) for y in range(N)]
        assert pred[n].item() == int(np.argmin(scores))


def test_euclidean_metric_rule_is_nearest_label_to_weighted_mean():
    """Independent derivation: with d = ||e_a - e_b||, Σ p_i ||e_y - e_λi||² = ||e_y - Σ p_i e_λi||² + const."""
    g = torch.Generator().manual_seed(6)
    E = torch.randn(40, 8, generator=g, dtype=torch.float64)
    D = euclidean_metric(E)
    assert torch.allclose(D, torch.cdist(E, E), atol=1e-6)
    observed = torch.tensor([0, 3, 10, 33, 39])
    probs = _random_probs(100, 5, seed=7)
    mean = probs @ E[observed]
    nearest = torch.cdist(mean, E).argmin(1)
    assert torch.equal(frechet_predict(probs, D, observed), nearest)
    assert (~torch.isin(nearest, observed)).any()  # the rule does predict unobserved labels here


def test_invariance_to_relabelling():
    N = 20
    D = _random_euclidean(N, seed=8)
    observed = torch.tensor([2, 7, 11, 19])
    probs = _random_probs(80, 4, seed=9)
    pred = frechet_predict(probs, D, observed)
    perm = torch.randperm(N, generator=torch.Generator().manual_seed(10))  # new label of old label a: perm[a]
    inv = torch.argsort(perm)
    D_new = D[inv][:, inv]  # D_new[perm[a], perm[b]] = D[a, b]
    assert torch.equal(D_new[perm][:, perm], D)
    pred_new = frechet_predict(probs, D_new, perm[observed])
    assert torch.equal(pred_new, perm[pred])
    target = torch.randint(0, N, (80,), generator=torch.Generator().manual_seed(11))
    assert expected_squared_distance(pred_new, perm[target], D_new).item() == pytest.approx(
        expected_squared_distance(pred, target, D).item())
    # permuting the probability columns together with the observed list changes nothing either
    cols = torch.tensor([3, 0, 2, 1])
    assert torch.equal(frechet_predict(probs[:, cols], D, observed[cols]), pred)


def test_gradcheck_objective():
    D = _random_euclidean(6, seed=12)
    probs = _random_probs(4, 3, seed=13).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda p: frechet_objective(p, D, [0, 2, 5]), (probs,))


def test_locus_and_simplex_grid():
    W = simplex_grid(3, 4)
    assert W.shape == (15, 3) and torch.allclose(W.sum(1), torch.ones(15, dtype=torch.float64))
    assert len({tuple(r) for r in W.tolist()}) == 15
    assert simplex_grid(4, 6).shape[0] == 84  # C(9, 3)
    # the locus of {0, 9} on the path is the whole segment 0..9; of {0, 4} on a path of 10 labels, 0..4
    assert locus(path_metric(10), [0, 9], n_steps=90).tolist() == list(range(10))
    assert locus(path_metric(10), [0, 4], n_steps=40).tolist() == list(range(5))
    with pytest.raises(ValueError, match="simplex grid"):
        simplex_grid(10, 200)


# ------------------------------------------------------------------------------------------------
# the evaluation metric and the label metrics
# ------------------------------------------------------------------------------------------------


def test_expected_squared_distance_hand_case():
    D = path_metric(5)
    pred = torch.tensor([0, 1, 4, 2])
    target = torch.tensor([0, 3, 1, 2])
    # squared distances 0, 4, 9, 0 -> mean 13 / 4
    assert expected_squared_distance(pred, target, D).item() == pytest.approx(3.25)
    assert expected_squared_distance(target, target, D).item() == 0.0
    # the discrete metric turns it into the error rate
    assert expected_squared_distance(pred, target, discrete_metric(5)).item() == pytest.approx(0.5)


def test_grid_and_graph_metrics_against_networkx_and_scipy():
    G = nx.grid_2d_graph(4, 6)
    order = {node: k for k, node in enumerate(G.nodes())}
    assert all(order[(i, j)] == 6 * i + j for i, j in G.nodes())
    lengths = dict(nx.all_pairs_shortest_path_length(G))
    ref = torch.tensor([[lengths[a][b] for b in G.nodes()] for a in G.nodes()], dtype=torch.float64)
    assert torch.equal(grid_metric(4, 6), ref)
    edges = np.array([[order[a], order[b]] for a, b in G.edges()])
    assert torch.equal(graph_metric(edges, 24), ref)
    # a weighted tree against scipy directly
    tree = np.array([[0, 5], [1, 5], [2, 6], [3, 6], [5, 4], [6, 4]])
    w = np.array([1.0, 2.0, 1.0, 1.0, 3.0, 0.5])
    A = np.zeros((7, 7))
    A[tree[:, 0], tree[:, 1]] = w
    assert np.allclose(graph_metric(tree, 7, w).numpy(), shortest_path(A, directed=False))
    assert graph_metric(tree, 7, w)[0, 2].item() == pytest.approx(1 + 3 + 0.5 + 1)
    with pytest.raises(ValueError, match="connected"):
        graph_metric(np.array([[0, 1]]), 3)


# ------------------------------------------------------------------------------------------------
# bad inputs
# ------------------------------------------------------------------------------------------------


def test_bad_metrics_raise():
    probs = torch.tensor([[0.5, 0.5]])
    D = path_metric(4)
    bad_asym = D.clone()
    bad_asym[0, 1] = 5.0
    with pytest.raises(ValueError, match="symmetric"):
        frechet_predict(probs, bad_asym, [0, 1])
    with pytest.raises(ValueError, match="non-negative"):
        frechet_predict(probs, -D, [0, 1])
    bad_diag = D + torch.eye(4)
    with pytest.raises(ValueError, match="zero diagonal"):
        check_label_metric(bad_diag)
    with pytest.raises(ValueError, match="square"):
        frechet_predict(probs, D[:3], [0, 1])
    with pytest.raises(ValueError, match="floating"):
        check_label_metric(D.long())
    nan = D.clone()
    nan[1, 2] = nan[2, 1] = float("nan")
    with pytest.raises(ValueError, match="finite"):
        check_label_metric(nan)


def test_bad_probabilities_and_shapes_raise():
    D = path_metric(5)
    with pytest.raises(ValueError, match="sum to 1"):
        frechet_predict(torch.tensor([[0.5, 0.6]]), D, [0, 4])
    with pytest.raises(ValueError, match="non-negative"):
        frechet_predict(torch.tensor([[1.5, -0.5]]), D, [0, 4])
    with pytest.raises(ValueError, match="one label per probability column"):
        frechet_predict(torch.tensor([[0.5, 0.5]]), D, [0, 1, 4])
    with pytest.raises(ValueError, match="K != N"):
        frechet_predict(torch.tensor([[0.5, 0.5]]), D)
    with pytest.raises(ValueError, match=r"lie in \[0, 4\]"):
        frechet_predict(torch.tensor([[0.5, 0.5]]), D, [0, 5])
    with pytest.raises(ValueError, match="distinct"):
        frechet_predict(torch.tensor([[0.5, 0.5]]), D, [2, 2])
    with pytest.raises(ValueError, match="2-D"):
        frechet_predict(torch.tensor([0.5, 0.5]), D, [0, 4])
    with pytest.raises(ValueError, match="floating"):
        frechet_predict(torch.tensor([[1, 0]]), D, [0, 4])
    with pytest.raises(ValueError, match="same shape"):
        expected_squared_distance(torch.tensor([0, 1]), torch.tensor([0, 1, 2]), D)
    with pytest.raises(ValueError, match=r"lie in \[0, 4\]"):
        expected_squared_distance(torch.tensor([0, 7]), torch.tensor([0, 1]), D)
    with pytest.raises(ValueError, match="integer"):
        expected_squared_distance(torch.tensor([0.0, 1.0]), torch.tensor([0, 1]), D)
    with pytest.raises(ValueError, match="non-empty"):
        expected_squared_distance(torch.tensor([], dtype=torch.long), torch.tensor([], dtype=torch.long), D)


# ------------------------------------------------------------------------------------------------
# the paper-profile loader on a tiny fake folder
# ------------------------------------------------------------------------------------------------


def _make_fake_folder(root, with_graph=True):
    rng = np.random.default_rng(0)
    classes = ["n001", "n002", "n003", "n004"]
    (root / "embeddings").mkdir(parents=True)
    (root / "classes.txt").write_text("\n".join(classes) + "\n")
    if with_graph:  # root -> {animal -> n001, n002; thing -> n003, n004}
        (root / "label_graph.txt").write_text(
            "# child parent\nn001 animal\nn002 animal\nn003 thing\nn004 thing\nanimal entity\nthing entity\n")
    else:
        np.save(root / "label_distances.npy", path_metric(4).numpy())
    for split, n in (("train", 12), ("val", 8)):
        np.save(root / f"embeddings/{split}.npy", rng.normal(size=(n, 3)).astype(np.float32))
        np.save(root / f"embeddings/{split}_labels.npy", np.arange(n) % 4)
    return root


def test_loader_reads_fake_folder(tmp_path):
    data = load_label_graph_embeddings(_make_fake_folder(tmp_path / "a"))
    assert data.classes == ["n001", "n002", "n003", "n004"] and data.num_classes == 4
    assert data.train_x.shape == (12, 3) and data.val_y.tolist() == [0, 1, 2, 3, 0, 1, 2, 3]
    expected = torch.tensor([[0, 2, 4, 4], [2, 0, 4, 4], [4, 4, 0, 2], [4, 4, 2, 0]], dtype=torch.float64)
    assert torch.equal(data.D, expected)
    data2 = load_label_graph_embeddings(_make_fake_folder(tmp_path / "b", with_graph=False))
    assert torch.equal(data2.D, path_metric(4))


def test_loader_fails_clearly(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="data_root is None"):
        check_label_graph_layout(None)
    with pytest.raises(DatasetNotFoundError, match="not an existing folder"):
        check_label_graph_layout(tmp_path / "nope")
    root = _make_fake_folder(tmp_path / "c")
    (root / "embeddings/val_labels.npy").unlink()
    (root / "label_graph.txt").unlink()
    with pytest.raises(DatasetNotFoundError, match="val_labels.npy.*label_graph.txt") as err:
        check_label_graph_layout(root)
    assert "embeddings/val.npy" in str(err.value)  # the message shows the expected layout
    root = _make_fake_folder(tmp_path / "d")
    (root / "label_graph.txt").write_text("n001 animal\nn002 animal\nn003 thing\n")
    with pytest.raises(ValueError, match="n004"):
        read_label_graph(root / "label_graph.txt", ["n001", "n002", "n003", "n004"])
    root = _make_fake_folder(tmp_path / "e")
    np.save(root / "embeddings/train_labels.npy", np.arange(12))
    with pytest.raises(ValueError, match=r"lie in \[0, 3\]"):
        load_label_graph_embeddings(root)


@pytest.mark.parametrize("K", [2, 3])
def test_complete_graph_over_all_labels_equals_argmax_exhaustively(K):
    """Every vertex of a coarse simplex grid: the complete-graph metric never leaves the observed set."""
    W = simplex_grid(K, 7)
    observed = torch.tensor(list(itertools.islice(range(1, 30, 4), K)))
    pred = frechet_predict(W, discrete_metric(30), observed)
    assert torch.isin(pred, observed).all()
    clear = (W.max(1).values > W.topk(2, dim=1).values[:, 1] if K > 1 else torch.ones(len(W), dtype=torch.bool))
    assert torch.equal(pred[clear], observed[W.argmax(1)][clear])


# ------------------------------------------------------------------------------------------------
# the official one-vs-rest head, the glyph label tree, the ultrametric property
# ------------------------------------------------------------------------------------------------


def _ovr_reference(x, y, C):
    """Independent one-vs-rest logistic regression: each binary problem 0.5||w||² + C Σ log(1 + exp(-s(w·x + b)))
    minimised by scipy's BFGS with the analytic gradient, sigmoids divided by their sum."""
    from scipy.optimize import minimize
    from scipy.special import expit

    classes = np.unique(y)
    sig = []
    for c in classes:
        s = np.where(y == c, 1.0, -1.0)

        def f(theta):
            w, b = theta[:-1], theta[-1]
            m = s * (x @ w + b)
            loss = 0.5 * w @ w + C * np.sum(np.logaddexp(0.0, -m))
            g = -C * s * expit(-m)
            return loss, np.concatenate([w + x.T @ g, [g.sum()]])

        theta = minimize(f, np.zeros(x.shape[1] + 1), jac=True, method="BFGS", options={"gtol": 1e-10}).x
        sig.append(theta)
    return classes, sig


def test_ovr_head_matches_independent_reference():
    from scipy.special import expit

    from mlcompanion.models.ovr_logistic import fit_ovr_logistic

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 3)) * 1.5
    y = np.repeat(np.array([2, 5, 7, 9]), 25)
    x = centres[np.searchsorted([2, 5, 7, 9], y)] + rng.normal(size=(100, 3))
    x_eval = rng.normal(size=(30, 3)) * 2
    for C in (0.1, 1.0):
        head = fit_ovr_logistic(torch.from_numpy(x), torch.from_numpy(y), C=C, tol=1e-12, max_iter=10_000)
        assert head.converged and head.n_iter < head.max_iter
        assert head.classes.tolist() == [2, 5, 7, 9]
        probs = head.predict_proba(torch.from_numpy(x_eval))
        classes, thetas = _ovr_reference(x, y, C)
        raw = np.stack([expit(x_eval @ t[:-1] + t[-1]) for t in thetas], 1)
        ref = raw / raw.sum(1, keepdims=True)
        assert probs.dtype == torch.float64 and probs.shape == (30, 4)
        np.testing.assert_allclose(probs.sum(1).numpy(), 1.0, atol=1e-12)
        np.testing.assert_allclose(probs.numpy(), ref, atol=1e-6)
        default = fit_ovr_logistic(x, y, C=C).predict_proba(x_eval)  # the official tolerance: close, not exact
        np.testing.assert_allclose(default.numpy(), ref, atol=2e-3)


def test_ovr_head_reports_non_convergence_and_rejects_bad_input():
    from mlcompanion.models.ovr_logistic import fit_ovr_logistic

    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 5))
    y = np.repeat([0, 1, 2], 20)
    assert not fit_ovr_logistic(x, y, max_iter=1).converged
    with pytest.raises(ValueError, match="at least 3 classes"):
        fit_ovr_logistic(x[:40], y[:40])
    with pytest.raises(ValueError, match="integer labels"):
        fit_ovr_logistic(x, y.astype(float))
    with pytest.raises(ValueError, match="C must be"):
        fit_ovr_logistic(x, y, C=0.0)
    with pytest.raises(ValueError, match="finite"):
        fit_ovr_logistic(np.full((60, 5), np.nan), y)
    head = fit_ovr_logistic(x, y)
    with pytest.raises(ValueError, match="5 features"):
        head.predict_proba(np.zeros((2, 4)))


def test_glyph_label_tree_distances_by_hand():
    from mlcompanion.data.label_graph import edge_list_metric, glyph_character_info, glyph_label_tree

    assert glyph_character_info("A") == ("LATIN", "upper", "A")
    assert glyph_character_info("σ") == ("GREEK", "lower", "SIGMA")
    assert glyph_character_info("7") == ("DIGIT", "digit", "SEVEN")
    with pytest.raises(ValueError):
        glyph_character_info("+")
    classes = ["1", "2", "A", "B", "a", "Σ", "σ", "ω", "Б"]
    i = {c: k for k, c in enumerate(classes)}
    D = edge_list_metric(glyph_label_tree(classes, case_links=False), classes)
    assert D[i["1"], i["2"]] == 2 and D[i["A"], i["B"]] == 2 and D[i["A"], i["a"]] == 4 and D[i["A"], i["Σ"]] == 6
    assert D[i["1"], i["A"]] == 6 and D[i["Σ"], i["ω"]] == 4
    L = edge_list_metric(glyph_label_tree(classes), classes)
    assert L[i["A"], i["a"]] == 1 and L[i["Σ"], i["σ"]] == 1 and L[i["B"], i["a"]] == 3 and L[i["Σ"], i["ω"]] == 3
    assert L[i["A"], i["B"]] == 2 and L[i["1"], i["Б"]] == 6
    # networkx on the same edges agrees
    G = nx.Graph(glyph_label_tree(classes))
    for a in classes:
        for b in classes:
            assert L[i[a], i[b]] == nx.shortest_path_length(G, a, b)
    with pytest.raises(ValueError, match="appear in no edge"):
        edge_list_metric([("A", "<X>")], ["A", "B"])


def test_ultrametric_tree_never_predicts_unobserved():
    from mlcompanion.data.label_graph import edge_list_metric, glyph_label_tree

    classes = list("123ABCDabcdΣΦΨσφψωБДЖбдж")
    D = edge_list_metric(glyph_label_tree(classes, case_links=False), classes)
    L = edge_list_metric(glyph_label_tree(classes, case_links=True), classes)
    g = torch.Generator().manual_seed(0)
    outside_links = 0
    for trial in range(20):
        observed = torch.randperm(len(classes), generator=g)[:5].sort().values
        probs = torch.rand(500, 5, generator=g, dtype=torch.float64).pow(3)
        probs = probs / probs.sum(1, keepdim=True)
        assert bool(torch.isin(frechet_predict(probs, D, observed), observed).all())
        outside_links += int((~torch.isin(frechet_predict(probs, L, observed), observed)).sum())
    assert outside_links > 0  # the case links break the ultrametric


def test_frechet_predict_takes_half_precision_probabilities():
    # float16 rows normalised in float16 sum to 1 only within K * eps (eps = 1e-3): accepted, and the
    # prediction is the one of the same probabilities in float64 (issue 13)
    from mlcompanion.metrics.label_geometry import frechet_predict, path_metric

    g = torch.Generator().manual_seed(0)
    p = torch.rand(50, 12, generator=g, dtype=torch.float64)
    p16 = (p / p.sum(1, keepdim=True)).half()
    p16 = p16 / p16.sum(1, keepdim=True)
    D = path_metric(12)
    p64 = p16.double() / p16.double().sum(1, keepdim=True)  # the same vectors, renormalised exactly
    assert torch.equal(frechet_predict(p16, D), frechet_predict(p64, D))
