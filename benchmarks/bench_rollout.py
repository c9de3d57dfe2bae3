"""Rollout benchmark: how fast a faulty canary leaves traffic, and what clients saw meanwhile.

The end-to-end scenarios of ``tests/integration/rollout/test_rollout_e2e.py``, from the
same harness (``tests/integration/rollout/harness.py``): stable version A and canaries B
as real predictor processes, a real Prometheus scraping them every second, client threads
sending V1 requests in the split the InferenceService's status reports, and the real
controller patching the InferenceService on a stand-in Kubernetes API server (Knative and
Standard mode) with short analysis intervals.

Per fault kind (errors, slow, shifted scores) and mode:

* ``seconds_to_zero``: from the first request the canary answered (the fault starting)
  to the gateway first routing 0 % to it;
* ``failed_requests_until_zero``: requests that failed for the clients in that time, on
  the stable and on the canary side;
* ``intervals_after_first_analysis``: the time from the end of the first analysis
  interval to 0 %, in intervals. Target: at most 2.

The healthy canary's time to promotion and the no-metrics canary's time to pause are
reported beside them. Setup (a small database trained into a model store, cached under
``benchmarks/data/rollout/``; the predictors' start) is not timed.

    python benchmarks/bench_rollout.py [--repeat 1]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]
DATA = ROOT / "benchmarks" / "data" / "rollout"
WORK = ROOT / "var" / "bench" / "rollout"
RESULTS = ROOT / "benchmarks" / "results" / "rollout.json"
TARGET_INTERVALS = 2.0
"""Most analysis intervals from the first judged one to the canary at 0 %."""


def trained_store() -> tuple[Path, Path]:
    """A model store with a champion and the features it was trained on (cached)."""
    from customer_classifier import jobs
    from customer_classifier.data.database import connect, write_master_data
    from customer_classifier.data.generate import GeneratorConfig, generate
    from customer_classifier.registry import CHAMPION, LocalModelStore
    from customer_classifier.settings import ExplicitSettings

    store, features = DATA / "store", DATA / "work" / "features" / "test.parquet"
    if features.is_file() and LocalModelStore(store).get_alias(CHAMPION) is not None:
        return store, features
    shutil.rmtree(DATA, ignore_errors=True)
    DATA.mkdir(parents=True)
    url = f"sqlite:///{DATA / 'master.db'}"
    engine = connect(url, create_dir=True)
    write_master_data(engine, generate(GeneratorConfig(n_customers=3000, seed=11)))
    engine.dispose()
    settings = ExplicitSettings(
        database_url=url,
        store_uri=str(store),
        work_dir=DATA / "runs",
        candidates=("heuristic", "logistic_regression"),
    )
    work = DATA / "work"
    jobs.ingest_data(settings, work / "snapshot")
    jobs.build_features(settings, work / "snapshot", work / "features")
    jobs.train_models(settings, work / "features", work / "bundle", work / "training.html")
    registered = jobs.register_model(settings, work / "bundle")
    if not registered.promoted:
        trained = LocalModelStore(store).list_versions()[-1].version
        LocalModelStore(store).set_alias(CHAMPION, trained, reason="benchmark champion")
    return store, features


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The worst figures of a fault kind over modes and repeats."""

    def worst(key: str) -> float | None:
        values = [r[key] for r in runs if r[key] is not None]
        return max(values) if values else None

    after_first = worst("intervals_after_first_analysis")
    return {
        "runs": len(runs),
        "rolled_back": all(r["outcome"] == "rollback" for r in runs),
        "seconds_to_zero_max": worst("seconds_to_zero"),
        "intervals_to_zero_max": worst("intervals_to_zero"),
        "intervals_after_first_analysis_max": after_first,
        "failed_requests_until_zero_max": worst("failed_requests_until_zero"),
        "failed_requests_until_zero_stable_max": worst("failed_requests_until_zero_stable"),
        "target_met": after_first is not None and after_first <= TARGET_INTERVALS,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs of every scenario")
    args = parser.parse_args()

    import pandas as pd

    from tests.integration.rollout.harness import FAULTS, MODES, rig, rollout_settings

    store, features = trained_store()
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    load_before = os.getloadavg()
    faults: dict[str, list[dict[str, Any]]] = {kind: [] for kind in FAULTS}
    others: dict[str, list[dict[str, Any]]] = {"healthy": [], "silent": []}
    started = time.perf_counter()
    with rig(WORK, store, pd.read_parquet(features)) as running:
        setup_s = time.perf_counter() - started
        settings = rollout_settings(running.prometheus_url)
        for _ in range(args.repeat):
            for mode in MODES:
                for kind in (*FAULTS, "healthy", "silent"):
                    result = running.run(mode, kind)
                    figures = result.figures()
                    last = result.decisions[-1][0] - result.decisions[0][0]
                    figures["seconds_to_final_decision"] = round(last, 3)
                    (faults[kind] if kind in faults else others[kind]).append(figures)
                    print(json.dumps(figures), flush=True)
    report = {
        "benchmark": "rollout",
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "setup_seconds": round(setup_s, 1),
        "settings": {
            key: getattr(settings, key)
            for key in (
                "steps",
                "interval_s",
                "min_requests",
                "failure_threshold",
                "intervals_per_step",
                "max_intervals_per_step",
                "latency_floor_s",
                "max_error_ratio_increase",
                "max_latency_ratio",
                "max_score_divergence",
                "max_label_mix_shift",
            )
        },
        "faults_injected": FAULTS,
        "target": {"intervals_after_first_analysis_max": TARGET_INTERVALS},
        "summary": {kind: summary(runs) for kind, runs in faults.items()},
        "faults": faults,
        "healthy_promotion": others["healthy"],
        "no_metrics_pause": others["silent"],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["summary"], indent=2))
    print(f"written: {RESULTS.relative_to(ROOT)}")
    return 0 if all(s["target_met"] and s["rolled_back"] for s in report["summary"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
