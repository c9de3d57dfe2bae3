"""Serving benchmark: closed-loop HTTP load from wrk against three model servers.

Servers, one at a time, on the same model version and the same loopback:

* ``ours``: ``python -m customer_classifier.serving`` (validation on, no challenger, access
  log on: the production configuration);
* ``stock``: a minimal ``kserve.Model`` written the way KServe's stock sklearn server
  works: ``joblib.load`` at start, a synchronous ``predict`` on the event loop, the
  request's values straight into the pipeline (V1 ``instances`` as value lists in feature
  order, V2 through ``InferRequest.as_dataframe``), no validation, KServe's default
  server settings;
* ``mlserver``: MLServer's scikit-learn runtime (V2 only), in its own virtual
  environment under ``var/bench/`` when ``mlserver`` and ``mlserver-sklearn`` install.

Cases: single-record V1 and V2 requests and 100-record batches, at 1 and 16 connections.
Each case: a short warm-up, then ``--duration`` seconds of ``wrk`` (one thread); rps and
latency percentiles come from wrk's report. A case with non-2xx answers or socket errors
is reported as failed. Results: ``benchmarks/results/serving.json``, with the machine's
load average around each case (the machine may be shared).

    python benchmarks/bench_serving.py [--duration 8] [--skip-mlserver]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "var" / "bench" / "serving"
RESULTS = ROOT / "benchmarks" / "results" / "serving.json"
MODEL_NAME = "customer-classifier"
MLSERVER_VENV = ROOT / "var" / "bench" / "mlserver-venv"
MLSERVER_PACKAGES = ("mlserver==1.7.1", "mlserver-sklearn==1.7.1", "scikit-learn==1.9.1")
TARGETS = {"throughput_ratio_16": 3.0, "p99_ms_16": 15.0, "p50_ms_1": 1.5}
LUA = """
local f = io.open(os.getenv("BODY"), "rb")
local body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
"""


@dataclass
class Case:
    server: str
    protocol: str
    records: int
    connections: int
    rps: float = 0.0
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    requests: int = 0
    non_2xx: int = 0
    socket_errors: int = 0
    load_before: float = 0.0
    load_after: float = 0.0
    ok: bool = False
    note: str = ""


# -- the model version ------------------------------------------------------------------------


def build_store(customers: int) -> tuple[Path, str, Path]:
    """A model store trained by the project's own steps (reused when already built)."""
    from customer_classifier import jobs
    from customer_classifier.data.database import connect, write_master_data
    from customer_classifier.data.generate import GeneratorConfig, generate
    from customer_classifier.registry import CHAMPION, LocalModelStore
    from customer_classifier.settings import Settings

    root = WORK / f"model-{customers}"
    store = LocalModelStore(root / "store")
    features = root / "work" / "features"
    champion = store.get_alias(CHAMPION) if (root / "store").exists() else None
    if champion is None:
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        url = f"sqlite:///{root / 'master.db'}"
        write_master_data(
            connect(url, create_dir=True), generate(GeneratorConfig(n_customers=customers))
        )
        # The candidates of the recorded figures (benchmarks/README.md), so that a run
        # compares with them: the champion there is a logistic regression.
        settings = Settings(
            database_url=url,
            store_uri=str(root / "store"),
            work_dir=root / "runs",
            candidates=("heuristic", "logistic_regression", "gradient_boosting"),
        )
        print(f"training on {customers} generated customers ...", flush=True)
        jobs.ingest_data(settings, root / "work" / "snapshot")
        jobs.build_features(settings, root / "work" / "snapshot", features)
        jobs.train_models(settings, features, root / "work" / "bundle", root / "training.html")
        jobs.register_model(settings, root / "work" / "bundle")
        champion = store.get_alias(CHAMPION)
        if champion is None:
            raise SystemExit("training registered no champion; rerun with more --customers")
    return root / "store", champion, features / "test.parquet"


def write_bodies(test_frame: Path) -> dict[str, Path]:
    """Request bodies for each server's format, from complete feature records."""
    import pandas as pd

    from customer_classifier.features.build import FEATURE_SCHEMA

    frame = pd.read_parquet(test_frame).drop(columns=["label"]).dropna()
    rows = {1: frame.head(1), 100: frame.head(100)}
    bodies = WORK / "bodies"
    bodies.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}

    def v2(part: pd.DataFrame, **extra: Any) -> dict[str, Any]:
        inputs = []
        for spec in FEATURE_SCHEMA:
            tensor: dict[str, Any] = {
                "name": spec.name,
                "shape": [len(part)],
                "datatype": "FP64" if spec.kind == "numeric" else "BYTES",
                "data": part[spec.name].tolist(),
            }
            if spec.kind != "numeric" and extra.get("mlserver"):
                tensor["parameters"] = {"content_type": "str"}
            inputs.append(tensor)
        body: dict[str, Any] = {"inputs": inputs}
        if extra.get("pandas"):
            body["parameters"] = {"content_type": "pd"}
        if extra.get("mlserver"):
            body["outputs"] = [{"name": "predict_proba"}]
        return body

    for n, part in rows.items():
        records = part.to_dict("records")
        variants = {
            f"ours-v1-{n}": {"instances": records},
            f"ours-v2-{n}": v2(part),
            f"stock-v1-{n}": {"instances": part.to_numpy().tolist()},
            f"stock-v2-{n}": v2(part, pandas=True),
            f"mlserver-v2-{n}": v2(part, pandas=True, mlserver=True),
        }
        for name, body in variants.items():
            path = bodies / f"{name}.json"
            path.write_text(json.dumps(body), encoding="utf-8")
            out[name] = path
    return out


# -- servers ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    paths: dict[str, str]
    log: Path


def wait_ready(server: Server, seconds: float = 120.0) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    url = f"http://127.0.0.1:{server.port}/v2/models/{MODEL_NAME}/ready"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            tail = server.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{server.name} exited ({server.process.returncode}):\n{tail}")
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)  # readiness-probe interval
    raise RuntimeError(f"{server.name} not ready within {seconds}s")


@contextmanager
def running(
    name: str, command: list[str], env: dict[str, str], paths: dict[str, str], port: int
) -> Iterator[Server]:
    log = WORK / f"{name}.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            command, cwd=WORK, env={**os.environ, **env}, stdout=handle, stderr=subprocess.STDOUT
        )
    server = Server(name, port, process, paths, log)
    try:
        wait_ready(server)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)


def kserve_paths() -> dict[str, str]:
    return {"v1": f"/v1/models/{MODEL_NAME}:predict", "v2": f"/v2/models/{MODEL_NAME}/infer"}


def ours(store: Path) -> Any:
    port = free_port()
    command = [sys.executable, "-m", "customer_classifier.serving", "--model_dir", str(store)]
    command += ["--model_name", MODEL_NAME, "--http_port", str(port)]
    command += ["--grpc_port", str(free_port())]
    return running("ours", command, {"CC_SERVING__RELOAD_INTERVAL_S": "0"}, kserve_paths(), port)


def stock(version_dir: Path) -> Any:
    port = free_port()
    command = [sys.executable, str(Path(__file__).resolve()), "--serve-stock", str(version_dir)]
    command += ["--model_name", MODEL_NAME, "--http_port", str(port)]
    command += ["--grpc_port", str(free_port())]
    return running("stock", command, {}, kserve_paths(), port)


def mlserver_available() -> str:
    """'' when MLServer is installed in its venv (installing it if needed), else why not."""
    binary = MLSERVER_VENV / "bin" / "mlserver"
    if binary.exists():
        return ""
    print("installing MLServer into var/bench/mlserver-venv ...", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(MLSERVER_VENV)], check=True)
        done = subprocess.run(
            [str(MLSERVER_VENV / "bin" / "pip"), "install", "-q", *MLSERVER_PACKAGES],
            capture_output=True,
            text=True,
            timeout=1200,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"could not create its environment: {exc}"
    if done.returncode != 0 or not binary.exists():
        return "pip could not install " + " ".join(MLSERVER_PACKAGES) + ": " + done.stderr[-500:]
    return ""


def mlserver(version_dir: Path) -> Any:
    port = free_port()
    folder = WORK / "mlserver"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / MODEL_NAME).mkdir(parents=True)
    shutil.copyfile(version_dir / "model.joblib", folder / MODEL_NAME / "model.joblib")
    (folder / "settings.json").write_text(
        json.dumps(
            {
                "http_port": port,
                "grpc_port": free_port(),
                "metrics_port": free_port(),
                "host": "127.0.0.1",
                # Its default worker process dies at start under uvloop on Python 3.11
                # ("no current event loop"); inference then runs in the server process.
                "parallel_workers": 0,
            }
        ),
        encoding="utf-8",
    )
    (folder / MODEL_NAME / "model-settings.json").write_text(
        json.dumps(
            {
                "name": MODEL_NAME,
                "implementation": "mlserver_sklearn.SKLearnModel",
                "parameters": {"uri": "./model.joblib"},
            }
        ),
        encoding="utf-8",
    )
    command = [str(MLSERVER_VENV / "bin" / "mlserver"), "start", str(folder)]
    # The pipeline pickles a reference to the project's feature transforms.
    env = {"PYTHONPATH": str(ROOT / "src")}
    return running("mlserver", command, env, {"v2": f"/v2/models/{MODEL_NAME}/infer"}, port)


# -- load ---------------------------------------------------------------------------------------


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str, case: Case) -> Case:
    percentiles = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)\s*$", output, re.MULTILINE))
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    total = re.search(r"^\s+(\d+) requests in", output, re.MULTILINE)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    case.rps = float(rps.group(1)) if rps else 0.0
    case.requests = int(total.group(1)) if total else 0
    case.p50_ms = _ms(percentiles["50"]) if "50" in percentiles else 0.0
    case.p90_ms = _ms(percentiles["90"]) if "90" in percentiles else 0.0
    case.p99_ms = _ms(percentiles["99"]) if "99" in percentiles else 0.0
    case.non_2xx = int(non_2xx.group(1)) if non_2xx else 0
    case.socket_errors = sum(int(g) for g in errors.groups()) if errors else 0
    case.ok = case.requests > 0 and case.non_2xx == 0 and case.socket_errors == 0
    return case


def check_answer(server: Server, path: str, body: Path) -> str:
    import httpx

    url = f"http://127.0.0.1:{server.port}{path}"
    answer = httpx.post(
        url, content=body.read_bytes(), headers={"content-type": "application/json"}, timeout=30
    )
    if answer.status_code != 200:
        return f"{answer.status_code}: {answer.text[:300]}"
    return ""


def load(server: Server, case: Case, body: Path, duration: float, warmup: float) -> Case:
    path = server.paths[case.protocol]
    problem = check_answer(server, path, body)
    if problem:
        case.note = f"the server refused the request body: {problem}"
        return case
    url = f"http://127.0.0.1:{server.port}{path}"
    script = WORK / "post.lua"
    script.write_text(LUA, encoding="utf-8")
    base = ["wrk", "-t1", f"-c{case.connections}", "--latency", "-s", str(script)]
    env = {**os.environ, "BODY": str(body)}
    timeout = ["--timeout", "10s"]
    subprocess.run(
        [*base, *timeout, f"-d{max(1, round(warmup))}s", url],
        env=env,
        capture_output=True,
        check=True,
    )
    case.load_before = os.getloadavg()[0]
    done = subprocess.run(
        [*base, *timeout, f"-d{max(1, round(duration))}s", url],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    case.load_after = os.getloadavg()[0]
    raw = WORK / "wrk" / f"{case.server}-{case.protocol}-{case.records}-{case.connections}.txt"
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text(done.stdout, encoding="utf-8")
    return parse_wrk(done.stdout, case)


# -- the run --------------------------------------------------------------------------------------


def targets(cases: list[Case]) -> dict[str, Any]:
    def find(server: str, protocol: str, records: int, connections: int) -> Case | None:
        for case in cases:
            key = (case.server, case.protocol, case.records, case.connections)
            if key == (server, protocol, records, connections) and case.ok:
                return case
        return None

    verdicts: dict[str, Any] = {}
    for protocol in ("v1", "v2"):
        mine16, theirs16 = find("ours", protocol, 1, 16), find("stock", protocol, 1, 16)
        mine1 = find("ours", protocol, 1, 1)
        if mine16 and theirs16:
            ratio = mine16.rps / theirs16.rps if theirs16.rps else float("inf")
            verdicts[f"{protocol}_throughput_ratio_16"] = {
                "value": round(ratio, 2),
                "target": f">= {TARGETS['throughput_ratio_16']}",
                "met": ratio >= TARGETS["throughput_ratio_16"],
            }
        if mine16:
            verdicts[f"{protocol}_p99_ms_16"] = {
                "value": mine16.p99_ms,
                "target": f"<= {TARGETS['p99_ms_16']}",
                "met": mine16.p99_ms <= TARGETS["p99_ms_16"],
            }
        if mine1:
            verdicts[f"{protocol}_p50_ms_1"] = {
                "value": mine1.p50_ms,
                "target": f"<= {TARGETS['p50_ms_1']}",
                "met": mine1.p50_ms <= TARGETS["p50_ms_1"],
            }
    return verdicts


def machine() -> dict[str, Any]:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        model = found.group(1) if found else ""
    return {"cores": os.cpu_count(), "cpu": model, "load_average_at_start": os.getloadavg()}


def run(args: argparse.Namespace) -> int:
    if shutil.which("wrk") is None:
        print("wrk is not installed: run 'bash benchmarks/ensure-wrk.sh'", file=sys.stderr)
        return 2
    WORK.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now(dt.UTC)
    info = machine()
    store, version, test_frame = build_store(args.customers)
    bodies = write_bodies(test_frame)
    version_dir = store / "versions" / version
    metadata = json.loads((version_dir / "model.json").read_text(encoding="utf-8"))
    plans: list[tuple[str, Any, list[str]]] = [
        ("ours", lambda: ours(store), ["v1", "v2"]),
        ("stock", lambda: stock(version_dir), ["v1", "v2"]),
    ]
    skipped: dict[str, str] = {}
    if args.skip_mlserver:
        skipped["mlserver"] = "--skip-mlserver"
    else:
        reason = mlserver_available()
        if reason:
            skipped["mlserver"] = reason
        else:
            plans.append(("mlserver", lambda: mlserver(version_dir), ["v2"]))
    cases: list[Case] = []
    for name, start, protocols in plans:
        try:
            with start() as server:
                for protocol in protocols:
                    for records in (1, 100):
                        for connections in (1, 16):
                            case = Case(name, protocol, records, connections)
                            body = bodies[f"{name}-{protocol}-{records}"]
                            load(server, case, body, args.duration, args.warmup)
                            cases.append(case)
                            print(
                                f"{name:8s} {protocol} {records:3d} rec {connections:2d} conn: "
                                f"{case.rps:8.1f} rps  p50 {case.p50_ms:7.2f} ms  "
                                f"p99 {case.p99_ms:7.2f} ms  load {case.load_after:4.1f}"
                                + ("" if case.ok else f"  FAILED {case.note}"),
                                flush=True,
                            )
        except RuntimeError as exc:
            skipped[name] = str(exc)[-1000:]
            print(f"{name}: skipped: {str(exc)[-300:]}", file=sys.stderr)
    verdicts = targets(cases)
    report = {
        "benchmark": "serving",
        "started_at": started.isoformat(),
        "machine": info,
        "busy": max((c.load_before for c in cases), default=0.0) > 0.5 * (os.cpu_count() or 1),
        "model": {
            "version": version,
            "candidate": metadata.get("candidate"),
            "customers_trained_on": args.customers,
        },
        "settings": {"duration_s": args.duration, "warmup_s": args.warmup, "wrk_threads": 1},
        "servers": {
            "ours": "python -m customer_classifier.serving: validation on, no challenger, "
            "JSON access log on, micro-batching defaults",
            "stock": "minimal kserve.Model like KServe's sklearn server: joblib model, "
            "synchronous predict on the event loop, no validation, KServe default settings",
            "mlserver": "MLServer " + MLSERVER_PACKAGES[0].split("==")[1] + " scikit-learn "
            "runtime, default settings (V2 only)",
        },
        "skipped": skipped,
        "cases": [asdict(c) for c in cases],
        "targets": verdicts,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(json.dumps({"targets": verdicts, "busy": report["busy"], "skipped": skipped}, indent=2))
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


# -- the stock-style predictor (runs in its own process) -----------------------------------------


def serve_stock(version_dir: Path, model_name: str) -> int:
    """KServe's stock sklearn-server pattern on this model: no validation, sync predict."""
    import joblib
    import pandas as pd
    from kserve import Model, ModelServer
    from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse

    class StockStylePredictor(Model):  # type: ignore[misc]
        def __init__(self, name: str) -> None:
            super().__init__(name)
            self.load()

        def load(self) -> bool:
            self._model = joblib.load(version_dir / "model.joblib")
            metadata = json.loads((version_dir / "model.json").read_text(encoding="utf-8"))
            self._columns = list(metadata["feature_names"])
            self.ready = True
            return True

        def predict(self, payload: Any, headers: dict[str, str] | None = None) -> Any:
            if isinstance(payload, InferRequest):
                scores = self._model.predict_proba(payload.as_dataframe()[self._columns])[:, 1]
                output = InferOutput("output-0", list(scores.shape), "FP64")
                output.set_data_from_numpy(scores, binary_data=False)
                return InferResponse(payload.id or str(uuid.uuid4()), self.name, [output])
            frame = pd.DataFrame(payload["instances"], columns=self._columns)
            return {"predictions": self._model.predict_proba(frame)[:, 1].tolist()}

    ModelServer().start([StockStylePredictor(model_name)])
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=8.0, help="Seconds per case.")
    parser.add_argument("--warmup", type=float, default=2.0, help="Warm-up seconds per case.")
    parser.add_argument("--customers", type=int, default=4000, help="Customers to train on.")
    parser.add_argument("--skip-mlserver", action="store_true")
    parser.add_argument("--serve-stock", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--model_name", default=MODEL_NAME, help=argparse.SUPPRESS)
    args, _kserve_flags = parser.parse_known_args(argv)
    if args.serve_stock is not None:
        return serve_stock(args.serve_stock, args.model_name)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
