"""The monitoring history table on a real SQLite file (PostgreSQL:
tests/integration/test_postgres_monitoring_history.py runs the same cases)."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pytest
import sqlalchemy as sa

from customer_classifier.data.database import connect
from customer_classifier.errors import ConfigurationError
from customer_classifier.monitoring.history import append_night, labels_json, read_history
from customer_classifier.monitoring_metrics import LAST_SUCCESS, Sample, sample
from tests.unit.monitoring import history_cases
from tests.unit.monitoring.history_cases import TABLE


@pytest.fixture
def engine(tmp_path: Path) -> sa.Engine:
    return connect(f"sqlite:///{tmp_path / 'master.db'}", create_dir=True)


def test_round_trip(engine: sa.Engine) -> None:
    history_cases.check_round_trip(engine)


def test_a_rerun_replaces_only_its_night(engine: sa.Engine) -> None:
    history_cases.check_rerun_replaces_the_night(engine)


def test_labels_are_a_json_object_with_sorted_keys() -> None:
    assert labels_json({"statistic": "psi", "feature": "age"}) == (
        '{"feature": "age", "statistic": "psi"}'
    )
    assert labels_json(()) == "{}"


def test_a_bad_night_writes_nothing(engine: sa.Engine) -> None:
    """A non-finite figure or a figure twice is refused before the transaction begins."""
    history_cases.write_three_nights(engine)
    before = read_history(engine, TABLE)
    at = dt.datetime(2026, 7, 2)
    bad = Sample(LAST_SUCCESS, (), math.nan)
    with pytest.raises(ValueError, match="finite figures only"):
        append_night(engine, TABLE, history_cases.NIGHTS[0], "r", "v", [bad], at)
    twice = [sample(LAST_SUCCESS, 1.0), sample(LAST_SUCCESS, 2.0)]
    with pytest.raises(ValueError, match="appears twice"):
        append_night(engine, TABLE, history_cases.NIGHTS[0], "r", "v", twice, at)
    assert read_history(engine, TABLE).equals(before)


@pytest.mark.parametrize(("name", "rule"), [("sales", "source table"), ("Bad-Name", "identifier")])
def test_a_table_name_that_is_no_table_of_its_own_is_refused(
    engine: sa.Engine, name: str, rule: str
) -> None:
    with pytest.raises(ConfigurationError, match=rf"CC_MONITORING__HISTORY_TABLE.*{rule}"):
        read_history(engine, name)
