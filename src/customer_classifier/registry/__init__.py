"""The model store: immutable versions, checksums, and aliases (champion, challenger)."""

from customer_classifier.registry.bundle import ModelBundle, load_bundle, save_bundle
from customer_classifier.registry.store import (
    CHALLENGER,
    CHAMPION,
    LocalModelStore,
    ModelStore,
    ModelVersion,
    open_store,
)

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "LocalModelStore",
    "ModelBundle",
    "ModelStore",
    "ModelVersion",
    "load_bundle",
    "open_store",
    "save_bundle",
]
