"""KServe V1 ``:explain`` against the real model server: contributions of the logistic-
regression champion, and 501 naming the model type for a model without them."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest

from customer_classifier.features.build import FEATURE_NAMES
from customer_classifier.registry import CHAMPION, LocalModelStore
from tests.unit.scoring.models import heuristic_bundle

from .conftest import MODEL_NAME, ModelServer, ServingData, feature_records

EXPLAIN = f"/v1/models/{MODEL_NAME}:explain"


@pytest.fixture(scope="module")
def records(serving_data: ServingData) -> list[dict[str, object]]:
    return feature_records(serving_data.features().iloc[:20])


def test_explain_answers_the_contributions_of_the_linear_champion(
    champion_server: ModelServer, serving_data: ServingData, records: list[dict[str, object]]
) -> None:
    answer = champion_server.client.post(EXPLAIN, json={"instances": records})
    assert answer.status_code == 200, answer.text
    explanations = answer.json()["explanations"]
    predicted = champion_server.v1({"instances": records}).json()["predictions"]
    assert len(explanations) == len(records)
    for found, prediction, record in zip(explanations, predicted, records, strict=True):
        assert found["customer_id"] == record["customer_id"]
        assert found["score"] == pytest.approx(prediction["score"], abs=1e-9)
        assert found["label"] == prediction["label"]
        assert found["model_version"] == serving_data.champion
        assert found["method"] == "linear"
        assert set(found["contributions"]) == set(FEATURE_NAMES)
        log_odds = math.log(found["score"] / (1 - found["score"]))
        total = found["baseline"] + sum(found["contributions"].values())
        assert total == pytest.approx(log_odds, abs=1e-6)
        assert 1 <= len(found["reasons"]) <= 3
        sign = 1 if found["label"] == "good" else -1
        strongest = max(found["contributions"], key=lambda n: sign * found["contributions"][n])
        assert found["reasons"][0] == strongest


def test_explain_checks_the_body_like_predict(champion_server: ModelServer) -> None:
    answer = champion_server.client.post(EXPLAIN, json={"instances": [{"age": 30}]})
    assert answer.status_code == 400
    assert "missing feature(s)" in answer.json()["error"]


def test_a_model_without_contributions_answers_501_naming_its_type(
    model_server: Callable[..., ModelServer], tmp_path: Path, records: list[dict[str, object]]
) -> None:
    store = LocalModelStore(tmp_path / "store")
    version = store.register(heuristic_bundle()).version
    store.set_alias(CHAMPION, version)
    server = model_server(tmp_path / "store", CC_SERVING__RELOAD_INTERVAL_S="0").wait_ready()
    answer = server.client.post(EXPLAIN, json={"instances": records[:2]})
    assert answer.status_code == 501, answer.text
    message = answer.json()["error"]
    assert "HeuristicRules model" in message
    assert version in message
    assert server.v1({"instances": records[:2]}).status_code == 200
    assert "Traceback" not in server.log()
