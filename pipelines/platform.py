"""Kubernetes settings every task gets on a cluster: configuration and the database secret.

The component reads the same ``CC_*`` variables it reads on a laptop; on a cluster they
come from the ConfigMap and Secret that the kustomize base creates. ``kfp.local`` ignores
these platform settings, and the local process environment provides the variables.

The GPU task gets more (:func:`on_gpu`): the accelerator, the toleration of the GPU
nodes' taint, a node selector, memory and a shared-memory ``emptyDir``. They are chosen
when the pipeline is compiled, from ``CC_GPU__*`` (:class:`GpuScheduling`), e.g.
``CC_GPU__COUNT=2 CC_GPU__NODE_SELECTOR_VALUE=NVIDIA-H100-80GB-HBM3 make compile``.
"""

from kfp import dsl, kubernetes

from customer_classifier.settings import GpuScheduling, environment_keys

CONFIG_MAP = "customer-classifier-config"
RUN_AS_USER = 10001
"""The unprivileged user of every image (images/*.Dockerfile)."""
DATABASE_SECRET = "customer-classifier-database"
STORE_SECRET = "customer-classifier-store"
"""S3/MinIO credentials of the model store, under the names KServe's storage initializer
reads too, so one Secret serves the pipelines and the InferenceService."""
STORE_SECRET_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
PUSHGATEWAY_SECRET = "customer-classifier-pushgateway"
"""Optional: the Pushgateway's basic-auth password (key ``password``) for the monitoring
task, where the Pushgateway sits behind a proxy that asks for one."""
COMPILE_TIME_GROUPS = ("CC_GPU__", "CC_IMAGES__", "CC_SERVING__", "CC_KFP__", "CC_SHARDS__")
"""Settings fixed in the IR when compiling (where the GPU and shard tasks run, which
images), read only by the predictor (from the InferenceService), or only by the client
that submits and schedules runs (where the KFP API is): no task reads them."""
PER_TASK_KEYS = frozenset({"CC_DL__TF_CONFIG", "CC_RUN__IMAGE", "CC_RUN__PIPELINE_RUN_ID"})
"""Set on each task by the pipeline or the Training Operator, never cluster-wide."""
CONFIG_KEYS = tuple(
    key
    for key in environment_keys(secrets=False)
    if not key.startswith(COMPILE_TIME_GROUPS) and key not in PER_TASK_KEYS
)
"""Every setting a task reads, derived from the settings tree: each can be set in the
ConfigMap; ``customer-classifier config check`` reports a key that is none of them."""
PIPELINE_SERVICE_ACCOUNT = "customer-classifier-pipeline"
"""The ServiceAccount a run's pods use (manifests/base/serviceaccounts.yaml), named by the
run itself: ``service_account=`` of kfp.Client's run and recurring-run calls."""


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
    # The overlays' namespaces enforce the restricted Pod Security Standard: the images'
    # unprivileged user, numerically, so admission can tell it is not root.
    kubernetes.set_security_context(
        task, run_as_user=RUN_AS_USER, run_as_group=RUN_AS_USER, run_as_non_root=True
    )
    return task


def with_pushgateway_password(task: dsl.PipelineTask) -> dsl.PipelineTask:
    """The Pushgateway password, from its optional Secret, for the task that pushes."""
    kubernetes.use_secret_as_env(
        task,
        PUSHGATEWAY_SECRET,
        {"password": "CC_MONITORING__PUSHGATEWAY_PASSWORD"},
        optional=True,
    )
    return task


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
