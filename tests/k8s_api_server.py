"""A stand-in Kubernetes API server on loopback, for the official ``kubernetes`` client.

It serves what the rollout controller touches, with the API server's semantics:

- InferenceServices (``serving.kserve.io/v1beta1``): get, merge patch (RFC 7386) and JSON
  patch (RFC 6902), replace; every write bumps ``metadata.resourceVersion`` and, for a
  spec change, ``metadata.generation``. A write naming an older ``resourceVersion`` (in the
  body, or in a JSON patch's ``test`` op) is refused with 409 Conflict and a ``Status``.
- a status that follows the spec as KServe's controller does, per deployment mode: Knative
  revisions and their traffic split, or Standard mode's canary statuses;
- ConfigMaps: get and merge patch; Events: create and list.

Every request is recorded (method, path, content type, body) for the tests to assert.
``before_write`` lets a test play another writer between the controller's read and write.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ISVC_PATH = re.compile(
    r"^/apis/serving\.kserve\.io/v1beta1/namespaces/(?P<ns>[^/]+)/inferenceservices/(?P<name>[^/]+)$"
)
CONFIGMAP_PATH = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/configmaps/(?P<name>[^/]+)$")
EVENTS_PATH = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/events$")
MODE_ANNOTATION = "serving.kserve.io/deploymentMode"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    content_type: str
    body: Any


def conflict_message(name: str) -> str:
    """The API server's wording for a stale ``resourceVersion``."""
    return (
        f'Operation cannot be fulfilled on inferenceservices.serving.kserve.io "{name}": the '
        "object has been modified; please apply your changes to the latest version and try again"
    )


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge key by key, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


class PatchTestError(Exception):
    pass


def _pointer(path: str) -> list[str]:
    return [part.replace("~1", "/").replace("~0", "~") for part in path.split("/")[1:]]


def json_patch(document: Any, operations: list[dict[str, Any]]) -> Any:
    """RFC 6902 add, remove, replace and test (what a controller sends)."""
    doc = copy.deepcopy(document)
    for op in operations:
        *parents, last = _pointer(op["path"])
        node = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        kind = op["op"]
        if kind == "test":
            current = node[int(last)] if isinstance(node, list) else node.get(last)
            if current != op["value"]:
                raise PatchTestError(f"test of {op['path']} failed: {current!r} != {op['value']!r}")
        elif kind == "remove":
            if isinstance(node, list):
                del node[int(last)]
            else:
                del node[last]
        elif kind in ("add", "replace"):
            if isinstance(node, list):
                index = len(node) if last == "-" else int(last)
                if kind == "add":
                    node.insert(index, op["value"])
                else:
                    node[index] = op["value"]
            else:
                if kind == "replace" and last not in node:
                    raise KeyError(op["path"])
                node[last] = op["value"]
        else:
            raise ValueError(f"unsupported JSON patch op {kind!r}")
    return doc


def _storage_uri(predictor: dict[str, Any]) -> str | None:
    model = predictor.get("model", {})
    uri = model.get("storageUri")
    return str(uri) if uri is not None else None


@dataclass
class KServeStatus:
    """What KServe's controller writes to ``status`` after a spec change, per mode."""

    revisions: int = 0
    served_uri: str | None = None
    """Knative: the storageUri of the latest revision."""
    previous_rolled_out: str | None = None
    latest_rolled_out: str | None = None
    uris: dict[str, str] = field(default_factory=dict)

    def reconcile(self, obj: dict[str, Any]) -> dict[str, Any]:
        name = obj["metadata"]["name"]
        mode = obj["metadata"].get("annotations", {}).get(MODE_ANNOTATION, "Knative")
        status: dict[str, Any] = {
            "observedGeneration": obj["metadata"]["generation"],
            "deploymentMode": mode,
            "conditions": [{"type": "Ready", "status": "True"}],
            "url": f"http://{name}.{obj['metadata']['namespace']}.example.com",
        }
        if mode in ("Standard", "RawDeployment"):
            status["canaryStatuses"] = [
                {
                    "name": entry["predictor"]["name"],
                    "trafficPercent": entry.get("trafficPercent", 0),
                    "ready": True,
                }
                for entry in obj["spec"].get("canary", []) or []
            ]
            status["components"] = {
                "predictor": {"latestCreatedRevision": obj["spec"]["predictor"].get("name", "")}
            }
            return status
        predictor = obj["spec"]["predictor"]
        uri = _storage_uri(predictor)
        if uri != self.served_uri:
            self.revisions += 1
            revision = f"{name}-predictor-{self.revisions:05d}"
            self.uris[revision] = uri or ""
            self.served_uri = uri
            if self.latest_rolled_out is None:
                self.latest_rolled_out = revision
        latest = f"{name}-predictor-{self.revisions:05d}"
        canary = predictor.get("canaryTrafficPercent")
        if canary is None or latest == self.latest_rolled_out:
            if latest != self.latest_rolled_out:
                self.previous_rolled_out, self.latest_rolled_out = self.latest_rolled_out, latest
            traffic = [{"revisionName": latest, "percent": 100, "latestRevision": True}]
        else:
            traffic = [
                {
                    "revisionName": latest,
                    "percent": canary,
                    "tag": "latest",
                    "latestRevision": True,
                },
                {
                    "revisionName": self.latest_rolled_out,
                    "percent": 100 - canary,
                    "tag": "prev",
                    "latestRevision": False,
                },
            ]
        component: dict[str, Any] = {
            "latestCreatedRevision": latest,
            "latestReadyRevision": latest,
            "latestRolledoutRevision": self.latest_rolled_out,
            "traffic": [t for t in traffic if t["revisionName"]],
        }
        if self.previous_rolled_out:
            component["previousRolledoutRevision"] = self.previous_rolled_out
        status["components"] = {"predictor": component}
        return status


class StandInApiServer:
    """The server's state and its HTTP front; start it with ``with StandInApiServer() as s``."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.controllers: dict[tuple[str, str], KServeStatus] = {}
        self.configmaps: dict[tuple[str, str], dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.requests: list[Request] = []
        self.before_write: Callable[[StandInApiServer, str, str], None] | None = None
        self._version = 0
        self._lock = threading.RLock()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> StandInApiServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()

    def _next_version(self) -> str:
        self._version += 1
        return str(self._version)

    def create_isvc(self, obj: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            stored = copy.deepcopy(obj)
            meta = stored.setdefault("metadata", {})
            meta["generation"] = 1
            meta["resourceVersion"] = self._next_version()
            key = (meta["namespace"], meta["name"])
            self.controllers[key] = KServeStatus()
            stored["status"] = self.controllers[key].reconcile(stored)
            self.objects[key] = stored
            return copy.deepcopy(stored)

    def isvc(self, namespace: str, name: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self.objects[(namespace, name)])

    def write_isvc(self, namespace: str, name: str, new: dict[str, Any]) -> dict[str, Any]:
        """Store ``new`` as another writer would (bumps versions, reconciles status)."""
        with self._lock:
            key = (namespace, name)
            old = self.objects[key]
            new = copy.deepcopy(new)
            new["metadata"]["resourceVersion"] = self._next_version()
            spec_changed = new.get("spec") != old.get("spec")
            new["metadata"]["generation"] = old["metadata"]["generation"] + int(spec_changed)
            new["status"] = self.controllers[key].reconcile(new)
            self.objects[key] = new
            return copy.deepcopy(new)

    def add_configmap(self, namespace: str, name: str, data: dict[str, str]) -> None:
        with self._lock:
            self.configmaps[(namespace, name)] = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": namespace, "resourceVersion": "1"},
                "data": dict(data),
            }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _status(self, code: HTTPStatus, reason: str, message: str) -> None:
                self._send(
                    code,
                    {
                        "kind": "Status",
                        "apiVersion": "v1",
                        "status": "Failure",
                        "message": message,
                        "reason": reason,
                        "code": int(code),
                    },
                )

            def _body(self) -> Any:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                return json.loads(raw) if raw else None

            def _record(self, body: Any) -> None:
                server.requests.append(
                    Request(
                        self.command,
                        self.path.split("?")[0],
                        self.headers.get("Content-Type", ""),
                        body,
                    )
                )

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                self._record(None)
                with server._lock:
                    if m := ISVC_PATH.match(path):
                        obj = server.objects.get((m["ns"], m["name"]))
                        if obj is None:
                            return self._status(
                                HTTPStatus.NOT_FOUND,
                                "NotFound",
                                f'inferenceservices "{m["name"]}" not found',
                            )
                        return self._send(200, obj)
                    if m := CONFIGMAP_PATH.match(path):
                        cm = server.configmaps.get((m["ns"], m["name"]))
                        if cm is None:
                            return self._status(
                                HTTPStatus.NOT_FOUND, "NotFound", "configmap not found"
                            )
                        return self._send(200, cm)
                    if m := EVENTS_PATH.match(path):
                        items = [e for e in server.events if e["metadata"]["namespace"] == m["ns"]]
                        return self._send(
                            200, {"kind": "EventList", "apiVersion": "v1", "items": items}
                        )
                self._status(HTTPStatus.NOT_FOUND, "NotFound", f"no route {path}")

            def do_POST(self) -> None:
                path = self.path.split("?")[0]
                body = self._body()
                self._record(body)
                if m := EVENTS_PATH.match(path):
                    with server._lock:
                        event = copy.deepcopy(body)
                        event.setdefault("metadata", {})["namespace"] = m["ns"]
                        event["metadata"]["resourceVersion"] = server._next_version()
                        server.events.append(event)
                    return self._send(201, event)
                self._status(HTTPStatus.NOT_FOUND, "NotFound", f"no route {path}")

            def do_PATCH(self) -> None:
                path = self.path.split("?")[0]
                body = self._body()
                self._record(body)
                content_type = self.headers.get("Content-Type", "")
                if m := ISVC_PATH.match(path):
                    return self._write(m["ns"], m["name"], body, content_type)
                if m := CONFIGMAP_PATH.match(path):
                    with server._lock:
                        key = (m["ns"], m["name"])
                        if key not in server.configmaps:
                            return self._status(
                                HTTPStatus.NOT_FOUND, "NotFound", "configmap not found"
                            )
                        cm = merge_patch(server.configmaps[key], body)
                        cm["metadata"]["resourceVersion"] = server._next_version()
                        server.configmaps[key] = cm
                        return self._send(200, cm)
                self._status(HTTPStatus.NOT_FOUND, "NotFound", f"no route {path}")

            def do_PUT(self) -> None:
                path = self.path.split("?")[0]
                body = self._body()
                self._record(body)
                if m := ISVC_PATH.match(path):
                    return self._write(m["ns"], m["name"], body, "replace")
                self._status(HTTPStatus.NOT_FOUND, "NotFound", f"no route {path}")

            def _write(self, namespace: str, name: str, body: Any, how: str) -> None:
                if server.before_write is not None:
                    server.before_write(server, namespace, name)
                with server._lock:
                    current = server.objects.get((namespace, name))
                    if current is None:
                        return self._status(HTTPStatus.NOT_FOUND, "NotFound", f"{name} not found")
                    try:
                        if how == "application/json-patch+json":
                            new = json_patch(current, body)
                            claimed = None
                        elif how == "replace":
                            new, claimed = body, body["metadata"].get("resourceVersion")
                        else:
                            new = merge_patch(current, body)
                            claimed = (body.get("metadata") or {}).get("resourceVersion")
                    except PatchTestError as exc:
                        return self._status(HTTPStatus.CONFLICT, "Conflict", str(exc))
                    except (KeyError, IndexError, ValueError, TypeError) as exc:
                        return self._status(HTTPStatus.UNPROCESSABLE_ENTITY, "Invalid", repr(exc))
                    if claimed is not None and claimed != current["metadata"]["resourceVersion"]:
                        return self._status(
                            HTTPStatus.CONFLICT,
                            "Conflict",
                            conflict_message(name),
                        )
                    new["status"] = current.get("status", {})
                    stored = server.write_isvc(namespace, name, new)
                self._send(200, stored)

        return Handler
