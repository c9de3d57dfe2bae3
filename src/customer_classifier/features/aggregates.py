"""Per-customer sales aggregates as of a date, computed in the database.

Only sales strictly before the as-of date are read: this is where leakage is prevented,
so every window is bounded above by ``as_of``. The aggregation is pushed down to SQL
and split into customer-id ranges, so memory stays bounded by the chunk size however
large the Sales table is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pandas as pd
import sqlalchemy as sa

from customer_classifier.data.contract import CATEGORIES, SALES_SPEC, sa_table

WINDOWS = (30, 90, 365)

AGGREGATE_COLUMNS = (
    *(f"orders_{w}d" for w in WINDOWS),
    *(f"spend_{w}d" for w in WINDOWS),
    "returns_365d",
    "units_365d",
    *(f"spend_365d_{c}" for c in CATEGORIES),
    "orders_total",
    "spend_total",
    "sales_active_window",
)
"""Numeric aggregate columns; plus first_purchase_at and last_purchase_at (timestamps)."""


def _sales_table() -> sa.Table:
    return sa_table(SALES_SPEC, sa.MetaData())


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day)


def aggregate_query(as_of: dt.date, active_window_days: int) -> sa.Select[Any]:
    """One GROUP BY over the sales before ``as_of`` with a conditional sum per aggregate.

    Bound parameters ``lo`` and ``hi`` select the customer-id range of a chunk.
    """
    s = _sales_table()
    end = _midnight(as_of)
    kept = sa.not_(s.c.returned)

    def since(days: int) -> sa.ColumnElement[bool]:
        return s.c.sold_at >= end - dt.timedelta(days=days)

    def total(expr: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        return sa.func.coalesce(sa.func.sum(expr), 0)

    columns: list[sa.ColumnElement[Any]] = [s.c.customer_id]
    for w in WINDOWS:
        columns.append(total(sa.case((since(w) & kept, 1), else_=0)).label(f"orders_{w}d"))
    for w in WINDOWS:
        columns.append(total(sa.case((since(w) & kept, s.c.amount), else_=0)).label(f"spend_{w}d"))
    columns.append(total(sa.case((since(365) & s.c.returned, 1), else_=0)).label("returns_365d"))
    units = total(sa.case((since(365) & kept, s.c.quantity), else_=0))
    # PostgreSQL sums BIGINT into NUMERIC; keep the integer type on every database.
    columns.append(sa.cast(units, sa.BigInteger).label("units_365d"))
    for c in CATEGORIES:
        columns.append(
            total(
                sa.case((since(365) & kept & (s.c.product_category == c), s.c.amount), else_=0)
            ).label(f"spend_365d_{c}")
        )
    columns.append(total(sa.case((kept, 1), else_=0)).label("orders_total"))
    columns.append(total(sa.case((kept, s.c.amount), else_=0)).label("spend_total"))
    columns.append(
        total(sa.case((since(active_window_days), 1), else_=0)).label("sales_active_window")
    )
    columns.append(sa.func.min(s.c.sold_at).label("first_purchase_at"))
    columns.append(sa.func.max(s.c.sold_at).label("last_purchase_at"))
    return (
        sa.select(*columns)
        .where(s.c.sold_at < end)
        .where(s.c.customer_id.between(sa.bindparam("lo"), sa.bindparam("hi")))
        .group_by(s.c.customer_id)
    )


def label_spend_query(as_of: dt.date, horizon_days: int) -> sa.Select[Any]:
    """Net spend per customer in ``[as_of, as_of + horizon)``: the label window."""
    s = _sales_table()
    start = _midnight(as_of)
    return (
        sa.select(
            s.c.customer_id,
            sa.func.coalesce(
                sa.func.sum(sa.case((sa.not_(s.c.returned), s.c.amount), else_=0)), 0
            ).label("future_spend"),
        )
        .where(s.c.sold_at >= start)
        .where(s.c.sold_at < start + dt.timedelta(days=horizon_days))
        .group_by(s.c.customer_id)
    )


def _to_frame(result: sa.CursorResult[Any]) -> pd.DataFrame:
    frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    for col in ("first_purchase_at", "last_purchase_at"):
        if col in frame.columns:
            frame[col] = pd.to_datetime(frame[col], format="mixed")
    return frame


def _empty_aggregates() -> pd.DataFrame:
    frame = pd.DataFrame({"customer_id": pd.Series(dtype="int64")})
    for col in AGGREGATE_COLUMNS:
        frame[col] = pd.Series(dtype="float64")
    frame["first_purchase_at"] = pd.Series(dtype="datetime64[ns]")
    frame["last_purchase_at"] = pd.Series(dtype="datetime64[ns]")
    return frame


def fetch_chunk(engine: sa.Engine, query: sa.Select[Any], lo: int, hi: int) -> pd.DataFrame:
    with engine.connect() as conn:
        frame = _to_frame(conn.execute(query, {"lo": lo, "hi": hi}))
    return frame if len(frame) else _empty_aggregates()


def iter_aggregates(
    engine: sa.Engine,
    as_of: dt.date,
    bounds: list[tuple[int, int]],
    *,
    active_window_days: int,
    threads: int = 1,
) -> Iterator[pd.DataFrame]:
    """Aggregates chunk by chunk, in the order of ``bounds``; ``threads`` queries at once."""
    query = aggregate_query(as_of, active_window_days)
    if threads <= 1:
        for lo, hi in bounds:
            yield fetch_chunk(engine, query, lo, hi)
        return
    with ThreadPoolExecutor(max_workers=threads) as pool:
        # Keep at most `threads` chunks in flight so memory stays bounded.
        pending = [pool.submit(fetch_chunk, engine, query, lo, hi) for lo, hi in bounds[:threads]]
        next_index = threads
        while pending:
            frame = pending.pop(0).result()
            if next_index < len(bounds):
                lo, hi = bounds[next_index]
                pending.append(pool.submit(fetch_chunk, engine, query, lo, hi))
                next_index += 1
            yield frame


def fetch_label_spend(engine: sa.Engine, as_of: dt.date, horizon_days: int) -> pd.DataFrame:
    with engine.connect() as conn:
        return _to_frame(conn.execute(label_spend_query(as_of, horizon_days)))
