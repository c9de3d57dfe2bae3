"""Benchmark of sharded nightly scoring on PostgreSQL: 1M and 2M customers, 1 and 4 shards.

Setup (not timed): a private PostgreSQL server started the way the tests start one
(Debian's ``initdb`` + ``pg_ctl`` on loopback, in a temporary folder, stopped at the
end). A Master Data set of 1,000,000 customers and about 10 sales each comes from the
project's generator (``GeneratorConfig(n_customers=1_000_000, sales_per_customer=10,
seed=2026)``) or, when it is there, from the SQLite database that ``make bench-scoring``
caches under ``benchmarks/data/`` (the same generator and seed); it is copied into
PostgreSQL with ``COPY`` and indexed as ``write_master_data`` indexes it. The 2M step adds
a second million: the first with every customer and sale id shifted past the last one
(the same per-customer work, so the step measures growth in customers alone). The
champion is the one ``make bench-scoring`` trains and caches (trained here when missing).

Timed, per size and number of shards, each step in a fresh child process that does
nothing else, exactly the functions the pipeline's tasks call: ``plan_night``, then
``score_shard`` for every shard (one after another: on a cluster they are separate pods
that run at once), then ``publish_night``, each night into an empty prediction history
(a new night appends; it does not replace a night already there). Each child reports
its seconds and its peak RSS (``VmHWM``). ``parallel_seconds`` is what the night takes
with every shard in a pod of its own: plan + the slowest shard + publish. Written to
``benchmarks/results/scale.json``.

    make bench-scale
    .venv/bin/python benchmarks/bench_scale.py --customers 100000 --sizes 1 2   # a quick look
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import pwd
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
DEFAULT_DATA = ROOT / "benchmarks" / "data"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "scale.json"
PG_ROOT = Path("/usr/lib/postgresql")
COPY_ROWS = 500_000


def _log(message: str) -> None:
    print(f"[bench-scale] {message}", file=sys.stderr, flush=True)


# -- setup: a private PostgreSQL server ------------------------------------------------------


def _bin_dir() -> Path:
    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(p) for p in path.parent.parent.name.split(".") if p.isdigit())

    found = sorted(PG_ROOT.glob("*/bin/pg_ctl"), key=version)
    if not found:
        raise SystemExit(
            f"no PostgreSQL under {PG_ROOT}: run 'bash scripts/ensure-postgres.sh' first"
        )
    return found[-1].parent


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a throw-away server on loopback; yield the URL of its ``postgres`` database."""
    bin_dir = _bin_dir()
    base = Path(tempfile.mkdtemp(prefix="cc-bench-postgres-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root
        account = pwd.getpwnam("postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
        os.chown(base, account.pw_uid, account.pw_gid)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    data, sockets, log = base / "data", base / "s", base / "server.log"

    def run(*args: str | Path) -> None:
        subprocess.run([*as_user, *map(str, args)], cwd=base, check=True, capture_output=True)

    try:
        run(bin_dir / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync")
        sockets.mkdir()
        if as_user:
            shutil.chown(sockets, "postgres", "postgres")
        with (data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(
                f"\nlisten_addresses = '127.0.0.1'\nport = {port}\n"
                f"unix_socket_directories = '{sockets}'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                "shared_buffers = 512MB\nmaintenance_work_mem = 512MB\nmax_wal_size = 4GB\n"
            )
        run(bin_dir / "pg_ctl", "-D", data, "-l", log, "-w", "-t", "120", "start")
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        finally:
            run(bin_dir / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(base, ignore_errors=True)


# -- setup: the data --------------------------------------------------------------------------


def _frames(source: Path | None, customers: int, seed: int) -> Iterator[tuple[str, Any]]:
    """(table, frame) parts of the base data set: from the SQLite cache, else generated."""
    import pandas as pd

    if source is not None and source.exists():
        _log(f"reading the base data from {source}")
        with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as conn:
            for table in ("customers", "sales"):
                # Nullable integer columns stay integers in the CSV (1952, not 1952.0).
                for part in pd.read_sql_query(
                    f"SELECT * FROM {table}",
                    conn,
                    chunksize=COPY_ROWS,
                    dtype_backend="numpy_nullable",
                ):
                    yield table, part
        return
    from customer_classifier.data.generate import GeneratorConfig, generate

    _log(f"generating {customers:,} customers x 10 sales")
    data = generate(GeneratorConfig(n_customers=customers, sales_per_customer=10.0, seed=seed))
    for table, frame in (("customers", data.customers), ("sales", data.sales)):
        for start in range(0, len(frame), COPY_ROWS):
            yield table, frame.iloc[start : start + COPY_ROWS]


def load_base(url: str, source: Path | None, customers: int, seed: int) -> None:
    """Contract tables (created by the project's writer), rows by COPY, then the indexes."""
    import sqlalchemy as sa

    from customer_classifier.data.contract import SPECS
    from customer_classifier.data.database import connect, write_frame

    engine = connect(url)
    created: list[str] = []
    raw = engine.raw_connection()
    try:
        for table, part in _frames(source, customers, seed):
            if table not in created:
                contract = {c.name: c.kind for c in SPECS[table].columns}
                kinds = {name: contract.get(name, "str") for name in part.columns}
                write_frame(engine, table, part.iloc[0:0], kinds=kinds)
                created.append(table)
            buffer = io.StringIO()
            part.to_csv(buffer, index=False, header=False)
            columns = ", ".join(part.columns)
            cursor = raw.driver_connection.cursor()  # type: ignore[union-attr]
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT csv)") as copy:
                copy.write(buffer.getvalue())
            raw.commit()
    finally:
        raw.close()
    index(engine)
    with engine.connect() as conn:
        counts = [conn.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar_one() for t in created]
    _log(f"loaded {counts[0]:,} customers and {counts[1]:,} sales")
    engine.dispose()


def index(engine: Any) -> None:
    from customer_classifier.data.database import _SALES_HISTORY

    statements = [
        "CREATE UNIQUE INDEX IF NOT EXISTS ix_customers_id ON customers (customer_id)",
        "CREATE UNIQUE INDEX IF NOT EXISTS ix_sales_id ON sales (sale_id)",
        f"CREATE INDEX IF NOT EXISTS ix_sales_customer ON sales ({', '.join(_SALES_HISTORY)})",
        "CREATE INDEX IF NOT EXISTS ix_sales_sold_at ON sales (sold_at)",
    ]
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")


def double(url: str) -> None:
    """Add a copy of every customer and sale with ids shifted past the current last ones."""
    from customer_classifier.data.database import connect

    engine = connect(url)
    with engine.begin() as conn:
        top_customer = conn.exec_driver_sql("SELECT MAX(customer_id) FROM customers").scalar_one()
        top_sale = conn.exec_driver_sql("SELECT MAX(sale_id) FROM sales").scalar_one()
        shifts = {
            "customers": {"customer_id": top_customer},
            "sales": {"customer_id": top_customer, "sale_id": top_sale},
        }
        for table, shift in shifts.items():
            names = [
                row[0]
                for row in conn.exec_driver_sql(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = "
                    f"'{table}' ORDER BY ordinal_position"
                )
            ]
            shifted = [f"{n} + {shift[n]}" if n in shift else n for n in names]
            conn.exec_driver_sql(
                f"INSERT INTO {table} ({', '.join(names)}) SELECT {', '.join(shifted)} FROM {table}"
            )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()


# -- timed: one pipeline task per child process -------------------------------------------------


def _peak_rss_mib() -> float:
    """VmHWM: this program's own peak (ru_maxrss would carry the parent's over exec)."""
    for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return 0.0


def child(step: str, url: str, store: str, run_id: str, argument: int) -> dict[str, Any]:
    """One task, alone in this process: ``plan`` (argument: shards), ``shard`` (argument:
    its index) or ``publish``."""
    from customer_classifier import jobs
    from customer_classifier.settings import Settings

    settings = Settings(database_url=url, store_uri=store, work_dir=Path(tempfile.gettempdir()))
    rss_after_import = _peak_rss_mib()
    started = time.perf_counter()
    figures: dict[str, Any] = {}
    if step == "plan":
        plan = jobs.plan_night(settings, argument, run_id=run_id)
        figures["ranges"] = [[s.lo, s.hi] for s in plan.shards]
    elif step == "shard":
        summary = jobs.score_shard(settings, run_id, argument)
        figures.update(rows_written=summary.rows_written, customers=summary.customers_in_database)
    else:
        night = jobs.publish_night(settings, run_id)
        figures.update(rows_written=night.rows_written, good=night.good)
    return {
        "seconds": time.perf_counter() - started,
        "peak_rss_mib": _peak_rss_mib(),
        "rss_after_import_mib": rss_after_import,
        **figures,
    }


def run_child(step: str, url: str, store: Path, run_id: str, argument: int = 0) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", step, url, str(store), run_id, str(argument)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        errors = [line[:400] for line in done.stderr.splitlines() if "Error" in line]
        sys.stderr.write("\n".join([*errors, done.stderr[-1500:]]) + "\n")
        raise SystemExit(f"the {step} child failed with exit code {done.returncode}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def fresh_history(url: str) -> None:
    """Drop the prediction history before a night (setup, not timed).

    Every night of the benchmark scores the same as-of date with the same champion, so
    without this each publish would first delete the previous night's rows of that date
    and version (a re-run's cost, growing with the size measured before it) rather than
    append a new night, which is what a nightly run does."""
    from customer_classifier.data.database import connect
    from customer_classifier.scoring.tables import history_table
    from customer_classifier.settings import Settings

    engine = connect(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {history_table(Settings().predictions_table)}")
    engine.dispose()


def night(url: str, store: Path, customers: int, shards: int) -> dict[str, Any]:
    run_id = f"bench-{customers}-{shards}-{int(time.time())}"
    fresh_history(url)
    _log(f"{customers:,} customers, {shards} shard(s): plan, {shards} shard task(s), publish")
    plan = run_child("plan", url, store, run_id, shards)
    tasks = [run_child("shard", url, store, run_id, i) for i in range(len(plan["ranges"]))]
    publish = run_child("publish", url, store, run_id)
    slowest = max(t["seconds"] for t in tasks)
    result = {
        "customers": customers,
        "shards": len(tasks),
        "plan": {k: round(v, 2) for k, v in plan.items() if k != "ranges"},
        "shard_tasks": [
            {k: round(v, 2) if isinstance(v, float) else v for k, v in t.items()} for t in tasks
        ],
        "publish": {k: round(v, 2) if isinstance(v, float) else v for k, v in publish.items()},
        "shard_seconds_total": round(sum(t["seconds"] for t in tasks), 2),
        "shard_peak_rss_mib_max": round(max(t["peak_rss_mib"] for t in tasks), 1),
        "sequential_seconds": round(
            plan["seconds"] + sum(t["seconds"] for t in tasks) + publish["seconds"], 2
        ),
        "parallel_seconds": round(plan["seconds"] + slowest + publish["seconds"], 2),
        "rows_written": publish["rows_written"],
    }
    _log(json.dumps({k: result[k] for k in ("sequential_seconds", "parallel_seconds")}))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000, help="the base size")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 2], help="multiples of it")
    parser.add_argument("--shards", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--source", type=Path, help="SQLite database of the base data")
    parser.add_argument("--store", type=Path, help="a model store with a champion")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        step, url, store, run_id, argument = args.child
        print(json.dumps(child(step, url, store, run_id, int(argument))))
        return 0

    from bench_scoring import cpu_info, ensure_champion

    source = args.source or args.data_dir / f"master_{args.customers}_10_{args.seed}.db"
    store = args.store or ensure_champion(args.data_dir, 20_000, args.seed)
    cpu = cpu_info()
    nights = []
    setup: dict[str, float] = {}
    with postgres_server() as server:
        url = server
        started = time.perf_counter()
        load_base(url, source, args.customers, args.seed)
        setup["load_seconds"] = round(time.perf_counter() - started, 1)
        size = 1
        for multiple in sorted(args.sizes):
            while size < multiple:
                started = time.perf_counter()
                double(url)
                size *= 2
                setup[f"grow_to_{size}x_seconds"] = round(time.perf_counter() - started, 1)
            for shards in args.shards:
                nights.append(night(url, store, args.customers * size, shards))
    by = {(n["customers"], n["shards"]): n for n in nights}
    sizes = sorted({n["customers"] for n in nights})
    growth = {}
    if len(sizes) >= 2:
        small, large = sizes[0], sizes[-1]
        for shards in args.shards:
            a, b = by[(small, shards)], by[(large, shards)]
            growth[f"{shards}_shard_time_ratio"] = round(
                b["sequential_seconds"] / a["sequential_seconds"], 2
            )
    rss = {
        f"{c}_customers": {str(s): by[(c, s)]["shard_peak_rss_mib_max"] for s in args.shards}
        for c in sizes
    }
    result = {
        "benchmark": "sharded nightly scoring on PostgreSQL: plan, shard tasks, publish",
        "sales_per_customer": 10,
        "nights": nights,
        "time_ratio_largest_to_smallest": growth,
        "customers_ratio": sizes[-1] / sizes[0] if sizes else None,
        "peak_rss_mib_of_a_shard": rss,
        "setup": setup,
        "data": f"generator seed {args.seed}; larger sizes repeat the base with shifted ids",
        "cpu": cpu,
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    text = json.dumps(result, indent=2)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
