"""Networks of dynamic_subspaces: Adiga Vasudeva, Dolz & Lombaert, "Attention-based Dynamic Subspace
Learners for Medical Image Analysis" (IEEE JBHI 2022, arXiv 2206.09068; official code
``adigasu/Dynamic_subspace_learners`` at 84fce0a, ``lib/model.py``).

- ``SpatialAttention``: the attention module (Sec. "Attention module"): A = sigmoid(conv3x3 -> ReLU ->
  conv3x3 -> ReLU -> conv3x3) over the backbone's feature map, one channel; the features are
  re-weighted x <- x * A (broadcast over channels).
- ``SubspaceEmbedding``: one linear embedding whose dimensions are partitioned into K learners (index
  sets I_1..I_K); each slice is L2-normalised on its own (the forward of ``embed_model``), and the last
  learner can be split by ``split_last`` (the official ``split_neurons``).
- ``SubspaceNet``: feature map -> [attention] -> global average pooling -> dropout -> embedding.
- ``GlyphCNN``: the ci backbone (three 3x3 conv blocks 16-32-64, two poolings, a feature map left
  for the attention); ``resnet50_layer3``: the paper's ImageNet ResNet-50 cut after ``layer3`` with
  every BatchNorm frozen (eval mode, as ``lib/model.py``), weights from a local file.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from ..validation import check_int

__all__ = ["SpatialAttention", "SubspaceEmbedding", "SubspaceNet", "GlyphCNN", "resnet50_layer3",
           "initial_slices"]


def _check_maps(x, channels: int, name: str = "x") -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (n, {channels}, h, w), got {type(x).__name__}")
    if not x.is_floating_point() or x.dim() != 4 or x.shape[1] != channels:
        raise ValueError(f"{name} must be a floating-point tensor of shape (n, {channels}, h, w), "
                         f"got shape {tuple(x.shape)} and dtype {x.dtype}")
    return x


def initial_slices(dim: int, n_learners: int) -> list[torch.Tensor]:
    """The official initial partition of ``dim`` embedding dimensions into ``n_learners`` contiguous
    blocks of ceil(dim / n_learners) (the last one shorter): ``init_splitted`` / ``learner_neurons``."""
    dim = check_int(dim, "dim")
    n_learners = check_int(n_learners, "n_learners")
    if n_learners > dim:
        raise ValueError(f"n_learners must be <= dim (one dimension per learner at least), got {n_learners} > {dim}")
    size = math.ceil(dim / n_learners)
    slices = [torch.arange(c * size, min((c + 1) * size, dim)) for c in range(n_learners)]
    if any(s.numel() == 0 for s in slices):
        raise ValueError(f"dim={dim} cannot be cut into {n_learners} non-empty blocks of ceil(dim / K)")
    return slices


class SpatialAttention(nn.Module):
    """The ADSL attention module (JBHI 2022, Sec. II "Attention module"; ``AttentionLayer``).

    A = sigmoid(conv3x3(hidden[1] -> 1)(relu(conv3x3(hidden[0] -> hidden[1])(relu(conv3x3(in_ch ->
    hidden[0])(x)))))), padding 1; returns ``(x * A, A)`` with A of shape (n, 1, h, w).

    Args:
        in_ch: channels of the feature map (1024 for the ResNet-50 ``layer3`` of the paper).
        hidden: the two hidden widths (default ``(in_ch // 8, in_ch // 32)``: 128 and 32 in the paper).
    """

    def __init__(self, in_ch: int, hidden: tuple[int, int] | None = None):
        super().__init__()
        self.in_ch = check_int(in_ch, "in_ch")
        if hidden is None:
            hidden = (max(1, in_ch // 8), max(1, in_ch // 32))
        if not isinstance(hidden, (tuple, list)) or len(hidden) != 2:
            raise ValueError(f"hidden must be a pair of widths, got {hidden!r}")
        h1, h2 = (check_int(h, "hidden width") for h in hidden)
        self.hidden = (h1, h2)
        self.layer1 = nn.Conv2d(in_ch, h1, 3, padding=1)
        self.layer2 = nn.Conv2d(h1, h2, 3, padding=1)
        self.layer3 = nn.Conv2d(h2, 1, 3, padding=1)
        self.to(memory_format=torch.channels_last)  # NHWC kernels on a CPU (same function)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """The map A in (0, 1), shape (n, 1, h, w)."""
        _check_maps(x, self.in_ch)
        return torch.sigmoid(self.layer3(F.relu(self.layer2(F.relu(self.layer1(x))))))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = self.attention(x)
        return x * a, a


class SubspaceEmbedding(nn.Module):
    """A linear embedding partitioned into K subspace learners (ADSL, JBHI 2022, Sec. II; DCML of
    Sanakoyeu et al. CVPR 2019 for a fixed K).

    ``learner_slices`` (a list of 1-D LongTensors) partitions 0..dim-1 at all times; each learner's slice
    is L2-normalised independently.

    * ``forward(x, k=None)``: with ``k`` the normalised slice of learner k, shape (n, |I_k|); without,
      the full (n, dim) embedding with every slice normalised in place (what the official code
      evaluates; its norm is sqrt(K)).
    * ``raw(x)``: the un-normalised linear output.
    * ``split_last(candidates)``: the official ``split_neurons``: the weights and biases of the candidate
      neurons (indices into the embedding, all in the last learner) are copied to the first
      ``len(candidates)`` positions of the last learner's index list, which becomes the shrunken last
      learner; the rest of that list is re-initialised (xavier-normal weights, the default bias of a
      fresh ``nn.Linear``) and becomes the new learner K + 1.

    Args:
        in_dim: input features (1024 in the paper: pooled ``layer3``).
        dim: embedding dimensions (128 in the paper).
        n_learners: initial K (1 for DSL/ADSL; the fixed K of DCML), blocks of ceil(dim / K).
    """

    def __init__(self, in_dim: int, dim: int = 128, n_learners: int = 1):
        super().__init__()
        self.in_dim = check_int(in_dim, "in_dim")
        self.dim = check_int(dim, "dim")
        self.linear = nn.Linear(in_dim, dim)
        self.learner_slices = initial_slices(dim, n_learners)
        for idx in self.learner_slices:  # official init_splitted: each block initialised on its own
            self._reinit(idx)

    @property
    def n_learners(self) -> int:
        return len(self.learner_slices)

    def _reinit(self, idx: torch.Tensor) -> None:
        fresh = nn.Linear(self.in_dim, int(idx.numel()))
        nn.init.xavier_normal_(fresh.weight, gain=1.0)
        with torch.no_grad():
            self.linear.weight[idx] = fresh.weight.to(self.linear.weight)
            self.linear.bias[idx] = fresh.bias.to(self.linear.bias)

    def raw(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() != 2 or x.shape[1] != self.in_dim:
            got = f"shape {tuple(x.shape)} and dtype {x.dtype}" if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x must be a floating-point tensor of shape (n, {self.in_dim}), got {got}")
        return self.linear(x)

    def normalize_slices(self, e: torch.Tensor) -> torch.Tensor:
        """Every learner's slice of a raw embedding e (n, dim) L2-normalised on its own."""
        out = torch.empty_like(e)
        for idx in self.learner_slices:
            out[:, idx] = F.normalize(e[:, idx], p=2, dim=1)
        return out

    def forward(self, x: torch.Tensor, k: int | None = None) -> torch.Tensor:
        e = self.raw(x)
        if k is None:
            return self.normalize_slices(e)
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < self.n_learners:
            raise ValueError(f"k must be None or a learner index in 0..{self.n_learners - 1}, got {k!r}")
        return F.normalize(e[:, self.learner_slices[k]], p=2, dim=1)

    def set_single_learner(self) -> None:
        """K = 1 over the whole embedding (the official fine-tuning phase and a plain K = 1 model keep
        the slices; only the loss sees the whole vector). Not used by the official code's eval path."""
        self.learner_slices = [torch.arange(self.dim)]

    def split_last(self, candidates) -> tuple[torch.Tensor, torch.Tensor]:
        """Split the last learner (official ``split_neurons``); returns (kept indices, new learner's
        indices). ``candidates``: embedding indices of the last learner, best first, at least one and
        fewer than its size (the new learner must keep at least one dimension)."""
        last = self.learner_slices[-1]
        cand = torch.as_tensor(candidates)
        if cand.dim() != 1 or cand.is_floating_point() or cand.dtype == torch.bool:
            raise ValueError(f"candidates must be a 1-D sequence of integer indices, got {candidates!r}")
        cand = cand.long()
        if cand.numel() == 0 or cand.numel() >= last.numel():
            raise ValueError(f"candidates must hold 1..{last.numel() - 1} of the last learner's {last.numel()} "
                             f"neurons (the new learner needs at least one), got {cand.numel()}")
        if cand.unique().numel() != cand.numel() or not bool(torch.isin(cand, last).all()):
            raise ValueError(f"candidates must be distinct neurons of the last learner {last.tolist()}, "
                             f"got {cand.tolist()}")
        kept, new = last[: cand.numel()].clone(), last[cand.numel():].clone()
        with torch.no_grad():
            w, b = self.linear.weight[cand].clone(), self.linear.bias[cand].clone()
            self.linear.weight[kept] = w
            self.linear.bias[kept] = b
        self._reinit(new)
        self.learner_slices = [*self.learner_slices[:-1], kept, new]
        return kept, new

    def extra_repr(self) -> str:
        return f"in_dim={self.in_dim}, dim={self.dim}, learners={[int(s.numel()) for s in self.learner_slices]}"


class SubspaceNet(nn.Module):
    """ADSL / DSL network (JBHI 2022, Fig. 1; official ``embed_model``): ``features(x)`` (n, C, h, w)
    -> [``SpatialAttention``] -> global average pooling -> Dropout(``dropout``) -> ``SubspaceEmbedding``.

    * ``forward(x, k=None)``: the embedding (slice k normalised, or every slice normalised).
    * ``penultimate(x)``: the pooled (n, C) features, L2-normalised (what the divide-and-conquer
      K-means clusters, ``use_penultimate=True``).
    * ``attention_map(x)``: the map A (n, 1, h, w) (ones without attention).

    Args:
        features: a module mapping images to a feature map with ``out_channels`` channels.
        out_channels: C.
        dim, n_learners: of the ``SubspaceEmbedding``.
        attention: with the attention module (ADSL) or without (DSL, DCML, K = 1).
        hidden: attention widths (default C // 8, C // 32).
        dropout: 0.01 in the official code.
    """

    def __init__(self, features: nn.Module, out_channels: int, dim: int = 128, n_learners: int = 1,
                 attention: bool = True, hidden: tuple[int, int] | None = None, dropout: float = 0.01):
        super().__init__()
        if not isinstance(features, nn.Module):
            raise ValueError(f"features must be a torch.nn.Module, got {type(features).__name__}")
        self.out_channels = check_int(out_channels, "out_channels")
        if not isinstance(attention, bool):
            raise ValueError(f"attention must be a bool, got {attention!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}")
        self.features = features
        self.attention = SpatialAttention(out_channels, hidden) if attention else None
        self.dropout = nn.Dropout(float(dropout))
        self.embedding = SubspaceEmbedding(out_channels, dim, n_learners)

    def _maps(self, x):
        f = self.features(x)
        if not isinstance(f, torch.Tensor) or f.dim() != 4 or f.shape[1] != self.out_channels:
            got = tuple(f.shape) if isinstance(f, torch.Tensor) else type(f).__name__
            raise ValueError(f"features(x) must return a map of shape (n, {self.out_channels}, h, w), got {got}")
        if self.attention is None:
            return f, None
        return self.attention(f)

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        f, _ = self._maps(x)
        return self.dropout(f.mean(dim=(2, 3)))

    def penultimate(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.pooled(x), p=2, dim=1)

    def raw_embedding(self, x: torch.Tensor) -> torch.Tensor:
        return self.embedding.raw(self.pooled(x))

    def attention_map(self, x: torch.Tensor) -> torch.Tensor:
        f, a = self._maps(x)
        return torch.ones_like(f[:, :1]) if a is None else a

    def forward(self, x: torch.Tensor, k: int | None = None) -> torch.Tensor:
        return self.embedding(self.pooled(x), k)


class GlyphCNN(nn.Module):
    """The ci backbone of dynamic_subspaces: conv3x3-BN-ReLU blocks of widths ``widths`` (default
    16-32-64), 2x2 max-pooling after all but the last, so a 24-pixel glyph leaves a 6x6 map for the
    attention (the paper's ResNet-50 ``layer3`` leaves 14x14 at 224 pixels). Trained from scratch, so
    its BatchNorm layers train (the paper freezes those of the ImageNet backbone)."""

    def __init__(self, in_channels: int = 1, widths: tuple[int, ...] = (16, 32, 64)):
        super().__init__()
        in_channels = check_int(in_channels, "in_channels")
        if not isinstance(widths, (tuple, list)) or not widths:
            raise ValueError(f"widths must be a non-empty tuple of ints, got {widths!r}")
        widths = tuple(check_int(w, "width") for w in widths)
        layers, cin = [], in_channels
        for i, w in enumerate(widths):
            layers += [nn.Conv2d(cin, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            if i < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
            cin = w
        self.body = nn.Sequential(*layers)
        self.in_channels = in_channels
        self.out_channels = widths[-1]
        # Speed, as SmallConvNet: channels-last weights and activations take oneDNN's NHWC kernels on a
        # CPU (max-pooling and the convolutions are several times faster); same function.
        self.body.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_maps(x, self.in_channels)
        return self.body(x.contiguous(memory_format=torch.channels_last))


class _FrozenBNResNet(nn.Module):
    """ResNet-50 stem..layer3 with every BatchNorm kept in eval mode (official ``resnet50``)."""

    def __init__(self, resnet: nn.Module):
        super().__init__()
        self.body = nn.Sequential(resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool,
                                  resnet.layer1, resnet.layer2, resnet.layer3)
        self.out_channels = 1024

    def train(self, mode: bool = True):
        super().train(mode)
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
        return self

    def forward(self, x):
        return self.body(x)


def resnet50_layer3(weights_path) -> nn.Module:
    """The paper's backbone: ImageNet ResNet-50 (torchvision parameter names) truncated after
    ``layer3`` (1024 channels, 14x14 at 224 pixels), BatchNorm frozen, weights read from the local
    file ``weights_path`` (``mlcompanion.models.load_backbone_weights`` checks it)."""
    from .backbones import load_backbone_weights, resnet50

    path = Path(weights_path).expanduser()
    net = load_backbone_weights(resnet50(num_classes=None), path)
    return _FrozenBNResNet(net)
