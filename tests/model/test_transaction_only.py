"""Training on a bare transaction feed: no country, channel or birth year, one segment.

The database is generated, then trained on end to end through the jobs with the default
candidates. Every candidate must train or be skipped with a recorded reason, and the
repeat-purchase candidate must go through a bundle and serving's scorer like the others.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry

from customer_classifier import jobs
from customer_classifier.data.database import connect, write_master_data
from customer_classifier.data.generate import generate
from customer_classifier.errors import TrainingError
from customer_classifier.features.build import FEATURE_NAMES
from customer_classifier.models.bg_nbd import BetaGeometricNBD
from customer_classifier.registry import CHAMPION, LocalModelStore, ModelBundle
from customer_classifier.serving.config import ServingSettings
from customer_classifier.serving.metrics import ServingMetrics
from customer_classifier.serving.predictor import CustomerClassifier
from customer_classifier.settings import ExplicitSettings, Settings
from tests.conftest import GENERATOR

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bare_run(
    tmp_path_factory: pytest.TempPathFactory, settings_factory: Callable[..., Settings]
) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("transactions_only")
    db_path = root / "master.db"
    engine = connect(f"sqlite:///{db_path}", create_dir=True)
    write_master_data(engine, generate(replace(GENERATOR, transactions_only=True)))
    engine.dispose()
    settings = settings_factory(db_path, root)
    work = root / "work"
    jobs.ingest_data(settings, work / "snapshot")
    jobs.build_features(settings, work / "snapshot", work / "features")
    summary = jobs.train_models(settings, work / "features", work / "bundle", work / "report.html")
    metadata = json.loads((work / "bundle" / "model.json").read_text(encoding="utf-8"))
    return {"settings": settings, "work": work, "summary": summary, "metadata": metadata}


def test_the_defaults_include_the_repeat_purchase_candidate() -> None:
    assert "bg_nbd" in ExplicitSettings().candidates


def test_every_default_candidate_trains_or_is_skipped_with_a_reason(
    bare_run: dict[str, Any],
) -> None:
    metadata = bare_run["metadata"]
    trained, skipped = metadata["candidates"], metadata["skipped_candidates"]
    for name in bare_run["settings"].candidates:
        assert (name in trained) != (name in skipped), name
        if name in skipped:
            assert skipped[name].strip(), name
    assert set(trained) >= {"heuristic", "bg_nbd"}
    assert bare_run["summary"].chosen in trained
    assert bare_run["summary"].skipped_candidates == skipped


def test_the_empty_attributes_are_left_out_and_recorded(bare_run: dict[str, Any]) -> None:
    dropped = bare_run["metadata"]["dropped_columns"]
    for name in ("age", "country", "acquisition_channel"):
        assert dropped[name] == "all null"
    assert dropped["segment"] == "one value (consumer) in every row"
    assert dropped["loyalty_member"].startswith("one value")
    report = (bare_run["work"] / "report.html").read_text(encoding="utf-8")
    assert "Feature columns left out" in report
    assert "acquisition_channel" in report


def test_the_repeat_purchase_candidate_learns_from_transactions(
    bare_run: dict[str, Any],
) -> None:
    figures = bare_run["metadata"]["candidates"]["bg_nbd"]
    assert figures["cv_pr_auc"] is not None
    assert figures["test"]["roc_auc"] > 0.75
    assert set(figures["params"]) >= {"r", "alpha", "a", "b", "monetary"}


def v1_answer(store: Path, records: pd.DataFrame) -> list[dict[str, Any]]:
    """The online predictor's V1 answer for feature records, in process."""
    model = CustomerClassifier(
        ServingSettings(model_name="cc-bare", model_uri=str(store)),
        metrics=ServingMetrics("cc-bare", registry=CollectorRegistry()),
    )
    assert model.load(), model.not_ready_reason
    rows = [
        {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
        for row in records.to_dict(orient="records")
    ]

    async def call() -> Any:
        job = await model.preprocess({"instances": rows}, {})
        return await model.postprocess(await model.predict(job, {}), {})

    predictions: list[dict[str, Any]] = asyncio.run(call())["predictions"]
    return predictions


def test_a_bg_nbd_version_scores_the_same_in_batch_and_online(
    bare_run: dict[str, Any], tmp_path: Path
) -> None:
    frames = {
        s: pd.read_parquet(bare_run["work"] / "features" / f"{s}.parquet")
        for s in ("train", "test")
    }
    train = frames["train"]
    model = BetaGeometricNBD(horizon_days=bare_run["settings"].label.horizon_days)
    model.fit(train[list(FEATURE_NAMES)], train["label"].to_numpy())
    store = LocalModelStore(tmp_path / "store")
    version = store.register(ModelBundle(model=model, threshold=0.5, metadata={})).version
    store.set_alias(CHAMPION, version)
    records = frames["test"][list(FEATURE_NAMES)].iloc[:50]
    expected = model.predict_proba(records)[:, 1]
    np.testing.assert_array_equal(store.load(version).score(records), expected)
    online = v1_answer(tmp_path / "store", records)
    np.testing.assert_allclose([p["score"] for p in online], expected, rtol=0, atol=1e-12)


def test_too_few_positives_stop_the_training_job(bare_run: dict[str, Any], tmp_path: Path) -> None:
    settings = bare_run["settings"].model_copy(update={"min_positives": 100_000})
    work = bare_run["work"]
    with pytest.raises(TrainingError, match=r"the train window has \d+ good customers in \d+ rows"):
        jobs.train_models(settings, work / "features", tmp_path / "bundle", tmp_path / "r.html")
    assert not (tmp_path / "bundle").exists()
