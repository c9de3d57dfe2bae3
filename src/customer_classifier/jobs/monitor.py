"""Nightly monitoring step: assess the scored night, keep its figures, publish them.

After :func:`customer_classifier.monitoring.night.monitor_night` has assessed the night,
its samples replace the night's rows of the monitoring history table, the JSON (for
machines) and the HTML report (for people) go to ``out_dir``, and, when
``CC_MONITORING__PUSHGATEWAY_URL`` is set, the samples go to the Pushgateway. The
success timestamp is among the samples, so a night that stops on the way pushes none and
the staleness alert fires.

Three seams stay open for the parts that join this step: ``checks`` (the pipeline-health
checks and the retraining decision, each given the night and the history of the nights
before it, each returning the night with its findings added through
:meth:`NightMonitoring.with_findings`), ``render`` (the HTML report from the night and
the history table) and ``push`` (the Pushgateway client). Without them the step writes a
plain summary page and does not push, and says so.
"""

from __future__ import annotations

import datetime as dt
import html
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
    read_history,
)
from customer_classifier.monitoring.night import NightMonitoring, Progress
from customer_classifier.monitoring_metrics import Sample
from customer_classifier.registry import open_store
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

    def summary(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "model_version": self.model_version,
            "run_id": self.run_id,
            "alarm": self.alarm,
            "drifted_features": list(self.flagged),
            **self.headline,
            "history_table": self.history.table,
            "history_rows": self.history.rows,
            "history_replaced": self.history.replaced,
            "json": str(self.json_path),
            "report": str(self.html_path),
            "pushed": self.pushed,
            "seconds": round(self.seconds, 3),
            "notes": list(self.notes),
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


def summary_page(night: NightMonitoring, history: pd.DataFrame) -> str:
    """A plain HTML page of the night's headline figures and notes (no plots)."""
    del history
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{v:.6g}</td></tr>" for k, v in night.headline().items()
    )
    drifted = ", ".join(night.drift.flagged) or "none"
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in night.notes)
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>Monitoring {night.as_of}</title></head><body>"
        f"<h1>Monitoring of {night.as_of}, version {html.escape(night.model_version)}</h1>"
        f"<p>Drifted features: {html.escape(drifted)}</p>"
        f"<table><tr><th>figure</th><th>value</th></tr>{rows}</table>"
        f"<p>{html.escape(night.estimate.assumption.statement())}</p>"
        f"<ul>{notes}</ul></body></html>"
    )


def monitor_night(
    settings: Settings,
    out_dir: Path,
    *,
    run_id: str | None = None,
    progress: Progress | None = None,
    checks: Sequence[NightCheck] = (),
    render: Renderer | None = None,
    push: Pusher | None = None,
    now: Callable[[], dt.datetime] | None = None,
) -> MonitorResult:
    """Monitor the night of ``CC_AS_OF`` (default: the day after the newest sale, the
    night scoring scored) and publish it; see the module's description."""
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
    earlier = read_history(engine, table, since=since)
    earlier = earlier[earlier["as_of"] < as_of].reset_index(drop=True)
    for check in checks:  # pipeline health, then the retraining decision
        night = check(night, earlier)
    finished = clock()
    samples = night.samples(finished_at=finished)
    written = append_night(engine, table, as_of, run_id, night.model_version, samples, finished)
    json_path, html_path = out_dir / JSON_NAME, out_dir / HTML_NAME
    _write_atomically(json_path, json.dumps(night.to_json(), indent=2, allow_nan=False))
    nights = read_history(engine, table, since=since)  # tonight's rows among them
    _write_atomically(html_path, (render or summary_page)(night, nights))
    pushed = False
    if settings.monitoring.pushgateway_url:
        if push is None:
            log.warning(
                "CC_MONITORING__PUSHGATEWAY_URL is set but this step has no Pushgateway "
                "client: the night's samples are in the history table only"
            )
        else:
            push(samples, settings)
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
    )
