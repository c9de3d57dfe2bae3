"""The training pipeline with the Keras candidate switched on, run whole through kfp.local.

The GPU task's platform settings are ignored locally, so the same component trains on
this machine's CPU (or a GPU when there is one), hands its model to the common
train-and-select step and the chosen version is registered.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from customer_classifier.data.generate import GeneratorConfig
from customer_classifier.registry import LocalModelStore
from pipelines.training_pipeline import training_pipeline

pytestmark = [pytest.mark.pipeline, pytest.mark.slow]


@pytest.fixture(scope="module")
def run(
    tmp_path_factory: pytest.TempPathFactory, kfp_local_workspace: Callable[..., dict[str, str]]
) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("kfp_local_gpu")
    patch = pytest.MonkeyPatch()
    # Gradient boosting's grid search adds nothing here but minutes on two cores.
    kfp_local_workspace(
        root,
        GeneratorConfig(n_customers=3000, seed=5),
        patch,
        CC_CANDIDATES='["heuristic", "logistic_regression"]',
    )
    version = training_pipeline(train_dl=True, dl_max_epochs=8).output
    yield {"root": root, "store": LocalModelStore(root / "store"), "version": version}
    patch.undo()


def test_the_keras_candidate_is_trained_evaluated_and_selected_with_the_others(
    run: dict[str, Any],
) -> None:
    meta = run["store"].get(run["version"]).metadata
    assert set(meta["candidates"]) == {"heuristic", "logistic_regression", "keras_mlp"}
    keras = meta["candidates"]["keras_mlp"]
    assert 1 <= keras["params"]["best_epoch"] <= 8
    assert "CPU" in keras["params"]["device"] or "GPU" in keras["params"]["device"]
    assert keras["test"]["rows"] == meta["candidates"]["heuristic"]["test"]["rows"]


def test_the_gpu_task_logs_its_throughput(run: dict[str, Any]) -> None:
    task = next((run["root"] / "outputs").rglob("train-dl-candidate"))
    executor = json.loads((task / "executor_output.json").read_text())
    device = executor["parameterValues"]["Output"]
    metrics = executor["artifacts"]["metrics"]["artifacts"][0]["metadata"]
    assert metrics["samples_per_second"] > 0
    assert metrics["epoch_seconds"] > 0
    assert 1 <= metrics["epochs_run"] <= 8
    assert (task / "candidate" / "model.keras").is_file()
    training = json.loads((task / "candidate" / "training.json").read_text())
    assert training["device"] == device


def test_the_registered_version_loads_whatever_was_chosen(run: dict[str, Any]) -> None:
    store: LocalModelStore = run["store"]
    folder: Path = store.version_path(run["version"])
    manifest = json.loads((folder / "MANIFEST.json").read_text())
    chosen = store.get(run["version"]).metadata["candidate"]
    assert ("model.keras" in manifest["files"]) == (chosen == "keras_mlp")
    bundle = store.load(run["version"])
    assert 0.0 < bundle.threshold < 1.0
