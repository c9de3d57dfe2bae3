"""The controller's own metrics, for the dashboard's rollout row.

A rollout runs as a Job, so its figures go to a Pushgateway after every decision (the
Prometheus convention for batch work) under ``job="customer-classifier-rollout"`` and the
InferenceService's name; the chart's dashboard and alerts read them from there.
"""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway

from customer_classifier.rollout.analysis import Action, Decision, Outcome, Phase

log = logging.getLogger(__name__)
JOB = "customer-classifier-rollout"


class RolloutMetrics:
    def __init__(self, inference_service: str, pushgateway_url: str | None) -> None:
        self.inference_service = inference_service
        self.url = pushgateway_url
        self.registry = CollectorRegistry()
        labels = ["inference_service", "version"]
        self.canary_percent = Gauge(
            "cc_rollout_canary_percent",
            "Share of traffic the canary receives now (0 to 100).",
            labels,
            registry=self.registry,
        )
        self.step = Gauge(
            "cc_rollout_step",
            "Index of the rollout step the canary is at (0: the first).",
            labels,
            registry=self.registry,
        )
        self.phase = Gauge(
            "cc_rollout_phase",
            "1 for the rollout's current phase.",
            [*labels, "phase"],
            registry=self.registry,
        )
        self.last_action = Gauge(
            "cc_rollout_last_action",
            "1 for the last decision's action (advance, hold, promote, rollback, pause).",
            [*labels, "action"],
            registry=self.registry,
        )
        self.check_failed = Gauge(
            "cc_rollout_check_failed",
            "1 when the check failed in the last judged interval, 0 when it passed.",
            [*labels, "check"],
            registry=self.registry,
        )
        self.last_decision = Gauge(
            "cc_rollout_last_decision_timestamp_seconds",
            "Unix time of the last decision.",
            labels,
            registry=self.registry,
        )

    def observe(self, decision: Decision) -> None:
        state = decision.state
        at = (self.inference_service, state.version)
        self.canary_percent.labels(*at).set(state.canary_percent)
        self.step.labels(*at).set(state.step)
        for phase in Phase:
            self.phase.labels(*at, phase.value).set(int(state.phase is phase))
        for action in Action:
            self.last_action.labels(*at, action.value).set(int(decision.action is action))
        for verdict in decision.verdicts:
            if verdict.outcome in (Outcome.PASSED, Outcome.FAILED):
                failed = int(verdict.outcome is Outcome.FAILED)
                self.check_failed.labels(*at, verdict.check).set(failed)
        self.last_decision.labels(*at).set_to_current_time()
        self.push()

    def push(self) -> None:
        """Push to the Pushgateway; a gateway that is down costs a warning, not the rollout."""
        if not self.url:
            return
        try:
            push_to_gateway(
                self.url,
                job=JOB,
                registry=self.registry,
                grouping_key={"inference_service": self.inference_service},
                timeout=5,
            )
        except OSError as exc:
            log.warning("could not push rollout metrics to %s: %s", self.url, exc)
