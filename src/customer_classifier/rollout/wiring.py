"""A rollout controller built from the settings tree, for the CLI and the chart's Job."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from customer_classifier.registry import open_store
from customer_classifier.registry.store import ModelStore
from customer_classifier.rollout.analysis import RolloutPolicy, Snapshot
from customer_classifier.rollout.controller import RolloutController, TrafficSplit
from customer_classifier.rollout.kubernetes import (
    EventRecorder,
    InferenceServiceClient,
    KServeTrafficSplit,
    api_client,
    deployment_mode,
)
from customer_classifier.rollout.metrics import RolloutMetrics
from customer_classifier.rollout.prometheus import CanaryMetrics
from customer_classifier.rollout.registry_split import RegistryTrafficSplit
from customer_classifier.settings import Settings

POD_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def namespace_of(settings: Settings) -> str:
    """The configured namespace, else the pod's own, else ``default`` (kubectl's)."""
    if settings.rollout.namespace:
        return settings.rollout.namespace
    if POD_NAMESPACE.is_file():
        return POD_NAMESPACE.read_text(encoding="utf-8").strip()
    return "default"


@dataclass
class PrometheusSource:
    """The controller's metrics source: both sides measured by one Prometheus."""

    metrics: CanaryMetrics

    def snapshot(self, canary: str, stable: str, interval_s: float) -> Snapshot:
        canary_side, stable_side = self.metrics.sides(canary, stable)
        return self.metrics.snapshot(canary_side, stable_side, interval_s)


@dataclass
class Wiring:
    controller: RolloutController
    cluster: InferenceServiceClient
    store: ModelStore
    mode: str


def build(settings: Settings, *, host: str | None = None) -> Wiring:
    """Every edge from the settings; ``host`` names a plain-HTTP API server (tests)."""
    rollout = settings.rollout
    store = open_store(settings.store_uri, settings.s3)
    cluster = InferenceServiceClient(
        api_client(host=host), namespace_of(settings), rollout.inference_service
    )
    mode = rollout.mode
    if mode == "auto":
        mode = deployment_mode(cluster.read())
    traffic: TrafficSplit = (
        RegistryTrafficSplit(store)
        if mode == "predictor"
        else KServeTrafficSplit(cluster, store.version_uri)
    )
    metrics = RolloutMetrics(rollout.inference_service, rollout.pushgateway_url)
    controller = RolloutController(
        RolloutPolicy.from_settings(rollout),
        traffic,
        PrometheusSource(
            CanaryMetrics.from_settings(
                rollout.for_predictor_mode() if mode == "predictor" else rollout
            )
        ),
        store,
        EventRecorder(cluster),
        actor=settings.run.actor or "customer-classifier-rollout",
        observers=[metrics.observe],
    )
    return Wiring(controller, cluster, store, mode)
