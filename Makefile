# Two-command set-up: `make demo` and `make test` each create .venv and install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.medclass-installed
# torch/torchvision are installed first and pinned so that pip takes the builds found on the machine
# instead of resolving a newer multi-GB release; the rest comes from pyproject.toml.
TORCH_PINS := torch==2.14.1 torchvision==0.29.1
PYTEST_ARGS ?=

.PHONY: demo test lint install sysdeps clean mutation fuzz

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

# Mutation testing ([tool.mutmut] in pyproject.toml: evaluation/, inference/, serving/, data/splits.py,
# data/readers.py, data/discovery.py and runs/ against their fast unit tests). Slow (about an hour for every
# module on 2 cores) and not part of `make test`; the scores go into BENCHMARKS.md. MUTATION_MODULES picks modules by
# mutant-name pattern (e.g. MUTATION_MODULES='"medclass.runs.*"'; empty: all), MUTATION_CHILDREN the parallel
# mutants (1 on a shared machine), MUTATION_TIME bounds the run (seconds: a bounded run scores the mutants it
# checked and counts the rest as "not checked"); `mutmut results` lists the survivors. The tests run inside
# mutants/, so the data sets are named by an absolute MEDCLASS_DATA_DIR.
MUTATION_TIME ?= 7200
MUTATION_CHILDREN ?= 2
MUTATION_MODULES ?=
mutation: install
	rm -rf mutants
	MEDCLASS_DATA_DIR="$${MEDCLASS_DATA_DIR:-$(CURDIR)/../shared/datasets}" timeout $(MUTATION_TIME) \
		$(BIN)/mutmut run --max-children $(MUTATION_CHILDREN) $(MUTATION_MODULES) || test $$? -eq 124
	$(BIN)/python scripts/mutation_score.py

# Long fuzzing of every reader (PNG/JPEG/TIFF/BMP/DICOM/NIfTI/npz, CSV manifest, YAML config: tests/fuzz) and of
# the HTTP API (uploads with hostile names and mutated images, Open Inference Protocol bodies: schemathesis).
# `make test` runs the same tests with a few derandomized examples each; here every test runs FUZZ_EXAMPLES
# examples from a random seed (a failure prints it: rerun with --hypothesis-seed=N), the whole bounded by
# FUZZ_TIME seconds. Not part of `make test`.
FUZZ_TIME ?= 1800
FUZZ_EXAMPLES ?= 3000
fuzz: install
	HYPOTHESIS_PROFILE=fuzz FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) timeout $(FUZZ_TIME) $(BIN)/python -m pytest -n 2 \
		--timeout $(FUZZ_TIME) --hypothesis-show-statistics tests/fuzz tests/api/test_serve_fuzz.py $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) runs demo_data .pytest_cache .ruff_cache mutants
