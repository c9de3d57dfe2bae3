"""The model store in an S3 bucket: MinIO, SeaweedFS (Kubeflow's newer default), AWS S3.

Layout under ``s3://BUCKET/PREFIX``, the same as the folder store's, so that a KServe
``storageUri`` of ``s3://BUCKET/PREFIX/versions/VERSION`` downloads exactly one version::

    versions/<version>/model.joblib, model.json   uploaded first
    versions/<version>/MANIFEST.json              uploaded last, create-only: the commit
    aliases/<alias>.json                          replaced only if its ETag is unchanged
    aliases/history/<alias>/<seq>.json            one object per move, never rewritten

Readers see a version only through its manifest, so an upload that dies half way leaves
nothing loadable (``models gc`` removes the leftovers later). Aliases move by
compare-and-swap (``If-Match`` on the ETag read, ``If-None-Match: *`` for a new alias):
of two concurrent promotions one wins and the other gets :class:`AliasConflictError`.

Every request goes through :meth:`S3ModelStore._call`: transport failures and the
server's 5xx answers are retried with exponential backoff a bounded number of times,
then :class:`StoreUnavailableError` names the endpoint, the bucket and the fix.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import certifi
import urllib3
from minio import Minio
from minio.error import InvalidResponseError, S3Error, ServerError
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from customer_classifier.errors import ConfigurationError, RegistryError
from customer_classifier.registry.bundle import (
    MANIFEST_FILE,
    METADATA_FILE,
    ModelBundle,
    load_bundle,
    save_bundle,
    sha256_file,
    verify_checksums,
)
from customer_classifier.registry.store import (
    _UNSET,
    ModelVersion,
    check_alias_name,
    conflict,
    move_entry,
    new_version_id,
    valid_version_id,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

_RETRYABLE = {
    "InternalError",
    "ServiceUnavailable",
    "SlowDown",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "OperationAborted",
    "XMinioServerNotInitialized",
}
"""S3 error codes that a later attempt may not get (the server is busy or starting)."""
_CREDENTIALS = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"}
_CONFLICT = {"PreconditionFailed", "ConditionalRequestConflict"}
_MISSING = {"NoSuchKey", "NoSuchObject", "NotFound"}


class StoreUnavailableError(RegistryError):
    """The object store did not answer (or answered 5xx) on every attempt."""


class AliasBusyError(RegistryError):
    """An unconditional alias move lost the compare-and-swap too many times in a row."""


class S3Config(BaseSettings):
    """Endpoint, region, TLS, credentials and retry policy of the S3 model store.

    Read from the environment only; in a cluster the credentials come from a Secret.
    Each variable also has the name that KServe's storage initializer and the AWS tools
    read, so one Secret serves the pipelines and the InferenceService.
    """

    model_config = SettingsConfigDict(
        env_prefix="CC_S3_", frozen=True, extra="forbid", populate_by_name=True
    )

    endpoint: str | None = Field(
        default=None, validation_alias=AliasChoices("CC_S3_ENDPOINT", "AWS_ENDPOINT_URL")
    )
    """``http://host:port`` or ``https://host:port`` of the S3 API (MinIO: port 9000)."""
    region: str = Field(
        default="us-east-1",
        validation_alias=AliasChoices("CC_S3_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"),
    )
    access_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("CC_S3_ACCESS_KEY", "AWS_ACCESS_KEY_ID")
    )
    secret_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("CC_S3_SECRET_KEY", "AWS_SECRET_ACCESS_KEY")
    )
    session_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("CC_S3_SESSION_TOKEN", "AWS_SESSION_TOKEN")
    )
    verify_tls: bool = True
    """Check the server's certificate on ``https://`` endpoints."""
    ca_bundle: Path | None = None
    """PEM file of the CA that signed the server's certificate (a private MinIO's)."""
    attempts: int = Field(default=4, ge=1, le=20)
    """Tries per request before giving up with :class:`StoreUnavailableError`."""
    backoff_s: float = Field(default=0.5, ge=0.0, le=60.0)
    """Wait before the second try; doubled before each further one (at most 8 s)."""
    connect_timeout_s: float = Field(default=5.0, gt=0.0, le=300.0)
    read_timeout_s: float = Field(default=60.0, gt=0.0, le=3600.0)
    """Longest wait for the server's answer to one request (a slow store is retried)."""

    @field_validator("endpoint")
    @classmethod
    def _endpoint_is_a_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urllib.parse.urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(
                f"CC_S3_ENDPOINT {value!r} must be http://HOST:PORT or https://HOST:PORT "
                "(for example http://minio-service.kubeflow:9000)"
            )
        if parts.path.strip("/") or parts.query:
            raise ValueError(
                f"CC_S3_ENDPOINT {value!r} must not carry a path; put the bucket and prefix "
                "in CC_STORE_URI (s3://bucket/prefix)"
            )
        return value.rstrip("/")


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


def make_client(config: S3Config) -> Minio:
    """A minio client with our timeouts, TLS settings, and no retries of its own."""
    if config.endpoint is None:
        raise ConfigurationError(
            "the model store is on S3 (CC_STORE_URI=s3://...) but CC_S3_ENDPOINT is unset; "
            "set it to the S3 API URL, for example http://minio-service.kubeflow:9000"
        )
    if (config.access_key is None) != (config.secret_key is None):
        raise ConfigurationError(
            "set both CC_S3_ACCESS_KEY and CC_S3_SECRET_KEY (or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY), or neither for anonymous access"
        )
    parts = urllib.parse.urlsplit(config.endpoint)
    secure = parts.scheme == "https"
    if config.ca_bundle is not None and not config.ca_bundle.is_file():
        raise ConfigurationError(
            f"CC_S3_CA_BUNDLE {str(config.ca_bundle)!r} does not exist; point it at the PEM "
            "file of the CA that signed the S3 server's certificate"
        )
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=config.connect_timeout_s, read=config.read_timeout_s),
        retries=urllib3.Retry(total=0, connect=0, read=0, redirect=0, status=0),
        maxsize=8,
        cert_reqs="CERT_REQUIRED" if secure and config.verify_tls else "CERT_NONE",
        ca_certs=str(config.ca_bundle) if config.ca_bundle else certifi.where(),
    )
    return Minio(
        parts.netloc,
        access_key=config.access_key.get_secret_value() if config.access_key else None,
        secret_key=config.secret_key.get_secret_value() if config.secret_key else None,
        session_token=config.session_token.get_secret_value() if config.session_token else None,
        secure=secure,
        region=config.region,
        http_client=http,
        cert_check=config.verify_tls,
    )


def _json_bytes(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, indent=2, default=str).encode("utf-8")


class S3ModelStore:
    """A model store under ``s3://bucket/prefix``; the same behaviour as the folder store."""

    def __init__(self, client: Minio, bucket: str, prefix: str, config: S3Config) -> None:
        self._client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.config = config
        self.uri = f"s3://{bucket}/{self.prefix}".rstrip("/")
        self.endpoint = config.endpoint or "(no endpoint)"

    @classmethod
    def from_uri(cls, uri: str, config: S3Config | None = None) -> S3ModelStore:
        bucket, prefix = parse_s3_uri(uri)
        config = config or S3Config()
        return cls(make_client(config), bucket, prefix, config)

    # -- requests, retries and errors ----------------------------------------------------

    def _key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)

    def _call(self, what: str, request: Callable[[], T], *, passthrough: set[str] = _MISSING) -> T:
        """Run one request with bounded retries; S3 codes in ``passthrough`` are re-raised."""
        started = time.monotonic()
        delay = self.config.backoff_s
        last: Exception | None = None
        for attempt in range(1, self.config.attempts + 1):
            try:
                return request()
            except S3Error as exc:
                if exc.code in passthrough:
                    raise
                if exc.code not in _RETRYABLE:
                    raise self._refused(what, exc) from exc
                last = exc
            except (urllib3.exceptions.HTTPError, ServerError, InvalidResponseError) as exc:
                last = exc
            except OSError as exc:  # a connection reset while streaming a body
                last = exc
            log.warning(
                "model store %s: %s failed (attempt %d of %d): %s",
                self.endpoint,
                what,
                attempt,
                self.config.attempts,
                last,
            )
            if attempt < self.config.attempts:
                time.sleep(delay)  # backoff between attempts, not synchronisation
                delay = min(delay * 2, 8.0)
        raise StoreUnavailableError(
            f"model store at {self.endpoint} (bucket {self.bucket!r}) did not answer "
            f"{what} after {self.config.attempts} attempts in "
            f"{time.monotonic() - started:.1f} s: {_short(last)}; check that the S3 server "
            f"runs and that CC_S3_ENDPOINT={self.endpoint} reaches it, then re-run"
        ) from last

    def _refused(self, what: str, exc: S3Error) -> RegistryError:
        if exc.code == "NoSuchBucket":
            return RegistryError(
                f"bucket {self.bucket!r} does not exist at {self.endpoint} ({what}); create it "
                f"(for example 'mc mb ALIAS/{self.bucket}') or fix CC_STORE_URI={self.uri}"
            )
        if exc.code in _CREDENTIALS:
            return RegistryError(
                f"{self.endpoint} refused the credentials for bucket {self.bucket!r} ({what}): "
                f"{exc.code}; check CC_S3_ACCESS_KEY and CC_S3_SECRET_KEY (or "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) and the user's policy"
            )
        return RegistryError(
            f"{self.endpoint} refused {what} in bucket {self.bucket!r}: {exc.code}: {exc.message}"
        )

    def _put(self, key: str, data: bytes, *, content_type: str = "application/json") -> None:
        self._call(
            f"upload of {key}",
            lambda: self._client.put_object(
                self.bucket, key, io.BytesIO(data), len(data), content_type=content_type
            ),
        )

    def _put_if(self, key: str, data: bytes, etag: str | None) -> bool:
        """Create ``key`` (``etag`` None) or replace it if its ETag is still ``etag``.

        False when the condition failed: someone else wrote first.
        """
        condition = {"If-None-Match": "*"} if etag is None else {"If-Match": f'"{etag}"'}
        headers: dict[str, str | list[str] | tuple[str]] = {
            "Content-Type": "application/json",
            **condition,
        }
        try:
            # The public put_object turns every extra header into user metadata; the
            # conditional headers must reach the server as they are.
            self._call(
                f"conditional write of {key}",
                lambda: self._client._put_object(self.bucket, key, data, headers=headers),
                passthrough=_CONFLICT | _MISSING,
            )
        except S3Error as exc:
            if exc.code in _CONFLICT or (etag is not None and exc.code in _MISSING):
                return False
            raise
        return True

    def _get(self, key: str) -> tuple[bytes, str] | None:
        """The object's bytes and ETag, or None when it does not exist."""

        def request() -> tuple[bytes, str]:
            response = self._client.get_object(self.bucket, key)
            try:
                return response.read(), str(response.headers.get("ETag", "")).strip('"')
            finally:
                response.close()
                response.release_conn()

        try:
            return self._call(f"download of {key}", request)
        except S3Error as exc:
            if exc.code in _MISSING:
                return None
            raise

    def _get_json(self, key: str) -> tuple[dict[str, Any], str] | None:
        found = self._get(key)
        if found is None:
            return None
        try:
            return json.loads(found[0]), found[1]
        except json.JSONDecodeError as exc:
            raise RegistryError(
                f"{self.uri}/{key.removeprefix(self.prefix).lstrip('/')} is not valid JSON "
                f"({exc}); restore it from the history or re-register the version"
            ) from exc

    def _list(self, prefix: str, *, recursive: bool = True) -> list[Any]:
        return self._call(
            f"listing of {prefix}",
            lambda: list(
                self._client.list_objects(self.bucket, prefix=prefix, recursive=recursive)
            ),
        )

    def _delete(self, key: str) -> None:
        self._call(f"delete of {key}", lambda: self._client.remove_object(self.bucket, key))

    # -- versions ------------------------------------------------------------------------

    def _version_key(self, version: str, name: str = "") -> str:
        return self._key("versions", version, name)

    def version_uri(self, version: str) -> str:
        return f"s3://{self.bucket}/{self._version_key(version)}"

    def register(self, bundle: ModelBundle) -> ModelVersion:
        version = new_version_id()
        with tempfile.TemporaryDirectory(prefix="cc-register-") as tmp:
            folder = save_bundle(bundle, Path(tmp))
            files = {p.name: sha256_file(p) for p in sorted(folder.iterdir()) if p.is_file()}
            for name in files:
                self._put(
                    self._version_key(version, name),
                    (folder / name).read_bytes(),
                    content_type="application/octet-stream",
                )
            metadata = json.loads((folder / METADATA_FILE).read_text(encoding="utf-8"))
        manifest: dict[str, Any] = {
            "version": version,
            "created_at": dt.datetime.now(dt.UTC).isoformat(),
            "files": files,
        }
        key = self._version_key(version, MANIFEST_FILE)
        if not self._put_if(key, _json_bytes(manifest), None):
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
        manifest = self._get(self._version_key(version, MANIFEST_FILE))
        if manifest is None:
            raise self._not_found(version)
        folder.mkdir(parents=True, exist_ok=True)
        for name in json.loads(manifest[0])["files"]:
            found = self._get(self._version_key(version, name))
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
        for item in self._list(root):
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
        return sorted(found, key=lambda v: (v.created_at, v.version))

    def delete_version(self, version: str) -> None:
        self.get(version)
        self._delete(self._version_key(version, MANIFEST_FILE))  # invisible first
        for item in self._list(self._version_key(version) + "/"):
            self._delete(item.object_name)

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
        if self._get(self._version_key(version, MANIFEST_FILE)) is not None:
            raise RegistryError(f"{version!r} has a manifest: it is a version, not a leftover")
        for item in self._list(self._version_key(version) + "/"):
            self._delete(item.object_name)

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
            for item in self._list(root, recursive=False)
            if item.object_name.endswith(".json")
        ]
        found = {}
        for name in sorted(names):
            version = self.get_alias(name)
            if version is not None:
                found[name] = version
        return found

    def set_alias(
        self, alias: str, version: str, *, expected: str | None = _UNSET, reason: str = ""
    ) -> dict[str, Any]:
        """Compare-and-swap the alias document; with ``expected``, only from that version.

        Without ``expected`` a concurrent move is retried on the new state (the last
        writer wins, in order); with it, a concurrent move is a conflict.
        """
        check_alias_name(alias)
        self.get(version)  # refuse to alias something that does not exist
        move_id = uuid.uuid4().hex
        for _ in range(self.config.attempts + 4):
            found = self._read_alias(alias)
            doc, etag = found if found is not None else ({}, None)
            current = doc.get("version")
            if expected is not _UNSET and current != expected:
                raise conflict(alias, current, expected)
            entry = {
                **move_entry(alias, current, version, reason),
                "seq": int(doc.get("seq", 0)) + 1,
                "move_id": move_id,
            }
            new = {"version": version, "moved_at": entry["at"], "reason": reason, **entry}
            if self._put_if(self._alias_key(alias), _json_bytes(new), etag):
                break
            after = self._read_alias(alias)
            if after is not None and after[0].get("move_id") == move_id:
                break  # our write landed; only its answer was lost and retried
            if expected is not _UNSET:
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
            self._put_if(self._history_key(alias, int(entry["seq"])), _json_bytes(entry), None)

    def history(self, alias: str | None = None) -> list[dict[str, Any]]:
        if alias is not None:
            check_alias_name(alias)
        root = self._key("aliases", "history", alias or "") + "/"
        entries: dict[tuple[str, int], dict[str, Any]] = {}
        for item in self._list(root):
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


def _short(error: Exception | None) -> str:
    """The root cause, without urllib3's wrapping ("Max retries exceeded" is not ours)."""
    if isinstance(error, urllib3.exceptions.MaxRetryError) and error.reason is not None:
        error = error.reason
    text = str(error) if error is not None else "no answer"
    return text if len(text) <= 300 else text[:300] + "..."
