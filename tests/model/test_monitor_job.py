"""The nightly monitoring job on a real SQLite database: the generated Master Data, the
trained champion of the session, and nightly scoring of four nights (two matured, one
open 40 days into its window, tonight). Every figure it keeps is checked against the
database itself: the history table holds the samples once per night, the realised value
of the baseline is the heuristic's, computed here from the generated sales."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from customer_classifier import jobs
from customer_classifier.data.contract import GOOD
from customer_classifier.data.database import connect, read_customers
from customer_classifier.evaluation.value import ValueTerms, value_of
from customer_classifier.features.aggregates import iter_aggregates
from customer_classifier.features.build import FEATURE_NAMES, build_features
from customer_classifier.features.labels import fetch_labels
from customer_classifier.jobs.monitor import MonitorResult, monitor_night
from customer_classifier.jobs.register import baseline_scores
from customer_classifier.monitoring import report_html
from customer_classifier.monitoring.backtest import read_night
from customer_classifier.monitoring.history import read_history
from customer_classifier.monitoring_metrics import (
    CONCEPT_DRIFT_FLAGGED,
    ESTIMATED_PRECISION,
    FEATURE_DRIFT_FLAGGED,
    LAST_SUCCESS,
    PIPELINE_FIGURE,
    REALISED_PRECISION,
    REALISED_VALUE,
    sample,
)
from customer_classifier.settings import Settings
from tests.conftest import TRAINED_CANDIDATES, TrainedRun, make_settings

pytestmark = pytest.mark.slow
MATURED_DAYS = (120, 100)
OPEN_DAYS = 40
HISTORY = "customer_predictions_history"


@dataclasses.dataclass(frozen=True)
class Monitored:
    settings: Settings
    tonight: dt.date
    result: MonitorResult
    again: MonitorResult


def _at(settings: Settings, day: dt.date, **monitoring: Any) -> Settings:
    """The settings at another as-of date; ``monitoring`` changes CC_MONITORING__*."""
    group = settings.monitoring.model_copy(update=monitoring)
    return settings.model_copy(update={"as_of": day, "monitoring": group})


@pytest.fixture(scope="module")
def monitored(trained_run: TrainedRun, tmp_path_factory: pytest.TempPathFactory) -> Monitored:
    root = tmp_path_factory.mktemp("monitor")
    shutil.copyfile(trained_run.db_path, root / "master.db")
    shutil.copytree(Path(trained_run.settings.store_uri), root / "store")
    settings = make_settings(root / "master.db", root, candidates=TRAINED_CANDIDATES)
    tonight = trained_run.run.scoring.as_of
    for days in (*MATURED_DAYS, OPEN_DAYS):
        jobs.score_customers(_at(settings, tonight - dt.timedelta(days=days)))
    jobs.score_customers(_at(settings, tonight))  # tonight again: the newest scoring run
    stages: list[str] = []
    result = monitor_night(
        _at(settings, tonight),
        root / "out",
        run_id="night-1",
        progress=lambda stage, done, total: stages.append(stage),
    )
    assert {"features", "backtest", "baseline features"} <= set(stages)
    again = monitor_night(_at(settings, tonight), root / "out", run_id="night-2")
    return Monitored(settings, tonight, result, again)


def _json(path: Path) -> dict[str, Any]:
    def refuse(token: str) -> None:
        raise AssertionError(f"{token} in the night's JSON")

    data: dict[str, Any] = json.loads(path.read_text(), parse_constant=refuse)
    return data


def test_the_night_is_assessed_against_the_champion_and_its_nights(
    monitored: Monitored, trained_run: TrainedRun
) -> None:
    result = monitored.result
    assert result.as_of == monitored.tonight
    assert result.model_version == trained_run.version
    assert result.headline["rows"] == trained_run.run.scoring.rows_written
    assert 0.0 < result.headline["estimated_precision"] <= 1.0
    assert "realised_precision" in result.headline
    night = _json(result.json_path)
    # Tonight's customers are 270 days older than the training window's, but the book's
    # ageing is modelled from the reference's parts: a night without drift stays quiet.
    assert night["drift"]["flagged"] == list(result.flagged) == []
    assert not result.alarm
    assert result.notes == ()
    assert night["as_of"] == monitored.tonight.isoformat()
    assert night["champion"] == trained_run.version
    assert {f["feature"] for f in night["drift"]["features"]} == set(FEATURE_NAMES)
    assert night["estimate"]["segments"][0]["segment"] == "all"
    newest = monitored.tonight - dt.timedelta(days=min(MATURED_DAYS))
    assert night["matured"]["as_of"] == newest.isoformat()
    assert len(night["backtest"]["nights"]) == 2 * 4  # two nights x (all + 3 segments)
    concept = night["concept_drift"]
    assert concept["as_of"] == (monitored.tonight - dt.timedelta(days=OPEN_DAYS)).isoformat()
    assert concept["elapsed_days"] == OPEN_DAYS
    assert 0.0 < concept["early_ratio"] < 1.0
    page = result.html_path.read_text()
    assert f"monitoring of {monitored.tonight.isoformat()}" in page
    for section in (report_html.HEADLINE, report_html.HEALTH, report_html.RETRAINING):
        assert section in page
    # The night's health checks and retraining decision joined it.
    assert {c["check"] for c in night["health"]["checks"]} >= {"input_volume", "missing_run"}
    assert night["retrain"]["action"] == result.retrain_action


def test_the_business_impact_is_the_heuristics_on_the_same_customers(
    monitored: Monitored, trained_run: TrainedRun
) -> None:
    """The baseline's value recomputed here, from the feature records built the way
    training builds them and the labels of the generated sales."""
    settings = monitored.settings
    engine = connect(settings.database_url)
    matured = monitored.tonight - dt.timedelta(days=min(MATURED_DAYS))
    served = read_night(engine, HISTORY, matured, trained_run.version)
    customers = read_customers(engine)
    bounds = [(int(customers["customer_id"].min()), int(customers["customer_id"].max()))]
    aggregates = pd.concat(list(iter_aggregates(engine, matured, bounds, active_window_days=365)))
    features = build_features(customers, aggregates, matured, 365)
    features = features.reindex(served["customer_id"].to_numpy())
    metadata = trained_run.store.get(trained_run.version).metadata
    threshold = metadata["candidates"]["heuristic"]["threshold"]
    baseline = baseline_scores(metadata, features) >= threshold
    ids = pd.Index(served["customer_id"])
    outcome = fetch_labels(engine, ids, matured, settings.label).to_numpy()
    terms = ValueTerms(settings.value.true_positive, settings.value.false_positive_cost)
    model = (served["label"] == GOOD).to_numpy()

    impact = _json(monitored.result.json_path)["business_impact"]
    assert impact["as_of"] == matured.isoformat()
    assert impact["customers"] == len(served)
    assert impact["baseline_acted"] == int(baseline.sum()) > 0
    assert impact["baseline_value"] == value_of(outcome, baseline, terms)
    assert impact["model_value"] == value_of(outcome, model, terms)
    assert impact["uplift"] == impact["model_value"] - impact["baseline_value"]
    assert monitored.result.headline["baseline_value"] == impact["baseline_value"]


def test_the_history_table_holds_the_night_once_and_a_rerun_replaces_it(
    monitored: Monitored,
) -> None:
    first, again = monitored.result, monitored.again
    assert again.history.replaced == first.history.rows > 0
    assert again.history.rows == first.history.rows
    frame = read_history(connect(monitored.settings.database_url), "monitoring_metrics")
    assert set(frame["as_of"]) == {monitored.tonight}
    assert set(frame["run_id"]) == {"night-2"}
    assert len(frame) == again.history.rows
    assert not frame.duplicated(["metric", "labels"]).any()
    metrics = set(frame["metric"])
    for metric in (
        FEATURE_DRIFT_FLAGGED,
        ESTIMATED_PRECISION,
        CONCEPT_DRIFT_FLAGGED,
        REALISED_PRECISION,
        REALISED_VALUE,
        LAST_SUCCESS,
    ):
        assert metric.name in metrics
    values = frame[frame["metric"] == REALISED_VALUE.name]
    policies = {
        json.loads(labels)["policy"]: v
        for labels, v in zip(values["labels"], values["value"], strict=True)
    }
    impact = _json(again.json_path)["business_impact"]
    assert policies == {"model": impact["model_value"], "baseline": impact["baseline_value"]}
    flagged = frame[frame["metric"] == FEATURE_DRIFT_FLAGGED.name]
    assert len(flagged) == len(FEATURE_NAMES)
    named = {json.loads(labels)["feature"] for labels in flagged["labels"]}
    assert named == set(FEATURE_NAMES)
    drifted = flagged[flagged["value"] == 1.0]["labels"].map(lambda t: json.loads(t)["feature"])
    assert set(drifted) == set(again.flagged)


def test_a_pusher_gets_the_same_samples_the_history_keeps(
    monitored: Monitored, tmp_path: Path
) -> None:
    pushed: list[Any] = []
    settings = _at(
        monitored.settings,
        monitored.tonight,
        pushgateway_url="http://127.0.0.1:9",
        history_table="monitoring_pushed",
    )
    result = monitor_night(
        settings,
        tmp_path,
        run_id="night-3",
        push=lambda samples, given: pushed.append((list(samples), given)),
    )
    assert result.pushed
    ((samples, given),) = pushed
    assert given is settings
    assert len(samples) == result.history.rows
    assert LAST_SUCCESS.name in {s.metric.name for s in samples}


def test_without_a_matured_night_the_checks_wait_and_say_why(
    monitored: Monitored, tmp_path: Path
) -> None:
    early = monitored.tonight - dt.timedelta(days=OPEN_DAYS)
    settings = _at(monitored.settings, early, history_table="monitoring_early")
    result = monitor_night(settings, tmp_path, run_id="early")
    night = _json(result.json_path)
    assert night["matured"] is None
    assert night["concept_drift"] is None
    assert night["business_impact"] is None
    assert any("no matured night" in note for note in night["notes"])
    assert "realised_precision" not in result.headline


def test_health_checks_see_the_nights_before_and_the_report_sees_tonight(
    monitored: Monitored, tmp_path: Path
) -> None:
    """The seams the pipeline-health checks, the retraining decision and the report use."""
    table = "monitoring_seams"
    yesterday = monitored.tonight - dt.timedelta(days=OPEN_DAYS)
    monitor_night(_at(monitored.settings, yesterday, history_table=table), tmp_path / "y")
    seen: dict[str, Any] = {}

    def health(night: Any, before: pd.DataFrame) -> Any:
        seen["before"] = set(before["as_of"])
        figure = sample(PIPELINE_FIGURE, float(night.rows), {"figure": "output_rows"})
        return night.with_findings(health={"failed": []}, samples=[figure])

    def render(night: Any, nights: pd.DataFrame) -> str:
        seen["report"] = set(nights["as_of"])
        return f"<p>{night.health}</p>"

    result = monitor_night(
        _at(monitored.settings, monitored.tonight, history_table=table),
        tmp_path / "t",
        checks=[health],
        render=render,
    )
    assert seen == {"before": {yesterday}, "report": {yesterday, monitored.tonight}}
    assert _json(result.json_path)["health"] == {"failed": []}
    assert result.html_path.read_text() == "<p>{'failed': []}</p>"
    frame = read_history(connect(monitored.settings.database_url), table, since=monitored.tonight)
    (row,) = frame[frame["metric"] == PIPELINE_FIGURE.name].itertuples()
    assert row.value == result.headline["rows"]
    assert json.loads(row.labels) == {"figure": "output_rows"}
