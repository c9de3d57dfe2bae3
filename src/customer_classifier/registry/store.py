"""The folder-backed model store and the interface every backend keeps.

Layout (the same under an S3 prefix, so KServe's ``storageUri`` can point at a version)::

    versions/<version>/model.joblib, model.json, MANIFEST.json   (manifest written last)
    aliases/<alias>.json                                          (moved atomically)
    aliases/history.jsonl                                         (every alias move)

A version folder without its manifest is invisible: a crash mid-write leaves nothing
that a reader could load.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import getpass
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from customer_classifier.errors import AliasConflictError, ConfigurationError, RegistryError
from customer_classifier.registry.bundle import (
    MANIFEST_FILE,
    ModelBundle,
    load_bundle,
    save_bundle,
    sha256_file,
)

_UNSET: Any = object()
CHAMPION, CHALLENGER = "champion", "challenger"


@dataclass(frozen=True)
class ModelVersion:
    version: str
    created_at: str
    files: dict[str, str]
    metadata: dict[str, Any]


class ModelStore(Protocol):
    uri: str

    def register(self, bundle: ModelBundle) -> ModelVersion: ...
    def get(self, version: str) -> ModelVersion: ...
    def load(self, version: str) -> ModelBundle: ...
    def list_versions(self) -> list[ModelVersion]: ...
    def get_alias(self, alias: str) -> str | None: ...
    def set_alias(
        self, alias: str, version: str, *, expected: str | None = _UNSET, reason: str = ""
    ) -> None: ...
    def history(self) -> list[dict[str, Any]]: ...


def new_version_id(now: dt.datetime | None = None) -> str:
    """Sortable by time, unique without coordination."""
    now = now or dt.datetime.now(dt.UTC)
    return f"v{now:%Y%m%d%H%M%S}-{uuid.uuid4().hex[:6]}"


def _write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(payload, handle, indent=2, default=str)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class LocalModelStore:
    """A model store in a local (or mounted) folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.uri = str(root)

    @property
    def _versions(self) -> Path:
        return self.root / "versions"

    @property
    def _aliases(self) -> Path:
        return self.root / "aliases"

    def version_path(self, version: str) -> Path:
        return self._versions / version

    def register(self, bundle: ModelBundle) -> ModelVersion:
        version = new_version_id()
        staging = self.root / "staging" / f"{version}.{uuid.uuid4().hex[:6]}"
        save_bundle(bundle, staging)
        files = {p.name: sha256_file(p) for p in sorted(staging.iterdir()) if p.is_file()}
        created = dt.datetime.now(dt.UTC).isoformat()
        _write_json_atomic(
            staging / MANIFEST_FILE,
            {
                "version": version,
                "created_at": created,
                "files": files,
            },
        )
        self._versions.mkdir(parents=True, exist_ok=True)
        os.replace(staging, self.version_path(version))  # atomic: whole folder appears at once
        return self.get(version)

    def get(self, version: str) -> ModelVersion:
        folder = self.version_path(version)
        manifest_path = folder / MANIFEST_FILE
        if not manifest_path.exists():
            known = ", ".join(v.version for v in self.list_versions()[-5:]) or "none"
            raise RegistryError(
                f"model version {version!r} not found in {self.uri} (latest: {known})"
            )
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        metadata = json.loads((folder / "model.json").read_text(encoding="utf-8"))
        return ModelVersion(
            version=version,
            created_at=manifest["created_at"],
            files=manifest["files"],
            metadata=metadata,
        )

    def load(self, version: str) -> ModelBundle:
        self.get(version)
        return load_bundle(self.version_path(version))

    def list_versions(self) -> list[ModelVersion]:
        if not self._versions.exists():
            return []
        return [
            self.get(p.name)
            for p in sorted(self._versions.iterdir())
            if (p / MANIFEST_FILE).exists()
        ]

    def get_alias(self, alias: str) -> str | None:
        path = self._aliases / f"{alias}.json"
        if not path.exists():
            return None
        return str(json.loads(path.read_text(encoding="utf-8"))["version"])

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        self._aliases.mkdir(parents=True, exist_ok=True)
        with (self._aliases / ".lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def set_alias(
        self, alias: str, version: str, *, expected: str | None = _UNSET, reason: str = ""
    ) -> None:
        """Point ``alias`` at ``version``; with ``expected``, only if it still points there."""
        self.get(version)  # refuse to alias something that does not exist
        with self._lock():
            current = self.get_alias(alias)
            if expected is not _UNSET and current != expected:
                raise AliasConflictError(
                    f"alias {alias!r} moved to {current!r} while this run expected "
                    f"{expected!r}; re-read the alias and retry the promotion"
                )
            now = dt.datetime.now(dt.UTC).isoformat()
            _write_json_atomic(
                self._aliases / f"{alias}.json",
                {"version": version, "moved_at": now, "reason": reason},
            )
            entry = {
                "alias": alias,
                "from": current,
                "to": version,
                "at": now,
                "by": os.environ.get("CC_ACTOR", getpass.getuser()),
                "reason": reason,
            }
            with (self._aliases / "history.jsonl").open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry) + "\n")

    def history(self) -> list[dict[str, Any]]:
        path = self._aliases / "history.jsonl"
        if not path.exists():
            return []
        return [
            json.loads(line)
            for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]

    def discard_staging(self) -> None:
        """Remove leftovers of crashed registrations (never visible to readers)."""
        shutil.rmtree(self.root / "staging", ignore_errors=True)


def open_store(uri: str) -> ModelStore:
    if uri.startswith("s3://"):
        raise ConfigurationError(
            f"CC_STORE_URI {uri!r}: the S3/MinIO backend is not part of this build yet; "
            "use a folder path"
        )
    return LocalModelStore(Path(uri))
