# Two commands do all set-up: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := $(CURDIR)/.venv
PY := $(VENV)/bin/python

export MANYMODELS_HOME ?= $(CURDIR)/.manymodels
export DAGSTER_HOME ?= $(MANYMODELS_HOME)/dagster_home
export PYSPARK_PYTHON := $(PY)
export OPENBLAS_NUM_THREADS ?= 1

.PHONY: demo test ui system-deps venv dagster-home clean validate accuracy serve bench-serving bench

# Real data lies beside the checkout (never copied into it); see docs/accuracy.md.
OJ_DATA ?= $(CURDIR)/../shared/data/orangeJuice.rda
TOURISM_DATA ?= $(CURDIR)/../shared/data/tourism.rda

demo: system-deps venv dagster-home
	$(PY) -m manymodels_assets.cli demo $(DEMO_ARGS)

# --durations: CI prints where the suite's time goes (its budget is 25 minutes on 2 cores).
test: system-deps venv
	$(PY) -m pytest -q --durations=15 $(PYTEST_ARGS)

ui: venv dagster-home
	$(VENV)/bin/dagster dev -w workspace.yaml -h 127.0.0.1 -p $${PORT:-3000}

# Both real panels and a generated daily one; prints the issue's target table with the figures.
accuracy: venv
	$(PY) -m benchmarks.accuracy --oj $(OJ_DATA) --tourism $(TOURISM_DATA) --workers 2 $(ACCURACY_ARGS)

# Real-time scoring from the production model set (docs/serving.md); SERVE_ARGS="--host 0.0.0.0 --port 8080".
# Two glibc heap arenas instead of one per thread keep the RSS near the cache budget.
serve: venv
	MALLOC_ARENA_MAX=$${MALLOC_ARENA_MAX:-2} $(PY) -m manymodels_assets.cli serve $(SERVE_ARGS)

# 100,000 models in a production set of their own under $(MANYMODELS_HOME)/bench-serving; prints the figures
# of docs/serving.md. BENCH_ARGS="--models 10000 --budget-mb 128" sizes it differently.
bench-serving: venv
	$(PY) -m benchmarks.serving $(BENCH_ARGS)

# The pipeline benchmark of issue 11 (docs/benchmarks.md): BENCH=quick (1,000 series x 4,000 days: both
# Dagster instances, MLflow server, side by side) or BENCH=full (10,000 x 4,000); BENCH_ARGS="--write-docs".
BENCH ?= quick
bench: system-deps venv
	$(PY) -m benchmarks.bench --size $(BENCH) $(BENCH_ARGS)

validate: venv
	$(VENV)/bin/dagster definitions validate -w workspace.yaml

system-deps:
	@bash scripts/install-system-deps.sh

venv: $(VENV)/.installed

# Reinstalled when the dependency list changes. pip is upgraded first: the bundled pip 23.2
# crashes resolving this set (resolvelib InconsistentCandidate).
$(VENV)/.installed: setup.py pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

dagster-home: $(DAGSTER_HOME)/dagster.yaml

# Refreshed when the repository's dagster.yaml changes. The storage is created (or migrated) once
# here: a webserver and a daemon started together on a fresh sqlite home race to create it.
$(DAGSTER_HOME)/dagster.yaml: dagster.yaml $(VENV)/.installed
	@mkdir -p $(DAGSTER_HOME) && cp dagster.yaml $@
	@$(VENV)/bin/dagster instance migrate >/dev/null

clean:
	rm -rf $(MANYMODELS_HOME)
