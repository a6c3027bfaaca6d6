"""SmallConvNet runs channels-last (for speed) and is still the same model: same parameter names,
shapes and state_dict keys as before, the same function as the NCHW computation up to rounding,
checkpoints interchangeable with contiguous tensors, deterministic."""

import io

import pytest
import torch

from mlcompanion.models import EmbeddingNet, SmallConvNet


def nchw_forward(model: SmallConvNet, x: torch.Tensor) -> torch.Tensor:
    """The reference: the same modules applied in the default layout, with contiguous weights."""
    h = x.contiguous()
    for layer in model.features:
        if isinstance(layer, torch.nn.Conv2d):
            h = torch.nn.functional.conv2d(h, layer.weight.contiguous(), None, layer.stride, layer.padding)
            h = h.contiguous()
        else:
            h = layer(h).contiguous()
    return model.fc(h.mean(dim=(2, 3)))


EXPECTED_KEYS = [f"features.{i}.{name}" for i in (0, 4, 8) for name in ("weight",)] + [
    f"features.{i}.{name}" for i in (1, 5, 9)
    for name in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")] + ["fc.weight", "fc.bias"]


def test_state_dict_keys_and_shapes_unchanged():
    model = SmallConvNet(in_channels=1, embedding_dim=64, width=32)
    state = model.state_dict()
    assert sorted(state) == sorted(EXPECTED_KEYS)
    assert tuple(state["features.0.weight"].shape) == (32, 1, 3, 3)
    assert tuple(state["features.4.weight"].shape) == (64, 32, 3, 3)
    assert tuple(state["features.8.weight"].shape) == (64, 64, 3, 3)
    assert tuple(state["fc.weight"].shape) == (64, 64)


@pytest.mark.parametrize("in_channels,width,size,batch", [(1, 32, 32, 16), (3, 16, 24, 8), (1, 8, 9, 5)])
def test_same_function_and_gradients_as_nchw(in_channels, width, size, batch):
    torch.manual_seed(0)
    model = SmallConvNet(in_channels=in_channels, embedding_dim=10, width=width, image_size=max(size, 8))
    x = torch.randn(batch, in_channels, size, size)
    ref = SmallConvNet(in_channels=in_channels, embedding_dim=10, width=width, image_size=max(size, 8))
    ref.load_state_dict(model.state_dict())
    out, expected = model(x), nchw_forward(ref, x)
    assert not out.isnan().any()
    torch.testing.assert_close(out, expected, atol=2e-5, rtol=1e-4)
    out.square().sum().backward()
    expected.square().sum().backward()
    for (name, p), (_, q) in zip(model.named_parameters(), ref.named_parameters()):
        torch.testing.assert_close(p.grad, q.grad, atol=1e-4, rtol=1e-3, msg=name)
    # BatchNorm running statistics updated the same way
    torch.testing.assert_close(model.features[1].running_var, ref.features[1].running_var)


def test_checkpoints_interchangeable_with_contiguous_tensors():
    torch.manual_seed(1)
    model = SmallConvNet(in_channels=1, embedding_dim=16, width=8)
    contiguous = {k: v.contiguous() for k, v in model.state_dict().items()}
    other = SmallConvNet(in_channels=1, embedding_dim=16, width=8)
    other.load_state_dict(contiguous)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    third = SmallConvNet(in_channels=1, embedding_dim=16, width=8)
    third.load_state_dict(torch.load(buffer, weights_only=True))
    x = torch.randn(4, 1, 16, 16)
    model.eval(), other.eval(), third.eval()
    assert torch.equal(model(x), other(x)) and torch.equal(model(x), third(x))


def test_training_steps_are_deterministic():
    def run():
        torch.manual_seed(0)
        model = EmbeddingNet(SmallConvNet(in_channels=1, embedding_dim=16, width=8), 16)
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        x = torch.randn(16, 1, 16, 16, generator=torch.Generator().manual_seed(2))
        for _ in range(3):
            opt.zero_grad()
            model(x).sum().backward()
            opt.step()
        return torch.cat([p.detach().flatten() for p in model.parameters()])
    assert torch.equal(run(), run())


def test_output_is_a_plain_tensor_the_callers_expect():
    model = SmallConvNet(in_channels=1, embedding_dim=12, width=8)
    out = model(torch.randn(3, 1, 16, 16))
    assert out.shape == (3, 12) and out.is_contiguous()
    feats = model.forward_features(torch.randn(3, 1, 16, 16))
    assert feats.shape == (3, 16) and feats.is_contiguous()


def test_relu_after_pooling_is_bitwise_the_module_order():
    """forward_features pools before the ReLU; values and gradients equal the modules applied in
    their listed order (conv, BN, ReLU, pool) bit for bit, ties at zero included."""
    torch.manual_seed(3)
    model = SmallConvNet(in_channels=1, embedding_dim=8, width=8)
    ref = SmallConvNet(in_channels=1, embedding_dim=8, width=8)
    ref.load_state_dict(model.state_dict())
    x = torch.randn(6, 1, 16, 16)
    x[:, :, :4, :4] = 0.0  # windows where every value ties
    out = model.forward_features(x)
    expected = ref.features(x.contiguous(memory_format=torch.channels_last)).mean(dim=(2, 3))
    assert torch.equal(out, expected)
    w = torch.randn_like(out)
    (out * w).sum().backward()
    (expected * w).sum().backward()
    for (name, p), (_, q) in zip(model.features.named_parameters(), ref.features.named_parameters()):
        assert torch.equal(p.grad, q.grad), name
