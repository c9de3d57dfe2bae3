"""Prometheus metrics of the predictor, exposed on KServe's own ``/metrics`` beside its
``request_*_seconds`` histograms.

Per model (``model_name``) and, where a figure belongs to one model version, per ``role``
(champion or challenger) and ``version``. Ratios are left to PromQL, e.g. the good-label
rate ``sum(rate(cc_serving_labels_total{label="good"}[5m])) /
sum(rate(cc_serving_rows_total[5m]))`` and the shadow agreement
``rate(cc_serving_shadow_agreed_rows_total[5m]) /
rate(cc_serving_shadow_compared_rows_total[5m])``.
"""

from __future__ import annotations

import numpy as np
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from customer_classifier.data.contract import BAD, GOOD

LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.02,
    0.03,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)
SCORE_BUCKETS = tuple(round(0.1 * i, 1) for i in range(1, 11))
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
VERSION_LABELS = ("model_name", "role", "version")


class ServingMetrics:
    """The predictor's collectors, registered once per process (KServe's registry by
    default; tests pass a fresh one)."""

    def __init__(self, model_name: str, registry: CollectorRegistry = REGISTRY) -> None:
        self.model_name = model_name
        self.requests = Counter(
            "cc_serving_requests",
            "Inference requests that reached the predictor.",
            ["model_name", "protocol"],
            registry=registry,
        )
        self.errors = Counter(
            "cc_serving_request_errors",
            "Inference requests answered with an error, by reason "
            "(invalid_input: 400; inference_error: 500; not_implemented: 501 on :explain).",
            ["model_name", "protocol", "reason"],
            registry=registry,
        )
        self.latency = Histogram(
            "cc_serving_request_seconds",
            "Time from validation to answer, waiting for the micro-batch included.",
            ["model_name", "protocol"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.rows = Counter(
            "cc_serving_rows", "Feature records scored.", VERSION_LABELS, registry=registry
        )
        self.scores = Histogram(
            "cc_serving_score",
            "Distribution of the scores (probability of good).",
            VERSION_LABELS,
            buckets=SCORE_BUCKETS,
            registry=registry,
        )
        self.labels = Counter(
            "cc_serving_labels",
            "Labels given, by label.",
            [*VERSION_LABELS, "label"],
            registry=registry,
        )
        self.shadow_compared = Counter(
            "cc_serving_shadow_compared_rows",
            "Records scored by both champion and shadow challenger.",
            ["model_name", "champion_version", "challenger_version"],
            registry=registry,
        )
        self.shadow_agreed = Counter(
            "cc_serving_shadow_agreed_rows",
            "Records where the shadow challenger gave the champion's label.",
            ["model_name", "champion_version", "challenger_version"],
            registry=registry,
        )
        self.shadow_agreement = Gauge(
            "cc_serving_shadow_agreement_ratio",
            "Share of compared records with the same label, since the pair was loaded.",
            ["model_name", "champion_version", "challenger_version"],
            registry=registry,
        )
        self.shadow_score_difference = Histogram(
            "cc_serving_shadow_score_difference",
            "Absolute difference between challenger and champion scores.",
            ["model_name"],
            buckets=(0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0),
            registry=registry,
        )
        self.shadow_skipped = Counter(
            "cc_serving_shadow_skipped_batches",
            "Batches the shadow challenger skipped because it lagged behind.",
            ["model_name"],
            registry=registry,
        )
        self.batch_rows = Histogram(
            "cc_serving_batch_rows",
            "Records per micro-batch handed to the model.",
            ["model_name"],
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.batch_requests = Histogram(
            "cc_serving_batch_requests",
            "Requests per micro-batch.",
            ["model_name"],
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.batch_seconds = Histogram(
            "cc_serving_batch_seconds",
            "Time of one micro-batch in the scoring thread.",
            ["model_name"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.model_info = Gauge(
            "cc_serving_model_info",
            "1 for each model version being served.",
            VERSION_LABELS,
            registry=registry,
        )
        self.model_seconds = Histogram(
            "cc_serving_model_seconds",
            "Time one model version took to score its rows of a micro-batch.",
            VERSION_LABELS,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.model_failed_rows = Counter(
            "cc_serving_model_failed_rows",
            "Rows a model version failed to score; a canary challenger's are answered by "
            "the champion instead, so no request fails for them.",
            VERSION_LABELS,
            registry=registry,
        )
        self.canary_percent = Gauge(
            "cc_serving_canary_percent",
            "Share of customers the canary challenger answers for now (0 to 100).",
            ["model_name", "version"],
            registry=registry,
        )
        self.reloads = Counter(
            "cc_serving_reloads",
            "Model (re)loads by outcome (loaded, failed).",
            ["model_name", "outcome"],
            registry=registry,
        )
        self._agreement: dict[tuple[str, str], list[int]] = {}

    def observe_scores(
        self, role: str, version: str, scores: np.ndarray, labels: np.ndarray
    ) -> None:
        self.rows.labels(self.model_name, role, version).inc(len(scores))
        histogram = self.scores.labels(self.model_name, role, version)
        for value in scores.tolist():
            histogram.observe(value)
        good = int(np.count_nonzero(labels == GOOD))
        self.labels.labels(self.model_name, role, version, GOOD).inc(good)
        self.labels.labels(self.model_name, role, version, BAD).inc(len(labels) - good)

    def observe_shadow(
        self, champion: str, challenger: str, agreed: int, compared: int, differences: np.ndarray
    ) -> None:
        self.shadow_compared.labels(self.model_name, champion, challenger).inc(compared)
        self.shadow_agreed.labels(self.model_name, champion, challenger).inc(agreed)
        totals = self._agreement.setdefault((champion, challenger), [0, 0])
        totals[0] += agreed
        totals[1] += compared
        self.shadow_agreement.labels(self.model_name, champion, challenger).set(
            totals[0] / totals[1] if totals[1] else 1.0
        )
        histogram = self.shadow_score_difference.labels(self.model_name)
        for value in differences.tolist():
            histogram.observe(value)

    def serving(self, role: str, version: str | None, previous: str | None) -> None:
        """Point ``cc_serving_model_info`` at the version now serving ``role``."""
        if previous is not None and previous != version:
            self.model_info.remove(self.model_name, role, previous)
        if version is not None:
            self.model_info.labels(self.model_name, role, version).set(1)
