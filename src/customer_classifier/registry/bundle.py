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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from customer_classifier.errors import RegistryError
from customer_classifier.features.build import FEATURE_NAMES, FEATURE_SCHEMA

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
        return np.where(scores >= self.threshold, "good", "bad")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def feature_schema_json() -> list[dict[str, Any]]:
    return [
        {
            "name": f.name,
            "kind": f.kind,
            "minimum": f.minimum,
            "maximum": f.maximum,
            "categories": list(f.categories) if f.categories else None,
        }
        for f in FEATURE_SCHEMA
    ]


def save_bundle(bundle: ModelBundle, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if callable(getattr(bundle.model, "save_artifacts", None)):
        bundle.model.save_artifacts(folder)
    joblib.dump(bundle.model, folder / MODEL_FILE, compress=3)
    metadata = {
        **bundle.metadata,
        "threshold": bundle.threshold,
        "feature_names": list(FEATURE_NAMES),
        "feature_schema": feature_schema_json(),
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
