"""``python -m pipelines.retrain --env``: a triggered retrain creates a run of the training
pipeline through the real ``kfp.Client``, against the KFP API server on loopback that
records its calls (tests/pipelines/kfp_api_server.py); a single noisy night calls nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from customer_classifier.monitoring.decisions import read_decisions
from customer_classifier.monitoring.retrain import COOLDOWN, RETRAIN, SKIP
from customer_classifier.settings import ExplicitSettings, KfpSettings, RunMetadata, Settings
from pipelines import retrain
from tests.pipelines.kfp_api_server import API, KfpApiServer, running
from tests.unit.monitoring.history_frames import history, write_history

CODE = "0123456789ab"
TONIGHT = dt.date(2026, 7, 10)


@pytest.fixture
def server() -> Iterator[KfpApiServer]:
    with running() as started:
        yield started


def _settings(tmp_path: Path, host: str) -> Settings:
    return ExplicitSettings(
        database_url=f"sqlite:///{tmp_path / 'master.db'}",
        store_uri=str(tmp_path / "store"),
        precision_target=0.75,
        min_recall=0.25,
        kfp=KfpSettings(host=host, token_path=tmp_path / "no-token"),
        run=RunMetadata(code_version=CODE),
    )


def _history(tmp_path: Path, drifted_nights: int) -> None:
    nights = {TONIGHT - dt.timedelta(days=k): {} for k in range(8)}
    for k in range(drifted_nights):
        nights[TONIGHT - dt.timedelta(days=k)] = {"drifted": ["age"], "psi": 0.3}
    write_history(sa.create_engine(f"sqlite:///{tmp_path / 'master.db'}"), history(nights))


@pytest.mark.slow  # compiles and uploads the training pipeline
def test_drift_on_three_nights_creates_a_training_run_with_the_night_and_the_policy(
    server: KfpApiServer, tmp_path: Path
) -> None:
    _history(tmp_path, drifted_nights=3)
    settings = _settings(tmp_path, server.url)
    outcome = retrain.retrain(settings, environment="dev", as_of=TONIGHT)

    assert outcome.decision.action == RETRAIN
    state = server.state
    (upload,) = state.calls("POST", f"{API}/pipelines/upload")
    assert upload.query["name"] == "customer-classifier-training"
    assert upload.query["namespace"] == "ml-dev"
    (run,) = state.calls("POST", f"{API}/runs")
    assert run.body["runtime_config"]["parameters"] == {
        "as_of": "2026-07-10",
        "precision_target": 0.75,
        "min_recall": 0.25,
    }
    (version_upload,) = state.calls("POST", f"{API}/pipelines/upload_version")
    assert version_upload.query["name"].startswith(f"{CODE}-")  # the code's version, as submit
    (version,) = [
        v for v in state.versions.values() if v["display_name"] == version_upload.query["name"]
    ]
    assert run.body["pipeline_version_reference"] == {
        "pipeline_id": version["pipeline_id"],
        "pipeline_version_id": version["pipeline_version_id"],
    }
    assert run.body["experiment_id"] in state.experiments
    assert run.body["service_account"] == "customer-classifier-pipeline"
    assert outcome.run_id in state.runs

    (recorded,) = read_decisions(sa.create_engine(settings.database_url), "retraining_decisions")
    assert recorded.run_id == outcome.run_id
    assert recorded.evidence["triggers"]["drift"]["streak"] == 3

    # The next night drifts too, but is in the cool-down: recorded, and no second run.
    tomorrow = TONIGHT + dt.timedelta(days=1)
    engine = sa.create_engine(settings.database_url)
    write_history(engine, history({tomorrow: {"drifted": ["age"]}}))
    later = retrain.retrain(settings, environment="dev", as_of=tomorrow)
    assert later.decision.action == COOLDOWN
    assert later.decision.trigger("drift").streak == 4
    assert len(state.calls("POST", f"{API}/runs")) == 1


def test_one_noisy_night_calls_no_kfp_api(server: KfpApiServer, tmp_path: Path) -> None:
    _history(tmp_path, drifted_nights=1)
    outcome = retrain.retrain(_settings(tmp_path, server.url), environment="dev", as_of=TONIGHT)
    assert outcome.decision.action == SKIP
    assert outcome.run_id is None
    assert server.state.requests == []
    text = "\n".join(retrain.summary_lines(outcome))
    assert text.startswith("2026-07-10: skip (fired tonight but not on enough nights")
    assert "drift: fired 1/3  1 of 3 features drifted (flagged: age)" in text


def test_the_entry_point_names_a_missing_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        retrain.main([])
    assert stopped.value.code == 2
    assert "--env dev|test|prod" in capsys.readouterr().err
