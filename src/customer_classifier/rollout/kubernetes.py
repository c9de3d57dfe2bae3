"""The InferenceService's canary share, read and patched through the official client.

Two KServe deployment modes split traffic at the gateway, and each has its own fields:

- **Knative** (serverless): the canary is the latest revision. Starting it sets the
  predictor's ``storageUri`` and ``canaryTrafficPercent``; the share then moves with
  ``canaryTrafficPercent``; promotion removes it (the latest revision takes everything);
  rollback sets it to 0 at once, then restores the stable ``storageUri``. The status
  shows ``components.predictor.traffic`` and the rolled-out revisions.
- **Standard** (KServe v0.20+): the canary is an entry of ``spec.canary`` (a predictor of
  its own name and a ``trafficPercent``). Promotion makes that predictor
  ``spec.predictor`` (its name included) and removes the entry; rollback removes the
  entry. The status shows ``canaryStatuses``.

The patch builders are pure functions of the object read. :class:`InferenceServiceClient`
sends them as merge patches carrying the ``resourceVersion`` they were built from: when
another writer got there first the API server answers 409, and the client reads again,
rebuilds the patch from what is there now and retries, so no one's change is overwritten.
"""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from customer_classifier.errors import CustomerClassifierError
from customer_classifier.rollout.analysis import RolloutState
from customer_classifier.rollout.state import state_from_json, state_to_json

GROUP, VERSION, PLURAL = "serving.kserve.io", "v1beta1", "inferenceservices"
MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
COMPONENT = "customer-classifier-rollout"
VERSION_LABEL = "customer-classifier/model-version"
"""Pod label naming the registry version a predictor serves; the chart's PodMonitor copies
it to the ``model_version`` series label that the rollout's queries select on."""
Mode = Literal["knative", "standard"]
Patch = dict[str, Any]


class RolloutClusterError(CustomerClassifierError):
    """The InferenceService cannot be read or patched as the rollout needs."""


def deployment_mode(isvc: dict[str, Any]) -> Mode:
    """The mode KServe runs the object in, from its annotation (Knative when absent,
    KServe's own default; ``RawDeployment`` is Standard's former name)."""
    annotation = isvc.get("metadata", {}).get("annotations", {}).get(MODE_ANNOTATION, "Knative")
    if annotation in ("Standard", "RawDeployment"):
        return "standard"
    if annotation in ("Knative", "Serverless"):
        return "knative"
    raise RolloutClusterError(
        f"{MODE_ANNOTATION}={annotation!r} on {isvc['metadata'].get('name')} is no mode the "
        "rollout knows; use Knative or Standard"
    )


def _predictor(isvc: dict[str, Any]) -> dict[str, Any]:
    predictor: dict[str, Any] = isvc["spec"]["predictor"]
    return predictor


def storage_uri(predictor: dict[str, Any]) -> str | None:
    uri = predictor.get("model", {}).get("storageUri")
    return None if uri is None else str(uri)


def canary_entry(isvc: dict[str, Any]) -> dict[str, Any] | None:
    entries = isvc["spec"].get("canary") or []
    return dict(entries[0]) if entries else None


# --- patch builders: the object read in, the merge patch out -------------------------------


def start_patch(isvc: dict[str, Any], name: str, uri: str, percent: int) -> Patch:
    """The canary ``name`` serving ``uri`` with ``percent`` of the traffic."""
    if deployment_mode(isvc) == "knative":
        return {
            "spec": {
                "predictor": {
                    "model": {"storageUri": uri},
                    "canaryTrafficPercent": percent,
                    "labels": {VERSION_LABEL: name},
                }
            }
        }
    predictor = copy.deepcopy(_predictor(isvc))
    predictor["name"] = name
    predictor.setdefault("model", {})["storageUri"] = uri
    predictor.setdefault("labels", {})[VERSION_LABEL] = name
    return {"spec": {"canary": [{"predictor": predictor, "trafficPercent": percent}]}}


def share_patch(isvc: dict[str, Any], percent: int) -> Patch:
    if deployment_mode(isvc) == "knative":
        return {"spec": {"predictor": {"canaryTrafficPercent": percent}}}
    entry = canary_entry(isvc)
    if entry is None:
        raise RolloutClusterError(
            f"{isvc['metadata']['name']} has no spec.canary entry to move to {percent} %; "
            "start the rollout first"
        )
    return {"spec": {"canary": [{**entry, "trafficPercent": percent}]}}


def promote_patch(isvc: dict[str, Any]) -> Patch:
    if deployment_mode(isvc) == "knative":
        return {"spec": {"predictor": {"canaryTrafficPercent": None}}}
    entry = canary_entry(isvc)
    if entry is None:
        raise RolloutClusterError(f"{isvc['metadata']['name']} has no spec.canary entry to promote")
    # The canary's predictor, its name included, becomes the predictor; merge patch
    # replaces the object only key by key, so keys the stable had and the canary lacks go.
    stable = _predictor(isvc)
    promoted: dict[str, Any] = {key: None for key in stable if key not in entry["predictor"]}
    promoted.update(entry["predictor"])
    return {"spec": {"predictor": promoted, "canary": None}}


def rollback_patch(isvc: dict[str, Any], stable_uri: str) -> Patch:
    """Traffic off the canary at once (Knative keeps the revision until the spec is
    restored, :func:`restore_patch`)."""
    if deployment_mode(isvc) == "knative":
        return {"spec": {"predictor": {"canaryTrafficPercent": 0}}}
    return {"spec": {"canary": None}}


def restore_patch(isvc: dict[str, Any], stable_uri: str) -> Patch | None:
    """After a Knative rollback: the spec names the stable model (and version) again."""
    if deployment_mode(isvc) != "knative":
        return None
    predictor: dict[str, Any] = {
        "model": {"storageUri": stable_uri},
        "canaryTrafficPercent": None,
    }
    stable = version_of(stable_uri)
    if stable is not None:
        predictor["labels"] = {VERSION_LABEL: stable}
    return {"spec": {"predictor": predictor}}


# --- what the status says ----------------------------------------------------------------


@dataclass(frozen=True)
class ObservedTraffic:
    """The split KServe reports, and whether it has caught up with the spec."""

    canary_percent: int
    reconciled: bool
    detail: str


def observed_traffic(isvc: dict[str, Any]) -> ObservedTraffic:
    status = isvc.get("status", {})
    reconciled = status.get("observedGeneration") == isvc["metadata"].get("generation")
    if deployment_mode(isvc) == "standard":
        entries = status.get("canaryStatuses") or []
        wanted = canary_entry(isvc)
        if wanted is None:
            return ObservedTraffic(0, reconciled and not entries, "no canary")
        name = wanted["predictor"].get("name")
        match = next((e for e in entries if e.get("name") == name), None)
        percent = int(match.get("trafficPercent", 0)) if match else 0
        ready = bool(match and match.get("ready"))
        return ObservedTraffic(percent, reconciled and ready, f"canary {name}: {percent} %")
    predictor = status.get("components", {}).get("predictor", {})
    traffic = predictor.get("traffic") or []
    rolled_out = predictor.get("latestRolledoutRevision")
    canary = [t for t in traffic if t.get("latestRevision") and t.get("revisionName") != rolled_out]
    percent = int(canary[0].get("percent", 0)) if canary else 0
    detail = ", ".join(f"{t.get('revisionName')} {t.get('percent')} %" for t in traffic)
    return ObservedTraffic(percent, reconciled, detail or "no traffic reported")


# --- the adapter ---------------------------------------------------------------------------


def api_client(kubeconfig: str | None = None, host: str | None = None) -> client.ApiClient:
    """In a pod, the ServiceAccount's credentials; else a kubeconfig; ``host`` alone for
    a plain-HTTP API server (a test's stand-in)."""
    if host is not None:
        configuration = client.Configuration()
        configuration.host = host
        return client.ApiClient(configuration)
    try:
        config.load_incluster_config()
    except config.ConfigException:
        try:
            config.load_kube_config(config_file=kubeconfig)
        except (config.ConfigException, FileNotFoundError, OSError) as exc:
            raise RolloutClusterError(
                f"no Kubernetes credentials: not in a pod, and no kubeconfig at "
                f"{kubeconfig or '~/.kube/config'} ({exc}); set KUBECONFIG or run in the cluster"
            ) from exc
    return client.ApiClient()


class InferenceServiceClient:
    """One InferenceService: read, patch with conflict retries, record Events."""

    def __init__(
        self, api: client.ApiClient, namespace: str, name: str, *, attempts: int = 5
    ) -> None:
        self.objects = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        self.namespace = namespace
        self.name = name
        self.attempts = attempts
        self.conflicts = 0
        self.uid: str | None = None
        """The object's uid from the last read, for the Events' reference."""

    def read(self) -> dict[str, Any]:
        try:
            obj: dict[str, Any] = self.objects.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, self.name
            )
        except ApiException as exc:
            raise RolloutClusterError(self._explain("read", exc)) from exc
        self.uid = obj["metadata"].get("uid")
        return obj

    def patch(self, build: Callable[[dict[str, Any]], Patch | None]) -> dict[str, Any]:
        """Apply ``build(current object)`` as a merge patch guarded by the object's
        ``resourceVersion``; on a conflict read again and rebuild."""
        for _ in range(self.attempts):
            current = self.read()
            body = build(current)
            if body is None:
                return current
            guard = {"resourceVersion": current["metadata"]["resourceVersion"]}
            body = {**body, "metadata": {**body.get("metadata", {}), **guard}}
            try:
                patched: dict[str, Any] = self.objects.patch_namespaced_custom_object(
                    GROUP, VERSION, self.namespace, PLURAL, self.name, body
                )
            except ApiException as exc:
                if exc.status == 409:
                    self.conflicts += 1
                    continue
                raise RolloutClusterError(self._explain("patch", exc)) from exc
            return patched
        raise RolloutClusterError(
            f"InferenceService {self.namespace}/{self.name} changed under every one of "
            f"{self.attempts} patches; another controller keeps writing it: stop it, then "
            "run `customer-classifier rollout resume`"
        )

    def record_event(self, reason: str, message: str, *, warning: bool = False) -> None:
        """A Kubernetes Event on the InferenceService: ``kubectl describe isvc`` shows it."""
        now = dt.datetime.now(dt.UTC)
        if self.uid is None:  # every decision has read the object already: no extra GET
            self.read()
        event = client.CoreV1Event(
            metadata=client.V1ObjectMeta(
                name=f"{self.name}.{uuid.uuid4().hex[:16]}", namespace=self.namespace
            ),
            involved_object=client.V1ObjectReference(
                api_version=f"{GROUP}/{VERSION}",
                kind="InferenceService",
                name=self.name,
                namespace=self.namespace,
                uid=self.uid,
            ),
            reason=reason,
            message=message[:1024],
            type="Warning" if warning else "Normal",
            source=client.V1EventSource(component=COMPONENT),
            reporting_component=COMPONENT,
            first_timestamp=now,
            last_timestamp=now,
            count=1,
        )
        try:
            self.core.create_namespaced_event(self.namespace, event)
        except ApiException as exc:
            raise RolloutClusterError(self._explain("record an event on", exc)) from exc

    def _explain(self, what: str, exc: ApiException) -> str:
        where = f"InferenceService {self.namespace}/{self.name}"
        if exc.status == 404:
            return f"cannot {what} {where}: not found; deploy it first (make deploy ENV=...)"
        if exc.status in (401, 403):
            return (
                f"cannot {what} {where}: HTTP {exc.status} {exc.reason}; the ServiceAccount "
                "needs the Role of manifests/base (get, patch inferenceservices; create events)"
            )
        return f"cannot {what} {where}: HTTP {exc.status} {exc.reason}"


STATE_ANNOTATION = "customer-classifier/rollout"
"""The rollout's state, as JSON, on the InferenceService it rolls out."""


def version_of(uri: str | None) -> str | None:
    """The registry version a ``.../versions/<version>`` storage URI names."""
    if not uri:
        return None
    parts = uri.rstrip("/").split("/")
    return parts[-1] if len(parts) >= 2 and parts[-2] == "versions" else None


class KServeTrafficSplit:
    """The canary's share in KServe's own fields (Knative or Standard mode)."""

    def __init__(self, cluster: InferenceServiceClient, version_uri: Callable[[str], str]) -> None:
        self.cluster = cluster
        self.version_uri = version_uri

    def stable_version(self) -> str:
        isvc = self.cluster.read()
        uri = storage_uri(_predictor(isvc))
        version = version_of(uri)
        if version is None:
            raise RolloutClusterError(
                f"the predictor of {self.cluster.namespace}/{self.cluster.name} serves {uri!r}, "
                "not one registry version (s3://.../versions/VERSION); KServe canaries need "
                "model.version set in the chart's values (or use canary.mode=predictor)"
            )
        return version

    def begin(self, version: str, percent: int) -> None:
        uri = self.version_uri(version)
        self.cluster.patch(lambda isvc: start_patch(isvc, version, uri, percent))

    def set_share(self, percent: int) -> None:
        self.cluster.patch(lambda isvc: share_patch(isvc, percent))

    def promote(self, version: str) -> None:
        self.cluster.patch(promote_patch)

    def roll_back(self, stable: str) -> None:
        uri = self.version_uri(stable)
        self.cluster.patch(lambda isvc: rollback_patch(isvc, uri))
        self.cluster.patch(lambda isvc: restore_patch(isvc, uri))

    def observed(self) -> ObservedTraffic:
        return observed_traffic(self.cluster.read())

    def load_state(self) -> RolloutState | None:
        annotations = self.cluster.read()["metadata"].get("annotations") or {}
        text = annotations.get(STATE_ANNOTATION)
        return None if text is None else state_from_json(text)

    def save_state(self, state: RolloutState) -> None:
        text = state_to_json(state)
        self.cluster.patch(lambda isvc: {"metadata": {"annotations": {STATE_ANNOTATION: text}}})


class EventRecorder:
    """Decisions as Kubernetes Events on the InferenceService."""

    def __init__(self, cluster: InferenceServiceClient) -> None:
        self.cluster = cluster

    def record(self, reason: str, message: str, *, warning: bool = False) -> None:
        self.cluster.record_event(reason, message, warning=warning)
