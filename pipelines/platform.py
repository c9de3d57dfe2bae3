"""Kubernetes settings every task gets on a cluster: configuration and the database secret.

The component reads the same ``CC_*`` variables it reads on a laptop; on a cluster they
come from the ConfigMap and Secret that the kustomize base creates. ``kfp.local`` ignores
these platform settings, and the local process environment provides the variables.

The GPU task gets more (:func:`on_gpu`): the accelerator, the toleration of the GPU
nodes' taint, a node selector, memory and a shared-memory ``emptyDir``. They are chosen
when the pipeline is compiled, from ``CC_GPU_*`` (:class:`GpuScheduling`), e.g.
``CC_GPU_COUNT=2 CC_GPU_NODE_SELECTOR_VALUE=NVIDIA-H100-80GB-HBM3 make compile``.
"""

from typing import Literal

from kfp import dsl, kubernetes
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

CONFIG_MAP = "customer-classifier-config"
DATABASE_SECRET = "customer-classifier-database"
STORE_SECRET = "customer-classifier-store"
"""S3/MinIO credentials of the model store, under the names KServe's storage initializer
reads too, so one Secret serves the pipelines and the InferenceService."""
STORE_SECRET_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
CONFIG_KEYS = (
    "CC_STORE_URI",
    "CC_WORK_DIR",
    "CC_ACTIVE_WINDOW_DAYS",
    "CC_LABEL__HORIZON_DAYS",
    "CC_LABEL__MIN_SPEND",
    "CC_PREDICTIONS_TABLE",
    "CC_CHUNK_CUSTOMERS",
    "CC_SCORING_THREADS",
    "CC_PROMOTION_MARGIN",
    "CC_S3_ENDPOINT",
    "CC_S3_REGION",
    "CC_S3_VERIFY_TLS",
)


def on_cluster(
    task: dsl.PipelineTask, *, cpu: str = "1", memory: str = "2Gi", database: bool = True
) -> dsl.PipelineTask:
    """Configuration, the database URL secret (unless the task never reads the database),
    and resource requests for one task."""
    kubernetes.use_config_map_as_env(
        task, CONFIG_MAP, {key: key for key in CONFIG_KEYS}, optional=True
    )
    if database:
        kubernetes.use_secret_as_env(task, DATABASE_SECRET, {"url": "CC_DATABASE_URL"})
        # Optional: a folder-backed store (on a volume) needs no credentials. Tasks that
        # never read the database (the GPU task) never touch the store either.
        kubernetes.use_secret_as_env(
            task, STORE_SECRET, {key: key for key in STORE_SECRET_KEYS}, optional=True
        )
    task.set_cpu_request(cpu).set_memory_request(memory).set_memory_limit(memory)
    return task


class GpuScheduling(BaseSettings):
    """Where and with what the GPU task runs; read from ``CC_GPU_*`` at compile time."""

    model_config = SettingsConfigDict(env_prefix="CC_GPU_", frozen=True, extra="forbid")

    accelerator: str = "nvidia.com/gpu"
    """The extended resource the NVIDIA device plugin advertises."""
    count: int = Field(default=1, ge=1, le=16)
    node_selector_key: str = "nvidia.com/gpu.present"
    """A node label; ``nvidia.com/gpu.product`` picks a GPU model."""
    node_selector_value: str = "true"
    toleration_key: str = "nvidia.com/gpu"
    """The taint GPU node pools carry so that only GPU work lands on them."""
    toleration_effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = "NoSchedule"
    cpu: str = "4"
    memory: str = "16Gi"
    shared_memory: str = "4Gi"
    """Size of the in-memory ``emptyDir`` on /dev/shm (the default 64Mi starves loaders)."""


def on_gpu(task: dsl.PipelineTask, gpu: GpuScheduling) -> dsl.PipelineTask:
    """Configuration, CPU/memory requests, the GPUs, toleration, node selector and /dev/shm."""
    on_cluster(task, cpu=gpu.cpu, memory=gpu.memory, database=False)
    task.set_accelerator_type(gpu.accelerator).set_accelerator_limit(gpu.count)
    kubernetes.add_toleration(
        task, key=gpu.toleration_key, operator="Exists", effect=gpu.toleration_effect
    )
    kubernetes.add_node_selector(task, gpu.node_selector_key, gpu.node_selector_value)
    kubernetes.empty_dir_mount(
        task,
        volume_name="dshm",
        mount_path="/dev/shm",
        medium="Memory",
        size_limit=gpu.shared_memory,
    )
    return task
