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
	@echo "make monitor        monitor the night make run scored: health, drift, estimated precision, retraining decision -> var/runs/monitoring"
	@echo "make retrain        decide tonight's retraining and, when due, train through kfp.local (python -m pipelines.retrain --local)"
	@echo "make demo-scenario SCENARIO=concept_drift  a monitoring scenario's database -> var/scenario_SCENARIO.db (GENERATE_ARGS=... adds flags)"
	@echo "make test           the whole test suite (starts PostgreSQL on loopback itself)"
	@echo "make lint           ruff + mypy"
	@echo "make compile        write the pipelines' IR YAML to compiled/"
	@echo "make config-reference  regenerate the settings table of docs/configuration.md"
	@echo "make bench-scoring  nightly scoring of 1M customers / 10M sales -> benchmarks/results/scoring.json"
	@echo "make bench-training the Keras candidate on 1M rows (CPU or GPU) -> benchmarks/results/training.json"
	@echo "make bench-drift    the drift report on 1M rows x 30 columns (and Evidently's, if installed) -> benchmarks/results/drift.json"
	@echo "make serve          the KServe predictor on the current champion (V1/V2 on :8080, gRPC :8081)"
	@echo "make bench-serving  load test of the predictor against a stock-style server -> benchmarks/results/serving.json"
	@echo "make bench-rollout  canary rollouts with injected faults: time to 0 % and failed requests -> benchmarks/results/rollout.json"
	@echo "make submit ENV=dev     compile, upload a pipeline version and start a run on Kubeflow Pipelines (PIPELINE=training|scoring|monitoring)"
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

# The nightly monitoring of the night `make run` scored (JSON + HTML report in
# var/runs/monitoring), and the retraining decision launched through kfp.local.
.PHONY: monitor retrain
monitor: $(STAMP)
	$(BIN)/customer-classifier monitor

retrain: $(STAMP)
	$(PY) -m pipelines.retrain --local

# A monitoring scenario's Master Data (data/scenarios.py; docs/data-contract.md#monitoring-
# scenarios) in a database of its own, so that the demo database of `make run` stays as it
# is. GENERATE_ARGS adds or overrides flags of `data generate` (e.g. --customers 3000).
SCENARIO ?= none
GENERATE_ARGS ?=
SCENARIO_DB = var/scenario_$(SCENARIO).db

.PHONY: demo-scenario
demo-scenario: $(STAMP)
	$(BIN)/customer-classifier data generate --scenario "$(SCENARIO)" \
		--database-url "sqlite:///$(SCENARIO_DB)" $(GENERATE_ARGS)

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

# The nightly drift report on 1M rows x 30 columns; beside it Evidently's DataDriftPreset
# when .tools/evidently-venv exists (pip install evidently 'pandas<3' pyarrow in a venv
# of its own) -> benchmarks/results/drift.json
.PHONY: bench-drift
bench-drift: $(STAMP)
	$(PY) benchmarks/bench_drift.py

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
		--values $(CHART)/values-$(ENV).yaml --rollback-on-failure --timeout $(DEPLOY_TIMEOUT) \
		$(HELM_ARGS)

# --- CI/CD (.gitlab-ci.yml): each job runs one of these, so a developer can run it too ---
.PHONY: ci-lint test-junit images compile-pinned review-deploy review-stop smoke e2e gate \
	load-test rollout e2e-kind ci-local

# SETUP is what the CI targets need before they run: the virtual environment. The local
# gitlab-ci-local run (make ci-local) sets it empty to use an existing .venv as it is.
SETUP ?= $(STAMP)
# The serving image CI built (IMAGE_DIGEST_SERVING from the build job's dotenv): deploys
# pin the chart to it. Empty outside CI: the chart's own tag.
HELM_ARGS ?= $(if $(IMAGE_DIGEST_SERVING),--set image.repository=$(CI_REGISTRY_IMAGE)/serving \
	--set image.digest=$(IMAGE_DIGEST_SERVING))
# What the lint job checks: ruff on LINT_PATHS, mypy unless SKIP_MYPY=1, the Dockerfiles,
# the chart (helm lint --strict, every environment), YAML, and the schema tests.
LINT_PATHS ?= .
SCHEMA_TESTS ?= tests/deploy/test_schemas.py tests/deploy/test_manifests.py tests/ci/test_gitlab_ci.py
YAML_FILES := .gitlab-ci.yml .gitlab/agents .yamllint.yaml
YAMLLINT ?= $(BIN)/yamllint
# What the test job runs: the whole suite by default; PYTEST_ARGS narrows it.
PYTEST_ARGS ?=
REPORTS := build/reports
COVERAGE ?= --cov=customer_classifier --cov-report=term --cov-report=xml:$(REPORTS)/coverage.xml
# Pipelines' run deadline in CI, seconds.
RUN_TIMEOUT_S ?= 3600
# Thresholds of the load test against the test environment.
LOAD_DURATION_S ?= 30
LOAD_CONNECTIONS ?= 8
LOAD_MIN_RPS ?= 50
LOAD_MAX_P99_MS ?= 250
NAMESPACE ?= $(if $(ENV),ml-$(ENV))
VERSION ?=

ci-lint: $(SETUP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(if $(filter 1,$(SKIP_MYPY)),@echo "mypy skipped (SKIP_MYPY=1)",$(BIN)/mypy)
	@for file in images/*.Dockerfile; do \
		echo "hadolint $$file"; $(BIN)/hadolint --failure-threshold warning "$$file" || exit 1; \
	done
	@bash scripts/ensure-k8s-tools.sh >/dev/null
	$(TOOLS)/helm lint --strict $(CHART)
	@for env in $(ENVIRONMENTS); do \
		$(TOOLS)/helm lint --strict $(CHART) --values $(CHART)/values-$$env.yaml || exit 1; \
	done
	$(YAMLLINT) --strict $(YAML_FILES)
	$(if $(strip $(SCHEMA_TESTS)),$(PY) -m pytest -q -p no:cacheprovider $(SCHEMA_TESTS))

# The test job: JUnit report and coverage under build/reports (CI artifacts).
test-junit: $(SETUP)
	bash scripts/ensure-postgres.sh >/dev/null
	bash scripts/ensure-prometheus.sh >/dev/null
	bash scripts/ensure-k8s-tools.sh >/dev/null
	@mkdir -p $(REPORTS)
	$(PY) -m pytest --junitxml=$(REPORTS)/junit.xml $(COVERAGE) $(PYTEST_ARGS)

# The three images with BuildKit, no Docker daemon; digests to build/images.env.
images:
	sh scripts/ci/build-images.sh

# The pipelines' IR YAML with the images pinned to digests (CC_IMAGES__* from the build).
compile-pinned: $(SETUP)
	$(PY) -m pipelines.compile --output-dir compiled
	$(PY) scripts/ci/check_pinned.py compiled

# A merge request's own namespace (ml-review-<iid>): the dev overlay and the chart.
review-deploy:
	bash scripts/ci/review.sh deploy "$(REVIEW_NAMESPACE)"

review-stop:
	bash scripts/ci/review.sh stop "$(REVIEW_NAMESPACE)"

# One prediction from the deployed predictor of ENV (or NAMESPACE).
smoke:
	@bash scripts/ensure-k8s-tools.sh >/dev/null
	bash scripts/ci/smoke.sh "$(NAMESPACE)"

# Training then scoring on ENV's cluster through the KFP API, each run waited for and judged.
e2e: check-env $(SETUP)
	@mkdir -p build/e2e
	$(PY) scripts/ci/run_pipeline.py --env "$(ENV)" --pipeline training \
		--timeout-s $(RUN_TIMEOUT_S) --summary build/e2e/training-$(ENV).json
	$(PY) scripts/ci/run_pipeline.py --env "$(ENV)" --pipeline scoring \
		--timeout-s $(RUN_TIMEOUT_S) --summary build/e2e/scoring-$(ENV).json

# The gate on ENV's data: a training run there, then champion must be its challenger.
gate: check-env $(SETUP)
	@mkdir -p build/e2e
	$(PY) scripts/ci/run_pipeline.py --env "$(ENV)" --pipeline training \
		--timeout-s $(RUN_TIMEOUT_S) --summary build/e2e/gate-$(ENV).json
	$(PY) scripts/ci/gate_check.py --dotenv build/gate.env

# The serving benchmark's client against ENV's predictor (port-forward), with thresholds.
load-test: check-env $(SETUP)
	bash benchmarks/ensure-wrk.sh >/dev/null
	@bash scripts/ensure-k8s-tools.sh >/dev/null
	bash scripts/ci/with-predictor.sh "$(NAMESPACE)" $(PY) scripts/ci/load_test.py \
		--duration $(LOAD_DURATION_S) --connections $(LOAD_CONNECTIONS) \
		--min-rps $(LOAD_MIN_RPS) --max-p99-ms $(LOAD_MAX_P99_MS) --output build/load-test.json

# The canary rollout of VERSION on ENV's InferenceService; fails unless it is promoted.
rollout: check-env $(SETUP)
	@if [[ -z "$(VERSION)" ]]; then echo "error: set VERSION=<registry version>" >&2; exit 2; fi
	CC_ROLLOUT__NAMESPACE="$${CC_ROLLOUT__NAMESPACE:-ml-$(ENV)}" \
		$(BIN)/customer-classifier rollout start "$(VERSION)"

# A kind cluster with cert-manager, KServe and Kubeflow Pipelines; deploy, train, score, call.
e2e-kind: $(SETUP)
	bash scripts/ci/e2e-kind.sh

# lint, test and compile of .gitlab-ci.yml run here by gitlab-ci-local's shell executor,
# on small selections (CI runs them whole); see scripts/ci/gitlab-ci-local.sh.
ci-local:
	bash scripts/ci/gitlab-ci-local.sh

.PHONY: bench-rollout

# The end-to-end rollout scenarios (real predictors, Prometheus, the controller over a
# stand-in API server): per injected fault, seconds to 0 % and failed requests
# -> benchmarks/results/rollout.json
bench-rollout: $(STAMP)
	bash scripts/ensure-prometheus.sh
	$(PY) benchmarks/bench_rollout.py

.PHONY: bench-scale

# Sharded nightly scoring on a PostgreSQL it starts itself: 1M and 2M customers (10 sales
# each), 1 and 4 shards, seconds and peak RSS of every task -> benchmarks/results/scale.json
bench-scale: $(STAMP)
	bash scripts/ensure-postgres.sh
	$(PY) benchmarks/bench_scale.py
