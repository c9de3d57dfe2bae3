#!/usr/bin/env bash
# Run the lint, test and compile jobs of .gitlab-ci.yml here, with gitlab-ci-local.
#
# Usage: gitlab-ci-local.sh [JOB...]   (default: lint test-local compile; make ci-local)
#
# The shell executor runs each job's before_script and script in this checkout, with the
# existing .venv (SETUP empty: nothing is installed into it). CI_LOCAL=1 swaps the test
# job for test-local (no services: the tests start PostgreSQL and SeaweedFS themselves).
# The jobs' selections are narrowed, since CI runs them whole; the environment sets them:
#   CI_LOCAL_LINT_PATHS    ruff's paths (default: scripts/ci tests/ci)
#   CI_LOCAL_MYPY          1 runs mypy too (default 0: it takes more than a minute)
#   CI_LOCAL_SCHEMA_TESTS  the lint job's tests (default: tests/ci/test_gitlab_ci.py)
#   CI_LOCAL_PYTEST_ARGS   the test job's selection (default: tests/unit/test_orchestration.py)
#   CI_LOCAL_YAMLLINT      a yamllint other than .venv/bin/yamllint
# Compiling pins the images to a stand-in digest, as the build job's dotenv would. State
# and logs go to .gl/ (ignored by git).
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
bin="$(bash scripts/ensure-gitlab-ci-local.sh)"
if [[ $# -eq 0 ]]; then
    set -- lint test-local compile
fi
# The digest of empty content: obviously not an image anybody pushed.
digest="sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
registry="registry.invalid/customer-classifier"
coverage=()
if ! .venv/bin/python -c "import pytest_cov" >/dev/null 2>&1; then
    coverage=(--variable COVERAGE=)  # pytest-cov not in this .venv yet (make setup adds it)
fi
yamllint=()
if [[ -n "${CI_LOCAL_YAMLLINT:-}" ]]; then
    yamllint=(--variable "YAMLLINT=$CI_LOCAL_YAMLLINT")
fi
skip_mypy=1
if [[ "${CI_LOCAL_MYPY:-0}" == 1 ]]; then
    skip_mypy=0
fi
exec "$bin" --force-shell-executor --state-dir .gl --home .gl/home \
    --variable CI_LOCAL=1 \
    --variable SETUP= \
    --variable "SKIP_MYPY=$skip_mypy" \
    --variable "LINT_PATHS=${CI_LOCAL_LINT_PATHS:-scripts/ci tests/ci}" \
    --variable "SCHEMA_TESTS=${CI_LOCAL_SCHEMA_TESTS:-tests/ci/test_gitlab_ci.py}" \
    --variable "PYTEST_ARGS=${CI_LOCAL_PYTEST_ARGS:-tests/unit/test_orchestration.py}" \
    --variable "CC_IMAGES__COMPONENTS=$registry/components@$digest" \
    --variable "CC_IMAGES__TRAINING_GPU=$registry/training-gpu@$digest" \
    "${coverage[@]}" "${yamllint[@]}" \
    "$@"
