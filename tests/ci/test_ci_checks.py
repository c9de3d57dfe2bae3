"""The checks CI's cluster jobs end with, on real inputs that need no cluster.

Each script's verdict (pinned images, a pipeline run, the gate, the load test) is judged
on data built here; the gate check reads a real model store, and the smoke test and the
load test call a real predictor process on loopback, exactly as the jobs do through a
port-forward.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import yaml

from pipelines.kfp_api import RunState
from tests.ci.gitlab_ci import ROOT

SCRIPTS = ROOT / "scripts" / "ci"
DIGEST = "sha256:" + "0f" * 32


def script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"ci_{name}", SCRIPTS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_pinned = script("check_pinned")
run_pipeline = script("run_pipeline")
gate_check = script("gate_check")
load_test = script("load_test")


# -- pinned images ------------------------------------------------------------------------------


def pipeline_spec(**images: str) -> dict[str, Any]:
    executors = {name: {"container": {"image": image}} for name, image in images.items()}
    return {"pipelineInfo": {"name": "p"}, "deploymentSpec": {"executors": executors}}


def test_compiled_images_must_carry_a_digest(tmp_path: Path) -> None:
    pinned = f"registry.example.com/cc/components@{DIGEST}"
    (tmp_path / "a.yaml").write_text(
        yaml.safe_dump_all([pipeline_spec(exec_a=pinned), {"platforms": {}}])
    )
    assert check_pinned.main([str(tmp_path)]) == 0
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(pipeline_spec(exec_b="cc/components:0.1.0")))
    found, bad = check_pinned.unpinned(tmp_path)
    assert found == {"a.yaml:exec_a": pinned, "b.yaml:exec_b": "cc/components:0.1.0"}
    assert bad == ["b.yaml:exec_b"]
    assert check_pinned.main([str(tmp_path)]) == 1
    assert check_pinned.main([str(tmp_path / "empty")]) == 2


# -- a pipeline run's verdict ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("run", "expected"),
    [
        (RunState("r1", "SUCCEEDED", {"verify": "SUCCEEDED", "dl": "SKIPPED"}, ""), []),
        (RunState("r1", "RUNNING", {}, ""), ["run r1 is still RUNNING"]),
        (
            RunState("r1", "FAILED", {"train": "FAILED", "verify": "SUCCEEDED"}, "boom"),
            ["run r1 ended FAILED: boom", "task 'train' ended FAILED"],
        ),
        (RunState("r1", "CANCELED", {}, ""), ["run r1 ended CANCELED"]),
    ],
)
def test_a_run_passes_only_when_it_and_its_tasks_succeeded(
    run: RunState, expected: list[str]
) -> None:
    assert run_pipeline.problems(run) == expected


# -- the gate -------------------------------------------------------------------------------------


def test_the_gate_verdict() -> None:
    assert gate_check.verdict("v1", "v1", None) == []
    assert gate_check.verdict("v1", "v1", "v1") == []
    kept = gate_check.verdict("v0", "v1", None)
    assert len(kept) == 1
    assert "kept champion v0" in kept[0]
    assert "did not promote challenger v1" in kept[0]
    assert "not v2" in gate_check.verdict("v1", "v1", "v2")[0]
    assert "no challenger" in gate_check.verdict("v1", None, None)[0]


def test_the_gate_check_reads_the_store_and_hands_the_version_on(
    trained_copy: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = trained_copy.store
    champion = store.get_alias("champion")
    if store.get_alias("challenger") != champion:
        store.set_alias("challenger", champion, expected=store.get_alias("challenger"))
    monkeypatch.setenv("CC_STORE_URI", str(store.root))
    dotenv = tmp_path / "gate.env"
    assert gate_check.main(["--dotenv", str(dotenv)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["champion"] == report["challenger"] == champion
    assert {row["metric"] for row in report["metrics"]}
    assert dotenv.read_text() == f"ROLLOUT_VERSION={champion}\n"

    rejected = store.register(store.load(champion)).version
    store.set_alias("challenger", rejected, expected=champion)
    dotenv.unlink()
    assert gate_check.main(["--dotenv", str(dotenv)]) == 1
    captured = capsys.readouterr()
    assert f"did not promote challenger {rejected}" in captured.err
    assert not dotenv.exists()


# -- against a real predictor ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def predictor(trained_copy: Any, tmp_path: Path) -> Iterator[str]:
    """``python -m customer_classifier.serving`` on the copied store's champion."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CC_SERVING__")}
    env["CC_SERVING__RELOAD_INTERVAL_S"] = "0"
    command = [sys.executable, "-m", "customer_classifier.serving"]
    command += ["--model_dir", str(trained_copy.store.root), "--model_name", "customer-classifier"]
    command += ["--http_port", str(port), "--grpc_port", str(free_port())]
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            assert process.poll() is None, log.read_text(errors="replace")[-3000:]
            try:
                if httpx.get(f"{url}/v2/models/customer-classifier/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the predictor was not ready within 60 s"
            time.sleep(0.1)  # readiness polling interval, not synchronisation
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args), cwd=ROOT, capture_output=True, text=True, check=False, timeout=120
    )


@pytest.mark.slow
def test_smoke_and_load_test_against_a_predictor(predictor: str, tmp_path: Path) -> None:
    smoke = run_script("bash", str(SCRIPTS / "smoke.sh"), "ml-local", "--url", predictor)
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    answer = json.loads(smoke.stdout.split("smoke: ok, ", 1)[1])
    assert answer["label"] in {"good", "bad"}
    assert 0 <= answer["score"] <= 1

    report = tmp_path / "load.json"
    common = ["--url", predictor, "--duration", "2", "--warmup", "1", "--connections", "2"]
    passed = run_script(
        sys.executable,
        str(SCRIPTS / "load_test.py"),
        *common,
        "--min-rps",
        "1",
        "--max-p99-ms",
        "5000",
        "--output",
        str(report),
    )
    assert passed.returncode == 0, passed.stdout + passed.stderr
    result = json.loads(report.read_text())
    assert result["passed"] is True
    assert result["result"]["requests"] > 0
    assert result["result"]["non_2xx"] == 0

    failed = run_script(
        sys.executable,
        str(SCRIPTS / "load_test.py"),
        *common,
        "--warmup",
        "0",
        "--min-rps",
        "1000000000",
    )
    assert failed.returncode == 1
    assert "below the minimum" in failed.stderr


def test_load_test_thresholds() -> None:
    from benchmarks.bench_serving import Case

    good = Case("deployed", "v1", 1, 8, rps=300.0, p99_ms=20.0, requests=9000)
    assert load_test.problems(good, 50, 250) == []
    bad = Case("deployed", "v1", 1, 8, rps=10.0, p99_ms=900.0, requests=300, non_2xx=3)
    assert load_test.problems(bad, 50, 250) == [
        "3 answers were not 2xx",
        "throughput 10.0 rps is below the minimum 50",
        "p99 latency 900.0 ms is above the maximum 250",
    ]
    assert load_test.problems(Case("deployed", "v1", 1, 8), 0, 1e9) == ["no request completed"]
