"""The project's own fuzz suite (issue 13): every public callable against every input class.

The public API is enumerated from ``__all__`` of the modules in ``fuzz_api.MODULES``; how to build a
valid call of each name is inferred from its signature or taken from ``fuzz_api.EXAMPLES`` (a name
with neither fails, asking for an example). Each (callable, case) is one test, id
``<callable>-<case>``. The cases:

- ``valid``: the example itself: a finite result.
- ``requires_grad``: the primary argument requires grad: a finite result and gradient. (Every case
  below also runs with it, so that the gradient is checked too; where the call refuses such a
  tensor, they run without.)
- ``nan``, ``inf``: one NaN / Inf entry in the primary tensor argument (an Inf on the diagonal of a
  matrix argument, where nothing reads it).
- ``empty``, ``one_row``: the batch cut to 0 / 1 rows (every argument with one entry per row).
- ``single_class``, ``distinct_labels``, ``wrong_length_labels``: labels all 0 / all different /
  one short.
- ``3d``: the primary argument with an extra dimension; ``integer``: rounded to int64 (x 10);
  ``list``: as a nested Python list.
- ``float16``, ``bfloat16``, ``float64``: every float tensor argument converted (in the half
  precisions the embedding rows (and logits) are first scaled to norm 1000, far past float16's
  sqrt(65504)).
- ``norm_1e4``: embedding rows of norm 1e4; ``near_duplicates``: rows 2k+1 = row 2k + 1e-5 (the pairs
  are closer than 1e-4; two are positives, two negatives).
- ``labels_list``, ``float_labels``, ``2d_labels``: the labels as a Python list, as floats (integral
  values), as an (n, 1) column: refused, or the same result as the plain call.
- ``<param>=nan|inf|0|-1|str``: each numeric hyper-parameter (of the constructor for a class, a keyword
  of the call for a function) set to a bad value; ``<param>=scalar``: a tuple-of-numbers parameter
  (``ks``, ``ranks``...) given the float 2.0.
- ``<callable>[euclidean]``: every callable with a ``distance`` argument (default None) also runs with
  ``EuclideanDistance()`` (``[dot]``: ``DotProductSimilarity()`` where a similarity is needed), the
  distances whose Gram expansion overflows and cancels.

The oracle. An outcome passes if it is
(a) a finite result (every float in it, and the gradient of a scalar/tensor result w.r.t. the
    primary argument). For the dtype variants, ``integer``, ``list``, ``norm_1e4`` and
    ``near_duplicates`` it must also match the same call on the same values in float64, per entry:
    ``|out - ref| <= rtol |ref| + atol max|ref|`` with (rtol, atol) = ``TOLERANCES[case]``; integer
    and boolean results must be equal;
(b) an exact 0 connected to the graph where the docstring documents one (``fuzz_api.ZERO_CASES``:
    the pair losses on a batch without a pair or triplet); or
(c) a ``ValueError``/``TypeError`` whose message names an argument of the call as the caller wrote it:
    the parameter name (of the call, or of the constructor for a class), or the ``name`` given to a
    validation helper. A one-letter parameter (``x``, ``k``, ``n``) the case did not change counts only
    as "k must ..."/"k = ...", so that "(n, d)" in a shape does not pass for a message naming ``n``.
    In the dtype cases the message must also be about the dtype (the values are valid in float32).
A NaN hyper-parameter or a string for a number must be refused (c); an Inf, 0 or -1 may be refused
or give a finite result. Anything else fails: NaN/Inf returned, IndexError, RuntimeError,
AttributeError, a message naming an internal variable.

Property tests (hypothesis, derandomized): permutation invariance of every pair loss, invariance to a
positive scale per row of the cosine-based losses, of CosineSimilarity and of the retrieval metrics
(cosine by default), one tie rule in knn whatever k (and Recall@1 = Precision@1 on tied data), symmetry of the symmetric distances,
float16/bfloat16 results of the distances and pair losses within (rtol, atol) = ``HALF_TOL`` of float64.

Failures of the current lib are listed in ``fuzz_api.KNOWN_FAILURES`` and marked strict xfail;
``python tests/fuzz_api.py`` reruns the suite without the marks and rewrites that table.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import math
import re
import zlib

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from torch import nn

import fuzz_api as api

BAD_HYPER = {"nan": float("nan"), "inf": float("inf"), "0": 0, "-1": -1, "str": "abc"}
DTYPE_CASES = ("float16", "bfloat16", "float64")  # a refusal must be about the dtype
MUST_REFUSE = {"nan", "str"}  # bad hyper-parameter values
REFUSED_INPUTS = ("nan", "inf", "wrong_length_labels")  # and 3d for an embedding batch or a matrix
SAME_AS_PLAIN = ("labels_list", "float_labels", "2d_labels")  # accepted: the result of the plain call
TOLERANCES = {  # (rtol, atol relative to max|ref|)
    "labels_list": (1e-6, 1e-9),
    "float_labels": (1e-6, 1e-9),
    "2d_labels": (1e-6, 1e-9),
    "float16": (1e-2, 1e-3),
    "bfloat16": (4e-2, 1e-2),
    "integer": (1e-4, 1e-6),
    "list": (1e-4, 1e-6),
    "norm_1e4": (1e-3, 1e-5),
    "near_duplicates": (1e-3, 1e-6),
}
GRAD_COMPARED = ("near_duplicates",)  # cases whose gradient is compared with float64's too
HALF_NORM = 1000.0  # row norm of the embeddings in the half-precision cases
NEAR = 1e-5  # distance of a near-duplicate pair
HALF_TOL = {torch.float16: (1e-2, 1e-3), torch.bfloat16: (4e-2, 1e-2)}
ACCEPTED = (ValueError, TypeError)


# ------------------------------------------------------------------------------------------------
# enumeration


class Spec:
    """One public callable: how to construct and call it, and which cases apply."""

    def __init__(self, name, target, example=None, missing=None, kind=None):
        self.name = name
        self.target = target
        self.is_class = inspect.isclass(target)
        self.ex = example or api.Example()
        self.missing = missing
        self.kind = kind  # pairwise[<kind>]
        self.roles = {}
        self.hyper = []  # (where, param): numeric hyper-parameters
        self.tuples = []  # (where, param): tuple-of-numbers hyper-parameters
        self.error = None
        if missing is None:
            try:
                self._infer()
            except Exception as e:  # noqa: BLE001 - reported by the valid case
                self.error = f"building the example call raised {type(e).__name__}: {e}"

    # the function whose parameters are the call's
    def call_signature(self):
        if not self.is_class:
            return inspect.signature(self.target)
        if self.ex.method:
            fn = getattr(self.target, self.ex.method)
        elif issubclass(self.target, nn.Module):
            fn = self.target.forward
        else:
            fn = self.target.__call__
        params = list(inspect.signature(fn).parameters.values())[1:]
        return inspect.Signature(params)

    def _required(self, sig):
        return [p.name for p in sig.parameters.values()
                if p.default is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

    def _infer(self):
        sig = self.call_signature()
        if self.ex.make is None:
            roles = {}
            for p in self._required(sig):
                if p in api.EMB_NAMES:
                    roles[p] = "emb"
                elif p in api.LABEL_NAMES:
                    roles[p] = "labels"
                elif p in api.MATRIX_NAMES:
                    roles[p] = "matrix"
                else:
                    self.missing = (f"no way to build a valid call of {self.name}: its parameter {p!r} says "
                                    f"nothing about what it holds; add an example for {self.name} in tests/fuzz_api.py")
                    return
            self.roles = roles
        if self.is_class:
            ctor_sig = inspect.signature(self.target)
            given = set(self.ex.ctor) | set(self.ex.ctor_make(torch.Generator()) if self.ex.ctor_make else {})
            for p in self._required(ctor_sig):
                if p not in given:
                    self.missing = (f"no way to construct {self.name}: its parameter {p!r} has no default; "
                                    f"add an example for {self.name} in tests/fuzz_api.py")
                    return
        ctor, kwargs, obj = self.build(torch.Generator().manual_seed(0))
        if self.ex.make is not None:
            self.roles = {k: v for k, v in self.ex.roles.items() if k in kwargs}
        # numeric hyper-parameters
        if self.is_class:
            for p in inspect.signature(self.target).parameters.values():
                if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                    continue
                if _numeric(ctor.get(p.name, p.default), p):
                    self.hyper.append(("ctor", p.name))
        for p in sig.parameters.values():
            if p.name in self.roles or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name in self.ex.no_hyper:
                continue
            if _numeric(kwargs.get(p.name, p.default), p):
                self.hyper.append(("call", p.name))
            elif _number_tuple(kwargs.get(p.name, p.default)):
                self.tuples.append(("call", p.name))

    def build(self, gen):
        """(ctor kwargs, call kwargs, default instance) of the example."""
        ctor = dict(self.ex.ctor)
        if self.ex.ctor_make:
            ctor.update(self.ex.ctor_make(gen))
        obj = self.target(**ctor) if self.is_class else None
        if self.ex.make is not None:
            kwargs = self.ex.make(gen, obj)
        else:
            kwargs = {}
            for p, role in self.roles.items():
                if role == "emb":
                    kwargs[p] = api.randn(gen, api.N, api.C) * 2 if p == "logits" else api.emb(gen)
                elif role == "labels":
                    kwargs[p] = api.labels()
                elif role == "matrix":
                    x = torch.nn.functional.normalize(api.emb(gen), dim=1)
                    kwargs[p] = x @ x.T if p == "sim" else torch.cdist(x, x)
        if self.kind is not None:
            kwargs["kind"] = self.kind
        if self.ex.call_extra is not None:
            kwargs.update(self.ex.call_extra())
        return ctor, kwargs, obj

    def invoke(self, ctor, kwargs):
        if self.is_class:
            obj = self.target(**ctor)
            fn = getattr(obj, self.ex.method) if self.ex.method else obj
            return fn(**kwargs)
        return self.target(**kwargs)

    @property
    def primary(self):
        if self.ex.primary:
            return self.ex.primary
        for role in ("emb", "matrix", "rows", "aux"):
            for p, r in self.roles.items():
                if r == role:
                    return p
        return None

    def cases(self):
        if self.missing or self.error:
            return ["valid"]
        out = ["valid"]
        _, kwargs, _ = self.build(torch.Generator().manual_seed(0))
        prim = self.primary
        x = kwargs.get(prim) if prim else None
        float_prim = isinstance(x, torch.Tensor) and x.is_floating_point()
        row_args = [p for p, r in self.roles.items() if r in ("emb", "rows", "labels", "matrix", "input")]
        has_labels = any(r == "labels" for r in self.roles.values())
        bool_labels = any(r == "labels" and kwargs[p].dtype == torch.bool for p, r in self.roles.items())
        if float_prim:
            out += ["requires_grad", "nan", "inf"]
        if row_args:
            out += ["empty", "one_row"]
        if has_labels:
            out += ["single_class"] if bool_labels else ["single_class", "distinct_labels"]
            out += ["labels_list", "float_labels", "2d_labels"]
            if any(self.roles[p] != "labels" for p in row_args):  # wrong-length: relative to another argument
                out.append("wrong_length_labels")
        if float_prim:
            if x.dim() <= 2:
                out.append("3d")
            out += ["integer", "list", "float16", "bfloat16", "float64"]
            if self.roles.get(prim) == "emb" and x.dim() == 2:
                out += ["norm_1e4", "near_duplicates"]
        for where, p in self.hyper:
            out += [f"{p}={v}" for v in BAD_HYPER]
        for where, p in self.tuples:
            out.append(f"{p}=scalar")
        return out

    def all_params(self):
        params = list(self.call_signature().parameters)
        if self.is_class:
            params += list(inspect.signature(self.target).parameters)
        return [p for p in params if p not in ("args", "kwargs")]

    def names_for(self, params):
        """Words a message may use for these parameters."""
        return {self.ex.names.get(p, p) for p in params if p is not None}


def _numeric(value, param):
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    if value is None and param is not None and param.annotation is not inspect.Parameter.empty:
        ann = str(param.annotation)
        return ("float" in ann or "int" in ann) and "Tensor" not in ann
    return False


def _number_tuple(value):
    return isinstance(value, tuple) and len(value) > 0 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)


def public_names():
    """(name, object) of every __all__ entry of the fuzzed modules, first occurrence wins."""
    seen = {}
    for modname in api.MODULES:
        mod = importlib.import_module(modname)
        names = getattr(mod, "__all__", None)
        if names is None:
            names = [n for n in vars(mod) if not n.startswith("_")]
        for n in names:
            if n not in seen:
                seen[n] = (modname, getattr(mod, n, None))
    return seen


def build_specs():
    specs = {}
    for name, (modname, obj) in public_names().items():
        if name in api.SKIP:
            continue
        if inspect.ismodule(obj) or not callable(obj):
            specs[name] = Spec(name, obj, missing=(
                f"{modname}.{name} is a {type(obj).__name__}, not a callable (issue 13 class 6: a name in __all__ "
                f"that resolves to a module); list it in SKIP with a reason or fix the export"))
            continue
        if name == "pairwise":
            from mlcompanion.distances.families import DISTANCE_KINDS

            for kind in DISTANCE_KINDS:
                extra = api.PAIRWISE_EXTRA.get(kind, {})
                ex = api.Example(lambda g, o, extra=extra: {"x": api.emb(g), "w": api.randn(g, api.C, api.D),
                                                             **{k: f(g) for k, f in extra.items()}},
                                 {"x": "emb", "w": "aux", **{k: "aux" for k in extra}},
                                 no_hyper=tuple({"p", "alpha", "temperature"} - {api.PAIRWISE_SHAPE_PARAMS.get(kind)}))
                specs[f"pairwise[{kind}]"] = Spec(f"pairwise[{kind}]", obj, ex, kind=kind)
            continue
        ex = api.EXAMPLES.get(name)
        if name in api.UNUSED_HYPER:
            ex = dataclasses.replace(ex or api.Example(), no_hyper=api.UNUSED_HYPER[name][0])
        if ex is not None and name in api.ZERO_CASES:
            ex = dataclasses.replace(ex, zero_cases=api.ZERO_CASES[name])
        elif ex is None and name in api.ZERO_CASES:
            ex = api.Example(zero_cases=api.ZERO_CASES[name])
        specs[name] = Spec(name, obj, ex)
        variant = _euclidean_variant(specs[name])
        if variant is not None:
            specs[variant.name] = variant
    for name, ex in api.EXAMPLES.items():
        base = re.split(r"[.\[]", name)[0]
        if base != name and base in specs:
            ex = dataclasses.replace(ex, zero_cases=api.ZERO_CASES.get(base, ()) if "." in name else ())
            specs[name] = Spec(name, specs[base].target, ex)
    return specs


def _euclidean_variant(spec):
    """<name>[euclidean]: a callable with a ``distance`` argument (default None) run with EuclideanDistance
    (<name>[dot] with DotProductSimilarity where the callable needs a similarity): the distances whose
    Gram expansion overflows in float16 and cancels on close pairs."""
    if spec.missing or spec.error:
        return None
    from mlcompanion.distances import DotProductSimilarity, EuclideanDistance

    ctor_params = inspect.signature(spec.target).parameters if spec.is_class else {}
    call_params = spec.call_signature().parameters
    for tag, dist in (("euclidean", EuclideanDistance), ("dot", DotProductSimilarity)):
        if "distance" in ctor_params and ctor_params["distance"].default is None:
            ex = dataclasses.replace(spec.ex, ctor_make=_add(spec.ex.ctor_make, distance=dist))
        elif "distance" in call_params and call_params["distance"].default is None and "distance" not in spec.roles:
            ex = dataclasses.replace(spec.ex, call_extra=lambda dist=dist: {"distance": dist()})
        else:
            return None
        variant = Spec(f"{spec.name}[{tag}]", spec.target, ex)
        if variant.error is None:
            return variant
    return variant


def _add(make, **factories):
    def ctor_make(gen):
        out = dict(make(gen)) if make else {}
        out.update({k: f() for k, f in factories.items()})
        return out

    return ctor_make


SPECS = build_specs()


def _params():
    out = []
    for name, spec in SPECS.items():
        for case in spec.cases():
            marks = []
            reason = api.known_failure(name, case)
            if reason is not None:
                marks.append(pytest.mark.xfail(strict=True, reason=reason))
            out.append(pytest.param(name, case, id=f"{name}-{case}", marks=marks))
    return out


# ------------------------------------------------------------------------------------------------
# cases


def _cut(v, role, rows):
    if not isinstance(v, torch.Tensor):
        return v
    if role == "matrix":
        return v[:rows, :rows]
    return v[:rows]


def apply_case(spec, case, ctor, kwargs):
    """The call of ``case``: (ctor, kwargs, names the case changed)."""
    kwargs = dict(kwargs)
    ctor = dict(ctor)
    prim = spec.primary
    roles = spec.roles
    label_args = [p for p, r in roles.items() if r == "labels"]
    row_args = [p for p, r in roles.items() if r in ("emb", "rows", "labels", "matrix", "input")]
    if "=" in case:
        p, v = case.split("=")
        where = dict((q, w) for w, q in spec.hyper + spec.tuples)[p]
        (ctor if where == "ctor" else kwargs)[p] = 2.0 if v == "scalar" else BAD_HYPER[v]
        return ctor, kwargs, [p]
    if case in ("valid", "requires_grad"):
        return ctor, kwargs, []
    x = kwargs.get(prim)
    if case in ("nan", "inf"):
        x = x.clone()
        if roles.get(prim) == "matrix":
            x[(0, 1) if case == "nan" else (0, 0)] = float(case)
        else:
            x.view(-1)[0] = float(case)
        kwargs[prim] = x
        return ctor, kwargs, [prim]
    if case in ("labels_list", "float_labels", "2d_labels"):
        for p in label_args:
            v = kwargs[p]
            kwargs[p] = v.tolist() if case == "labels_list" else v.double() if case == "float_labels" else v[:, None]
        return ctor, kwargs, label_args
    if case in ("empty", "one_row"):
        rows = 0 if case == "empty" else 1
        for p in row_args:
            kwargs[p] = _cut(kwargs[p], roles[p], rows)
        return ctor, kwargs, row_args
    if case == "single_class":
        for p in label_args:
            kwargs[p] = torch.zeros_like(kwargs[p])
        return ctor, kwargs, label_args + [prim]
    if case == "distinct_labels":
        for p in label_args:
            kwargs[p] = torch.arange(kwargs[p].shape[0], dtype=kwargs[p].dtype)
        return ctor, kwargs, label_args + [prim]
    if case == "wrong_length_labels":
        for p in label_args:
            kwargs[p] = kwargs[p][:-1]
        return ctor, kwargs, label_args + [p for p in row_args if p not in label_args]
    if case == "3d":
        kwargs[prim] = x.unsqueeze(0) if roles.get(prim) == "matrix" else x.reshape(x.shape[0], 1, -1) if x.dim() == 2 \
            else x.reshape(-1, 1, 1)
        return ctor, kwargs, [prim]
    if case == "integer":
        kwargs[prim] = (x * 10).round().long()
        return ctor, kwargs, [prim]
    if case == "list":
        kwargs[prim] = x.tolist()
        return ctor, kwargs, [prim]
    if case in ("float16", "bfloat16", "float64"):
        dtype = getattr(torch, case)
        if case != "float64" and roles.get(prim) == "emb" and x.dim() == 2:
            kwargs[prim] = torch.nn.functional.normalize(x.double(), dim=1).mul(HALF_NORM).float()
        changed = []
        for p, v in kwargs.items():
            if roles.get(p) not in (None, "input") and isinstance(v, torch.Tensor) and v.is_floating_point():
                kwargs[p] = v.to(dtype)
                changed.append(p)
        return ctor, kwargs, changed
    if case == "norm_1e4":
        kwargs[prim] = torch.nn.functional.normalize(x.double(), dim=1).mul(1e4).float()
        return ctor, kwargs, [prim]
    if case == "near_duplicates":
        x = x.double().clone()
        gen = torch.Generator().manual_seed(1)
        step = torch.nn.functional.normalize(torch.randn(x[0::2].shape, generator=gen, dtype=torch.float64), dim=1)
        x[1::2] = x[0::2][: x[1::2].shape[0]] + NEAR * step[: x[1::2].shape[0]]
        kwargs[prim] = x.float()
        return ctor, kwargs, [prim]
    raise AssertionError(case)


def reference_kwargs(spec, kwargs):
    """The same values in float64."""
    out = dict(kwargs)
    for p, v in kwargs.items():
        if p not in spec.roles or spec.roles[p] in ("labels", "input"):
            continue
        if isinstance(v, list):
            out[p] = torch.tensor(v, dtype=torch.float64)
        elif isinstance(v, torch.Tensor) and (v.is_floating_point() or p == spec.primary):
            out[p] = v.detach().to(torch.float64)
    return out


# ------------------------------------------------------------------------------------------------
# oracle


def leaves(out, path="out"):
    """(path, tensor) of every number in a result."""
    if out is None or isinstance(out, (str, bytes, nn.Module, torch.dtype, torch.device, torch.Generator)):
        return
    if isinstance(out, torch.Tensor):
        yield path, out
    elif isinstance(out, np.ndarray):
        if out.dtype.kind in "fiub":
            yield path, torch.from_numpy(np.ascontiguousarray(out))
    elif isinstance(out, (bool, int, float, np.number, np.bool_)):
        yield path, torch.tensor(float(out) if isinstance(out, (float, np.floating)) else out)
    elif isinstance(out, dict):
        for k, v in out.items():
            yield from leaves(v, f"{path}[{k!r}]")
    elif isinstance(out, (list, tuple)):
        for i, v in enumerate(out):
            yield from leaves(v, f"{path}[{i}]")
    elif dataclasses.is_dataclass(out):
        for f in dataclasses.fields(out):
            yield from leaves(getattr(out, f.name), f"{path}.{f.name}")


def _names_in(message, names, after=""):
    return any(n and re.search(rf"(?<![A-Za-z0-9_]){re.escape(n)}(?![A-Za-z0-9_]){after}", message) for n in names)


def run_call(spec, ctor, kwargs, grad_arg, strict=False):
    """(result, gradient of the primary or None). Exceptions propagate. A call that refuses a tensor
    requiring grad is rerun without (``strict``: not; the requires_grad case reports it)."""
    try:
        return _run_call(spec, ctor, kwargs, grad_arg)
    except RuntimeError as e:
        if strict or grad_arg is None or "requires grad" not in str(e):
            raise
        return _run_call(spec, ctor, kwargs, None)


def _run_call(spec, ctor, kwargs, grad_arg):
    x = kwargs.get(grad_arg) if grad_arg else None
    if isinstance(x, torch.Tensor) and x.is_floating_point() and grad_arg is not None:
        x = x.detach().clone().requires_grad_(True)
        kwargs = dict(kwargs, **{grad_arg: x})
    else:
        x = None
    torch.manual_seed(0)
    out = spec.invoke(ctor, kwargs)
    grad = None
    if x is not None and isinstance(out, torch.Tensor) and out.is_floating_point() and out.requires_grad:
        (grad,) = torch.autograd.grad(out.sum(), x, allow_unused=True)
    return out, grad


def check_finite_result(spec, out, grad):
    for path, t in leaves(out):
        if t.is_floating_point() or t.is_complex():
            bad = ~torch.isfinite(t.detach())
            if spec.name in api.ALLOW_INF:
                bad = torch.isnan(t.detach())
            if bool(bad.any()):
                raise AssertionError(f"{spec.name} silently returned {int(bad.sum())} NaN/Inf value(s) in {path} "
                                     f"(shape {tuple(t.shape)}, dtype {t.dtype})")
    if grad is not None and not bool(torch.isfinite(grad).all()):
        raise AssertionError(f"{spec.name} returned a finite value with a NaN/Inf gradient "
                             f"({int((~torch.isfinite(grad)).sum())} entries)")


def compare(spec, case, out, grad, ref, ref_grad):
    rtol, atol = TOLERANCES[case]
    pairs = list(zip(leaves(out), leaves(ref)))
    if case in GRAD_COMPARED and grad is not None and ref_grad is not None:
        pairs.append((("grad", grad), ("grad", ref_grad)))
    if len(list(leaves(out))) != len(list(leaves(ref))):
        raise AssertionError(f"{case} result has another structure than the float64 call")
    for (path, a), (_, b) in pairs:
        a, b = a.detach(), b.detach()
        if a.shape != b.shape:
            raise AssertionError(f"{path}: shape {tuple(a.shape)} in {case}, {tuple(b.shape)} in float64")
        if a.is_floating_point() or b.is_floating_point():
            a64, b64 = a.double(), b.double()
            scale = float(b64.abs().max()) if b64.numel() else 0.0
            err = (a64 - b64).abs()
            bound = rtol * b64.abs() + atol * scale
            if b64.numel() and bool((err > bound).any()):
                i = int((err - bound).argmax())
                raise AssertionError(
                    f"{spec.name} {case}: {path} differs from the float64 call beyond rtol={rtol}, "
                    f"atol={atol}*max|ref|: "
                    f"{int((err > bound).sum())}/{b64.numel()} entries, worst {float(a64.view(-1)[i]):.6g} vs "
                    f"{float(b64.reshape(-1)[i]):.6g}")
        elif not torch.equal(a, b):
            raise AssertionError(f"{spec.name} {case}: {path} differs from the float64 call in "
                                 f"{int((a != b).sum())}/{a.numel()} entries")


def _short(out):
    text = repr(out)
    return text if len(text) < 80 else text[:77] + "..."


def check_case(name, case, spec=None):
    spec = spec or SPECS[name]
    if spec.missing:
        pytest.fail(spec.missing)
    if spec.error:
        pytest.fail(spec.error)
    gen = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    ctor, kwargs, _ = spec.build(gen)
    ctor, kwargs, changed = apply_case(spec, case, ctor, kwargs)
    hyper_value = case.split("=")[1] if "=" in case else None
    # The primary argument requires grad (a loss's gradient is checked too), except in the valid case;
    # a function that cannot take such a tensor fails the requires_grad case only.
    grad_arg = None if case == "valid" else spec.primary
    try:
        out, grad = run_call(spec, ctor, kwargs, grad_arg, strict=case == "requires_grad")
    except ACCEPTED as e:
        if case == "valid":
            raise AssertionError(f"the example call of {name} raised {type(e).__name__}: {e}") from e
        if case in spec.ex.zero_cases:
            raise AssertionError(f"{name} documents an exact 0 for {case}, but raised {type(e).__name__}: {e}") from e
        names = spec.names_for(changed) | spec.names_for(p for p in spec.all_params() if len(p) > 1)
        short = spec.names_for(p for p in spec.all_params() if len(p) == 1)
        if not (_names_in(str(e), names) or _names_in(str(e), short, r"\s*(?:must|=|should|needs)\b")):
            raise AssertionError(f"{name} {case}: {type(e).__name__} does not name the argument "
                                 f"({' or '.join(sorted(names))}): {e}") from e
        if case in DTYPE_CASES and not re.search(r"dtype|float16|bfloat16|float64|half|precision", str(e)):
            raise AssertionError(f"{name} {case}: refused a {case} input for another reason than its dtype "
                                 f"(the values are valid in float32): {e}") from e
        return
    except Exception as e:  # noqa: BLE001 - the oracle: any other error fails
        raise AssertionError(f"{name} {case}: {type(e).__name__} (not a ValueError/TypeError naming the "
                             f"argument): {e}") from e
    if case in REFUSED_INPUTS or (case == "3d" and spec.roles.get(spec.primary) in ("emb", "matrix")):
        raise AssertionError(f"{name} accepted the {case} input and returned {_short(out)} (it must be refused with "
                             f"a ValueError/TypeError naming {' or '.join(sorted(spec.names_for(changed)))})")
    if hyper_value in MUST_REFUSE:
        raise AssertionError(f"{name} accepted {case} (a NaN or a string for a number must be refused with a "
                             f"ValueError/TypeError naming {case.split('=')[0]})")
    check_finite_result(spec, out, grad)
    if case in spec.ex.zero_cases:
        if not isinstance(out, torch.Tensor) or out.numel() != 1 or float(out.detach()) != 0.0:
            raise AssertionError(f"{name} documents an exact 0 for {case}, got {out!r}")
        if not out.requires_grad:
            raise AssertionError(f"{name} {case}: the documented 0 is not connected to the graph")
    if case in SAME_AS_PLAIN:
        plain, _ = run_call(spec, *spec.build(torch.Generator().manual_seed(zlib.crc32(name.encode())))[:2], None)
        compare(spec, case, out, None, plain, None)
    elif case in TOLERANCES:
        try:
            ref, ref_grad = run_call(spec, ctor, reference_kwargs(spec, kwargs), grad_arg)
        except ACCEPTED:
            return  # float64 refuses these values (e.g. float16 probabilities off 1 by 2e-4): nothing to compare
        compare(spec, case, out, grad, ref, ref_grad)


@pytest.mark.parametrize(("name", "case"), _params())
def test_fuzz(name, case):
    check_case(name, case)


# ------------------------------------------------------------------------------------------------
# the enumeration itself


def test_every_public_name_is_fuzzed_or_skipped_with_a_reason():
    names = public_names()
    for n in api.SKIP:
        assert n in names, f"SKIP lists {n}, which is no longer public: remove it"
    for n in names:
        assert n in api.SKIP or n in SPECS or any(s.startswith(f"{n}[") for s in SPECS), n
    stale = [k for k in api.KNOWN_FAILURES if k[0] not in SPECS and k[0] not in PROPERTY_NAMES]
    assert not stale, f"KNOWN_FAILURES for names that are not fuzzed: {stale}"


def test_every_module_has_all():
    for modname in api.MODULES:
        assert hasattr(importlib.import_module(modname), "__all__"), f"{modname} has no __all__"


# ------------------------------------------------------------------------------------------------
# properties


def _losses():
    from mlcompanion import losses

    return {n: getattr(losses, n) for n in losses.__all__
            if inspect.isclass(getattr(losses, n)) and issubclass(getattr(losses, n), losses.PairLoss)
            and getattr(losses, n) is not losses.PairLoss}


def _distances():
    from mlcompanion import distances

    return {n: getattr(distances, n) for n in distances.__all__
            if inspect.isclass(getattr(distances, n)) and issubclass(getattr(distances, n), distances.PairwiseDistance)
            and getattr(distances, n) is not distances.PairwiseDistance}


PAIR_LOSSES = _losses()
DISTANCES = _distances()
ASYMMETRIC = {"SNRDistance": "asymmetric by definition (distances/snr.py: the row is the anchor)"}
PROPERTY_NAMES = set(PAIR_LOSSES) | set(DISTANCES) | {"recall_at_k", "precision_at_1", "r_precision", "map_at_r",
                                                      "knn", "knn[euclidean]"}


def _scale_invariant(loss):
    from mlcompanion.distances import CosineSimilarity

    d = getattr(loss, "distance", None)
    return isinstance(d, CosineSimilarity) or bool(getattr(d, "normalize", False))


PROPS = settings(derandomize=True, max_examples=12, deadline=None, database=None,
                 suppress_health_check=list(HealthCheck))


@st.composite
def batches(draw, min_n=2, max_n=10):
    n = draw(st.integers(min_n, max_n))
    d = draw(st.integers(2, 5))
    seed = draw(st.integers(0, 2**31 - 1))
    labels = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=gen, dtype=torch.float64), torch.tensor(labels), gen


def _prop_params(names, prop):
    return [pytest.param(n, id=f"{n}-{prop}", marks=[pytest.mark.xfail(strict=True, reason=api.known_failure(n, prop))]
                         if api.known_failure(n, prop) else []) for n in names]


@pytest.mark.parametrize("name", _prop_params(sorted(PAIR_LOSSES), "permutation"))
def test_pair_loss_permutation_invariance(name):
    loss = PAIR_LOSSES[name]()

    @PROPS
    @given(batches(), st.data())
    def prop(batch, data):
        x, y, _ = batch
        perm = torch.tensor(data.draw(st.permutations(range(x.shape[0]))))
        a, b = loss(x, y), loss(x[perm], y[perm])
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-12), (float(a), float(b))

    prop()


# "distance defaults to cosine similarity" (metrics/retrieval.py): invariant to a positive scale per row.
COSINE_METRICS = ("recall_at_k", "precision_at_1", "r_precision", "map_at_r")


def _metric(name):
    import mlcompanion.metrics as metrics

    return getattr(metrics, name)


@pytest.mark.parametrize("name", _prop_params(sorted(n for n in PAIR_LOSSES if _scale_invariant(PAIR_LOSSES[n]()))
                                              + ["CosineSimilarity"] + list(COSINE_METRICS), "scale"))
def test_cosine_scale_invariance(name):
    if name in PAIR_LOSSES:
        fn = PAIR_LOSSES[name]()
    elif name in DISTANCES:
        dist = DISTANCES[name]()
        fn = lambda x, y: dist(x)  # noqa: E731
    else:
        fn = _metric(name)

    @PROPS
    @given(batches(min_n=4), st.floats(-2, 2))
    def prop(batch, log_s):
        x, y, gen = batch
        s = 10.0 ** (log_s + torch.rand(x.shape[0], 1, generator=gen, dtype=torch.float64) - 0.5)  # a scale per row
        try:
            a = fn(x, y)
        except ValueError:  # a metric on labels without any positive pair
            assume(False)
        b = fn(x * s, y)
        for (path, u), (_, v) in zip(leaves(a), leaves(b)):
            assert torch.allclose(u.double(), v.double(), rtol=1e-9, atol=1e-12), (path, u, v)

    prop()


@pytest.mark.parametrize("name", _prop_params(["knn", "knn[euclidean]"], "ties"))
def test_one_tie_rule_whatever_k(name):
    """One tie rule (by distance, then reference index) whatever the number of neighbours searched and
    the block size: knn(x, k) is knn(x, K)[:, :k], and Recall@1 = Precision@1 on exactly tied data."""
    from mlcompanion.distances import EuclideanDistance
    from mlcompanion.metrics import knn, precision_at_1, recall_at_k

    distance = EuclideanDistance() if name.endswith("[euclidean]") else None

    @PROPS
    @given(st.integers(6, 40), st.integers(0, 2**31 - 1), st.integers(1, 5), st.integers(1, 16))
    def prop(n, seed, k, block):
        gen = torch.Generator().manual_seed(seed)
        x = torch.randint(0, 3, (n, 2), generator=gen).float()  # 9 distinct points at most: many exact ties
        y = torch.randint(0, 3, (n,), generator=gen)
        full = knn(x, n - 1, distance=distance)
        assert torch.equal(knn(x, k, distance=distance, block_size=block), full[:, :k])
        try:
            r1 = recall_at_k(x, y, ks=(1, min(8, n - 1)), distance=distance)[1]
        except ValueError:  # no query with a positive
            return
        assert r1 == precision_at_1(x, y, distance=distance)

    prop()


@pytest.mark.parametrize("name", _prop_params(sorted(n for n in DISTANCES if n not in ASYMMETRIC), "symmetry"))
def test_distance_symmetry(name):
    dist = DISTANCES[name]()

    @PROPS
    @given(batches(), st.integers(1, 6))
    def prop(batch, m):
        x, _, gen = batch
        y = torch.randn(m, x.shape[1], generator=gen, dtype=torch.float64)
        assert torch.allclose(dist(x, y), dist(y, x).T, rtol=1e-12, atol=1e-12)
        s = dist(x)
        assert torch.allclose(s, s.T, rtol=1e-12, atol=1e-12)

    prop()


def _half_params():
    out = []
    for name in sorted(DISTANCES) + sorted(PAIR_LOSSES):
        for dtype in (torch.float16, torch.bfloat16):
            prop = f"half_{str(dtype).split('.')[1]}"
            reason = api.known_failure(name, prop)
            out.append(pytest.param(name, dtype, id=f"{name}-{prop}",
                                    marks=[pytest.mark.xfail(strict=True, reason=reason)] if reason else []))
    return out


@pytest.mark.parametrize(("name", "dtype"), _half_params())
def test_half_precision_matches_float64(name, dtype):
    _half_prop(name, dtype)


def _half_prop(name, dtype):
    fn = DISTANCES[name]() if name in DISTANCES else PAIR_LOSSES[name]()
    rtol, atol = HALF_TOL[dtype]

    @PROPS
    @given(batches(min_n=2, max_n=8), st.sampled_from((1.0, 30.0, HALF_NORM)))
    def prop(batch, norm):
        x, y, _ = batch
        x = torch.nn.functional.normalize(x, dim=1) * norm
        xh = x.to(dtype)
        out = fn(xh, y) if name in PAIR_LOSSES else fn(xh)
        ref = fn(xh.double(), y) if name in PAIR_LOSSES else fn(xh.double())
        out = out.detach().double()
        assert bool(torch.isfinite(out).all()), "NaN/Inf"
        scale = float(ref.abs().max())
        assert bool(((out - ref).abs() <= rtol * ref.abs() + atol * scale).all()), float((out - ref).abs().max())

    prop()


# ------------------------------------------------------------------------------------------------
# the harness itself: the oracle fails what it must


def _gram_distances(x):
    sq = (x * x).sum(1)
    return (sq[:, None] + sq[None] - 2 * x @ x.T).clamp_min(1e-30).sqrt()


def _fake(fn, name="fake_fn", ex=None):
    return Spec(name, fn, ex)


def test_a_name_without_a_way_to_call_it_asks_for_an_example():
    spec = _fake(lambda embeddings, widget: embeddings.sum())
    assert spec.missing and "add an example for fake_fn in tests/fuzz_api.py" in spec.missing
    with pytest.raises(pytest.fail.Exception, match="add an example for fake_fn"):
        check_case("fake_fn", "valid", spec)


def _finite_loss(embeddings, labels, margin: float = 1.0):
    from mlcompanion.validation import check_embeddings, check_labels

    check_embeddings(embeddings)
    check_labels(labels, embeddings.shape[0])
    if not isinstance(margin, (int, float)) or not math.isfinite(margin):
        raise ValueError(f"margin must be a finite number, got {margin!r}")
    return embeddings.double().pow(2).sum(1).add(margin).abs().log1p().mean()


def test_the_oracle_passes_a_careful_function():
    spec = _fake(_finite_loss)
    for case in spec.cases():
        check_case("fake_fn", case, spec)


@pytest.mark.parametrize(("fn", "case", "match"), [
    (lambda embeddings, labels: embeddings.sum() * float("nan"), "valid", "NaN/Inf"),
    (lambda embeddings, labels: embeddings[labels.shape[0] + 5], "wrong_length_labels", "IndexError"),
    (lambda embeddings, labels: (_ for _ in ()).throw(ValueError("x must be finite")), "nan", "does not name"),
    (lambda embeddings, labels: embeddings.sum().nan_to_num(0.0), "nan", "must be refused"),
    (lambda embeddings, labels: _gram_distances(embeddings), "near_duplicates", "differs from the float64 call"),
    (lambda embeddings, labels, margin=1.0: embeddings.sum() * margin, "margin=nan", "accepted margin=nan"),
])
def test_the_oracle_fails_what_it_must(fn, case, match):
    spec = _fake(fn)
    assert case in spec.cases()
    with pytest.raises(AssertionError, match=match):
        check_case("fake_fn", case, spec)
