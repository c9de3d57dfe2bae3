# Verbs of the project. Every target that needs Python first creates or refreshes the
# virtual environment in .venv from pyproject.toml and requirements.lock.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
export PYTHONPATH := $(CURDIR)

.PHONY: setup run test test-fast lint compile bench-scoring bench-training clean help config-reference

help:
	@echo "make run            generate the demo database if missing, train and score through kfp.local"
	@echo "make test           the whole test suite (starts PostgreSQL on loopback itself)"
	@echo "make lint           ruff + mypy"
	@echo "make compile        write the pipelines' IR YAML to compiled/"
	@echo "make config-reference  regenerate the settings table of docs/configuration.md"
	@echo "make bench-scoring  nightly scoring of 1M customers / 10M sales -> benchmarks/results/scoring.json"
	@echo "make bench-training the Keras candidate on 1M rows (CPU or GPU) -> benchmarks/results/training.json"
	@echo "make serve          the KServe predictor on the current champion (V1/V2 on :8080, gRPC :8081)"
	@echo "make bench-serving  load test of the predictor against a stock-style server -> benchmarks/results/serving.json"

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
	bash scripts/ensure-prometheus.sh
	bash scripts/ensure-k8s-tools.sh
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

# The settings table of docs/configuration.md, from the fields' descriptions.
config-reference: $(STAMP)
	$(PY) -m customer_classifier config reference --write docs/configuration.md

clean:
	rm -rf var local_outputs compiled

.PHONY: serve bench-serving

SERVE_HTTP_PORT ?= 8080
SERVE_GRPC_PORT ?= 8081

# The KServe predictor on the champion of the local model store (CC_STORE_URI, default
# var/model_store): V1/V2 REST on $(SERVE_HTTP_PORT), gRPC on $(SERVE_GRPC_PORT). Ready once
# a champion is loaded; moving the champion alias reloads it. CC_SERVING__* set the rest.
serve: $(STAMP)
	$(PY) -m customer_classifier.serving --model_dir "$${CC_STORE_URI:-var/model_store}" \
		--http_port $(SERVE_HTTP_PORT) --grpc_port $(SERVE_GRPC_PORT)

# Closed-loop load (wrk) against this predictor, a stock-style KServe predictor and
# MLServer's scikit-learn runtime -> benchmarks/results/serving.json
bench-serving: $(STAMP)
	bash benchmarks/ensure-wrk.sh
	$(PY) benchmarks/bench_serving.py

bench-training: $(STAMP)
	$(PY) benchmarks/bench_training.py

.PHONY: bench-scale

# Sharded nightly scoring on a PostgreSQL it starts itself: 1M and 2M customers (10 sales
# each), 1 and 4 shards, seconds and peak RSS of every task -> benchmarks/results/scale.json
bench-scale: $(STAMP)
	bash scripts/ensure-postgres.sh
	$(PY) benchmarks/bench_scale.py
