"""Retraining step: decide tonight, record the decision, launch training when it says so.

The decision itself is :func:`customer_classifier.monitoring.retrain.decide_retrain`;
this step gathers its inputs (the monitoring history table, the decisions recorded
before, when the champion was promoted), calls ``launch`` when the action is
``retrain`` and adds the night's row to the decisions table, with the launched run's
id, or the launch's error (the error then propagates: a failed launch starts no
cool-down).

``launch`` comes from the caller, so that this package never depends on the
orchestrator: ``pipelines/retrain.py`` passes one that creates a run of the training
pipeline on Kubeflow Pipelines, or runs it through ``kfp.local``. What ships is still
the training pipeline's decision: it registers the new version as challenger, and the
champion/challenger gate promotes it or keeps the champion.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa

from customer_classifier.errors import CustomerClassifierError
from customer_classifier.monitoring import history
from customer_classifier.monitoring.decisions import read_decisions, record_decision
from customer_classifier.monitoring.retrain import (
    HISTORY_COLUMNS,
    TRIGGER_METRICS,
    RetrainDecision,
    RetrainPolicy,
    decide_retrain,
)
from customer_classifier.monitoring_metrics import Sample
from customer_classifier.settings import Settings

LOOKBACK_NIGHTS = 28
"""Nights of history read beyond ``consecutive_nights``: enough to show a streak's
length in the evidence, few enough to read quickly."""


@dataclass(frozen=True)
class RetrainOutcome:
    """What the step decided and did."""

    decision: RetrainDecision
    run_id: str | None
    """The training run it launched (None: it launched none)."""
    row_id: int
    """The decision's row in the decisions table."""

    @property
    def samples(self) -> list[Sample]:
        return self.decision.samples(launched=self.run_id is not None)

    def to_dict(self) -> dict[str, Any]:
        return {**self.decision.to_dict(), "run_id": self.run_id, "row_id": self.row_id}


def read_history(engine: sa.Engine, table: str, since: dt.date) -> pd.DataFrame:
    """The monitoring history's rows of the trigger metrics from ``since`` on; an absent
    table is an empty history, which retrains on nothing but the schedule."""
    frame = history.read_history(engine, table, since=since, metrics=TRIGGER_METRICS)
    return frame[list(HISTORY_COLUMNS)].reset_index(drop=True)


def champion_since(settings: Settings) -> dt.date | None:
    """When the champion alias last moved (the registry's alias history); None without a
    champion or a readable history."""
    from customer_classifier.registry import CHAMPION, open_store

    try:
        moves = open_store(settings.store_uri, settings.s3).history(CHAMPION)
    except CustomerClassifierError:
        return None
    if not moves:
        return None
    return dt.datetime.fromisoformat(str(moves[-1]["at"])).date()


NOT_LAUNCHED = (
    "not launched: this run only decides (customer-classifier monitor); the nightly "
    "monitoring pipeline launches the training it decides on, or run "
    "'python -m pipelines.retrain --local' (or --env ENV) to launch it now"
)
"""The launch error recorded when a retrain is due but the caller has no launcher; like
a failed launch it starts no cool-down, so the next launching run acts on it."""


def retrain_night(
    settings: Settings,
    launch: Callable[[], str] | None,
    *,
    as_of: dt.date | None = None,
    engine: sa.Engine | None = None,
    history: pd.DataFrame | None = None,
    now: Callable[[], dt.datetime] | None = None,
) -> RetrainOutcome:
    """Decide tonight (``as_of``, default: the scoring date), launch when the decision
    says ``retrain``, and record the decision with the run id.

    ``launch`` starts the training pipeline and returns its run id; None records a due
    retrain as not launched (:data:`NOT_LAUNCHED`). ``history``: the monitoring history
    frame to decide on, where the caller holds tonight's figures before they are
    written (the nightly monitoring); default: read from the table.
    """
    from customer_classifier.data.database import connect
    from customer_classifier.jobs.ingest import as_of_date

    clock = now or (lambda: dt.datetime.now(dt.UTC))
    engine = engine or connect(settings.database_url)
    night = as_of or as_of_date(settings, engine)
    retrain = settings.retrain
    lookback = dt.timedelta(days=retrain.consecutive_nights + LOOKBACK_NIGHTS)
    if history is None:
        history = read_history(engine, settings.monitoring.history_table, night - lookback)
    else:
        history = history[pd.to_datetime(history["as_of"]).dt.date >= night - lookback]
        history = history[history["metric"].isin(TRIGGER_METRICS)][list(HISTORY_COLUMNS)]
    past = read_decisions(engine, retrain.decisions_table)
    policy = RetrainPolicy.from_settings(retrain, settings.precision_target)
    decision = decide_retrain(history, past, night, policy, champion_since=champion_since(settings))
    decided_at = clock()
    if not decision.launches:
        row = record_decision(engine, retrain.decisions_table, decision, decided_at=decided_at)
        return RetrainOutcome(decision, None, row)
    if launch is None:
        row = record_decision(
            engine,
            retrain.decisions_table,
            decision,
            decided_at=decided_at,
            launch_error=NOT_LAUNCHED,
        )
        return RetrainOutcome(decision, None, row)
    try:
        run_id = launch()
    except Exception as exc:  # recorded, then raised again
        record_decision(
            engine,
            retrain.decisions_table,
            decision,
            decided_at=decided_at,
            launch_error=f"{type(exc).__name__}: {exc}",
        )
        raise
    row = record_decision(
        engine,
        retrain.decisions_table,
        decision,
        decided_at=decided_at,
        run_id=run_id,
        launched_at=clock(),
    )
    return RetrainOutcome(decision, run_id, row)


def outcome_json(outcome: RetrainOutcome) -> str:
    return json.dumps(outcome.to_dict(), indent=2, sort_keys=True)
