""".gitlab-ci.yml and the agents' configs: valid, clean, and saying what the README promises.

GitLab's own schema (``check-jsonschema --builtin-schema vendor.gitlab-ci``) and yamllint
judge the files; the rest parses the pipeline and checks the rules GitLab cannot: every
job's stage and needs exist, every ``make`` target a job runs is in the Makefile, prod is
manual and protected, merge requests get one pipeline, deploys never overlap, only the
infrastructure is retried, and no credential is in the file.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ci.gitlab_ci import (
    AGENTS,
    CI_FILE,
    ROOT,
    jobs,
    load,
    make_targets_called,
    makefile_targets,
    script_lines,
    tool,
)

CONFIG = load()
JOBS = jobs(CONFIG)
INFRASTRUCTURE_FAILURES = {
    "runner_system_failure",
    "stuck_or_timeout_failure",
    "scheduler_failure",
    "api_failure",
    "runner_unsupported",
    "data_integrity_failure",
}
YAML_FILES = [CI_FILE, *sorted(AGENTS.glob("*/config.yaml")), ROOT / ".yamllint.yaml"]


def check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            tool("check-jsonschema", "check-jsonschema"),
            "--builtin-schema",
            "vendor.gitlab-ci",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


# -- the tools' verdicts ------------------------------------------------------------------


def test_gitlabs_schema_accepts_the_file() -> None:
    done = check_jsonschema(CI_FILE)
    assert done.returncode == 0, done.stdout + done.stderr


def test_gitlabs_schema_refuses_a_misspelt_keyword(tmp_path: Path) -> None:
    """The schema is strict enough to matter: an unknown job keyword fails it."""
    broken = tmp_path / ".gitlab-ci.yml"
    broken.write_text(
        CI_FILE.read_text(encoding="utf-8").replace(
            "  script:\n    - make ci-lint", "  scirpt:\n    - make ci-lint"
        ),
        encoding="utf-8",
    )
    assert "scirpt" in broken.read_text(encoding="utf-8")
    done = check_jsonschema(broken)
    assert done.returncode != 0, done.stdout


def test_yamllint_is_clean() -> None:
    done = subprocess.run(
        [tool("yamllint", "yamllint"), "--strict", "-f", "parsable", *map(str, YAML_FILES)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# -- structure ----------------------------------------------------------------------------


def test_the_expected_jobs_exist() -> None:
    expected = {"lint", "test", "build-images", "compile", "review", "stop-review"}
    expected |= {"deploy-dev", "e2e-dev", "deploy-test", "gate-test", "load-test"}
    expected |= {"deploy-prod", "e2e-kind"}
    assert expected <= set(JOBS)


@pytest.mark.parametrize("name", sorted(JOBS))
def test_every_job_has_a_declared_stage(name: str) -> None:
    assert JOBS[name].get("stage", "test") in CONFIG["stages"]


@pytest.mark.parametrize("name", sorted(JOBS))
def test_needs_and_dependencies_name_existing_jobs(name: str) -> None:
    job = JOBS[name]
    needed = [n if isinstance(n, str) else n["job"] for n in job.get("needs", [])]
    named = needed + list(job.get("dependencies", []))
    assert set(named) <= set(JOBS), f"{name} names {sorted(set(named) - set(JOBS))}"
    stages = CONFIG["stages"]
    for other in needed:  # a job can only need one of an earlier or the same stage
        assert stages.index(JOBS[other]["stage"]) <= stages.index(job["stage"]), other


@pytest.mark.parametrize("name", sorted(JOBS))
def test_every_make_target_a_job_runs_exists(name: str) -> None:
    called = [t for line in script_lines(JOBS[name]) for t in make_targets_called(line)]
    missing = sorted(set(called) - makefile_targets())
    assert not missing, f"{name} runs make {missing}, which the Makefile does not define"


def test_the_make_target_parser_reads_options_and_variables() -> None:
    line = 'make -s deploy ENV=dev HELM_ARGS="--set a=b" && make smoke NAMESPACE=x'
    assert make_targets_called(line) == ["deploy", "smoke"]
    assert {"deploy", "ci-lint", "test-junit", "compile-pinned"} <= makefile_targets()


def test_every_cluster_job_but_the_build_runs_make() -> None:
    """The build job's image has no make; it runs the script its target runs."""
    for name, job in JOBS.items():
        if name in {"build-images", "stop-review"}:
            continue
        assert any(make_targets_called(line) for line in job["script"]), name
    assert JOBS["build-images"]["script"] == [
        "sh scripts/ci/build-images.sh components serving training-gpu"
    ]


# -- workflow -------------------------------------------------------------------------------


def test_merge_requests_branches_and_tags_get_one_pipeline_each() -> None:
    rules = CONFIG["workflow"]["rules"]
    conditions = [r.get("if", "") for r in rules]
    mr = conditions.index('$CI_PIPELINE_SOURCE == "merge_request_event"')
    duplicate = conditions.index("$CI_COMMIT_BRANCH && $CI_OPEN_MERGE_REQUESTS")
    branch = conditions.index("$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH")
    assert rules[duplicate]["when"] == "never"
    assert mr < duplicate < branch
    assert "$CI_COMMIT_TAG" in conditions
    assert all(r.get("when", "always") != "never" for i, r in enumerate(rules) if i != duplicate)


def test_review_environments_start_and_stop_per_merge_request() -> None:
    review, stop = JOBS["review"], JOBS["stop-review"]
    assert review["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}]
    assert review["environment"]["name"].startswith("review/")
    assert review["environment"]["on_stop"] == "stop-review"
    assert review["environment"]["auto_stop_in"]
    assert stop["environment"] == {"name": review["environment"]["name"], "action": "stop"}
    assert stop["rules"][0]["when"] == "manual"
    assert review["variables"]["REVIEW_NAMESPACE"].startswith("ml-review-")


# -- environments -----------------------------------------------------------------------------


def environment_jobs() -> dict[str, dict[str, Any]]:
    return {n: j for n, j in JOBS.items() if "environment" in j}


@pytest.mark.parametrize(
    ("name", "environment", "tier"),
    [
        ("deploy-dev", "development", "development"),
        ("e2e-dev", "development", "development"),
        ("deploy-test", "testing", "testing"),
        ("gate-test", "testing", "testing"),
        ("load-test", "testing", "testing"),
        ("deploy-prod", "production", "production"),
        ("review", "review/$CI_COMMIT_REF_SLUG", "development"),
    ],
)
def test_environments_have_their_tier(name: str, environment: str, tier: str) -> None:
    assert JOBS[name]["environment"]["name"] == environment
    assert JOBS[name]["environment"]["deployment_tier"] == tier


def test_each_environment_is_one_resource_group() -> None:
    """Two jobs of one environment never run at once (a deploy and a check of it)."""
    jobs_of = environment_jobs()
    assert len(jobs_of) >= 8
    for name, job in jobs_of.items():
        assert job.get("resource_group") == job["environment"]["name"], name
        assert job.get("interruptible") is False, f"{name}: a deploy must not be cancelled"


def test_prod_is_manual_on_the_default_branch_or_a_tag_only() -> None:
    prod = JOBS["deploy-prod"]
    assert prod["environment"] == {"name": "production", "deployment_tier": "production"}
    assert prod["resource_group"] == "production"
    assert prod["allow_failure"] is False  # blocks the pipeline until someone runs it
    runs = [r for r in prod["rules"] if r.get("when") != "never"]
    assert {r["if"] for r in runs} == {"$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH", "$CI_COMMIT_TAG"}
    assert all(r["when"] == "manual" for r in runs)
    assert all(
        r["if"] == '$CI_PIPELINE_SOURCE == "schedule"' for r in prod["rules"] if r not in runs
    )
    assert {"gate-test", "load-test"} <= {
        n if isinstance(n, str) else n["job"] for n in prod["needs"]
    }
    assert 'make rollout ENV=prod VERSION="$ROLLOUT_VERSION"' in prod["script"]


@pytest.mark.parametrize("name", ["deploy-dev", "e2e-dev", "deploy-test", "gate-test", "load-test"])
def test_dev_and_test_deploy_from_the_default_branch_and_tags_only(name: str) -> None:
    rules = JOBS[name]["rules"]
    assert rules[0] == {"if": '$CI_PIPELINE_SOURCE == "schedule"', "when": "never"}
    assert [r["if"] for r in rules[1:]] == [
        "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH",
        "$CI_COMMIT_TAG",
    ]


def test_the_cluster_agents_limit_access() -> None:
    main = yaml.safe_load((AGENTS / "customer-classifier" / "config.yaml").read_text())
    review = yaml.safe_load((AGENTS / "customer-classifier-review" / "config.yaml").read_text())
    (project,) = main["ci_access"]["projects"]
    assert project["protected_branches_only"] is True
    assert set(project["environments"]) == {"development", "testing", "production"}
    assert project["access_as"] == {"ci_job": {}}
    (review_project,) = review["ci_access"]["projects"]
    assert review_project["environments"] == ["review/*"]
    assert CONFIG["variables"]["KUBE_CONTEXT"] == "$CI_PROJECT_PATH:customer-classifier"
    assert JOBS["review"]["variables"]["KUBE_CONTEXT"].endswith(":customer-classifier-review")


def test_only_infrastructure_failures_are_retried() -> None:
    for name, job in JOBS.items():
        retry = job.get("retry")
        if retry is None:
            continue
        assert isinstance(retry, dict), f"{name}: a bare retry count retries failing tests too"
        reasons = retry.get("when")
        reasons = [reasons] if isinstance(reasons, str) else reasons
        assert reasons, f"{name}: retry without 'when' retries every failure"
        assert set(reasons) <= INFRASTRUCTURE_FAILURES, name


def test_the_test_job_has_its_services_and_reports() -> None:
    test = JOBS["test"]
    assert {"name": "$POSTGRES_IMAGE", "alias": "postgres"} in test["services"]
    assert "@postgres:5432/" in test["variables"]["TEST_POSTGRES_URL"]
    assert test["artifacts"]["reports"]["junit"] == "build/reports/junit.xml"
    assert test["artifacts"]["reports"]["coverage_report"]["coverage_format"] == "cobertura"
    local = JOBS["test-local"]
    assert local["services"] == []
    assert local["script"] == test["script"]
    assert local["rules"] == [{"if": '$CI_LOCAL == "1"'}]
    assert test["rules"][0] == {"if": '$CI_LOCAL == "1"', "when": "never"}
    # The whole suite, but the run of this file through gitlab-ci-local (GitLab runs it).
    deselected = CONFIG["variables"]["PYTEST_ARGS"].removeprefix("--deselect ")
    assert (ROOT / deselected).is_file()


def test_the_build_passes_digests_to_compile() -> None:
    assert JOBS["build-images"]["artifacts"]["reports"]["dotenv"] == "build/images.env"
    assert JOBS["build-images"]["image"]["name"] == "$BUILDKIT_IMAGE"
    assert "rootless" in CONFIG["variables"]["BUILDKIT_IMAGE"]
    assert {"job": "build-images", "artifacts": True} in JOBS["compile"]["needs"]


# -- secrets ------------------------------------------------------------------------------------

SECRET_NAME = re.compile(r"PASSWORD|TOKEN|SECRET|ACCESS_KEY|PRIVATE_KEY|API_KEY", re.IGNORECASE)
SECRET_TEXT = [
    re.compile(r"glpat-[0-9A-Za-z_-]{10,}"),  # GitLab personal access token
    re.compile(r"AKIA[0-9A-Z]{16}"),  # AWS access key id
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"://[^/\s:@$]+:[^/\s@$]+@"),  # user:password@ in a URL
    re.compile(r"eyJ[0-9A-Za-z_-]{20,}\.[0-9A-Za-z_-]{20,}"),  # a JWT
]


def all_variables(config: dict[str, Any]) -> dict[str, str]:
    found = {f"variables.{k}": str(v) for k, v in (config.get("variables") or {}).items()}
    for name, job in config.items():
        if isinstance(job, dict) and isinstance(job.get("variables"), dict):
            found |= {f"{name}.{k}": str(v) for k, v in job["variables"].items()}
    return found


def test_no_secret_literal_is_in_the_file() -> None:
    text = CI_FILE.read_text(encoding="utf-8")
    for pattern in SECRET_TEXT:
        assert not pattern.search(text), f"{pattern.pattern} matches in .gitlab-ci.yml"
    for key, value in all_variables(CONFIG).items():
        if SECRET_NAME.search(key.rsplit(".", 1)[1]):
            assert value == "" or value.startswith("$"), f"{key} holds a literal value"


def test_the_secret_check_catches_a_literal() -> None:
    leaked = {"variables": {"CC_KFP__TOKEN": "abc123"}, "x": {"variables": {"A": "b"}}}
    assert all_variables(leaked) == {"variables.CC_KFP__TOKEN": "abc123", "x.A": "b"}
    assert any(p.search("postgresql://app:hunter2@db:5432/x") for p in SECRET_TEXT)
    assert not any(
        p.search("postgresql+psycopg://postgres@postgres:5432/postgres") for p in SECRET_TEXT
    )
