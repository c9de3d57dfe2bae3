"""Fit every candidate, pick a threshold per candidate, select one by the same rule.

Time-aware: hyper-parameters are chosen by cross-validation inside the training window,
thresholds on the later validation window, and the reported figures come from the test
window after both, which no choice has seen.

Real sources differ from the generated one: columns that carry nothing in the training
window are left out of every fitted preprocessing, and a candidate that cannot train on
the data is skipped; both are recorded with the reason. Too few positives in a window is
an error, since neither a threshold nor a precision figure means anything then.

With a calibration method, every learnt candidate's score is mapped to a probability by
a monotone map fitted on the validation window (never on test), before its threshold is
chosen there: the threshold is one on the scores the version serves. The heuristic is
the analysts' rules and stays as it is.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from customer_classifier.errors import CandidateSkippedError, TrainingError
from customer_classifier.evaluation.calibration import (
    DEFAULT_BINS,
    CalibrationSummary,
    reliability,
)
from customer_classifier.evaluation.metrics import evaluate
from customer_classifier.evaluation.outcome import CandidateResult, TrainingOutcome
from customer_classifier.evaluation.threshold import choose_threshold
from customer_classifier.evaluation.value import ValueTerms, business_value, candidate_value
from customer_classifier.features.build import FEATURE_NAMES
from customer_classifier.models.calibrated import METHODS, CalibratedModel
from customer_classifier.training.candidates import Candidate
from customer_classifier.training.columns import ALL_COLUMNS, FeatureColumns, informative_columns
from customer_classifier.training.names import HEURISTIC
from customer_classifier.training.sample import stratified_sample

__all__ = ["SPLITS", "CandidateResult", "TrainingOutcome", "fit_candidate", "train_and_select"]
log = logging.getLogger(__name__)
SPLITS = ("train", "validation", "test")


def _xy(frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    return frame[list(FEATURE_NAMES)], frame["label"].to_numpy(dtype=int)


def _check_labels(name: str, y: np.ndarray, min_positives: int) -> None:
    classes = np.unique(y)
    if len(classes) < 2:
        raise TrainingError(
            f"the {name} window has only label {classes.tolist()} in {len(y)} rows; "
            "widen the history, or change CC_LABEL__MIN_SPEND / CC_LABEL__HORIZON_DAYS"
        )
    positives = int(y.sum())
    if positives < min_positives:
        raise TrainingError(
            f"the {name} window has {positives} good customers in {len(y)} rows, fewer than "
            f"the {min_positives} needed (CC_MIN_POSITIVES); widen the history, lower "
            "CC_LABEL__MIN_SPEND, or lower CC_MIN_POSITIVES"
        )


def _check_columns(candidate: Candidate, columns: FeatureColumns) -> None:
    missing = [name for name in candidate.requires if name in columns.dropped]
    if missing:
        why = "; ".join(f"{name}: {columns.dropped[name]}" for name in missing)
        raise CandidateSkippedError(
            f"needs columns that carry nothing in the training window ({why})"
        )
    if candidate.build is not None and not (columns.numeric or columns.categorical):
        raise CandidateSkippedError("no feature column varies in the training window")


def _fit_or_skip(
    candidate: Candidate,
    columns: FeatureColumns,
    train: tuple[pd.DataFrame, np.ndarray],
    validation: tuple[pd.DataFrame, np.ndarray],
    folds: int,
    seed: int,
    sample_rows: int = 0,
) -> tuple[Any, dict[str, Any], float | None]:
    """:func:`fit_candidate` on the training window (a scikit-learn candidate on a sample
    of at most ``sample_rows``: ``training.sample``); :class:`CandidateSkippedError` when
    the candidate cannot train on this data."""
    x_train, y_train = train
    if not candidate.prefit:
        _check_columns(candidate, columns)
    if not (candidate.prefit or candidate.fit_with_validation):
        x_train, y_train = stratified_sample(x_train, y_train, sample_rows, seed)
    verb = "evaluating prefit" if candidate.prefit else "training"
    log.info("%s candidate %s on %d rows", verb, candidate.name, len(y_train))
    return fit_candidate(
        candidate, x_train, y_train, folds, seed, validation=validation, columns=columns
    )


def fit_candidate(
    candidate: Candidate,
    x: pd.DataFrame,
    y: np.ndarray,
    folds: int,
    seed: int,
    validation: tuple[pd.DataFrame, np.ndarray] | None = None,
    columns: FeatureColumns = ALL_COLUMNS,
) -> tuple[Any, dict[str, Any], float | None]:
    """The model to deploy, its chosen parameters and its cross-validated PR AUC.

    A prefit candidate comes back as it is. One with ``build`` is built for ``columns``.
    An estimator that trains against the validation window (early stopping) gets it; one
    that exposes ``deployable_`` after fitting (the Keras candidate) hands that over
    instead of itself, and its ``params_`` (fitted parameters) are recorded.
    """
    if candidate.prefit:
        return candidate.estimator, dict(candidate.params), None
    template = candidate.estimator if candidate.build is None else candidate.build(columns)
    if not candidate.grid:
        estimator = clone(template)
        if candidate.fit_with_validation:
            estimator.fit(x, y, validation_data=validation)
        else:
            estimator.fit(x, y)
        params = dict(getattr(estimator, "params_", {}))
        return getattr(estimator, "deployable_", estimator), params, None
    search = GridSearchCV(
        clone(template),
        candidate.grid,
        scoring="average_precision",
        cv=StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed),
        n_jobs=1,
        refit=True,
    )
    search.fit(x, y)
    best = search.best_estimator_
    params = {**dict(search.best_params_), **dict(getattr(best, "params_", {}))}
    return best, params, float(search.best_score_)


def _calibrate(
    candidate: Candidate, model: Any, method: str, raw_valid: np.ndarray, y_valid: np.ndarray
) -> Any:
    """The model to deploy: mapped to probabilities on the validation window when asked."""
    if method == "none" or candidate.name == HEURISTIC:
        return model
    if method not in METHODS:
        raise TrainingError(
            f"calibration method {method!r} is unknown; set CC_CALIBRATION__METHOD to "
            "none, isotonic or sigmoid"
        )
    return CalibratedModel(model, method).fit_scores(raw_valid, y_valid)


def _selection_key(result: CandidateResult) -> tuple[int, float, float]:
    choice = result.threshold
    headline = choice.recall if choice.target_met else choice.precision
    return (int(choice.target_met), round(headline, 4), result.validation.pr_auc)


def train_and_select(
    frames: dict[str, pd.DataFrame],
    candidates: list[Candidate],
    *,
    precision_target: float,
    min_recall: float,
    folds: int,
    seed: int,
    min_positives: int = 50,
    calibration: str = "none",
    bins: int = DEFAULT_BINS,
    value_terms: ValueTerms | None = None,
    sample_rows: int = 0,
) -> TrainingOutcome:
    """Fit, calibrate (``calibration``: none, isotonic or sigmoid), threshold and select.

    ``bins``: equal-mass bins of the reliability figures; ``value_terms``: the value per
    true positive and cost per false positive, for the business value (none: not valued).
    """
    for split in SPLITS:
        if split not in frames or frames[split].empty:
            raise TrainingError(f"the {split} window has no customers; check the as-of dates")
    x_train, y_train = _xy(frames["train"])
    x_valid, y_valid = _xy(frames["validation"])
    x_test, y_test = _xy(frames["test"])
    for name, y in (("train", y_train), ("validation", y_valid), ("test", y_test)):
        _check_labels(name, y, min_positives)
    columns = informative_columns(x_train)
    for name, reason in columns.dropped.items():
        log.info("feature %s left out of the fitted preprocessing: %s", name, reason)
    results: list[CandidateResult] = []
    skipped: dict[str, str] = {}
    for candidate in candidates:
        try:
            model, params, cv_score = _fit_or_skip(
                candidate,
                columns,
                (x_train, y_train),
                (x_valid, y_valid),
                folds,
                seed,
                sample_rows,
            )
        except CandidateSkippedError as exc:
            log.warning("candidate %s skipped: %s", candidate.name, exc)
            skipped[candidate.name] = str(exc)
            continue
        raw_valid = model.predict_proba(x_valid)[:, 1]
        raw_test = model.predict_proba(x_test)[:, 1]
        model = _calibrate(candidate, model, calibration, raw_valid, y_valid)
        if isinstance(model, CalibratedModel):
            valid_scores = model.calibrate_scores(raw_valid)
            test_scores = model.calibrate_scores(raw_test)
            summary = CalibrationSummary(
                model.method,
                reliability(y_test, test_scores, bins),
                reliability(y_test, raw_test, bins),
            )
        else:
            valid_scores, test_scores = raw_valid, raw_test
            summary = CalibrationSummary("none", reliability(y_test, test_scores, bins))
        choice = choose_threshold(y_valid, valid_scores, precision_target, min_recall)
        value = (
            None
            if value_terms is None
            else candidate_value(
                y_valid, valid_scores, y_test, test_scores, choice.threshold, value_terms
            )
        )
        results.append(
            CandidateResult(
                name=candidate.name,
                description=candidate.description,
                params=params,
                cv_pr_auc=cv_score,
                threshold=choice,
                validation=evaluate(y_valid, valid_scores, choice.threshold, min_recall),
                test=evaluate(y_test, test_scores, choice.threshold, min_recall),
                model=model,
                test_scores=test_scores,
                calibration=summary,
                value=value,
            )
        )
    if not results:
        raise TrainingError(
            f"every candidate was skipped: {skipped}; add 'heuristic' to CC_CANDIDATES"
        )
    chosen = max(results, key=_selection_key)
    outcome = TrainingOutcome(
        chosen=chosen,
        results=results,
        test_labels=y_test,
        skipped=skipped,
        dropped_columns=dict(columns.dropped),
    )
    baseline = next((r for r in results if r.name == HEURISTIC), None)
    if value_terms is not None and chosen.value and baseline is not None and baseline.value:
        outcome.business_value = business_value(chosen.value, baseline.value, y_test, value_terms)
    return outcome
