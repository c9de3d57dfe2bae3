"""The predictor's canary share from the registry's traffic split (predictor-mode rollout)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from customer_classifier.registry import CHAMPION, LocalModelStore, ModelBundle
from customer_classifier.registry.store import TRAFFIC_SPLIT_STATE
from tests.unit.test_serving_predictor import NAME, answer, bundle, predictor, records

__all__ = ["bundle"]  # the module-scoped fixture, shared with the predictor's tests
SWITCH = {"fail": False}


class SometimesFailing:
    """A model that scores like the one it wraps until the test makes it fail."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def predict_proba(self, frame: Any) -> np.ndarray:
        if SWITCH["fail"]:
            raise RuntimeError("injected failure")
        result: np.ndarray = self.model.predict_proba(frame)
        return result


def with_ids(rows: int) -> list[dict[str, Any]]:
    return [{**record, "customer_id": i + 1} for i, record in enumerate(records(rows))]


def split(store: LocalModelStore, version: str, percent: float) -> None:
    body = {"challenger": version, "canary_percent": percent}
    store.write_state(TRAFFIC_SPLIT_STATE, json.dumps(body).encode())


@pytest.fixture
def store(tmp_path: Path, bundle: ModelBundle) -> tuple[LocalModelStore, str, str]:
    store = LocalModelStore(tmp_path)
    champion = store.register(bundle).version
    store.set_alias(CHAMPION, champion)
    canary = store.register(bundle).version
    store.set_alias("canary", canary)
    return store, champion, canary


def test_the_split_moves_the_share_without_a_restart(
    store: tuple[LocalModelStore, str, str],
) -> None:
    registry_store, champion, canary = store
    model, registry = predictor(
        registry_store.root, challenger="canary", challenger_mode="canary", canary_percent=0
    )
    model.load()
    served = {p["model_version"] for p in answer(model, {"instances": with_ids(40)})["predictions"]}
    assert served == {champion}
    split(registry_store, canary, 100)
    assert model.refresh() is True
    served = {p["model_version"] for p in answer(model, {"instances": with_ids(40)})["predictions"]}
    assert served == {canary}
    gauge = registry.get_sample_value(
        "cc_serving_canary_percent", {"model_name": NAME, "version": canary}
    )
    assert gauge == 100
    split(registry_store, canary, 50)
    assert model.refresh() is True
    served = [
        p["model_version"] for p in answer(model, {"instances": with_ids(200)})["predictions"]
    ]
    assert 60 < served.count(canary) < 140
    assert model.refresh() is False  # nothing moved


def test_a_split_for_another_version_sends_nobody_there(
    store: tuple[LocalModelStore, str, str],
) -> None:
    registry_store, champion, _ = store
    model, _ = predictor(
        registry_store.root, challenger="canary", challenger_mode="canary", canary_percent=30
    )
    split(registry_store, "v20990101000000-ffffff", 100)
    model.load()
    served = {p["model_version"] for p in answer(model, {"instances": with_ids(40)})["predictions"]}
    assert served == {champion}


def test_a_failing_canary_is_answered_by_the_champion_and_counted(
    tmp_path: Path, bundle: ModelBundle
) -> None:
    registry_store = LocalModelStore(tmp_path)
    champion = registry_store.register(bundle).version
    registry_store.set_alias(CHAMPION, champion)
    failing = ModelBundle(
        model=SometimesFailing(bundle.model), threshold=bundle.threshold, metadata=bundle.metadata
    )
    canary = registry_store.register(failing).version
    registry_store.set_alias("canary", canary)
    split(registry_store, canary, 100)
    model, registry = predictor(
        tmp_path, challenger="canary", challenger_mode="canary", canary_percent=0
    )
    model.load()
    SWITCH["fail"] = True
    try:
        predictions = answer(model, {"instances": with_ids(10)})["predictions"]
    finally:
        SWITCH["fail"] = False
    assert {p["model_version"] for p in predictions} == {champion}
    labels = {"model_name": NAME, "role": "challenger", "version": canary}
    assert registry.get_sample_value("cc_serving_model_failed_rows_total", labels) == 10
    timed = {"model_name": NAME, "role": "champion", "version": champion}
    assert registry.get_sample_value("cc_serving_model_seconds_count", timed) == 1
