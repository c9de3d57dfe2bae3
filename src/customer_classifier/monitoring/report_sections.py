"""The monitoring report's sections over time: drift, precision, calibration, segments
and value, each from the history frame, the night's results or the backtest table.

Kept apart from :mod:`customer_classifier.monitoring.report_html` (the page and its
headline) so that each module stays small; the plots are in
:mod:`customer_classifier.monitoring.report_plots`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

import pandas as pd

from customer_classifier.evaluation.calibration import ReliabilityFigures
from customer_classifier.monitoring import report_plots as plots
from customer_classifier.monitoring.backtest import estimate_accuracy
from customer_classifier.monitoring.drift import DriftReport, FeatureDrift
from customer_classifier.monitoring.estimate import ALL_SEGMENTS, NightEstimate
from customer_classifier.monitoring_metrics import (
    ESTIMATED_PRECISION,
    ESTIMATED_PRECISION_LOWER,
    ESTIMATED_PRECISION_UPPER,
    FEATURE_DRIFT_FLAGGED,
    FEATURE_DRIFT_STATISTIC,
    REALISED_PRECISION,
    REALISED_VALUE,
    SCORE_DRIFT_PSI,
)
from customer_classifier.reporting import Report

DRIFT = "Drift per feature over time"
DRIFT_TONIGHT = "Drift tonight, per feature"
PRECISION = "Estimated and realised precision"
CALIBRATION = "Reliability and calibration error"
SEGMENTS = "Segments"
VALUE = "Value: model against the heuristic baseline"
NEWEST = 30
"""Rows of the per-night tables: the newest nights (the plots show them all)."""


def _num(value: object, digits: int = 4) -> str:
    """A figure for a table cell; blank where there is none (NaN, absent)."""
    if isinstance(value, str):
        return value
    if not isinstance(value, numbers.Real):
        return ""
    number = float(value)
    return f"{number:.{digits}f}" if math.isfinite(number) else ""


def _date(value: object) -> str:
    return str(pd.Timestamp(value).date())


def _yes(flag: object) -> str:
    return "yes" if bool(flag) else ""


def ranked_table(report: Report, drift: DriftReport, top: int = 10) -> None:
    """The ``top`` flagged features, most harmful to precision first."""
    by_name = {f.feature: f for f in drift.features}
    report.table(
        [
            "rank",
            "feature",
            "effect on precision",
            "drift among labelled good (JS)",
            "q-value",
            "largest statistic",
        ],
        [
            (
                i,
                f.feature,
                _num(f.precision_effect),
                _num(f.good_jensen_shannon),
                f"{f.q_value:.3g}",
                _largest(f),
            )
            for i, f in enumerate((by_name[n] for n in drift.ranked[:top]), start=1)
        ],
    )
    if len(drift.ranked) > top:
        report.paragraph(f"... and {len(drift.ranked) - top} more: see {DRIFT_TONIGHT.lower()}.")


def _largest(feature: FeatureDrift) -> str:
    if not feature.statistics:
        return ""
    name, value = max(feature.statistics.items(), key=lambda kv: kv[1])
    return f"{name} {value:.4f}"


def drift_section(report: Report, history: pd.DataFrame, drift: DriftReport) -> None:
    """Each feature's statistics over the recorded nights, then tonight's full table."""
    thresholds = drift.thresholds
    report.heading(DRIFT)
    stats = plots.metric_rows(history, FEATURE_DRIFT_STATISTIC)
    flagged = plots.metric_rows(history, FEATURE_DRIFT_FLAGGED)
    floors = {s: thresholds.floor(s) for s in plots.STATISTIC_ORDER}
    fig = plots.drift_over_time(
        stats, flagged, plots.metric_rows(history, SCORE_DRIFT_PSI), floors, drift.ranked
    )
    if fig is None:
        report.paragraph(
            "No drift history yet: the monitoring history holds no night's drift statistics."
        )
    else:
        nights = stats["as_of"].nunique()
        report.paragraph(
            f"{nights} nights from {_date(stats['as_of'].min())} to {_date(stats['as_of'].max())}; "
            "dotted vertical lines mark a change of champion (and so of reference)."
        )
        report.figure(fig, "drift statistics per feature over time")
        hits = flagged[flagged["value"] >= 0.5]
        if hits.empty:
            report.paragraph("No feature was flagged on any recorded night.", "ok")
        else:
            summary = hits.groupby("feature")["as_of"].agg(["count", "max"])
            summary = summary.sort_values(["count", "max"], ascending=False, kind="stable")
            report.table(
                ["feature", "nights flagged", "last flagged"],
                [(name, int(row["count"]), _date(row["max"])) for name, row in summary.iterrows()],
            )
    report.heading(DRIFT_TONIGHT)
    report.paragraph(
        f"{drift.rows} customers against the champion's training reference. A feature is "
        f"flagged when its q-value (Benjamini-Hochberg over all features and the score) is "
        f"at most {thresholds.fdr:g} and a statistic reaches its effect floor: "
        + ", ".join(f"{s.replace('_', ' ')} {floors[s]:g}" for s in plots.STATISTIC_ORDER)
        + f". Null distributions from {thresholds.resamples} resamples of the reference."
    )
    names = [s for s in plots.STATISTIC_ORDER if any(s in f.statistics for f in drift.features)]
    order = {n: i for i, n in enumerate(drift.ranked)}
    rows = sorted(
        drift.features, key=lambda f: (order.get(f.feature, len(order)), f.q_value, f.feature)
    )
    report.table(
        [
            "feature",
            "kind",
            *(n.replace("_", " ") for n in names),
            "p-value",
            "q-value",
            "above floor",
            "flagged",
            "drift among labelled good (JS)",
            "effect on precision",
        ],
        [
            (
                f.feature,
                f.kind,
                *(_num(f.statistics.get(n)) for n in names),
                f"{f.p_value:.3g}",
                f"{f.q_value:.3g}",
                _yes(f.above_floor),
                _yes(f.flagged),
                _num(f.good_jensen_shannon),
                _num(f.precision_effect),
            )
            for f in (*rows, drift.score)
        ],
    )


def precision_section(
    report: Report, history: pd.DataFrame, estimate: NightEstimate, backtest: pd.DataFrame
) -> None:
    """The estimate by night with its band, and the backtest's estimate beside realised."""
    report.heading(PRECISION)
    report.paragraph(estimate.assumption.statement(), "ok" if estimate.assumption.holds else "bad")

    def everyone(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame["segment"] == ALL_SEGMENTS]

    fig = plots.precision_over_time(
        everyone(plots.metric_rows(history, ESTIMATED_PRECISION)),
        everyone(plots.metric_rows(history, ESTIMATED_PRECISION_LOWER)),
        everyone(plots.metric_rows(history, ESTIMATED_PRECISION_UPPER)),
        everyone(plots.metric_rows(history, REALISED_PRECISION)),
    )
    if fig is None:
        report.paragraph(
            "No precision history yet: the monitoring history holds no night's estimate."
        )
    else:
        report.figure(fig, "estimated and realised precision by night")
    fig = plots.backtest_precision(backtest)
    if fig is None:
        report.paragraph(
            "No matured night yet: realised precision arrives once a scoring date's label "
            "window has closed, and the estimate made that night is checked against it then."
            if backtest.empty
            else "No matured night labelled anyone good: there is no precision to compare."
        )
        return
    accuracy = estimate_accuracy(backtest)
    report.paragraph(
        f"Over {accuracy.nights} matured nights the estimate made at the time missed the "
        f"realised precision by {accuracy.mean_abs_error:.4f} on average (at most "
        f"{accuracy.max_abs_error:.4f}); its band held the realised figure on "
        f"{accuracy.coverage:.0%} of them."
    )
    report.figure(fig, "backtest: estimate at the time against realised precision")
    rows = backtest[backtest["segment"] == ALL_SEGMENTS].tail(NEWEST).iloc[::-1]
    report.table(
        [
            "scoring date",
            "version",
            "labelled good",
            "estimated then",
            "band",
            "realised",
            "in band",
        ],
        [
            (
                _date(r["as_of_date"]),
                r["model_version"],
                int(r["labelled_good"]),
                _num(r["estimated_precision"]),
                f"{_num(r['lower'])}-{_num(r['upper'])}",
                _num(r["realised_precision"]),
                _yes(r["covered"]),
            )
            for _, r in rows.iterrows()
        ],
    )


def calibration_section(
    report: Report, backtest: pd.DataFrame, reliability: Mapping[str, ReliabilityFigures]
) -> None:
    """The newest matured night's reliability per segment, and ECE by matured night."""
    report.heading(CALIBRATION)
    fig = plots.reliability_curves(reliability)
    if fig is None:
        report.paragraph("No matured night yet: reliability needs the realised labels.")
    else:
        newest = _date(backtest["as_of_date"].max()) if not backtest.empty else "?"
        report.paragraph(f"Newest matured scoring date: {newest}.")
        report.figure(fig, "reliability curves per segment")
        report.table(
            ["segment", "ECE", "Brier", "largest bin gap", "non-empty bins", "customers"],
            [
                (s, _num(c.ece), _num(c.brier), _num(c.max_gap), len(c.counts), sum(c.counts))
                for s, c in sorted(
                    reliability.items(), key=lambda kv: (kv[0] != ALL_SEGMENTS, kv[0])
                )
            ],
        )
    fig = plots.ece_over_time(backtest)
    if fig is not None:
        report.figure(fig, "expected calibration error over time")


def segments_section(report: Report, estimate: NightEstimate, backtest: pd.DataFrame) -> None:
    """Tonight's estimate per segment; the newest matured night and the estimate's
    accuracy per segment."""
    report.heading(SEGMENTS)
    report.paragraph("Estimated precision tonight, per segment:")
    report.table(
        ["segment", "labelled good", "estimated precision", "std error", "lower", "upper"],
        [
            (
                r["segment"],
                int(r["labelled_good"]),
                _num(r["estimated_precision"]),
                _num(r["std_error"]),
                _num(r["lower"]),
                _num(r["upper"]),
            )
            for _, r in estimate.table.iterrows()
        ],
    )
    if backtest.empty:
        report.paragraph(
            "No matured night yet: the realised figures per segment follow once labels mature."
        )
        return
    newest = backtest[backtest["as_of_date"] == backtest["as_of_date"].max()]
    report.paragraph(
        f"Realised on the newest matured scoring date, {_date(newest['as_of_date'].iloc[0])}:"
    )
    report.table(
        [
            "segment",
            "customers",
            "labelled good",
            "realised precision",
            "recall",
            "value",
            "estimated then",
            "band",
            "in band",
            "ECE",
        ],
        [
            (
                r["segment"],
                int(r["customers"]),
                int(r["labelled_good"]),
                _num(r["realised_precision"]),
                _num(r["recall"]),
                _num(r["value"], 0),
                _num(r["estimated_precision"]),
                f"{_num(r['lower'])}-{_num(r['upper'])}",
                _yes(r["covered"]),
                _num(r["ece"]),
            )
            for _, r in newest.iterrows()
        ],
    )
    report.paragraph(
        "The estimate against realised precision over every matured night, per segment:"
    )
    rows = []
    for segment in sorted(set(backtest["segment"]), key=lambda s: (s != ALL_SEGMENTS, str(s))):
        a = estimate_accuracy(backtest, str(segment))
        rows.append(
            (segment, a.nights, _num(a.mean_abs_error), _num(a.max_abs_error), _num(a.coverage, 3))
        )
    report.table(["segment", "nights", "mean abs error", "max abs error", "band coverage"], rows)


def value_section(report: Report, history: pd.DataFrame) -> None:
    """Realised value of the model and the heuristic baseline on the same customers."""
    report.heading(VALUE)
    value = plots.metric_rows(history, REALISED_VALUE)
    fig = plots.value_over_time(value)
    if fig is None:
        report.paragraph(
            "No realised value yet: value is known once a scoring date's labels mature."
        )
        return
    report.paragraph(
        "Each night records the value realised on its newest matured scoring date by the "
        "model's actions and by the heuristic baseline's on the same customers."
    )
    report.figure(fig, "realised value over time")
    wide = value.pivot_table(index="as_of", columns="policy", values="value", aggfunc="last")
    wide = wide.reindex(columns=["model", "baseline"]).sort_index().tail(NEWEST).iloc[::-1]
    report.table(
        ["night", "model", "baseline", "model minus baseline"],
        [
            (
                _date(when),
                _num(r["model"], 0),
                _num(r["baseline"], 0),
                _num(r["model"] - r["baseline"], 0),
            )
            for when, r in wide.iterrows()
        ],
    )
