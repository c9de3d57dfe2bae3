"""A profile of the source tables, computed in the database (one scan per table).

Verification judges the profile; it never needs the rows themselves, so profiling a
table of ten million sales costs one aggregate query, not a download.

The scan of a table counts its rows and the rows that break any rule of the contract in
one condition: ranges, allowed values, and the values of the wrong kind that a loosely
typed column can hold (see :mod:`customer_classifier.data.value_rules`). Only when that
count is not zero does a second scan count each rule's violations apiece (clean data,
the nightly case, pays for one cheap pass). What an index answers is asked of the
index: duplicate keys are not counted when a unique index enforces the key; nulls,
identifiers of the wrong kind and unparseable dates of an indexed column, and the first,
last and future sales, come from its index. The scans of Customers, Sales and the labels
table (when there is one) and the orphan check run at the same time on their own
connections; on SQLite, which gives a query one core, a large table's scan is also split
into rowid ranges (PostgreSQL parallelises a scan by itself).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from itertools import pairwise
from typing import Any, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel, Field

from customer_classifier.data.contract import (
    CUSTOMERS_SPEC,
    OPTIONAL_SPECS,
    SALES_SPEC,
    SPECS,
    Kind,
    TableSpec,
    kind_of,
    kind_satisfies,
)
from customer_classifier.data.database import is_shareable
from customer_classifier.data.value_rules import (
    after,
    conversion_rules,
    in_range,
    value_checks,
)

T = TypeVar("T")
_MAX_THREADS = 4
_SPLIT_MIN_ROWS = 500_000
"""Smallest SQLite table whose scan is split over the threads."""


class ColumnProfile(BaseModel):
    name: str
    found_kind: Kind | None
    sql_type: str
    nulls: int = 0
    below_minimum: int = 0
    above_maximum: int = 0
    not_allowed: int = 0
    not_a_number: int = 0
    """Text where numbers are declared (in a text column: values that are not numbers)."""
    non_finite: int = 0
    """NaN or +/-infinity stored as a value."""
    wrong_id_kind: int = 0
    """Identifiers that are not whole numbers (text, fractions)."""
    not_boolean: int = 0
    unparseable: int = 0
    """Dates or timestamps that do not read as one."""
    future: int = 0
    """Dates after the verification time."""


class TableProfile(BaseModel):
    name: str
    exists: bool
    rows: int = 0
    columns: dict[str, ColumnProfile] = Field(default_factory=dict)
    duplicate_keys: int = 0
    key_enforced_unique: bool = False


class DataProfile(BaseModel):
    """What verification needs to know about the source, and nothing it does not."""

    database: str
    profiled_at: dt.datetime
    tables: dict[str, TableProfile]
    orphan_sales: int = 0
    first_sale: dt.datetime | None = None
    last_sale: dt.datetime | None = None


def _sum_if(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def _as_datetime(value: object) -> dt.datetime | None:
    """The value as a timestamp; None when it is missing or is not one (SQLite text that
    does not parse is counted by the ``unparseable`` rule, which blocks)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    if not isinstance(value, str):
        return None  # a number in a SQLite timestamp column
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return None


def _raw(expression: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """The value as the driver returns it: a SQLite timestamp column may hold a number,
    which SQLAlchemy's own conversion would fail on (see :func:`_as_datetime`)."""
    return sa.type_coerce(expression, sa.types.NullType())


def _key_is_unique(inspector: sa.Inspector, table: str, key: list[str]) -> bool:
    wanted = set(key)

    def same(columns: object) -> bool:
        return isinstance(columns, list) and len(columns) == len(key) and set(columns) == wanted

    if same(inspector.get_pk_constraint(table).get("constrained_columns")):
        return True
    for index in inspector.get_indexes(table):
        if index.get("unique") and same(index.get("column_names")):
            return True
    return any(same(u.get("column_names")) for u in inspector.get_unique_constraints(table))


def _leads_an_index(inspector: sa.Inspector, table: str, column: str) -> bool:
    pk = inspector.get_pk_constraint(table).get("constrained_columns") or []
    if pk[:1] == [column]:
        return True
    return any((i.get("column_names") or [])[:1] == [column] for i in inspector.get_indexes(table))


@dataclass
class _TablePlan:
    """What to ask of one table, decided from its reflected columns and indexes."""

    spec: TableSpec
    table: sa.Table
    columns: dict[str, ColumnProfile]
    rules: dict[str, sa.ColumnElement[bool]]
    """``column:field`` -> the condition a violating row meets (clean data: none does)."""
    screens: list[sa.ColumnElement[bool]]
    """What the first scan asks: a row that meets any rule meets one of these, which cost
    less per row than the rules themselves."""
    counts: dict[str, sa.ColumnElement[bool]]
    """``column:field`` -> a condition always counted (nulls of a nullable column, dates
    after the verification time)."""
    lookups: dict[str, sa.ColumnElement[bool]]
    """``column:field`` -> a condition on a column that leads an index (nulls, values of
    the wrong kind, future dates): counted by the index, one small query each."""
    unique: bool
    timestamps: dict[str, sa.ColumnElement[bool]] = field(default_factory=dict)
    """SQLite date columns that lead an index -> their rule row by row, for when
    :func:`_unparseable_by_index` finds a value that is no date."""
    extras: dict[str, sa.ColumnElement[Any]] = field(default_factory=dict)
    """Aggregates over the whole table that the scan also returns (distinct keys, dates)."""
    indexed_dates: bool = False
    """Whether ``sold_at`` leads an index: its first and last are then read from the index."""


def _plan_table(
    inspector: sa.Inspector, spec: TableSpec, now: dt.datetime, dialect: str
) -> _TablePlan | None:
    if spec.name not in inspector.get_table_names():
        return None
    reflected = {c["name"]: c["type"] for c in inspector.get_columns(spec.name)}
    table = sa.Table(spec.name, sa.MetaData(), *[sa.Column(n, t) for n, t in reflected.items()])
    plan = _TablePlan(
        spec=spec,
        table=table,
        columns={},
        rules={},
        screens=[],
        counts={},
        lookups={},
        unique=False,
    )

    def rule(key: str, condition: sa.ColumnElement[bool], *, screened: bool = False) -> None:
        plan.rules[key] = condition
        if not screened:
            plan.screens.append(condition)

    for col in spec.columns:
        if col.name not in reflected:
            continue
        found = kind_of(reflected[col.name])
        plan.columns[col.name] = ColumnProfile(
            name=col.name, found_kind=found, sql_type=str(reflected[col.name])
        )
        c = table.c[col.name]
        if found is None or not kind_satisfies(found, col.kind):
            # Wrong type: the values are not comparable with the contract's ranges; a
            # text column is still asked which of its values would not convert.
            if found == "str":
                for attribute, condition in conversion_rules(dialect, col, c).items():
                    rule(f"{col.name}:{attribute}", condition)
            continue
        indexed = _leads_an_index(inspector, spec.name, col.name)
        if col.nullable:
            plan.counts[f"{col.name}:nulls"] = c.is_(None)
        elif indexed:
            plan.lookups[f"{col.name}:nulls"] = c.is_(None)
        else:
            rule(f"{col.name}:nulls", c.is_(None))
        checks = value_checks(dialect, col, found, c)
        for attribute, condition in checks.rules.items():
            if indexed and attribute == "unparseable" and dialect == "sqlite":
                plan.timestamps[col.name] = condition
            elif indexed:
                plan.lookups[f"{col.name}:{attribute}"] = condition
            else:
                rule(f"{col.name}:{attribute}", condition, screened=checks.screen is not None)
        if checks.screen is not None and not indexed:
            plan.screens.append(checks.screen)
        finite = in_range(dialect, found, c) if col.kind in ("int", "float") else None
        if col.minimum is not None:
            below = c < col.minimum
            rule(f"{col.name}:below_minimum", below if finite is None else below & finite)
        if col.maximum is not None:
            above = c > col.maximum
            rule(f"{col.name}:above_maximum", above if finite is None else above & finite)
        if col.allowed is not None:
            # Not null and not allowed; a chain of equalities costs less per row than
            # NOT IN, which SQLite answers with a lookup in a temporary index.
            allowed = {value: sa.false() for value in col.allowed}
            rule(f"{col.name}:not_allowed", sa.case(allowed, value=c, else_=c.is_not(None)))
        if col.kind in ("date", "datetime"):
            if indexed:
                plan.lookups[f"{col.name}:future"] = after(dialect, col.kind, c, now, scan=False)
            else:
                plan.counts[f"{col.name}:future"] = after(dialect, col.kind, c, now, scan=True)
    key = [spec.key, *spec.key_scope]
    plan.unique = set(key) <= set(reflected) and _key_is_unique(inspector, spec.name, key)
    if spec.key in plan.columns and not spec.key_scope and not plan.unique:
        plan.extras["distinct_keys"] = sa.func.count(sa.distinct(table.c[spec.key]))
    sold_at = plan.columns.get("sold_at")
    if spec is SALES_SPEC and sold_at is not None and sold_at.found_kind == "datetime":
        plan.indexed_dates = _leads_an_index(inspector, spec.name, "sold_at")
        if not plan.indexed_dates:
            plan.extras["first_sale"] = _raw(sa.func.min(table.c.sold_at))
            plan.extras["last_sale"] = _raw(sa.func.max(table.c.sold_at))
    return plan


def _one_row(
    engine: sa.Engine,
    exprs: dict[str, sa.ColumnElement[Any]],
    table: sa.Table,
    where: sa.ColumnElement[bool] | None = None,
) -> dict[str, Any]:
    labels = {k: f"v{i}" for i, k in enumerate(exprs)}
    query = sa.select(*[e.label(labels[k]) for k, e in exprs.items()]).select_from(table)
    if where is not None:
        query = query.where(where)
    with engine.connect() as conn:
        row = conn.execute(query).one()._mapping
    return {k: row[labels[k]] for k in exprs}


def _summary(
    engine: sa.Engine, plan: _TablePlan, rows: tuple[int, int] | None = None
) -> dict[str, Any]:
    """Rows, the always-counted conditions, the extras and how many rows break any rule;
    of the rows with a rowid in ``rows`` when given (a part of a split scan)."""
    exprs: dict[str, sa.ColumnElement[Any]] = {"rows": sa.func.count(), **plan.extras}
    exprs.update({key: sa.func.count().filter(c) for key, c in plan.counts.items()})
    if plan.screens:
        exprs["violations"] = sa.func.count().filter(sa.or_(*plan.screens))
    where = None if rows is None else sa.literal_column("rowid").between(*rows)
    return _one_row(engine, exprs, plan.table, where)


def _combine(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The summary of a whole table from the summaries of its parts."""
    if len(parts) == 1:
        return parts[0]
    combined: dict[str, Any] = {}
    for key in parts[0]:
        values = [p[key] for p in parts]
        if key in ("first_sale", "last_sale"):
            present = [v for v in values if v is not None]
            pick = min if key == "first_sale" else max
            combined[key] = pick(present) if present else None
        else:
            combined[key] = sum(int(v or 0) for v in values)
    return combined


def _rule_counts(engine: sa.Engine, plan: _TablePlan, summary: dict[str, Any]) -> dict[str, Any]:
    """Each rule's count: zero when no row broke any, else one more pass that counts them."""
    values = dict(summary)
    if int(values.pop("violations", 0) or 0):
        values.update(_one_row(engine, {k: _sum_if(r) for k, r in plan.rules.items()}, plan.table))
    else:
        values.update(dict.fromkeys(plan.rules, 0))
    return values


def _row_ranges(engine: sa.Engine, plan: _TablePlan, parts: int) -> list[tuple[int, int]] | None:
    """Rowid ranges that split a large SQLite table into ``parts`` scans, else None.

    SQLite runs one query on one core; PostgreSQL parallelises a scan by itself, so other
    databases get one query. Counting distinct keys does not split (not additive).
    """
    if engine.dialect.name != "sqlite" or parts <= 1 or "distinct_keys" in plan.extras:
        return None
    rowid: sa.ColumnElement[int] = sa.literal_column("rowid")
    try:
        with engine.connect() as conn:
            query = sa.select(sa.func.min(rowid), sa.func.max(rowid)).select_from(plan.table)
            low, high = conn.execute(query).one()
    except sa.exc.DBAPIError:  # a WITHOUT ROWID table
        return None
    if low is None or high - low + 1 < _SPLIT_MIN_ROWS:
        return None
    step = -(-(high - low + 1) // parts)
    return [(low + i * step, min(high, low + (i + 1) * step - 1)) for i in range(parts)]


def _sale_dates(engine: sa.Engine, table: sa.Table) -> dict[str, Any]:
    """First and last sales as two index lookups (a plain MIN/MAX uses the index)."""
    sold_at = table.c.sold_at
    with engine.connect() as conn:
        return {
            "first_sale": conn.execute(sa.select(_raw(sa.func.min(sold_at)))).scalar(),
            "last_sale": conn.execute(sa.select(_raw(sa.func.max(sold_at)))).scalar(),
        }


def _count_distinct_keys(engine: sa.Engine, plan: _TablePlan) -> dict[str, Any]:
    """Distinct key combinations of a scoped key (SQLite has no multi-column DISTINCT count)."""
    columns = [plan.table.c[name] for name in (plan.spec.key, *plan.spec.key_scope)]
    distinct = sa.select(*columns).distinct().subquery()
    with engine.connect() as conn:
        query = sa.select(sa.func.count()).select_from(distinct)
        return {"distinct_keys": conn.execute(query).scalar_one()}


_MAX_MONTHS = 12 * 300
"""More months than this between the first and the last date: counted row by row."""


def _months(first: str, last: str) -> list[str] | None:
    """Every 'YYYY-MM' from ``first``'s month to ``last``'s; None when either does not
    start with one (a value that is no date sorts first or last)."""
    try:
        start = dt.date(int(first[:4]), int(first[5:7]), 1)
        end = dt.date(int(last[:4]), int(last[5:7]), 1)
    except ValueError:
        return None
    if first[4] != "-" or last[4] != "-" or first[7:8] != "-" or last[7:8] != "-":
        return None
    count = (end.year - start.year) * 12 + end.month - start.month + 1
    if not 0 < count <= _MAX_MONTHS:
        return None
    return [
        f"{start.year + (start.month - 1 + i) // 12:04d}-{(start.month - 1 + i) % 12 + 1:02d}"
        for i in range(count)
    ]


def _unparseable_by_index(
    conn: sa.Connection, table: sa.Table, name: str, by_row: sa.ColumnElement[bool]
) -> int:
    """Timestamps of an indexed SQLite column that do not parse, read from the index.

    Numbers sort before all text, and text that is no date after the last or before the
    first (digits come before letters); what starts with a month but no day in it
    ('2026-13-01', '2026-06-32', '2026/06/30') falls between two months. So every value
    lies in a month's day range ['YYYY-MM-01', 'YYYY-MM-32') exactly when the gaps around
    them are empty: a few index seeks, not a read of every row. Only when a gap holds a
    row are the rows counted one by one (``by_row``). A value inside a day range, such
    as '2026-06-15 25:00', is taken as a timestamp here.
    """
    c = table.c[name]
    text: sa.ColumnElement[str] = sa.literal_column("''")

    def count(*conditions: sa.ColumnElement[bool]) -> int:
        query = sa.select(sa.func.count()).select_from(table).where(*conditions)
        return int(conn.execute(query).scalar_one())

    def by_rows() -> int:
        return count(by_row)

    if count(c < text):  # numbers
        return by_rows()
    first = conn.execute(sa.select(_raw(sa.func.min(c))).where(c >= text)).scalar()
    last = conn.execute(sa.select(_raw(sa.func.max(c)))).scalar()
    if first is None or last is None:
        return 0
    months = _months(str(first), str(last))
    if months is None:
        return by_rows()
    bounds: list[tuple[str | None, str | None]] = [(None, f"{months[0]}-01")]
    bounds += [(f"{m}-32", f"{n}-01") for m, n in pairwise(months)]
    bounds.append((f"{months[-1]}-32", None))
    for low, high in bounds:
        conditions = [c >= sa.literal(low, sa.String) if low else c >= text]
        if high is not None:
            conditions.append(c < sa.literal(high, sa.String))
        if count(*conditions):
            return by_rows()
    return 0


def _lookups(engine: sa.Engine, plan: _TablePlan) -> dict[str, Any]:
    """The conditions an index answers, one small query each."""
    query = sa.select(sa.func.count()).select_from(plan.table)
    with engine.connect() as conn:
        found = {k: conn.execute(query.where(c)).scalar() for k, c in plan.lookups.items()}
        for name, by_row in plan.timestamps.items():
            found[f"{name}:unparseable"] = _unparseable_by_index(conn, plan.table, name, by_row)
        return found


def _table_profile(plan: _TablePlan, values: dict[str, Any]) -> TableProfile:
    for key in (
        *plan.rules,
        *plan.counts,
        *plan.lookups,
        *(f"{n}:unparseable" for n in plan.timestamps),
    ):
        name, attribute = key.split(":")
        setattr(plan.columns[name], attribute, int(values[key] or 0))
    rows = int(values["rows"])
    duplicates = rows - int(values["distinct_keys"]) if "distinct_keys" in values else 0
    return TableProfile(
        name=plan.spec.name,
        exists=True,
        rows=rows,
        columns=plan.columns,
        duplicate_keys=duplicates,
        key_enforced_unique=plan.unique,
    )


def _count_orphans(engine: sa.Engine) -> dict[str, Any]:
    # Grouped first: one probe into customers per distinct sales customer, not per sale.
    query = sa.text(
        "SELECT COALESCE(SUM(g.n), 0) FROM "
        "(SELECT customer_id, COUNT(*) AS n FROM sales GROUP BY customer_id) AS g "
        "WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.customer_id = g.customer_id)"
    )
    with engine.connect() as conn:
        return {"orphans": int(conn.execute(query).scalar_one())}


def _run(engine: sa.Engine, tasks: dict[str, Callable[[], T]], threads: int) -> dict[str, T]:
    """Every task's result; at the same time on their own connections where that is safe."""
    if threads <= 1 or len(tasks) <= 1 or not is_shareable(engine):
        return {name: task() for name, task in tasks.items()}
    with ThreadPoolExecutor(max_workers=min(threads, len(tasks))) as pool:
        futures = {name: pool.submit(task) for name, task in tasks.items()}
        return {name: future.result() for name, future in futures.items()}


def profile_database(
    engine: sa.Engine, now: dt.datetime | None = None, *, threads: int | None = None
) -> DataProfile:
    """Profile Customers, Sales and the labels table (when there is one) in the database.

    ``now``: the verification time (UTC, naive; default: now), against which dates are
    judged. ``threads``: queries run at once (default: the CPUs, at most 4).
    """
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    threads = threads or min(_MAX_THREADS, os.cpu_count() or 1)
    inspector = sa.inspect(engine)
    dialect = engine.dialect.name
    specs = [*SPECS.values(), *OPTIONAL_SPECS.values()]
    plans = {spec.name: _plan_table(inspector, spec, now, dialect) for spec in specs}
    customers, sales = plans[CUSTOMERS_SPEC.name], plans[SALES_SPEC.name]
    # The longest first, so the others share the remaining threads meanwhile.
    tasks: dict[str, Callable[[], dict[str, Any]]] = {}
    scans: dict[str, list[str]] = {}
    for name in (SALES_SPEC.name, CUSTOMERS_SPEC.name, *OPTIONAL_SPECS):
        plan = plans[name]
        if plan is None:
            continue
        ranges = _row_ranges(engine, plan, threads)
        if ranges is None:
            scans[name] = [name]
            tasks[name] = partial(_summary, engine, plan)
        else:
            scans[name] = [f"{name}[{i}]" for i in range(len(ranges))]
            for key, rows in zip(scans[name], ranges, strict=True):
                tasks[key] = partial(_summary, engine, plan, rows)
    if (
        customers is not None
        and sales is not None
        and "customer_id" in customers.columns
        and "customer_id" in sales.columns
    ):
        tasks["orphans"] = partial(_count_orphans, engine)
    for name, plan in plans.items():
        if plan is not None and plan.lookups:
            tasks[f"{name}:index"] = partial(_lookups, engine, plan)
        if plan is not None and plan.spec.key_scope and not plan.unique:
            tasks[f"{name}:distinct"] = partial(_count_distinct_keys, engine, plan)
    if sales is not None and sales.indexed_dates:
        tasks["dates"] = partial(_sale_dates, engine, sales.table)
    found = _run(engine, tasks, threads)
    tables: dict[str, TableProfile] = {}
    values: dict[str, dict[str, Any]] = {}
    for name, plan in plans.items():
        if plan is None:
            tables[name] = TableProfile(name=name, exists=False)
            continue
        summary = _combine([found[key] for key in scans[name]])
        values[name] = {
            **_rule_counts(engine, plan, summary),
            **found.get(f"{name}:index", {}),
            **found.get(f"{name}:distinct", {}),
        }
        tables[name] = _table_profile(plan, values[name])
    extras = {**values.get(SALES_SPEC.name, {}), **found.get("dates", {})}
    return DataProfile(
        database=engine.url.render_as_string(hide_password=True),
        profiled_at=now,
        tables=tables,
        orphan_sales=int(found.get("orphans", {}).get("orphans") or 0),
        first_sale=_as_datetime(extras.get("first_sale")),
        last_sale=_as_datetime(extras.get("last_sale")),
    )
