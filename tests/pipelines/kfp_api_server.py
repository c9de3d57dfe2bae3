"""A Kubeflow Pipelines API server on loopback, for the real ``kfp.Client`` to talk to.

It answers the v2beta1 REST routes that ``make submit`` and ``make schedule`` use, with
the JSON shapes of the real server (snake_case fields, ``recurringRuns`` in the list of
recurring runs, int64 as strings, grpc-gateway errors with ``code`` and ``message``),
keeps pipelines, versions, experiments, runs and recurring runs in memory, and records
every request (method, path, query, body) for the tests to read.

Like the real server it creates a first version named after the pipeline on upload,
refuses a second pipeline or version of the same name (409), a cron without six fields
(400), when started with a token, any API call without that bearer token (401), and a
request naming a namespace the caller may not use (403); the health route stays open, as
it is on a real deployment.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import yaml

API = "/apis/v2beta1"
GRPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6}
DEFAULT_SERVICE_ACCOUNT = "default-editor"
"""What the real server fills in when a run names no ServiceAccount (a Kubeflow profile's)."""


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    authorization: str | None


@dataclass
class KfpState:
    """Everything the server holds; ids are predictable (``pipeline-1``, ``run-2``)."""

    pipelines: dict[str, dict[str, Any]] = field(default_factory=dict)
    versions: dict[str, dict[str, Any]] = field(default_factory=dict)
    experiments: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    recurring_runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def new_id(self, kind: str) -> str:
        return f"{kind}-{next(self.counter)}"

    def calls(self, method: str, path: str) -> list[Recorded]:
        """The recorded requests of one route (``path`` as sent, or its prefix + ``*``)."""
        if path.endswith("*"):
            return [r for r in self.requests if r.method == method and r.path.startswith(path[:-1])]
        return [r for r in self.requests if r.method == method and r.path == path]


def _now() -> str:
    return "2026-12-01T22:00:00Z"


def _matches(item: dict[str, Any], filter_text: str | None) -> bool:
    """KFP's filter.proto, as far as the client uses it: EQUALS on a string field."""
    if not filter_text:
        return True
    for predicate in json.loads(filter_text).get("predicates", []):
        if predicate.get("operation") not in (1, "EQUALS"):
            raise ApiError(400, f"unsupported filter operation {predicate.get('operation')}")
        if str(item.get(predicate["key"])) != predicate.get("stringValue"):
            return False
    return True


def _page(items: list[dict[str, Any]], query: dict[str, str], key: str) -> dict[str, Any]:
    size = int(query.get("page_size") or 10)
    start = int(query.get("page_token") or 0)
    chosen = items[start : start + size]
    out: dict[str, Any] = {"total_size": len(items)}
    if chosen:
        out[key] = chosen
    if start + size < len(items):
        out["next_page_token"] = str(start + size)
    return out


class KfpApiServer:
    """The server and its state; :func:`running` starts one on a free loopback port."""

    def __init__(self, token: str | None = None, forbidden: frozenset[str] = frozenset()) -> None:
        self.token = token
        self.forbidden = forbidden
        """Namespaces the caller is no contributor of: every request naming one gets 403."""
        self.failing: dict[tuple[str, str], tuple[int, str]] = {}
        """(method, path) -> (status, message): the route answers that error, as a real
        server does when its database or the scheduler is in trouble."""
        self.state = KfpState()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _serve(self, method: str) -> None:
                parts = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(parts.query))
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = _decode(raw, self.headers.get("Content-Type", ""))
                authorization = self.headers.get("Authorization")
                with server._lock:
                    server.state.requests.append(
                        Recorded(method, parts.path, query, body, authorization)
                    )
                    try:
                        status, answer = server.route(
                            method, parts.path, query, body, authorization
                        )
                    except ApiError as exc:
                        code = GRPC_CODES.get(exc.status, 2)
                        status, answer = (
                            exc.status,
                            {
                                "error": exc.message,
                                "code": code,
                                "message": exc.message,
                                "details": [],
                            },
                        )
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def do_DELETE(self) -> None:
                self._serve("DELETE")

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- routes ---------------------------------------------------------------------------

    def route(
        self, method: str, path: str, query: dict[str, str], body: Any, authorization: str | None
    ) -> tuple[int, Any]:
        if (method, path) in self.failing:
            raise ApiError(*self.failing[(method, path)])
        if not path.startswith(API):
            raise ApiError(404, f"no route {path}")
        rest = path[len(API) :]
        if rest == "/healthz" and method == "GET":
            return 200, {"multi_user": True, "pipeline_store": "database"}
        if self.token is not None and authorization != f"Bearer {self.token}":
            raise ApiError(401, "Unauthenticated: the request carries no valid bearer token")
        named = query.get("namespace") or (
            body.get("namespace") if isinstance(body, dict) else None
        )
        if named in self.forbidden:
            raise ApiError(403, f"PermissionDenied: no access to namespace {named}")
        s = self.state
        if rest == "/pipelines" and method == "GET":
            items = [
                p
                for p in s.pipelines.values()
                if p["namespace"] == query.get("namespace", "") and _matches(p, query.get("filter"))
            ]
            return 200, _page(items, query, "pipelines")
        if rest == "/pipelines/upload" and method == "POST":
            return 200, self._upload_pipeline(query, body)
        if rest == "/pipelines/upload_version" and method == "POST":
            return 200, self._upload_version(query, body)
        if rest.startswith("/pipelines/") and rest.endswith("/versions") and method == "GET":
            pipeline_id = rest.split("/")[2]
            if pipeline_id not in s.pipelines:
                raise ApiError(404, f"pipeline {pipeline_id} not found")
            items = [
                v
                for v in s.versions.values()
                if v["pipeline_id"] == pipeline_id and _matches(v, query.get("filter"))
            ]
            return 200, _page([_without_spec(v) for v in items], query, "pipeline_versions")
        if rest == "/experiments" and method == "GET":
            items = [
                e
                for e in s.experiments.values()
                if e["namespace"] == query.get("namespace", "") and _matches(e, query.get("filter"))
            ]
            return 200, _page(items, query, "experiments")
        if rest == "/experiments" and method == "POST":
            experiment = {
                "experiment_id": s.new_id("experiment"),
                "display_name": body["display_name"],
                "description": body.get("description") or "",
                "namespace": body.get("namespace") or "",
                "created_at": _now(),
                "storage_state": "AVAILABLE",
            }
            s.experiments[experiment["experiment_id"]] = experiment
            return 200, experiment
        if rest == "/runs" and method == "POST":
            return 200, self._create_run(body)
        if rest.startswith("/runs/") and method == "GET":
            run = s.runs.get(rest[len("/runs/") :])
            if run is None:
                raise ApiError(404, f"run {rest[len('/runs/') :]} not found")
            return 200, run
        if rest == "/recurringruns" and method == "POST":
            return 200, self._create_recurring_run(body)
        if rest == "/recurringruns" and method == "GET":
            items = [
                r
                for r in s.recurring_runs.values()
                if r["experiment_id"] == query.get("experiment_id", r["experiment_id"])
                and _matches(r, query.get("filter"))
            ]
            return 200, _page(items, query, "recurringRuns")
        if rest.startswith("/recurringruns/"):
            return 200, self._change_recurring_run(method, rest[len("/recurringruns/") :])
        raise ApiError(404, f"no route {method} {path}")

    def _upload_pipeline(self, query: dict[str, str], body: Any) -> dict[str, Any]:
        s, name, namespace = self.state, query.get("name", ""), query.get("namespace", "")
        if any(
            p["display_name"] == name and p["namespace"] == namespace for p in s.pipelines.values()
        ):
            raise ApiError(409, f"Failed to create a pipeline: {name} already exists")
        pipeline = {
            "pipeline_id": s.new_id("pipeline"),
            "name": name,
            "display_name": name,
            "description": query.get("description", ""),
            "namespace": namespace,
            "created_at": _now(),
        }
        s.pipelines[pipeline["pipeline_id"]] = pipeline
        self._add_version(pipeline["pipeline_id"], name, query.get("description", ""), body)
        return pipeline

    def _upload_version(self, query: dict[str, str], body: Any) -> dict[str, Any]:
        s, name, pipeline_id = self.state, query.get("name", ""), query.get("pipelineid", "")
        if pipeline_id not in s.pipelines:
            raise ApiError(404, f"pipeline {pipeline_id!r} not found")
        if any(
            v["pipeline_id"] == pipeline_id and v["display_name"] == name
            for v in s.versions.values()
        ):
            raise ApiError(409, f"Failed to create a pipeline version: {name} already exists")
        return _without_spec(
            self._add_version(pipeline_id, name, query.get("description", ""), body)
        )

    def _add_version(
        self, pipeline_id: str, name: str, description: str, body: Any
    ) -> dict[str, Any]:
        upload = body.get("uploadfile") if isinstance(body, dict) else None
        if not upload:
            raise ApiError(400, "the upload carries no uploadfile part")
        version = {
            "pipeline_id": pipeline_id,
            "pipeline_version_id": self.state.new_id("version"),
            "name": name,
            "display_name": name,
            "description": description,
            "created_at": _now(),
            "pipeline_spec": next(yaml.safe_load_all(upload["content"])),
            "package": upload["content"],
        }
        self.state.versions[version["pipeline_version_id"]] = version
        return version

    def _check_reference(self, body: dict[str, Any]) -> None:
        reference = body.get("pipeline_version_reference") or {}
        version = self.state.versions.get(reference.get("pipeline_version_id", ""))
        if version is None or version["pipeline_id"] != reference.get("pipeline_id"):
            raise ApiError(404, f"pipeline version {reference} not found")
        if body.get("experiment_id") not in self.state.experiments:
            raise ApiError(404, f"experiment {body.get('experiment_id')!r} not found")

    def _create_run(self, body: dict[str, Any]) -> dict[str, Any]:
        self._check_reference(body)
        run = {
            **body,
            "run_id": self.state.new_id("run"),
            "service_account": body.get("service_account") or DEFAULT_SERVICE_ACCOUNT,
            "created_at": _now(),
            "state": "PENDING",
            "storage_state": "AVAILABLE",
        }
        self.state.runs[run["run_id"]] = run
        return run

    def _create_recurring_run(self, body: dict[str, Any]) -> dict[str, Any]:
        self._check_reference(body)
        cron = ((body.get("trigger") or {}).get("cron_schedule") or {}).get("cron", "")
        if len(cron.split()) != 6:
            raise ApiError(400, f"Invalid cron schedule format {cron!r}: expected 6 fields")
        enabled = body.get("mode", "ENABLE") == "ENABLE"
        experiment = self.state.experiments[body["experiment_id"]]
        recurring = {
            **body,
            "recurring_run_id": self.state.new_id("recurring"),
            "max_concurrency": str(body.get("max_concurrency") or 1),
            "service_account": body.get("service_account") or DEFAULT_SERVICE_ACCOUNT,
            "namespace": experiment["namespace"],
            "created_at": _now(),
            "updated_at": _now(),
            "mode": "ENABLE" if enabled else "DISABLE",
            "status": "ENABLED" if enabled else "DISABLED",
        }
        self.state.recurring_runs[recurring["recurring_run_id"]] = recurring
        return recurring

    def _change_recurring_run(self, method: str, rest: str) -> dict[str, Any]:
        recurring_id, _, verb = rest.partition(":")
        recurring = self.state.recurring_runs.get(recurring_id)
        if recurring is None:
            raise ApiError(404, f"recurring run {recurring_id!r} not found")
        if method == "DELETE" and not verb:
            del self.state.recurring_runs[recurring_id]
            return {}
        if method == "GET" and not verb:
            return recurring
        if method == "POST" and verb in {"enable", "disable"}:
            recurring["mode"] = "ENABLE" if verb == "enable" else "DISABLE"
            recurring["status"] = "ENABLED" if verb == "enable" else "DISABLED"
            return {}
        raise ApiError(404, f"no route {method} recurringruns/{rest}")


def _without_spec(version: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in version.items() if k != "package"}


def _decode(raw: bytes, content_type: str) -> Any:
    """JSON bodies as data; a multipart upload as ``{part: {filename, content}}``."""
    if not raw:
        return None
    if content_type.startswith("multipart/form-data"):
        head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
        parts: dict[str, Any] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            content = payload.decode("utf-8") if isinstance(payload, bytes) else ""
            parts[str(name)] = {"filename": part.get_filename(), "content": content}
        return parts
    return json.loads(raw)


@contextmanager
def running(
    token: str | None = None, forbidden: frozenset[str] = frozenset()
) -> Iterator[KfpApiServer]:
    """A server on a free loopback port for the duration of the block."""
    server = KfpApiServer(token=token, forbidden=forbidden)
    thread = threading.Thread(
        target=server._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server._httpd.shutdown()
        server._httpd.server_close()
        thread.join(timeout=10)
