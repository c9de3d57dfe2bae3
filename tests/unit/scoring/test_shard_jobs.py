"""Plan, shard and publish on the embedded SQLite database: a shard that refuses its
records fails alone, with its range in the message; the night waits for it, and a
re-run of that shard alone completes it with the unsharded night's predictions."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from customer_classifier import jobs
from customer_classifier.errors import ConfigurationError, ShardError
from customer_classifier.settings import Settings
from tests.conftest import CopiedRun

COLUMNS = "customer_id, label, score, model_version"


def read(db: Path, sql: str) -> pd.DataFrame:
    with sqlite3.connect(db) as conn:
        return pd.read_sql_query(sql, conn)


def predictions(db: Path) -> pd.DataFrame:
    return read(db, f"SELECT {COLUMNS} FROM customer_predictions ORDER BY customer_id")


def test_a_shard_fails_alone_and_its_rerun_completes_the_night(
    settings: Settings, champion: str, db_copy: Path
) -> None:
    unsharded = jobs.score_customers(settings)
    expected = predictions(db_copy)
    plan = jobs.plan_night(settings, 3, run_id="night-1")
    assert plan.model_version == champion
    second = plan.shards[1]
    assert second.lo is not None
    assert second.hi is not None
    inside = expected[expected["customer_id"].between(second.lo, second.hi)]
    broken = int(inside["customer_id"].iloc[0])
    with sqlite3.connect(db_copy) as conn:
        year = conn.execute(
            "SELECT birth_year FROM customers WHERE customer_id = ?", (broken,)
        ).fetchone()[0]
        conn.execute("UPDATE customers SET birth_year = 1800 WHERE customer_id = ?", (broken,))
    blocking = settings.model_copy(update={"invalid_records": "block"})
    jobs.score_shard(blocking, "night-1", 0)
    with pytest.raises(ShardError) as failed:
        jobs.score_shard(blocking, "night-1", 1)
    assert str(failed.value).startswith(
        f"shard 2 of 3 (customer_id {second.lo} to {second.hi}) of run night-1 failed; "
        "nothing was published"
    )
    assert "online predictor would refuse" in str(failed.value)
    jobs.score_shard(blocking, "night-1", 2)
    with pytest.raises(ShardError, match=r"shard 2 of 3 \(customer_id .*\) has not finished"):
        jobs.publish_night(settings, "night-1")
    pd.testing.assert_frame_equal(predictions(db_copy), expected, check_exact=True)

    with sqlite3.connect(db_copy) as conn:
        conn.execute("UPDATE customers SET birth_year = ? WHERE customer_id = ?", (year, broken))
    assert jobs.score_shard(blocking, "night-1", 1).rows_written == len(inside)
    assert jobs.score_shard(blocking, "night-1", 1).rows_written == len(inside)  # idempotent
    night = jobs.publish_night(settings, "night-1")
    assert (night.shards, night.rows_written, night.good) == (3, len(expected), unsharded.good)
    pd.testing.assert_frame_equal(predictions(db_copy), expected, check_exact=True)
    history = read(
        db_copy, "SELECT run_id, COUNT(*) AS n FROM customer_predictions_history GROUP BY 1"
    )
    assert history.set_index("run_id")["n"].to_dict() == {"night-1": len(expected)}
    left = read(
        db_copy, "SELECT name FROM sqlite_master WHERE name LIKE '%__shard\\_%' ESCAPE '\\'"
    )
    assert left.empty
    with pytest.raises(ShardError, match="published already"):
        jobs.publish_night(settings, "night-1")


def test_an_unknown_run_or_shard_names_the_fix(settings: Settings, champion: str) -> None:
    with pytest.raises(ConfigurationError, match="has no plan in customer_predictions__shards"):
        jobs.score_shard(settings, "never-planned", 0)
    jobs.plan_night(settings, 2, run_id="night-2")
    with pytest.raises(ConfigurationError, match="has shards 0 to 1, not 5"):
        jobs.score_shard(settings, "night-2", 5)
    with pytest.raises(ConfigurationError, match="shards 0 is not a number of shards"):
        jobs.plan_night(settings, 0)
    del champion


def test_a_sharded_night_carries_the_reasons_when_asked(trained_copy: CopiedRun) -> None:
    explained = trained_copy.settings(explain={"reasons": True})
    every = f"{COLUMNS}, reason_1, reason_2, reason_3"
    query = f"SELECT {every} FROM customer_predictions ORDER BY customer_id"
    jobs.score_customers(explained)
    expected = read(trained_copy.db_path, query)
    plan = jobs.plan_night(explained, 2, run_id="night-r")
    for shard in plan.shards:
        jobs.score_shard(explained, "night-r", shard.index)
    jobs.publish_night(explained, "night-r")
    sharded = read(trained_copy.db_path, query)
    # The same rows and reasons; a linear model's scores may differ in the last bits when
    # its matrix products run over other batch shapes.
    exact = [c for c in expected.columns if c != "score"]
    pd.testing.assert_frame_equal(sharded[exact], expected[exact], check_exact=True)
    np.testing.assert_allclose(sharded["score"], expected["score"], rtol=1e-12, atol=0)
    assert expected["reason_1"].notna().any()
