"""The registry of the companion's papers (``mlcompanion/papers.toml``) and the README's paper table.

The registry is the one record of each paper (title, authors, venue, arXiv id, official code, group,
the claim tested); the README's paper table, the gallery ``figures/README.md`` and the site's claims
ledger (``mlcompanion.site``) are all generated from it and from each notebook's ``result.json``, so
the three never disagree. ``python -m mlcompanion.gallery`` rewrites the README's table with the
gallery.
"""

from __future__ import annotations

import functools
import json
import tomllib
from importlib import resources
from pathlib import Path

__all__ = ["load_papers", "papers_table", "sync_readme_table", "paper_links", "table_cell", "GROUP_ORDER", "PLANNED",
           "TABLE_START", "TABLE_END"]

GROUP_ORDER = ("metric-learning losses", "classification heads", "signals and sequences", "theory and analysis",
               "retrieval and evaluation", "generative")
PLANNED = "planned"
TABLE_START = "<!-- papers-table:start (generated from lib/mlcompanion/papers.toml and figures/*/result.json) -->"
TABLE_END = "<!-- papers-table:end -->"
_FIELDS = ("slug", "title", "authors", "venue", "year", "arxiv", "code", "group", "claim")


@functools.cache
def load_papers() -> tuple[dict, ...]:
    """One dict per paper, in the registry's order (grouped as the README shows them)."""
    text = resources.files("mlcompanion").joinpath("papers.toml").read_text(encoding="utf-8")
    papers = tuple(tomllib.loads(text)["paper"])
    slugs = [p["slug"] for p in papers]
    if len(set(slugs)) != len(slugs):
        raise ValueError(f"papers.toml: a slug appears twice in {slugs}")
    for p in papers:
        missing = [f for f in _FIELDS if f not in p]
        if missing:
            raise ValueError(f"papers.toml: {p.get('slug', p)} lacks {missing}")
        if p["group"] not in GROUP_ORDER:
            raise ValueError(f"papers.toml: {p['slug']} has group {p['group']!r}, not one of {GROUP_ORDER}")
    return papers


def paper_links(paper: dict) -> str:
    """Markdown links to the paper on arXiv and to its official code (what the registry has)."""
    links = []
    if paper["arxiv"]:
        links.append(f"[arXiv {paper['arxiv']}](https://arxiv.org/abs/{paper['arxiv']})")
    if paper["code"]:
        links.append(f"[code]({paper['code']})")
    return ", ".join(links)


def table_cell(text) -> str:
    """A Markdown table cell's text: a ``|`` inside it would end the cell."""
    return str(text).replace("|", "\\|")


def papers_table(figures: Path) -> str:
    """The README's table: one row per paper with its verdict at the ci scale (or "planned")."""
    lines = ["| slug | paper | group | status |", "|---|---|---|---|"]
    for p in load_papers():
        result = figures / p["slug"] / "result.json"
        links = paper_links(p)
        paper = f"{table_cell(p['title'])} ({p['venue']}{'; ' + links if links else ''})"
        if result.exists():
            verdict = json.loads(result.read_text())["verdict"]
            status = f"{verdict} ([notebook](notebooks/{p['slug']}.ipynb))"
        else:
            status = PLANNED
        lines.append(f"| `{p['slug']}` | {paper} | {p['group']} | {status} |")
    return "\n".join(lines)


def sync_readme_table(readme: Path, figures: Path, *, write: bool = True) -> str:
    """The README with its paper table (between the markers) regenerated; written unless ``write=False``."""
    text = readme.read_text()
    start, end = text.find(TABLE_START), text.find(TABLE_END)
    if start < 0 or end < start:
        raise ValueError(f"{readme}: the paper table's markers are missing ({TABLE_START!r} ... {TABLE_END!r})")
    new = text[: start + len(TABLE_START)] + "\n" + papers_table(figures) + "\n" + text[end:]
    if write and new != text:
        readme.write_text(new)
    return new
