"""The device a Keras candidate trains on, and what follows from it.

Backend-neutral: the device is asked of whichever backend Keras runs on (TensorFlow in
production; JAX or PyTorch through ``KERAS_BACKEND``). Batch size and mixed precision
follow the device; on TensorFlow a ``tf.distribute`` strategy spreads the work over the
GPUs of one node (``MirroredStrategy``) or over several nodes
(``MultiWorkerMirroredStrategy``, from the ``TF_CONFIG`` a TFJob sets).
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any, Literal

from customer_classifier.errors import ConfigurationError
from customer_classifier.settings import StrategyName

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Device:
    backend: str
    kind: Literal["cpu", "gpu"]
    count: int
    name: str

    def describe(self) -> str:
        plural = "s" if self.count > 1 else ""
        return f"{self.count} x {self.name} ({self.kind}{plural}, keras backend {self.backend})"


def _gpu_names_from_nvidia_smi() -> list[str]:
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def detect_device() -> Device:
    """The accelerators the current Keras backend sees; the CPU when there are none."""
    import keras

    backend = keras.backend.backend()
    count = 0
    if backend == "tensorflow":
        import tensorflow as tf

        count = len(tf.config.list_physical_devices("GPU"))
    elif backend == "jax":
        import jax

        count = sum(1 for d in jax.devices() if d.platform == "gpu")
    elif backend == "torch":
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count:
        names = _gpu_names_from_nvidia_smi()
        return Device(backend, "gpu", count, names[0] if names else "GPU")
    return Device(backend, "cpu", 1, "CPU")


def scaled_batch_size(
    device: Device, *, cpu: int, per_gpu: int, replicas: int, rows: int, min_steps: int
) -> int:
    """The global batch: ``cpu`` rows on a CPU, ``per_gpu`` per replica on GPUs.

    Capped so an epoch has at least ``min_steps`` steps (a small window still gets
    several updates per epoch), and never below 32 rows per replica.
    """
    wanted = per_gpu * max(1, replicas) if device.kind == "gpu" else cpu
    cap = max(32 * max(1, replicas), 2 ** int(math.log2(max(1, rows // max(1, min_steps)))))
    return int(min(wanted, cap))


def _tf_config(raw: str) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        spec = json.loads(raw)
    except json.JSONDecodeError as exc:
        spec = str(exc)
    if not isinstance(spec, dict):
        raise ConfigurationError(
            f"TF_CONFIG is not valid JSON ({spec}); a TFJob sets it, unset it to train on one node"
        )
    return spec


def tf_config_workers(tf_config: str) -> int:
    """How many tasks the ``TF_CONFIG`` cluster spec names (0 when unset)."""
    cluster = _tf_config(tf_config).get("cluster", {})
    return sum(len(cluster.get(role, [])) for role in ("chief", "worker"))


def choose_strategy(requested: StrategyName, device: Device, tf_config: str = "") -> StrategyName:
    """Which distribution the run uses: multi-worker under a TF_CONFIG of several tasks,
    mirrored on several local GPUs, otherwise the default (one device)."""
    if requested != "auto":
        if requested != "default" and device.backend != "tensorflow":
            raise ConfigurationError(
                f"CC_DL__STRATEGY={requested!r} needs the TensorFlow backend, but Keras runs "
                f"on {device.backend!r}; set KERAS_BACKEND=tensorflow or CC_DL__STRATEGY=auto"
            )
        return requested
    if device.backend != "tensorflow":
        return "default"
    if tf_config_workers(tf_config) > 1:
        return "multi_worker"
    if device.kind == "gpu" and device.count > 1:
        return "mirrored"
    return "default"


def make_strategy(name: StrategyName, device: Device) -> Any:
    """The ``tf.distribute`` strategy for ``name``; None off TensorFlow or for one device."""
    if name in ("auto", "default") or device.backend != "tensorflow":
        return None
    import tensorflow as tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    implementation = (
        tf.distribute.experimental.CommunicationImplementation.NCCL
        if device.kind == "gpu"
        else tf.distribute.experimental.CommunicationImplementation.RING
    )
    return tf.distribute.MultiWorkerMirroredStrategy(
        communication_options=tf.distribute.experimental.CommunicationOptions(
            implementation=implementation
        )
    )


def is_chief(tf_config: str) -> bool:
    """Whether this process writes the results: the chief, or worker 0 when there is none.

    ``tf_config`` is the ``TF_CONFIG`` text (settings ``dl.tf_config``); empty: one node."""
    spec = _tf_config(tf_config)
    if not spec:
        return True
    task = spec.get("task", {})
    role, index = task.get("type", "worker"), int(task.get("index", 0))
    if role == "chief":
        return True
    has_chief = bool(spec.get("cluster", {}).get("chief"))
    return role == "worker" and index == 0 and not has_chief


def gpu_utilisation() -> dict[str, float] | None:
    """Utilisation (%) and memory in use (MiB) of GPU 0, from nvidia-smi; None without one."""
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        out = subprocess.run(
            [
                "nvidia-smi",
                "--query-gpu=utilization.gpu,memory.used",
                "--format=csv,noheader,nounits",
                "--id=0",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
        busy, memory = (float(v) for v in out.stdout.strip().split(","))
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return {"gpu_utilisation_percent": busy, "gpu_memory_used_mib": memory}
