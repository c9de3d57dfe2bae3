"""The TFJob that trains the Keras candidate on several GPU nodes: well-formed, and in
line with the pipeline's GPU task and with the entry point it runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from components.train_dl_candidate import TRAINING_GPU_IMAGE
from customer_classifier.train_distributed import parser
from pipelines.platform import GpuScheduling

ROOT = Path(__file__).resolve().parents[2]
TRAINING = ROOT / "manifests" / "components" / "training-gpu"


@pytest.fixture(scope="module")
def tfjob() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((TRAINING / "tfjob.yaml").read_text())
    return doc


def worker_pod(tfjob: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = tfjob["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]
    return pod


def test_it_is_a_tfjob_of_several_workers(tfjob: dict[str, Any]) -> None:
    assert tfjob["apiVersion"] == "kubeflow.org/v1"
    assert tfjob["kind"] == "TFJob"
    worker = tfjob["spec"]["tfReplicaSpecs"]["Worker"]
    assert worker["replicas"] >= 2
    (container,) = worker_pod(tfjob)["containers"]
    assert container["name"] == "tensorflow"


def test_it_runs_the_gpu_image_and_a_command_the_entry_point_accepts(
    tfjob: dict[str, Any],
) -> None:
    (container,) = worker_pod(tfjob)["containers"]
    repository = TRAINING_GPU_IMAGE.rsplit(":", 1)[0]
    assert container["image"].rsplit(":", 1)[0] == repository
    assert container["command"] == ["python", "-m", "customer_classifier.train_distributed"]
    args = parser().parse_args(container["args"])
    assert args.step == "train"
    assert args.output.parent == Path("/data/candidates")


def test_it_is_scheduled_like_the_pipeline_gpu_task(tfjob: dict[str, Any]) -> None:
    gpu = GpuScheduling()
    pod = worker_pod(tfjob)
    (container,) = pod["containers"]
    assert container["resources"]["limits"][gpu.accelerator] == gpu.count
    assert container["resources"]["requests"]["memory"] == gpu.memory
    assert pod["nodeSelector"] == {gpu.node_selector_key: gpu.node_selector_value}
    assert {"key": gpu.toleration_key, "operator": "Exists", "effect": gpu.toleration_effect} in (
        pod["tolerations"]
    )
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert volumes[mounts["/dev/shm"]]["emptyDir"]["medium"] == "Memory"
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_the_kustomization_lists_the_job_and_its_volume(tfjob: dict[str, Any]) -> None:
    kustomization = yaml.safe_load((TRAINING / "kustomization.yaml").read_text())
    assert set(kustomization["resources"]) == {"tfjob.yaml", "pvc.yaml"}
    pvc = yaml.safe_load((TRAINING / "pvc.yaml").read_text())
    claims = [
        v["persistentVolumeClaim"]["claimName"]
        for v in worker_pod(tfjob)["volumes"]
        if "persistentVolumeClaim" in v
    ]
    assert claims == [pvc["metadata"]["name"]]
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
