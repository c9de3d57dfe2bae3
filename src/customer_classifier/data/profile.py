"""A profile of the source tables, computed in the database (one scan per table).

Verification judges the profile; it never needs the rows themselves, so profiling a
table of ten million sales costs one aggregate query, not a download.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, Field

from customer_classifier.data.contract import (
    CUSTOMERS_SPEC,
    SALES_SPEC,
    SPECS,
    Kind,
    TableSpec,
    kind_of,
)


class ColumnProfile(BaseModel):
    name: str
    found_kind: Kind | None
    sql_type: str
    nulls: int = 0
    below_minimum: int = 0
    above_maximum: int = 0
    not_allowed: int = 0


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
    future_sales: int = 0
    first_sale: dt.datetime | None = None
    last_sale: dt.datetime | None = None


def _sum_if(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def _as_datetime(value: object) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value))


def _key_is_unique(inspector: sa.Inspector, table: str, key: str) -> bool:
    pk = inspector.get_pk_constraint(table).get("constrained_columns") or []
    if pk == [key]:
        return True
    for index in inspector.get_indexes(table):
        if index.get("unique") and index.get("column_names") == [key]:
            return True
    return any(u.get("column_names") == [key] for u in inspector.get_unique_constraints(table))


def _profile_table(
    engine: sa.Engine, inspector: sa.Inspector, spec: TableSpec, now: dt.datetime
) -> tuple[TableProfile, dict[str, Any]]:
    if spec.name not in inspector.get_table_names():
        return TableProfile(name=spec.name, exists=False), {}
    reflected = {c["name"]: c["type"] for c in inspector.get_columns(spec.name)}
    table = sa.Table(spec.name, sa.MetaData(), *[sa.Column(n, t) for n, t in reflected.items()])
    columns: dict[str, ColumnProfile] = {}
    exprs: dict[str, sa.ColumnElement[Any]] = {"rows": sa.func.count()}
    for col in spec.columns:
        if col.name not in reflected:
            continue
        found = kind_of(reflected[col.name])
        columns[col.name] = ColumnProfile(
            name=col.name, found_kind=found, sql_type=str(reflected[col.name])
        )
        if found is None or (
            found != col.kind
            and {found, col.kind} != {"int", "float"}
            and {found, col.kind} != {"int", "bool"}
        ):
            continue  # wrong type: values are not comparable with the contract's ranges
        c = table.c[col.name]
        exprs[f"{col.name}:nulls"] = _sum_if(c.is_(None))
        if col.minimum is not None:
            exprs[f"{col.name}:below_minimum"] = _sum_if(c < col.minimum)
        if col.maximum is not None:
            exprs[f"{col.name}:above_maximum"] = _sum_if(c > col.maximum)
        if col.allowed is not None:
            exprs[f"{col.name}:not_allowed"] = _sum_if(c.is_not(None) & c.not_in(col.allowed))
    extras: dict[str, Any] = {}
    unique = spec.key in reflected and _key_is_unique(inspector, spec.name, spec.key)
    if spec.key in columns and not unique:
        exprs["distinct_keys"] = sa.func.count(sa.distinct(table.c[spec.key]))
    if spec is SALES_SPEC and "sold_at" in columns and columns["sold_at"].found_kind == "datetime":
        exprs["future"] = _sum_if(table.c.sold_at > now)
        exprs["first_sale"] = sa.func.min(table.c.sold_at)
        exprs["last_sale"] = sa.func.max(table.c.sold_at)
    with engine.connect() as conn:
        row = (
            conn.execute(
                sa.select(*[e.label(k.replace(":", "__")) for k, e in exprs.items()]).select_from(
                    table
                )
            )
            .one()
            ._mapping
        )
    values = {k: row[k.replace(":", "__")] for k in exprs}
    for key, value in values.items():
        if ":" in key:
            name, field = key.split(":")
            setattr(columns[name], field, int(value or 0))
    rows = int(values["rows"])
    duplicates = rows - int(values["distinct_keys"]) if "distinct_keys" in values else 0
    for key in ("future", "first_sale", "last_sale"):
        if key in values:
            extras[key] = values[key]
    profile = TableProfile(
        name=spec.name,
        exists=True,
        rows=rows,
        columns=columns,
        duplicate_keys=duplicates,
        key_enforced_unique=unique,
    )
    return profile, extras


def _count_orphans(engine: sa.Engine) -> int:
    query = sa.text(
        "SELECT COUNT(*) FROM sales s WHERE NOT EXISTS "
        "(SELECT 1 FROM customers c WHERE c.customer_id = s.customer_id)"
    )
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def profile_database(engine: sa.Engine, now: dt.datetime | None = None) -> DataProfile:
    """Profile Customers and Sales against the contract, in the database."""
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    inspector = sa.inspect(engine)
    tables: dict[str, TableProfile] = {}
    extras: dict[str, Any] = {}
    for spec in SPECS.values():
        tables[spec.name], found = _profile_table(engine, inspector, spec, now)
        extras.update(found)
    customers, sales = tables[CUSTOMERS_SPEC.name], tables[SALES_SPEC.name]
    orphans = 0
    if (
        customers.exists
        and sales.exists
        and "customer_id" in customers.columns
        and "customer_id" in sales.columns
    ):
        orphans = _count_orphans(engine)
    return DataProfile(
        database=engine.url.render_as_string(hide_password=True),
        profiled_at=now,
        tables=tables,
        orphan_sales=orphans,
        future_sales=int(extras.get("future") or 0),
        first_sale=_as_datetime(extras.get("first_sale")),
        last_sale=_as_datetime(extras.get("last_sale")),
    )
