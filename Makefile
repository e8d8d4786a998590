# One entry point per job. Every target installs what it needs first (make setup is idempotent).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export OPENBLAS_NUM_THREADS ?= 1
LINT_PATHS := $(wildcard src tests bench analysis clients)

.PHONY: setup run test lint format bench-ingest clean

setup: $(STAMP)

# Reinstall only when the dependency pins change; the package itself is installed editable.
$(STAMP): pyproject.toml constraints.txt clients/python/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ./clients/python -e '.[dev]'
	touch $(STAMP)

run: setup
	mkdir -p var
	@echo "RecSys on http://127.0.0.1:8000 - API docs at http://127.0.0.1:8000/docs;"
	@echo "guides in docs/ (start with docs/quickstart_http.md); commands: .venv/bin/recsys --help"
	$(BIN)/recsys serve --host 127.0.0.1 --port 8000

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy

format: setup
	$(BIN)/ruff format $(LINT_PATHS)
	$(BIN)/ruff check --fix $(LINT_PATHS)

bench-ingest: setup
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
