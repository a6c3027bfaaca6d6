"""Equiangular basis vectors (EBV): a fixed, nearly orthogonal classifier instead of a learned one.

Paper: Shen, Sun & Wei, "Equiangular Basis Vectors", CVPR 2023, arXiv:2303.11637 (slug
``equiangular_basis``). Official code: ``NJUST-VIPGroup/Equiangular-Basis-Vectors`` (also published
as ``aassxun/Equiangular-Basis-Vectors``): ``Generate_EBV/Generate_EBV.py`` (generation) and
``ImageNet_Validation_Experiment/EBV_ImageNet.py`` (classifier).

Two parts:

* **Generation** (paper Sec. 3.2, the official ``Generate_EBV.py``). N unit vectors in R^d whose
  pairwise |cosine| is at most a threshold alpha, found by plain gradient descent on

      L(W) = sum_{i != j} ReLU(|w_i . w_j| - alpha),     rows of W renormalised before every step,

  stopping as soon as max_{i != j} |w_i . w_j| <= alpha + 1e-4. :func:`search_equiangular_basis`
  runs it once; :func:`generate_equiangular_basis` adds the default threshold, the orthonormal
  shortcut when d >= N, restarts, and raises when the threshold is not reached.
* **Classifier** (paper eq. 5-6, ``EBV_ImageNet.py``). The network outputs f in R^d, normalised;
  the logits are cos(f, w_c) / tau with the fixed EBVs w_c and tau = 0.07; the loss is
  cross-entropy with label smoothing 0.1; the prediction is argmax_c f . w_c (= the smallest
  spherical distance). :class:`EquiangularHead` (logits, no trainable parameter) and
  :class:`EquiangularLoss` (the loss on the embeddings). The control :class:`NormFaceHead` has
  the same cosine logits with *learnable* class vectors (NormFace / normalized softmax), so that
  "EBV vs a learned classifier" can be separated from "cosine vs linear softmax".

A limit of the generator worth knowing: the hinge's gradient on a pair is sign * w_j, which at a
(near-)identical or (near-)antipodal pair is parallel to w_i and vanishes once projected on the
sphere. With a threshold too close to the Welch bound (:func:`welch_bound`), the descent lowers
the hinge sum by *merging* vectors and stays there (max |cos| -> 1): check ``max_abs_cosine`` of
what you use. ``generate_equiangular_basis`` does.
"""

from __future__ import annotations

import io
import math
import os
import pickle
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..validation import check_embeddings, check_int, check_labels, check_positive, check_probability

__all__ = [
    "welch_bound",
    "max_abs_cosine",
    "random_unit_vectors",
    "EquiangularSearch",
    "EquiangularGenerationError",
    "search_equiangular_basis",
    "generate_equiangular_basis",
    "load_official_basis",
    "EquiangularHead",
    "NormFaceHead",
    "EquiangularLoss",
    "OFFICIAL_THRESHOLD",
    "DEFAULT_WELCH_FACTOR",
]

#: The threshold alpha of the official ``Generate_EBV.py`` (N = d = 1000).
OFFICIAL_THRESHOLD = 0.002
#: Default threshold for N > d: this factor times the Welch bound (the official files reach 1.42x
#: at d = 100 and 1.21x at d = 300 for N = 1000).
DEFAULT_WELCH_FACTOR = 1.3
_TOLERANCE = 1e-4  # the official stopping rule: max |cos| <= alpha + 1e-4


def _seed(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"seed must be a non-negative int, got {value!r}")
    return int(value)


def welch_bound(num_vectors: int, dim: int) -> float:
    """Welch lower bound on max_{i != j} |cos(w_i, w_j)| for N unit vectors in R^d
    (equiangular_basis, the bound quoted with the generation, Sec. 3.2):

        sqrt((N - d) / (d (N - 1)))  when N > d,   0 when N <= d (an orthonormal set exists).
    """
    n, d = check_int(num_vectors, "num_vectors"), check_int(dim, "dim")
    if n <= d:
        return 0.0
    return math.sqrt((n - d) / (d * (n - 1)))


def max_abs_cosine(basis: torch.Tensor) -> float:
    """max_{i != j} |cos(w_i, w_j)| over the rows of ``basis`` (N, d), N >= 2 (equiangular_basis,
    the quantity the generation bounds by alpha). Rows are normalised first (zero rows rejected)."""
    check_embeddings(basis, "basis")
    if basis.shape[0] < 2:
        raise ValueError(f"basis must have at least 2 rows to have a pair, got shape {tuple(basis.shape)}")
    basis = basis.detach()  # a number, not a differentiable quantity
    norms = basis.norm(dim=1)
    if bool((norms == 0).any()):
        raise ValueError(f"basis rows must be non-zero, got {int((norms == 0).sum())} zero row(s)")
    w = basis / norms.unsqueeze(1)
    cos = (w @ w.t()).abs()
    cos.fill_diagonal_(0.0)
    return float(cos.max())


def random_unit_vectors(num_vectors: int, dim: int, seed: int = 42, dtype=torch.float32) -> torch.Tensor:
    """N row-normalised Gaussian vectors (N, d): the starting point of the official generator
    (``F.normalize(torch.randn(N, d))``, seed 42), also the "random fixed classifier" ablation."""
    n, d = check_int(num_vectors, "num_vectors"), check_int(dim, "dim")
    gen = torch.Generator().manual_seed(_seed(seed))
    return F.normalize(torch.randn(n, d, generator=gen, dtype=dtype), dim=1)


@dataclass
class EquiangularSearch:
    """Outcome of one run of the generator (:func:`search_equiangular_basis`).

    ``basis`` (N, d) unit rows (the last iterate); ``max_abs_cos`` its max pairwise |cos|;
    ``steps`` gradient steps taken; ``converged`` whether max |cos| <= threshold + 1e-4;
    ``history`` max |cos| before each step (``history[0]``: the random start).
    """

    basis: torch.Tensor
    max_abs_cos: float
    steps: int
    converged: bool
    threshold: float
    seed: int
    history: list[float] = field(default_factory=list)

    @property
    def collapsed(self) -> bool:
        """True when two vectors have (nearly) merged or become antipodal: max |cos| > 0.99."""
        return self.max_abs_cos > 0.99


def _check_threshold(threshold, num_vectors: int, dim: int) -> float:
    alpha = check_positive(threshold, "threshold", allow_zero=True)
    if alpha >= 1:
        raise ValueError(f"threshold must be < 1 (a bound on |cos|), got {threshold!r}")
    bound = welch_bound(num_vectors, dim)
    if alpha + _TOLERANCE < bound:
        raise ValueError(
            f"threshold must be at least the Welch bound {bound:.4f} for {num_vectors} vectors in R^{dim} "
            f"(no set of unit vectors does better), got {threshold!r}"
        )
    return alpha


def search_equiangular_basis(
    num_vectors: int,
    dim: int,
    threshold: float,
    *,
    lr: float = 1e-3,
    max_steps: int = 100_000,
    seed: int = 42,
    slice_size: int = 130,
    dtype: torch.dtype = torch.float32,
) -> EquiangularSearch:
    """One run of the official EBV generator (equiangular_basis, Sec. 3.2; ``Generate_EBV.py``).

    W = normalize(randn(N, d)) (seeded); then, for at most ``max_steps`` steps: renormalise the
    rows; G = W W^T; stop if max_{i != j} |G_ij| <= threshold + 1e-4; else one SGD step (no
    momentum, learning rate ``lr``) on L(W) = sum_{i != j} ReLU(|G_ij| - threshold). Its gradient
    is computed in closed form, dL/dW = 2 S W with S_ij = sign(G_ij) [|G_ij| > threshold], i != j
    (the factor 2: the pair (i, j) appears in row i and in row j, as in the official sliced
    autograd), one block of ``slice_size`` rows at a time (the official memory-saving slicing;
    the result does not depend on it).

    Defaults are the official ones (lr 1e-3, 100k steps, seed 42, slice 130); the official code
    uses ``torch.manual_seed(42)`` on CUDA, so its vectors are not reproduced bit for bit.
    Never raises on non-convergence: read ``converged`` / ``max_abs_cos`` of the result.
    """
    n, d = check_int(num_vectors, "num_vectors"), check_int(dim, "dim")
    if n < 2:
        raise ValueError(f"num_vectors must be >= 2 (a pair is needed), got {num_vectors!r}")
    alpha = _check_threshold(threshold, n, d)
    lr = check_positive(lr, "lr")
    max_steps = check_int(max_steps, "max_steps")
    slice_size = check_int(slice_size, "slice_size")
    seed = _seed(seed)
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    w = random_unit_vectors(n, d, seed=seed, dtype=dtype)
    history: list[float] = []
    converged, steps = False, 0
    for step in range(max_steps + 1):
        w = F.normalize(w, dim=1)
        grad = torch.empty_like(w)
        worst = 0.0
        for start in range(0, n, slice_size):  # row blocks (memory), vectorised inside
            rows = slice(start, min(n, start + slice_size))
            g = w[rows] @ w.t()
            a = g.abs()
            idx = torch.arange(rows.start, rows.stop)
            a[idx - rows.start, idx] = 0.0  # the diagonal (|G_ii| - 1 in the official code)
            worst = max(worst, float(a.max()))
            grad[rows] = 2.0 * ((torch.sign(g) * (a > alpha)) @ w)
        history.append(worst)
        if worst <= alpha + _TOLERANCE:
            converged = True
            break
        if step == max_steps:
            break
        w = w - lr * grad
        steps += 1
    return EquiangularSearch(basis=w, max_abs_cos=history[-1], steps=steps, converged=converged,
                             threshold=alpha, seed=seed, history=history)


class EquiangularGenerationError(RuntimeError):
    """The generator did not reach the threshold (after all restarts)."""


def generate_equiangular_basis(
    num_vectors: int,
    dim: int,
    threshold: float | None = None,
    *,
    lr: float = 1e-3,
    max_steps: int = 100_000,
    seed: int = 42,
    slice_size: int = 130,
    restarts: int = 3,
    orthonormal_if_possible: bool = True,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """N equiangular basis vectors in R^d, an (N, d) tensor with unit rows and max pairwise
    |cos| <= threshold + 1e-4 (equiangular_basis, Sec. 3.2).

    Args:
        threshold: alpha. None: the official 0.002 when N <= d, else ``DEFAULT_WELCH_FACTOR`` (1.3)
            x the Welch bound (the official script has a single hand-set alpha; its shipped files
            for N = 1000 reach 1.42x (d = 100) and 1.21x (d = 300) the bound). Must not be below
            the Welch bound.
        orthonormal_if_possible: when N <= d, return N orthonormal rows (QR of a seeded Gaussian
            matrix, max |cos| ~ 1e-7), an exact solution, instead of running the descent (the
            official code runs it down to 0.002; both satisfy the threshold).
        restarts: further attempts with seeds ``seed + 1, seed + 2, ...`` when a run does not
            converge (stalled at a merged pair, or ``max_steps`` too small).
        lr, max_steps, seed, slice_size, dtype: see :func:`search_equiangular_basis`.

    Raises :class:`EquiangularGenerationError` when no attempt reaches the threshold (the
    message gives the best max |cos| reached and suggests a larger threshold).
    """
    n, d = check_int(num_vectors, "num_vectors"), check_int(dim, "dim")
    if n < 2:
        raise ValueError(f"num_vectors must be >= 2 (a pair is needed), got {num_vectors!r}")
    if isinstance(restarts, bool) or not isinstance(restarts, int) or restarts < 0:
        raise ValueError(f"restarts must be a non-negative int, got {restarts!r}")
    seed = _seed(seed)
    if threshold is None:
        threshold = OFFICIAL_THRESHOLD if n <= d else DEFAULT_WELCH_FACTOR * welch_bound(n, d)
    alpha = _check_threshold(threshold, n, d)
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    if n <= d and orthonormal_if_possible:
        gen = torch.Generator().manual_seed(seed)
        q, r = torch.linalg.qr(torch.randn(d, n, generator=gen, dtype=torch.float64))
        q = q * torch.sign(torch.diagonal(r)).unsqueeze(0)  # unique QR: a deterministic basis
        return q.t().contiguous().to(dtype)
    best = None
    for attempt in range(restarts + 1):
        result = search_equiangular_basis(n, d, alpha, lr=lr, max_steps=max_steps, seed=seed + attempt,
                                          slice_size=slice_size, dtype=dtype)
        if result.converged:
            return result.basis
        best = result if best is None or result.max_abs_cos < best.max_abs_cos else best
    raise EquiangularGenerationError(
        f"no EBV set of {n} vectors in R^{d} with max |cos| <= {alpha:.4f} found in {restarts + 1} attempt(s) "
        f"of {max_steps} steps (seeds {seed}..{seed + restarts}); best reached {best.max_abs_cos:.4f}"
        f"{' (two vectors merged: the descent stalls when the threshold is close to the Welch bound)' if best.collapsed else ''}. "
        f"Welch bound {welch_bound(n, d):.4f}: use a larger threshold (e.g. 1.6x the bound), a larger dim or more steps."
    )


class _TorchOnlyUnpickler(pickle.Unpickler):
    """Unpickles a pickled torch tensor only (the official ``pkl.dump(tensor)``), on the CPU."""

    def find_class(self, module, name):
        if module == "torch.storage" and name == "_load_from_bytes":
            return lambda b: torch.load(io.BytesIO(b), map_location="cpu", weights_only=False)
        if module == "torch" or module.startswith("torch.") or (module, name) == ("collections", "OrderedDict"):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: an EBV file holds a torch tensor only")


def load_official_basis(path) -> torch.Tensor:
    """Read an official ``eq_{d}_{N}.pkl`` (a pickled, usually CUDA, tensor (N, d)) on the CPU.

    The official files are ``pickle.dump(basis_vec.data)`` of a CUDA tensor, which plain
    ``pickle.load`` cannot open without a GPU; this maps the storage to the CPU and accepts only
    torch objects. Returns float32 rows, normalised (as ``EBV_ImageNet.py`` does after loading).
    """
    try:
        p = os.fspath(path)
    except TypeError:
        raise ValueError(f"path must be a str or os.PathLike, got {type(path).__name__}") from None
    if not os.path.isfile(p):
        raise FileNotFoundError(f"EBV file not found: {p!r} (expected an official eq_<d>_<N>.pkl)")
    with open(p, "rb") as f:
        obj = _TorchOnlyUnpickler(f).load()
    if isinstance(obj, nn.Parameter):
        obj = obj.data
    if not isinstance(obj, torch.Tensor) or obj.dim() != 2:
        raise ValueError(f"{p}: expected a pickled 2-D tensor (N, d), got {type(obj).__name__}"
                         f"{' of shape ' + str(tuple(obj.shape)) if isinstance(obj, torch.Tensor) else ''}")
    return F.normalize(obj.detach().cpu().float(), dim=1)


def _check_basis(basis) -> torch.Tensor:
    check_embeddings(basis, "basis")
    if basis.shape[0] < 2:
        raise ValueError(f"basis must hold at least 2 class vectors (N, d), got shape {tuple(basis.shape)}")
    if bool((basis.norm(dim=1) == 0).any()):
        raise ValueError("basis rows must be non-zero (one vector per class)")
    return basis


class EquiangularHead(nn.Module):
    """The fixed EBV classifier (equiangular_basis, eq. 5; ``EBV_ImageNet.py``):

        logits_ic = cos(f_i, w_c) / tau,   prediction argmax_c cos(f_i, w_c).

    ``basis`` (N, d): one vector per class, normalised and stored as a buffer (not a parameter:
    no gradient, not in ``parameters()``, saved in ``state_dict``). ``tau`` = 0.07 as in the
    official code. Put it after a network that outputs d numbers
    (``nn.Sequential(backbone, EquiangularHead(W))``) to get a classifier whose scores
    ``mlcompanion.train.evaluate_classifier`` ranks. Input (n, d) float; output (n, N), in the input's
    dtype (float16/bfloat16 computed in float32).
    """

    def __init__(self, basis: torch.Tensor, temperature: float = 0.07):
        super().__init__()
        basis = _check_basis(basis)
        self.temperature = check_positive(temperature, "temperature")
        self.register_buffer("basis", F.normalize(basis.detach().clone(), dim=1))

    @property
    def num_classes(self) -> int:
        return int(self.basis.shape[0])

    @property
    def dim(self) -> int:
        return int(self.basis.shape[1])

    def _check(self, embeddings) -> torch.Tensor:
        check_embeddings(embeddings, allow_empty=True)
        if embeddings.shape[1] != self.dim:
            raise ValueError(f"embeddings must have {self.dim} columns (the EBV dimension), "
                             f"got shape {tuple(embeddings.shape)}")
        if embeddings.dtype in (torch.float16, torch.bfloat16):
            embeddings = embeddings.float()
        return embeddings

    def cosines(self, embeddings: torch.Tensor) -> torch.Tensor:
        """cos(f_i, w_c), shape (n, N)."""
        embeddings = self._check(embeddings)
        return F.normalize(embeddings, dim=1) @ self.basis.to(embeddings.dtype).t()

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.cosines(embeddings) / self.temperature

    @torch.no_grad()
    def predict(self, embeddings: torch.Tensor) -> torch.Tensor:
        """argmax_c cos(f_i, w_c): the class with the smallest spherical distance, int64 (n,)."""
        return self.cosines(embeddings).argmax(dim=1)

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, dim={self.dim}, temperature={self.temperature}"


class NormFaceHead(nn.Module):
    """The learnable counterpart of :class:`EquiangularHead` (NormFace, Wang et al. 2017; the
    normalized softmax of Zhai & Wu 2019): ``logits_ic = cos(f_i, w_c) / tau`` with class vectors
    ``w_c`` that are *parameters* (initialised as standard normal rows, seeded by the caller's
    torch seed) and normalised in every forward pass. Same temperature, same cosine logits as the
    EBV head: the only difference is that the class vectors are learned instead of fixed.

    Input (n, d) float; output (n, N), in the input's dtype (float16/bfloat16 computed in float32).
    With ``weight`` set to an EBV basis it gives the EBV head's logits (tests/test_equiangular.py).
    """

    def __init__(self, num_classes: int, dim: int, temperature: float = 0.07):
        super().__init__()
        num_classes, dim = check_int(num_classes, "num_classes"), check_int(dim, "dim")
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        self.temperature = check_positive(temperature, "temperature")
        self.weight = nn.Parameter(torch.randn(num_classes, dim))

    @property
    def num_classes(self) -> int:
        return int(self.weight.shape[0])

    @property
    def dim(self) -> int:
        return int(self.weight.shape[1])

    def cosines(self, embeddings: torch.Tensor) -> torch.Tensor:
        """cos(f_i, w_c), shape (n, N)."""
        check_embeddings(embeddings, allow_empty=True)
        if embeddings.shape[1] != self.dim:
            raise ValueError(f"embeddings must have {self.dim} columns, got shape {tuple(embeddings.shape)}")
        out_dtype = embeddings.dtype
        if embeddings.dtype in (torch.float16, torch.bfloat16):
            embeddings = embeddings.float()
        W = F.normalize(self.weight.to(embeddings.dtype), dim=1)
        return (F.normalize(embeddings, dim=1) @ W.t()).to(out_dtype)

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.cosines(embeddings) / self.temperature

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, dim={self.dim}, temperature={self.temperature}"


class EquiangularLoss(nn.Module):
    """EBV training loss (equiangular_basis, eq. 6; ``EBV_ImageNet.py``): cross-entropy, with
    label smoothing, of the logits cos(f_i, w_c) / tau against fixed basis vectors:

        L = -(1/n) sum_i sum_c q_ic log softmax_c(cos(f_i, w_c) / tau),
        q_ic = (1 - eps) [c = y_i] + eps / N.

    Defaults are the official ones: tau = 0.07, eps = ``label_smoothing`` = 0.1, mean over the
    batch. ``head`` is the :class:`EquiangularHead` (no trainable parameter).

    Against pytorch-metric-learning 2.9.0: ``NormalizedSoftmaxLoss(num_classes=N,
    embedding_size=d, temperature=0.07)`` with ``W.data = basis.T`` (its W is (d, N), normalised
    along dim 0; its default temperature is 0.05) and ``requires_grad_(False)`` is this loss with
    ``label_smoothing=0`` (it has no label smoothing). tests/test_equiangular.py checks it.

    Inputs: ``embeddings`` (n, d) float (normalised here); ``labels`` int64 (n,) in 0..N-1. An
    empty batch gives 0, still connected to the graph of the embeddings.
    """

    def __init__(self, basis: torch.Tensor, temperature: float = 0.07, label_smoothing: float = 0.1):
        super().__init__()
        self.head = EquiangularHead(basis, temperature)
        self.label_smoothing = check_probability(label_smoothing, "label_smoothing")

    def per_sample(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The loss of every sample, shape (n,)."""
        logits = self.head(embeddings)
        check_labels(labels, embeddings.shape[0])
        n_cls = self.head.num_classes
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= n_cls):
            raise ValueError(f"labels must lie in 0..{n_cls - 1} (one per basis vector), "
                             f"got values in {int(labels.min())}..{int(labels.max())}")
        return F.cross_entropy(logits, labels, reduction="none", label_smoothing=self.label_smoothing)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        losses = self.per_sample(embeddings, labels)
        if losses.numel() == 0:
            return embeddings.sum() * 0.0
        return losses.mean()

    def extra_repr(self) -> str:
        return f"label_smoothing={self.label_smoothing}"
