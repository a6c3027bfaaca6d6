"""Repository checks: packaging files agree, every notebook is paired, executed, has its figures and
verdict, and the README and gallery say what the results say."""

import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import pytest
import yaml

from mlcompanion.gallery import LEGACY_VERDICTS, VERDICTS, render_gallery
from mlcompanion.verdict import Criterion, Outcome, decide
from mlcompanion.pipeline import REPO, notebook_slugs, paired_source

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
    assert record["profile"] == "ci"
    if record.get("criteria") is None:  # not yet on the shared rule (issue 12's notebooks)
        assert record["verdict"] in VERDICTS + LEGACY_VERDICTS
        return
    assert record["verdict"] in VERDICTS
    # the stored verdict is what the shared rule gives from the stored outcomes
    criteria = [Criterion(c["name"], c["claim"], role=c["role"], noise_free=c["noise_free"]) for c in record["criteria"]]
    outcomes = []
    for crit, c in zip(criteria, record["criteria"]):
        status = c["outcome"] if c.get("arms_converged", True) else "unconverged"
        outcomes.append(Outcome(crit, tuple(c["values"]), status))
    assert decide(outcomes) == record["verdict"], f"{slug}: result.json's verdict does not follow from its criteria"
    assert record["convergence"] is not None and record["budget"] and record["rows"], \
        f"{slug}: a notebook on the shared rule records convergence, budget and paper-vs-ours rows"


def test_readme_status_matches_results():
    """The README's paper table is what papers.toml and the committed result.json files generate."""
    from mlcompanion.papers import load_papers, sync_readme_table

    readme = REPO / "README.md"
    assert readme.read_text() == sync_readme_table(readme, REPO / "figures", write=False), \
        "README's paper table is stale: run `python -m mlcompanion.gallery`"
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `([a-z0-9_]+)` \|.*\| ([^|]+) \|$", readme.read_text(), re.M)}
    assert len(rows) == 32 == len(load_papers())
    for slug, status in rows.items():
        if slug in SLUGS:
            verdict = json.loads((REPO / "figures" / slug / "result.json").read_text())["verdict"]
            assert status.startswith(verdict), f"README says {status!r} for {slug}, its result.json says {verdict!r}"
        else:
            assert status.startswith("planned"), f"{slug} has no notebook but README says {status!r}"


def test_every_notebook_is_in_the_paper_registry():
    from mlcompanion.papers import load_papers

    assert set(SLUGS) <= {p["slug"] for p in load_papers()}


def test_gallery_is_up_to_date():
    assert (REPO / "figures" / "README.md").read_text() == render_gallery(REPO / "figures")


def test_importing_lib_stays_light():
    """``import mlcompanion.losses`` etc. must not pull in scipy.stats or scikit-learn (about 0.75 s together):
    those load only when the function that needs them is called."""
    code = ("import sys, mlcompanion.losses, mlcompanion.metrics, mlcompanion.data, mlcompanion.train, mlcompanion.distances; "
            "print(sorted(m for m in ('scipy.stats', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_every_metric_name_resolves():
    import mlcompanion.metrics

    for name in mlcompanion.metrics.__all__:
        assert getattr(mlcompanion.metrics, name) is not None
    with pytest.raises(AttributeError):
        mlcompanion.metrics.no_such_metric


def test_readme_training_loop_example_runs():
    """The README's "Use the losses in your own training loop" block, executed as it stands."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Use the losses in your own training loop", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    loss, recall = re.match(r"loss ([0-9.]+), Recall@1 ([0-9.]+)", out.stdout).groups()
    assert 0 <= float(recall) <= 1 and float(loss) >= 0


# Absolute paths of a machine (home folders, this workplace, temp and venv folders) in a committed output.
_MACHINE_PATH = re.compile(r"(/home/[\w.-]+|/root/|/Users/[\w.-]+|/work/|/tmp/|[A-Z]:\\\\Users|site-packages|\.venv/)")


@pytest.mark.parametrize("slug", SLUGS)
def test_committed_notebook_outputs_hold_no_machine_paths_or_widget_warnings(slug):
    nb = json.loads((REPO / "notebooks" / f"{slug}.ipynb").read_text())
    for i, cell in enumerate(nb["cells"]):
        for output in cell.get("outputs", []):
            text = "".join(output.get("text", "")) + "".join(
                "".join(v) for k, v in output.get("data", {}).items() if k.startswith("text/"))
            assert "TqdmWarning" not in text, f"{slug} cell {i}: {text[:200]}"
            match = _MACHINE_PATH.search(text)
            assert match is None, f"{slug} cell {i} shows a machine path {match.group(0)!r}: {text[:300]}"


@pytest.mark.parametrize("slug", SLUGS)
def test_committed_notebook_shows_its_figures_inline(slug):
    source = (REPO / "notebooks" / f"{slug}.py").read_text()
    nb = json.loads((REPO / "notebooks" / f"{slug}.ipynb").read_text())
    images = sum("image/png" in o.get("data", {}) for c in nb["cells"] for o in c.get("outputs", []))
    # A figure of wall-clock timings (savefig(..., timing=True)) sits in a cell tagged "timing", whose
    # committed output is a note instead (outputs of the committed notebooks depend on the code alone).
    saved = len(re.findall(r"savefig\(fig, SLUG, \"[\w-]+\"", source)) - source.count("timing=True")
    assert saved > 0 and images >= saved, f"{slug}: {images} inline figures for {saved} saved"
    captions = sum("**Figure.**" in "".join(o.get("data", {}).get("text/markdown", ""))
                   for c in nb["cells"] for o in c.get("outputs", []))
    assert captions >= saved, f"{slug}: {captions} captions under {saved} saved figures"


def _committed_figures():
    return sorted(p for p in (REPO / "figures").rglob("*.png"))


@pytest.mark.parametrize("png", _committed_figures(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_committed_figure_has_a_caption_and_is_legible_at_page_width(png):
    """Every committed figure went through plotting.savefig with a caption, and its smallest text shows
    at MIN_TEXT_PX or more on the site's page (what savefig measured and wrote into the PNG)."""
    from PIL import Image

    from mlcompanion.plotting import MIN_TEXT_PX

    with Image.open(png) as image:
        text = dict(image.text)
    assert len(text.get("Description", "")) >= 10, f"{png.name}: no caption"
    assert "Companion-Min-Text-Px" in text, f"{png.name}: not written by plotting.savefig"
    assert float(text["Companion-Min-Text-Px"]) >= MIN_TEXT_PX, (
        f"{png.parent.name}/{png.name}: smallest text {text['Companion-Min-Text-Px']} px on the page")


def test_package_installs_next_to_a_users_own_lib_package(tmp_path):
    """A user's project with its own `lib` package: installing ours (not editable) into a fresh
    target and importing both gives each its own modules, and nothing lands in a folder named lib."""
    target = tmp_path / "site"
    build = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                            "--no-cache-dir", "--target", str(target), str(REPO)],
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    assert (target / "mlcompanion" / "losses" / "pair.py").exists()
    assert (target / "mlcompanion" / "_native" / "exact_sqrt.c").exists()
    assert not (target / "lib").exists()
    project = tmp_path / "project"
    (project / "lib").mkdir(parents=True)
    (project / "lib" / "__init__.py").write_text("")
    (project / "lib" / "losses.py").write_text('MINE = "the user lib"\n')
    code = ("import lib.losses, mlcompanion.losses, mlcompanion.plotting as p; "
            "print(lib.losses.MINE); print(mlcompanion.losses.__file__); print(p.figures_root())")
    env = {**os.environ, "PYTHONPATH": f"{project}{os.pathsep}{target}"}
    env.pop("COMPANION_FIGURES_DIR", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=project, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    mine, ours, figures = out.stdout.splitlines()
    assert mine == "the user lib"
    assert ours.startswith(str(target))
    assert figures == str(project / "figures")  # never inside site-packages
