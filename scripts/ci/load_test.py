"""Load test of a deployed predictor with thresholds: the deploy-test job's check.

The serving benchmark's client (``benchmarks/bench_serving.py``: the same wrk script and
the same parsing of wrk's report) sends ``--body`` to ``URL/v1/models/NAME:predict`` on
``--connections`` connections for ``--duration`` seconds, after a short warm-up. The run
passes when every answer was 2xx, no socket failed, and throughput and p99 latency meet
``--min-rps`` and ``--max-p99-ms``. The figures and the verdict go to standard output and
``--output`` (a job artifact). Exit status 0 passed, 1 failed, 2 a usage mistake.

    python scripts/ci/load_test.py --url http://127.0.0.1:8080 --duration 30 \\
        --connections 8 --min-rps 50 --max-p99-ms 250 --output build/load-test.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from benchmarks.bench_serving import LUA, MODEL_NAME, Case, parse_wrk

ROOT = Path(__file__).resolve().parents[2]


def problems(case: Case, min_rps: float, max_p99_ms: float) -> list[str]:
    """Each threshold ``case`` misses, in words; empty when it meets them all."""
    found = []
    if case.requests == 0:
        found.append("no request completed")
    if case.non_2xx:
        found.append(f"{case.non_2xx} answers were not 2xx")
    if case.socket_errors:
        found.append(f"{case.socket_errors} socket errors")
    if case.rps < min_rps:
        found.append(f"throughput {case.rps:.1f} rps is below the minimum {min_rps:g}")
    if case.p99_ms > max_p99_ms:
        found.append(f"p99 latency {case.p99_ms:.1f} ms is above the maximum {max_p99_ms:g}")
    return found


def run_wrk(url: str, body: Path, connections: int, seconds: int) -> str:
    """wrk's report of ``seconds`` of closed-loop POSTs of ``body`` to ``url``."""
    with tempfile.TemporaryDirectory(prefix="cc-load-") as folder:
        script = Path(folder) / "post.lua"
        script.write_text(LUA, encoding="utf-8")
        command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
        done = subprocess.run(
            [*command, "--timeout", "10s", "-s", str(script), url],
            env={**os.environ, "BODY": str(body)},
            capture_output=True,
            text=True,
            check=True,
        )
    return done.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="Base URL of the predictor.")
    parser.add_argument("--model-name", default=MODEL_NAME)
    parser.add_argument("--body", type=Path, default=ROOT / "scripts/ci/smoke-record.json")
    parser.add_argument("--duration", type=int, default=30, help="Seconds of load.")
    parser.add_argument("--warmup", type=int, default=3, help="Seconds of warm-up.")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--min-rps", type=float, default=50.0)
    parser.add_argument("--max-p99-ms", type=float, default=250.0)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("error: wrk is not installed; run 'bash benchmarks/ensure-wrk.sh'", file=sys.stderr)
        return 2
    if args.duration < 1 or args.connections < 1:
        print("error: --duration and --connections must be at least 1", file=sys.stderr)
        return 2
    url = f"{args.url.rstrip('/')}/v1/models/{args.model_name}:predict"
    if args.warmup > 0:
        run_wrk(url, args.body, args.connections, args.warmup)
    case = parse_wrk(
        run_wrk(url, args.body, args.connections, args.duration),
        Case("deployed", "v1", 1, args.connections),
    )
    found = problems(case, args.min_rps, args.max_p99_ms)
    report = {
        "url": url,
        "duration_s": args.duration,
        "thresholds": {"min_rps": args.min_rps, "max_p99_ms": args.max_p99_ms},
        "result": asdict(case),
        "passed": not found,
        "problems": found,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n", encoding="utf-8")
    for problem in found:
        print(f"load_test: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
