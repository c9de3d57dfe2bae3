"""The chart's InferenceService is what the rollout controller patches, in both KServe modes.

Each controller patch (the same functions ``rollout start`` sends) applied to the chart's
stable render must give exactly what the chart renders for the values after that step:
a canary at a share, a moved share, the promoted version, and the stable again after a
rollback. So a ``helm upgrade`` after a rollout changes nothing the controller did.
"""

from __future__ import annotations

from typing import Any

import pytest

from customer_classifier.rollout.kubernetes import (
    observed_traffic,
    promote_patch,
    restore_patch,
    rollback_patch,
    share_patch,
    start_patch,
    version_of,
)
from customer_classifier.rollout.plan import merge
from tests.deploy.rendering import by_kind, helm_template

STABLE = "v20261201120000-0a1b2c"
CANARY = "v20261202120000-0d1e2f"


def inference_service(mode: str, *sets: str) -> dict[str, Any]:
    docs = helm_template("test", sets=(f"deploymentMode={mode}", "canary.mode=kserve", *sets))
    (only,) = by_kind(docs, "InferenceService")
    return only


def uri(service: dict[str, Any], version: str) -> str:
    stable_uri = service["spec"]["predictor"]["model"]["storageUri"]
    assert version_of(stable_uri) == STABLE
    return stable_uri.replace(STABLE, version)


@pytest.mark.parametrize("mode", ["standard", "knative"])
def test_every_controller_patch_lands_on_what_the_chart_renders(mode: str) -> None:
    stable = inference_service(mode, f"model.version={STABLE}")
    canary_uri = uri(stable, CANARY)
    started = merge(stable, start_patch(stable, CANARY, canary_uri, 10))
    canary_values = (f"model.version={STABLE}", f"canary.version={CANARY}")
    assert (
        started["spec"]
        == inference_service(mode, *canary_values, "canary.trafficPercent=10")["spec"]
    )
    moved = merge(started, share_patch(started, 50))
    assert (
        moved["spec"] == inference_service(mode, *canary_values, "canary.trafficPercent=50")["spec"]
    )
    promoted = merge(moved, promote_patch(moved))
    assert promoted["spec"] == inference_service(mode, f"model.version={CANARY}")["spec"]
    stable_uri = uri(stable, STABLE)
    rolled = merge(moved, rollback_patch(moved, stable_uri))
    restore = restore_patch(rolled, stable_uri)
    restored = rolled if restore is None else merge(rolled, restore)
    assert restored["spec"] == stable["spec"]


@pytest.mark.parametrize(("mode", "annotation"), [("standard", "Standard"), ("knative", "Knative")])
def test_the_controller_reads_the_charts_mode(mode: str, annotation: str) -> None:
    service = inference_service(mode, f"model.version={STABLE}")
    assert service["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == annotation
    assert observed_traffic({**service, "status": {}}).canary_percent == 0
