"""Pipeline health of one night: did this night's run look like the nights before it?

Six checks, each under a stable name that the pushed metric
``cc_monitoring_pipeline_check_failed{check=...}`` and the alert rules use:

- ``input_volume``: the row count of each source table (from the verification profile);
- ``input_quality``: the share of nulls in each nullable column, of rows breaking a rule
  of the data contract, and of sales without a customer;
- ``step_seconds``: the run time of each step given (scoring at least);
- ``output_volume``: the rows scoring wrote and the customers active at the as-of date;
- ``label_mix``: the share of the scored customers labelled good;
- ``missing_run``: as-of dates of the look-back that have no scoring run (the cadence is
  nightly: one as-of date per day), tonight's included.

Verification already blocks what is wrong on any night (a column beyond its null cap, a
table empty); these checks catch what is only wrong against the nights before: half the
sales, a null share that tripled within its cap, a step that takes four times as long.

Each figure is judged against its own values on the last ``history_nights`` nights that
recorded it (the monitoring history table): the median, and a tolerance that is the
largest of ``tolerance_mads`` scaled median absolute deviations, a share of the median
and an absolute floor. The median and the MAD ignore a few odd nights, the floors keep a
figure that never moved from failing on a tiny change, and for input quality shares the
tolerance is capped (``max_share_rise``) so that a noisy history cannot hide a broken
feed. Shares and run times fail only upwards (fewer nulls, a faster step are no fault);
volumes and the good share fail both ways. With fewer than ``min_history_nights`` past
nights a figure is "learning": reported, never failed. A night that fails keeps its
figures in the history like any other; a lasting change therefore fails until it
becomes most of the look-back, which is when it has become the normal.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from customer_classifier.data.contract import OPTIONAL_SPECS, SPECS, ColumnSpec
from customer_classifier.data.profile import DataProfile, TableProfile
from customer_classifier.errors import DataSourceError
from customer_classifier.monitoring_metrics import (
    PIPELINE_CHECK_FAILED,
    PIPELINE_FIGURE,
    Sample,
    sample,
)
from customer_classifier.settings import HealthSettings

if TYPE_CHECKING:
    from customer_classifier.scoring.batch import ScoringSummary

INPUT_VOLUME = "input_volume"
INPUT_QUALITY = "input_quality"
STEP_SECONDS = "step_seconds"
OUTPUT_VOLUME = "output_volume"
LABEL_MIX = "label_mix"
MISSING_RUN = "missing_run"
CHECKS = (INPUT_VOLUME, INPUT_QUALITY, STEP_SECONDS, OUTPUT_VOLUME, LABEL_MIX, MISSING_RUN)
"""Every check, in the order the report shows them."""

OUTPUT_ROWS = "output_rows"
ACTIVE_CUSTOMERS = "output_active_customers"
GOOD_SHARE = "good_share"
ORPHAN_SHARE = "orphan_share_sales"
MISSING_RUNS = "missing_runs"
"""The missing-run check's figure: as-of dates of the look-back without a scoring run."""
SCORING_STEP = "scoring"

HISTORY_COLUMNS = ("as_of", "metric", "labels", "value")
"""Columns of the monitoring history frame these checks read (``recorded_at`` too when
present, to keep the last of a night's rows)."""

MAD_SCALE = 1.4826
"""Scales a median absolute deviation to the standard deviation of a normal figure."""

_RULE_BREAKS = (
    "below_minimum",
    "above_maximum",
    "not_allowed",
    "not_a_number",
    "non_finite",
    "wrong_id_kind",
    "not_boolean",
    "unparseable",
    "future",
)
"""Counts of a column profile that break a rule of the contract (nulls are counted apart)."""

Status = Literal["ok", "failed", "learning", "no_data"]


def input_rows_figure(table: str) -> str:
    return f"input_{table}"


def null_share_figure(table: str, column: str) -> str:
    return f"null_share_{table}_{column}"


def invalid_share_figure(table: str) -> str:
    return f"invalid_share_{table}"


def step_figure(step: str) -> str:
    return f"step_seconds_{step}"


# Tonight's inputs ----------------------------------------------------------------------


@dataclass(frozen=True)
class OutputCounts:
    """What scoring wrote for the night."""

    rows_written: int
    good: int
    active_customers: int | None = None
    """Customers active at the as-of date (scored, plus any refused); only the scoring
    summary knows it, the tables do not."""

    @classmethod
    def from_summary(cls, summary: ScoringSummary) -> OutputCounts:
        return cls(summary.rows_written, summary.good, summary.active_customers)


@dataclass(frozen=True)
class HealthInputs:
    """Everything one night's checks look at, besides the history of the figures."""

    as_of: dt.date
    profile: DataProfile | None = None
    """The verification profile of the source (the store's ``last_profile.json``)."""
    output: OutputCounts | None = None
    """None when no scoring run for the as-of date was found."""
    step_seconds: Mapping[str, float] = field(default_factory=dict)
    """Run time of each step, by step name (``scoring``, ``verify``, ...)."""
    scored_as_of: frozenset[dt.date] = frozenset()
    """As-of dates of the look-back that hold a scoring run in the prediction history."""
    first_scored: dt.date | None = None
    """The oldest as-of date in the prediction history: no run is expected before it."""


def _spec_columns(table: str) -> dict[str, ColumnSpec]:
    spec = SPECS.get(table) or OPTIONAL_SPECS.get(table)
    return {} if spec is None else {c.name: c for c in spec.columns}


def _table_quality(table: TableProfile) -> dict[str, float]:
    if not table.rows:
        return {}
    declared = _spec_columns(table.name)
    out: dict[str, float] = {}
    breaks = table.duplicate_keys
    for name, column in sorted(table.columns.items()):
        breaks += sum(int(getattr(column, attribute)) for attribute in _RULE_BREAKS)
        spec = declared.get(name)
        if spec is not None and spec.nullable:
            out[null_share_figure(table.name, name)] = column.nulls / table.rows
        else:
            breaks += column.nulls
    out[invalid_share_figure(table.name)] = min(1.0, breaks / table.rows)
    return out


def profile_figures(profile: DataProfile) -> dict[str, dict[str, float]]:
    """The input figures of a verification profile: row counts, and quality shares."""
    volume: dict[str, float] = {}
    quality: dict[str, float] = {}
    for name, table in sorted(profile.tables.items()):
        if not table.exists:
            continue
        volume[input_rows_figure(name)] = float(table.rows)
        quality.update(_table_quality(table))
    sales = profile.tables.get("sales")
    if sales is not None and sales.exists and sales.rows:
        quality[ORPHAN_SHARE] = min(1.0, profile.orphan_sales / sales.rows)
    return {INPUT_VOLUME: volume, INPUT_QUALITY: quality}


def output_figures(output: OutputCounts) -> dict[str, dict[str, float]]:
    """Rows written (and active customers, when known), and the share labelled good."""
    volume = {OUTPUT_ROWS: float(output.rows_written)}
    if output.active_customers is not None:
        volume[ACTIVE_CUSTOMERS] = float(output.active_customers)
    mix = {GOOD_SHARE: output.good / output.rows_written} if output.rows_written else {}
    return {OUTPUT_VOLUME: volume, LABEL_MIX: mix}


def step_figures(seconds: Mapping[str, float]) -> dict[str, float]:
    """A figure per step whose run time is a finite, non-negative number of seconds."""
    return {
        step_figure(step): float(value)
        for step, value in sorted(seconds.items())
        if math.isfinite(float(value)) and float(value) >= 0
    }


def night_figures(inputs: HealthInputs) -> dict[str, dict[str, float]]:
    """Tonight's figures by check (the missing-run check's own figure aside)."""
    figures: dict[str, dict[str, float]] = {check: {} for check in CHECKS if check != MISSING_RUN}
    if inputs.profile is not None:
        figures.update(profile_figures(inputs.profile))
    if inputs.output is not None:
        figures.update(output_figures(inputs.output))
    figures[STEP_SECONDS] = step_figures(inputs.step_seconds)
    return figures


# The nights before ---------------------------------------------------------------------


def _figure_of(labels: object) -> str | None:
    found = json.loads(labels) if isinstance(labels, str) else labels
    if isinstance(found, Mapping):
        value = found.get("figure")
        return None if value is None else str(value)
    return None


def past_figures(history: pd.DataFrame, as_of: dt.date, nights: int) -> dict[str, np.ndarray]:
    """Each pipeline figure's values on the last ``nights`` nights before ``as_of`` that
    recorded it, oldest first; the last row of a night where it holds several."""
    missing = [c for c in HISTORY_COLUMNS if c not in history.columns]
    if missing:
        raise DataSourceError(
            f"the monitoring history frame lacks the column(s) {missing} (it has "
            f"{list(history.columns)}); read it with monitoring.history.read_history, "
            "which gives as_of, run_id, model_version, metric, labels, value, recorded_at"
        )
    rows = history[history["metric"] == PIPELINE_FIGURE.name]
    if rows.empty:
        return {}
    frame = pd.DataFrame(
        {
            "as_of": pd.to_datetime(rows["as_of"]).dt.date,
            "figure": rows["labels"].map(_figure_of),
            "value": pd.to_numeric(rows["value"], errors="coerce").astype(float),
            "order": (
                pd.to_datetime(rows["recorded_at"])
                if "recorded_at" in rows.columns
                else pd.Series(np.arange(len(rows)), index=rows.index)
            ),
        }
    )
    frame = frame[(frame["as_of"] < as_of) & frame["figure"].notna() & np.isfinite(frame["value"])]
    frame = frame.sort_values(["figure", "as_of", "order"], kind="stable")
    frame = frame.drop_duplicates(["figure", "as_of"], keep="last")
    return {
        str(figure): group["value"].to_numpy(dtype=float)[-nights:]
        for figure, group in frame.groupby("figure", sort=True)
    }


# Judging one figure --------------------------------------------------------------------


@dataclass(frozen=True)
class _Rule:
    """How a kind of figure is judged against its past."""

    upward_only: bool
    relative: float
    floor: float
    cap: float | None = None
    unit: str = ""


def _rules(settings: HealthSettings) -> dict[str, _Rule]:
    volume = _Rule(upward_only=False, relative=settings.relative_floor, floor=0.0, unit=" rows")
    return {
        INPUT_VOLUME: volume,
        INPUT_QUALITY: _Rule(
            upward_only=True,
            relative=settings.relative_floor,
            floor=settings.share_floor,
            cap=settings.max_share_rise,
        ),
        STEP_SECONDS: _Rule(
            upward_only=True,
            relative=settings.step_relative_floor,
            floor=settings.step_floor_seconds,
            unit=" s",
        ),
        OUTPUT_VOLUME: volume,
        LABEL_MIX: _Rule(
            upward_only=False, relative=settings.relative_floor, floor=settings.share_floor
        ),
    }


@dataclass(frozen=True)
class FigureFinding:
    """One figure of the night and its verdict, with the evidence behind it."""

    check: str
    figure: str
    value: float | None
    status: Status
    low: float | None
    """Lowest value that passes; None: no lower bound (or not judged)."""
    high: float | None
    """Highest value that passes; None: no upper bound (or not judged)."""
    median: float | None
    nights: int
    """Past nights the figure was judged against."""
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "figure": self.figure,
            "value": self.value,
            "status": self.status,
            "low": self.low,
            "high": self.high,
            "median": self.median,
            "nights": self.nights,
            "reason": self.reason,
        }


def _show(value: float) -> str:
    if float(value).is_integer() and abs(value) >= 1:
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.1f}"
    return f"{value:.4g}"


def _expected(low: float | None, high: float | None, unit: str) -> str:
    if low is None and high is not None:
        return f"maximum {_show(high)}{unit}"
    if high is None and low is not None:
        return f"minimum {_show(low)}{unit}"
    return f"range {_show(low or 0.0)} to {_show(high or 0.0)}{unit}"


def _judge(
    check: str, figure: str, value: float, past: np.ndarray, rule: _Rule, settings: HealthSettings
) -> FigureFinding:
    """Tonight's ``value`` of a figure against its ``past`` values (see the module)."""
    nights = len(past)
    if nights < settings.min_history_nights:
        return FigureFinding(
            check,
            figure,
            value,
            "learning",
            None,
            None,
            float(np.median(past)) if nights else None,
            nights,
            f"{figure} = {_show(value)}{rule.unit}: {nights} past night(s), "
            f"{settings.min_history_nights} needed before it is judged (learning)",
        )
    median = float(np.median(past))
    spread = MAD_SCALE * float(np.median(np.abs(past - median)))
    terms = {
        f"{settings.tolerance_mads:g} scaled MADs": settings.tolerance_mads * spread,
        f"{rule.relative:.0%} of the median": rule.relative * abs(median),
        "the floor": rule.floor,
    }
    basis = max(terms, key=lambda k: terms[k])
    tolerance = terms[basis]
    if rule.cap is not None and tolerance > rule.cap:
        basis, tolerance = "the hard bound", rule.cap
    high = median + tolerance
    low = None if rule.upward_only else max(0.0, median - tolerance)
    basis_text = f"tolerance {_show(tolerance)}: {basis}"
    context = f"the median of the last {nights} nights is {_show(median)}{rule.unit}"
    change = f" ({(value - median) / median:+.0%})" if median else ""
    if value > high or (low is not None and value < low):
        side = "above" if value > high else "below"
        status: Status = "failed"
        reason = (
            f"{figure} = {_show(value)}{rule.unit} is {side} the expected "
            f"{_expected(low, high, rule.unit)}; {context}{change}, {basis_text}"
        )
    else:
        status = "ok"
        reason = (
            f"{figure} = {_show(value)}{rule.unit} is within the expected "
            f"{_expected(low, high, rule.unit)}; "
            f"{context}, {basis_text}"
        )
    return FigureFinding(check, figure, value, status, low, high, median, nights, reason)


# The checks ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckResult:
    """One check of the night: its verdict and every figure it judged."""

    check: str
    status: Status
    findings: tuple[FigureFinding, ...]
    reason: str
    """Why the check has its status: the failed figures' reasons, or what it lacked."""

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "status": self.status,
            "failed": self.failed,
            "reason": self.reason,
            "findings": [f.to_dict() for f in self.findings],
        }


_NO_DATA = {
    INPUT_VOLUME: "no verification profile of the source (the model store's "
    "state/last_profile.json); it is written by a passing verification",
    INPUT_QUALITY: "no quality figures: no verification profile of the source (the "
    "model store's state/last_profile.json), or its tables are empty",
    STEP_SECONDS: "no step run times were given",
    OUTPUT_VOLUME: "no scoring rows for tonight's as-of date",
    LABEL_MIX: "no scored customers for tonight's as-of date",
}


def _verdict(check: str, findings: tuple[FigureFinding, ...]) -> CheckResult:
    statuses = {f.status for f in findings}
    if "failed" in statuses:
        failed = [f.reason for f in findings if f.status == "failed"]
        return CheckResult(check, "failed", findings, "; ".join(failed))
    if "ok" in statuses:
        judged = sum(f.status == "ok" for f in findings)
        return CheckResult(check, "ok", findings, f"{judged} figure(s) within their range")
    if "learning" in statuses:
        least = min(f.nights for f in findings)
        return CheckResult(
            check,
            "learning",
            findings,
            f"learning: {least} past night(s) of its figures so far; it is judged once "
            "there are enough",
        )
    return CheckResult(check, "no_data", findings, _NO_DATA[check])


def expected_as_of(as_of: dt.date, nights: int, first_scored: dt.date | None) -> list[dt.date]:
    """The as-of dates that should have a scoring run: one a day over the last ``nights``
    days up to ``as_of``, none before the first scored night."""
    start = as_of - dt.timedelta(days=nights - 1)
    start = max(start, min(first_scored, as_of)) if first_scored is not None else as_of
    return [start + dt.timedelta(days=k) for k in range((as_of - start).days + 1)]


def _missing_run(inputs: HealthInputs, nights: int) -> tuple[CheckResult, tuple[dt.date, ...]]:
    expected = expected_as_of(inputs.as_of, nights, inputs.first_scored)
    missing = tuple(d for d in expected if d not in inputs.scored_as_of)
    earlier = [d.isoformat() for d in missing if d != inputs.as_of]
    parts = []
    if earlier:
        parts.append(
            f"no scoring run for the as-of date(s) {', '.join(earlier)} (one is expected "
            f"every day from {expected[0].isoformat()}, within the last {nights} nights)"
        )
    if inputs.as_of in missing:
        parts.append(f"no scoring yet for tonight's as-of date {inputs.as_of.isoformat()}")
    if parts:
        reason = "; ".join(parts) + "; check the nightly scoring runs and their schedule"
    else:
        reason = (
            f"every as-of date from {expected[0].isoformat()} to "
            f"{inputs.as_of.isoformat()} has a scoring run"
        )
    finding = FigureFinding(
        MISSING_RUN,
        MISSING_RUNS,
        float(len(missing)),
        "failed" if missing else "ok",
        0.0,
        0.0,
        None,
        len(expected),
        reason,
    )
    return CheckResult(MISSING_RUN, finding.status, (finding,), reason), missing


@dataclass(frozen=True)
class HealthReport:
    """The night's pipeline health: every check, and the as-of dates without a run."""

    as_of: dt.date
    checks: tuple[CheckResult, ...]
    missing_as_of: tuple[dt.date, ...]
    history_nights: int
    min_history_nights: int
    profiled_at: dt.datetime | None = None
    """When the judged verification profile was taken (None: no profile)."""

    @property
    def failed_checks(self) -> tuple[str, ...]:
        return tuple(c.check for c in self.checks if c.failed)

    @property
    def failed(self) -> bool:
        return bool(self.failed_checks)

    def check(self, name: str) -> CheckResult:
        for result in self.checks:
            if result.check == name:
                return result
        raise KeyError(f"no pipeline-health check {name!r}; the checks are {list(CHECKS)}")

    @property
    def findings(self) -> tuple[FigureFinding, ...]:
        return tuple(f for c in self.checks for f in c.findings)

    def summary(self) -> str:
        """One line for logs and progress."""
        if self.failed:
            return (
                f"pipeline health {self.as_of.isoformat()}: {len(self.failed_checks)} of "
                f"{len(self.checks)} checks failed ({', '.join(self.failed_checks)})"
            )
        learning = [c.check for c in self.checks if c.status == "learning"]
        tail = f"; learning: {', '.join(learning)}" if learning else ""
        return f"pipeline health {self.as_of.isoformat()}: no check failed{tail}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "failed": self.failed,
            "failed_checks": list(self.failed_checks),
            "missing_as_of": [d.isoformat() for d in self.missing_as_of],
            "history_nights": self.history_nights,
            "min_history_nights": self.min_history_nights,
            "profiled_at": None if self.profiled_at is None else self.profiled_at.isoformat(),
            "checks": [c.to_dict() for c in self.checks],
        }


def check_health(
    inputs: HealthInputs, history: pd.DataFrame, settings: HealthSettings
) -> HealthReport:
    """Judge the night's figures against the history of the same figures (the rows of
    ``cc_monitoring_pipeline_figure`` in the monitoring history frame)."""
    past = past_figures(history, inputs.as_of, settings.history_nights)
    rules = _rules(settings)
    empty = np.empty(0)
    checks: list[CheckResult] = []
    for check, figures in night_figures(inputs).items():
        findings = tuple(
            _judge(check, name, value, past.get(name, empty), rules[check], settings)
            for name, value in sorted(figures.items())
        )
        checks.append(_verdict(check, findings))
    missing_check, missing = _missing_run(inputs, settings.history_nights)
    checks.append(missing_check)
    order = {name: k for k, name in enumerate(CHECKS)}
    return HealthReport(
        as_of=inputs.as_of,
        checks=tuple(sorted(checks, key=lambda c: order[c.check])),
        missing_as_of=missing,
        history_nights=settings.history_nights,
        min_history_nights=settings.min_history_nights,
        profiled_at=None if inputs.profile is None else inputs.profile.profiled_at,
    )


def health_samples(report: HealthReport) -> list[Sample]:
    """Every figure of the night (``figure``) and every check's verdict (``check``: 1
    failed, else 0); learning and no-data checks push 0, since they did not fail."""
    out: list[Sample] = [
        sample(PIPELINE_FIGURE, f.value, {"figure": f.figure})
        for f in report.findings
        if f.value is not None and math.isfinite(f.value)
    ]
    out.extend(
        sample(PIPELINE_CHECK_FAILED, float(c.failed), {"check": c.check}) for c in report.checks
    )
    return out
