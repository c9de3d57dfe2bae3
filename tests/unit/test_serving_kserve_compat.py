"""Each KServe internal the predictor relies on, against the installed KServe.

``serving/kserve_compat.py`` names every use of KServe beyond its documented API; each
test here exercises one of them and asserts the shape the predictor relies on, so that a
KServe upgrade that changes one fails here, by name.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import typing
from typing import Any

import httpx
import numpy as np
import orjson
import pytest
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from kserve import InferInput, InferOutput, InferRequest, InferResponse, Model, ModelRepository
from kserve.errors import (
    inference_error_handler,
    invalid_input_handler,
    model_not_ready_handler,
)
from kserve.protocol.dataplane import DataPlane
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
from kserve.protocol.model_repository_extension import ModelRepositoryExtension
from kserve.protocol.rest.v2_datamodels import InferenceRequest
from kserve.protocol.rest.v2_endpoints import V2Endpoints, register_v2_endpoints
from starlette.routing import Match

from customer_classifier.serving import kserve_compat
from customer_classifier.serving.asgi import body_validation_handler
from customer_classifier.serving.checks import RequestError

NAME = "compat-model"


class Echo(Model):  # type: ignore[misc]
    """A ready model whose answer names the request's inputs."""

    def __init__(self) -> None:
        super().__init__(NAME)
        self.ready = True

    async def predict(self, payload: Any, headers: dict[str, str] | None = None) -> Any:
        if isinstance(payload, InferRequest):
            return InferResponse(
                response_id=payload.id or "x",
                model_name=NAME,
                infer_outputs=[InferOutput("n", [1], "INT64", [len(payload.inputs)])],
            )
        return {"predictions": [sorted(payload)] if isinstance(payload, dict) else payload}


@pytest.mark.parametrize(
    ("error", "handler", "status"),
    [
        (RequestError(["age: must not be null"]), invalid_input_handler, 400),
        (kserve_compat.InferenceError("boom"), inference_error_handler, 500),
        (kserve_compat.ModelNotReady(NAME, "loading"), model_not_ready_handler, 503),
    ],
)
def test_error_types_keep_their_status(error: Exception, handler: Any, status: int) -> None:
    response = asyncio.run(handler(None, error))
    assert response.status_code == status
    assert orjson.loads(response.body)["error"] == str(error)
    if isinstance(error, RequestError):
        assert isinstance(error, kserve_compat.InvalidInput)


def test_requested_output_has_name_and_binary_flag() -> None:
    plain = kserve_compat.RequestedOutput(name="score", parameters={})
    binary = kserve_compat.RequestedOutput(name="label", parameters={"binary_data": True})
    assert plain.name == "score"
    assert not plain.binary_data
    assert (binary.name, binary.binary_data) == ("label", True)


def test_raw_input_data_is_a_grpc_raw_tensors_bytes() -> None:
    values = np.array([1.5, np.nan], dtype=np.float64)
    message = pb.ModelInferRequest(
        model_name=NAME,
        inputs=[
            pb.ModelInferRequest.InferInputTensor(name="x", datatype="FP64", shape=[2]),
            pb.ModelInferRequest.InferInputTensor(
                name="y",
                datatype="FP64",
                shape=[1],
                contents=pb.InferTensorContents(fp64_contents=[2.0]),
            ),
        ],
        raw_input_contents=[values.tobytes()],
    )
    raw, plain = InferRequest.from_grpc(message).inputs
    assert kserve_compat.raw_input_data(raw) == values.tobytes()
    np.testing.assert_array_equal(raw.as_numpy(), values)
    assert kserve_compat.raw_input_data(plain) is None
    # REST binary tensors arrive decoded into data (KServe reads them in from_bytes).
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "shape": [2],
                    "datatype": "FP64",
                    "parameters": {"binary_data_size": values.nbytes},
                }
            ]
        }
    )
    (rest,) = InferRequest.from_bytes(header + values.tobytes(), len(header), NAME).inputs
    assert kserve_compat.raw_input_data(rest) is None
    assert rest.data[0] == 1.5


def test_response_keeps_requested_outputs_and_binary_flag() -> None:
    requested = [kserve_compat.RequestedOutput("label", {}), kserve_compat.RequestedOutput("score")]
    outputs = [InferOutput("score", [1], "FP64", [0.5]), InferOutput("label", [1], "BYTES", ["a"])]
    response = InferResponse(
        response_id="r",
        model_name=NAME,
        infer_outputs=outputs,
        use_binary_outputs=True,
        requested_outputs=requested,
    )
    assert kserve_compat.requested_outputs(response) == requested
    assert kserve_compat.binary_outputs(response) is True
    bare = InferResponse(response_id="r", model_name=NAME, infer_outputs=outputs)
    assert kserve_compat.requested_outputs(bare) is None
    assert kserve_compat.binary_outputs(bare) is False


def test_call_model_runs_the_handlers_and_returns_the_headers() -> None:
    request = InferRequest(model_name=NAME, infer_inputs=[InferInput("a", [1], "FP64", [1.0])])
    response, headers = asyncio.run(kserve_compat.call_model(Echo(), request, {}))
    assert isinstance(response, InferResponse)
    assert response.outputs[0].data == [1]
    assert isinstance(headers, dict)


def test_server_parser_has_the_model_server_flags() -> None:
    parser = kserve_compat.server_parser()
    assert isinstance(parser, argparse.ArgumentParser)
    args, _ = parser.parse_known_args(["--http_port", "9000", "--workers", "1"])
    assert (args.http_port, args.workers) == (9000, 1)
    for flag in ("grpc_port", "model_name", "enable_grpc", "enable_docs_url"):
        assert hasattr(args, flag), flag


def test_server_app_is_the_fastapi_app() -> None:
    assert isinstance(kserve_compat.server_app(), FastAPI)


def _v2_app() -> FastAPI:
    repository = ModelRepository()
    repository.update(Echo())
    app = FastAPI()
    register_v2_endpoints(app, DataPlane(model_registry=repository), None)
    return app


async def _post(app: FastAPI, path: str, **kwargs: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.post(path, **kwargs)


def test_v2_infer_route_path_and_body_parameter() -> None:
    app = _v2_app()
    path = kserve_compat.V2_INFER_PATH.format(model_name=NAME)
    scope = {"type": "http", "method": "POST", "path": path, "root_path": ""}
    assert any(route.matches(scope)[0] is Match.FULL for route in app.router.routes)
    body = {"inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "data": [1.0]}]}
    answer = asyncio.run(_post(app, path, json=body))
    assert answer.status_code == 200, answer.text
    assert answer.json()["outputs"][0]["data"] == [1]
    hints = typing.get_type_hints(V2Endpoints.infer)
    assert set(typing.get_args(hints["request_body"])) == {InferenceRequest, bytes}
    assert InferenceRequest.__name__ == kserve_compat.V2_REQUEST_MODEL
    assert bytes.__name__ == kserve_compat.V2_BODY_ALTERNATIVE


def test_v2_validation_errors_name_the_request_model_and_the_bytes_alternative() -> None:
    app = _v2_app()
    seen: list[tuple[Any, ...]] = []

    async def record(request: Any, exc: Exception) -> Any:
        seen.extend(tuple(e["loc"]) for e in exc.errors())  # type: ignore[attr-defined]
        return await body_validation_handler(request, exc)

    app.add_exception_handler(RequestValidationError, record)

    body = {"inputs": [{"name": "a", "shape": [1]}]}
    answer = asyncio.run(_post(app, f"/v2/models/{NAME}/infer", json=body))
    assert answer.status_code == 400
    assert any(kserve_compat.V2_REQUEST_MODEL in loc for loc in seen)
    assert any(kserve_compat.V2_BODY_ALTERNATIVE in loc for loc in seen)
    assert "bytes" not in answer.json()["error"]


def test_data_plane_passes_the_v1_raw_type_through_undecoded() -> None:
    plane = DataPlane(model_registry=ModelRepository())
    body = b'{"instances": [1e999]}'
    headers = {"content-type": kserve_compat.V1_RAW_BODY_TYPE.decode()}
    decoded, attributes = plane.decode(body=body, headers=headers)
    assert decoded is body
    assert attributes == {}


def test_logging_and_start_take_what_the_server_passes() -> None:
    from kserve import ModelServer
    from kserve.logging import configure_logging

    assert all(
        p.default is not inspect.Parameter.empty
        for p in inspect.signature(configure_logging).parameters.values()
    )
    assert list(inspect.signature(ModelServer.start).parameters) == ["self", "models"]
    # ModelServer.start([]) itself is exercised by tests/integration/serving, which start
    # the real server before any model is ready.


def test_repository_extension_load_calls_the_repositorys_load() -> None:
    loaded: list[str] = []

    class Repository(ModelRepository):  # type: ignore[misc]
        async def load(self, name: str) -> bool:
            loaded.append(name)
            return True

    repository = Repository()
    repository.update(Echo())
    asyncio.run(ModelRepositoryExtension(model_registry=repository).load(NAME))
    assert loaded == [NAME]
