"""The model store in an S3 bucket: MinIO, SeaweedFS (Kubeflow's newer default), AWS S3.

Layout under ``s3://BUCKET/PREFIX``, the same as the folder store's, so that a KServe
``storageUri`` of ``s3://BUCKET/PREFIX/versions/VERSION`` downloads exactly one version::

    versions/<version>/model.joblib, model.json   uploaded first
    versions/<version>/MANIFEST.json              uploaded last, create-only: the commit
    aliases/<alias>.json                          replaced only if its ETag is unchanged
    aliases/history/<alias>/<seq>.json            one object per move, never rewritten
    state/<name>                                  one object, replaced whole

Readers see a version only through its manifest, so an upload that dies half way leaves
nothing loadable (``models gc`` removes the leftovers later). Aliases move by
compare-and-swap (``If-Match`` on the ETag read, ``If-None-Match: *`` for a new alias):
of two concurrent promotions one wins and the other gets :class:`AliasConflictError`.

Requests, retries and the errors of an unreachable or refusing server are the
transport's (:mod:`customer_classifier.registry.s3_transport`); this module only says
which objects to read and write, and in which order.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

from customer_classifier.errors import ConfigurationError, RegistryError
from customer_classifier.registry.bundle import (
    MANIFEST_FILE,
    METADATA_FILE,
    ModelBundle,
    load_bundle,
    save_bundle,
    verify_checksums,
)
from customer_classifier.registry.s3_transport import S3Transport
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
    valid_version_id,
)
from customer_classifier.settings import S3Settings


class AliasBusyError(RegistryError):
    """An unconditional alias move lost the compare-and-swap too many times in a row."""


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> (bucket, "some/prefix"); names the problem otherwise."""
    parts = urllib.parse.urlsplit(uri)
    bucket, prefix = parts.netloc, parts.path.strip("/")
    if parts.scheme != "s3" or not bucket:
        raise ConfigurationError(
            f"CC_STORE_URI {uri!r} is not s3://BUCKET[/PREFIX]; for example "
            "s3://mlpipeline/customer-classifier"
        )
    if not (3 <= len(bucket) <= 63) or not all(c.isalnum() or c in "-." for c in bucket):
        raise ConfigurationError(
            f"CC_STORE_URI {uri!r}: bucket {bucket!r} is not a valid S3 bucket name "
            "(3 to 63 lower-case letters, digits, '-' and '.')"
        )
    if bucket != bucket.lower() or ".." in prefix or "//" in prefix:
        raise ConfigurationError(
            f"CC_STORE_URI {uri!r}: use a lower-case bucket and a prefix without '..' or '//'"
        )
    return bucket, prefix


class S3ModelStore:
    """A model store under ``s3://bucket/prefix``; the same behaviour as the folder store."""

    def __init__(self, transport: S3Transport, prefix: str) -> None:
        self.transport = transport
        self.bucket = transport.bucket
        self.prefix = prefix.strip("/")
        self.uri = f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    @classmethod
    def from_uri(cls, uri: str, config: S3Settings | None = None) -> S3ModelStore:
        bucket, prefix = parse_s3_uri(uri)
        return cls(S3Transport(config or S3Settings(), bucket), prefix)

    def _key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)

    def _get_json(self, key: str) -> tuple[dict[str, Any], str] | None:
        found = self.transport.get(key)
        if found is None:
            return None
        try:
            return json.loads(found[0]), found[1]
        except json.JSONDecodeError as exc:
            raise RegistryError(
                f"{self.uri}/{key.removeprefix(self.prefix).lstrip('/')} is not valid JSON "
                f"({exc}); restore it from the history or re-register the version"
            ) from exc

    # -- versions ------------------------------------------------------------------------

    def _version_key(self, version: str, name: str = "") -> str:
        return self._key("versions", version, name)

    def version_uri(self, version: str) -> str:
        return f"s3://{self.bucket}/{self._version_key(version)}"

    def register(self, bundle: ModelBundle) -> ModelVersion:
        version = new_version_id()
        with tempfile.TemporaryDirectory(prefix="cc-register-") as tmp:
            folder = save_bundle(bundle, Path(tmp))
            manifest = new_manifest(version, folder)
            files: dict[str, str] = manifest["files"]
            for name in files:
                self.transport.put(
                    self._version_key(version, name),
                    (folder / name).read_bytes(),
                    content_type="application/octet-stream",
                )
            metadata = json.loads((folder / METADATA_FILE).read_text(encoding="utf-8"))
        key = self._version_key(version, MANIFEST_FILE)
        if not self.transport.put_if(key, json_bytes(manifest), None):
            existing = self._get_json(key)
            if existing is None or existing[0] != manifest:  # not our own retried write
                raise RegistryError(
                    f"model version {version} already exists in {self.uri}; versions are "
                    "immutable: register again for a new version id"
                )
        return ModelVersion(version, manifest["created_at"], files, metadata)

    def _not_found(self, version: str) -> RegistryError:
        known = ", ".join(v for v in self._version_ids()[-5:]) or "none"
        return RegistryError(f"model version {version!r} not found in {self.uri} (latest: {known})")

    def get(self, version: str) -> ModelVersion:
        if not valid_version_id(version):
            raise self._not_found(version)
        manifest = self._get_json(self._version_key(version, MANIFEST_FILE))
        if manifest is None:
            raise self._not_found(version)
        metadata = self._get_json(self._version_key(version, METADATA_FILE))
        if metadata is None:
            raise RegistryError(
                f"model version {version}: file {METADATA_FILE} is missing from {self.uri}; "
                "the version is damaged: move its aliases elsewhere and delete it"
            )
        return ModelVersion(
            version=version,
            created_at=manifest[0]["created_at"],
            files=manifest[0]["files"],
            metadata=metadata[0],
        )

    def export(self, version: str, folder: Path) -> Path:
        """Download the version's files into ``folder`` and check them against the manifest."""
        if not valid_version_id(version):
            raise self._not_found(version)
        manifest = self.transport.get(self._version_key(version, MANIFEST_FILE))
        if manifest is None:
            raise self._not_found(version)
        folder.mkdir(parents=True, exist_ok=True)
        for name in json.loads(manifest[0])["files"]:
            found = self.transport.get(self._version_key(version, name))
            if found is None:
                raise RegistryError(
                    f"model version {version}: file {name} is missing from {self.uri}; the "
                    "version is damaged: move its aliases elsewhere and delete it"
                )
            (folder / name).write_bytes(found[0])
        (folder / MANIFEST_FILE).write_bytes(manifest[0])
        verify_checksums(folder)
        return folder

    def load(self, version: str) -> ModelBundle:
        with tempfile.TemporaryDirectory(prefix="cc-load-") as tmp:
            return load_bundle(self.export(version, Path(tmp) / version))

    def _objects_by_version(self) -> dict[str, list[Any]]:
        root = self._key("versions") + "/"
        grouped: dict[str, list[Any]] = {}
        for item in self.transport.list_objects(root):
            name = item.object_name.removeprefix(root)
            version, _, rest = name.partition("/")
            if rest:
                grouped.setdefault(version, []).append(item)
        return grouped

    def _version_ids(self) -> list[str]:
        return sorted(
            version
            for version, items in self._objects_by_version().items()
            if any(i.object_name.endswith("/" + MANIFEST_FILE) for i in items)
        )

    def list_versions(self) -> list[ModelVersion]:
        found = [self.get(version) for version in self._version_ids()]
        return in_registration_order(found)

    def delete_version(self, version: str) -> None:
        self.get(version)
        self.transport.delete(self._version_key(version, MANIFEST_FILE))  # invisible first
        for item in self.transport.list_objects(self._version_key(version) + "/"):
            self.transport.delete(item.object_name)

    def incomplete_versions(self, older_than: dt.timedelta) -> list[str]:
        cutoff = dt.datetime.now(dt.UTC) - older_than
        found = []
        for version, items in sorted(self._objects_by_version().items()):
            if any(i.object_name.endswith("/" + MANIFEST_FILE) for i in items):
                continue
            newest = max(i.last_modified for i in items if i.last_modified is not None)
            if newest < cutoff:
                found.append(version)
        return found

    def discard_incomplete(self, version: str) -> None:
        if not valid_version_id(version):
            raise RegistryError(f"{version!r} is not an incomplete version of {self.uri}")
        if self.transport.get(self._version_key(version, MANIFEST_FILE)) is not None:
            raise RegistryError(f"{version!r} has a manifest: it is a version, not a leftover")
        for item in self.transport.list_objects(self._version_key(version) + "/"):
            self.transport.delete(item.object_name)

    # -- aliases -------------------------------------------------------------------------

    def _alias_key(self, alias: str) -> str:
        return self._key("aliases", f"{alias}.json")

    def _history_key(self, alias: str, seq: int) -> str:
        return self._key("aliases", "history", alias, f"{seq:010d}.json")

    def _read_alias(self, alias: str) -> tuple[dict[str, Any], str] | None:
        """The alias document and its ETag (the compare-and-swap token), or None."""
        return self._get_json(self._alias_key(alias))

    def get_alias(self, alias: str) -> str | None:
        found = self._read_alias(check_alias_name(alias))
        return None if found is None else str(found[0]["version"])

    def aliases(self) -> dict[str, str]:
        root = self._key("aliases") + "/"
        names = [
            item.object_name.removeprefix(root).removesuffix(".json")
            for item in self.transport.list_objects(root, recursive=False)
            if item.object_name.endswith(".json")
        ]
        found = {}
        for name in sorted(names):
            version = self.get_alias(name)
            if version is not None:
                found[name] = version
        return found

    def set_alias(
        self,
        alias: str,
        version: str,
        *,
        expected: str | None = UNSET,
        reason: str = "",
        actor: str | None = None,
    ) -> dict[str, Any]:
        """Compare-and-swap the alias document; with ``expected``, only from that version.

        Without ``expected`` a concurrent move is retried on the new state (the last
        writer wins, in order); with it, a concurrent move is a conflict.
        """
        check_alias_name(alias)
        self.get(version)  # refuse to alias something that does not exist
        move_id = uuid.uuid4().hex
        for _ in range(self.transport.config.attempts + 4):
            found = self._read_alias(alias)
            doc, etag = found if found is not None else ({}, None)
            current = doc.get("version")
            if expected is not UNSET and current != expected:
                raise conflict(alias, current, expected)
            entry = {
                **move_entry(alias, current, version, reason, actor),
                "seq": int(doc.get("seq", 0)) + 1,
                "move_id": move_id,
            }
            new = {"version": version, "moved_at": entry["at"], "reason": reason, **entry}
            if self.transport.put_if(self._alias_key(alias), json_bytes(new), etag):
                break
            after = self._read_alias(alias)
            if after is not None and after[0].get("move_id") == move_id:
                break  # our write landed; only its answer was lost and retried
            if expected is not UNSET:
                raise conflict(alias, None if after is None else after[0].get("version"), expected)
        else:
            raise AliasBusyError(
                f"alias {alias!r} in {self.uri} kept moving under this write; retry later"
            )
        if doc:  # the previous move's record, in case its writer died before writing it
            self._record(alias, {k: v for k, v in doc.items() if k not in {"version", "moved_at"}})
        self._record(alias, entry)
        return {k: v for k, v in entry.items() if k != "move_id"}

    def _record(self, alias: str, entry: dict[str, Any]) -> None:
        if "seq" in entry:
            self.transport.put_if(
                self._history_key(alias, int(entry["seq"])), json_bytes(entry), None
            )

    def history(self, alias: str | None = None) -> list[dict[str, Any]]:
        if alias is not None:
            check_alias_name(alias)
        root = self._key("aliases", "history", alias or "") + "/"
        entries: dict[tuple[str, int], dict[str, Any]] = {}
        for item in self.transport.list_objects(root):
            found = self._get_json(item.object_name)
            if found is not None:
                entries[(found[0]["alias"], int(found[0]["seq"]))] = found[0]
        # A move whose writer died before recording it is still in the alias document.
        for name in [alias] if alias else self.aliases():
            current = self._read_alias(name)
            if current is not None and "seq" in current[0]:
                doc = current[0]
                entries.setdefault(
                    (name, int(doc["seq"])),
                    {k: v for k, v in doc.items() if k not in {"version", "moved_at"}},
                )
        ordered = sorted(entries.values(), key=lambda e: (e["at"], e["alias"], e["seq"]))
        return [{k: v for k, v in e.items() if k != "move_id"} for e in ordered]

    # -- state ---------------------------------------------------------------------------

    def _state_key(self, name: str) -> str:
        return self._key(state_key(name))

    def read_state(self, name: str) -> bytes | None:
        found = self.transport.get(self._state_key(name))
        return None if found is None else found[0]

    def write_state(self, name: str, data: bytes) -> None:
        self.transport.put(self._state_key(name), data, content_type="application/octet-stream")
