"""Nightly scoring step: the champion scores every active customer."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from customer_classifier.data.database import connect
from customer_classifier.errors import RegistryError
from customer_classifier.jobs.ingest import as_of_date
from customer_classifier.registry import CHAMPION, open_store
from customer_classifier.scoring import batch
from customer_classifier.scoring.batch import ScoringSummary
from customer_classifier.settings import Settings

SCORING_STATE = "last_scoring.json"
"""The last scoring run's summary among the model store's state documents: its as-of
date, run id, counts and seconds, which the nightly health checks compare with the
nights before (a pipeline's tasks share no folder, but they share the store)."""


def score_customers(
    settings: Settings,
    version: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    run_id: str | None = None,
) -> ScoringSummary:
    """Score every active customer with the champion (or ``version``) and swap the table in.

    ``run_id`` goes into the prediction history (the pipeline run's id; default
    ``CC_RUN__PIPELINE_RUN_ID``); without one the run gets a fresh id of its start time
    and a random suffix.
    """
    engine = connect(settings.database_url)
    store = open_store(settings.store_uri, settings.s3)
    version = version or store.get_alias(CHAMPION)
    if version is None:
        raise RegistryError(f"no champion in {store.uri}; run training first ('make run')")
    bundle = store.load(version)
    as_of = as_of_date(settings, engine)
    summary = batch.score_customers(
        engine,
        bundle,
        version,
        as_of,
        table=settings.predictions_table,
        active_window_days=settings.active_window_days,
        chunk_customers=settings.chunk_customers,
        threads=settings.scoring_threads,
        progress=progress,
        invalid_records=settings.invalid_records,
        max_invalid_fraction=settings.max_invalid_fraction,
        history_retention_days=settings.history_retention_days,
        run_id=run_id or settings.run.pipeline_run_id,
        reasons=settings.explain.reasons,
    )
    store.write_state(SCORING_STATE, json.dumps(summary_dict(summary), default=str).encode("utf-8"))
    return summary


def summary_dict(summary: ScoringSummary) -> dict[str, Any]:
    out = asdict(summary)
    out["as_of"] = summary.as_of.isoformat()
    return out
