"""The one adapter to the Prometheus Pushgateway: a night's samples as gauges of one group.

A night pushes under the grouping key ``job=PUSH_JOB``, ``namespace=<namespace>`` with
PUT (prometheus_client's ``push_to_gateway``), which replaces the whole group: a feature
the champion no longer has, or a segment without customers labelled good tonight, leaves
the Pushgateway instead of repeating last night's figure until someone deletes it by hand.
"""

from __future__ import annotations

import dataclasses
import urllib.error
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway
from prometheus_client.exposition import basic_auth_handler, default_handler

from customer_classifier.errors import PushgatewayError
from customer_classifier.monitoring_metrics import PUSH_JOB, PushedMetric, Sample
from customer_classifier.settings import MonitoringSettings

POD_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
"""Where Kubernetes tells a pod its namespace."""
_BODY_CHARS = 300
"""How much of a refusal's body goes into the error: the Pushgateway's reason fits."""

Handler = Callable[..., Callable[[], None]]


@dataclass(frozen=True)
class PushResult:
    """What a night's push did: where it went, under which group, and how much."""

    url: str
    job: str
    namespace: str
    samples: int
    metrics: int
    pushed: bool
    reason: str = ""
    """Why nothing was pushed; empty when ``pushed``."""

    def to_json(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def registry_of(samples: Iterable[Sample]) -> CollectorRegistry:
    """A registry holding one gauge per metric of ``samples``; a metric without samples is
    left out, so its series is absent rather than stale. Two samples of one metric with
    the same labels are a bug upstream, refused rather than silently overwritten."""
    registry = CollectorRegistry(auto_describe=True)
    gauges: dict[str, Gauge] = {}
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    for item in samples:
        key = (item.metric.name, item.labels)
        if key in seen:
            raise ValueError(
                f"two samples of {item.metric.name} with the labels {dict(item.labels)}; "
                "each series takes one value a night"
            )
        seen.add(key)
        if item.metric.name not in gauges:
            gauges[item.metric.name] = _gauge(item.metric, registry)
        gauge = gauges[item.metric.name]
        (gauge.labels(**item.label_map) if item.metric.labels else gauge).set(item.value)
    return registry


def _gauge(metric: PushedMetric, registry: CollectorRegistry) -> Gauge:
    return Gauge(metric.name, metric.help, labelnames=metric.labels, registry=registry)


def namespace_of(settings: MonitoringSettings, pod_namespace: Path = POD_NAMESPACE) -> str:
    """The configured namespace, else the pod's own (``pod_namespace``), else
    ``default`` (kubectl's)."""
    if settings.push_namespace:
        return settings.push_namespace
    if pod_namespace.is_file():
        return pod_namespace.read_text(encoding="utf-8").strip()
    return "default"


def push_night(samples: Sequence[Sample], settings: MonitoringSettings) -> PushResult:
    """Push the night's ``samples`` to ``CC_MONITORING__PUSHGATEWAY_URL``, replacing the
    previous night's group; with no URL, push nothing and say so."""
    password = settings.pushgateway_password
    return push_samples(
        samples,
        url=settings.pushgateway_url,
        namespace=namespace_of(settings),
        timeout_s=settings.push_timeout_s,
        user=settings.pushgateway_user,
        password=password.get_secret_value() if password is not None else None,
    )


def push_samples(
    samples: Sequence[Sample],
    *,
    url: str,
    namespace: str,
    timeout_s: float,
    user: str | None = None,
    password: str | None = None,
) -> PushResult:
    """PUT ``samples`` as the group ``job=PUSH_JOB``, ``namespace=namespace`` at ``url``."""
    registry = registry_of(samples)
    result = PushResult(
        url=url.rstrip("/"),
        job=PUSH_JOB,
        namespace=namespace,
        samples=len(samples),
        metrics=len({s.metric.name for s in samples}),
        pushed=False,
    )
    if not url:
        return dataclasses.replace(
            result, reason="no Pushgateway configured (CC_MONITORING__PUSHGATEWAY_URL)"
        )
    group = f"job={PUSH_JOB}, namespace={namespace}"
    try:
        push_to_gateway(
            url,
            job=PUSH_JOB,
            registry=registry,
            grouping_key={"namespace": namespace},
            timeout=timeout_s,
            handler=_handler(user, password),
        )
    except urllib.error.HTTPError as error:
        raise PushgatewayError(_refused(result.url, group, error, user)) from error
    except OSError as error:  # URLError, refused connections, timeouts
        reason = getattr(error, "reason", None) or error
        raise PushgatewayError(
            f"cannot reach the Pushgateway at {result.url} to push the group {group} "
            f"within {timeout_s:g} s: {reason}; check CC_MONITORING__PUSHGATEWAY_URL (scheme, "
            "host and port, e.g. http://pushgateway.monitoring:9091) and that the Pushgateway "
            "runs, raise CC_MONITORING__PUSH_TIMEOUT_S if it is slow, or empty the URL to skip "
            "the push"
        ) from error
    return dataclasses.replace(result, pushed=True)


def _handler(user: str | None, password: str | None) -> Handler:
    if user is None or password is None:
        return default_handler

    def with_credentials(
        url: str,
        method: str,
        timeout: float | None,
        headers: list[tuple[str, str]],
        data: bytes,
    ) -> Callable[[], None]:
        return basic_auth_handler(url, method, timeout, headers, data, user, password)

    return with_credentials


def _refused(url: str, group: str, error: urllib.error.HTTPError, user: str | None) -> str:
    try:
        body = error.read().decode("utf-8", "replace").strip()[:_BODY_CHARS]
    except OSError:
        body = ""
    said = f"HTTP {error.code} {error.reason}" + (f" ({body})" if body else "")
    if error.code in (401, 403):
        fix = (
            f"the user {user!r} is not let in: correct CC_MONITORING__PUSHGATEWAY_USER and "
            "CC_MONITORING__PUSHGATEWAY_PASSWORD"
            if user
            else "it wants credentials: set CC_MONITORING__PUSHGATEWAY_USER and "
            "CC_MONITORING__PUSHGATEWAY_PASSWORD"
        )
    elif error.code == 404:
        fix = (
            "no Pushgateway API at that path: CC_MONITORING__PUSHGATEWAY_URL must be the "
            "Pushgateway's base URL (with its --web.route-prefix, if any), without /metrics"
        )
    elif error.code == 400:
        fix = (
            "the push is inconsistent with what the Pushgateway holds (a metric of the same "
            "name with another type in another group, or a label clashing with the grouping "
            "key); delete the clashing group, or push to a Pushgateway of this deployment's "
            "own"
        )
    else:
        fix = "see the Pushgateway's log, and run the night's monitoring again"
    return f"the Pushgateway at {url} refused the push of the group {group}: {said}; {fix}"
