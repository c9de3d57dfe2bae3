"""Training step: every candidate, the chosen bundle, the report and UI figures."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd

from customer_classifier import __version__
from customer_classifier.evaluation.metrics import roc_points
from customer_classifier.evaluation.report import write_training_report
from customer_classifier.registry import ModelBundle, save_bundle
from customer_classifier.settings import Settings
from customer_classifier.training.candidates import make_candidates
from customer_classifier.training.train import SPLITS, train_and_select


def code_version() -> str:
    """The git SHA the image was built from (CC_CODE_VERSION), else the checkout's, else the
    package version."""
    if os.environ.get("CC_CODE_VERSION"):
        return os.environ["CC_CODE_VERSION"]
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=5,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return __version__


# -- training ------------------------------------------------------------------------------


def train_models(
    settings: Settings, features_dir: Path, bundle_dir: Path, report_path: Path
) -> dict[str, Any]:
    """Train every candidate, select one, save its bundle and the report.

    Returns the figures the pipeline logs as KFP Metrics and ClassificationMetrics.
    """
    manifest = json.loads((features_dir / "manifest.json").read_text(encoding="utf-8"))
    frames = {s: pd.read_parquet(features_dir / f"{s}.parquet") for s in SPLITS}
    outcome = train_and_select(
        frames,
        make_candidates(settings.candidates, settings.seed),
        precision_target=settings.precision_target,
        min_recall=settings.min_recall,
        folds=settings.cv_folds,
        seed=settings.seed,
    )
    chosen = outcome.chosen
    candidates: dict[str, dict[str, Any]] = {
        r.name: {
            "threshold": r.threshold.threshold,
            "target_met": r.threshold.target_met,
            "cv_pr_auc": r.cv_pr_auc,
            "params": r.params,
            "validation": r.validation.scalars(),
            "test": r.test.scalars(),
        }
        for r in outcome.results
    }
    metadata = {
        "candidate": chosen.name,
        "params": chosen.params,
        "threshold_policy": chosen.threshold.policy,
        "metrics": {"validation": chosen.validation.scalars(), "test": chosen.test.scalars()},
        "baseline_metrics": {"test": outcome.baseline.test.scalars()},
        "candidates": candidates,
        "data_snapshot_hash": manifest["content_hash"],
        "evaluation_window": manifest["windows"],
        "label_rule": manifest["label_rule"],
        "code_version": code_version(),
        "precision_target": settings.precision_target,
        "min_recall": settings.min_recall,
        "trained_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    save_bundle(
        ModelBundle(model=chosen.model, threshold=chosen.threshold.threshold, metadata=metadata),
        bundle_dir,
    )
    write_training_report(
        outcome,
        report_path,
        precision_target=settings.precision_target,
        min_recall=settings.min_recall,
        context={
            "data snapshot": manifest["content_hash"][:16],
            "code version": metadata["code_version"],
        },
    )
    fpr, tpr, thr = roc_points(outcome.test_labels, chosen.test_scores)
    return {
        "chosen": chosen.name,
        "threshold": chosen.threshold.threshold,
        "metrics": {f"test_{k}": v for k, v in chosen.test.scalars().items()},
        "candidates": {name: c["test"]["precision"] for name, c in candidates.items()},
        "baseline_precision_at_min_recall": outcome.baseline.test.precision_at_min_recall,
        "confusion": chosen.test.confusion,
        "roc": {"fpr": fpr, "tpr": tpr, "thresholds": thr},
    }
