"""Repository checks: packaging files agree, every notebook is paired, executed, has its figures and
verdict, and the README and gallery say what the results say."""

import json
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import pytest
import yaml

from lib.gallery import VERDICTS, render_gallery
from lib.pipeline import REPO, notebook_slugs, paired_source

SLUGS = notebook_slugs()


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject_names():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return {_name(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]}


def test_environment_yml_names_the_same_packages_as_pyproject():
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    names = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            names |= {_name(d) for d in dep["pip"] if not d.startswith("-e")}
        elif not dep.startswith(("python", "pip")) or dep.startswith("pillow"):
            names.add(_name(dep))
    assert names == _pyproject_names()


def test_lock_pins_every_dependency():
    pins = {}
    for line in (REPO / "requirements/lock.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"lock line {line!r} is not an exact pin"
            pins[_name(name)] = version
    missing = _pyproject_names() - set(pins)
    assert not missing, f"requirements/lock.txt lacks {sorted(missing)}"
    assert pins["torch"] == "2.13.0"


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    assert "make test" in readme and "make figures" in readme
    assert "make test" in (REPO / ".ci/run").read_text()


def test_there_is_a_notebook():
    assert "multi_similarity" in SLUGS


@pytest.mark.parametrize("slug", SLUGS)
def test_notebook_is_paired_and_executed(slug):
    py, ipynb = REPO / "notebooks" / f"{slug}.py", REPO / "notebooks" / f"{slug}.ipynb"
    source = py.read_text()
    assert re.search(r'^# %% tags=\["parameters"\]', source, re.M), "no cell tagged parameters"
    assert "# NBVAL_CHECK_OUTPUT" in source
    assert ipynb.exists(), f"{ipynb.name} missing: run make figures"
    assert paired_source(ipynb).strip() == source.strip(), f"{ipynb.name} and {py.name} differ: run make figures"
    # Also without jupytext.toml: the notebook itself carries the pairing filters.
    plain = subprocess.run([sys.executable, "-m", "jupytext", "--to", "py:percent", "-o", "-", str(ipynb)],
                           capture_output=True, text=True, cwd=tempfile.gettempdir())
    assert plain.returncode == 0 and plain.stdout.strip() == source.strip(), f"{ipynb.name}: plain jupytext differs"
    nb = json.loads(ipynb.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c.get("execution_count") for c in code), "not every cell was executed"
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors


@pytest.mark.parametrize("slug", SLUGS)
def test_notebook_has_figures_and_a_verdict(slug):
    folder = REPO / "figures" / slug
    assert any(folder.glob("*.png")), f"figures/{slug}/ has no PNG: run make figures"
    record = json.loads((folder / "result.json").read_text())
    assert record["verdict"] in VERDICTS and record["profile"] == "ci"


def test_readme_status_matches_results():
    readme = (REPO / "README.md").read_text()
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `([a-z0-9_]+)` \|.*\| ([^|]+) \|$", readme, re.M)}
    assert len(rows) == 32
    for slug, status in rows.items():
        if slug in SLUGS:
            verdict = json.loads((REPO / "figures" / slug / "result.json").read_text())["verdict"]
            assert status.startswith(verdict), f"README says {status!r} for {slug}, its result.json says {verdict!r}"
        else:
            assert status.startswith("planned"), f"{slug} has no notebook but README says {status!r}"


def test_gallery_is_up_to_date():
    assert (REPO / "figures" / "README.md").read_text() == render_gallery(REPO / "figures")


def test_importing_lib_stays_light():
    """``import lib.losses`` etc. must not pull in scipy.stats or scikit-learn (about 0.75 s together):
    those load only when the function that needs them is called."""
    code = ("import sys, lib.losses, lib.metrics, lib.data, lib.train, lib.distances; "
            "print(sorted(m for m in ('scipy.stats', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_every_metric_name_resolves():
    import lib.metrics

    for name in lib.metrics.__all__:
        assert getattr(lib.metrics, name) is not None
    with pytest.raises(AttributeError):
        lib.metrics.no_such_metric
