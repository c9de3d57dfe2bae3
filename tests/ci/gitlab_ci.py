"""Read .gitlab-ci.yml the way GitLab does, enough for the tests to judge it.

Jobs are the top-level keys that are neither keywords nor hidden (``.name``); ``extends``
is resolved as GitLab does it (hashes merged deeply, anything else replaced, later
templates winning); ``default:`` fills what a job does not say. No ``!reference`` or
``include``: the file uses neither, so a plain YAML load sees all of it.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CI_FILE = ROOT / ".gitlab-ci.yml"
AGENTS = ROOT / ".gitlab" / "agents"
KEYWORDS = frozenset(
    {"default", "include", "stages", "variables", "workflow", "image", "services", "cache"}
    | {"before_script", "after_script", "spec"}
)
DEFAULTABLE = ("retry", "interruptible", "image", "before_script", "after_script", "tags")


def load(path: Path = CI_FILE) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path} is not a mapping"
    return data


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """GitLab's ``extends`` merge: hashes deeply, every other value replaced."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def resolve(config: dict[str, Any], name: str, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """The job (or template) ``name`` with its ``extends`` chain applied."""
    assert name not in seen, f"extends loop: {' -> '.join((*seen, name))}"
    body = dict(config[name])
    parents = body.pop("extends", [])
    parents = [parents] if isinstance(parents, str) else list(parents)
    merged: dict[str, Any] = {}
    for parent in parents:
        assert parent in config, f"{name} extends {parent!r}, which does not exist"
        merged = merge(merged, resolve(config, parent, (*seen, name)))
    return merge(merged, body)


def jobs(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every visible job, resolved, with ``default:`` applied."""
    default = config.get("default") or {}
    found: dict[str, dict[str, Any]] = {}
    for name, body in config.items():
        if name in KEYWORDS or name.startswith(".") or not isinstance(body, dict):
            continue
        job = resolve(config, name)
        for key in DEFAULTABLE:
            if key in default and key not in job:
                job[key] = default[key]
        found[name] = job
    return found


def script_lines(job: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for key in ("before_script", "script", "after_script"):
        value = job.get(key) or []
        for item in [value] if isinstance(value, str) else value:
            lines.extend(item if isinstance(item, list) else [item])
    return [str(line) for line in lines]


def make_targets_called(line: str) -> list[str]:
    """Targets of each ``make`` in a script line (options and VAR=value left out)."""
    words = shlex.split(line, comments=True)
    targets: list[str] = []
    for i, word in enumerate(words):
        if word != "make":
            continue
        for arg in words[i + 1 :]:
            if arg in {"&&", "||", ";", "|"}:
                break
            if arg.startswith("-") or "=" in arg:
                continue
            targets.append(arg)
    return targets


@cache
def makefile_targets() -> frozenset[str]:
    """The targets make knows, from its database (``make -pRrq``: nothing runs)."""
    done = subprocess.run(
        ["make", "-pRrq", "-f", str(ROOT / "Makefile"), ":"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    pattern = re.compile(r"^([A-Za-z0-9][^$#/\t=:]*):(?!=)")
    names: set[str] = set()
    for line in done.stdout.splitlines():
        match = pattern.match(line)
        if match:
            names.update(match.group(1).split())
    assert names, f"make printed no targets:\n{done.stderr}"
    return frozenset(names)


def tool(name: str, package: str) -> str:
    """A dev-dependency command: beside this Python first (the venv), else on PATH."""
    beside = Path(sys.executable).parent / name
    path = str(beside) if beside.exists() else shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} not found; it is the dev dependency {package}: run 'make setup' or "
            f"'.venv/bin/pip install -c requirements.lock {package}'"
        )
    return path
