"""The compiled IR YAML is what a user uploads: it must load back and carry every step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from kfp import components

from customer_classifier.settings import KfpSettings
from pipelines.compile import compile_all
from pipelines.platform import PIPELINE_SERVICE_ACCOUNT, RUN_AS_USER

TRAINING_TASKS = {"verify-data", "ingest-data", "build-features", "condition-branches-1"}
"""Training and registration sit in the branches of ``train_dl`` (tests/pipelines/test_gpu_*)."""
QUICK_BRANCH = "comp-condition-2"
SCORING_TASKS = {"verify-data", "plan-shards", "for-loop-1", "publish-shards"}


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    out = tmp_path_factory.mktemp("compiled")
    paths = compile_all(out)
    docs: dict[str, dict[str, Any]] = {}
    for path in paths:
        with path.open() as handle:
            pipeline_spec, platform_spec = list(yaml.safe_load_all(handle))
        docs[path.stem] = {"path": path, "spec": pipeline_spec, "platform": platform_spec}
    return docs


def test_both_pipelines_load_back_with_the_sdk(compiled: dict[str, dict[str, Any]]) -> None:
    for name in ("training_pipeline", "scoring_pipeline"):
        component = components.load_component_from_file(str(compiled[name]["path"]))
        assert component.name.startswith("customer-classifier")


def _artifact_types(spec: dict[str, Any], component: str) -> dict[str, str]:
    outputs = spec["components"][component].get("outputDefinitions", {}).get("artifacts", {})
    return {name: out["artifactType"]["schemaTitle"] for name, out in outputs.items()}


def test_training_tasks_and_artifacts(compiled: dict[str, dict[str, Any]]) -> None:
    spec = compiled["training_pipeline"]["spec"]
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == TRAINING_TASKS
    assert _artifact_types(spec, "comp-train-models") == {
        "model": "system.Model",
        "metrics": "system.Metrics",
        "classification": "system.ClassificationMetrics",
        "report": "system.HTML",
    }
    assert _artifact_types(spec, "comp-verify-data")["report"] == "system.HTML"
    assert _artifact_types(spec, "comp-register-model") == {
        "decision": "system.Markdown",
        "decision_json": "system.Artifact",
    }
    assert _artifact_types(spec, "comp-ingest-data") == {"snapshot": "system.Dataset"}
    # The data flows through artifacts, so every step after verification depends on it.
    ingest_inputs = tasks["ingest-data"]["inputs"]["artifacts"]["verification"]
    assert ingest_inputs["taskOutputArtifact"]["producerTask"] == "verify-data"
    quick = spec["components"][QUICK_BRANCH]["dag"]["tasks"]
    assert set(quick) == {"train-models", "register-model"}
    assert quick["register-model"]["dependentTasks"] == ["train-models"]
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert {"as_of", "precision_target", "min_recall", "train_dl"} <= set(params)


def test_scoring_runs_after_verification(compiled: dict[str, dict[str, Any]]) -> None:
    tasks = compiled["scoring_pipeline"]["spec"]["root"]["dag"]["tasks"]
    assert set(tasks) == SCORING_TASKS
    assert tasks["plan-shards"]["dependentTasks"] == ["verify-data"]


def test_every_task_runs_the_component_image_with_config_and_secret(
    compiled: dict[str, dict[str, Any]],
) -> None:
    for doc in compiled.values():
        executors = doc["spec"]["deploymentSpec"]["executors"]
        k8s = doc["platform"]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
        assert set(k8s) == set(executors)
        for name, executor in executors.items():
            if name == "exec-train-dl-candidate":
                continue  # its own image, no database secret: tests/pipelines/test_gpu_compile.py
            container = executor["container"]
            assert "/customer-classifier/components:" in container["image"], name
            assert "pip install" not in " ".join(container["command"]), name
            assert container["resources"]["memoryLimit"] > 0
            secret = k8s[name]["secretAsEnv"][0]
            assert secret["secretName"] == "customer-classifier-database"
            assert secret["keyToEnv"] == [{"secretKey": "url", "envVar": "CC_DATABASE_URL"}]
            store = {s["secretName"]: s for s in k8s[name]["secretAsEnv"]}[
                "customer-classifier-store"
            ]
            assert store["optional"] is True
            assert {e["envVar"] for e in store["keyToEnv"]} == {
                "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY",
            }
            assert k8s[name]["configMapAsEnv"][0]["configMapName"] == "customer-classifier-config"


def test_every_task_runs_as_the_images_unprivileged_user(
    compiled: dict[str, dict[str, Any]],
) -> None:
    """The overlays' namespaces enforce the restricted Pod Security Standard."""
    for doc in compiled.values():
        k8s = doc["platform"]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
        for name, executor in k8s.items():
            context = executor["securityContext"]
            assert context["runAsNonRoot"] is True, name
            assert int(context["runAsUser"]) == RUN_AS_USER != 0, name


def test_runs_execute_as_the_overlays_pipeline_service_account() -> None:
    assert KfpSettings().service_account == PIPELINE_SERVICE_ACCOUNT


def test_component_image_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    import components.image

    monkeypatch.setenv("CC_IMAGES__COMPONENTS", "registry.test/cc/components:abc123")
    reloaded = importlib.reload(components.image)
    try:
        assert reloaded.COMPONENT_IMAGE == "registry.test/cc/components:abc123"
    finally:
        monkeypatch.delenv("CC_IMAGES__COMPONENTS")
        importlib.reload(components.image)
