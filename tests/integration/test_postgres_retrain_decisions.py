"""The retraining decisions table and the history reader on a real PostgreSQL server.

The same round trip as on SQLite (tests/unit/monitoring/test_decisions.py), where the two
differ: date and timestamp binding, the generated key, JSON text of any length.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import sqlalchemy as sa

from customer_classifier.jobs.retrain import read_history
from customer_classifier.monitoring.decisions import read_decisions, record_decision
from customer_classifier.monitoring.retrain import (
    COOLDOWN,
    RETRAIN,
    RetrainPolicy,
    decide_retrain,
)
from customer_classifier.settings import RetrainSettings
from tests.unit.monitoring.history_frames import history, write_history

TONIGHT = dt.date(2026, 7, 10)
NOW = dt.datetime(2026, 7, 11, 3, 0, tzinfo=dt.UTC)
POLICY = RetrainPolicy.from_settings(RetrainSettings(), 0.8)


def test_decisions_and_history_round_trip_on_postgres(
    postgres_database: Callable[[str], str],
) -> None:
    engine = sa.create_engine(postgres_database("retrain_decisions"))
    try:
        nights = {TONIGHT - dt.timedelta(days=k): {"drifted": ["age"]} for k in range(3)}
        nights.update({TONIGHT - dt.timedelta(days=k): {} for k in range(3, 6)})
        write_history(engine, history(nights))
        read = read_history(engine, "monitoring_metrics", TONIGHT - dt.timedelta(days=5))
        assert set(read["as_of"]) == set(nights)
        assert all(isinstance(day, dt.date) for day in read["as_of"])

        decision = decide_retrain(read, [], TONIGHT, POLICY)
        assert decision.action == RETRAIN
        first = record_decision(
            engine, "retraining_decisions", decision, decided_at=NOW, run_id="run-1"
        )
        past = read_decisions(engine, "retraining_decisions")
        assert [(d.as_of, d.action, d.run_id) for d in past] == [(TONIGHT, RETRAIN, "run-1")]
        assert past[0].decided_at == NOW.replace(tzinfo=None)
        assert past[0].evidence["triggers"]["drift"]["nights"] == [
            (TONIGHT - dt.timedelta(days=k)).isoformat() for k in (2, 1, 0)
        ]

        again = decide_retrain(read, past, TONIGHT, POLICY)
        assert again.action == COOLDOWN
        second = record_decision(engine, "retraining_decisions", again, decided_at=NOW)
        assert second == first + 1
        assert [d.action for d in read_decisions(engine, "retraining_decisions")] == [
            RETRAIN,
            COOLDOWN,
        ]
    finally:
        engine.dispose()
