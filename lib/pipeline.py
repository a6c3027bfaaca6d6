"""The notebook pipeline behind ``make figures``, ``make nb`` and ``make sync``.

- ``python -m lib.pipeline run SLUG`` executes ``notebooks/SLUG.ipynb`` with the ``ci`` profile in
  place (after refreshing it from the reviewed ``SLUG.py``), then checks the round trip
  ``.py -> .ipynb -> papermill -> .py`` is an identity.
- ``python -m lib.pipeline run SLUG --profile paper --device cuda --data-root DIR`` writes a new
  notebook, its figures and its result.json under ``results/SLUG/<profile>-<time>/`` and never
  touches the committed notebook or ``figures/`` (``$COMPANION_RESULTS_DIR`` moves ``results/``).
- ``python -m lib.pipeline figures`` runs every notebook (two at a time) and rebuilds the gallery.
- ``python -m lib.pipeline sync`` refreshes every ``.ipynb`` from its ``.py`` (outputs kept).
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
RESULTS = Path(os.environ.get("COMPANION_RESULTS_DIR", REPO / "results"))
COMMON = ("profile", "device", "data_root", "seed")


def notebook_slugs() -> list[str]:
    return sorted(p.stem for p in NOTEBOOKS.glob("*.py") if not p.name.startswith("_"))


def _paths(slug: str) -> tuple[Path, Path]:
    py, ipynb = NOTEBOOKS / f"{slug}.py", NOTEBOOKS / f"{slug}.ipynb"
    if not py.exists():
        raise SystemExit(f"no notebook {slug!r}: {py} does not exist. Notebooks: {', '.join(notebook_slugs())}")
    return py, ipynb


def _jupytext(*args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "jupytext", *args], capture_output=True, text=True, cwd=REPO)
    if out.returncode != 0:
        raise SystemExit(f"jupytext {' '.join(args)} failed:\n{out.stderr}")
    return out.stdout


def pairing_filters() -> dict:
    """The metadata filters of ``jupytext.toml`` (what the paired ``.py`` keeps)."""
    import tomllib

    config = tomllib.loads((REPO / "jupytext.toml").read_text())
    return {key: config[key] for key in ("cell_metadata_filter", "notebook_metadata_filter")}


def paired_source(ipynb: Path) -> str:
    """The ``.py`` text that jupytext (with ``jupytext.toml``) makes of ``ipynb``."""
    import jupytext
    from jupytext.config import load_jupytext_config

    config = load_jupytext_config(str(ipynb.parent))
    nb = jupytext.read(ipynb)
    nb.metadata.pop("jupytext", None)  # the repository's jupytext.toml decides, not the notebook
    return jupytext.writes(nb, fmt="py:percent", config=config)


def sync(slug: str) -> Path:
    """Refresh ``SLUG.ipynb`` from ``SLUG.py``, keeping the outputs of unchanged cells."""
    py, ipynb = _paths(slug)
    if ipynb.exists():
        _jupytext("--to", "ipynb", "--update", str(py), "-o", str(ipynb))
    else:
        _jupytext("--to", "ipynb", "--set-kernel", "python3", str(py), "-o", str(ipynb))
    _clean_executed(ipynb)
    return ipynb


def _kernel_cpu_report(ipynb_dir: Path) -> dict:
    """``lib.repro.cpu_report()`` as a fresh interpreter of this environment sees it (what a kernel gets)."""
    code = "import json, lib.repro as r; print(json.dumps(r.cpu_report()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ipynb_dir)
    if out.returncode != 0:
        raise SystemExit(f"could not read the CPU report:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _clean_executed(path: Path, cpu: dict | None = None) -> None:
    """Drop what papermill adds that would change the paired ``.py`` (empty ``tags`` lists); record
    ``cpu`` (the CPU, torch's kernel dispatch and the pins the run used) under ``metadata.companion``."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    if cpu is not None:
        nb.metadata["companion"] = {"cpu": cpu}
    # The notebook carries the pairing filters of jupytext.toml, so that any jupytext call (with or
    # without the config file, e.g. `jupytext --to py:percent -o - X.ipynb`) gives back the .py.
    nb.metadata["jupytext"] = pairing_filters()
    # Machine paths are noise.
    for key in ("input_path", "output_path"):
        nb.metadata.get("papermill", {}).pop(key, None)
    for cell in nb.cells:
        if cell.metadata.get("tags") == []:
            del cell.metadata["tags"]
    nbformat.write(nb, path)


def notebook_parameters(ipynb: Path) -> set[str]:
    """Names assigned in the cell tagged ``parameters``."""
    import nbformat

    nb = nbformat.read(ipynb, as_version=4)
    for cell in nb.cells:
        if "parameters" in cell.metadata.get("tags", []):
            tree = ast.parse(cell.source)
            return {t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets
                    if isinstance(t, ast.Name)}
    raise SystemExit(f"{ipynb} has no cell tagged 'parameters'")


def _execute(ipynb: Path, output: Path, parameters: dict, env: dict) -> None:
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        pm.execute_notebook(str(ipynb), str(output), parameters=parameters or None, kernel_name="python3",
                            cwd=str(NOTEBOOKS), progress_bar=False, log_output=False)
    except PapermillExecutionError as err:
        raise SystemExit(f"{ipynb.stem} failed ({output} has the outputs so far):\n{err.ename}: {err.evalue}") from None
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_ci(slug: str) -> None:
    """Execute the committed notebook in place with the ci profile and check the pairing."""
    py, _ = _paths(slug)
    ipynb = sync(slug)
    source = py.read_text()
    fd, tmp = tempfile.mkstemp(suffix=".ipynb", dir=NOTEBOOKS, prefix=f".{slug}.")
    os.close(fd)
    try:
        _execute(ipynb, Path(tmp), {}, {})
        _clean_executed(Path(tmp), _kernel_cpu_report(NOTEBOOKS))
        os.replace(tmp, ipynb)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    if paired_source(ipynb).strip() != source.strip():
        raise SystemExit(f"{slug}: the executed notebook no longer pairs with {py.name}; run `make sync`")
    print(f"{slug}: executed (ci) -> {ipynb.relative_to(REPO)}")


def run_profile(slug: str, profile: str, device: str, data_root: str | None, seed: int, extra: dict) -> Path:
    """Execute a copy of the notebook with another profile into ``results/``."""
    _, ipynb = _paths(slug)
    sync(slug)
    known = notebook_parameters(ipynb)
    unknown = sorted(set(extra) - known)
    if unknown:
        raise SystemExit(f"unknown parameter(s) {unknown} for {slug}; it takes {sorted(known)}")
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out_dir = RESULTS / slug / f"{profile}-{stamp}"
    out_dir.mkdir(parents=True, exist_ok=False)
    params = {"profile": profile, "device": device, "seed": seed, **extra}
    if data_root is not None:
        params["data_root"] = str(Path(data_root).expanduser().resolve())
    _execute(ipynb, out_dir / f"{slug}.ipynb", params, {"COMPANION_FIGURES_DIR": str(out_dir / "figures")})
    _clean_executed(out_dir / f"{slug}.ipynb", _kernel_cpu_report(NOTEBOOKS))
    print(f"{slug}: executed ({profile}) -> {out_dir}")
    return out_dir


def _parse_value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lib.pipeline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="execute one notebook")
    run.add_argument("slug")
    run.add_argument("--profile", default="ci")
    run.add_argument("--device", default="cpu")
    run.add_argument("--data-root", default=None)
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                     help="set a notebook knob, e.g. -p iterations 3000")
    figs = sub.add_parser("figures", help="execute every notebook (ci) and rebuild figures/README.md")
    figs.add_argument("--jobs", type=int, default=2)
    figs.add_argument("slugs", nargs="*")
    sub.add_parser("sync", help="refresh every .ipynb from its .py")
    sub.add_parser("gallery", help="rebuild figures/README.md")
    args = parser.parse_args(argv)

    if args.cmd == "run":
        extra = {name: _parse_value(value) for name, value in args.param}
        bad = sorted(set(extra) & set(COMMON))
        if bad:
            raise SystemExit(f"set {bad} with their own options (--profile, --device, --data-root, --seed)")
        is_default = (args.profile == "ci" and args.device == "cpu" and args.data_root is None
                      and args.seed == 0 and not extra)
        if is_default:
            run_ci(args.slug)
        else:
            run_profile(args.slug, args.profile, args.device, args.data_root, args.seed, extra)
    elif args.cmd == "figures":
        from .gallery import build_gallery

        slugs = args.slugs or notebook_slugs()
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            list(pool.map(run_ci, slugs))
        print(f"gallery -> {build_gallery().relative_to(REPO)}")
    elif args.cmd == "sync":
        for slug in notebook_slugs():
            print(f"{slug}: {sync(slug).relative_to(REPO)}")
    elif args.cmd == "gallery":
        from .gallery import build_gallery

        print(build_gallery())


if __name__ == "__main__":
    main()
