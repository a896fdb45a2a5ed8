# Two-command set-up: `make demo` and `make test` each create .venv and install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.medclass-installed
# torch/torchvision are installed first and pinned so that pip takes the builds found on the machine
# instead of resolving a newer multi-GB release; the rest comes from pyproject.toml.
TORCH_PINS := torch==2.14.1 torchvision==0.29.1
PYTEST_ARGS ?=

.PHONY: demo test lint install sysdeps clean mutation

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet $(TORCH_PINS)
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# System packages used by some tests (a browser for the HTML report, a PostgreSQL server for shared
# tuning studies). Installed when missing and possible; the tests that need them skip with a reason otherwise
# (with CI=true the script and those tests fail instead, naming what is missing).
sysdeps:
	@./scripts/install-sysdeps.sh

demo: install
	$(BIN)/medclass demo

# The layers of docs/ARCHITECTURE.md (import-linter contracts in pyproject.toml) are checked first: a crossed
# layer fails the build before the tests run.
test: install sysdeps
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n 2 --dist loadgroup --timeout 900 $(PYTEST_ARGS)

# Mutation testing of the pure core ([tool.mutmut] in pyproject.toml: evaluation/, inference/decision.py, data/splits.py
# against their unit tests). Slow (tens of minutes on 2 cores) and not part of `make test`; the score goes
# into BENCHMARKS.md. MUTATION_TIME bounds the run (seconds); `mutmut results` lists the survivors.
MUTATION_TIME ?= 3600
mutation: install
	rm -rf mutants
	timeout $(MUTATION_TIME) $(BIN)/mutmut run --max-children 2 || test $$? -eq 124
	$(BIN)/python scripts/mutation_score.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) runs demo_data .pytest_cache .ruff_cache mutants
