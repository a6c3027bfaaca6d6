"""Retrieval metrics against pytorch-metric-learning's AccuracyCalculator, torchmetrics' hit rate,
hand-worked cases, and blocked == unblocked k-NN."""

import numpy as np
import pytest
import torch
from pytorch_metric_learning.distances import CosineSimilarity as PMLCosine
from pytorch_metric_learning.distances import LpDistance
from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator
from pytorch_metric_learning.utils.inference import CustomKNN
from torchmetrics.retrieval import RetrievalHitRate

from mlcompanion.distances import CosineSimilarity, EuclideanDistance
from mlcompanion.metrics import knn, map_at_r, nmi, precision_at_1, r_precision, recall_at_k, retrieval_metrics


def data(seed, n=240, d=8, classes=20):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, classes, (n,), generator=g)
    centers = torch.randn(classes, d, generator=g)
    x = centers[y] + 1.2 * torch.randn(n, d, generator=g)
    y[:3] = torch.tensor([100, 101, 102])  # lone queries: skipped
    return x, y


@pytest.mark.parametrize("ours_dist,pml_dist", [(CosineSimilarity(), PMLCosine()),
                                                (EuclideanDistance(), LpDistance(normalize_embeddings=False))])
def test_against_pml_accuracy_calculator(ours_dist, pml_dist):
    calc = AccuracyCalculator(include=("precision_at_1", "r_precision", "mean_average_precision_at_r"),
                              k="max_bin_count", knn_func=CustomKNN(pml_dist))
    for seed in range(3):
        x, y = data(seed)
        ref = calc.get_accuracy(x, y, x, y, ref_includes_query=True)
        ours = retrieval_metrics(x, y, distance=ours_dist)
        assert ours["R@1"] == pytest.approx(ref["precision_at_1"], abs=1e-9)
        assert ours["r_precision"] == pytest.approx(ref["r_precision"], abs=1e-9)
        assert ours["map_at_r"] == pytest.approx(ref["mean_average_precision_at_r"], abs=1e-9)


def test_recall_at_k_against_torchmetrics_hit_rate():
    x, y = data(1, n=120)
    sim = CosineSimilarity()(x)
    n = len(y)
    off_diag = ~torch.eye(n, dtype=torch.bool)
    preds = sim[off_diag]
    target = (y.unsqueeze(1) == y.unsqueeze(0))[off_diag]
    indexes = torch.arange(n).unsqueeze(1).expand(n, n)[off_diag]
    ours = recall_at_k(x, y, ks=(1, 2, 4, 8))
    for k in (1, 2, 4, 8):
        ref = RetrievalHitRate(top_k=k, empty_target_action="skip")(preds, target, indexes=indexes)
        assert ours[k] == pytest.approx(ref.item(), abs=1e-6)


def test_hand_worked_case():
    # 1-D points; Euclidean distance. Labels: a a a b b c.
    x = torch.tensor([[0.0], [1.0], [5.0], [2.0], [6.0], [11.0]])
    y = torch.tensor([0, 0, 0, 1, 1, 2])
    d = EuclideanDistance()
    # neighbours: 0 -> 1,3,2 ; 1 -> 0,3,2 ; 2 -> 4,3,1 ; 3 -> 1,0,2 ; 4 -> 2,3 ; 5 (lone) skipped
    assert precision_at_1(x, y, distance=d) == pytest.approx((1 + 1 + 0 + 0 + 0) / 5)
    # R = 2,2,2,1,1. R-precision: 0:{1,3}->1/2 ; 1:{0,3}->1/2 ; 2:{4,3}->0 ; 3:{1}->0 ; 4:{2}->0
    assert r_precision(x, y, distance=d) == pytest.approx((0.5 + 0.5) / 5)
    # MAP@R: 0: rel at rank1 -> (1/1)/2 = 0.5 ; 1: same 0.5 ; others 0
    assert map_at_r(x, y, distance=d) == pytest.approx(1.0 / 5)
    # Recall@2: 0 yes, 1 yes, 2: {4,3} no, 3: {1,0} no, 4: {2,3} yes (3 is a b)
    assert recall_at_k(x, y, ks=(2,), distance=d)[2] == pytest.approx(3 / 5)


def test_blocked_equals_unblocked():
    x, y = data(2, n=300)
    a = knn(x, 10, block_size=7)
    b = knn(x, 10, block_size=10_000)
    assert torch.equal(a, b)
    assert not torch.any(a == torch.arange(300).unsqueeze(1))  # never its own neighbour
    assert retrieval_metrics(x, y, block_size=13) == retrieval_metrics(x, y, block_size=4096)


def test_knn_against_reference_set():
    x = torch.tensor([[0.0], [3.0]])
    ref = torch.tensor([[2.9], [0.2], [10.0]])
    assert knn(x, 2, reference=ref, distance=EuclideanDistance()).tolist() == [[1, 0], [0, 1]]


def test_nmi_perfect_and_permutation_invariant():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(60) % 4
    x = torch.eye(4)[y] * 10 + 0.01 * torch.randn(60, 4, generator=g)
    assert nmi(x, y) == pytest.approx(1.0)
    perm = torch.tensor([2, 0, 3, 1])[y]
    assert nmi(x, perm) == pytest.approx(1.0)
    noise = torch.randn(60, 4, generator=g)
    assert nmi(noise, y) < 0.3


def test_nmi_seeded():
    x, y = data(3, n=150)
    assert nmi(x, y, seed=1) == nmi(x, y, seed=1)


def test_bad_inputs():
    x, y = data(0, n=20)
    with pytest.raises(ValueError, match="one entry per embedding"):
        retrieval_metrics(x, y[:-1])
    with pytest.raises(ValueError, match="ks"):
        recall_at_k(x, y, ks=(0,))
    with pytest.raises(ValueError, match="no query"):
        map_at_r(x[:3], torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="k must be"):
        knn(x, 20)
    with pytest.raises(ValueError, match="floating-point"):
        retrieval_metrics(x.long(), y)
    with pytest.raises(ValueError, match="finite"):
        retrieval_metrics(torch.full_like(x, np.nan), y)
    with pytest.raises(TypeError, match="ks must be an int or a sequence"):
        recall_at_k(x, y, ks=2.0)


# --- ties and half precision (issue 13) ---------------------------------------------------------

@pytest.mark.parametrize("k", [1, 3, 7])
def test_knn_breaks_ties_by_reference_index(k):
    # four copies of one point and four of another: every query's neighbours are tied in groups
    x = torch.tensor([[1.0, 0.0]] * 4 + [[0.0, 1.0]] * 4)
    idx = knn(x, k, distance=EuclideanDistance())
    for q in range(8):
        same_group = [i for i in range(8) if i != q and (i < 4) == (q < 4)]
        other_group = [i for i in range(8) if (i < 4) != (q < 4)]
        assert idx[q].tolist() == (same_group + other_group)[:k]


def test_ties_give_one_neighbour_list_whatever_k():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 3, (40, 2), generator=g).float()  # 9 distinct points, many exact ties
    ref = knn(x, 39, distance=EuclideanDistance())
    for k in (1, 2, 5, 17):
        assert torch.equal(knn(x, k, distance=EuclideanDistance(), block_size=7), ref[:, :k])


def test_recall_at_1_equals_precision_at_1_on_tied_data():
    x = torch.zeros(12, 4)  # every embedding identical: all distances tied
    y = torch.tensor([0, 1, 2] * 4)
    # by the index rule every query's first neighbour is item 0 (item 1 for query 0)
    expected = sum(int(y[1 if q == 0 else 0] == y[q]) for q in range(12)) / 12
    assert recall_at_k(x, y, ks=(1, 4))[1] == precision_at_1(x, y) == pytest.approx(expected)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_retrieval_in_half_precision_matches_float64(dtype):
    x, y = data(4, n=60)
    x = (x * 200).to(dtype)  # rows of norm in the hundreds: the float16 Gram expansion overflows
    for distance in (EuclideanDistance(), CosineSimilarity()):
        got = retrieval_metrics(x, y, distance=distance)
        want = retrieval_metrics(x.double(), y, distance=distance)
        assert got == pytest.approx(want, abs=1e-9)


def test_no_exported_metric_is_shadowed_by_a_submodule():
    # the import system binds an imported submodule as an attribute of its package: a submodule
    # named like an exported function would replace it (`metrics.inductive_bias` was both)
    import subprocess
    import sys

    import mlcompanion.metrics as metrics

    assert not set(metrics._EXPORTS) & set(metrics.__all__)
    code = (
        "import importlib, types, mlcompanion.metrics as m\n"
        "for sub in m._EXPORTS: importlib.import_module('mlcompanion.metrics.' + sub)\n"
        "bad = [n for n in m.__all__ if isinstance(getattr(m, n), types.ModuleType)]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
