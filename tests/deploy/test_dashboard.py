"""The chart's Grafana dashboard: it loads, it shows what the issue asks for, and every
query names a metric that exists.

A panel whose query names a metric nobody exports stays empty without an error, so the
names are checked against a live predictor: one real ``python -m
customer_classifier.serving`` process on the session's trained store, with a shadow
challenger, answers a few V1 and V2 requests and one bad one, so that every labelled
series exists; its ``/metrics`` is the reference. The metrics the nightly monitoring
pushes are checked against :mod:`customer_classifier.monitoring_metrics` instead.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from customer_classifier import monitoring_metrics
from customer_classifier.registry import LocalModelStore, ModelBundle

from ..conftest import TrainedRun
from ..integration.serving.conftest import ModelServer, ServingData, feature_records, v2_inputs
from .rendering import CHART, ENVIRONMENTS, by_kind, helm_template

DASHBOARD = CHART / "files" / "dashboard.json"
KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
    "offset", "bool", "inf", "nan",
}  # fmt: skip


def load() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel that queries, rows' nested panels included."""
    out = []
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            out += panel.get("panels", [])
        else:
            out.append(panel)
    return out


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: strings, label matchers, ranges and
    the label lists of by/on/ignoring/group_* dropped, function names and keywords left
    out."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w$:.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", text):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in KEYWORDS:
            continue
        names.add(name)
    return names


def exprs(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p["title"], t["expr"]) for p in panels(dashboard) for t in p["targets"]]


def test_metric_names_parse_out_of_promql() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le) (rate(cc_a_bucket{job="x", le=~"0.1|1"}[5m])))\n'
        "/ ignoring (reason) group_left sum(rate(cc_b_total[$__rate_interval] offset 1d))"
        " > bool 0 or time() - max(cc_c)"
    )
    assert metric_names(expr) == {"cc_a_bucket", "cc_b_total", "cc_c"}


def test_dashboard_loads_with_a_datasource_variable() -> None:
    dashboard = load()
    assert dashboard["uid"]
    assert dashboard["title"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["monitoring_job"]["query"] == monitoring_metrics.PUSH_JOB
    for panel in panels(dashboard):
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], f"panel {panel['title']!r} has no query"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
    ids = [p["id"] for p in dashboard["panels"]] + [p["id"] for p in panels(dashboard)]
    assert len(set(ids)) == len(dashboard["panels"]), "panel ids must be unique"
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]


def test_dashboard_shows_what_operators_watch() -> None:
    """Request rate, latency percentiles, errors by reason, the score heatmap, label mix
    per version, shadow agreement and canary share, each found by what it queries."""
    dashboard = load()

    def panel_using(*needles: str, kind: str | None = None) -> dict[str, Any]:
        for panel in panels(dashboard):
            text = " ".join(t["expr"] for t in panel["targets"])
            if all(n in text for n in needles) and kind in (None, panel["type"]):
                return panel
        raise AssertionError(f"no {kind or 'panel'} querying {needles}")

    panel_using("rate(cc_serving_requests_total")
    latency = panel_using("histogram_quantile", "cc_serving_request_seconds_bucket")
    assert {t["legendFormat"] for t in latency["targets"]} >= {"p50", "p90", "p99"}
    panel_using("sum by (reason)", "cc_serving_request_errors_total")
    heatmap = panel_using("cc_serving_score_bucket", kind="heatmap")
    assert heatmap["targets"][0]["format"] == "heatmap"
    panel_using("sum by (version, label)", "cc_serving_labels_total")
    panel_using("cc_serving_shadow_agreed_rows_total", "cc_serving_shadow_compared_rows_total")
    panel_using("sum by (role, version)", "cc_serving_rows_total")


def test_configmap_carries_the_dashboard_for_the_grafana_sidecar() -> None:
    for env in ENVIRONMENTS:
        (configmap,) = [
            c
            for c in by_kind(helm_template(env), "ConfigMap")
            if c["metadata"]["name"].endswith("-dashboard")
        ]
        assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
        (content,) = configmap["data"].values()
        assert json.loads(content) == load()
    docs = helm_template("dev", sets=["monitoring.dashboard.enabled=false"])
    assert not [
        c for c in by_kind(docs, "ConfigMap") if c["metadata"]["name"].endswith("-dashboard")
    ]


def test_pushed_metrics_on_the_dashboard_are_the_monitoring_jobs() -> None:
    named = {n for _, e in exprs(load()) for n in metric_names(e) if n.startswith("cc_monitoring_")}
    assert named == monitoring_metrics.PUSHED_NAMES


# -- against a live predictor --------------------------------------------------------------


@pytest.fixture(scope="module")
def live_metrics(
    trained_run: TrainedRun, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[set[str]]:
    """Sample names of a predictor's /metrics after V1, V2, a bad request and shadow
    scoring; the server runs for this module only."""
    root = tmp_path_factory.mktemp("dashboard")
    store = LocalModelStore(root / "store")
    shutil.copytree(trained_run.settings.store_uri, store.root)
    champion = trained_run.version
    bundle = store.load(champion)
    metadata = {k: v for k, v in bundle.metadata.items() if k != "version"}
    challenger = store.register(
        ModelBundle(model=bundle.model, threshold=bundle.threshold * 0.6, metadata=metadata)
    ).version
    data = ServingData(
        root, trained_run.settings, champion, challenger, trained_run.run.scoring.as_of
    )
    records = feature_records(data.features())[:120]
    server = ModelServer(
        root / "server",
        store.root / "versions" / champion,
        CC_SERVING__CHALLENGER=str(store.root / "versions" / challenger),
        CC_SERVING__CHALLENGER_MODE="shadow",
        CC_SERVING__RELOAD_INTERVAL_S="0",
    ).start()
    try:
        server.wait_ready()
        assert server.v1({"instances": records[:60]}).status_code == 200
        v2 = {"inputs": v2_inputs(records[60:], with_ids=True)}
        assert server.v2(v2).status_code == 200, server.log()[-2000:]
        bad = dict(
            records[0], **{next(k for k, v in records[0].items() if isinstance(v, float)): "x"}
        )
        assert server.v1({"instances": [bad]}).status_code == 400
        deadline = time.monotonic() + 30
        while "cc_serving_shadow_compared_rows_total" not in _samples(server.metrics()):
            assert time.monotonic() < deadline, "the shadow challenger compared nothing in 30 s"
            time.sleep(0.05)  # polling interval; the deadline bounds the wait
        yield _samples(server.metrics())
    finally:
        server.stop()


def _samples(text: str) -> set[str]:
    return {s.name for family in text_string_to_metric_families(text) for s in family.samples}


@pytest.mark.integration
def test_every_panel_queries_metrics_the_predictor_exports(live_metrics: set[str]) -> None:
    assert {"cc_serving_score_bucket", "cc_serving_request_errors_total"} <= live_metrics
    missing = []
    for title, expr in exprs(load()):
        names = metric_names(expr)
        assert names, f"panel {title!r}: no metric in {expr!r}"
        for name in names - monitoring_metrics.PUSHED_NAMES:
            if name not in live_metrics:
                missing.append(f"{title}: {name}")
    assert not missing, f"not exported by the predictor: {missing}"
