"""Where the predictor's model versions come from, and a loaded version ready to score.

Two layouts, told apart by what the folder holds:

* a **version folder** (``MANIFEST.json``, ``model.joblib``, ``model.json``): what KServe's
  storage initializer mounts at ``/mnt/models`` when ``storageUri`` names one version of
  the registry; the folder is the champion;
* a **model store** (``aliases/``, ``versions/``): the champion and challenger are aliases
  (or version ids) resolved on every reload check, so moving the ``champion`` alias is
  enough to roll a new version out to running predictors.

A challenger may also be named by the path of another version folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from customer_classifier.errors import ExplanationError, RegistryError
from customer_classifier.evaluation.contributions import Explainer, explainer_for
from customer_classifier.registry import ModelBundle, ModelStore, load_bundle, open_store
from customer_classifier.registry.bundle import MANIFEST_FILE
from customer_classifier.serving.compiled import Columns, Scorer, verified_scorer
from customer_classifier.serving.schema import RecordSchema
from customer_classifier.settings import S3Settings


@dataclass(frozen=True)
class ServedModel:
    """One model version as the predictor uses it."""

    role: str
    version: str
    bundle: ModelBundle
    schema: RecordSchema
    scorer: Scorer
    scorer_kind: str
    """``compiled`` (checked equal to the pipeline at load) or ``pipeline``."""
    explainer: Explainer | None = None
    """Per-customer contributions for ``:explain``; None when the model has none."""
    explain_problem: str = ""
    """Why there is no explainer (names the model type)."""

    def score(self, columns: Columns) -> tuple[np.ndarray, np.ndarray]:
        """Scores and labels of validated feature columns, as nightly batch scoring has them."""
        scores = self.scorer(columns)
        return scores, self.bundle.label(scores)


def _is_version_folder(path: Path) -> bool:
    return (path / MANIFEST_FILE).is_file()


def _is_path(reference: str) -> bool:
    return "/" in reference or reference.startswith(".")


def _manifest_version(folder: Path) -> str:
    manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    return str(manifest["version"])


class ModelSource:
    """Resolves references (alias, version id, version folder) and loads versions."""

    def __init__(self, uri: str, *, verify: bool = True, s3: S3Settings | None = None) -> None:
        self.uri = uri
        self.verify = verify
        self._store: ModelStore | None = None
        if not _is_version_folder(Path(uri)):
            self._store = open_store(uri, s3)  # ConfigurationError for unsupported URIs

    def resolve(self, reference: str) -> str | None:
        """The version ``reference`` names now; None while a store alias is unset."""
        path = Path(reference)
        if _is_path(reference):
            if not _is_version_folder(path):
                raise RegistryError(
                    f"{reference} is not a model version folder (no {MANIFEST_FILE}); point "
                    "it at versions/<version> of a model store"
                )
            return _manifest_version(path)
        if self._store is None:
            return _manifest_version(Path(self.uri))
        try:
            version = self._store.get_alias(reference)
        except RegistryError:  # not a valid alias name: perhaps a version id
            version = None
        if version is not None:
            return version
        try:
            return self._store.get(reference).version
        except RegistryError:
            return None  # neither an alias nor a version: not there yet

    def load(self, reference: str, version: str, role: str) -> ServedModel:
        path = Path(reference)
        if _is_path(reference):
            bundle = load_bundle(path, check=self.verify)
        elif self._store is None:
            bundle = load_bundle(Path(self.uri), check=self.verify)
        else:
            bundle = self._store.load(version)
        found = str(bundle.metadata.get("version", version))
        if found != version:
            raise RegistryError(
                f"{reference} moved from {version} to {found} while loading; the next reload "
                "check picks the new one"
            )
        schema = RecordSchema.from_bundle(bundle.metadata)
        scorer, kind = verified_scorer(bundle.model, schema)
        explainer: Explainer | None = None
        problem = ""
        try:
            explainer = explainer_for(bundle.model, bundle.metadata, schema.names)
        except ExplanationError as exc:
            problem = str(exc)
        return ServedModel(
            role=role,
            version=version,
            bundle=bundle,
            schema=schema,
            scorer=scorer,
            scorer_kind=kind,
            explainer=explainer,
            explain_problem=problem,
        )

    def describe_missing(self, reference: str) -> str:
        return (
            f"no version behind {reference!r} in the model store {self.uri} yet; register "
            f"a model (make run) or point the alias at a version"
        )

    def read_state(self, name: str) -> bytes | None:
        """A store state file (the rollout's traffic split); None for a version folder."""
        return None if self._store is None else self._store.read_state(name)
