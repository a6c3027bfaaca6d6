"""Verdicts that decide: pre-registered criteria, one rule for "clear", one rule for the verdict, and
a convergence check (``../shared/CONVENTIONS.md``, "Verdicts that decide").

A notebook registers its criteria once, from the paper's brief, before it trains anything::

    criteria = register_criteria([
        Criterion("ms_beats_contrastive", "MS R@1 above contrastive R@1", metric="R@1",
                  method="ms", baseline="contrastive", min_effect=0.01),
        Criterion("mining_adds", "MS with mining above MS without", metric="R@1",
                  method="ms", baseline="ms_no_mining", min_effect=0.01, role="secondary"),
    ])
    ...train the arms (mlcompanion.experiments.run_arms)...
    criteria.evaluate_runs(runs)                   # every criterion that compares arms of the runs table
    criteria.record("slope", per_seed_values)      # a criterion on a quantity the notebook computes
    verdict = criteria.verdict(convergence)        # convergence: {arm: True/False}

**Clear** (``judge``). Per seed s the criterion has a value v_s (a paired difference
method - baseline on that seed, or a quantity). With t the threshold and sign +1 when the paper
claims "above" (-1 for "below"), let d_s = sign * (v_s - t). The criterion

- *holds* when there are at least 3 seeds, every d_s > 0, and mean(d) exceeds both ``min_effect``
  and twice its standard error std(d, ddof=1) / sqrt(n);
- is *contradicted* when the same holds for -d (every seed clearly on the other side);
- is *within noise* otherwise, and *direction only* with fewer than 3 seeds (never clear).

A criterion marked ``noise_free`` is an exact computation (no seeds, no sampling): one value decides,
holding when d > min_effect and contradicted when -d > min_effect.

**Verdict** (``decide``), from the headline and secondary criteria only (exploratory ones are shown,
never counted). A criterion that compares an arm which did not converge counts as *unconverged*.

- ``contradicted at this scale``: a headline criterion is clearly contradicted (arms converged);
- ``reproduced``: every headline criterion holds, and no secondary one is contradicted;
- ``partly reproduced``: at least one headline criterion holds and none is contradicted (or all
  hold but a secondary criterion is contradicted);
- ``inconclusive at this scale``: otherwise (within noise, direction only, or unconverged).

**Convergence** (``convergence_check``): a validation curve has converged when the best value in its
last quarter improves on the best value before it by no more than ``tol`` (and it has at least 4
points); otherwise it was still improving when training stopped. With ``reference="window"`` the last
quarter is compared with the equally long stretch before it instead (robust to an early dip).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

__all__ = [
    "VERDICTS", "ROLES", "Criterion", "Outcome", "Criteria", "register_criteria", "judge", "decide",
    "convergence_check", "convergence_table", "arm_convergence", "MIN_SEEDS_FOR_CLEAR",
]

VERDICTS = ("reproduced", "partly reproduced", "contradicted at this scale", "inconclusive at this scale")
ROLES = ("headline", "secondary", "exploratory")
MIN_SEEDS_FOR_CLEAR = 3

HOLDS, CONTRADICTED, NOISE, DIRECTION_ONLY, UNCONVERGED, NOT_RUN = (
    "holds", "contradicted", "within noise", "direction only", "unconverged", "not run")


@dataclass(frozen=True)
class Criterion:
    """One pre-registered criterion.

    Args:
        name: a short identifier (``ms_beats_contrastive``).
        claim: what the paper claims, in words ("MS R@1 above contrastive R@1").
        metric: the column of the runs table compared (None for a quantity given to ``Criteria.record``).
        method, baseline: arms of the runs table; with both, the per-seed value is the paired
            difference ``method - baseline``; with ``method`` only, the method's own value.
        direction: ``"above"`` when the paper claims the value exceeds ``threshold``, ``"below"`` otherwise.
        threshold: what the value is compared with (0 for a paired difference: "method beats baseline";
            -0.01 with ``"above"``: "method not more than 1 point below the baseline").
        min_effect: the smallest difference from the threshold that counts (in the metric's units).
        role: ``"headline"``, ``"secondary"`` or ``"exploratory"`` (shown, never in the verdict).
        noise_free: the value is an exact computation (no seeds); one value decides.
        arms: further arms whose convergence the criterion depends on (e.g. the arms a recorded
            quantity was computed from).
    """

    name: str
    claim: str
    metric: str | None = None
    method: str | None = None
    baseline: str | None = None
    direction: str = "above"
    threshold: float = 0.0
    min_effect: float = 0.0
    role: str = "headline"
    noise_free: bool = False
    arms: tuple[str, ...] = ()

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"a criterion needs a non-empty name, got {self.name!r}")
        if not isinstance(self.claim, str) or not self.claim.strip():
            raise ValueError(f"criterion {self.name!r}: claim must be a non-empty sentence")
        if self.direction not in ("above", "below"):
            raise ValueError(f"criterion {self.name!r}: direction must be 'above' or 'below', got {self.direction!r}")
        if self.role not in ROLES:
            raise ValueError(f"criterion {self.name!r}: role must be one of {ROLES}, got {self.role!r}")
        for label, value in (("threshold", self.threshold), ("min_effect", self.min_effect)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                raise ValueError(f"criterion {self.name!r}: {label} must be a finite number, got {value!r}")
        if self.min_effect < 0:
            raise ValueError(f"criterion {self.name!r}: min_effect must be >= 0, got {self.min_effect}")
        if self.baseline is not None and self.method is None:
            raise ValueError(f"criterion {self.name!r}: a baseline needs a method to compare with it")
        if self.method is not None and self.metric is None:
            raise ValueError(f"criterion {self.name!r}: comparing arms needs the metric (a runs-table column)")
        object.__setattr__(self, "arms", tuple(self.arms))

    @property
    def depends_on(self) -> tuple[str, ...]:
        """Every arm whose convergence this criterion needs."""
        named = [a for a in (self.method, self.baseline) if a is not None]
        return tuple(dict.fromkeys(named + list(self.arms)))

    @property
    def sign(self) -> int:
        return 1 if self.direction == "above" else -1


@dataclass
class Outcome:
    """A criterion's result: the per-seed values, their mean and standard error, and the status."""

    criterion: Criterion
    values: tuple[float, ...] = ()
    status: str = NOT_RUN
    mean: float = float("nan")
    stderr: float = float("nan")

    @property
    def n(self) -> int:
        return len(self.values)

    def as_record(self, converged: bool | None = None) -> dict:
        c = self.criterion
        record = {
            "name": c.name, "claim": c.claim, "role": c.role, "metric": c.metric, "method": c.method,
            "baseline": c.baseline, "direction": c.direction, "threshold": float(c.threshold),
            "min_effect": float(c.min_effect), "noise_free": c.noise_free, "n_seeds": self.n,
            "values": [float(v) for v in self.values],
            "value": None if math.isnan(self.mean) else float(self.mean),
            "stderr": None if math.isnan(self.stderr) else float(self.stderr),
            "outcome": self.status,
        }
        if converged is not None:
            record["arms_converged"] = bool(converged)
        return record


def judge(criterion: Criterion, values: Sequence[float]) -> Outcome:
    """Apply the shared "clear / within noise" rule (module docstring) to one criterion's values."""
    vals = np.asarray([float(v) for v in values], dtype=np.float64)
    if vals.ndim != 1 or vals.size == 0:
        raise ValueError(f"criterion {criterion.name!r}: needs at least one value, got {list(values)!r}")
    if not np.isfinite(vals).all():
        raise ValueError(f"criterion {criterion.name!r}: values must be finite, got {vals.tolist()}")
    if criterion.noise_free and vals.size != 1:
        raise ValueError(f"criterion {criterion.name!r} is noise-free: give its one exact value, got {vals.size}")
    d = criterion.sign * (vals - criterion.threshold)
    mean = float(vals.mean())
    se = float(vals.std(ddof=1) / math.sqrt(vals.size)) if vals.size > 1 else float("nan")
    out = Outcome(criterion, tuple(float(v) for v in vals), NOISE, mean, se)
    if criterion.noise_free:
        gap = float(d[0])
        out.status = HOLDS if gap > criterion.min_effect else CONTRADICTED if -gap > criterion.min_effect else NOISE
        return out
    if vals.size < MIN_SEEDS_FOR_CLEAR:
        out.status = DIRECTION_ONLY
        return out
    d_mean, d_se = float(d.mean()), float(d.std(ddof=1) / math.sqrt(d.size))
    if (d > 0).all() and d_mean > criterion.min_effect and d_mean > 2 * d_se:
        out.status = HOLDS
    elif (d < 0).all() and -d_mean > criterion.min_effect and -d_mean > 2 * d_se:
        out.status = CONTRADICTED
    return out


def decide(outcomes: Iterable[Outcome], converged: Mapping[str, bool] | None = None) -> str:
    """The verdict (one of ``VERDICTS``) from registered outcomes, by the rule in the module docstring.

    ``converged`` maps arm name to whether every seed of that arm converged; a criterion depending
    on an arm mapped to False counts as unconverged (arms not in the mapping count as converged).
    """
    converged = dict(converged or {})
    effective = {"headline": [], "secondary": []}
    for o in outcomes:
        role = o.criterion.role
        if role == "exploratory":
            continue
        status = o.status
        if any(converged.get(a, True) is False for a in o.criterion.depends_on):
            status = UNCONVERGED
        effective[role].append(status)
    headline, secondary = effective["headline"], effective["secondary"]
    if not headline:
        raise ValueError("the verdict needs at least one registered headline criterion")
    if CONTRADICTED in headline:
        return "contradicted at this scale"
    if all(s == HOLDS for s in headline):
        return "partly reproduced" if CONTRADICTED in secondary else "reproduced"
    if HOLDS in headline:
        return "partly reproduced"
    return "inconclusive at this scale"


class Criteria:
    """The registered criteria of one notebook and, once computed, their outcomes.

    Registration is fixed at construction; ``add_exploratory`` is the only way to add a criterion
    afterwards, and an exploratory criterion never enters the verdict.
    """

    def __init__(self, criteria: Sequence[Criterion]):
        criteria = list(criteria)
        if not criteria:
            raise ValueError("register at least one criterion")
        names = [c.name for c in criteria]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"criterion names must be unique, repeated: {dupes}")
        if not any(c.role == "headline" for c in criteria):
            raise ValueError("register at least one headline criterion (the paper's main claim)")
        self._criteria: dict[str, Criterion] = {c.name: c for c in criteria}
        self._outcomes: dict[str, Outcome] = {}
        self._converged: dict[str, bool] = {}

    def __iter__(self):
        return iter(self._criteria.values())

    def __len__(self) -> int:
        return len(self._criteria)

    def __getitem__(self, name: str) -> Criterion:
        return self._criteria[name]

    def add_exploratory(self, criterion: Criterion) -> None:
        """Add a criterion after registration: it is forced to ``role="exploratory"``."""
        if criterion.name in self._criteria:
            raise ValueError(f"criterion {criterion.name!r} is already registered")
        self._criteria[criterion.name] = replace(criterion, role="exploratory")

    def registered_table(self) -> pd.DataFrame:
        """The criteria as registered (print this before training)."""
        rows = []
        for c in self:
            compared = (f"{c.method} - {c.baseline}" if c.baseline else c.method or "(computed quantity)")
            rows.append({"criterion": c.name, "role": c.role, "paper claims": c.claim, "metric": c.metric or "",
                         "compared": compared, "must be": f"{c.direction} {c.threshold:g} by > {c.min_effect:g}"
                         + (" (exact)" if c.noise_free else "")})
        return pd.DataFrame(rows).set_index("criterion")

    def record(self, name: str, values: float | Sequence[float]) -> Outcome:
        """Judge criterion ``name`` on its per-seed values (or its one exact value)."""
        if name not in self._criteria:
            raise KeyError(f"criterion {name!r} was not registered; registered: {list(self._criteria)}")
        if isinstance(values, (int, float, np.floating)):
            values = [float(values)]
        outcome = judge(self._criteria[name], list(values))
        self._outcomes[name] = outcome
        return outcome

    def evaluate_runs(self, runs: pd.DataFrame) -> None:
        """Judge every criterion that compares arms (``method`` set) on a runs table (``arm``, ``seed``
        and metric columns, as ``run_arms`` returns). Paired by seed; a criterion whose arms are not in
        the table is left "not run"."""
        for c in self:
            if c.method is None:
                continue
            arms_present = set(runs["arm"])
            if c.method not in arms_present or (c.baseline is not None and c.baseline not in arms_present):
                continue
            if c.metric not in runs.columns:
                raise ValueError(f"criterion {c.name!r}: metric {c.metric!r} is not a column of the runs table")
            a = runs[runs.arm == c.method].set_index("seed")[c.metric]
            if c.baseline is None:
                values = a.sort_index().tolist()
            else:
                b = runs[runs.arm == c.baseline].set_index("seed")[c.metric]
                common = sorted(a.index.intersection(b.index))
                if not common:
                    raise ValueError(f"criterion {c.name!r}: {c.method} and {c.baseline} share no seed")
                values = [float(a[s] - b[s]) for s in common]
            self.record(c.name, values)

    def set_convergence(self, converged: Mapping[str, bool]) -> None:
        """Which arms converged (``convergence_table(...)`` grouped per arm, or a dict)."""
        self._converged = {str(k): bool(v) for k, v in dict(converged).items()}

    def outcome(self, name: str) -> Outcome:
        return self._outcomes.get(name, Outcome(self._criteria[name]))

    def _arms_converged(self, c: Criterion) -> bool | None:
        deps = c.depends_on
        if not deps or not self._converged:
            return None
        return all(self._converged.get(a, True) for a in deps)

    def verdict(self, converged: Mapping[str, bool] | None = None) -> str:
        """The verdict by ``decide``; headline or secondary criteria never judged count as "not run"."""
        if converged is not None:
            self.set_convergence(converged)
        return decide([self.outcome(c.name) for c in self], self._converged)

    def table(self, scale: float = 1.0, digits: int = 3) -> pd.DataFrame:
        """One row per criterion: role, claim, mean value (x ``scale``), threshold, minimum effect,
        seeds, whether its arms converged, and the outcome."""
        rows = []
        for c in self:
            o = self.outcome(c.name)
            conv = self._arms_converged(c)
            rows.append({
                "criterion": c.name, "role": c.role, "paper claims": c.claim,
                "value": round(scale * o.mean, digits) if o.n else float("nan"),
                "± s.e.": round(scale * o.stderr, digits) if o.n > 1 else float("nan"),
                "threshold": f"{c.direction} {scale * c.threshold:g}",
                "min effect": round(scale * c.min_effect, digits), "seeds": o.n,
                "arms converged": "" if conv is None else ("yes" if conv else "no"),
                "outcome": UNCONVERGED if conv is False and o.status in (HOLDS, CONTRADICTED) else o.status,
            })
        return pd.DataFrame(rows).set_index("criterion")

    def records(self) -> list[dict]:
        """Every criterion with its value, threshold and outcome (what ``write_result`` stores)."""
        return [self.outcome(c.name).as_record(self._arms_converged(c)) for c in self]

    def sentence(self, name: str, scale: float = 100.0, unit: str = " points", digits: int = 1) -> str:
        """A generated sentence for one criterion: its claim, mean ± s.e., seeds and outcome."""
        c, o = self._criteria[name], self.outcome(name)
        if not o.n:
            return f"{c.claim}: not run."
        spread = f" ± {scale * o.stderr:.{digits}f}" if o.n > 1 else ""
        conv = self._arms_converged(c)
        status = UNCONVERGED + f" (judged {o.status})" if conv is False else o.status
        seeds = "exact" if c.noise_free else f"{o.n} seed{'s' if o.n != 1 else ''}"
        return f"{c.claim}: {scale * o.mean:+.{digits}f}{spread}{unit} ({seeds}) — {status}."


def register_criteria(criteria: Sequence[Criterion]) -> Criteria:
    """Register a notebook's criteria (before the experiment); see ``Criteria``."""
    return Criteria(criteria)


def convergence_check(curve: Sequence[tuple[int, float]] | Sequence[float], tol: float,
                      higher_is_better: bool = True, last_fraction: float = 0.25,
                      reference: str = "history") -> dict:
    """Did a validation curve plateau? See the module docstring.

    Args:
        curve: ``[(step, value), ...]`` in step order (or values alone, one per evaluation).
        tol: the largest improvement in the last quarter that still counts as a plateau (metric units).
        reference: what the last quarter's best is compared with: ``"history"`` (default), the best
            value of everything before it; ``"window"``, the best of the equally long stretch just
            before it. Use ``"window"`` when the curve can dip early and climb back (a pre-trained start
            validated at iteration 0, a warm-up): against the history, a start better than the
            recovering curve counts as "no improvement" and stops training mid-recovery.
    Returns ``{"converged": bool, "last_gain": float, "best": float, "points": int}``; ``last_gain`` is
    how much the last quarter improved on the reference (positive = still improving).
    """
    if not isinstance(tol, (int, float)) or tol < 0:
        raise ValueError(f"tol must be a number >= 0, got {tol!r}")
    if not 0 < last_fraction < 1:
        raise ValueError(f"last_fraction must be in (0, 1), got {last_fraction!r}")
    if reference not in ("history", "window"):
        raise ValueError(f"reference must be 'history' or 'window', got {reference!r}")
    values = np.asarray([v[1] if isinstance(v, (tuple, list)) else v for v in curve], dtype=np.float64)
    if values.ndim != 1 or not np.isfinite(values).all():
        raise ValueError("curve must be a sequence of finite values or (step, value) pairs")
    sign = 1.0 if higher_is_better else -1.0
    if values.size < 4:
        return {"converged": False, "last_gain": float("nan"),
                "best": float(sign * np.max(sign * values)) if values.size else float("nan"), "points": int(values.size)}
    width = max(1, int(round(last_fraction * values.size)))
    split = values.size - width
    start = max(0, split - width) if reference == "window" else 0
    gain = float(np.max(sign * values[split:]) - np.max(sign * values[start:split]))
    return {"converged": gain <= tol, "last_gain": gain, "best": float(sign * np.max(sign * values)),
            "points": int(values.size)}


def convergence_table(results: Mapping[tuple[str, int], object], tol: float, higher_is_better: bool = True,
                      reference: str = "history") -> pd.DataFrame:
    """One row per (arm, seed) of ``run_arms``'s results: iterations run, why training stopped, the
    best validation value, the last quarter's gain and whether it converged. ``.groupby("arm")
    ["converged"].all()`` gives the per-arm status for ``Criteria.verdict``."""
    rows = []
    for (arm, seed), result in results.items():
        curve = getattr(result, "curve", None)
        if not curve:
            raise ValueError(f"run ({arm!r}, {seed}) has no validation curve: train with cfg.eval_every > 0 "
                             "and a validation set")
        check = convergence_check(curve, tol, higher_is_better, reference=reference)
        rows.append({"arm": arm, "seed": seed, "iterations": int(curve[-1][0]),
                     "stopped": getattr(result, "stopped", ""), "best val": check["best"],
                     "last-quarter gain": check["last_gain"], "converged": check["converged"]})
    return pd.DataFrame(rows)


def arm_convergence(table: pd.DataFrame) -> dict[str, bool]:
    """Per arm: did every seed converge (from ``convergence_table``)?"""
    return {str(a): bool(v) for a, v in table.groupby("arm", sort=False)["converged"].all().items()}

