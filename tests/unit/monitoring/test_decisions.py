"""The retraining decisions table and the retraining step over a real SQLite database.

The history table is written in the monitoring history's shape by hand; ``launch`` is a
plain function that records its calls, standing for the training pipeline's launcher.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from customer_classifier.errors import DataSourceError
from customer_classifier.jobs.retrain import read_history, retrain_night
from customer_classifier.monitoring.decisions import (
    COLUMNS,
    decisions_schema,
    read_decisions,
    record_decision,
)
from customer_classifier.monitoring.retrain import (
    COOLDOWN,
    QUIET,
    RETRAIN,
    SKIP,
    RetrainPolicy,
    decide_retrain,
)
from customer_classifier.settings import ExplicitSettings, RetrainSettings, Settings
from tests.unit.monitoring.history_frames import history, write_history

TONIGHT = dt.date(2026, 7, 10)
POLICY = RetrainPolicy.from_settings(RetrainSettings(), 0.8)
NOW = dt.datetime(2026, 7, 11, 3, 0, tzinfo=dt.UTC)


def drifted(nights: int, *, quiet_before: int = 5) -> pd.DataFrame:
    days = {TONIGHT - dt.timedelta(days=k): {"drifted": ["age"]} for k in range(nights)}
    for k in range(nights, nights + quiet_before):
        days[TONIGHT - dt.timedelta(days=k)] = {}
    return history(days)


@pytest.fixture
def engine(tmp_path: Path) -> sa.Engine:
    return sa.create_engine(f"sqlite:///{tmp_path / 'master.db'}")


def settings(tmp_path: Path, **retrain: Any) -> Settings:
    return ExplicitSettings(
        database_url=f"sqlite:///{tmp_path / 'master.db'}",
        store_uri=str(tmp_path / "store"),
        retrain=RetrainSettings(**retrain),
    )


def test_a_decision_round_trips_with_its_evidence(engine: sa.Engine) -> None:
    decision = decide_retrain(drifted(3), [], TONIGHT, POLICY)
    assert decision.action == RETRAIN
    launched_at = NOW + dt.timedelta(seconds=5)
    row = record_decision(
        engine,
        "retraining_decisions",
        decision,
        decided_at=NOW,
        run_id="run-9",
        launched_at=launched_at,
    )
    assert row == 1
    (back,) = read_decisions(engine, "retraining_decisions")
    assert back.as_of == TONIGHT
    assert back.action == RETRAIN
    assert back.run_id == "run-9"
    assert back.launched
    assert back.decided_at == NOW.replace(tzinfo=None)  # stored as naive UTC
    assert back.evidence == json.loads(json.dumps(decision.to_dict()))
    assert back.evidence["triggers"]["drift"]["streak"] == 3
    with engine.connect() as conn:
        stored = dict(
            conn.execute(sa.select(decisions_schema("retraining_decisions"))).one()._mapping
        )
    assert set(stored) == set(COLUMNS)
    assert stored["fired"] == "drift"
    assert stored["ready"] == "drift"
    assert stored["launched_at"] == launched_at.replace(tzinfo=None)


def test_rows_are_added_never_replaced_and_read_back_in_order(engine: sa.Engine) -> None:
    assert read_decisions(engine, "retraining_decisions") == []
    for days_ago, action in ((2, SKIP), (1, SKIP), (0, RETRAIN)):
        night = TONIGHT - dt.timedelta(days=days_ago)
        decision = decide_retrain(drifted(3), [], night, POLICY)
        assert decision.action == action
        record_decision(engine, "retraining_decisions", decision, decided_at=NOW)
    again = decide_retrain(drifted(3), [], TONIGHT, POLICY)
    record_decision(engine, "retraining_decisions", again, decided_at=NOW + dt.timedelta(hours=1))
    back = read_decisions(engine, "retraining_decisions")
    assert [(d.as_of.day, d.action) for d in back] == [
        (8, SKIP),
        (9, SKIP),
        (10, RETRAIN),
        (10, RETRAIN),
    ]
    assert [d.as_of for d in read_decisions(engine, "retraining_decisions", since=TONIGHT)] == [
        TONIGHT
    ] * 2


def test_a_table_of_another_shape_is_refused_with_the_fix(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE retraining_decisions (as_of DATE, action TEXT)")
    with pytest.raises(DataSourceError, match="CC_RETRAIN__DECISIONS_TABLE"):
        read_decisions(engine, "retraining_decisions")


def test_history_reader_selects_the_trigger_metrics_from_the_date_on(engine: sa.Engine) -> None:
    frame = drifted(3)
    other = frame.iloc[:1].assign(metric="cc_monitoring_pipeline_figure", labels='{"figure": "x"}')
    write_history(engine, pd.concat([frame, other]))
    since = TONIGHT - dt.timedelta(days=2)
    read = read_history(engine, "monitoring_metrics", since)
    assert set(read["as_of"]) == {since, since + dt.timedelta(days=1), TONIGHT}
    assert "cc_monitoring_pipeline_figure" not in set(read["metric"])
    assert len(read) == (frame["as_of"] >= since).sum()
    assert read_history(engine, "absent", since).empty


def test_the_step_launches_once_records_and_cools_down(tmp_path: Path, engine: sa.Engine) -> None:
    write_history(engine, drifted(3))
    launched: list[str] = []

    def launch() -> str:
        launched.append("training")
        return f"run-{len(launched)}"

    first = retrain_night(settings(tmp_path), launch, as_of=TONIGHT, engine=engine, now=lambda: NOW)
    assert first.decision.action == RETRAIN
    assert first.run_id == "run-1"
    assert [s.value for s in first.samples if s.metric.name.endswith("launched")] == [1.0]
    # The same night again (a re-run) does not launch a second time, and says why.
    again = retrain_night(settings(tmp_path), launch, as_of=TONIGHT, engine=engine, now=lambda: NOW)
    assert again.decision.action == COOLDOWN
    assert again.run_id is None
    assert launched == ["training"]
    rows = read_decisions(engine, "retraining_decisions")
    assert [(r.action, r.run_id) for r in rows] == [(RETRAIN, "run-1"), (COOLDOWN, None)]
    assert rows[1].evidence["last_retrain"] == TONIGHT.isoformat()
    # Switched off: decided and recorded, nothing launched.
    off = retrain_night(
        settings(tmp_path, enabled=False, decisions_table="other_decisions"),
        launch,
        as_of=TONIGHT,
        engine=engine,
    )
    assert off.decision.action == SKIP
    assert launched == ["training"]
    assert [r.action for r in read_decisions(engine, "other_decisions")] == [SKIP]


def test_a_failed_launch_is_recorded_and_retried_the_next_time(
    tmp_path: Path, engine: sa.Engine
) -> None:
    write_history(engine, drifted(3))

    def broken() -> str:
        raise RuntimeError("the KFP API is down")

    with pytest.raises(RuntimeError, match="down"):
        retrain_night(settings(tmp_path), broken, as_of=TONIGHT, engine=engine)
    with engine.connect() as conn:
        (row,) = conn.execute(sa.select(decisions_schema("retraining_decisions"))).all()
    assert row.action == RETRAIN
    assert row.run_id is None
    assert row.launch_error == "RuntimeError: the KFP API is down"
    retried = retrain_night(settings(tmp_path), lambda: "run-2", as_of=TONIGHT, engine=engine)
    assert retried.run_id == "run-2"


def test_a_quiet_night_is_recorded_too(tmp_path: Path, engine: sa.Engine) -> None:
    write_history(engine, drifted(0))
    outcome = retrain_night(settings(tmp_path), lambda: "never", as_of=TONIGHT, engine=engine)
    assert outcome.decision.action == QUIET
    (row,) = read_decisions(engine, "retraining_decisions")
    assert row.action == QUIET
    assert row.evidence["triggers"]["drift"]["detail"].startswith("0 of 3 features drifted")
