"""Explanations of the trained run: importances in the bundle, the report and the summary;
the register step's comparison with the champion's importances."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from customer_classifier import jobs
from customer_classifier.evaluation.contributions import LINEAR
from customer_classifier.features.build import FEATURE_NAMES
from customer_classifier.registry.bundle import METADATA_FILE
from tests.conftest import CopiedRun, TrainedRun

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def recorded(trained_run: TrainedRun) -> dict[str, Any]:
    meta: dict[str, Any] = trained_run.store.get(trained_run.version).metadata
    return meta


def test_the_bundle_records_every_features_importance_and_its_explanation_inputs(
    trained_run: TrainedRun, recorded: dict[str, Any]
) -> None:
    importance = recorded["importance"]
    means = [f["mean"] for f in importance["features"]]
    assert [f["feature"] for f in importance["features"]] != list(FEATURE_NAMES)
    assert sorted(f["feature"] for f in importance["features"]) == sorted(FEATURE_NAMES)
    assert means == sorted(means, reverse=True)
    assert means[0] > 0
    assert importance["metric"] == "average_precision"
    assert importance["n_repeats"] == trained_run.settings.explain.n_repeats
    assert recorded["candidate"] == "logistic_regression"
    assert recorded["explanation"]["method"] == LINEAR
    top = trained_run.run.training.top_features
    assert list(top) == [f["feature"] for f in importance["features"][:5]]
    assert trained_run.run.training.summary()["top_features"] == top
    report = (trained_run.work / "training.html").read_text(encoding="utf-8")
    assert "Feature importance of logistic_regression (test window)" in report


def test_the_register_step_compares_the_importances_with_the_champions(
    trained_run: TrainedRun, trained_copy: CopiedRun, tmp_path: Path
) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(trained_run.work / "bundle", bundle)
    meta = json.loads((bundle / METADATA_FILE).read_text(encoding="utf-8"))
    features = meta["importance"]["features"]
    first, second = features[0], features[1]
    meta["importance"]["features"] = [
        {**second, "mean": first["mean"] + 0.1},
        {**first, "mean": second["mean"]},
        *features[2:],
    ]
    (bundle / METADATA_FILE).write_text(json.dumps(meta), encoding="utf-8")
    champion = trained_copy.store.get_alias("champion")
    result = jobs.register_model(trained_copy.settings(), bundle)
    assert result.importance_champion == champion
    change = {c.feature: c for c in result.importance_change}
    assert change[second["feature"]].change == pytest.approx(first["mean"] + 0.1 - second["mean"])
    assert (change[second["feature"]].challenger_rank, change[second["feature"]].champion_rank) == (
        1,
        2,
    )
    assert result.importance_change[0].feature == second["feature"]
    assert f"Feature importance against champion {champion}" in result.markdown
    assert result.to_dict()["importance_change"]["features"][0]["feature"] == second["feature"]
    assert second["feature"] in result.summary()["importance_change"]
