"""The V2 REST infer route of the served model, without pydantic on the way in or out.

KServe's own ``POST /v2/models/{name}/infer`` reads the body with the standard library,
validates it into pydantic ``InferenceRequest`` models (FastAPI's dependency solving),
converts those into an ``InferRequest``, and on the way out converts the
``InferResponse`` into a dict, validates that into a pydantic ``InferenceResponse`` and
encodes it once more through FastAPI. For a single record that is about as much work as
validating and scoring it.

:class:`FastV2Infer` is a route registered ahead of KServe's for this model's infer path
only. It parses the body with orjson, builds the same ``InferRequest`` KServe would,
calls the model exactly as KServe's data plane does (``Model.__call__``: preprocess,
predict, postprocess, KServe's latency metrics), and writes KServe's JSON answer with
orjson: the same fields in the same order, ``parameters`` and each output's
``parameters`` as ``null``, ``id`` echoed (or a new UUID), ``outputs`` in the requested
order.

Only the plain form of the request takes this path: a JSON object with ``inputs`` of
``name``/``shape``/``datatype``/``data`` (and optional ``id``, scalar ``parameters``,
``outputs`` by name). Everything else goes on to KServe's route unchanged, body
included, so that its answers stay exactly KServe's: malformed JSON or JSON only the
standard library reads (NaN, huge integers), anything pydantic would coerce or refuse,
binary tensors or binary outputs, CloudEvents, another model name, a model that is not
ready. Validation errors raised by the model (:class:`RequestError`) and KServe's own
errors propagate to the app's exception handlers, as they do from KServe's route.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI
from kserve import InferInput, InferRequest, InferResponse
from starlette.routing import Match, Route

from customer_classifier.serving.asgi import Receive, Scope, Send, replay
from customer_classifier.serving.kserve_compat import (
    V2_INFER_PATH,
    RequestedOutput,
    binary_outputs,
    call_model,
    requested_outputs,
)

_SCALARS = (str, int, float, bool)
_REQUEST_KEYS = frozenset({"id", "parameters", "inputs", "outputs"})
_INPUT_KEYS = frozenset({"name", "shape", "datatype", "data"})
_WHOLE = float(2**63)
_JSON_RESPONSE = (b"content-type", b"application/json")


def _plain_parameters(value: Any) -> bool:
    """``parameters`` as pydantic takes them unchanged: absent, or a map of scalars."""
    if value is None:
        return True
    return type(value) is dict and all(type(v) in _SCALARS for v in value.values())


def _exact(data: list[Any]) -> bool:
    """Whether orjson read ``data`` as the standard library does: orjson reads an integer
    beyond 64 bits as a float (and validation would show it as one), the standard
    library keeps it whole; values that large take KServe's route."""
    for value in data:
        kind = type(value)
        if kind is float:
            if not -_WHOLE < value < _WHOLE:
                return False
        elif kind is list and not _exact(value):
            return False
    return True


def plain_request(payload: Any, model_name: str) -> InferRequest | None:
    """The ``InferRequest`` KServe's route would build from ``payload``, or None when the
    payload is anything but the plain JSON form (KServe's route then decides)."""
    if type(payload) is not dict or not _REQUEST_KEYS.issuperset(payload):
        return None
    request_id = payload.get("id")
    parameters = payload.get("parameters")
    if request_id is not None and type(request_id) is not str:
        return None
    if not _plain_parameters(parameters) or (parameters and "binary_data_output" in parameters):
        return None
    raw_inputs = payload.get("inputs")
    if type(raw_inputs) is not list:
        return None
    inputs: list[InferInput] = []
    for raw in raw_inputs:
        if type(raw) is not dict or raw.keys() != _INPUT_KEYS:
            return None
        name, shape, datatype, data = raw["name"], raw["shape"], raw["datatype"], raw["data"]
        if type(name) is not str or type(datatype) is not str or type(data) is not list:
            return None
        if type(shape) is not list or any(type(s) is not int for s in shape):
            return None
        if not _exact(data):
            return None
        if datatype.upper() == "FP16":
            return None  # KServe refuses FP16 JSON data with its own message
        inputs.append(
            InferInput(name=name, shape=shape, datatype=datatype, data=data, parameters={})
        )
    requested: list[RequestedOutput] | None = None
    raw_outputs = payload.get("outputs")
    if raw_outputs is not None:
        if type(raw_outputs) is not list:
            return None
        for raw in raw_outputs:
            if type(raw) is not dict or raw.keys() != {"name"} or type(raw["name"]) is not str:
                return None
        if raw_outputs:
            requested = [RequestedOutput(name=raw["name"], parameters={}) for raw in raw_outputs]
    return InferRequest(
        model_name=model_name,
        infer_inputs=inputs,
        request_id=request_id,
        parameters=parameters,
        request_outputs=requested,
    )


def response_body(response: InferResponse) -> bytes | None:
    """KServe's REST JSON of ``response``, or None when only KServe can write it."""
    requested = requested_outputs(response)
    if response.parameters or binary_outputs(response):
        return None
    if requested and any(r.binary_data for r in requested):
        return None
    by_name = {output.name: output for output in response.outputs}
    chosen = [by_name.get(r.name) for r in requested] if requested else response.outputs
    outputs = []
    for output in chosen:
        if output is None or output.parameters or type(output.data) is not list:
            return None
        outputs.append(
            {
                "name": output.name,
                "shape": output.shape,
                "datatype": output.datatype,
                "parameters": None,
                "data": output.data,
            }
        )
    return orjson.dumps(
        {
            "model_name": response.model_name,
            "model_version": response.model_version,
            "id": response.id,
            "parameters": None,
            "outputs": outputs,
        }
    )


class FastV2Infer:
    """ASGI app of the route ``/v2/models/{model_name}/infer`` ahead of KServe's."""

    def __init__(self, app: FastAPI, model: Any) -> None:
        self.app = app
        self.model = model

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        model = self.model
        if scope["path_params"].get("model_name") != model.name or not model.ready:
            await self._kserve(scope, receive, send)
            return
        headers: dict[str, str] = {}
        for key, value in scope["headers"]:  # the first of repeated headers, as Starlette
            headers.setdefault(key.decode("latin-1"), value.decode("latin-1"))
        media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media != "application/json" or any(k.startswith("ce-") for k in headers):
            await self._kserve(scope, receive, send)
            return
        body = await _read(receive)
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            payload = None
        request = plain_request(payload, model.name)
        if request is None:
            await self._kserve(scope, replay(body), send)
            return
        response, response_headers = await call_model(model, request, headers)
        answer = response_body(response) if isinstance(response, InferResponse) else None
        if answer is None:  # a response KServe writes in binary form or not at all
            raise RuntimeError("V2 response is not plain JSON")
        extra = [
            (k.lower().encode("latin-1"), str(v).encode("latin-1"))
            for k, v in response_headers.items()
            if k.lower() not in ("content-length", "content-type")
        ]
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-length", str(len(answer)).encode()),
                    _JSON_RESPONSE,
                    *extra,
                ],
            }
        )
        await send({"type": "http.response.body", "body": answer})

    async def _kserve(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Route the request as if this route were not there."""
        for route in self.app.router.routes:
            if isinstance(route, Route) and route.endpoint is self:
                continue
            match, child = route.matches(scope)
            if match is Match.FULL:
                scope.update(child)
                await route.handle(scope, receive, send)
                return
        raise RuntimeError("KServe's V2 infer route is not registered")


async def _read(receive: Receive) -> bytes:
    parts: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(parts)


def install(app: FastAPI, model: Any) -> None:
    """Register the route first in ``app``'s routing, ahead of KServe's V2 routes."""
    route = Route(V2_INFER_PATH, FastV2Infer(app, model), methods=["POST"])
    app.router.routes.insert(0, route)
