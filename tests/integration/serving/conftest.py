"""The real model server on loopback, over a model store trained for these tests.

``serving_data`` (once per session) generates a small Master Data database, runs the
pipeline's steps (ingest, features, train, register, nightly scoring) into a temporary
folder, and adds a second version: the champion's pipeline with a lower threshold, so
that a challenger gives different labels. ``ModelServer`` starts
``python -m customer_classifier.serving`` (the serving image's entry point) on free
loopback ports, waits on its readiness endpoints with a deadline, and stops it with
SIGTERM in teardown.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from customer_classifier import jobs
from customer_classifier.data.database import (
    connect,
    customer_ids,
    iter_chunks,
    read_customers,
    write_master_data,
)
from customer_classifier.data.generate import GeneratorConfig, generate
from customer_classifier.features.aggregates import iter_aggregates
from customer_classifier.features.build import build_features
from customer_classifier.registry import CHAMPION, LocalModelStore, ModelBundle
from customer_classifier.settings import ExplicitSettings, Settings

MODEL_NAME = "customer-classifier"
STARTUP_SECONDS = 60.0


@dataclass(frozen=True)
class ServingData:
    root: Path
    settings: Settings
    champion: str
    """Version the ``champion`` alias points at; also in the predictions table."""
    challenger: str
    """Same pipeline, lower threshold: more customers labelled good."""
    as_of: dt.date

    @property
    def store(self) -> LocalModelStore:
        return LocalModelStore(Path(self.settings.store_uri))

    def predictions(self) -> pd.DataFrame:
        engine = sa.create_engine(self.settings.database_url)
        try:
            with engine.connect() as conn:
                table = self.settings.predictions_table
                return pd.read_sql_query(f"SELECT * FROM {table} ORDER BY customer_id", conn)
        finally:
            engine.dispose()

    def features(self) -> pd.DataFrame:
        """Feature records of the customers nightly scoring scored, built by the shared
        feature code at the same as-of date."""
        engine = connect(self.settings.database_url)
        try:
            ids = customer_ids(engine)
            bounds = list(iter_chunks(ids, len(ids)))
            aggregates = next(
                iter_aggregates(
                    engine,
                    self.as_of,
                    bounds,
                    active_window_days=self.settings.active_window_days,
                    threads=1,
                )
            )
            customers = read_customers(engine, ids[0], ids[-1])
            return build_features(
                customers, aggregates, self.as_of, self.settings.active_window_days
            )
        finally:
            engine.dispose()


def feature_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready feature records (NaN -> null), ``customer_id`` included."""
    out = []
    for customer, row in zip(frame.index.tolist(), frame.to_dict("records"), strict=True):
        record = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
        record["customer_id"] = int(customer)
        out.append(record)
    return out


def v2_inputs(records: list[dict[str, Any]], *, with_ids: bool = False) -> list[dict[str, Any]]:
    """One V2 input per feature (FP64 numbers, BYTES categories) for ``records``."""
    names = [k for k in records[0] if k != "customer_id"]
    inputs = []
    for name in names:
        values = [r[name] for r in records]
        text = any(isinstance(v, str) for v in values)
        inputs.append(
            {
                "name": name,
                "shape": [len(values)],
                "datatype": "BYTES" if text else "FP64",
                "data": values,
            }
        )
    if with_ids:
        ids = [r["customer_id"] for r in records]
        inputs.append(
            {"name": "customer_id", "shape": [len(ids)], "datatype": "INT64", "data": ids}
        )
    return inputs


@pytest.fixture(scope="session")
def serving_data(tmp_path_factory: pytest.TempPathFactory) -> ServingData:
    root = tmp_path_factory.mktemp("serving")
    url = f"sqlite:///{root / 'master.db'}"
    engine = connect(url, create_dir=True)
    write_master_data(engine, generate(GeneratorConfig(n_customers=2000, seed=5)))
    engine.dispose()
    settings = ExplicitSettings(
        database_url=url,
        store_uri=str(root / "store"),
        work_dir=root / "runs",
        candidates=("heuristic", "logistic_regression"),
        cv_folds=2,
        scoring_threads=1,
    )
    work = root / "work"
    jobs.ingest_data(settings, work / "snapshot")
    jobs.build_features(settings, work / "snapshot", work / "features")
    jobs.train_models(settings, work / "features", work / "bundle", work / "training.html")
    registered = jobs.register_model(settings, work / "bundle")
    assert registered.promoted, registered.decision.reasons
    summary = jobs.score_customers(settings)
    store = LocalModelStore(root / "store")
    champion = store.get_alias(CHAMPION)
    assert champion is not None
    bundle = store.load(champion)
    metadata = {k: v for k, v in bundle.metadata.items() if k != "version"}
    lower = ModelBundle(model=bundle.model, threshold=bundle.threshold * 0.6, metadata=metadata)
    challenger = store.register(lower).version
    return ServingData(
        root=root,
        settings=settings,
        champion=champion,
        challenger=challenger,
        as_of=summary.as_of,
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ModelServer:
    """One ``python -m customer_classifier.serving`` process on loopback ports."""

    def __init__(self, workdir: Path, model_dir: Path | str, **env: str) -> None:
        self.workdir = workdir
        self.model_dir = str(model_dir)
        self.env = env
        self.http_port = free_port()
        self.grpc_port = free_port()
        self.log_path = workdir / f"server-{self.http_port}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.client = httpx.Client(base_url=self.url, timeout=30.0)

    def start(self) -> ModelServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CC_SERVING__")}
        env.update(self.env)
        command = [
            sys.executable,
            "-m",
            "customer_classifier.serving",
            "--model_dir",
            self.model_dir,
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

    def _poll(self, path: str, deadline: float) -> None:
        assert self.process is not None
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(
                    f"model server exited ({self.process.returncode}):\n{self.log()[-4000:]}"
                )
            try:
                answer = self.client.get(path, timeout=2.0)
                if answer.status_code == 200:
                    return
                last = f"{answer.status_code} {answer.text[:200]}"
            except httpx.TransportError as exc:
                last = repr(exc)
            time.sleep(0.05)  # polling interval of a readiness probe, not synchronisation
        pytest.fail(f"{path} not 200 before the deadline ({last}):\n{self.log()[-4000:]}")

    def wait_live(self, seconds: float = STARTUP_SECONDS) -> ModelServer:
        self._poll("/v2/health/live", time.monotonic() + seconds)
        return self

    def wait_ready(self, seconds: float = STARTUP_SECONDS) -> ModelServer:
        self._poll(f"/v2/models/{MODEL_NAME}/ready", time.monotonic() + seconds)
        return self

    def stop(self) -> None:
        self.client.close()
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)

    def v1(self, body: Any, **kwargs: Any) -> httpx.Response:
        return self.client.post(f"/v1/models/{MODEL_NAME}:predict", json=body, **kwargs)

    def v2(self, body: Any, **kwargs: Any) -> httpx.Response:
        return self.client.post(f"/v2/models/{MODEL_NAME}/infer", json=body, **kwargs)

    def metrics(self) -> str:
        return self.client.get("/metrics").text


@pytest.fixture
def model_server(tmp_path: Path) -> Iterator[Callable[..., ModelServer]]:
    """``model_server(model_dir, **CC_SERVING__env)``: started, stopped at teardown."""
    started: list[ModelServer] = []

    def start(model_dir: Path | str, **env: str) -> ModelServer:
        server = ModelServer(tmp_path / f"server{len(started)}", model_dir, **env).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def champion_server(
    serving_data: ServingData, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ModelServer]:
    """The champion of the store, no challenger; shared by the tests that only read."""
    server = ModelServer(
        tmp_path_factory.mktemp("champion-server"),
        serving_data.settings.store_uri,
        CC_SERVING__RELOAD_INTERVAL_S="0",
        CC_SERVING__MAX_REQUEST_ROWS="1000",
    ).start()
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
