"""V1, V2 and gRPC against the real model server; online scores equal the nightly batch."""

from __future__ import annotations

import json
from typing import Any

import grpc
import numpy as np
import pytest
from kserve import InferInput, InferRequest
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc as pb_grpc

from customer_classifier.features.build import FEATURE_SCHEMA

from .conftest import MODEL_NAME, ModelServer, ServingData, feature_records, v2_inputs


@pytest.fixture(scope="module")
def records(serving_data: ServingData) -> list[dict[str, object]]:
    return feature_records(serving_data.features())


def test_v1_answers_score_label_and_version(
    champion_server: ModelServer, serving_data: ServingData, records: list[dict[str, object]]
) -> None:
    answer = champion_server.v1({"instances": records[:3]})
    assert answer.status_code == 200, answer.text
    predictions = answer.json()["predictions"]
    assert [p["customer_id"] for p in predictions] == [r["customer_id"] for r in records[:3]]
    threshold = serving_data.store.load(serving_data.champion).threshold
    for prediction in predictions:
        assert set(prediction) == {"score", "label", "model_version", "customer_id"}
        assert 0.0 <= prediction["score"] <= 1.0
        assert prediction["label"] == ("good" if prediction["score"] >= threshold else "bad")
        assert prediction["model_version"] == serving_data.champion


def test_online_scores_equal_nightly_batch_scores(
    champion_server: ModelServer, serving_data: ServingData, records: list[dict[str, object]]
) -> None:
    """Same customers, same as-of date, same feature code: same scores, labels, version."""
    batch = serving_data.predictions().set_index("customer_id")
    assert len(batch) == len(records) > 100
    online: dict[int, dict[str, object]] = {}
    for start in range(0, len(records), 500):
        chunk = records[start : start + 500]
        answer = champion_server.v1({"instances": chunk})
        assert answer.status_code == 200, answer.text
        online.update({p["customer_id"]: p for p in answer.json()["predictions"]})
    ids = batch.index.tolist()
    np.testing.assert_allclose(
        [online[i]["score"] for i in ids], batch["score"].to_numpy(), rtol=0, atol=1e-9
    )
    assert [online[i]["label"] for i in ids] == batch["label"].tolist()
    assert {online[i]["model_version"] for i in ids} == set(batch["model_version"])
    # The V2 protocol answers the same.
    sample = records[:40]
    answer = champion_server.v2({"inputs": v2_inputs(sample, with_ids=True)})
    assert answer.status_code == 200, answer.text
    outputs = {o["name"]: o["data"] for o in answer.json()["outputs"]}
    assert outputs["customer_id"] == [r["customer_id"] for r in sample]
    np.testing.assert_allclose(
        outputs["score"], batch.loc[outputs["customer_id"], "score"], rtol=0, atol=1e-9
    )
    assert outputs["label"] == batch.loc[outputs["customer_id"], "label"].tolist()


def test_v2_metadata_describes_every_feature(champion_server: ModelServer) -> None:
    answer = champion_server.client.get(f"/v2/models/{MODEL_NAME}")
    assert answer.status_code == 200
    metadata = answer.json()
    assert metadata["name"] == MODEL_NAME
    assert [(i["name"], i["datatype"], i["shape"]) for i in metadata["inputs"]] == [
        (f.name, "FP64" if f.kind == "numeric" else "BYTES", [-1]) for f in FEATURE_SCHEMA
    ]
    assert [o["name"] for o in metadata["outputs"]] == ["score", "label", "model_version"]


def test_v2_infer_answers_requested_outputs(
    champion_server: ModelServer, serving_data: ServingData, records: list[dict[str, object]]
) -> None:
    body = {
        "id": "request-7",
        "inputs": v2_inputs(records[:5]),
        "outputs": [{"name": "label"}, {"name": "score"}],
    }
    answer = champion_server.v2(body)
    assert answer.status_code == 200, answer.text
    payload = answer.json()
    assert payload["id"] == "request-7"
    assert payload["model_name"] == MODEL_NAME
    assert payload["model_version"] == serving_data.champion
    assert [(o["name"], o["datatype"], o["shape"]) for o in payload["outputs"]] == [
        ("label", "BYTES", [5]),
        ("score", "FP64", [5]),
    ]


def test_grpc_v2_infer_and_invalid_argument(
    champion_server: ModelServer, serving_data: ServingData, records: list[dict[str, object]]
) -> None:
    def request(rows: list[dict[str, object]]) -> pb.ModelInferRequest:
        tensors = []
        for spec in FEATURE_SCHEMA:
            values = [r[spec.name] for r in rows]
            if spec.kind == "numeric":
                contents = pb.InferTensorContents(
                    fp64_contents=[np.nan if v is None else float(v) for v in values]  # type: ignore[arg-type]
                )
                datatype = "FP64"
            else:
                contents = pb.InferTensorContents(
                    bytes_contents=[b"" if v is None else str(v).encode() for v in values]
                )
                datatype = "BYTES"
            tensors.append(
                pb.ModelInferRequest.InferInputTensor(
                    name=spec.name, datatype=datatype, shape=[len(rows)], contents=contents
                )
            )
        return pb.ModelInferRequest(model_name=MODEL_NAME, inputs=tensors)

    complete = [r for r in records if all(r[f.name] is not None for f in FEATURE_SCHEMA)][:4]
    with grpc.insecure_channel(f"127.0.0.1:{champion_server.grpc_port}") as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        answer = stub.ModelInfer(request(complete), timeout=30)
        outputs = {o.name: o for o in answer.outputs}
        assert list(outputs["score"].contents.fp64_contents)
        assert len(outputs["label"].contents.bytes_contents) == 4
        bad = [dict(complete[0], country="XX")]
        with pytest.raises(grpc.RpcError) as raised:
            stub.ModelInfer(request(bad), timeout=30)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "country" in (raised.value.details() or "")


def test_model_readiness_routes(champion_server: ModelServer) -> None:
    assert champion_server.client.get(f"/v1/models/{MODEL_NAME}").json()["ready"] is True
    assert champion_server.client.get(f"/v2/models/{MODEL_NAME}/ready").json()["ready"] is True
    assert champion_server.client.get("/v2/health/live").status_code == 200


def test_metrics_and_access_log(
    champion_server: ModelServer, serving_data: ServingData, records: list[dict[str, object]]
) -> None:
    assert champion_server.v1({"instances": records[:2]}).status_code == 200
    assert champion_server.v1({"instances": []}).status_code == 400
    text = champion_server.metrics()
    version = serving_data.champion
    for needle in (
        f'cc_serving_requests_total{{model_name="{MODEL_NAME}",protocol="v1"}}',
        f'cc_serving_request_errors_total{{model_name="{MODEL_NAME}",protocol="v1",'
        'reason="invalid_input"}',
        f'cc_serving_rows_total{{model_name="{MODEL_NAME}",role="champion",version="{version}"}}',
        f'cc_serving_score_bucket{{le="0.5",model_name="{MODEL_NAME}",role="champion",',
        'cc_serving_labels_total{label="good"',
        "cc_serving_request_seconds_bucket",
        "cc_serving_batch_rows_bucket",
        f'cc_serving_model_info{{model_name="{MODEL_NAME}",role="champion",'
        f'version="{version}"}} 1.0',
        "request_predict_seconds_bucket",  # KServe's own, beside ours
    ):
        assert needle in text, needle
    lines = [
        json.loads(line) for line in champion_server.log().splitlines() if line.startswith("{")
    ]
    served = [e for e in lines if e["status"] == 200 and e["path"].endswith(":predict")]
    refused = [e for e in lines if e["status"] == 400]
    assert served
    assert refused
    assert served[-1]["model_version"] == version
    assert served[-1]["caller"].startswith("127.0.0.1:")
    assert served[-1]["records"] == 2
    assert served[-1]["latency_ms"] > 0


def test_v2_fast_route_answers_as_kserves_route(
    champion_server: ModelServer, records: list[dict[str, object]]
) -> None:
    # An input with (empty) parameters is not the plain form: KServe's own route answers
    # it. Both routes must write the same JSON, field order included.
    for outputs in (None, [{"name": "score"}, {"name": "label"}]):
        plain: dict[str, Any] = {"id": "same", "inputs": v2_inputs(records[:3], with_ids=True)}
        if outputs is not None:
            plain["outputs"] = outputs
        routed = {**plain, "inputs": [dict(i, parameters={}) for i in plain["inputs"]]}
        fast, kserve = champion_server.v2(plain), champion_server.v2(routed)
        assert fast.status_code == kserve.status_code == 200, (fast.text, kserve.text)
        assert fast.headers["content-type"] == kserve.headers["content-type"]
        assert fast.content == kserve.content
    # Validation errors read the same on both routes.
    bad = {"inputs": [dict(i, data=[-1.0]) if i["name"] == "age" else i for i in plain["inputs"]]}
    routed = {**bad, "inputs": [dict(i, parameters={}) for i in bad["inputs"]]}
    fast, kserve = champion_server.v2(bad), champion_server.v2(routed)
    assert fast.status_code == kserve.status_code == 400
    assert fast.json() == kserve.json()


def _complete(records: list[dict[str, object]], count: int) -> list[dict[str, object]]:
    """Records without nulls: a binary tensor has no way to send a null category."""
    return [r for r in records if all(r[f.name] is not None for f in FEATURE_SCHEMA)][:count]


def test_v2_json_without_content_type_answers_as_with_it(
    champion_server: ModelServer, records: list[dict[str, object]]
) -> None:
    """tritonclient's HTTP client sends JSON tensors with no Content-Type header."""
    path = f"/v2/models/{MODEL_NAME}/infer"
    plain: dict[str, Any] = {"id": "same", "inputs": v2_inputs(records[:4], with_ids=True)}
    # The plain form takes the fast route; inputs with parameters take KServe's.
    routed = {**plain, "inputs": [dict(i, parameters={}) for i in plain["inputs"]]}
    for body in (plain, routed):
        content = json.dumps(body).encode()
        typed = champion_server.client.post(
            path, content=content, headers={"content-type": "application/json"}
        )
        bare = champion_server.client.post(path, content=content)
        assert "content-type" not in bare.request.headers
        assert typed.status_code == bare.status_code == 200, (typed.text, bare.text)
        assert bare.content == typed.content
        assert bare.headers["content-type"] == typed.headers["content-type"]
    # A mistake reads the same without the header.
    bad = {
        "inputs": [dict(i, data=[-1.0] * 4) if i["name"] == "age" else i for i in plain["inputs"]]
    }
    answer = champion_server.client.post(path, content=json.dumps(bad).encode())
    assert answer.status_code == 400
    assert "inputs.age[0]" in answer.json()["error"]


def _binary_request(rows: list[dict[str, object]]) -> tuple[bytes, int]:
    """A V2 request with every input as a binary tensor, as tritonclient builds it."""
    inputs = []
    for spec in FEATURE_SCHEMA:
        values = [r[spec.name] for r in rows]
        if spec.kind == "numeric":
            tensor = InferInput(spec.name, [len(rows)], "FP64")
            tensor.set_data_from_numpy(np.array(values, dtype=np.float64), binary_data=True)
        else:
            tensor = InferInput(spec.name, [len(rows)], "BYTES")
            tensor.set_data_from_numpy(np.array(values, dtype=object), binary_data=True)
        inputs.append(tensor)
    body, json_length = InferRequest(model_name=MODEL_NAME, infer_inputs=inputs).to_rest()
    assert isinstance(body, bytes)
    assert json_length is not None
    return body, json_length


def test_v2_binary_tensors_with_and_without_content_type(
    champion_server: ModelServer, records: list[dict[str, object]]
) -> None:
    rows = _complete(records, 5)
    expected = champion_server.v2({"inputs": v2_inputs(rows)})
    assert expected.status_code == 200, expected.text
    scores = {o["name"]: o["data"] for o in expected.json()["outputs"]}
    body, json_length = _binary_request(rows)
    length = {"inference-header-content-length": str(json_length)}
    path = f"/v2/models/{MODEL_NAME}/infer"
    for headers in (length, {**length, "content-type": "application/octet-stream"}):
        answer = champion_server.client.post(path, content=body, headers=headers)
        assert answer.status_code == 200, (headers, answer.text)
        outputs = {o["name"]: o["data"] for o in answer.json()["outputs"]}
        np.testing.assert_allclose(outputs["score"], scores["score"], rtol=0, atol=1e-12)
        assert outputs["label"] == scores["label"]
        assert outputs["model_version"] == scores["model_version"]
