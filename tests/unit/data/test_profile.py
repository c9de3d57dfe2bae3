"""Profiling in the database: counts that match what pandas sees in the same tables."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from customer_classifier.data.database import connect, write_frame, write_master_data
from customer_classifier.data.generate import MasterData, corrupt
from customer_classifier.data.profile import DataProfile, profile_database

NOW = dt.datetime(2026, 3, 1, 12, 0)


@pytest.fixture(scope="module")
def profile(master_db: Path) -> DataProfile:
    engine = connect(f"sqlite:///{master_db}")
    try:
        return profile_database(engine, now=NOW)
    finally:
        engine.dispose()


def test_row_counts_and_nulls_match_the_data(profile: DataProfile, master_data: MasterData) -> None:
    customers = profile.tables["customers"]
    assert customers.exists
    assert customers.rows == len(master_data.customers)
    assert profile.tables["sales"].rows == len(master_data.sales)
    for name, column in customers.columns.items():
        assert column.nulls == int(master_data.customers[name].isna().sum()), name


def test_kinds_are_reflected(profile: DataProfile) -> None:
    sales = profile.tables["sales"].columns
    assert sales["amount"].found_kind == "float"
    assert sales["sold_at"].found_kind == "datetime"
    assert sales["returned"].found_kind == "bool"
    assert profile.tables["customers"].columns["signup_date"].found_kind == "date"


def test_keys_and_relations(profile: DataProfile) -> None:
    assert profile.tables["customers"].key_enforced_unique
    assert profile.tables["customers"].duplicate_keys == 0
    assert profile.tables["sales"].duplicate_keys == 0
    assert profile.orphan_sales == 0


def test_sale_dates_and_future_count(profile: DataProfile, master_data: MasterData) -> None:
    sold_at = master_data.sales["sold_at"]
    assert profile.first_sale == sold_at.min().to_pydatetime()
    assert profile.last_sale == sold_at.max().to_pydatetime()
    future = profile.tables["sales"].columns["sold_at"].future
    assert future == int((sold_at > pd.Timestamp(NOW)).sum())
    assert future > 0  # NOW lies inside the history, so the count is tested
    signups = pd.to_datetime(master_data.customers["signup_date"])
    signup_future = profile.tables["customers"].columns["signup_date"].future
    assert signup_future == int((signups.dt.date > NOW.date()).sum())
    assert signup_future > 0


def test_profile_counts_duplicates_and_range_violations(
    db_copy: Path, master_data: MasterData
) -> None:
    engine = connect(f"sqlite:///{db_copy}")
    customers = master_data.customers.copy()
    customers.loc[customers.index[:3], "birth_year"] = 1800
    customers.loc[customers.index[3:5], "segment"] = "martian"
    customers = pd.concat([customers, customers.iloc[:7]])
    write_frame(engine, "customers", customers)  # replaces the table, drops its unique index
    profile = profile_database(engine, now=NOW)
    engine.dispose()
    table = profile.tables["customers"]
    assert not table.key_enforced_unique
    assert table.duplicate_keys == 7
    assert table.columns["birth_year"].below_minimum == int((customers["birth_year"] < 1900).sum())
    assert table.columns["segment"].not_allowed == int((customers["segment"] == "martian").sum())
    assert table.columns["segment"].not_allowed == 4  # 2 rows + their 2 duplicates


def test_missing_table_is_reported_not_raised(db_copy: Path) -> None:
    engine = connect(f"sqlite:///{db_copy}")
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE sales")
    profile = profile_database(engine, now=NOW)
    engine.dispose()
    assert not profile.tables["sales"].exists
    assert profile.tables["customers"].exists


VALUE_FIELDS = (
    "not_a_number",
    "non_finite",
    "wrong_id_kind",
    "not_boolean",
    "unparseable",
)


def _values(profile: DataProfile) -> dict[str, int]:
    """Every non-zero value-rule count, as ``table.column:field``."""
    return {
        f"{table.name}.{column.name}:{name}": getattr(column, name)
        for table in profile.tables.values()
        for column in table.columns.values()
        for name in VALUE_FIELDS
        if getattr(column, name)
    }


def test_clean_data_has_no_value_of_the_wrong_kind(profile: DataProfile) -> None:
    assert _values(profile) == {}
    assert not profile.tables["customer_labels"].exists


def test_values_of_the_wrong_kind_are_counted_on_sqlite(db_copy: Path) -> None:
    """What a loose load leaves behind in columns whose declared type is right."""
    engine = connect(f"sqlite:///{db_copy}")
    statements = [
        "UPDATE sales SET amount = 'n/a' WHERE sale_id IN (1, 2, 3)",
        "UPDATE sales SET amount = 'NaN' WHERE sale_id IN (4, 5)",
        "UPDATE sales SET amount = 9e999 WHERE sale_id = 6",
        "UPDATE sales SET amount = -9e999 WHERE sale_id = 7",
        "UPDATE sales SET sold_at = '30/06/2026 10:00' WHERE sale_id = 8",
        "UPDATE sales SET sold_at = 1751300000 WHERE sale_id = 9",
        "UPDATE sales SET customer_id = 'C-' || customer_id WHERE sale_id = 10",
        "UPDATE sales SET returned = 'yes' WHERE sale_id = 11",
        "UPDATE sales SET quantity = 'two' WHERE sale_id = 12",
        "UPDATE customers SET signup_date = '2026-02-30' WHERE customer_id = 1",
        "UPDATE customers SET signup_date = '01.02.2025' WHERE customer_id = 2",
        "UPDATE customers SET birth_year = 'unknown' WHERE customer_id = 3",
        "UPDATE customers SET customer_id = 1.5 WHERE customer_id = 4",
    ]
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)
    profile = profile_database(engine, now=NOW)
    engine.dispose()
    assert _values(profile) == {
        "sales.amount:not_a_number": 3,
        "sales.amount:non_finite": 4,
        "sales.sold_at:unparseable": 2,
        "sales.customer_id:wrong_id_kind": 1,
        "sales.returned:not_boolean": 1,
        "sales.quantity:not_a_number": 1,
        "customers.signup_date:unparseable": 2,
        "customers.birth_year:not_a_number": 1,
    }
    sales = profile.tables["sales"].columns
    # Text, NaN and infinity are counted by their own rule, not as out of range too.
    assert sales["amount"].below_minimum == 0
    assert profile.tables["customers"].columns["birth_year"].above_maximum == 0
    # A fraction in an identifier reads as a number: not looked for (see value_rules).
    assert profile.tables["customers"].columns["customer_id"].wrong_id_kind == 0


def test_a_text_column_where_numbers_are_declared_counts_what_would_not_convert(
    db_copy: Path, master_data: MasterData
) -> None:
    engine = connect(f"sqlite:///{db_copy}")
    write_master_data(engine, corrupt(master_data, "wrong_type"))  # "12.34 EUR"
    profile = profile_database(engine, now=NOW)
    engine.dispose()
    amount = profile.tables["sales"].columns["amount"]
    assert amount.found_kind == "str"
    assert amount.not_a_number == len(master_data.sales)


def test_the_labels_table_is_profiled_against_its_spec(db_copy: Path) -> None:
    engine = connect(f"sqlite:///{db_copy}")
    labels = pd.DataFrame(
        {
            "customer_id": [1, 2, 2, 3, 3],
            "as_of_date": ["2026-01-01", "2026-01-01", "2026-01-01", "2026-01-01", "2027-01-01"],
            "label": ["good", "bad", "bad", "maybe", "good"],
        }
    )
    kinds = {"customer_id": "int", "as_of_date": "date", "label": "str"}
    write_frame(engine, "customer_labels", labels, kinds=kinds)  # type: ignore[arg-type]
    profile = profile_database(engine, now=NOW)
    engine.dispose()
    table = profile.tables["customer_labels"]
    assert table.exists
    assert table.rows == 5
    assert table.duplicate_keys == 1  # customer 2 twice on one date; 3 on two dates is fine
    assert table.columns["label"].not_allowed == 1
    assert table.columns["as_of_date"].future == 1


@pytest.mark.parametrize(
    "value",
    [
        "'2026-13-01 10:00:00'",  # no such month: between two months in the index
        "'2025/06/30 10:00:00'",  # between the months of 2025 and 2026
        "'2024-03-00 10:00:00'",  # no such day: before its month's first day
        "'2024-03-32 10:00:00'",  # after its month's last possible day
        "'now'",  # julianday() reads it, but it is no date: sorts after every date
        "''",  # sorts before every date
        "20260630",  # a number sorts before all text
    ],
)
def test_an_indexed_timestamp_that_is_no_date_is_found_from_the_index(
    db_copy: Path, value: str
) -> None:
    engine = connect(f"sqlite:///{db_copy}")
    with engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE sales SET sold_at = {value} WHERE sale_id = 100")
    profile = profile_database(engine, now=NOW)
    engine.dispose()
    assert profile.tables["sales"].columns["sold_at"].unparseable == 1


def test_a_timestamp_column_without_an_index_is_checked_row_by_row(db_copy: Path) -> None:
    engine = connect(f"sqlite:///{db_copy}")
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX ix_sales_sold_at")
        conn.exec_driver_sql("DROP INDEX ix_sales_customer")
        for sale_id, value in ((1, "'now'"), (2, "20260630"), (3, "'2026-13-01 10:00'")):
            conn.exec_driver_sql(f"UPDATE sales SET sold_at = {value} WHERE sale_id = {sale_id}")
    profile = profile_database(engine, now=NOW)
    engine.dispose()
    assert profile.tables["sales"].columns["sold_at"].unparseable == 3
    # The first sale is now a number, and the last is text that is no timestamp.
    assert profile.first_sale is None
    assert profile.last_sale is None
