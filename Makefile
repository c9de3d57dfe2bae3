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
	@echo "make bench-rollout  canary rollouts with injected faults: time to 0 % and failed requests -> benchmarks/results/rollout.json"
	@echo "make submit ENV=dev     compile, upload a pipeline version and start a run on Kubeflow Pipelines (PIPELINE=training|scoring)"
	@echo "make schedule ENV=dev   create or update the nightly recurring runs (idempotent; DRY_RUN=1 only prints the plan)"
	@echo "make render ENV=dev  what deploy would apply: build/render/ENV/manifests.yaml (kustomize) and chart.yaml (helm)"
	@echo "make deploy ENV=dev  kubectl apply -k manifests/overlays/ENV, then helm upgrade --install into ml-ENV"

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
# Also the kustomize base's ConfigMap, whose keys are the settings a pipeline task reads.
config-reference: $(STAMP)
	$(PY) -m customer_classifier config reference --write docs/configuration.md
	$(PY) -m pipelines.configmap --write manifests/base/config/customer-classifier-config.yaml

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

.PHONY: submit schedule

# Kubeflow Pipelines of ENV (dev, test, prod: namespace ml-ENV, experiment
# customer-classifier-ENV). CC_KFP__HOST and CC_KFP__TOKEN (or the mounted ServiceAccount
# token) say where and as whom; CC_IMAGES__* which images the compiled pipeline runs.
PIPELINE ?= training

submit: check-env $(STAMP)
	$(PY) -m pipelines.submit --env "$(ENV)" --pipeline "$(PIPELINE)"

schedule: check-env $(STAMP)
	$(PY) -m pipelines.schedule --env "$(ENV)" $(if $(DRY_RUN),--dry-run)
.PHONY: render deploy check-env

# Environments of the overlays and of the chart's values files; namespace ml-ENV each.
ENVIRONMENTS := dev test prod
ENV ?=
TOOLS := .tools/bin
RELEASE := customer-classifier
CHART := helm/customer-classifier
RENDER := build/render/$(ENV)
DEPLOY_TIMEOUT ?= 10m

check-env:
	@if [[ " $(ENVIRONMENTS) " != *" $(ENV) "* || -z "$(ENV)" ]]; then \
		echo "error: ENV='$(ENV)' is not an environment; use ENV=dev, ENV=test or ENV=prod" >&2; \
		exit 2; \
	fi

# What `make deploy` would apply, for review: the overlay and the chart with the
# environment's values. Written through a temporary file so a failed render leaves none.
render: check-env
	@bash scripts/ensure-k8s-tools.sh >/dev/null
	@set -e; tmp="$$(mktemp -d)"; trap 'rm -rf "$$tmp"' EXIT; \
	$(TOOLS)/kubectl kustomize manifests/overlays/$(ENV) > "$$tmp/manifests.yaml"; \
	$(TOOLS)/helm template $(RELEASE) $(CHART) --namespace ml-$(ENV) \
		--values $(CHART)/values-$(ENV).yaml > "$$tmp/chart.yaml"; \
	mkdir -p $(RENDER); mv "$$tmp/manifests.yaml" "$$tmp/chart.yaml" $(RENDER)/; \
	echo "$(RENDER)/manifests.yaml $(RENDER)/chart.yaml"

# The namespace, ServiceAccounts, RBAC and ConfigMaps first (the chart installs into that
# namespace and uses the predictor's ServiceAccount), then the chart. A failed upgrade
# rolls back to the last good release (helm v4's --rollback-on-failure, which waits for
# the objects to be ready); the overlay's objects stay, they are backward compatible.
deploy: check-env
	@bash scripts/ensure-k8s-tools.sh >/dev/null
	$(TOOLS)/kubectl apply -k manifests/overlays/$(ENV)
	$(TOOLS)/helm upgrade --install $(RELEASE) $(CHART) --namespace ml-$(ENV) \
		--values $(CHART)/values-$(ENV).yaml --rollback-on-failure --timeout $(DEPLOY_TIMEOUT)

.PHONY: bench-rollout

# The end-to-end rollout scenarios (real predictors, Prometheus, the controller over a
# stand-in API server): per injected fault, seconds to 0 % and failed requests
# -> benchmarks/results/rollout.json
bench-rollout: $(STAMP)
	bash scripts/ensure-prometheus.sh
	$(PY) benchmarks/bench_rollout.py
