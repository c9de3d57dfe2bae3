"""The calibration step inside training: fitted on validation, threshold on its output.

A stand-in candidate scores the true probability cubed (it ranks perfectly, and is no
probability); labels are drawn from that probability in every window alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

from customer_classifier.errors import TrainingError
from customer_classifier.evaluation.metrics import evaluate
from customer_classifier.evaluation.outcome import TrainingOutcome
from customer_classifier.evaluation.value import ValueTerms, value_at
from customer_classifier.features.build import CATEGORICAL_FEATURES, FEATURE_NAMES
from customer_classifier.models.calibrated import CalibratedModel
from customer_classifier.training.candidates import Candidate, heuristic
from customer_classifier.training.train import train_and_select
from tests.unit.evaluation.test_calibration import ECE_BOUND, MISCALIBRATED

ROWS = 4000
COLUMN = "share_books"
TERMS = ValueTerms(true_positive=100.0, false_positive_cost=50.0)


class CubedScorer(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """Scores each row with one column's value cubed."""

    def fit(self, x: pd.DataFrame, y: Any) -> CubedScorer:
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        score = x[COLUMN].to_numpy(dtype=float) ** 3
        return np.column_stack([1.0 - score, score])


def window(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    p = rng.beta(1.2, 3.5, ROWS)
    frame = pd.DataFrame({name: np.zeros(ROWS) for name in FEATURE_NAMES})
    for name in CATEGORICAL_FEATURES:
        frame[name] = None
    frame["days_since_last_purchase"] = 400.0
    # The heuristic sees a noisy copy of the truth through its spend rule.
    frame["spend_90d"] = 1000.0 * np.clip(p + rng.normal(0, 0.25, ROWS), 0, None)
    frame[COLUMN] = p
    frame["label"] = (rng.random(ROWS) < p).astype(int)
    return frame


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    return {"train": window(1), "validation": window(2), "test": window(3)}


def select(frames: dict[str, pd.DataFrame], method: str) -> TrainingOutcome:
    return train_and_select(
        frames,
        [heuristic(0), Candidate("cubed", CubedScorer())],
        precision_target=0.7,
        min_recall=0.3,
        folds=2,
        seed=0,
        calibration=method,
        value_terms=TERMS,
    )


@pytest.fixture(scope="module")
def isotonic(frames: dict[str, pd.DataFrame]) -> TrainingOutcome:
    return select(frames, "isotonic")


def test_without_calibration_the_bent_score_is_served_and_detected(
    frames: dict[str, pd.DataFrame],
) -> None:
    outcome = select(frames, "none")
    assert outcome.chosen.name == "cubed"
    assert isinstance(outcome.chosen.model, CubedScorer)
    assert outcome.chosen.calibration is not None
    assert outcome.chosen.calibration.method == "none"
    assert outcome.chosen.calibration.test.ece > MISCALIBRATED


def test_the_calibrated_model_is_served_and_its_test_ece_is_under_the_bound(
    isotonic: TrainingOutcome,
) -> None:
    chosen = isotonic.chosen
    assert chosen.name == "cubed"
    assert isinstance(chosen.model, CalibratedModel)
    assert chosen.calibration is not None
    assert chosen.calibration.uncalibrated is not None
    assert chosen.calibration.uncalibrated.ece > MISCALIBRATED
    assert chosen.calibration.test.ece < ECE_BOUND


def test_the_heuristic_is_never_calibrated(isotonic: TrainingOutcome) -> None:
    assert not isinstance(isotonic.baseline.model, CalibratedModel)
    assert isotonic.baseline.calibration is not None
    assert isotonic.baseline.calibration.method == "none"


def test_the_threshold_is_chosen_on_the_calibrated_validation_scores(
    frames: dict[str, pd.DataFrame], isotonic: TrainingOutcome
) -> None:
    chosen = isotonic.chosen
    x_valid = frames["validation"][list(FEATURE_NAMES)]
    y_valid = frames["validation"]["label"].to_numpy()
    served = chosen.model.predict_proba(x_valid)[:, 1]
    # A step of the isotonic map, and the precision it was chosen for, on served scores.
    assert chosen.threshold.threshold in set(served.tolist())
    found = evaluate(y_valid, served, chosen.threshold.threshold, 0.3)
    assert found.precision == pytest.approx(chosen.threshold.precision, abs=1e-12)
    x_test = frames["test"][list(FEATURE_NAMES)]
    assert np.array_equal(chosen.model.predict_proba(x_test)[:, 1], chosen.test_scores)


def test_the_value_maximising_threshold_of_a_calibrated_score_is_near_break_even(
    frames: dict[str, pd.DataFrame], isotonic: TrainingOutcome
) -> None:
    found = isotonic.business_value
    assert found is not None
    assert found.model.value_threshold == pytest.approx(TERMS.break_even_precision, abs=0.1)
    y_test = frames["test"]["label"].to_numpy()
    assert found.model.value_at_value_threshold == value_at(
        y_test, isotonic.chosen.test_scores, found.model.value_threshold, TERMS
    )
    assert found.model.value > found.heuristic.value
    assert found.beats_heuristic


def test_an_unknown_method_names_the_setting(frames: dict[str, pd.DataFrame]) -> None:
    with pytest.raises(TrainingError, match="CC_CALIBRATION__METHOD"):
        select(frames, "platt")
