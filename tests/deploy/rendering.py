"""helm and kubectl as the tests call them: the pinned binaries of scripts/ensure-k8s-tools.sh.

Every test of the chart and the overlays renders through these functions, so a render
here is what ``make render ENV=...`` writes and ``make deploy ENV=...`` applies.
"""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "customer-classifier"
OVERLAYS = ROOT / "manifests" / "overlays"
ENVIRONMENTS = ("dev", "test", "prod")
RELEASE = "customer-classifier"
NAMESPACES = {"dev": "ml-dev", "test": "ml-test", "prod": "ml-prod"}


@functools.cache
def tools_bin() -> Path:
    """The folder holding helm and kubectl, fetched once if missing."""
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "ensure-k8s-tools.sh")],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(done.stdout.strip().splitlines()[-1])


def run_tool(tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``helm`` or ``kubectl`` with ``args``; the caller inspects failures itself
    when ``check`` is false."""
    return subprocess.run(
        [str(tools_bin() / tool), *args], capture_output=True, text=True, check=check, cwd=ROOT
    )


def documents(text: str) -> list[dict[str, Any]]:
    """The non-empty YAML documents of a multi-document stream."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


def values_file(env: str) -> Path:
    return CHART / f"values-{env}.yaml"


def helm_template(env: str | None = None, *, sets: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The chart rendered with an environment's values (or the defaults alone) and
    ``--set`` overrides, as ``make render`` renders it."""
    args = ["template", RELEASE, str(CHART)]
    if env is not None:
        args += ["--namespace", NAMESPACES[env], "--values", str(values_file(env))]
    for item in sets:
        args += ["--set", item]
    return documents(run_tool("helm", *args).stdout)


def kustomize(env: str) -> list[dict[str, Any]]:
    """An overlay rendered by kubectl's kustomize, as ``kubectl apply -k`` applies it."""
    return documents(run_tool("kubectl", "kustomize", str(OVERLAYS / env)).stdout)


def by_kind(docs: Sequence[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc.get("kind") == kind]
