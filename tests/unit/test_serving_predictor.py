"""The predictor in-process: loading, readiness, the request path, reload and shadow."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from kserve.errors import ModelNotReady
from kserve.protocol.infer_type import InferInput, InferRequest, InferResponse
from prometheus_client import CollectorRegistry

from customer_classifier.models.bg_nbd import BetaGeometricNBD
from customer_classifier.registry import CHAMPION, LocalModelStore, ModelBundle
from customer_classifier.registry.bundle import (
    MANIFEST_FILE,
    METADATA_FILE,
    feature_schema_json,
    sha256_file,
)
from customer_classifier.serving.checks import RequestError
from customer_classifier.serving.compiled import probe_columns
from customer_classifier.serving.config import ServingSettings
from customer_classifier.serving.metrics import ServingMetrics
from customer_classifier.serving.predictor import CustomerClassifier
from customer_classifier.serving.schema import RecordSchema
from customer_classifier.training.candidates import logistic_regression
from tests.unit.training.test_bg_nbd import as_records, simulate

SCHEMA = RecordSchema.from_entries(feature_schema_json())
NAME = "cc-test"


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    frame = pd.DataFrame(probe_columns(SCHEMA, rows=300, seed=5), columns=list(SCHEMA.names))
    labels = (frame["tenure_days"] > frame["tenure_days"].median()).astype(int)
    model = logistic_regression(0).estimator.fit(frame, labels)
    return ModelBundle(model=model, threshold=0.5, metadata={"candidate": "logistic_regression"})


def records(rows: int = 3) -> list[dict[str, Any]]:
    columns = probe_columns(SCHEMA, rows=rows, seed=9)
    out = []
    for i in range(rows):
        row = {n: columns[n][i] for n in SCHEMA.names}
        out.append(
            {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
        )
    return out


def predictor(store: Path, **settings: Any) -> tuple[CustomerClassifier, CollectorRegistry]:
    registry = CollectorRegistry()
    model = CustomerClassifier(
        ServingSettings(model_name=NAME, model_uri=str(store), **settings),
        metrics=ServingMetrics(NAME, registry=registry),
    )
    return model, registry


def answer(model: CustomerClassifier, body: Any) -> Any:
    async def call() -> Any:
        job = await model.preprocess(body, {})
        return await model.postprocess(await model.predict(job, {}), {})

    return asyncio.run(call())


def test_not_ready_until_the_store_has_a_champion(tmp_path: Path, bundle: ModelBundle) -> None:
    store = LocalModelStore(tmp_path)
    model, _ = predictor(tmp_path)
    assert model.load() is False
    assert "no version behind 'champion'" in model.not_ready_reason
    with pytest.raises(ModelNotReady):
        answer(model, {"instances": records(1)})
    version = store.register(bundle).version
    store.set_alias(CHAMPION, version)
    assert model.load() is True
    assert model.versions() == {"champion": version, "challenger": None}


def test_v1_and_v2_answers_match_the_bundle(tmp_path: Path, bundle: ModelBundle) -> None:
    store = LocalModelStore(tmp_path)
    version = store.register(bundle).version
    store.set_alias(CHAMPION, version)
    model, registry = predictor(tmp_path)
    model.load()
    rows = records(4)
    expected = bundle.score(
        pd.DataFrame(rows, columns=list(SCHEMA.names)).astype(
            {f.name: float for f in SCHEMA.fields if f.numeric}
        )
    )
    v1 = answer(model, {"instances": rows})["predictions"]
    np.testing.assert_allclose([p["score"] for p in v1], expected, rtol=0, atol=1e-12)
    assert [p["label"] for p in v1] == bundle.label(expected).tolist()
    assert {p["model_version"] for p in v1} == {version}
    tensors = [
        InferInput(f.name, [4], "FP64" if f.numeric else "BYTES", [r[f.name] for r in rows])
        for f in SCHEMA.fields
    ]
    v2 = answer(model, InferRequest(model_name=NAME, infer_inputs=tensors))
    assert isinstance(v2, InferResponse)
    scores = next(o for o in v2.outputs if o.name == "score").data
    np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-12)
    assert (
        registry.get_sample_value(
            "cc_serving_rows_total", {"model_name": NAME, "role": "champion", "version": version}
        )
        == 8
    )


def test_a_bg_nbd_champion_is_served_compiled(tmp_path: Path) -> None:
    """The repeat-purchase model skips the frame on the request path, and answers the same."""
    sim = simulate(800, seed=6)
    frame = pd.DataFrame(probe_columns(SCHEMA, rows=len(sim), seed=6), columns=list(SCHEMA.names))
    drawn = as_records(sim, seed=6)
    for name in ("days_since_first_purchase", "days_since_last_purchase", "orders_total"):
        frame[name] = drawn[name]
    fitted = BetaGeometricNBD().fit(frame, (sim["future"] >= 2).astype(int).to_numpy())
    bundle = ModelBundle(model=fitted, threshold=0.5, metadata={"candidate": "bg_nbd"})
    store = LocalModelStore(tmp_path)
    store.set_alias(CHAMPION, store.register(bundle).version)
    model, _ = predictor(tmp_path)
    assert model.load() is True
    active = model.reloader.active
    assert active is not None
    assert active.champion.scorer_kind == "compiled"
    rows = records(5)
    expected = bundle.score(
        pd.DataFrame(rows, columns=list(SCHEMA.names)).astype(
            {f.name: float for f in SCHEMA.fields if f.numeric}
        )
    )
    v1 = answer(model, {"instances": rows})["predictions"]
    np.testing.assert_allclose([p["score"] for p in v1], expected, rtol=0, atol=1e-12)


def test_refresh_swaps_only_when_the_alias_moves(tmp_path: Path, bundle: ModelBundle) -> None:
    store = LocalModelStore(tmp_path)
    first = store.register(bundle).version
    store.set_alias(CHAMPION, first)
    model, registry = predictor(tmp_path)
    assert model.refresh() is True
    assert model.refresh() is False
    second = store.register(bundle).version
    store.set_alias(CHAMPION, second)
    assert model.refresh() is True
    assert model.versions()["champion"] == second
    info = {"model_name": NAME, "role": "champion"}
    assert registry.get_sample_value("cc_serving_model_info", {**info, "version": second}) == 1
    assert registry.get_sample_value("cc_serving_model_info", {**info, "version": first}) is None


def test_a_broken_new_version_keeps_the_running_one(tmp_path: Path, bundle: ModelBundle) -> None:
    store = LocalModelStore(tmp_path)
    first = store.register(bundle).version
    store.set_alias(CHAMPION, first)
    model, registry = predictor(tmp_path)
    model.load()
    second = store.register(bundle).version
    (tmp_path / "versions" / second / "model.joblib").write_bytes(b"tampered")
    store.set_alias(CHAMPION, second)
    assert model.refresh() is False
    assert model.versions()["champion"] == first
    assert model.ready
    assert (
        registry.get_sample_value(
            "cc_serving_reloads_total", {"model_name": NAME, "outcome": "failed"}
        )
        == 1
    )


def test_a_lagging_shadow_skips_batches_instead_of_delaying(
    tmp_path: Path, bundle: ModelBundle
) -> None:
    store = LocalModelStore(tmp_path)
    champion = store.register(bundle).version
    store.set_alias(CHAMPION, champion)
    challenger = store.register(bundle).version
    model, registry = predictor(
        tmp_path, challenger=challenger, challenger_mode="shadow", shadow_queue_batches=1
    )
    model.load()
    assert model.scorer._shadow_slots.acquire(blocking=False)  # the shadow's only slot is busy
    predictions = answer(model, {"instances": records(2)})["predictions"]
    assert {p["model_version"] for p in predictions} == {champion}
    assert (
        registry.get_sample_value("cc_serving_shadow_skipped_batches_total", {"model_name": NAME})
        == 1
    )


def rewrite_metadata(store: Path, version: str, change: Callable[[dict[str, Any]], None]) -> None:
    """Edit a registered version's model.json as an older release would have written it,
    keeping its manifest consistent (the checksums still hold)."""
    folder = store / "versions" / version
    metadata = json.loads((folder / METADATA_FILE).read_text())
    change(metadata)
    (folder / METADATA_FILE).write_text(json.dumps(metadata))
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    manifest["files"][METADATA_FILE] = sha256_file(folder / METADATA_FILE)
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))


def test_the_served_schema_is_the_one_the_bundle_recorded(
    tmp_path: Path, bundle: ModelBundle
) -> None:
    store = LocalModelStore(tmp_path)
    version = store.register(bundle).version

    def age_never_null(metadata: dict[str, Any]) -> None:
        for entry in metadata["feature_schema"]:
            if entry["name"] == "age":
                entry["nullable"] = False

    rewrite_metadata(tmp_path, version, age_never_null)
    store.set_alias(CHAMPION, version)
    model, _ = predictor(tmp_path)
    assert model.load() is True
    row = records(1)[0]
    assert answer(model, {"instances": [{**row, "age": 40.0}]})["predictions"]
    with pytest.raises(RequestError, match=r"instances\[0\]\.age must not be null"):
        answer(model, {"instances": [{**row, "age": None}]})


def test_a_version_without_a_recorded_schema_is_not_served(
    tmp_path: Path, bundle: ModelBundle
) -> None:
    store = LocalModelStore(tmp_path)
    legacy = store.register(bundle).version
    rewrite_metadata(tmp_path, legacy, lambda m: m.pop("feature_schema"))
    store.set_alias(CHAMPION, legacy)
    model, _ = predictor(tmp_path)
    assert model.load() is False
    assert f"model version {legacy}: model.json has no feature_schema" in model.not_ready_reason
    assert "register the model again" in model.not_ready_reason
    assert model.get_input_types() == []
    current = store.register(bundle).version
    store.set_alias(CHAMPION, current)
    assert model.load() is True
    assert [i["name"] for i in model.get_input_types()] == list(SCHEMA.names)
    # Moving the alias back to the legacy version keeps the current one serving.
    store.set_alias(CHAMPION, legacy)
    assert model.refresh() is False
    assert model.versions()["champion"] == current
