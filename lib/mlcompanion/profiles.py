"""Profiles: named sets of knobs a notebook runs with (``ci``: 2 CPU cores, generated data, about a
minute; ``paper``: a GPU, the real dataset, the paper's protocol).

A notebook's ``parameters`` cell sets ``profile``, ``device``, ``data_root``, ``seed`` and one
variable per knob, defaulting to None; ``resolve_profile`` fills the Nones from the profile and
rejects what papermill would only warn about: unknown profiles, unknown parameter names, and values
of the wrong type.
"""

from __future__ import annotations

import types
from pathlib import Path

__all__ = ["resolve_profile", "check_device", "Params"]

_IPYTHON_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "open"}


class Params(types.SimpleNamespace):
    """The resolved knobs; attribute access (``P.iterations``) and ``P.as_dict()``."""

    def as_dict(self) -> dict:
        return dict(vars(self))


def check_device(device: str) -> str:
    """Check a torch device string and that the device exists here."""
    import torch

    if not isinstance(device, str):
        raise ValueError(f"device must be a string such as 'cpu' or 'cuda', got {device!r}")
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"device {device!r} is not a torch device ({err})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for but torch sees no CUDA GPU on this machine")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps' was asked for but is not available")
    return device


def _check_type(name: str, value, default):
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, (list, tuple)):
        ok = isinstance(value, (list, tuple))
        value = type(default)(value) if ok else value
    else:
        ok = isinstance(value, type(default)) or default is None
    if not ok:
        raise ValueError(f"parameter {name!r} must be of type {type(default).__name__} (like {default!r}), got {value!r}")
    return value


def resolve_profile(
    profiles: dict[str, dict],
    profile: str,
    *,
    device: str = "cpu",
    data_root=None,
    seed: int = 0,
    namespace: dict | None = None,
    **knobs,
) -> Params:
    """Merge a profile's defaults with the knobs the caller set (not None).

    Args:
        profiles: ``{"ci": {...}, "paper": {...}}``, each mapping knob name to its default.
        profile: which one.
        device, data_root, seed: the common parameters (``data_root`` becomes a Path or None).
        namespace: pass ``globals()`` from the notebook to reject parameter names the notebook
            does not define (a typo in ``-p itertions 10`` would otherwise be silently ignored).
        **knobs: the notebook's knob variables; None means "take the profile's value".
    """
    if profile not in profiles:
        raise ValueError(f"unknown profile {profile!r}; this notebook has {sorted(profiles)}")
    spec = profiles[profile]
    unknown = sorted(set(knobs) - set(spec))
    if unknown:
        raise ValueError(f"knobs {unknown} are not in profile {profile!r}; known knobs: {sorted(spec)}")
    if namespace is not None:
        allowed = set(spec) | {"profile", "device", "data_root", "seed"}
        stray = sorted(
            k for k, v in namespace.items()
            if not k.startswith("_") and k not in allowed and k not in _IPYTHON_NAMES
            and not isinstance(v, types.ModuleType) and not callable(v) and k.upper() != k
        )
        if stray:
            raise ValueError(f"unknown parameter(s) {stray}; this notebook takes {sorted(allowed)}")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    values = {}
    for name, default in spec.items():
        given = knobs.get(name)
        values[name] = default if given is None else _check_type(name, given, default)
    return Params(
        profile=profile,
        device=check_device(device),
        data_root=None if data_root is None else Path(data_root).expanduser(),
        seed=seed,
        **values,
    )
