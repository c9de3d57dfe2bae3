# Verbs of the project. Every target that needs Python first creates or refreshes the
# virtual environment in .venv from pyproject.toml and requirements.lock.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
export PYTHONPATH := $(CURDIR)

.PHONY: setup run test test-fast lint compile bench-scoring clean help

help:
	@echo "make run            generate the demo database if missing, train and score through kfp.local"
	@echo "make test           the whole test suite (starts PostgreSQL on loopback itself)"
	@echo "make lint           ruff + mypy"
	@echo "make compile        write the pipelines' IR YAML to compiled/"
	@echo "make bench-scoring  nightly scoring of 1M customers / 10M sales -> benchmarks/results/scoring.json"

setup: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip==25.3"
	$(PY) -m pip install --quiet -c requirements.lock -e ".[dev]"
	@touch $(STAMP)

run: $(STAMP)
	$(PY) -m pipelines.run_local

test: $(STAMP)
	bash scripts/ensure-postgres.sh
	$(PY) -m pytest

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow and not integration and not pipeline"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

compile: $(STAMP)
	$(PY) -m pipelines.compile --output-dir compiled

bench-scoring: $(STAMP)
	$(PY) benchmarks/bench_scoring.py

clean:
	rm -rf var local_outputs compiled
