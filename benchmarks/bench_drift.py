"""Benchmark of the nightly drift report: 1,000,000 rows x 30 columns.

Setup (not timed): a reference of 100,000 rows and a night of 1,000,000 rows, 27 numeric
and 3 categorical columns with the shapes of the real features (skewed amounts, counts,
shares, a 0/1 flag, nulls), and a planted drift in three columns of the night (two
numeric shifts and a changed category mix). Both are written as Parquet under
``benchmarks/data/drift/``.

Timed, each in a fresh process that reads the Parquet files (so its peak memory is that
of one report on this data): the project's drift report, from the binned reference to
the flagged features; and, when its environment exists (``.tools/evidently-venv``, made
with ``pip install evidently 'pandas<3' pyarrow``), Evidently's DataDriftPreset on the
same data. Written as JSON (default ``benchmarks/results/drift.json``): seconds,
peak_rss_mib, the flagged columns of each, the ratio, and whether both flag the planted
columns.

    make bench-drift
    .venv/bin/python benchmarks/bench_drift.py --rows 200000   # a quick look
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data" / "drift"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "drift.json"
EVIDENTLY_PYTHON = ROOT / ".tools" / "evidently-venv" / "bin" / "python"
PLANTED = ("spend_365d", "tenure_days", "acquisition_channel")
CATEGORICAL = ("country", "segment", "acquisition_channel")
CHANNELS = ("ads", "organic", "partner", "referral", "social")
TARGET_SECONDS = 5.0
TARGET_MIB = 1024.0


def _log(message: str) -> None:
    print(f"[bench-drift] {message}", file=sys.stderr, flush=True)


def _frame(rng: np.random.Generator, rows: int, drifted: bool) -> pd.DataFrame:
    columns: dict[str, Any] = {}
    shift = 0.25 if drifted else 0.0
    columns["tenure_days"] = rng.gamma(2.0, 300.0 * (1 - shift), rows)
    columns["spend_365d"] = rng.lognormal(5.0 + shift, 1.0, rows)
    columns["loyalty_member"] = (rng.random(rows) < 0.3).astype(float)
    age = rng.integers(18, 85, rows).astype(float)
    age[rng.random(rows) < 0.1] = np.nan
    columns["age"] = age
    for i in range(8):
        columns[f"orders_{i}"] = rng.poisson(1.0 + i, rows).astype(float)
    for i in range(8):
        columns[f"amount_{i}"] = rng.lognormal(3.0 + 0.1 * i, 0.8, rows)
    for i in range(7):
        columns[f"share_{i}"] = rng.beta(1.0, 4.0, rows)
    frame = pd.DataFrame(columns)
    frame["country"] = rng.choice(np.array(["DE", "FR", "IT", "NL", "ES", "AT", "BE", "PL"]), rows)
    frame["segment"] = rng.choice(np.array(["consumer", "small_business", "enterprise"]), rows)
    ads = 0.55 if drifted else 0.40
    rest = (1 - ads) / 4
    frame["acquisition_channel"] = rng.choice(np.array(CHANNELS), rows, p=(ads, *(rest,) * 4))
    return frame


def _scores(frame: pd.DataFrame) -> np.ndarray:
    z = 0.002 * frame["tenure_days"].to_numpy() - 0.5 + 0.1 * np.log(frame["spend_365d"])
    return np.asarray(1 / (1 + np.exp(-z)))


def prepare(rows: int, reference_rows: int) -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(11)
    _frame(rng, reference_rows, drifted=False).to_parquet(DATA / "reference.parquet")
    _frame(rng, rows, drifted=True).to_parquet(DATA / "night.parquet")


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_monitor() -> dict[str, Any]:
    """One report as the nightly job makes it: reference from the training window (at
    training time, not timed), then the night against it (timed)."""
    sys.path.insert(0, str(ROOT / "src"))
    from customer_classifier.monitoring.drift import detect_drift
    from customer_classifier.monitoring.reference import build_reference

    reference = pd.read_parquet(DATA / "reference.parquet")
    numeric = [c for c in reference.columns if c not in CATEGORICAL]
    built = build_reference(
        reference,
        _scores(reference),
        0.6,
        numeric=numeric,
        categorical=CATEGORICAL,
    )
    del reference
    night = pd.read_parquet(DATA / "night.parquet")
    scores = _scores(night)
    loaded = _peak_mib()
    start = time.perf_counter()
    report = detect_drift(built, night, scores)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "peak_rss_mib": _peak_mib(),
        "data_loaded_rss_mib": loaded,
        "flagged": sorted(report.flagged),
    }


EVIDENTLY_SCRIPT = r"""
import json, resource, sys, time
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
data = sys.argv[1]
reference = pd.read_parquet(data + "/reference.parquet")
night = pd.read_parquet(data + "/night.parquet")
start = time.perf_counter()
snapshot = Report([DataDriftPreset()]).run(current_data=night, reference_data=reference)
result = snapshot.dict()
seconds = time.perf_counter() - start
flagged = []
for metric in result["metrics"]:
    config = metric.get("config", {})
    if not str(config.get("type", "")).endswith("ValueDrift"):
        continue
    method = str(config["method"]).lower()
    value, threshold = float(metric["value"]), float(config["threshold"])
    # p-value tests drift below their threshold, distances at or above it.
    drifted = value < threshold if "p_value" in method else value >= threshold
    if drifted:
        flagged.append(str(config["column"]))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "peak_rss_mib": peak, "flagged": sorted(flagged)}))
"""


def run_evidently() -> dict[str, Any] | None:
    if not EVIDENTLY_PYTHON.exists():
        _log(f"no Evidently environment at {EVIDENTLY_PYTHON}: comparison skipped")
        return None
    done = subprocess.run(
        [str(EVIDENTLY_PYTHON), "-c", EVIDENTLY_SCRIPT, str(DATA)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        _log(f"Evidently failed: {done.stderr[-2000:]}")
        return {"error": done.stderr[-2000:]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _child(flag: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, flag], capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reference-rows", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--no-evidently", action="store_true")
    parser.add_argument("--worker", choices=["monitor"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker == "monitor":
        print(json.dumps(run_monitor()))
        return 0
    _log(f"preparing {args.rows:,} night rows and {args.reference_rows:,} reference rows")
    prepare(args.rows, args.reference_rows)
    ours = _child("--worker=monitor")
    _log(f"drift report: {ours['seconds']:.2f} s, {ours['peak_rss_mib']:.0f} MiB")
    theirs = None if args.no_evidently else run_evidently()
    result: dict[str, Any] = {
        "benchmark": "drift",
        "rows": args.rows,
        "reference_rows": args.reference_rows,
        "columns": 30,
        "planted": sorted(PLANTED),
        "seconds": ours["seconds"],
        "peak_rss_mib": ours["peak_rss_mib"],
        "data_loaded_rss_mib": ours["data_loaded_rss_mib"],
        "flagged": ours["flagged"],
        "finds_planted": set(ours["flagged"]) == set(PLANTED),
        "targets": {"seconds": TARGET_SECONDS, "peak_rss_mib": TARGET_MIB},
        "within_targets": ours["seconds"] <= TARGET_SECONDS and ours["peak_rss_mib"] <= TARGET_MIB,
        "machine": {"python": platform.python_version(), "processor": platform.machine()},
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    if theirs is not None:
        result["evidently"] = theirs
        if "seconds" in theirs:
            _log(f"Evidently: {theirs['seconds']:.2f} s, {theirs['peak_rss_mib']:.0f} MiB")
            result["speedup"] = theirs["seconds"] / ours["seconds"]
            result["memory_ratio"] = theirs["peak_rss_mib"] / ours["peak_rss_mib"]
            result["same_flagged"] = set(theirs["flagged"]) == set(ours["flagged"])
            result["evidently_finds_planted"] = set(PLANTED) <= set(theirs["flagged"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    _log(f"written {args.out}")
    return 0 if result["within_targets"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
