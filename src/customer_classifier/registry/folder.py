"""The model store in a local (or mounted) folder.

Layout as in :mod:`customer_classifier.registry.store`; the alias history is one
``aliases/history.jsonl``, appended under a file lock. A version is written in
``staging/`` and renamed into ``versions/`` whole, so it appears at once or not at all.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from customer_classifier.errors import RegistryError
from customer_classifier.registry.bundle import (
    MANIFEST_FILE,
    ModelBundle,
    load_bundle,
    save_bundle,
    verify_checksums,
)
from customer_classifier.registry.store import (
    UNSET,
    ModelVersion,
    check_alias_name,
    conflict,
    in_registration_order,
    json_bytes,
    move_entry,
    new_manifest,
    new_version_id,
    state_key,
    valid_alias_name,
    valid_version_id,
)


def _write_atomic(path: Path, data: bytes) -> None:
    """Write beside the target, flush to disk, then rename over it: never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


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
        _write_atomic(staging / MANIFEST_FILE, json_bytes(new_manifest(version, staging)))
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
        return in_registration_order(found)

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
            if valid_alias_name(path.stem):
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
        self,
        alias: str,
        version: str,
        *,
        expected: str | None = UNSET,
        reason: str = "",
        actor: str | None = None,
    ) -> dict[str, Any]:
        """Point ``alias`` at ``version``; with ``expected``, only if it still points there."""
        check_alias_name(alias)
        self.get(version)  # refuse to alias something that does not exist
        with self._lock():
            current = self.get_alias(alias)
            if expected is not UNSET and current != expected:
                raise conflict(alias, current, expected)
            entry = move_entry(alias, current, version, reason, actor)
            _write_atomic(
                self._aliases / f"{alias}.json",
                json_bytes({"version": version, "moved_at": entry["at"], "reason": reason}),
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

    def _state_path(self, name: str) -> Path:
        return self.root / state_key(name)

    def read_state(self, name: str) -> bytes | None:
        path = self._state_path(name)
        return path.read_bytes() if path.is_file() else None

    def write_state(self, name: str, data: bytes) -> None:
        _write_atomic(self._state_path(name), data)
