"""multiscale_fewshot (MSENet, arXiv 2409.07989): the multi-scale prototype head, SAGAN attention,
stage taps and the glyph few-shot domains, against independent references (torch.cdist ProtoNet,
torchvision create_feature_extractor) and properties that could fail (invariances, gradcheck)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from mlcompanion.models.stage_resnet import RESNET18_STAGE_TAPS, STAGE_TAPS, SmallStageResNet
from mlcompanion.multiscale import (
    MultiScaleEpisodeLoss,
    MultiScaleProtoHead,
    SelfAttention2d,
    StageTaps,
    multiscale_fewshot_eval,
    proto_logits,
    stage_embeddings,
)



def _episode(way=3, shot=2, query=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(way * (shot + query), 1, 24, 24, generator=g)
    s_lab = torch.arange(way).repeat_interleave(shot)
    q_lab = torch.arange(way).repeat_interleave(query)
    return x[: way * shot], s_lab, x[way * shot:], q_lab


def _taps(seed=0):
    torch.manual_seed(seed)
    return StageTaps(SmallStageResNet().eval(), STAGE_TAPS)


def test_last_stage_head_equals_plain_protonet_cdist():
    taps = _taps()
    xs, ys, xq, yq = _episode()
    head = MultiScaleProtoHead(5, init_w=(0, 0, 0, 0, 1.0), learn_weights=False)
    with torch.no_grad():
        logits = head(taps(xs), ys, taps(xq))
        # independent ProtoNet (easyfsl PrototypicalNetworks: scores = -cdist) on the backbone's output
        zs, zq = taps.backbone(xs), taps.backbone(xq)
        protos = torch.stack([zs[ys == k].mean(0) for k in range(3)])
        ref = -torch.cdist(zq, protos)
    torch.testing.assert_close(logits, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(F.cross_entropy(logits, yq), F.cross_entropy(ref, yq), rtol=1e-5, atol=1e-6)


def test_attention_head_with_gamma_zero_and_last_weight_equals_protonet():
    taps = _taps(1)
    xs, ys, xq, _ = _episode(seed=1)
    head = MultiScaleProtoHead(5, init_w=(0, 0, 0, 0, 1.0), relu_weights=False, attention=True,
                               channels=SmallStageResNet().stage_channels, gamma=0.0)
    with torch.no_grad():
        logits = head(taps(xs), ys, taps(xq))
        zs, zq = taps.backbone(xs), taps.backbone(xq)
        protos = torch.stack([zs[ys == k].mean(0) for k in range(3)])
        torch.testing.assert_close(logits, -torch.cdist(zq, protos), rtol=1e-5, atol=1e-5)


def test_attention_gamma_zero_is_identity_and_1x1_map_is_value_projection():
    torch.manual_seed(0)
    block = SelfAttention2d(16, gamma=0.0)
    x = torch.randn(3, 16, 5, 4)
    torch.testing.assert_close(block(x), x)
    x1 = torch.randn(4, 16, 1, 1)
    for g in (0.3, -1.2):
        expected = g * block.value(x1) + x1
        torch.testing.assert_close(block(x1, gamma=torch.tensor(g)), expected, rtol=1e-5, atol=1e-6)


def test_attention_matches_explicit_sagan_formula():
    torch.manual_seed(0)
    block = SelfAttention2d(16, gamma=0.7)
    x = torch.randn(2, 16, 3, 3, dtype=torch.float64)
    block = block.double()
    with torch.no_grad():
        out = block(x)
        for b in range(2):
            F_ = x[b].reshape(16, 9)
            q = block.query.weight[:, :, 0, 0] @ F_ + block.query.bias[:, None]
            k = block.key.weight[:, :, 0, 0] @ F_ + block.key.bias[:, None]
            v = block.value.weight[:, :, 0, 0] @ F_ + block.value.bias[:, None]
            a = torch.softmax(q.T @ k, dim=1)  # rows: query positions, softmax over keys
            ref = 0.7 * v @ a.T + F_
            torch.testing.assert_close(out[b].reshape(16, 9), ref)


def test_stage_taps_equal_torchvision_feature_extractor():
    torchvision = pytest.importorskip("torchvision")  # not in the ci venv; the manual test below always runs
    from torchvision.models.feature_extraction import create_feature_extractor

    torch.manual_seed(0)
    net = torchvision.models.resnet18(weights=None).eval()
    ref = create_feature_extractor(net, return_nodes=list(RESNET18_STAGE_TAPS))
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = ref(x)
        got = StageTaps(net, RESNET18_STAGE_TAPS)(x)
    assert [tuple(t.shape[1:2]) for t in got] == [(64,), (128,), (256,), (512,), (512,)]
    for name, t in zip(RESNET18_STAGE_TAPS, got):
        torch.testing.assert_close(t, expected[name])


def test_small_backbone_taps_equal_a_manual_forward():
    torch.manual_seed(0)
    net = SmallStageResNet().eval()
    x = torch.rand(3, 1, 24, 24)
    with torch.no_grad():
        got = StageTaps(net, STAGE_TAPS)(x)
        h0 = net.stem(x)
        h1 = net.layer1(h0)
        h2 = net.layer2(h1)
        h3 = net.layer3(h2)
        h4 = net.layer4(h3)
        expected = [h0, net.layer2[0].conv1(h1), net.layer3[0].conv1(h2), net.layer4[0].conv1(h3),
                    F.adaptive_avg_pool2d(h4, 1)]
        out = net(x)
    assert [t.shape[-1] for t in got] == [12, 6, 3, 2, 1]
    assert [t.shape[1] for t in got] == list(net.stage_channels)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(out, got[-1].flatten(1))  # the backbone's output is the last tap


def test_small_backbone_taps_match_feature_extractor():
    pytest.importorskip("torchvision")
    from torchvision.models.feature_extraction import create_feature_extractor

    torch.manual_seed(0)
    net = SmallStageResNet().eval()
    x = torch.rand(2, 1, 24, 24)
    with torch.no_grad():
        expected = create_feature_extractor(net, return_nodes=list(STAGE_TAPS))(x)
        got = StageTaps(net, STAGE_TAPS)(x)
    for name, t in zip(STAGE_TAPS, got):
        torch.testing.assert_close(t, expected[name])


@pytest.mark.parametrize("attention", [False, True])
def test_support_permutation_leaves_logits_unchanged(attention):
    taps = _taps()
    xs, ys, xq, _ = _episode(seed=2)
    head = MultiScaleProtoHead(5, init_w=(0.5, 1.0, 1.5, 2.0, 0.7), attention=attention,
                               channels=SmallStageResNet().stage_channels, relu_weights=not attention).eval()
    perm = torch.randperm(len(ys), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        a = head(taps(xs), ys, taps(xq))
        b = head(taps(xs[perm]), ys[perm], taps(xq))
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_scaling_weights_scales_logits():
    taps = _taps()
    xs, ys, xq, _ = _episode(seed=4)
    w = torch.tensor([0.3, 1.0, 0.2, 2.0, 0.9])
    with torch.no_grad():
        maps_s, maps_q = taps(xs), taps(xq)
        base = MultiScaleProtoHead(5, init_w=w.tolist())(maps_s, ys, maps_q)
        for c in (0.5, 3.0):
            scaled = MultiScaleProtoHead(5, init_w=(c * w).tolist())(maps_s, ys, maps_q)
            torch.testing.assert_close(scaled, c * base, rtol=1e-5, atol=1e-5)


def test_relu_weights_cut_negative_stages():
    head = MultiScaleProtoHead(3, init_w=(-1.0, 0.5, 2.0))
    assert head.stage_weights().tolist() == [0.0, 0.5, 2.0]
    assert MultiScaleProtoHead(3, init_w=(-1.0, 0.5, 2.0), relu_weights=False).stage_weights().tolist() == [-1.0, 0.5, 2.0]


def test_gradcheck_stage_weights_and_attention_float64():
    torch.manual_seed(0)
    chans = (4, 8)
    head = MultiScaleProtoHead(2, init_w=(0.7, 1.3), relu_weights=False, attention=True, channels=chans,
                               gamma=0.3).double()
    ys = torch.tensor([0, 0, 1, 1])
    ms = [torch.randn(4, 4, 3, 3, dtype=torch.float64), torch.randn(4, 8, 2, 2, dtype=torch.float64)]
    mq = [torch.randn(3, 4, 3, 3, dtype=torch.float64), torch.randn(3, 8, 2, 2, dtype=torch.float64)]

    w = head.weights.detach().clone().requires_grad_()
    g = head.gammas.detach().clone().requires_grad_()
    wq = head.blocks[0].query.weight.detach().clone().requires_grad_()
    # gradcheck through the functional form: parameters replaced by the checked leaves
    def g_fn(w_, g_, wq_):
        old = head.weights, head.gammas
        del head.weights, head.gammas
        head.weights, head.gammas = w_, g_
        conv = head.blocks[0].query
        old_q = conv.weight
        del conv.weight
        conv.weight = wq_
        try:
            return head(ms, ys, mq)
        finally:
            del head.weights, head.gammas, conv.weight
            head.weights, head.gammas, conv.weight = old[0], old[1], old_q

    assert torch.autograd.gradcheck(g_fn, (w, g, wq))
    x = torch.randn(2, 4, 3, 2, dtype=torch.float64, requires_grad=True)
    block = SelfAttention2d(4, gamma=0.4).double()
    assert torch.autograd.gradcheck(lambda t: block(t), (x,))


def test_proto_logits_matches_cdist_and_squared_option():
    g = torch.Generator().manual_seed(0)
    q, p = torch.randn(7, 5, generator=g), torch.randn(3, 5, generator=g)
    torch.testing.assert_close(proto_logits(q, p), -torch.cdist(q, p), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(proto_logits(q, p, squared=True), -torch.cdist(q, p) ** 2, rtol=1e-5, atol=1e-5)
    # a query on a prototype: finite gradient
    qq = p[:1].clone().double().requires_grad_()
    proto_logits(qq, p.double()).sum().backward()
    assert torch.isfinite(qq.grad).all()
    assert proto_logits(q.half(), p.half()).dtype == torch.float32


def test_episode_loss_trains_head_and_matches_head_logits():
    taps = _taps()
    head = MultiScaleProtoHead(5)
    loss_fn = MultiScaleEpisodeLoss(head, shot=2)
    # class-grouped batch as ClassBalancedBatchSampler gives: 3 classes x 4 items, first 2 supports
    x = torch.rand(12, 1, 24, 24, generator=torch.Generator().manual_seed(5))
    y = torch.tensor([7] * 4 + [2] * 4 + [9] * 4)
    loss, emb = loss_fn.batch_loss(taps, x, y)
    assert emb.shape == (12, sum(SmallStageResNet().stage_channels))
    loss.backward()
    assert head.weights.grad is not None and torch.isfinite(head.weights.grad).all()
    with torch.no_grad():
        maps = taps(x)
        sup = torch.tensor([0, 1, 4, 5, 8, 9])
        qry = torch.tensor([2, 3, 6, 7, 10, 11])
        local = torch.tensor([1, 1, 0, 0, 2, 2])  # labels 2 < 7 < 9
        ref = F.cross_entropy(head([m[sup] for m in maps], local[[0, 1, 2, 3, 4, 5]], [m[qry] for m in maps]),
                              torch.tensor([1, 1, 0, 0, 2, 2]))
    torch.testing.assert_close(loss.detach(), ref, rtol=1e-5, atol=1e-6)


def test_cached_eval_agrees_with_head_on_one_episode():
    taps = _taps()
    head = MultiScaleProtoHead(5, init_w=(0.2, 0.4, 0.6, 0.8, 1.0)).eval()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(40, 1, 24, 24, generator=g)
    y = torch.arange(5).repeat_interleave(8)
    emb = stage_embeddings(taps, head, TensorDataset(x, y))
    ev = multiscale_fewshot_eval(emb, head.stage_weights().detach(), way=5, shot=2, query=3, episodes=4, seed=1)
    assert 0 <= ev["acc"] <= 1 and ev["per_episode"].shape == (4,)
    again = multiscale_fewshot_eval(emb, head.stage_weights().detach(), way=5, shot=2, query=3, episodes=4, seed=1)
    assert (again["per_episode"] == ev["per_episode"]).all()


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="not modules"):
        StageTaps(SmallStageResNet(), ["nope"])
    with pytest.raises(ValueError, match="channels"):
        MultiScaleProtoHead(5, attention=True)
    with pytest.raises(ValueError, match="init_w"):
        MultiScaleProtoHead(3, init_w=(1.0, float("nan"), 1.0))
    with pytest.raises(ValueError, match="num_stages"):
        MultiScaleProtoHead(0)
    with pytest.raises(ValueError, match="finite"):
        proto_logits(torch.tensor([[float("nan"), 0.0]]), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="dimension"):
        proto_logits(torch.zeros(3, 2), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="eps"):
        proto_logits(torch.zeros(3, 2), torch.zeros(2, 2), eps=0.0)
    with pytest.raises(ValueError, match="channels"):
        SelfAttention2d(8)(torch.zeros(1, 4, 2, 2))
    with pytest.raises(ValueError, match="non-empty"):
        SelfAttention2d(8)(torch.zeros(0, 8, 2, 2))
    with pytest.raises(TypeError, match="floating"):
        SelfAttention2d(8)(torch.zeros(1, 8, 2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        SelfAttention2d(8)(torch.zeros(4, 8))
    with pytest.raises(ValueError, match="stage maps"):
        MultiScaleProtoHead(2)([torch.zeros(2, 3, 1, 1)], torch.tensor([0, 1]), [torch.zeros(1, 3, 1, 1)])
    with pytest.raises(ValueError, match="support_labels"):
        MultiScaleProtoHead(1)([torch.zeros(2, 3, 1, 1)], torch.tensor([0, 2]), [torch.zeros(1, 3, 1, 1)])
    with pytest.raises(ValueError, match="stage_embeddings"):
        multiscale_fewshot_eval({"support": []}, torch.ones(1))


def test_glyph_domains_are_class_disjoint_by_script():
    from mlcompanion.data.fewshot_domains import glyph_fewshot_domains, glyph_script

    d = glyph_fewshot_domains(with_digits=False)
    sets = [set(d.classes[k]) for k in ("train", "val", "in-domain", "cross-script")]
    for i in range(4):
        for j in range(i + 1, 4):
            assert not sets[i] & sets[j]
    assert {glyph_script(c) for c in d.classes["cross-script"]} == {"greek", "cyrillic"}
    assert {glyph_script(c) for c in d.classes["in-domain"] + d.classes["train"]} <= {"latin", "digit"}
    assert len(d.val.tensors[1].unique()) == 8


def test_paper_readers_name_the_layout(tmp_path):
    from mlcompanion.data.fewshot_domains import EasyFSLCsvDataset
    from mlcompanion.data.folders import DatasetNotFoundError

    with pytest.raises(DatasetNotFoundError, match="image_name,class_name"):
        EasyFSLCsvDataset(tmp_path / "mini_imagenet", "train")
    root = tmp_path / "mini_imagenet"
    (root / "images" / "n01").mkdir(parents=True)
    for split in ("train", "val", "test"):
        (root / f"{split}.csv").write_text("image_name,class_name\na.jpg,n01\nb.jpg,n02\n")
    ds = EasyFSLCsvDataset(root, "train")
    assert ds.num_classes == 2 and ds.labels.tolist() == [0, 1]
    assert ds.paths[0] == root / "images" / "n01" / "a.jpg"
