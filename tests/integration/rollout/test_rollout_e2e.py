"""The rollout end to end: real predictors, a real Prometheus, the real controller.

Stable version A and each canary B run as ``python -m customer_classifier.serving``
processes; Prometheus scrapes them every second; client threads send V1 requests in the
split the InferenceService's status reports; the controller patches the InferenceService
on the stand-in API server through the official client and moves the registry's aliases.
The scenarios themselves live in :mod:`tests.integration.rollout.harness`, which
``make bench-rollout`` runs too.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from customer_classifier.registry import LocalModelStore
from customer_classifier.rollout.analysis import Action, Outcome, Phase, RolloutPolicy
from customer_classifier.rollout.controller import RolloutController
from customer_classifier.rollout.kubernetes import observed_traffic
from customer_classifier.rollout.prometheus import CanaryMetrics, NoDataError, PrometheusQueries
from customer_classifier.rollout.registry_split import RegistryTrafficSplit, read_split
from customer_classifier.rollout.wiring import PrometheusSource
from customer_classifier.serving.compiled import verified_scorer
from customer_classifier.serving.schema import RecordSchema
from customer_classifier.settings import RolloutSettings
from tests.integration.prometheus_server import Target, running_prometheus, wait_for
from tests.integration.rollout.faulty_models import FaultyModel
from tests.integration.rollout.harness import (
    EXPECTED_FAILURES,
    FAULTS,
    MODEL_NAME,
    MODES,
    HarnessError,
    LoadGenerator,
    Rig,
    ScenarioResult,
    request_records,
    rig,
    rollout_settings,
    running_predictors,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rollout_rig(trained_run: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    store_uri = Path(trained_run.settings.store_uri)
    features = pd.read_parquet(trained_run.work / "features" / "test.parquet")
    try:
        with rig(tmp_path_factory.mktemp("rollout-e2e"), store_uri, features) as started:
            yield started
    except HarnessError as exc:
        pytest.fail(str(exc))


def history_actions(result: ScenarioResult) -> list[str]:
    return [entry["reason"].split(":")[0] for entry in result.canary_history]


def event_reasons(result: ScenarioResult) -> list[str]:
    """The Events of every decision that acted (each held interval has one too)."""
    return [event["reason"] for event in result.events if event["reason"] != "RolloutHeld"]


def serves(result: ScenarioResult) -> str:
    return str(result.isvc["spec"]["predictor"]["model"]["storageUri"]).rsplit("/", 1)[-1]


def test_the_faulty_versions_are_scored_through_predict_proba(rollout_rig: Rig) -> None:
    store = rollout_rig.store
    schema = RecordSchema.from_bundle(store.load(rollout_rig.versions.stable).metadata)
    plain = store.load(rollout_rig.versions.canaries["healthy"]).model
    assert verified_scorer(plain, schema)[1] == "compiled"
    for kind in FAULTS:
        model = store.load(rollout_rig.versions.canaries[kind]).model
        assert isinstance(model, FaultyModel)
        assert verified_scorer(model, schema)[1] == "pipeline"
    failing = rollout_rig.predictors[rollout_rig.versions.canaries["errors"]]
    answers = [
        httpx.post(
            f"{failing.url}/v1/models/{MODEL_NAME}:predict",
            json={"instances": rollout_rig.records},
            timeout=10.0,
        ).status_code
        for _ in range(4)
    ]
    assert sorted(set(answers)) == [200, 500]
    metrics = httpx.get(f"{failing.url}/metrics", timeout=10.0).text
    assert 'reason="inference_error"' in metrics


@pytest.mark.parametrize("mode", MODES)
def test_a_healthy_canary_is_promoted_to_every_customer(rollout_rig: Rig, mode: str) -> None:
    result = rollout_rig.run(mode, "healthy")
    stable, canary = result.stable, result.canary
    assert result.final.action is Action.PROMOTE, result.final.reason
    assert result.final.state.phase is Phase.PROMOTED
    assert result.champion == canary
    assert serves(result) == canary
    predictor = result.isvc["spec"]["predictor"]
    assert "canaryTrafficPercent" not in predictor
    assert "canary" not in result.isvc["spec"]
    if mode == "Standard":
        assert predictor["name"] == canary
    # The clients met every step of the split, and the canary took all of it in the end.
    canary_shares = [shares.get(canary, 0) for _, _, shares in result.timeline]
    assert canary_shares[0] == 0
    assert [share for share in dict.fromkeys(canary_shares) if share] == [20, 50, 100]
    assert result.timeline[-1][2] == {canary: 100}
    assert result.requests(canary)
    assert result.requests(stable)
    assert not result.failures(stable)
    assert not result.failures(canary)
    # The registry's history and the Events hold each step.
    assert history_actions(result) == ["rollout advance", "rollout advance", "rollout promote"]
    assert [entry["to"] for entry in result.canary_history] == [canary] * 3
    shares = (20, 50, 100)
    assert all(f"{p} %" in e["reason"] for e, p in zip(result.canary_history, shares, strict=True))
    assert event_reasons(result) == ["RolloutAdvanced", "RolloutAdvanced", "RolloutPromoted"]
    # Every patch was guarded by the resourceVersion it was built from, and moved the
    # mode's own fields.
    assert result.patches
    assert all(patch["metadata"]["resourceVersion"] for patch in result.patches)
    spec_patches = [patch["spec"] for patch in result.patches if "spec" in patch]
    if mode == "Knative":
        shares = [p["predictor"]["canaryTrafficPercent"] for p in spec_patches]
        assert shares == [20, 50, None]
    else:
        assert [(p.get("canary") or [{}])[0].get("trafficPercent") for p in spec_patches] == [
            20,
            50,
            None,
        ]
        assert spec_patches[-1]["predictor"]["name"] == canary


@pytest.mark.parametrize("kind", list(FAULTS))
@pytest.mark.parametrize("mode", MODES)
def test_a_faulty_canary_is_rolled_back_while_the_stable_keeps_serving(
    rollout_rig: Rig, mode: str, kind: str
) -> None:
    result = rollout_rig.run(mode, kind)
    stable, canary = result.stable, result.canary
    assert result.final.action is Action.ROLLBACK, result.final.reason
    assert result.final.state.phase is Phase.ROLLED_BACK
    failed = {v.check for v in result.final.verdicts if v.outcome is Outcome.FAILED}
    assert EXPECTED_FAILURES[kind] <= failed, result.final.reason
    # The champion stays, and the InferenceService serves it alone again.
    assert result.champion == stable
    assert serves(result) == stable
    assert "canary" not in result.isvc["spec"]
    assert "canaryTrafficPercent" not in result.isvc["spec"]["predictor"]
    assert observed_traffic(result.isvc).canary_percent == 0
    assert result.timeline[-1][2] == {stable: 100}
    # A never failed; whatever failed, failed on B.
    assert result.requests(stable)
    assert result.requests(canary)
    assert result.failures(stable) == []
    if kind == "errors":
        assert result.failures(canary)
    else:
        assert result.failures(canary) == []
    # Back to 0 % within the target: two intervals after the first one judged.
    figures = result.figures()
    assert figures["seconds_to_zero"] is not None
    assert figures["intervals_after_first_analysis"] <= 2.0, figures
    assert history_actions(result) == ["rollout advance", "rollout rollback"]
    assert event_reasons(result) == ["RolloutAdvanced", "RolloutRolledBack"]
    spec_patches = [patch["spec"] for patch in result.patches if "spec" in patch]
    if mode == "Knative":
        # Traffic off the canary first, then the spec names the stable model again.
        shares = [p["predictor"]["canaryTrafficPercent"] for p in spec_patches]
        assert shares == [20, 0, None]
        assert spec_patches[-1]["predictor"]["model"]["storageUri"].endswith(stable)
    else:
        assert [p["canary"] and p["canary"][0]["trafficPercent"] for p in spec_patches] == [
            20,
            None,
        ]
    assert "RolloutHeld" in [event["reason"] for event in result.events]  # failed interval 1
    assert result.events[-1]["type"] == "Warning"


@pytest.mark.parametrize("mode", MODES)
def test_a_canary_without_metrics_pauses_and_is_never_promoted(rollout_rig: Rig, mode: str) -> None:
    result = rollout_rig.run(mode, "silent")
    assert result.final.action is Action.PAUSE, result.final.reason
    assert result.final.state.phase is Phase.PAUSED
    assert "no data" in result.final.reason
    assert "no series" in result.final.reason
    assert result.champion == result.stable
    # Paused where it stood: the split waits for an operator (resume or abort).
    assert observed_traffic(result.isvc).canary_percent == 20
    # The canary served, and Prometheus did scrape it: it just found no metrics there.
    assert result.requests(result.canary)
    assert result.failures(result.canary) == []
    assert result.failures(result.stable) == []
    up = PrometheusQueries(rollout_rig.prometheus_url).scalar(
        f'max(up{{model_version="{result.canary}"}})'
    )
    assert up == 0
    assert history_actions(result) == ["rollout advance", "rollout pause"]
    assert event_reasons(result) == ["RolloutAdvanced", "RolloutPaused"]


# --- predictor mode: one predictor, the split in the registry ----------------------------


class WholeStore:
    """The gateway of predictor mode: every request goes to the one InferenceService."""

    def split(self) -> dict[str, int]:
        return {"predictor": 100}


@pytest.mark.parametrize("kind", ["healthy", "errors"])
def test_predictor_mode_promotes_a_healthy_canary_and_rolls_back_a_faulty_one(
    rollout_rig: Rig, trained_run: Any, tmp_path: Path, kind: str
) -> None:
    store = LocalModelStore(tmp_path / "store")
    shutil.copytree(rollout_rig.store.root, store.root)
    stable, canary = rollout_rig.versions.stable, rollout_rig.versions.canaries[kind]
    env = {
        "CC_SERVING__CHALLENGER": "canary",
        "CC_SERVING__CHALLENGER_MODE": "canary",
        "CC_SERVING__RELOAD_INTERVAL_S": "0.5",
    }
    with running_predictors(tmp_path / "predictor", {"predictor": store.root}, **env) as started:
        predictor = started["predictor"]
        jobs = {"predictor": [Target(predictor.address)]}
        with running_prometheus(tmp_path / "prometheus", jobs) as url:
            # Both versions in one predictor: told apart by its own version label.
            # The canary's series only start once the split names it (a reload, then two
            # scrapes), so the intervals are longer than in the KServe modes.
            # The sticky split gives the canary a fixed fifth of the 800 customers sent:
            # two samples of 160 and 640 customers of one population differ by a
            # Jensen-Shannon distance near 0.1 by chance alone, so the limit is wider here;
            # a real shift (the `shifted` fault: 0.5) stays far above it.
            settings: RolloutSettings = rollout_settings(
                url, mode="predictor", interval_s=4.0, max_score_divergence=0.2
            ).for_predictor_mode()
            policy = RolloutPolicy.from_settings(settings)
            controller = RolloutController(
                policy,
                RegistryTrafficSplit(store),
                PrometheusSource(
                    CanaryMetrics(PrometheusQueries(url, settings.query_timeout_s), settings)
                ),
                store,
                recorder=_NoEvents(),
            )
            # Many distinct customers per request: the sticky split gives the canary a
            # share of them, and only a large sample of one population has the stable's
            # score histogram.
            with LoadGenerator(
                WholeStore(), {"predictor": predictor.url}, many_customers(trained_run, store)
            ):
                queries = PrometheusQueries(url, settings.query_timeout_s)
                stable_rows = f'count_over_time(cc_serving_rows_total{{version="{stable}"}}[4s])'
                wait_for(
                    lambda: _has_samples(queries, stable_rows, 4),
                    "a window of the stable version's series",
                    timeout_s=60,
                )
                final = controller.run(canary)
    split = read_split(store)
    assert split is not None
    assert split["canary_percent"] == 0, final.reason
    if kind == "healthy":
        assert final.action is Action.PROMOTE, final.reason
        assert store.get_alias("champion") == canary
    else:
        assert final.action is Action.ROLLBACK, final.reason
        assert store.get_alias("champion") == stable
    assert store.history("canary")[0]["reason"].startswith("rollout advance")


def many_customers(
    trained_run: Any, store: LocalModelStore, rows: int = 800
) -> list[dict[str, Any]]:
    features = pd.read_parquet(trained_run.work / "features" / "test.parquet")
    names = store.load(store.get_alias("champion") or "").feature_names
    return request_records(features, names, rows)


def _has_samples(queries: PrometheusQueries, promql: str, least: int) -> bool:
    try:
        return queries.scalar(promql) >= least
    except NoDataError:
        return False


class _NoEvents:
    """Predictor mode writes nothing to the cluster; the registry history is the trail."""

    def record(self, reason: str, message: str, *, warning: bool = False) -> None:
        return None
