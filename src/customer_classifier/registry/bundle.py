"""A model bundle: the fitted pipeline plus everything needed to use and trust it.

On disk a bundle is a folder: ``model.joblib`` (preprocessing + estimator) and
``model.json`` (threshold, feature schema, metrics, parameters, lineage). The store adds
``MANIFEST.json`` with the sha256 of every file; :func:`load_bundle` checks them.

A model with files of its own (a Keras network, ``model.keras``) has ``save_artifacts``
and ``load_artifacts(folder)``: they write and read those files beside ``model.joblib``,
which then holds the rest of the model but never the network.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from customer_classifier.data.contract import BAD, GOOD
from customer_classifier.errors import RegistryError
from customer_classifier.features.build import FEATURE_NAMES, FEATURE_SCHEMA, NULLABLE_FEATURES

MODEL_FILE = "model.joblib"
METADATA_FILE = "model.json"
MANIFEST_FILE = "MANIFEST.json"


@dataclass
class ModelBundle:
    model: Any
    threshold: float
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(self.metadata.get("feature_names", FEATURE_NAMES))

    def score(self, features: pd.DataFrame) -> np.ndarray:
        """Probability of *good* for each feature record (columns in schema order)."""
        return np.asarray(self.model.predict_proba(features[list(self.feature_names)])[:, 1])

    def label(self, scores: np.ndarray) -> np.ndarray:
        return np.where(scores >= self.threshold, GOOD, BAD)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


FEATURE_SCHEMA_KEY = "feature_schema"
_SCHEMA_KEYS = ("name", "kind", "nullable")


def feature_schema_json(
    vocabularies: Mapping[str, Sequence[str]] | None = None,
) -> list[dict[str, Any]]:
    """The feature schema a version is trained on, as ``model.json`` records it: each
    feature's kind, range, categories and whether it may be null. Serving checks requests
    against this record of the version, never against the code it runs.

    ``vocabularies`` replaces the categories of open-vocabulary features with those the
    training window held (:func:`~customer_classifier.features.build.observed_vocabularies`).
    """
    vocabularies = vocabularies or {}
    return [
        {
            "name": f.name,
            "kind": f.kind,
            "minimum": f.minimum,
            "maximum": f.maximum,
            "categories": list(vocabularies.get(f.name) or f.categories or ()) or None,
            "nullable": f.name in NULLABLE_FEATURES,
        }
        for f in FEATURE_SCHEMA
    ]


def recorded_feature_schema(metadata: dict[str, Any]) -> list[dict[str, Any]]:
    """The feature schema recorded in a version's ``model.json``, nullability included.

    A version registered before versions recorded their schema (or its nullability) is
    refused rather than checked against today's code: the code may have moved on since
    the model was trained, and a request the model cannot score would be accepted.
    """
    version = metadata.get("version", "(unregistered)")
    entries = metadata.get(FEATURE_SCHEMA_KEY)
    if not isinstance(entries, list) or not entries:
        raise RegistryError(
            f"model version {version}: {METADATA_FILE} has no {FEATURE_SCHEMA_KEY}, so "
            "what it accepts is unknown; register the model again (make run) with this "
            "code, which records it"
        )
    for entry in entries:
        missing = [k for k in _SCHEMA_KEYS if not isinstance(entry, dict) or k not in entry]
        if not missing and not isinstance(entry["nullable"], bool):
            missing = ["a true/false nullable"]
        if missing:
            name = entry.get("name", "?") if isinstance(entry, dict) else repr(entry)
            raise RegistryError(
                f"model version {version}: {FEATURE_SCHEMA_KEY} entry {name!r} lacks "
                f"{', '.join(missing)} (recorded by an older release); register the model "
                "again (make run) with this code, which records every feature's nullability"
            )
    return entries


def save_bundle(bundle: ModelBundle, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if callable(getattr(bundle.model, "save_artifacts", None)):
        bundle.model.save_artifacts(folder)
    joblib.dump(bundle.model, folder / MODEL_FILE, compress=3)
    metadata = {
        **bundle.metadata,
        "threshold": bundle.threshold,
        "feature_names": list(FEATURE_NAMES),
        FEATURE_SCHEMA_KEY: bundle.metadata.get(FEATURE_SCHEMA_KEY) or feature_schema_json(),
    }
    (folder / METADATA_FILE).write_text(
        json.dumps(metadata, indent=2, default=str), encoding="utf-8"
    )
    return folder


def verify_checksums(folder: Path) -> dict[str, Any]:
    """The manifest, after checking every file it lists; raises naming the bad file."""
    manifest_path = folder / MANIFEST_FILE
    if not manifest_path.exists():
        raise RegistryError(f"{folder} has no {MANIFEST_FILE}: not a complete model version")
    manifest: dict[str, Any] = json.loads(manifest_path.read_text(encoding="utf-8"))
    for name, expected in manifest["files"].items():
        path = folder / name
        if not path.exists():
            raise RegistryError(f"model version {manifest['version']}: file {name} is missing")
        found = sha256_file(path)
        if found != expected:
            raise RegistryError(
                f"model version {manifest['version']}: checksum mismatch for {name} "
                f"(expected {expected[:12]}..., found {found[:12]}...); the file was altered "
                "after registration: restore it or register a new version"
            )
    return manifest


def load_bundle(folder: Path, *, check: bool = True) -> ModelBundle:
    manifest = verify_checksums(folder) if check else {}
    metadata = json.loads((folder / METADATA_FILE).read_text(encoding="utf-8"))
    if manifest:
        metadata["version"] = manifest["version"]
    model = joblib.load(folder / MODEL_FILE)
    if callable(getattr(model, "load_artifacts", None)):
        model.load_artifacts(folder)
    return ModelBundle(model=model, threshold=float(metadata["threshold"]), metadata=metadata)
