"""The Pushgateway adapter without a Pushgateway: no URL pushes nothing and says so, a
closed port fails naming the URL and the fix, and the gauges are the pushed metrics'.

(A real Pushgateway and Prometheus: tests/integration/monitoring/test_push_to_prometheus.py.)
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from pydantic import ValidationError

from customer_classifier.errors import PushgatewayError
from customer_classifier.monitoring.pushgateway import (
    namespace_of,
    push_night,
    push_samples,
    registry_of,
)
from customer_classifier.monitoring_metrics import (
    FEATURE_DRIFT_FLAGGED,
    LAST_SUCCESS,
    PUSH_JOB,
    SCORE_DRIFT_PSI,
    sample,
)
from customer_classifier.settings import MonitoringSettings

SAMPLES = [
    sample(FEATURE_DRIFT_FLAGGED, 1, {"feature": "tenure_days"}),
    sample(FEATURE_DRIFT_FLAGGED, 0, {"feature": "age"}),
    sample(SCORE_DRIFT_PSI, 0.04),
    sample(LAST_SUCCESS, 1_790_000_000),
]


def closed_port() -> int:
    """A loopback port nothing listens on: bound, read, released."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_no_url_pushes_nothing_and_says_why() -> None:
    result = push_night(SAMPLES, MonitoringSettings(push_namespace="ml-dev"))
    assert not result.pushed
    assert "CC_MONITORING__PUSHGATEWAY_URL" in result.reason
    assert (result.url, result.job, result.namespace) == ("", PUSH_JOB, "ml-dev")
    assert (result.samples, result.metrics) == (4, 3)


def test_a_closed_port_fails_naming_the_url_and_the_setting() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    settings = MonitoringSettings(pushgateway_url=url, push_namespace="ml-dev", push_timeout_s=2)
    with pytest.raises(PushgatewayError) as caught:
        push_night(SAMPLES, settings)
    message = str(caught.value)
    assert f"cannot reach the Pushgateway at {url}" in message
    assert f"job={PUSH_JOB}, namespace=ml-dev" in message
    assert "refused" in message.lower()
    assert "CC_MONITORING__PUSHGATEWAY_URL" in message


def test_the_gauges_carry_the_metrics_names_help_and_labels() -> None:
    text = generate_latest(registry_of(SAMPLES)).decode()
    assert f"# HELP {FEATURE_DRIFT_FLAGGED.name} {FEATURE_DRIFT_FLAGGED.help}" in text
    assert f"# TYPE {FEATURE_DRIFT_FLAGGED.name} gauge" in text
    assert f'{FEATURE_DRIFT_FLAGGED.name}{{feature="tenure_days"}} 1.0' in text
    assert f'{FEATURE_DRIFT_FLAGGED.name}{{feature="age"}} 0.0' in text
    assert f"{SCORE_DRIFT_PSI.name} 0.04" in text
    assert f"{LAST_SUCCESS.name} 1.79e+09" in text


def test_a_metric_without_samples_is_left_out() -> None:
    text = generate_latest(registry_of(SAMPLES[:1])).decode()
    assert FEATURE_DRIFT_FLAGGED.name in text
    assert SCORE_DRIFT_PSI.name not in text


def test_two_values_for_one_series_are_refused() -> None:
    twice = [*SAMPLES, sample(FEATURE_DRIFT_FLAGGED, 0, {"feature": "tenure_days"})]
    with pytest.raises(ValueError, match=r"two samples of cc_monitoring_feature_drift_flagged"):
        push_samples(twice, url="", namespace="ml-dev", timeout_s=1)


def test_the_namespace_is_the_setting_else_the_pods_else_default(tmp_path: Path) -> None:
    pod = tmp_path / "namespace"
    assert namespace_of(MonitoringSettings(), pod) == "default"
    pod.write_text("ml-test\n", encoding="utf-8")
    assert namespace_of(MonitoringSettings(), pod) == "ml-test"
    assert namespace_of(MonitoringSettings(push_namespace="ml-prod"), pod) == "ml-prod"


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"pushgateway_url": "pushgateway.monitoring:9091"}, "CC_MONITORING__PUSHGATEWAY_URL"),
        ({"pushgateway_url": "http://"}, "CC_MONITORING__PUSHGATEWAY_URL"),
        ({"pushgateway_user": "monitoring"}, "CC_MONITORING__PUSHGATEWAY_PASSWORD is not"),
        ({"pushgateway_password": "secret"}, "CC_MONITORING__PUSHGATEWAY_USER is not"),
    ],
)
def test_a_wrong_push_setting_is_refused_naming_it(given: dict[str, str], named: str) -> None:
    with pytest.raises(ValidationError, match=named):
        MonitoringSettings(**given)
