"""The notebook pipeline: profiles, the papermill -> jupytext round trip, the paper path on a fake
CUB folder, and the gallery."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lib.gallery import build_gallery, write_result
from lib.pipeline import REPO, _clean_executed, paired_source
from lib.profiles import resolve_profile

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
    return subprocess.run([sys.executable, "-m", "lib.pipeline", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_paper_path_without_data_stops_with_a_clear_message(tmp_path):
    out = _run_pipeline(["run", "multi_similarity", "--profile", "paper", "--data-root", str(tmp_path / "nope")],
                        {"COMPANION_RESULTS_DIR": str(tmp_path / "results")})
    assert out.returncode != 0
    message = out.stdout + out.stderr
    assert "DatasetNotFoundError" in message and "CUB-200-2011" in message
    assert "image_class_labels.txt" in message  # the expected layout is drawn


def test_unknown_parameter_name_is_rejected(tmp_path):
    out = _run_pipeline(["run", "multi_similarity", "--profile", "paper", "-p", "itertions", "3"],
                        {"COMPANION_RESULTS_DIR": str(tmp_path)})
    assert out.returncode != 0 and "unknown parameter(s) ['itertions']" in out.stdout + out.stderr


def test_paper_path_end_to_end_on_fake_cub(tmp_path):
    """The paper profile (ResNet-50 from a local weights file, CUB loader, transforms, all arms)
    runs end to end on a tiny fake CUB folder, so that path cannot rot unnoticed."""
    from fake_datasets import make_fake_cub

    from lib.models import resnet50

    cub = make_fake_cub(tmp_path / "CUB_200_2011", n_classes=8, images_per_class=3, size=48)
    weights = tmp_path / "resnet50.pth"
    torch.manual_seed(0)
    torch.save(resnet50().state_dict(), weights)
    results = tmp_path / "results"
    params = {"iterations": "2", "classes_per_batch": "2", "samples_per_class": "2", "resize": "40",
              "crop": "32", "embedding_dim": "8", "num_workers": "0", "backbone_weights": str(weights)}
    args = ["run", "multi_similarity", "--profile", "paper", "--data-root", str(cub)]
    for name, value in params.items():
        args += ["-p", name, value]
    out = _run_pipeline(args, {"COMPANION_RESULTS_DIR": str(results)})
    assert out.returncode == 0, out.stdout + out.stderr
    (run_dir,) = (results / "multi_similarity").iterdir()
    assert (run_dir / "multi_similarity.ipynb").exists()
    record = json.loads((run_dir / "figures" / "multi_similarity" / "result.json").read_text())
    assert record["profile"] == "paper"
    assert set(record["ours"]) >= {"ms R@1", "contrastive R@1"}
    assert (run_dir / "figures" / "multi_similarity" / "retrieval.png").exists()


def test_gallery(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_FIGURES_DIR", str(tmp_path))
    path = write_result("toy", title="Toy paper", claim="A beats B.", verdict="partly reproduced",
                        explanation="A wins on 2 of 3 seeds.", ours={"A R@1": 0.81234}, paper={"A R@1": 0.657},
                        profile="ci")
    assert json.loads(path.read_text())["ours"]["A R@1"] == 0.812
    (tmp_path / "toy" / "fig.png").write_bytes(b"png")
    text = build_gallery(tmp_path).read_text()
    assert "## Toy paper (`toy`)" in text and "| A R@1 | 0.657 | 0.812 |" in text and "toy/fig.png" in text
    with pytest.raises(ValueError, match="verdict"):
        write_result("toy", title="t", claim="c", verdict="yes", explanation="e", ours={}, paper={}, profile="ci")
    with pytest.raises(ValueError, match="finite"):
        write_result("toy", title="t", claim="c", verdict="reproduced", explanation="e",
                     ours={"x": float("nan")}, paper={}, profile="ci")
