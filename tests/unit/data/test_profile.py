"""Profiling in the database: counts that match what pandas sees in the same tables."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from customer_classifier.data.database import connect, write_frame
from customer_classifier.data.generate import MasterData
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
    assert profile.future_sales == int((sold_at > pd.Timestamp(NOW)).sum())
    assert profile.future_sales > 0  # NOW lies inside the history, so the count is tested


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
