"""What a notebook shows about convergence, in one place: a generated sentence over
``mlcompanion.verdict.convergence_table`` and the validation-curve panel (every run, one thin line per
seed). Candidates for ``mlcompanion.verdict`` / ``mlcompanion.plotting`` (issue 11)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

__all__ = ["convergence_sentence", "plot_validation_curves"]


def convergence_sentence(table: pd.DataFrame, converged: Mapping[str, bool], tol: float, cap: int,
                         metric: str = "MAP@R") -> str:
    """One sentence: how many arms converged on every seed, the iterations run, and which did not."""
    if table.empty:
        raise ValueError("the convergence table is empty: no run was trained")
    n_ok = sum(bool(v) for v in converged.values())
    text = (f"{n_ok} of {len(converged)} arms converged on every seed (tolerance {tol:g} {metric}; "
            f"iterations run per run: {table['iterations'].min()}-{table['iterations'].max()}, cap {cap}).")
    late = [arm for arm, ok in converged.items() if not ok]
    if late:
        text += f" Not converged: {', '.join(late)}; their comparisons count as inconclusive."
    return text


def plot_validation_curves(ax, results: Mapping, arms: Sequence[str], seeds: Sequence[int],
                           colors: Mapping[str, str], ylabel: str = "validation MAP@R (held-out training classes)",
                           labels: Mapping[str, str] | None = None, mean: bool = False):
    """Every run's validation curve (``results[(arm, seed)].curve``), one thin line per seed, one colour
    per arm; curves of fewer than 3 points are drawn with markers.

    ``labels``: legend text per arm (default: the arm's name). ``mean``: also draw, thick, each arm's
    mean over the seeds at the iterations where every seed is still running (runs stop at their own
    plateau, so later points would average fewer seeds); the seeds are then drawn faint.
    """
    for arm in arms:
        curves = [results[(arm, seed)].curve for seed in seeds]
        label = (labels or {}).get(arm, arm)
        for k, curve in enumerate(curves):
            steps, values = zip(*curve)
            ax.plot(steps, values, "o-" if len(steps) < 3 else "-", lw=1, ms=3, color=colors[arm],
                    alpha=0.35 if mean else 1.0, label=label if k == 0 and not mean else None)
        if mean:
            shared = min(len(c) for c in curves)
            steps = [step for step, _ in curves[0][:shared]]
            if any([step for step, _ in c[:shared]] != steps for c in curves):
                raise ValueError(f"mean=True needs the seeds of arm {arm!r} validated at the same iterations")
            values = [sum(c[i][1] for c in curves) / len(curves) for i in range(shared)]
            ax.plot(steps, values, "-", lw=2.2, color=colors[arm], label=label)
    ax.set_xlabel("iteration")
    ax.set_ylabel(ylabel)
    ax.set_title("validation curves (thick: mean over seeds while all run)" if mean
                 else "validation curves (one line per seed)")
    ax.legend()  # the house legend size (plotting: legible at page width)
    return ax
