"""The rollout's Kubernetes adapter: the official client against the stand-in API server.

Each mode's patches are sent as the controller sends them, the status follows the spec as
KServe's controller would, and a concurrent writer is never overwritten.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from customer_classifier.rollout.kubernetes import (
    InferenceServiceClient,
    RolloutClusterError,
    api_client,
    observed_traffic,
    promote_patch,
    restore_patch,
    rollback_patch,
    share_patch,
    start_patch,
)
from tests.k8s_api_server import StandInApiServer

NS, NAME = "ml-dev", "customer-classifier"
STABLE = "s3://models/cc/versions/v20260101000000-aaaaaa"
CANARY = "s3://models/cc/versions/v20260201000000-bbbbbb"


def isvc(mode: str) -> dict[str, Any]:
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": NAME,
            "namespace": NS,
            "uid": "1234",
            "annotations": {"serving.kserve.io/deploymentMode": mode},
        },
        "spec": {
            "predictor": {
                "name": "v20260101000000-aaaaaa",
                "minReplicas": 2,
                "model": {
                    "modelFormat": {"name": "customer-classifier"},
                    "runtime": "customer-classifier",
                    "storageUri": STABLE,
                },
            }
        },
    }


@pytest.fixture
def server() -> Iterator[StandInApiServer]:
    with StandInApiServer() as running:
        yield running


def connect(server: StandInApiServer) -> InferenceServiceClient:
    return InferenceServiceClient(api_client(host=server.url), NS, NAME)


def patches(server: StandInApiServer) -> list[dict[str, Any]]:
    return [r.body for r in server.requests if r.method == "PATCH"]


def test_knative_canary_start_share_and_promotion(server: StandInApiServer) -> None:
    server.create_isvc(isvc("Knative"))
    cluster = connect(server)
    started = cluster.patch(lambda obj: start_patch(obj, "v20260201000000-bbbbbb", CANARY, 10))
    assert observed_traffic(started).canary_percent == 10
    traffic = started["status"]["components"]["predictor"]["traffic"]
    assert sorted(t["percent"] for t in traffic) == [10, 90]
    moved = cluster.patch(lambda obj: share_patch(obj, 50))
    assert moved["spec"]["predictor"]["canaryTrafficPercent"] == 50
    assert observed_traffic(moved).canary_percent == 50
    promoted = cluster.patch(promote_patch)
    assert "canaryTrafficPercent" not in promoted["spec"]["predictor"]
    component = promoted["status"]["components"]["predictor"]
    assert component["traffic"] == [
        {
            "revisionName": component["latestRolledoutRevision"],
            "percent": 100,
            "latestRevision": True,
        }
    ]
    assert component["previousRolledoutRevision"] != component["latestRolledoutRevision"]
    assert promoted["spec"]["predictor"]["model"]["storageUri"] == CANARY
    # Every patch is a merge patch guarded by the resourceVersion it was built from.
    sent = [r for r in server.requests if r.method == "PATCH"]
    assert {r.content_type for r in sent} == {"application/merge-patch+json"}
    assert all(body["metadata"]["resourceVersion"] for body in patches(server))


def test_knative_rollback_takes_traffic_off_then_restores_the_stable(
    server: StandInApiServer,
) -> None:
    server.create_isvc(isvc("Knative"))
    cluster = connect(server)
    cluster.patch(lambda obj: start_patch(obj, "v20260201000000-bbbbbb", CANARY, 25))
    rolled = cluster.patch(lambda obj: rollback_patch(obj, STABLE))
    assert observed_traffic(rolled).canary_percent == 0
    restored = cluster.patch(lambda obj: restore_patch(obj, STABLE))
    assert restored["spec"]["predictor"]["model"]["storageUri"] == STABLE
    assert "canaryTrafficPercent" not in restored["spec"]["predictor"]


def test_standard_canary_entry_and_promotion_by_predictor_name(server: StandInApiServer) -> None:
    server.create_isvc(isvc("Standard"))
    cluster = connect(server)
    started = cluster.patch(lambda obj: start_patch(obj, "v20260201000000-bbbbbb", CANARY, 10))
    (entry,) = started["spec"]["canary"]
    assert entry["trafficPercent"] == 10
    assert entry["predictor"]["name"] == "v20260201000000-bbbbbb"
    assert entry["predictor"]["model"]["storageUri"] == CANARY
    assert entry["predictor"]["minReplicas"] == 2  # the stable's predictor settings carry over
    assert started["status"]["canaryStatuses"] == [
        {"name": "v20260201000000-bbbbbb", "trafficPercent": 10, "ready": True}
    ]
    moved = cluster.patch(lambda obj: share_patch(obj, 50))
    assert observed_traffic(moved).canary_percent == 50
    promoted = cluster.patch(promote_patch)
    assert "canary" not in promoted["spec"]
    assert promoted["spec"]["predictor"]["name"] == "v20260201000000-bbbbbb"
    assert promoted["spec"]["predictor"]["model"]["storageUri"] == CANARY
    assert promoted["status"]["canaryStatuses"] == []


def test_standard_rollback_removes_the_entry(server: StandInApiServer) -> None:
    server.create_isvc(isvc("Standard"))
    cluster = connect(server)
    cluster.patch(lambda obj: start_patch(obj, "v20260201000000-bbbbbb", CANARY, 10))
    rolled = cluster.patch(lambda obj: rollback_patch(obj, STABLE))
    assert "canary" not in rolled["spec"]
    assert rolled["spec"]["predictor"]["model"]["storageUri"] == STABLE
    assert restore_patch(rolled, STABLE) is None


@pytest.mark.parametrize("mode", ["Knative", "Standard"])
def test_a_concurrent_write_is_retried_and_never_lost(server: StandInApiServer, mode: str) -> None:
    server.create_isvc(isvc(mode))
    writes = []

    def other_writer(api: StandInApiServer, namespace: str, name: str) -> None:
        if writes:
            return
        obj = api.isvc(namespace, name)
        obj["metadata"]["annotations"]["team.example.com/owner"] = "platform"
        obj["spec"]["predictor"]["maxReplicas"] = 7
        writes.append(api.write_isvc(namespace, name, obj))

    server.before_write = other_writer
    cluster = connect(server)
    patched = cluster.patch(lambda obj: start_patch(obj, "v20260201000000-bbbbbb", CANARY, 10))
    assert cluster.conflicts == 1
    assert patched["metadata"]["annotations"]["team.example.com/owner"] == "platform"
    assert patched["spec"]["predictor"]["maxReplicas"] == 7
    assert observed_traffic(patched).canary_percent == 10
    first, second = patches(server)
    assert first["metadata"]["resourceVersion"] != second["metadata"]["resourceVersion"]


def test_a_writer_that_never_stops_is_named(server: StandInApiServer) -> None:
    server.create_isvc(isvc("Knative"))

    def always(api: StandInApiServer, namespace: str, name: str) -> None:
        api.write_isvc(namespace, name, api.isvc(namespace, name))

    server.before_write = always
    with pytest.raises(RolloutClusterError, match="another controller"):
        connect(server).patch(lambda obj: share_patch(obj, 25))


def test_events_are_recorded_on_the_inference_service(server: StandInApiServer) -> None:
    server.create_isvc(isvc("Knative"))
    connect(server).record_event("RolloutAdvanced", "canary to 25 %")
    connect(server).record_event("RolloutRolledBack", "error ratio", warning=True)
    assert [(e["reason"], e["type"]) for e in server.events] == [
        ("RolloutAdvanced", "Normal"),
        ("RolloutRolledBack", "Warning"),
    ]
    involved = server.events[0]["involvedObject"]
    assert involved["kind"] == "InferenceService"
    assert involved["name"] == NAME
    assert involved["uid"] == "1234"


def test_a_missing_inference_service_says_how_to_deploy_it(server: StandInApiServer) -> None:
    with pytest.raises(RolloutClusterError, match="make deploy"):
        connect(server).read()
