"""Seasonality is not drift: a night is compared with the reference's part of its season.

The training window is an autumn batch; a second part holds a year-end batch, whose
recent activity is 1.6 times higher (the generator's year-end peak). A year-end night is
quiet against its part and flagged against the autumn window; a real change at year end
still shows against its part; a night of a season no part holds, or whose part is too
thin, is compared with the training window as before.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from customer_classifier.monitoring.drift import detect_drift
from customer_classifier.monitoring.reference import (
    MIN_SEASON_ROWS,
    SEASON_DAYS,
    DriftReference,
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
