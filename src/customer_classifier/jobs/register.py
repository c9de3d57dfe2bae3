"""Registry step: register the bundle, alias it challenger, and run the champion gate.

The new version is always registered and aliased ``challenger``. It becomes ``champion``
only when the gate (:mod:`customer_classifier.registry.gate`) passes: it loads back from
the store with every checksum right, beats the heuristic baseline, and beats the current
champion by ``CC_PROMOTION_MARGIN`` in precision at the required recall *on the same
evaluation window*. With this run's features the champion is re-scored on this run's
test window; without them its recorded figure counts only when it was measured on the
very same window (same data snapshot, as-of date, label rule and required recall).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from customer_classifier.errors import AliasConflictError, CustomerClassifierError, RegistryError
from customer_classifier.evaluation.threshold import precision_at_recall
from customer_classifier.features.build import FEATURE_SCHEMA
from customer_classifier.registry import CHALLENGER, CHAMPION, ModelBundle, load_bundle, open_store
from customer_classifier.registry.gate import (
    ChampionEvidence,
    GateInputs,
    decide,
    window_differences,
)
from customer_classifier.registry.store import ModelStore, default_actor
from customer_classifier.settings import Settings


def lineage(
    metadata: dict[str, Any], extra: dict[str, str] | None = None, actor: str | None = None
) -> dict[str, Any]:
    """Where a version comes from: data, code, image, run, parameters, metrics, window, and
    who registered it (``actor``, default: the OS user)."""
    extra = extra or {}
    windows: dict[str, Any] = metadata.get("evaluation_window", {})
    return {
        "data_snapshot_hash": metadata.get("data_snapshot_hash"),
        "as_of": {split: w.get("as_of") for split, w in windows.items()},
        "label_rule": metadata.get("label_rule"),
        "code_version": metadata.get("code_version"),
        "image": extra.get("image") or os.environ.get("CC_IMAGE") or "unknown",
        "pipeline_run_id": (
            extra.get("pipeline_run_id") or os.environ.get("CC_PIPELINE_RUN_ID") or "unknown"
        ),
        "parameters": {
            "candidate": metadata.get("candidate"),
            "params": metadata.get("params"),
            "candidates": sorted(metadata.get("candidates", {})),
            "precision_target": metadata.get("precision_target"),
            "min_recall": metadata.get("min_recall"),
            "threshold_policy": metadata.get("threshold_policy"),
        },
        "metrics": metadata.get("metrics"),
        "evaluation_window": windows,
        "registered_by": default_actor(actor),
    }


def probe_frame() -> pd.DataFrame:
    """One valid feature record (each numeric at its minimum, each category its first)."""
    row = {
        f.name: (f.categories[0] if f.categories else None)
        if f.kind == "categorical"
        else float(f.minimum or 0.0)
        for f in FEATURE_SCHEMA
    }
    return pd.DataFrame([row])


def _test_window(features_dir: Path, snapshot_hash: str) -> pd.DataFrame:
    manifest = json.loads((features_dir / "manifest.json").read_text(encoding="utf-8"))
    if manifest.get("content_hash") != snapshot_hash:
        raise RegistryError(
            f"the features in {features_dir} come from snapshot "
            f"{str(manifest.get('content_hash'))[:12]}, the model from {snapshot_hash[:12]}; "
            "pass the features of the run that trained this model"
        )
    return pd.read_parquet(features_dir / "test.parquet")


def _score(bundle: ModelBundle, frame: pd.DataFrame) -> np.ndarray:
    scores = bundle.score(frame)
    if scores.shape != (len(frame),) or not np.all(np.isfinite(scores)):
        raise RegistryError("the model's scores are not one finite number per record")
    if scores.min() < 0 or scores.max() > 1:
        raise RegistryError("the model's scores leave [0, 1]")
    return scores


def champion_evidence(
    store: ModelStore,
    champion: str | None,
    metadata: dict[str, Any],
    test: pd.DataFrame | None,
    min_recall: float,
) -> ChampionEvidence | None:
    """The champion's precision at the required recall on the challenger's window."""
    if champion is None:
        return None
    if test is not None:
        try:
            scores = _score(store.load(champion), test)
        except CustomerClassifierError as exc:
            return ChampionEvidence(champion, None, f"could not be re-scored: {exc}")
        labels = test["label"].to_numpy(dtype=int)
        return ChampionEvidence(
            champion, precision_at_recall(labels, scores, min_recall), "re-scored on this window"
        )
    theirs = store.get(champion).metadata
    differs = window_differences(metadata, theirs)
    if differs:
        return ChampionEvidence(
            champion,
            None,
            f"its recorded figure is from another {', '.join(differs)} and this run passed no "
            "features to re-score it on this window; give the register step this run's "
            "features (the register component's optional input 'features')",
        )
    recorded = float(theirs["metrics"]["test"]["precision_at_min_recall"])
    return ChampionEvidence(champion, recorded, "recorded on the same window")


def register_model(
    settings: Settings,
    bundle_dir: Path,
    *,
    features_dir: Path | None = None,
    run: dict[str, str] | None = None,
    actor: str | None = None,
) -> dict[str, Any]:
    """Register the bundle, alias it challenger, and make it champion when the gate passes.

    ``features_dir`` (this run's features) lets the gate re-score the champion on this
    run's test window; ``run`` may carry ``pipeline_run_id`` and ``image`` for lineage;
    ``actor`` is recorded as who registered and moved the aliases (default: the OS user).
    Returns the version, whether it was promoted, the champion after the step, the
    reasons, and the whole decision (``decision``: JSON-ready; ``markdown``).
    """
    bundle = load_bundle(bundle_dir, check=False)
    metadata = bundle.metadata
    actor = default_actor(actor)
    metadata["lineage"] = lineage(metadata, run, actor)
    test = _test_window(features_dir, metadata["data_snapshot_hash"]) if features_dir else None
    store = open_store(settings.store_uri)
    champion = store.get_alias(CHAMPION)
    version = store.register(bundle).version
    store.set_alias(CHALLENGER, version, reason="newly trained", actor=actor)

    min_recall = settings.min_recall
    precision = float(metadata["metrics"]["test"]["precision_at_min_recall"])
    try:
        loaded = store.load(version)
        scores = _score(loaded, test if test is not None else probe_frame())
        if test is not None:
            precision = precision_at_recall(test["label"].to_numpy(dtype=int), scores, min_recall)
        loadable = (True, f"loaded back from {store.uri} with every checksum right; scored")
    except CustomerClassifierError as exc:
        loadable = (False, f"could not be loaded back and scored: {exc}")

    decision = decide(
        GateInputs(
            version=version,
            candidate=str(metadata["candidate"]),
            precision=precision,
            baseline_precision=float(
                metadata["baseline_metrics"]["test"]["precision_at_min_recall"]
            ),
            min_recall=min_recall,
            margin=settings.promotion_margin,
            evaluation_window=metadata.get("evaluation_window", {}),
            data_snapshot_hash=str(metadata.get("data_snapshot_hash", "")),
            champion=champion_evidence(store, champion, metadata, test, min_recall),
            loadable=loadable,
        )
    )
    if decision.promoted:
        try:
            store.set_alias(
                CHAMPION,
                version,
                expected=champion,
                reason="gate: " + "; ".join(decision.reasons),
                actor=actor,
            )
        except AliasConflictError:
            decision = decision.with_conflict(store.get_alias(CHAMPION))
    return {
        "version": version,
        "promoted": decision.promoted,
        "champion": decision.champion_after,
        "reasons": decision.reasons,
        "decision": decision.to_dict(),
        "markdown": decision.to_markdown(),
    }
