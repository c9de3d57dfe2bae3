"""The Keras candidate, behaviourally: it learns, it is selected by the common rule, and a
version holding it registers, loads, and scores in the nightly job and the predictor.

One small generated database (tests/conftest.py), one training of the candidate on the
CPU for the whole module; every file is written under pytest's temporary folders.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from customer_classifier import jobs
from customer_classifier.errors import RegistryError
from customer_classifier.evaluation.threshold import choose_threshold
from customer_classifier.features.build import FEATURE_NAMES
from customer_classifier.jobs.train import load_candidate, train_dl_candidate
from customer_classifier.models.keras_tabular import NETWORK_FILE, KerasTabularModel
from customer_classifier.registry import CHAMPION, LocalModelStore, ModelBundle
from customer_classifier.settings import DeepLearningSettings, Settings
from customer_classifier.training.heuristic import HeuristicRules
from customer_classifier.training.keras_mlp import KerasMLPClassifier

pytestmark = pytest.mark.slow
MAX_EPOCHS = 20


@pytest.fixture(scope="module")
def workspace(
    tmp_path_factory: pytest.TempPathFactory,
    master_db: Path,
    settings_factory: Callable[..., Settings],
) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("keras")
    db_path = root / "master.db"
    shutil.copyfile(master_db, db_path)
    settings = settings_factory(db_path, root)
    jobs.ingest_data(settings, root / "snapshot")
    jobs.build_features(settings, root / "snapshot", root / "features")
    info = train_dl_candidate(
        settings, root / "features", root / "candidate", max_epochs=MAX_EPOCHS
    )
    return {
        "root": root,
        "settings": settings,
        "features": root / "features",
        "candidate": root / "candidate",
        "info": info,
    }


def window(workspace: dict[str, Any], split: str) -> tuple[pd.DataFrame, np.ndarray]:
    frame = pd.read_parquet(workspace["features"] / f"{split}.parquet")
    return frame[list(FEATURE_NAMES)], frame["label"].to_numpy(dtype=int)


def test_it_trains_on_the_cpu_and_reports_its_throughput(workspace: dict[str, Any]) -> None:
    info = workspace["info"]
    assert info["device_kind"] == "cpu"
    assert info["dtype_policy"] == "float32"  # mixed precision is for GPUs only
    assert 1 <= info["best_epoch"] <= info["epochs_run"] <= MAX_EPOCHS
    assert info["samples_per_second"] > 0
    assert info["epoch_seconds"] > 0
    assert len(info["epochs"]) == info["epochs_run"]
    assert 0.0 < info["best_val_pr_auc"] <= 1.0
    files = {p.name for p in workspace["candidate"].iterdir()}
    assert {"model.joblib", NETWORK_FILE, "candidate.json", "training.json"} <= files


def test_it_beats_the_heuristic_on_the_test_window(workspace: dict[str, Any]) -> None:
    model = load_candidate(workspace["candidate"]).estimator
    x, y = window(workspace, "test")
    ours = model.predict_proba(x)[:, 1]
    theirs = HeuristicRules().fit(x, y).predict_proba(x)[:, 1]
    from sklearn.metrics import average_precision_score

    from customer_classifier.evaluation.threshold import precision_at_recall

    assert average_precision_score(y, ours) > average_precision_score(y, theirs)
    assert precision_at_recall(y, ours, 0.3) > precision_at_recall(y, theirs, 0.3)


def test_scores_are_probabilities_and_follow_spend(workspace: dict[str, Any]) -> None:
    model = load_candidate(workspace["candidate"]).estimator
    x, _ = window(workspace, "test")
    proba = model.predict_proba(x)
    assert proba.shape == (len(x), 2)
    assert np.allclose(proba.sum(axis=1), 1.0)
    # Direction: the same customers with ten times the recent spend score higher overall.
    richer = x.copy()
    for column in [c for c in x.columns if c.startswith("spend_") and c != "spend_trend"]:
        richer[column] = richer[column] * 10 + 500
    assert model.predict_proba(richer)[:, 1].mean() > proba[:, 1].mean()


def test_it_is_selected_by_the_same_rule_as_the_others(workspace: dict[str, Any]) -> None:
    root = workspace["root"]
    settings = workspace["settings"].model_copy(
        update={"candidates": ("heuristic", "logistic_regression")}
    )
    result = jobs.train_models(
        settings,
        workspace["features"],
        root / "bundle",
        root / "training.html",
        dl_candidate_dir=workspace["candidate"],
    )
    meta = json.loads((root / "bundle" / "model.json").read_text())
    assert set(meta["candidates"]) == {"heuristic", "logistic_regression", "keras_mlp"}
    x_valid, y_valid = window(workspace, "validation")
    scores = load_candidate(workspace["candidate"]).estimator.predict_proba(x_valid)[:, 1]
    choice = choose_threshold(y_valid, scores, 0.8, 0.3)
    assert meta["candidates"]["keras_mlp"]["threshold"] == pytest.approx(choice.threshold)

    def key(c: dict[str, Any]) -> tuple[int, float, float]:
        recall, precision = c["validation"]["recall"], c["validation"]["precision"]
        headline = recall if c["target_met"] else precision
        return (int(c["target_met"]), round(headline, 4), c["validation"]["pr_auc"])

    assert meta["candidate"] == max(meta["candidates"], key=lambda n: key(meta["candidates"][n]))
    assert result.chosen == meta["candidate"]
    assert "keras_mlp" in (root / "training.html").read_text()


@pytest.fixture(scope="module")
def registered(workspace: dict[str, Any]) -> dict[str, Any]:
    """A version whose model is the Keras one, made champion."""
    model = load_candidate(workspace["candidate"]).estimator
    assert isinstance(model, KerasTabularModel)
    x_valid, y_valid = window(workspace, "validation")
    threshold = choose_threshold(y_valid, model.predict_proba(x_valid)[:, 1], 0.8, 0.3)
    store = LocalModelStore(Path(workspace["settings"].store_uri))
    version = store.register(
        ModelBundle(
            model=model,
            threshold=threshold.threshold,
            metadata={"candidate": "keras_mlp", "framework": model.info},
        )
    ).version
    store.set_alias(CHAMPION, version, reason="test: the Keras version")
    return {"store": store, "version": version, "model": model}


def test_the_version_holds_the_network_with_its_checksum(registered: dict[str, Any]) -> None:
    store, version = registered["store"], registered["version"]
    manifest = json.loads((store.version_path(version) / "MANIFEST.json").read_text())
    assert set(manifest["files"]) == {"model.joblib", "model.json", NETWORK_FILE}
    meta = store.get(version).metadata
    assert meta["framework"]["framework"] == "keras"
    assert meta["feature_names"] == list(FEATURE_NAMES)


def test_the_loaded_version_scores_like_the_trained_model(
    workspace: dict[str, Any], registered: dict[str, Any]
) -> None:
    x, _ = window(workspace, "test")
    bundle = registered["store"].load(registered["version"])
    assert isinstance(bundle.model, KerasTabularModel)
    assert np.allclose(bundle.score(x), registered["model"].predict_proba(x)[:, 1], atol=1e-6)
    # One record at a time, as the predictor sees it, agrees with the batch.
    assert bundle.score(x.iloc[[3]])[0] == pytest.approx(bundle.score(x)[3], abs=1e-6)


def test_nightly_scoring_uses_the_keras_champion(
    workspace: dict[str, Any], registered: dict[str, Any]
) -> None:
    settings = workspace["settings"]
    summary = jobs.score_customers(settings)
    engine = sa.create_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            table = pd.read_sql_query(sa.text("SELECT * FROM customer_predictions"), conn)
    finally:
        engine.dispose()
    assert len(table) > 0
    assert (table["model_version"] == registered["version"]).all()
    assert table["score"].between(0, 1).all()
    assert set(table["label"]) <= {"good", "bad"}
    assert summary.model_version == registered["version"]


def test_the_predictor_serves_the_keras_version(
    workspace: dict[str, Any], registered: dict[str, Any]
) -> None:
    models = pytest.importorskip("customer_classifier.serving.models")
    source = models.ModelSource(workspace["settings"].store_uri)
    served = source.load(CHAMPION, registered["version"], "champion")
    x, _ = window(workspace, "test")
    columns = {name: x[name].to_numpy() for name in x.columns}
    scores, labels = served.score(columns)
    assert np.allclose(scores, registered["model"].predict_proba(x)[:, 1], atol=1e-6)
    assert set(labels) <= {"good", "bad"}


def test_an_altered_network_is_refused(
    workspace: dict[str, Any], registered: dict[str, Any], tmp_path: Path
) -> None:
    store = LocalModelStore(tmp_path / "store")
    shutil.copytree(Path(workspace["settings"].store_uri), tmp_path / "store")
    network = store.version_path(registered["version"]) / NETWORK_FILE
    network.write_bytes(network.read_bytes()[:-16] + b"\0" * 16)
    with pytest.raises(RegistryError, match=r"checksum mismatch for model\.keras"):
        store.load(registered["version"])


def test_the_same_seed_gives_the_same_network(workspace: dict[str, Any]) -> None:
    x, y = window(workspace, "train")
    xv, yv = window(workspace, "validation")
    quick = DeepLearningSettings(max_epochs=2)
    one = KerasMLPClassifier(quick, seed=7).fit(x, y, validation_data=(xv, yv))
    two = KerasMLPClassifier(quick, seed=7).fit(x, y, validation_data=(xv, yv))
    assert np.array_equal(one.predict_proba(xv), two.predict_proba(xv))


def test_outside_the_pipeline_it_is_one_more_named_candidate(
    workspace: dict[str, Any],
) -> None:
    root = workspace["root"]
    settings = workspace["settings"].model_copy(
        update={"candidates": ("heuristic", "keras_mlp"), "dl": DeepLearningSettings(max_epochs=3)}
    )
    result = jobs.train_models(
        settings, workspace["features"], root / "in-process", root / "in-process.html"
    )
    meta = json.loads((root / "in-process" / "model.json").read_text())
    assert set(meta["candidates"]) == {"heuristic", "keras_mlp"}
    assert meta["candidates"]["keras_mlp"]["params"]["best_epoch"] <= 3
    assert result.candidates["keras_mlp"] == meta["candidates"]["keras_mlp"]["test"]["precision"]
