"""Nightly monitoring step: assess the scored night, keep its figures, publish them.

After :func:`customer_classifier.monitoring.night.monitor_night` has assessed the night,
its samples replace the night's rows of the monitoring history table, the JSON (for
machines) and the HTML report (for people) go to ``out_dir``, and, when
``CC_MONITORING__PUSHGATEWAY_URL`` is set, the samples go to the Pushgateway. The
success timestamp is among the samples, so a night that stops on the way pushes none and
the staleness alert fires.

The night is joined by the pipeline-health checks (against the nights before it, in
the history table) and by the retraining decision (its triggers over tonight and the
nights before, with hysteresis and a cool-down, recorded in the decisions table). The
decision's launcher comes from the caller: the monitoring pipeline runs the training
pipeline itself when the night says ``retrain``, while ``customer-classifier monitor``
only decides. ``checks``, ``render`` and ``push`` can be replaced (tests, other
deployments); by default they are the parts above, the full HTML report and the
Pushgateway client.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from customer_classifier.data.database import connect
from customer_classifier.jobs.ingest import as_of_date
from customer_classifier.monitoring import night as nightly
from customer_classifier.monitoring.history import (
    HistoryWrite,
    append_night,
    history_schema,
    night_frame,
    read_history,
)
from customer_classifier.monitoring.night import NightMonitoring, Progress
from customer_classifier.monitoring_metrics import Sample
from customer_classifier.registry import ModelStore, open_store
from customer_classifier.settings import Settings

log = logging.getLogger(__name__)

JSON_NAME = "monitoring.json"
HTML_NAME = "monitoring.html"
REPORT_DAYS = 365
"""Nights of the history table the report is given, before the as-of date."""

NightCheck = Callable[[NightMonitoring, pd.DataFrame], NightMonitoring]
"""``check(night, nights_before) -> night``: adds findings (health, retraining) to the night;
``nights_before`` is the history table's frame of the nights before this one."""
Renderer = Callable[[NightMonitoring, pd.DataFrame], str]
"""``render(night, history) -> HTML``: the report of the night beside the nights before."""
Pusher = Callable[[Sequence[Sample], Settings], None]
"""``push(samples, settings)``: the night's samples to ``CC_MONITORING__PUSHGATEWAY_URL``."""


@dataclass(frozen=True)
class MonitorResult:
    as_of: dt.date
    model_version: str
    run_id: str
    alarm: bool
    flagged: tuple[str, ...]
    """Drifted features, most harmful to precision first."""
    headline: dict[str, float]
    history: HistoryWrite
    json_path: Path
    html_path: Path
    pushed: bool
    seconds: float
    notes: tuple[str, ...] = field(default=())
    retrain_action: str | None = None
    """The night's retraining decision (quiet, skip, cooldown, retrain); None when the
    decision was not taken (other checks given). With ``CC_RETRAIN__ENABLED=false`` a
    due retrain is a ``skip`` that says so."""

    def summary(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "model_version": self.model_version,
            "run_id": self.run_id,
            "alarm": self.alarm,
            **self.headline,
            "drifted_features": list(self.flagged),
            "history_table": self.history.table,
            "history_rows": self.history.rows,
            "history_replaced": self.history.replaced,
            "json": str(self.json_path),
            "report": str(self.html_path),
            "pushed": self.pushed,
            "seconds": round(self.seconds, 3),
            "notes": list(self.notes),
            "retrain_action": self.retrain_action,
        }


def _write_atomically(path: Path, text: str) -> None:
    """Readers see yesterday's file or tonight's, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def monitor_night(
    settings: Settings,
    out_dir: Path,
    *,
    run_id: str | None = None,
    progress: Progress | None = None,
    checks: Sequence[NightCheck] | None = None,
    render: Renderer | None = None,
    push: Pusher | None = None,
    launch: Callable[[], str] | None = None,
    now: Callable[[], dt.datetime] | None = None,
) -> MonitorResult:
    """Monitor the night of ``CC_AS_OF`` (default: the day after the newest sale, the
    night scoring scored) and publish it; see the module's description.

    ``checks`` default to the pipeline-health checks and the retraining decision, whose
    ``launch`` starts the training pipeline and returns its run id (None: a due retrain
    is recorded as not launched). ``render`` defaults to the full report and ``push`` to
    the Pushgateway client."""
    started = time.perf_counter()
    clock = now or (lambda: dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0))
    table = settings.monitoring.history_table
    history_schema(table)  # a bad table name stops the run before the long reads
    engine = connect(settings.database_url)
    store = open_store(settings.store_uri, settings.s3)
    as_of = as_of_date(settings, engine)
    run_id = (
        run_id or settings.run.pipeline_run_id or f"{clock():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    )
    night = nightly.monitor_night(engine, store, settings, as_of, run_id=run_id, progress=progress)
    since = as_of - dt.timedelta(days=REPORT_DAYS)
    others = read_history(engine, table, since=since)
    others = others[others["as_of"] != as_of]  # a re-run replaces tonight's rows
    earlier = others[others["as_of"] < as_of].reset_index(drop=True)
    if checks is None:
        checks = (health_check(settings, engine, store), retrain_check(settings, engine, launch))
    for check in checks:  # pipeline health, then the retraining decision
        night = check(night, earlier)
    finished = clock()
    samples = night.samples(finished_at=finished)
    written = append_night(engine, table, as_of, run_id, night.model_version, samples, finished)
    json_path, html_path = out_dir / JSON_NAME, out_dir / HTML_NAME
    _write_atomically(json_path, json.dumps(night.to_json(), indent=2, allow_nan=False))
    tonight = night_frame(as_of, run_id, night.model_version, samples, finished)
    nights = pd.concat([others, tonight], ignore_index=True).sort_values("as_of", kind="stable")
    _write_atomically(html_path, (render or full_report)(night, nights))
    pushed = False
    if settings.monitoring.pushgateway_url:
        (push or push_to_gateway)(samples, settings)
        pushed = True
    return MonitorResult(
        as_of=as_of,
        model_version=night.model_version,
        run_id=run_id,
        alarm=night.alarm,
        flagged=night.drift.flagged,
        headline=night.headline(),
        history=written,
        json_path=json_path,
        html_path=html_path,
        pushed=pushed,
        seconds=time.perf_counter() - started,
        notes=night.notes,
        retrain_action=None if night.retrain is None else str(night.retrain["action"]),
    )


# -- the parts that join the night -------------------------------------------------------


def _scoring_seconds(store: ModelStore, as_of: dt.date) -> dict[str, float] | None:
    """The scoring step's run time of the night, from the summary it keeps in the store
    (None when the last scoring was of another night or left no summary)."""
    from customer_classifier.jobs.score import SCORING_STATE

    raw = store.read_state(SCORING_STATE)
    if raw is None:
        return None
    try:
        summary = json.loads(raw)
    except ValueError:
        return None
    if summary.get("as_of") != as_of.isoformat() or "seconds" not in summary:
        return None
    return {"scoring": float(summary["seconds"])}


def health_check(settings: Settings, engine: Any, store: ModelStore) -> NightCheck:
    """The pipeline-health checks of the night against the nights before it."""
    from customer_classifier.monitoring.health import check_health, health_samples
    from customer_classifier.monitoring.health_inputs import gather_health_inputs

    def check(night: NightMonitoring, earlier: pd.DataFrame) -> NightMonitoring:
        inputs = gather_health_inputs(
            engine,
            store,
            night.as_of,
            predictions_table=settings.predictions_table,
            history_nights=settings.health.history_nights,
            step_seconds=_scoring_seconds(store, night.as_of),
        )
        report = check_health(inputs, earlier, settings.health)
        log.info(report.summary())
        return night.with_findings(health=report.to_dict(), samples=health_samples(report))

    return check


def retrain_check(settings: Settings, engine: Any, launch: Callable[[], str] | None) -> NightCheck:
    """The retraining decision of the night: its triggers over tonight and the nights
    before, the hysteresis and the cool-down (``CC_RETRAIN__*``, including the switch),
    recorded with its evidence in the decisions table."""
    from customer_classifier.jobs.retrain import retrain_night

    def check(night: NightMonitoring, earlier: pd.DataFrame) -> NightMonitoring:
        history = pd.concat(
            [
                earlier,
                night_frame(
                    night.as_of,
                    night.run_id,
                    night.model_version,
                    night.samples(),
                    dt.datetime.now(dt.UTC),
                ),
            ],
            ignore_index=True,
        )
        outcome = retrain_night(settings, launch, as_of=night.as_of, engine=engine, history=history)
        return night.with_findings(retrain=outcome.to_dict(), samples=outcome.samples)

    return check


def full_report(night: NightMonitoring, history: pd.DataFrame) -> str:
    """The HTML report of the night beside the nights before (monitoring.report_html)."""
    from customer_classifier.monitoring.backtest import backtest
    from customer_classifier.monitoring.report_html import MonitoringReportInputs, render_report

    health = night.health or {}
    return render_report(
        MonitoringReportInputs(
            as_of=night.as_of,
            champion_version=night.model_version,
            history=history,
            drift=night.drift,
            estimate=night.estimate,
            concept=night.concept,
            backtest=backtest(night.backtested),
            reliability=night.matured.reliability if night.matured is not None else {},
            health=list(health.get("checks", [])),
            retraining=dict(night.retrain) if night.retrain is not None else None,
        )
    )


def push_to_gateway(samples: Sequence[Sample], settings: Settings) -> None:
    """The night's samples to the Pushgateway, replacing the previous night's group."""
    from customer_classifier.monitoring.pushgateway import push_night

    push_night(samples, settings.monitoring)
