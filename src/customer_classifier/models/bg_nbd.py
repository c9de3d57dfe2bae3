"""The repeat-purchase model of customer analytics (BG/NBD), scoring P(good).

On a feed with only transactions, analysts compare against the BG/NBD model (Fader,
Hardie and Lee, "Counting your customers the easy way", Marketing Science 2005): while
alive, a customer buys as a Poisson process whose rate is Gamma(r, alpha) across
customers, and after each purchase drops out with a probability that is Beta(a, b)
across customers. Its four parameters come from each customer's frequency ``x`` (repeat
purchases), recency ``t_x`` (time of the last purchase since the first) and age ``T``
(time since the first purchase), all read from the feature record, which counts only
sales before the as-of date. The fit gives, per customer, P(alive) and the expected
purchases in the label window; a logistic regression on those (and, with ``monetary``,
the log of the customer's mean order value, since the label is a spend) fitted on the
training window turns them into P(good).

Why scipy rather than a library: ``lifetimes`` has had no release since 0.11.3 (2020)
and its fork ``btyd`` never left beta (0.1b3, 2022); ``pymc-marketing`` is maintained but
brings PyMC and PyTensor (a compiler toolchain and MCMC) for four parameters that a
maximum-likelihood fit finds in well under a second. The likelihood (equation 6 of the
paper) is a few lines of ``scipy.special``; L-BFGS-B fits it on log-parameters.

Time is in weeks inside the model. The model lives here, not in training, because a
registered version unpickles into it when it is scored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit, gammaln, hyp2f1
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from customer_classifier.errors import CandidateSkippedError

REQUIRED = ("days_since_first_purchase", "days_since_last_purchase", "orders_total")
"""Feature columns the model reads; ``spend_total`` too with ``monetary``."""
MONETARY = "spend_total"
_DAYS_PER_UNIT = 7.0
_LOG_BOUNDS = (-12.0, 12.0)
_MIN_AGE = 1.0 / (_DAYS_PER_UNIT * 24.0)  # an hour, so that T > 0
_LARGEST = float(np.finfo(np.float64).max)


def _nan_to_zero(values: np.ndarray) -> np.ndarray:
    """``np.nan_to_num(values, nan=0.0)`` of a float array in four ufunc calls: a served
    record is scored one at a time, where ``nan_to_num``'s own checks cost the most."""
    bounded = np.minimum(np.maximum(values, -_LARGEST), _LARGEST)
    return np.where(np.isnan(values), 0.0, bounded)


def repeat_purchase_summary(x: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frequency, recency, age) per record, in weeks; a record without sales is new."""
    return summary_from_days(*(x[name].to_numpy(dtype=float) for name in REQUIRED))


def summary_from_days(
    first_days: np.ndarray, last_days: np.ndarray, orders_total: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`repeat_purchase_summary` of the record's columns as float arrays (NaN: null).

    A missing age is a customer first seen now, a missing last purchase is the first one,
    missing orders are none.
    """
    age = _nan_to_zero(first_days)
    since_last = np.where(np.isnan(last_days), age, last_days)
    orders = _nan_to_zero(orders_total)
    frequency = np.maximum(orders - 1.0, 0.0)
    age_units = np.maximum(age / _DAYS_PER_UNIT, _MIN_AGE)
    recency = np.clip((age - since_last) / _DAYS_PER_UNIT, 0.0, age_units)
    return frequency, np.where(frequency > 0, recency, 0.0), age_units


def negative_log_likelihood(
    log_params: np.ndarray, frequency: np.ndarray, recency: np.ndarray, age: np.ndarray
) -> float:
    """Mean negative log-likelihood of BG/NBD at ``log(r, alpha, a, b)``."""
    r, alpha, a, b = np.exp(log_params)
    x = frequency
    common = (
        gammaln(r + x)
        - gammaln(r)
        + r * np.log(alpha)
        + gammaln(a + b)
        + gammaln(b + x)
        - gammaln(b)
        - gammaln(a + b + x)
    )
    still_buying = -(r + x) * np.log(alpha + age)
    dropped = np.where(
        x > 0,
        np.log(a) - np.log(b + np.maximum(x, 1.0) - 1.0) - (r + x) * np.log(alpha + recency),
        -np.inf,
    )
    return float(-np.mean(common + np.logaddexp(still_buying, dropped)))


def fit_parameters(
    frequency: np.ndarray, recency: np.ndarray, age: np.ndarray, max_iter: int = 500
) -> dict[str, float]:
    """Maximum-likelihood r, alpha, a, b; :class:`CandidateSkippedError` if the fit fails."""
    result = minimize(
        negative_log_likelihood,
        np.zeros(4),
        args=(frequency, recency, age),
        method="L-BFGS-B",
        bounds=[_LOG_BOUNDS] * 4,
        options={"maxiter": max_iter},
    )
    if not result.success or not np.isfinite(result.fun):
        raise CandidateSkippedError(
            f"the BG/NBD likelihood did not converge on {len(frequency)} customers "
            f"({result.message}); the other candidates go on"
        )
    r, alpha, a, b = (float(v) for v in np.exp(result.x))
    return {"r": r, "alpha": alpha, "a": a, "b": b}


def probability_alive(
    params: dict[str, float], frequency: np.ndarray, recency: np.ndarray, age: np.ndarray
) -> np.ndarray:
    r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))
    x = frequency
    log_odds_dropped = (
        np.log(a)
        - np.log(b + np.maximum(x, 1.0) - 1.0)
        + (r + x) * (np.log(alpha + age) - np.log(alpha + recency))
    )
    return np.where(x > 0, expit(-log_odds_dropped), 1.0)


def expected_purchases(
    params: dict[str, float],
    frequency: np.ndarray,
    recency: np.ndarray,
    age: np.ndarray,
    horizon: float,
    alive: np.ndarray | None = None,
) -> np.ndarray:
    """Expected purchases in the next ``horizon`` weeks (equation 10 of the paper);
    ``alive`` is :func:`probability_alive` of the same customers where already at hand.

    The hypergeometric term is taken after Euler's transformation, whose parameters do
    not grow with the frequency, so heavy buyers neither overflow nor lose precision. The
    formula holds for a < 1 too (its singularity at a = 1 is removable; a is moved off it).
    """
    r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))
    if abs(a - 1.0) < 1e-6:
        a = 1.0 + 1e-6
    x = frequency
    z = horizon / (alpha + age + horizon)
    tail = (1.0 - z) ** (a - 1.0) * hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + x - 1.0, z)
    alive_expectation = (a + b + x - 1.0) / (a - 1.0) * (1.0 - tail)
    if alive is None:
        alive = probability_alive(params, frequency, recency, age)
    out = alive_expectation * alive
    return np.asarray(np.clip(np.nan_to_num(out, nan=0.0, posinf=0.0), 0.0, None))


class BetaGeometricNBD(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """BG/NBD fitted on the feature records, then calibrated to P(good) on the labels."""

    def __init__(self, horizon_days: float = 90.0, monetary: bool = True) -> None:
        self.horizon_days = horizon_days
        self.monetary = monetary

    def _inputs(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        first, last, orders = (np.asarray(columns[name], dtype=np.float64) for name in REQUIRED)
        frequency, recency, age = summary_from_days(first, last, orders)
        horizon = self.horizon_days / _DAYS_PER_UNIT
        alive = probability_alive(self.parameters_, frequency, recency, age)
        expected = expected_purchases(self.parameters_, frequency, recency, age, horizon, alive)
        inputs = [alive, np.log1p(expected)]
        if self.monetary:
            orders = _nan_to_zero(orders)
            spend = _nan_to_zero(np.asarray(columns[MONETARY], dtype=np.float64))
            mean_order = np.where(orders > 0, spend / np.maximum(orders, 1.0), 0.0)
            inputs.append(np.log1p(np.clip(mean_order, 0.0, None)))
        return np.column_stack(inputs)

    def _columns(self, x: pd.DataFrame) -> dict[str, np.ndarray]:
        names = (*REQUIRED, MONETARY) if self.monetary else REQUIRED
        return {name: x[name].to_numpy(dtype=float) for name in names}

    def fit(self, X: pd.DataFrame, y: Any) -> BetaGeometricNBD:  # noqa: N803 - sklearn naming
        self.parameters_ = fit_parameters(*repeat_purchase_summary(X))
        inputs = self._inputs(self._columns(X))
        scaler = StandardScaler().fit(inputs)
        logistic = LogisticRegression().fit(scaler.transform(inputs), np.asarray(y, dtype=int))
        # The calibration as one linear form of the raw inputs: scoring a record online
        # then costs a dot product, not two scikit-learn calls.
        self.coef_ = logistic.coef_.ravel() / scaler.scale_
        self.intercept_ = float(logistic.intercept_[0] - self.coef_ @ scaler.mean_)
        self.classes_ = logistic.classes_
        self.n_features_in_ = X.shape[1]
        self.params_ = {**self.parameters_, "monetary": self.monetary}
        return self

    def score_columns(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """P(good) per record from feature columns as arrays (NaN: null), no frame needed:
        the served scorer calls it on a request's columns, ``predict_proba`` on a frame's."""
        return np.asarray(expit(self._inputs(columns) @ self.coef_ + self.intercept_))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        good = self.score_columns(self._columns(X))
        return np.column_stack([1.0 - good, good])

    def predict(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)
