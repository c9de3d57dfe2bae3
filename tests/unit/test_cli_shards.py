"""``customer-classifier shards plan|score|publish``: a night a step at a time, as an
operator re-runs a failed shard; shards are numbered from 1, as the errors name them."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from customer_classifier.cli import main
from customer_classifier.registry import LocalModelStore
from tests.unit.scoring.models import heuristic_bundle


@pytest.fixture
def night_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, master_db: Path) -> Path:
    for name in list(os.environ):
        if name.startswith("CC_"):
            monkeypatch.delenv(name)
    db = tmp_path / "master.db"
    shutil.copyfile(master_db, db)
    store = LocalModelStore(tmp_path / "store")
    store.set_alias("champion", store.register(heuristic_bundle()).version)
    monkeypatch.setenv("CC_DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("CC_STORE_URI", str(tmp_path / "store"))
    monkeypatch.setenv("CC_WORK_DIR", str(tmp_path / "runs"))
    return db


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_night_step_by_step(night_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "shards", "plan", "--shards", "2", "--run-id", "cli-night")
    assert code == 0
    planned = json.loads(out)
    assert planned["run_id"] == "cli-night"
    assert planned["shards"][0].startswith("shard 1 of 2 (customer_id up to ")
    written = 0
    for number in ("1", "2"):
        code, out, _ = run(capsys, "shards", "score", "--run-id", "cli-night", "--shard", number)
        assert code == 0
        written += json.loads(out)["rows_written"]
    code, out, _ = run(capsys, "shards", "publish", "--run-id", "cli-night")
    assert code == 0
    assert json.loads(out)["rows_written"] == written > 0


def test_publishing_an_unfinished_night_names_the_shard(
    night_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "shards", "plan", "--shards", "2", "--run-id", "half")[0] == 0
    assert run(capsys, "shards", "score", "--run-id", "half", "--shard", "1")[0] == 0
    code, out, err = run(capsys, "shards", "publish", "--run-id", "half")
    assert code == 2
    assert out == ""
    assert "shard 2 of 2 (customer_id from" in " ".join(err.split())
    assert "has not finished" in " ".join(err.split())
