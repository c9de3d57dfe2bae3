"""``customer-classifier monitor``: a scored night monitored from a shell, and the user
mistakes it names (no champion, no scored night, a bad date) with exit status 2."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from customer_classifier.cli import main
from tests.conftest import TrainedRun


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("CC_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CC_WORK_DIR", str(tmp_path / "runs"))
    return monkeypatch


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, " ".join(captured.err.split())


def _user_error(code: int, out: str, err: str) -> None:
    assert code == 2
    assert out == ""
    assert err.startswith("error: ")
    assert "Traceback" not in err


@pytest.fixture
def trained(environment: pytest.MonkeyPatch, trained_run: TrainedRun, tmp_path: Path) -> TrainedRun:
    """The session's trained run, copied: its champion scored the night of its as-of."""
    shutil.copyfile(trained_run.db_path, tmp_path / "master.db")
    shutil.copytree(Path(trained_run.settings.store_uri), tmp_path / "store")
    environment.setenv("CC_DATABASE_URL", f"sqlite:///{tmp_path / 'master.db'}")
    environment.setenv("CC_STORE_URI", str(tmp_path / "store"))
    environment.setenv("CC_CANDIDATES", json.dumps(list(trained_run.settings.candidates)))
    return trained_run


@pytest.mark.slow
def test_monitor_a_scored_night(
    trained: TrainedRun, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    as_of = trained.run.scoring.as_of.isoformat()
    code, out, err = run(capsys, "monitor", "--as-of", as_of, "--out", str(tmp_path / "m"))
    assert code == 0, err
    summary = json.loads(out)
    assert summary["as_of"] == as_of
    assert summary["model_version"] == trained.version
    assert summary["history_rows"] > 0
    assert summary["pushed"] is False
    assert json.loads((tmp_path / "m" / "monitoring.json").read_text())["as_of"] == as_of
    assert "no matured night yet" in err  # the notes go to stderr, the JSON to stdout


@pytest.mark.slow
def test_a_night_that_was_not_scored_is_named_with_the_newest_scored_one(
    trained: TrainedRun, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "monitor", "--as-of", "2026-01-01")
    _user_error(code, out, err)
    scored = trained.run.scoring.as_of.isoformat()
    assert "has no scoring for the as-of date 2026-01-01" in err
    assert f"the newest scored night is {scored}" in err
    assert "--as-of" in err


def test_no_champion_is_named_with_the_fix(
    environment: pytest.MonkeyPatch,
    master_db: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    shutil.copyfile(master_db, tmp_path / "master.db")
    environment.setenv("CC_DATABASE_URL", f"sqlite:///{tmp_path / 'master.db'}")
    environment.setenv("CC_STORE_URI", str(tmp_path / "empty-store"))
    code, out, err = run(capsys, "monitor")
    _user_error(code, out, err)
    assert "no champion in the model store" in err
    assert "make run" in err


def test_no_prediction_history_is_named_with_the_fix(
    environment: pytest.MonkeyPatch,
    master_db: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from customer_classifier.registry import LocalModelStore
    from tests.unit.scoring.models import heuristic_bundle

    shutil.copyfile(master_db, tmp_path / "master.db")
    store = LocalModelStore(tmp_path / "store")
    store.set_alias("champion", store.register(heuristic_bundle()).version)
    environment.setenv("CC_DATABASE_URL", f"sqlite:///{tmp_path / 'master.db'}")
    environment.setenv("CC_STORE_URI", str(tmp_path / "store"))
    code, out, err = run(capsys, "monitor")
    _user_error(code, out, err)
    assert "prediction history table 'customer_predictions_history' does not exist" in err
    assert "run nightly scoring first" in err


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["monitor", "--as-of", "yesterday"], "--as-of 'yesterday' is not a date"),
        (["monitor"], "CC_MONITORING__HISTORY_TABLE 'sales' is a source table"),
    ],
)
def test_a_bad_date_or_table_stops_before_any_read(
    environment: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    argv: list[str],
    named: str,
) -> None:
    environment.setenv("CC_MONITORING__HISTORY_TABLE", "sales")
    environment.setenv("CC_DATABASE_URL", f"sqlite:///{tmp_path / 'absent.db'}")
    code, out, err = run(capsys, *argv)
    _user_error(code, out, err)
    assert named in err
    assert not (tmp_path / "absent.db").exists()
