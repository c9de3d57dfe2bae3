"""A triggered retraining through kfp.local, gated by the champion/challenger gate.

The session's trained run (tests/conftest.py) gives a champion and its database; the
monitoring history beside it says the features drifted on three nights in a row. Then
``python -m pipelines.retrain --local`` decides to retrain, runs the training pipeline
through ``kfp.local`` (one run), and records the decision with the run's id. The new
version is registered as challenger; trained on the same data, it does not beat the
champion by the margin, so the gate keeps the champion and says why.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from customer_classifier.jobs.ingest import last_sale_date
from customer_classifier.monitoring.decisions import read_decisions
from customer_classifier.monitoring.retrain import RETRAIN
from customer_classifier.registry import LocalModelStore
from pipelines import retrain
from tests.conftest import TRAINED_CANDIDATES, CopiedRun, TrainedRun
from tests.unit.monitoring.history_frames import history, write_history

pytestmark = [pytest.mark.pipeline, pytest.mark.slow]


@pytest.fixture
def retrained(
    trained_run: TrainedRun,
    trained_copy: CopiedRun,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> dict[str, Any]:
    root = trained_copy.root
    engine = sa.create_engine(f"sqlite:///{trained_copy.db_path}")
    as_of = last_sale_date(engine) + dt.timedelta(days=1)
    nights: dict[dt.date, dict[str, Any]] = {as_of - dt.timedelta(days=k): {} for k in range(3, 10)}
    for k in range(3):
        nights[as_of - dt.timedelta(days=k)] = {"drifted": ["age", "recency_days"]}
    write_history(engine, history(nights))
    for key, value in {
        "CC_DATABASE_URL": f"sqlite:///{trained_copy.db_path}",
        "CC_STORE_URI": str(root / "store"),
        "CC_WORK_DIR": str(root / "runs"),
        "CC_CANDIDATES": json.dumps(list(TRAINED_CANDIDATES)),
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)  # kfp.local's outputs go under ./var/local_outputs
    code = retrain.main(["--local", "--json"])
    captured = capsys.readouterr()
    out = "\n" + captured.out  # kfp.local's log, then the decision as JSON
    assert "\n{\n" in out, f"exit {code}, no decision printed; stderr: {captured.err[-3000:]}"
    return {
        "code": code,
        "printed": json.loads(out[out.rindex("\n{\n") :]),
        "engine": engine,
        "as_of": as_of,
        "champion": trained_run.version,
        "store": LocalModelStore(root / "store"),
        "outputs": tmp_path / "var" / "local_outputs",
    }


def test_drift_on_three_nights_retrains_through_kfp_local_and_the_gate_decides(
    retrained: dict[str, Any],
) -> None:
    assert retrained["code"] == 0
    printed = retrained["printed"]
    assert printed["action"] == RETRAIN
    assert printed["as_of"] == retrained["as_of"].isoformat()
    assert printed["ready"] == ["drift"]

    # The decision is recorded with its evidence and the id of the run it launched.
    (recorded,) = read_decisions(retrained["engine"], "retraining_decisions")
    assert recorded.action == RETRAIN
    assert recorded.run_id == printed["run_id"]
    assert recorded.evidence["triggers"]["drift"]["streak"] == 3
    assert recorded.evidence["triggers"]["drift"]["figures"]["drifted_features"] == [
        "age",
        "recency_days",
    ]

    # The run registered a challenger: the version whose lineage names that run.
    store: LocalModelStore = retrained["store"]
    champion = retrained["champion"]
    (new,) = [v.version for v in store.list_versions() if v.version != champion]
    lineage = store.get(new).metadata["lineage"]
    assert lineage["pipeline_run_id"] == recorded.run_id
    assert lineage["as_of"]["test"] is not None
    assert store.get_alias("challenger") == new
    assert store.history("challenger")[-1]["reason"] == "newly trained"

    # The gate judged it against the champion on the same window and kept the champion.
    assert store.get_alias("champion") == champion
    (decision_file,) = retrained["outputs"].rglob("register-model/decision_json")
    gate = json.loads(decision_file.read_text(encoding="utf-8"))
    assert gate["version"] == new
    assert gate["promoted"] is False
    assert gate["champion_before"] == champion
    failed = {c["name"]: c for c in gate["checks"] if c["status"] == "fail"}
    assert set(failed) == {"beats the champion by the margin"}
    assert "re-scored on this window" in failed["beats the champion by the margin"]["detail"]
    assert f"the champion stays {champion}" in (decision_file.parent / "decision").read_text()
