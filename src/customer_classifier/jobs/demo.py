"""The laptop's main job around the pipelines: the demo database and what a run wrote.

``make run`` needs a database before the pipelines start and a summary after they end;
both read and write the database, so they live here, beside the other steps, and the
pipeline module only wires and prints.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from customer_classifier.data.database import connect, table_names, write_master_data
from customer_classifier.settings import Settings


@dataclass(frozen=True)
class TableCounts:
    """Rows of the source tables and of the predictions table after a run."""

    customers: int
    sales: int
    predictions: int
    labels: dict[str, int] = field(default_factory=dict)
    """Predictions per label (``good``, ``bad``)."""


def ensure_demo_database(settings: Settings) -> Path | None:
    """Write the seeded demo database when the SQLite file or its tables are missing.

    Returns the path written, or None when the database was there (or is not a SQLite
    file: a server database is never generated into).
    """
    from customer_classifier.data.generate import generate

    if not settings.database_url.startswith("sqlite:///"):
        return None
    path = Path(settings.database_url.removeprefix("sqlite:///"))
    if path.exists() and {"customers", "sales"} <= table_names(connect(settings.database_url)):
        return None
    write_master_data(connect(settings.database_url, create_dir=True), generate())
    return path


def scoring_date(settings: Settings) -> dt.date:
    """``CC_AS_OF``, else the day after the newest sale, named explicitly.

    The demo database ends on a fixed day; nightly verification judges freshness against
    the as-of date it is given, and would block a run dated today whose sales stopped
    months ago, as it should for a real feed.
    """
    from customer_classifier.jobs.ingest import as_of_date

    return as_of_date(settings, connect(settings.database_url))


def table_counts(settings: Settings) -> TableCounts:
    """Count what the run left in the database (the predictions table's name is checked
    by the settings, so it is a plain identifier)."""
    table = settings.predictions_table
    with connect(settings.database_url).connect() as conn:
        count = {
            t: int(conn.exec_driver_sql(f"SELECT COUNT(*) FROM {t}").scalar_one())
            for t in ("customers", "sales", table)
        }
        labels = {
            str(label): int(n)
            for label, n in conn.exec_driver_sql(
                f"SELECT label, COUNT(*) FROM {table} GROUP BY label"
            ).all()
        }
    return TableCounts(count["customers"], count["sales"], count[table], labels)
