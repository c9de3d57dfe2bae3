"""The nightly monitoring pipeline: its compiled IR, and one run through kfp.local on a
trained champion and a scored night, as ``make schedule``'s recurring run starts it."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kfp import compiler, local

from customer_classifier.data.database import connect
from customer_classifier.monitoring.history import read_history
from customer_classifier.monitoring_metrics import ESTIMATED_PRECISION, LAST_SUCCESS
from pipelines.compile import PIPELINES
from pipelines.monitoring_pipeline import monitoring_pipeline
from pipelines.schedule import SCHEDULES
from tests.conftest import TrainedRun


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("compiled") / "monitoring_pipeline.yaml"
    compiler.Compiler().compile(monitoring_pipeline, str(path))
    with path.open() as handle:
        spec, platform = list(yaml.safe_load_all(handle))
    return {"spec": spec, "platform": platform}


def test_the_monitoring_pipeline_is_compiled_and_scheduled_after_scoring() -> None:
    assert PIPELINES["monitoring"] is monitoring_pipeline
    crons = {entry.pipeline: entry.cron for entry in SCHEDULES}
    assert crons["monitoring"] == "0 0 4 * * *"
    assert crons["scoring"] == "0 0 2 * * *"  # two hours before: scoring has finished


def test_one_uncached_task_with_metrics_report_and_json(compiled: dict[str, Any]) -> None:
    spec = compiled["spec"]
    assert spec["pipelineInfo"]["name"] == "customer-classifier-nightly-monitoring"
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == {"monitor-night", "condition-1"}
    task = tasks["monitor-night"]
    assert task["cachingOptions"] == {}  # caching off: every night is new
    assert task["taskInfo"]["name"] == "Monitor the night"
    run_id = task["inputs"]["parameters"]["pipeline_run_id"]["runtimeValue"]["constant"]
    assert run_id == "{{$.pipeline_job_uuid}}"
    outputs = spec["components"]["comp-monitor-night"]["outputDefinitions"]["artifacts"]
    types = {name: out["artifactType"]["schemaTitle"] for name, out in outputs.items()}
    assert types == {
        "metrics": "system.Metrics",
        "report": "system.HTML",
        "summary": "system.Artifact",
    }
    assert set(spec["root"]["inputDefinitions"]["parameters"]) == {"as_of"}
    k8s = compiled["platform"]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    secrets = {s["secretName"] for s in k8s["exec-monitor-night"]["secretAsEnv"]}
    assert {"customer-classifier-database", "customer-classifier-pushgateway"} <= secrets
    (pushgateway,) = [
        s
        for s in k8s["exec-monitor-night"]["secretAsEnv"]
        if s["secretName"] == "customer-classifier-pushgateway"
    ]
    assert pushgateway["optional"] is True
    assert pushgateway["keyToEnv"] == [
        {"secretKey": "password", "envVar": "CC_MONITORING__PUSHGATEWAY_PASSWORD"}
    ]


def test_a_retrain_decision_runs_the_training_pipeline_in_the_same_run(
    compiled: dict[str, Any],
) -> None:
    spec = compiled["spec"]
    condition = spec["root"]["dag"]["tasks"]["condition-1"]
    assert condition["dependentTasks"] == ["monitor-night"]
    assert condition["triggerPolicy"]["condition"] == (
        "inputs.parameter_values['pipelinechannel--monitor-night-Output'] == 'retrain'"
    )
    inner = spec["components"][condition["componentRef"]["name"]]["dag"]["tasks"]
    assert set(inner) == {"customer-classifier-training"}
    training = spec["components"][inner["customer-classifier-training"]["componentRef"]["name"]]
    assert {"verify-data", "ingest-data", "build-features"} <= set(training["dag"]["tasks"])
    assert "comp-register-model" in spec["components"]  # the gate, inside its branches


@pytest.fixture(scope="module")
def local_run(
    trained_run: TrainedRun, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("monitoring_local")
    shutil.copyfile(trained_run.db_path, root / "master.db")
    shutil.copytree(Path(trained_run.settings.store_uri), root / "store")
    env = {
        "CC_DATABASE_URL": f"sqlite:///{root / 'master.db'}",
        "CC_STORE_URI": str(root / "store"),
        "CC_WORK_DIR": str(root / "runs"),
        "CC_CANDIDATES": json.dumps(list(trained_run.settings.candidates)),
    }
    patch = pytest.MonkeyPatch()
    for key, value in env.items():
        patch.setenv(key, value)
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(root / "outputs"),
        raise_on_error=True,
    )
    as_of = trained_run.run.scoring.as_of
    try:
        action = monitoring_pipeline(as_of=as_of.isoformat()).output
        yield {"root": root, "env": env, "as_of": as_of, "action": action}
    finally:
        patch.undo()


@pytest.mark.pipeline
@pytest.mark.slow
def test_a_local_run_keeps_the_night_and_writes_its_artifacts(
    local_run: dict[str, Any], trained_run: TrainedRun
) -> None:
    # A champion trained tonight with no night before: nothing persists, nothing is due.
    assert local_run["action"] == "quiet"
    frame = read_history(connect(local_run["env"]["CC_DATABASE_URL"]), "monitoring_metrics")
    assert set(frame["as_of"]) == {local_run["as_of"]}
    assert {ESTIMATED_PRECISION.name, LAST_SUCCESS.name} <= set(frame["metric"])
    assert set(frame["model_version"]) == {trained_run.version}
    outputs = local_run["root"] / "outputs"
    summary = json.loads(next(outputs.rglob("monitor-night/summary")).read_text())
    assert summary["as_of"] == local_run["as_of"].isoformat()
    assert summary["model_version"] == trained_run.version
    assert summary["run_id"] == frame["run_id"].iloc[0] != ""
    report = next(outputs.rglob("monitor-night/report")).read_text()
    assert f"monitoring of {local_run['as_of'].isoformat()}" in report
    headline = summary["headline"]  # what the task logged as its KFP Metrics
    assert headline["rows"] == trained_run.run.scoring.rows_written
    assert 0.0 < headline["estimated_precision"] <= 1.0
    assert summary["retrain"]["action"] == local_run["action"]
