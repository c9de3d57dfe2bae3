"""Training steps: every candidate, the chosen bundle, the report and UI figures.

``train_models`` trains the candidates named in the settings and selects one. In the
Kubeflow pipeline the Keras candidate trains in a task of its own on a GPU node
(``train_dl_candidate``, which writes a candidate folder) and ``train_models`` then
evaluates that folder's model beside the scikit-learn ones, by the same rule.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import joblib
import pandas as pd

from customer_classifier import __version__
from customer_classifier.errors import TrainingError
from customer_classifier.evaluation.contributions import METADATA_KEY as EXPLANATION_KEY
from customer_classifier.evaluation.contributions import explanation_metadata
from customer_classifier.evaluation.fairness import fairness_report
from customer_classifier.evaluation.importance import permutation_importances
from customer_classifier.evaluation.metrics import roc_points
from customer_classifier.evaluation.outcome import CandidateResult, TrainingOutcome
from customer_classifier.evaluation.report import write_training_report
from customer_classifier.evaluation.segments import group_attributes
from customer_classifier.evaluation.value import ValueTerms
from customer_classifier.features.build import FEATURE_NAMES, observed_vocabularies
from customer_classifier.models.calibrated import base_model
from customer_classifier.models.keras_tabular import KerasTabularModel
from customer_classifier.monitoring.reference import training_reference
from customer_classifier.registry import ModelBundle, save_bundle
from customer_classifier.registry.bundle import FEATURE_SCHEMA_KEY, feature_schema_json
from customer_classifier.registry.gate import GatePolicy
from customer_classifier.settings import Settings
from customer_classifier.training.candidates import Candidate, make_candidates, prefit_candidate
from customer_classifier.training.names import KERAS_MLP
from customer_classifier.training.train import SPLITS, train_and_select

DL_CANDIDATE = KERAS_MLP
CANDIDATE_MODEL = "model.joblib"
CANDIDATE_INFO = "candidate.json"


@dataclass(frozen=True)
class RocCurve:
    fpr: list[float]
    tpr: list[float]
    thresholds: list[float]


@dataclass(frozen=True)
class TrainResult:
    """What the training step chose and how every candidate did on the test window."""

    chosen: str
    threshold: float
    metrics: dict[str, float]
    """The chosen model's test-window figures, ``test_precision`` and so on."""
    candidates: dict[str, float]
    """Test precision of every candidate at its own threshold."""
    skipped_candidates: dict[str, str]
    """Candidates that could not train on this data, with the reason."""
    dropped_columns: dict[str, str]
    """Columns left out of the fit (all null, one value), with the reason."""
    baseline_precision_at_min_recall: float
    confusion: list[list[int]]
    roc: RocCurve
    top_features: dict[str, float] = field(default_factory=dict)
    """The chosen model's most important features (``CC_EXPLAIN__TOP_FEATURES``), most
    important first: the drop of average precision when each is shuffled, test window."""

    def summary(self) -> dict[str, Any]:
        """The JSON the CLI prints: everything but the curve and the matrix."""
        out = asdict(self)
        del out["roc"], out["confusion"]
        return out


def code_version(given: str | None = None) -> str:
    """The git SHA the image was built from (``CC_RUN__CODE_VERSION``), else the
    checkout's, else the package version."""
    if given:
        return given
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


def _read_frames(features_dir: Path) -> dict[str, pd.DataFrame]:
    return {s: pd.read_parquet(features_dir / f"{s}.parquet") for s in SPLITS}


def train_dl_candidate(
    settings: Settings, features_dir: Path, candidate_dir: Path, **overrides: Any
) -> dict[str, Any]:
    """Train the Keras candidate on the training window and write it to ``candidate_dir``.

    Early stopping watches the validation window; threshold and selection are left to
    :func:`train_models`, which evaluates this candidate beside the others. ``overrides``
    replace ``CC_DL__*`` settings (``max_epochs=3``). Returns the training figures: device,
    samples/s, epoch seconds, best validation PR AUC.
    """
    from customer_classifier.features.build import FEATURE_NAMES
    from customer_classifier.settings import DeepLearningSettings
    from customer_classifier.training.keras_mlp import DESCRIPTION, KerasMLPClassifier

    frames = _read_frames(features_dir)
    dl_settings = DeepLearningSettings.model_validate({**settings.dl.model_dump(), **overrides})
    x = {s: frames[s][list(FEATURE_NAMES)] for s in ("train", "validation")}
    y = {s: frames[s]["label"].to_numpy(dtype=int) for s in ("train", "validation")}
    estimator = KerasMLPClassifier(dl_settings, seed=settings.seed).fit(
        x["train"], y["train"], validation_data=(x["validation"], y["validation"])
    )
    save_candidate(estimator.deployable_, candidate_dir, DESCRIPTION, estimator.params_)
    info = {"name": DL_CANDIDATE, **estimator.training_}
    (candidate_dir / "training.json").write_text(
        json.dumps(info, indent=2, default=str), encoding="utf-8"
    )
    return info


def save_candidate(model: Any, folder: Path, description: str, params: dict[str, Any]) -> None:
    """A trained candidate as a folder: the model (and its own files) plus what it is."""
    folder.mkdir(parents=True, exist_ok=True)
    if callable(getattr(model, "save_artifacts", None)):
        model.save_artifacts(folder)
    joblib.dump(model, folder / CANDIDATE_MODEL, compress=3)
    (folder / CANDIDATE_INFO).write_text(
        json.dumps(
            {"name": DL_CANDIDATE, "description": description, "params": params},
            indent=2,
            default=str,
        ),
        encoding="utf-8",
    )


def load_candidate(folder: Path) -> Candidate:
    info_path = folder / CANDIDATE_INFO
    if not info_path.exists():
        raise TrainingError(
            f"{folder} is not a trained candidate (no {CANDIDATE_INFO}); pass the folder "
            "that train_dl_candidate wrote"
        )
    info = json.loads(info_path.read_text(encoding="utf-8"))
    model = joblib.load(folder / CANDIDATE_MODEL)
    if callable(getattr(model, "load_artifacts", None)):
        model.load_artifacts(folder)
    return prefit_candidate(info["name"], model, info["description"], info["params"])


def test_figures(result: CandidateResult) -> dict[str, float]:
    """A candidate's test-window figures: classification, calibration and value."""
    out = result.test.scalars()
    if result.calibration is not None:
        out["brier"] = result.calibration.test.brier
        out["ece"] = result.calibration.test.ece
    if result.value is not None:
        out["expected_value"] = result.value.value
        out["expected_value_per_customer"] = result.value.per_customer
    return out


def value_metadata(outcome: TrainingOutcome) -> dict[str, Any] | None:
    found = outcome.business_value
    return None if found is None else dict(found.to_metadata())


def value_metrics(outcome: TrainingOutcome) -> dict[str, float]:
    """The value figures beside the chosen model's, as KFP Metrics take them (floats)."""
    found = outcome.business_value
    calibration = outcome.chosen.calibration
    out = {"calibrated": float(bool(calibration and calibration.calibrated))}
    if found is not None:
        out |= {
            "heuristic_test_expected_value": found.heuristic.value,
            "act_on_everyone_test_expected_value": found.act_on_everyone,
            "value_threshold": found.model.value_threshold,
            "test_expected_value_at_value_threshold": found.model.value_at_value_threshold,
        }
    return out


def train_models(
    settings: Settings,
    features_dir: Path,
    bundle_dir: Path,
    report_path: Path,
    *,
    dl_candidate_dir: Path | None = None,
) -> TrainResult:
    """Train every candidate, select one, save its bundle and the report.

    With ``dl_candidate_dir`` (the GPU task's output) the Keras candidate found there is
    evaluated and selected beside the others instead of being trained here.
    Returns the figures the pipeline logs as KFP Metrics and ClassificationMetrics.
    """
    manifest = json.loads((features_dir / "manifest.json").read_text(encoding="utf-8"))
    frames = _read_frames(features_dir)
    names = settings.candidates
    prefit: list[Candidate] = []
    if dl_candidate_dir is not None:
        names = tuple(n for n in names if n != DL_CANDIDATE)
        prefit.append(load_candidate(dl_candidate_dir))
    outcome = train_and_select(
        frames,
        [
            *make_candidates(
                names, settings.seed, horizon_days=settings.label.horizon_days, dl=settings.dl
            ),
            *prefit,
        ],
        precision_target=settings.precision_target,
        min_recall=settings.min_recall,
        folds=settings.cv_folds,
        seed=settings.seed,
        min_positives=settings.min_positives,
        calibration=settings.calibration.method,
        bins=settings.calibration.bins,
        value_terms=ValueTerms(settings.value.true_positive, settings.value.false_positive_cost),
        sample_rows=settings.training_sample_rows,
    )
    chosen = outcome.chosen
    importance = permutation_importances(
        chosen.model,
        frames["test"][list(FEATURE_NAMES)],
        outcome.test_labels,
        n_repeats=settings.explain.n_repeats,
        seed=settings.seed,
        max_rows=settings.explain.max_rows,
    )
    deployed = base_model(chosen.model)
    fairness = fairness_report(
        outcome.test_labels,
        chosen.test_scores,
        chosen.threshold.threshold,
        group_attributes(frames["test"]),
        settings.fairness,
    )
    candidates: dict[str, dict[str, Any]] = {
        r.name: {
            "threshold": r.threshold.threshold,
            "target_met": r.threshold.target_met,
            "cv_pr_auc": r.cv_pr_auc,
            "params": r.params,
            "validation": r.validation.scalars(),
            "test": test_figures(r),
        }
        for r in outcome.results
    }
    metadata = {
        "candidate": chosen.name,
        "params": chosen.params,
        # What this version accepts: the code's schema, with the categories of
        # open-vocabulary features (country) as the training window held them.
        FEATURE_SCHEMA_KEY: feature_schema_json(observed_vocabularies(frames["train"])),
        "threshold_policy": chosen.threshold.policy,
        "metrics": {"validation": chosen.validation.scalars(), "test": test_figures(chosen)},
        "baseline_metrics": {"test": test_figures(outcome.baseline)},
        # Whether the score is a probability one can trust (the monitoring's label-free
        # precision estimate reads it), and what the version is worth at its threshold.
        "calibration": chosen.calibration.to_metadata() if chosen.calibration else None,
        "business_value": value_metadata(outcome),
        "candidates": candidates,
        "skipped_candidates": outcome.skipped,
        "dropped_columns": outcome.dropped_columns,
        # Permutation importance on the test window; the register step compares it with
        # the champion's. The explanation inputs serve nightly reasons and ":explain".
        "importance": importance.to_metadata(),
        "drift_reference": training_reference(
            chosen.model,
            frames["train"],
            chosen.threshold.threshold,
            importance.to_metadata(),
            settings.drift.bins,
            as_of=dt.date.fromisoformat(manifest["as_of"]["train"]),
            # The other windows' frames let a night be compared with its own season.
            seasons={dt.date.fromisoformat(manifest["as_of"][s]): frames[s] for s in SPLITS},
        ),
        EXPLANATION_KEY: explanation_metadata(chosen.model, frames["train"]),
        "data_snapshot_hash": manifest["content_hash"],
        "evaluation_window": manifest["windows"],
        "label_rule": manifest["label_rule"],
        "code_version": code_version(settings.run.code_version),
        "precision_target": settings.precision_target,
        "min_recall": settings.min_recall,
        # The terms the gate judges this version by, wherever it is registered.
        "policy": GatePolicy(
            settings.precision_target, settings.min_recall, settings.promotion_margin
        ).to_metadata(),
        "data_verification": manifest.get("verification"),
        "fairness": fairness.to_metadata(),
        "trained_at": dt.datetime.now(dt.UTC).isoformat(),
        **({"framework": deployed.info} if isinstance(deployed, KerasTabularModel) else {}),
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
        importance=importance,
        context={
            "data snapshot": manifest["content_hash"][:16],
            "code version": metadata["code_version"],
        },
        fairness=fairness,
    )
    fpr, tpr, thr = roc_points(outcome.test_labels, chosen.test_scores)
    return TrainResult(
        chosen=chosen.name,
        threshold=chosen.threshold.threshold,
        metrics={
            **{f"test_{k}": v for k, v in test_figures(chosen).items()},
            **value_metrics(outcome),
            **{f"test_{k}": v for k, v in fairness.scalars().items()},
        },
        candidates={name: c["test"]["precision"] for name, c in candidates.items()},
        skipped_candidates=dict(outcome.skipped),
        dropped_columns=dict(outcome.dropped_columns),
        baseline_precision_at_min_recall=outcome.baseline.test.precision_at_min_recall,
        confusion=chosen.test.confusion,
        roc=RocCurve(fpr, tpr, thr),
        top_features={f.feature: f.mean for f in importance.top(settings.explain.top_features)},
    )
