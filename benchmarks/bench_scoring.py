"""Benchmark of the nightly batch: verification + scoring of 1M customers / 10M sales.

Setup (not timed): a SQLite Master Data database generated once and cached under
``benchmarks/data/``, and a champion trained on a small database of the same generator
and cached there too, so every run scores with the same model and the predictions of
two runs can be compared by their digest.

Timed: ``jobs.verify_data`` then ``jobs.score_customers`` against the big database, in a
fresh child process that does nothing else, so its peak RSS is the batch's own and not
the setup's. The result is printed and written as JSON (default
``benchmarks/results/scoring.json``).

    make bench-scoring
    .venv/bin/python benchmarks/bench_scoring.py --customers 100000   # a quick look
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT / "benchmarks" / "data"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "scoring.json"
TARGET_SECONDS = 20.0
TARGET_RSS_MIB = 1024.0
LAYOUT = 2
"""Bump when the cached database must be rebuilt (a change of how tables are written)."""


def _log(message: str) -> None:
    print(f"[bench-scoring] {message}", file=sys.stderr, flush=True)


def _sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


# -- setup: the big database ------------------------------------------------------------


def _counts(path: Path) -> tuple[int, int] | None:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            customers = conn.execute("SELECT COUNT(*) FROM customers").fetchone()[0]
            sales = conn.execute("SELECT COUNT(*) FROM sales").fetchone()[0]
    except sqlite3.Error:
        return None
    return int(customers), int(sales)


def ensure_database(data_dir: Path, customers: int, sales_per_customer: float, seed: int) -> Path:
    """The cached database for these parameters; generated and written when missing."""
    name = f"master_{customers}_{sales_per_customer:g}_{seed}"
    path = data_dir / f"{name}.db"
    meta_path = data_dir / f"{name}.json"
    if path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        found = _counts(path)
        if meta.get("layout") == LAYOUT and found == (meta["customers"], meta["sales"]):
            _log(f"reusing {path} ({found[0]:,} customers, {found[1]:,} sales)")
            return path
        _log(f"{path} does not match its parameters: rebuilding it")
    from customer_classifier.data.database import connect, write_master_data
    from customer_classifier.data.generate import GeneratorConfig, generate

    data_dir.mkdir(parents=True, exist_ok=True)
    for stale in (path, meta_path):
        stale.unlink(missing_ok=True)
    started = time.perf_counter()
    _log(f"generating {customers:,} customers x {sales_per_customer:g} sales (once, cached)")
    data = generate(
        GeneratorConfig(n_customers=customers, sales_per_customer=sales_per_customer, seed=seed)
    )
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    engine = connect(_sqlite_url(partial), create_dir=True)
    write_master_data(engine, data)
    engine.dispose()
    partial.rename(path)
    meta = {
        "layout": LAYOUT,
        "customers": len(data.customers),
        "sales": len(data.sales),
        "seed": seed,
        "sales_per_customer": sales_per_customer,
        "seconds": round(time.perf_counter() - started, 1),
    }
    meta_path.write_text(json.dumps(meta, indent=2), encoding="utf-8")
    _log(f"wrote {path} in {meta['seconds']} s")
    return path


# -- setup: the champion ------------------------------------------------------------------


def ensure_champion(data_dir: Path, train_customers: int, seed: int) -> Path:
    """A model store holding a champion trained by the project's own training steps."""
    from customer_classifier import jobs
    from customer_classifier.data.database import connect, write_master_data
    from customer_classifier.data.generate import GeneratorConfig, generate
    from customer_classifier.registry import CHAMPION, open_store
    from customer_classifier.settings import Settings

    store_dir = data_dir / f"store_{train_customers}_{seed}"
    if store_dir.exists() and open_store(str(store_dir)).get_alias(CHAMPION):
        _log(f"reusing the champion in {store_dir}")
        return store_dir
    shutil.rmtree(store_dir, ignore_errors=True)
    _log(f"training a champion on {train_customers:,} customers (once, cached)")
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        work = Path(tmp)
        engine = connect(_sqlite_url(work / "train.db"), create_dir=True)
        write_master_data(engine, generate(GeneratorConfig(n_customers=train_customers, seed=seed)))
        engine.dispose()
        settings = Settings(
            database_url=_sqlite_url(work / "train.db"),
            store_uri=str(store_dir),
            work_dir=work / "runs",
            # The candidates of the recorded figures: a logistic-regression champion.
            candidates=("heuristic", "logistic_regression", "gradient_boosting"),
        )
        jobs.ingest_data(settings, work / "snapshot")
        jobs.build_features(settings, work / "snapshot", work / "features")
        trained = jobs.train_models(settings, work / "features", work / "bundle", work / "r.html")
        registered = jobs.register_model(settings, work / "bundle")
    version = registered.version
    if not registered.promoted:
        # The benchmark measures scoring, not the gate: score with what training chose.
        open_store(str(store_dir)).set_alias(CHAMPION, version, reason="benchmark model")
        _log(f"the gate kept {version} from champion; the benchmark aliases it itself")
    _log(f"champion {version} ({trained.chosen})")
    return store_dir


# -- timed: a child process that verifies and scores ----------------------------------------


def _peak_rss_mib() -> float:
    """This process's peak resident set size.

    VmHWM belongs to the address space, which exec replaces, so it counts only this
    program. ``ru_maxrss`` would not do: Linux carries it over exec from the forked copy
    of the parent, so the child would inherit the setup's peak.
    """
    try:
        for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _candidate(store: Path, version: str) -> str:
    """The kind of model a version holds, from its metadata (best effort)."""
    for path in store.rglob("model.json"):
        if version in path.parts:
            return str(json.loads(path.read_text(encoding="utf-8")).get("candidate", "?"))
    return "?"


def child(database: Path, store: Path, work_dir: Path) -> dict[str, Any]:
    """The timed work, alone in this process: verification, then nightly scoring."""
    started = time.perf_counter()
    from customer_classifier import jobs
    from customer_classifier.settings import Settings

    settings = Settings(database_url=_sqlite_url(database), store_uri=str(store), work_dir=work_dir)
    imported = time.perf_counter()
    rss_after_import = _peak_rss_mib()
    cpu_started = time.process_time()
    result = jobs.verify_data(settings, work_dir / "verification")
    verified, cpu_verified = time.perf_counter(), time.process_time()
    summary = jobs.score_customers(settings)
    scored, cpu_scored = time.perf_counter(), time.process_time()
    return {
        "import_seconds": imported - started,
        "verify_seconds": verified - imported,
        "score_seconds": scored - verified,
        "verify_cpu_seconds": cpu_verified - cpu_started,
        "score_cpu_seconds": cpu_scored - cpu_verified,
        "verification_passed": result.passed,
        "verification_warnings": len(result.warnings),
        "rows_written": summary.rows_written,
        "good": summary.good,
        "customers_in_database": summary.customers_in_database,
        "model_version": summary.model_version,
        "model_candidate": _candidate(store, summary.model_version),
        "as_of": summary.as_of.isoformat(),
        "table": summary.table,
        "threads": settings.scoring_threads,
        "chunk_customers": settings.chunk_customers,
        "rss_after_import_mib": rss_after_import,
        "peak_rss_mib": _peak_rss_mib(),
    }


def run_child(database: Path, store: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-score-") as tmp:
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            str(database),
            str(store),
            str(Path(tmp) / "runs"),
        ]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"the timed child failed with exit code {done.returncode}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    figures["child_wall_seconds"] = wall
    return figures


# -- after: what was written ------------------------------------------------------------------


def predictions_digest(database: Path, table: str) -> tuple[int, str]:
    """Rows and sha256 of (customer_id, label, score) in customer order: equal runs, equal
    digests (scored_at and model_version are left out)."""
    digest = hashlib.sha256()
    rows = 0
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        cursor = conn.execute(f"SELECT customer_id, label, score FROM {table} ORDER BY customer_id")
        while batch := cursor.fetchmany(100_000):
            rows += len(batch)
            digest.update("\n".join(f"{c},{lab},{s!r}" for c, lab, s in batch).encode())
            digest.update(b"\n")
    return rows, digest.hexdigest()


def cpu_info() -> dict[str, Any]:
    model = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "model": model,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable,
        "load_average_1m_before": round(os.getloadavg()[0], 2),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--sales-per-customer", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--train-customers", type=int, default=20_000)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--repeat", type=int, default=1, help="timed runs; the fastest is kept")
    parser.add_argument("--child", nargs=3, metavar=("DB", "STORE", "WORK"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        database, store, work = (Path(p) for p in args.child)
        print(json.dumps(child(database, store, work)))
        return 0

    database = ensure_database(args.data_dir, args.customers, args.sales_per_customer, args.seed)
    store = ensure_champion(args.data_dir, args.train_customers, args.seed)
    customers, sales = _counts(database) or (0, 0)
    cpu = cpu_info()
    runs = []
    for attempt in range(1, max(1, args.repeat) + 1):
        _log(f"timed run {attempt}: verification + scoring in a fresh process")
        runs.append(run_child(database, store))
    best = min(runs, key=lambda r: r["verify_seconds"] + r["score_seconds"])
    rows, digest = predictions_digest(database, best["table"])
    seconds = best["verify_seconds"] + best["score_seconds"]
    result = {
        "benchmark": "nightly scoring: verification + scoring, database to written table",
        "customers": customers,
        "sales": sales,
        "seconds": round(seconds, 2),
        "peak_rss_mib": round(best["peak_rss_mib"], 1),
        "verify_seconds": round(best["verify_seconds"], 2),
        "score_seconds": round(best["score_seconds"], 2),
        "cpu_seconds": round(best["verify_cpu_seconds"] + best["score_cpu_seconds"], 2),
        "verify_cpu_seconds": round(best["verify_cpu_seconds"], 2),
        "score_cpu_seconds": round(best["score_cpu_seconds"], 2),
        "import_seconds": round(best["import_seconds"], 2),
        "rss_after_import_mib": round(best["rss_after_import_mib"], 1),
        "all_runs_seconds": [round(r["verify_seconds"] + r["score_seconds"], 2) for r in runs],
        "all_runs_peak_rss_mib": [round(r["peak_rss_mib"], 1) for r in runs],
        "target": {"seconds": TARGET_SECONDS, "peak_rss_mib": TARGET_RSS_MIB},
        "within_target": seconds <= TARGET_SECONDS and best["peak_rss_mib"] <= TARGET_RSS_MIB,
        "rows_written": best["rows_written"],
        "good": best["good"],
        "predictions_rows": rows,
        "predictions_sha256": digest,
        "model_version": best["model_version"],
        "model_candidate": best["model_candidate"],
        "as_of": best["as_of"],
        "verification_passed": best["verification_passed"],
        "threads": best["threads"],
        "chunk_customers": best["chunk_customers"],
        "cpu": cpu,
        "database": str(database.relative_to(ROOT) if database.is_relative_to(ROOT) else database),
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    text = json.dumps(result, indent=2)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
