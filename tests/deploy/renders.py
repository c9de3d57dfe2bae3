"""Every render the deploy tests check, each made once per test session.

``overlay`` and ``training`` are what ``kubectl apply -k`` applies; ``chart`` is the helm
chart with an environment's values, ``None`` while that values file does not exist yet.
"""

from __future__ import annotations

import functools
from typing import Any

from tests.deploy.rendering import (
    OVERLAYS,
    documents,
    helm_template,
    run_tool,
    values_file,
)

Docs = tuple[dict[str, Any], ...]


@functools.cache
def overlay(env: str) -> Docs:
    return tuple(documents(run_tool("kubectl", "kustomize", str(OVERLAYS / env)).stdout))


@functools.cache
def training(env: str) -> Docs:
    path = OVERLAYS / env / "training-gpu"
    return tuple(documents(run_tool("kubectl", "kustomize", str(path)).stdout))


@functools.cache
def chart(env: str) -> Docs | None:
    if not values_file(env).is_file():
        return None
    return tuple(helm_template(env))


def everything(env: str) -> list[tuple[str, dict[str, Any]]]:
    """(source, object) of every object of an environment: overlay, training, chart."""
    found = [(f"manifests/overlays/{env}", doc) for doc in overlay(env)]
    found += [(f"manifests/overlays/{env}/training-gpu", doc) for doc in training(env)]
    found += [(f"helm values-{env}", doc) for doc in chart(env) or ()]
    return found
