"""A throw-away Prometheus server on loopback (Debian's ``prometheus`` binary), and a
Pushgateway beside it (Debian's ``prometheus-pushgateway``).

Prometheus scrapes the targets a test names, every second, into a temporary TSDB; both
are stopped when the test's context ends. Without the binaries the test is skipped
locally and fails where CI sets ``TEST_REQUIRE_PROMETHEUS=1``
(scripts/ensure-prometheus.sh installs them).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import pytest
import requests
import yaml

READY_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _unavailable(reason: str) -> NoReturn:
    hint = "; run 'bash scripts/ensure-prometheus.sh' to install Debian's prometheus"
    if os.environ.get("TEST_REQUIRE_PROMETHEUS") == "1":
        pytest.fail(f"Prometheus is required (TEST_REQUIRE_PROMETHEUS=1): {reason}{hint}")
    pytest.skip(f"Prometheus unavailable: {reason}{hint}")


@dataclass(frozen=True)
class Target:
    """One scrape target: ``host:port`` and the target labels Prometheus attaches."""

    address: str
    labels: Mapping[str, str] = field(default_factory=dict)


def scrape_config(
    jobs: Mapping[str, Sequence[Target]],
    interval: str = "1s",
    honor_labels: Collection[str] = (),
) -> dict[str, object]:
    """Scrape every job each ``interval``; the jobs named in ``honor_labels`` keep the
    labels the target exposes (a Pushgateway's ``job`` and ``namespace``)."""
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": [
            {
                "job_name": job,
                "scrape_interval": interval,
                "scrape_timeout": interval,
                **({"honor_labels": True} if job in honor_labels else {}),
                "static_configs": [
                    {"targets": [target.address], "labels": dict(target.labels)}
                    for target in targets
                ],
            }
            for job, targets in jobs.items()
        ],
    }


@contextmanager
def _serving(
    name: str, argv: Sequence[str], folder: Path, url: str, auth: tuple[str, str] | None = None
) -> Iterator[str]:
    """Run ``argv``, logging to ``folder/<name>.log``; yield ``url`` once its
    ``/-/ready`` answers (asked with ``auth``), and stop the process when the context ends."""
    log_path = folder / f"{name}.log"
    log = log_path.open("w")
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if process.poll() is not None:
                tail = log_path.read_text()[-800:]
                _unavailable(f"{name} exited with {process.returncode}: {tail}")
            try:
                if requests.get(f"{url}/-/ready", timeout=1, auth=auth).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                _unavailable(f"{name} not ready after {READY_TIMEOUT_S:.0f} s")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@contextmanager
def running_prometheus(
    folder: Path,
    jobs: Mapping[str, Sequence[Target]],
    interval: str = "1s",
    honor_labels: Collection[str] = (),
) -> Iterator[str]:
    """Start Prometheus scraping ``jobs``; yield its base URL once it is ready."""
    binary = shutil.which("prometheus")
    if binary is None:
        _unavailable("no 'prometheus' on PATH")
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "prometheus.yml"
    config.write_text(yaml.safe_dump(scrape_config(jobs, interval, honor_labels)))
    port = free_port()
    argv = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--storage.tsdb.retention.time=1h",
    ]
    with _serving("prometheus", argv, folder, f"http://127.0.0.1:{port}") as url:
        yield url


@dataclass(frozen=True)
class BasicAuth:
    """One user the Pushgateway lets in: the password, and its bcrypt hash for the
    server's web config (``basic_auth_users``)."""

    user: str
    password: str
    bcrypt_hash: str


@contextmanager
def running_pushgateway(folder: Path, basic_auth: BasicAuth | None = None) -> Iterator[str]:
    """Start a Pushgateway that keeps its groups in memory only, letting in only
    ``basic_auth``'s user when given. Yield its base URL once it is ready."""
    binary = shutil.which("prometheus-pushgateway")
    if binary is None:
        _unavailable("no 'prometheus-pushgateway' on PATH")
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [binary, f"--web.listen-address=127.0.0.1:{port}", "--persistence.file="]
    auth = None
    if basic_auth is not None:
        config = folder / "web.yml"
        users = {basic_auth.user: basic_auth.bcrypt_hash}
        config.write_text(yaml.safe_dump({"basic_auth_users": users}))
        argv.append(f"--web.config.file={config}")
        auth = (basic_auth.user, basic_auth.password)
    with _serving("pushgateway", argv, folder, f"http://127.0.0.1:{port}", auth) as url:
        yield url


def wait_for(
    condition: object, what: str, timeout_s: float = 30.0, every_s: float = 0.25
) -> object:
    """Poll ``condition()`` until it returns something truthy; fail naming ``what``."""
    assert callable(condition)
    deadline = time.monotonic() + timeout_s
    last: object = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(every_s)
    pytest.fail(f"{what} not reached within {timeout_s:.0f} s (last: {last!r})")
