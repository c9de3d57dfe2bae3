"""``customer-classifier rollout ...`` against the stand-in API server and a real store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from customer_classifier.cli import main
from tests.k8s_api_server import StandInApiServer

NS, NAME = "ml-dev", "customer-classifier"


@pytest.fixture
def cluster(
    trained_copy: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[StandInApiServer, Any, str, str]]:
    store = trained_copy.store
    stable = store.get_alias("champion")
    canary = store.register(store.load(stable)).version
    monkeypatch.setenv("CC_STORE_URI", str(store.root))
    monkeypatch.setenv("CC_ROLLOUT__NAMESPACE", NS)
    monkeypatch.setenv("CC_ROLLOUT__STEPS", "[20, 60, 100]")
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
                "spec": {
                    "predictor": {
                        "name": stable,
                        "model": {"storageUri": store.version_uri(stable)},
                    }
                },
            }
        )
        yield server, store, stable, canary


def run(capsys: pytest.CaptureFixture[str], server: StandInApiServer, *argv: str) -> Any:
    code = main(["rollout", *argv, "--api-server", server.url])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def test_dry_run_prints_every_step_and_patch_and_changes_nothing(
    cluster: tuple[StandInApiServer, Any, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    server, store, stable, canary = cluster
    before = server.isvc(NS, NAME)
    plan = run(capsys, server, "start", canary, "--dry-run")
    assert [s["canary_percent"] for s in plan["steps"]] == [20, 60]
    first = plan["steps"][0]["patch"]["spec"]["canary"][0]
    assert first["predictor"]["name"] == canary
    assert first["predictor"]["model"]["storageUri"] == store.version_uri(canary)
    assert plan["steps"][0]["rollback_patches"] == [{"spec": {"canary": None}}]
    assert plan["result"]["predictor"]["name"] == canary
    assert {c["check"] for c in plan["checks"]} >= {"error_ratio", "latency_p99_seconds"}
    assert server.isvc(NS, NAME) == before
    assert not [r for r in server.requests if r.method != "GET"]
    assert store.get_alias("champion") == stable


def test_start_without_follow_then_status_pause_and_abort(
    cluster: tuple[StandInApiServer, Any, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    server, store, stable, canary = cluster
    started = run(capsys, server, "start", canary, "--no-follow")
    assert started["action"] == "advance"
    assert started["state"]["canary_percent"] == 20
    status = run(capsys, server, "status")
    assert status["mode"] == "standard"
    assert status["rollout"]["version"] == canary
    assert status["observed"]["canary_percent"] == 20
    assert run(capsys, server, "pause", "--reason", "freeze")["state"]["phase"] == "paused"
    aborted = run(capsys, server, "abort")
    assert aborted["state"]["phase"] == "aborted"
    assert "canary" not in server.isvc(NS, NAME)["spec"]
    assert store.get_alias("champion") == stable


def test_a_missing_inference_service_exits_2_naming_it(
    cluster: tuple[StandInApiServer, Any, str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, _, _, canary = cluster
    monkeypatch.setenv("CC_ROLLOUT__INFERENCE_SERVICE", "nothing-here")
    code = main(["rollout", "start", canary, "--api-server", server.url])
    assert code == 2
    assert "nothing-here" in capsys.readouterr().err


def test_a_rollout_left_paused_exits_3_with_its_reason(
    cluster: tuple[StandInApiServer, Any, str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.integration.prometheus_server import free_port

    server, store, stable, canary = cluster
    monkeypatch.setenv("CC_ROLLOUT__INTERVAL_S", "0.05")
    monkeypatch.setenv("CC_ROLLOUT__PROMETHEUS_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("CC_ROLLOUT__QUERY_TIMEOUT_S", "1")
    code = main(["rollout", "start", canary, "--api-server", server.url])
    payload = json.loads(capsys.readouterr().out)
    assert code == 3
    assert payload["state"]["phase"] == "paused"
    assert "unreachable" in payload["reason"]
    assert store.get_alias("champion") == stable
    assert [e["reason"] for e in server.events][-1] == "RolloutPaused"
