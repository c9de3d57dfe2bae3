"""The monitoring history table on a real PostgreSQL server: the SQLite cases
(tests/unit/monitoring/history_cases.py), and a night whose insert fails mid-transaction
leaves the night as it was."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from customer_classifier.data.database import connect
from customer_classifier.monitoring.history import append_night, read_history
from customer_classifier.monitoring_metrics import FEATURE_DRIFT_FLAGGED, sample
from tests.unit.monitoring import history_cases
from tests.unit.monitoring.history_cases import NIGHTS, TABLE


@pytest.fixture
def engine(postgres_database: Callable[[str], str], request: pytest.FixtureRequest) -> sa.Engine:
    return connect(postgres_database(f"monitoring_{request.node.name.lower()[:40]}"))


def test_round_trip(engine: sa.Engine) -> None:
    history_cases.check_round_trip(engine)


def test_a_rerun_replaces_only_its_night(engine: sa.Engine) -> None:
    history_cases.check_rerun_replaces_the_night(engine)


def test_a_failed_insert_keeps_the_night_it_would_have_replaced(engine: sa.Engine) -> None:
    """PostgreSQL enforces the labels column's length: the delete before it rolls back."""
    history_cases.write_three_nights(engine)
    before = read_history(engine, TABLE)
    too_long = sample(FEATURE_DRIFT_FLAGGED, 1.0, {"feature": "x" * 3000})
    with pytest.raises(sa.exc.DataError):
        append_night(engine, TABLE, NIGHTS[2], "r", "v", [too_long], dt.datetime(2026, 7, 2))
    assert read_history(engine, TABLE).equals(before)
