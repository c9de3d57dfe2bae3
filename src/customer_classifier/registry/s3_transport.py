"""Requests to an S3 bucket (MinIO, SeaweedFS, AWS S3): the client, timeouts, retries, errors.

Nothing here knows about versions or aliases: :mod:`customer_classifier.registry.s3`
builds the store on top. Every request goes through :meth:`S3Transport.call`: transport
failures and the server's 5xx answers are retried with exponential backoff a bounded
number of times, then :class:`StoreUnavailableError` names the endpoint, the bucket and
the fix; a refusal (no bucket, wrong credentials) is a :class:`RegistryError` at once.
"""

from __future__ import annotations

import io
import logging
import time
import urllib.parse
from collections.abc import Callable
from typing import Any, TypeVar

import certifi
import urllib3
from minio import Minio
from minio.error import InvalidResponseError, S3Error, ServerError

from customer_classifier.errors import ConfigurationError, RegistryError
from customer_classifier.settings import S3Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRYABLE = {
    "InternalError",
    "ServiceUnavailable",
    "SlowDown",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "OperationAborted",
    "XMinioServerNotInitialized",
}
"""S3 error codes that a later attempt may not get (the server is busy or starting)."""
CREDENTIALS = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"}
CONFLICT = {"PreconditionFailed", "ConditionalRequestConflict"}
"""A conditional write lost: the object changed (or appeared) since it was read."""
MISSING = {"NoSuchKey", "NoSuchObject", "NotFound"}


class StoreUnavailableError(RegistryError):
    """The object store did not answer (or answered 5xx) on every attempt."""


def make_client(config: S3Settings) -> Minio:
    """A minio client with our timeouts, TLS settings, and no retries of its own."""
    if config.endpoint is None:
        raise ConfigurationError(
            "the model store is on S3 (CC_STORE_URI=s3://...) but CC_S3__ENDPOINT is unset; "
            "set it to the S3 API URL, for example http://minio-service.kubeflow:9000"
        )
    if (config.access_key is None) != (config.secret_key is None):
        raise ConfigurationError(
            "set both CC_S3__ACCESS_KEY and CC_S3__SECRET_KEY (or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY), or neither for anonymous access"
        )
    parts = urllib.parse.urlsplit(config.endpoint)
    secure = parts.scheme == "https"
    if config.ca_bundle is not None and not config.ca_bundle.is_file():
        raise ConfigurationError(
            f"CC_S3__CA_BUNDLE {str(config.ca_bundle)!r} does not exist; point it at the PEM "
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


class S3Transport:
    """Requests to one bucket with the retry policy, timeouts and TLS of an :class:`S3Settings`."""

    def __init__(self, config: S3Settings, bucket: str, client: Minio | None = None) -> None:
        self.config = config
        self.bucket = bucket
        self.client = client if client is not None else make_client(config)
        self.endpoint = config.endpoint or "(no endpoint)"

    def call(self, what: str, request: Callable[[], T], *, passthrough: set[str] = MISSING) -> T:
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
                if exc.code not in RETRYABLE:
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
            f"runs and that CC_S3__ENDPOINT={self.endpoint} reaches it, then re-run"
        ) from last

    def _refused(self, what: str, exc: S3Error) -> RegistryError:
        if exc.code == "NoSuchBucket":
            return RegistryError(
                f"bucket {self.bucket!r} does not exist at {self.endpoint} ({what}); create it "
                f"(for example 'mc mb ALIAS/{self.bucket}') or fix the bucket in CC_STORE_URI"
            )
        if exc.code in CREDENTIALS:
            return RegistryError(
                f"{self.endpoint} refused the credentials for bucket {self.bucket!r} ({what}): "
                f"{exc.code}; check CC_S3__ACCESS_KEY and CC_S3__SECRET_KEY (or "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) and the user's policy"
            )
        return RegistryError(
            f"{self.endpoint} refused {what} in bucket {self.bucket!r}: {exc.code}: {exc.message}"
        )

    def put(self, key: str, data: bytes, *, content_type: str = "application/json") -> None:
        """Write the whole object in one request: readers see the old one or the new one."""
        self.call(
            f"upload of {key}",
            lambda: self.client.put_object(
                self.bucket, key, io.BytesIO(data), len(data), content_type=content_type
            ),
        )

    def put_if(self, key: str, data: bytes, etag: str | None) -> bool:
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
            self.call(
                f"conditional write of {key}",
                lambda: self.client._put_object(self.bucket, key, data, headers=headers),
                passthrough=CONFLICT | MISSING,
            )
        except S3Error as exc:
            if exc.code in CONFLICT or (etag is not None and exc.code in MISSING):
                return False
            raise
        return True

    def get(self, key: str) -> tuple[bytes, str] | None:
        """The object's bytes and ETag, or None when it does not exist."""

        def request() -> tuple[bytes, str]:
            response = self.client.get_object(self.bucket, key)
            try:
                return response.read(), str(response.headers.get("ETag", "")).strip('"')
            finally:
                response.close()
                response.release_conn()

        try:
            return self.call(f"download of {key}", request)
        except S3Error as exc:
            if exc.code in MISSING:
                return None
            raise

    def list_objects(self, prefix: str, *, recursive: bool = True) -> list[Any]:
        return self.call(
            f"listing of {prefix}",
            lambda: list(self.client.list_objects(self.bucket, prefix=prefix, recursive=recursive)),
        )

    def delete(self, key: str) -> None:
        self.call(f"delete of {key}", lambda: self.client.remove_object(self.bucket, key))


def _short(error: Exception | None) -> str:
    """The root cause, without urllib3's wrapping ("Max retries exceeded" is not ours)."""
    if isinstance(error, urllib3.exceptions.MaxRetryError) and error.reason is not None:
        error = error.reason
    text = str(error) if error is not None else "no answer"
    return text if len(text) <= 300 else text[:300] + "..."
