"""S3 store settings and fault handling that need no S3 server: configuration mistakes are
named, and a store that is unreachable or silent is retried a bounded number of times
before an error names the endpoint."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from customer_classifier.errors import ConfigurationError
from customer_classifier.registry import open_store
from customer_classifier.registry.s3 import parse_s3_uri
from customer_classifier.registry.s3_transport import StoreUnavailableError
from customer_classifier.settings import S3Settings, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith(("CC_S3__", "AWS_")):
            monkeypatch.delenv(name)


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CC_S3__ENDPOINT", "https://minio.kubeflow:9000/")
    monkeypatch.setenv("CC_S3__ACCESS_KEY", "ak")
    monkeypatch.setenv("CC_S3__SECRET_KEY", "very-secret")
    monkeypatch.setenv("CC_S3__ATTEMPTS", "2")
    config = load_settings().s3
    assert config.endpoint == "https://minio.kubeflow:9000"
    assert config.attempts == 2
    assert config.secret_key is not None
    assert config.secret_key.get_secret_value() == "very-secret"
    assert "very-secret" not in repr(config)
    assert "very-secret" not in str(config.model_dump())


def test_aws_names_are_understood_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """The names KServe's storage initializer reads, so one Secret serves both."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://seaweedfs.kubeflow:8333")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ak")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "sk")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    config = load_settings().s3
    assert config.endpoint == "http://seaweedfs.kubeflow:8333"
    assert config.region == "eu-west-1"
    assert config.access_key is not None
    assert config.access_key.get_secret_value() == "ak"


@pytest.mark.parametrize(
    ("endpoint", "named"),
    [
        ("minio:9000", "must be http://HOST:PORT"),
        ("ftp://minio:9000", "must be http://HOST:PORT"),
        ("http://minio:9000/bucket", "must not carry a path"),
    ],
)
def test_a_bad_endpoint_is_named(endpoint: str, named: str) -> None:
    with pytest.raises(ValidationError, match=named):
        S3Settings(endpoint=endpoint)


@pytest.mark.parametrize(
    ("uri", "named"),
    [
        ("s3://", "is not s3://BUCKET"),
        ("s3://ab/x", "not a valid S3 bucket name"),
        ("s3://Models/x", "lower-case bucket"),
        ("s3://models/a/../b", "without '..'"),
    ],
)
def test_a_bad_store_uri_is_named(uri: str, named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        parse_s3_uri(uri)


def test_prefix_is_optional() -> None:
    assert parse_s3_uri("s3://models") == ("models", "")
    assert parse_s3_uri("s3://models/team/cc/") == ("models", "team/cc")


def test_missing_endpoint_and_half_credentials_are_named() -> None:
    with pytest.raises(ConfigurationError, match="CC_S3__ENDPOINT is unset"):
        open_store("s3://models/cc")
    both = "set both CC_S3__ACCESS_KEY and CC_S3__SECRET_KEY"
    with pytest.raises(ConfigurationError, match=both):
        open_store("s3://models/cc", S3Settings(endpoint="http://127.0.0.1:9", access_key="ak"))
    with pytest.raises(ConfigurationError, match="scheme 'gs' is not supported"):
        open_store("gs://models/cc")


def test_the_store_uri_is_what_kserve_reads() -> None:
    store = open_store("s3://models/cc/", S3Settings(endpoint="http://127.0.0.1:9"))
    assert store.uri == "s3://models/cc"
    assert store.version_uri("v1") == "s3://models/cc/versions/v1"


def quick(endpoint: str) -> S3Settings:
    return S3Settings(
        endpoint=endpoint,
        access_key="ak",
        secret_key="sk",
        attempts=3,
        backoff_s=0.01,
        connect_timeout_s=0.5,
        read_timeout_s=0.3,
    )


def test_an_unreachable_store_fails_after_bounded_retries() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = open_store("s3://models/cc", quick(f"http://127.0.0.1:{port}"))
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError) as caught:
        store.get_alias("champion")
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert f"model store at http://127.0.0.1:{port}" in message
    assert "after 3 attempts" in message
    assert "Connection refused" in message
    assert "CC_S3__ENDPOINT" in message


@pytest.fixture
def silent_server() -> Iterator[tuple[str, list[socket.socket]]]:
    """Accepts connections and never answers: a store that hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:  # the listener was closed: the test is over
                return
            accepted.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", accepted
    finally:
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        thread.join(timeout=5)
        for conn in accepted:
            conn.close()


def test_a_silent_store_times_out_on_every_attempt(
    silent_server: tuple[str, list[socket.socket]],
) -> None:
    endpoint, accepted = silent_server
    store = open_store("s3://models/cc", quick(endpoint))
    with pytest.raises(StoreUnavailableError, match=f"model store at {endpoint}") as caught:
        store.list_versions()
    assert "timed out" in str(caught.value)
    assert len(accepted) == 3  # one connection per attempt, then it gave up
