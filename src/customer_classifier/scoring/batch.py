"""Score every active customer as of a date and replace the predictions table atomically.

The work streams chunk by chunk (customer-id ranges): aggregates are computed in the
database (only for customers with a sale in the active window, the ones scored), features
by the shared feature module, scores by the champion bundle, and rows land in a staging
table. Only when every chunk has been written does one transaction swap the staging
table in and record the night in the prediction history, so a failed run leaves
yesterday's table and history as they were.

Two boundaries are checked on the way, both vectorised over each chunk. The feature
records against the model version's feature schema, with the online predictor's rules: a
record it would refuse is counted and reported, and then left out, scored anyway or made
to stop the run (``invalid_records``); too many of them always stop it. The predictions
before the swap: scores finite and from 0 to 1, labels of the contract, each customer
once, and the staging table holding exactly the rows scored.

On SQLite the staging rows are written after the last chunk has been read: a SQLite
file has one writer, whose commit waits for every reader, and aggregate queries run on
other threads meanwhile. Until then each chunk keeps only its ids and scores (16 bytes
per scored customer), and its reasons when asked for. Other databases get each chunk's
rows as soon as it is scored.

With ``reasons`` the table gains ``reason_1``..``reason_3``: per customer the features
pushing hardest towards their label (:mod:`customer_classifier.evaluation.contributions`),
null where fewer features push that way. Without it the table keeps its columns.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import sqlalchemy as sa

from customer_classifier.data.contract import CUSTOMERS_SPEC, GOOD, Kind, sa_table
from customer_classifier.data.database import (
    PredictionsWrite,
    PublishResult,
    count_rows,
    customer_ids,
    publish_predictions,
    write_frame,
)
from customer_classifier.errors import ConfigurationError, DataVerificationError, ExplanationError
from customer_classifier.evaluation.contributions import REASONS, Explainer, explainer_for
from customer_classifier.features.aggregates import (
    AGGREGATE_COLUMNS,
    FETCH_ROWS,
    TIMESTAMP_COLUMNS,
    aggregate_query,
    iter_frames,
)
from customer_classifier.features.build import FEATURE_NAMES, build_features
from customer_classifier.registry.bundle import ModelBundle
from customer_classifier.scoring.checks import check_prediction_rows, count_problem
from customer_classifier.scoring.record_checks import (
    Finding,
    check_records,
    merge_findings,
    schema_from_metadata,
)
from customer_classifier.scoring.tables import history_table, output_table_problem, staging_table

log = logging.getLogger(__name__)
PREDICTION_KINDS: dict[str, Kind] = {
    "customer_id": "int",
    "label": "str",
    "score": "float",
    "model_version": "str",
    "scored_at": "datetime",
}
REASON_COLUMNS = tuple(f"reason_{k}" for k in range(1, REASONS + 1))
REASON_KINDS: dict[str, Kind] = {**PREDICTION_KINDS, **dict.fromkeys(REASON_COLUMNS, "str")}
Reasons = Sequence[np.ndarray]
"""One object array per reason column (feature names, None where there is none)."""


@dataclass(frozen=True)
class ScoringSummary:
    table: str
    as_of: dt.date
    model_version: str
    customers_in_database: int
    rows_written: int
    good: int
    seconds: float
    active_customers: int
    """Customers active at the as-of date: scored, plus any refused and left out."""
    invalid_records: int
    """Feature records the online predictor would refuse (HTTP 400)."""
    skipped_records: int
    """Of those, the ones left out of the table (``invalid_records=skip``)."""
    invalid_findings: tuple[Finding, ...]
    history_table: str
    history_rows: int
    history_deleted: int
    """History rows of the same night and version replaced, plus rows past retention."""
    run_id: str


def _chunk_bounds(
    engine: sa.Engine, size: int, id_range: tuple[int, int] | None = None
) -> tuple[list[tuple[int, int]], int]:
    """:func:`iter_chunks` bounds over the sorted customer ids (of ``id_range``), and how
    many ids there are."""
    ids = np.asarray(customer_ids(engine, id_range), dtype=np.int64)
    if not len(ids):
        return [], 0
    lows, highs = ids[::size], ids[size - 1 :: size]
    if len(highs) < len(lows):
        highs = np.append(highs, ids[-1])
    return list(zip(lows.tolist(), highs.tolist(), strict=True)), len(ids)


def scoring_query(as_of: dt.date, active_window_days: int) -> sa.Select[Any]:
    """The customers of an id range (``lo``, ``hi``) with a sale in the active window: their
    attributes and their aggregates, in one query (the others are never read).

    The id range is stated on both tables: a planner carries equalities across a join,
    not ranges, so with the range on Sales alone PostgreSQL reads the whole Customers
    table for every chunk, and once that table is large it switches the chunk to a hash
    join over a parallel scan of it. The work per chunk then grows with the database
    rather than with the chunk.
    """
    aggregates = aggregate_query(as_of, active_window_days, active_only=True).subquery("a")
    customers = sa_table(CUSTOMERS_SPEC, sa.MetaData())
    return (
        sa.select(
            *[customers.c[name] for name in CUSTOMERS_SPEC.names],
            *[aggregates.c[name] for name in (*AGGREGATE_COLUMNS, *TIMESTAMP_COLUMNS)],
        )
        .join_from(aggregates, customers, customers.c.customer_id == aggregates.c.customer_id)
        .where(customers.c.customer_id.between(sa.bindparam("lo"), sa.bindparam("hi")))
    )


def _fetch_scoring_chunk(
    engine: sa.Engine, query: sa.Select[Any], lo: int, hi: int
) -> pd.DataFrame:
    """A chunk of :func:`scoring_query` as a frame, typed the way the feature builder reads
    it: aggregates as float64, timestamps parsed, customer attributes as the driver gives
    them. Rows become one object array per batch, and each numeric column one cast:
    cheaper than inferring each column's type value by value."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            # The same query runs once per chunk; compiling it (inlined and optimised once
            # its estimated cost passes jit_above_cost) took 0.4-2.9 s per 250k-customer
            # chunk, more than it saved on an aggregation read from the covering index.
            conn.exec_driver_sql("SET LOCAL jit = off")
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
    ids: np.ndarray,
    scores: np.ndarray,
    bundle: ModelBundle,
    version: str,
    scored_at: dt.datetime,
    reasons: Reasons | None = None,
) -> pd.DataFrame:
    rows = pd.DataFrame(
        {
            "customer_id": ids,
            "label": bundle.label(scores),
            "score": scores,
            "model_version": version,
            "scored_at": pd.Timestamp(scored_at),
        }
    )
    if reasons is not None:
        for name, values in zip(REASON_COLUMNS, reasons, strict=True):
            rows[name] = values
    return rows


def reason_columns(
    features: pd.DataFrame, scores: np.ndarray, bundle: ModelBundle, explainer: Explainer
) -> list[np.ndarray]:
    """The reason columns of scored feature records."""
    if not len(features):
        return [np.empty(0, dtype=object) for _ in REASON_COLUMNS]
    found = explainer.explain(features).reasons(scores >= bundle.threshold)
    table = np.asarray(found, dtype=object).reshape(len(features), len(REASON_COLUMNS))
    return [table[:, k] for k in range(len(REASON_COLUMNS))]


def predictions_frame(
    features: pd.DataFrame,
    bundle: ModelBundle,
    version: str,
    scored_at: dt.datetime,
    explainer: Explainer | None = None,
) -> pd.DataFrame:
    scores = pd.Series(
        bundle.score(features) if len(features) else np.empty(0), dtype=float
    ).to_numpy()
    reasons = None if explainer is None else reason_columns(features, scores, bundle, explainer)
    return _prediction_rows(
        features.index.to_numpy(dtype="int64"), scores, bundle, version, scored_at, reasons
    )


def reasons_explainer(bundle: ModelBundle, version: str) -> Explainer:
    """The explainer of the version nightly reasons come from; ConfigurationError if none."""
    try:
        return explainer_for(bundle.model, bundle.metadata)
    except ExplanationError as exc:
        raise ConfigurationError(
            f"CC_EXPLAIN__REASONS=true, but version {version} has no reasons to give: {exc}; "
            "set CC_EXPLAIN__REASONS=false, or score with a logistic-regression or tree "
            "version"
        ) from exc


InvalidRecords = Literal["skip", "block", "score"]


def _refused(
    invalid: int,
    active: int,
    findings: list[Finding],
    *,
    mode: InvalidRecords,
    max_fraction: float,
    table: str,
) -> DataVerificationError | None:
    """The error that stops the run for these refused records, or None to go on."""
    if not invalid:
        return None
    merged = merge_findings(findings)
    problems = [f.describe() for f in merged]
    share = invalid / active if active else 1.0
    head = (
        f"{invalid} of {active} active customers ({share:.2%}) have feature records that the "
        f"online predictor would refuse (HTTP 400); {table} was left as it was"
    )
    if mode == "block":
        fix = (
            "CC_INVALID_RECORDS=block stops the run on any; fix those source rows, or set "
            "CC_INVALID_RECORDS=skip to leave these customers out"
        )
    elif share > max_fraction:
        fix = (
            f"that is more than CC_MAX_INVALID_FRACTION={max_fraction:g}, a broken source rather "
            "than a few odd customers; fix the source, or raise CC_MAX_INVALID_FRACTION"
        )
    else:
        log.warning(
            "%s %d customer(s) with refused feature records: %s",
            "left out" if mode == "skip" else "scored anyway",
            invalid,
            "; ".join(problems),
        )
        return None
    return DataVerificationError(f"{head}: {'; '.join(problems)}. {fix}", problems)


def _write_checked(
    engine: sa.Engine,
    staging: str,
    rows: pd.DataFrame,
    after_id: int | None,
    table: str,
    kinds: dict[str, Kind] = PREDICTION_KINDS,
) -> int | None:
    """Check a chunk of prediction rows, then append it to staging; the chunk's last id."""
    verdict = check_prediction_rows(rows, after_id)
    if verdict.problems:
        raise DataVerificationError(
            f"predictions failed their checks before the swap; {table} was left as it was: "
            + "; ".join(verdict.problems),
            list(verdict.problems),
        )
    write_frame(engine, staging, rows, replace=False, kinds=kinds)
    return verdict.last_id


def _leave_staged(engine: sa.Engine, write: PredictionsWrite) -> PublishResult:
    """A shard's rows stay in its staging table: the night is published once, by the
    step that checks every shard (``scoring.shards``)."""
    del engine, write
    return PublishResult(history_rows=0, history_deleted=0)


def night_write(
    staging: str,
    table: str,
    kinds: Mapping[str, Kind],
    as_of: dt.date,
    version: str,
    run_id: str,
    retention_days: int,
) -> PredictionsWrite:
    """The swap of one night's staged rows into ``table`` and a night of its history, as
    unsharded scoring and the publish step of a sharded night both make it."""
    return PredictionsWrite(
        staging=staging,
        table=table,
        history=history_table(table),
        columns=tuple(kinds),
        as_of=as_of,
        model_version=version,
        run_id=run_id,
        retain_from=as_of - dt.timedelta(days=retention_days),
    )


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
    invalid_records: InvalidRecords = "skip",
    max_invalid_fraction: float = 0.01,
    history_retention_days: int = 730,
    run_id: str | None = None,
    reasons: bool = False,
    id_range: tuple[int, int] | None = None,
    staging: str | None = None,
    publish: bool = True,
) -> ScoringSummary:
    """Score, check, and publish: see the module's description and ``Settings`` for the
    policies (``invalid_records``, ``max_invalid_fraction``, ``history_retention_days``,
    ``explain.reasons``).

    A shard of a night scores only ``id_range`` (inclusive) into its own ``staging``
    table and leaves publishing (``publish=False``) to the step that checks all shards.
    """
    problem = output_table_problem(table)
    if problem:
        raise ConfigurationError(problem)
    explainer = reasons_explainer(bundle, version) if reasons else None
    kinds = REASON_KINDS if reasons else PREDICTION_KINDS
    started = time.perf_counter()
    scored_at = now or dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    run_id = run_id or f"{scored_at:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    schema, nullable = schema_from_metadata(bundle.metadata)
    bounds, customers_in_database = _chunk_bounds(engine, chunk_customers, id_range)
    staging = staging or staging_table(table)
    write_frame(
        engine,
        staging,
        predictions_frame(pd.DataFrame(), bundle, version, scored_at, explainer).iloc[0:0],
        kinds=kinds,
    )
    defer = engine.dialect.name == "sqlite"
    deferred: list[tuple[np.ndarray, np.ndarray, Reasons | None]] = []
    written = good = active = invalid = skipped = 0
    findings: list[Finding] = []
    last_id: int | None = None
    query = scoring_query(as_of, active_window_days)
    chunks = iter_frames(engine, query, bounds, threads=threads, fetch=_fetch_scoring_chunk)
    aggregate_names = ["customer_id", *AGGREGATE_COLUMNS, *TIMESTAMP_COLUMNS]
    for done, chunk in enumerate(chunks, start=1):
        if len(chunk):
            customers = chunk[list(CUSTOMERS_SPEC.names)]
            features = build_features(customers, chunk[aggregate_names], as_of, active_window_days)
            active += len(features)
            check = check_records(features, schema, nullable)
            if check.count:
                invalid += check.count
                findings.extend(check.findings)
                if invalid_records == "skip":
                    features = features.loc[~check.invalid]
                    skipped += check.count
            # Once a blocking run is certain, the rest is only checked, not scored.
            if not (invalid_records == "block" and invalid):
                rows = predictions_frame(features, bundle, version, scored_at, explainer)
                if defer:
                    kept = [rows[c].to_numpy() for c in REASON_COLUMNS] if reasons else None
                    deferred.append(
                        (rows["customer_id"].to_numpy(), rows["score"].to_numpy(), kept)
                    )
                else:
                    last_id = _write_checked(engine, staging, rows, last_id, table, kinds)
                written += len(rows)
                good += int((rows["label"] == GOOD).sum())
        if progress:
            progress(done, len(bounds))
    error = _refused(
        invalid,
        active,
        findings,
        mode=invalid_records,
        max_fraction=max_invalid_fraction,
        table=table,
    )
    if error:
        raise error
    for ids_part, scores, reason_part in deferred:
        rows = _prediction_rows(ids_part, scores, bundle, version, scored_at, reason_part)
        last_id = _write_checked(engine, staging, rows, last_id, table, kinds)
    problem = count_problem(count_rows(engine, staging), written, staging)
    if problem:
        raise DataVerificationError(
            f"predictions failed their checks before the swap; {table} was left as it was: "
            + problem,
            [problem],
        )
    published = (publish_predictions if publish else _leave_staged)(
        engine,
        night_write(staging, table, kinds, as_of, version, run_id, history_retention_days),
    )
    return ScoringSummary(
        table=table,
        as_of=as_of,
        model_version=version,
        customers_in_database=customers_in_database,
        rows_written=written,
        good=good,
        seconds=time.perf_counter() - started,
        active_customers=active,
        invalid_records=invalid,
        skipped_records=skipped,
        invalid_findings=merge_findings(findings),
        history_table=history_table(table),
        history_rows=published.history_rows,
        history_deleted=published.history_deleted,
        run_id=run_id,
    )


def iter_features(
    engine: sa.Engine,
    as_of: dt.date,
    *,
    active_window_days: int,
    chunk_customers: int,
    threads: int = 1,
) -> Iterator[tuple[int, int, pd.DataFrame]]:
    """The feature records of the customers active at ``as_of``, chunk by chunk and in
    customer-id order, built exactly as :func:`score_customers` builds them (the same
    query, fetch and feature code): what the nightly monitoring compares with the
    champion's training reference. Yields ``(chunk number, chunks, features)``."""
    bounds, _ = _chunk_bounds(engine, chunk_customers)
    query = scoring_query(as_of, active_window_days)
    chunks = iter_frames(engine, query, bounds, threads=threads, fetch=_fetch_scoring_chunk)
    aggregate_names = ["customer_id", *AGGREGATE_COLUMNS, *TIMESTAMP_COLUMNS]
    for done, chunk in enumerate(chunks, start=1):
        if not len(chunk):  # a chunk of ids none of whom is active
            yield done, len(bounds), pd.DataFrame(columns=list(FEATURE_NAMES))
            continue
        customers = chunk[list(CUSTOMERS_SPEC.names)]
        features = build_features(customers, chunk[aggregate_names], as_of, active_window_days)
        yield done, len(bounds), features
