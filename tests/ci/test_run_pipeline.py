"""``scripts/ci/run_pipeline.py``: a run started like ``make submit``, waited for and judged.

Against the stand-in KFP API server of tests/pipelines (the real ``kfp`` client over
HTTP on loopback): the run the script starts is read back by id, and its state and its
tasks' states decide the exit status.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from customer_classifier.orchestration.targets import resolve_target
from customer_classifier.settings import ExplicitSettings, KfpSettings, RunMetadata
from pipelines import submit
from pipelines.kfp_api import KfpApi
from tests.ci.gitlab_ci import ROOT
from tests.pipelines.kfp_api_server import KfpApiServer, running


def script() -> ModuleType:
    path = ROOT / "scripts" / "ci" / "run_pipeline.py"
    spec = importlib.util.spec_from_file_location("ci_run_pipeline", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


run_pipeline = script()


@pytest.fixture
def server() -> Iterator[KfpApiServer]:
    with running() as started:
        yield started


def connect(server: KfpApiServer, tmp_path: Path) -> tuple[KfpApi, ExplicitSettings]:
    kfp = KfpSettings(host=server.url, token_path=tmp_path / "no-token")
    settings = ExplicitSettings(kfp=kfp, run=RunMetadata(code_version="0123456789ab"))
    return KfpApi.connect(kfp, resolve_target("dev", kfp)), settings


def test_a_finished_run_is_read_back_with_its_tasks(server: KfpApiServer, tmp_path: Path) -> None:
    api, settings = connect(server, tmp_path)
    run_id = submit.submit(settings, "dev", "scoring")["run_id"]
    server.state.runs[run_id] |= {
        "state": "FAILED",
        "error": {"message": "task score-customers failed"},
        "run_details": {
            "task_details": [
                {"display_name": "Verify data", "state": "SUCCEEDED"},
                {"display_name": "Score customers", "state": "FAILED"},
            ]
        },
    }
    run = run_pipeline.wait(api, run_id, timeout_s=5, poll_s=0.05)
    assert run.state == "FAILED"
    assert run.tasks == {"Verify data": "SUCCEEDED", "Score customers": "FAILED"}
    assert run_pipeline.problems(run) == [
        f"run {run_id} ended FAILED: task score-customers failed",
        "task 'Score customers' ended FAILED",
    ]


def test_a_run_that_does_not_finish_in_time_fails_the_job(
    server: KfpApiServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CC_KFP__HOST", server.url)
    monkeypatch.setenv("CC_KFP__TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.setenv("CC_RUN__CODE_VERSION", "0123456789ab")
    monkeypatch.delenv("CC_KFP__TOKEN", raising=False)
    summary = tmp_path / "out" / "run.json"
    argv = ["--env", "dev", "--pipeline", "scoring", "--timeout-s", "0.2", "--poll-s", "0.05"]
    code = run_pipeline.main([*argv, "--summary", str(summary)])
    assert code == 1
    assert "is still PENDING" in capsys.readouterr().err
    assert '"state": "PENDING"' in summary.read_text()


def test_an_unknown_environment_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        run_pipeline.main(["--env", "staging"])
    assert stopped.value.code == 2
    assert "staging" in capsys.readouterr().err
