"""Per-customer sales aggregates as of a date, computed in the database.

Only sales strictly before the as-of date are read: this is where leakage is prevented,
so every window is bounded above by ``as_of``. The aggregation is pushed down to SQL
and split into customer-id ranges, so memory stays bounded by the chunk size however
large the Sales table is.

Speed, because nightly scoring reads every sale: each aggregate is an ``agg(...)
FILTER (WHERE ...)`` (SQL:2003, PostgreSQL and SQLite 3.30+), so a row that a window
excludes costs a comparison, not a function call; on SQLite the timestamp column is
compared without its declared numeric affinity (``+sold_at``), which would otherwise try
to turn both text operands into numbers on every comparison (text order is unchanged);
rows are fetched from the driver in batches without per-value conversion by SQLAlchemy,
and timestamps are parsed by pandas in one vectorised call.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import GenericFunction

from customer_classifier.data.contract import CATEGORIES, CUSTOMERS_SPEC, SALES_SPEC, sa_table
from customer_classifier.data.database import as_stored

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

TIMESTAMP_COLUMNS = ("first_purchase_at", "last_purchase_at")
FETCH_ROWS = 20_000
"""Rows taken from the driver at a time: bounds the Python objects alive at once."""


class _Exact(GenericFunction[Any]):
    """A float column summed exactly: as NUMERIC on PostgreSQL, the column elsewhere."""

    name = "exact_input"
    inherit_cache = True
    _register = False


class _Double(GenericFunction[Any]):
    """An exact sum back to a float: DOUBLE PRECISION on PostgreSQL, unchanged elsewhere."""

    name = "as_double"
    inherit_cache = True
    _register = False


@compiles(_Exact)
@compiles(_Double)
def _unchanged(element: GenericFunction[Any], compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(_Exact, "postgresql")
def _numeric(element: _Exact, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AS NUMERIC)"


@compiles(_Double, "postgresql")
def _double(element: _Double, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AS DOUBLE PRECISION)"


def exact_sum(
    column: sa.ColumnElement[Any], condition: sa.ColumnElement[bool]
) -> sa.ColumnElement[Any]:
    """``SUM(column) FILTER (WHERE condition)``, the same whatever order the rows come in.

    A float sum depends on the order of its terms, and PostgreSQL's order follows the
    plan: a sequential scan for a wide id range, the customer index for a narrow one,
    partial sums of parallel workers. Summed as NUMERIC (exact) and rounded once, a
    customer's spend is the same in one chunk or shard as in another, run after run.
    SQLite reads a range through the customer index, in one order, and sums as before.
    """
    summed = sa.func.sum(_Exact(column, type_=column.type)).filter(condition)
    return _Double(summed, type_=column.type)


def _sales_table() -> sa.Table:
    return sa_table(SALES_SPEC, sa.MetaData())


_BOUNDARY = sa.DateTime().with_variant(
    sqlite.DATETIME(  # type: ignore[no-untyped-call]
        storage_format="%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d"
    ),
    "sqlite",
)


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day)


def _at(moment: dt.datetime) -> sa.ColumnElement[Any]:
    """A window boundary (always a whole second) as a bound value.

    SQLite compares timestamps as text. Without a fraction, the boundary sorts before
    every stored form of the same instant (``... 00:00:00`` and ``... 00:00:00.000000``)
    and after every earlier one, so no writer's format can move a sale across it.
    """
    return sa.literal(moment, _BOUNDARY)


def aggregate_query(
    as_of: dt.date, active_window_days: int, *, active_only: bool = False
) -> sa.Select[Any]:
    """One GROUP BY over the sales before ``as_of`` with a filtered aggregate per column.

    Bound parameters ``lo`` and ``hi`` select the customer-id range of a chunk. The
    timestamps come back as the driver gives them (text on SQLite). ``active_only`` keeps
    the customers with a sale in the active window, the only ones scoring uses.
    """
    s = _sales_table()
    end = _midnight(as_of)
    sold_at = as_stored(s.c.sold_at)
    kept = sa.not_(s.c.returned)

    def since(days: int) -> sa.ColumnElement[bool]:
        return sold_at >= _at(end - dt.timedelta(days=days))

    def count(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
        return sa.func.count().filter(condition)

    def total(
        expr: sa.ColumnElement[Any], condition: sa.ColumnElement[bool]
    ) -> sa.ColumnElement[Any]:
        return sa.func.coalesce(exact_sum(expr, condition), 0)

    columns: list[sa.ColumnElement[Any]] = [s.c.customer_id]
    for w in WINDOWS:
        columns.append(count(since(w) & kept).label(f"orders_{w}d"))
    for w in WINDOWS:
        columns.append(total(s.c.amount, since(w) & kept).label(f"spend_{w}d"))
    columns.append(count(since(365) & s.c.returned).label("returns_365d"))
    # PostgreSQL sums BIGINT into NUMERIC; keep the integer type on every database.
    units = total(s.c.quantity, since(365) & kept)
    columns.append(sa.cast(units, sa.BigInteger).label("units_365d"))
    for c in CATEGORIES:
        columns.append(
            total(s.c.amount, since(365) & kept & (s.c.product_category == c)).label(
                f"spend_365d_{c}"
            )
        )
    columns.append(count(kept).label("orders_total"))
    columns.append(total(s.c.amount, kept).label("spend_total"))
    active = count(since(active_window_days))
    columns.append(active.label("sales_active_window"))
    first: sa.ColumnElement[Any] = sa.func.min(s.c.sold_at)
    last: sa.ColumnElement[Any] = sa.func.max(s.c.sold_at)
    if active_only:
        # An active customer's newest sale lies in the active window: look only there.
        last = last.filter(since(active_window_days))
    for name, stamp in zip(TIMESTAMP_COLUMNS, (first, last), strict=True):
        columns.append(sa.type_coerce(stamp, sa.String).label(name))
    query = (
        sa.select(*columns)
        .where(sold_at < _at(end))
        .where(s.c.customer_id.between(sa.bindparam("lo"), sa.bindparam("hi")))
        .group_by(s.c.customer_id)
    )
    return query.having(active > 0) if active_only else query


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
        .where(s.c.sold_at >= _at(start))
        .where(s.c.sold_at < _at(start + dt.timedelta(days=horizon_days)))
        .group_by(s.c.customer_id)
    )


def _parse_timestamps(frame: pd.DataFrame) -> pd.DataFrame:
    for col in TIMESTAMP_COLUMNS:
        if col in frame.columns:
            # ISO text from SQLite (with or without a fraction), datetimes from PostgreSQL.
            frame[col] = pd.to_datetime(frame[col], format="ISO8601")
    return frame


def _to_frame(result: sa.CursorResult[Any]) -> pd.DataFrame:
    """The result as a frame, built batch by batch from the rows as the driver gives them."""
    columns = list(result.keys())
    parts = []
    while batch := result.cursor.fetchmany(FETCH_ROWS):
        parts.append(pd.DataFrame.from_records(batch, columns=columns))
    result.close()
    if not parts:
        frame = pd.DataFrame(columns=columns)
    else:
        frame = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
    return _parse_timestamps(frame)


def _empty_aggregates() -> pd.DataFrame:
    frame = pd.DataFrame({"customer_id": pd.Series(dtype="int64")})
    for col in AGGREGATE_COLUMNS:
        frame[col] = pd.Series(dtype="float64")
    frame["first_purchase_at"] = pd.Series(dtype="datetime64[ns]")
    frame["last_purchase_at"] = pd.Series(dtype="datetime64[ns]")
    return frame


def fetch_frame(engine: sa.Engine, query: sa.Select[Any], lo: int, hi: int) -> pd.DataFrame:
    """One chunk of a query with ``lo``/``hi`` parameters; timestamps of aggregates parsed."""
    with engine.connect() as conn:
        return _to_frame(conn.execute(query, {"lo": lo, "hi": hi}))


def fetch_chunk(engine: sa.Engine, query: sa.Select[Any], lo: int, hi: int) -> pd.DataFrame:
    frame = fetch_frame(engine, query, lo, hi)
    return frame if len(frame) else _empty_aggregates()


def iter_frames(
    engine: sa.Engine,
    query: sa.Select[Any],
    bounds: list[tuple[int, int]],
    *,
    threads: int = 1,
    fetch: Callable[[sa.Engine, sa.Select[Any], int, int], pd.DataFrame] = fetch_frame,
) -> Iterator[pd.DataFrame]:
    """``fetch`` of each chunk, in the order of ``bounds``; ``threads`` queries at once.

    Each query runs on its own pooled connection; the driver leaves the interpreter lock
    while the database works, so the threads add cores, not just waiting.
    """
    if threads <= 1:
        for lo, hi in bounds:
            yield fetch(engine, query, lo, hi)
        return
    with ThreadPoolExecutor(max_workers=threads) as pool:
        # Keep at most `threads` chunks in flight so memory stays bounded.
        pending = [pool.submit(fetch, engine, query, lo, hi) for lo, hi in bounds[:threads]]
        next_index = threads
        while pending:
            frame = pending.pop(0).result()
            if next_index < len(bounds):
                lo, hi = bounds[next_index]
                pending.append(pool.submit(fetch, engine, query, lo, hi))
                next_index += 1
            yield frame


def iter_aggregates(
    engine: sa.Engine,
    as_of: dt.date,
    bounds: list[tuple[int, int]],
    *,
    active_window_days: int,
    threads: int = 1,
    active_only: bool = False,
) -> Iterator[pd.DataFrame]:
    """Aggregates chunk by chunk, in the order of ``bounds``; ``threads`` queries at once.

    With ``active_only``, only customers with a sale in the active window (see
    :func:`aggregate_query`).
    """
    query = aggregate_query(as_of, active_window_days, active_only=active_only)
    yield from iter_frames(engine, query, bounds, threads=threads, fetch=fetch_chunk)


def fetch_label_spend(engine: sa.Engine, as_of: dt.date, horizon_days: int) -> pd.DataFrame:
    with engine.connect() as conn:
        return _to_frame(conn.execute(label_spend_query(as_of, horizon_days)))


def active_customers_query(as_of: dt.date, active_window_days: int) -> sa.Select[Any]:
    """How many customers nightly scoring takes at ``as_of``: those of the Customers table
    with a sale in the active window before it (the customers :func:`aggregate_query`
    keeps with ``active_only``), counted in the database as a check on the shards."""
    s = _sales_table()
    customers = sa_table(CUSTOMERS_SPEC, sa.MetaData())
    end = _midnight(as_of)
    sold_at = as_stored(s.c.sold_at)
    buyers = (
        sa.select(s.c.customer_id)
        .where(sold_at >= _at(end - dt.timedelta(days=active_window_days)))
        .where(sold_at < _at(end))
        .distinct()
        .subquery("buyers")
    )
    return sa.select(sa.func.count()).select_from(
        buyers.join(customers, customers.c.customer_id == buyers.c.customer_id)
    )
