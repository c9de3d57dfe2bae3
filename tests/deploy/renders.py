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


ROLLOUT_VALUES = (
    "model.version=v20261201120000-0a1b2c",
    "rollout.enabled=true",
    "rollout.version=v20261202120000-0d1e2f",
)
"""A rollout Job's values, as CI's deploy-prod job sets them."""


@functools.cache
def rollout_job(env: str) -> Docs:
    """The chart's rollout Job alone, with an environment's values."""
    docs = helm_template(env, sets=ROLLOUT_VALUES)
    return tuple(doc for doc in docs if doc.get("kind") == "Job")


def everything(env: str) -> list[tuple[str, dict[str, Any]]]:
    """(source, object) of every object of an environment: overlay, training, chart, and
    the chart's rollout Job."""
    found = [(f"manifests/overlays/{env}", doc) for doc in overlay(env)]
    found += [(f"manifests/overlays/{env}/training-gpu", doc) for doc in training(env)]
    found += [(f"helm values-{env}", doc) for doc in chart(env) or ()]
    found += [(f"helm values-{env} + rollout", doc) for doc in rollout_job(env)]
    return found
