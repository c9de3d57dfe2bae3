"""The drift check flags each planted scenario and names its features; seasonality within
the effect floor and no drift stay quiet; the false-alarm rate stays under its bound.

Nights are synthetic frames with the shape of the real features (see ``synthetic``), so
that each scenario changes exactly one thing.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from customer_classifier.errors import ConfigurationError
from customer_classifier.monitoring.drift import (
    DriftReport,
    DriftThresholds,
    benjamini_hochberg,
    detect_drift,
    jensen_shannon,
    psi,
    thresholds_from,
)
from customer_classifier.monitoring.reference import DriftReference, build_reference
from customer_classifier.settings import DriftSettings
from tests.unit.monitoring.synthetic import AMOUNTS, CATEGORICAL, NUMERIC, THRESHOLD, night

ROWS = 4000
FALSE_ALARM_NIGHTS = 200
FALSE_ALARM_BOUND = 0.01
"""Documented bound: at most one dataset-level alarm per 100 nights without drift (the
default ``CC_DRIFT__FDR``)."""
IMPORTANCE = {"tenure_days": 0.05, "orders_365d": 0.08, "acquisition_channel": 0.04}


@pytest.fixture(scope="module")
def reference() -> DriftReference:
    frame, scores = night(1, 20_000)
    built = build_reference(
        frame,
        scores,
        THRESHOLD,
        numeric=NUMERIC,
        categorical=CATEGORICAL,
        importance=IMPORTANCE,
    )
    # What the bundle keeps is JSON: the check must work from the round trip.
    return DriftReference.from_metadata(json.loads(json.dumps(built.to_metadata())))


def check(
    reference: DriftReference, seed: int = 99, rows: int = ROWS, **scenario: object
) -> DriftReport:
    frame, scores = night(seed, rows, **scenario)  # type: ignore[arg-type]
    return detect_drift(reference, frame, scores)


def test_the_reference_is_small_and_holds_every_feature(reference: DriftReference) -> None:
    size = len(json.dumps(reference.to_metadata()))
    assert size < 64_000, f"{size} bytes of JSON in the bundle"
    assert [s.name for s in reference.specs] == [*NUMERIC, *CATEGORICAL]
    assert all(sum(reference.counts[s.name]) == reference.rows for s in reference.specs)
    assert all(sum(reference.good_counts[s.name]) == reference.good_rows for s in reference.specs)
    assert sum(reference.score_counts) == reference.rows


def test_no_drift_stays_quiet(reference: DriftReference) -> None:
    report = check(reference)
    assert not report.alarm, report.flagged
    assert all(f.q_value > report.thresholds.fdr or not f.above_floor for f in report.features)
    # Without a date (and without declared calendar features) nothing is aged.
    assert all(f.to_dict()["age_adjusted"] is None for f in report.features)


def test_covariate_drift_is_flagged_and_ranked_by_effect_on_precision(
    reference: DriftReference,
) -> None:
    report = check(reference, shift=0.4, ads_share=0.6)
    assert report.alarm
    assert {"tenure_days", "orders_365d", "acquisition_channel"} <= set(report.flagged)
    # The features the model leans on come first: importance times predicted-good drift.
    assert set(report.flagged[:3]) == set(IMPORTANCE), report.flagged
    assert report.score.flagged, "a worse population moves the scores too"
    assert report.good_share < report.reference_good_share
    assert report.good_share_p_value < 1e-6


def test_a_changed_channel_mix_names_only_the_channel(reference: DriftReference) -> None:
    report = check(reference, ads_share=0.6)
    assert report.flagged == ("acquisition_channel",)
    stats = next(f for f in report.features if f.feature == "acquisition_channel").statistics
    assert set(stats) == {"jensen_shannon", "psi"}


@pytest.mark.parametrize("column", ["tenure_days", "segment", "loyalty_member"])
def test_a_stuck_column_is_flagged_alone(reference: DriftReference, column: str) -> None:
    report = check(reference, stuck=column)
    assert report.flagged == (column,)


def test_a_unit_change_on_amounts_flags_the_amounts(reference: DriftReference) -> None:
    report = check(reference, unit=100.0)
    assert set(AMOUNTS) <= set(report.flagged)
    # Counts, ratios and shares do not change with the currency unit.
    assert set(report.flagged) <= {*AMOUNTS, "avg_order_value_365d"}
    spend = next(f for f in report.features if f.feature == "spend_365d")
    assert spend.statistics["ks"] > 0.5
    assert spend.statistics["psi"] > 1


def test_seasonality_within_the_effect_floor_stays_quiet_even_at_scale(
    reference: DriftReference,
) -> None:
    # A month of the yearly wave moves recent activity by a few per cent: real, and
    # detectable at 200,000 rows, but below every floor.
    for rows in (ROWS, 200_000):
        report = check(reference, rows=rows, season=1.05)
        assert not report.alarm, (rows, report.flagged)


def test_a_million_rows_do_not_flag_a_negligible_shift(reference: DriftReference) -> None:
    report = check(reference, rows=200_000, shift=0.08)
    tiny = [f for f in report.features if f.p_value < 1e-3]
    assert tiny, "at this size the shift is statistically visible"
    assert not report.alarm, "and the effect-size floor keeps it quiet"


def test_the_false_alarm_rate_stays_under_its_bound(reference: DriftReference) -> None:
    alarms = [check(reference, seed=1000 + s, rows=1000).alarm for s in range(FALSE_ALARM_NIGHTS)]
    rate = float(np.mean(alarms))
    # 200 nights at a true rate of 1 % give at most 5 alarms with 98 % probability.
    assert sum(alarms) <= 5, f"{sum(alarms)} false alarms in {FALSE_ALARM_NIGHTS} nights"
    assert rate <= FALSE_ALARM_BOUND * 2.5


def test_statistics_are_zero_for_equal_shares_and_grow_with_the_shift() -> None:
    ref = np.array([100, 200, 300, 400])
    assert psi(ref, ref * 3) == pytest.approx(0.0, abs=1e-3)
    assert jensen_shannon(ref, ref * 3) == pytest.approx(0.0, abs=1e-9)
    assert jensen_shannon(ref, np.array([0, 0, 0, 1])) > jensen_shannon(ref, np.array([1, 2, 3, 6]))
    assert jensen_shannon(np.array([1, 0]), np.array([0, 1])) == pytest.approx(1.0)


def test_benjamini_hochberg_matches_the_step_up_rule() -> None:
    q = benjamini_hochberg(np.array([0.01, 0.04, 0.03, 0.20]))
    # Sorted: 0.01, 0.03, 0.04, 0.20 -> 0.04, 0.06, 0.0533, 0.20, then the running
    # minimum from the top.
    assert q == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.20])


def test_the_thresholds_come_from_the_settings_group() -> None:
    settings = DriftSettings(fdr=0.05, resamples=500)
    assert thresholds_from(settings.model_dump()) == DriftThresholds(fdr=0.05, resamples=500)


def test_a_night_without_a_reference_feature_names_it(reference: DriftReference) -> None:
    frame, scores = night(3, 100)
    with pytest.raises(ConfigurationError, match="segment"):
        detect_drift(reference, frame.drop(columns=["segment"]), scores)
    with pytest.raises(ConfigurationError, match="one score per row"):
        detect_drift(reference, pd.DataFrame(frame), scores[:10])
