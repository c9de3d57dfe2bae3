"""The steps of the pipelines as plain functions: settings and paths in, summaries out.

KFP components and the CLI both call these, so a step runs the same on a laptop, in
``kfp.local`` and on the cluster. I/O happens here, at the edge; the logic they call
takes and returns data.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import subprocess
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from customer_classifier import __version__
from customer_classifier.data.database import connect, iter_chunks
from customer_classifier.data.profile import DataProfile, profile_database
from customer_classifier.data.validation import (
    VerificationResult,
    raise_on_blocking,
    verify,
    write_report,
)
from customer_classifier.errors import DataSourceError
from customer_classifier.evaluation.metrics import roc_points
from customer_classifier.evaluation.report import write_training_report
from customer_classifier.features.aggregates import iter_aggregates
from customer_classifier.features.build import build_features
from customer_classifier.features.labels import fetch_labels
from customer_classifier.registry import ModelBundle, load_bundle, open_store, save_bundle
from customer_classifier.scoring.batch import ScoringSummary, customer_ids, score_customers
from customer_classifier.settings import Settings
from customer_classifier.training.candidates import make_candidates
from customer_classifier.training.train import SPLITS, train_and_select

log = logging.getLogger(__name__)
CHAMPION, CHALLENGER = "champion", "challenger"


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


# -- verification ------------------------------------------------------------------------


def _profile_state(settings: Settings) -> Path:
    return settings.work_dir / "state" / "last_profile.json"


def verify_data(settings: Settings, report_dir: Path) -> VerificationResult:
    """Profile the source, judge it, write the report; raise on blocking findings.

    The profile of a passing run becomes the reference for the next run's volume check.
    """
    engine = connect(settings.database_url)
    profile = profile_database(engine)
    state = _profile_state(settings)
    previous = (
        DataProfile.model_validate_json(state.read_text(encoding="utf-8"))
        if state.exists()
        else None
    )
    result = verify(profile, settings.verification, previous)
    write_report(result, report_dir / "verification.html", report_dir / "verification.json")
    raise_on_blocking(result)
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(profile.model_dump_json(indent=2), encoding="utf-8")
    return result


# -- ingest --------------------------------------------------------------------------------


def last_sale_date(engine: sa.Engine) -> dt.date:
    with engine.connect() as conn:
        value = conn.exec_driver_sql("SELECT MAX(sold_at) FROM sales").scalar()
    if value is None:
        raise DataSourceError("the sales table is empty: nothing to learn from or score")
    day: dt.date = pd.Timestamp(value).date()
    return day


def training_dates(reference: dt.date, horizon_days: int) -> dict[str, dt.date]:
    """As-of dates of the three windows, each label window ending where the next begins."""
    step = dt.timedelta(days=horizon_days)
    test = reference - step
    return {"train": test - 2 * step, "validation": test - step, "test": test}


def frame_hash(frame: pd.DataFrame) -> str:
    hashed = pd.util.hash_pandas_object(frame, index=True).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()


def _read_customers(engine: sa.Engine) -> pd.DataFrame:
    from customer_classifier.scoring.batch import read_customers

    ids = customer_ids(engine)
    if not ids:
        raise DataSourceError("the customers table is empty")
    return read_customers(engine, ids[0], ids[-1])


def ingest_snapshot(settings: Settings, out_dir: Path) -> dict[str, Any]:
    """Customers, per-window sales aggregates and label spend, as Parquet plus a manifest."""
    engine = connect(settings.database_url)
    reference = settings.as_of or (last_sale_date(engine) + dt.timedelta(days=1))
    dates = training_dates(reference, settings.label.horizon_days)
    out_dir.mkdir(parents=True, exist_ok=True)
    customers = _read_customers(engine)
    customers.to_parquet(out_dir / "customers.parquet", index=False)
    ids = customers["customer_id"].sort_values().tolist()
    bounds = list(iter_chunks(ids, settings.chunk_customers))
    hashes = {"customers": frame_hash(customers)}
    rows = {"customers": len(customers)}
    for split, as_of in dates.items():
        aggregates = pd.concat(
            list(
                iter_aggregates(
                    engine,
                    as_of,
                    bounds,
                    active_window_days=settings.active_window_days,
                    threads=settings.scoring_threads,
                )
            ),
            ignore_index=True,
        )
        aggregates.to_parquet(out_dir / f"aggregates_{split}.parquet", index=False)
        features = build_features(customers, aggregates, as_of, settings.active_window_days)
        labels = fetch_labels(engine, features.index, as_of, settings.label)
        labels.to_frame().to_parquet(out_dir / f"labels_{split}.parquet")
        hashes[split] = frame_hash(aggregates)
        rows[f"aggregates_{split}"] = len(aggregates)
    manifest = {
        "database": engine.url.render_as_string(hide_password=True),
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "reference_date": reference.isoformat(),
        "as_of": {k: v.isoformat() for k, v in dates.items()},
        "rows": rows,
        "content_hash": hashlib.sha256(json.dumps(hashes, sort_keys=True).encode()).hexdigest(),
        "label_rule": settings.label.model_dump(),
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return manifest


# -- features and labels ------------------------------------------------------------------


def build_training_frames(settings: Settings, snapshot_dir: Path, out_dir: Path) -> dict[str, Any]:
    """One Parquet per window: the feature records plus the label."""
    manifest = json.loads((snapshot_dir / "manifest.json").read_text(encoding="utf-8"))
    customers = pd.read_parquet(snapshot_dir / "customers.parquet")
    out_dir.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"snapshot": manifest["content_hash"], "windows": {}}
    for split in SPLITS:
        as_of = dt.date.fromisoformat(manifest["as_of"][split])
        aggregates = pd.read_parquet(snapshot_dir / f"aggregates_{split}.parquet")
        features = build_features(customers, aggregates, as_of, settings.active_window_days)
        labels = pd.read_parquet(snapshot_dir / f"labels_{split}.parquet")["label"]
        features["label"] = labels.reindex(features.index).fillna(0).astype("int8")
        features.to_parquet(out_dir / f"{split}.parquet")
        summary["windows"][split] = {
            "as_of": as_of.isoformat(),
            "rows": len(features),
            "positive_rate": float(features["label"].mean()),
        }
    (out_dir / "manifest.json").write_text(
        json.dumps({**manifest, **summary}, indent=2), encoding="utf-8"
    )
    return summary


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


# -- registry ------------------------------------------------------------------------------


def register_model(settings: Settings, bundle_dir: Path) -> dict[str, Any]:
    """Register the bundle, alias it challenger, and make it champion when it earns it.

    It earns it when, on the test window, its precision at the required recall beats the
    heuristic baseline's (the first model) and the current champion's recorded figure.
    """
    bundle = load_bundle(bundle_dir, check=False)
    store = open_store(settings.store_uri)
    version = store.register(bundle).version
    current = store.get_alias(CHAMPION)
    store.set_alias(CHALLENGER, version, reason="newly trained")
    mine = bundle.metadata["metrics"]["test"]["precision_at_min_recall"]
    baseline = bundle.metadata["baseline_metrics"]["test"]["precision_at_min_recall"]
    reasons = [
        f"precision@recall>={settings.min_recall:.2f}: {mine:.4f} vs heuristic {baseline:.4f}"
    ]
    promote = bundle.metadata["candidate"] != "heuristic" and mine > baseline
    if current is not None:
        theirs = store.get(current).metadata["metrics"]["test"]["precision_at_min_recall"]
        reasons.append(f"vs champion {current}: {theirs:.4f}")
        promote = promote and mine >= theirs
    if promote:
        store.set_alias(CHAMPION, version, expected=current, reason="; ".join(reasons))
    return {
        "version": version,
        "promoted": promote,
        "champion": store.get_alias(CHAMPION),
        "reasons": reasons,
    }


# -- scoring -------------------------------------------------------------------------------


def score_nightly(
    settings: Settings,
    version: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ScoringSummary:
    """Score every active customer with the champion (or ``version``) and swap the table in."""
    engine = connect(settings.database_url)
    store = open_store(settings.store_uri)
    version = version or store.get_alias(CHAMPION)
    if version is None:
        from customer_classifier.errors import RegistryError

        raise RegistryError(f"no champion in {store.uri}; run training first ('make run')")
    bundle = store.load(version)
    as_of = settings.as_of or (last_sale_date(engine) + dt.timedelta(days=1))
    return score_customers(
        engine,
        bundle,
        version,
        as_of,
        table=settings.predictions_table,
        active_window_days=settings.active_window_days,
        chunk_customers=settings.chunk_customers,
        threads=settings.scoring_threads,
        progress=progress,
    )


def summary_dict(summary: ScoringSummary) -> dict[str, Any]:
    out = asdict(summary)
    out["as_of"] = summary.as_of.isoformat()
    return out
