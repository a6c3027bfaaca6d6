"""The CPU pins (lib/mlcompanion/_cpu_pins.py, lib/mlcompanion/repro.py): in force in this process, in a fresh interpreter and
inside a Jupyter kernel; torch.sqrt correctly rounded; and the fingerprint of the ops the notebooks
depend on equal to the committed one, which is what makes the committed outputs portable: on any
x86-64 CPU with AVX2 (Intel or AMD, with or without AVX-512) this test must pass, and where it fails
it names the op that differs."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mlcompanion import _cpu_pins
from mlcompanion.pipeline import REPO, notebook_slugs
from mlcompanion.repro import CPU_PINS, cpu_pins_in_force, cpu_report

GOLDEN = Path(__file__).parent / "data" / "cpu_fingerprint.json"
needs_pins = pytest.mark.skipif(not _cpu_pins.cpu_supports_pins(), reason="the pins need an x86-64 CPU with AVX2 and FMA")


@needs_pins
def test_pins_are_in_force_in_the_test_process():
    report = cpu_report()
    assert report["pins"] == CPU_PINS
    assert report["torch_cpu_capability"] == "AVX2"
    assert report["exact_sqrt"] and report["pins_in_force"]


@needs_pins
def test_pins_are_in_force_in_a_fresh_interpreter_of_the_environment():
    code = "import json, mlcompanion.repro as r; print(json.dumps(r.cpu_report()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=_clean_env())
    assert json.loads(out.stdout)["pins_in_force"]


@needs_pins
def test_pins_are_in_force_inside_a_notebook_kernel():
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3", env=_clean_env())
    try:
        outputs = []
        client.execute_interactive(
            "import json, mlcompanion.repro as r; print(json.dumps(r.cpu_report()))",
            output_hook=lambda msg: outputs.append(msg["content"].get("text", "")),
            timeout=120,
        )
        report = json.loads("".join(outputs))
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    assert report["pins"] == CPU_PINS and report["torch_cpu_capability"] == "AVX2"
    assert report["exact_sqrt"] and report["pins_in_force"]


def test_pins_can_be_lifted_for_one_process_tree():
    env = _clean_env() | {"COMPANION_CPU_PINS": "0"}
    code = "import json, mlcompanion.repro as r; print(json.dumps(r.cpu_report()))"
    report = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout)
    assert not report["pins_in_force"] and not report["exact_sqrt"]
    assert all(value is None for value in report["pins"].values())


def test_apply_does_nothing_on_a_cpu_without_avx2(monkeypatch):
    monkeypatch.setattr(_cpu_pins, "cpu_supports_pins", lambda: False)
    for key in CPU_PINS:
        monkeypatch.delenv(key, raising=False)
    _cpu_pins.apply()
    assert not any(key in __import__("os").environ for key in CPU_PINS)


@needs_pins
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torch_sqrt_is_correctly_rounded(dtype):
    g = torch.Generator().manual_seed(0)
    x = torch.cat([
        torch.rand(100_000, generator=g, dtype=torch.float64).mul(60).sub(30).exp2(),  # 2^-30 .. 2^30
        torch.tensor([0.0, 1.0, 2.0, 1e-40, 1e-310, float("inf")], dtype=torch.float64),
    ]).to(dtype)
    got = torch.sqrt(x).numpy()
    if dtype == torch.float32:  # float64 sqrt rounded to float32 is the correctly rounded float32 sqrt
        expected = np.sqrt(x.numpy().astype(np.float64)).astype(np.float32)
    else:
        expected = np.sqrt(x.numpy())  # IEEE sqrt (numpy's sqrtpd/sqrtsd)
    assert np.array_equal(got, expected)
    assert torch.sqrt(torch.tensor([-1.0, float("nan")], dtype=dtype)).isnan().all()


@needs_pins
def test_fingerprint_of_the_ops_the_notebooks_use_matches_the_committed_one():
    golden = json.loads(GOLDEN.read_text())
    # A fresh process (the fingerprint sets global torch state); as `make` would start it.
    tool = [sys.executable, str(REPO / "tools" / "cpu_fingerprint.py"), "--quick", "--json"]
    ours = json.loads(subprocess.run(tool, capture_output=True, text=True, check=True).stdout)["fingerprints"]
    assert set(ours) == set(golden["fingerprints"])
    differ = {op: (golden["fingerprints"][op], digest) for op, digest in ours.items() if golden["fingerprints"][op] != digest}
    assert not differ, (
        f"these ops compute other bits on this CPU ({cpu_report()['cpu_model']}) than on "
        f"{golden['cpu']['cpu_model']} under the same pins, so the committed notebook outputs will not "
        f"reproduce here: {differ}"
    )


@pytest.mark.parametrize("slug", notebook_slugs())
def test_committed_notebook_records_the_pins_it_ran_under(slug):
    import nbformat

    cpu = nbformat.read(REPO / "notebooks" / f"{slug}.ipynb", as_version=4).metadata["companion"]["cpu"]
    assert cpu["pins"] == CPU_PINS and cpu["torch_cpu_capability"] == "AVX2"
    assert cpu["exact_sqrt"] and cpu["pins_in_force"]


def _clean_env() -> dict:
    """This process's environment without the pins, so a child must set them up itself."""
    import os

    return {key: value for key, value in os.environ.items() if key not in CPU_PINS}
