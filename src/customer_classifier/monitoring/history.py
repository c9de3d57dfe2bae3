"""The monitoring history table: every night's figures, one row per sample.

The pipeline-health checks, the retraining hysteresis and the report need "the nights
before", and a Pushgateway keeps only the last push, so each night's samples are also
kept in the Master Data database (``CC_MONITORING__HISTORY_TABLE``). The columns are
those of a sample plus the night they belong to::

    as_of DATE, run_id VARCHAR, model_version VARCHAR, metric VARCHAR,
    labels VARCHAR (JSON object, keys sorted, "{}" when none), value FLOAT,
    recorded_at TIMESTAMP (UTC, naive)

Running a night's monitoring again replaces that as-of date's rows: deleting the old
rows and inserting the new ones happen in one transaction, so a reader sees one night's
figures or the other's, never both or neither. SQLAlchemy Core only, so the same code
runs on the SQLite file of a laptop and on PostgreSQL in a cluster.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from customer_classifier.data.contract import CUSTOMERS, LABELS, SALES
from customer_classifier.errors import ConfigurationError
from customer_classifier.monitoring_metrics import Sample

COLUMNS = ("as_of", "run_id", "model_version", "metric", "labels", "value", "recorded_at")
"""The columns of the table and of :func:`read_history`'s frame, in this order."""
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def history_table_problem(name: str) -> str | None:
    """Why ``name`` cannot be the monitoring history table (a sentence with the fix)."""
    fix = "set CC_MONITORING__HISTORY_TABLE to a table of its own, e.g. monitoring_metrics"
    if not _IDENTIFIER.fullmatch(name):
        return (
            f"CC_MONITORING__HISTORY_TABLE {name!r} is not a plain SQL identifier (lower-case "
            f"letters, digits and '_', at most 63, starting with a letter or '_'); {fix}"
        )
    if name in (CUSTOMERS, SALES, LABELS):
        return (
            f"CC_MONITORING__HISTORY_TABLE {name!r} is a source table of the data contract, "
            f"whose rows the monitoring would replace; {fix}"
        )
    return None


def history_schema(name: str) -> sa.Table:
    """The table, keyed for its two reads: one night's rows (replace) and a metric's rows
    over the nights (the health checks and the report)."""
    problem = history_table_problem(name)
    if problem:
        raise ConfigurationError(problem)
    return sa.Table(
        name,
        sa.MetaData(),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("run_id", sa.String(200), nullable=False),
        sa.Column("model_version", sa.String(200), nullable=False),
        sa.Column("metric", sa.String(200), nullable=False),
        sa.Column("labels", sa.String(2000), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("recorded_at", sa.DateTime, nullable=False),
        sa.Index(f"ix_{name}_night", "as_of", "metric"),
        sa.Index(f"ix_{name}_metric", "metric", "as_of"),
    )


def labels_json(labels: Mapping[str, str] | Iterable[tuple[str, str]]) -> str:
    """A sample's labels as the table keeps them: a JSON object with sorted keys."""
    return json.dumps(dict(labels), sort_keys=True)


def _naive_utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


def night_rows(
    as_of: dt.date,
    run_id: str,
    model_version: str,
    samples: Sequence[Sample],
    recorded_at: dt.datetime,
) -> list[dict[str, object]]:
    """The rows of one night, checked: finite values, each metric and label set once."""
    at = _naive_utc(recorded_at)
    rows: list[dict[str, object]] = []
    seen: set[tuple[str, str]] = set()
    for s in samples:
        if not math.isfinite(s.value):
            raise ValueError(
                f"sample {s.metric.name}{dict(s.labels)} has the value {s.value}; the history "
                "keeps finite figures only (leave a figure out when a night has none)"
            )
        labels = labels_json(s.labels)
        if (s.metric.name, labels) in seen:
            raise ValueError(
                f"sample {s.metric.name} {labels} appears twice in one night; each metric "
                "and label set is one figure per night"
            )
        seen.add((s.metric.name, labels))
        rows.append(
            {
                "as_of": as_of,
                "run_id": run_id,
                "model_version": model_version,
                "metric": s.metric.name,
                "labels": labels,
                "value": float(s.value),
                "recorded_at": at,
            }
        )
    return rows


@dataclass(frozen=True)
class HistoryWrite:
    """What one night's append did."""

    table: str
    rows: int
    replaced: int
    """Rows of the same as-of date that an earlier run had written, now deleted."""


def append_night(
    engine: sa.Engine,
    table: str,
    as_of: dt.date,
    run_id: str,
    model_version: str,
    samples: Sequence[Sample],
    recorded_at: dt.datetime,
) -> HistoryWrite:
    """Replace the as-of date's rows with ``samples``, creating the table if missing, in
    one transaction."""
    schema = history_schema(table)
    rows = night_rows(as_of, run_id, model_version, samples, recorded_at)
    with engine.begin() as conn:
        schema.metadata.create_all(conn, checkfirst=True)
        replaced = conn.execute(sa.delete(schema).where(schema.c.as_of == as_of)).rowcount
        if rows:
            conn.execute(sa.insert(schema), rows)
    return HistoryWrite(table=table, rows=len(rows), replaced=int(replaced or 0))


def empty_history() -> pd.DataFrame:
    """The frame of a history with no night yet."""
    return pd.DataFrame(
        {
            "as_of": pd.Series(dtype=object),
            "run_id": pd.Series(dtype=object),
            "model_version": pd.Series(dtype=object),
            "metric": pd.Series(dtype=object),
            "labels": pd.Series(dtype=object),
            "value": pd.Series(dtype="float64"),
            "recorded_at": pd.Series(dtype="datetime64[ns]"),
        }
    )


def read_history(
    engine: sa.Engine,
    table: str,
    *,
    since: dt.date | None = None,
    metrics: Iterable[str] | None = None,
) -> pd.DataFrame:
    """The nights' rows (as-of date ``since`` and later; of ``metrics`` only), oldest
    night first; ``as_of`` holds ``datetime.date`` values. A table that does not exist yet
    reads as no night at all: the first night has no nights before it."""
    schema = history_schema(table)
    if not sa.inspect(engine).has_table(table):
        return empty_history()
    query = sa.select(*[schema.c[name] for name in COLUMNS])
    if since is not None:
        query = query.where(schema.c.as_of >= since)
    if metrics is not None:
        names = sorted(set(metrics))
        if not names:
            return empty_history()
        query = query.where(schema.c.metric.in_(names))
    query = query.order_by(schema.c.as_of, schema.c.metric, schema.c.labels)
    with engine.connect() as conn:
        rows = conn.execute(query).fetchall()
    return _typed(pd.DataFrame(rows, columns=list(COLUMNS)))


def night_frame(
    as_of: dt.date,
    run_id: str,
    model_version: str,
    samples: Sequence[Sample],
    recorded_at: dt.datetime,
) -> pd.DataFrame:
    """One night's rows as :func:`read_history` would read them back once written, for
    a caller that holds tonight's figures and need not read them again."""
    rows = night_rows(as_of, run_id, model_version, samples, recorded_at)
    return _typed(pd.DataFrame(rows, columns=list(COLUMNS)))


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return empty_history()
    frame["as_of"] = [_as_date(v) for v in frame["as_of"]]
    frame["value"] = frame["value"].astype("float64")
    frame["recorded_at"] = pd.to_datetime(frame["recorded_at"])
    for name in ("run_id", "model_version", "metric", "labels"):
        frame[name] = frame[name].astype(str)
    return frame


def _as_date(value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])
