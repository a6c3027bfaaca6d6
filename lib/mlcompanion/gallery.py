"""The figure gallery: each notebook writes a small ``result.json`` beside its figures; ``make
figures`` turns them all into ``figures/README.md`` (one section per paper: claim, verdict, key
numbers, figures).

Run ``python -m mlcompanion.gallery`` to rebuild the gallery from what is in ``figures/``.
"""

from __future__ import annotations

import json
import math
import re
import os
import tempfile
from pathlib import Path

from .papers import TABLE_START, load_papers, paper_links, sync_readme_table
from .papers import table_cell as _cell
from .plotting import figure_caption, figures_root, run_dir
from .verdict import VERDICTS as _VERDICT_RULE_VALUES

__all__ = ["VERDICTS", "write_result", "render_gallery", "build_gallery", "paper_row"]

VERDICTS = _VERDICT_RULE_VALUES
# Notebooks not yet moved onto registered criteria (issue 12) may still say this; with criteria,
# only the four values of the shared rule are accepted.
LEGACY_VERDICTS = ("not reproduced at this scale",)
COMPARABLE_AS = ("value", "ordering", "trend")
# Budget entries that are measurements of time (wall or CPU seconds) change from run to run and from
# machine to machine: they are kept (under "timing") only in a paper-profile run's result.json, never
# in the committed ci one, so a second `make figures` on unchanged code rewrites nothing.
_TIMING_KEY = re.compile(r"second|wall", re.IGNORECASE)
_PAPERS = {p["slug"]: p for p in load_papers()}


def _round(value, digits: int = 3):
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"result values must be finite, got {value!r}")
        return round(value, digits)
    if isinstance(value, dict):
        return {str(k): _round(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_round(v, digits) for v in value]
    return value


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _split_timing(budget: dict | None) -> tuple[dict | None, dict]:
    """``budget`` without its time measurements (keys naming seconds or wall time), and those."""
    if budget is None:
        return None, {}
    kept = {k: v for k, v in budget.items() if not _TIMING_KEY.search(str(k))}
    return kept, {k: v for k, v in budget.items() if k not in kept}


def paper_row(quantity: str, *, paper=None, paper_setting: str = "", source: str = "", ours=None,
              ours_setting: str = "", comparable_as: str = "value") -> dict:
    """One row of the paper-vs-ours table: the same quantity, the paper's value (with its setting and
    the kind of source: paper table, official README, abstract, ...) and ours (with our setting).
    ``comparable_as`` is ``value``, ``ordering`` or ``trend``."""
    if not isinstance(quantity, str) or not quantity.strip():
        raise ValueError("quantity must be a non-empty string")
    if comparable_as not in COMPARABLE_AS:
        raise ValueError(f"comparable_as must be one of {COMPARABLE_AS}, got {comparable_as!r}")
    if paper is not None and not source:
        raise ValueError(f"row {quantity!r}: a paper value needs its source (paper table, official README, ...)")
    if paper is None and ours is None:
        raise ValueError(f"row {quantity!r} has neither a paper value nor ours")
    return {"quantity": quantity, "paper": paper, "paper_setting": paper_setting, "source": source,
            "ours": ours, "ours_setting": ours_setting, "comparable_as": comparable_as}


def write_result(
    slug: str,
    *,
    title: str,
    claim: str,
    verdict: str,
    explanation: str,
    ours: dict,
    paper: dict,
    profile: str,
    criteria=None,
    convergence: dict | None = None,
    budget: dict | None = None,
    rows: list[dict] | None = None,
) -> Path:
    """Write ``<figures root>/<slug>/result.json`` (``$COMPANION_RUN_DIR/result.json`` in a paper-profile
    run): the verdict and the key numbers, rounded.

    ``verdict`` is one of ``VERDICTS``; ``explanation`` says in one or two sentences why.
    ``ours`` and ``paper`` map a label to a number (or a short string), printed side by side.

    With registered criteria (``mlcompanion.verdict.Criteria``), ``verdict`` must be the one their
    rule gives, and the record holds every criterion with its values, threshold and outcome;
    ``convergence`` maps each trained arm to whether it converged (or to a dict with its details),
    ``budget`` says what was spent (iteration cap, evaluations, seeds; entries naming seconds or wall
    time are kept only in a paper-profile run, under ``timing``: they differ between runs), and
    ``rows`` are the paper-vs-ours rows (``paper_row``).
    """
    allowed = VERDICTS if criteria is not None else VERDICTS + LEGACY_VERDICTS
    if verdict not in allowed:
        raise ValueError(f"verdict must be one of {allowed}, got {verdict!r}")
    if criteria is not None and verdict != criteria.verdict():
        raise ValueError(f"verdict {verdict!r} is not what the registered criteria give ({criteria.verdict()!r})")
    for name, text in (("title", title), ("claim", claim), ("explanation", explanation)):
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{name} must be a non-empty string")
    for row in rows or []:
        paper_row(**row)  # validates
    budget, timing = _split_timing(budget)
    record = {
        "slug": slug,
        "title": title,
        "claim": claim,
        "verdict": verdict,
        "explanation": explanation,
        "profile": profile,
        "ours": _round(dict(ours)),
        "paper": _round(dict(paper)),
        "criteria": None if criteria is None else _round(criteria.records(), 4),
        "convergence": None if convergence is None else _round(dict(convergence), 4),
        "budget": None if budget is None else _round(dict(budget)),
        "rows": None if rows is None else _round(list(rows), 4),
    }
    if timing and run_dir() is not None:
        record["timing"] = _round(timing)
    path = run_dir() / "result.json" if run_dir() is not None else figures_root() / slug / "result.json"
    _write_atomic(path, json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    return path


def _section(record: dict, figure_dir: Path) -> str:
    lines = [f"## {record['title']} (`{record['slug']}`)", ""]
    paper = _PAPERS.get(record["slug"])
    if paper is not None:
        links = paper_links(paper)
        lines += [f"*{paper['authors']}, {paper['venue']}*" + (f" · {links}" if links else "")
                  + f" · [notebook](../notebooks/{record['slug']}.ipynb)", ""]
    lines += [f"**Claim.** {record['claim']}", ""]
    lines += [f"**Verdict ({record['profile']} profile): {record['verdict']}.** {record['explanation']}", ""]
    if record.get("criteria"):
        lines += ["| criterion | role | paper claims | value | threshold | seeds | outcome |",
                  "|---|---|---|---|---|---|---|"]
        for c in record["criteria"]:
            value = "–" if c["value"] is None else f"{c['value']:g}" + (
                f" ± {c['stderr']:g}" if c.get("stderr") is not None else "")
            outcome = c["outcome"] + ("" if c.get("arms_converged", True) else " (arms unconverged)")
            lines.append(f"| {c['name']} | {c['role']} | {_cell(c['claim'])} | {value} | {c['direction']} "
                         f"{c['threshold']:g} (min effect {c['min_effect']:g}) | {c['n_seeds']} | {outcome} |")
        lines.append("")
    else:
        lines += ["*Criteria not yet registered with the shared verdict rule.*", ""]
    if record.get("convergence"):
        parts = [f"{arm}: {'converged' if (v if isinstance(v, bool) else v.get('converged')) else 'NOT converged'}"
                 for arm, v in record["convergence"].items()]
        lines += ["**Convergence.** " + "; ".join(parts) + ".", ""]
    if record.get("budget"):
        lines += ["**Budget.** " + ", ".join(f"{k}: {v}" for k, v in record["budget"].items()) + ".", ""]
    if record.get("rows"):
        lines += ["| quantity | paper (setting, source) | ours (setting) | comparable as |", "|---|---|---|---|"]
        for r in record["rows"]:
            paper = "–" if r["paper"] is None else f"{r['paper']} ({r['paper_setting']}; {r['source']})"
            ours = "–" if r["ours"] is None else f"{r['ours']} ({r['ours_setting']})"
            lines.append(f"| {_cell(r['quantity'])} | {_cell(paper)} | {_cell(ours)} | {r['comparable_as']} |")
        lines.append("")
        return _figures(lines, record, figure_dir)
    keys = list(record["paper"]) + [k for k in record["ours"] if k not in record["paper"]]
    if keys:
        lines += ["| quantity | paper | ours |", "|---|---|---|"]
        for k in keys:
            lines.append(f"| {_cell(k)} | {_cell(record['paper'].get(k, '–'))} | {_cell(record['ours'].get(k, '–'))} |")
        lines.append("")
    return _figures(lines, record, figure_dir)


def _figures(lines: list[str], record: dict, figure_dir: Path) -> str:
    for png in sorted(figure_dir.glob("*.png")):
        caption = figure_caption(png)
        lines += [f"![{png.stem}]({record['slug']}/{png.name})", ""]
        if caption:
            lines += [f"**{png.stem}.** {caption}", ""]
    return "\n".join(lines)


def render_gallery(root: Path) -> str:
    """The text of the gallery for every ``<root>/<slug>/result.json``, in the registry's order."""
    sections = []
    order = {slug: i for i, slug in enumerate(_PAPERS)}
    for result in sorted(root.glob("*/result.json"), key=lambda p: (order.get(p.parent.name, len(order)), p.parent.name)):
        record = json.loads(result.read_text())
        sections.append(_section(record, result.parent))
    header = [
        "# Figure gallery",
        "",
        "Generated by `make figures` from each notebook's `result.json`; do not edit by hand.",
        "Each section: the claim the notebook tests, its verdict at the ci scale, the paper's numbers",
        "beside ours, and the figures.",
        "",
    ]
    return "\n".join(header + sections).rstrip() + "\n"


def build_gallery(root: Path | None = None) -> Path:
    """Write ``<root>/README.md`` from every ``<root>/<slug>/result.json``; for the repository's own
    ``figures/``, also regenerate the paper table of the top-level README (``papers.sync_readme_table``)."""
    root = Path(root) if root is not None else figures_root()
    path = root / "README.md"
    _write_atomic(path, render_gallery(root))
    readme = root.resolve().parent / "README.md"
    if root.resolve().name == "figures" and readme.exists() and TABLE_START in readme.read_text():
        sync_readme_table(readme, root)
    return path


if __name__ == "__main__":
    print(build_gallery())
