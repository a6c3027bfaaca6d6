"""Sweeps: every (notebook, seed, parameters) of a profile as one job, on Slurm, locally or in-process.

``python -m mlcompanion.pipeline sweep --profile paper --slugs multi_similarity metrix --seeds 0 1 2
--executor slurm --partition gpu --gpus-per-job 1 [--data-root DIR] [-p KNOB VALUE ...]`` plans one
papermill run per (slug, seed), submits them through `submitit <https://github.com/facebookincubator/submitit>`_
(a Slurm job array for ``--executor slurm``; child processes, ``--jobs`` at a time, for ``local``; the
same process for ``debug``), and waits, printing the table of ``sweep status`` as runs finish, then
the summary of verdicts. Each run writes ``<results>/<slug>/<profile>-seed<k>-<key>-<UTC time>/`` with
``run.json`` (the record of ``pipeline run``: commit, versions, parameters, node, times, status) and
whatever the notebook writes (``result.json``, figures, the executed notebook).

A sweep lives in a folder (``--sweep-dir``, by default ``<results>/sweeps/<profile>-<hash of its
arguments>``) holding ``sweep.json`` (every run and every job submitted for it) and submitit's job
files and logs. Running the same command again re-submits only what has not finished ok: a run that
finished ok for the same commit and parameters, in this sweep or any other, is skipped; one queued or
running is left alone; a failed, cancelled, timed-out or lost one is submitted again.

Job states. A run's own ``run.json`` says ``ok`` or ``failed`` when the notebook ends (``timeout`` when
the job caught Slurm's warning signal, sent 60 s before its limit, past its time). A job that dies before that (cancelled, past its time limit, out of memory, node failure) is read from Slurm:
``sacct`` where the cluster keeps accounting, else ``scontrol show job`` (which knows finished jobs
for ``MinJobAge`` seconds, 300 by default). A job neither knows about whose run never ended is
``lost``, never ``ok``, and the sweep never waits on it (submitit's ``job.result()`` would wait
forever for a job killed before it wrote its result, when the cluster has no accounting).

Time limits. Each notebook states ``COSTS[profile] = {"hours": h, "gpus": g}``, one run's wall time on
its stated hardware (``pipeline.notebook_costs``); a job's limit is ``max(h · 60 · factor, floor)``
minutes (``--time-factor`` 2, floor 10 min), or ``--time-limit MIN`` for every job.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import pipeline

__all__ = [
    "RunSpec", "plan_runs", "time_limit_minutes", "execute_run", "Sweep", "submit_sweep",
    "sweep_status", "format_status", "summarize", "format_summary", "slurm_available", "plan_table", "EXECUTORS",
    "FINAL_STATES",
]

EXECUTORS = ("slurm", "local", "debug")
# The states a run can be in. "ok" and "failed" come from the run's own run.json, and "timeout" when the
# job caught Slurm's warning signal past its time; the rest from what Slurm (or the local executor) says.
FINAL_STATES = ("ok", "failed", "cancelled", "timeout", "out_of_memory", "lost")
ACTIVE_STATES = ("queued", "running")
TIME_FACTOR = 2.0
TIME_FLOOR_MIN = 10

# Slurm's job states (squeue/scontrol/sacct spelling) -> ours.
SLURM_STATES = {
    "PENDING": "queued", "CONFIGURING": "queued", "REQUEUED": "queued", "REQUEUE_HOLD": "queued",
    "REQUEUE_FED": "queued", "RESV_DEL_HOLD": "queued", "SUSPENDED": "queued",
    "RUNNING": "running", "COMPLETING": "running", "STAGE_OUT": "running", "SIGNALING": "running",
    "RESIZING": "running",
    "COMPLETED": "completed",  # the job ended; the run's own run.json says whether the notebook did
    "CANCELLED": "cancelled", "DEADLINE": "timeout", "TIMEOUT": "timeout",
    "OUT_OF_MEMORY": "out_of_memory", "FAILED": "failed", "NODE_FAIL": "failed", "BOOT_FAIL": "failed",
    "PREEMPTED": "cancelled", "REVOKED": "cancelled", "SPECIAL_EXIT": "failed",
}


# ----------------------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class RunSpec:
    """One notebook run: what ``pipeline run SLUG --profile ... --seed ... -p ...`` would execute."""

    slug: str
    profile: str
    seed: int
    device: str = "cpu"
    data_root: str | None = None
    knobs: tuple = ()  # sorted (name, value) pairs set with -p; values JSON-able

    @property
    def label(self) -> str:
        extra = ",".join(f"{k}={json.dumps(v)}" for k, v in self.knobs)
        return f"{self.slug}/{self.profile}/seed{self.seed}" + (f"/{extra}" if extra else "")

    @property
    def key(self) -> str:
        """A short hash of everything that makes the run what it is (not the commit)."""
        text = json.dumps([self.slug, self.profile, self.seed, self.device, self.data_root, list(self.knobs)])
        return hashlib.sha256(text.encode()).hexdigest()[:10]

    def knob_dict(self) -> dict:
        return {k: v for k, v in self.knobs}


def plan_runs(slugs, profile: str, seeds, *, device: str | None = None, data_root: str | None = None,
              knobs: dict | None = None) -> list[RunSpec]:
    """The runs of a sweep, each checked like ``pipeline run`` checks one (profile, knob names, types).

    ``device`` None: "cuda" for a notebook whose ``COSTS`` states GPUs for the profile, else "cpu".

    Raises SystemExit naming the slug and the problem before anything is submitted.
    """
    slugs = list(slugs)
    seeds = list(seeds)
    if not slugs:
        raise SystemExit("sweep: give at least one notebook (--slugs ...)")
    if not seeds:
        raise SystemExit("sweep: give at least one seed (--seeds ...)")
    known = set(pipeline.notebook_slugs())
    unknown = [s for s in slugs if s not in known]
    if unknown:
        raise SystemExit(f"sweep: no notebook {unknown}; notebooks: {', '.join(sorted(known))}")
    if len(set(slugs)) != len(slugs) or len(set(seeds)) != len(seeds):
        raise SystemExit(f"sweep: slugs and seeds must not repeat (got {slugs}, {seeds})")
    for seed in seeds:
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise SystemExit(f"sweep: seeds must be non-negative integers, got {seed!r}")
    knobs = dict(knobs or {})
    if data_root is not None:
        data_root = str(Path(data_root).expanduser().resolve())
    runs = []
    for slug in slugs:
        pipeline.check_run_parameters(slug, profile, seeds[0], knobs)
        dev = device
        if dev is None:
            dev = "cuda" if pipeline.notebook_costs(slug).get(profile, {}).get("gpus", 0) else "cpu"
        for seed in seeds:
            runs.append(RunSpec(slug, profile, seed, dev, data_root, tuple(sorted(knobs.items()))))
    return runs


def time_limit_minutes(slug: str, profile: str, *, factor: float = TIME_FACTOR, override: int | None = None,
                       floor: int = TIME_FLOOR_MIN) -> int:
    """A job's time limit in minutes: the notebook's stated cost × ``factor``, at least ``floor``."""
    if override is not None:
        if not isinstance(override, int) or isinstance(override, bool) or override < 1:
            raise SystemExit(f"sweep: --time-limit must be a whole number of minutes >= 1, got {override!r}")
        return override
    if not (isinstance(factor, (int, float)) and math.isfinite(factor) and factor > 0):
        raise SystemExit(f"sweep: --time-factor must be a positive number, got {factor!r}")
    costs = pipeline.notebook_costs(slug)
    if profile not in costs:
        raise SystemExit(f"sweep: {slug} states no cost for profile {profile!r} (COSTS has {sorted(costs)}); "
                         "give --time-limit MINUTES")
    return max(floor, math.ceil(costs[profile]["hours"] * 60 * factor))


# ----------------------------------------------------------------------------------- the job itself


def execute_run(spec: dict, out_dir: str) -> str:
    """Run one notebook in a job (what submitit pickles and calls). Returns the run folder.

    One thread per process unless the job's environment says otherwise (the ci profile's outputs are
    only reproducible on one thread). A failed notebook raises RuntimeError, so submitit records the
    error in the job's log and Slurm marks the job FAILED.
    """
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    os.environ.setdefault("PYTHONHASHSEED", "0")
    run = RunSpec(**{**spec, "knobs": tuple(tuple(kv) for kv in spec["knobs"])})
    try:
        pipeline.run_profile(run.slug, run.profile, run.device, run.data_root, run.seed, run.knob_dict(),
                             out_dir=Path(out_dir), sync_first=False)
    except SystemExit as err:  # pipeline's NotebookFailed and its parameter errors
        raise RuntimeError(f"{run.label} failed: {err}") from None
    except Exception as err:
        # submitit's signal handler raises this in the job when Slurm's warning signal (60 s before the
        # limit) finds it past its time: record a time-out, not a failure of the notebook
        if type(err).__name__ == "UncompletedJobError" and "timed-out" in str(err):
            _mark_run(Path(out_dir), "timeout", str(err))
        raise
    return out_dir


def _mark_run(out_dir: Path, status: str, error: str) -> None:
    path = out_dir / "run.json"
    if path.exists():
        record = json.loads(path.read_text())
        record.update(status=status, error=error)
        path.write_text(json.dumps(record, indent=2) + "\n")


# ------------------------------------------------------------------------------------- the sweep file


@dataclass
class Sweep:
    """A sweep's folder and its ``sweep.json``: the runs and every job submitted for each."""

    folder: Path
    executor: str
    profile: str
    runs: list = field(default_factory=list)  # dicts: spec, label, key, time_limit_min, attempts[]

    @property
    def path(self) -> Path:
        return self.folder / "sweep.json"

    @classmethod
    def load(cls, folder) -> "Sweep":
        folder = Path(folder)
        path = folder / "sweep.json"
        if not path.exists():
            raise SystemExit(f"sweep: no sweep in {folder} (no sweep.json); start one with `sweep` first")
        data = json.loads(path.read_text())
        return cls(folder=folder, executor=data["executor"], profile=data["profile"], runs=data["runs"])

    def save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"executor": self.executor, "profile": self.profile, "runs": self.runs},
                                  indent=2) + "\n")
        os.replace(tmp, self.path)

    def entry(self, run: RunSpec) -> dict:
        for item in self.runs:
            if item["key"] == run.key:
                return item
        item = {"label": run.label, "key": run.key, "spec": asdict(run), "attempts": []}
        self.runs.append(item)
        return item


def default_sweep_dir(results: Path, runs: list[RunSpec]) -> Path:
    text = json.dumps(sorted(r.key for r in runs))
    return results / "sweeps" / f"{runs[0].profile}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"


def _finished_ok(results: Path, run: RunSpec, commit: str | None) -> Path | None:
    """A run folder under ``results/<slug>/`` whose run.json is ok for this commit and these parameters."""
    resolved = pipeline.check_run_parameters(run.slug, run.profile, run.seed, run.knob_dict())
    wanted = {"profile": run.profile, "device": run.device, "data_root": run.data_root, "seed": run.seed,
              **resolved}
    for record_path in sorted((results / run.slug).glob("*/run.json")):
        try:
            record = json.loads(record_path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if (record.get("status") == "ok" and commit and record.get("commit") == commit
                and not record.get("dirty") and record.get("parameters") == wanted):
            return record_path.parent
    return None


# ------------------------------------------------------------------------------------ job states


def slurm_available() -> tuple[bool, str]:
    """Whether a Slurm controller answers here, and why not."""
    if shutil.which("sbatch") is None or shutil.which("scontrol") is None:
        return False, "no Slurm client (sbatch/scontrol) on PATH"
    try:
        out = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as err:
        return False, f"scontrol ping failed: {err}"
    if out.returncode != 0 or " is UP" not in out.stdout:
        return False, f"no Slurm controller answers (scontrol ping: {(out.stdout + out.stderr).strip()[:200]})"
    return True, "ok"


def _expand_tasks(text: str) -> list[str]:
    """Slurm's ArrayTaskId field ("3", "0-2", "1,4-5%2") as task ids."""
    text = text.split("%")[0]
    tasks = []
    for part in text.split(","):
        if "-" in part:
            lo, hi = part.split("-")
            tasks += [str(i) for i in range(int(lo), int(hi) + 1)]
        elif part:
            tasks.append(part)
    return tasks


def _parse_scontrol(text: str) -> dict[str, dict]:
    """``scontrol show job -o`` output -> {job id ("123" or "123_4"): {state, node, elapsed_s, reason}}."""
    jobs = {}
    for line in text.splitlines():
        fields = dict(tok.split("=", 1) for tok in line.split() if "=" in tok)
        if "JobId" not in fields:
            continue
        info = {"state": fields.get("JobState", "UNKNOWN").split()[0], "node": fields.get("NodeList", ""),
                "elapsed_s": _slurm_seconds(fields.get("RunTime", "")), "reason": fields.get("Reason", "")}
        if fields.get("ArrayJobId") and fields.get("ArrayTaskId"):
            for task in _expand_tasks(fields["ArrayTaskId"]):
                jobs[f"{fields['ArrayJobId']}_{task}"] = info
        else:
            jobs[fields["JobId"]] = info
    return jobs


def _slurm_seconds(text: str) -> float | None:
    """"1-02:03:04", "02:03:04", "03:04" -> seconds."""
    if not text or text in ("INVALID", "UNLIMITED"):
        return None
    days = 0
    if "-" in text:
        d, text = text.split("-", 1)
        days = int(d)
    parts = [float(p) for p in text.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0.0)
    return days * 86400 + parts[0] * 3600 + parts[1] * 60 + parts[2]


def _slurm_jobs(job_ids: list[str]) -> dict[str, dict]:
    """What Slurm knows of these jobs: scontrol first (live and recently finished jobs), then sacct."""
    if not job_ids:
        return {}
    known = {}
    out = subprocess.run(["scontrol", "show", "job", "-o"], capture_output=True, text=True, timeout=60)
    if out.returncode == 0:
        known = _parse_scontrol(out.stdout)
    missing = [j for j in job_ids if j not in known]
    if missing and shutil.which("sacct"):
        out = subprocess.run(["sacct", "-n", "-X", "-P", "-o", "JobID,State,NodeList,ElapsedRaw", "-j",
                              ",".join(missing)], capture_output=True, text=True, timeout=60)
        if out.returncode == 0:
            for line in out.stdout.splitlines():
                parts = line.split("|")
                if len(parts) == 4 and parts[0] in missing:
                    known[parts[0]] = {"state": parts[1].split()[0], "node": parts[2],
                                       "elapsed_s": float(parts[3]) if parts[3].isdigit() else None, "reason": ""}
    return {j: known[j] for j in job_ids if j in known}


def _pid_alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def _submitit_outcome(attempt: dict) -> str | None:
    """"success"/"error" from submitit's result file of a job, or None when there is none."""
    import pickle

    path = Path(attempt["folder"]) / f"{attempt['job_id']}_{attempt.get('task', 0)}_result.pkl"
    if not path.exists():
        return None
    try:
        with path.open("rb") as fh:
            return pickle.load(fh)[0]
    except Exception:  # a half-written file: read again next time
        return None


def _run_state(item: dict, executor: str, slurm_info: dict) -> dict:
    """The state of a run: its latest attempt's run.json first, then what the executor knows."""
    if not item["attempts"]:
        return {"state": "not submitted", "job": "", "wall_s": None, "node": "", "log": "", "error": ""}
    attempt = item["attempts"][-1]
    row = {"job": attempt["job_id"], "wall_s": None, "node": "", "log": attempt.get("stderr", ""), "error": ""}
    if attempt.get("skipped_as"):
        return {**row, "state": "ok", "job": "(skipped)", "out_dir": attempt["skipped_as"]}
    record_path = Path(attempt["out_dir"]) / "run.json"
    record = None
    if record_path.exists():
        try:
            record = json.loads(record_path.read_text())
        except json.JSONDecodeError:
            record = None
    if record:
        row.update(wall_s=record.get("seconds"), node=record.get("node") or "")
        if record.get("status") in ("ok", "failed", "timeout"):
            return {**row, "state": record["status"], "error": (record.get("error") or "")[:300]}
    if attempt.get("final"):  # a state seen before and kept (scontrol forgets finished jobs)
        return {**row, **attempt["final"]}
    if executor == "slurm":
        info = slurm_info.get(attempt["job_id"])
        if info is not None:
            state = SLURM_STATES.get(info["state"], "failed")
            row.update(node=info["node"] or row["node"], wall_s=row["wall_s"] or info["elapsed_s"])
            if state == "completed":  # the job ended without the run saying ok or failed
                state = "failed"
                row["error"] = "the job ended but run.json never recorded an end"
            elif state not in ACTIVE_STATES:
                reason = "" if info["reason"] in ("", "None", "(null)") else info["reason"]
                row["error"] = f"Slurm: {info['state']} {reason}".strip()
            return {**row, "state": state}
    elif executor == "local":
        outcome = _submitit_outcome(attempt)
        if outcome is None and _pid_alive(attempt["job_id"]):
            return {**row, "state": "running" if record else "queued"}
        if outcome == "error":
            return {**row, "state": "failed", "error": "the job raised (see its log)"}
        if outcome is None and attempt.get("time_limit_min") and record and record.get("start"):
            started = dt.datetime.fromisoformat(record["start"])
            if (dt.datetime.now(dt.timezone.utc) - started).total_seconds() >= 60 * attempt["time_limit_min"]:
                return {**row, "state": "timeout", "error": "killed at its time limit"}
    return {**row, "state": "lost", "error": "the job is gone and its run never recorded an end"}


def sweep_status(sweep: Sweep) -> list[dict]:
    """One row per run: label, state, job, wall_s, node, log, error (and keeps final states seen)."""
    ids = [it["attempts"][-1]["job_id"] for it in sweep.runs
           if it["attempts"] and not it["attempts"][-1].get("skipped_as")]
    info = _slurm_jobs(ids) if sweep.executor == "slurm" else {}
    rows = []
    changed = False
    for item in sweep.runs:
        row = _run_state(item, sweep.executor, info)
        if item["attempts"] and row["state"] in ("cancelled", "timeout", "out_of_memory") and not item["attempts"][-1].get("final"):
            item["attempts"][-1]["final"] = {"state": row["state"], "error": row["error"], "node": row["node"]}
            changed = True
        rows.append({"run": item["label"], **row, "attempts": len(item["attempts"])})
    if changed:
        sweep.save()
    return rows


def format_status(rows: list[dict]) -> str:
    head = ["run", "state", "job", "wall", "node", "log / error"]
    body = []
    for r in rows:
        wall = "" if r["wall_s"] is None else f"{r['wall_s']:.0f} s"
        detail = ""
        if r["state"] not in ("ok", *ACTIVE_STATES):
            detail = f"{r['log']}  {r['error']}".strip()
        body.append([r["run"], r["state"], str(r["job"]), wall, r["node"], detail])
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head) - 1)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths)) + "  " + head[-1]]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[-1] for row in body]
    counts = {}
    for r in rows:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items()))
    return "\n".join(lines)


# --------------------------------------------------------------------------------------- submitting


def _executor(kind: str, folder: Path, *, time_limit: int, partition: str | None, gpus: int, cpus: int,
              mem_gb: float | None, array_parallelism: int | None, slurm_extra: dict | None):
    import submitit

    if kind == "slurm":
        ex = submitit.SlurmExecutor(folder=folder)
        params = dict(time=time_limit, gpus_per_node=gpus or None, cpus_per_task=cpus, ntasks_per_node=1,
                      nodes=1, job_name="companion-sweep", signal_delay_s=60)
        if partition:
            params["partition"] = partition
        if mem_gb:
            params["mem"] = f"{int(mem_gb * 1024)}M"
        if array_parallelism:
            params["array_parallelism"] = array_parallelism
        params.update(slurm_extra or {})
        ex.update_parameters(**{k: v for k, v in params.items() if v is not None})
        return ex
    if kind == "local":
        ex = submitit.LocalExecutor(folder=folder)
        ex.update_parameters(timeout_min=time_limit, gpus_per_node=gpus, cpus_per_task=cpus)
        return ex
    if kind == "debug":
        return submitit.DebugExecutor(folder=folder)
    raise SystemExit(f"sweep: --executor must be one of {EXECUTORS}, got {kind!r}")


def submit_sweep(runs: list[RunSpec], *, executor: str, sweep_dir: Path | None = None,
                 results: Path | None = None, time_factor: float = TIME_FACTOR, time_limit: int | None = None,
                 partition: str | None = None, gpus_per_job: int | None = None, cpus_per_job: int = 1,
                 mem_gb: float | None = None, jobs: int | None = None, slurm_extra: dict | None = None,
                 wait: bool = True, poll_s: float = 5.0, echo=print) -> Sweep:
    """Submit the runs that have not finished ok; with ``wait``, poll until every run has ended.

    ``jobs`` caps how many run at once (Slurm's array parallelism; the local executor's processes).
    ``gpus_per_job`` defaults to the notebook's stated GPUs for the profile (0 on the ci profile).
    """
    if executor not in EXECUTORS:
        raise SystemExit(f"sweep: --executor must be one of {EXECUTORS}, got {executor!r}")
    if jobs is not None and (not isinstance(jobs, int) or jobs < 1):
        raise SystemExit(f"sweep: --jobs must be a positive integer, got {jobs!r}")
    if executor == "slurm":
        ok, why = slurm_available()
        if not ok:
            raise SystemExit(f"sweep: --executor slurm needs a Slurm cluster here: {why}")
    results = Path(results or pipeline.RESULTS)
    folder = Path(sweep_dir) if sweep_dir else default_sweep_dir(results, runs)
    sweep = Sweep.load(folder) if (folder / "sweep.json").exists() else Sweep(folder, executor, runs[0].profile)
    if sweep.executor != executor:
        echo(f"sweep: {folder} was run with --executor {sweep.executor}; continuing it with {executor}")
        sweep.executor = executor
    for slug in dict.fromkeys(r.slug for r in runs):
        pipeline.sync(slug, quiet=True)  # once, before any job reads the .ipynb
    commit = pipeline._git("rev-parse", "HEAD") or None
    states = {row["run"]: row["state"] for row in sweep_status(sweep)}
    todo = []
    for run in runs:
        item = sweep.entry(run)
        if states.get(item["label"]) in ("ok", *ACTIVE_STATES):
            continue
        done = _finished_ok(results, run, commit)
        if done is not None:
            item["attempts"].append({"job_id": "", "skipped_as": str(done), "out_dir": str(done)})
            echo(f"{run.label}: finished ok for this commit in {done}; skipped")
            continue
        todo.append((run, item))
    sweep.save()
    if not todo:
        echo("sweep: nothing to submit")
    elif executor == "local" and jobs:
        _submit_local_throttled(sweep, todo, results, jobs=jobs, time_factor=time_factor, time_limit=time_limit,
                                gpus_per_job=gpus_per_job, cpus=cpus_per_job, mem_gb=mem_gb, poll_s=poll_s, echo=echo)
    else:
        _submit_groups(sweep, todo, results, executor=executor, time_factor=time_factor, time_limit=time_limit,
                       partition=partition, gpus_per_job=gpus_per_job, cpus=cpus_per_job, mem_gb=mem_gb,
                       jobs=jobs, slurm_extra=slurm_extra, echo=echo)
    if wait:
        wait_for(sweep, poll_s=poll_s, echo=echo)
    return sweep


def _out_dir(results: Path, run: RunSpec) -> Path:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    return results / run.slug / f"{run.profile}-seed{run.seed}-{run.key}-{stamp}"


def _job_shape(run: RunSpec, time_factor, time_limit, gpus_per_job) -> tuple[int, int]:
    minutes = time_limit_minutes(run.slug, run.profile, factor=time_factor, override=time_limit)
    gpus = gpus_per_job if gpus_per_job is not None else pipeline.notebook_costs(run.slug).get(run.profile, {}).get("gpus", 0)
    return minutes, gpus


def _record(item: dict, job, out_dir: Path, minutes: int, folder: Path) -> None:
    job_id = str(job.job_id)
    paths = getattr(job, "paths", None)
    item["attempts"].append({
        "job_id": job_id, "task": getattr(job, "task_id", 0) or 0, "folder": str(folder),
        "out_dir": str(out_dir), "time_limit_min": minutes,
        "stdout": str(paths.stdout) if paths else "", "stderr": str(paths.stderr) if paths else "",
        "submitted": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    })


def _submit_groups(sweep, todo, results, *, executor, time_factor, time_limit, partition, gpus_per_job, cpus,
                   mem_gb, jobs, slurm_extra, echo) -> None:
    """One job array per (time limit, GPUs) shape: a Slurm array shares its resources."""
    groups: dict[tuple, list] = {}
    for run, item in todo:
        groups.setdefault(_job_shape(run, time_factor, time_limit, gpus_per_job), []).append((run, item))
    for (minutes, gpus), members in groups.items():
        folder = sweep.folder / "jobs" / "%j"
        ex = _executor(executor, folder, time_limit=minutes, partition=partition, gpus=gpus, cpus=cpus,
                       mem_gb=mem_gb, array_parallelism=jobs, slurm_extra=slurm_extra)
        out_dirs = [_out_dir(results, run) for run, _ in members]
        specs = [asdict(run) for run, _ in members]
        if executor == "debug":
            for (run, item), spec, out in zip(members, specs, out_dirs):
                job = ex.submit(execute_run, spec, str(out))
                _record(item, job, out, minutes, job.paths.folder)
                sweep.save()
                _run_debug(job, run, echo)
            continue
        submitted = ex.map_array(execute_run, specs, [str(o) for o in out_dirs])
        for (run, item), job, out in zip(members, submitted, out_dirs):
            _record(item, job, out, minutes, job.paths.folder)
        sweep.save()
        echo(f"submitted {len(submitted)} job(s) ({executor}, {minutes} min, {gpus} GPU(s) each): "
             + ", ".join(str(j.job_id) for j in submitted))


def _run_debug(job, run: RunSpec, echo) -> None:
    """The debug executor runs the job when its result is asked for; its failure is the run's."""
    try:
        job.result()
    except Exception as err:  # recorded as failed in run.json by pipeline.run_profile
        echo(f"{run.label}: failed in the debug executor: {str(err).splitlines()[0][:200]}")


def _submit_local_throttled(sweep, todo, results, *, jobs, time_factor, time_limit, gpus_per_job, cpus, mem_gb,
                            poll_s, echo) -> None:
    """The local executor starts every job at once; keep ``jobs`` running and start the next as one ends."""
    queue = list(todo)
    running: list[dict] = []
    while queue or running:
        running = [item for item in running if _run_state(item, "local", {})["state"] in ACTIVE_STATES]
        while queue and len(running) < jobs:
            run, item = queue.pop(0)
            minutes, gpus = _job_shape(run, time_factor, time_limit, gpus_per_job)
            ex = _executor("local", sweep.folder / "jobs" / "%j", time_limit=minutes, partition=None, gpus=gpus,
                           cpus=cpus, mem_gb=mem_gb, array_parallelism=None, slurm_extra=None)
            out = _out_dir(results, run)
            job = ex.submit(execute_run, asdict(run), str(out))
            _record(item, job, out, minutes, job.paths.folder)
            sweep.save()
            running.append(item)
            echo(f"{run.label}: started (local job {job.job_id}, {minutes} min limit)")
        if queue:
            time.sleep(poll_s)


def wait_for(sweep: Sweep, *, poll_s: float = 5.0, timeout_s: float | None = None, echo=print) -> list[dict]:
    """Poll until no run is queued or running; print each state change; return the final rows."""
    seen: dict[str, str] = {}
    start = time.monotonic()
    while True:
        rows = sweep_status(sweep)
        for r in rows:
            if seen.get(r["run"]) != r["state"]:
                seen[r["run"]] = r["state"]
                echo(f"{r['run']}: {r['state']}" + (f" ({r['error']})" if r["error"] and r["state"] != "ok" else ""))
        if not any(r["state"] in ACTIVE_STATES for r in rows):
            return rows
        if timeout_s is not None and time.monotonic() - start > timeout_s:
            raise TimeoutError(f"sweep {sweep.folder}: runs still active after {timeout_s:.0f} s")
        time.sleep(poll_s)


def cancel_sweep(sweep: Sweep) -> list[str]:
    """Cancel every queued or running job of the sweep (scancel / kill); returns their ids."""
    rows = sweep_status(sweep)
    ids = [r["job"] for r in rows if r["state"] in ACTIVE_STATES]
    if not ids:
        return []
    if sweep.executor == "slurm":
        subprocess.run(["scancel", *ids], check=False)
    elif sweep.executor == "local":
        import signal

        for pid in ids:
            try:
                os.kill(int(pid), signal.SIGTERM)
            except (ValueError, ProcessLookupError):
                pass
    return ids


def plan_table(runs: list[RunSpec], *, time_factor: float = TIME_FACTOR, time_limit: int | None = None) -> str:
    """What a sweep would ask for, per notebook: runs, stated hours and GPUs per run, job time limit,
    and the total GPU-hours (CPU-hours for CPU notebooks) from the notebooks' ``COSTS``."""
    lines = ["| notebook | profile | runs | hours per run (stated) | GPUs per run | job time limit | GPU-hours | CPU-hours |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    gpu_total = cpu_total = 0.0
    for slug in dict.fromkeys(r.slug for r in runs):
        mine = [r for r in runs if r.slug == slug]
        cost = pipeline.notebook_costs(slug)[mine[0].profile]
        limit = time_limit_minutes(slug, mine[0].profile, factor=time_factor, override=time_limit)
        gpu_h = cost["hours"] * cost["gpus"] * len(mine)
        cpu_h = 0.0 if cost["gpus"] else cost["hours"] * len(mine)
        gpu_total += gpu_h
        cpu_total += cpu_h
        lines.append(f"| `{slug}` | {mine[0].profile} | {len(mine)} | {cost['hours']:g} | {cost['gpus']} | "
                     f"{limit} min | {gpu_h:g} | {cpu_h:g} |")
    lines.append(f"| **total** | | {len(runs)} | | | | **{gpu_total:g}** | **{cpu_total:g}** |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ summary


def summarize(sweep: Sweep) -> list[dict]:
    """Per slug: each seed's state and verdict (from the run's result.json) and the verdict across seeds.

    Across seeds: the common verdict when every finished seed agrees, else "mixed: ..." with counts;
    runs that did not finish ok are counted, never given a verdict.
    """
    rows = sweep_status(sweep)
    by_label = {it["label"]: it for it in sweep.runs}
    table: dict[str, dict] = {}
    for r in rows:
        item = by_label[r["run"]]
        spec = item["spec"]
        verdict = None
        if r["state"] == "ok":
            out_dir = Path(r.get("out_dir") or item["attempts"][-1]["out_dir"])
            result_path = out_dir / "result.json"
            if result_path.exists():
                verdict = json.loads(result_path.read_text()).get("verdict")
        entry = table.setdefault(spec["slug"], {"slug": spec["slug"], "profile": spec["profile"], "seeds": []})
        entry["seeds"].append({"seed": spec["seed"], "state": r["state"], "verdict": verdict})
    for entry in table.values():
        verdicts = [s["verdict"] for s in entry["seeds"] if s["verdict"]]
        missing = sum(1 for s in entry["seeds"] if not s["verdict"])
        counts = {v: verdicts.count(v) for v in dict.fromkeys(verdicts)}
        if not verdicts:
            entry["across"] = "no finished run"
        elif len(counts) == 1:
            entry["across"] = f"{verdicts[0]} ({len(verdicts)}/{len(entry['seeds'])} seeds)"
        else:
            entry["across"] = "mixed: " + ", ".join(f"{n}× {v}" for v, n in counts.items())
        if missing and verdicts:
            entry["across"] += f"; {missing} seed(s) without a result"
    return list(table.values())


def format_summary(entries: list[dict]) -> str:
    lines = ["| notebook | profile | per seed | across seeds |", "|---|---|---|---|"]
    for e in entries:
        per_seed = "; ".join(f"seed {s['seed']}: {s['verdict'] or s['state']}" for s in e["seeds"])
        lines.append(f"| `{e['slug']}` | {e['profile']} | {per_seed} | {e['across']} |")
    return "\n".join(lines)
