"""Kubernetes settings every task gets on a cluster: configuration and the database secret.

The component reads the same ``CC_*`` variables it reads on a laptop; on a cluster they
come from the ConfigMap and Secret that the kustomize base creates. ``kfp.local`` ignores
these platform settings, and the local process environment provides the variables.
"""

from kfp import dsl, kubernetes

CONFIG_MAP = "customer-classifier-config"
DATABASE_SECRET = "customer-classifier-database"
CONFIG_KEYS = (
    "CC_STORE_URI",
    "CC_WORK_DIR",
    "CC_ACTIVE_WINDOW_DAYS",
    "CC_LABEL__HORIZON_DAYS",
    "CC_LABEL__MIN_SPEND",
    "CC_PREDICTIONS_TABLE",
    "CC_CHUNK_CUSTOMERS",
    "CC_SCORING_THREADS",
)


def on_cluster(task: dsl.PipelineTask, *, cpu: str = "1", memory: str = "2Gi") -> dsl.PipelineTask:
    """Configuration, the database URL secret, and resource requests for one task."""
    kubernetes.use_config_map_as_env(
        task, CONFIG_MAP, {key: key for key in CONFIG_KEYS}, optional=True
    )
    kubernetes.use_secret_as_env(task, DATABASE_SECRET, {"url": "CC_DATABASE_URL"})
    task.set_cpu_request(cpu).set_memory_request(memory).set_memory_limit(memory)
    return task
