"""Score every active customer as of a date and replace the predictions table atomically.

The work streams chunk by chunk (customer-id ranges): aggregates are computed in the
database, features by the shared feature module, scores by the champion bundle, and rows
land in a staging table. Only when every chunk has been written does one transaction
swap the staging table in, so a failed run leaves yesterday's table as it was.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa

from customer_classifier.data.contract import CUSTOMERS_SPEC, Kind
from customer_classifier.data.database import iter_chunks, write_frame
from customer_classifier.features.aggregates import iter_aggregates
from customer_classifier.features.build import build_features
from customer_classifier.registry.bundle import ModelBundle

log = logging.getLogger(__name__)
PREDICTION_KINDS: dict[str, Kind] = {
    "customer_id": "int",
    "label": "str",
    "score": "float",
    "model_version": "str",
    "scored_at": "datetime",
}


@dataclass(frozen=True)
class ScoringSummary:
    table: str
    as_of: dt.date
    model_version: str
    customers_in_database: int
    rows_written: int
    good: int
    seconds: float


def customer_ids(engine: sa.Engine) -> list[int]:
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT customer_id FROM customers ORDER BY customer_id")
        return [int(r[0]) for r in rows]


def read_customers(engine: sa.Engine, lo: int, hi: int) -> pd.DataFrame:
    columns = ", ".join(CUSTOMERS_SPEC.names)
    query = sa.text(f"SELECT {columns} FROM customers WHERE customer_id BETWEEN :lo AND :hi")
    with engine.connect() as conn:
        result = conn.execute(query, {"lo": lo, "hi": hi})
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def predictions_frame(
    features: pd.DataFrame, bundle: ModelBundle, version: str, scored_at: dt.datetime
) -> pd.DataFrame:
    scores = bundle.score(features) if len(features) else np.empty(0)
    return pd.DataFrame(
        {
            "customer_id": features.index.to_numpy(dtype="int64"),
            "label": bundle.label(pd.Series(scores, dtype=float).to_numpy()),
            "score": pd.Series(scores, dtype=float).to_numpy(),
            "model_version": version,
            "scored_at": pd.Timestamp(scored_at),
        }
    )


def swap_in(engine: sa.Engine, staging: str, table: str) -> None:
    """Replace ``table`` by ``staging`` in one transaction (readers see old or new, never none)."""
    if engine.dialect.name == "sqlite":
        # pysqlite does not open a transaction before DDL by itself: do it explicitly.
        raw = engine.raw_connection()
        try:
            dbapi = raw.driver_connection
            assert dbapi is not None
            previous = dbapi.isolation_level
            dbapi.isolation_level = None
            try:
                dbapi.execute("BEGIN IMMEDIATE")
                dbapi.execute(f"DROP TABLE IF EXISTS {table}")
                dbapi.execute(f"ALTER TABLE {staging} RENAME TO {table}")
                dbapi.execute("COMMIT")
            except Exception:
                dbapi.execute("ROLLBACK")
                raise
            finally:
                dbapi.isolation_level = previous
        finally:
            raw.close()
        return
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
        conn.exec_driver_sql(f"ALTER TABLE {staging} RENAME TO {table}")


def score_customers(
    engine: sa.Engine,
    bundle: ModelBundle,
    version: str,
    as_of: dt.date,
    *,
    table: str,
    active_window_days: int,
    chunk_customers: int,
    threads: int = 1,
    progress: Callable[[int, int], None] | None = None,
    now: dt.datetime | None = None,
) -> ScoringSummary:
    started = time.perf_counter()
    scored_at = now or dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    ids = customer_ids(engine)
    bounds = list(iter_chunks(ids, chunk_customers))
    staging = f"{table}__staging"
    write_frame(
        engine,
        staging,
        predictions_frame(pd.DataFrame(), bundle, version, scored_at).iloc[0:0],
        kinds=PREDICTION_KINDS,
    )
    written = good = 0
    chunks = iter_aggregates(
        engine, as_of, bounds, active_window_days=active_window_days, threads=threads
    )
    for done, ((lo, hi), aggregates) in enumerate(zip(bounds, chunks, strict=True), start=1):
        features = build_features(
            read_customers(engine, lo, hi), aggregates, as_of, active_window_days
        )
        rows = predictions_frame(features, bundle, version, scored_at)
        write_frame(engine, staging, rows, replace=False, kinds=PREDICTION_KINDS)
        written += len(rows)
        good += int((rows["label"] == "good").sum())
        if progress:
            progress(done, len(bounds))
    swap_in(engine, staging, table)
    return ScoringSummary(
        table=table,
        as_of=as_of,
        model_version=version,
        customers_in_database=len(ids),
        rows_written=written,
        good=good,
        seconds=time.perf_counter() - started,
    )
