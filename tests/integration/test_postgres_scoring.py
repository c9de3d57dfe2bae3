"""Nightly scoring on a real PostgreSQL server: grants and views on the predictions table
survive the swap, the history holds each night once, and a failed run changes nothing.

PostgreSQL users grant read access on ``customer_predictions`` to their consumers; a swap
that dropped and renamed tables would silently revoke it every night (and fail outright
on a table with a view over it). So the swap empties and refills the same table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from customer_classifier import jobs
from customer_classifier.data.database import connect, write_master_data
from customer_classifier.data.generate import GeneratorConfig, MasterData, generate
from customer_classifier.registry import LocalModelStore
from customer_classifier.scoring.batch import ScoringSummary, score_customers
from customer_classifier.settings import ExplicitSettings, Settings
from tests.unit.scoring.models import FailsOnCall, heuristic_bundle

TABLE = "customer_predictions"
HISTORY = "customer_predictions_history"
NIGHTS = (dt.date(2026, 5, 1), dt.date(2026, 6, 1), dt.date(2026, 7, 1))
READER = "cc_predictions_reader"


@pytest.fixture(scope="module")
def master() -> MasterData:
    return generate(GeneratorConfig(n_customers=1500, seed=20260702))


@pytest.fixture
def settings(
    postgres_database: Callable[[str], str],
    master: MasterData,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Settings:
    """A database of its own per test, loaded with the master data, and a champion."""
    url = postgres_database(f"scoring_{request.node.name.lower()[:40]}")
    engine = connect(url)
    write_master_data(engine, master)
    engine.dispose()
    store = LocalModelStore(tmp_path / "store")
    store.set_alias("champion", store.register(heuristic_bundle()).version)
    return ExplicitSettings(
        database_url=url, store_uri=str(tmp_path / "store"), work_dir=tmp_path / "runs"
    )


@pytest.fixture(scope="module")
def reader(postgres_server: str) -> str:
    """A role that consumers of the predictions would use (roles are server-wide)."""
    engine = sa.create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        exists = conn.exec_driver_sql(f"SELECT 1 FROM pg_roles WHERE rolname = '{READER}'")
        if exists.first() is None:
            conn.exec_driver_sql(f"CREATE ROLE {READER} NOLOGIN")
    engine.dispose()
    return READER


def score(settings: Settings, night: dt.date, **overrides: Any) -> ScoringSummary:
    return jobs.score_customers(settings.model_copy(update={"as_of": night, **overrides}))


def query(settings: Settings, sql: str) -> pd.DataFrame:
    engine = sa.create_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            return pd.read_sql_query(sa.text(sql), conn)
    finally:
        engine.dispose()


def execute(settings: Settings, *statements: str) -> None:
    engine = sa.create_engine(settings.database_url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


def can_read(settings: Settings, role: str, table: str) -> bool:
    found = query(settings, f"SELECT has_table_privilege('{role}', '{table}', 'SELECT') AS ok")
    return bool(found["ok"].iloc[0])


def snapshot(settings: Settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    return (
        query(settings, f"SELECT * FROM {TABLE} ORDER BY customer_id"),
        query(settings, f"SELECT * FROM {HISTORY} ORDER BY as_of_date, customer_id"),
    )


def nights(settings: Settings) -> dict[str, int]:
    found = query(settings, f"SELECT as_of_date, COUNT(*) AS n FROM {HISTORY} GROUP BY 1")
    return {str(day): int(n) for day, n in zip(found["as_of_date"], found["n"], strict=True)}


def test_grants_and_views_survive_the_nightly_swap(settings: Settings, reader: str) -> None:
    first = score(settings, NIGHTS[0])
    execute(
        settings,
        f"GRANT SELECT ON {TABLE} TO {reader}",
        f"GRANT SELECT ON {HISTORY} TO {reader}",
        f"CREATE VIEW good_customers AS SELECT customer_id FROM {TABLE} WHERE label = 'good'",
    )
    oid = query(settings, f"SELECT '{TABLE}'::regclass::oid AS oid")["oid"].iloc[0]
    second = score(settings, NIGHTS[1])
    third = score(settings, NIGHTS[2])
    assert can_read(settings, reader, TABLE)
    assert can_read(settings, reader, HISTORY)
    assert query(settings, f"SELECT '{TABLE}'::regclass::oid AS oid")["oid"].iloc[0] == oid
    table = query(settings, f"SELECT * FROM {TABLE} ORDER BY customer_id")
    assert len(table) == third.rows_written
    assert set(table["model_version"]) == {third.model_version}
    good = query(settings, "SELECT COUNT(*) AS n FROM good_customers")["n"].iloc[0]
    assert good == third.good
    assert nights(settings) == {
        NIGHTS[0].isoformat(): first.rows_written,
        NIGHTS[1].isoformat(): second.rows_written,
        NIGHTS[2].isoformat(): third.rows_written,
    }
    staging = query(settings, f"SELECT to_regclass('{TABLE}__staging') IS NULL AS gone")
    assert bool(staging["gone"].iloc[0])


def test_rescoring_a_night_replaces_its_history_and_retention_trims_it(
    settings: Settings,
) -> None:
    first = score(settings, NIGHTS[0])
    score(settings, NIGHTS[0])
    assert nights(settings) == {NIGHTS[0].isoformat(): first.rows_written}
    later = score(settings, NIGHTS[1], history_retention_days=30)  # 31 days later
    assert nights(settings) == {NIGHTS[1].isoformat(): later.rows_written}
    assert later.history_deleted == first.rows_written


def test_a_model_failing_mid_run_changes_nothing(settings: Settings, reader: str) -> None:
    score(settings, NIGHTS[0])
    execute(settings, f"GRANT SELECT ON {TABLE} TO {reader}")
    before = snapshot(settings)
    engine = connect(settings.database_url)
    model = FailsOnCall(fail_on=2)
    with pytest.raises(RuntimeError, match="scoring call 2"):
        score_customers(
            engine,
            heuristic_bundle(model),
            "vbroken",
            NIGHTS[1],
            table=TABLE,
            active_window_days=365,
            chunk_customers=1000,
        )
    engine.dispose()
    assert model.calls == 2  # the first chunk had reached the staging table
    for ours, theirs in zip(snapshot(settings), before, strict=True):
        pd.testing.assert_frame_equal(ours, theirs)
    assert can_read(settings, reader, TABLE)


def test_a_failure_inside_the_swap_rolls_it_back(settings: Settings, reader: str) -> None:
    score(settings, NIGHTS[0])
    execute(
        settings,
        f"GRANT SELECT ON {TABLE} TO {reader}",
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'history is read-only'; END $$",
        f"CREATE TRIGGER refuse BEFORE INSERT ON {HISTORY} "
        "FOR EACH STATEMENT EXECUTE FUNCTION refuse()",
    )
    before = snapshot(settings)
    with pytest.raises(sa.exc.DBAPIError, match="history is read-only"):
        score(settings, NIGHTS[1])
    for ours, theirs in zip(snapshot(settings), before, strict=True):
        pd.testing.assert_frame_equal(ours, theirs)
    assert can_read(settings, reader, TABLE)
    execute(settings, f"DROP TRIGGER refuse ON {HISTORY}")
    assert score(settings, NIGHTS[1]).history_rows > 0
    assert can_read(settings, reader, TABLE)
