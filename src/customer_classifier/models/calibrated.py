"""Any fitted model with a score-to-probability map learnt on a later window.

A ranking model's score orders customers well but need not be a probability: the
monitoring's label-free precision estimate averages scores, and the value-maximising
threshold is only the break-even probability when the scores are probabilities.
:class:`CalibratedModel` keeps the model as it is and maps its score through a
monotone function fitted on the validation window:

- ``isotonic``: the isotonic regression of the labels on the score, read as a
  piecewise-linear map (``np.interp`` over its knots, clipped at both ends, which is
  what scikit-learn's ``IsotonicRegression(out_of_bounds="clip").predict`` computes);
- ``sigmoid``: Platt scaling on the score's log-odds, ``expit(a * logit(s) + b)``,
  smooth and strictly increasing when ``a > 0`` (no ties).

The map is a few numbers, so the pickle is small and :meth:`calibrate_scores` is the
one formula that ``predict_proba`` and the serving fast path
(:mod:`customer_classifier.serving.compiled`) both call: the two give the same score by
construction. A base model with files of its own (the Keras network) keeps them: the
wrapper forwards ``save_artifacts`` and ``load_artifacts``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.special import expit, logit
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

CalibrationMethod = Literal["isotonic", "sigmoid"]
METHODS: tuple[CalibrationMethod, ...] = ("isotonic", "sigmoid")
_EDGE = 1e-6
"""Scores are clipped to [_EDGE, 1 - _EDGE] before the log-odds, so 0 and 1 stay finite."""


def _log_odds(scores: np.ndarray) -> np.ndarray:
    return np.asarray(logit(np.clip(scores, _EDGE, 1.0 - _EDGE)))


class CalibratedModel:
    """``base`` with its score mapped to a probability; fit with :meth:`fit` on a window
    the base model did not learn from (the validation window)."""

    def __init__(self, base: Any, method: CalibrationMethod) -> None:
        if method not in METHODS:
            raise ValueError(
                f"calibration method {method!r} is not one of {list(METHODS)}; "
                "set CC_CALIBRATION__METHOD to isotonic, sigmoid or none"
            )
        self.base_model = base
        self.method = method
        self.classes_ = np.array([0, 1])
        self.knots_: tuple[np.ndarray, np.ndarray] | None = None
        """Isotonic map: the scores and the probabilities it interpolates between."""
        self.platt_: tuple[float, float] | None = None
        """Sigmoid map: slope and intercept on the log-odds of the score."""

    def fit_scores(self, raw: np.ndarray, y: np.ndarray) -> CalibratedModel:
        """Learn the map from the base model's scores ``raw`` and the labels ``y``."""
        raw = np.asarray(raw, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        finite = np.isfinite(raw)
        raw, y = raw[finite], y[finite]
        if self.method == "isotonic":
            iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw, y)
            self.knots_ = (
                np.asarray(iso.X_thresholds_, dtype=np.float64),
                np.asarray(iso.y_thresholds_, dtype=np.float64),
            )
        else:
            # Hardly regularised: two parameters against thousands of customers.
            lr = LogisticRegression(C=1e6, max_iter=1000)
            lr.fit(_log_odds(raw).reshape(-1, 1), y.astype(int))
            self.platt_ = (float(lr.coef_[0, 0]), float(lr.intercept_[0]))
        return self

    def fit(self, x: pd.DataFrame, y: np.ndarray) -> CalibratedModel:
        return self.fit_scores(self.base_model.predict_proba(x)[:, 1], y)

    def calibrate_scores(self, raw: np.ndarray) -> np.ndarray:
        """The calibrated probability of *good* for base-model scores ``raw``."""
        raw = np.asarray(raw, dtype=np.float64)
        if self.knots_ is not None:
            xs, ys = self.knots_
            return np.asarray(np.interp(raw, xs, ys), dtype=np.float64)
        if self.platt_ is not None:
            slope, intercept = self.platt_
            return np.asarray(expit(slope * _log_odds(raw) + intercept), dtype=np.float64)
        raise ValueError("this CalibratedModel is not fitted: call fit on the validation window")

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        good = self.calibrate_scores(self.base_model.predict_proba(x)[:, 1])
        return np.column_stack([1.0 - good, good])

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(x)[:, 1] >= 0.5).astype(int)

    # -- the base model's own files (a Keras network), kept beside the pickle ----------

    def save_artifacts(self, folder: Path) -> list[Path]:
        save = getattr(self.base_model, "save_artifacts", None)
        return list(save(folder)) if callable(save) else []

    def load_artifacts(self, folder: Path) -> None:
        load = getattr(self.base_model, "load_artifacts", None)
        if callable(load):
            load(folder)


def base_model(model: Any) -> Any:
    """The model under any calibration wrapper (the model itself when there is none)."""
    return model.base_model if isinstance(model, CalibratedModel) else model
