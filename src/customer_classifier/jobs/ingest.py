"""Ingest and feature steps: the Parquet snapshot and the per-window feature frames."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from customer_classifier.data.database import connect, iter_chunks, read_customers
from customer_classifier.data.evidence import VerificationEvidence, evidence_of, read_verification
from customer_classifier.errors import DataSourceError
from customer_classifier.features import build as feature_records
from customer_classifier.features.aggregates import iter_aggregates
from customer_classifier.features.labels import fetch_labels
from customer_classifier.jobs.verify import verify_data
from customer_classifier.settings import Settings


def last_sale_date(engine: sa.Engine) -> dt.date:
    with engine.connect() as conn:
        value = conn.exec_driver_sql("SELECT MAX(sold_at) FROM sales").scalar()
    if value is None:
        raise DataSourceError("the sales table is empty: nothing to learn from or score")
    day: dt.date = pd.Timestamp(value).date()
    return day


def as_of_date(settings: Settings, engine: sa.Engine) -> dt.date:
    """``CC_AS_OF``, else the day after the newest sale: the date a run scores as of."""
    return settings.as_of or last_sale_date(engine) + dt.timedelta(days=1)


def training_dates(reference: dt.date, horizon_days: int) -> dict[str, dt.date]:
    """As-of dates of the three windows, each label window ending where the next begins."""
    step = dt.timedelta(days=horizon_days)
    test = reference - step
    return {"train": test - 2 * step, "validation": test - step, "test": test}


def frame_hash(frame: pd.DataFrame) -> str:
    hashed = pd.util.hash_pandas_object(frame, index=True).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()


def verification_evidence(
    settings: Settings, engine: sa.Engine, verification: Path | None, out_dir: Path
) -> VerificationEvidence:
    """The verification of the source this snapshot reads, to record in its manifest.

    ``verification`` is the verify step's JSON output (the pipeline passes it). Without
    it the source is verified now, into ``out_dir/verification``, so that no snapshot
    goes without the evidence the gate asks for. Blocking findings stop the run there.
    """
    if verification is None:
        evidence = evidence_of(verify_data(settings, out_dir / "verification"))
    else:
        evidence = evidence_of(read_verification(verification.read_text(encoding="utf-8")))
    here = engine.url.render_as_string(hide_password=True)
    if evidence.database != here:
        raise DataSourceError(
            f"the verification result {verification} is of database {evidence.database}, "
            f"but this snapshot reads {here}: pass the output of the verification step "
            "that ran on the same database"
        )
    return evidence


@dataclass(frozen=True)
class Snapshot:
    """What the ingest step wrote: its manifest's figures (``manifest.json`` has them all)."""

    content_hash: str
    """Hash of every frame written: the data identity a model version records."""
    reference_date: str
    as_of: dict[str, str]
    """As-of date of each window (train, validation, test)."""
    rows: dict[str, int]
    verification: dict[str, Any]
    """The verification evidence the gate checks (:mod:`customer_classifier.data.evidence`)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class WindowSummary:
    as_of: str
    rows: int
    positive_rate: float


@dataclass(frozen=True)
class FeatureWindows:
    """What the features step wrote: one Parquet per window, of this snapshot."""

    snapshot: str
    windows: dict[str, WindowSummary]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ingest_data(settings: Settings, out_dir: Path, *, verification: Path | None = None) -> Snapshot:
    """Customers, per-window sales aggregates and label spend, as Parquet plus a manifest.

    The manifest records the verification of the source (see
    :func:`verification_evidence`); the features manifest and the model bundle carry it
    on to the gate.
    """
    engine = connect(settings.database_url)
    out_dir.mkdir(parents=True, exist_ok=True)
    evidence = verification_evidence(settings, engine, verification, out_dir)
    reference = as_of_date(settings, engine)
    dates = training_dates(reference, settings.label.horizon_days)
    customers = read_customers(engine)
    if customers.empty:
        raise DataSourceError("the customers table is empty")
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
        # Labels for every customer with sales; the features step keeps the active ones.
        labels = fetch_labels(
            engine, pd.Index(aggregates["customer_id"], name="customer_id"), as_of, settings.label
        )
        labels.to_frame().to_parquet(out_dir / f"labels_{split}.parquet")
        hashes[split] = frame_hash(aggregates)
        rows[f"aggregates_{split}"] = len(aggregates)
    window_dates = {k: v.isoformat() for k, v in dates.items()}
    content_hash = hashlib.sha256(json.dumps(hashes, sort_keys=True).encode()).hexdigest()
    manifest = {
        "database": engine.url.render_as_string(hide_password=True),
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "reference_date": reference.isoformat(),
        "as_of": window_dates,
        "rows": rows,
        "content_hash": content_hash,
        "label_rule": settings.label.model_dump(),
        "verification": evidence.to_dict(),
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return Snapshot(
        content_hash=content_hash,
        reference_date=reference.isoformat(),
        as_of=window_dates,
        rows=rows,
        verification=evidence.to_dict(),
    )


def build_features(settings: Settings, snapshot_dir: Path, out_dir: Path) -> FeatureWindows:
    """One Parquet per window: the feature records plus the label."""
    manifest = json.loads((snapshot_dir / "manifest.json").read_text(encoding="utf-8"))
    customers = pd.read_parquet(snapshot_dir / "customers.parquet")
    out_dir.mkdir(parents=True, exist_ok=True)
    windows: dict[str, WindowSummary] = {}
    for split in manifest["as_of"]:  # the windows training_dates made: train, validation, test
        as_of = dt.date.fromisoformat(manifest["as_of"][split])
        aggregates = pd.read_parquet(snapshot_dir / f"aggregates_{split}.parquet")
        features = feature_records.build_features(
            customers, aggregates, as_of, settings.active_window_days
        )
        labels = pd.read_parquet(snapshot_dir / f"labels_{split}.parquet")["label"]
        features["label"] = labels.reindex(features.index).fillna(0).astype("int8")
        features.to_parquet(out_dir / f"{split}.parquet")
        windows[split] = WindowSummary(
            as_of.isoformat(), len(features), float(features["label"].mean())
        )
    result = FeatureWindows(manifest["content_hash"], windows)
    (out_dir / "manifest.json").write_text(
        json.dumps({**manifest, **result.to_dict()}, indent=2), encoding="utf-8"
    )
    return result
