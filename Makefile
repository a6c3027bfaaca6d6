# The companion's commands. `make figures` and `make test` set everything up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Every Python process of the venv pins its CPU code paths at start-up (lib/mlcompanion/_cpu_pins.py says which
# and why): make, the pipeline, papermill's kernels, pytest and nbval, jupyter lab.
PINS := $(VENV)/.cpu-pins
# JupyterLab opens the paired .py notebooks as notebooks (jupytext's viewer), for everyone: an
# application-level settings override inside the venv, copied from the repository.
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json
READY := $(PINS) $(LAB_SETTINGS)

# Deterministic numerics: one thread per process (results change with the thread count).
export OMP_NUM_THREADS := 1
export MKL_NUM_THREADS := 1
export OPENBLAS_NUM_THREADS := 1
export PYTHONHASHSEED := 0
export PYDEVD_DISABLE_FILE_VALIDATION := 1

NB ?=
PROFILE ?= ci
DEVICE ?= cpu
DATA_ROOT ?=
SEED ?= 0
JOBS ?= 2

SLURM_DIR ?= .slurm
SWEEP ?=

.PHONY: help env figures test test-lib nb knobs lab sync bench lock clean sweep slurm-up slurm-down site site-deps serve

help:
	@echo "make figures   run every notebook (ci profile) and regenerate figures/ (sets up .venv if missing)"
	@echo "make test      unit + reference tests of lib, repo checks, nbval of every committed notebook"
	@echo "make nb NB=multi_similarity [PROFILE=paper DEVICE=cuda DATA_ROOT=/data/CUB_200_2011]"
	@echo "make knobs NB=multi_similarity   a notebook's profiles and knobs (all notebooks without NB)"
	@echo "make lab       JupyterLab; the .py notebooks open as notebooks"
	@echo "make sync      make every .py/.ipynb pair agree (the newer file wins; an edit in Lab is kept)"
	@echo "make bench     loss benchmarks against pytorch-metric-learning"
	@echo "make sweep SWEEP='--profile paper --slugs metrix --seeds 0 1 2 --executor slurm --partition gpu'"
	@echo "               every notebook x seed as a job (python -m mlcompanion.pipeline sweep --help)"
	@echo "make slurm-up  a one-node Slurm cluster on localhost for the sweep tests (root; Debian packages)"
	@echo "make slurm-down  stop it"
	@echo "make site      the companion site (claims ledger + every executed notebook) in build/site/html"
	@echo "make serve     serve it at http://127.0.0.1:8000/"

env: $(READY)

$(STAMP): requirements/lock.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/lock.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

$(PINS): $(STAMP) lib/mlcompanion/_cpu_pins.py lib/mlcompanion/_native/exact_sqrt.c
	$(PY) -c "import mlcompanion._cpu_pins as pins; pins.main(['--install'])"
	touch $(PINS)

$(LAB_SETTINGS): tools/jupyterlab/overrides.json $(STAMP)
	mkdir -p $(dir $@) && cp $< $@

figures: $(READY)
	$(PY) -m mlcompanion.pipeline figures --jobs $(JOBS)

test: $(READY)
	$(PY) -m pytest -n $(JOBS) --dist loadscope --nbval-lax --nbval-current-env \
		--sanitize-with tests/nbval_sanitize.cfg tests notebooks

test-lib: $(READY)
	$(PY) -m pytest -n $(JOBS) tests

nb: $(READY)
	@test -n "$(NB)" || { echo "usage: make nb NB=<slug> [PROFILE=paper DEVICE=cuda DATA_ROOT=/path]"; exit 2; }
	$(PY) -m mlcompanion.pipeline run $(NB) --profile $(PROFILE) --device $(DEVICE) --seed $(SEED) \
		$(if $(DATA_ROOT),--data-root $(DATA_ROOT),)

SITE_ASSETS := tools/site/node_modules/.package-lock.json

$(SITE_ASSETS): tools/site/package-lock.json
	npm ci --prefix tools/site --no-audit --no-fund

site-deps: $(SITE_ASSETS)

site: $(READY) $(SITE_ASSETS)
	$(PY) -m mlcompanion.site build

serve: $(READY)
	$(PY) -m mlcompanion.site serve

sweep: $(READY)
	$(PY) -m mlcompanion.pipeline sweep $(SWEEP)

slurm-up:
	tools/slurm/install.sh
	tools/slurm/up.sh $(SLURM_DIR)
	@echo "now: source $(SLURM_DIR)/env   (then make test runs the Slurm tests too)"

slurm-down:
	tools/slurm/down.sh $(SLURM_DIR)

knobs: $(READY)
	$(PY) -m mlcompanion.pipeline knobs $(NB)

lab: $(READY)
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=. --LabApp.default_url=/lab/tree/notebooks \
		$(if $(filter 0,$(shell id -u)),--allow-root,)

sync: $(READY)
	$(PY) -m mlcompanion.pipeline sync

bench: $(READY)
	$(PY) tests/benchmarks/bench_losses.py

lock: $(READY)
	$(PY) -m pip freeze --exclude-editable | sed 's/+cpu$$//' > requirements/lock.txt.new && mv requirements/lock.txt.new requirements/lock.txt

clean:
	rm -rf $(VENV) results
