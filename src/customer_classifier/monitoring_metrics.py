"""Names of the metrics the nightly monitoring pushes to the Pushgateway.

The chart's PrometheusRule alerts on these names and its Grafana dashboard plots them,
while the monitoring job writes them: one list, here, keeps the three in step (the
chart's tests check its rules and panels against it). It imports nothing heavy, so the
monitoring code, the tests and the CLI can read it without the serving or training
dependencies.

Every metric is a gauge, because a nightly batch job states a figure per night rather
than counting events; the Pushgateway keeps the last push until the next one. A run
pushes under the grouping key ``job=PUSH_JOB`` and ``namespace=<its namespace>``, so the
alert rules of each environment (``dev``, ``test``, ``prod`` share one Prometheus in
some clusters) select their own figures with those two labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

PUSH_JOB = "customer-classifier-monitoring"
"""The ``job`` grouping label of every push; the chart's
``monitoring.prometheusRule.pushedJob`` value must name the same job."""

GROUPING_LABELS = ("job", "namespace")
"""Labels of the grouping key, set by the pusher; the Pushgateway's scrape keeps them
(``honor_labels``)."""


@dataclass(frozen=True)
class PushedMetric:
    """One gauge the monitoring job pushes: its name, the labels beside the grouping
    key, and the help text the Pushgateway shows."""

    name: str
    labels: tuple[str, ...]
    help: str


LAST_SUCCESS = PushedMetric(
    "cc_monitoring_last_success_timestamp_seconds",
    (),
    "Unix time at which the nightly monitoring last finished every check.",
)
PIPELINE_CHECK_FAILED = PushedMetric(
    "cc_monitoring_pipeline_check_failed",
    ("check",),
    "1 where a pipeline-health check (input volume, quality, run time, output volume, "
    "label mix, missing run) failed on the last night, else 0.",
)
FEATURE_DRIFT_FLAGGED = PushedMetric(
    "cc_monitoring_feature_drift_flagged",
    ("feature",),
    "1 where a feature drifted from the champion's training reference beyond its "
    "calibrated threshold (false-discovery rate controlled across features), else 0.",
)
FEATURE_DRIFT_STATISTIC = PushedMetric(
    "cc_monitoring_feature_drift_statistic",
    ("feature", "statistic"),
    "Drift statistic of a feature against the reference (statistic: psi, jensen_shannon, "
    "wasserstein, ks).",
)
SCORE_DRIFT_PSI = PushedMetric(
    "cc_monitoring_score_drift_psi",
    (),
    "Population stability index of the night's scores against the champion's training scores.",
)
ESTIMATED_PRECISION = PushedMetric(
    "cc_monitoring_estimated_precision_ratio",
    ("segment",),
    "Precision estimated from the calibrated scores of the customers labelled good, "
    "before their labels mature (segment 'all' for everyone).",
)
ESTIMATED_PRECISION_LOWER = PushedMetric(
    "cc_monitoring_estimated_precision_lower_ratio",
    ("segment",),
    "Lower end of the 95 % band of the estimated precision.",
)
ESTIMATED_PRECISION_UPPER = PushedMetric(
    "cc_monitoring_estimated_precision_upper_ratio",
    ("segment",),
    "Upper end of the 95 % band of the estimated precision.",
)
REALISED_PRECISION = PushedMetric(
    "cc_monitoring_realised_precision_ratio",
    ("segment",),
    "Precision realised on the newest scoring date whose label window has closed.",
)
CONCEPT_DRIFT_FLAGGED = PushedMetric(
    "cc_monitoring_concept_drift_flagged",
    (),
    "1 where the precision realised on early labels fell below the estimate beyond its "
    "band (the inputs kept their relation to the label no longer), else 0.",
)
CALIBRATION_ERROR = PushedMetric(
    "cc_monitoring_calibration_error_ratio",
    (),
    "Expected calibration error of the scores on the newest matured scoring date.",
)

PIPELINE_FIGURE = PushedMetric(
    "cc_monitoring_pipeline_figure",
    ("figure",),
    "A pipeline-health figure of the last night (input rows, null shares, step seconds, "
    "output rows, good share) that the health checks compare with the nights before.",
)
REALISED_VALUE = PushedMetric(
    "cc_monitoring_realised_value",
    ("policy",),
    "Value realised on the newest matured scoring date by the model's actions "
    "(policy 'model') and by the heuristic baseline on the same customers ('baseline').",
)
RETRAIN_TRIGGER_FIRED = PushedMetric(
    "cc_monitoring_retrain_trigger_fired",
    ("trigger",),
    "1 where a retraining trigger (drift, estimated or realised precision, calibration, "
    "schedule) fired on the last night, else 0.",
)
RETRAIN_LAUNCHED = PushedMetric(
    "cc_monitoring_retrain_launched",
    (),
    "1 when the last night launched the training pipeline, else 0 (skipped, cooling "
    "down or not triggered).",
)

PUSHED_METRICS: tuple[PushedMetric, ...] = (
    LAST_SUCCESS,
    PIPELINE_CHECK_FAILED,
    FEATURE_DRIFT_FLAGGED,
    FEATURE_DRIFT_STATISTIC,
    SCORE_DRIFT_PSI,
    ESTIMATED_PRECISION,
    ESTIMATED_PRECISION_LOWER,
    ESTIMATED_PRECISION_UPPER,
    REALISED_PRECISION,
    CONCEPT_DRIFT_FLAGGED,
    CALIBRATION_ERROR,
    PIPELINE_FIGURE,
    REALISED_VALUE,
    RETRAIN_TRIGGER_FIRED,
    RETRAIN_LAUNCHED,
)
PUSHED_NAMES: frozenset[str] = frozenset(m.name for m in PUSHED_METRICS)


@dataclass(frozen=True)
class Sample:
    """One figure of one night: a pushed metric, its label values and its value.

    The same samples go to the Pushgateway and into the monitoring history table, so the
    alerts, the dashboard and the report read one set of figures.
    """

    metric: PushedMetric
    labels: tuple[tuple[str, str], ...]
    value: float

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


def sample(metric: PushedMetric, value: float, labels: Mapping[str, str] | None = None) -> Sample:
    """A sample of ``metric``, refusing label names the metric does not declare, since the
    alert rules select on exactly those."""
    given = dict(labels or {})
    if set(given) != set(metric.labels):
        raise ValueError(
            f"metric {metric.name} takes the labels {list(metric.labels)}, not {sorted(given)}; "
            "name each declared label once"
        )
    return Sample(metric, tuple((name, given[name]) for name in metric.labels), float(value))
