"""What the monitoring history table must do on any database; the SQLite tests and the
PostgreSQL integration tests run these same cases."""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa

from customer_classifier.monitoring.history import COLUMNS, append_night, read_history
from customer_classifier.monitoring_metrics import (
    ESTIMATED_PRECISION,
    FEATURE_DRIFT_FLAGGED,
    LAST_SUCCESS,
    PIPELINE_FIGURE,
    Sample,
    sample,
)

TABLE = "monitoring_metrics"
NIGHTS = (dt.date(2026, 6, 29), dt.date(2026, 6, 30), dt.date(2026, 7, 1))


def night_samples(night: int) -> list[Sample]:
    return [
        sample(ESTIMATED_PRECISION, 0.8 + night / 100, {"segment": "all"}),
        sample(ESTIMATED_PRECISION, 0.7, {"segment": "consumer"}),
        sample(FEATURE_DRIFT_FLAGGED, float(night == 2), {"feature": "spend_90d"}),
        sample(PIPELINE_FIGURE, 1000.0 + night, {"figure": "input_customers"}),
        sample(LAST_SUCCESS, 1.78e9 + night),
    ]


def write_three_nights(engine: sa.Engine) -> None:
    for i, night in enumerate(NIGHTS):
        append_night(
            engine,
            TABLE,
            night,
            f"run-{i}",
            "v1",
            night_samples(i),
            dt.datetime(2026, 7, 1, 4, i, tzinfo=dt.UTC),
        )


def check_round_trip(engine: sa.Engine) -> None:
    """Created on first use, read back with the contract's columns and types, oldest
    night first; labels as sorted JSON; ``since`` and ``metrics`` select."""
    assert list(read_history(engine, TABLE).columns) == list(COLUMNS)
    assert read_history(engine, TABLE).empty
    write_three_nights(engine)
    frame = read_history(engine, TABLE)
    assert list(frame.columns) == list(COLUMNS)
    assert len(frame) == 3 * 5
    assert list(frame["as_of"]) == sorted(frame["as_of"])
    assert all(type(d) is dt.date for d in frame["as_of"])
    assert set(frame["as_of"]) == set(NIGHTS)
    assert frame["value"].dtype == "float64"
    assert frame["recorded_at"].iloc[-1] == dt.datetime(2026, 7, 1, 4, 2)  # UTC, naive
    labels = set(frame["labels"])
    assert {"{}", '{"segment": "all"}', '{"figure": "input_customers"}'} <= labels
    figures = frame[frame["metric"] == PIPELINE_FIGURE.name]
    assert [json.loads(t)["figure"] for t in figures["labels"]] == ["input_customers"] * 3
    assert list(figures["value"]) == [1000.0, 1001.0, 1002.0]
    since = read_history(engine, TABLE, since=NIGHTS[1], metrics=[LAST_SUCCESS.name])
    assert list(since["as_of"]) == list(NIGHTS[1:])
    assert set(since["metric"]) == {LAST_SUCCESS.name}
    assert read_history(engine, TABLE, metrics=[]).empty


def check_rerun_replaces_the_night(engine: sa.Engine) -> None:
    """A night run again keeps only its new rows; the other nights stay as they were."""
    write_three_nights(engine)
    before = read_history(engine, TABLE)
    again = append_night(
        engine,
        TABLE,
        NIGHTS[1],
        "run-again",
        "v2",
        [sample(LAST_SUCCESS, 1.9e9)],
        dt.datetime(2026, 7, 2, 4, 0),
    )
    assert (again.rows, again.replaced) == (1, 5)
    after = read_history(engine, TABLE)
    night = after[after["as_of"] == NIGHTS[1]]
    assert list(night["run_id"]) == ["run-again"]
    assert list(night["model_version"]) == ["v2"]
    others = after[after["as_of"] != NIGHTS[1]].reset_index(drop=True)
    kept = before[before["as_of"] != NIGHTS[1]].reset_index(drop=True)
    assert others.equals(kept)
