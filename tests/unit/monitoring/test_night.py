"""One night's monitoring from its data alone (the pure core of monitoring/night.py), on
small synthetic nights with the shape of the real ones."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from customer_classifier.data.contract import BAD, GOOD
from customer_classifier.errors import ConfigurationError
from customer_classifier.evaluation.value import ValueTerms
from customer_classifier.monitoring.backtest import backtest_night
from customer_classifier.monitoring.night import (
    BaselineNight,
    EarlyNight,
    NightMonitoring,
    assess_night,
    baseline_actions,
    business_impact,
)
from customer_classifier.monitoring.reference import build_reference
from customer_classifier.monitoring_metrics import (
    CONCEPT_DRIFT_FLAGGED,
    ESTIMATED_PRECISION,
    FEATURE_DRIFT_FLAGGED,
    LAST_SUCCESS,
    PIPELINE_FIGURE,
    REALISED_PRECISION,
    REALISED_VALUE,
    sample,
)
from customer_classifier.settings import ExplicitSettings, Settings
from tests.unit.monitoring.synthetic import CATEGORICAL, NUMERIC, THRESHOLD, night

ROWS = 4000
AS_OF = dt.date(2026, 7, 1)
TERMS = ValueTerms(100.0, 50.0)


@pytest.fixture(scope="module")
def settings() -> Settings:
    return ExplicitSettings(drift={"resamples": 300})


@pytest.fixture(scope="module")
def metadata() -> dict[str, Any]:
    frame, scores = night(0, 20_000)
    reference = build_reference(
        frame, scores, THRESHOLD, numeric=NUMERIC, categorical=CATEGORICAL, bins=10
    )
    return {
        "drift_reference": reference.to_metadata(),
        "calibration": {"calibrated": False, "test_ece": 0.02},
        "candidates": {"heuristic": {"params": {}, "threshold": 0.5}},
    }


def _night(seed: int, **scenario: Any) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    frame, scores = night(seed, ROWS, **scenario)
    frame.index = pd.Index(np.arange(1, ROWS + 1), name="customer_id")
    served = pd.Series(scores, index=frame.index)
    return frame, served, served >= THRESHOLD


def _matured(seed: int, as_of: dt.date, version: str = "v1") -> Any:
    frame, scores, good = _night(seed)
    rng = np.random.default_rng(seed)
    served = pd.DataFrame(
        {
            "customer_id": frame.index,
            "score": scores.to_numpy(),
            "label": np.where(good, GOOD, BAD),
            "segment": frame["segment"].to_numpy(),
            "outcome": (rng.random(ROWS) < scores.to_numpy()).astype(int),
        }
    )
    return backtest_night(served, as_of, version, TERMS)


def _assess(metadata: dict[str, Any], settings: Settings, **kwargs: Any) -> NightMonitoring:
    frame, scores, good = kwargs.pop("night", None) or _night(1)
    return assess_night(AS_OF, "v1", frame, scores, good, metadata, settings, **kwargs)


def test_a_quiet_night_has_no_alarm_and_states_its_figures(
    metadata: dict[str, Any], settings: Settings
) -> None:
    result = _assess(metadata, settings, run_id="r1")
    assert not result.alarm
    assert result.rows == ROWS
    assert result.concept is None
    assert result.matured is None
    assert result.impact is None
    figures = result.headline()
    assert figures["drift_alarm"] == 0.0
    assert 0.0 < figures["estimated_precision_lower"] < figures["estimated_precision"] < 1.0
    names = {s.metric.name for s in result.samples()}
    assert {FEATURE_DRIFT_FLAGGED.name, ESTIMATED_PRECISION.name} <= names
    assert LAST_SUCCESS.name not in names
    finished = result.samples(finished_at=dt.datetime(2026, 7, 1, 4, tzinfo=dt.UTC))
    assert finished[-1].metric == LAST_SUCCESS
    segments = {s.label_map["segment"] for s in result.samples() if s.metric == ESTIMATED_PRECISION}
    assert segments == {"all", "consumer", "small_business", "enterprise"}
    text = json.dumps(result.to_json(), allow_nan=False)  # strict JSON: no NaN
    data = json.loads(text)
    assert data["as_of"] == "2026-07-01"
    assert data["run_id"] == "r1"
    assert data["concept_drift"] is None
    assert "no concept drift" in data["estimate"]["assumption"]


def test_a_feed_sending_cents_is_flagged_by_name(
    metadata: dict[str, Any], settings: Settings
) -> None:
    result = _assess(metadata, settings, night=_night(2, unit=100.0))
    assert result.alarm
    assert {"spend_90d", "spend_365d"} <= set(result.drift.flagged)
    flagged = {
        s.label_map["feature"]
        for s in result.samples()
        if s.metric == FEATURE_DRIFT_FLAGGED and s.value == 1.0
    }
    assert flagged == set(result.drift.flagged)
    assert result.to_json()["drift"]["flagged"] == list(result.drift.flagged)


def test_early_labels_short_of_the_estimate_signal_concept_drift(
    metadata: dict[str, Any], settings: Settings
) -> None:
    frame, scores, good = _night(3)
    rng = np.random.default_rng(3)
    ratio = 0.5
    kept = pd.Series((rng.random(ROWS) < scores * ratio).astype(int), index=frame.index)
    lost = pd.Series((rng.random(ROWS) < scores * ratio * 0.6).astype(int), index=frame.index)
    quiet = _assess(
        metadata, settings, early=EarlyNight(AS_OF, "v1", 30, scores, good, kept, ratio)
    )
    assert quiet.concept is not None
    assert not quiet.concept.drifted
    drifted = _assess(
        metadata, settings, early=EarlyNight(AS_OF, "v1", 30, scores, good, lost, ratio)
    )
    assert drifted.concept is not None
    assert drifted.concept.drifted
    assert drifted.alarm
    (flag,) = [s for s in drifted.samples() if s.metric == CONCEPT_DRIFT_FLAGGED]
    assert flag.value == 1.0
    concept = drifted.to_json()["concept_drift"]
    assert concept["elapsed_days"] == 30
    assert concept["early_ratio"] == ratio
    assert concept["drifted"] is True


def test_the_newest_matured_night_and_its_value_against_the_baseline(
    metadata: dict[str, Any], settings: Settings
) -> None:
    older, newer = _matured(4, dt.date(2026, 3, 1)), _matured(5, dt.date(2026, 4, 1))
    outcome = np.array([1, 1, 0, 0, 1, 0])
    model = np.array([1, 1, 1, 0, 0, 0])
    heuristic = np.array([1, 0, 1, 1, 0, 0])
    baseline = BaselineNight(dt.date(2026, 4, 1), "v1", outcome, model, heuristic)
    result = _assess(metadata, settings, backtested=[newer, older], baseline=baseline)
    assert result.matured is newer
    assert [n.as_of for n in result.backtested] == [older.as_of, newer.as_of]
    assert result.impact is not None
    assert (result.impact.model_value, result.impact.baseline_value) == (150.0, 0.0)
    assert result.impact.uplift == 150.0
    values = {
        s.label_map["policy"]: s.value for s in result.samples() if s.metric == REALISED_VALUE
    }
    overall = newer.table.set_index("segment").loc["all"]
    assert values == {"model": overall["value"], "baseline": 0.0}
    realised = [s for s in result.samples() if s.metric == REALISED_PRECISION]
    assert {s.label_map["segment"] for s in realised} >= {"all", "consumer"}
    data = result.to_json()
    assert data["matured"]["as_of"] == "2026-04-01"
    assert len(data["backtest"]["nights"]) == 2 * 4
    assert data["backtest"]["accuracy"]["nights"] == 2
    assert data["business_impact"]["uplift"] == 150.0


def test_business_impact_counts_the_same_customers() -> None:
    outcome = np.array([1, 0, 1, 0])
    found = business_impact(
        BaselineNight(AS_OF, "v1", outcome, np.array([1, 0, 0, 0]), np.array([1, 1, 1, 1])),
        TERMS,
    )
    assert (found.model_value, found.baseline_value) == (100.0, 100.0)
    assert (found.model_precision, found.baseline_precision) == (1.0, 0.5)
    with pytest.raises(ValueError, match="same customers"):
        business_impact(BaselineNight(AS_OF, "v1", outcome, outcome[:3], outcome), TERMS)


def test_the_baseline_acts_where_its_recorded_threshold_says(metadata: dict[str, Any]) -> None:
    features = pd.DataFrame(
        {
            "days_since_last_purchase": [3.0, 200.0, np.nan],
            "orders_90d": [5.0, 0.0, 1.0],
            "spend_90d": [900.0, 0.0, np.nan],
        }
    )
    acted = baseline_actions(metadata, features)
    assert acted is not None
    assert acted.tolist() == [True, False, False]
    assert baseline_actions({"candidates": {}}, features) is None


def test_health_findings_and_their_samples_join_the_night(
    metadata: dict[str, Any], settings: Settings
) -> None:
    result = _assess(metadata, settings)
    figure = sample(PIPELINE_FIGURE, 4000.0, {"figure": "input_customers"})
    joined = result.with_findings(health={"failed": []}, samples=[figure])
    assert figure in joined.samples()
    assert figure not in result.samples()
    assert joined.to_json()["health"] == {"failed": []}
    assert joined.with_findings(retrain={"launched": False}).health == {"failed": []}


def test_a_version_without_a_drift_reference_names_the_fix(settings: Settings) -> None:
    frame, scores, good = _night(6)
    with pytest.raises(ConfigurationError, match=r"version v9 has no drift reference.*retrain"):
        assess_night(AS_OF, "v9", frame, scores, good, {}, settings)
