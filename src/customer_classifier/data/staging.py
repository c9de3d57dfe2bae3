"""The database side of sharded scoring: tile cut points, the shard ledger, staging tables.

The ledger (``<table>__shards``) holds one row per planned shard of a night: its range,
the night's as-of date, model version and timestamp (fixed once, at planning, so that
every shard scores the same night the same way) and, once the shard has finished, what
it wrote. It lives in the database because it must outlive the tasks: a shard re-run
alone the next morning reads its range from it, and the publishing step judges the
night from it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

PLANNED = "planned"
DONE = "done"
PUBLISHED = "published"


def tile_firsts(engine: sa.Engine, count: int) -> list[int]:
    """The first customer id of each of ``count`` equal tiles of the sorted ids.

    ``ntile`` runs in the database (PostgreSQL, SQLite 3.25+), over the customer-id
    index where there is one: only ``count`` numbers come back, whatever the table's size.
    """
    sql = (
        "SELECT MIN(customer_id) FROM (SELECT customer_id, ntile(:n) OVER "
        "(ORDER BY customer_id) AS tile FROM customers) AS tiles GROUP BY tile ORDER BY tile"
    )
    with engine.connect() as conn:
        return [int(row[0]) for row in conn.execute(sa.text(sql), {"n": int(count)})]


def ledger_schema(name: str) -> sa.Table:
    return sa.Table(
        name,
        sa.MetaData(),
        sa.Column("run_id", sa.String(200), nullable=False),
        sa.Column("shard_index", sa.Integer, nullable=False),
        sa.Column("shard_count", sa.Integer, nullable=False),
        sa.Column("lo", sa.BigInteger),
        sa.Column("hi", sa.BigInteger),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("model_version", sa.String(200), nullable=False),
        sa.Column("scored_at", sa.DateTime, nullable=False),
        sa.Column("staging", sa.String(63), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("rows_written", sa.BigInteger),
        sa.Column("good", sa.BigInteger),
        sa.Column("active", sa.BigInteger),
        sa.Column("invalid", sa.BigInteger),
        sa.Column("skipped", sa.BigInteger),
        sa.Column("seconds", sa.Float),
        sa.Column("finished_at", sa.DateTime),
        sa.PrimaryKeyConstraint("run_id", "shard_index", name=f"pk_{name}"),
    )


def drop_tables(conn: sa.Connection, names: Iterable[str]) -> None:
    for name in names:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")


def write_plan(
    engine: sa.Engine, ledger: str, run_id: str, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Record the night's shards as planned, replacing an earlier plan of the same run
    (whose staging tables are dropped): planning again starts the night over."""
    table = ledger_schema(ledger)
    with engine.begin() as conn:
        table.create(conn, checkfirst=True)
        earlier = conn.execute(sa.select(table.c.staging).where(table.c.run_id == run_id))
        drop_tables(conn, [row[0] for row in earlier])
        conn.execute(table.delete().where(table.c.run_id == run_id))
        conn.execute(table.insert(), [{**row, "run_id": run_id, "status": PLANNED} for row in rows])


def read_plan(engine: sa.Engine, ledger: str, run_id: str) -> list[dict[str, Any]]:
    """The ledger rows of ``run_id`` in shard order; empty when the run was never planned."""
    table = ledger_schema(ledger)
    if not sa.inspect(engine).has_table(ledger):
        return []
    with engine.connect() as conn:
        found = conn.execute(
            sa.select(table).where(table.c.run_id == run_id).order_by(table.c.shard_index)
        )
        return [dict(row._mapping) for row in found]


def mark_done(
    engine: sa.Engine, ledger: str, run_id: str, index: int, figures: Mapping[str, Any]
) -> None:
    """Record that a shard finished and what it wrote (again, when it is re-run)."""
    table = ledger_schema(ledger)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with engine.begin() as conn:
        conn.execute(
            table.update()
            .where(table.c.run_id == run_id, table.c.shard_index == index)
            .values(status=DONE, finished_at=now, **figures)
        )


def mark_published(engine: sa.Engine, ledger: str, run_id: str) -> None:
    table = ledger_schema(ledger)
    with engine.begin() as conn:
        conn.execute(table.update().where(table.c.run_id == run_id).values(status=PUBLISHED))


def staged_rows(engine: sa.Engine, name: str) -> tuple[int, int, int | None, int | None] | None:
    """Rows, distinct ids, lowest and highest id of a staging table; None when it is absent."""
    if not sa.inspect(engine).has_table(name):
        return None
    sql = (
        "SELECT COUNT(*), COUNT(DISTINCT customer_id), MIN(customer_id), MAX(customer_id) "
        f"FROM {name}"
    )
    with engine.connect() as conn:
        rows, distinct, low, high = conn.exec_driver_sql(sql).one()
    return (
        int(rows),
        int(distinct),
        None if low is None else int(low),
        None if high is None else int(high),
    )


def count_of(engine: sa.Engine, query: sa.Select[Any]) -> int:
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def append_tables(
    engine: sa.Engine, target: str, sources: Sequence[str], columns: Sequence[str]
) -> int:
    """Copy every source table's rows into ``target``, in the order given, in one transaction;
    the rows copied."""
    names = ", ".join(columns)
    copied = 0
    with engine.begin() as conn:
        for source in sources:
            result = conn.exec_driver_sql(
                f"INSERT INTO {target} ({names}) SELECT {names} FROM {source} ORDER BY customer_id"
            )
            copied += int(result.rowcount)
    return copied


def drop_staging(engine: sa.Engine, names: Iterable[str]) -> None:
    with engine.begin() as conn:
        drop_tables(conn, names)
