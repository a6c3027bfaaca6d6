"""The companion site: every executed notebook as a page and a claims ledger across the papers.

``make site`` (``python -m mlcompanion.site build``) writes ``build/site/html/`` (git-ignored) with
`MkDocs <https://www.mkdocs.org>`_, the Material theme and `mkdocs-jupyter
<https://github.com/danielfrg/mkdocs-jupyter>`_, which renders the committed ``.ipynb`` files as they
are (outputs and figures inline, nothing re-executed). ``make serve`` serves that folder on
localhost. The build is offline and the site loads nothing from elsewhere: MathJax (for the
notebooks' math) comes from ``tools/site/node_modules`` (``npm ci`` of ``tools/site/package-lock.json``,
as pip installs ``requirements/lock.txt``), and the theme's web fonts are off.

Pages, all generated from the same records as the README's paper table and ``figures/README.md``
(``mlcompanion/papers.toml`` for each paper, each notebook's ``figures/<slug>/result.json``, and the
``result.json`` of paper-profile runs under ``results/``):

- ``index.html``: the claims ledger, one row per paper (planned ones marked): title with arXiv and
  official-code links, group, the claim tested, the verdict at ci scale, the headline criterion's
  value, the first paper-beside-ours row (paper | ours | comparable as), and the verdict of any
  paper-profile run; the table sorts on any column and filters by group and verdict.
- ``papers/<slug>/``: the executed notebook, under a header with the verdict and links back to the
  ledger, to the notebook source and to the paper (a planned paper gets a page with its claim).
- ``benchmarks/``: the loss benchmarks of ``make bench`` (table and plot).
"""

from __future__ import annotations

import argparse
import functools
import html
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .papers import GROUP_ORDER, PLANNED, load_papers
from .plotting import figure_caption
from .verdict import VERDICTS

__all__ = ["load_papers", "paper_records", "ledger_rows", "build_site", "SITE_DIR", "MATHJAX_DIR"]

REPO = Path(__file__).resolve().parents[2]
SITE_DIR = REPO / "build" / "site"
MATHJAX_DIR = REPO / "tools" / "site" / "node_modules" / "mathjax"
# the files of MathJax 2.7 that TeX-AMS_CHTML-full needs (the package has 3,000 files in all)
_MATHJAX_PARTS = ("MathJax.js", "config", "extensions", "jax/input/TeX", "jax/output/CommonHTML", "jax/element",
                  "fonts/HTML-CSS/TeX/woff", "localization/en")
def paper_records(root: Path = REPO) -> dict[str, dict]:
    """Per slug: the ci ``result.json`` (or None: planned) and the paper-profile runs' verdicts."""
    out = {}
    for paper in load_papers():
        slug = paper["slug"]
        path = root / "figures" / slug / "result.json"
        record = json.loads(path.read_text()) if path.exists() else None
        runs = []
        for result in sorted((root / "results" / slug).glob("*/result.json")):
            run = json.loads(result.read_text())
            if run.get("profile", "ci") != "ci":
                runs.append({"folder": result.parent.name, "profile": run["profile"], "verdict": run.get("verdict")})
        out[slug] = {"result": record, "runs": runs,
                     "notebook": (root / "notebooks" / f"{slug}.ipynb").exists()}
    return out


def _headline(record: dict | None) -> str:
    if not record or not record.get("criteria"):
        return ""
    heads = [c for c in record["criteria"] if c["role"] == "headline"] or record["criteria"][:1]
    parts = []
    for c in heads:
        if c["value"] is None:
            value = "–"
        else:
            value = f"{c['value']:g}" + (f" ± {c['stderr']:g}" if c.get("stderr") is not None else "")
        parts.append(f"{c['claim']}: {value} ({c['outcome']})")
    return "; ".join(parts)


def _first_row(record: dict | None) -> tuple[str, str, str]:
    if not record or not record.get("rows"):
        return "", "", ""
    r = next((r for r in record["rows"] if r["paper"] is not None and r["ours"] is not None), record["rows"][0])
    paper = "–" if r["paper"] is None else f"{r['paper']} ({r['paper_setting']})"
    ours = "–" if r["ours"] is None else f"{r['ours']} ({r['ours_setting']})"
    return f"{r['quantity']}: {paper}", ours, r["comparable_as"]


def ledger_rows(root: Path = REPO) -> list[dict]:
    """One row per paper of the registry, with what the ledger shows."""
    records = paper_records(root)
    rows = []
    for paper in load_papers():
        rec = records[paper["slug"]]
        result = rec["result"]
        paper_cell, ours_cell, comparable = _first_row(result)
        rows.append({
            **paper,
            "verdict": result["verdict"] if result else PLANNED,
            "headline": _headline(result),
            "paper_value": paper_cell, "ours_value": ours_cell, "comparable_as": comparable,
            "paper_runs": "; ".join(f"{r['profile']}: {r['verdict']}" for r in rec["runs"]),
            "has_page": rec["notebook"],
        })
    return rows


# ----------------------------------------------------------------------------------------- pages


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _links(paper: dict) -> str:
    links = []
    if paper.get("arxiv"):
        links.append(f'<a href="https://arxiv.org/abs/{_e(paper["arxiv"])}">arXiv {_e(paper["arxiv"])}</a>')
    if paper.get("code"):
        links.append(f'<a href="{_e(paper["code"])}">official code</a>')
    return " · ".join(links)


def ledger_page(rows: list[dict]) -> str:
    """The landing page: the claims ledger as an HTML table inside Markdown (sortable, filterable)."""
    counts = {v: sum(r["verdict"] == v for r in rows) for v in (*VERDICTS, PLANNED)}
    summary = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    groups = "".join(f'<option value="{_e(g)}">{_e(g)}</option>' for g in GROUP_ORDER)
    verdicts = "".join(f'<option value="{_e(v)}">{_e(v)}</option>' for v in (*VERDICTS, PLANNED))
    head = ["paper", "group", "claim tested", "verdict (ci)", "headline criterion", "paper", "ours",
            "comparable as", "paper-profile runs"]
    body = []
    for r in rows:
        title = (f'<a href="papers/{_e(r["slug"])}/">{_e(r["title"])}</a>' if r["has_page"]
                 else f'<a href="papers/{_e(r["slug"])}/">{_e(r["title"])}</a> <em>(planned)</em>')
        cells = [f'{title}<br><small>{_e(r["authors"])}, {_e(r["venue"])} · {_links(r)}</small>',
                 _e(r["group"]), _e(r["claim"]),
                 f'<span class="verdict verdict-{_e(r["verdict"].replace(" ", "-"))}">{_e(r["verdict"])}</span>',
                 _e(r["headline"]), _e(r["paper_value"]), _e(r["ours_value"]), _e(r["comparable_as"]),
                 _e(r["paper_runs"])]
        body.append(f'<tr data-slug="{_e(r["slug"])}" data-group="{_e(r["group"])}" '
                    f'data-verdict="{_e(r["verdict"])}">' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return "\n".join([
        "---", "hide:", "  - navigation", "  - toc", "---", "",
        "# Claims ledger", "",
        "Every paper of the companion, the claim its notebook tests, and the verdict at the ci scale "
        "(CPU, generated data), computed from criteria registered before the experiment "
        "(`mlcompanion.verdict`). The paper's number and ours sit on the same row with how they compare "
        "(value, ordering or trend). Click a column header to sort; choose a group or a verdict to filter.",
        "", f"**{len(rows)} papers:** {summary}.", "",
        '<div class="ledger-filters">'
        f'<label>group <select id="filter-group"><option value="">all</option>{groups}</select></label> '
        f'<label>verdict <select id="filter-verdict"><option value="">all</option>{verdicts}</select></label>'
        "</div>", "",
        '<table id="ledger" class="ledger"><thead><tr>'
        + "".join(f'<th data-col="{i}">{_e(h)}</th>' for i, h in enumerate(head))
        + "</tr></thead><tbody>", *body, "</tbody></table>", "",
    ])


def _header_cell(paper: dict, record: dict | None) -> str:
    verdict = record["verdict"] if record else PLANNED
    lines = [
        f'<div class="paper-header" markdown="0"><p class="verdict verdict-{verdict.replace(" ", "-")}">'
        f"Verdict at ci scale: <strong>{_e(verdict)}</strong></p>",
        f'<p><a href="../../">← claims ledger</a> · <a href="../../sources/{_e(paper["slug"])}.py">notebook '
        f'source (<code>notebooks/{_e(paper["slug"])}.py</code>)</a> · {_links(paper)}</p>',
        f"<p><em>{_e(paper['authors'])}, {_e(paper['venue'])}.</em> Claim tested: {_e(paper['claim'])}</p></div>",
    ]
    return "\n".join(lines)


def _notebook_with_header(slug: str, paper: dict, record: dict | None, root: Path) -> dict:
    nb = json.loads((root / "notebooks" / f"{slug}.ipynb").read_text())
    cell = {"cell_type": "markdown", "metadata": {}, "source": _header_cell(paper, record)}
    nb["cells"].insert(0, cell)
    return nb


def _planned_page(paper: dict) -> str:
    return "\n".join([
        f"# {paper['title']}", "",
        f"*{paper['authors']}, {paper['venue']}.* {_links(paper)}", "",
        "**Planned:** this paper's notebook is not written yet.", "",
        f"**Claim it will test.** {paper['claim']}", "",
        "[← claims ledger](../../index.md)", "",
    ])


def _benchmarks_page(root: Path) -> str:
    path = root / "figures" / "benchmarks" / "losses.json"
    lines = ["# Loss benchmarks", "",
             "`make bench` times each loss's forward + backward against pytorch-metric-learning's on this "
             "machine's CPU (one thread unless said), at several batch × dimension sizes.", ""]
    if not path.exists():
        return "\n".join(lines + ["*No benchmark results committed yet (`make bench` writes them).*", ""])
    data = json.loads(path.read_text())
    meta = data.get("meta", {})
    if meta:
        lines += ["**Machine and settings.** " + ", ".join(f"{k}: {v}" for k, v in meta.items()), ""]
    results = data.get("results", [])
    if results:
        keys = list(results[0])
        lines += ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
        for r in results:
            lines.append("| " + " | ".join(str(r.get(k, "")).replace("|", "\\|") for k in keys) + " |")
        lines.append("")
    png = root / "figures" / "benchmarks" / "losses.png"
    caption = html.escape(figure_caption(png) or "") if png.exists() else ""
    lines += ["<figure markdown>", "![Forward + backward time of each loss, ours against pytorch-metric-learning]"
              "(losses.png)", f"<figcaption>{caption}</figcaption>", "</figure>", ""]
    return "\n".join(lines)


_CSS = """
.md-grid { max-width: 96rem; }
table.ledger { font-size: .68rem; border-collapse: collapse; }
table.ledger th { cursor: pointer; white-space: nowrap; position: sticky; top: 0; background: var(--md-default-bg-color); }
table.ledger th.sorted-asc::after { content: " ▲"; } table.ledger th.sorted-desc::after { content: " ▼"; }
table.ledger td, table.ledger th { border-bottom: 1px solid var(--md-default-fg-color--lightest); padding: .3em .5em; vertical-align: top; }
.ledger-filters { margin: .5em 0 1em; } .ledger-filters label { margin-right: 1.5em; }
.verdict { font-weight: 600; white-space: nowrap; }
.verdict-reproduced { color: #1a7f37; } .verdict-partly-reproduced { color: #9a6700; }
.verdict-contradicted-at-this-scale { color: #cf222e; } .verdict-inconclusive-at-this-scale { color: #57606a; }
.verdict-planned { color: #8c959f; font-style: italic; }
.paper-header { border-left: 4px solid var(--md-primary-fg-color); padding: .2em 1em; margin-bottom: 1.5em; }
/* code is secondary to the text: smaller, collapsed to a few lines until hovered */
.jupyter-wrapper .jp-CodeCell .jp-InputArea { font-size: .85em; opacity: .85; }
.jupyter-wrapper .jp-OutputArea-output img { max-width: 100%; height: auto; }
/* no In/Out prompts: a figure gets the column's whole width (plotting.PAGE_WIDTH_PX at a 1280-px window) */
.jupyter-wrapper .jp-InputPrompt, .jupyter-wrapper .jp-OutputPrompt { display: none; }
.jupyter-wrapper .jp-Notebook, .jupyter-wrapper .jp-Cell { padding-left: 0 !important; padding-right: 0 !important; }
"""

_JS = """
// Sort the ledger on a column header click; filter its rows by group and verdict. No library.
document.addEventListener("DOMContentLoaded", function () {
  var table = document.getElementById("ledger");
  if (!table) return;
  var body = table.tBodies[0];
  table.querySelectorAll("th").forEach(function (th) {
    th.addEventListener("click", function () {
      var col = Number(th.dataset.col), asc = !th.classList.contains("sorted-asc");
      table.querySelectorAll("th").forEach(function (h) { h.classList.remove("sorted-asc", "sorted-desc"); });
      th.classList.add(asc ? "sorted-asc" : "sorted-desc");
      var rows = Array.from(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[col].textContent.trim(), y = b.cells[col].textContent.trim();
        return (asc ? 1 : -1) * x.localeCompare(y, undefined, {numeric: true});
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
  function filter() {
    var g = document.getElementById("filter-group").value, v = document.getElementById("filter-verdict").value;
    Array.from(body.rows).forEach(function (r) {
      r.style.display = (!g || r.dataset.group === g) && (!v || r.dataset.verdict === v) ? "" : "none";
    });
  }
  document.getElementById("filter-group").addEventListener("change", filter);
  document.getElementById("filter-verdict").addEventListener("change", filter);
});
"""


def _mkdocs_config(rows: list[dict], docs: Path, html_dir: Path) -> dict:
    nav_groups = []
    for group in GROUP_ORDER:
        members = [{r["title"] if len(r["title"]) < 60 else r["title"][:57] + "…": f"papers/{r['slug']}/index."
                    + ("ipynb" if r["has_page"] else "md")} for r in rows if r["group"] == group]
        if members:
            nav_groups.append({group: members})
    return {
        "site_name": "The metric-learning paper companion",
        "docs_dir": str(docs), "site_dir": str(html_dir),
        "use_directory_urls": True,
        "theme": {"name": "material", "font": False, "features": ["navigation.sections", "navigation.top"],
                  "palette": {"primary": "indigo"}},
        "extra_css": ["assets/site.css"], "extra_javascript": ["assets/ledger.js"],
        "markdown_extensions": ["tables", "attr_list", "md_in_html", "admonition"],
        "plugins": [{"search": {}}, {"mkdocs-jupyter": {
            "include": ["*.ipynb"], "execute": False, "include_source": False, "ignore_h1_titles": False,
            "custom_mathjax_url": "../../assets/mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe",
            "include_requirejs": False}}],
        "nav": [{"Claims ledger": "index.md"}, *nav_groups, {"Benchmarks": "benchmarks/index.md"}],
        "validation": {"nav": {"omitted_files": "ignore"}, "links": {"not_found": "warn"}},
        "strict": False,
    }


def write_sources(out: Path, root: Path = REPO) -> Path:
    """The MkDocs input: ``<out>/docs`` and ``<out>/mkdocs.yml``."""
    import yaml

    if not MATHJAX_DIR.joinpath("MathJax.js").exists():
        raise SystemExit(f"site: MathJax is missing ({MATHJAX_DIR}); run `npm ci --prefix tools/site` "
                         "(make site does)")
    docs = out / "docs"
    if docs.exists():
        shutil.rmtree(docs)
    (docs / "assets").mkdir(parents=True)
    (docs / "sources").mkdir()
    rows = ledger_rows(root)
    records = paper_records(root)
    (docs / "index.md").write_text(ledger_page(rows))
    (docs / "assets" / "site.css").write_text(_CSS)
    (docs / "assets" / "ledger.js").write_text(_JS)
    for part in _MATHJAX_PARTS:
        src, dst = MATHJAX_DIR / part, docs / "assets" / "mathjax" / part
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    for paper in load_papers():
        slug = paper["slug"]
        page = docs / "papers" / slug
        page.mkdir(parents=True)
        if records[slug]["notebook"]:
            nb = _notebook_with_header(slug, paper, records[slug]["result"], root)
            (page / "index.ipynb").write_text(json.dumps(nb))
            shutil.copy2(root / "notebooks" / f"{slug}.py", docs / "sources" / f"{slug}.py")
        else:
            (page / "index.md").write_text(_planned_page(paper))
    bench = docs / "benchmarks"
    bench.mkdir()
    (bench / "index.md").write_text(_benchmarks_page(root))
    if (root / "figures" / "benchmarks" / "losses.png").exists():
        shutil.copy2(root / "figures" / "benchmarks" / "losses.png", bench / "losses.png")
    config = out / "mkdocs.yml"
    config.write_text(yaml.safe_dump(_mkdocs_config(rows, docs, out / "html"), sort_keys=False, allow_unicode=True))
    return config


def build_site(out: Path = SITE_DIR, root: Path = REPO, *, quiet: bool = True) -> Path:
    """Write the sources and run ``mkdocs build``; returns the HTML folder."""
    out = Path(out)
    start = time.perf_counter()
    config = write_sources(out, root)
    cmd = [sys.executable, "-m", "mkdocs", "build", "--clean", "-f", str(config)] + (["-q"] if quiet else [])
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"site: mkdocs build failed:\n{done.stderr[-4000:]}")
    html_dir = out / "html"
    size = sum(p.stat().st_size for p in html_dir.rglob("*") if p.is_file())
    print(f"site: {html_dir} ({sum(1 for _ in html_dir.rglob('*.html'))} pages, {size / 2**20:.1f} MiB) "
          f"in {time.perf_counter() - start:.0f} s", flush=True)
    return html_dir


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mlcompanion.site", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build the site into build/site/html")
    b.add_argument("--out", default=str(SITE_DIR))
    s = sub.add_parser("serve", help="serve the built site on localhost")
    s.add_argument("--out", default=str(SITE_DIR))
    s.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    if args.cmd == "build":
        build_site(Path(args.out), quiet=False)
    else:
        import http.server

        html_dir = Path(args.out) / "html"
        if not (html_dir / "index.html").exists():
            raise SystemExit(f"site: nothing built in {html_dir}; run `make site` first")
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(html_dir))
        print(f"serving {html_dir} at http://127.0.0.1:{args.port}/ (Ctrl-C stops)")
        http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler).serve_forever()


if __name__ == "__main__":
    main()
