"""Registry step: register the bundle, alias it challenger, and run the champion gate.

The new version is always registered and aliased ``challenger``. It becomes ``champion``
only when the gate (:mod:`customer_classifier.registry.gate`) passes. The gate judges
under the policy recorded in the bundle when it was trained (precision target, required
recall, promotion margin), never under this step's environment: the challenger, the
heuristic baseline and the champion are all taken at that recall on the same window.
With this run's features all three are re-scored on this run's test window; without
them the challenger's and the heuristic's recorded figures count (recorded at that very
recall), and the champion's only when it was measured on the very same window (same
data snapshot, as-of date, label rule and required recall).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from customer_classifier.data.evidence import VerificationEvidence
from customer_classifier.errors import AliasConflictError, CustomerClassifierError, RegistryError
from customer_classifier.evaluation.fairness import FairnessReport, fairness_report
from customer_classifier.evaluation.importance import ImportanceChange, importance_change
from customer_classifier.evaluation.segments import ATTRIBUTES, group_attributes
from customer_classifier.evaluation.threshold import precision_at_recall
from customer_classifier.features.build import FEATURE_NAMES, FEATURE_SCHEMA
from customer_classifier.registry import CHALLENGER, CHAMPION, ModelBundle, load_bundle, open_store
from customer_classifier.registry.gate import (
    ChampionEvidence,
    FairnessEvidence,
    GateDecision,
    GateInputs,
    GatePolicy,
    decide,
    gate_checks,
    window_differences,
)
from customer_classifier.registry.store import ModelStore, default_actor
from customer_classifier.settings import FairnessSettings, Settings
from customer_classifier.training.heuristic import HeuristicRules
from customer_classifier.training.names import HEURISTIC


@dataclass(frozen=True)
class RegisterResult:
    """What the register step did: the version it registered and the gate's decision."""

    version: str
    decision: GateDecision
    importance_change: list[ImportanceChange] = field(default_factory=list)
    """Each feature's permutation importance against the champion's, largest change
    first; empty without a champion or when either version recorded none."""
    importance_champion: str | None = None
    """The champion the importances were compared with."""

    @property
    def promoted(self) -> bool:
        return self.decision.promoted

    @property
    def champion(self) -> str | None:
        """The champion after the step (this version when promoted)."""
        return self.decision.champion_after

    @property
    def markdown(self) -> str:
        return self.decision.to_markdown() + self._importance_markdown()

    def to_dict(self) -> dict[str, Any]:
        """The decision for machines, with the importance comparison beside it."""
        return {
            **self.decision.to_dict(),
            "importance_change": {
                "champion": self.importance_champion,
                "features": [asdict(c) for c in self.importance_change],
            },
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str)

    def _importance_markdown(self, rows: int = 10) -> str:
        if not self.importance_change:
            return ""

        def shown(value: float | int | None, spec: str) -> str:
            return "-" if value is None else format(value, spec)

        lines = [
            "",
            f"## Feature importance against champion {self.importance_champion}",
            "",
            "Drop of average precision when the feature is shuffled, test window of each "
            "version; informational, no check reads it.",
            "",
            "| feature | challenger | champion | change | rank (challenger / champion) |",
            "|---|---|---|---|---|",
        ]
        for c in self.importance_change[:rows]:
            lines.append(
                f"| {c.feature} | {shown(c.challenger, '.4f')} | {shown(c.champion, '.4f')} "
                f"| {shown(c.change, '+.4f')} | {shown(c.challenger_rank, 'd')} / "
                f"{shown(c.champion_rank, 'd')} |"
            )
        return "\n".join(lines) + "\n"

    def summary(self) -> dict[str, Any]:
        """The short JSON the CLI prints."""
        return {
            "version": self.version,
            "promoted": self.promoted,
            "champion": self.champion,
            "reasons": self.decision.reasons,
            "warnings": self.decision.warnings,
            "importance_change": {
                c.feature: c.change for c in self.importance_change[:5] if c.change is not None
            },
        }


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
        "image": extra.get("image") or "unknown",
        "pipeline_run_id": extra.get("pipeline_run_id") or "unknown",
        "parameters": {
            "candidate": metadata.get("candidate"),
            "params": metadata.get("params"),
            "candidates": sorted(metadata.get("candidates", {})),
            "precision_target": metadata.get("precision_target"),
            "min_recall": metadata.get("min_recall"),
            "threshold_policy": metadata.get("threshold_policy"),
            "policy": metadata.get("policy"),
        },
        "data_verification": metadata.get("data_verification"),
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


def check_policy(policy: GatePolicy, expected: Mapping[str, float]) -> None:
    """Refuse a bundle trained under other terms than the pipeline run that registers it."""
    recorded = policy.to_metadata()
    differs = {
        name: (recorded[name], float(value))
        for name, value in expected.items()
        if abs(recorded[name] - float(value)) > 1e-12
    }
    if differs:
        found = ", ".join(f"{n}={a} (this step was given {b})" for n, (a, b) in differs.items())
        raise RegistryError(
            f"the bundle was trained under {found}: the gate compares under the policy "
            "the version was trained for; register the bundle of this run's train step, or "
            "give both steps the same parameters"
        )


def baseline_scores(metadata: dict[str, Any], frame: pd.DataFrame) -> np.ndarray:
    """The heuristic's scores with the parameters it was evaluated with at training.

    It learns nothing, so scoring it again on a window gives the figure training would
    have recorded there.
    """
    params = (metadata.get("candidates", {}).get(HEURISTIC) or {}).get("params") or {}
    rules = HeuristicRules(**params)
    scores: np.ndarray = rules.predict_proba(frame[list(FEATURE_NAMES)])[:, 1]
    return scores


def _recorded_fairness(metadata: Mapping[str, Any]) -> FairnessReport | None:
    recorded = metadata.get("fairness")
    return FairnessReport.from_metadata(recorded) if isinstance(recorded, dict) else None


def fairness_evidence(
    settings: FairnessSettings,
    store: ModelStore,
    champion: str | None,
    metadata: dict[str, Any],
    test: pd.DataFrame | None,
    challenger_scores: np.ndarray | None,
    threshold: float,
) -> FairnessEvidence:
    """Group figures of challenger, heuristic and champion, each at its own threshold.

    With the test window all three are re-scored on it, resampled alike (one seed, one
    window) so the gate can compare their gaps pair by pair; without it the figures
    recorded at training count, the champion's only when measured on the same window.
    """
    if test is None:
        recorded = store.get(champion).metadata if champion else {}
        comparable = champion is not None and not window_differences(metadata, recorded)
        return FairnessEvidence(
            attributes=ATTRIBUTES,
            challenger=_recorded_fairness(metadata),
            champion=_recorded_fairness(recorded) if comparable else None,
            basis="recorded at training"
            + ("" if comparable or champion is None else "; the champion's on another window"),
        )
    labels = test["label"].to_numpy(dtype=int)
    groups = group_attributes(test)

    def report(scores: np.ndarray, at: float) -> FairnessReport:
        return fairness_report(labels, scores, at, groups, settings)

    heuristic = (metadata.get("candidates", {}).get(HEURISTIC) or {}).get("threshold")
    basis = "re-scored on this window"
    theirs: FairnessReport | None = None
    if champion is not None:
        try:
            bundle = store.load(champion)
            theirs = report(_score(bundle, test), bundle.threshold)
        except CustomerClassifierError as exc:
            basis += f"; the champion could not be: {exc}"
    return FairnessEvidence(
        attributes=tuple(groups.columns),
        challenger=None if challenger_scores is None else report(challenger_scores, threshold),
        champion=theirs,
        baseline=None
        if heuristic is None
        else report(baseline_scores(metadata, test), float(heuristic)),
        basis=basis,
    )


def register_model(
    settings: Settings,
    bundle_dir: Path,
    *,
    features_dir: Path | None = None,
    run: dict[str, str] | None = None,
    expected_policy: Mapping[str, float] | None = None,
    actor: str | None = None,
) -> RegisterResult:
    """Register the bundle, alias it challenger, and make it champion when the gate passes.

    ``features_dir`` (this run's features) lets the gate re-score the challenger, the
    heuristic and the champion on this run's test window; ``run`` may carry
    ``pipeline_run_id`` and ``image`` for lineage; ``expected_policy`` (the pipeline's
    ``precision_target`` and ``min_recall``) must match the policy the bundle records;
    ``actor`` is recorded as who registered and moved the aliases (default:
    ``CC_RUN__ACTOR``, else the OS user).
    Returns the version and the gate's whole decision (:class:`RegisterResult`).
    """
    bundle = load_bundle(bundle_dir, check=False)
    metadata = bundle.metadata
    policy = GatePolicy.from_metadata(metadata)
    if expected_policy:
        check_policy(policy, expected_policy)
    actor = default_actor(actor or settings.run.actor)
    given = {"image": settings.run.image, "pipeline_run_id": settings.run.pipeline_run_id}
    metadata["lineage"] = lineage(
        metadata, {**{k: v for k, v in given.items() if v}, **(run or {})}, actor
    )
    test = _test_window(features_dir, metadata["data_snapshot_hash"]) if features_dir else None
    store = open_store(settings.store_uri, settings.s3)
    champion = store.get_alias(CHAMPION)
    version = store.register(bundle).version
    store.set_alias(CHALLENGER, version, reason="newly trained", actor=actor)

    min_recall = policy.min_recall
    precision = float(metadata["metrics"]["test"]["precision_at_min_recall"])
    baseline = float(metadata["baseline_metrics"]["test"]["precision_at_min_recall"])
    basis = "recorded at training on this window"
    if test is not None:
        labels = test["label"].to_numpy(dtype=int)
        baseline = precision_at_recall(labels, baseline_scores(metadata, test), min_recall)
        basis = "re-scored on this window"
    tested: np.ndarray | None = None
    try:
        loaded = store.load(version)
        scores = _score(loaded, test if test is not None else probe_frame())
        if test is not None:
            precision = precision_at_recall(test["label"].to_numpy(dtype=int), scores, min_recall)
            tested = scores
        loadable = (True, f"loaded back from {store.uri} with every checksum right; scored")
    except CustomerClassifierError as exc:
        loadable = (False, f"could not be loaded back and scored: {exc}")

    decision = decide(
        GateInputs(
            version=version,
            candidate=str(metadata["candidate"]),
            precision=precision,
            baseline_precision=baseline,
            policy=policy,
            evaluation_window=metadata.get("evaluation_window", {}),
            data_snapshot_hash=str(metadata.get("data_snapshot_hash", "")),
            verification=VerificationEvidence.from_record(metadata.get("data_verification")),
            champion=champion_evidence(store, champion, metadata, test, min_recall),
            loadable=loadable,
            basis=basis,
            candidate_precisions={
                name: float(c["test"]["precision_at_min_recall"])
                for name, c in metadata.get("candidates", {}).items()
            },
            business_value=metadata.get("business_value"),
            fairness=fairness_evidence(
                settings.fairness, store, champion, metadata, test, tested, bundle.threshold
            ),
        ),
        gate_checks(settings.gate, settings.fairness),
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
    changes: list[ImportanceChange] = []
    if champion is not None:
        try:
            theirs = store.get(champion).metadata.get("importance")
        except CustomerClassifierError:
            theirs = None
        if theirs and metadata.get("importance"):
            changes = importance_change(metadata["importance"], theirs)
    return RegisterResult(version, decision, changes, champion if changes else None)
