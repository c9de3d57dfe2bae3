"""A night's figures through a real Pushgateway into a real Prometheus, and the chart's
alerts over what Prometheus recorded.

Both servers run on loopback (Debian's ``prometheus-pushgateway`` and ``prometheus``),
Prometheus scraping the Pushgateway every second with ``honor_labels``, as a cluster's
ServiceMonitor does. The drift scenario is computed for real: a drifted synthetic night
through :func:`detect_drift` against a training reference, its samples pushed by the
monitoring's adapter. The series Prometheus stored for the night then go, held for as
long as the Pushgateway would hold them, into ``promtool test rules`` with the chart's
rendered PrometheusRule: the feature-drift alert fires for the flagged features and stays
silent once a quiet night has replaced the drifted one.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
import pytest
import requests
import yaml

from customer_classifier.errors import PushgatewayError
from customer_classifier.monitoring.drift import DriftReport, detect_drift
from customer_classifier.monitoring.estimate import NightEstimate, estimate_night
from customer_classifier.monitoring.pushgateway import PushResult, push_night
from customer_classifier.monitoring.reference import DriftReference, build_reference
from customer_classifier.monitoring.samples import (
    ALL_SEGMENTS,
    drift_samples,
    estimate_samples,
    success_sample,
)
from customer_classifier.monitoring_metrics import (
    ESTIMATED_PRECISION,
    FEATURE_DRIFT_FLAGGED,
    FEATURE_DRIFT_STATISTIC,
    LAST_SUCCESS,
    PUSH_JOB,
    SCORE_DRIFT_PSI,
    Sample,
)
from customer_classifier.settings import MonitoringSettings
from tests.deploy.alert_rules import (
    chart_values,
    minutes,
    prometheus_rule,
    rendered_annotations,
    rules_of,
    run_promtool,
    write_rules,
)
from tests.integration.prometheus_server import (
    BasicAuth,
    Target,
    running_prometheus,
    running_pushgateway,
    wait_for,
)
from tests.unit.monitoring.synthetic import CATEGORICAL, NUMERIC, THRESHOLD, night

ENV = "prod"
SCRAPE_S = 1
RECORDED_SCRAPES = 3
"""Scrapes of a night that Prometheus must have stored before its series are replayed."""
FEATURE_DRIFT = "CustomerClassifierFeatureDrift"
SCORE_DRIFT = "CustomerClassifierScoreDrift"
DROPPED = "age"
"""The feature the second night of the pushed-twice test no longer has."""
USER = BasicAuth(
    "monitoring",
    "night-push",
    # bcrypt (cost 4) of the password above, for the Pushgateway's basic_auth_users.
    "$2b$04$eaKRaFeoe2iPe55aKX82qeUcZXKhe59slIrh.Wi2j9/cPxz1VyUTi",
)


@dataclass(frozen=True)
class Servers:
    pushgateway: str
    prometheus: str


@dataclass(frozen=True)
class Night:
    """One night's findings and the samples the monitoring pushes for them."""

    drift: DriftReport
    estimate: NightEstimate
    samples: list[Sample]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    folder = tmp_path_factory.mktemp("pushgateway")
    with running_pushgateway(folder / "pushgateway") as gateway:
        target = Target(urlsplit(gateway).netloc)
        with running_prometheus(
            folder / "prometheus",
            {"pushgateway": [target]},
            interval=f"{SCRAPE_S}s",
            honor_labels={"pushgateway"},
        ) as prometheus:
            yield Servers(gateway, prometheus)


@pytest.fixture(scope="module")
def reference() -> DriftReference:
    frame, scores = night(1, 20_000)
    return build_reference(
        frame,
        scores,
        THRESHOLD,
        numeric=NUMERIC,
        categorical=CATEGORICAL,
        importance={"tenure_days": 0.05, "orders_365d": 0.08, "acquisition_channel": 0.04},
    )


def _night(reference: DriftReference, seed: int, **scenario: Any) -> Night:
    frame, scores = night(seed, 4000, **scenario)
    report = detect_drift(reference, frame, scores)
    score = pd.Series(scores)
    estimate = estimate_night(
        score, (score >= THRESHOLD).astype(int), frame["segment"], calibration=None
    )
    finished = dt.datetime.now(dt.UTC)
    samples = [*drift_samples(report), *estimate_samples(estimate), success_sample(finished)]
    return Night(report, estimate, samples)


@pytest.fixture(scope="module")
def drifted(reference: DriftReference) -> Night:
    """Covariate drift: lower customer quality and more customers from ads."""
    return _night(reference, 99, shift=0.4, ads_share=0.6)


@pytest.fixture(scope="module")
def quiet(reference: DriftReference) -> Night:
    return _night(reference, 98)


# -- Prometheus' HTTP API --------------------------------------------------------------------


def _api(servers: Servers, path: str, **params: object) -> Any:
    answer = requests.get(f"{servers.prometheus}/api/v1/{path}", params=params, timeout=5)
    answer.raise_for_status()
    body = answer.json()
    assert body["status"] == "success", body
    return body["data"]["result"]


def selector(namespace: str, name: str | None = None, **labels: str) -> str:
    matchers = {"job": PUSH_JOB, "namespace": namespace, **labels}
    inner = ", ".join(f'{k}="{v}"' for k, v in matchers.items())
    return f"{name or ''}{{{inner}}}"


def instant(servers: Servers, expr: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = _api(servers, "query", query=expr)
    return result


def by_feature(servers: Servers, namespace: str, name: str) -> dict[str, float]:
    return {
        item["metric"]["feature"]: float(item["value"][1])
        for item in instant(servers, selector(namespace, name))
    }


def flags_of(report: DriftReport) -> dict[str, float]:
    return {f.feature: float(f.flagged) for f in report.features}


def push(servers: Servers, namespace: str, samples: Sequence[Sample]) -> PushResult:
    settings = MonitoringSettings(pushgateway_url=servers.pushgateway, push_namespace=namespace)
    result = push_night(samples, settings)
    assert result.pushed, result
    assert (result.job, result.namespace, result.samples) == (PUSH_JOB, namespace, len(samples))
    return result


def wait_for_night(servers: Servers, namespace: str, report: DriftReport) -> float:
    """Wait until Prometheus holds the night's flags and has scraped them a few times;
    return the night's push time, as the Pushgateway stamped the group."""
    wanted = flags_of(report)
    wait_for(
        lambda: by_feature(servers, namespace, FEATURE_DRIFT_FLAGGED.name) == wanted,
        f"the flags of the night in {namespace}",
    )
    (pushed,) = instant(servers, selector(namespace, "push_time_seconds"))
    stamp = float(pushed["value"][1])
    scraped = f"{selector(namespace, 'push_time_seconds')}[5m]"

    def recorded() -> bool:
        history = _api(servers, "query", query=scraped)
        values = [float(v) for _, v in history[0]["values"]] if history else []
        return values.count(stamp) >= RECORDED_SCRAPES

    wait_for(recorded, f"{RECORDED_SCRAPES} scrapes of the night's push in {namespace}")
    return stamp


def record(servers: Servers, namespace: str, start: float, stamp: float) -> dict[str, list[str]]:
    """The night's ``cc_monitoring_*`` series as Prometheus stored them since ``start``,
    scrape by scrape, keeping the scrapes that carried the push of ``stamp``: series text
    to promtool values (``_`` where a series had no sample in a scrape)."""
    end = time.time()
    result = _api(
        servers,
        "query",
        query=f"{selector(namespace)}[{math.ceil(end - start)}s]",
        time=f"{end:.3f}",
    )
    pushes = {
        float(t): float(v)
        for item in result
        if item["metric"]["__name__"] == "push_time_seconds"
        for t, v in item["values"]
    }
    scrapes = sorted(t for t, pushed in pushes.items() if pushed == stamp)
    assert len(scrapes) >= RECORDED_SCRAPES, pushes
    out: dict[str, list[str]] = {}
    for item in result:
        labels = dict(item["metric"])
        name = labels.pop("__name__")
        if not name.startswith("cc_monitoring_"):
            continue
        values = {float(t): v for t, v in item["values"]}
        out[_series_text(name, labels)] = [values.get(t, "_") for t in scrapes]
    return out


def _series_text(name: str, labels: Mapping[str, str]) -> str:
    return name + "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


# -- promtool ---------------------------------------------------------------------------------


def held(recorded: Mapping[str, list[str]], samples: int) -> list[dict[str, str]]:
    """promtool input series: the recorded values, then the last one for ``samples`` more
    scrapes, as the Pushgateway serves a group until the next night replaces it."""
    out = []
    for series, values in recorded.items():
        assert values[-1] != "_", f"{series} vanished within the night"
        out.append({"series": series, "values": " ".join([*values, f"{values[-1]}x{samples}"])})
    return out


def alert_test(
    name: str,
    series: list[dict[str, str]],
    eval_minute: int,
    expected: Mapping[str, list[dict[str, str]]],
    rule: dict[str, Any],
) -> dict[str, Any]:
    """A promtool test: at ``eval_minute``, each alert of ``expected`` fires with exactly
    the label sets given (none: silent), with the severity and annotations the chart sets."""
    items = {r["alert"]: r for r in rules_of(rule) if "alert" in r}
    checks = []
    for alert, firing in expected.items():
        item = items[alert]
        severity = item["labels"]["severity"]
        checks.append(
            {
                "eval_time": f"{eval_minute}m",
                "alertname": alert,
                "exp_alerts": [
                    {
                        "exp_labels": {**labels, "severity": severity},
                        "exp_annotations": rendered_annotations(item["annotations"], labels),
                    }
                    for labels in firing
                ],
            }
        )
    return {
        "name": name,
        "interval": f"{SCRAPE_S}s",
        "input_series": series,
        "alert_rule_test": checks,
    }


def run_suite(folder: Path, rule: dict[str, Any], tests: list[dict[str, Any]]) -> str:
    write_rules(rule, folder / "rules.yaml")
    suite = folder / "recorded.test.yaml"
    suite.write_text(
        yaml.safe_dump(
            {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests},
            sort_keys=False,
            width=10_000,
        ),
        encoding="utf-8",
    )
    done = run_promtool("test", "rules", suite.name, cwd=folder)
    assert done.returncode == 0, f"{done.stdout[-6000:]}\n{done.stderr[-2000:]}"
    return done.stdout


# -- the tests ----------------------------------------------------------------------------------


def test_the_drift_scenario_reaches_prometheus_and_fires_the_feature_drift_alert(
    servers: Servers, drifted: Night, quiet: Night, tmp_path: Path
) -> None:
    rule = prometheus_rule(ENV)
    namespace = rule["metadata"]["namespace"]
    alerts = chart_values(ENV)["monitoring"]["prometheusRule"]["alerts"]
    flagged = set(drifted.drift.flagged)
    assert flagged, "the drift scenario must flag features"
    assert flagged < set(flags_of(drifted.drift)), "some features must stay unflagged"
    assert not quiet.drift.alarm, quiet.drift.flagged

    start = time.time()
    push(servers, namespace, drifted.samples)
    drifted_push = wait_for_night(servers, namespace, drifted.drift)
    series = instant(servers, selector(namespace, FEATURE_DRIFT_FLAGGED.name))
    for item in series:  # the grouping key, kept by honor_labels; no instance of the scrape
        assert item["metric"]["job"] == PUSH_JOB
        assert item["metric"]["namespace"] == namespace
        assert "instance" not in item["metric"]
    values = by_feature(servers, namespace, FEATURE_DRIFT_FLAGGED.name)
    assert {f for f, v in values.items() if v == 1.0} == flagged
    assert {f for f, v in values.items() if v == 0.0} == set(values) - flagged
    (everyone,) = instant(
        servers, selector(namespace, ESTIMATED_PRECISION.name, segment=ALL_SEGMENTS)
    )
    table = drifted.estimate.table.set_index("segment")
    assert math.isclose(
        float(everyone["value"][1]), float(table.loc[ALL_SEGMENTS, "estimated_precision"])
    )
    (finished,) = instant(servers, selector(namespace, LAST_SUCCESS.name))
    assert float(finished["value"][1]) == next(
        s.value for s in drifted.samples if s.metric is LAST_SUCCESS
    )
    drifted_series = record(servers, namespace, start, drifted_push)

    quiet_start = time.time()
    push(servers, namespace, quiet.samples)
    quiet_push = wait_for_night(servers, namespace, quiet.drift)
    assert quiet_push > drifted_push
    quiet_series = record(servers, namespace, quiet_start, quiet_push)
    assert set(quiet_series) == set(drifted_series), "the same series, other values"

    feature_for = alerts["featureDrift"]["for"]
    at = minutes(feature_for) + 10
    hold = at * 60 // SCRAPE_S
    keys = {"job": PUSH_JOB, "namespace": namespace}
    max_psi = float(alerts["scoreDrift"]["maxPsi"])

    def score_drift(report: DriftReport) -> list[dict[str, str]]:
        return [keys] if report.score.statistics["psi"] > max_psi else []

    tests = [
        alert_test(
            "the drifted night, as Prometheus recorded it",
            held(drifted_series, hold),
            at,
            {
                FEATURE_DRIFT: [{**keys, "feature": f} for f in sorted(flagged)],
                SCORE_DRIFT: score_drift(drifted.drift),
            },
            rule,
        ),
        alert_test(
            "the quiet night that replaced it",
            held(quiet_series, hold),
            at,
            {FEATURE_DRIFT: [], SCORE_DRIFT: score_drift(quiet.drift)},
            rule,
        ),
    ]
    out = run_suite(tmp_path, rule, tests)
    assert "SUCCESS" in out, out


def test_a_second_night_replaces_the_first_nights_group(
    servers: Servers, drifted: Night, quiet: Night
) -> None:
    namespace = "ml-pushed-twice"
    push(servers, namespace, drifted.samples)
    wait_for(
        lambda: (
            by_feature(servers, namespace, FEATURE_DRIFT_FLAGGED.name) == flags_of(drifted.drift)
        ),
        "the first night's flags",
    )
    second = [s for s in quiet.samples if s.label_map.get("feature") != DROPPED]
    assert len(second) < len(quiet.samples)
    push(servers, namespace, second)
    wanted = {f: v for f, v in flags_of(quiet.drift).items() if f != DROPPED}
    wait_for(
        lambda: by_feature(servers, namespace, FEATURE_DRIFT_FLAGGED.name) == wanted,
        f"the second night's flags, without {DROPPED}",
    )
    assert DROPPED not in by_feature(servers, namespace, FEATURE_DRIFT_STATISTIC.name)
    groups = requests.get(f"{servers.pushgateway}/api/v1/metrics", timeout=5).json()["data"]
    mine = [g for g in groups if g["labels"].get("namespace") == namespace]
    assert len(mine) == 1, mine
    assert mine[0]["labels"]["job"] == PUSH_JOB


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Pushgateway that lets in only ``USER``."""
    with running_pushgateway(tmp_path_factory.mktemp("guarded"), USER) as url:
        yield url


def test_a_pushgateway_with_basic_auth_takes_the_configured_user_only(
    guarded: str, quiet: Night
) -> None:
    def settings(**credentials: Any) -> MonitoringSettings:
        return MonitoringSettings(pushgateway_url=guarded, push_namespace="ml-auth", **credentials)

    with pytest.raises(PushgatewayError) as anonymous:
        push_night(quiet.samples, settings())
    message = str(anonymous.value)
    assert guarded in message
    assert "401" in message
    assert "CC_MONITORING__PUSHGATEWAY_USER" in message

    with pytest.raises(PushgatewayError) as wrong:
        push_night(quiet.samples, settings(pushgateway_user=USER.user, pushgateway_password="no"))
    assert f"the user '{USER.user}' is not let in" in str(wrong.value)

    result = push_night(
        quiet.samples, settings(pushgateway_user=USER.user, pushgateway_password=USER.password)
    )
    assert result.pushed
    groups = requests.get(
        f"{guarded}/api/v1/metrics", auth=(USER.user, USER.password), timeout=5
    ).json()["data"]
    assert [g["labels"]["namespace"] for g in groups] == ["ml-auth"]


def test_a_push_the_pushgateway_finds_inconsistent_is_refused_naming_the_clash(
    quiet: Night, tmp_path: Path
) -> None:
    """Another job holds a counter under a name the monitoring pushes as a gauge: the
    Pushgateway (a fresh one, holding nothing else) refuses the night rather than serve
    both."""
    clash = f"# TYPE {SCORE_DRIFT_PSI.name} counter\n{SCORE_DRIFT_PSI.name} 3\n"
    with running_pushgateway(tmp_path) as gateway:
        seeded = requests.put(f"{gateway}/metrics/job/other-job", data=clash, timeout=5)
        assert seeded.status_code == 200, seeded.text
        settings = MonitoringSettings(pushgateway_url=gateway, push_namespace="ml-clash")
        with pytest.raises(PushgatewayError) as refused:
            push_night(quiet.samples, settings)
    message = str(refused.value)
    assert f"the Pushgateway at {gateway} refused" in message
    assert "HTTP 400" in message
    assert SCORE_DRIFT_PSI.name in message
    assert "delete the clashing group" in message
