# The companion's commands. `make figures` and `make test` set everything up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Every Python process of the venv pins its CPU code paths at start-up (lib/_cpu_pins.py says which
# and why): make, the pipeline, papermill's kernels, pytest and nbval, jupyter lab.
PINS := $(VENV)/.cpu-pins

# Deterministic numerics: one thread per process (results change with the thread count).
export OMP_NUM_THREADS := 1
export MKL_NUM_THREADS := 1
export OPENBLAS_NUM_THREADS := 1
export PYTHONHASHSEED := 0
export MPLBACKEND := Agg
export PYDEVD_DISABLE_FILE_VALIDATION := 1

NB ?=
PROFILE ?= ci
DEVICE ?= cpu
DATA_ROOT ?=
SEED ?= 0
JOBS ?= 2

.PHONY: help env figures test test-lib nb lab sync bench lock clean

help:
	@echo "make figures   run every notebook (ci profile) and regenerate figures/ (sets up .venv if missing)"
	@echo "make test      unit + reference tests of lib, repo checks, nbval of every committed notebook"
	@echo "make nb NB=multi_similarity [PROFILE=paper DEVICE=cuda DATA_ROOT=/data/CUB_200_2011]"
	@echo "make lab       JupyterLab; the .py notebooks open as notebooks"
	@echo "make sync      refresh every .ipynb from its reviewed .py"
	@echo "make bench     loss benchmarks against pytorch-metric-learning"

env: $(PINS)

$(STAMP): requirements/lock.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/lock.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

$(PINS): $(STAMP) lib/_cpu_pins.py lib/_native/exact_sqrt.c
	$(PY) -c "import lib._cpu_pins as pins; pins.main(['--install'])"
	touch $(PINS)

figures: $(PINS)
	$(PY) -m lib.pipeline figures --jobs $(JOBS)

test: $(PINS)
	$(PY) -m pytest -n $(JOBS) --dist loadscope --nbval-lax --nbval-current-env \
		--sanitize-with tests/nbval_sanitize.cfg tests notebooks

test-lib: $(PINS)
	$(PY) -m pytest -n $(JOBS) tests

nb: $(PINS)
	@test -n "$(NB)" || { echo "usage: make nb NB=<slug> [PROFILE=paper DEVICE=cuda DATA_ROOT=/path]"; exit 2; }
	$(PY) -m lib.pipeline run $(NB) --profile $(PROFILE) --device $(DEVICE) --seed $(SEED) \
		$(if $(DATA_ROOT),--data-root $(DATA_ROOT),)

lab: $(PINS)
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root,)

sync: $(PINS)
	$(PY) -m lib.pipeline sync

bench: $(PINS)
	$(PY) tests/benchmarks/bench_losses.py

lock: $(PINS)
	$(PY) -m pip freeze --exclude-editable | sed 's/+cpu$$//' > requirements/lock.txt.new && mv requirements/lock.txt.new requirements/lock.txt

clean:
	rm -rf $(VENV) results
