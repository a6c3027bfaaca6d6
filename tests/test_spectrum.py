"""Spectral metrics of representation_geometry (RankMe both conventions, alpha-ReQ, eigenspectrum,
last-token features) against scikit-learn / numpy references, hand values from the definitions and
planted power laws; the pydoc text helper; the checkpoint loader on a fake folder; the tiny LM."""

import json

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA

from mlcompanion.data.folders import DatasetNotFoundError
from mlcompanion.data.text import find_lm_checkpoints, load_probe_texts, pydoc_corpus, pydoc_sentences, tokenize_words
from mlcompanion.metrics.spectrum import (alpha_req, eigenspectrum, last_token_features, rankme, rankme_from_spectrum,
                                  singular_values, spectral_summary)
from mlcompanion.models.tiny_lm import LMTrainConfig, MLPLanguageModel, context_windows, train_lm, warmup_cosine


def anisotropic(seed=0, m=300, d=20):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(m, d, generator=g, dtype=torch.float64) * torch.linspace(3, 0.1, d, dtype=torch.float64) + 2.0


def entropy_rank(v, eps=1e-7):
    """Direct numpy computation from the definition, independent of lib."""
    v = np.asarray(v, dtype=np.float64)
    p = v / np.abs(v).sum() + eps
    return float(np.exp(-(p * np.log(p)).sum()))


# ------------------------------------------------------------------ eigenspectrum


def test_eigenspectrum_matches_sklearn_pca_and_eigvalsh():
    F = anisotropic()
    ours = eigenspectrum(F).numpy()
    ref = PCA(n_components=20, svd_solver="full").fit(F.numpy()).explained_variance_ratio_
    np.testing.assert_allclose(ours, ref, atol=1e-10)
    Fc = F.numpy() - F.numpy().mean(0)
    eig = np.sort(np.linalg.eigvalsh(Fc.T @ Fc / len(Fc)))[::-1]
    np.testing.assert_allclose(eigenspectrum(F, normalize=False).numpy(), eig, atol=1e-10)
    # truncation keeps the normalisation by the total variance (sklearn's ratio)
    ref5 = PCA(n_components=5, svd_solver="full").fit(F.numpy()).explained_variance_ratio_
    np.testing.assert_allclose(eigenspectrum(F, max_components=5).numpy(), ref5, atol=1e-10)


# ------------------------------------------------------------------ RankMe


@pytest.mark.parametrize("values,expected", [([1, 1, 1, 1], 4.0000006), ([1, 0, 0, 0], 1.0000047),
                                             ([4, 2, 1, 1], 3.36359)])
def test_rankme_hand_values(values, expected):
    assert rankme_from_spectrum(torch.tensor(values, dtype=torch.float64)) == pytest.approx(expected, abs=1e-5)


def test_rankme_harmonic_spectrum_and_eps_zero():
    v = 1.0 / torch.arange(1, 101, dtype=torch.float64)
    assert rankme_from_spectrum(v) == pytest.approx(39.679, abs=1e-3)
    assert rankme_from_spectrum(torch.tensor([2.0, 0, 0], dtype=torch.float64), eps=0.0) == pytest.approx(1.0, abs=1e-12)


def test_rankme_isotropic_equals_dimension_and_rank_k():
    d = 16
    # exactly isotropic covariance: orthogonal columns of equal norm (rows of a scaled orthogonal matrix)
    q, _ = torch.linalg.qr(torch.randn(64, 64, generator=torch.Generator().manual_seed(1), dtype=torch.float64))
    F = q[:, :d] * 5.0  # columns orthonormal and (almost surely) not mean-zero: centre in the eps-free check
    Fc = F - F.mean(0)
    q2, _ = torch.linalg.qr(Fc)
    iso = q2[:, :d] * 3.0  # centred, orthogonal, equal-norm columns
    assert rankme(iso, eps=0.0) == pytest.approx(d, abs=1e-9)
    assert rankme(iso) == pytest.approx(d, abs=1e-4)
    # rank-k features: k equal directions, RankMe close to k in both conventions
    k = 5
    g = torch.Generator().manual_seed(2)
    Fk = torch.randn(2000, k, generator=g, dtype=torch.float64) @ torch.linalg.qr(
        torch.randn(40, 40, generator=g, dtype=torch.float64))[0][:k]
    assert rankme(Fk) == pytest.approx(k, rel=0.02)
    assert rankme(Fk, convention="sv") == pytest.approx(k, rel=0.02)
    assert rankme(Fk) < k + 0.01  # the eps on 35 null directions adds ~1e-5


def test_both_conventions_against_direct_singular_value_computation():
    F = anisotropic(3)
    Fn = F.numpy()
    s_unc = np.linalg.svd(Fn, compute_uv=False)
    s_cen = np.linalg.svd(Fn - Fn.mean(0), compute_uv=False)
    assert rankme(F, convention="sv") == pytest.approx(entropy_rank(s_unc), abs=1e-10)
    assert rankme(F, convention="cov") == pytest.approx(entropy_rank(s_cen ** 2), abs=1e-10)
    np.testing.assert_allclose(singular_values(F).numpy(), s_unc, atol=1e-10)
    assert abs(rankme(F, convention="sv") - rankme(F, convention="cov")) > 1.0  # they differ


def test_rankme_invariances():
    F = anisotropic(4)
    for conv in ("cov", "sv"):
        assert rankme(7.3 * F, convention=conv) == pytest.approx(rankme(F, convention=conv), abs=1e-9)
    shift = torch.linspace(-4, 9, F.shape[1], dtype=torch.float64)
    assert rankme(F + shift) == pytest.approx(rankme(F), abs=1e-9)
    assert abs(rankme(F + shift, convention="sv") - rankme(F, convention="sv")) > 1e-3  # uncentred: not invariant
    assert rankme(F.float()) == pytest.approx(rankme(F), rel=1e-4)  # float32 input is computed in float64


# ------------------------------------------------------------------ alpha-ReQ


@pytest.mark.parametrize("alpha", [0.5, 1.0, 1.7, 3.0])
@pytest.mark.parametrize("scale", [1e-6, 1.0, 4e3])
def test_alpha_req_exact_power_law(alpha, scale):
    lam = scale * torch.arange(1, 300, dtype=torch.float64) ** -alpha
    fit = alpha_req(lam)
    assert fit.alpha == pytest.approx(alpha, abs=1e-10)
    assert fit.intercept == pytest.approx(np.log(scale), abs=1e-8)
    assert fit.r2 == pytest.approx(1.0, abs=1e-12)
    assert alpha_req(lam, weights="uniform").alpha == pytest.approx(alpha, abs=1e-10)


def test_alpha_req_is_the_official_weighted_fit():
    """Weighted least squares with weights 1/i on ranks 12-100, solved independently with numpy."""
    rng = np.random.default_rng(0)
    lam = np.sort(rng.lognormal(size=256))[::-1] * np.arange(1, 257) ** -1.1
    i = np.arange(12, 101)
    X = np.stack([-np.log(i), np.ones_like(i, dtype=float)], 1)
    W = np.diag(1.0 / i)
    beta = np.linalg.solve(X.T @ W @ X, X.T @ W @ np.log(lam[11:100]))
    assert alpha_req(torch.tensor(lam)).alpha == pytest.approx(beta[0], abs=1e-10)


@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.0])
def test_alpha_req_recovers_planted_gaussian_spectrum_and_scale_invariance(alpha):
    g = torch.Generator().manual_seed(int(alpha * 10))
    F = torch.randn(4000, 256, generator=g, dtype=torch.float64) * torch.arange(1, 257, dtype=torch.float64) ** (-alpha / 2)
    fit = alpha_req(eigenspectrum(F))
    assert fit.alpha == pytest.approx(alpha, abs=0.03)
    assert alpha_req(eigenspectrum(1e3 * F)).alpha == pytest.approx(fit.alpha, abs=1e-9)
    population = entropy_rank(np.arange(1, 257) ** -alpha)
    assert rankme(F) == pytest.approx(population, rel=0.05)
    summary = spectral_summary(F)
    assert summary["alpha"] == pytest.approx(fit.alpha) and summary["rankme"] == pytest.approx(rankme(F))


def test_alpha_req_does_not_mutate_input():
    lam = torch.arange(1, 150, dtype=torch.float64) ** -1.0
    before = lam.clone()
    alpha_req(lam)
    assert torch.equal(lam, before)


# ------------------------------------------------------------------ bad inputs


def test_bad_inputs_raise_clear_value_errors():
    F = anisotropic()
    with pytest.raises(ValueError, match="2-D matrix"):
        rankme(F[:, 0])
    with pytest.raises(ValueError, match="2-D matrix"):
        eigenspectrum(torch.ones(5, dtype=torch.float64))
    bad = F.clone()
    bad[3, 2] = float("nan")
    with pytest.raises(ValueError, match="finite"):
        rankme(bad)
    with pytest.raises(ValueError, match="finite"):
        alpha_req(torch.tensor([1.0, float("nan")] * 60))
    with pytest.raises(ValueError, match="exceeds the spectrum"):
        alpha_req(eigenspectrum(F))  # 20 eigenvalues, window 12-100
    with pytest.raises(ValueError, match="1 <= first < last"):
        alpha_req(torch.ones(200, dtype=torch.float64), ranks=(0, 10))
    with pytest.raises(ValueError, match="zero eigenvalues"):
        alpha_req(torch.cat([torch.ones(50), torch.zeros(100)]).double(), ranks=(12, 100))
    with pytest.raises(ValueError, match="1-D tensor"):
        rankme_from_spectrum(F)
    with pytest.raises(ValueError, match="non-negative"):
        rankme_from_spectrum(torch.tensor([1.0, -0.5]))
    with pytest.raises(ValueError, match="convention"):
        rankme(F, convention="svd")
    with pytest.raises(ValueError, match="floating-point"):
        rankme(torch.ones(4, 3, dtype=torch.int64))
    with pytest.raises(ValueError, match="zero variance"):
        eigenspectrum(torch.ones(10, 3, dtype=torch.float64))


# ------------------------------------------------------------------ last-token features


def test_last_token_features_right_and_left_padding():
    hidden = torch.arange(2 * 4 * 3, dtype=torch.float64).reshape(2, 4, 3)
    right = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    out = last_token_features(hidden, right, "right")
    assert torch.equal(out, torch.stack([hidden[0, 1], hidden[1, 3]]))
    left = torch.tensor([[0, 0, 1, 1], [0, 1, 1, 1]])
    assert torch.equal(last_token_features(hidden, left, "left"), hidden[:, 3])
    with pytest.raises(ValueError, match="not right-padded"):
        last_token_features(hidden, left, "right")
    with pytest.raises(ValueError, match="at least one token"):
        last_token_features(hidden, torch.tensor([[0, 0, 0, 0], [1, 1, 1, 1]]))
    with pytest.raises(ValueError, match="padding_side"):
        last_token_features(hidden, right, "middle")


# ------------------------------------------------------------------ text helper and paper-profile loaders


def test_pydoc_corpus_is_deterministic_and_covers():
    a, b = pydoc_corpus(500), pydoc_corpus(500)
    assert torch.equal(a.ids, b.ids) and a.vocab == b.vocab
    assert len(a.vocab) == 500 and a.vocab[0] == "<unk>" and 0.85 < a.coverage < 1.0
    assert int(a.ids.max()) == 499 and len(a) > 50_000
    assert tokenize_words("Foo_bar 12, x!") == ["foo_bar", "12", ",", "x", "!"]
    s = pydoc_sentences(20, 8, 24)
    assert len(s) == 20 and s == pydoc_sentences(20, 8, 24)
    assert all(8 <= len(t.split()) <= 24 for t in s)
    with pytest.raises(ValueError, match="vocab_size"):
        pydoc_corpus(1)


def fake_checkpoint(folder, weights=True):
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    if weights:
        (folder / "model.safetensors").write_bytes(b"x")


def test_find_lm_checkpoints_on_fake_folder(tmp_path):
    root = tmp_path / "checkpoints"
    for step in (0, 16, 1000):
        fake_checkpoint(root / "pythia-160m" / f"step{step}")
    fake_checkpoint(root / "pythia-160m" / "step64", weights=False)  # incomplete
    (root / "pythia-160m" / "notes").mkdir()
    fake_checkpoint(root / "olmo-2-1b" / "stage1-step2000-tokens5B")
    found = find_lm_checkpoints(tmp_path, "pythia-160m")
    assert list(found) == [0, 16, 1000] and found[16].name == "step16"
    assert list(find_lm_checkpoints(tmp_path, "pythia-160m", steps=[1000, 0])) == [1000, 0]
    assert find_lm_checkpoints(tmp_path, "olmo-2-1b")[2000].name == "stage1-step2000-tokens5B"
    with pytest.raises(DatasetNotFoundError, match=r"step64.*incomplete"):
        find_lm_checkpoints(tmp_path, "pythia-160m", steps=[0, 64])
    with pytest.raises(DatasetNotFoundError, match="EleutherAI/pythia"):
        find_lm_checkpoints(tmp_path, "pythia-410m")
    with pytest.raises(DatasetNotFoundError, match="data_root is None"):
        find_lm_checkpoints(None, "pythia-160m")
    fake_checkpoint(root / "pythia-160m" / "stage1-step16")
    with pytest.raises(ValueError, match="two checkpoint folders for step 16"):
        find_lm_checkpoints(tmp_path, "pythia-160m")


def test_load_probe_texts_jsonl(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="fineweb"):
        load_probe_texts(tmp_path, 2)
    folder = tmp_path / "fineweb_sample"
    folder.mkdir()
    (folder / "a.jsonl").write_text("\n".join(json.dumps({"text": t}) for t in ["short", "a longer text", "third one"]))
    assert load_probe_texts(tmp_path, 2, min_chars=6) == ["a longer text", "third one"]
    with pytest.raises(DatasetNotFoundError, match="only 3 texts"):
        load_probe_texts(tmp_path, 5)


# ------------------------------------------------------------------ tiny LM


def test_tiny_lm_trains_and_calls_back():
    ids = torch.arange(600) % 7  # a periodic sequence: perfectly predictable from the context
    x, y = context_windows(ids, 3)
    assert x.shape == (597, 3) and torch.equal(y, ids[3:])
    torch.manual_seed(0)
    model = MLPLanguageModel(7, context=3, embed_dim=8, hidden_dim=8, init_std=0.02)
    seen = []
    res = train_lm(model, x, y, LMTrainConfig(steps=300, batch_size=32, lr=3e-2, warmup=10, progress=False),
                   checkpoints=[0, 10, 300], on_checkpoint=lambda s, m: seen.append(s) or s)
    assert seen == [0, 10, 300] and res.records == [0, 10, 300]
    assert np.mean(res.losses[-10:]) < 0.2 * np.mean(res.losses[:10])
    assert warmup_cosine(0, 100, 10) == pytest.approx(0.1) and warmup_cosine(100, 100, 10) == pytest.approx(0.0)
    assert model.features(x[:5]).shape == (5, 8)


# ------------------------------------------------------------------ toy cross-entropy model (App. B)


def test_toy_labels_and_checkpoints():
    from mlcompanion.models.toy_ce import log_checkpoints, toy_labels

    assert toy_labels([3, 1, 2]).tolist() == [0, 0, 0, 1, 2, 2]
    ck = log_checkpoints(1000, 10)
    assert ck[0] == 0 and ck[-1] == 1000 and ck == sorted(set(ck))
    for bad in ([5], [2, 0], [2, -1]):
        with pytest.raises(ValueError):
            toy_labels(bad)
    with pytest.raises(ValueError):
        log_checkpoints(0, 10)


def test_toy_gradients_match_autograd():
    from mlcompanion.models.toy_ce import _loss_and_grads

    rng = np.random.default_rng(0)
    theta, w = rng.normal(size=(7, 3)), rng.normal(size=(3, 4))
    onehot = np.eye(4)[[0, 0, 1, 2, 3, 3, 3]]
    loss, g_theta, g_w = _loss_and_grads(theta, w, onehot)
    t, W = torch.tensor(theta, requires_grad=True), torch.tensor(w, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(t @ W, torch.tensor([0, 0, 1, 2, 3, 3, 3]))
    ref.backward()
    assert loss == pytest.approx(float(ref), abs=1e-12)
    np.testing.assert_allclose(g_theta, t.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(g_w, W.grad.numpy(), atol=1e-12)


def test_toy_model_records_rankme_and_is_deterministic():
    from mlcompanion.models.toy_ce import train_toy_ce

    a = train_toy_ce([4, 2, 1, 1], dim=2, steps=300, lr=0.5, init_std=0.01, seed=3, checkpoints=[0, 100, 300])
    b = train_toy_ce([4, 2, 1, 1], dim=2, steps=300, lr=0.5, init_std=0.01, seed=3, checkpoints=[0, 100, 300])
    assert a.steps == [0, 100, 300] and a.rankme == b.rankme
    assert all(1.0 <= r <= 2.0 + 1e-6 for r in a.rankme)
    assert a.loss[-1] < a.loss[0] and a.features.shape == (8, 2)
    # RankMe of the recorded eigenvalues is the RankMe of the features (covariance convention)
    assert a.rankme[-1] == pytest.approx(rankme(torch.from_numpy(a.features)), rel=1e-12)
    assert a.sigma[-1][0] >= a.sigma[-1][1] >= 0
    with pytest.raises(ValueError):
        train_toy_ce([4, 2], dim=2, steps=10, checkpoints=[11])
    with pytest.raises(ValueError):
        train_toy_ce([4, 2], dim=0, steps=10)
