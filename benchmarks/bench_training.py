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

On a machine with an NVIDIA GPU the result also holds ``gpu``: the GPU's utilisation
sampled from ``nvidia-smi`` every 0.2 s through the fit, the CPU figure of the same code
(the same rows, ``--cpu-epochs`` epochs in a child process that sees no GPU), the speed-up
and the targets (at least 10x the CPU samples/s, the GPU busy at least 60 % of the
steady epochs), and what bounds it when a target is missed. Where TensorFlow's GPU build
is not installed but JAX with CUDA is, Keras runs on the JAX backend (``KERAS_BACKEND``
set by hand wins).

    make bench-training
    .venv/bin/python benchmarks/bench_training.py --rows 200000 --epochs 2   # a quick look
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
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


TARGET_SPEEDUP = 10.0
TARGET_BUSY_PERCENT = 60.0


def has_nvidia_gpu() -> bool:
    from customer_classifier.training.accelerator import gpu_utilisation

    return gpu_utilisation() is not None


def choose_backend() -> str | None:
    """JAX where a GPU is present but TensorFlow's build cannot use it; None: leave it."""
    if "KERAS_BACKEND" in os.environ or not has_nvidia_gpu():
        return None
    probe = "import tensorflow as tf; print(len(tf.config.list_physical_devices('GPU')))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False
    )
    if done.returncode == 0 and done.stdout.strip().splitlines()[-1:] != ["0"]:
        return None
    if importlib.util.find_spec("jax") is None:
        _log(
            "a GPU is present but neither TensorFlow's GPU build nor JAX is installed: "
            "the figures are the CPU's (pip install 'jax[cuda12]' or use the training-gpu image)"
        )
        return None
    os.environ["KERAS_BACKEND"] = "jax"
    return "jax"


class UtilisationSampler:
    """GPU 0's utilisation from ``nvidia-smi`` every ``interval`` seconds, on a thread."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from customer_classifier.training.accelerator import gpu_utilisation

        start = time.perf_counter()
        while not self._stop.wait(self.interval):
            found = gpu_utilisation()
            if found is not None:
                self.samples.append((time.perf_counter() - start, found["gpu_utilisation_percent"]))

    def __enter__(self) -> UtilisationSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=15)


def cpu_reference(args: argparse.Namespace) -> dict[str, Any]:
    """The same training on the CPU only, in a child that sees no GPU."""
    with tempfile.TemporaryDirectory(prefix="bench-training-cpu-") as tmp:
        out = Path(tmp) / "cpu.json"
        command = [
            sys.executable,
            __file__,
            "--rows",
            str(args.rows),
            "--epochs",
            str(args.cpu_epochs),
            "--customers",
            str(args.customers),
            "--seed",
            str(args.seed),
            "--data-dir",
            str(args.data_dir),
            "--out",
            str(out),
            "--no-gpu-report",
        ]
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "JAX_PLATFORMS": "cpu"}
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
        figures: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return figures


def gpu_report(
    result: dict[str, Any], samples: list[tuple[float, float]], cpu: dict[str, Any]
) -> dict[str, Any]:
    """Speed-up, utilisation of the steady epochs, the targets, and what bounds a miss."""
    steady_from = float(result["first_epoch_seconds"])
    steady = [busy for at, busy in samples if at >= steady_from] or [b for _, b in samples]
    busy = float(np.mean(steady)) if steady else float("nan")
    speedup = result["samples_per_second"] / cpu["samples_per_second"]
    bounds = []
    if not busy >= TARGET_BUSY_PERCENT:
        if result["batch_size"] < 8192:
            bounds.append(
                f"batch size {result['batch_size']}: each step launches too little work; "
                "raise CC_DL__BATCH_SIZE_PER_GPU"
            )
        bounds.append(
            "the input pipeline and host-to-device transfer: the GPU waits for batches; "
            "raise CC_DL__STEPS_PER_EXECUTION and keep the data on the device"
        )
    if speedup < TARGET_SPEEDUP and busy >= TARGET_BUSY_PERCENT:
        bounds.append("the model is small for the GPU: the device is busy but each sample is cheap")
    return {
        "samples_per_second": result["samples_per_second"],
        "cpu_samples_per_second": cpu["samples_per_second"],
        "cpu_batch_size": cpu["batch_size"],
        "cpu_epochs": cpu["epochs"],
        "speedup": round(speedup, 2),
        "utilisation_mean_percent_steady": round(busy, 1),
        "utilisation_samples": len(samples),
        "targets": {
            "speedup": TARGET_SPEEDUP,
            "busy_percent": TARGET_BUSY_PERCENT,
            "speedup_met": speedup >= TARGET_SPEEDUP,
            "busy_met": busy >= TARGET_BUSY_PERCENT,
        },
        "bound_by": bounds,
    }


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
    sampler = UtilisationSampler()
    started = time.perf_counter()
    with sampler if args.gpu_report and has_nvidia_gpu() else contextlib.nullcontext():
        estimator.fit(
            train[names],
            train["label"].to_numpy(dtype=int),
            validation_data=(
                frames["validation"][names],
                frames["validation"]["label"].to_numpy(),
            ),
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
    result = {
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
    if args.gpu_report and training["device_kind"] == "gpu":
        _log("the CPU figure of the same code, for the speed-up")
        result["gpu"] = gpu_report(result, sampler.samples, cpu_reference(args))
    elif args.gpu_report:
        result["gpu"] = None
        result["gpu_note"] = "no NVIDIA GPU visible to the Keras backend: CPU figures only"
    return result


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
    parser.add_argument("--cpu-epochs", type=int, default=1, help="of the CPU reference run")
    parser.add_argument("--no-gpu-report", dest="gpu_report", action="store_false")
    args = parser.parse_args(argv)
    if args.gpu_report:
        backend = choose_backend()
        if backend:
            _log(f"KERAS_BACKEND={backend}: TensorFlow's build here cannot use the GPU")
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
    if result.get("gpu"):
        summary["gpu"] = result["gpu"]
    print(json.dumps(summary, indent=2))
    _log(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
