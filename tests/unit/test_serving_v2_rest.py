"""The fast V2 infer route: it builds KServe's request and writes KServe's answer."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse, RequestedOutput
from kserve.protocol.rest.v2_datamodels import InferenceRequest, InferenceResponse

from customer_classifier.serving.v2_rest import plain_request, response_body

NAME = "cc-test"
BODY: dict[str, Any] = {
    "id": "r-1",
    "parameters": {"note": "x", "n": 2, "f": 0.5, "flag": True},
    "inputs": [
        {"name": "age", "shape": [2], "datatype": "fp64", "data": [30.0, 41]},
        {"name": "segment", "shape": [2, 1], "datatype": "BYTES", "data": [["a"], ["b"]]},
    ],
    "outputs": [{"name": "label"}, {"name": "score"}],
}


def _kserve_request(payload: dict[str, Any]) -> InferRequest:
    return InferRequest.from_inference_request(InferenceRequest.model_validate(payload), NAME)


def _facts(request: InferRequest) -> Any:
    return (
        request.id,
        request.model_name,
        request.parameters,
        request.use_binary_outputs,
        [(i.name, i.shape, i.datatype, i.data, i.parameters) for i in request.inputs],
        [(o.name, o.binary_data) for o in request.request_outputs or []],
    )


@pytest.mark.parametrize(
    "edit",
    [
        lambda b: None,
        lambda b: b.pop("id"),
        lambda b: b.pop("parameters"),
        lambda b: b.pop("outputs"),
        lambda b: b.update(outputs=[]),
        lambda b: b.update(id=None, parameters=None, outputs=None),
    ],
)
def test_plain_request_equals_kserves(edit: Any) -> None:
    body = copy.deepcopy(BODY)
    edit(body)
    ours = plain_request(body, NAME)
    assert ours is not None
    assert _facts(ours) == _facts(_kserve_request(body))


@pytest.mark.parametrize(
    "edit",
    [
        lambda b: b.update(id=7),  # pydantic refuses it: KServe's 400
        lambda b: b.update(extra=1),
        lambda b: b.update(parameters={"binary_data_output": True}),
        lambda b: b.update(parameters={"list": [1]}),
        lambda b: b.update(inputs={}),
        lambda b: b["inputs"][0].update(parameters={"binary_data_size": 8}),
        lambda b: b["inputs"][0].pop("data"),
        lambda b: b["inputs"][0].update(data=None),
        lambda b: b["inputs"][0].update(shape=[True]),  # pydantic coerces: KServe decides
        lambda b: b["inputs"][0].update(shape=[2.0]),
        lambda b: b["inputs"][0].update(datatype="FP16"),
        lambda b: b["inputs"][0].update(data=[1e30, 1.0]),  # orjson's reading of 10**30
        lambda b: b["inputs"][1].update(data=[[float("inf")], ["b"]]),
        lambda b: b.update(outputs=[{"name": "score", "parameters": {"binary_data": True}}]),
        lambda b: b.update(outputs={"name": "score"}),
    ],
)
def test_anything_but_the_plain_form_goes_to_kserve(edit: Any) -> None:
    body = copy.deepcopy(BODY)
    edit(body)
    assert plain_request(body, NAME) is None


@pytest.mark.parametrize("payload", [None, [], "x", 3])
def test_a_body_that_is_not_an_object_goes_to_kserve(payload: Any) -> None:
    assert plain_request(payload, NAME) is None


def _response(requested: list[str] | None, *, with_ids: bool = False) -> InferResponse:
    outputs = [
        InferOutput("score", [2], "FP64", [0.25, 1e-05]),
        InferOutput("label", [2], "BYTES", ["good", "bad"]),
        InferOutput("model_version", [2], "BYTES", ["v1", "v1"]),
    ]
    if with_ids:
        outputs.append(InferOutput("customer_id", [2], "INT64", [3, 2**62]))
    return InferResponse(
        response_id="r-1",
        model_name=NAME,
        model_version="v1",
        infer_outputs=outputs,
        requested_outputs=[RequestedOutput(n, {}) for n in requested] if requested else None,
    )


@pytest.mark.parametrize(
    ("requested", "with_ids"),
    [(None, False), (None, True), (["label", "score"], False), (["label", "label"], True)],
)
def test_response_body_is_kserves_json(requested: list[str] | None, with_ids: bool) -> None:
    ours = response_body(_response(requested, with_ids=with_ids))
    assert ours is not None
    rest, _ = _response(requested, with_ids=with_ids).to_rest()
    theirs = InferenceResponse.model_validate(rest).model_dump(mode="json")
    decoded = orjson.loads(ours)
    assert decoded == theirs
    assert list(decoded) == list(theirs)  # field order too
    assert [list(o) for o in decoded["outputs"]] == [list(o) for o in theirs["outputs"]]


def test_response_with_parameters_is_left_to_kserve() -> None:
    response = _response(None)
    response.parameters = {"x": 1}
    assert response_body(response) is None
