"""The retraining decision: triggers, hysteresis (nights in a row, gaps) and cool-down.

History frames are built by hand in the history table's shape, one night per as-of date.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pandas as pd
import pytest

from customer_classifier.monitoring.retrain import (
    COOLDOWN,
    QUIET,
    RETRAIN,
    SKIP,
    TRIGGERS,
    PastDecision,
    RetrainPolicy,
    decide_retrain,
    nightly_figures,
)
from customer_classifier.monitoring_metrics import (
    REALISED_PRECISION,
    RETRAIN_LAUNCHED,
    RETRAIN_TRIGGER_FIRED,
)
from customer_classifier.settings import RetrainSettings
from tests.unit.monitoring.history_frames import history

TONIGHT = dt.date(2026, 7, 10)
POLICY = RetrainPolicy.from_settings(
    RetrainSettings(consecutive_nights=3, cooldown_days=14, max_model_age_days=30), 0.80
)


def days_before(n: int) -> dt.date:
    return TONIGHT - dt.timedelta(days=n)


def quiet_nights(n: int) -> dict[dt.date, dict[str, Any]]:
    return {days_before(k): {} for k in range(n)}


def test_a_quiet_history_is_quiet_and_every_trigger_is_sampled() -> None:
    decision = decide_retrain(history(quiet_nights(10)), [], TONIGHT, POLICY)
    assert decision.action == QUIET
    assert decision.fired == ()
    samples = decision.samples()
    fired = {s.label_map["trigger"]: s.value for s in samples if s.metric == RETRAIN_TRIGGER_FIRED}
    assert fired == dict.fromkeys(TRIGGERS, 0.0)
    assert [s.value for s in samples if s.metric == RETRAIN_LAUNCHED] == [0.0]


def test_one_noisy_night_does_not_retrain() -> None:
    nights = quiet_nights(10)
    nights[TONIGHT] = {"drifted": ["age"], "psi": 0.4}
    decision = decide_retrain(history(nights), [], TONIGHT, POLICY)
    assert decision.action == SKIP
    drift = decision.trigger("drift")
    assert drift.fired
    assert not drift.ready
    assert (drift.streak, drift.required) == (1, 3)
    assert drift.nights == (TONIGHT,)
    assert drift.figures["drifted_features"] == ["age"]
    assert drift.figures["score_psi"] == pytest.approx(0.4)
    assert "one noisy night does not retrain" in decision.reason
    assert [s.value for s in decision.samples() if s.metric == RETRAIN_LAUNCHED] == [0.0]


def test_consecutive_drifted_nights_retrain_with_their_evidence() -> None:
    nights = quiet_nights(10)
    for k in range(3):
        nights[days_before(k)] = {"drifted": ["age", "recency_days"]}
    decision = decide_retrain(history(nights), [], TONIGHT, POLICY)
    assert decision.action == RETRAIN
    assert decision.ready == ("drift",)
    drift = decision.trigger("drift")
    assert drift.nights == (days_before(2), days_before(1), TONIGHT)
    assert "2 of 3 features drifted" in drift.detail
    assert "age, recency_days" in drift.detail
    evidence = decision.to_dict()
    assert evidence["action"] == RETRAIN
    assert evidence["triggers"]["drift"]["ready"] is True
    assert evidence["triggers"]["drift"]["nights"] == [d.isoformat() for d in drift.nights]
    assert evidence["policy"]["consecutive_nights"] == 3
    json.dumps(evidence)  # plain JSON, for the decisions table
    launched = [s.value for s in decision.samples() if s.metric == RETRAIN_LAUNCHED]
    assert launched == [1.0]


def test_a_missing_night_breaks_the_streak() -> None:
    nights = quiet_nights(10)
    nights[days_before(3)] = {"drifted": ["age"]}
    nights[days_before(2)] = {"drifted": ["age"]}
    del nights[days_before(1)]  # no monitoring that night
    nights[TONIGHT] = {"drifted": ["age"]}
    decision = decide_retrain(history(nights), [], TONIGHT, POLICY)
    assert decision.action == SKIP
    assert decision.trigger("drift").streak == 1


def test_a_quiet_night_between_resets_the_streak() -> None:
    nights = quiet_nights(10)
    for k in (4, 3, 1, 0):
        nights[days_before(k)] = {"drifted": ["age"]}
    decision = decide_retrain(history(nights), [], TONIGHT, POLICY)
    assert decision.action == SKIP
    assert decision.trigger("drift").nights == (days_before(1), TONIGHT)


def test_different_features_drifting_still_count_as_one_drift_alarm() -> None:
    nights = quiet_nights(10)
    nights[days_before(2)] = {"drifted": ["age"]}
    nights[days_before(1)] = {"psi": 0.5}  # the score alone drifted
    nights[TONIGHT] = {"drifted": ["monetary_365d"]}
    assert decide_retrain(history(nights), [], TONIGHT, POLICY).action == RETRAIN


def test_cooldown_blocks_a_ready_trigger_and_says_until_when() -> None:
    nights = quiet_nights(10)
    for k in range(5):
        nights[days_before(k)] = {"drifted": ["age"]}
    past = [PastDecision(as_of=days_before(5), action=RETRAIN, run_id="run-7")]
    decision = decide_retrain(history(nights), past, TONIGHT, POLICY)
    assert decision.action == COOLDOWN
    assert decision.ready == ("drift",)
    assert decision.last_retrain == days_before(5)
    assert decision.retrain_allowed_from == days_before(5) + dt.timedelta(days=14)
    assert str(decision.retrain_allowed_from) in decision.reason
    evidence = decision.to_dict()
    assert evidence["action"] == COOLDOWN
    assert evidence["triggers"]["drift"]["streak"] == 5
    assert evidence["last_retrain"] == days_before(5).isoformat()


def test_after_the_cooldown_a_persisting_trigger_retrains_again() -> None:
    nights = {days_before(k): {"drifted": ["age"]} for k in range(20)}
    past = [PastDecision(as_of=days_before(14), action=RETRAIN, run_id="run-7")]
    assert decide_retrain(history(nights), past, TONIGHT, POLICY).action == RETRAIN


def test_a_failed_launch_starts_no_cooldown_and_a_launched_night_never_launches_twice() -> None:
    nights = {days_before(k): {"drifted": ["age"]} for k in range(3)}
    failed = [PastDecision(as_of=TONIGHT, action=RETRAIN, run_id=None)]
    assert decide_retrain(history(nights), failed, TONIGHT, POLICY).action == RETRAIN
    launched = [PastDecision(as_of=TONIGHT, action=RETRAIN, run_id="run-1")]
    no_cooldown = RetrainPolicy(**{**POLICY.__dict__, "cooldown_days": 0})
    assert decide_retrain(history(nights), launched, TONIGHT, no_cooldown).action == COOLDOWN


def test_the_schedule_retrains_an_old_model_in_one_night() -> None:
    quiet = history(quiet_nights(5))
    old = decide_retrain(quiet, [], TONIGHT, POLICY, champion_since=days_before(30))
    assert old.action == RETRAIN
    assert old.ready == ("schedule",)
    schedule = old.trigger("schedule")
    assert schedule.figures["model_age_days"] == 30
    assert schedule.thresholds == {"max_model_age_days": 30.0}
    young = decide_retrain(quiet, [], TONIGHT, POLICY, champion_since=days_before(29))
    assert young.action == QUIET
    # A retrain launched since the promotion ages the model from the launch.
    past = [PastDecision(as_of=days_before(10), action=RETRAIN, run_id="run-3")]
    after = decide_retrain(quiet, past, TONIGHT, POLICY, champion_since=days_before(60))
    assert after.trigger("schedule").figures["model_age_days"] == 10
    assert after.action == QUIET
    unknown = decide_retrain(quiet, [], TONIGHT, POLICY)
    assert unknown.action == QUIET
    assert "no retrain or champion promotion" in unknown.trigger("schedule").detail


def test_the_cooldown_holds_the_schedule_too() -> None:
    policy = RetrainPolicy(**{**POLICY.__dict__, "max_model_age_days": 5})
    past = [PastDecision(as_of=days_before(6), action=RETRAIN, run_id="run-3")]
    decision = decide_retrain(history(quiet_nights(5)), past, TONIGHT, policy)
    assert decision.ready == ("schedule",)
    assert decision.action == COOLDOWN


@pytest.mark.parametrize(
    ("trigger", "figures", "value_key", "value"),
    [
        ("estimated_precision", {"estimate": 0.70, "lower": 0.66, "upper": 0.77}, "upper", 0.77),
        ("realised_precision", {"realised": 0.75}, "realised_precision", 0.75),
        ("calibration", {"ece": 0.09}, "calibration_error", 0.09),
        ("concept_drift", {"concept": True}, "concept_drift", True),
    ],
)
def test_each_breach_retrains_after_three_nights(
    trigger: str, figures: dict[str, Any], value_key: str, value: Any
) -> None:
    nights = quiet_nights(10)
    for k in range(3):
        nights[days_before(k)] = figures
    decision = decide_retrain(history(nights), [], TONIGHT, POLICY)
    assert decision.action == RETRAIN
    assert decision.ready == (trigger,)
    assert decision.trigger(trigger).figures[value_key] == pytest.approx(value)


def test_the_estimate_breaches_only_when_its_whole_band_is_below_the_floor() -> None:
    # Estimate 0.76 under the floor 0.78, but the band reaches 0.79: not a breach.
    nights = {days_before(k): {"estimate": 0.76, "lower": 0.73, "upper": 0.79} for k in range(5)}
    decision = decide_retrain(history(nights), [], TONIGHT, POLICY)
    assert decision.action == QUIET
    estimated = decision.trigger("estimated_precision")
    assert estimated.thresholds == {"precision_floor": pytest.approx(0.78)}
    assert "at or above the floor 0.7800" in estimated.detail


def test_a_night_without_the_figure_breaks_the_streak() -> None:
    nights = quiet_nights(10)
    for k in range(3):
        nights[days_before(k)] = {"realised": 0.7}
    frame = history(nights)
    no_matured = (frame["as_of"] == days_before(1)) & (frame["metric"] == REALISED_PRECISION.name)
    decision = decide_retrain(frame[~no_matured], [], TONIGHT, POLICY)
    assert decision.trigger("realised_precision").streak == 1
    assert decision.action == SKIP


def test_switched_off_it_still_decides_and_skips() -> None:
    policy = RetrainPolicy(**{**POLICY.__dict__, "enabled": False})
    nights = {days_before(k): {"drifted": ["age"]} for k in range(3)}
    decision = decide_retrain(history(nights), [], TONIGHT, policy)
    assert decision.action == SKIP
    assert decision.ready == ("drift",)
    assert "CC_RETRAIN__ENABLED" in decision.reason


def test_no_figures_tonight_is_quiet_and_nights_after_tonight_are_ignored() -> None:
    nights = {days_before(k): {"drifted": ["age"]} for k in range(1, 4)}
    nights[TONIGHT + dt.timedelta(days=1)] = {"drifted": ["age"]}
    decision = decide_retrain(history(nights), [], TONIGHT, POLICY)
    assert decision.action == QUIET
    assert decision.trigger("drift").detail == "no drift figures this night"


def test_the_frame_must_have_the_history_columns() -> None:
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['labels'\]"):
        nightly_figures(pd.DataFrame({"as_of": [], "metric": [], "value": []}))


def test_nightly_figures_read_dates_from_text_and_timestamps() -> None:
    frame = history({TONIGHT: {"drifted": ["age"]}})
    frame["as_of"] = [str(d) for d in frame["as_of"]]
    (night,) = nightly_figures(frame).values()
    assert night.as_of == TONIGHT
    assert night.drifted_features == ["age"]
    assert night.estimated_upper == pytest.approx(0.84)
