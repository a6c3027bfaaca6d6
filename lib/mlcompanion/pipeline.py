"""The notebook pipeline behind ``make figures``, ``make nb`` and ``make sync``.

- ``python -m mlcompanion.pipeline knobs SLUG`` lists a notebook's profiles and knobs (value per profile).
- ``python -m mlcompanion.pipeline run SLUG`` executes ``notebooks/SLUG.ipynb`` with the ``ci`` profile
  in place, showing a progress bar over the cells and the notebook's own output, then checks the
  round trip ``.py -> .ipynb -> papermill -> .py`` is an identity.
- ``python -m mlcompanion.pipeline run SLUG --profile paper --device cuda --data-root DIR [-p KNOB VALUE]``
  checks the profile, knob names and value types before a kernel starts, then writes
  ``results/SLUG/<profile>-<UTC time>/`` with the executed notebook, ``figures/``, ``result.json``
  and ``run.json`` (commit, versions, device, every parameter, times, ``status`` ok/failed). It never
  touches the committed notebook or ``figures/`` (``$COMPANION_RESULTS_DIR`` moves ``results/``).
- ``python -m mlcompanion.pipeline figures`` runs every notebook (two at a time) and rebuilds the gallery.
- ``python -m mlcompanion.pipeline sync`` makes every ``.py``/``.ipynb`` pair agree: the newer side
  wins (an edit made in JupyterLab to the ``.ipynb`` is carried into the ``.py``, never dropped).

Every command that executes a notebook syncs its pair first, the same way.
"""

from __future__ import annotations

import argparse
import ast
import copy
import datetime as dt
import functools
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
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


# --------------------------------------------------------------------------------------------- sync


def sync(slug: str, *, quiet: bool = False) -> Path:
    """Make ``SLUG.py`` and ``SLUG.ipynb`` agree; the newer file wins (as ``jupytext --sync``).

    - same inputs: nothing to do (outputs untouched);
    - the ``.ipynb`` is newer (edited in JupyterLab or another editor): its inputs are written to
      the ``.py``, which is the reviewed source, and the command says so;
    - the ``.py`` is newer: the ``.ipynb`` takes its inputs, keeping the outputs of unchanged cells.
    """
    py, ipynb = _paths(slug)
    if not ipynb.exists():
        _jupytext("--to", "ipynb", "--set-kernel", "python3", str(py), "-o", str(ipynb))
        _clean_executed(ipynb)
        return ipynb
    from_ipynb = paired_source(ipynb)
    if from_ipynb.strip() == py.read_text().strip():
        return ipynb
    if ipynb.stat().st_mtime > py.stat().st_mtime:
        py.write_text(from_ipynb)
        if not quiet:
            _say(f"{slug}: {ipynb.name} is newer and has edits that {py.name} lacks: copied them into {py.name}")
    else:
        _jupytext("--to", "ipynb", "--update", str(py), "-o", str(ipynb))
        _clean_executed(ipynb)
        if not quiet:
            _say(f"{slug}: {py.name} is newer: refreshed the inputs of {ipynb.name} (outputs of unchanged cells kept)")
    return ipynb


# ------------------------------------------------------------------------------ executed notebooks

# tqdm's progress lines ("50%|#####     | 25/50 [00:01<00:01, 20.1it/s]"): progress, not results,
# and different at every run.
_PROGRESS = re.compile(r"\d+it \[|\|.*\d+/\d+ \[[0-9:<?, ]*[0-9.?]+ ?(it/s|s/it)|\d+/\d+ \[[0-9:<]+")


def _strip_progress(text: str) -> str:
    lines = re.split(r"(?<=[\r\n])", text)
    return "".join(line for line in lines if not _PROGRESS.search(line))


def _kernel_cpu_report(cwd: Path) -> dict:
    """``mlcompanion.repro.cpu_report()`` as a fresh interpreter of this environment sees it (what a kernel gets)."""
    code = "import json, mlcompanion.repro as r; print(json.dumps(r.cpu_report()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd)
    if out.returncode != 0:
        raise SystemExit(f"could not read the CPU report:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


TIMING_TAG = "timing"
TIMING_NOTE = ("(wall-clock timings: shown when you run the notebook; the committed notebook keeps only "
               "outputs that are a function of the code, so this cell's output is not kept)\n")


def _clean_executed(path: Path, cpu: dict | None = None, *, committed: bool = False) -> None:
    """Make an executed notebook a function of its inputs alone, so re-running unchanged code
    rewrites nothing: drop papermill's timestamps and durations, tqdm progress lines and empty
    ``tags``; record ``cpu`` (the CPU, torch's kernel dispatch, the pins) under ``metadata.companion``.
    ``committed`` (the ci notebook under notebooks/): the outputs of cells tagged ``timing``
    (wall-clock measurements) are replaced by a note."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    if cpu is not None:
        nb.metadata["companion"] = {"cpu": cpu}
    # The notebook carries the pairing filters of jupytext.toml, so that any jupytext call (with or
    # without the config file, e.g. `jupytext --to py:percent -o - X.ipynb`) gives back the .py.
    nb.metadata["jupytext"] = pairing_filters()
    nb.metadata.pop("papermill", None)
    for cell in nb.cells:
        for key in ("papermill", "execution"):
            cell.metadata.pop(key, None)
        if cell.metadata.get("tags") == []:
            del cell.metadata["tags"]
        if cell.cell_type != "code":
            continue
        if committed and TIMING_TAG in cell.metadata.get("tags", []):
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=TIMING_NOTE)]
            continue
        kept = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                output["text"] = _strip_progress(output["text"])
                if not output["text"].strip():
                    continue
            kept.append(output)
        cell.outputs = kept
    nbformat.write(nb, path)


# ------------------------------------------------------------------------------- profiles and knobs


def notebook_profiles(slug: str) -> dict[str, dict]:
    """The notebook's ``PROFILES`` (profile -> knob -> value), read without running the experiment.

    Executes, in a fresh interpreter, the code cells before the one that defines ``PROFILES`` and
    that cell up to the definition (imports, parameters and constants: a second or two).
    """
    return notebook_constant(slug, "PROFILES")


def notebook_costs(slug: str) -> dict[str, dict]:
    """The notebook's stated cost of one run per profile: ``COSTS[profile] = {"hours": h, "gpus": g}``.

    ``hours`` is the wall time the notebook's profile table states for one run (all the arms and
    inner seeds that run does) on the stated hardware, upper end of the estimate; ``gpus`` the GPUs
    it runs on. ``mlcompanion.sweep`` turns it into a job's time limit.
    """
    costs = notebook_constant(slug, "COSTS")
    for profile, cost in costs.items():
        if not (isinstance(cost, dict) and set(cost) == {"hours", "gpus"}
                and isinstance(cost["hours"], (int, float)) and cost["hours"] > 0
                and isinstance(cost["gpus"], int) and cost["gpus"] >= 0):
            raise SystemExit(f"{slug}: COSTS[{profile!r}] must be {{'hours': > 0, 'gpus': int >= 0}}, got {cost!r}")
    return costs


def notebook_constant(slug: str, name: str):
    """A constant the notebook assigns at top level (``PROFILES``, ``COSTS``), read without running it.

    Executes, in a fresh interpreter, the code cells before the assignment and the assigning cell up
    to it, then prints the value as JSON.
    """
    py, _ = _paths(slug)
    # a sweep asks for the same constants once per run: read each at most once per version of the file
    return copy.deepcopy(_notebook_constant(slug, name, py.stat().st_mtime_ns))


@functools.lru_cache(maxsize=256)
def _notebook_constant(slug: str, name: str, mtime_ns: int):
    import jupytext

    py, _ = _paths(slug)
    cells = [c.source for c in jupytext.read(py).cells if c.cell_type == "code"]
    prefix = []
    for source in cells:
        tree = ast.parse(source)
        for i, node in enumerate(tree.body):
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
                prefix.append(ast.unparse(ast.Module(body=tree.body[: i + 1], type_ignores=[])))
                return _evaluate_constant("\n\n".join(prefix), slug, name)
        prefix.append(source)
    raise SystemExit(f"{slug}: no code cell defines {name}")


def _evaluate_constant(code: str, slug: str, name: str):
    marker = f"@@{name}@@"
    program = code + f"\n\nimport json as _json\nprint('\\n{marker}' + _json.dumps({name}, default=repr))\n"
    env = {**os.environ, "MPLBACKEND": "Agg"}
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, cwd=NOTEBOOKS, env=env)
    if out.returncode != 0 or marker not in out.stdout:
        raise SystemExit(f"{slug}: could not read its {name}:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.rsplit(marker, 1)[1])


def check_run_parameters(slug: str, profile: str, seed: int, knobs: dict) -> dict:
    """Refuse an unknown profile, an unknown knob or a wrongly typed value before a kernel starts.

    Returns the knobs the run will use (the profile's values, overridden by ``knobs``).
    """
    from .profiles import _check_type

    profiles = notebook_profiles(slug)
    if profile not in profiles:
        raise SystemExit(f"{slug} has no profile {profile!r}; its profiles: {', '.join(profiles)}")
    spec = profiles[profile]
    unknown = sorted(set(knobs) - set(spec))
    if unknown:
        raise SystemExit(f"unknown parameter(s) {unknown} for {slug}; its knobs: {', '.join(sorted(spec))} "
                         f"(see `python -m mlcompanion.pipeline knobs {slug}`)")
    if not isinstance(seed, int) or seed < 0:
        raise SystemExit(f"seed must be a non-negative integer, got {seed!r}")
    resolved = dict(spec)
    for name, value in knobs.items():
        try:
            resolved[name] = _check_type(name, value, spec[name])
        except ValueError as err:
            raise SystemExit(f"{slug}: {err}") from None
    return resolved


def format_knobs(slug: str) -> str:
    profiles = notebook_profiles(slug)
    names = sorted({k for spec in profiles.values() for k in spec})
    header = ["knob", *profiles]
    rows = [[name, *(_short(spec.get(name, "-")) for spec in profiles.values())] for name in names]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [f"{slug}: profiles {', '.join(profiles)}; common parameters: --profile, --device, --data-root, --seed",
             "  ".join(h.ljust(w) for h, w in zip(header, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)) for row in rows]
    lines.append(f"set a knob with: make nb NB={slug} PROFILE=... (or python -m mlcompanion.pipeline run {slug} -p KNOB VALUE)")
    return "\n".join(lines)


def _short(value, width: int = 48) -> str:
    text = json.dumps(value)
    return text if len(text) <= width else text[: width - 3] + "..."


# -------------------------------------------------------------------------------------- execution


def _execute(ipynb: Path, output: Path, parameters: dict, env: dict, *, progress: bool) -> None:
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        pm.execute_notebook(str(ipynb), str(output), parameters=parameters or None, kernel_name="python3",
                            cwd=str(NOTEBOOKS), progress_bar=progress, log_output=progress)
    except PapermillExecutionError as err:
        raise NotebookFailed(f"{ipynb.stem} failed in cell {err.exec_count} ({output} has the outputs so far):\n"
                             f"{err.ename}: {err.evalue}") from None
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class NotebookFailed(SystemExit):
    """A notebook raised; the message names the cell and the error (exit status 1)."""


def run_ci(slug: str, *, progress: bool = True) -> float:
    """Execute the committed notebook in place with the ci profile and check the pairing; seconds taken."""
    py, _ = _paths(slug)
    ipynb = sync(slug)
    source = py.read_text()
    fd, tmp = tempfile.mkstemp(suffix=".ipynb", dir=NOTEBOOKS, prefix=f".{slug}.")
    os.close(fd)
    start = time.perf_counter()
    try:
        _execute(ipynb, Path(tmp), {}, {}, progress=progress)
        _clean_executed(Path(tmp), _kernel_cpu_report(NOTEBOOKS), committed=True)
        os.replace(tmp, ipynb)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    seconds = time.perf_counter() - start
    if paired_source(ipynb).strip() != source.strip():
        raise SystemExit(f"{slug}: the executed notebook no longer pairs with {py.name}; run `make sync`")
    _say(f"{slug}: executed (ci) in {seconds:.0f} s -> {ipynb.relative_to(REPO)}")
    return seconds


def _say(line: str) -> None:
    """One whole line at once (notebooks run in parallel threads)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _git(*args: str) -> str:
    out = subprocess.run(["git", *args], capture_output=True, text=True, cwd=REPO)
    return out.stdout.strip() if out.returncode == 0 else ""


def run_record(slug: str, profile: str, device: str, data_root: str | None, seed: int, knobs: dict) -> dict:
    """What ``run.json`` says of a run before it starts (``status`` is filled in at the end)."""
    import torch

    cuda = torch.cuda.is_available()
    return {
        "slug": slug,
        "profile": profile,
        "parameters": {"profile": profile, "device": device, "data_root": data_root, "seed": seed, **knobs},
        "commit": _git("rev-parse", "HEAD") or None,
        "dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "device_name": torch.cuda.get_device_name(0) if cuda and device.startswith("cuda") else platform.processor() or platform.machine(),
        "cpu": _kernel_cpu_report(NOTEBOOKS),
        "node": os.environ.get("SLURMD_NODENAME") or platform.node(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "start": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "end": None,
        "seconds": None,
        "status": "running",
        "error": None,
    }


def run_profile(slug: str, profile: str, device: str, data_root: str | None, seed: int, knobs: dict, *,
                out_dir: Path | None = None, sync_first: bool = True) -> Path:
    """Execute a copy of the notebook with another profile into ``results/``; return the run folder.

    ``out_dir`` (new, must not exist) replaces ``results/<slug>/<profile>-<UTC time>/``; a sweep job
    passes ``sync_first=False`` (the sweep synced the pairs once before submitting: jobs running side
    by side must not rewrite the shared ``.ipynb``).
    """
    from .profiles import check_device

    resolved = check_run_parameters(slug, profile, seed, knobs)
    try:
        check_device(device)
    except ValueError as err:
        raise SystemExit(str(err)) from None
    if data_root is not None:
        data_root = str(Path(data_root).expanduser().resolve())
    _, ipynb = _paths(slug)
    if sync_first:
        sync(slug)
    if out_dir is None:
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        out_dir = RESULTS / slug / f"{profile}-{stamp}"
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=False)
    record = run_record(slug, profile, device, data_root, seed, resolved)
    record_path = out_dir / "run.json"
    record_path.write_text(json.dumps(record, indent=2) + "\n")
    params = {"profile": profile, "device": device, "seed": seed, **knobs}
    if data_root is not None:
        params["data_root"] = data_root
    start = time.perf_counter()
    print(f"{slug}: running profile {profile!r} -> {out_dir}", flush=True)
    try:
        _execute(ipynb, out_dir / f"{slug}.ipynb", params, {"COMPANION_RUN_DIR": str(out_dir)}, progress=True)
        _clean_executed(out_dir / f"{slug}.ipynb", record["cpu"])
        record["status"] = "ok"
    except BaseException as err:  # a failed cell, Ctrl-C, a dead kernel: all recorded as failed
        record["status"] = "failed"
        record["error"] = str(err) or type(err).__name__
        raise
    finally:
        record["end"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        record["seconds"] = round(time.perf_counter() - start, 1)
        record_path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"{slug}: executed ({profile}) in {record['seconds']:.0f} s -> {out_dir}", flush=True)
    return out_dir


def _parse_value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _figures(slugs: list[str], jobs: int) -> None:
    from .gallery import build_gallery

    def one(slug: str) -> float:
        _say(f"{slug}: started")
        return run_ci(slug, progress=False)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        list(pool.map(one, slugs))
    print(f"{len(slugs)} notebooks in {time.perf_counter() - start:.0f} s; gallery -> "
          f"{build_gallery().relative_to(REPO)}", flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mlcompanion.pipeline", description=__doc__,
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
    knobs = sub.add_parser("knobs", help="list a notebook's profiles and knobs")
    knobs.add_argument("slugs", nargs="*")
    figs = sub.add_parser("figures", help="execute every notebook (ci) and rebuild figures/README.md")
    figs.add_argument("--jobs", type=int, default=2)
    figs.add_argument("slugs", nargs="*")
    sub.add_parser("sync", help="make every .py/.ipynb pair agree (the newer file wins)")
    sub.add_parser("gallery", help="rebuild figures/README.md")
    _sweep_parser(sub)
    args = parser.parse_args(argv)

    if args.cmd == "run":
        import logging

        logging.basicConfig(level=logging.INFO, format="%(message)s")  # papermill's cell output
        logging.getLogger("traitlets").setLevel(logging.ERROR)
        extra = {name: _parse_value(value) for name, value in args.param}
        bad = sorted(set(extra) & set(COMMON))
        if bad:
            raise SystemExit(f"set {bad} with their own options (--profile, --device, --data-root, --seed)")
        is_default = (args.profile == "ci" and args.device == "cpu" and args.data_root is None
                      and args.seed == 0 and not extra)
        if is_default:
            check_run_parameters(args.slug, "ci", 0, {})
            run_ci(args.slug)
        else:
            run_profile(args.slug, args.profile, args.device, args.data_root, args.seed, extra)
    elif args.cmd == "knobs":
        print("\n\n".join(format_knobs(slug) for slug in (args.slugs or notebook_slugs())))
    elif args.cmd == "figures":
        _figures(args.slugs or notebook_slugs(), args.jobs)
    elif args.cmd == "sync":
        for slug in notebook_slugs():
            sync(slug)
        print(f"{len(notebook_slugs())} notebook pairs agree")
    elif args.cmd == "gallery":
        from .gallery import build_gallery

        print(build_gallery())
    elif args.cmd == "sweep":
        _sweep_command(args)


def _sweep_parser(sub) -> None:
    sw = sub.add_parser(
        "sweep", help="every notebook x seed of a profile as jobs (Slurm, local or debug; see mlcompanion.sweep)",
        description="`sweep` submits and waits; `sweep plan` prints the runs' time limits and GPU-hours "
                    "without submitting; `sweep status` prints each run's state; `sweep summary` the "
                    "verdicts per notebook and seed; `sweep cancel` cancels what is queued or running. "
                    "status/summary/cancel take the same arguments as the sweep (or just --sweep-dir).")
    sw.add_argument("action", nargs="?", default="submit", choices=("submit", "plan", "status", "summary", "cancel"))
    sw.add_argument("--profile", default="ci")
    sw.add_argument("--slugs", nargs="+", default=None, help="notebooks (default: all)")
    sw.add_argument("--seeds", nargs="+", type=int, default=[0])
    sw.add_argument("--device", default=None, help="torch device of every run (default: cuda when the profile "
                                                   "states GPUs, else cpu)")
    sw.add_argument("--data-root", default=None)
    sw.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    sw.add_argument("--executor", default="local", choices=("slurm", "local", "debug"))
    sw.add_argument("--partition", default=None)
    sw.add_argument("--gpus-per-job", type=int, default=None, help="default: the notebook's COSTS gpus")
    sw.add_argument("--cpus-per-job", type=int, default=1)
    sw.add_argument("--mem-gb", type=float, default=None)
    sw.add_argument("--jobs", type=int, default=None, help="at most this many runs at once")
    sw.add_argument("--time-factor", type=float, default=2.0, help="job time limit = stated cost x factor")
    sw.add_argument("--time-limit", type=int, default=None, help="minutes, for every job (overrides COSTS)")
    sw.add_argument("--sweep-dir", default=None)
    sw.add_argument("--results", default=None, help="where the runs write (default: results/, "
                                                    "$COMPANION_RESULTS_DIR); on a cluster, a shared folder")
    sw.add_argument("--no-wait", action="store_true", help="submit and return (check with `sweep status`)")
    sw.add_argument("--poll", type=float, default=10.0, help="seconds between state checks while waiting")


def _sweep_command(args) -> None:
    from . import sweep as sw

    results = Path(args.results).expanduser().resolve() if args.results else RESULTS
    if args.sweep_dir and args.action != "submit" and args.slugs is None:
        sweep = sw.Sweep.load(args.sweep_dir)
    else:
        slugs = args.slugs or notebook_slugs()
        knobs = {name: _parse_value(value) for name, value in args.param}
        runs = sw.plan_runs(slugs, args.profile, args.seeds, device=args.device, data_root=args.data_root, knobs=knobs)
        folder = Path(args.sweep_dir) if args.sweep_dir else sw.default_sweep_dir(results, runs)
        if args.action == "plan":
            print(sw.plan_table(runs, time_factor=args.time_factor, time_limit=args.time_limit))
            return
        if args.action == "submit":
            sweep = sw.submit_sweep(runs, executor=args.executor, sweep_dir=folder, results=results,
                                    time_factor=args.time_factor, time_limit=args.time_limit,
                                    partition=args.partition, gpus_per_job=args.gpus_per_job,
                                    cpus_per_job=args.cpus_per_job, mem_gb=args.mem_gb, jobs=args.jobs,
                                    wait=not args.no_wait, poll_s=args.poll)
            print(f"sweep folder: {sweep.folder}")
            if args.no_wait:
                return
            print(sw.format_status(sw.sweep_status(sweep)))
            print()
            print(sw.format_summary(sw.summarize(sweep)))
            return
        sweep = sw.Sweep.load(folder)
    if args.action == "status":
        print(sw.format_status(sw.sweep_status(sweep)))
    elif args.action == "summary":
        print(sw.format_summary(sw.summarize(sweep)))
    elif args.action == "cancel":
        ids = sw.cancel_sweep(sweep)
        print(f"cancelled {len(ids)} job(s): {' '.join(ids)}" if ids else "nothing queued or running")


if __name__ == "__main__":
    main()
