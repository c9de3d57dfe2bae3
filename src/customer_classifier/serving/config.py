"""Settings of the online predictor: the ``serving`` group of the settings tree.

The container contract of the serving image: KServe's own flags (``--http_port`` 8080,
``--grpc_port`` 8081, ``--model_name``, ``--workers``, ...) plus ``--model_dir``; every
other knob is a ``CC_SERVING__*`` variable (:class:`ServingSettings`). In a cluster they
come from the InferenceService's ``env``; on a laptop ``make serve`` passes
``--model_dir`` pointing at the local model store.
"""

from __future__ import annotations

from customer_classifier.settings import ServingSettings

__all__ = ["MOUNT_PATH", "ServingSettings"]

MOUNT_PATH: str = ServingSettings.model_fields["model_uri"].default
"""Where KServe's storage initializer puts the files of ``storageUri``."""
