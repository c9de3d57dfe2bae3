"""The nightly monitoring report: one self-contained HTML page (inline CSS, PNG plots).

It reads what the night computed (drift, the precision estimate, the concept-drift check,
the pipeline-health findings, the retraining decision) and what earlier nights left (the
monitoring history table and the backtest of every matured night), and changes nothing.
A section with nothing to show yet (a first night, no label window closed) says so.
Every string from the data goes through :class:`~customer_classifier.reporting.Report`,
which escapes it.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from customer_classifier.evaluation.calibration import ReliabilityFigures
from customer_classifier.monitoring import report_sections as sections
from customer_classifier.monitoring.backtest import BACKTEST_COLUMNS
from customer_classifier.monitoring.drift import DriftReport
from customer_classifier.monitoring.estimate import ALL_SEGMENTS, ConceptDriftCheck, NightEstimate
from customer_classifier.reporting import Report

HEADLINE = "Tonight"
HEALTH = "Pipeline health"
RETRAINING = "Retraining decision"
HEALTH_COLUMNS = ("check", "figure", "value", "expected", "failed", "status", "why")
"""Columns shown first in the health table; any other key of a finding follows."""


def _empty_backtest() -> pd.DataFrame:
    return pd.DataFrame(columns=list(BACKTEST_COLUMNS))


@dataclass(frozen=True)
class MonitoringReportInputs:
    """Everything the report shows, computed before it is drawn."""

    as_of: dt.date
    champion_version: str
    history: pd.DataFrame
    """The monitoring history table's rows (``history.read_history``), any nights."""
    drift: DriftReport
    estimate: NightEstimate
    concept: ConceptDriftCheck | None = None
    """None when no matured night exists yet to learn the early-label ratio from."""
    backtest: pd.DataFrame = field(default_factory=_empty_backtest)
    """``BACKTEST_COLUMNS`` rows of every matured night (``backtest.backtest``)."""
    reliability: Mapping[str, ReliabilityFigures] = field(default_factory=dict)
    """Reliability per segment of the newest matured night (``NightBacktest.reliability``)."""
    health: Sequence[Mapping[str, object]] = ()
    """Pipeline-health findings, one mapping per check."""
    retraining: Mapping[str, object] | None = None
    """The retraining decision (``action``, ``triggers``, ``evidence``), when one was taken."""


def render_report(inputs: MonitoringReportInputs) -> str:
    """The report's HTML."""
    report = Report(f"Customer classifier: monitoring of {inputs.as_of.isoformat()}")
    _headline(report, inputs)
    sections.drift_section(report, inputs.history, inputs.drift)
    sections.precision_section(report, inputs.history, inputs.estimate, inputs.backtest)
    sections.calibration_section(report, inputs.backtest, inputs.reliability)
    sections.segments_section(report, inputs.estimate, inputs.backtest)
    sections.value_section(report, inputs.history)
    _health_section(report, inputs.health)
    _retraining_section(report, inputs.retraining)
    return report.render()


def _failed(finding: Mapping[str, object]) -> bool:
    if "failed" in finding:
        return bool(finding["failed"])
    return str(finding.get("status", "")).lower() in {"failed", "fail", "missing"}


def _alarms(inputs: MonitoringReportInputs) -> list[str]:
    out = []
    if inputs.drift.alarm:
        out.append("data drift")
    if inputs.concept is not None and inputs.concept.drifted:
        out.append("concept drift")
    if any(_failed(f) for f in inputs.health):
        out.append("pipeline health")
    if not inputs.estimate.assumption.holds:
        out.append("calibration assumption of the estimate")
    return out


def _headline(report: Report, inputs: MonitoringReportInputs) -> None:
    drift = inputs.drift
    report.heading(HEADLINE)
    alarms = _alarms(inputs)
    if alarms:
        report.paragraph("Alarm: " + ", ".join(alarms) + ".", "bad")
    else:
        report.paragraph("No alarm tonight.", "ok")
    report.table(
        ["", ""],
        [
            ("as-of date", inputs.as_of.isoformat()),
            ("champion version", inputs.champion_version),
            ("customers scored", drift.rows),
            (
                "share labelled good tonight (in training)",
                f"{drift.good_share:.4f} ({drift.reference_good_share:.4f})",
            ),
        ],
    )
    features = len(drift.features)
    if drift.ranked:
        report.paragraph(
            f"Data drift: {len(drift.ranked)} of {features} features drifted beyond their "
            f"calibrated thresholds (false-discovery rate {drift.thresholds.fdr:g}), most "
            "harmful to precision first: " + ", ".join(drift.ranked) + ".",
            "bad",
        )
        sections.ranked_table(report, drift)
    else:
        report.paragraph(
            f"No feature drifted: none of the {features} features passed its calibrated "
            f"threshold and effect floor on {drift.rows} customers.",
            "ok",
        )
    if drift.score.flagged:
        report.paragraph("The score's distribution drifted from training.", "bad")
    _estimate_line(report, inputs.estimate)
    _concept_line(report, inputs.concept)
    _health_line(report, inputs.health)
    _retraining_line(report, inputs.retraining)


def _estimate_line(report: Report, estimate: NightEstimate) -> None:
    rows = estimate.table[estimate.table["segment"] == ALL_SEGMENTS]
    if rows.empty or not math.isfinite(float(rows["estimated_precision"].iloc[0])):
        report.paragraph(
            "No customer was labelled good tonight: there is no precision to estimate.", "warn"
        )
        return
    row = rows.iloc[0]
    report.paragraph(
        f"Estimated precision tonight: {row['estimated_precision']:.4f} (band "
        f"{row['lower']:.4f}-{row['upper']:.4f}) over {int(row['labelled_good'])} customers "
        "labelled good, before any label matures."
    )


def _concept_line(report: Report, concept: ConceptDriftCheck | None) -> None:
    if concept is None:
        report.paragraph(
            "No concept-drift check tonight: no night has matured yet to learn how much of "
            "the final precision the early labels show."
        )
        return
    if not math.isfinite(concept.early_precision):
        report.paragraph("No concept-drift check tonight: no customer was labelled good.")
        return
    text = (
        f"early-realised precision {concept.early_precision:.4f} against "
        f"{concept.expected_early:.4f} expected while the scores keep their meaning "
        f"(z = {concept.z:.2f})."
    )
    if concept.drifted:
        report.paragraph(f"Concept drift: {text}", "bad")
    else:
        report.paragraph(f"No concept drift: {text}", "ok")


def _health_line(report: Report, health: Sequence[Mapping[str, object]]) -> None:
    if not health:
        report.paragraph("No pipeline-health findings were recorded tonight.")
        return
    failed = [f for f in health if _failed(f)]
    if failed:
        report.paragraph(
            f"Pipeline health: {len(failed)} of {len(health)} checks failed: "
            + "; ".join(f"{f.get('check', '?')} ({f.get('why', '')})" for f in failed)
            + ".",
            "bad",
        )
    else:
        report.paragraph(f"Pipeline health: all {len(health)} checks passed.", "ok")


def _triggers(decision: Mapping[str, object]) -> list[str]:
    triggers = decision.get("triggers")
    if isinstance(triggers, Mapping):
        return [str(k) for k, v in triggers.items() if v]
    if isinstance(triggers, str):
        return [triggers] if triggers else []
    if isinstance(triggers, Sequence):
        return [str(t) for t in triggers]
    return []


def _retraining_line(report: Report, decision: Mapping[str, object] | None) -> None:
    if decision is None:
        report.paragraph("No retraining decision was recorded tonight.")
        return
    fired = _triggers(decision)
    because = f"; triggers: {', '.join(fired)}" if fired else "; no trigger fired"
    report.paragraph(
        f"Retraining: {decision.get('action', 'unknown')}{because}.", "warn" if fired else ""
    )


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    if isinstance(value, (str, int, float, bool)):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def _health_section(report: Report, health: Sequence[Mapping[str, object]]) -> None:
    report.heading(HEALTH)
    if not health:
        report.paragraph("No pipeline-health findings for this night.")
        return
    keys = [k for k in HEALTH_COLUMNS if any(k in f for f in health)]
    keys += sorted({str(k) for f in health for k in f} - set(keys))
    ordered = sorted(health, key=lambda f: not _failed(f))
    report.table(keys, [[_cell(f.get(k)) for k in keys] for f in ordered])


def _retraining_section(report: Report, decision: Mapping[str, object] | None) -> None:
    report.heading(RETRAINING)
    if decision is None:
        report.paragraph("No retraining decision for this night.")
        return
    report.table(
        ["", ""],
        [("action", _cell(decision.get("action"))), ("triggers", ", ".join(_triggers(decision)))],
    )
    evidence = decision.get("evidence")
    if isinstance(evidence, Mapping) and evidence:
        report.table(["evidence", "value"], [(str(k), _cell(v)) for k, v in evidence.items()])
    elif evidence:
        report.paragraph(f"Evidence: {_cell(evidence)}")
    rest = {k: v for k, v in decision.items() if k not in {"action", "triggers", "evidence"}}
    if rest:
        report.table(["", ""], [(str(k), _cell(v)) for k, v in rest.items()])
