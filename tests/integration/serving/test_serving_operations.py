"""Readiness, hot reload under load, shadow and canary challengers, startup errors."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from customer_classifier.registry import CHAMPION, LocalModelStore
from customer_classifier.serving.routing import challenger_rows

from .conftest import MODEL_NAME, ModelServer, ServingData, feature_records

Start = Callable[..., ModelServer]


@pytest.fixture(scope="module")
def records(serving_data: ServingData) -> list[dict[str, Any]]:
    return feature_records(serving_data.features())


def _metric(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
        if match and all(f'{k}="{v}"' in match.group(1) for k, v in labels.items()):
            total += float(match.group(2))
    return total


def _wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)  # polling interval; the deadline bounds the wait
    pytest.fail(f"{what} did not happen within {seconds}s")


def test_not_ready_until_a_champion_exists(
    model_server: Start, serving_data: ServingData, records: list[dict[str, Any]], tmp_path: Path
) -> None:
    """A store without a champion: live but not ready (503), until the alias appears."""
    empty = LocalModelStore(tmp_path / "store")
    server = model_server(empty.root, CC_SERVING__RELOAD_INTERVAL_S="0.2").wait_live()
    assert server.client.get(f"/v2/models/{MODEL_NAME}/ready").status_code == 503
    assert server.client.get(f"/v1/models/{MODEL_NAME}").status_code == 503
    assert server.v1({"instances": records[:1]}).status_code == 503
    assert server.client.get("/v2/health/live").status_code == 200
    version = empty.register(serving_data.store.load(serving_data.champion)).version
    empty.set_alias(CHAMPION, version, reason="test")
    server.wait_ready(seconds=30)
    answer = server.v1({"instances": records[:1]})
    assert answer.status_code == 200
    assert answer.json()["predictions"][0]["model_version"] == version


@dataclass
class Outcome:
    started: float
    status: int
    version: str | None


def test_reload_under_load_drops_no_request(
    model_server: Start, serving_data: ServingData, records: list[dict[str, Any]], tmp_path: Path
) -> None:
    store_root = tmp_path / "store"
    shutil.copytree(serving_data.settings.store_uri, store_root)
    store = LocalModelStore(store_root)
    server = model_server(store_root, CC_SERVING__RELOAD_INTERVAL_S="0").wait_ready()
    outcomes: list[Outcome] = []
    failures: list[str] = []
    stop = threading.Event()

    def client(worker: int) -> None:
        with httpx.Client(base_url=server.url, timeout=30.0) as http:
            for i in range(5_000):  # bounded; the test stops it much earlier
                if stop.is_set():
                    return
                record = records[(worker * 97 + i) % len(records)]
                started = time.monotonic()
                try:
                    answer = http.post(
                        f"/v1/models/{MODEL_NAME}:predict", json={"instances": [record]}
                    )
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                    continue
                version = (
                    answer.json()["predictions"][0]["model_version"]
                    if answer.status_code == 200
                    else None
                )
                outcomes.append(Outcome(started, answer.status_code, version))

    threads = [threading.Thread(target=client, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    try:
        _wait_for(lambda: len(outcomes) >= 40, 60, "40 answers before the reload")
        store.set_alias(CHAMPION, serving_data.challenger, reason="test reload")
        loaded = server.client.post(f"/v2/repository/models/{MODEL_NAME}/load")
        reloaded_at = time.monotonic()
        assert loaded.status_code == 200, loaded.text
        _wait_for(
            lambda: sum(o.started > reloaded_at for o in outcomes) >= 40,
            60,
            "40 answers after the reload",
        )
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert failures == []
    assert {o.status for o in outcomes} == {200}
    versions = {o.version for o in outcomes}
    assert versions == {serving_data.champion, serving_data.challenger}
    after = {o.version for o in outcomes if o.started > reloaded_at}
    assert after == {serving_data.challenger}
    assert _metric(server.metrics(), "cc_serving_reloads_total", outcome="loaded") == 2


def test_shadow_challenger_never_changes_the_answer(
    model_server: Start,
    champion_server: ModelServer,
    serving_data: ServingData,
    records: list[dict[str, Any]],
) -> None:
    """Version folders as KServe mounts them; the challenger is another version folder."""
    versions = Path(serving_data.settings.store_uri) / "versions"
    shadowed = model_server(
        versions / serving_data.champion,
        CC_SERVING__CHALLENGER=str(versions / serving_data.challenger),
        CC_SERVING__CHALLENGER_MODE="shadow",
    ).wait_ready()
    sample = records[:300]
    with_shadow, without = [], []
    for start in range(0, len(sample), 50):
        body = {"instances": sample[start : start + 50]}
        with_shadow += shadowed.v1(body).json()["predictions"]
        without += champion_server.v1(body).json()["predictions"]
    assert [p["label"] for p in with_shadow] == [p["label"] for p in without]
    assert {p["model_version"] for p in with_shadow} == {serving_data.champion}
    np.testing.assert_allclose(
        [p["score"] for p in with_shadow], [p["score"] for p in without], rtol=0, atol=1e-12
    )

    def compared() -> float:
        return _metric(shadowed.metrics(), "cc_serving_shadow_compared_rows_total")

    _wait_for(lambda: compared() == len(sample), 30, "the shadow comparisons")
    text = shadowed.metrics()
    agreed = _metric(text, "cc_serving_shadow_agreed_rows_total")
    ratio = _metric(text, "cc_serving_shadow_agreement_ratio")
    assert 0 < agreed < len(sample)  # a lower threshold: some labels differ
    assert ratio == pytest.approx(agreed / len(sample))
    assert _metric(text, "cc_serving_rows_total", role="challenger") == len(sample)
    assert _metric(text, "cc_serving_shadow_skipped_batches_total") == 0


def test_canary_is_sticky_by_customer(
    model_server: Start, serving_data: ServingData, records: list[dict[str, Any]]
) -> None:
    server = model_server(
        serving_data.settings.store_uri,
        CC_SERVING__CHALLENGER=serving_data.challenger,
        CC_SERVING__CHALLENGER_MODE="canary",
        CC_SERVING__CANARY_PERCENT="40",
    ).wait_ready()
    sample = records[:400]
    together = server.v1({"instances": sample}).json()["predictions"]
    alone = [server.v1({"instances": [r]}).json()["predictions"][0] for r in sample[::-7]]
    first = {p["customer_id"]: p["model_version"] for p in together}
    assert all(first[p["customer_id"]] == p["model_version"] for p in alone)
    expected = challenger_rows([r["customer_id"] for r in sample], 40.0)
    got = np.array([p["model_version"] == serving_data.challenger for p in together])
    assert (got == expected).all()
    assert 0.3 < got.mean() < 0.5
    # Records without a customer_id stay on the champion.
    anonymous = [{k: v for k, v in r.items() if k != "customer_id"} for r in sample[:50]]
    answers = server.v1({"instances": anonymous}).json()["predictions"]
    assert {p["model_version"] for p in answers} == {serving_data.champion}


def test_invalid_settings_stop_the_server_with_the_variable_named(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "customer_classifier.serving", "--model_dir", str(tmp_path)],
        env={"CC_SERVING__CANARY_PERCENT": "150", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "CC_SERVING__CANARY_PERCENT" in done.stderr
