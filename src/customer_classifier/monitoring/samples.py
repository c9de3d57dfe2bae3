"""The night's findings as samples of the pushed metrics.

One conversion, used for the Pushgateway and the monitoring history table alike, so the
alert rules, the dashboard and the report see the same figures. Non-finite figures (no
one labelled good in a segment, no matured night yet) are left out rather than pushed as
NaN: an absent series is what Prometheus' ``absent()`` and the report both understand.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable

from customer_classifier.monitoring.backtest import NightBacktest
from customer_classifier.monitoring.drift import DriftReport
from customer_classifier.monitoring.estimate import ConceptDriftCheck, NightEstimate
from customer_classifier.monitoring_metrics import (
    CALIBRATION_ERROR,
    CONCEPT_DRIFT_FLAGGED,
    ESTIMATED_PRECISION,
    ESTIMATED_PRECISION_LOWER,
    ESTIMATED_PRECISION_UPPER,
    FEATURE_DRIFT_FLAGGED,
    FEATURE_DRIFT_STATISTIC,
    LAST_SUCCESS,
    REALISED_PRECISION,
    REALISED_VALUE,
    SCORE_DRIFT_PSI,
    PushedMetric,
    Sample,
    sample,
)

ALL_SEGMENTS = "all"


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(float(value))


def _maybe(metric: PushedMetric, value: object, **labels: str) -> Iterable[Sample]:
    if _finite(value):
        yield sample(metric, float(value), labels)  # type: ignore[arg-type]


def drift_samples(report: DriftReport) -> list[Sample]:
    """Per feature: flagged (0/1) and every statistic; and the score's PSI."""
    out: list[Sample] = []
    for feature in report.features:
        out.append(
            sample(FEATURE_DRIFT_FLAGGED, float(feature.flagged), {"feature": feature.feature})
        )
        for name, value in sorted(feature.statistics.items()):
            out.extend(
                _maybe(FEATURE_DRIFT_STATISTIC, value, feature=feature.feature, statistic=name)
            )
    out.extend(_maybe(SCORE_DRIFT_PSI, report.score.statistics.get("psi")))
    return out


def estimate_samples(estimate: NightEstimate) -> list[Sample]:
    """The estimated precision and its band, for the night (``all``) and each segment."""
    out: list[Sample] = []
    for row in estimate.table.to_dict(orient="records"):
        segment = str(row["segment"])
        out.extend(_maybe(ESTIMATED_PRECISION, row["estimated_precision"], segment=segment))
        out.extend(_maybe(ESTIMATED_PRECISION_LOWER, row["lower"], segment=segment))
        out.extend(_maybe(ESTIMATED_PRECISION_UPPER, row["upper"], segment=segment))
    return out


def concept_samples(check: ConceptDriftCheck | None) -> list[Sample]:
    """Whether the early labels signal concept drift; nothing on a night with no check
    (no matured night to learn the early-label ratio from yet)."""
    if check is None:
        return []
    return [sample(CONCEPT_DRIFT_FLAGGED, float(check.drifted))]


def matured_samples(
    night: NightBacktest | None, baseline_value: float | None = None
) -> list[Sample]:
    """Realised precision per segment, the calibration error and the value of the newest
    matured night, beside the heuristic baseline's value on the same customers."""
    if night is None:
        return []
    out: list[Sample] = []
    for row in night.table.to_dict(orient="records"):
        segment = str(row["segment"])
        out.extend(_maybe(REALISED_PRECISION, row["realised_precision"], segment=segment))
        if segment == ALL_SEGMENTS:
            out.extend(_maybe(CALIBRATION_ERROR, row["ece"]))
            out.extend(_maybe(REALISED_VALUE, row["value"], policy="model"))
    if baseline_value is not None:
        out.extend(_maybe(REALISED_VALUE, baseline_value, policy="baseline"))
    return out


def success_sample(finished_at: dt.datetime) -> Sample:
    """The Unix time of the finished night, which the staleness alert watches."""
    moment = finished_at if finished_at.tzinfo else finished_at.replace(tzinfo=dt.UTC)
    return sample(LAST_SUCCESS, moment.timestamp())
