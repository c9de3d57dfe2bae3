"""Every use of KServe beyond its documented API for custom predictors, in one place.

What the rest of ``serving/`` takes from KServe's documented API is ``kserve.Model`` (its
``load``/``preprocess``/``predict``/``postprocess`` hooks and ``ready``),
``kserve.ModelServer``, ``kserve.ModelRepository`` and the protocol types
``InferRequest``, ``InferInput``, ``InferResponse``, ``InferOutput``. Everything else the
predictor relies on is named here, with what it relies on:

* the error types whose KServe handlers answer 400 (``InvalidInput``, also gRPC's
  ``INVALID_ARGUMENT``), 500 (``InferenceError``) and 503 (``ModelNotReady``), from
  ``kserve.errors``;
* ``RequestedOutput``, which only ``kserve.protocol.infer_type`` exports;
* the private state of the protocol types: ``InferInput._raw_data`` (the bytes of a gRPC
  raw tensor; KServe decodes REST binary tensors into ``data``), and
  ``InferResponse._requested_outputs`` and ``_use_binary_outputs``;
* ``Model.__call__`` (preprocess, validate, predict, postprocess, KServe's latency
  metrics) returning ``(response, response_headers)``, which the fast V2 route calls as
  KServe's data plane does;
* the module-level FastAPI ``app`` and argument ``parser`` of ``kserve.model_server``,
  KServe's V2 infer route (its path, and a body parameter of ``InferenceRequest`` or
  ``bytes``, which shapes FastAPI's validation errors), and
  ``kserve.logging.configure_logging``;
* the data plane passing a V1 body of a content type it does not know to the model
  undecoded (:data:`V1_RAW_BODY_TYPE`);
* ``ModelServer.start([])`` starting with no model registered through it (the predictor
  registers itself and turns ready later), and the model repository extension calling
  ``ModelRepository.load(name)`` for ``POST /v2/repository/models/NAME/load``.

``tests/unit/test_serving_kserve_compat.py`` exercises each of these against the
installed KServe, so that an upgrade that changes one fails there, by name, rather than
in a running predictor.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from kserve.errors import InferenceError, InvalidInput, ModelNotReady
from kserve.protocol.infer_type import InferInput, InferResponse, RequestedOutput

if TYPE_CHECKING:
    from fastapi import FastAPI
    from kserve import Model, ModelServer

__all__ = [
    "V1_RAW_BODY_TYPE",
    "V2_BODY_ALTERNATIVE",
    "V2_INFER_PATH",
    "V2_REQUEST_MODEL",
    "InferenceError",
    "InvalidInput",
    "ModelNotReady",
    "RequestedOutput",
    "binary_outputs",
    "call_model",
    "configure_logging",
    "raw_input_data",
    "requested_outputs",
    "server_app",
    "server_parser",
    "start_without_models",
]

V2_INFER_PATH = "/v2/models/{model_name}/infer"
"""KServe's V2 REST infer route; the fast route is registered ahead of it on this path."""
V2_REQUEST_MODEL = "InferenceRequest"
"""The pydantic model of KServe's V2 infer body: a segment of FastAPI's error locations."""
V2_BODY_ALTERNATIVE = "bytes"
"""The other type of that body parameter (binary tensors): errors about it are noise."""
V1_RAW_BODY_TYPE = b"application/vnd.customer-classifier.v1+json"
"""A content type KServe's data plane does not decode: a V1 JSON body sent under it
reaches ``preprocess`` as bytes, so the predictor parses it and can name the field of a
value JSON parsers refuse (1e999, NaN)."""


def raw_input_data(tensor: InferInput) -> bytes | None:
    """The bytes of a gRPC raw tensor, or None when the tensor has ``data`` (JSON, or a
    REST binary tensor that KServe decoded)."""
    raw: bytes | None = tensor._raw_data
    return raw


def requested_outputs(response: InferResponse) -> list[RequestedOutput] | None:
    """The outputs the client asked for, in its order, with their binary flags."""
    requested: list[RequestedOutput] | None = response._requested_outputs
    return requested


def binary_outputs(response: InferResponse) -> bool:
    """Whether KServe would write the outputs as binary tensors."""
    return bool(response._use_binary_outputs)


async def call_model(
    model: Model, request: Any, headers: dict[str, str]
) -> tuple[Any, dict[str, str]]:
    """Run the model on a decoded request as KServe's data plane does."""
    response, response_headers = await model(request, headers=headers)
    return response, response_headers


def server_parser() -> argparse.ArgumentParser:
    """KServe's model-server flags (``--http_port``, ``--grpc_port``, ``--workers``, ...)."""
    from kserve import model_server

    parser: argparse.ArgumentParser = model_server.parser
    return parser


def server_app() -> FastAPI:
    """The FastAPI app ``ModelServer`` serves; routes and middleware added to it before
    ``start`` are served too."""
    from kserve import model_server

    app: FastAPI = model_server.app
    return app


def configure_logging() -> None:
    """KServe's log format for its own and uvicorn's loggers."""
    from kserve.logging import configure_logging as kserve_logging

    kserve_logging()


def start_without_models(server: ModelServer) -> None:
    """Start a server whose model registered itself and is not ready yet (KServe refuses
    to start with a list of models none of which is ready)."""
    server.start([])
