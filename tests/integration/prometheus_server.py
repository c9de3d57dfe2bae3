"""A throw-away Prometheus server on loopback (Debian's ``prometheus`` binary).

It scrapes the targets a test names, every second, into a temporary TSDB, and is stopped
when the test's context ends. Without the binary the test is skipped locally and fails
where CI sets ``TEST_REQUIRE_PROMETHEUS=1`` (scripts/ensure-prometheus.sh installs it).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
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


def scrape_config(jobs: Mapping[str, Sequence[Target]], interval: str = "1s") -> dict[str, object]:
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": [
            {
                "job_name": job,
                "scrape_interval": interval,
                "scrape_timeout": interval,
                "static_configs": [
                    {"targets": [target.address], "labels": dict(target.labels)}
                    for target in targets
                ],
            }
            for job, targets in jobs.items()
        ],
    }


@contextmanager
def running_prometheus(
    folder: Path, jobs: Mapping[str, Sequence[Target]], interval: str = "1s"
) -> Iterator[str]:
    """Start Prometheus scraping ``jobs``; yield its base URL once it is ready."""
    binary = shutil.which("prometheus")
    if binary is None:
        _unavailable("no 'prometheus' on PATH")
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "prometheus.yml"
    config.write_text(yaml.safe_dump(scrape_config(jobs, interval)))
    port = free_port()
    log = (folder / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=1h",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if process.poll() is not None:
                tail = (folder / "prometheus.log").read_text()[-800:]
                _unavailable(f"exited with {process.returncode}: {tail}")
            try:
                if requests.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                _unavailable(f"not ready after {READY_TIMEOUT_S:.0f} s")
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
