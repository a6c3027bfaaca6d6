"""Metrix (mlcompanion.losses.mixup) and utilization (mlcompanion.metrics.embedding_utilization).

References:
- w = 0 (mixing off): pytorch-metric-learning 2.9.0 ContrastiveLoss(neg_margin=0.5, LpDistance()) and
  MultiSimilarityLoss(2, 40, 0.5) + MultiSimilarityMiner(0.1);
- the contrastive mixed term: an independent float64 port of the official pos-neg code
  (billpsomas/Metrix_ICLR22, mixup/utils.py + mixup/losses.py: list of (anchor, positive, negative)
  triplets, pml LpDistance, lam [d]_+ and (1-lam) [0.5 - d]_+, AvgNonZero each), every positive mixed;
- lam = 1 / lam = 0 limits: the base losses' ``from_matrix`` on the repeated pairs;
- hand-worked values from the paper's MS / contrastive equations on three 2-D points;
- utilization: hand case, scipy cdist.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from pytorch_metric_learning import distances as pml_distances
from pytorch_metric_learning import losses as pml_losses
from pytorch_metric_learning import miners as pml_miners
from scipy.spatial.distance import cdist
from torch import nn

from mlcompanion.distances import CosineSimilarity, EuclideanDistance
from mlcompanion.losses import ContrastiveLoss, MultiSimilarityLoss, TripletMarginLoss
from mlcompanion.losses.mixup import MetrixLoss, metrix_mixed_term, mix_pairs
from mlcompanion.metrics.embedding_utilization import nearest_train_distances, utilization
from mlcompanion.miners import pair_masks
from mlcompanion.models import EmbeddingNet


def contrastive():
    return ContrastiveLoss(pos_margin=0.0, neg_margin=0.5, distance=EuclideanDistance(normalize=True))


def balanced_batch(seed, classes=4, per_class=3, d=8, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = F.normalize(torch.randn(classes * per_class, d, generator=g, dtype=dtype), dim=1)
    y = torch.arange(classes).repeat_interleave(per_class)
    perm = torch.randperm(len(y), generator=g)
    return x[perm], y[perm]


def random_batch(seed, n=24, d=8, classes=5, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=dtype), torch.randint(0, classes, (n,), generator=g)


# ------------------------------------------------------------------ mixing off = base loss

@pytest.mark.parametrize("seed", range(10))
def test_w0_equals_pml(seed):
    x, y = random_batch(seed)
    pml_c = pml_losses.ContrastiveLoss(neg_margin=0.5, distance=pml_distances.LpDistance())
    ours_c = MetrixLoss(contrastive(), w=0.0, generator=seed)
    assert ours_c(x, y).item() == pytest.approx(pml_c(x, y).item(), abs=1e-10)
    pml_ms = pml_losses.MultiSimilarityLoss(alpha=2, beta=40, base=0.5)
    miner = pml_miners.MultiSimilarityMiner(epsilon=0.1)
    ours_ms = MetrixLoss(MultiSimilarityLoss(), w=0.0, generator=seed)
    assert ours_ms(x, y).item() == pytest.approx(pml_ms(x, y, miner(x, y)).item(), abs=1e-10)


def test_mixed_term_is_added_with_weight_w():
    x, y = balanced_batch(0)
    base = MultiSimilarityLoss()
    loss = MetrixLoss(base, w=0.4, generator=0)
    total = loss(x, y, lam=0.3, pairing="pos_neg")
    expected = base(x, y) + 0.4 * metrix_mixed_term(x, y, 0.3, "pos_neg", base)
    assert total.item() == pytest.approx(expected.item(), abs=1e-12)
    assert loss.last_lam == 0.3 and loss.last_pairing == "pos_neg"
    w_an = MetrixLoss(base, w=0.4, w_anchor_neg=0.3, anchor_neg_only_without_pos=False, generator=0)
    expected_an = base(x, y) + 0.3 * metrix_mixed_term(x, y, 0.3, "anchor_neg", base, False)
    assert w_an(x, y, lam=0.3, pairing="anchor_neg").item() == pytest.approx(expected_an.item(), abs=1e-12)


# ------------------------------------------------------------------ lam = 1 / lam = 0 limits (pos-neg)

@pytest.mark.parametrize("seed", range(5))
def test_ms_limits_are_the_base_loss_on_repeated_pairs(seed):
    x, y = balanced_batch(seed)
    base = MultiSimilarityLoss()
    plain = MultiSimilarityLoss(mining=False, dup_thresh=None)  # every pair, nothing dropped
    s = CosineSimilarity()(x)
    pos, neg = pair_masks(y)
    n_pos, n_neg = pos.sum(1, keepdim=True).double(), neg.sum(1, keepdim=True).double()
    # lam = 1: every mix is its positive, counted |N(a)| times; no negative part.
    # |N| e^{-alpha (s - b)} = e^{-alpha (s - log|N|/alpha - b)}; negatives pushed far away contribute 0.
    s1 = torch.where(pos, s - n_neg.log() / base.alpha, torch.where(neg, torch.full_like(s, -1e3), s))
    assert metrix_mixed_term(x, y, 1.0, "pos_neg", base).item() == pytest.approx(plain.from_matrix(s1, y).item(), abs=1e-12)
    # lam = 0: every mix is its negative, counted |P(a)| times; no positive part.
    s0 = torch.where(neg, s + n_pos.log() / base.beta, torch.where(pos, torch.full_like(s, 1e3), s))
    assert metrix_mixed_term(x, y, 0.0, "pos_neg", base).item() == pytest.approx(plain.from_matrix(s0, y).item(), abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_contrastive_limits_are_the_base_loss_on_repeated_pairs(seed):
    # In an m-per-class batch |N(a)| and |P(a)| are the same for every anchor, so repeating each pair
    # that many times leaves the AvgNonZero means unchanged.
    x, y = balanced_batch(seed)
    base = contrastive()
    d = base.distance(x)
    pos, neg = pair_masks(y)
    only_pos = torch.where(neg, torch.full_like(d, 10.0), d)  # negatives beyond the margin: 0 loss
    only_neg = torch.where(pos, torch.zeros_like(d), d)       # positives at distance 0: 0 loss
    assert metrix_mixed_term(x, y, 1.0, "pos_neg", base).item() == pytest.approx(base.from_matrix(only_pos, y).item(), abs=1e-12)
    assert metrix_mixed_term(x, y, 0.0, "pos_neg", base).item() == pytest.approx(base.from_matrix(only_neg, y).item(), abs=1e-12)


def test_anchor_neg_lam1_is_the_anchor_itself():
    # u = e_a, v = 1: MS positive part (1/alpha) log(1 + |N(a)| e^{-alpha (1 - b)}) per anchor.
    x, y = balanced_batch(1)
    base = MultiSimilarityLoss()
    _, neg = pair_masks(y)
    per_anchor = torch.log1p(neg.sum(1).double() * math.exp(-2.0 * 0.5)) / 2.0
    got = metrix_mixed_term(x, y, 1.0, "anchor_neg", base, anchor_neg_only_without_pos=False)
    assert got.item() == pytest.approx(per_anchor.mean().item(), abs=1e-12)


# ------------------------------------------------------------------ hand-worked values

def three_points():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-0.6, -0.8]], dtype=torch.float64)
    return x, torch.tensor([0, 0, 1])


def test_ms_hand_value():
    # anchor 0: mix of positive 1 and negative 2 at lam 1/2 is (-0.3, 0.1)/|.| -> s = -3/sqrt(10)
    # anchor 1: mix of positive 0 and negative 2 is (0.2, -0.4)/|.| -> s = -2/sqrt(5); anchor 2 has no positive
    x, y = three_points()

    def l_tilde(s, v=0.5, a=2.0, b=40.0, base=0.5):
        return math.log1p(v * math.exp(-a * (s - base))) / a + math.log1p((1 - v) * math.exp(b * (s - base))) / b

    expected = (l_tilde(-3 / math.sqrt(10)) + l_tilde(-2 / math.sqrt(5))) / 3
    got = metrix_mixed_term(x, y, 0.5, "pos_neg", MultiSimilarityLoss())
    assert got.item() == pytest.approx(expected, abs=1e-12)
    assert got.item() == pytest.approx(0.7534298, abs=1e-6)  # worked by hand: (1.15443 + 1.10583) / 3


def test_contrastive_hand_value():
    # d = sqrt(2 - 2 s) > 0.5 for both mixes: negative side 0, positive side mean of lam * d.
    x, y = three_points()
    d0, d1 = math.sqrt(2 + 6 / math.sqrt(10)), math.sqrt(2 + 4 / math.sqrt(5))
    got = metrix_mixed_term(x, y, 0.5, "pos_neg", contrastive())
    assert got.item() == pytest.approx(0.5 * (0.5 * d0 + 0.5 * d1), abs=1e-12)


# ------------------------------------------------------------------ official contrastive code, ported

def official_posneg_contrastive(x, y, lam, margin=0.5):
    """float64 port of the official embed pos-neg branch: one row per (anchor, positive, negative)."""
    a_idx, p_idx, n_idx = [], [], []
    for a in range(len(y)):
        for p in range(len(y)):
            if p == a or y[p] != y[a]:
                continue
            for n in range(len(y)):
                if y[n] != y[a]:
                    a_idx.append(a), p_idx.append(p), n_idx.append(n)
    mixed = lam * x[p_idx] + (1 - lam) * x[n_idx]
    d = torch.diagonal(pml_distances.LpDistance()(x[a_idx], mixed))
    pos_loss, neg_loss = lam * torch.relu(d), (1 - lam) * torch.relu(margin - d)

    def avg_nonzero(v):
        nz = v[v > 0]
        return nz.mean() if len(nz) else v.sum() * 0

    return avg_nonzero(pos_loss) + avg_nonzero(neg_loss)


@pytest.mark.parametrize("seed", range(8))
def test_contrastive_matches_official_port(seed):
    x, y = random_batch(seed, n=16, d=4, classes=4)
    x = F.normalize(x, dim=1)  # the official model outputs L2-normalised embeddings
    lam = float(np.random.default_rng(seed).beta(2, 2))
    got = metrix_mixed_term(x, y, lam, "pos_neg", contrastive())
    assert got.item() == pytest.approx(official_posneg_contrastive(x, y, lam).item(), abs=1e-10)


# ------------------------------------------------------------------ anchor-neg exclusion, empty batches

def test_anchor_neg_with_official_exclusion_is_zero_and_connected():
    x, y = balanced_batch(2)
    x.requires_grad_(True)
    for base in (MultiSimilarityLoss(), contrastive()):
        assert not mix_pairs(y, "anchor_neg", True).any()
        mixed = metrix_mixed_term(x, y, 0.5, "anchor_neg", base, anchor_neg_only_without_pos=True)
        assert mixed.item() == 0.0
        (grad,) = torch.autograd.grad(mixed, x)
        assert torch.equal(grad, torch.zeros_like(x))
    # with singleton classes in the batch, those anchors do take part
    y2 = y.clone()
    y2[0] = 99
    assert mix_pairs(y2, "anchor_neg", True).any(2).any(1).nonzero().flatten().tolist() == [0]


def test_no_valid_pair_gives_connected_zero():
    x = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    y = torch.zeros(6, dtype=torch.long)  # no negative: no mix of either kind
    for base in (MultiSimilarityLoss(), contrastive()):
        for pairing in ("pos_neg", "anchor_neg"):
            mixed = metrix_mixed_term(x, y, 0.5, pairing, base, anchor_neg_only_without_pos=False)
            assert mixed.item() == 0.0
            (grad,) = torch.autograd.grad(mixed, x)
            assert torch.isfinite(grad).all() and grad.abs().max() == 0
    loss = MetrixLoss(MultiSimilarityLoss(), generator=0)(x, y)  # MS has no clean pair either
    assert loss.item() == 0.0 and torch.autograd.grad(loss, x)[0].abs().max() == 0
    single = MetrixLoss(contrastive(), generator=0)(x[:1], y[:1])
    assert single.item() == 0.0 and single.requires_grad


# ------------------------------------------------------------------ gradients

@pytest.mark.parametrize("pairing", ["pos_neg", "anchor_neg"])
@pytest.mark.parametrize("make_base", [MultiSimilarityLoss, contrastive])
def test_gradcheck(pairing, make_base):
    x, y = balanced_batch(3, classes=3, per_class=2, d=4)
    y[0] = 7  # one anchor without positives, so the anchor-neg branch is not empty
    x.requires_grad_(True)
    base = make_base()
    assert torch.autograd.gradcheck(lambda e: metrix_mixed_term(e, y, 0.4, pairing, base, True), (x,))
    loss = MetrixLoss(base, generator=0)
    assert torch.autograd.gradcheck(lambda e: loss(e, y, lam=0.6, pairing=pairing), (x,))


@pytest.mark.parametrize("lam", [0.0, 1e-6, 0.5, 1 - 1e-6, 1.0])
@pytest.mark.parametrize("make_base", [MultiSimilarityLoss, contrastive])
def test_finite_at_extreme_lam(lam, make_base):
    x, y = balanced_batch(4)
    x.requires_grad_(True)
    for pairing in ("pos_neg", "anchor_neg"):
        loss = MetrixLoss(make_base(), anchor_neg_only_without_pos=False, generator=0)(x, y, lam=lam, pairing=pairing)
        (grad,) = torch.autograd.grad(loss, x)
        assert torch.isfinite(loss) and torch.isfinite(grad).all(), (lam, pairing)


# ------------------------------------------------------------------ feature and input levels

class Linear2(nn.Module):
    feature_dim = 5

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(6, 5).double()

    def forward_features(self, x):
        return self.lin(x)


def test_feature_level_is_mixing_features_then_the_head():
    torch.manual_seed(0)
    model = EmbeddingNet(Linear2(), 3).double()
    x = torch.randn(12, 6, dtype=torch.float64)
    y = torch.arange(4).repeat_interleave(3)
    base = MultiSimilarityLoss()
    loss, emb = MetrixLoss(base, w=1.0, level="feature", generator=0).batch_loss(model, x, y, lam=0.3, pairing="pos_neg")
    # literal definition: mix the pooled features g, then fc, then normalise
    g = model.features(x)
    pos, neg = pair_masks(y)
    total = 0.0
    for a in range(12):
        pos_terms, neg_terms = [], []
        for p in pos[a].nonzero().flatten():
            for n in neg[a].nonzero().flatten():
                u = F.normalize(model.fc(0.3 * g[p] + 0.7 * g[n]), dim=0)
                s = float(emb[a].detach() @ u.detach())
                pos_terms.append(0.3 * math.exp(-2 * (s - 0.5)))
                neg_terms.append(0.7 * math.exp(40 * (s - 0.5)))
        total += math.log1p(sum(pos_terms)) / 2 + math.log1p(sum(neg_terms)) / 40
    assert torch.allclose(emb, model(x))
    assert loss.item() == pytest.approx(base(emb, y).item() + total / 12, abs=1e-10)


def test_input_level_mixes_each_positive_with_the_hardest_negative():
    torch.manual_seed(0)
    model = EmbeddingNet(Linear2(), 3).double()
    x = torch.randn(12, 6, dtype=torch.float64)
    y = torch.arange(4).repeat_interleave(3)
    base = contrastive()
    loss, emb = MetrixLoss(base, w=1.0, level="input", generator=0).batch_loss(model, x, y, lam=0.3, pairing="pos_neg")
    s = (emb @ emb.T).detach()
    pos_l, neg_l = [], []
    for a in range(12):
        h = max((n for n in range(12) if y[n] != y[a]), key=lambda n: float(s[a, n]))
        for p in range(12):
            if p != a and y[p] == y[a]:
                d = float((emb[a] - model((0.3 * x[p] + 0.7 * x[h]).unsqueeze(0))[0]).norm().detach())
                pos_l.append(0.3 * d), neg_l.append(0.7 * max(0.5 - d, 0.0))

    def avg_nonzero(v):
        nz = [t for t in v if t > 0]
        return sum(nz) / len(nz) if nz else 0.0

    assert loss.item() == pytest.approx(base(emb, y).item() + avg_nonzero(pos_l) + avg_nonzero(neg_l), abs=1e-10)


# ------------------------------------------------------------------ sampling

def test_lam_and_pairing_draws_are_seeded_and_beta_distributed():
    x, y = balanced_batch(5)
    a, b = MetrixLoss(MultiSimilarityLoss(), generator=3), MetrixLoss(MultiSimilarityLoss(), generator=3)
    lams, pairs = [], []
    for _ in range(400):
        a(x, y), b(x, y)
        assert a.last_lam == b.last_lam and a.last_pairing == b.last_pairing
        lams.append(a.last_lam), pairs.append(a.last_pairing)
    assert abs(np.mean(lams) - 0.5) < 0.04 and abs(np.var(lams) - 0.05) < 0.015  # Beta(2,2): var 1/20
    assert 150 < pairs.count("pos_neg") < 250
    fixed = MetrixLoss(MultiSimilarityLoss(), pairing="pos_neg", generator=3)
    fixed(x, y)
    assert fixed.last_pairing == "pos_neg"


# ------------------------------------------------------------------ bad inputs

def test_bad_inputs():
    x, y = balanced_batch(0)
    base = MultiSimilarityLoss()
    with pytest.raises(ValueError, match="base must be"):
        MetrixLoss(TripletMarginLoss())
    with pytest.raises(ValueError, match="w must be"):
        MetrixLoss(base, w=-1)
    with pytest.raises(ValueError, match="beta_ab must be"):
        MetrixLoss(base, beta_ab=0)
    with pytest.raises(ValueError, match="pairing must be"):
        MetrixLoss(base, pairing="pos_pos")
    with pytest.raises(ValueError, match="level must be"):
        MetrixLoss(base, level="pixels")
    with pytest.raises(ValueError, match="generator must be"):
        MetrixLoss(base, generator="seed")
    loss = MetrixLoss(base, generator=0)
    with pytest.raises(ValueError, match="lam must lie in"):
        loss(x, y, lam=1.5)
    with pytest.raises(ValueError, match="pairing must be"):
        loss(x, y, pairing="x")
    with pytest.raises(ValueError, match="labels must have one entry"):
        loss(x, y[:-1])
    with pytest.raises(ValueError, match="floating-point"):
        loss(x.long(), y)
    with pytest.raises(ValueError, match="sources must have one row"):
        metrix_mixed_term(x, y, 0.5, "pos_neg", base, sources=x[:-1])
    with pytest.raises(ValueError, match="forward_features_and_embedding"):
        MetrixLoss(base, level="feature", generator=0).batch_loss(nn.Identity(), x, y)


# ------------------------------------------------------------------ utilization

def test_utilization_hand_case():
    q = torch.tensor([[1.0, 0.0]])
    train = torch.tensor([[0.0, 1.0], [0.6, 0.8]])
    assert utilization(q, train) == pytest.approx(0.8, abs=1e-7)
    assert utilization(q, train, squared=False) == pytest.approx(math.sqrt(0.8), abs=1e-7)


def test_utilization_properties_and_scipy():
    g = torch.Generator().manual_seed(0)
    q, train = torch.randn(50, 6, generator=g, dtype=torch.float64), torch.randn(70, 6, generator=g, dtype=torch.float64)
    assert utilization(train, train) == pytest.approx(0.0, abs=1e-12)
    u = utilization(q, train, block_size=7)
    ref = cdist(F.normalize(q, dim=1).numpy(), F.normalize(train, dim=1).numpy(), "sqeuclidean").min(1).mean()
    assert u == pytest.approx(ref, abs=1e-10)
    assert 0.0 <= u <= 4.0
    assert utilization(q[torch.randperm(50, generator=g)], train[torch.randperm(70, generator=g)]) == pytest.approx(u, abs=1e-12)
    assert utilization(3.0 * q, train) == pytest.approx(u, abs=1e-12)  # scale-free after normalisation
    assert utilization(-train[:1], train[:1]) == pytest.approx(4.0, abs=1e-12)  # antipodal: the maximum
    assert nearest_train_distances(q, train).shape == (50,)


def test_utilization_bad_inputs():
    with pytest.raises(ValueError, match="same embedding size"):
        utilization(torch.randn(3, 4), torch.randn(3, 5))
    with pytest.raises(ValueError, match="block_size"):
        utilization(torch.randn(3, 4), torch.randn(3, 4), block_size=0)
    with pytest.raises(ValueError, match="train_emb must be non-empty"):
        utilization(torch.randn(3, 4), torch.randn(0, 4))
    with pytest.raises(ValueError, match="query_emb must be finite"):
        utilization(torch.full((2, 4), float("nan")), torch.randn(3, 4))
