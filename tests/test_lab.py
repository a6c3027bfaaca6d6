"""`make lab` as a reader meets it: a running JupyterLab server (the configuration the repository
ships, installed into .venv by `make env`) opens `notebooks/<slug>.py` as a notebook with the outputs
of the paired .ipynb and a kernel, and its document manager's default viewer for Python files is
jupytext's notebook view."""

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from mlcompanion.pipeline import REPO


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory):
    port, token = _free_port(), secrets.token_hex(16)
    runtime = tmp_path_factory.mktemp("jupyter-runtime")
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--ServerApp.token={token}", "--ServerApp.root_dir=" + str(REPO), "--allow-root"]
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime)}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail(f"jupyter lab did not start: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.5)
    yield lambda path: json.loads(urllib.request.urlopen(f"{base}{path}{'&' if '?' in path else '?'}token={token}",
                                                         timeout=60).read())
    proc.terminate()
    proc.wait(timeout=30)


def test_py_notebook_opens_as_a_notebook_with_outputs_and_a_kernel(lab_server):
    model = lab_server("/api/contents/notebooks/good_regulator.py?type=notebook&content=1")
    assert model["type"] == "notebook"
    nb = model["content"]
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert sum(bool(c["outputs"]) for c in code) >= len(code) // 2  # the paired .ipynb's outputs
    assert any("image/png" in o.get("data", {}) for c in code for o in c["outputs"])  # figures inline


def test_python_files_open_in_jupytext_notebook_view(lab_server):
    plugin = lab_server("/lab/api/settings/@jupyterlab/docmanager-extension:plugin")
    # An application-level override becomes the setting's default (a user's own choice still wins).
    default = plugin["schema"]["properties"]["defaultViewers"]["default"]
    assert default["python"] == "Jupytext Notebook"
    assert "python" not in plugin["settings"].get("defaultViewers", {})
