"""The chart's PrometheusRule, run by ``promtool test rules`` on synthetic series.

For every environment the chart is rendered, its rule groups go to a rules file, and a
unit-test file is generated from the same values the chart rendered with: for each
alert, series that break it (the alert fires, with its labels and annotations) and
series that stay healthy (it is silent). The thresholds, windows and ``for`` durations
are read from the values, so a changed value changes the series, never the test.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from customer_classifier import monitoring_metrics
from customer_classifier.serving.metrics import LATENCY_BUCKETS, SCORE_BUCKETS, ServingMetrics

from .alert_rules import (
    METRIC,
    chart_values,
    constant,
    labels_text,
    le_label,
    minutes,
    prometheus_rule,
    ramp,
    render,
    rendered_annotations,
    rules_of,
    run_promtool,
    write_rules,
)
from .rendering import CHART, ENVIRONMENTS, NAMESPACES, RELEASE, by_kind, run_tool

PSI_FLOOR = 0.001
"""The share an empty bucket counts as in the chart's PSI recording rule."""


@dataclass
class Scenario:
    """Input series, the minute to evaluate at, and the label sets of the alerts that must
    fire then (empty: the alert must be silent)."""

    what: str
    series: dict[str, str]
    at: int
    firing: list[dict[str, str]] = field(default_factory=list)
    step: int = 1
    """Minutes between samples, and between rule evaluations."""


@dataclass(frozen=True)
class Context:
    """What every scenario needs: the alert's values and the labels of the targets."""

    values: dict[str, Any]
    min_request_rate: float
    predictor: dict[str, str]
    """Labels of a predictor pod's samples as Prometheus stores them."""
    pushed: dict[str, str]
    """Labels of a pushed monitoring metric as scraped from the Pushgateway."""

    @property
    def keys(self) -> dict[str, str]:
        return {k: self.predictor[k] for k in ("namespace", "job")}

    @property
    def pushed_keys(self) -> dict[str, str]:
        return {k: self.pushed[k] for k in ("namespace", "job")}

    def series(self, name: str, **labels: str) -> str:
        return labels_text(name, {**self.predictor, **labels})

    def pushed_series(self, name: str, **labels: str) -> str:
        return labels_text(name, {**self.pushed, **labels})


def _requests(ctx: Context, reason: str, *, by_reason: bool) -> list[Scenario]:
    v = ctx.values
    ratio = float(v["maxRatio"])
    assert ratio < 1, f"maxRatio {ratio} leaves no error ratio that could break it"
    at = minutes(v["window"], v["for"]) + 10
    per_minute = max(6000, math.ceil(ctx.min_request_rate * 60 * 10))
    requests = ctx.series("cc_serving_requests_total", model_name=ctx.predictor["job"])
    errors = ctx.series(
        "cc_serving_request_errors_total", model_name=ctx.predictor["job"], reason=reason
    )

    def case(what: str, rate: int, failing: int, fires: bool) -> Scenario:
        firing = [{**ctx.keys, "reason": reason} if by_reason else ctx.keys]
        return Scenario(
            what,
            {requests: ramp((rate, at)), errors: ramp((failing, at))},
            at,
            firing if fires else [],
        )

    out = [
        case(
            "error ratio twice the bound",
            per_minute,
            min(per_minute, math.ceil(per_minute * ratio * 2) + 1),
            True,
        ),
        case("error ratio half the bound", per_minute, math.floor(per_minute * ratio / 2), False),
    ]
    quiet_rate = math.floor(ctx.min_request_rate * 60 / 2)
    if quiet_rate >= 1:
        out.append(
            case("every request fails, below the minimum rate", quiet_rate, quiet_rate, False)
        )
    return out


def server_errors(ctx: Context) -> list[Scenario]:
    return _requests(ctx, "inference_error", by_reason=False)


def request_errors(ctx: Context) -> list[Scenario]:
    return _requests(ctx, "invalid_input", by_reason=True)


def latency(ctx: Context) -> list[Scenario]:
    v = ctx.values
    bound = float(v["maxSeconds"])
    edges = [*LATENCY_BUCKETS, math.inf]
    assert edges[0] < bound < edges[-3], f"maxSeconds {bound} outside the buckets' reach"
    at = minutes(v["window"], v["for"]) + 10
    slow = next(i for i in range(1, len(edges)) if edges[i - 1] >= bound)

    def histogram(bucket: int) -> dict[str, str]:
        return {
            ctx.series(
                "cc_serving_request_seconds_bucket",
                model_name=ctx.predictor["job"],
                protocol="v1",
                le=le_label(edge),
            ): ramp((600 if i >= bucket else 0, at))
            for i, edge in enumerate(edges)
        }

    return [
        Scenario(f"every request above {edges[slow - 1]} s", histogram(slow), at, [ctx.keys]),
        Scenario(f"every request below {edges[0]} s", histogram(0), at),
    ]


def target_down(ctx: Context) -> list[Scenario]:
    at = minutes(ctx.values["for"]) + 10
    up = ctx.series("up")
    return [
        Scenario("up == 0", {up: constant(0, at)}, at, [ctx.predictor]),
        Scenario("up == 1", {up: constant(1, at)}, at),
    ]


def predictor_absent(ctx: Context) -> list[Scenario]:
    at = minutes(ctx.values["for"]) + 10
    other = labels_text("up", {**ctx.predictor, "job": "some-other-job"})
    up = ctx.series("up")
    return [
        Scenario("no target of the job", {other: constant(1, at)}, at, [ctx.keys]),
        Scenario("every target down", {up: constant(0, at)}, at, [ctx.keys]),
        Scenario("a target up", {up: constant(1, at)}, at),
    ]


def no_champion(ctx: Context) -> list[Scenario]:
    at = minutes(ctx.values["for"]) + 10
    up = ctx.series("up")
    info = ctx.series(
        "cc_serving_model_info", model_name=ctx.predictor["job"], role="champion", version="v1"
    )
    return [
        Scenario("up without a champion", {up: constant(1, at)}, at, [ctx.keys]),
        Scenario("a champion served", {up: constant(1, at), info: constant(1, at)}, at),
    ]


def reload_failures(ctx: Context) -> list[Scenario]:
    at = minutes(ctx.values["window"], ctx.values["for"]) + 10

    def reloads(outcome: str) -> str:
        return ctx.series(
            "cc_serving_reloads_total", model_name=ctx.predictor["job"], outcome=outcome
        )

    return [
        Scenario("a failed reload a minute", {reloads("failed"): ramp((1, at))}, at, [ctx.keys]),
        Scenario(
            "reloads that succeed",
            {reloads("loaded"): ramp((1, at)), reloads("failed"): constant(0, at)},
            at,
        ),
    ]


def shadow_agreement(ctx: Context) -> list[Scenario]:
    v = ctx.values
    floor = float(v["minRatio"])
    assert floor > 0, "minRatio 0: no agreement can break it"
    at = minutes(v["window"], v["for"]) + 10
    pair = {
        "model_name": ctx.predictor["job"],
        "champion_version": "v1",
        "challenger_version": "v2",
    }
    compared = ctx.series("cc_serving_shadow_compared_rows_total", **pair)
    agreed = ctx.series("cc_serving_shadow_agreed_rows_total", **pair)
    firing = {**ctx.keys, "champion_version": "v1", "challenger_version": "v2"}
    return [
        Scenario(
            "agreement half the floor",
            {compared: ramp((600, at)), agreed: ramp((math.floor(600 * floor / 2), at))},
            at,
            [firing],
        ),
        Scenario("full agreement", {compared: ramp((600, at)), agreed: ramp((600, at))}, at),
    ]


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """The chart's PSI of two bucket distributions (shares), empty buckets floored."""
    total = 0.0
    for p, q in zip(actual, expected, strict=True):
        p, q = max(p, PSI_FLOOR), max(q, PSI_FLOOR)
        total += (p - q) * math.log(p / q)
    return total


def score_shift(ctx: Context) -> list[Scenario]:
    """A day of evaluations: sampled every few minutes rather than every minute, which
    keeps promtool's run short and changes nothing for one-hour windows."""
    v = ctx.values
    offset, window, hold = minutes(v["offset"]), minutes(v["window"]), minutes(v["for"])
    assert window + hold + 15 < offset, "the window and for must fit in the offset"
    step = math.gcd(offset, window, hold, 15)
    at = offset + window + hold + 15
    bins = len(SCORE_BUCKETS)
    uniform = [1.0 / bins] * bins
    shifted = [0.0] * (bins - 2) + [0.5, 0.5]
    assert psi(uniform, shifted) > float(v["maxPsi"]), "the planted shift must break maxPsi"
    per_bin = max(10, math.ceil(2 * int(v["minScores"]) / (bins * window)))
    edges = [le_label(b) for b in SCORE_BUCKETS] + ["+Inf"]
    base = {"model_name": ctx.predictor["job"], "role": "champion", "version": "v1"}

    def histogram(before: Sequence[float], after: Sequence[float]) -> dict[str, str]:
        """Scores a minute per bucket: ``before`` until the offset, ``after`` since."""
        out = {}
        for i, edge in enumerate(edges):
            out[ctx.series("cc_serving_score_bucket", **base, le=edge)] = ramp(
                (sum(before[: i + 1]) * step, offset // step),
                (sum(after[: i + 1]) * step, (at - offset) // step + 1),
            )
        out[ctx.series("cc_serving_score_count", **base)] = ramp(
            (sum(before) * step, offset // step), (sum(after) * step, (at - offset) // step + 1)
        )
        return out

    def counts(shares: Sequence[float]) -> list[float]:
        return [round(s * per_bin * bins) for s in shares]

    scenarios = [
        Scenario(
            "scores move to the top buckets",
            histogram(counts(uniform), counts(shifted)),
            at,
            [ctx.keys],
            step=step,
        ),
        Scenario(
            "the same distribution a day later",
            histogram(counts(uniform), counts(uniform)),
            at,
            step=step,
        ),
    ]
    if int(v["minScores"]) > window:  # one score a minute is then too few to judge
        one = [1.0] + [0.0] * (bins - 1)
        top = [0.0] * (bins - 1) + [1.0]
        scenarios.append(Scenario("a shift on too few scores", histogram(one, top), at, step=step))
    return scenarios


def monitoring_stale(ctx: Context) -> list[Scenario]:
    v = ctx.values
    at = minutes(v["for"]) + 10
    last = ctx.pushed_series(monitoring_metrics.LAST_SUCCESS.name)
    elsewhere = labels_text(
        monitoring_metrics.LAST_SUCCESS.name, {**ctx.pushed, "namespace": "elsewhere"}
    )
    long_ago = -(int(v["maxAgeSeconds"]) + 3600)
    return [
        Scenario(
            "last success beyond the age", {last: constant(long_ago, at)}, at, [ctx.pushed_keys]
        ),
        Scenario("never pushed", {elsewhere: ramp((60, at))}, at, [ctx.pushed_keys]),
        Scenario("pushed every minute", {last: ramp((60, at))}, at),
    ]


def _flag(ctx: Context, metric: monitoring_metrics.PushedMetric, **labels: str) -> list[Scenario]:
    at = minutes(ctx.values["for"]) + 10
    series = ctx.pushed_series(metric.name, **labels)
    return [
        Scenario("flagged", {series: constant(1, at)}, at, [{**ctx.pushed_keys, **labels}]),
        Scenario("not flagged", {series: constant(0, at)}, at),
    ]


def pipeline_check(ctx: Context) -> list[Scenario]:
    return _flag(ctx, monitoring_metrics.PIPELINE_CHECK_FAILED, check="input_volume")


def concept_drift(ctx: Context) -> list[Scenario]:
    return _flag(ctx, monitoring_metrics.CONCEPT_DRIFT_FLAGGED)


def feature_drift(ctx: Context) -> list[Scenario]:
    at = minutes(ctx.values["for"]) + 10
    needed = int(ctx.values["minFeatures"])
    name = monitoring_metrics.FEATURE_DRIFT_FLAGGED.name

    def flags(drifted: int) -> dict[str, str]:
        return {
            ctx.pushed_series(name, feature=f"feature_{i}"): constant(int(i < drifted), at)
            for i in range(needed + 1)
        }

    firing = [{**ctx.pushed_keys, "feature": f"feature_{i}"} for i in range(needed)]
    scenarios = [Scenario(f"{needed} features drifted", flags(needed), at, firing)]
    scenarios.append(Scenario(f"{needed - 1} features drifted", flags(needed - 1), at))
    return scenarios


def _above(ctx: Context, metric: monitoring_metrics.PushedMetric, key: str) -> list[Scenario]:
    at = minutes(ctx.values["for"]) + 10
    bound = float(ctx.values[key])
    series = ctx.pushed_series(metric.name)
    broken = bound * 2 if bound * 2 <= 1 or key == "maxPsi" else (bound + 1) / 2
    assert broken > bound, f"{key} {bound}: no value can break it"
    return [
        Scenario(f"{broken} above {bound}", {series: constant(broken, at)}, at, [ctx.pushed_keys]),
        Scenario(f"{bound / 2} below {bound}", {series: constant(bound / 2, at)}, at),
    ]


def score_drift(ctx: Context) -> list[Scenario]:
    return _above(ctx, monitoring_metrics.SCORE_DRIFT_PSI, "maxPsi")


def calibration(ctx: Context) -> list[Scenario]:
    return _above(ctx, monitoring_metrics.CALIBRATION_ERROR, "maxRatio")


def _precision(ctx: Context, metric: monitoring_metrics.PushedMetric) -> list[Scenario]:
    at = minutes(ctx.values["for"]) + 10
    floor = float(ctx.values["minRatio"])
    assert floor > 0, "minRatio 0: no precision can break it"
    healthy = (1 + floor) / 2

    def segments(everyone: float) -> dict[str, str]:
        return {
            ctx.pushed_series(metric.name, segment="all"): constant(everyone, at),
            ctx.pushed_series(metric.name, segment="new_customers"): constant(healthy, at),
        }

    return [
        Scenario(
            "segment all at half the floor",
            segments(floor / 2),
            at,
            [{**ctx.pushed_keys, "segment": "all"}],
        ),
        Scenario("every segment above the floor", segments(healthy), at),
    ]


def estimated_precision(ctx: Context) -> list[Scenario]:
    return _precision(ctx, monitoring_metrics.ESTIMATED_PRECISION)


def realised_precision(ctx: Context) -> list[Scenario]:
    return _precision(ctx, monitoring_metrics.REALISED_PRECISION)


@dataclass(frozen=True)
class AlertCase:
    values_key: str
    scenarios: Callable[[Context], list[Scenario]]


ALERTS: dict[str, AlertCase] = {
    "CustomerClassifierServerErrors": AlertCase("serverErrors", server_errors),
    "CustomerClassifierRequestErrors": AlertCase("requestErrors", request_errors),
    "CustomerClassifierLatencyHigh": AlertCase("latencyP99", latency),
    "CustomerClassifierTargetDown": AlertCase("targetDown", target_down),
    "CustomerClassifierPredictorAbsent": AlertCase("predictorAbsent", predictor_absent),
    "CustomerClassifierNoChampion": AlertCase("noChampion", no_champion),
    "CustomerClassifierModelReloadFailed": AlertCase("reloadFailures", reload_failures),
    "CustomerClassifierShadowAgreementLow": AlertCase("shadowAgreement", shadow_agreement),
    "CustomerClassifierScoreShift": AlertCase("scoreShift", score_shift),
    "CustomerClassifierMonitoringStale": AlertCase("monitoringStale", monitoring_stale),
    "CustomerClassifierPipelineCheckFailed": AlertCase("pipelineCheckFailed", pipeline_check),
    "CustomerClassifierFeatureDrift": AlertCase("featureDrift", feature_drift),
    "CustomerClassifierScoreDrift": AlertCase("scoreDrift", score_drift),
    "CustomerClassifierEstimatedPrecisionLow": AlertCase("estimatedPrecision", estimated_precision),
    "CustomerClassifierRealisedPrecisionLow": AlertCase("realisedPrecision", realised_precision),
    "CustomerClassifierConceptDrift": AlertCase("conceptDrift", concept_drift),
    "CustomerClassifierCalibrationError": AlertCase("calibrationError", calibration),
}


# -- the promtool test file ----------------------------------------------------------------


@dataclass(frozen=True)
class UnitTest:
    alert: str
    step: int
    body: dict[str, Any]
    """One entry of a promtool test file's ``tests``."""

    @property
    def fires(self) -> bool:
        return bool(self.body["alert_rule_test"][0]["exp_alerts"])


def unit_tests(rule: dict[str, Any], values: dict[str, Any]) -> list[UnitTest]:
    """One promtool test per scenario of every alert the rule renders."""
    monitoring = values["monitoring"]["prometheusRule"]
    namespace = rule["metadata"]["namespace"]
    predictor = {
        "job": rule["metadata"]["name"],
        "namespace": namespace,
        "instance": "10.1.2.3:8080",
        "pod": f"{rule['metadata']['name']}-predictor-00001-deployment-abcde",
        "container": "kserve-container",
    }
    pushed = {
        "job": monitoring["pushedJob"],
        "namespace": namespace,
        "instance": "pushgateway.monitoring:9091",
    }
    tests = []
    for item in rules_of(rule):
        if "alert" not in item:
            continue
        case = ALERTS[item["alert"]]
        settings = monitoring["alerts"][case.values_key]
        context = Context(settings, float(monitoring["minRequestRate"]), predictor, pushed)
        for scenario in case.scenarios(context):
            expected = [
                {
                    "exp_labels": {**labels, "severity": settings["severity"]},
                    "exp_annotations": rendered_annotations(item["annotations"], labels),
                }
                for labels in scenario.firing
            ]
            body = {
                "name": f"{item['alert']}: {scenario.what}",
                "interval": f"{scenario.step}m",
                "input_series": [{"series": s, "values": v} for s, v in scenario.series.items()],
                "alert_rule_test": [
                    {
                        "eval_time": f"{scenario.at}m",
                        "alertname": item["alert"],
                        "exp_alerts": expected,
                    }
                ],
            }
            tests.append(UnitTest(item["alert"], scenario.step, body))
    return tests


def write_suites(rule: dict[str, Any], tests: Sequence[UnitTest], folder: Path) -> list[Path]:
    """One promtool test file per alert, each with a rules file of that alert and the
    records it reads: promtool evaluates every rule of its files at every step, and the
    score-shift test alone spans a day."""
    items = rules_of(rule)
    suites = []
    for alert in dict.fromkeys(t.alert for t in tests):
        chosen = [t for t in tests if t.alert == alert]
        (step,) = {t.step for t in chosen}
        recorded = {r["record"]: r["expr"] for r in items if "record" in r}
        needed: set[str] = set()
        pending = [next(r["expr"] for r in items if r.get("alert") == alert)]
        while pending:  # the records the alert reads, and the records those read
            for name in set(METRIC.findall(pending.pop())) & set(recorded) - needed:
                needed.add(name)
                pending.append(recorded[name])
        groups = [
            {
                **g,
                "rules": [
                    r for r in g["rules"] if r.get("alert") == alert or r.get("record") in needed
                ],
            }
            for g in rule["spec"]["groups"]
        ]
        rules_file = folder / f"{alert}.rules.yaml"
        rules_file.write_text(
            yaml.safe_dump({"groups": [g for g in groups if g["rules"]]}, sort_keys=False),
            encoding="utf-8",
        )
        suite = folder / f"{alert}.test.yaml"
        suite.write_text(
            yaml.safe_dump(
                {
                    "rule_files": [rules_file.name],
                    "evaluation_interval": f"{step}m",
                    "tests": [t.body for t in chosen],
                },
                sort_keys=False,
                width=10_000,
            ),
            encoding="utf-8",
        )
        suites.append(suite)
    return suites


@pytest.fixture(scope="module", params=ENVIRONMENTS)
def rendered(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, dict[str, Any], Path]:
    env: str = request.param
    rule = prometheus_rule(env)
    folder = tmp_path_factory.mktemp(f"rules-{env}")
    write_rules(rule, folder / "rules.yaml")
    return env, rule, folder


def test_rules_pass_promtool_check(rendered: tuple[str, dict[str, Any], Path]) -> None:
    _, rule, folder = rendered
    done = run_promtool("check", "rules", "rules.yaml", cwd=folder)
    assert done.returncode == 0, done.stdout + done.stderr
    alerts = sum("alert" in r for g in rule["spec"]["groups"] for r in g["rules"])
    assert (
        f"SUCCESS: {sum(len(g['rules']) for g in rule['spec']['groups'])} rules found"
        in done.stdout
    )
    assert alerts == len(ALERTS)


def test_every_alert_fires_when_broken_and_stays_silent_when_healthy(
    rendered: tuple[str, dict[str, Any], Path],
) -> None:
    env, rule, folder = rendered
    tests = unit_tests(rule, chart_values(env))
    rendered_alerts = {r["alert"] for r in rules_of(rule) if "alert" in r}
    assert rendered_alerts == set(ALERTS), "every rendered alert needs its scenarios here"
    assert {t.alert for t in tests if t.fires} == set(ALERTS)
    assert {t.alert for t in tests if not t.fires} == set(ALERTS)
    suites = write_suites(rule, tests, folder)
    done = run_promtool("test", "rules", *(s.name for s in suites), cwd=folder)
    assert done.returncode == 0, f"{env}:\n{done.stdout[-8000:]}\n{done.stderr[-2000:]}"
    assert done.stdout.count("SUCCESS") == len(suites) == len(ALERTS)


def _exported_names() -> set[str]:
    """Sample names of every collector of the predictor (counters' ``_total``,
    histograms' ``_bucket``/``_sum``/``_count``)."""
    registry = CollectorRegistry()
    ServingMetrics("m", registry=registry)
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    names = set()
    for family in registry.collect():
        names |= {family.name + suffix for suffix in suffixes[family.type]}
    return names


def test_rules_select_only_metrics_that_exist() -> None:
    """A typo in a metric name makes an alert that can never fire: each name the rules
    select is the predictor's, a pushed monitoring metric's, Prometheus's ``up``, or a
    rule's own record."""
    rule = prometheus_rule("prod")
    records = {r["record"] for g in rule["spec"]["groups"] for r in g["rules"] if "record" in r}
    known = _exported_names() | monitoring_metrics.PUSHED_NAMES | {"up"} | records
    selected = {
        name
        for g in rule["spec"]["groups"]
        for r in g["rules"]
        for name in METRIC.findall(r["expr"])
    }
    assert selected, "no metric selector found in the rules"
    assert selected <= known, f"unknown metrics: {sorted(selected - known)}"
    assert {m.name for m in monitoring_metrics.PUSHED_METRICS} - selected <= {
        monitoring_metrics.FEATURE_DRIFT_STATISTIC.name,
        monitoring_metrics.ESTIMATED_PRECISION_LOWER.name,
        monitoring_metrics.ESTIMATED_PRECISION_UPPER.name,
        monitoring_metrics.PIPELINE_FIGURE.name,
        monitoring_metrics.REALISED_VALUE.name,
        monitoring_metrics.RETRAIN_TRIGGER_FIRED.name,
        monitoring_metrics.RETRAIN_LAUNCHED.name,
    }, "a pushed metric without an alert must be one the dashboard alone shows"


def test_score_buckets_of_the_rules_are_the_predictors() -> None:
    rule = prometheus_rule(None)
    share = next(
        r["expr"]
        for g in rule["spec"]["groups"]
        for r in g["rules"]
        if r.get("record") == "job:cc_serving_score_bucket:share"
    )
    bounds = list(dict.fromkeys(re.findall(r'le="([^"]+)"', share)))
    assert bounds == [le_label(b) for b in SCORE_BUCKETS]


def test_every_alert_has_its_runbook_section() -> None:
    runbook = (CHART.parents[1] / "docs" / "alerts.md").read_text(encoding="utf-8")
    headings = set(re.findall(r"^### (\w+)$", runbook, flags=re.M))
    for item in rules_of(prometheus_rule("prod")):
        if "alert" in item:
            url = item["annotations"]["runbook_url"]
            assert url.endswith(f"docs/alerts.md#{item['alert'].lower()}"), url
            assert item["alert"] in headings, f"docs/alerts.md has no section {item['alert']}"
    assert headings == set(ALERTS)


def test_pushed_job_is_the_monitoring_jobs() -> None:
    for env in ENVIRONMENTS:
        assert (
            chart_values(env)["monitoring"]["prometheusRule"]["pushedJob"]
            == monitoring_metrics.PUSH_JOB
        )


def test_a_disabled_alert_is_not_rendered_and_the_selectors_follow_the_release() -> None:
    rule = prometheus_rule(
        "dev",
        sets=[
            "monitoring.prometheusRule.alerts.latencyP99.enabled=false",
            "monitoring.prometheusRule.alerts.scoreShift.enabled=false",
            "fullnameOverride=scorer",
        ],
    )
    names = [r.get("alert") or r.get("record") for g in rule["spec"]["groups"] for r in g["rules"]]
    assert "CustomerClassifierLatencyHigh" not in names
    assert not any(n.startswith("job:cc_serving_score") for n in names)
    assert "CustomerClassifierServerErrors" in names
    exprs = " ".join(r["expr"] for g in rule["spec"]["groups"] for r in g["rules"])
    assert f'job="scorer", namespace="{NAMESPACES["dev"]}"' in exprs
    assert f'job="{RELEASE}"' not in exprs


def test_pod_monitor_scrapes_the_predictor_pods_that_kserve_labels() -> None:
    """The selector uses the labels KServe sets on predictor pods (stable and canary),
    and the job label is the InferenceService's name, which the rules select on."""
    for env in ENVIRONMENTS:
        (monitor,) = by_kind(render(env), "PodMonitor")
        spec = monitor["spec"]
        assert spec["selector"]["matchLabels"] == {
            "serving.kserve.io/inferenceservice": RELEASE,
            "component": "predictor",
        }
        assert spec["jobLabel"] == "serving.kserve.io/inferenceservice"
        assert spec["namespaceSelector"] == {"matchNames": [NAMESPACES[env]]}
        (endpoint,) = spec["podMetricsEndpoints"]
        assert endpoint["path"] == "/metrics"
        assert endpoint["portNumber"] == 8080
        assert "port" not in endpoint
    (named,) = by_kind(render("prod", ("monitoring.podMonitor.portName=http1",)), "PodMonitor")
    (endpoint,) = named["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] == "http1"
    assert "portNumber" not in endpoint
    off = render("prod", ("monitoring.podMonitor.enabled=false",))
    assert not by_kind(off, "PodMonitor")


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ("monitoring.prometheusRule.alerts.latencyP99.maxSeconds=fast", "maxSeconds"),
        ("monitoring.prometheusRule.alerts.serverErrors.for=5 minutes", "for"),
        ("monitoring.prometheusRule.alerts.shadowAgreement.minRatio=90", "minRatio"),
        ("monitoring.prometheusRule.alerts.featureDrift.severity=page", "severity"),
        ("monitoring.prometheusRule.alerts.latencyP99.maxSecond=0.2", "maxSecond"),
    ],
)
def test_a_mistyped_monitoring_value_fails_naming_it(setting: str, named: str) -> None:
    done = run_tool("helm", "template", RELEASE, str(CHART), "--set", setting, check=False)
    assert done.returncode != 0
    assert named in done.stderr, done.stderr
