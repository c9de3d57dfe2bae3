"""Sharded nightly scoring: plan the night, score one shard, publish the night.

The three steps of the scoring pipeline's fan-out (see ``scoring.shards``). Planning
fixes what every shard must agree on (as-of date, model version, timestamp, the id
ranges) in the database's shard ledger; each shard scores its range into a staging
table of its own and reports there; publishing checks that the shards cover the night
and swaps it in with the same transaction as unsharded scoring. A shard can be run
again alone, from the ledger, as often as needed: it replaces its own staging table.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from customer_classifier.data import staging as ledger
from customer_classifier.data.database import (
    connect,
    count_rows,
    publish_predictions,
    write_frame,
)
from customer_classifier.errors import (
    ConfigurationError,
    CustomerClassifierError,
    RegistryError,
    ShardError,
)
from customer_classifier.features.aggregates import active_customers_query
from customer_classifier.jobs.ingest import as_of_date
from customer_classifier.registry import CHAMPION, open_store
from customer_classifier.scoring import batch
from customer_classifier.scoring.batch import (
    PREDICTION_KINDS,
    REASON_KINDS,
    ScoringSummary,
    night_write,
)
from customer_classifier.scoring.checks import count_problem
from customer_classifier.scoring.shards import (
    Shard,
    ShardResult,
    StagedRows,
    coverage_problems,
    plan_ranges,
)
from customer_classifier.scoring.tables import (
    shard_ledger_table,
    shard_staging_table,
    staging_table,
)
from customer_classifier.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NightPlan:
    run_id: str
    as_of: dt.date
    model_version: str
    scored_at: dt.datetime
    shards: tuple[Shard, ...]


@dataclass(frozen=True)
class PublishedNight:
    table: str
    run_id: str
    as_of: dt.date
    model_version: str
    shards: int
    rows_written: int
    good: int
    active_customers: int
    history_rows: int
    history_deleted: int
    seconds: float


def plan_night(
    settings: Settings, shards: int, version: str | None = None, run_id: str | None = None
) -> NightPlan:
    """Split the customers into ``shards`` ranges and record the night in the ledger.

    The model version is resolved here, once (the champion alias may move while shards
    run); ``run_id`` defaults to ``CC_RUN__PIPELINE_RUN_ID``, else a fresh id.
    """
    if shards < 1:
        raise ConfigurationError(
            f"shards {shards} is not a number of shards: pass 1 (one task) or more"
        )
    engine = connect(settings.database_url)
    store = open_store(settings.store_uri, settings.s3)
    version = version or store.get_alias(CHAMPION)
    if version is None:
        raise RegistryError(f"no champion in {store.uri}; run training first ('make run')")
    store.get(version)  # a version that does not exist stops the night here, not in N shards
    as_of = as_of_date(settings, engine)
    scored_at = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    run_id = run_id or settings.run.pipeline_run_id
    run_id = run_id or f"{scored_at:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    plan = tuple(plan_ranges(ledger.tile_firsts(engine, shards), shards))
    table = settings.predictions_table
    ledger.write_plan(
        engine,
        shard_ledger_table(table),
        run_id,
        [
            {
                "shard_index": s.index,
                "shard_count": s.count,
                "lo": s.lo,
                "hi": s.hi,
                "as_of": as_of,
                "model_version": version,
                "scored_at": scored_at,
                "staging": shard_staging_table(table, run_id, s.index),
            }
            for s in plan
        ],
    )
    engine.dispose()
    log.info("planned %d shard(s) of run %s: %s", len(plan), run_id, [s.describe() for s in plan])
    return NightPlan(run_id, as_of, version, scored_at, plan)


def _shard(row: dict[str, object]) -> Shard:
    def whole(value: object) -> int | None:
        return None if value is None else int(str(value))

    return Shard(
        index=int(str(row["shard_index"])),
        count=int(str(row["shard_count"])),
        lo=whole(row["lo"]),
        hi=whole(row["hi"]),
    )


def _night(engine: sa.Engine, table: str, run_id: str) -> list[dict[str, object]]:
    rows = ledger.read_plan(engine, shard_ledger_table(table), run_id)
    if not rows:
        raise ConfigurationError(
            f"run {run_id!r} has no plan in {shard_ledger_table(table)}: plan the night first "
            "(the scoring pipeline's first step), or pass the run id the plan printed"
        )
    return rows


def score_shard(settings: Settings, run_id: str, index: int) -> ScoringSummary:
    """Score shard ``index`` of the planned night ``run_id`` into its staging table."""
    engine = connect(settings.database_url)
    table = settings.predictions_table
    rows = _night(engine, table, run_id)
    found = [r for r in rows if r["shard_index"] == index]
    if not found:
        raise ConfigurationError(
            f"run {run_id!r} has shards 0 to {len(rows) - 1}, not {index}: pass one of them"
        )
    row = found[0]
    shard = _shard(row)
    version = str(row["model_version"])
    as_of = row["as_of"]
    scored_at = row["scored_at"]
    assert isinstance(as_of, dt.date)
    assert isinstance(scored_at, dt.datetime)
    store = open_store(settings.store_uri, settings.s3)
    context = (
        f"{shard.describe()} of run {run_id} failed; nothing was published and {table} "
        "stands as it was; re-run this shard once the cause is fixed"
    )
    try:
        summary = batch.score_customers(
            engine,
            store.load(version),
            version,
            as_of,
            table=table,
            active_window_days=settings.active_window_days,
            chunk_customers=settings.chunk_customers,
            threads=settings.scoring_threads,
            now=scored_at,
            invalid_records=settings.invalid_records,
            max_invalid_fraction=settings.max_invalid_fraction,
            run_id=run_id,
            id_range=shard.bounds,
            staging=str(row["staging"]),
            publish=False,
            reasons=settings.explain.reasons,
        )
    except CustomerClassifierError as exc:
        raise ShardError(f"{context}: {exc}") from exc
    except Exception as exc:
        exc.add_note(context)  # a bug keeps its traceback, with the range beside it
        raise
    ledger.mark_done(
        engine,
        shard_ledger_table(table),
        run_id,
        index,
        {
            "rows_written": summary.rows_written,
            "good": summary.good,
            "active": summary.active_customers,
            "invalid": summary.invalid_records,
            "skipped": summary.skipped_records,
            "seconds": summary.seconds,
        },
    )
    engine.dispose()
    return summary


def publish_night(settings: Settings, run_id: str) -> PublishedNight:
    """Check that the finished shards cover every active customer once, then swap the
    night into the predictions table and its history in one transaction."""
    started = time.perf_counter()
    engine = connect(settings.database_url)
    table = settings.predictions_table
    rows = _night(engine, table, run_id)
    if all(r["status"] == ledger.PUBLISHED for r in rows):
        raise ShardError(f"run {run_id} was published already; plan a new night to score again")
    plan = [_shard(r) for r in rows]
    first = rows[0]
    as_of, version = first["as_of"], str(first["model_version"])
    assert isinstance(as_of, dt.date)
    finished, staged = {}, {}
    for row, shard in zip(rows, plan, strict=True):
        if row["status"] != ledger.DONE:
            continue
        finished[shard.index] = ShardResult(
            shard, int(str(row["rows_written"])), int(str(row["active"]))
        )
        counted = ledger.staged_rows(engine, str(row["staging"]))
        if counted is not None:
            staged[shard.index] = StagedRows(*counted)
    active = ledger.count_of(engine, active_customers_query(as_of, settings.active_window_days))
    problems = coverage_problems(plan, finished, staged, active)
    if {str(r["model_version"]) for r in rows} != {version} or len({r["as_of"] for r in rows}) != 1:
        problems.append("the shards scored different nights or versions: plan the night again")
    if problems:
        raise ShardError(
            f"run {run_id} was not published; {table} stands as it was: " + "; ".join(problems)
        )
    combined = staging_table(table)
    written = sum(r.rows for r in finished.values())
    # The shards wrote the night's columns: the predictions, and the reasons when asked for.
    kinds = REASON_KINDS if settings.explain.reasons else PREDICTION_KINDS
    write_frame(engine, combined, pd.DataFrame({name: [] for name in kinds}), kinds=kinds)
    shard_tables = [str(r["staging"]) for r in rows]
    ledger.append_tables(engine, combined, shard_tables, tuple(kinds))
    problem = count_problem(count_rows(engine, combined), written, combined)
    if problem:
        raise ShardError(f"run {run_id} was not published; {table} stands as it was: {problem}")
    published = publish_predictions(
        engine,
        night_write(
            combined, table, kinds, as_of, version, run_id, settings.history_retention_days
        ),
    )
    ledger.drop_staging(engine, shard_tables)
    ledger.mark_published(engine, shard_ledger_table(table), run_id)
    engine.dispose()
    return PublishedNight(
        table=table,
        run_id=run_id,
        as_of=as_of,
        model_version=version,
        shards=len(plan),
        rows_written=written,
        good=sum(int(str(r["good"])) for r in rows),
        active_customers=active,
        history_rows=published.history_rows,
        history_deleted=published.history_deleted,
        seconds=time.perf_counter() - started,
    )
