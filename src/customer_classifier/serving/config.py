"""Settings of the online predictor, read once from the environment (prefix ``CC_SERVING_``).

The container contract of the serving image: KServe's own flags (``--http_port`` 8080,
``--grpc_port`` 8081, ``--model_name``, ``--workers``, ...) plus ``--model_dir``; every
other knob is one of these variables. In a cluster they come from the
InferenceService's ``env``; on a laptop ``make serve`` passes ``--model_dir`` pointing at
the local model store.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from customer_classifier.registry import CHAMPION

MOUNT_PATH = "/mnt/models"
"""Where KServe's storage initializer puts the files of ``storageUri``."""


class ServingSettings(BaseSettings):
    """Everything the predictor needs to know, validated before the server starts."""

    model_config = SettingsConfigDict(env_prefix="CC_SERVING_", frozen=True, extra="forbid")

    model_name: str = Field(
        default="customer-classifier", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
    )
    """Name in the URLs (``/v1/models/NAME:predict``); the InferenceService's name."""
    model_uri: str = MOUNT_PATH
    """A registry version folder (what the storage initializer mounts when ``storageUri``
    points at ``versions/<version>``) or the root of a model store (``aliases/`` and
    ``versions/``), where ``champion`` and ``challenger`` are resolved."""
    champion: str = CHAMPION
    """Alias or version id of the model that answers, when ``model_uri`` is a store."""
    challenger: str | None = None
    """Alias or version id in the store, or the path of a version folder; unset: none."""
    challenger_mode: Literal["shadow", "canary"] = "shadow"
    """``shadow``: the challenger scores every batch on the side and never answers;
    ``canary``: it answers for ``canary_percent`` of customers (sticky by customer_id)."""
    canary_percent: float = Field(default=0.0, ge=0.0, le=100.0)
    max_batch_rows: int = Field(default=512, ge=1, le=100_000)
    """Most rows the micro-batcher hands to the model in one call."""
    max_wait_ms: float = Field(default=3.0, ge=0.0, le=100.0)
    """Longest a request waits for other requests already on their way to join its batch.
    A request that arrives alone is never held back."""
    max_request_rows: int = Field(default=1_000, ge=1, le=100_000)
    """Most records one request may carry; more is answered 400."""
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1_024)
    """Largest request body accepted on the inference routes; more is answered 413."""
    shadow_queue_batches: int = Field(default=4, ge=1, le=1_000)
    """Batches the shadow challenger may lag behind; further ones are skipped (and counted)
    rather than queued, so the challenger can never hold the champion's answers back."""
    reload_interval_s: float = Field(default=10.0, ge=0.0)
    """How often the store's aliases are checked for a new version; 0: only on
    ``POST /v2/repository/models/NAME/load``."""
    verify_checksums: bool = True
    """Check every file of a version against its manifest before serving it."""
    access_log: bool = True
    """One JSON line per inference request (caller, model version, status, latency)."""

    @model_validator(mode="after")
    def _challenger_needed(self) -> ServingSettings:
        if self.challenger_mode == "canary" and self.canary_percent > 0 and not self.challenger:
            raise ValueError(
                "CC_SERVING_CANARY_PERCENT is above 0 but CC_SERVING_CHALLENGER is unset; "
                "name the challenger's alias, version or folder, or set the percent to 0"
            )
        return self
