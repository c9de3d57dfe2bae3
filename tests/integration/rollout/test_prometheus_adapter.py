"""The rollout's Prometheus adapter against a real Prometheus scraping real exporters.

Each exporter serves the predictor's own collectors (:class:`ServingMetrics`) from its own
registry, fed by a traffic thread: the stable version, a healthy canary, and canaries
that fail, are slow or have shifted scores. Prometheus scrapes them every second with a
``model_version`` target label, as the chart's PodMonitor labels the predictor pods.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, start_http_server

from customer_classifier.data.contract import BAD, GOOD
from customer_classifier.rollout.analysis import (
    Action,
    Outcome,
    RolloutPolicy,
    Snapshot,
    decide,
    start,
)
from customer_classifier.rollout.prometheus import CanaryMetrics, PrometheusQueries
from customer_classifier.serving.metrics import ServingMetrics
from customer_classifier.settings import RolloutSettings
from tests.integration.prometheus_server import (
    Target,
    free_port,
    running_prometheus,
    wait_for,
)

WINDOW_S = 6.0
SHARED = "shared"
SETTINGS = RolloutSettings(min_requests=10, interval_s=WINDOW_S)


@dataclass
class Behaviour:
    error_share: float = 0.0
    latency_s: float = 0.008
    score_shift: float = 0.0


VERSIONS = {
    "stable": Behaviour(),
    "healthy": Behaviour(),
    "failing": Behaviour(error_share=0.3),
    "slow": Behaviour(latency_s=0.4),
    "shifted": Behaviour(score_shift=0.45),
}


class Traffic:
    """Requests observed on every version's collectors, about 100 per second each."""

    def __init__(self) -> None:
        self.metrics: dict[str, ServingMetrics] = {}
        self.ports: dict[str, int] = {}
        self.servers = []
        for version in [*VERSIONS, SHARED]:
            registry = CollectorRegistry()
            self.metrics[version] = ServingMetrics("customer-classifier", registry=registry)
            port = free_port()
            server, _ = start_http_server(port, addr="127.0.0.1", registry=registry)
            self.servers.append(server)
            self.ports[version] = port
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.rng = np.random.default_rng(5)

    def _shared(self) -> None:
        """One predictor serving both versions (predictor mode): the canary fails a share
        of its parts, which the champion answers instead."""
        m = self.metrics[SHARED]
        for role, version, failing in (
            ("champion", "pm-stable", 0.0),
            ("challenger", "pm-canary", 0.3),
        ):
            if self.rng.random() < failing:
                m.model_failed_rows.labels(m.model_name, role, version).inc(4)
                continue
            m.model_seconds.labels(m.model_name, role, version).observe(0.002)
            scores = self.rng.beta(2, 3, size=4)
            m.observe_scores(role, version, scores, np.where(scores >= 0.5, GOOD, BAD))

    def _run(self) -> None:
        while not self.stop.wait(0.01):
            self._shared()
            for version, behaviour in VERSIONS.items():
                m = self.metrics[version]
                m.requests.labels(m.model_name, "v2").inc()
                if self.rng.random() < behaviour.error_share:
                    m.errors.labels(m.model_name, "v2", "inference_error").inc()
                    continue
                m.latency.labels(m.model_name, "v2").observe(
                    behaviour.latency_s * (0.8 + 0.4 * self.rng.random())
                )
                scores = np.clip(self.rng.beta(2, 3, size=4) + behaviour.score_shift, 0, 1)
                m.observe_scores("champion", version, scores, np.where(scores >= 0.5, GOOD, BAD))

    def __enter__(self) -> Traffic:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        for server in self.servers:
            server.shutdown()


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with Traffic() as traffic:
        jobs = {
            "predictor": [
                Target(f"127.0.0.1:{port}", {"model_version": version})
                for version, port in traffic.ports.items()
            ]
        }
        with running_prometheus(tmp_path_factory.mktemp("prometheus"), jobs) as url:
            queries = PrometheusQueries(url)
            # Enough history that every rate over the window has several samples.
            wait_for(
                lambda: _has_window(queries),
                "a full window of scrapes of every exporter",
                timeout_s=60,
            )
            yield url


def _has_window(queries: PrometheusQueries) -> bool:
    try:
        samples = queries.scalar(
            f"min(count_over_time(cc_serving_requests_total[{WINDOW_S:.0f}s]))"
        )
    except Exception:
        return False
    return samples >= WINDOW_S - 1


def snapshot(
    url: str, canary: str, settings: RolloutSettings = SETTINGS, stable: str = "stable"
) -> Snapshot:
    metrics = CanaryMetrics(PrometheusQueries(url, settings.query_timeout_s), settings)
    canary_side, stable_side = metrics.sides(canary, stable)
    return metrics.snapshot(canary_side, stable_side, WINDOW_S)


def verdicts(url: str, canary: str) -> dict[str, Outcome]:
    policy = RolloutPolicy.from_settings(SETTINGS)
    decision = decide(policy, start(policy, canary).state, snapshot(url, canary))
    return {v.check: v.outcome for v in decision.verdicts}


def test_a_healthy_canary_passes_every_required_check(prometheus: str) -> None:
    taken = snapshot(prometheus, "healthy")
    assert taken.canary_requests is not None
    assert taken.canary_requests > 100
    assert taken.problems == ()
    error = taken.measurements["error_ratio"]
    assert error.canary == 0.0
    assert error.stable == 0.0
    latency = taken.measurements["latency_p99_seconds"]
    assert latency.canary is not None
    assert 0.005 < latency.canary < 0.02
    assert verdicts(prometheus, "healthy") == {
        "error_ratio": Outcome.PASSED,
        "latency_p99_seconds": Outcome.PASSED,
        "score_divergence": Outcome.PASSED,
        "label_mix_shift": Outcome.PASSED,
        "shadow_agreement": Outcome.SKIPPED,
    }


@pytest.mark.parametrize(
    ("canary", "failing"),
    [
        ("failing", {"error_ratio"}),
        ("slow", {"latency_p99_seconds"}),
        ("shifted", {"score_divergence", "label_mix_shift"}),
    ],
)
def test_each_fault_fails_its_own_checks(prometheus: str, canary: str, failing: set[str]) -> None:
    outcomes = verdicts(prometheus, canary)
    assert {name for name, outcome in outcomes.items() if outcome is Outcome.FAILED} == failing


def test_the_error_ratio_is_measured_not_assumed(prometheus: str) -> None:
    error = snapshot(prometheus, "failing").measurements["error_ratio"]
    assert error.canary is not None
    assert 0.15 < error.canary < 0.45
    assert error.stable == 0.0


def test_a_canary_without_series_pauses_the_rollout(prometheus: str) -> None:
    policy = RolloutPolicy.from_settings(SETTINGS)
    taken = snapshot(prometheus, "not-exported")
    decision = decide(policy, start(policy, "not-exported").state, taken)
    assert decision.action is Action.PAUSE
    assert "no series" in decision.reason


def test_an_unreachable_prometheus_pauses_and_says_so() -> None:
    settings = RolloutSettings(query_timeout_s=1.0)
    policy = RolloutPolicy.from_settings(settings)
    taken = snapshot(f"http://127.0.0.1:{free_port()}", "healthy", settings)
    assert taken.canary_requests is None
    decision = decide(policy, start(policy, "healthy").state, taken)
    assert decision.action is Action.PAUSE
    assert "unreachable" in decision.reason


def test_a_prometheus_error_is_no_data(prometheus: str) -> None:
    settings = SETTINGS.model_copy(update={"query_latency_p99": "histogram_quantile(("})
    taken = snapshot(prometheus, "healthy", settings)
    assert taken.measurements["latency_p99_seconds"].canary is None
    assert any("refused" in problem for problem in taken.problems)


def test_predictor_mode_compares_the_versions_inside_one_predictor(prometheus: str) -> None:
    settings = SETTINGS.for_predictor_mode()
    taken = snapshot(prometheus, "pm-canary", settings, stable="pm-stable")
    error = taken.measurements["error_ratio"]
    assert error.canary is not None
    assert 0.15 < error.canary < 0.45
    assert error.stable == 0.0
    latency = taken.measurements["latency_p99_seconds"]
    assert latency.canary is not None
    assert latency.canary < 0.01
    assert taken.canary_requests is not None
    assert taken.canary_requests > 100
    policy = RolloutPolicy.from_settings(settings)
    decision = decide(policy, start(policy, "pm-canary").state, taken)
    failed = {v.check for v in decision.verdicts if v.outcome is Outcome.FAILED}
    assert failed == {"error_ratio"}
