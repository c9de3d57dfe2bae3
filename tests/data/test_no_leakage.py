"""Point-in-time correctness: features at an as-of date see only sales before it.

Sales are added to a copy of the database; the features of every customer are then
recomputed the way ingest and scoring compute them (SQL aggregates by id chunks, then the
shared feature builder). Sales after the as-of date must change nothing; sales before it
must change the features of exactly the customers who got them (so the check can fail).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from customer_classifier.data.database import (
    connect,
    customer_ids,
    iter_chunks,
    read_customers,
    write_frame,
)
from customer_classifier.features.aggregates import iter_aggregates
from customer_classifier.features.build import build_features
from customer_classifier.features.labels import fetch_labels
from customer_classifier.settings import LabelRule

AS_OF = dt.date(2026, 1, 2)
MIDNIGHT = pd.Timestamp(AS_OF)
ACTIVE_DAYS = 365
RULE = LabelRule()


@pytest.fixture
def engine(db_copy: Path) -> sa.Engine:
    engine = connect(f"sqlite:///{db_copy}")
    yield engine
    engine.dispose()


def features_at(engine: sa.Engine, as_of: dt.date = AS_OF) -> pd.DataFrame:
    ids = customer_ids(engine)
    customers = read_customers(engine, ids[0], ids[-1])
    bounds = list(iter_chunks(ids, 700))
    aggregates = pd.concat(
        list(iter_aggregates(engine, as_of, bounds, active_window_days=ACTIVE_DAYS, threads=2)),
        ignore_index=True,
    )
    return build_features(customers, aggregates, as_of, ACTIVE_DAYS)


def add_sales(engine: sa.Engine, customer_ids: list[int], moments: list[pd.Timestamp]) -> None:
    """Large sales, kept and returned, for each customer at each moment."""
    with engine.connect() as conn:
        next_id = int(conn.exec_driver_sql("SELECT MAX(sale_id) FROM sales").scalar_one()) + 1
    rows = [
        (cid, moment, returned)
        for cid in customer_ids
        for moment in moments
        for returned in (False, True)
    ]
    frame = pd.DataFrame(
        {
            "sale_id": range(next_id, next_id + len(rows)),
            "customer_id": [r[0] for r in rows],
            "sold_at": [r[1] for r in rows],
            "amount": 5_000.0,
            "quantity": 7,
            "product_category": "electronics",
            "returned": [r[2] for r in rows],
        }
    )
    write_frame(engine, "sales", frame, replace=False)


@pytest.fixture
def before(engine: sa.Engine) -> pd.DataFrame:
    return features_at(engine)


def signed_up_by(engine: sa.Engine, as_of: dt.date) -> set[int]:
    ids = customer_ids(engine)
    customers = read_customers(engine, ids[0], ids[-1])
    signup = pd.to_datetime(customers["signup_date"])
    return set(customers.loc[signup <= pd.Timestamp(as_of), "customer_id"].astype(int))


@pytest.fixture
def picked(before: pd.DataFrame, engine: sa.Engine) -> list[int]:
    """Customers active at the as-of date, then customers signed up but inactive."""
    inactive = sorted(signed_up_by(engine, AS_OF) - set(before.index))
    return [*before.index[:40].tolist(), *inactive[:10]]


@pytest.fixture
def not_yet_customers(engine: sa.Engine) -> list[int]:
    """Customers whose account opens after the as-of date."""
    return sorted(set(customer_ids(engine)) - signed_up_by(engine, AS_OF))[:10]


def test_sales_on_or_after_the_as_of_date_change_no_feature(
    engine: sa.Engine, before: pd.DataFrame, picked: list[int]
) -> None:
    later = [
        MIDNIGHT,  # the first instant of the as-of date belongs to the label window
        MIDNIGHT + pd.Timedelta(seconds=1),
        MIDNIGHT + pd.Timedelta(hours=13),
        MIDNIGHT + pd.Timedelta(days=30),
        MIDNIGHT + pd.Timedelta(days=400),
    ]
    add_sales(engine, picked, later)
    pd.testing.assert_frame_equal(features_at(engine), before, check_exact=True)


def test_sales_before_the_as_of_date_do_change_features(
    engine: sa.Engine, before: pd.DataFrame, picked: list[int], not_yet_customers: list[int]
) -> None:
    earlier = [MIDNIGHT - pd.Timedelta(seconds=1), MIDNIGHT - pd.Timedelta(days=10)]
    assert len(picked) == 50
    assert len(not_yet_customers) == 10
    add_sales(engine, [*picked, *not_yet_customers], earlier)
    after = features_at(engine)
    # Inactive customers become active; accounts opened later stay out; nobody leaves.
    assert set(after.index) == set(before.index) | set(picked)
    now = after.loc[before.index]
    same = (now == before) | (now.isna() & before.isna())
    changed = ~same.all(axis=1)
    assert set(changed[changed].index) == set(picked) & set(before.index)
    moved = after.loc[picked[0]]
    assert moved["days_since_last_purchase"] == pytest.approx(1 / 86_400)
    assert moved["orders_30d"] == before.loc[picked[0], "orders_30d"] + 2
    assert moved["returns_365d"] == before.loc[picked[0], "returns_365d"] + 2


def test_labels_use_only_sales_from_the_as_of_date_on(
    engine: sa.Engine, before: pd.DataFrame, picked: list[int]
) -> None:
    labels = fetch_labels(engine, before.index, AS_OF, RULE)
    bad = [cid for cid in picked if cid in before.index and labels.loc[cid] == 0][:10]
    assert bad, "the fixture must include customers labelled bad"
    add_sales(engine, bad, [MIDNIGHT - pd.Timedelta(seconds=1)])
    assert fetch_labels(engine, before.index, AS_OF, RULE).equals(labels)
    add_sales(engine, bad, [MIDNIGHT])  # 5000 EUR kept at the first instant: now good
    after = fetch_labels(engine, before.index, AS_OF, RULE)
    assert (after.loc[bad] == 1).all()
    assert after.drop(index=bad).equals(labels.drop(index=bad))
    add_sales(engine, bad, [MIDNIGHT + pd.Timedelta(days=RULE.horizon_days)])  # past the horizon
    assert fetch_labels(engine, before.index, AS_OF, RULE).equals(after)


def test_a_sale_at_the_as_of_instant_in_sqlite_native_format_does_not_leak(
    engine: sa.Engine, before: pd.DataFrame, picked: list[int]
) -> None:
    customer = picked[0]
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO sales VALUES (?, ?, ?, 5000.0, 1, 'home', 0)",
            (10**9, customer, f"{AS_OF.isoformat()} 00:00:00"),
        )
    pd.testing.assert_frame_equal(features_at(engine), before, check_exact=True)
    assert fetch_labels(engine, before.index, AS_OF, RULE).loc[customer] == 1
