"""Sweeps (issue 15): planning, time limits, job states, summaries; the debug and local executors; and a
real one-node Slurm cluster (tools/slurm/up.sh, started by .ci/run and `make slurm-up`).

The Slurm tests skip with the reason when no controller answers (a laptop without Slurm); CI always
starts one, so there they always run. Every Slurm test has its own sweep folder and results folder: a
fresh cluster reuses job ids from 1, and submitit would read an old job's files otherwise.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from mlcompanion import pipeline
from mlcompanion import sweep as sw

CHEAP = "good_regulator"  # ~10 s of CPU in ci
FAILS_FAST = ("multi_similarity", "paper")  # with a missing data root it stops in its data check


# ------------------------------------------------------------------------------------ no executor


@pytest.mark.parametrize("slug", pipeline.notebook_slugs())
def test_every_notebook_states_a_cost_for_each_profile(slug):
    profiles = pipeline.notebook_profiles(slug)
    costs = pipeline.notebook_costs(slug)
    assert set(costs) == set(profiles), f"{slug}: COSTS has {sorted(costs)}, PROFILES has {sorted(profiles)}"
    assert costs["ci"]["gpus"] == 0
    assert costs["ci"]["hours"] <= 0.25, "a ci run is minutes on one CPU thread"


def test_time_limit_comes_from_the_stated_cost():
    hours = pipeline.notebook_costs("multi_similarity")["paper"]["hours"]
    assert sw.time_limit_minutes("multi_similarity", "paper") == max(10, int(-(-hours * 60 * 2 // 1)))
    assert sw.time_limit_minutes("multi_similarity", "paper", factor=3) == int(-(-hours * 60 * 3 // 1))
    assert sw.time_limit_minutes("good_regulator", "ci") == sw.TIME_FLOOR_MIN  # 36 s x 2 is below the floor
    assert sw.time_limit_minutes("good_regulator", "ci", override=3) == 3
    with pytest.raises(SystemExit, match="--time-limit"):
        sw.time_limit_minutes("good_regulator", "ci", override=0)
    with pytest.raises(SystemExit, match="--time-factor"):
        sw.time_limit_minutes("good_regulator", "ci", factor=float("nan"))


def test_plan_checks_every_run_before_submitting():
    runs = sw.plan_runs([CHEAP, "loki"], "ci", [0, 1])
    assert [r.label for r in runs] == [f"{CHEAP}/ci/seed0", f"{CHEAP}/ci/seed1", "loki/ci/seed0", "loki/ci/seed1"]
    assert len({r.key for r in runs}) == 4
    assert {r.device for r in runs} == {"cpu"}
    assert sw.plan_runs(["multi_similarity"], "paper", [0])[0].device == "cuda"  # its COSTS states a GPU
    with pytest.raises(SystemExit, match="no notebook"):
        sw.plan_runs(["no_such_paper"], "ci", [0])
    with pytest.raises(SystemExit, match="no profile"):
        sw.plan_runs([CHEAP], "nonsense", [0])
    with pytest.raises(SystemExit, match="unknown parameter"):
        sw.plan_runs([CHEAP], "ci", [0], knobs={"itertions": 3})
    with pytest.raises(SystemExit, match="seeds"):
        sw.plan_runs([CHEAP], "ci", [-1])
    with pytest.raises(SystemExit, match="repeat"):
        sw.plan_runs([CHEAP], "ci", [0, 0])


def test_scontrol_records_and_array_tasks_are_parsed():
    text = ("JobId=7 ArrayJobId=7 ArrayTaskId=2-3%2 JobState=PENDING Reason=Resources NodeList=(null) RunTime=00:00:00\n"
            "JobId=8 ArrayJobId=7 ArrayTaskId=1 JobState=TIMEOUT Reason=TimeLimit NodeList=n1 RunTime=00:01:05\n"
            "JobId=9 JobState=CANCELLED Reason=None NodeList=n1 RunTime=1-00:00:02\n")
    jobs = sw._parse_scontrol(text)
    assert set(jobs) == {"7_2", "7_3", "7_1", "9"}
    assert jobs["7_2"]["state"] == "PENDING" and jobs["7_1"]["state"] == "TIMEOUT"
    assert jobs["7_1"]["elapsed_s"] == 65 and jobs["9"]["elapsed_s"] == 86402
    assert sw._expand_tasks("0,4-6") == ["0", "4", "5", "6"]


def _fake_sweep(tmp_path, cases):
    """A sweep.json whose runs are in the given states: ("ok"|"failed" run.json, or a Slurm state, or None)."""
    sweep = sw.Sweep(tmp_path / "sweep", "slurm", "paper")
    info = {}
    for seed, (record_status, slurm_state) in enumerate(cases):
        run = sw.RunSpec("multi_similarity", "paper", seed, "cuda")
        out = tmp_path / f"run{seed}"
        out.mkdir()
        if record_status:
            (out / "run.json").write_text(json.dumps({"status": record_status, "seconds": 12.0, "node": "n1",
                                                      "error": "boom" if record_status == "failed" else None}))
            if record_status == "ok":
                (out / "result.json").write_text(json.dumps({"verdict": ["reproduced", "contradicted at this scale"][seed % 2]}))
        item = sweep.entry(run)
        item["attempts"].append({"job_id": f"5_{seed}", "task": 0, "folder": str(tmp_path), "out_dir": str(out),
                                 "stderr": f"/logs/5_{seed}.err", "time_limit_min": 10})
        if slurm_state:
            info[f"5_{seed}"] = {"state": slurm_state, "node": "n1", "elapsed_s": 61.0, "reason": "TimeLimit"}
    sweep.save()
    return sweep, info


def test_run_states_from_run_json_and_slurm(tmp_path, monkeypatch):
    cases = [("ok", "COMPLETED"), ("failed", "FAILED"), (None, "CANCELLED"), (None, "TIMEOUT"),
             (None, "OUT_OF_MEMORY"), (None, "COMPLETED"), (None, None), (None, "PENDING"), (None, "RUNNING")]
    sweep, info = _fake_sweep(tmp_path, cases)
    monkeypatch.setattr(sw, "_slurm_jobs", lambda ids: {j: info[j] for j in ids if j in info})
    rows = sw.sweep_status(sweep)
    assert [r["state"] for r in rows] == ["ok", "failed", "cancelled", "timeout", "out_of_memory", "failed", "lost",
                                          "queued", "running"]
    assert rows[1]["error"] == "boom"
    # a final state seen once is kept when Slurm forgets the job (MinJobAge)
    monkeypatch.setattr(sw, "_slurm_jobs", lambda ids: {})
    again = sw.Sweep.load(sweep.folder)
    assert [r["state"] for r in sw.sweep_status(again)][:5] == ["ok", "failed", "cancelled", "timeout", "out_of_memory"]
    table = sw.format_status(rows)
    assert "/logs/5_3.err" in table and "TIMEOUT" in table
    assert "/logs/5_0.err" not in table  # no log for a run that is ok


def test_summary_gives_each_seed_and_the_agreement(tmp_path, monkeypatch):
    sweep, info = _fake_sweep(tmp_path, [("ok", None), ("ok", None), ("ok", None), (None, "TIMEOUT")])
    monkeypatch.setattr(sw, "_slurm_jobs", lambda ids: {j: info[j] for j in ids if j in info})
    [entry] = sw.summarize(sweep)
    assert [s["verdict"] for s in entry["seeds"]] == ["reproduced", "contradicted at this scale", "reproduced", None]
    assert entry["across"] == "mixed: 2× reproduced, 1× contradicted at this scale; 1 seed(s) without a result"
    assert "seed 3: timeout" in sw.format_summary([entry])


@pytest.fixture
def no_post_mortem(monkeypatch):
    """submitit's debug executor opens pdb on a failing job; under pytest that would hang."""
    import pdb

    monkeypatch.setattr(pdb, "post_mortem", lambda *a, **k: None)


def test_debug_executor_records_a_failed_run(tmp_path, no_post_mortem):
    runs = sw.plan_runs([FAILS_FAST[0]], FAILS_FAST[1], [0], device="cpu", data_root=str(tmp_path / "absent"))
    lines = []
    sweep = sw.submit_sweep(runs, executor="debug", sweep_dir=tmp_path / "sweep", results=tmp_path / "results",
                            poll_s=0.2, echo=lines.append)
    [row] = sw.sweep_status(sweep)
    assert row["state"] == "failed"
    assert "absent" in row["error"] or "CUB" in row["error"], row
    record = json.loads(next((tmp_path / "results" / FAILS_FAST[0]).glob("*/run.json")).read_text())
    assert record["status"] == "failed" and record["parameters"]["data_root"] == str(tmp_path / "absent")


def test_local_executor_runs_then_a_second_sweep_skips(tmp_path):
    runs = sw.plan_runs([CHEAP], "ci", [3])
    lines = []
    sweep = sw.submit_sweep(runs, executor="local", jobs=1, sweep_dir=tmp_path / "sweep",
                            results=tmp_path / "results", poll_s=0.5, echo=lines.append)
    [row] = sw.sweep_status(sweep)
    assert row["state"] == "ok", (row, lines, _tail(sweep))
    out = Path(sweep.runs[0]["attempts"][-1]["out_dir"])
    record = json.loads((out / "run.json").read_text())
    assert record["parameters"]["seed"] == 3 and record["status"] == "ok"
    assert json.loads((out / "result.json").read_text())["verdict"] in ("reproduced", "partly reproduced",
                                                                       "contradicted at this scale",
                                                                       "inconclusive at this scale")
    again = []
    sw.submit_sweep(runs, executor="local", jobs=1, sweep_dir=tmp_path / "sweep", results=tmp_path / "results",
                    poll_s=0.5, echo=again.append)
    assert "sweep: nothing to submit" in again
    assert len(sw.Sweep.load(tmp_path / "sweep").runs[0]["attempts"]) == 1


def test_finished_ok_run_of_the_same_commit_is_found_in_any_sweep(tmp_path):
    run = sw.plan_runs([CHEAP], "ci", [0])[0]
    resolved = pipeline.check_run_parameters(CHEAP, "ci", 0, {})
    folder = tmp_path / CHEAP / "ci-seed0-old"
    folder.mkdir(parents=True)
    params = {"profile": "ci", "device": "cpu", "data_root": None, "seed": 0, **resolved}
    (folder / "run.json").write_text(json.dumps({"status": "ok", "commit": "abc", "dirty": False, "parameters": params}))
    assert sw._finished_ok(tmp_path, run, "abc") == folder
    assert sw._finished_ok(tmp_path, run, "def") is None  # another commit
    other = sw.plan_runs([CHEAP], "ci", [1])[0]
    assert sw._finished_ok(tmp_path, other, "abc") is None  # other parameters


def _tail(sweep: sw.Sweep) -> str:
    logs = sorted(Path(sweep.folder).rglob("*_log.*"))
    return "\n".join(f"--- {p}\n{p.read_text()[-1500:]}" for p in logs)


# ------------------------------------------------------------------------------------- real Slurm

SLURM_OK, SLURM_WHY = sw.slurm_available()
slurm = pytest.mark.skipif(not SLURM_OK, reason=f"no Slurm cluster here ({SLURM_WHY}); "
                                                "`make slurm-up` starts a one-node one")


def _wait(sweep, predicate, timeout_s):
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        rows = sw.sweep_status(sweep)
        if predicate(rows):
            return rows
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_s} s: {sw.format_status(sw.sweep_status(sweep))}\n{_tail(sweep)}")


@slurm
@pytest.mark.timeout(600)
def test_slurm_job_array_of_notebooks_end_to_end(tmp_path):
    runs = sw.plan_runs([CHEAP], "ci", [0, 1]) + sw.plan_runs(["loki"], "ci", [0])
    runs += sw.plan_runs([FAILS_FAST[0]], FAILS_FAST[1], [0], device="cpu", data_root=str(tmp_path / "absent"))
    lines = []
    sweep = sw.submit_sweep(runs, executor="slurm", sweep_dir=tmp_path / "sweep", results=tmp_path / "results",
                            wait=False, echo=lines.append)
    assert any(line.startswith("submitted 3 job(s) (slurm") for line in lines), lines  # one array for the ci runs
    rows = sw.wait_for(sweep, poll_s=1, timeout_s=540, echo=lines.append)
    states = {r["run"]: r for r in rows}
    for run in runs[:3]:
        row = states[run.label]
        assert row["state"] == "ok", (row, _tail(sweep))
        assert row["node"] == "companion-node"
        out = Path(next(it for it in sweep.runs if it["label"] == run.label)["attempts"][-1]["out_dir"])
        record = json.loads((out / "run.json").read_text())
        assert record["status"] == "ok" and record["slurm_job_id"] and record["parameters"]["seed"] == run.seed
        assert json.loads((out / "result.json").read_text())["slug"] == run.slug
    failed = states[runs[3].label]
    assert failed["state"] == "failed"
    assert Path(failed["log"]).exists() and "absent" in Path(failed["log"]).read_text() + failed["error"]
    summary = {e["slug"]: e for e in sw.summarize(sweep)}
    assert summary[CHEAP]["across"].endswith("(2/2 seeds)")
    assert summary[FAILS_FAST[0]]["across"] == "no finished run"
    # the same sweep again: the ok runs are skipped, the failed one is submitted again
    again = []
    sweep2 = sw.submit_sweep(runs, executor="slurm", sweep_dir=tmp_path / "sweep", results=tmp_path / "results",
                             wait=False, echo=again.append)
    assert any("submitted 1 job(s)" in line for line in again), again
    sw.wait_for(sweep2, poll_s=1, timeout_s=120, echo=again.append)
    attempts = {it["label"]: len(it["attempts"]) for it in sweep2.runs}
    assert attempts == {runs[0].label: 1, runs[1].label: 1, runs[2].label: 1, runs[3].label: 2}


@slurm
@pytest.mark.timeout(400)
def test_slurm_cancelled_and_timed_out_jobs_are_reported_not_waited_on(tmp_path):
    long = "equiangular_basis"  # minutes of CPU: outlives a 2-minute limit (warned at 1 minute)
    runs = sw.plan_runs([long], "ci", [0, 1])
    sweep = sw.submit_sweep(runs, executor="slurm", sweep_dir=tmp_path / "sweep", results=tmp_path / "results",
                            time_limit=2, wait=False, echo=lambda *_: None)
    _wait(sweep, lambda rows: all(r["state"] == "running" for r in rows), 60)
    first = sweep.runs[0]["attempts"][-1]["job_id"]
    subprocess.run(["scancel", first], check=True)
    rows = sw.wait_for(sweep, poll_s=1, timeout_s=300, echo=lambda *_: None)
    assert [r["state"] for r in rows] == ["cancelled", "timeout"], sw.format_status(rows)
    table = sw.format_status(rows)
    assert "CANCELLED" in table and "timed-out" in table
    record = json.loads((Path(sweep.runs[1]["attempts"][-1]["out_dir"]) / "run.json").read_text())
    assert record["status"] == "timeout"
    print(table)


@slurm
@pytest.mark.timeout(300)
def test_slurm_gives_each_job_its_gpu_and_a_third_waits(tmp_path):
    runs = sw.plan_runs([CHEAP], "ci", [0, 1, 2])
    sweep = sw.submit_sweep(runs, executor="slurm", sweep_dir=tmp_path / "sweep", results=tmp_path / "results",
                            gpus_per_job=1, wait=False, echo=lambda *_: None)
    rows = _wait(sweep, lambda rows: [r["state"] for r in rows].count("running") == 2, 60)
    assert [r["state"] for r in rows].count("queued") == 1, sw.format_status(rows)
    rows = sw.wait_for(sweep, poll_s=1, timeout_s=240, echo=lambda *_: None)
    assert [r["state"] for r in rows] == ["ok"] * 3, _tail(sweep)
    devices = []
    for item in sweep.runs:
        record = json.loads((Path(item["attempts"][-1]["out_dir"]) / "run.json").read_text())
        devices.append(record["cuda_visible_devices"])
    assert set(devices) <= {"0", "1"} and len(devices) == 3 and None not in devices


def test_slurm_tests_run_in_ci():
    """.ci/run starts the cluster, so there the Slurm tests must not skip."""
    if os.environ.get("COMPANION_CI") == "1":
        assert SLURM_OK, SLURM_WHY
