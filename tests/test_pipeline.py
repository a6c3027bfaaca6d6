"""The notebook pipeline: profiles, the papermill -> jupytext round trip, the paper path on a fake
CUB folder, and the gallery."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mlcompanion.gallery import build_gallery, write_result
from mlcompanion.pipeline import REPO, _clean_executed, paired_source
from mlcompanion.profiles import resolve_profile

PROFILES = {"ci": {"iterations": 10, "lr": 1e-3, "arms": ["a", "b"], "name": "x"},
            "paper": {"iterations": 3000, "lr": 3e-5, "arms": ["a"], "name": "y"}}


def test_resolve_profile_fills_and_overrides():
    p = resolve_profile(PROFILES, "ci", iterations=None, lr=2e-3)
    assert (p.iterations, p.lr, p.arms, p.device, p.seed, p.data_root) == (10, 2e-3, ["a", "b"], "cpu", 0, None)
    assert resolve_profile(PROFILES, "paper", data_root="/x").data_root == Path("/x")


@pytest.mark.parametrize("kwargs,message", [
    ({"profile": "gpu"}, "unknown profile 'gpu'"),
    ({"iterashuns": 3}, "not in profile"),
    ({"iterations": "10"}, "must be of type int"),
    ({"iterations": 2.5}, "must be of type int"),
    ({"arms": "a"}, "must be of type list"),
    ({"seed": -1}, "seed"),
    ({"device": "tpu"}, "device"),
])
def test_resolve_profile_rejects(kwargs, message):
    kwargs = {"profile": "ci", **kwargs}
    with pytest.raises(ValueError, match=message):
        resolve_profile(PROFILES, kwargs.pop("profile"), **kwargs)


def test_resolve_profile_rejects_stray_parameters():
    namespace = {"profile": "ci", "iterations": None, "itertions": 5, "In": [], "_": None, "PROFILES": {}}
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['itertions'\]"):
        resolve_profile(PROFILES, "ci", namespace=namespace, iterations=None)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_cuda_without_gpu_is_a_clear_error():
    with pytest.raises(ValueError, match="no CUDA GPU"):
        resolve_profile(PROFILES, "ci", device="cuda")


def test_papermill_roundtrip_is_identity(tmp_path):
    """.py -> .ipynb -> papermill -> cleaned .ipynb -> .py gives back the same text."""
    import jupytext
    import papermill as pm

    source = (
        '# %% [markdown]\n# # A title\n\n'
        '# %% tags=["parameters"]\nprofile = "ci"\nseed = 0\n\n'
        '# %%\nprint(seed + 1)\n\n'
        '# %%\n# NBVAL_CHECK_OUTPUT\nprint("done")\n'
    )
    py = tmp_path / "toy.py"
    py.write_text(source)
    (tmp_path / "jupytext.toml").write_text((REPO / "jupytext.toml").read_text())
    ipynb = tmp_path / "toy.ipynb"
    nb = jupytext.read(py)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    jupytext.write(nb, ipynb)
    pm.execute_notebook(str(ipynb), str(ipynb), kernel_name="python3", progress_bar=False)
    _clean_executed(ipynb)
    assert paired_source(ipynb).strip() == source.strip()
    outputs = [c.get("outputs") for c in json.loads(ipynb.read_text())["cells"] if c["cell_type"] == "code"]
    assert "".join(outputs[1][0]["text"]) == "1\n"


def _run_pipeline(args, env_extra, timeout=600):
    env = {**os.environ, **env_extra}
    return subprocess.run([sys.executable, "-m", "mlcompanion.pipeline", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_paper_path_without_data_stops_with_a_clear_message(tmp_path):
    out = _run_pipeline(["run", "multi_similarity", "--profile", "paper", "--data-root", str(tmp_path / "nope")],
                        {"COMPANION_RESULTS_DIR": str(tmp_path / "results")})
    assert out.returncode != 0
    message = out.stdout + out.stderr
    assert "DatasetNotFoundError" in message and "CUB-200-2011" in message
    assert "image_class_labels.txt" in message  # the expected layout is drawn


def test_paper_path_end_to_end_on_fake_cub(tmp_path):
    """The paper profile (ResNet-50 from a local weights file, CUB loader, transforms, all arms)
    runs end to end on a tiny fake CUB folder, so that path cannot rot unnoticed."""
    from fake_datasets import make_fake_cub

    from mlcompanion.models import resnet50

    cub = make_fake_cub(tmp_path / "CUB_200_2011", n_classes=8, images_per_class=3, size=48)
    weights = tmp_path / "resnet50.pth"
    torch.manual_seed(0)
    torch.save(resnet50().state_dict(), weights)
    results = tmp_path / "results"
    params = {"iterations": "2", "classes_per_batch": "2", "samples_per_class": "2", "resize": "40",
              "crop": "32", "embedding_dim": "8", "extra_embedding_dims": "[4]", "n_seeds": "1",
              "num_workers": "0", "backbone_weights": str(weights)}
    args = ["run", "multi_similarity", "--profile", "paper", "--data-root", str(cub)]
    for name, value in params.items():
        args += ["-p", name, value]
    out = _run_pipeline(args, {"COMPANION_RESULTS_DIR": str(results)})
    assert out.returncode == 0, out.stdout + out.stderr
    (run_dir,) = (results / "multi_similarity").iterdir()
    assert run_dir.name.startswith("paper-") and run_dir.name.endswith("Z")
    assert (run_dir / "multi_similarity.ipynb").exists()
    record = json.loads((run_dir / "result.json").read_text())
    assert record["profile"] == "paper"
    assert set(record["ours"]) >= {"ms R@1", "contrastive R@1", "ms_4d R@1"}  # extra_embedding_dims: MS at 4-d too
    assert record["verdict"] == "inconclusive at this scale"  # one seed, two iterations: nothing can be clear
    assert (run_dir / "figures" / "retrieval.png").exists()
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "ok" and run["error"] is None
    assert run["parameters"]["iterations"] == 2 and run["parameters"]["embedding_dim"] == 8
    assert run["parameters"]["data_root"] == str(cub.resolve()) and run["parameters"]["seed"] == 0
    assert len(run["commit"]) == 40 and isinstance(run["dirty"], bool)
    assert run["torch"] == torch.__version__ and run["python"] and run["start"] <= run["end"]
    assert run["cpu"]["pins_in_force"] == (run["cpu"]["torch_cpu_capability"] == "AVX2")


def test_failed_run_exits_non_zero_and_is_recorded_as_failed(tmp_path):
    """A paper run on a missing dataset fails inside the kernel: exit status 1, run.json says failed."""
    results = tmp_path / "results"
    out = _run_pipeline(["run", "multi_similarity", "--profile", "paper", "--data-root", str(tmp_path / "nope")],
                        {"COMPANION_RESULTS_DIR": str(results)})
    assert out.returncode == 1
    (run_dir,) = (results / "multi_similarity").iterdir()
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "failed" and "DatasetNotFoundError" in run["error"] and run["end"]
    assert not (run_dir / "result.json").exists()


@pytest.mark.parametrize("args, message", [
    (["--profile", "papr"], "no profile 'papr'; its profiles: ci, paper"),
    (["--profile", "paper", "-p", "iterations", "'many'"], "parameter 'iterations' must be of type int"),
    (["--profile", "paper", "-p", "itertions", "3"], "unknown parameter(s) ['itertions']"),
])
def test_bad_run_parameters_are_refused_before_a_kernel_starts(tmp_path, args, message):
    results = tmp_path / "results"
    out = _run_pipeline(["run", "multi_similarity", *args], {"COMPANION_RESULTS_DIR": str(results)}, timeout=60)
    assert out.returncode != 0 and message in out.stdout + out.stderr
    assert not results.exists()  # no run folder that could pass for a result


def test_knobs_lists_profiles_and_values():
    out = _run_pipeline(["knobs", "multi_similarity"], {}, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "profiles ci, paper" in lines[0]
    (row,) = [line for line in lines if line.startswith("iterations ")]
    ci, paper = row.split()[1:3]
    assert int(ci) < int(paper)


def test_sync_keeps_an_edit_made_to_the_ipynb(tmp_path, monkeypatch):
    """The lost-edit case: a cell edited in Lab (the .ipynb, newer) survives `make sync`, and the
    reverse: an edit to the .py (newer) reaches the .ipynb with its other outputs kept."""
    import nbformat

    from mlcompanion import pipeline

    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    for name in ("good_regulator.py", "good_regulator.ipynb"):
        (notebooks / name).write_bytes((REPO / "notebooks" / name).read_bytes())
    monkeypatch.setattr(pipeline, "NOTEBOOKS", notebooks)
    py, ipynb = notebooks / "good_regulator.py", notebooks / "good_regulator.ipynb"
    os.utime(py, (1_000, 1_000))
    nb = nbformat.read(ipynb, as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code" and c.outputs)
    cell.source += "\n# edited in Lab"
    nbformat.write(nb, ipynb)
    pipeline.sync("good_regulator")
    assert "# edited in Lab" in py.read_text()
    assert pipeline.paired_source(ipynb).strip() == py.read_text().strip()

    os.utime(ipynb, (2_000, 2_000))
    py.write_text(py.read_text().replace("# edited in Lab", "# edited in the .py"))
    n_outputs = sum(bool(c.get("outputs")) for c in nbformat.read(ipynb, as_version=4).cells)
    pipeline.sync("good_regulator")
    nb = nbformat.read(ipynb, as_version=4)
    assert any("# edited in the .py" in c.source for c in nb.cells)
    assert sum(bool(c.get("outputs")) for c in nb.cells) >= n_outputs - 1  # only the edited cell may lose its outputs


def test_gallery(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_FIGURES_DIR", str(tmp_path))
    path = write_result("toy", title="Toy paper", claim="A beats B.", verdict="partly reproduced",
                        explanation="A wins on 2 of 3 seeds.", ours={"A R@1": 0.81234}, paper={"A R@1": 0.657},
                        profile="ci")
    assert json.loads(path.read_text())["ours"]["A R@1"] == 0.812
    import matplotlib.pyplot as plt

    from mlcompanion.plotting import savefig

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1], [1, 0])
    savefig(fig, "toy", "fig", caption="A falling line | with a pipe.")
    plt.close(fig)
    text = build_gallery(tmp_path).read_text()
    assert "## Toy paper (`toy`)" in text and "| A R@1 | 0.657 | 0.812 |" in text and "toy/fig.png" in text
    assert "**fig.** A falling line | with a pipe." in text  # the caption under its image
    with pytest.raises(ValueError, match="verdict"):
        write_result("toy", title="t", claim="c", verdict="yes", explanation="e", ours={}, paper={}, profile="ci")
    with pytest.raises(ValueError, match="finite"):
        write_result("toy", title="t", claim="c", verdict="reproduced", explanation="e",
                     ours={"x": float("nan")}, paper={}, profile="ci")
