"""The ingest path on a real PostgreSQL server gives what it gives on SQLite.

Unit tests run on SQLite; clusters run on PostgreSQL. The same generated Master Data is
written to both, and everything downstream of the database (profile, verification,
per-customer aggregates, features) must agree, so a model trained on a laptop means
the same thing in the cluster. Corrupted data must be blocked on PostgreSQL too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from customer_classifier.data.database import (
    connect,
    iter_chunks,
    write_master_data,
)
from customer_classifier.data.generate import (
    Corruption,
    GeneratorConfig,
    MasterData,
    corrupt,
    generate,
)
from customer_classifier.data.profile import profile_database
from customer_classifier.data.validation import VerificationResult, verify
from customer_classifier.features.aggregates import AGGREGATE_COLUMNS, iter_aggregates
from customer_classifier.features.build import build_features
from customer_classifier.settings import Settings

ACTIVE_DAYS = 365
AS_OF_DATES = (dt.date(2025, 7, 1), dt.date(2026, 7, 1))
"""Mid-history and the day after the newest sale (the default scoring date)."""
CHUNK = 400
"""Customers per aggregation chunk: small, so 1500 customers span several chunks."""
TIMESTAMPS = ("first_purchase_at", "last_purchase_at")


@pytest.fixture(scope="module")
def master() -> MasterData:
    return generate(GeneratorConfig(n_customers=1500, seed=20260701))


def _load(url: str, data: MasterData) -> sa.Engine:
    engine = connect(url, create_dir=True)
    write_master_data(engine, data)
    return engine


@pytest.fixture(scope="module")
def pg(postgres_url: str, master: MasterData) -> Iterator[sa.Engine]:
    engine = _load(postgres_url, master)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def lite(tmp_path_factory: pytest.TempPathFactory, master: MasterData) -> Iterator[sa.Engine]:
    engine = _load(f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'master.db'}", master)
    yield engine
    engine.dispose()


def _customers(engine: sa.Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql_query(sa.text("SELECT * FROM customers ORDER BY customer_id"), conn)


def _aggregates(engine: sa.Engine, as_of: dt.date, threads: int) -> pd.DataFrame:
    ids = _customers(engine)["customer_id"].tolist()
    chunks = iter_aggregates(
        engine,
        as_of,
        list(iter_chunks(ids, CHUNK)),
        active_window_days=ACTIVE_DAYS,
        threads=threads,
    )
    frame = pd.concat(list(chunks), ignore_index=True)
    return frame.sort_values("customer_id", ignore_index=True)


def _verify(engine: sa.Engine) -> VerificationResult:
    return verify(profile_database(engine), Settings().verification)


def test_profile_counts_and_verification_pass(
    pg: sa.Engine, lite: sa.Engine, master: MasterData
) -> None:
    result = _verify(pg)
    profile = result.profile
    assert profile.tables["customers"].rows == len(master.customers)
    assert profile.tables["sales"].rows == len(master.sales)
    assert result.passed, [f.message for f in result.blocking]
    assert profile.orphan_sales == 0
    assert profile.first_sale == master.sales["sold_at"].min().to_pydatetime()
    assert profile.last_sale == master.sales["sold_at"].max().to_pydatetime()
    # Null counts are computed in SQL: both databases must see the same missing values.
    lite_tables = profile_database(lite).tables
    for name, table in profile.tables.items():
        assert table.key_enforced_unique == lite_tables[name].key_enforced_unique
        for column, found in table.columns.items():
            assert found.nulls == lite_tables[name].columns[column].nulls, f"{name}.{column}"
            assert found.found_kind == lite_tables[name].columns[column].found_kind


@pytest.mark.parametrize("as_of", AS_OF_DATES, ids=str)
def test_aggregates_equal_sqlite(pg: sa.Engine, lite: sa.Engine, as_of: dt.date) -> None:
    ours = _aggregates(pg, as_of, threads=2)  # threads: the pool shares the engine
    theirs = _aggregates(lite, as_of, threads=1)
    assert len(ours) > 100
    assert ours["customer_id"].tolist() == theirs["customer_id"].tolist()
    for column in AGGREGATE_COLUMNS:
        np.testing.assert_allclose(
            ours[column].astype("float64"),
            theirs[column].astype("float64"),
            rtol=0,
            atol=1e-6,
            err_msg=column,
        )
    for column in TIMESTAMPS:
        pd.testing.assert_series_equal(ours[column], theirs[column])
        assert (ours[column] < pd.Timestamp(as_of)).all(), "a sale on/after as_of leaked in"


def test_aggregate_dtypes_equal_sqlite(pg: sa.Engine, lite: sa.Engine) -> None:
    ours, theirs = (_aggregates(e, AS_OF_DATES[-1], threads=1) for e in (pg, lite))
    assert ours.dtypes.to_dict() == theirs.dtypes.to_dict()


@pytest.mark.parametrize("as_of", AS_OF_DATES, ids=str)
def test_features_identical(pg: sa.Engine, lite: sa.Engine, as_of: dt.date) -> None:
    ours, theirs = (
        build_features(_customers(e), _aggregates(e, as_of, threads=1), as_of, ACTIVE_DAYS)
        for e in (pg, lite)
    )
    assert len(ours) > 100
    assert ours.notna().any().all()
    # Money sums may differ in the last bits (summation order), nothing more.
    pd.testing.assert_frame_equal(ours, theirs, check_exact=False, rtol=1e-12, atol=1e-9)


def test_window_boundaries_equal_sqlite(
    postgres_database: Callable[[str], str], tmp_path: Path, master: MasterData
) -> None:
    stamps = ["2026-05-31 23:59:59", "2026-06-01 00:00:00", "2026-07-01 00:00:00"]
    sales = pd.DataFrame(
        {
            "sale_id": [1, 2, 3],
            "customer_id": [1, 1, 1],
            "sold_at": pd.to_datetime(stamps),
            "amount": [1.0, 2.0, 4.0],
            "quantity": [1, 1, 1],
            "product_category": ["home"] * 3,
            "returned": [False] * 3,
        }
    )
    data = MasterData(customers=master.customers.head(1), sales=sales)
    as_of = dt.date(2026, 7, 1)  # window of 30 days starts 2026-06-01 00:00:00
    frames = []
    for url in (postgres_database("boundaries"), f"sqlite:///{tmp_path / 'boundaries.db'}"):
        engine = _load(url, data)
        frames.append(_aggregates(engine, as_of, threads=1))
        engine.dispose()
    ours, theirs = frames
    assert ours.loc[0, "spend_total"] == 3.0  # the sale at as_of itself is the future
    assert ours.loc[0, "spend_30d"] == 2.0  # the window includes its first instant
    assert theirs.loc[0, "spend_total"] == ours.loc[0, "spend_total"]
    assert theirs.loc[0, "spend_30d"] == ours.loc[0, "spend_30d"]


@pytest.mark.parametrize(
    ("corruption", "column", "rule"),
    [
        ("orphan_sales", "sales.customer_id", "orphans"),
        ("negative_amounts", "sales.amount", "below_minimum"),
    ],
)
def test_corruption_is_blocked(
    postgres_database: Callable[[str], str],
    tmp_path: Path,
    master: MasterData,
    corruption: Corruption,
    column: str,
    rule: str,
) -> None:
    bad = corrupt(master, corruption)
    results = []
    for url in (postgres_database(corruption), f"sqlite:///{tmp_path / 'bad.db'}"):
        engine = _load(url, bad)
        results.append(_verify(engine))
        engine.dispose()
    ours, theirs = results
    assert not ours.passed
    named = [f for f in ours.blocking if f.message.startswith(f"{column}:")]
    assert [f.rule for f in named] == [rule], [f.message for f in ours.blocking]

    # Same verdict as on SQLite, finding for finding.
    def key(r: VerificationResult) -> list[tuple[str, str | None, str, str]]:
        return sorted((f.table, f.column, f.rule, f.severity) for f in r.findings)

    assert key(ours) == key(theirs)
