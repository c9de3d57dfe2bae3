"""The business analyst's rules, as an estimator so it is evaluated like every model.

"A good customer bought recently, buys often and spends a lot": points for each, plus
the quarter's spend as a tie-break. It learns nothing, which is the point: every model
must beat it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

COLUMNS = ("days_since_last_purchase", "orders_90d", "spend_90d")
"""Feature columns the rules read."""


class HeuristicRules(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    def __init__(
        self,
        recency_days: float = 30.0,
        min_orders_90d: float = 2.0,
        spend_90d_scale: float = 250.0,
    ) -> None:
        self.recency_days = recency_days
        self.min_orders_90d = min_orders_90d
        self.spend_90d_scale = spend_90d_scale

    def fit(self, X: pd.DataFrame, y: Any) -> HeuristicRules:  # noqa: N803 - sklearn naming
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = X.shape[1]
        return self

    def score_columns(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """The score per record from feature columns as arrays (NaN: null), no frame needed:
        the served scorer calls it on a request's columns, ``predict_proba`` on a frame's.

        No purchase on record is not recent; null orders are not frequent; null spend has
        no score (NaN), as the rules have always scored it.
        """
        since_last, orders, spend = (np.asarray(columns[c], dtype=np.float64) for c in COLUMNS)
        recent = np.where(np.isnan(since_last), 1e9, since_last) <= self.recency_days
        frequent = orders >= self.min_orders_90d
        big = spend >= self.spend_90d_scale
        tie_break = np.clip(spend / (4.0 * self.spend_90d_scale), 0.0, 1.0)
        return np.asarray((recent.astype(float) + frequent + big + tie_break) / 4.0)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        score = self.score_columns({c: X[c].to_numpy(dtype=float) for c in COLUMNS})
        return np.column_stack([1.0 - score, score])

    def predict(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)
