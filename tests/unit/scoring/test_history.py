"""The prediction history: one set of rows per night and version, replaced on a re-run,
trimmed by retention, and written in the same transaction as the table swap."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from customer_classifier import jobs
from customer_classifier.registry import LocalModelStore, ModelBundle
from customer_classifier.scoring.batch import ScoringSummary
from customer_classifier.settings import Settings

TABLE = "customer_predictions"
HISTORY = "customer_predictions_history"
NIGHTS = (dt.date(2026, 5, 1), dt.date(2026, 6, 1))
ORDER = {TABLE: "customer_id", HISTORY: "as_of_date, model_version, customer_id"}
HISTORY_COLUMNS = [
    "customer_id",
    "as_of_date",
    "score",
    "label",
    "model_version",
    "scored_at",
    "run_id",
]


def score(settings: Settings, night: dt.date, **overrides: Any) -> ScoringSummary:
    run_id = overrides.pop("run_id", None)
    version = overrides.pop("version", None)
    changed = settings.model_copy(update={"as_of": night, **overrides})
    return jobs.score_customers(changed, version, run_id=run_id)


def read(db: Path, table: str) -> pd.DataFrame:
    engine = sa.create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            return pd.read_sql_query(f"SELECT * FROM {table} ORDER BY {ORDER[table]}", conn)
    finally:
        engine.dispose()


def nights(history: pd.DataFrame) -> dict[tuple[str, str], int]:
    return history.groupby(["as_of_date", "model_version"]).size().to_dict()


def test_each_night_adds_its_rows_to_the_history(
    settings: Settings, champion: str, db_copy: Path
) -> None:
    first = score(settings, NIGHTS[0], run_id="run-1")
    with sqlite3.connect(db_copy) as conn:
        conn.execute(f"CREATE VIEW good AS SELECT customer_id FROM {TABLE} WHERE label = 'good'")
    second = score(settings, NIGHTS[1], run_id="run-2")
    with sqlite3.connect(db_copy) as conn:  # a view over the table survives the swap
        assert conn.execute("SELECT COUNT(*) FROM good").fetchone()[0] == second.good
    history = read(db_copy, HISTORY)
    assert list(history.columns) == HISTORY_COLUMNS
    assert nights(history) == {
        (NIGHTS[0].isoformat(), champion): first.rows_written,
        (NIGHTS[1].isoformat(), champion): second.rows_written,
    }
    assert (first.history_rows, second.history_rows) == (first.rows_written, second.rows_written)
    assert first.history_table == second.history_table == HISTORY
    # The newest night of the history is the predictions table, row for row.
    table = read(db_copy, TABLE)
    latest = history[history["as_of_date"] == NIGHTS[1].isoformat()].reset_index(drop=True)
    pd.testing.assert_frame_equal(latest[list(table.columns)], table)
    assert set(latest["run_id"]) == {"run-2"}
    engine = sa.create_engine(f"sqlite:///{db_copy}")
    key = sa.inspect(engine).get_pk_constraint(HISTORY)["constrained_columns"]
    engine.dispose()
    assert key == ["as_of_date", "model_version", "customer_id"]


def test_rescoring_a_night_replaces_its_rows_and_keeps_other_versions(
    settings: Settings, champion: str, db_copy: Path, bundle_factory: Callable[..., ModelBundle]
) -> None:
    first = score(settings, NIGHTS[0], run_id="run-1")
    again = score(settings, NIGHTS[0], run_id="run-2")
    history = read(db_copy, HISTORY)
    assert nights(history) == {(NIGHTS[0].isoformat(), champion): first.rows_written}
    assert set(history["run_id"]) == {"run-2"}
    assert again.history_deleted == first.rows_written
    # A second version scoring the same night (a challenger in shadow) adds its own rows.
    other = LocalModelStore(Path(settings.store_uri)).register(bundle_factory()).version
    score(settings, NIGHTS[0], version=other, run_id="run-3")
    assert nights(read(db_copy, HISTORY)) == {
        (NIGHTS[0].isoformat(), champion): first.rows_written,
        (NIGHTS[0].isoformat(), other): first.rows_written,
    }


@pytest.mark.parametrize(("retention_days", "kept"), [(31, True), (30, False)])
def test_history_older_than_the_retention_is_deleted(
    settings: Settings, champion: str, db_copy: Path, retention_days: int, kept: bool
) -> None:
    first = score(settings, NIGHTS[0])
    second = score(settings, NIGHTS[1], history_retention_days=retention_days)  # 31 days later
    found = nights(read(db_copy, HISTORY))
    assert ((NIGHTS[0].isoformat(), champion) in found) is kept
    assert (NIGHTS[1].isoformat(), champion) in found
    assert second.history_deleted == (0 if kept else first.rows_written)


def test_a_failed_history_write_rolls_the_swap_back(
    settings: Settings, champion: str, db_copy: Path
) -> None:
    score(settings, NIGHTS[0])
    table, history = read(db_copy, TABLE), read(db_copy, HISTORY)
    with sqlite3.connect(db_copy) as conn:
        conn.execute(
            f"CREATE TRIGGER refuse BEFORE INSERT ON {HISTORY} "
            "BEGIN SELECT RAISE(ABORT, 'history is read-only'); END"
        )
    with pytest.raises(sqlite3.IntegrityError, match="history is read-only"):
        score(settings, NIGHTS[1])
    pd.testing.assert_frame_equal(read(db_copy, TABLE), table)
    pd.testing.assert_frame_equal(read(db_copy, HISTORY), history)
    with sqlite3.connect(db_copy) as conn:
        conn.execute("DROP TRIGGER refuse")
    assert score(settings, NIGHTS[1]).history_rows > 0
    assert set(read(db_copy, TABLE)["customer_id"]) != set(table["customer_id"])
