"""SNR distance and the zero-mean regulariser (snr_distance, Yuan et al. CVPR 2019).

References and adapters:
- pytorch-metric-learning 2.9.0 ``SNRDistance``: ``compute_mat(query, ref)[i, j] = var(query_i - ref_j)
  / var(query_i)`` with the unbiased ``torch.var`` (the 1/(M-1) cancels in the ratio), so its rows are
  anchors, like ours. It L2-normalises first unless ``normalize_embeddings=False``:
  ``SNRDistance(normalize_embeddings=False)`` == ours ``SNRDistance()``, and
  ``SNRDistance()`` == ours ``SNRDistance(normalize=True)``.
- pytorch-metric-learning ``SignalToNoiseRatioContrastiveLoss(pos_margin, neg_margin,
  embedding_regularizer=ZeroMeanRegularizer(), embedding_reg_weight=lam)`` == ours
  ``ZeroMeanRegularizedLoss(ContrastiveLoss(pos_margin, neg_margin, distance=SNRDistance(normalize=True)), lam)``
  (regulariser on the raw batch in both).
- pytorch-metric-learning ``TripletMarginLoss(margin, distance=SNRDistance(normalize_embeddings=False))``
  == ours ``TripletMarginLoss(margin, distance=SNRDistance())`` (all triplets, mean over non-zero).
- Revisiting-DML ``criteria/snr.py``: ported here as an explicit loop over triplets (float64).
"""

import itertools

import pytest
import torch
from pytorch_metric_learning import distances as pml_distances
from pytorch_metric_learning import losses as pml_losses
from pytorch_metric_learning import regularizers as pml_regularizers

from mlcompanion.distances import SquaredEuclideanDistance
from mlcompanion.distances.snr import SNRDistance, snr_distance
from mlcompanion.losses import ContrastiveLoss, MultiSimilarityLoss, TripletMarginLoss
from mlcompanion.losses.regularizers import ZeroMeanRegularizedLoss, zero_mean_penalty
from mlcompanion.metrics.retrieval import knn


def rand(n, d, seed=0, dtype=torch.float64, scale=1.0, shift=0.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=dtype) * scale + shift


def labels(n, classes, seed=0):
    return torch.randint(0, classes, (n,), generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------ the distance


def test_matches_pml_raw():
    x, y = rand(20, 9, 1, shift=0.3), rand(13, 9, 2, scale=2.0)
    ref = pml_distances.SNRDistance(normalize_embeddings=False)
    assert torch.allclose(SNRDistance()(x, y), ref(x, y), rtol=0, atol=1e-12)
    ours, theirs = SNRDistance()(x), ref(x)
    assert (ours - theirs).abs().max() <= 1e-12


def test_matches_pml_normalised():
    x, y = rand(16, 8, 3, scale=5.0), rand(11, 8, 4)
    ref = pml_distances.SNRDistance()  # its default L2-normalises
    assert torch.allclose(SNRDistance(normalize=True)(x, y), ref(x, y), atol=1e-12)
    xn = torch.nn.functional.normalize(x, dim=1)
    yn = torch.nn.functional.normalize(y, dim=1)
    assert torch.allclose(SNRDistance()(xn, yn), ref(x, y), atol=1e-12)


def test_hand_vectors():
    h = torch.tensor([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]], dtype=torch.float64)
    # var(h1 - h0) / var(h0) = var(h0) / var(h0) = 1;  var(h0 - h1) / var(h1) = var(h0) / (4 var(h0)) = 1/4
    assert torch.equal(SNRDistance()(h), torch.tensor([[0.0, 1.0], [0.25, 0.0]], dtype=torch.float64))
    h = torch.tensor([[1.0, 2.0, 3.0], [1.0, 3.0, 2.0]], dtype=torch.float64)
    # noise (0, 1, -1): var 2/3; var(h0) = var(h1) = 2/3
    assert torch.allclose(SNRDistance()(h), torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float64))


def test_closed_form_equals_literal_variances():
    x, y = rand(7, 5, 5, shift=-1.0), rand(6, 5, 6, scale=0.5)
    d = SNRDistance()(x, y)
    a, b = zip(*itertools.product(range(7), range(6)))
    literal = snr_distance(x[list(a)], y[list(b)]).reshape(7, 6)
    assert torch.allclose(d, literal, atol=1e-13)


@pytest.mark.parametrize("n", [2, 31, 200])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_self_distance_exactly_zero(n, dtype):
    x = rand(n, 16, n, dtype=dtype, scale=30.0, shift=7.0)
    assert torch.all(torch.diagonal(SNRDistance()(x)) == 0)
    assert torch.all(torch.diagonal(SNRDistance(normalize=True)(x)) == 0)
    assert torch.all(SNRDistance()(x) >= 0)


def test_invariances_and_asymmetry():
    x = rand(10, 6, 7)
    d = SNRDistance()(x)
    shifted = x + rand(10, 1, 8) * 10  # a constant added to all coordinates of each vector
    assert torch.allclose(SNRDistance()(shifted), d, atol=1e-10)
    assert torch.allclose(SNRDistance()(3.7 * x), d, atol=1e-12)  # common rescaling of both vectors
    # not invariant to rescaling one vector, and not symmetric; but the noise var(h_j - h_i) is symmetric,
    # so d[i, j] var(h_i) = d[j, i] var(h_j)
    assert not torch.allclose(SNRDistance()(x * torch.linspace(1, 2, 10, dtype=x.dtype)[:, None]), d, atol=1e-3)
    assert not torch.allclose(d, d.T, atol=1e-3)
    v = x.var(dim=1, unbiased=False)
    assert torch.allclose(d * v[:, None], (d * v[:, None]).T, atol=1e-12)


def test_zero_mean_equal_norm_is_two_minus_two_cos():
    x = rand(25, 12, 9)
    x = x - x.mean(1, keepdim=True)
    unit = x / x.norm(dim=1, keepdim=True)
    cos = unit @ unit.T
    assert torch.allclose(SNRDistance()(unit), (2 - 2 * cos).fill_diagonal_(0), atol=1e-12)
    # equal norm r (not 1): d_S = ||a - b||^2 / r^2, squared Euclidean up to a constant
    r = 3.0
    assert torch.allclose(SNRDistance()(r * unit), SquaredEuclideanDistance()(r * unit) / r**2, atol=1e-12)
    # without centring the identity fails: this is what the zero-mean regulariser is for
    raw = rand(25, 12, 10, shift=1.0)
    raw = raw / raw.norm(dim=1, keepdim=True)
    assert not torch.allclose(SNRDistance()(raw), SquaredEuclideanDistance()(raw), atol=1e-2)


def test_retrieval_ranking_is_centred_squared_euclid():
    x = rand(60, 8, 11, shift=0.5) * torch.linspace(0.5, 2.0, 60, dtype=torch.float64)[:, None]
    centred = x - x.mean(1, keepdim=True)
    assert torch.equal(knn(x, 5, distance=SNRDistance()), knn(centred, 5, distance=SquaredEuclideanDistance()))


def test_gradcheck():
    x = rand(5, 4, 12).requires_grad_(True)
    y = rand(3, 4, 13).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b: SNRDistance()(a, b), (x, y))
    assert torch.autograd.gradcheck(lambda a: SNRDistance()(a), (x,))
    assert torch.autograd.gradcheck(lambda a: SNRDistance(normalize=True)(a), (x,))


def test_gradients_finite_at_zero_and_constant_vectors():
    x = rand(6, 5, 14)
    x[1] = x[0]  # a duplicate row: off-diagonal zero distance
    x[2] = 4.0  # a constant vector: zero variance, guarded by eps
    x.requires_grad_(True)
    d = SNRDistance()(x)
    assert torch.isfinite(d).all()
    d.sum().backward()
    assert torch.isfinite(x.grad).all()
    assert d[0, 1] == 0 and d[1, 0] == 0 and d[3, 2] > 0
    assert torch.isfinite(snr_distance(x[2:3].detach(), x[:1].detach())).all()


def test_bad_inputs():
    x = rand(4, 3)
    with pytest.raises(ValueError, match="floating-point"):
        SNRDistance()(torch.ones(4, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="2-D"):
        SNRDistance()(x[0])
    with pytest.raises(ValueError, match="same embedding size"):
        SNRDistance()(x, rand(4, 5))
    with pytest.raises(ValueError, match="same dtype"):
        SNRDistance()(x, x.float())
    with pytest.raises(ValueError, match="finite"):
        SNRDistance()(torch.full((2, 3), float("nan")))
    with pytest.raises(ValueError, match="torch.Tensor"):
        SNRDistance()([[1.0, 2.0]])
    with pytest.raises(ValueError, match="eps"):
        SNRDistance(eps=0.0)
    with pytest.raises(ValueError, match="same shape"):
        snr_distance(x, rand(3, 3))


# ------------------------------------------------------------------ regulariser and losses


def test_zero_mean_penalty_hand_case():
    h = torch.tensor([[1.0, 2.0, -3.0], [1.0, 1.0, 1.0], [-2.0, 0.0, 0.0]])
    # |0| + |3| + |-2| over 3 embeddings
    assert zero_mean_penalty(h).item() == pytest.approx(5.0 / 3.0)
    ref = pml_regularizers.ZeroMeanRegularizer()
    assert zero_mean_penalty(h).item() == pytest.approx(ref(h).item())
    loss = ZeroMeanRegularizedLoss(ContrastiveLoss(distance=SNRDistance()), weight=0.5)
    base = ContrastiveLoss(distance=SNRDistance())(h, torch.tensor([0, 0, 1]))
    assert loss(h, torch.tensor([0, 0, 1])).item() == pytest.approx(base.item() + 0.5 * 5.0 / 3.0)


def test_regulariser_bad_inputs():
    with pytest.raises(ValueError, match="weight"):
        ZeroMeanRegularizedLoss(ContrastiveLoss(), weight=-1.0)
    with pytest.raises(ValueError, match="callable"):
        ZeroMeanRegularizedLoss(3.0)
    with pytest.raises(ValueError, match="2-D"):
        zero_mean_penalty(torch.ones(3))
    with pytest.raises(ValueError, match="one entry per embedding"):
        ZeroMeanRegularizedLoss(ContrastiveLoss())(torch.ones(3, 2), torch.zeros(2, dtype=torch.long))


@pytest.mark.parametrize("lam", [0.0, 0.005, 0.3])
def test_snr_contrastive_matches_pml(lam):
    x, y = rand(32, 10, 15, shift=0.2), labels(32, 6, 15)
    ours = ZeroMeanRegularizedLoss(
        ContrastiveLoss(pos_margin=0.0, neg_margin=1.0, distance=SNRDistance(normalize=True)), weight=lam)
    theirs = pml_losses.SignalToNoiseRatioContrastiveLoss(
        pos_margin=0.0, neg_margin=1.0, embedding_regularizer=pml_regularizers.ZeroMeanRegularizer(),
        embedding_reg_weight=lam)
    assert ours(x, y).item() == pytest.approx(theirs(x, y).item(), abs=1e-12)


@pytest.mark.parametrize("normalize", [False, True])
def test_snr_triplet_matches_pml(normalize):
    x, y = rand(24, 8, 16), labels(24, 5, 16)
    ours = TripletMarginLoss(margin=0.2, distance=SNRDistance(normalize=normalize))
    theirs = pml_losses.TripletMarginLoss(margin=0.2, distance=pml_distances.SNRDistance(normalize_embeddings=normalize))
    assert ours(x, y).item() == pytest.approx(theirs(x, y).item(), abs=1e-12)


def revisiting_snr_triplet(x, y, margin=0.2, lam=0.005):
    """Port of Revisiting-DML criteria/snr.py (all triplets, raw features), with a zero-division guard."""
    losses = []
    for a, p, n in itertools.permutations(range(len(y)), 3):
        if y[a] == y[p] and y[a] != y[n]:
            d_ap = torch.var(x[p] - x[a]) / torch.var(x[a])
            d_an = torch.var(x[n] - x[a]) / torch.var(x[a])
            losses.append(torch.relu(d_ap - d_an + margin))
    losses = torch.stack(losses)
    nonzero = losses[losses > 0]
    triplet = nonzero.mean() if len(nonzero) else losses.sum() * 0
    return triplet + lam * torch.mean(torch.abs(torch.sum(x, dim=1)))


def test_snr_triplet_matches_revisiting_port():
    x, y = rand(12, 6, 17, shift=0.4), labels(12, 3, 17)
    ours = ZeroMeanRegularizedLoss(TripletMarginLoss(margin=0.2, distance=SNRDistance()), weight=0.005)
    assert ours(x, y).item() == pytest.approx(revisiting_snr_triplet(x, y).item(), abs=1e-12)


def test_no_valid_triplet_gives_connected_zero_and_losses_train():
    x = rand(6, 4, 18).requires_grad_(True)
    loss = TripletMarginLoss(distance=SNRDistance())(x, torch.zeros(6, dtype=torch.long))
    assert loss.item() == 0 and loss.requires_grad
    loss.backward()
    assert torch.equal(x.grad, torch.zeros_like(x))
    # gradients through the SNR triplet loss are finite in float32 too
    x32 = rand(32, 16, 19, dtype=torch.float32).requires_grad_(True)
    ZeroMeanRegularizedLoss(TripletMarginLoss(distance=SNRDistance(normalize=True)))(x32, labels(32, 8)).backward()
    assert torch.isfinite(x32.grad).all() and x32.grad.abs().sum() > 0


def test_similarity_only_losses_refuse_snr():
    with pytest.raises(ValueError, match="similarity"):
        MultiSimilarityLoss(distance=SNRDistance())
