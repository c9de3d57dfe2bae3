"""The rollout loop end to end over the stand-in API server and a real model store.

The metrics are a script of interval snapshots (the Prometheus adapter has its own tests
against a real Prometheus), so each path through the loop is exact: promotion moves the
``champion`` alias and the InferenceService, rollback leaves the alias and restores the
stable, and every decision leaves an Event and a registry history entry.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from customer_classifier.errors import ConfigurationError
from customer_classifier.registry import LocalModelStore
from customer_classifier.rollout.analysis import (
    DEFAULT_CHECKS,
    Action,
    Measurement,
    Phase,
    RolloutPolicy,
    Snapshot,
)
from customer_classifier.rollout.controller import CANARY_ALIAS, RolloutController
from customer_classifier.rollout.kubernetes import (
    EventRecorder,
    InferenceServiceClient,
    KServeTrafficSplit,
    api_client,
)
from tests.k8s_api_server import StandInApiServer

NS, NAME = "ml-test", "customer-classifier"
POLICY = RolloutPolicy(
    steps=(10, 50, 100),
    interval_s=0.01,
    min_requests=10,
    intervals_per_step=1,
    failure_threshold=2,
    checks=DEFAULT_CHECKS,
)
HEALTHY = Snapshot(
    200,
    {
        "error_ratio": Measurement(0.0, 0.0),
        "latency_p99_seconds": Measurement(0.01, 0.01),
        "score_divergence": Measurement(0.02),
        "label_mix_shift": Measurement(0.01),
    },
)
FAILING = Snapshot(200, {**HEALTHY.measurements, "error_ratio": Measurement(0.3, 0.0)})


@dataclass
class ScriptedMetrics:
    script: list[Snapshot]
    asked: list[tuple[str, str]] = field(default_factory=list)

    def snapshot(self, canary: str, stable: str, interval_s: float) -> Snapshot:
        self.asked.append((canary, stable))
        return self.script.pop(0)


@dataclass
class Versions:
    store: LocalModelStore
    stable: str
    canary: str


@pytest.fixture
def versions(trained_copy: Any) -> Versions:
    store = trained_copy.store
    stable = store.get_alias("champion")
    canary = store.register(store.load(stable)).version
    return Versions(store, stable, canary)


def inference_service(mode: str, uri: str) -> dict[str, Any]:
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": NAME,
            "namespace": NS,
            "annotations": {"serving.kserve.io/deploymentMode": mode},
        },
        "spec": {"predictor": {"name": "stable", "model": {"storageUri": uri}}},
    }


@pytest.fixture
def server() -> Iterator[StandInApiServer]:
    with StandInApiServer() as running:
        yield running


def controller(
    server: StandInApiServer, versions: Versions, mode: str, script: list[Snapshot]
) -> RolloutController:
    server.create_isvc(inference_service(mode, versions.store.version_uri(versions.stable)))
    cluster = InferenceServiceClient(api_client(host=server.url), NS, NAME)
    return RolloutController(
        POLICY,
        KServeTrafficSplit(cluster, versions.store.version_uri),
        ScriptedMetrics(script),
        versions.store,
        EventRecorder(cluster),
        wait=lambda seconds: None,
    )


@pytest.mark.parametrize("mode", ["Knative", "Standard"])
def test_a_healthy_canary_is_promoted_everywhere(
    server: StandInApiServer, versions: Versions, mode: str
) -> None:
    loop = controller(server, versions, mode, [HEALTHY] * 3)
    final = loop.run(versions.canary)
    assert final.action is Action.PROMOTE
    assert [d.canary_percent for d in loop.trail.decisions] == [10, 50, 100]
    assert versions.store.get_alias("champion") == versions.canary
    isvc = server.isvc(NS, NAME)
    predictor = isvc["spec"]["predictor"]
    assert predictor["model"]["storageUri"] == versions.store.version_uri(versions.canary)
    assert "canaryTrafficPercent" not in predictor
    assert "canary" not in isvc["spec"]
    if mode == "Standard":
        assert predictor["name"] == versions.canary
    steps = versions.store.history(CANARY_ALIAS)
    assert [m["reason"].split(":")[0] for m in steps] == [
        "rollout advance",
        "rollout advance",
        "rollout promote",
    ]
    assert [e["reason"] for e in server.events] == [
        "RolloutAdvanced",
        "RolloutAdvanced",
        "RolloutPromoted",
    ]
    assert '"phase": "promoted"' in isvc["metadata"]["annotations"]["customer-classifier/rollout"]


@pytest.mark.parametrize("mode", ["Knative", "Standard"])
def test_a_failing_canary_is_rolled_back_and_the_champion_stays(
    server: StandInApiServer, versions: Versions, mode: str
) -> None:
    loop = controller(server, versions, mode, [HEALTHY, FAILING, FAILING])
    final = loop.run(versions.canary)
    assert final.action is Action.ROLLBACK
    assert final.state.phase is Phase.ROLLED_BACK
    assert versions.store.get_alias("champion") == versions.stable
    isvc = server.isvc(NS, NAME)
    assert isvc["spec"]["predictor"]["model"]["storageUri"] == versions.store.version_uri(
        versions.stable
    )
    assert "canary" not in isvc["spec"]
    assert "canaryTrafficPercent" not in isvc["spec"]["predictor"]
    warning = server.events[-1]
    assert (warning["reason"], warning["type"]) == ("RolloutRolledBack", "Warning")
    assert "error_ratio" in warning["message"]


def test_a_second_rollout_is_refused_while_one_runs(
    server: StandInApiServer, versions: Versions
) -> None:
    loop = controller(server, versions, "Knative", [HEALTHY])
    loop.begin(versions.canary)
    with pytest.raises(ConfigurationError, match="abort it"):
        loop.begin(versions.canary)


def test_pause_resume_and_abort_by_an_operator(
    server: StandInApiServer, versions: Versions
) -> None:
    loop = controller(server, versions, "Knative", [HEALTHY, HEALTHY])
    loop.begin(versions.canary)
    assert loop.pause("change freeze").state.phase is Phase.PAUSED
    assert loop.step().action is Action.HOLD  # paused: judged, not acted on
    assert loop.resume().state.phase is Phase.PROGRESSING
    assert loop.step().action is Action.ADVANCE
    aborted = loop.abort("operator abort")
    assert aborted.state.phase is Phase.ABORTED
    assert versions.store.get_alias("champion") == versions.stable
    assert server.isvc(NS, NAME)["spec"]["predictor"]["model"]["storageUri"] == (
        versions.store.version_uri(versions.stable)
    )


def test_the_stable_model_is_the_one_the_inference_service_serves(
    server: StandInApiServer, versions: Versions
) -> None:
    loop = controller(server, versions, "Knative", [HEALTHY])
    loop.begin(versions.canary)
    loop.step()
    assert loop.metrics.asked == [(versions.canary, versions.stable)]  # type: ignore[attr-defined]
    loop.abort("reset")
    again = RolloutController(POLICY, loop.traffic, loop.metrics, versions.store, loop.recorder)
    with pytest.raises(ConfigurationError, match="already serves"):
        again.begin(versions.stable)
