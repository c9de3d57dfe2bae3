"""Score every active customer as of a date and replace the predictions table atomically.

The work streams chunk by chunk (customer-id ranges): aggregates are computed in the
database (only for customers with a sale in the active window, the ones scored), features
by the shared feature module, scores by the champion bundle, and rows land in a staging
table. Only when every chunk has been written does one transaction swap the staging
table in, so a failed run leaves yesterday's table as it was.

On SQLite the staging rows are written after the last chunk has been read: a SQLite
file has one writer, whose commit waits for every reader, and aggregate queries run on
other threads meanwhile. Until then each chunk keeps only its ids and scores (16 bytes
per scored customer). Other databases get each chunk's rows as soon as it is scored.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from customer_classifier.data.contract import CUSTOMERS_SPEC, Kind, sa_table
from customer_classifier.data.database import customer_ids, write_frame
from customer_classifier.features.aggregates import (
    AGGREGATE_COLUMNS,
    FETCH_ROWS,
    TIMESTAMP_COLUMNS,
    aggregate_query,
    iter_frames,
)
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


def _chunk_bounds(engine: sa.Engine, size: int) -> tuple[list[tuple[int, int]], int]:
    """:func:`iter_chunks` bounds over the sorted customer ids, and how many ids there are."""
    ids = np.asarray(customer_ids(engine), dtype=np.int64)
    if not len(ids):
        return [], 0
    lows, highs = ids[::size], ids[size - 1 :: size]
    if len(highs) < len(lows):
        highs = np.append(highs, ids[-1])
    return list(zip(lows.tolist(), highs.tolist(), strict=True)), len(ids)


def scoring_query(as_of: dt.date, active_window_days: int) -> sa.Select[Any]:
    """The customers of an id range (``lo``, ``hi``) with a sale in the active window: their
    attributes and their aggregates, in one query (the others are never read)."""
    aggregates = aggregate_query(as_of, active_window_days, active_only=True).subquery("a")
    customers = sa_table(CUSTOMERS_SPEC, sa.MetaData())
    return sa.select(
        *[customers.c[name] for name in CUSTOMERS_SPEC.names],
        *[aggregates.c[name] for name in (*AGGREGATE_COLUMNS, *TIMESTAMP_COLUMNS)],
    ).join_from(aggregates, customers, customers.c.customer_id == aggregates.c.customer_id)


def _fetch_scoring_chunk(
    engine: sa.Engine, query: sa.Select[Any], lo: int, hi: int
) -> pd.DataFrame:
    """A chunk of :func:`scoring_query` as a frame, typed the way the feature builder reads
    it: aggregates as float64, timestamps parsed, customer attributes as the driver gives
    them. Rows become one object array per batch, and each numeric column one cast:
    cheaper than inferring each column's type value by value."""
    with engine.connect() as conn:
        result = conn.execute(query, {"lo": lo, "hi": hi})
        names = list(result.keys())
        batches = []
        while batch := result.cursor.fetchmany(FETCH_ROWS):
            batches.append(np.array(batch, dtype=object).reshape(len(batch), len(names)))
    data = np.concatenate(batches) if batches else np.empty((0, len(names)), dtype=object)
    frame = pd.DataFrame({name: data[:, i] for i, name in enumerate(names)})
    frame["customer_id"] = frame["customer_id"].astype("int64")
    for name in AGGREGATE_COLUMNS:
        frame[name] = frame[name].astype("float64")
    for name in TIMESTAMP_COLUMNS:
        frame[name] = pd.to_datetime(frame[name], format="ISO8601")
    return frame


def _prediction_rows(
    ids: np.ndarray, scores: np.ndarray, bundle: ModelBundle, version: str, scored_at: dt.datetime
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ids,
            "label": bundle.label(scores),
            "score": scores,
            "model_version": version,
            "scored_at": pd.Timestamp(scored_at),
        }
    )


def predictions_frame(
    features: pd.DataFrame, bundle: ModelBundle, version: str, scored_at: dt.datetime
) -> pd.DataFrame:
    scores = bundle.score(features) if len(features) else np.empty(0)
    return _prediction_rows(
        features.index.to_numpy(dtype="int64"),
        pd.Series(scores, dtype=float).to_numpy(),
        bundle,
        version,
        scored_at,
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
    bounds, customers_in_database = _chunk_bounds(engine, chunk_customers)
    staging = f"{table}__staging"
    write_frame(
        engine,
        staging,
        predictions_frame(pd.DataFrame(), bundle, version, scored_at).iloc[0:0],
        kinds=PREDICTION_KINDS,
    )
    defer = engine.dialect.name == "sqlite"
    deferred: list[tuple[np.ndarray, np.ndarray]] = []
    written = good = 0
    query = scoring_query(as_of, active_window_days)
    chunks = iter_frames(engine, query, bounds, threads=threads, fetch=_fetch_scoring_chunk)
    aggregate_names = ["customer_id", *AGGREGATE_COLUMNS, *TIMESTAMP_COLUMNS]
    for done, chunk in enumerate(chunks, start=1):
        if len(chunk):
            customers = chunk[list(CUSTOMERS_SPEC.names)]
            features = build_features(customers, chunk[aggregate_names], as_of, active_window_days)
            rows = predictions_frame(features, bundle, version, scored_at)
            if defer:
                deferred.append((rows["customer_id"].to_numpy(), rows["score"].to_numpy()))
            else:
                write_frame(engine, staging, rows, replace=False, kinds=PREDICTION_KINDS)
            written += len(rows)
            good += int((rows["label"] == "good").sum())
        if progress:
            progress(done, len(bounds))
    for ids_part, scores in deferred:
        rows = _prediction_rows(ids_part, scores, bundle, version, scored_at)
        write_frame(engine, staging, rows, replace=False, kinds=PREDICTION_KINDS)
    swap_in(engine, staging, table)
    return ScoringSummary(
        table=table,
        as_of=as_of,
        model_version=version,
        customers_in_database=customers_in_database,
        rows_written=written,
        good=good,
        seconds=time.perf_counter() - started,
    )
