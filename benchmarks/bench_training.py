"""Benchmark of the Keras candidate's training: 1,000,000 rows, whatever the device.

Setup (not timed): a Master Data database from the project's generator, its snapshot and
its feature windows, cached under ``benchmarks/data/``; then a training set of
``--rows`` rows drawn with replacement from the generated training window, each numeric
feature jittered by a few per cent (seeded), so the network sees 1,000,000 distinct rows
with the generator's signal. The validation and test windows are the generated ones.

Timed: ``KerasMLPClassifier.fit`` for a fixed number of epochs (early stopping cannot end
it sooner), with its own per-epoch figures. The same command runs unchanged on a machine
with an NVIDIA GPU (mixed precision and the GPU batch size switch on by themselves).
Written as JSON (default ``benchmarks/results/training.json``): device, samples/s, epoch
seconds, and the validation precision at the threshold the project's rule chooses.

    make bench-training
    .venv/bin/python benchmarks/bench_training.py --rows 200000 --epochs 2   # a quick look
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT / "benchmarks" / "data"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "training.json"
LAYOUT = 1
"""Bump when the cached feature windows must be rebuilt."""


def _log(message: str) -> None:
    print(f"[bench-training] {message}", file=sys.stderr, flush=True)


def ensure_features(data_dir: Path, customers: int, seed: int) -> Path:
    """The cached feature windows of a generated database of ``customers`` customers."""
    from customer_classifier import jobs
    from customer_classifier.data.database import connect, write_master_data
    from customer_classifier.data.generate import GeneratorConfig, generate
    from customer_classifier.settings import Settings

    folder = data_dir / f"training_{customers}_{seed}"
    marker = folder / "features" / "manifest.json"
    if marker.exists() and json.loads(marker.read_text()).get("bench_layout") == LAYOUT:
        _log(f"reusing {folder / 'features'}")
        return folder / "features"
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "master.db"
    db.unlink(missing_ok=True)
    started = time.perf_counter()
    _log(f"generating {customers:,} customers into {db}")
    engine = connect(f"sqlite:///{db}", create_dir=True)
    write_master_data(engine, generate(GeneratorConfig(n_customers=customers, seed=seed)))
    engine.dispose()
    settings = Settings(
        database_url=f"sqlite:///{db}", store_uri=str(folder / "store"), work_dir=folder / "runs"
    )
    jobs.ingest_data(settings, folder / "snapshot")
    jobs.build_features(settings, folder / "snapshot", folder / "features")
    manifest = json.loads(marker.read_text())
    marker.write_text(json.dumps({**manifest, "bench_layout": LAYOUT}, indent=2))
    # Only the feature windows are read again: keep the cache small.
    shutil.rmtree(folder / "snapshot", ignore_errors=True)
    shutil.rmtree(folder / "runs", ignore_errors=True)
    db.unlink(missing_ok=True)
    _log(f"feature windows ready in {time.perf_counter() - started:.0f} s")
    return folder / "features"


def enlarge(train: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    """``rows`` rows drawn with replacement, numeric features jittered by ~5 %."""
    from customer_classifier.features.build import FEATURE_SCHEMA

    rng = np.random.default_rng(seed)
    out = train.iloc[rng.integers(0, len(train), rows)].reset_index(drop=True)
    for spec in FEATURE_SCHEMA:
        if spec.kind != "numeric" or spec.maximum == 1:
            continue  # flags, shares and rates keep their exact values
        values = out[spec.name].to_numpy(dtype=float)
        noisy = values * rng.lognormal(0.0, 0.05, rows)
        out[spec.name] = np.clip(noisy, spec.minimum, spec.maximum)
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    import keras

    from customer_classifier.evaluation.metrics import evaluate
    from customer_classifier.evaluation.threshold import choose_threshold
    from customer_classifier.features.build import FEATURE_NAMES
    from customer_classifier.settings import DeepLearningSettings
    from customer_classifier.training.heuristic import HeuristicRules
    from customer_classifier.training.keras_mlp import KerasMLPClassifier

    features = ensure_features(args.data_dir, args.customers, args.seed)
    frames = {
        s: pd.read_parquet(features / f"{s}.parquet") for s in ("train", "validation", "test")
    }
    train = enlarge(frames["train"], args.rows, args.seed)
    names = list(FEATURE_NAMES)
    settings = DeepLearningSettings(max_epochs=args.epochs, patience=args.epochs + 1)
    estimator = KerasMLPClassifier(settings, seed=args.seed)
    _log(f"training on {len(train):,} rows for {args.epochs} epochs")
    started = time.perf_counter()
    estimator.fit(
        train[names],
        train["label"].to_numpy(dtype=int),
        validation_data=(frames["validation"][names], frames["validation"]["label"].to_numpy()),
    )
    fit_seconds = time.perf_counter() - started
    training = estimator.training_
    figures: dict[str, Any] = {}
    y_valid = frames["validation"]["label"].to_numpy(dtype=int)
    for name, model in (("keras_mlp", estimator), ("heuristic", HeuristicRules())):
        if name == "heuristic":
            model.fit(frames["train"][names], frames["train"]["label"])
        valid = model.predict_proba(frames["validation"][names])[:, 1]
        choice = choose_threshold(y_valid, valid, args.precision_target, args.min_recall)
        report = evaluate(y_valid, valid, choice.threshold, args.min_recall)
        test_y = frames["test"]["label"].to_numpy(dtype=int)
        test = evaluate(
            test_y,
            model.predict_proba(frames["test"][names])[:, 1],
            choice.threshold,
            args.min_recall,
        )
        figures[name] = {
            "threshold": choice.threshold,
            "target_met": choice.target_met,
            "validation_precision": report.precision,
            "validation_recall": report.recall,
            "validation_pr_auc": report.pr_auc,
            "test_precision": test.precision,
            "test_recall": test.recall,
            "test_pr_auc": test.pr_auc,
        }
    ours = figures["keras_mlp"]
    return {
        "benchmark": "training of the Keras candidate",
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "device": training["device"],
        "device_kind": training["device_kind"],
        "keras_backend": keras.backend.backend(),
        "dtype_policy": training["dtype_policy"],
        "strategy": training["strategy"],
        "rows": len(train),
        "batch_size": training["batch_size"],
        "epochs": int(training["epochs_run"]),
        "samples_per_second": training["samples_per_second"],
        "epoch_seconds": training["epoch_seconds"],
        "first_epoch_seconds": training["first_epoch_seconds"],
        "fit_seconds": fit_seconds,
        "final_validation_precision": ours["validation_precision"],
        "final_validation_recall": ours["validation_recall"],
        "final_validation_pr_auc": ours["validation_pr_auc"],
        "candidates": figures,
        "per_epoch": [
            {
                k: e[k]
                for k in ("epoch", "seconds", "samples_per_second", "loss", "val_pr_auc")
                if k in e
            }
            for e in training["epochs"]
        ],
        "data": {
            "generated_customers": args.customers,
            "seed": args.seed,
            "train_window_rows": len(frames["train"]),
            "validation_rows": len(frames["validation"]),
            "test_rows": len(frames["test"]),
            "enlargement": "rows drawn with replacement, numeric features jittered ~5 %",
        },
        "rule": {"precision_target": args.precision_target, "min_recall": args.min_recall},
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "keras": keras.__version__,
            "platform": platform.platform(),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--epochs", type=int, default=3, help="fixed: no early stop")
    parser.add_argument("--customers", type=int, default=100_000, help="generated database")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--precision-target", type=float, default=0.8)
    parser.add_argument("--min-recall", type=float, default=0.3)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    result = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    summary = {
        k: result[k]
        for k in (
            "device",
            "rows",
            "batch_size",
            "epochs",
            "samples_per_second",
            "epoch_seconds",
            "final_validation_precision",
        )
    }
    print(json.dumps(summary, indent=2))
    _log(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
