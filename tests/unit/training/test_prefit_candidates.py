"""Candidates trained elsewhere or against the validation window join the same selection."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from customer_classifier.features.build import CATEGORICAL_FEATURES, FEATURE_NAMES
from customer_classifier.training.candidates import Candidate, heuristic, prefit_candidate
from customer_classifier.training.train import train_and_select

N = 400


class ByTenure:
    """A 'model' trained elsewhere: scores by tenure, which the heuristic ignores."""

    classes_ = np.array([0, 1])

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        score = np.clip(x["tenure_days"].to_numpy(dtype=float) / 1000.0, 0, 1)
        return np.column_stack([1 - score, score])


class EarlyStopped(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """Records the validation window it was given; deploys a different object."""

    def fit(
        self, x: pd.DataFrame, y: Any, validation_data: tuple[pd.DataFrame, Any] | None = None
    ) -> EarlyStopped:
        assert validation_data is not None
        self.validation_rows_ = len(validation_data[0])
        self.params_ = {"best_epoch": 3}
        self.deployable_ = ByTenure()
        return self


def frames() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(3)
    out = {}
    for split in ("train", "validation", "test"):
        label = (rng.random(N) < 0.3).astype(int)
        frame = pd.DataFrame({name: np.zeros(N) for name in FEATURE_NAMES})
        for name in CATEGORICAL_FEATURES:
            frame[name] = None
        frame["days_since_last_purchase"] = 400.0
        frame["spend_90d"] = rng.uniform(0, 1000, N)
        frame["tenure_days"] = np.where(
            label == 1, rng.uniform(400, 1000, N), rng.uniform(0, 600, N)
        )
        frame["label"] = label
        out[split] = frame
    return out


def test_a_prefit_candidate_is_evaluated_and_can_win() -> None:
    outcome = train_and_select(
        frames(),
        [heuristic(0), prefit_candidate("keras_mlp", ByTenure(), "trained on a GPU", {"a": 1})],
        precision_target=0.8,
        min_recall=0.3,
        folds=2,
        seed=0,
    )
    keras = next(r for r in outcome.results if r.name == "keras_mlp")
    assert keras.params == {"a": 1}
    assert keras.cv_pr_auc is None
    assert isinstance(keras.model, ByTenure)
    assert keras.validation.rows == N
    assert keras.test.rows == N
    assert outcome.chosen.name == "keras_mlp"
    assert keras.test.precision_at_min_recall > outcome.baseline.test.precision_at_min_recall


def test_early_stopping_estimators_get_the_validation_window_and_deploy_their_model() -> None:
    candidate = Candidate("early", EarlyStopped(), fit_with_validation=True)
    outcome = train_and_select(
        frames(), [heuristic(0), candidate], precision_target=0.8, min_recall=0.3, folds=2, seed=0
    )
    early = next(r for r in outcome.results if r.name == "early")
    assert isinstance(early.model, ByTenure)  # deployable_, not the estimator
    assert early.params == {"best_epoch": 3}
