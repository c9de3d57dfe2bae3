"""The training and nightly scoring pipelines, run whole through kfp.local.

The components run as subprocesses of this environment, exactly as ``make run`` runs
them; their settings come from the CC_* environment, which the subprocesses inherit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from customer_classifier.data.database import connect, read_customers, write_master_data
from customer_classifier.data.generate import GeneratorConfig, corrupt, generate
from customer_classifier.features.aggregates import iter_aggregates
from customer_classifier.features.build import build_features
from customer_classifier.registry import LocalModelStore
from pipelines.scoring_pipeline import scoring_pipeline
from pipelines.training_pipeline import training_pipeline

pytestmark = [pytest.mark.pipeline, pytest.mark.slow]
DATA = GeneratorConfig(n_customers=3000, seed=5)


@pytest.fixture(scope="module")
def workspace(
    tmp_path_factory: pytest.TempPathFactory, kfp_local_workspace: Callable[..., dict[str, str]]
) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("kfp_local")
    patch = pytest.MonkeyPatch()
    env = kfp_local_workspace(root, DATA, patch)
    version = training_pipeline().output
    # The generated history is fixed; nightly verification judges it against this date.
    scored_by = scoring_pipeline(as_of=str(DATA.end + dt.timedelta(days=1))).output
    yield {"root": root, "env": env, "version": version, "scored_by": scored_by}
    patch.undo()


def _predictions(url: str) -> pd.DataFrame:
    with connect(url).connect() as conn:
        return pd.read_sql_query(sa.text("SELECT * FROM customer_predictions"), conn)


def test_training_registers_a_champion(workspace: dict[str, Any]) -> None:
    store = LocalModelStore(Path(workspace["env"]["CC_STORE_URI"]))
    assert store.get_alias("champion") == workspace["version"]
    assert store.get_alias("challenger") == workspace["version"]


def test_registered_version_files_and_checksums(workspace: dict[str, Any]) -> None:
    store = LocalModelStore(Path(workspace["env"]["CC_STORE_URI"]))
    folder = store.version_path(workspace["version"])
    manifest = json.loads((folder / "MANIFEST.json").read_text())
    assert set(manifest["files"]) == {"model.joblib", "model.json"}
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest
    meta = json.loads((folder / "model.json").read_text())
    for key in (
        "threshold",
        "feature_schema",
        "metrics",
        "params",
        "data_snapshot_hash",
        "code_version",
        "candidate",
        "evaluation_window",
    ):
        assert key in meta, key
    assert 0.0 < meta["threshold"] < 1.0


def test_model_beats_the_heuristic_on_test_precision(workspace: dict[str, Any]) -> None:
    meta = (
        LocalModelStore(Path(workspace["env"]["CC_STORE_URI"])).get(workspace["version"]).metadata
    )
    assert meta["candidate"] != "heuristic"
    ours = meta["metrics"]["test"]["precision_at_min_recall"]
    baseline = meta["baseline_metrics"]["test"]["precision_at_min_recall"]
    assert ours > baseline


def test_predictions_cover_every_active_customer(workspace: dict[str, Any]) -> None:
    url = workspace["env"]["CC_DATABASE_URL"]
    predictions = _predictions(url)
    engine = connect(url)
    as_of = (pd.Timestamp(DATA.end) + pd.Timedelta(days=1)).date()
    customers = read_customers(engine, 1, DATA.n_customers)
    aggregates = pd.concat(
        list(iter_aggregates(engine, as_of, [(1, DATA.n_customers)], active_window_days=365))
    )
    active = build_features(customers, aggregates, as_of, 365).index
    assert predictions["customer_id"].is_unique
    assert set(predictions["customer_id"]) == set(active)
    assert set(predictions["label"]) <= {"good", "bad"}
    assert predictions["label"].nunique() == 2
    assert (predictions["model_version"] == workspace["version"]).all()
    assert workspace["scored_by"] == workspace["version"]
    assert predictions["score"].between(0, 1).all()
    assert pd.to_datetime(predictions["scored_at"]).dt.date.min() >= dt.date(2026, 1, 1)


def test_reports_are_written(workspace: dict[str, Any]) -> None:
    outputs = workspace["root"] / "outputs"
    training_report = next(outputs.rglob("train-models/report"))
    assert (
        "Precision-recall" in training_report.read_text() or "<img" in training_report.read_text()
    )
    decision = next(outputs.rglob("register-model/decision")).read_text()
    assert workspace["version"] in decision
    assert "champion" in decision


@pytest.mark.parametrize(
    ("pipeline", "corruption", "named"),
    [
        ("scoring", "orphan_sales", "sales.customer_id"),
        ("training", "missing_column", "sales.amount"),
    ],
)
def test_corrupt_data_stops_at_verification_and_changes_nothing(
    workspace: dict[str, Any],
    pipeline: str,
    corruption: str,
    named: str,
    capfd: pytest.CaptureFixture[str],
) -> None:
    url = workspace["env"]["CC_DATABASE_URL"]
    store = LocalModelStore(Path(workspace["env"]["CC_STORE_URI"]))
    champion, versions = store.get_alias("champion"), len(store.list_versions())
    before = _predictions(url)
    clean = generate(DATA)
    write_master_data(connect(url), corrupt(clean, corruption))  # type: ignore[arg-type]
    try:
        with pytest.raises(RuntimeError):
            (scoring_pipeline if pipeline == "scoring" else training_pipeline)()
        log = capfd.readouterr()
        assert named in log.out + log.err
        assert "data verification failed" in log.out + log.err
    finally:
        write_master_data(connect(url), clean)
    assert store.get_alias("champion") == champion
    assert len(store.list_versions()) == versions
    pd.testing.assert_frame_equal(_predictions(url), before)
