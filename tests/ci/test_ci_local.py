"""lint, test and compile of .gitlab-ci.yml run, not only parse: gitlab-ci-local's shell
executor runs them (``scripts/ci/gitlab-ci-local.sh``, what ``make ci-local`` does).

The run happens in a snapshot of this checkout under ``tmp_path`` (its tracked and new
files, committed to a throw-away git repository, since gitlab-ci-local reads git), with
this checkout's ``.venv`` and ``.tools`` linked in, so its outputs (compiled/, build/,
.gl/) stay out of the working tree. The jobs' selections are the script's small
defaults: ruff on the CI paths, the parse tests of the CI file, one unit-test module;
the whole suite is what CI's test job runs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.ci.gitlab_ci import ROOT, tool

pytestmark = pytest.mark.slow
JOBS = ("lint", "test-local", "compile")


def snapshot(target: Path) -> Path:
    """Tracked and untracked-but-not-ignored files of the checkout, as a fresh repository."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for raw in filter(None, listed):
        name = raw.decode()
        source = ROOT / name
        if name in {".venv", ".tools"} or not source.is_file():
            continue  # the links below; files deleted but not yet staged
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target / name)
    for name in (".venv", ".tools"):
        (target / name).symlink_to(ROOT / name)
    git = ["git", "-c", "user.name=ci-local", "-c", "user.email=ci-local@localhost"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=target, check=True)
    (target / ".git" / "info" / "exclude").write_text(".venv\n.tools\n")
    subprocess.run([*git, "add", "-A"], cwd=target, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "snapshot"], cwd=target, check=True)
    return target


def test_lint_test_and_compile_pass_through_gitlab_ci_local(tmp_path: Path) -> None:
    if not (ROOT / ".venv" / "bin" / "python").exists():
        pytest.fail("no .venv in the checkout; run 'make setup' first")
    if shutil.which("npm") is None and not (ROOT / ".tools" / "gitlab-ci-local").exists():
        pytest.fail("gitlab-ci-local needs npm (Node.js 20 or later); install Node.js")
    checkout = snapshot(tmp_path / "checkout")
    env = {**os.environ, "CI_LOCAL_YAMLLINT": tool("yamllint", "yamllint")}
    env["PATH"] = os.pathsep.join(
        [str(Path(tool("check-jsonschema", "check-jsonschema")).parent), env["PATH"]]
    )
    done = subprocess.run(
        ["bash", "scripts/ci/gitlab-ci-local.sh", *JOBS],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    for job in JOBS:
        assert re.search(rf"PASS\s+{re.escape(job)}\b", output), (
            f"{job} did not pass:\n{output[-4000:]}"
        )
    assert "FAIL" not in output
    # What the jobs left: the JUnit report, and pipelines pinned to the stand-in digest.
    junit = (checkout / "build" / "reports" / "junit.xml").read_text()
    assert 'classname="tests.unit.test_orchestration' in junit  # the local selection won
    assert "test_ci_local" not in junit
    compiled = (checkout / "compiled" / "training_pipeline.yaml").read_text()
    assert "@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" in compiled
    assert "registry.invalid/customer-classifier/components@" in compiled


SCENARIOS = {
    "merge request": (
        ["CI_PIPELINE_SOURCE=merge_request_event", "CI_MERGE_REQUEST_IID=5"],
        ["CI_COMMIT_BRANCH"],
        {"review": "on_success", "stop-review": "manual", "e2e-kind": "manual"},
        {"deploy-dev", "deploy-test", "deploy-prod"},
    ),
    "default branch": (
        ["CI_PIPELINE_SOURCE=push", "CI_COMMIT_BRANCH=main"],
        [],
        {"deploy-dev": "on_success", "gate-test": "on_success", "deploy-prod": "manual"},
        {"review", "stop-review"},
    ),
    "tag": (
        ["CI_PIPELINE_SOURCE=push", "CI_COMMIT_TAG=v1.2.0"],
        ["CI_COMMIT_BRANCH"],
        {"deploy-dev": "on_success", "load-test": "on_success", "deploy-prod": "manual"},
        {"review", "e2e-kind"},
    ),
    "nightly schedule": (
        ["CI_PIPELINE_SOURCE=schedule", "CI_COMMIT_BRANCH=main", "E2E_KIND=1"],
        [],
        {"e2e-kind": "on_success", "test": "on_success"},
        {"deploy-dev", "deploy-prod", "review"},
    ),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_each_kind_of_pipeline_gets_its_jobs_and_a_valid_needs_chain(scenario: str) -> None:
    """gitlab-ci-local evaluates the rules and checks every job's needs are in the pipeline."""
    variables, unset, expected, absent = SCENARIOS[scenario]
    binary = subprocess.run(
        ["bash", "scripts/ensure-gitlab-ci-local.sh"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    names = {v.split("=", 1)[0] for v in variables} | set(unset) | {"CI_DEFAULT_BRANCH"}
    command = [binary, "--list", "--validate-dependency-chain"]
    # Both are taken relative to the checkout even when absolute: .gl/ is git-ignored.
    command += ["--state-dir", ".gl/list", "--home", ".gl/home"]
    command += ["--ignore-predefined-vars", ",".join(sorted(names))]
    command += ["--variable", "CI_DEFAULT_BRANCH=main"]
    for variable in variables:
        command += ["--variable", variable]
    for name in unset:
        command += ["--unset-variable", name]
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [
        line.split() for line in done.stdout.splitlines() if line and not line.startswith("name ")
    ]
    listed = {row[0]: row[2] for row in rows if len(row) >= 3}
    for job, when in expected.items():
        assert listed.get(job) == when, f"{scenario}: {job} is {listed.get(job)}, not {when}"
    assert not absent & set(listed), f"{scenario}: {sorted(absent & set(listed))} should not run"
