"""The retraining decisions table: every night's decision with its evidence.

One row per decision taken (``CC_RETRAIN__DECISIONS_TABLE``, default
``retraining_decisions``, in the Master Data database): the as-of date, the action, the
triggers that fired and those that were ready, the reason, the whole evidence as JSON,
the id of the training run it launched and when. Rows are only ever added: a night
decided again (a re-run) adds a row beside the first, so a launch is never forgotten,
and the cool-down reads the launches back from here.

SQLAlchemy Core over any database the Master Data lives in (SQLite, PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa

from customer_classifier.errors import DataSourceError
from customer_classifier.monitoring.retrain import PastDecision, RetrainDecision

COLUMNS = (
    "id",
    "as_of",
    "action",
    "fired",
    "ready",
    "reason",
    "evidence",
    "run_id",
    "launch_error",
    "decided_at",
    "launched_at",
)


def decisions_schema(name: str) -> sa.Table:
    return sa.Table(
        name,
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("as_of", sa.Date, nullable=False, index=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("fired", sa.String(200), nullable=False),
        sa.Column("ready", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("run_id", sa.String(200)),
        sa.Column("launch_error", sa.Text),
        sa.Column("decided_at", sa.DateTime, nullable=False),
        sa.Column("launched_at", sa.DateTime),
    )


def _utc_naive(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(tzinfo=None) if moment.tzinfo else moment


def record_decision(
    engine: sa.Engine,
    table: str,
    decision: RetrainDecision,
    *,
    decided_at: dt.datetime,
    run_id: str | None = None,
    launched_at: dt.datetime | None = None,
    launch_error: str | None = None,
) -> int:
    """Add the decision's row (creating the table the first time); its id."""
    schema = decisions_schema(table)
    row = {
        "as_of": decision.as_of,
        "action": decision.action,
        "fired": ",".join(decision.fired),
        "ready": ",".join(decision.ready),
        "reason": decision.reason,
        "evidence": json.dumps(decision.to_dict(), sort_keys=True),
        "run_id": run_id,
        "launch_error": launch_error,
        "decided_at": _utc_naive(decided_at),
        "launched_at": _utc_naive(launched_at) if launched_at else None,
    }
    with engine.begin() as conn:
        schema.create(conn, checkfirst=True)
        inserted = conn.execute(schema.insert().values(**row))
        key = inserted.inserted_primary_key
    return int(key[0]) if key else 0


def read_decisions(
    engine: sa.Engine, table: str, *, since: dt.date | None = None
) -> list[PastDecision]:
    """Every recorded decision (from ``since`` on), oldest first; none before the first
    night was decided."""
    if not sa.inspect(engine).has_table(table):
        return []
    schema = decisions_schema(table)
    found = {c["name"] for c in sa.inspect(engine).get_columns(table)}
    if missing := [c for c in COLUMNS if c not in found]:
        raise DataSourceError(
            f"the table {table!r} lacks the column(s) {missing} of a retraining decisions "
            "table; point CC_RETRAIN__DECISIONS_TABLE at another name, or drop the table "
            "so that the next decision creates it"
        )
    query = sa.select(schema).order_by(schema.c.as_of, schema.c.decided_at, schema.c.id)
    if since is not None:
        query = query.where(schema.c.as_of >= since)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    return [_past(row) for row in rows]


def _past(row: dict[str, Any]) -> PastDecision:
    as_of = row["as_of"]
    return PastDecision(
        as_of=as_of if isinstance(as_of, dt.date) else dt.date.fromisoformat(str(as_of)),
        action=str(row["action"]),
        run_id=row["run_id"] or None,
        decided_at=row["decided_at"],
        reason=str(row["reason"]),
        evidence=json.loads(row["evidence"]) if row["evidence"] else {},
    )
