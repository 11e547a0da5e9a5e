# cellsweep: `make demo` and `make test` work from a fresh clone with only Python 3.11.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test test-long test-fast bench ui screenshots services services-stop slurm slurm-stop lint format clean

setup: $(STAMP)

# torch goes in first from the pinned CPU wheel, so nothing later can pull a CUDA build. `.[dev]`
# brings every extra (cellsweep[all]) at the pins of constraints.txt, the low ends of the ranges.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt torch==2.13.0
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: setup
	$(BIN)/cellsweep-train experiment=chemotaxis/model1

# Tests run in TEST_JOBS processes (pytest-xdist): most wait on subprocesses, servers and
# heartbeats, so two share two cores well. A Slurm cluster or a PostgreSQL is started once per
# module, so each such module stays in one process (--dist loadgroup, @pytest.mark.xdist_group).
# TEST_JOBS=0 runs them in this process, as plain pytest does.
TEST_JOBS ?= 2
XDIST := $(if $(filter 0,$(TEST_JOBS)),,-n $(TEST_JOBS) --dist loadgroup)

# Everything. Tests that start a server this machine lacks (@pytest.mark.server: mlflow,
# postgres, slurm, chromium) are skipped, and the summary says which and why; a run that leaves
# a new file in the checkout fails. --durations shows where the time goes.
test: setup
	$(BIN)/python -m pytest $(XDIST) -m "not long" --durations=15

# The tests that wait minutes on a scheduler (a Slurm time limit, then Slurm's ~2 min hold of a
# requeued task): ~10 min, run by CI after `make test`.
test-long: setup
	$(BIN)/python -m pytest -m long --durations=5

# Without the tests marked slow (edge cases and long runs); every feature still has a test here.
test-fast: setup
	$(BIN)/python -m pytest $(XDIST) -m "not slow" --durations=10

bench: setup
	$(BIN)/python benchmarks/run.py

ui: setup
	$(BIN)/cellsweep ui

# README's pictures of a study's MLflow page (docs/study-page.png, docs/study-trials.png), from a
# small study run now; needs Debian's chromium. Not part of `make test`.
screenshots: setup
	$(BIN)/python scripts/screenshots.py

# PostgreSQL + an MLflow server on it, on 127.0.0.1, for storage=postgres tracking=server
services: setup
	scripts/services.sh start

services-stop:
	scripts/services.sh stop

# a single-node Slurm (munged, slurmctld, slurmd; state under .slurm/) for hydra/launcher=slurm;
# needs root and Debian's slurmctld slurmd slurm-client munge. Then: export SLURM_CONF=.slurm/slurm.conf
slurm:
	scripts/slurm.sh start

slurm-stop:
	scripts/slurm.sh stop

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

clean:
	rm -rf $(VENV) outputs .cache .pytest_cache .ruff_cache
