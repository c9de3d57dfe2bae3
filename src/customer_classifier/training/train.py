"""Fit every candidate, pick a threshold per candidate, select one by the same rule.

Time-aware: hyper-parameters are chosen by cross-validation inside the training window,
thresholds on the later validation window, and the reported figures come from the test
window after both, which no choice has seen.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from customer_classifier.errors import TrainingError
from customer_classifier.evaluation.metrics import ClassificationReport, evaluate
from customer_classifier.evaluation.threshold import ThresholdChoice, choose_threshold
from customer_classifier.features.build import FEATURE_NAMES
from customer_classifier.training.candidates import Candidate

log = logging.getLogger(__name__)
SPLITS = ("train", "validation", "test")


@dataclass
class CandidateResult:
    name: str
    description: str
    params: dict[str, Any]
    cv_pr_auc: float | None
    threshold: ThresholdChoice
    validation: ClassificationReport
    test: ClassificationReport
    model: Any = field(repr=False)
    test_scores: np.ndarray = field(repr=False)


@dataclass
class TrainingOutcome:
    chosen: CandidateResult
    results: list[CandidateResult]
    test_labels: np.ndarray = field(repr=False)

    @property
    def baseline(self) -> CandidateResult:
        return next(r for r in self.results if r.name == "heuristic")


def _xy(frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    return frame[list(FEATURE_NAMES)], frame["label"].to_numpy(dtype=int)


def _check_labels(name: str, y: np.ndarray) -> None:
    classes = np.unique(y)
    if len(classes) < 2:
        raise TrainingError(
            f"the {name} window has only label {classes.tolist()} in {len(y)} rows; "
            "widen the history, or change CC_LABEL__MIN_SPEND / CC_LABEL__HORIZON_DAYS"
        )


def fit_candidate(
    candidate: Candidate,
    x: pd.DataFrame,
    y: np.ndarray,
    folds: int,
    seed: int,
    validation: tuple[pd.DataFrame, np.ndarray] | None = None,
) -> tuple[Any, dict[str, Any], float | None]:
    """The model to deploy, its chosen parameters and its cross-validated PR AUC.

    A prefit candidate comes back as it is. An estimator that trains against the
    validation window (early stopping) gets it; one that exposes ``deployable_`` after
    fitting (the Keras candidate) hands that over instead of itself.
    """
    if candidate.prefit:
        return candidate.estimator, dict(candidate.params), None
    if not candidate.grid:
        estimator = clone(candidate.estimator)
        if candidate.fit_with_validation:
            estimator.fit(x, y, validation_data=validation)
        else:
            estimator.fit(x, y)
        params = dict(getattr(estimator, "params_", {}))
        return getattr(estimator, "deployable_", estimator), params, None
    search = GridSearchCV(
        clone(candidate.estimator),
        candidate.grid,
        scoring="average_precision",
        cv=StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed),
        n_jobs=1,
        refit=True,
    )
    search.fit(x, y)
    return search.best_estimator_, dict(search.best_params_), float(search.best_score_)


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
) -> TrainingOutcome:
    for split in SPLITS:
        if split not in frames or frames[split].empty:
            raise TrainingError(f"the {split} window has no customers; check the as-of dates")
    x_train, y_train = _xy(frames["train"])
    x_valid, y_valid = _xy(frames["validation"])
    x_test, y_test = _xy(frames["test"])
    for name, y in (("train", y_train), ("validation", y_valid), ("test", y_test)):
        _check_labels(name, y)
    results = []
    for candidate in candidates:
        verb = "evaluating prefit" if candidate.prefit else "training"
        log.info("%s candidate %s on %d rows", verb, candidate.name, len(y_train))
        model, params, cv_score = fit_candidate(
            candidate, x_train, y_train, folds, seed, validation=(x_valid, y_valid)
        )
        valid_scores = model.predict_proba(x_valid)[:, 1]
        choice = choose_threshold(y_valid, valid_scores, precision_target, min_recall)
        test_scores = model.predict_proba(x_test)[:, 1]
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
            )
        )
    chosen = max(results, key=_selection_key)
    return TrainingOutcome(chosen=chosen, results=results, test_labels=y_test)
