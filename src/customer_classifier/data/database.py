"""The database adapter: connecting, writing the master tables, reading with bounded memory.

Everything that touches SQLAlchemy engines lives here or in modules that receive an
engine; domain code takes and returns DataFrames.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import CreateTable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import GenericFunction

from customer_classifier.data.contract import CUSTOMERS_SPEC, SPECS, Kind, sa_type
from customer_classifier.data.generate import MasterData
from customer_classifier.errors import ConfigurationError, DataSourceError

_BATCH_ROWS = 50_000


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


def connect(url: str, *, create_dir: bool = False) -> sa.Engine:
    """An engine for ``url``; a SQLite file must exist unless ``create_dir`` allows creating it."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigurationError(
            f"CC_DATABASE_URL {url!r} is not a SQLAlchemy URL; "
            "use e.g. sqlite:///var/master_data.db or postgresql+psycopg://user@host/db"
        ) from exc
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database or "")
        if create_dir:
            path.parent.mkdir(parents=True, exist_ok=True)
        elif not path.exists():
            raise DataSourceError(
                f"SQLite database {path} does not exist; create the demo one with "
                "'customer-classifier data generate' or set CC_DATABASE_URL"
            )
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in ("", "psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        engine = sa.create_engine(parsed, pool_pre_ping=True)
    except NoSuchModuleError as exc:
        raise ConfigurationError(f"no SQLAlchemy driver for {redact(url)}: {exc}") from exc
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except OperationalError as exc:
        raise DataSourceError(
            f"cannot connect to {redact(url)}: {exc.orig}; check host, credentials and network"
        ) from exc
    return engine


class _AsStored(GenericFunction[Any]):
    """A column compared as stored: ``+column`` on SQLite, the column itself elsewhere."""

    name = "as_stored"
    inherit_cache = True
    _register = False


@compiles(_AsStored)
def _as_stored_default(element: _AsStored, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(_AsStored, "sqlite")
def _as_stored_sqlite(element: _AsStored, compiler: SQLCompiler, **kw: Any) -> str:
    return f"+{compiler.process(element.clauses, **kw)}"


def as_stored(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """``column`` for comparisons that need no type conversion of the stored values.

    SQLite gives DATETIME and BOOLEAN columns numeric affinity, so comparing one with a
    bound text value first tries to turn both operands into numbers, on every row. A
    timestamp is text there: the unary ``+`` drops the affinity and compares the text as
    it is, in the same order. The planner also stops considering an index on the column
    for that term, so keep it for scans. Other databases compare the column unchanged.
    """
    return _AsStored(column, type_=column.type)


def is_shareable(engine: sa.Engine) -> bool:
    """Whether connections from several threads see the same database (not SQLite memory)."""
    if engine.dialect.name != "sqlite":
        return True
    return engine.url.database not in (None, "", ":memory:") and "mode=memory" not in str(
        engine.url
    )


def _kind_for(frame: pd.DataFrame, column: str, expected: Kind | None) -> Kind:
    """The contract kind when the frame's column fits it, else the kind its values have."""
    dtype = frame[column].dtype
    if expected in ("str",):
        return "str"
    if expected in ("date", "datetime") and (
        pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_object_dtype(dtype)
    ):
        sample = frame[column].dropna().head(1).tolist()
        if not sample or not isinstance(sample[0], str):
            return expected
    if expected == "bool" and pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if expected in ("int", "float") and pd.api.types.is_numeric_dtype(dtype):
        return expected
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    return "str"


def _python_values(series: pd.Series, kind: Kind, sqlite: bool) -> list[Any]:
    """Column values as the DBAPI wants them, with None for missing."""
    if kind == "datetime":
        values = pd.to_datetime(series)
        if sqlite:
            # The format SQLAlchemy binds datetimes in, so text comparisons order correctly.
            text = np.datetime_as_string(values.to_numpy(dtype="datetime64[us]"), unit="us")
            out: list[Any] = np.char.replace(text, "T", " ").tolist()
        else:
            # datetime.datetime objects (None for NaT), without pandas' deprecated path.
            out = values.to_numpy(dtype="datetime64[us]").astype(object).tolist()
        mask = values.isna().to_numpy()
    elif kind == "date":
        values = pd.to_datetime(series)
        out = [d.isoformat() for d in values.dt.date] if sqlite else list(values.dt.date)
        mask = values.isna().to_numpy()
    elif kind == "bool":
        out = [bool(v) for v in series.to_numpy()]
        mask = series.isna().to_numpy()
    else:
        mask = series.isna().to_numpy()
        # Without missing values, tolist() gives the Python ints, floats and strs directly.
        out = series.astype(object).where(~mask, None).tolist() if mask.any() else series.tolist()
    if mask.any():
        out = [None if m else v for v, m in zip(out, mask, strict=True)]
    return out


def write_frame(
    engine: sa.Engine,
    name: str,
    frame: pd.DataFrame,
    *,
    replace: bool = True,
    kinds: dict[str, Kind] | None = None,
) -> None:
    """Bulk-insert ``frame`` into ``name``; with ``replace``, (re)create the table first.

    Contract tables get contract types where the data fits them; others take ``kinds``.
    """
    spec = SPECS.get(name)
    contract = {c.name: c.kind for c in spec.columns} if spec else {}
    metadata = sa.MetaData()
    if kinds is None:
        kinds = {col: _kind_for(frame, col, contract.get(col)) for col in frame.columns}
    table = sa.Table(
        name,
        metadata,
        *[sa.Column(col, sa_type(kinds[col])) for col in frame.columns],
    )
    sqlite = engine.dialect.name == "sqlite"
    marker = "?" if engine.dialect.paramstyle == "qmark" else "%s"
    insert = (
        f"INSERT INTO {name} ({', '.join(frame.columns)}) "
        f"VALUES ({', '.join([marker] * len(frame.columns))})"
    )
    with engine.begin() as conn:
        if replace:
            table.drop(conn, checkfirst=True)
            table.create(conn)
        for start in range(0, len(frame), _BATCH_ROWS * 4):
            part = frame.iloc[start : start + _BATCH_ROWS * 4]
            columns = [_python_values(part[c], kinds[c], sqlite) for c in part.columns]
            rows = list(zip(*columns, strict=True))
            for i in range(0, len(rows), _BATCH_ROWS):
                conn.exec_driver_sql(insert, rows[i : i + _BATCH_ROWS])


_SALES_HISTORY = ("customer_id", "sold_at", "returned", "amount", "quantity", "product_category")
"""Columns of the index that serves the per-customer aggregates from the index alone."""


def _unique(frame: pd.DataFrame, column: str) -> bool:
    return column in frame.columns and not frame[column].duplicated().any()


def write_master_data(engine: sa.Engine, data: MasterData) -> None:
    """Write both tables and the indexes a real master database would have.

    Keys get unique indexes where the data allows (profiling then skips counting
    duplicates); Sales get an index by time (newest sale, future sales) and one by
    customer and time that also holds the columns the aggregates read, so a customer's
    history is read in order from the index without visiting the table.
    """
    write_frame(engine, "customers", data.customers)
    write_frame(engine, "sales", data.sales)
    sales = set(data.sales.columns)
    statements = []
    if _unique(data.customers, "customer_id"):
        statements.append(
            "CREATE UNIQUE INDEX IF NOT EXISTS ix_customers_id ON customers (customer_id)"
        )
    if _unique(data.sales, "sale_id"):
        statements.append("CREATE UNIQUE INDEX IF NOT EXISTS ix_sales_id ON sales (sale_id)")
    if set(_SALES_HISTORY) <= sales:
        statements.append(
            f"CREATE INDEX IF NOT EXISTS ix_sales_customer ON sales ({', '.join(_SALES_HISTORY)})"
        )
    elif {"customer_id", "sold_at"} <= sales:
        statements.append(
            "CREATE INDEX IF NOT EXISTS ix_sales_customer ON sales (customer_id, sold_at)"
        )
    if "sold_at" in sales:
        statements.append("CREATE INDEX IF NOT EXISTS ix_sales_sold_at ON sales (sold_at)")
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)


def table_names(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def iter_chunks(values: Sequence[int], size: int) -> Iterator[tuple[int, int]]:
    """Inclusive (low, high) bounds that split sorted ``values`` into chunks of ``size``."""
    for start in range(0, len(values), size):
        part = values[start : start + size]
        yield int(part[0]), int(part[-1])


def customer_ids(engine: sa.Engine, id_range: tuple[int, int] | None = None) -> list[int]:
    """Every customer id (of ``id_range``, inclusive), sorted: the basis of the chunk bounds."""
    sql = "SELECT customer_id FROM customers ORDER BY customer_id"
    params: tuple[int, ...] = ()
    if id_range is not None:
        marker = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        sql = (
            f"SELECT customer_id FROM customers WHERE customer_id BETWEEN {marker} AND {marker} "
            "ORDER BY customer_id"
        )
        params = (int(id_range[0]), int(id_range[1]))
    with engine.connect() as conn:
        result = conn.exec_driver_sql(sql, params)
        # Straight from the driver: a million ids need no per-row SQLAlchemy processing.
        return [int(row[0]) for row in result.cursor.fetchall()]


def read_customers(engine: sa.Engine, lo: int | None = None, hi: int | None = None) -> pd.DataFrame:
    """The contract columns of the customers with ids in ``[lo, hi]`` (all without bounds)."""
    columns = ", ".join(CUSTOMERS_SPEC.names)
    query = f"SELECT {columns} FROM customers"
    params: dict[str, int] = {}
    if lo is not None and hi is not None:
        query += " WHERE customer_id BETWEEN :lo AND :hi"
        params = {"lo": int(lo), "hi": int(hi)}  # numpy integers would bind as blobs
    with engine.connect() as conn:
        result = conn.execute(sa.text(query), params)
        return pd.DataFrame.from_records(result.cursor.fetchall(), columns=list(result.keys()))


# -- the predictions table and its history ---------------------------------------------------


@dataclass(frozen=True)
class PredictionsWrite:
    """What one swap writes: the staged rows become ``table``, and a night of history."""

    staging: str
    table: str
    history: str
    columns: tuple[str, ...]
    as_of: dt.date
    model_version: str
    run_id: str
    retain_from: dt.date
    """History rows with an older as-of date are deleted."""


@dataclass(frozen=True)
class PublishResult:
    history_rows: int
    history_deleted: int
    """Rows of the same night and version replaced, plus rows past retention."""


def history_schema(name: str) -> sa.Table:
    """The append-only prediction history: one row per customer, as-of date and version.

    Its key leads with the night: a night's rows go to the end of the key's index (a new
    as-of date sorts last) rather than into every page of it, and the night is what
    backtesting reads. On SQLite the rows live in the key's b-tree itself (WITHOUT ROWID),
    so each row is written once, not once in the table and again in an index.
    """
    return sa.Table(
        name,
        sa.MetaData(),
        sa.Column("customer_id", sa.BigInteger, nullable=False),
        sa.Column("as_of_date", sa.Date, nullable=False),
        sa.Column("score", sa.Float),
        sa.Column("label", sa.String),
        sa.Column("model_version", sa.String, nullable=False),
        sa.Column("scored_at", sa.DateTime),
        sa.Column("run_id", sa.String),
        sa.PrimaryKeyConstraint("as_of_date", "model_version", "customer_id", name=f"pk_{name}"),
        sqlite_with_rowid=False,
    )


def count_rows(engine: sa.Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql(f"SELECT COUNT(*) FROM {table}").scalar_one())


def _history_statements(
    dialect: sa.Dialect, write: PredictionsWrite, marker: str
) -> list[tuple[str, tuple[Any, ...]]]:
    """Create the history if needed, replace this night's rows of this version, apply the
    retention, all as plain statements with positional parameters."""
    history = history_schema(write.history)
    sqlite = dialect.name == "sqlite"

    def day(value: dt.date) -> Any:
        return value.isoformat() if sqlite else value  # SQLite keeps dates as ISO text

    names = ", ".join(c.name for c in history.columns)
    return [
        (str(CreateTable(history, if_not_exists=True).compile(dialect=dialect)), ()),
        (
            f"DELETE FROM {write.history} WHERE as_of_date = {marker} AND model_version = {marker}",
            (day(write.as_of), write.model_version),
        ),
        (f"DELETE FROM {write.history} WHERE as_of_date < {marker}", (day(write.retain_from),)),
        (
            f"INSERT INTO {write.history} ({names}) SELECT customer_id, {marker}, score, label, "
            f"model_version, scored_at, {marker} FROM {write.table}",
            (day(write.as_of), write.run_id),
        ),
    ]


def publish_predictions(engine: sa.Engine, write: PredictionsWrite) -> PublishResult:
    """Swap the staged rows in and record them in the history, in one transaction.

    Readers see yesterday's table and history or today's, never a mix; any failure rolls
    both back. On SQLite the staging table is renamed over the table (SQLite has no
    privileges to keep; views over the table keep working). Elsewhere an existing table
    is emptied and refilled from staging instead (TRUNCATE on PostgreSQL): the table stays
    the same object, so its grants, indexes, comments and the views over it survive the
    nightly swap. A table whose columns differ from the staged ones (the reason columns
    switched on or off) is replaced by the staging table instead: its layout changed, and
    with it whatever was granted on the old one.
    """
    marker = "?" if engine.dialect.paramstyle == "qmark" else "%s"
    if engine.dialect.name == "sqlite":
        swap = [
            # Without the legacy rename, SQLite refuses to rename while a view names the
            # dropped table ("error in view ...: no such table"); with it, such views
            # simply read the new table.
            ("PRAGMA legacy_alter_table = ON", ()),
            (f"DROP TABLE IF EXISTS {write.table}", ()),
            (f"ALTER TABLE {write.staging} RENAME TO {write.table}", ()),
        ]
        return _run_sqlite(engine, [*swap, *_history_statements(engine.dialect, write, marker)])
    with engine.begin() as conn:
        inspector = sa.inspect(conn)
        if inspector.has_table(write.table) and _same_columns(inspector, write):
            columns = ", ".join(write.columns)
            empty = "TRUNCATE TABLE" if engine.dialect.name == "postgresql" else "DELETE FROM"
            conn.exec_driver_sql(f"{empty} {write.table}")
            conn.exec_driver_sql(
                f"INSERT INTO {write.table} ({columns}) SELECT {columns} FROM {write.staging}"
            )
            conn.exec_driver_sql(f"DROP TABLE {write.staging}")
        else:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {write.table}")
            conn.exec_driver_sql(f"ALTER TABLE {write.staging} RENAME TO {write.table}")
        counts = [
            conn.exec_driver_sql(sql, params).rowcount
            if params
            else conn.exec_driver_sql(sql).rowcount
            for sql, params in _history_statements(engine.dialect, write, marker)
        ]
    return PublishResult(history_rows=counts[-1], history_deleted=counts[-3] + counts[-2])


def _same_columns(inspector: sa.Inspector, write: PredictionsWrite) -> bool:
    found = {c["name"] for c in inspector.get_columns(write.table)}
    return found == set(write.columns)


def _run_sqlite(engine: sa.Engine, statements: list[tuple[str, tuple[Any, ...]]]) -> PublishResult:
    """``statements`` in one SQLite transaction, DDL included.

    pysqlite opens no transaction before DDL by itself, so the connection is switched to
    autocommit and the transaction is begun and ended explicitly.
    """
    raw = engine.raw_connection()
    try:
        dbapi = raw.driver_connection
        assert dbapi is not None
        previous = dbapi.isolation_level
        dbapi.isolation_level = None
        try:
            dbapi.execute("BEGIN IMMEDIATE")
            counts = [dbapi.execute(sql, params).rowcount for sql, params in statements]
            dbapi.execute("COMMIT")
        except BaseException:
            if dbapi.in_transaction:
                dbapi.execute("ROLLBACK")
            raise
        finally:
            dbapi.execute("PRAGMA legacy_alter_table = OFF")  # SQLite's default
            dbapi.isolation_level = previous
    finally:
        raw.close()
    return PublishResult(history_rows=counts[-1], history_deleted=counts[-3] + counts[-2])
