"""Open the model store a URI names: above the backends, so that they never import it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from customer_classifier.errors import ConfigurationError
from customer_classifier.registry.folder import LocalModelStore
from customer_classifier.registry.store import ModelStore

if TYPE_CHECKING:
    from customer_classifier.settings import S3Settings


def open_store(uri: str, s3: S3Settings | None = None) -> ModelStore:
    """The store at ``uri``: ``s3://bucket/prefix`` (MinIO, SeaweedFS, AWS S3), else a folder.

    For S3 the endpoint, region, TLS and credentials come from ``s3``: the entry point's
    ``settings.s3`` (``CC_S3__*``, or the AWS names); without it, the defaults (AWS S3,
    anonymous or the pod's IAM role). The S3 backend is
    imported only then: a folder store never loads the S3 client.
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
