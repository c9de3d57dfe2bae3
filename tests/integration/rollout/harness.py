"""End-to-end rollout scenarios with real parts only, shared by the tests and the benchmark.

One :class:`Rig` holds what every scenario uses: a model store whose champion is the
stable version A and a canary version B per kind (healthy, failing, slow, shifted scores,
and one that exports no metrics), one real predictor process per version
(``python -m customer_classifier.serving --model_dir <store>/versions/<V>``, as ``make
serve`` starts one), and a real Prometheus scraping them every second with the
``model_version`` target label the chart's PodMonitor gives the pods.

:meth:`Rig.run` plays one rollout: a stand-in Kubernetes API server holds an
InferenceService as the chart renders it; a :class:`LoadGenerator` sends V1 requests to
A or B in the split the InferenceService's status reports, as the gateway would; the real
controller (KServe traffic split over the official client, Prometheus checks, the store)
runs with short intervals. The :class:`ScenarioResult` says what the clients saw.

The module needs no pytest: ``benchmarks/bench_rollout.py`` imports it.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
import numpy as np
import pandas as pd

from customer_classifier.registry import LocalModelStore, ModelBundle
from customer_classifier.rollout.analysis import Decision, RolloutPolicy
from customer_classifier.rollout.controller import RolloutController
from customer_classifier.rollout.kubernetes import (
    EventRecorder,
    InferenceServiceClient,
    KServeTrafficSplit,
    api_client,
    canary_entry,
    deployment_mode,
    observed_traffic,
    storage_uri,
    version_of,
)
from customer_classifier.rollout.prometheus import CanaryMetrics, PrometheusQueries
from customer_classifier.rollout.wiring import PrometheusSource
from customer_classifier.settings import RolloutSettings
from tests.integration.prometheus_server import Target, free_port, running_prometheus
from tests.integration.rollout.faulty_models import FaultyModel
from tests.k8s_api_server import StandInApiServer

ROOT = Path(__file__).resolve().parents[3]
MODEL_NAME = "customer-classifier"
NAMESPACE, ISVC_NAME = "ml-test", "customer-classifier"
STARTUP_S = 240.0
NO_METRICS_PATH = "/no-metrics"
"""Where Prometheus scrapes the silent canary: a path the predictor does not serve."""

FAULTS: dict[str, dict[str, float]] = {
    "errors": {"fail_share": 0.5},
    "slow": {"delay_s": 0.5},
    "shifted": {"shift": 0.6},
}
"""Each injected fault: the :class:`FaultyModel` arguments of its canary version."""
KINDS = ("healthy", *FAULTS, "silent")
MODES = ("Knative", "Standard")
EXPECTED_FAILURES = {
    "errors": {"error_ratio"},
    "slow": {"latency_p99_seconds"},
    "shifted": {"score_divergence", "label_mix_shift"},
}
"""The checks each fault must fail. Latency may fail beside them on a busy machine: a
wrapped model is scored through its pipeline, slower than the champion's compiled path."""


def rollout_settings(prometheus_url: str, **overrides: Any) -> RolloutSettings:
    """Short intervals for loopback: a few seconds a step, a handful of requests a verdict.

    The latency floor is above the noise of a shared two-core machine (a canary's p99
    over a few requests reaches 0.2 s there when the other processes take the cores)
    and below the slow fault's delay.
    """
    values: dict[str, Any] = {
        "steps": (20, 50, 100),
        "interval_s": 2.5,
        "min_requests": 5,
        "failure_threshold": 2,
        "intervals_per_step": 1,
        "max_intervals_per_step": 4,
        "latency_floor_s": 0.3,
        "prometheus_url": prometheus_url,
        "query_timeout_s": 3.0,
        **overrides,
    }
    return RolloutSettings(**values)


class HarnessError(RuntimeError):
    """A part of the rig did not come up; the message says which and shows its log."""


# --- the model store ---------------------------------------------------------------------


@dataclass(frozen=True)
class Versions:
    stable: str
    canaries: Mapping[str, str]
    """Canary version of each kind in :data:`KINDS`."""


def register_canaries(store: LocalModelStore, kinds: Sequence[str] = KINDS) -> Versions:
    """A version per kind beside the champion: plain copies, or wrapped in a fault."""
    stable = store.get_alias("champion")
    if stable is None:
        raise HarnessError(f"the store {store.root} has no champion to roll out against")
    bundle = store.load(stable)
    metadata = {k: v for k, v in bundle.metadata.items() if k != "version"}
    canaries: dict[str, str] = {}
    for kind in kinds:
        fault = FAULTS.get(kind)
        model = bundle.model if fault is None else FaultyModel(bundle.model, **fault)
        copy = ModelBundle(model=model, threshold=bundle.threshold, metadata=dict(metadata))
        canaries[kind] = store.register(copy).version
    return Versions(stable, canaries)


def request_records(
    features: pd.DataFrame, names: Sequence[str], rows: int
) -> list[dict[str, Any]]:
    """JSON-ready V1 instances (NaN -> null) with their ``customer_id``.

    Every request sends the same records, so two equal models give equal score
    histograms over any window, and only a real shift moves the divergence.
    """
    frame = features.head(rows)
    records = []
    for customer, row in zip(
        frame.index.tolist(), frame[list(names)].to_dict("records"), strict=True
    ):
        record = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
        record["customer_id"] = int(customer)
        records.append(record)
    return records


# --- predictor processes -----------------------------------------------------------------


class Predictor:
    """One ``python -m customer_classifier.serving`` process on free loopback ports."""

    def __init__(self, workdir: Path, model_dir: Path, **env: str) -> None:
        self.workdir = workdir
        self.model_dir = model_dir
        self.http_port = free_port()
        self.grpc_port = free_port()
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.log_path = workdir / f"predictor-{self.http_port}.log"
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.http_port}"

    def start(self) -> Predictor:
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CC_SERVING__")}
        # The faulty versions unpickle classes from this repository's tests package.
        paths = [str(ROOT), str(ROOT / "src"), env.get("PYTHONPATH", "")]
        env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
        env.update(
            {"CC_SERVING__RELOAD_INTERVAL_S": "0", "CC_SERVING__ACCESS_LOG": "false", **self.env}
        )
        command = [
            sys.executable,
            "-m",
            "customer_classifier.serving",
            "--model_dir",
            str(self.model_dir),
            "--model_name",
            MODEL_NAME,
            "--http_port",
            str(self.http_port),
            "--grpc_port",
            str(self.grpc_port),
        ]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, cwd=self.workdir, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_ready(self, deadline: float) -> None:
        assert self.process is not None
        last = "no answer"
        with httpx.Client(base_url=self.url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise HarnessError(
                        f"predictor on {self.model_dir} exited ({self.process.returncode}):\n"
                        f"{self.log()[-3000:]}"
                    )
                try:
                    answer = client.get(f"/v2/models/{MODEL_NAME}/ready")
                    if answer.status_code == 200:
                        return
                    last = f"{answer.status_code} {answer.text[:200]}"
                except httpx.TransportError as exc:
                    last = repr(exc)
                time.sleep(0.1)  # a readiness probe's period, not synchronisation
        raise HarnessError(
            f"predictor on {self.model_dir} not ready in time ({last}):\n{self.log()[-3000:]}"
        )

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)


@contextmanager
def running_predictors(
    workdir: Path, model_dirs: Mapping[str, Path], **env: str
) -> Iterator[dict[str, Predictor]]:
    """All predictors started at once (their imports overlap), ready, stopped at the end."""
    started = {
        key: Predictor(workdir / key, folder, **env).start() for key, folder in model_dirs.items()
    }
    try:
        deadline = time.monotonic() + STARTUP_S
        for predictor in started.values():
            predictor.wait_ready(deadline)
        yield started
    finally:
        for predictor in started.values():
            predictor.stop()


# --- the gateway and the clients ---------------------------------------------------------


def split_of(isvc: dict[str, Any], revision_uris: Mapping[str, str]) -> dict[str, int]:
    """Each version's share of requests, from the InferenceService's status.

    Knative routes to revisions (``status.components.predictor.traffic``), each serving the
    storageUri it was created with; Standard mode routes ``canaryStatuses`` to their
    predictors and the rest to ``spec.predictor``.
    """
    shares: Counter[str] = Counter()
    status = isvc.get("status", {})
    if deployment_mode(isvc) == "standard":
        canary = canary_entry(isvc)
        for entry in status.get("canaryStatuses") or []:
            if canary is not None and canary["predictor"].get("name") == entry.get("name"):
                version = version_of(storage_uri(canary["predictor"]))
                shares[str(version)] += int(entry.get("trafficPercent", 0))
        stable = version_of(storage_uri(isvc["spec"]["predictor"]))
        shares[str(stable)] += 100 - sum(shares.values())
        return dict(shares)
    for entry in status.get("components", {}).get("predictor", {}).get("traffic") or []:
        version = version_of(revision_uris.get(str(entry.get("revisionName")), ""))
        shares[str(version)] += int(entry.get("percent", 0))
    return dict(shares)


def choose(shares: Mapping[str, int], draw: float) -> str:
    """The version whose stretch of the cumulative shares holds ``draw``."""
    total = 0
    for version, share in shares.items():
        total += share
        if draw < total:
            return version
    return max(shares, key=lambda version: shares[version])


@dataclass(frozen=True)
class Sent:
    started: float
    version: str
    status: int
    """HTTP status; 0 when no answer came."""

    @property
    def failed(self) -> bool:
        return self.status != 200


class Gateway:
    """Reads the split from the stand-in API server on every request, as KServe's gateway
    follows the status its controller writes, and keeps the canary share's timeline."""

    def __init__(self, api: StandInApiServer, canary: str) -> None:
        self.api = api
        self.canary = canary
        self.timeline: list[tuple[float, int, dict[str, int]]] = []
        """(time, canary share observed_traffic reports, split by version) at each change."""
        self._lock = threading.Lock()

    def split(self) -> dict[str, int]:
        isvc = self.api.isvc(NAMESPACE, ISVC_NAME)
        revisions = self.api.controllers[(NAMESPACE, ISVC_NAME)].uris
        shares = split_of(isvc, revisions)
        observed = observed_traffic(isvc).canary_percent
        with self._lock:
            if not self.timeline or self.timeline[-1][1:] != (observed, shares):
                self.timeline.append((time.time(), observed, shares))
        return shares


class Router(Protocol):
    """What the clients ask before each request: each destination's share."""

    def split(self) -> dict[str, int]: ...


class LoadGenerator:
    """Client threads sending the same V1 batch to the version the gateway picks."""

    def __init__(
        self,
        gateway: Router,
        urls: Mapping[str, str],
        records: list[dict[str, Any]],
        *,
        threads: int = 6,
        pause_s: float = 0.1,
    ) -> None:
        self.gateway = gateway
        self.urls = urls
        self.body = {"instances": records}
        # One client per thread, made before the clock starts (each builds an SSL context).
        self.clients = [httpx.Client(timeout=10.0, trust_env=False) for _ in range(threads)]
        self.threads = [
            threading.Thread(target=self._run, args=(seed,), daemon=True) for seed in range(threads)
        ]
        self.pause_s = pause_s
        self.sent: list[Sent] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def _run(self, seed: int) -> None:
        rng = random.Random(seed)
        client = self.clients[seed]
        try:
            while not self._stop.is_set():
                shares = self.gateway.split()
                version = choose(shares, rng.uniform(0, sum(shares.values())))
                started = time.time()
                try:
                    answer = client.post(
                        f"{self.urls[version]}/v1/models/{MODEL_NAME}:predict", json=self.body
                    )
                    status = answer.status_code
                except httpx.HTTPError:
                    status = 0
                with self._lock:
                    self.sent.append(Sent(started, version, status))
                self._stop.wait(self.pause_s)  # pacing of the clients
        finally:
            client.close()

    def __enter__(self) -> LoadGenerator:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self.threads:
            thread.join(timeout=30)


# --- one scenario ------------------------------------------------------------------------


def inference_service(mode: str, uri: str, stable: str, steps: Sequence[int]) -> dict[str, Any]:
    """The InferenceService as helm/customer-classifier renders it with ``model.version``."""
    predictor: dict[str, Any] = {
        "minReplicas": 2,
        "maxReplicas": 3,
        "serviceAccountName": "customer-classifier-predictor",
        "model": {
            "modelFormat": {"name": MODEL_NAME},
            "runtime": ISVC_NAME,
            "name": "kserve-container",
            "storageUri": uri,
            "env": [{"name": "CC_SERVING__RELOAD_INTERVAL_S", "value": "10"}],
        },
    }
    if mode == "Standard":
        predictor["name"] = stable
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": ISVC_NAME,
            "namespace": NAMESPACE,
            "labels": {"app.kubernetes.io/name": MODEL_NAME},
            "annotations": {
                "serving.kserve.io/deploymentMode": mode,
                "customer-classifier/canary-steps": "[" + ",".join(map(str, steps)) + "]",
            },
        },
        "spec": {"predictor": predictor},
    }


@dataclass
class ScenarioResult:
    mode: str
    kind: str
    stable: str
    canary: str
    interval_s: float
    final: Decision
    decisions: list[tuple[float, Decision]]
    sent: list[Sent]
    timeline: list[tuple[float, int, dict[str, int]]]
    events: list[dict[str, Any]]
    canary_history: list[dict[str, Any]]
    champion: str | None
    isvc: dict[str, Any]
    patches: list[Any]
    """The bodies of the patches the controller sent the InferenceService, in order."""
    conflicts: int = 0

    def requests(self, version: str) -> list[Sent]:
        return [s for s in self.sent if s.version == version]

    def failures(self, version: str) -> list[Sent]:
        return [s for s in self.requests(version) if s.failed]

    @property
    def fault_started(self) -> float | None:
        """When the first request reached the canary."""
        first = [s.started for s in self.requests(self.canary)]
        return min(first) if first else None

    @property
    def canary_zero_at(self) -> float | None:
        """When the gateway first saw the canary back at 0 % after it had traffic."""
        had_traffic = False
        for at, _observed, shares in self.timeline:
            if shares.get(self.canary, 0) > 0:
                had_traffic = True
            elif had_traffic:
                return at
        return None

    @property
    def seconds_to_zero(self) -> float | None:
        start, end = self.fault_started, self.canary_zero_at
        return None if start is None or end is None else end - start

    @property
    def first_analysis_at(self) -> float | None:
        """When the first analysis interval was judged (the first decision after begin)."""
        return self.decisions[1][0] if len(self.decisions) > 1 else None

    def failed_until_zero(self) -> dict[str, int]:
        """Failed requests per version sent from the fault's start until the canary's 0 %."""
        start, end = self.fault_started, self.canary_zero_at
        if start is None:
            return {}
        end = end if end is not None else max(s.started for s in self.sent)
        counts: Counter[str] = Counter(
            s.version for s in self.sent if s.failed and start <= s.started <= end
        )
        return {self.stable: counts[self.stable], self.canary: counts[self.canary]}

    def figures(self) -> dict[str, Any]:
        """What the benchmark reports for the scenario."""
        seconds = self.seconds_to_zero
        first = self.first_analysis_at
        zero = self.canary_zero_at
        after_first = None if first is None or zero is None else (zero - first) / self.interval_s
        failed = self.failed_until_zero()
        return {
            "mode": self.mode,
            "fault": self.kind,
            "outcome": str(self.final.action),
            "reason": self.final.reason,
            "seconds_to_zero": None if seconds is None else round(seconds, 3),
            "intervals_to_zero": None if seconds is None else round(seconds / self.interval_s, 2),
            "intervals_after_first_analysis": None
            if after_first is None
            else round(after_first, 2),
            "failed_requests_until_zero": sum(failed.values()),
            "failed_requests_until_zero_stable": failed.get(self.stable, 0),
            "failed_requests_until_zero_canary": failed.get(self.canary, 0),
            "requests_stable": len(self.requests(self.stable)),
            "requests_canary": len(self.requests(self.canary)),
            "failed_stable": len(self.failures(self.stable)),
            "failed_canary": len(self.failures(self.canary)),
        }


@dataclass
class Rig:
    """The store, one predictor per version and Prometheus, shared by every scenario."""

    workdir: Path
    store: LocalModelStore
    versions: Versions
    records: list[dict[str, Any]]
    predictors: dict[str, Predictor]
    prometheus_url: str

    @property
    def urls(self) -> dict[str, str]:
        return {version: p.url for version, p in self.predictors.items()}

    def run(self, mode: str, kind: str, **overrides: Any) -> ScenarioResult:
        """One rollout of the ``kind`` canary in ``mode``, on a private copy of the store."""
        canary = self.versions.canaries[kind]
        stable = self.versions.stable
        folder = self.workdir / "scenarios" / f"{mode}-{kind}-{time.monotonic_ns()}"
        store = LocalModelStore(folder / "store")
        shutil.copytree(self.store.root, store.root)
        settings = rollout_settings(self.prometheus_url, **overrides)
        policy = RolloutPolicy.from_settings(settings)
        decisions: list[tuple[float, Decision]] = []
        with StandInApiServer() as api:
            api.create_isvc(
                inference_service(mode, store.version_uri(stable), stable, policy.steps)
            )
            cluster = InferenceServiceClient(api_client(host=api.url), NAMESPACE, ISVC_NAME)
            metrics = CanaryMetrics(
                PrometheusQueries(self.prometheus_url, settings.query_timeout_s), settings
            )
            controller = RolloutController(
                policy,
                KServeTrafficSplit(cluster, store.version_uri),
                PrometheusSource(metrics),
                store,
                EventRecorder(cluster),
                observers=[lambda decision: decisions.append((time.time(), decision))],
            )
            gateway = Gateway(api, canary)
            with LoadGenerator(gateway, self.urls, self.records) as load:
                final = controller.run(canary)
                gateway.split()  # the split the clients meet after the last decision
            return ScenarioResult(
                mode=mode,
                kind=kind,
                stable=stable,
                canary=canary,
                interval_s=settings.interval_s,
                final=final,
                decisions=decisions,
                sent=sorted(load.sent, key=lambda s: s.started),
                timeline=list(gateway.timeline),
                events=list(api.events),
                canary_history=store.history("canary"),
                champion=store.get_alias("champion"),
                isvc=api.isvc(NAMESPACE, ISVC_NAME),
                patches=[
                    r.body
                    for r in api.requests
                    if r.method == "PATCH" and "/inferenceservices/" in r.path
                ],
                conflicts=cluster.conflicts,
            )


def _warm_up(rig_urls: Mapping[str, str], records: list[dict[str, Any]]) -> None:
    """A few requests to each predictor, so every series exists before the first window."""
    for url in rig_urls.values():
        with httpx.Client(base_url=url, timeout=10.0) as client:
            for _ in range(4):
                client.post(f"/v1/models/{MODEL_NAME}:predict", json={"instances": records})


def _scraped(url: str, versions: Sequence[str], window_s: int) -> bool:
    """Every exporting version has a full window of samples in Prometheus."""
    queries = PrometheusQueries(url, timeout_s=2.0)
    try:
        series = queries.by_label(
            f"count_over_time(cc_serving_requests_total[{window_s}s])", "model_version"
        )
    except Exception:  # not up yet: poll again
        return False
    return all(series.get(v, 0) >= window_s for v in versions)


@contextmanager
def rig(
    workdir: Path,
    store_root: Path,
    features: pd.DataFrame,
    *,
    kinds: Sequence[str] = KINDS,
    rows: int = 32,
) -> Iterator[Rig]:
    """Copy the trained store, register the canaries, start predictors and Prometheus."""
    store = LocalModelStore(workdir / "store")
    shutil.copytree(store_root, store.root)
    versions = register_canaries(store, kinds)
    names = store.load(versions.stable).feature_names
    records = request_records(features, names, rows)
    every = [versions.stable, *versions.canaries.values()]
    with ExitStack() as stack:
        model_dirs = {v: store.root / "versions" / v for v in every}
        predictors = stack.enter_context(running_predictors(workdir / "predictors", model_dirs))
        silent = versions.canaries.get("silent")
        targets = [
            Target(
                predictors[v].address,
                {
                    "model_version": v,
                    **({"__metrics_path__": NO_METRICS_PATH} if v == silent else {}),
                },
            )
            for v in every
        ]
        url = stack.enter_context(
            running_prometheus(workdir / "prometheus", {"predictor": targets})
        )
        urls = {v: p.url for v, p in predictors.items()}
        _warm_up(urls, records)
        exporting = [v for v in every if v != silent]
        deadline = time.monotonic() + 60
        while not _scraped(url, exporting, 3):
            if time.monotonic() > deadline:
                raise HarnessError("Prometheus did not scrape every predictor within 60 s")
            time.sleep(0.25)  # polling Prometheus, not synchronisation
        yield Rig(workdir, store, versions, records, predictors, url)
