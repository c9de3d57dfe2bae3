"""The folder-backed model store and the interface every backend keeps.

Layout (the same under an S3 prefix, so KServe's ``storageUri`` can point at a version)::

    versions/<version>/model.joblib, model.json, MANIFEST.json   (manifest written last)
    aliases/<alias>.json                                          (moved atomically)
    aliases/history.jsonl                                         (every alias move)

A version folder without its manifest is invisible: a crash mid-write leaves nothing
that a reader could load. :func:`open_store` picks the backend from the URI: a folder
here, ``s3://bucket/prefix`` in :mod:`customer_classifier.registry.s3`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import getpass
import json
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from customer_classifier.errors import AliasConflictError, ConfigurationError, RegistryError
from customer_classifier.registry.bundle import (
    MANIFEST_FILE,
    ModelBundle,
    load_bundle,
    save_bundle,
    sha256_file,
    verify_checksums,
)

if TYPE_CHECKING:
    from customer_classifier.registry.s3 import S3Config

_UNSET: Any = object()
CHAMPION, CHALLENGER = "champion", "challenger"
ENVIRONMENT_ALIASES = ("dev", "test", "prod")
"""Aliases a deployment per environment follows, next to champion and challenger."""
_ALIAS_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_VERSION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class ModelVersion:
    version: str
    created_at: str
    files: dict[str, str]
    metadata: dict[str, Any]


class ModelStore(Protocol):
    """What every backend offers; the jobs, the CLI and the gate use nothing else."""

    uri: str

    def register(self, bundle: ModelBundle) -> ModelVersion:
        """Store the bundle as a new immutable version (manifest last) and return it."""
        ...

    def get(self, version: str) -> ModelVersion: ...
    def load(self, version: str) -> ModelBundle:
        """The bundle, after checking every file against the manifest's sha256."""
        ...

    def export(self, version: str, folder: Path) -> Path:
        """Copy a version's files into ``folder`` (checked) and return it."""
        ...

    def version_uri(self, version: str) -> str:
        """Where the version's files live (a KServe ``storageUri`` for S3)."""
        ...

    def list_versions(self) -> list[ModelVersion]: ...
    def get_alias(self, alias: str) -> str | None: ...
    def aliases(self) -> dict[str, str]:
        """Every alias and the version it points at."""
        ...

    def set_alias(
        self, alias: str, version: str, *, expected: str | None = _UNSET, reason: str = ""
    ) -> dict[str, Any]:
        """Move ``alias`` to ``version``; with ``expected``, only if it still points there
        (else :class:`AliasConflictError`). Returns the history entry of the move."""
        ...

    def history(self, alias: str | None = None) -> list[dict[str, Any]]:
        """Every alias move (of one alias), oldest first."""
        ...

    def delete_version(self, version: str) -> None:
        """Remove a version: the manifest first, so it is invisible before it is gone."""
        ...

    def incomplete_versions(self, older_than: dt.timedelta) -> list[str]:
        """Leftovers of crashed registrations (files without a manifest), older than this."""
        ...

    def discard_incomplete(self, version: str) -> None: ...


def check_alias_name(alias: str) -> str:
    if not _ALIAS_NAME.match(alias) or alias == "history":
        raise RegistryError(
            f"alias {alias!r} is not valid: use 1 to 63 lower-case letters, digits and '-', "
            f"starting with a letter (for example {CHAMPION}, {CHALLENGER}, prod)"
        )
    return alias


def valid_version_id(version: str) -> bool:
    """True for a name that can be a version: no path separators or dot-dot tricks."""
    return bool(_VERSION_ID.match(version)) and ".." not in version


def actor() -> str:
    """Who moves an alias: ``CC_ACTOR`` (a pipeline run, a CI job), else the OS user."""
    return os.environ.get("CC_ACTOR") or getpass.getuser()


def move_entry(alias: str, current: str | None, version: str, reason: str) -> dict[str, Any]:
    """The history record of one alias move (who/what, when, from, to, why)."""
    return {
        "alias": alias,
        "from": current,
        "to": version,
        "at": dt.datetime.now(dt.UTC).isoformat(),
        "by": actor(),
        "reason": reason,
    }


def conflict(alias: str, current: str | None, expected: str | None) -> AliasConflictError:
    return AliasConflictError(
        f"alias {alias!r} moved to {current!r} while this run expected "
        f"{expected!r}; re-read the alias and retry the promotion"
    )


def new_version_id(now: dt.datetime | None = None) -> str:
    """Sortable by time to the microsecond, unique without coordination.

    ``v<UTC seconds>-<microseconds as 5 hex digits><1 random hex digit>``; two writers
    would have to start in the same microsecond and draw the same digit to collide, and
    the store refuses to overwrite a version even then.
    """
    now = now or dt.datetime.now(dt.UTC)
    return f"v{now:%Y%m%d%H%M%S}-{now.microsecond:05x}{uuid.uuid4().hex[0]}"


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

    def version_uri(self, version: str) -> str:
        return str(self.version_path(version))

    def get(self, version: str) -> ModelVersion:
        folder = self.version_path(version)
        manifest_path = folder / MANIFEST_FILE
        if not valid_version_id(version) or not manifest_path.exists():
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

    def export(self, version: str, folder: Path) -> Path:
        self.get(version)
        shutil.copytree(self.version_path(version), folder, dirs_exist_ok=True)
        verify_checksums(folder)
        return folder

    def list_versions(self) -> list[ModelVersion]:
        if not self._versions.exists():
            return []
        found = [
            self.get(p.name)
            for p in sorted(self._versions.iterdir())
            if (p / MANIFEST_FILE).exists()
        ]
        return sorted(found, key=lambda v: (v.created_at, v.version))

    def get_alias(self, alias: str) -> str | None:
        path = self._aliases / f"{check_alias_name(alias)}.json"
        if not path.exists():
            return None
        return str(json.loads(path.read_text(encoding="utf-8"))["version"])

    def aliases(self) -> dict[str, str]:
        if not self._aliases.exists():
            return {}
        found = {}
        for path in sorted(self._aliases.glob("*.json")):
            if _ALIAS_NAME.match(path.stem):
                found[path.stem] = str(json.loads(path.read_text(encoding="utf-8"))["version"])
        return found

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
    ) -> dict[str, Any]:
        """Point ``alias`` at ``version``; with ``expected``, only if it still points there."""
        check_alias_name(alias)
        self.get(version)  # refuse to alias something that does not exist
        with self._lock():
            current = self.get_alias(alias)
            if expected is not _UNSET and current != expected:
                raise conflict(alias, current, expected)
            entry = move_entry(alias, current, version, reason)
            _write_json_atomic(
                self._aliases / f"{alias}.json",
                {"version": version, "moved_at": entry["at"], "reason": reason},
            )
            with (self._aliases / "history.jsonl").open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry) + "\n")
        return entry

    def history(self, alias: str | None = None) -> list[dict[str, Any]]:
        path = self._aliases / "history.jsonl"
        if not path.exists():
            return []
        entries = [
            json.loads(line)
            for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
        return [e for e in entries if alias is None or e["alias"] == alias]

    def delete_version(self, version: str) -> None:
        self.get(version)
        folder = self.version_path(version)
        (folder / MANIFEST_FILE).unlink()  # invisible first, then gone
        shutil.rmtree(folder)

    def incomplete_versions(self, older_than: dt.timedelta) -> list[str]:
        """Version folders without a manifest, and staging leftovers, older than this."""
        cutoff = dt.datetime.now(dt.UTC).timestamp() - older_than.total_seconds()
        found = []
        for parent in (self._versions, self.root / "staging"):
            if not parent.exists():
                continue
            for path in sorted(parent.iterdir()):
                if path.is_dir() and not (path / MANIFEST_FILE).exists():
                    newest = max((p.stat().st_mtime for p in path.rglob("*")), default=0.0)
                    if max(newest, path.stat().st_mtime) < cutoff:
                        found.append(f"{parent.name}/{path.name}")
        return found

    def discard_incomplete(self, version: str) -> None:
        """Remove one leftover named by :meth:`incomplete_versions`."""
        parent, _, name = version.partition("/")
        folder = self.root / parent / name
        if parent not in {"versions", "staging"} or not valid_version_id(name.split(".")[0]):
            raise RegistryError(f"{version!r} is not an incomplete version of {self.uri}")
        if (folder / MANIFEST_FILE).exists():
            raise RegistryError(f"{version!r} has a manifest: it is a version, not a leftover")
        shutil.rmtree(folder, ignore_errors=True)

    def discard_staging(self) -> None:
        """Remove leftovers of crashed registrations (never visible to readers)."""
        shutil.rmtree(self.root / "staging", ignore_errors=True)


def open_store(uri: str, s3: S3Config | None = None) -> ModelStore:
    """The store at ``uri``: ``s3://bucket/prefix`` (MinIO, SeaweedFS, AWS S3), else a folder.

    For S3 the endpoint, region, TLS and credentials come from ``s3`` or, when it is not
    given, from the environment (``CC_S3_*``; see :class:`S3Config`).
    """
    if "://" in uri:
        scheme = uri.split("://", 1)[0]
        if scheme != "s3":
            raise ConfigurationError(
                f"CC_STORE_URI {uri!r}: scheme {scheme!r} is not supported; "
                "use s3://bucket/prefix for MinIO/S3, or a folder path"
            )
        from customer_classifier.registry.s3 import S3ModelStore

        return S3ModelStore.from_uri(uri, s3)
    return LocalModelStore(Path(uri))
