"""The model store: immutable versions, checksums, aliases, lineage and the promotion gate.

The interface (:mod:`.store`: :class:`ModelStore` and the helpers every backend shares)
stands below the backends, a folder (:mod:`.folder`: :class:`LocalModelStore`) or an S3
bucket (:mod:`.s3` over :mod:`.s3_transport`: MinIO, SeaweedFS, AWS); the factory
(:mod:`.factory`: :func:`open_store`) above them picks one from ``CC_STORE_URI``.
"""

from customer_classifier.registry.bundle import ModelBundle, load_bundle, save_bundle
from customer_classifier.registry.factory import open_store
from customer_classifier.registry.folder import LocalModelStore
from customer_classifier.registry.store import (
    CHALLENGER,
    CHAMPION,
    ENVIRONMENT_ALIASES,
    ModelStore,
    ModelVersion,
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
