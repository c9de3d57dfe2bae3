"""``make submit`` and ``make schedule`` through the real ``kfp.Client``, against a KFP API
server on loopback that records every call (tests/pipelines/kfp_api_server.py)."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from customer_classifier.errors import ConfigurationError, PipelinesApiError
from customer_classifier.settings import ExplicitSettings, KfpSettings, RunMetadata, Settings
from pipelines import schedule, submit
from pipelines.schedule import SCHEDULES, reconcile
from tests.pipelines.kfp_api_server import API, KfpApiServer, running

CODE = "0123456789ab"


@pytest.fixture
def server() -> Iterator[KfpApiServer]:
    with running() as started:
        yield started


def _settings(host: str, tmp_path: Path, **kfp: object) -> Settings:
    values = {"host": host, "token_path": tmp_path / "no-token", **kfp}
    return ExplicitSettings(
        kfp=KfpSettings(**values),
        run=RunMetadata(code_version=CODE),
    )


def _environment(monkeypatch: pytest.MonkeyPatch, host: str, tmp_path: Path) -> None:
    monkeypatch.setenv("CC_KFP__HOST", host)
    monkeypatch.setenv("CC_KFP__TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.setenv("CC_RUN__CODE_VERSION", CODE)
    monkeypatch.delenv("CC_KFP__TOKEN", raising=False)


def test_submit_uploads_a_version_and_starts_one_run_in_the_env_experiment(
    server: KfpApiServer, tmp_path: Path
) -> None:
    settings = _settings(server.url, tmp_path)
    summary = submit.submit(settings, "dev", "training")
    state = server.state

    (upload,) = state.calls("POST", f"{API}/pipelines/upload")
    assert upload.query["name"] == "customer-classifier-training"
    assert upload.query["namespace"] == "ml-dev"
    (version_upload,) = state.calls("POST", f"{API}/pipelines/upload_version")
    assert version_upload.query["pipelineid"] == upload_pipeline_id(server)
    assert version_upload.query["name"] == summary["version"]
    assert summary["version"].startswith(f"{CODE}-")
    package = version_upload.body["uploadfile"]["content"]
    spec = next(yaml.safe_load_all(package))
    assert spec["pipelineInfo"]["name"] == "customer-classifier-training"
    assert {"verify-data", "ingest-data", "build-features"} <= set(spec["root"]["dag"]["tasks"])

    (experiment,) = state.calls("POST", f"{API}/experiments")
    assert experiment.body["display_name"] == "customer-classifier-dev"
    assert experiment.body["namespace"] == "ml-dev"
    (run,) = state.calls("POST", f"{API}/runs")
    experiment_id = next(iter(state.experiments))
    assert run.body["experiment_id"] == experiment_id
    assert run.body["pipeline_version_reference"] == {
        "pipeline_id": upload_pipeline_id(server),
        "pipeline_version_id": summary["version_id"],
    }
    assert "pipeline_spec" not in run.body  # the run names the uploaded version
    assert summary["run_id"] in state.runs

    # The same code again: the version is found, not uploaded; one more run, same version.
    again = submit.submit(settings, "dev", "training")
    assert again["version_id"] == summary["version_id"]
    assert again["uploaded"].startswith("no")
    assert len(state.calls("POST", f"{API}/pipelines/upload_version")) == 1
    assert len(state.calls("POST", f"{API}/pipelines/upload")) == 1
    assert len(state.calls("POST", f"{API}/experiments")) == 1
    runs = state.calls("POST", f"{API}/runs")
    assert len(runs) == 2
    assert runs[1].body["pipeline_version_reference"]["pipeline_version_id"] == again["version_id"]


def upload_pipeline_id(server: KfpApiServer) -> str:
    (pipeline,) = server.state.pipelines.values()
    return str(pipeline["pipeline_id"])


SCORING = "customer-classifier-nightly-scoring"
MONITORING = "customer-classifier-nightly-monitoring"
SCORING_ONLY = tuple(e for e in SCHEDULES if e.pipeline == "scoring")
"""The scoring schedule alone: the tests of one recurring run's life cycle."""


def _version_of(server: KfpApiServer, pipeline_name: str) -> str:
    """The id of the code's version uploaded of the pipeline named ``pipeline_name`` (not
    the default version that creating the pipeline makes)."""
    (pipeline_id,) = [
        p["pipeline_id"] for p in server.state.pipelines.values() if p["name"] == pipeline_name
    ]
    named = {
        c.query["name"]
        for c in server.state.calls("POST", f"{API}/pipelines/upload_version")
        if c.query["pipelineid"] == pipeline_id
    }
    (version_id,) = [
        v["pipeline_version_id"]
        for v in server.state.versions.values()
        if v["pipeline_id"] == pipeline_id and v["display_name"] in named
    ]
    return str(version_id)


def _recurring_id(server: KfpApiServer, name: str) -> str:
    (found,) = [k for k, r in server.state.recurring_runs.items() if r["display_name"] == name]
    return found


def test_schedule_creates_keeps_and_replaces_without_duplicates(
    server: KfpApiServer, tmp_path: Path
) -> None:
    settings = _settings(server.url, tmp_path)
    state = server.state
    lines = reconcile(settings, "prod")
    created = state.calls("POST", f"{API}/recurringruns")
    assert [c.body["display_name"] for c in created] == [SCORING, MONITORING]
    body = created[0].body
    assert body["trigger"] == {"cron_schedule": {"cron": "0 0 2 * * *"}}
    assert len(body["trigger"]["cron_schedule"]["cron"].split()) == 6
    assert int(body["max_concurrency"]) == 1
    assert body["no_catchup"] is True
    assert body["mode"] == "ENABLE"
    assert body["pipeline_version_reference"]["pipeline_version_id"] == _version_of(server, SCORING)
    # Monitoring runs after scoring, on its own pipeline's version.
    monitoring = created[1].body
    assert monitoring["trigger"] == {"cron_schedule": {"cron": "0 0 4 * * *"}}
    assert monitoring["no_catchup"] is True
    assert monitoring["pipeline_version_reference"]["pipeline_version_id"] == _version_of(
        server, MONITORING
    )
    uploads = state.calls("POST", f"{API}/pipelines/upload")
    assert [u.query["name"] for u in uploads] == [SCORING, MONITORING]
    assert uploads[0].query == {
        "name": SCORING,
        "namespace": "ml-prod",
        "description": uploads[0].query["description"],
    }
    assert next(iter(state.experiments.values()))["display_name"] == "customer-classifier-prod"
    assert "created" in lines[0]
    assert "created" in lines[1]

    # Again: nothing is created, deleted or uploaded.
    before = len(state.requests)
    again = reconcile(settings, "prod")
    changes = [r for r in state.requests[before:] if r.method in {"POST", "DELETE"}]
    assert changes == []
    assert len(state.recurring_runs) == 2
    assert "unchanged" in again[0]
    assert "unchanged" in again[1]

    # Another cron: the old one is disabled, the new one created, then the old deleted.
    old_id = _recurring_id(server, SCORING)
    later = tuple(
        dataclasses.replace(entry, cron="0 30 3 * * *") if entry.pipeline == "scoring" else entry
        for entry in SCHEDULES
    )
    before = len(state.requests)
    replaced = reconcile(settings, "prod", later)
    routes = [(r.method, r.path) for r in state.requests[before:] if r.method != "GET"]
    assert routes == [
        ("POST", f"{API}/recurringruns/{old_id}:disable"),
        ("POST", f"{API}/recurringruns"),
        ("DELETE", f"{API}/recurringruns/{old_id}"),
    ]
    current = state.recurring_runs[_recurring_id(server, SCORING)]
    assert current["trigger"]["cron_schedule"]["cron"] == "0 30 3 * * *"
    assert current["status"] == "ENABLED"
    assert "replaced" in replaced[0]
    assert "unchanged" in replaced[1]


def test_schedule_keeps_a_pause_and_removes_a_duplicate(
    server: KfpApiServer, tmp_path: Path
) -> None:
    settings = _settings(server.url, tmp_path)
    reconcile(settings, "test", SCORING_ONLY)
    state = server.state
    (first,) = state.recurring_runs.values()
    # A copy of the same name (a retried create) and an operator's pause of the original.
    copy_id = "recurring-copy"
    state.recurring_runs[copy_id] = {**first, "recurring_run_id": copy_id}
    first.update(mode="DISABLE", status="DISABLED")
    lines = reconcile(settings, "test", SCORING_ONLY)
    assert set(state.recurring_runs) == {first["recurring_run_id"]}  # the enabled copy went
    assert "1 duplicate(s) deleted" in lines[0]

    later = tuple(dataclasses.replace(e, cron="0 0 1 * * *") for e in SCORING_ONLY)
    reconcile(settings, "test", later)
    (current,) = state.recurring_runs.values()
    assert current["trigger"]["cron_schedule"]["cron"] == "0 0 1 * * *"
    assert current["status"] == "DISABLED"  # still paused


def test_a_dry_run_changes_nothing(server: KfpApiServer, tmp_path: Path) -> None:
    lines = reconcile(_settings(server.url, tmp_path), "dev", dry_run=True)
    writes = [r for r in server.state.requests if r.method == "DELETE" or "upload" in r.path]
    assert writes == []
    assert server.state.recurring_runs == {}
    assert lines[0].startswith("customer-classifier-nightly-scoring: would be created")


def test_a_five_field_cron_is_refused_before_any_request(
    server: KfpApiServer, tmp_path: Path
) -> None:
    crontab = (dataclasses.replace(SCHEDULES[0], cron="0 2 * * *"),)
    with pytest.raises(ConfigurationError, match=r"takes 6, seconds first.*'0 0 2 \* \* \*'"):
        reconcile(_settings(server.url, tmp_path), "dev", crontab)
    assert server.state.requests == []


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("entry", [submit.main, schedule.main], ids=["submit", "schedule"])
def test_an_unreachable_host_exits_2_naming_it(
    entry: object,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    host = f"http://127.0.0.1:{_closed_port()}"
    _environment(monkeypatch, host, tmp_path)
    with pytest.raises(SystemExit) as stopped:
        entry(["--env", "dev"])  # type: ignore[operator]
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert f"cannot reach Kubeflow Pipelines at {host}" in err
    assert "CC_KFP__HOST" in err
    assert "Traceback" not in err


def test_an_unknown_env_exits_2_before_any_request(
    server: KfpApiServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _environment(monkeypatch, server.url, tmp_path)
    with pytest.raises(SystemExit) as stopped:
        submit.main(["--env", "staging"])
    assert stopped.value.code == 2
    assert "ENV is 'staging'; it must be one of dev, test, prod" in capsys.readouterr().err
    assert server.state.requests == []


def test_a_missing_token_exits_2_and_the_mounted_token_is_sent(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with running(token="sa-token-1") as guarded:
        _environment(monkeypatch, guarded.url, tmp_path)
        with pytest.raises(SystemExit) as stopped:
            schedule.main(["--env", "dev"])
        assert stopped.value.code == 2
        err = capsys.readouterr().err
        assert "401 Unauthorized" in err
        assert "CC_KFP__TOKEN" in err
        assert guarded.state.recurring_runs == {}

        token_file = tmp_path / "token"
        token_file.write_text("sa-token-1\n")
        monkeypatch.setenv("CC_KFP__TOKEN_PATH", str(token_file))
        assert schedule.main(["--env", "dev"]) == 0
        assert len(guarded.state.recurring_runs) == len(SCHEDULES)
        calls = guarded.state.calls("POST", f"{API}/*")
        assert calls
        assert {c.authorization for c in calls} == {"Bearer sa-token-1"}


def test_a_silent_host_times_out_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as silent:  # accepts connections (the backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        host = f"http://127.0.0.1:{silent.getsockname()[1]}"
        _environment(monkeypatch, host, tmp_path)
        monkeypatch.setenv("CC_KFP__TIMEOUT_S", "0.3")
        with pytest.raises(SystemExit) as stopped:
            submit.main(["--env", "test"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert f"cannot reach Kubeflow Pipelines at {host} to check its health" in err
    assert "timed out" in err


def test_a_namespace_without_access_exits_2_naming_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with running(forbidden=frozenset({"ml-prod"})) as guarded:
        _environment(monkeypatch, guarded.url, tmp_path)
        with pytest.raises(SystemExit) as stopped:
            submit.main(["--env", "prod"])
        assert guarded.state.runs == {}
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "403 Forbidden" in err
    assert "namespace 'ml-prod'" in err
    assert "CC_KFP__NAMESPACE" in err


def test_a_failed_replacement_leaves_the_old_recurring_run_running(
    server: KfpApiServer, tmp_path: Path
) -> None:
    settings = _settings(server.url, tmp_path)
    reconcile(settings, "dev", SCORING_ONLY)
    (old_id,) = server.state.recurring_runs
    server.failing[("POST", f"{API}/recurringruns")] = (503, "the scheduler is unavailable")
    later = tuple(dataclasses.replace(e, cron="0 0 5 * * *") for e in SCORING_ONLY)
    before = len(server.state.requests)
    with pytest.raises(PipelinesApiError, match="HTTP 503: the scheduler is unavailable"):
        reconcile(settings, "dev", later)
    routes = [(r.method, r.path) for r in server.state.requests[before:] if r.method != "GET"]
    assert routes == [
        ("POST", f"{API}/recurringruns/{old_id}:disable"),
        ("POST", f"{API}/recurringruns"),
        ("POST", f"{API}/recurringruns/{old_id}:enable"),
    ]
    (kept,) = server.state.recurring_runs.values()
    assert kept["status"] == "ENABLED"
    assert kept["trigger"]["cron_schedule"]["cron"] == "0 0 2 * * *"
