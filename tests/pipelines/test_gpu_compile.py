"""The compiled training pipeline asks for a GPU on the Keras task, and on no other."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from kfp import compiler

DL_EXECUTOR = "exec-train-dl-candidate"


def compile_training(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    import components.image
    import components.train_dl_candidate
    import pipelines.training_pipeline

    importlib.reload(components.image)
    importlib.reload(components.train_dl_candidate)
    module = importlib.reload(pipelines.training_pipeline)
    compiler.Compiler().compile(module.training_pipeline, str(path))
    with path.open() as handle:
        spec, platform = list(yaml.safe_load_all(handle))
    return spec, platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    return compile_training(tmp_path_factory.mktemp("gpu") / "training.yaml")


def test_the_keras_task_gets_gpu_toleration_selector_shm_and_its_image(
    compiled: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    spec, k8s = compiled
    container = spec["deploymentSpec"]["executors"][DL_EXECUTOR]["container"]
    assert "/customer-classifier/training-gpu:" in container["image"]
    assert container["resources"]["accelerator"]["resourceType"] == "nvidia.com/gpu"
    assert container["resources"]["accelerator"]["resourceCount"] == "1"
    assert container["resources"]["resourceMemoryRequest"] == "16Gi"
    assert container["resources"]["resourceCpuRequest"] == "4"
    platform = k8s[DL_EXECUTOR]
    assert platform["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert platform["nodeSelector"]["labels"] == {"nvidia.com/gpu.present": "true"}
    assert platform["emptyDirMounts"] == [
        {"volumeName": "dshm", "mountPath": "/dev/shm", "medium": "Memory", "sizeLimit": "4Gi"}
    ]
    # It reads features, never the database: no database secret.
    assert "secretAsEnv" not in platform
    assert platform["configMapAsEnv"][0]["configMapName"] == "customer-classifier-config"


def test_no_other_task_gets_a_gpu(compiled: tuple[dict[str, Any], dict[str, Any]]) -> None:
    spec, k8s = compiled
    for name, executor in spec["deploymentSpec"]["executors"].items():
        if name == DL_EXECUTOR:
            continue
        container = executor["container"]
        assert "accelerator" not in container.get("resources", {}), name
        assert "/customer-classifier/components:" in container["image"], name
        for key in ("tolerations", "nodeSelector", "emptyDirMounts"):
            assert key not in k8s.get(name, {}), (name, key)


def test_the_keras_task_runs_only_when_asked(
    compiled: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    spec, _ = compiled
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert params["train_dl"]["defaultValue"] is False
    assert params["dl_max_epochs"]["defaultValue"] == 40
    branches = spec["components"]["comp-condition-branches-1"]["dag"]["tasks"]
    conditions = {name: task["triggerPolicy"]["condition"] for name, task in branches.items()}
    assert len(conditions) == 2
    with_dl = next(
        spec["components"][branches[name]["componentRef"]["name"]]["dag"]["tasks"]
        for name in conditions
        if "train-dl-candidate"
        in spec["components"][branches[name]["componentRef"]["name"]]["dag"]["tasks"]
    )
    # Its model goes to the common train-and-select step, then to registration.
    consumer = with_dl["train-models-2"]["inputs"]["artifacts"]["dl_candidate"]
    assert consumer["taskOutputArtifact"] == {
        "producerTask": "train-dl-candidate",
        "outputArtifactKey": "candidate",
    }
    assert with_dl["register-model-2"]["dependentTasks"] == ["train-models-2"]


def test_gpu_scheduling_follows_the_environment_at_compile_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CC_GPU__COUNT", "2")
    monkeypatch.setenv("CC_GPU__NODE_SELECTOR_KEY", "nvidia.com/gpu.product")
    monkeypatch.setenv("CC_GPU__NODE_SELECTOR_VALUE", "NVIDIA-H100-80GB-HBM3")
    monkeypatch.setenv("CC_GPU__MEMORY", "32Gi")
    monkeypatch.setenv("CC_IMAGES__TRAINING_GPU", "registry.test/cc/training-gpu:abc123")
    try:
        spec, k8s = compile_training(tmp_path / "training.yaml")
    finally:
        monkeypatch.undo()
        compile_training(tmp_path / "restored.yaml")
    container = spec["deploymentSpec"]["executors"][DL_EXECUTOR]["container"]
    assert container["image"] == "registry.test/cc/training-gpu:abc123"
    assert container["resources"]["accelerator"]["resourceCount"] == "2"
    assert container["resources"]["resourceMemoryRequest"] == "32Gi"
    assert k8s[DL_EXECUTOR]["nodeSelector"]["labels"] == {
        "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"
    }


def test_a_bad_gpu_count_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from customer_classifier.settings import load_settings

    monkeypatch.setenv("CC_GPU__COUNT", "0")
    with pytest.raises(ValueError, match=r"gpu\.count"):
        load_settings()
