"""What nightly scoring refuses: feature records the online predictor would answer 400,
predictions that break the output contract, and output names it does not own."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from customer_classifier import jobs
from customer_classifier.data.database import connect
from customer_classifier.errors import ConfigurationError, DataVerificationError
from customer_classifier.registry import LocalModelStore, ModelBundle
from customer_classifier.scoring.batch import score_customers
from customer_classifier.scoring.checks import check_prediction_rows, count_problem
from customer_classifier.scoring.record_checks import OUT_OF_RANGE, UNKNOWN_CATEGORY
from customer_classifier.settings import ExplicitSettings, Settings, load_settings
from tests.unit.scoring.models import Returns

TABLE = "customer_predictions"
AGED = 4
"""Customers given a birth year of 1800 (age 226, outside 0 to 130)."""


def read(db: Path, table: str) -> pd.DataFrame:
    with sqlite3.connect(db) as conn:
        return pd.read_sql_query(f"SELECT * FROM {table} ORDER BY customer_id", conn)


@pytest.fixture
def corrupted(settings: Settings, champion: str, db_copy: Path) -> list[int]:
    """Score once, then give some scored customers a birth year of 1800 and one an unknown
    segment; returns their ids (the aged ones first)."""
    jobs.score_customers(settings)
    ids = read(db_copy, TABLE)["customer_id"].tolist()[10 : 10 + AGED + 1]
    with sqlite3.connect(db_copy) as conn:
        marks = ", ".join("?" * AGED)
        aged = f"UPDATE customers SET birth_year = 1800 WHERE customer_id IN ({marks})"
        conn.execute(aged, ids[:AGED])
        conn.execute("UPDATE customers SET segment = 'Consumer' WHERE customer_id = ?", ids[AGED:])
    return ids


def test_refused_records_are_counted_reported_and_left_out(
    settings: Settings, db_copy: Path, corrupted: list[int]
) -> None:
    before = read(db_copy, TABLE)
    summary = jobs.score_customers(settings)
    after = read(db_copy, TABLE)
    assert summary.invalid_records == summary.skipped_records == len(corrupted)
    assert set(before["customer_id"]) - set(after["customer_id"]) == set(corrupted)
    assert summary.rows_written == len(after) == summary.active_customers - len(corrupted)
    found = {(f.feature, f.rule): f for f in summary.invalid_findings}
    assert set(found) == {("age", OUT_OF_RANGE), ("segment", UNKNOWN_CATEGORY)}
    assert found[("age", OUT_OF_RANGE)].records == AGED
    assert found[("age", OUT_OF_RANGE)].examples[0] == (corrupted[0], 226.0)
    assert jobs.summary_dict(summary)["invalid_findings"][0]["feature"] == "age"


def test_block_stops_the_run_and_keeps_the_table(
    settings: Settings, db_copy: Path, corrupted: list[int]
) -> None:
    before = read(db_copy, TABLE)
    blocking = settings.model_copy(update={"invalid_records": "block"})
    with pytest.raises(DataVerificationError, match="CC_INVALID_RECORDS=block") as caught:
        jobs.score_customers(blocking)
    assert f"{len(corrupted)} of " in str(caught.value)
    assert f"customer {corrupted[0]}: 226.0" in str(caught.value)
    assert len(caught.value.problems) == 2
    pd.testing.assert_frame_equal(read(db_copy, TABLE), before)


def test_score_keeps_refused_records_in_the_table(
    settings: Settings, db_copy: Path, corrupted: list[int]
) -> None:
    summary = jobs.score_customers(settings.model_copy(update={"invalid_records": "score"}))
    assert summary.invalid_records == len(corrupted)
    assert summary.skipped_records == 0
    assert set(corrupted) <= set(read(db_copy, TABLE)["customer_id"])


@pytest.mark.parametrize("mode", ["skip", "score"])
def test_too_many_refused_records_stop_any_mode(
    settings: Settings, db_copy: Path, corrupted: list[int], mode: str
) -> None:
    before = read(db_copy, TABLE)
    strict = settings.model_copy(update={"invalid_records": mode, "max_invalid_fraction": 0.001})
    with pytest.raises(DataVerificationError, match=r"more than CC_MAX_INVALID_FRACTION=0\.001"):
        jobs.score_customers(strict)
    pd.testing.assert_frame_equal(read(db_copy, TABLE), before)


@pytest.mark.parametrize("value", [np.nan, 1.5, -0.1, np.inf])
def test_invalid_scores_never_reach_the_table(
    settings: Settings,
    champion: str,
    db_copy: Path,
    bundle_factory: Callable[..., ModelBundle],
    value: float,
) -> None:
    jobs.score_customers(settings)
    before = read(db_copy, TABLE)
    version = LocalModelStore(Path(settings.store_uri)).register(bundle_factory(Returns(value)))
    with pytest.raises(DataVerificationError, match="score: 1 row"):
        jobs.score_customers(settings, version.version)
    pd.testing.assert_frame_equal(read(db_copy, TABLE), before)


def test_a_customer_id_twice_in_the_source_stops_the_run(
    settings: Settings, champion: str, db_copy: Path
) -> None:
    jobs.score_customers(settings)
    before = read(db_copy, TABLE)
    twice = int(before["customer_id"].iloc[5])
    with sqlite3.connect(db_copy) as conn:
        conn.execute("DROP INDEX ix_customers_id")
        copy = "INSERT INTO customers SELECT * FROM customers WHERE customer_id = ?"
        conn.execute(copy, (twice,))
    with pytest.raises(DataVerificationError, match=rf"scored more than once \(e\.g\. {twice}\)"):
        jobs.score_customers(settings)
    pd.testing.assert_frame_equal(read(db_copy, TABLE), before)


def test_a_repeat_across_chunks_is_found() -> None:
    rows = pd.DataFrame({"customer_id": [7, 9], "label": ["good", "bad"], "score": [0.9, 0.1]})
    assert check_prediction_rows(rows, after_id=6).problems == ()
    assert check_prediction_rows(rows, after_id=6).last_id == 9
    (problem,) = check_prediction_rows(rows, after_id=7).problems
    assert problem.startswith("customer_id: 1 customer(s) scored more than once (e.g. 7)")
    labels = rows.assign(label=["good", "maybe"])
    assert "label outside ['good', 'bad']" in check_prediction_rows(labels, None).problems[0]
    assert count_problem(5, 5, "t__staging") is None
    assert "holds 4 row(s) but 5" in str(count_problem(4, 5, "t__staging"))


BAD_NAMES: list[tuple[str, str]] = [
    ("customers", "source table of the data contract"),
    ("sales", "source table of the data contract"),
    ("customer_labels", "source table of the data contract"),
    ("customer_predictions__staging", "ends in '__staging'"),
    ("customer_predictions_history", "ends in '_history'"),
    ("customer_predictions__shards", "ends in '__shards'"),
    ("predictions; DROP TABLE sales", "not a plain SQL identifier"),
    ("Customer_Predictions", "not a plain SQL identifier"),
    ("x" * 55, "at most 54 characters"),
    ("select", "reserved SQL word"),
]


@pytest.mark.parametrize(("name", "rule"), BAD_NAMES, ids=[n[:30] for n, _ in BAD_NAMES])
def test_output_names_scoring_does_not_own_are_refused(name: str, rule: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ExplicitSettings(predictions_table=name)
    text = str(caught.value)
    assert f"CC_PREDICTIONS_TABLE {name!r}" in text
    assert rule in text
    assert "set CC_PREDICTIONS_TABLE to a table of its own" in text


def test_the_environment_cannot_point_the_output_at_the_customers_table(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CC_PREDICTIONS_TABLE", "customers")
    with pytest.raises(ValidationError, match="'customers' is a source table"):
        load_settings()


def test_scoring_itself_refuses_a_source_table(
    settings: Settings, db_copy: Path, bundle_factory: Callable[..., ModelBundle]
) -> None:
    customers = read(db_copy, "customers")
    engine = connect(settings.database_url)
    arguments: dict[str, Any] = {"active_window_days": 365, "chunk_customers": 1000}
    with pytest.raises(ConfigurationError, match="'customers' is a source table"):
        score_customers(
            engine, bundle_factory(), "v1", dt.date(2026, 7, 1), table="customers", **arguments
        )
    engine.dispose()
    pd.testing.assert_frame_equal(read(db_copy, "customers"), customers)


def test_the_policies_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("INVALID_RECORDS", "MAX_INVALID_FRACTION", "HISTORY_RETENTION_DAYS"):
        monkeypatch.delenv(f"CC_{name}", raising=False)
    defaults = load_settings()
    assert (defaults.invalid_records, defaults.max_invalid_fraction) == ("skip", 0.01)
    assert defaults.history_retention_days == 730
    monkeypatch.setenv("CC_INVALID_RECORDS", "block")
    monkeypatch.setenv("CC_HISTORY_RETENTION_DAYS", "30")
    settings = load_settings()
    assert (settings.invalid_records, settings.history_retention_days) == ("block", 30)
    monkeypatch.setenv("CC_INVALID_RECORDS", "drop")
    with pytest.raises(ValidationError, match="invalid_records"):
        load_settings()
