"""``rollout start`` exits 1 when the rollout it follows does not end promoted.

The deploy-prod job runs ``customer-classifier rollout start VERSION``; a canary that is
rolled back or paused must fail the job, or the pipeline would show a green prod deploy
that never happened. Here Prometheus is a closed loopback port, so the first analysis has
no data and the controller pauses; the stand-in API server plays the cluster.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from customer_classifier.cli import main
from tests.k8s_api_server import StandInApiServer

NS, NAME = "ml-prod", "customer-classifier"


def closed_port() -> int:
    """A loopback port nothing listens on (bound, read, released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def cluster(trained_copy: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    store = trained_copy.store
    stable = store.get_alias("champion")
    canary = store.register(store.load(stable)).version
    stable_uri = store.version_uri(stable)
    monkeypatch.setenv("CC_STORE_URI", str(store.root))
    monkeypatch.setenv("CC_ROLLOUT__NAMESPACE", NS)
    monkeypatch.setenv("CC_ROLLOUT__STEPS", "[50, 100]")
    monkeypatch.setenv("CC_ROLLOUT__INTERVAL_S", "0.01")
    monkeypatch.setenv("CC_ROLLOUT__QUERY_TIMEOUT_S", "1")
    monkeypatch.setenv("CC_ROLLOUT__PROMETHEUS_URL", f"http://127.0.0.1:{closed_port()}")
    with StandInApiServer() as server:
        server.create_isvc(
            {
                "apiVersion": "serving.kserve.io/v1beta1",
                "kind": "InferenceService",
                "metadata": {
                    "name": NAME,
                    "namespace": NS,
                    "annotations": {"serving.kserve.io/deploymentMode": "Standard"},
                },
                "spec": {"predictor": {"name": stable, "model": {"storageUri": stable_uri}}},
            }
        )
        yield server.url, canary


def test_a_followed_rollout_that_pauses_exits_1_with_one_line(
    cluster: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    url, canary = cluster
    code = main(["rollout", "start", canary, "--api-server", url])
    captured = capsys.readouterr()
    assert code == 1, captured.out + captured.err
    assert json.loads(captured.out)["state"]["phase"] == "paused"
    message = [line for line in captured.err.splitlines() if line.startswith("rollout of")]
    assert message == [message[0]]
    assert canary in message[0]
    assert "paused, not promoted" in message[0]


def test_the_exit_status_can_be_turned_off(
    cluster: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    url, canary = cluster
    code = main(["rollout", "start", canary, "--no-fail-unless-promoted", "--api-server", url])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["state"]["phase"] == "paused"
