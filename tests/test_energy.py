"""Energy Confusion (ECAML, energy_confusion) of mlcompanion.losses.energy.

No library implements EC, so the references are the hand-worked case of the brief (from the
paper's equation), an independent float64 port of the C++ gradient accumulation of
``src/energy_confusion.cpp``, gradcheck, and structural checks (the adversarial split: no EC
gradient into the backbone; the sampling rules). The binomial base loss of the released prototxt is
checked against a float64 port of the backward of ``src/BIER_loss_layer.cpp`` (one learner).
"""

import math

import numpy as np
import pytest
import torch
from torch import nn

from mlcompanion.losses import BinomialDevianceLoss
from mlcompanion.losses.energy import EnergyConfusedLoss, EnergyConfusion, log_energy, sample_energy_pairs
from mlcompanion.models import EmbeddingNet, SmallConvNet

HAND_E = [[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [3.0, 0.0]]
HAND_PAIRS = [(0, 1), (0, 2), (1, 3)]


def pair_mask(n, pairs):
    m = torch.zeros(n, n, dtype=torch.bool)
    for i, j in pairs:
        m[i, j] = True
    return m


def cpp_ec_gradient(e, labels, pairs, lam=1.0):
    """Port of EnergyConfusionLossLayer::Forward_cpu/Backward_cpu (float64 numpy loops):
    diff_i += (e_i - e_j)/w, diff_j -= (e_i - e_j)/w, E += 0.5||e_i - e_j||^2 / w; grad = lam * diff / E."""
    e = np.asarray(e, dtype=np.float64)
    y = np.asarray(labels)
    n = len(y)
    w_pos = sum(y[i] == y[j] for i in range(n) for j in range(i + 1, n))
    w_neg = n * (n - 1) // 2 - w_pos
    diff = np.zeros_like(e)
    energy = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            if pairs[i][j]:
                w = w_pos if y[i] == y[j] else w_neg
                c = e[i] - e[j]
                energy += 0.5 * c @ c / w
                diff[i] += c / w
                diff[j] -= c / w
    return energy, lam * diff / energy


# ------------------------------------------------------------------ hand vector and the C++ port

def test_hand_vector():
    e = torch.tensor(HAND_E, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 1, 2, 3])
    out = log_energy(e, y, pair_mask(4, HAND_PAIRS))
    assert out.exp().item() == pytest.approx(0.75, abs=1e-12)
    assert out.item() == pytest.approx(-0.287682, abs=1e-6)
    out.backward()
    expected = torch.tensor([[-2 / 9, -4 / 9], [-2 / 9, 0], [0, 4 / 9], [4 / 9, 0]], dtype=torch.float64)
    torch.testing.assert_close(e.grad, expected, atol=1e-12, rtol=0)


@pytest.mark.parametrize("sampling", ["negatives", "positional"])
def test_autograd_matches_cpp_accumulation(sampling):
    lam = 0.13
    for seed in range(8):
        g = torch.Generator().manual_seed(seed)
        n = 40
        y = torch.randint(0, 7, (n,), generator=g)
        e = (3 * torch.randn(n, 5, generator=g, dtype=torch.float64)).requires_grad_()
        pairs = sample_energy_pairs(y, n_partners=4, sampling=sampling, generator=g)
        if sampling == "positional":
            assert bool((pairs & (y[:, None] == y[None, :])).any())  # random labels: positives drawn too
        out = lam * log_energy(e, y, pairs)
        out.backward()
        energy, grad = cpp_ec_gradient(e.detach().numpy(), y.numpy(), pairs.numpy(), lam)
        assert out.item() == pytest.approx(lam * math.log(energy), abs=1e-12)
        np.testing.assert_allclose(e.grad.numpy(), grad, atol=1e-12, rtol=1e-10)


def test_gradcheck():
    g = torch.Generator().manual_seed(3)
    y = torch.randint(0, 4, (12,), generator=g)
    pairs = sample_energy_pairs(y, 3, "negatives", g)
    e = torch.randn(12, 4, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: log_energy(t, y, pairs), (e,))
    assert torch.autograd.gradgradcheck(lambda t: log_energy(t, y, pairs), (e,))


def test_invariances():
    g = torch.Generator().manual_seed(5)
    y = torch.arange(8).repeat_interleave(3)
    pairs = sample_energy_pairs(y, 5, "negatives", g)
    e = torch.randn(24, 6, generator=g, dtype=torch.float64)
    base = log_energy(e, y, pairs)
    # translation (the bias b) leaves E unchanged; scaling by c adds 2 log c to log E
    assert log_energy(e + torch.randn(6, generator=g, dtype=torch.float64), y, pairs).item() == pytest.approx(base.item(), abs=1e-12)
    assert log_energy(2.5 * e, y, pairs).item() == pytest.approx(base.item() + 2 * math.log(2.5), abs=1e-12)
    # relabelling classes changes nothing; a rotation of the embedding space changes nothing
    assert log_energy(e, y + 100, pairs).item() == pytest.approx(base.item(), abs=1e-12)
    q, _ = torch.linalg.qr(torch.randn(6, 6, generator=g, dtype=torch.float64))
    assert log_energy(e @ q, y, pairs).item() == pytest.approx(base.item(), abs=1e-12)


def test_weights_use_counts_over_all_pairs():
    # 2 classes x 2: 2 positive pairs, 4 negative pairs among the 6 i<j pairs
    e = torch.tensor([[0.0], [1.0], [3.0], [7.0]], dtype=torch.float64)
    y = torch.tensor([0, 0, 1, 1])
    got = log_energy(e, y, pair_mask(4, [(0, 1), (0, 2)])).exp().item()
    assert got == pytest.approx(0.5 * 1 / 2 + 0.5 * 9 / 4, abs=1e-12)


def test_no_pair_gives_connected_zero():
    e = torch.randn(4, 3, requires_grad=True)
    y = torch.zeros(4, dtype=torch.long)  # a single class: no negative partner exists
    ec = EnergyConfusion(n_partners=3, sampling="negatives")
    out = ec(e, y)
    assert out.item() == 0.0 and out.requires_grad
    out.backward()
    assert torch.equal(e.grad, torch.zeros_like(e))
    # all sampled pairs identical: E = 0 is clamped, the value stays finite
    assert torch.isfinite(log_energy(torch.ones(4, 3), torch.arange(4), pair_mask(4, [(0, 1)])))


# ------------------------------------------------------------------ sampling

def test_positional_never_draws_positives_on_official_order():
    y = torch.arange(65).repeat_interleave(2)  # 65 classes x 2 consecutive images, batch 130
    same = y[:, None] == y[None, :]
    for seed in range(20):
        pairs = sample_energy_pairs(y, 10, "positional", torch.Generator().manual_seed(seed))
        assert not bool((pairs & same).any())
        rows = pairs.sum(1)
        assert torch.equal(rows[:110], torch.full((110,), 10)) and int(rows[110:].sum()) == 0
        i, j = pairs.nonzero(as_tuple=True)
        assert bool((j >= i + 2).all())


def test_positional_hits_positives_with_m_per_class():
    y = torch.arange(16).repeat_interleave(4)  # our ClassBalancedBatchSampler order
    pairs = sample_energy_pairs(y, 10, "positional", torch.Generator().manual_seed(0))
    assert bool((pairs & (y[:, None] == y[None, :])).any())


def test_negatives_sampling():
    y = torch.arange(16).repeat_interleave(4)[torch.randperm(64, generator=torch.Generator().manual_seed(1))]
    same = y[:, None] == y[None, :]
    pairs = sample_energy_pairs(y, 10, "negatives", torch.Generator().manual_seed(0))
    assert not bool((pairs & same).any())
    assert not bool(torch.tril(pairs).any())
    sym = pairs | pairs.T
    assert bool((sym.sum(1) >= 10).all())  # every anchor has at least its own 10 partners
    # seeded: same seed same pairs, another seed other pairs
    again = sample_energy_pairs(y, 10, "negatives", torch.Generator().manual_seed(0))
    other = sample_energy_pairs(y, 10, "negatives", torch.Generator().manual_seed(1))
    assert torch.equal(pairs, again) and not torch.equal(pairs, other)
    a, b = EnergyConfusion(seed=4), EnergyConfusion(seed=4)
    e = torch.randn(64, 8)
    assert a(e, y).item() == b(e, y).item()


# ------------------------------------------------------------------ the adversarial split

class _ZeroMetric(nn.Module):
    def forward(self, emb, labels):
        return emb.sum() * 0.0


def _model():
    torch.manual_seed(0)
    return EmbeddingNet(SmallConvNet(in_channels=1, embedding_dim=16, width=4, image_size=16), 8)


def test_backbone_receives_no_ec_gradient():
    model = _model()
    x = torch.rand(24, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    y = torch.arange(6).repeat_interleave(4)
    loss, emb = EnergyConfusedLoss(_ZeroMetric(), ec_lambda=0.13, n_partners=5).batch_loss(model, x, y)
    loss.backward()
    assert emb.shape == (24, 8) and torch.allclose(emb.norm(dim=1), torch.ones(24))
    for name, p in model.backbone.named_parameters():
        assert p.grad is None or torch.count_nonzero(p.grad) == 0, name
    assert torch.count_nonzero(model.fc.weight.grad) > 0
    # b receives (up to rounding) no EC gradient: E only sees differences e_i - e_j, in which b cancels
    # (the C++ layer's accumulated diffs also sum to 0 over the batch)
    assert model.fc.bias.grad.abs().max() < 1e-6 * model.fc.weight.grad.abs().max() + 1e-7

    # the same term without the detach would reach the backbone: the check above can fail
    model.zero_grad()
    g, _ = model.forward_features_and_embedding(x)
    log_energy(model.fc(g), y, sample_energy_pairs(y, 5)).backward()
    assert any(torch.count_nonzero(p.grad) > 0 for p in model.backbone.parameters() if p.grad is not None)


def test_total_gradient_split():
    """Backbone gradient of the total == that of the metric loss alone; fc gets metric + lambda * EC."""
    x = torch.rand(24, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    y = torch.arange(6).repeat_interleave(4)
    grads = {}
    for lam in (0.0, 0.13):
        model = _model()
        loss, _ = EnergyConfusedLoss(BinomialDevianceLoss(), ec_lambda=lam, n_partners=5, seed=2).batch_loss(model, x, y)
        loss.backward()
        grads[lam] = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    for name in grads[0.0]:
        if name.startswith("backbone."):
            torch.testing.assert_close(grads[0.13][name], grads[0.0][name], atol=1e-6, rtol=1e-5)
    assert not torch.allclose(grads[0.13]["fc.weight"], grads[0.0]["fc.weight"])


def test_objective_records_stats():
    model = _model()
    obj = EnergyConfusedLoss(ec_lambda=0.0)
    x = torch.rand(24, 1, 16, 16)
    y = torch.arange(6).repeat_interleave(4)
    loss, _ = obj.batch_loss(model, x, y)
    s = obj.last_stats
    assert loss.item() == pytest.approx(s["metric"])
    # log E = 2 log ||W|| + log E(W/||W||, b dropped), since b cancels in the differences
    assert s["log_E"] == pytest.approx(2 * math.log(s["W_norm"]) + s["log_E_unit_W"], abs=1e-4)


# ------------------------------------------------------------------ the binomial base loss

def bier_gradient(x, labels, alpha=2.0, beta=0.5, cost_p=1.0, cost_n=25.0):
    """Port of BIERLossLayer::Forward_cpu's gradient accumulation, one learner (M = 1), float64."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(labels)
    n = len(y)
    w_pos = sum(y[i] == y[j] for i in range(n) for j in range(i + 1, n))
    w_neg = n * (n - 1) // 2 - w_pos
    diff = np.zeros_like(x)
    for i in range(n):
        for j in range(i + 1, n):
            w = w_pos if y[i] == y[j] else w_neg
            param = -alpha * cost_p if y[i] == y[j] else alpha * cost_n
            inner, ni, nj = x[i] @ x[j], np.linalg.norm(x[i]), np.linalg.norm(x[j])
            ans = math.exp(param * (inner / (ni * nj) - beta))
            coef = param * ans / (w + w * ans)
            diff[i] += coef * (x[j] / (ni * nj) - inner / (ni ** 3 * nj) * x[i])
            diff[j] += coef * (x[i] / (ni * nj) - inner / (nj ** 3 * ni) * x[j])
    return diff


def test_binomial_hand_vector_and_bier_gradient():
    e = torch.tensor([[0, 1], [0.43, 0.9], [1, 0], [0.5, 0.5]], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 0, 1, 1])
    loss = BinomialDevianceLoss()(e, y)
    assert loss.item() == pytest.approx(8.570942, abs=1e-6)
    pos = BinomialDevianceLoss(c_neg=1e-12)(e, y).item() - math.log(2)  # negative part -> log 2 each
    assert pos == pytest.approx(0.438505, abs=1e-6)
    loss.backward()
    np.testing.assert_allclose(e.grad.numpy(), bier_gradient(e.detach().numpy(), y.numpy()), atol=1e-10)
    for seed in range(4):
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(20, 6, generator=g, dtype=torch.float64, requires_grad=True)
        lab = torch.randint(0, 5, (20,), generator=g)
        BinomialDevianceLoss()(x, lab).backward()
        np.testing.assert_allclose(x.grad.numpy(), bier_gradient(x.detach().numpy(), lab.numpy()), atol=1e-10)


# ------------------------------------------------------------------ bad inputs

def test_bad_inputs():
    y = torch.arange(4)
    e = torch.randn(4, 3)
    with pytest.raises(ValueError, match="n_partners"):
        EnergyConfusion(n_partners=0)
    with pytest.raises(ValueError, match="sampling"):
        EnergyConfusion(sampling="random")
    with pytest.raises(ValueError, match="generator"):
        EnergyConfusion(generator="seed")
    with pytest.raises(ValueError, match="seed"):
        EnergyConfusion(seed=-1)
    with pytest.raises(ValueError, match="labels"):
        sample_energy_pairs(torch.zeros(4), 2)
    with pytest.raises(ValueError, match="labels"):
        sample_energy_pairs([0, 1], 2)
    with pytest.raises(ValueError, match="pairs must be a bool"):
        log_energy(e, y, torch.zeros(3, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="strictly upper"):
        log_energy(e, y, pair_mask(4, [(2, 1)]))
    with pytest.raises(ValueError, match="2-D"):
        EnergyConfusion()(torch.randn(4), y)
    with pytest.raises(ValueError, match="finite"):
        EnergyConfusion()(torch.full((4, 3), float("nan")), y)
    with pytest.raises(ValueError, match="one entry per embedding"):
        EnergyConfusion()(e, torch.arange(5))
    with pytest.raises(ValueError, match="ec_lambda"):
        EnergyConfusedLoss(ec_lambda=-0.1)
    with pytest.raises(ValueError, match="metric_loss"):
        EnergyConfusedLoss(metric_loss=lambda a, b: a.sum())
    with pytest.raises(ValueError, match="forward_features_and_embedding"):
        EnergyConfusedLoss().batch_loss(nn.Linear(3, 2), e, y)
