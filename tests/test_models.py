"""Backbones (torchvision-compatible ResNets, SmallConvNet), weight loading and EmbeddingNet."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from mlcompanion.models import (
    EmbeddingNet,
    ResNet,
    SmallConvNet,
    load_backbone_weights,
    resnet18,
    resnet50,
)


def _bn(prefix, c):
    return {f"{prefix}.weight": (c,), f"{prefix}.bias": (c,), f"{prefix}.running_mean": (c,),
            f"{prefix}.running_var": (c,), f"{prefix}.num_batches_tracked": ()}


def _expected_torchvision_keys(kind):
    """state_dict names and shapes of torchvision's resnet18 / resnet50, written from its spec."""
    keys = {"conv1.weight": (64, 3, 7, 7), **_bn("bn1", 64)}
    if kind == "resnet18":
        layers, expansion = [2, 2, 2, 2], 1
    else:
        layers, expansion = [3, 4, 6, 3], 4
    inplanes = 64
    for li, (planes, n) in enumerate(zip([64, 128, 256, 512], layers), start=1):
        for b in range(n):
            p = f"layer{li}.{b}"
            cin = inplanes if b == 0 else planes * expansion
            if kind == "resnet18":
                keys[f"{p}.conv1.weight"] = (planes, cin, 3, 3)
                keys.update(_bn(f"{p}.bn1", planes))
                keys[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
                keys.update(_bn(f"{p}.bn2", planes))
            else:
                keys[f"{p}.conv1.weight"] = (planes, cin, 1, 1)
                keys.update(_bn(f"{p}.bn1", planes))
                keys[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
                keys.update(_bn(f"{p}.bn2", planes))
                keys[f"{p}.conv3.weight"] = (planes * 4, planes, 1, 1)
                keys.update(_bn(f"{p}.bn3", planes * 4))
            if b == 0 and (li > 1 or inplanes != planes * expansion):
                keys[f"{p}.downsample.0.weight"] = (planes * expansion, cin, 1, 1)
                keys.update(_bn(f"{p}.downsample.1", planes * expansion))
        inplanes = planes * expansion
    keys["fc.weight"] = (1000, 512 * expansion)
    keys["fc.bias"] = (1000,)
    return keys


@pytest.mark.parametrize(
    "builder, n_params, n_entries",
    [(resnet18, 11_689_512, 122), (resnet50, 25_557_032, 320)],
)
def test_resnet_state_dict_matches_torchvision(builder, n_params, n_entries):
    model = builder()
    sd = model.state_dict()
    expected = _expected_torchvision_keys(builder.__name__)
    assert list(sd) == list(expected)  # same names, same order as torchvision
    assert {k: tuple(v.shape) for k, v in sd.items()} == expected
    assert len(sd) == n_entries
    assert sum(p.numel() for p in model.parameters()) == n_params


def test_resnet50_spot_checks():
    m = resnet50()
    sd = m.state_dict()
    assert tuple(sd["layer4.2.bn3.running_var"].shape) == (2048,)
    assert tuple(sd["layer1.0.downsample.0.weight"].shape) == (256, 64, 1, 1)
    assert "layer1.1.downsample.0.weight" not in sd
    # v1.5: the stride sits on the 3x3 conv of the first Bottleneck of layers 2-4
    for layer in (m.layer2, m.layer3, m.layer4):
        assert layer[0].conv1.stride == (1, 1) and layer[0].conv2.stride == (2, 2)
        assert layer[0].downsample[0].stride == (2, 2)
    assert m.layer1[0].conv2.stride == (1, 1)


def test_resnet_forward_shapes():
    x = torch.randn(2, 3, 64, 64)
    m18, m50 = resnet18().eval(), resnet50().eval()
    assert m18.feature_dim == 512 and m50.feature_dim == 2048
    with torch.no_grad():
        assert m18.forward_features(x).shape == (2, 512)
        f = m50.forward_features(x)
        assert f.shape == (2, 2048) and torch.isfinite(f).all()
        assert m50(x).shape == (2, 1000)
        headless = resnet18(num_classes=None).eval()
        assert headless.fc is None and not any(k.startswith("fc.") for k in headless.state_dict())
        assert headless(x).shape == (2, 512)
    with pytest.raises(ValueError, match="3 channel"):
        m18.forward_features(torch.randn(2, 1, 64, 64))


def test_resnet_bad_arguments():
    with pytest.raises(ValueError):
        ResNet(nn.Conv2d, [2, 2, 2, 2])
    with pytest.raises(ValueError):
        resnet18(num_classes=0)


def test_load_backbone_weights_roundtrip(tmp_path):
    src = resnet18()
    with torch.no_grad():
        for p in src.parameters():
            p.add_(torch.randn_like(p) * 0.01)
        src.bn1.running_mean.add_(1.0)
    path = tmp_path / "resnet18.pth"
    torch.save(src.state_dict(), path)

    dst = load_backbone_weights(resnet18(), path)
    for k, v in src.state_dict().items():
        assert torch.equal(dst.state_dict()[k], v), k

    # no fc on the model: fc.* are dropped
    headless = load_backbone_weights(resnet18(num_classes=None), str(path))
    assert torch.equal(headless.layer4[1].bn2.weight, src.layer4[1].bn2.weight)

    # fc of another shape: dropped, the model keeps its own fc
    other = resnet18(num_classes=10)
    fc_before = other.fc.weight.clone()
    load_backbone_weights(other, path)
    assert torch.equal(other.fc.weight, fc_before)
    assert torch.equal(other.conv1.weight, src.conv1.weight)

    # DataParallel prefix and {"state_dict": ...} wrapper
    wrapped = tmp_path / "wrapped.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in src.state_dict().items()}}, wrapped)
    assert torch.equal(load_backbone_weights(resnet18(), wrapped).conv1.weight, src.conv1.weight)

    # old checkpoints without BatchNorm num_batches_tracked entries
    old = tmp_path / "old.pth"
    torch.save({k: v for k, v in src.state_dict().items() if "num_batches" not in k}, old)
    assert torch.equal(load_backbone_weights(resnet18(), old).bn1.running_mean, src.bn1.running_mean)

    # the backbone of an EmbeddingNet
    net = EmbeddingNet(resnet18(num_classes=None), 16)
    load_backbone_weights(net.backbone, path)
    assert torch.equal(net.backbone.conv1.weight, src.conv1.weight)


def test_load_backbone_weights_wrong_keys(tmp_path):
    sd = resnet18().state_dict()
    del sd["layer3.0.bn1.running_var"]
    sd["layer5.0.conv1.weight"] = torch.zeros(1)
    path = tmp_path / "bad.pth"
    torch.save(sd, path)
    with pytest.raises(ValueError) as info:
        load_backbone_weights(resnet18(), path)
    msg = str(info.value)
    assert "layer3.0.bn1.running_var" in msg and "layer5.0.conv1.weight" in msg
    assert "missing" in msg and "unexpected" in msg

    # a resnet18 checkpoint into a resnet50
    torch.save(resnet18().state_dict(), path)
    with pytest.raises(ValueError, match="missing key"):
        load_backbone_weights(resnet50(), path)

    sd = resnet18().state_dict()
    sd["conv1.weight"] = torch.zeros(64, 3, 3, 3)
    torch.save(sd, path)
    with pytest.raises(ValueError, match="conv1.weight"):
        load_backbone_weights(resnet18(), path)


def test_load_backbone_weights_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_backbone_weights(resnet18(), tmp_path / "resnet50-11ad3fa6.pth")
    msg = str(info.value)
    assert "https://download.pytorch.org/models/resnet50-11ad3fa6.pth" in msg
    assert "~/.cache/torch/hub/checkpoints/" in msg
    assert "downloaded" in msg and "resnet50-11ad3fa6.pth" in msg


def test_small_conv_net():
    torch.manual_seed(0)
    net = SmallConvNet(in_channels=1, embedding_dim=64, width=32, image_size=32)
    x = torch.randn(8, 1, 32, 32)
    g = net.forward_features(x)
    assert net.feature_dim == 64 and g.shape == (8, 64)
    out = net(x)
    assert out.shape == (8, 64)
    assert torch.allclose(out, net.fc(g))
    assert not torch.allclose(out.norm(dim=1), torch.ones(8))  # raw, not normalised
    rgb = SmallConvNet(in_channels=3, embedding_dim=16, width=8)
    assert rgb.feature_dim == 16 and rgb(torch.randn(2, 3, 28, 28)).shape == (2, 16)
    with pytest.raises(ValueError, match="channel"):
        net(torch.randn(2, 3, 32, 32))
    with pytest.raises(ValueError):
        net(torch.randn(2, 1, 4, 4))
    with pytest.raises(ValueError):
        SmallConvNet(embedding_dim=0)
    with pytest.raises(ValueError):
        SmallConvNet(image_size=4)


def test_small_conv_net_trains():
    torch.manual_seed(0)
    net = SmallConvNet(width=8, embedding_dim=4)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    x, target = torch.randn(16, 1, 32, 32), torch.randn(16, 4)
    losses = []
    for _ in range(15):
        loss = (net(x) - target).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_embedding_net():
    torch.manual_seed(0)
    net = EmbeddingNet(SmallConvNet(width=8), embedding_dim=12)
    x = torch.randn(5, 1, 32, 32)
    e = net(x)
    assert e.shape == (5, 12)
    assert torch.allclose(e.norm(dim=1), torch.ones(5), atol=1e-5)
    g, raw = net.forward_features_and_embedding(x)
    assert g.shape == (5, 16) and raw.shape == (5, 12)
    assert torch.allclose(raw, net.fc(g)) and torch.allclose(e, raw / raw.norm(dim=1, keepdim=True))
    # the head can be reused on detached features with the same weights
    assert torch.allclose(net.fc(g.detach()), raw)
    unnorm = EmbeddingNet(net.backbone, 12, normalize=False)
    unnorm.fc.load_state_dict(net.fc.state_dict())
    assert torch.allclose(unnorm(x), raw)

    # ResNet backbone, and a backbone with only a plain forward
    r = EmbeddingNet(resnet18(num_classes=None), 32).eval()
    with torch.no_grad():
        assert r(torch.randn(2, 3, 64, 64)).shape == (2, 32)

    class Plain(nn.Module):
        feature_dim = 6

        def forward(self, x):
            return x.flatten(1)[:, :6]

    p = EmbeddingNet(Plain(), 3)
    assert torch.allclose(p(torch.randn(4, 1, 3, 3)).norm(dim=1), torch.ones(4), atol=1e-5)


def test_embedding_net_errors():
    with pytest.raises(ValueError, match="feature_dim"):
        EmbeddingNet(nn.Linear(4, 4), 8)
    with pytest.raises(ValueError, match="embedding_dim"):
        EmbeddingNet(SmallConvNet(), 0)

    class Wrong(nn.Module):
        feature_dim = 5

        def forward(self, x):
            return torch.zeros(x.shape[0], 7)

    with pytest.raises(ValueError, match=r"\(n, 5\)"):
        EmbeddingNet(Wrong(), 3)(torch.randn(2, 4))
