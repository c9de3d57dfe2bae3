"""The HTTP edge around KServe's routes: limits, content types, access log, 400 handlers.

One pure ASGI middleware, active on the inference routes only (``:predict``,
``:explain``, ``/infer``):

* refuses bodies above ``max_body_bytes`` with 413 before reading them (by
  ``Content-Length``; chunked bodies are counted as they arrive);
* refuses content types other than JSON (and V2's binary ``application/octet-stream``)
  with 400 naming ``content-type``;
* reads a V2 infer body sent without a content type as JSON, as V2 clients expect
  (tritonclient's HTTP client sends JSON tensors that way; stock KServe answers 400),
  unless ``inference-header-content-length`` marks it as binary tensors;
* counts the request in :class:`~customer_classifier.serving.batching.Arrivals` until it
  reaches the micro-batcher;
* writes one JSON access-log line: caller, request id, route, status, model version,
  records, latency.

And exception handlers: FastAPI's body validation (V2 JSON that is malformed or not
an inference request) answers 400 instead of FastAPI's 422, naming the field; our
:class:`~customer_classifier.serving.checks.RequestError` answers 400 and is logged
as a warning without a traceback (KServe logs every ``InvalidInput`` as an error); so
does ``:explain`` on a model without contributions, answered 501 as KServe does.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response

from customer_classifier.serving.batching import Arrivals
from customer_classifier.serving.checks import RequestError
from customer_classifier.serving.context import REQUEST_CONTEXT, RequestContext
from customer_classifier.serving.explain import ExplanationUnsupportedError
from customer_classifier.serving.kserve_compat import (
    V1_RAW_BODY_TYPE,
    V2_BODY_ALTERNATIVE,
    V2_REQUEST_MODEL,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

access_log = logging.getLogger("customer_classifier.serving.access")
log = logging.getLogger(__name__)
BODY_TYPES = (
    "application/json",
    "application/cloudevents+json",
    "application/ld+json",
    "application/octet-stream",
)
BINARY_HEADER = b"inference-header-content-length"
"""The V2 binary tensor extension's header: the length of the JSON part of the body."""


def is_inference(scope: Scope) -> bool:
    path: str = scope["path"]
    return scope["method"] == "POST" and path.endswith((":predict", ":explain", "/infer"))


def _content_type_problem(value: bytes | None) -> str | None:
    if value is None:
        return None  # KServe reads a body without a type as JSON
    media = value.split(b";", 1)[0].strip().lower().decode("latin-1")
    if media in BODY_TYPES or media.endswith("+json"):
        return None
    return (
        f"content-type: {value.decode('latin-1')!r} is not supported on inference routes; "
        "send application/json (or application/octet-stream with "
        "inference-header-content-length for V2 binary tensors)"
    )


async def _reply(send: Send, status: int, error: str) -> None:
    body = orjson.dumps({"error": error})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class ServingMiddleware:
    """See the module docstring; everything but the inference routes passes untouched."""

    def __init__(
        self, app: ASGIApp, *, arrivals: Arrivals, max_body_bytes: int, log_requests: bool
    ) -> None:
        self.app = app
        self.arrivals = arrivals
        self.max_body_bytes = max_body_bytes
        self.log_requests = log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_inference(scope):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        status = [0]

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        context = RequestContext(pending=True)
        token = REQUEST_CONTEXT.set(context)
        self.arrivals.pending += 1
        try:
            problem = _content_type_problem(headers.get(b"content-type"))
            length = headers.get(b"content-length")
            if problem is not None:
                await _reply(send_status, 400, problem)
            elif length is not None and length.isdigit() and int(length) > self.max_body_bytes:
                await _reply(send_status, 413, self._too_large(int(length)))
            elif length is None:
                body = await self._read_capped(receive)
                if body is None:
                    await _reply(send_status, 413, self._too_large(None))
                else:
                    await self.app(_typed(scope, headers), replay(body), send_status)
            else:
                await self.app(_typed(scope, headers), receive, send_status)
        finally:
            if context.pending:
                self.arrivals.pending -= 1
            REQUEST_CONTEXT.reset(token)
            if self.log_requests:
                self._log(scope, headers, status[0], context, time.perf_counter() - started)

    def _too_large(self, length: int | None) -> str:
        size = f"{length} bytes" if length is not None else "the body"
        return (
            f"request body: {size} is over the limit of {self.max_body_bytes} bytes "
            "(CC_SERVING__MAX_BODY_BYTES); split the batch into smaller requests"
        )

    async def _read_capped(self, receive: Receive) -> bytes | None:
        """The whole body of a request without Content-Length, or None past the limit."""
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"".join(parts)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            parts.append(chunk)
            if not message.get("more_body", False):
                return b"".join(parts)

    def _log(
        self,
        scope: Scope,
        headers: dict[bytes, bytes],
        status: int,
        context: RequestContext,
        seconds: float,
    ) -> None:
        forwarded = headers.get(b"x-forwarded-for")
        client = scope.get("client")
        caller = (
            forwarded.split(b",", 1)[0].strip().decode("latin-1")
            if forwarded
            else (f"{client[0]}:{client[1]}" if client else "-")
        )
        request_id = headers.get(b"x-request-id")
        entry = {
            "ts": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "caller": caller,
            "request_id": request_id.decode("latin-1") if request_id else None,
            "method": scope["method"],
            "path": scope["path"],
            "status": status,
            "model_version": context.model_version,
            "records": context.rows,
            "latency_ms": round(seconds * 1000, 3),
        }
        access_log.info(orjson.dumps(entry).decode())


def _typed(scope: Scope, headers: dict[bytes, bytes]) -> Scope:
    """The request with the content type KServe should act on.

    A V1 JSON body is re-typed so that KServe passes it through undecoded (the predictor
    parses it). A V2 body without a content type is JSON unless the binary extension's
    header says otherwise; FastAPI would hand it to KServe as bytes, which KServe refuses
    without that header.
    """
    content_type = headers.get(b"content-type")
    if not scope["path"].endswith((":predict", ":explain")):
        if content_type is None and BINARY_HEADER not in headers:
            return _with_type(scope, b"application/json")
        return scope
    if any(k.startswith(b"ce-") for k in headers):
        return scope  # binary CloudEvents are KServe's to decode
    media = (content_type or b"application/json").split(b";", 1)[0].strip().lower()
    if media != b"application/json":
        return scope
    return _with_type(scope, V1_RAW_BODY_TYPE)


def _with_type(scope: Scope, content_type: bytes) -> Scope:
    retyped = dict(scope)
    retyped["headers"] = [
        *((k, v) for k, v in scope["headers"] if k.lower() != b"content-type"),
        (b"content-type", content_type),
    ]
    return retyped


def replay(body: bytes) -> Receive:
    """A ``receive`` that hands an already-read body to the next app, then disconnects."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def _location(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", V2_REQUEST_MODEL)]
    text = ""
    for part in parts:
        text += f"[{part}]" if part.isdigit() else (f".{part}" if text else part)
    return text or "request body"


async def body_validation_handler(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 for a V2 body turned into KServe's 400, naming each field."""
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors():
        loc = tuple(error.get("loc", ()))
        if V2_BODY_ALTERNATIVE in loc:
            continue  # the binary-body alternative of KServe's V2 route: not what was sent
        if error.get("type") == "json_invalid":
            problems.append(f"request body: not valid JSON ({error.get('msg')})")
        else:
            problems.append(f"{_location(loc)}: {error.get('msg')}")
    message = "; ".join(dict.fromkeys(problems)) or "request body: not a V2 inference request"
    log.warning("400 %s: %s", request.url.path, message)
    return JSONResponse(status_code=400, content={"error": message})


async def request_error_handler(request: Request, exc: Exception) -> JSONResponse:
    log.warning("400 %s: %s", request.url.path, exc)
    return JSONResponse(status_code=400, content={"error": str(exc)})


async def not_explainable_handler(request: Request, exc: Exception) -> JSONResponse:
    """``:explain`` on a model without contributions: KServe's 501, logged as a warning
    without a traceback (it is the client's choice of verb, not a failure)."""
    log.warning("501 %s: %s", request.url.path, exc)
    return JSONResponse(status_code=501, content={"error": str(exc)})


async def http_error_handler(request: Request, exc: Exception) -> Response:
    """A body FastAPI could not read (not UTF-8, nested too deep) is a 400 in KServe's
    ``{"error": ...}`` form; other HTTP errors (404, 405) keep FastAPI's answer."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400:
        log.warning("400 %s: %s", request.url.path, exc.detail)
        return JSONResponse(status_code=400, content={"error": f"request body: {exc.detail}"})
    return await http_exception_handler(request, exc)


def install(app: FastAPI, *, arrivals: Arrivals, max_body_bytes: int, log_requests: bool) -> None:
    """Add the middleware and the handlers to KServe's app, before the server starts."""
    app.add_middleware(
        ServingMiddleware,
        arrivals=arrivals,
        max_body_bytes=max_body_bytes,
        log_requests=log_requests,
    )
    app.add_exception_handler(RequestValidationError, body_validation_handler)
    app.add_exception_handler(RequestError, request_error_handler)
    app.add_exception_handler(ExplanationUnsupportedError, not_explainable_handler)
    app.add_exception_handler(HTTPException, http_error_handler)
