"""Proxy-Anchor loss (mlcompanion.losses.proxy_anchor; semantic_proxies) and the margin loss of Wu et al.
2017 (mlcompanion.losses.margin; dynamic_subspaces), against pytorch-metric-learning 2.9.0.

Adapters:
- ``pml.ProxyAnchorLoss(C, d, margin, alpha)``: its ``proxies`` have our layout (C, d) and are copied
  across as they are; its default CosineSimilarity normalises embeddings and proxies, as ours. Its
  positive term is divided by the classes present (our ``pos_divisor="present"``). For
  ``pos_divisor="all"`` (the official VPTSP-G code) we read pml's per-class positive and negative
  terms from its loss dictionary and rescale: L_all = (|P+| / C) * pos_pml + neg_pml.
- ``pml.MarginLoss(margin, nu, beta, learn_beta, num_classes)``: its default LpDistance normalises the
  embeddings and has no eps under the square root, so we compare with ``eps=0`` (and with the default
  eps = 1e-8 at the brief's tolerance 1e-5). Without a miner it takes every triplet, as our
  ``indices_tuple=None``; with a miner we pass the same mined triplets to both.

Tolerances: float64 against pml 1e-9 relative (pml's cdist and our close-pair-refined distance
differ by rounding only); gradients 1e-8 relative. Half precision is computed in float32: the loss
of float16/bfloat16 inputs equals the float64 loss of the same (rounded) values within 1e-6
relative, and the float64 loss of the unrounded inputs within 1e-3 (float16) / 1e-2 (bfloat16)
relative (measured: at most 2.3e-5 and 1.8e-3 on the batches below).
"""

import math

import pytest
import torch
from pytorch_metric_learning import losses as pml_losses
from pytorch_metric_learning import miners as pml_miners
from pytorch_metric_learning.utils import loss_and_miner_utils as lmu

from mlcompanion.losses.margin import MarginLoss
from mlcompanion.losses.proxy_anchor import ProxyAnchorLoss, proxy_anchor_from_proxies


def batch(seed, n=24, d=8, c=5, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return 3 * torch.randn(n, d, generator=g, dtype=dtype), torch.randint(0, c, (n,), generator=g)


def rel(a, b):
    a, b = (float(v.detach()) if isinstance(v, torch.Tensor) else float(v) for v in (a, b))
    return abs(a - b) / max(abs(b), 1e-300)


# ---------------------------------------------------------------- Proxy-Anchor

def pa_pair(c=7, d=8, margin=0.1, alpha=32.0, pos_divisor="present"):
    ours = ProxyAnchorLoss(c, d, margin=margin, alpha=alpha, pos_divisor=pos_divisor).double()
    pml = pml_losses.ProxyAnchorLoss(c, d, margin=margin, alpha=alpha).double()
    pml.proxies.data = ours.proxies.detach().clone()
    return ours, pml


@pytest.mark.parametrize("margin,alpha", [(0.1, 32.0), (0.0, 1.0), (0.3, 8.0), (-0.2, 64.0)])
def test_proxy_anchor_matches_pml_present(margin, alpha):
    for seed in range(8):
        x, y = batch(seed, c=5)  # 5 of the 7 classes can be present: |P+| < C
        ours, pml = pa_pair(margin=margin, alpha=alpha)
        assert rel(ours(x, y), pml(x, y)) < 1e-9, seed


def test_proxy_anchor_gradients_match_pml():
    x, y = batch(1, c=5)
    ours, pml = pa_pair()
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    ours(xa, y).backward()
    pml(xb, y).backward()
    torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-8, atol=1e-12)
    torch.testing.assert_close(ours.proxies.grad, pml.proxies.grad, rtol=1e-8, atol=1e-12)


def pml_terms(pml, x, y):
    """pml's per-class positive and negative terms, each summed (before its divisor)."""
    d = pml.compute_loss(x, y, None, x, y)
    return d["pos_loss"]["losses"].sum(), d["neg_loss"]["losses"].sum()


def test_proxy_anchor_all_classes_is_pml_rescaled():
    c = 7
    for seed in range(8):
        x, y = batch(seed, c=5)
        ours, pml = pa_pair(c=c, pos_divisor="all")
        pos_sum, neg_sum = pml_terms(pml, x, y)
        present = int(torch.unique(y).numel())
        assert present < c
        pml_present = pml(x, y)
        # pml's loss is pos_sum / |P+| + neg_sum / C; the official VPTSP-G divisor rescales the
        # positive term by |P+| / C
        assert rel(pml_present, pos_sum / present + neg_sum / c) < 1e-12
        expected = (present / c) * (pos_sum / present) + neg_sum / c
        assert rel(ours(x, y), expected) < 1e-9, seed
        assert float(ours(x, y).detach()) < float(pml_present.detach())  # a smaller positive term when |P+| < C


def test_proxy_anchor_divisors_agree_when_every_class_is_present():
    x, y = batch(4, c=5)
    y[:5] = torch.arange(5)
    P = torch.randn(5, 8, dtype=torch.float64)
    assert rel(proxy_anchor_from_proxies(x, y, P, pos_divisor="all"),
               proxy_anchor_from_proxies(x, y, P, pos_divisor="present")) < 1e-15


def test_proxy_anchor_hand_worked():
    # proxies e1, e2, -e1 (C = 3); x0 = e1 and x1 = e2 of class 0, x2 = 2 e2 of class 1 (normalised to e2)
    P = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], dtype=torch.float64)
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 2.0]], dtype=torch.float64)
    y = torch.tensor([0, 0, 1])
    a, dl = 32.0, 0.1
    # cosines: x0 -> (1, 0, -1), x1 -> (0, 1, 0), x2 -> (0, 1, 0)
    pos0 = math.log(1 + math.exp(-a * (1 - dl)) + math.exp(-a * (0 - dl)))  # x0, x1 with proxy 0
    pos1 = math.log(1 + math.exp(-a * (1 - dl)))  # x2 with proxy 1
    neg0 = math.log(1 + math.exp(a * (0 + dl)))  # x2 with proxy 0
    neg1 = math.log(1 + math.exp(a * (0 + dl)) + math.exp(a * (1 + dl)))  # x0, x1 with proxy 1
    neg2 = math.log(1 + math.exp(a * (-1 + dl)) + 2 * math.exp(a * dl))  # all three with proxy 2
    present = (pos0 + pos1) / 2 + (neg0 + neg1 + neg2) / 3
    every = (pos0 + pos1) / 3 + (neg0 + neg1 + neg2) / 3
    assert float(proxy_anchor_from_proxies(x, y, P)) == pytest.approx(present, rel=1e-12)
    assert float(proxy_anchor_from_proxies(x, y, P, pos_divisor="all")) == pytest.approx(every, rel=1e-12)
    # by hand: e^3.2 = 24.53, so pos0 = neg0 = log 25.53 = 3.240, pos1 = 0.000, neg1 = 35.200,
    # neg2 = log 50.07 = 3.913: present = 3.240 / 2 + 42.353 / 3 = 15.738, all = 3.240 / 3 + 14.118 = 15.198
    assert present == pytest.approx(15.738, abs=1e-3) and every == pytest.approx(15.198, abs=1e-3)


def test_proxy_anchor_large_alpha_is_finite():
    x, y = batch(2)
    P = x[:5].clone()  # cosines of exactly 1 and -1-ish
    for alpha in (32.0, 1e3, 1e5):
        for dtype in (torch.float32, torch.float64):
            xx, PP = x.to(dtype).clone().requires_grad_(), P.to(dtype).clone().requires_grad_()
            loss = proxy_anchor_from_proxies(xx, y, PP, alpha=alpha)
            loss.backward()
            assert torch.isfinite(loss) and torch.isfinite(xx.grad).all() and torch.isfinite(PP.grad).all()


@pytest.mark.parametrize("pos_divisor", ["present", "all"])
def test_proxy_anchor_gradcheck(pos_divisor):
    x, y = batch(5, n=10, d=4, c=3)
    P = torch.randn(4, 4, dtype=torch.float64)
    x, P = (x / 3).requires_grad_(), P.requires_grad_()
    assert torch.autograd.gradcheck(
        lambda e, p: proxy_anchor_from_proxies(e, y, p, alpha=4.0, pos_divisor=pos_divisor), (x, P))
    assert torch.autograd.gradcheck(
        lambda e, p: proxy_anchor_from_proxies(e, y, p, pos_divisor=pos_divisor), (x, P))


def test_proxy_anchor_empty_batch_is_connected_zero():
    loss_fn = ProxyAnchorLoss(4, 3)
    x = torch.zeros(0, 3, requires_grad=True)
    loss = loss_fn(x, torch.zeros(0, dtype=torch.long))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(loss_fn.proxies.grad, torch.zeros(4, 3))


@pytest.mark.parametrize("dtype,tol", [(torch.float16, 1e-3), (torch.bfloat16, 1e-2)])
def test_proxy_anchor_half_precision(dtype, tol):
    for seed in range(5):
        x, y = batch(seed, n=32, d=16, c=6)
        P = torch.randn(6, 16, dtype=torch.float64)
        h, hp = x.to(dtype), P.to(dtype)
        loss = proxy_anchor_from_proxies(h, y, hp)
        assert loss.dtype == torch.float32
        assert rel(loss, proxy_anchor_from_proxies(h.double(), y, hp.double())) < 1e-6
        assert rel(loss, proxy_anchor_from_proxies(x, y, P)) < tol
    module = ProxyAnchorLoss(6, 16)
    h = x.to(dtype).requires_grad_()
    module(h, y).backward()
    assert h.grad.dtype == dtype and torch.isfinite(h.grad).all()
    with torch.autocast("cpu", dtype=torch.bfloat16):  # under autocast the loss still runs in float32
        assert module(x.float(), y).dtype == torch.float32


def test_proxy_anchor_module_trains_its_proxies():
    torch.manual_seed(0)
    loss_fn = ProxyAnchorLoss(5, 8)
    assert loss_fn.proxies.shape == (5, 8) and loss_fn.proxies.requires_grad
    x, y = batch(0, c=5, dtype=torch.float32)
    loss_fn(x, y).backward()
    assert loss_fn.proxies.grad.abs().sum() > 0
    # float64 embeddings with the float32 proxies: computed in float64
    assert loss_fn(x.double(), y).dtype == torch.float64


def test_proxy_anchor_rejects_bad_inputs():
    x, y = batch(0, c=5)
    loss_fn = ProxyAnchorLoss(5, 8).double()
    P = torch.randn(5, 8, dtype=torch.float64)
    for kwargs, word in [(dict(num_classes=0, embedding_dim=8), "num_classes"),
                         (dict(num_classes=5, embedding_dim=2.0), "embedding_dim"),
                         (dict(num_classes=5, embedding_dim=8, alpha=0.0), "alpha"),
                         (dict(num_classes=5, embedding_dim=8, margin=float("nan")), "margin"),
                         (dict(num_classes=5, embedding_dim=8, pos_divisor="batch"), "pos_divisor")]:
        with pytest.raises((ValueError, TypeError), match=word):
            ProxyAnchorLoss(**kwargs)
    with pytest.raises(ValueError, match="labels"):
        loss_fn(x, y + 1)  # label 5 with 5 classes
    with pytest.raises(ValueError, match="labels"):
        loss_fn(x, y.double())
    with pytest.raises(ValueError, match="labels"):
        loss_fn(x, y[:-1])
    with pytest.raises(ValueError, match="embedding_dim"):
        loss_fn(x[:, :4], y)
    with pytest.raises(ValueError, match="embeddings"):
        loss_fn(x.long(), y)
    bad = x.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="embeddings"):
        loss_fn(bad, y)
    with pytest.raises(ValueError, match="proxies"):
        proxy_anchor_from_proxies(x, y, P[:, :4])
    with pytest.raises(ValueError, match="proxies"):
        proxy_anchor_from_proxies(x, y, [[0.0] * 8] * 5)
    with pytest.raises(ValueError, match="pos_divisor"):
        proxy_anchor_from_proxies(x, y, P, pos_divisor="none")
    with pytest.raises(ValueError, match="alpha"):
        proxy_anchor_from_proxies(x, y, P, alpha=-1.0)


# ---------------------------------------------------------------- margin loss

def margin_pair(eps=0.0, **kwargs):
    ours = MarginLoss(eps=eps, **kwargs).double()
    pml = pml_losses.MarginLoss(**kwargs)
    return ours, pml


@pytest.mark.parametrize("margin,beta", [(0.2, 1.2), (0.0, 1.0), (0.5, 0.8)])
def test_margin_all_triplets_matches_pml(margin, beta):
    for seed in range(8):
        x, y = batch(seed)
        ours, pml = margin_pair(margin=margin, beta=beta)
        assert rel(ours(x, y), pml(x, y)) < 1e-9, seed


@pytest.mark.parametrize("kind", ["semihard", "hard", "all"])
def test_margin_with_mined_triplets_matches_pml(kind):
    miner = pml_miners.TripletMarginMiner(margin=0.2, type_of_triplets=kind)
    for seed in range(5):
        x, y = batch(seed)
        triplets = miner(x, y)
        ours, pml = margin_pair()
        assert rel(ours(x, y, triplets), pml(x, y, triplets)) < 1e-9, seed


def test_margin_default_eps_within_brief_tolerance():
    for seed in range(5):
        x, y = batch(seed)
        assert rel(MarginLoss()(x.float(), y), pml_losses.MarginLoss()(x.float(), y)) < 1e-5


@pytest.mark.parametrize("num_classes", [None, 5])
def test_margin_learnt_beta_gradients_match_pml(num_classes):
    x, y = batch(2)
    nu = 0.1
    ours, pml = margin_pair(learn_beta=True, num_classes=num_classes, nu=nu)
    pml = pml.double()
    with torch.no_grad():  # distinct betas per class, away from 1.2
        ours.beta.add_(0.05 * torch.arange(ours.beta.numel(), dtype=torch.float64))
        pml.beta.copy_(ours.beta)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    lo, lp = ours(xa, y), pml(xb, y)
    if num_classes is None:
        # pml adds nu beta undivided for a global beta; ours (the official code's formula) adds
        # nu * (sum over the T triplets of beta) / K: remove ours, add pml's (T and K constants)
        a, p, q = lmu.get_all_triplets_indices(y)
        d = torch.cdist(*(torch.nn.functional.normalize(x, dim=1),) * 2)
        b = ours.beta[0]
        k = int((d[a, p] - b + 0.2 > 0).sum()) + int((b - d[a, q] + 0.2 > 0).sum())
        lo_adj = lo - nu * b * len(a) / k + nu * b
        assert rel(lo_adj, lp) < 1e-9
        lo_adj.backward()
    else:
        assert rel(lo, lp) < 1e-9
        lo.backward()
    lp.backward()
    torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-8, atol=1e-12)
    torch.testing.assert_close(ours.beta.grad, pml.beta.grad, rtol=1e-8, atol=1e-12)


def naive_margin(x, y, margin=0.2, beta=1.2, eps=1e-8, nu=0.0, betas=None):
    """The official MXNet formula over every triplet, one Python iteration per triplet."""
    x = torch.nn.functional.normalize(x, dim=1)
    total, count, beta_sum = 0.0, 0, 0.0
    n = len(y)
    for a in range(n):
        for p in range(n):
            for q in range(n):
                if a == p or y[a] != y[p] or y[a] == y[q]:
                    continue
                b = float(betas[y[a]]) if betas is not None else beta
                d_ap = math.sqrt(float(((x[a] - x[p]) ** 2).sum()) + eps)
                d_an = math.sqrt(float(((x[a] - x[q]) ** 2).sum()) + eps)
                lp, ln = max(d_ap - b + margin, 0.0), max(b - d_an + margin, 0.0)
                total += lp + ln
                count += (lp > 0) + (ln > 0)
                beta_sum += b
    return (total + nu * beta_sum) / count if count else 0.0


def test_margin_pair_form_equals_triplet_loop():
    for seed in range(4):
        x, y = batch(seed, n=12, d=4, c=3)
        # beta is a float32 module tensor, as pml's: 1.2 is 1.2000000477 there, even after .double()
        beta32 = float(torch.tensor(1.2))
        assert rel(MarginLoss()(x, y), naive_margin(x, y, beta=beta32)) < 1e-10
        assert rel(MarginLoss()(x, y), naive_margin(x, y)) < 1e-7
        ours = MarginLoss(num_classes=3, learn_beta=True, nu=0.3, margin=0.3).double()
        with torch.no_grad():
            ours.beta.copy_(torch.tensor([1.0, 1.2, 1.4], dtype=torch.float64))
        assert rel(ours(x, y), naive_margin(x, y, margin=0.3, nu=0.3, betas=[1.0, 1.2, 1.4])) < 1e-10


def test_margin_no_valid_triplet_is_connected_zero():
    x = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    loss_fn = MarginLoss(num_classes=6, learn_beta=True, nu=0.5).double()
    for labels in (torch.zeros(6, dtype=torch.long), torch.arange(6)):  # no negative / no positive
        loss = loss_fn(x, labels)
        assert loss.item() == 0.0
        loss.backward()
        assert torch.equal(x.grad, torch.zeros_like(x)) and torch.equal(loss_fn.beta.grad, torch.zeros(6, dtype=torch.float64))
        x.grad = None
        loss_fn.beta.grad = None
    empty = (torch.zeros(0, dtype=torch.long),) * 3
    loss = loss_fn(x, torch.tensor([0, 0, 1, 1, 2, 2]), empty)
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(x.grad, torch.zeros_like(x))
    # triplets exist but every term is 0 (K = 0): positives coincide, negatives antipodal
    e = torch.tensor([[1.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64, requires_grad=True)
    loss = loss_fn(e, torch.tensor([0, 0, 1, 1]))
    assert loss.item() == 0.0 and pml_losses.MarginLoss()(e, torch.tensor([0, 0, 1, 1])).item() == 0.0
    loss.backward()
    assert torch.equal(e.grad, torch.zeros_like(e))
    # the empty batch
    z = torch.zeros(0, 4, requires_grad=True)
    loss = MarginLoss()(z, torch.zeros(0, dtype=torch.long))
    loss.backward()
    assert loss.item() == 0.0 and z.grad.shape == (0, 4)


def test_margin_duplicate_points_have_finite_gradient():
    x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.6, 0.8], [0.0, 1.0]], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 0, 1, 1])
    for eps in (0.0, 1e-8):
        x.grad = None
        MarginLoss(eps=eps, beta=0.1)(x, y).backward()  # the duplicate pair has a positive hinge
        assert torch.isfinite(x.grad).all()


def test_margin_gradcheck():
    x, y = batch(6, n=10, d=4, c=3)
    x = x.requires_grad_()
    beta = torch.tensor([1.0, 1.2, 1.1], dtype=torch.float64, requires_grad=True)
    loss_fn = MarginLoss(num_classes=3, learn_beta=True, nu=0.2).double()
    assert torch.autograd.gradcheck(lambda e, b: _margin_with_beta(loss_fn, e, y, b), (x, beta))
    triplets = pml_miners.TripletMarginMiner(margin=0.2, type_of_triplets="all")(x.detach(), y)
    assert torch.autograd.gradcheck(lambda e, b: _margin_with_beta(loss_fn, e, y, b, triplets), (x, beta))


def _margin_with_beta(loss_fn, e, y, b, triplets=None):
    """The loss as a function of beta too: swap the parameter's tensor for ``b`` for one call."""
    saved = loss_fn._parameters["beta"]
    loss_fn._parameters["beta"] = b
    try:
        return loss_fn(e, y, triplets)
    finally:
        loss_fn._parameters["beta"] = saved


@pytest.mark.parametrize("dtype,tol", [(torch.float16, 1e-3), (torch.bfloat16, 1e-2)])
def test_margin_half_precision(dtype, tol):
    loss_fn = MarginLoss()
    for seed in range(5):
        x, y = batch(seed, n=32, d=16, c=6)
        h = x.to(dtype)
        loss = loss_fn(h, y)
        assert loss.dtype == torch.float32
        assert rel(loss, loss_fn(h.double(), y)) < 1e-6
        assert rel(loss, loss_fn(x, y)) < tol
    h = h.requires_grad_()
    loss_fn(h, y).backward()
    assert h.grad.dtype == dtype and torch.isfinite(h.grad).all()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert loss_fn(x.float(), y).dtype == torch.float32


def test_margin_rejects_bad_inputs():
    x, y = batch(0)
    for kwargs, word in [(dict(margin=-0.1), "margin"), (dict(beta=float("inf")), "beta"),
                         (dict(nu=-1.0), "nu"), (dict(eps=-1e-8), "eps"), (dict(num_classes=0), "num_classes"),
                         (dict(num_classes=2.5), "num_classes"), (dict(learn_beta=1), "learn_beta"),
                         (dict(normalize="yes"), "normalize")]:
        with pytest.raises((ValueError, TypeError), match=word):
            MarginLoss(**kwargs)
    loss_fn = MarginLoss(num_classes=5)
    with pytest.raises(ValueError, match="labels"):
        loss_fn(x, y + 1)
    with pytest.raises(ValueError, match="labels"):
        loss_fn(x, y.float())
    with pytest.raises(ValueError, match="embeddings"):
        loss_fn(x[0], y)
    a = torch.tensor([0])
    same = int((y == y[0]).nonzero()[1])
    other = int((y != y[0]).nonzero()[0])
    assert loss_fn(x, y, (a, torch.tensor([same]), torch.tensor([other]))) >= 0
    with pytest.raises(ValueError, match="indices_tuple"):
        loss_fn(x, y, (a, torch.tensor([other]), torch.tensor([other])))  # positive of another class
    with pytest.raises(ValueError, match="indices_tuple"):
        loss_fn(x, y, (a, torch.tensor([same]), torch.tensor([same])))  # negative of the same class
    with pytest.raises(ValueError, match="indices_tuple"):
        loss_fn(x, y, (a, torch.tensor([same]), torch.tensor([len(y)])))  # out of range
    with pytest.raises(ValueError, match="indices_tuple"):
        loss_fn(x, y, (a, torch.tensor([same, same]), torch.tensor([other])))  # lengths
    with pytest.raises(ValueError, match="indices_tuple"):
        loss_fn(x, y, (a, torch.tensor([same])))
    with pytest.raises(ValueError, match="indices_tuple"):
        loss_fn(x, y, (a.float(), torch.tensor([same]), torch.tensor([other])))


def test_margin_near_duplicates_keep_their_direction():
    # rows 2k+1 = row 2k + 1e-5 (closer than float32 rounding of the normalised rows can resolve);
    # the pairs (0, 1), (4, 5) are negatives with a non-zero hinge, whose gradient follows (u_i - u_j) / d
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 4, generator=g)
    x[1::2] = x[0::2] + 1e-5
    y = torch.tensor([0, 1, 0, 1, 2, 3, 2, 3])
    for eps in (0.0, 1e-8):
        loss_fn = MarginLoss(eps=eps)
        d32 = loss_fn.distances(x)
        d64 = loss_fn.distances(x.double())
        assert d32.dtype == torch.float32
        torch.testing.assert_close(d32.double(), d64, rtol=1e-5, atol=0.0)
        x32, x64 = x.clone().requires_grad_(), x.double().requires_grad_()
        l32, l64 = loss_fn(x32, y), loss_fn(x64, y)
        l32.backward()
        l64.backward()
        assert rel(l32, l64) < 1e-6
        torch.testing.assert_close(x32.grad.double(), x64.grad, rtol=1e-4, atol=1e-6 * float(x64.grad.abs().max()))
