"""Seasonality and ageing are not drift: the reference's dated parts model both.

The training window is an autumn batch; a second part holds a year-end batch, whose
recent activity is 1.6 times higher (the generator's year-end peak). A year-end night is
quiet against its part and flagged against the autumn window; a real change at year end
still shows against its part; a night of a season no part holds, or whose part is too
thin, is compared with the training window as before.

Ageing: a book whose history starts on a fixed date (``book``) grows older every night:
tenure, days since the first purchase, lifetime totals and age. Three parts a quarter
apart give its ageing rate, and tonight, a quarter after the newest part, is quiet
against the reference aged to its date, with the usual false-alarm bound, while the
unaged reference flags it; a burst of new customers and a unit change still show.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from customer_classifier.features.build import AGEING_FEATURES
from customer_classifier.monitoring.drift import detect_drift
from customer_classifier.monitoring.reference import (
    MIN_SEASON_ROWS,
    SEASON_DAYS,
    DriftReference,
    ageing_weights,
    build_reference,
    calendar_distance,
)
from tests.unit.monitoring.synthetic import AMOUNTS, CATEGORICAL, NUMERIC, THRESHOLD, night

AUTUMN = dt.date(2025, 10, 4)
YEAR_END = dt.date(2026, 1, 2)
PEAK = 1.6
ROWS = 4000


def _reference(year_end_rows: int = 20_000) -> DriftReference:
    frame, scores = night(1, 20_000)
    peak = night(2, year_end_rows, season=PEAK)
    built = build_reference(
        frame,
        scores,
        THRESHOLD,
        numeric=NUMERIC,
        categorical=CATEGORICAL,
        as_of=AUTUMN,
        seasons={AUTUMN: (frame, scores), YEAR_END: peak},
    )
    return DriftReference.from_metadata(json.loads(json.dumps(built.to_metadata())))


@pytest.fixture(scope="module")
def reference() -> DriftReference:
    return _reference()


def test_the_calendar_distance_wraps_around_the_year_end() -> None:
    assert calendar_distance(dt.date(2025, 12, 20), dt.date(2026, 1, 2)) == 13
    assert calendar_distance(dt.date(2024, 7, 1), dt.date(2026, 7, 1)) <= 1
    assert calendar_distance(AUTUMN, YEAR_END) > SEASON_DAYS


def test_the_reference_keeps_one_part_per_other_as_of_date(reference: DriftReference) -> None:
    assert reference.as_of == AUTUMN
    assert [p.as_of for p in reference.seasons] == [YEAR_END], "the window's own date is itself"
    assert reference.seasons[0].rows == 20_000
    assert set(reference.seasons[0].counts) == set(reference.counts)


def test_a_year_end_night_is_quiet_against_its_season_and_flagged_against_autumn(
    reference: DriftReference,
) -> None:
    frame, scores = night(7, ROWS, season=PEAK)
    seasonal = detect_drift(reference, frame, scores, as_of=dt.date(2025, 12, 20))
    assert seasonal.reference_part == YEAR_END.isoformat()
    assert not seasonal.alarm, seasonal.flagged

    against_autumn = detect_drift(reference, frame, scores)
    assert against_autumn.reference_part == AUTUMN.isoformat()
    assert {"orders_30d", "spend_30d"} <= set(against_autumn.flagged)


def test_a_real_change_at_year_end_still_shows_against_its_season(
    reference: DriftReference,
) -> None:
    frame, scores = night(8, ROWS, season=PEAK, unit=100.0)
    report = detect_drift(reference, frame, scores, as_of=dt.date(2025, 12, 28))
    assert report.reference_part == YEAR_END.isoformat()
    assert set(AMOUNTS) <= set(report.flagged)


def test_a_season_without_a_part_falls_back_to_the_training_window(
    reference: DriftReference,
) -> None:
    frame, scores = night(9, ROWS)
    july = detect_drift(reference, frame, scores, as_of=dt.date(2026, 7, 1))
    assert july.reference_part == AUTUMN.isoformat()
    assert not july.alarm, july.flagged
    assert reference.for_night(dt.date(2026, 10, 1)) is reference, "the window's own season"
    # Between the two, the nearer in the calendar.
    assert reference.season_for(dt.date(2025, 11, 10)) is None
    part = reference.season_for(dt.date(2025, 11, 25))
    assert part is not None
    assert part.as_of == YEAR_END


def test_a_thin_season_part_is_not_used() -> None:
    thin = _reference(year_end_rows=MIN_SEASON_ROWS - 1)
    assert thin.season_for(dt.date(2025, 12, 20)) is None
    assert thin.for_night(dt.date(2025, 12, 20)) is thin


def test_a_reference_written_before_seasons_reads_as_the_training_window(
    reference: DriftReference,
) -> None:
    old = reference.to_metadata()
    del old["as_of"], old["seasons"]
    read = DriftReference.from_metadata(old)
    assert read.as_of is None
    assert read.seasons == ()
    assert read.for_night(dt.date(2025, 12, 20)) is read
    assert read.part == "training"


# Ageing --------------------------------------------------------------------------------

START = dt.date(2023, 1, 1)
"""The first day of the book's history: signups before it count from it."""
SPRING = dt.date(2026, 4, 2)
TONIGHT = dt.date(2026, 7, 1)
"""A quarter after the newest part, as the real night is after training."""
FALSE_ALARM_NIGHTS = 200


def book(
    seed: int, rows: int, as_of: dt.date, *, burst: float = 0.0, **scenario: float
) -> tuple[pd.DataFrame, np.ndarray]:
    """A night of a book whose history starts at START, as of ``as_of``: signups drawn
    evenly from a year before START to 30 days before the night (``burst``: this share of
    them in the last 90 days instead), the first purchase soon after the signup or START,
    lifetime orders growing with the tenure, the holder a year older each calendar year."""
    frame, scores = night(seed, rows, **scenario)  # type: ignore[arg-type]
    rng = np.random.default_rng([seed, 1])
    today = (as_of - START).days
    signup = rng.integers(-365, today - 30, rows)
    if burst:
        late = rng.integers(today - 120, today - 30, rows)
        signup = np.where(rng.random(rows) < burst, late, signup)
    tenure = (today - signup).astype(float)
    first = np.maximum(signup, 0) + rng.exponential(60.0, rows)
    per_order = frame["spend_total"] / np.maximum(frame["orders_total"], 1)
    orders = frame["orders_365d"] + rng.poisson(np.maximum(tenure - 365, 0) / 60)
    return frame.assign(
        tenure_days=tenure,
        days_since_first_purchase=np.maximum(today - first, 0.0),
        orders_total=orders,
        spend_total=orders * per_order,
        age=frame["age"] + (as_of.year - AUTUMN.year),
    ), scores


@pytest.fixture(scope="module")
def aged() -> DriftReference:
    frame, scores = book(1, 20_000, AUTUMN)
    built = build_reference(
        frame,
        scores,
        THRESHOLD,
        numeric=NUMERIC,
        categorical=CATEGORICAL,
        as_of=AUTUMN,
        seasons={YEAR_END: book(2, 20_000, YEAR_END), SPRING: book(3, 20_000, SPRING)},
        ageing=AGEING_FEATURES,
    )
    return DriftReference.from_metadata(json.loads(json.dumps(built.to_metadata())))


def test_the_ageing_weights_follow_the_line_through_the_nearest_parts() -> None:
    dates = [AUTUMN, YEAR_END, SPRING]
    assert ageing_weights(dates, TONIGHT) == pytest.approx((0.0, -1.0, 2.0))
    assert ageing_weights(dates, YEAR_END) == (0.0, 1.0, 0.0)
    between = YEAR_END + dt.timedelta(days=30)
    assert ageing_weights(dates, between) == pytest.approx((0.0, 2 / 3, 1 / 3))
    before = AUTUMN - dt.timedelta(days=90)
    assert ageing_weights(dates, before) == pytest.approx((2.0, -1.0, 0.0))


def test_an_aged_book_is_quiet_against_its_aged_reference_and_the_report_says_so(
    aged: DriftReference,
) -> None:
    frame, scores = book(7, ROWS, TONIGHT)
    report = detect_drift(aged, frame, scores, as_of=TONIGHT)
    assert not report.alarm, report.flagged
    entries = {f.feature: f.to_dict()["age_adjusted"] for f in report.features}
    assert {n for n, e in entries.items() if e} == set(AGEING_FEATURES)
    tenure = entries["tenure_days"]
    assert tenure["parts"] == [YEAR_END.isoformat(), SPRING.isoformat()]
    assert tenure["weights"] == pytest.approx([-1.0, 2.0])
    assert tenure["elapsed_days"] == 90
    # Two parts of 20,000 rows carried a quarter on: the noise of 1/20,000 + 4/20,000.
    assert tenure["effective_rows"] == 4000
    # Unaged, the book's ageing alone raises the alarm.
    unaged = detect_drift(dataclasses.replace(aged, ageing=()), frame, scores, as_of=TONIGHT)
    assert {"tenure_days", "days_since_first_purchase"} <= set(unaged.flagged)
    assert all(f.age_adjusted is None for f in unaged.features)


def test_aged_nights_keep_the_false_alarm_bound(aged: DriftReference) -> None:
    alarms = [
        detect_drift(aged, *book(2000 + s, 1000, TONIGHT), as_of=TONIGHT).alarm
        for s in range(FALSE_ALARM_NIGHTS)
    ]
    # The bound of test_drift: at most 1 % of nights, at most 5 alarms in 200.
    assert sum(alarms) <= 5, f"{sum(alarms)} false alarms in {FALSE_ALARM_NIGHTS} nights"


def test_a_burst_of_new_customers_shows_beyond_the_ageing(aged: DriftReference) -> None:
    frame, scores = book(8, ROWS, TONIGHT, burst=0.2)
    report = detect_drift(aged, frame, scores, as_of=TONIGHT)
    assert {"tenure_days", "days_since_first_purchase"} <= set(report.flagged)
    assert not set(report.flagged) - {*AGEING_FEATURES}, report.flagged


def test_a_unit_change_still_shows_against_the_aged_reference(aged: DriftReference) -> None:
    frame, scores = book(9, ROWS, TONIGHT, unit=100.0)
    report = detect_drift(aged, frame, scores, as_of=TONIGHT)
    assert set(AMOUNTS) <= set(report.flagged)
    spend = next(f for f in report.features if f.feature == "spend_total")
    assert spend.age_adjusted is not None


def test_ageing_needs_dated_parts_and_older_references_age_the_declared_features(
    aged: DriftReference,
) -> None:
    assert aged.ageing == AGEING_FEATURES
    without_parts = dataclasses.replace(aged, seasons=())
    assert without_parts.for_night(TONIGHT) is without_parts, "no rate from one window"
    assert detect_drift(aged, *book(3, 100, TONIGHT)).features[0].age_adjusted is None
    old = aged.to_metadata()
    del old["ageing"]
    assert DriftReference.from_metadata(old).ageing == AGEING_FEATURES
