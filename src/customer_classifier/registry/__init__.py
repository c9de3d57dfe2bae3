"""The model store: immutable versions, checksums, aliases, lineage and the promotion gate.

A folder (:class:`LocalModelStore`) or an S3 bucket (:mod:`customer_classifier.registry.s3`:
MinIO, SeaweedFS, AWS), chosen by :func:`open_store` from ``CC_STORE_URI``.
"""

from customer_classifier.registry.bundle import ModelBundle, load_bundle, save_bundle
from customer_classifier.registry.store import (
    CHALLENGER,
    CHAMPION,
    ENVIRONMENT_ALIASES,
    LocalModelStore,
    ModelStore,
    ModelVersion,
    open_store,
)

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "ENVIRONMENT_ALIASES",
    "LocalModelStore",
    "ModelBundle",
    "ModelStore",
    "ModelVersion",
    "load_bundle",
    "open_store",
    "save_bundle",
]
