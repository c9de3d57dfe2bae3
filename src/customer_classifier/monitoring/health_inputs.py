"""The night's pipeline-health inputs, read from the database and the model store.

The verification profile is the store's state document (verification keeps it there,
since a task in a cluster starts with an empty folder). The output figures come from
the prediction history: the predictions table has no as-of column, so only the history
says whether its rows belong to tonight's as-of date. Every query is an index seek or a
range of the history's key, which leads with the as-of date: a history of two years of
a million customers a night costs one night's rows and a few dozen seeks.

Step run times are not in either place; the caller passes them (the scoring step's
summary carries its own).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING

import sqlalchemy as sa

from customer_classifier.data.contract import GOOD
from customer_classifier.data.database import history_schema
from customer_classifier.data.profile import DataProfile
from customer_classifier.errors import ConfigurationError
from customer_classifier.monitoring.health import SCORING_STEP, HealthInputs, OutputCounts
from customer_classifier.scoring.tables import history_table, output_table_problem

if TYPE_CHECKING:
    from customer_classifier.registry.store import ModelStore
    from customer_classifier.scoring.batch import ScoringSummary


def read_profile(store: ModelStore) -> DataProfile | None:
    """The last passing verification's profile of the source, or None if there is none."""
    # Imported here: jobs/ stands above monitoring/ (jobs.verify's package imports the
    # monitoring job), so a module-level import would close a cycle.
    from customer_classifier.jobs.verify import read_reference_profile

    return read_reference_profile(store)


def prediction_history(engine: sa.Engine, predictions_table: str) -> sa.Table | None:
    """The prediction history beside ``predictions_table``; None before the first run."""
    problem = output_table_problem(predictions_table)
    if problem:
        raise ConfigurationError(problem)
    name = history_table(predictions_table)
    if not sa.inspect(engine).has_table(name):
        return None
    return history_schema(name)


def night_output(engine: sa.Engine, history: sa.Table, as_of: dt.date) -> OutputCounts | None:
    """Rows and customers labelled good of the last run published for ``as_of`` (the
    one the predictions table holds, if it is tonight's); None when there is none."""
    c = history.c
    good = sa.func.coalesce(sa.func.sum(sa.case((c.label == GOOD, 1), else_=0)), 0)
    query = (
        sa.select(
            c.model_version,
            c.run_id,
            sa.func.max(c.scored_at).label("scored_at"),
            sa.func.count().label("rows"),
            good.label("good"),
        )
        .where(c.as_of_date == as_of)
        .group_by(c.model_version, c.run_id)
    )
    with engine.connect() as conn:
        runs = conn.execute(query).all()
    if not runs:
        return None
    latest = max(runs, key=lambda r: (r.scored_at or dt.datetime.min, r.run_id or ""))
    return OutputCounts(rows_written=int(latest.rows), good=int(latest.good))


def scored_dates(
    engine: sa.Engine, history: sa.Table, as_of: dt.date, nights: int
) -> tuple[frozenset[dt.date], dt.date | None]:
    """The as-of dates of the last ``nights`` days up to ``as_of`` that hold a scoring
    run, and the oldest as-of date of the whole history."""
    c = history.c
    days = [as_of - dt.timedelta(days=k) for k in range(nights)]
    found: set[dt.date] = set()
    with engine.connect() as conn:
        first = conn.execute(sa.select(sa.func.min(c.as_of_date))).scalar()
        for day in days:
            probe = sa.select(sa.literal(1)).where(c.as_of_date == day).limit(1)
            if conn.execute(probe).first() is not None:
                found.add(day)
    if isinstance(first, str):  # a driver that hands the aggregate back as text
        first = dt.date.fromisoformat(first[:10])
    if isinstance(first, dt.datetime):
        first = first.date()
    return frozenset(found), first


def gather_health_inputs(
    engine: sa.Engine,
    store: ModelStore,
    as_of: dt.date,
    *,
    predictions_table: str,
    history_nights: int,
    step_seconds: Mapping[str, float] | None = None,
    summary: ScoringSummary | None = None,
) -> HealthInputs:
    """Everything the night's health checks need besides the monitoring history.

    ``summary``: the scoring summary of tonight's run where the caller has it; its counts
    (active customers included) and its run time then replace what the tables say.
    ``step_seconds``: run times of the steps by name; the summary's seconds are the
    ``scoring`` step's unless given here.
    """
    if summary is not None and summary.as_of != as_of:
        raise ValueError(
            f"the scoring summary is of the as-of date {summary.as_of.isoformat()}, not of "
            f"{as_of.isoformat()}; pass tonight's summary or none"
        )
    history = prediction_history(engine, predictions_table)
    output: OutputCounts | None = None
    dates: frozenset[dt.date] = frozenset()
    first: dt.date | None = None
    if history is not None:
        output = night_output(engine, history, as_of)
        dates, first = scored_dates(engine, history, as_of, history_nights)
    seconds = dict(step_seconds or {})
    if summary is not None:
        output = OutputCounts.from_summary(summary)
        seconds.setdefault(SCORING_STEP, summary.seconds)
    return HealthInputs(
        as_of=as_of,
        profile=read_profile(store),
        output=output,
        step_seconds=seconds,
        scored_as_of=dates,
        first_scored=first,
    )
