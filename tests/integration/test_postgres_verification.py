"""Value-level verification on a real PostgreSQL server.

PostgreSQL keeps its declared types, so the loose values SQLite can hold cannot reach an
INTEGER or TIMESTAMP column; but a double precision column holds NaN and Infinity, and a
source that loads numbers into VARCHAR columns holds whatever text it was given. Both
must be caught there as on SQLite, naming the column and the rule.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa

from customer_classifier.data.database import connect, write_master_data
from customer_classifier.data.generate import GeneratorConfig, MasterData, generate
from customer_classifier.data.profile import profile_database
from customer_classifier.data.validation import VerificationResult, verify
from customer_classifier.settings import VerificationThresholds

NOW = dt.datetime(2026, 7, 1, 6, 0)
"""The morning after the generated history ends."""


@pytest.fixture(scope="module")
def master() -> MasterData:
    return generate(GeneratorConfig(n_customers=800, seed=20261201))


@pytest.fixture
def pg(
    postgres_database: Callable[[str], str], master: MasterData, request: pytest.FixtureRequest
) -> Iterator[sa.Engine]:
    """A fresh database holding the clean generated tables."""
    name = "verify_" + request.node.name.split("[")[-1].rstrip("]").replace("-", "_")
    engine = connect(postgres_database(name.lower()[:60]), create_dir=True)
    write_master_data(engine, master)
    yield engine
    engine.dispose()


def _verify(engine: sa.Engine, nightly: bool = False) -> VerificationResult:
    return verify(profile_database(engine, now=NOW), VerificationThresholds(), nightly=nightly)


def _run(engine: sa.Engine, *statements: str) -> None:
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)


def test_clean_tables_pass_with_no_value_finding(pg: sa.Engine) -> None:
    result = _verify(pg, nightly=True)
    assert result.passed, [f.message for f in result.blocking]
    assert {f.rule for f in result.findings} == {"nulls"}
    assert result.profile.tables["sales"].columns["amount"].found_kind == "float"


@pytest.mark.parametrize("special", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_amounts_are_blocked(pg: sa.Engine, special: str) -> None:
    _run(pg, f"UPDATE sales SET amount = '{special}'::float8 WHERE sale_id IN (2, 4)")
    result = _verify(pg)
    assert [(f.table, f.column, f.rule) for f in result.blocking] == [
        ("sales", "amount", "non_finite")
    ]
    message = result.blocking[0].message
    assert message.startswith("sales.amount: non_finite: 2 of ")
    assert "NaN or infinity" in message
    # Counted by its own rule only: -Infinity is not also "below the minimum".
    assert result.profile.tables["sales"].columns["amount"].below_minimum == 0


def test_text_in_a_varchar_numeric_column_is_blocked_and_counted(pg: sa.Engine) -> None:
    _run(
        pg,
        "ALTER TABLE customers ALTER COLUMN birth_year TYPE VARCHAR USING birth_year::text",
        "UPDATE customers SET birth_year = 'unknown' WHERE customer_id IN (1, 2, 3)",
        "UPDATE customers SET birth_year = '19 80' WHERE customer_id = 4",
    )
    result = _verify(pg)
    assert [(f.column, f.rule) for f in result.blocking] == [("birth_year", "wrong_type")]
    message = result.blocking[0].message
    assert message.startswith("customers.birth_year: wrong_type: has type VARCHAR")
    assert "4 of 800 values are not numbers either" in message


def test_a_varchar_column_of_numbers_is_told_to_convert(pg: sa.Engine) -> None:
    _run(pg, "ALTER TABLE sales ALTER COLUMN amount TYPE VARCHAR USING amount::text")
    result = _verify(pg)
    assert [(f.column, f.rule) for f in result.blocking] == [("amount", "wrong_type")]
    assert "every value reads as numbers: convert the column" in result.blocking[0].message


def test_future_signups_and_stale_sales(pg: sa.Engine) -> None:
    _run(pg, "UPDATE customers SET signup_date = DATE '2031-01-01' WHERE customer_id = 5")
    result = verify(
        profile_database(pg, now=NOW + dt.timedelta(days=6)), VerificationThresholds(), nightly=True
    )
    assert sorted((f.column, f.rule) for f in result.blocking) == [
        ("signup_date", "future_dates"),
        ("sold_at", "stale_sales"),
    ]
