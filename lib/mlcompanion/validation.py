"""Input checks shared by every public function of ``lib``.

Each check raises ``ValueError`` with a message saying what was expected and what was given,
so a wrong call fails at the boundary instead of deep inside a matrix product.
"""

from __future__ import annotations

import torch

__all__ = [
    "check_embeddings",
    "check_labels",
    "check_finite",
    "check_positive",
    "check_probability",
    "check_number",
    "check_square_matrix",
    "check_seed",
    "check_int",
    "check_choice",
]


def _describe(x) -> str:
    if isinstance(x, torch.Tensor):
        return f"tensor of shape {tuple(x.shape)} and dtype {x.dtype}"
    return f"{type(x).__name__}"


def check_finite(x: torch.Tensor, name: str) -> None:
    """Raise if ``x`` holds NaN or Inf.

    A finite sum proves every entry finite (one NaN or infinity makes the sum NaN or infinite), so
    the entry-wise test (a second pass over ``x`` and a boolean copy of it) runs only when the sum
    is not finite: a bad entry, or finite entries whose sum overflows.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {_describe(x)}")
    if bool(torch.isfinite(x.detach().sum())):
        return
    if not bool(torch.isfinite(x).all()):
        n_bad = int((~torch.isfinite(x)).sum())
        raise ValueError(f"{name} must be finite, got {n_bad} NaN/Inf value(s) in a {_describe(x)}")


def check_embeddings(x, name: str = "embeddings", *, allow_empty: bool = False) -> torch.Tensor:
    """Check a float matrix of shape (n, d): a tensor, floating point, 2-D, non-empty, finite."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape (n, d), got {_describe(x)}")
    if not x.is_floating_point():
        raise ValueError(
            f"{name} must be a floating-point tensor (float32 or float64), got {_describe(x)}; "
            f"convert with .float()"
        )
    if x.dim() != 2:
        raise ValueError(f"{name} must be 2-D with shape (n, d), got {_describe(x)}")
    if not allow_empty and (x.shape[0] == 0 or x.shape[1] == 0):
        raise ValueError(f"{name} must be non-empty (n >= 1, d >= 1), got {_describe(x)}")
    check_finite(x, name)
    return x


def check_labels(labels, n: int | None = None, name: str = "labels") -> torch.Tensor:
    """Check integer class labels of shape (n,) matching a batch of ``n`` embeddings (any length
    with ``n=None``)."""
    if not isinstance(labels, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape ({n if n is not None else 'n'},), got {_describe(labels)}")
    if n is None:
        n = labels.shape[0] if labels.dim() >= 1 else 1
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise ValueError(f"{name} must be an integer tensor, got {_describe(labels)}")
    if labels.dim() != 1:
        raise ValueError(f"{name} must be 1-D with shape ({n},), got {_describe(labels)}")
    if labels.shape[0] != n:
        raise ValueError(
            f"{name} must have one entry per embedding: expected {n}, got {labels.shape[0]}"
        )
    return labels


def check_number(value, name: str) -> float:
    """Check a finite real scalar (a Python or NumPy number, or a one-element tensor) and return it
    as a float; strings, booleans, None, NaN and infinities are refused with the argument's name."""
    if isinstance(value, (str, bytes, bool)) or value is None:
        raise TypeError(f"{name} must be a finite number, got {value!r}")
    if isinstance(value, torch.Tensor) and value.numel() != 1:
        raise TypeError(f"{name} must be a finite number, got a {_describe(value)}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a finite number, got {value!r}") from None
    if not (v == v and abs(v) != float("inf")):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return v


def check_seed(seed, name: str = "seed") -> int:
    """Check a random seed: a Python or NumPy int in [0, 2^63)."""
    import numbers

    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= int(seed) < 2 ** 63:
        raise ValueError(f"{name} must be an int in [0, 2^63), got {seed!r}")
    return int(seed)


def check_int(value, name: str, minimum: int = 1) -> int:
    """Check a Python or NumPy integer >= ``minimum`` (booleans refused) and return it as an int."""
    import numbers

    if isinstance(minimum, bool) or not isinstance(minimum, numbers.Integral):
        raise TypeError(f"minimum must be an int, got {minimum!r}")
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_choice(value, name: str, options):
    """Check that ``value`` is one of ``options`` (a tuple of allowed values) and return it.

    Equality decides, except that a boolean never stands for 1 or 0 (``True`` is not ``1`` here).
    """
    def same(option) -> bool:
        try:
            return bool(value == option) and isinstance(value, bool) == isinstance(option, bool)
        except (TypeError, ValueError, RuntimeError):  # e.g. a tensor compared with a tuple
            return False

    if isinstance(options, (str, bytes)) or not hasattr(options, "__iter__"):
        raise TypeError(f"options must be a tuple of the allowed values of {name}, got {options!r}")
    if not any(same(option) for option in options):
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value


def check_square_matrix(mat, name: str = "mat") -> torch.Tensor:
    """Check a finite floating-point (n, n) pairwise matrix (the input of the losses' ``from_matrix``)."""
    if not isinstance(mat, torch.Tensor) or mat.dim() != 2 or mat.shape[0] != mat.shape[1]:
        raise ValueError(f"{name} must be a square (n, n) pairwise matrix tensor, got {_describe(mat)}")
    if not mat.is_floating_point():
        raise ValueError(f"{name} must be floating point, got {_describe(mat)}")
    if mat.shape[0] == 0:
        raise ValueError(f"{name} must be non-empty (n >= 1), got {_describe(mat)}")
    check_finite(mat, name)
    return mat


def check_positive(value, name: str, *, allow_zero: bool = False) -> float:
    """Check a finite scalar > 0 (or >= 0 with ``allow_zero``)."""
    bound = ">= 0" if allow_zero else "> 0"
    try:
        v = check_number(value, name)
    except ValueError:  # NaN or infinite
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}") from None
    if not (v >= 0 if allow_zero else v > 0):
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return v


def check_probability(value, name: str) -> float:
    """Check a scalar in [0, 1]."""
    v = check_positive(value, name, allow_zero=True)
    if v > 1:
        raise ValueError(f"{name} must lie in [0, 1], got {value!r}")
    return v
