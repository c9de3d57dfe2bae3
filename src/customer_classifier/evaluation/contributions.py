"""Why one customer got their score: per-feature contributions in log-odds, and top reasons.

Two methods, each chosen for what it can promise:

* **linear** (a logistic-regression pipeline): the log-odds are
  ``intercept + coef . z`` with ``z`` the transformed record (imputed, log-scaled,
  standardised numbers; one-hot categories). A transformed column contributes
  ``coef_k * (z_k - mean_k)``, ``mean_k`` its mean over the training window (0 for a
  standardised column, the category's share for a one-hot one), and the columns of one
  raw feature (its value, its missing-value indicator, its categories) are summed back to
  that feature. These are the exact Shapley values of a linear model with independent
  features: they add up to the customer's log-odds minus the ``baseline``, the log-odds
  of the average training record.
* **replacement** (tree ensembles, where no closed form is exact): a feature's
  contribution is the log-odds of the record minus the log-odds of the same record with
  that feature set to the reference customer's value (median of each number, most frequent
  category, both over the training window). It answers "how much would the score move if
  this were typical", one prediction per feature; it needs no model internals, so it holds
  for native categorical splits too. Interactions make the sum differ from the total
  change, so the baseline (the reference customer's log-odds) is reported, not implied.

Other models (the rules baseline, BG/NBD, the Keras network) have no contributions here;
:func:`explainer_for` says so with :class:`~customer_classifier.errors.ExplanationError`.
The method's inputs (the background means, the reference customer) are computed at
training (:func:`explanation_metadata`) and kept in the bundle's metadata, since neither
nightly scoring nor the predictor sees the training window.

A customer's **reasons** are the features pushing hardest towards the label they got:
the largest contributions for a *good* customer, the most negative for a *bad* one; a
feature that pushes the other way is never a reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd
import scipy.sparse
from scipy.special import logit
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from customer_classifier.errors import ExplanationError
from customer_classifier.features.build import CATEGORICAL_FEATURES, FEATURE_NAMES

LINEAR, REPLACEMENT = "linear", "replacement"
METADATA_KEY = "explanation"
REASONS = 3
EPSILON = 1e-12
_TREE_MODULES = (
    "sklearn.tree.",
    "sklearn.ensemble._forest",
    "sklearn.ensemble._gb",
    "sklearn.ensemble._hist_gradient_boosting.",
)
"""Where scikit-learn keeps its tree models (not the voting or stacking ensembles)."""


@dataclass(frozen=True)
class Contributions:
    features: tuple[str, ...]
    values: np.ndarray
    """(records, features): each feature's contribution to the log-odds."""
    baseline: float
    """The log-odds contributions are measured from (see the module's description)."""
    logits: np.ndarray
    """(records,): the model's log-odds of each record."""
    method: str

    def reasons(self, good: np.ndarray, count: int = REASONS) -> list[list[str | None]]:
        """Per record, the ``count`` features pushing hardest towards its label (``good``:
        whether the record was labelled good), strongest first; None fills the places of
        features that push the other way."""
        toward = self.values * np.where(np.asarray(good, dtype=bool), 1.0, -1.0)[:, None]
        shown = min(count, len(self.features))
        order = np.argsort(-toward, axis=1, kind="stable")[:, :shown]
        strength = np.take_along_axis(toward, order, axis=1)
        names = np.asarray(self.features, dtype=object)[order]
        names[strength <= 0] = None
        return [[*row, *([None] * (count - shown))] for row in names.tolist()]

    def record(self, index: int) -> dict[str, float]:
        return dict(zip(self.features, self.values[index].tolist(), strict=True))


class Explainer(Protocol):
    method: str

    def explain(self, frame: pd.DataFrame) -> Contributions: ...


def _log_odds(probabilities: np.ndarray) -> np.ndarray:
    return np.asarray(logit(np.clip(probabilities, EPSILON, 1 - EPSILON)), dtype=float)


def model_type(model: Any) -> str:
    """The name a message gives a model: the final estimator's class."""
    final = model.steps[-1][1] if isinstance(model, Pipeline) else model
    return type(final).__name__


def _uncalibrated(model: Any) -> Any:
    """The model under a calibration map (models.calibrated.CalibratedModel): its
    contributions explain the model's own log-odds, which the monotone map keeps in
    order, so the top reasons are the same for the calibrated score."""
    return getattr(model, "base_model", model)


def _is_linear(model: Any) -> bool:
    return (
        isinstance(model, Pipeline)
        and len(model.steps) == 2
        and isinstance(model.steps[0][1], ColumnTransformer)
        and isinstance(model.steps[-1][1], LogisticRegression)
        and len(model.steps[-1][1].classes_) == 2
    )


def _is_tree(model: Any) -> bool:
    final = model.steps[-1][1] if isinstance(model, Pipeline) else model
    return isinstance(final, HistGradientBoostingClassifier) or (
        isinstance(final, BaseEstimator)
        and hasattr(final, "predict_proba")
        and type(final).__module__.startswith(_TREE_MODULES)
    )


def _dense(matrix: Any) -> np.ndarray:
    if scipy.sparse.issparse(matrix):
        return np.asarray(matrix.toarray(), dtype=float)
    return np.asarray(matrix, dtype=float)


def _raw_feature(name: str, columns: Sequence[str]) -> str | None:
    """The raw feature an output column of one ColumnTransformer block comes from: the
    column itself, its missing-value indicator, or one of its categories."""
    if name in columns:
        return name
    indicator = name.removeprefix("missingindicator_")
    if indicator != name and indicator in columns:
        return indicator
    owners = [c for c in columns if name.startswith(f"{c}_")]
    return max(owners, key=len) if owners else None


def linear_column_map(pre: ColumnTransformer, features: Sequence[str]) -> np.ndarray:
    """(transformed columns, features) 0/1 matrix: which raw feature owns each column."""
    owners: list[int] = []
    for name, transformer, columns in pre.transformers_:
        if transformer == "drop" or name == "remainder":
            continue
        cols = list(columns)
        outputs = cols if transformer == "passthrough" else transformer.get_feature_names_out(cols)
        for output in outputs:
            owner = _raw_feature(str(output), cols)
            if owner is None or owner not in features:
                raise ExplanationError(
                    f"the transformed column {output!r} of block {name!r} maps to no raw "
                    f"feature: the linear contributions need each column to come from one "
                    "of the model's features"
                )
            owners.append(list(features).index(owner))
    matrix = np.zeros((len(owners), len(features)))
    matrix[np.arange(len(owners)), owners] = 1.0
    return matrix


class LinearExplainer:
    """Exact contributions of a logistic-regression pipeline (see the module)."""

    method = LINEAR

    def __init__(
        self, model: Pipeline, background: Sequence[float], features: Sequence[str]
    ) -> None:
        self.model = model
        self.features = tuple(features)
        pre, clf = model.steps[0][1], model.steps[-1][1]
        self.pre = pre
        self.coef = np.asarray(clf.coef_, dtype=float).ravel()
        self.mean = np.asarray(background, dtype=float)
        if self.mean.shape != self.coef.shape:
            raise ExplanationError(
                f"the recorded background has {self.mean.size} columns, the model "
                f"{self.coef.size}: the metadata is not this model's; retrain the version"
            )
        self.owners = linear_column_map(pre, self.features)
        self.baseline = float(clf.intercept_[0] + self.coef @ self.mean)

    def explain(self, frame: pd.DataFrame) -> Contributions:
        z = _dense(self.pre.transform(frame[list(self.features)]))
        values = ((z - self.mean) * self.coef) @ self.owners
        return Contributions(
            features=self.features,
            values=values,
            baseline=self.baseline,
            logits=self.baseline + values.sum(axis=1),
            method=self.method,
        )


class ReplacementExplainer:
    """Contributions by setting one feature at a time to the reference customer's value."""

    method = REPLACEMENT

    def __init__(self, model: Any, reference: Mapping[str, Any], features: Sequence[str]) -> None:
        missing = [name for name in features if name not in reference]
        if missing:
            raise ExplanationError(
                f"the recorded reference customer lacks {missing}: the metadata is not "
                "this model's; retrain the version"
            )
        self.model = model
        self.features = tuple(features)
        self.reference = {
            name: (
                np.nan
                if reference[name] is None and name not in CATEGORICAL_FEATURES
                else reference[name]
            )
            for name in self.features
        }
        row = pd.DataFrame([self.reference], columns=list(self.features))
        self.baseline = float(self._logits(row)[0])

    def _logits(self, frame: pd.DataFrame) -> np.ndarray:
        return _log_odds(np.asarray(self.model.predict_proba(frame))[:, 1])

    def explain(self, frame: pd.DataFrame) -> Contributions:
        work = frame[list(self.features)].copy()
        logits = self._logits(work)
        values = np.empty((len(work), len(self.features)))
        for j, name in enumerate(self.features):
            original = work[name]
            work[name] = self.reference[name]
            values[:, j] = logits - self._logits(work)
            work[name] = original
        return Contributions(
            features=self.features,
            values=values,
            baseline=self.baseline,
            logits=logits,
            method=self.method,
        )


def reference_customer(x: pd.DataFrame, features: Sequence[str]) -> dict[str, Any]:
    """Each number's median and each category's most frequent value over ``x``."""
    out: dict[str, Any] = {}
    for name in features:
        values = x[name].dropna()
        if name in CATEGORICAL_FEATURES:
            out[name] = str(values.mode().iloc[0]) if len(values) else None
        else:
            out[name] = float(values.median()) if len(values) else None
    return out


def explanation_metadata(
    model: Any, x_train: pd.DataFrame, features: Sequence[str] = FEATURE_NAMES
) -> dict[str, Any]:
    """What the bundle records for explaining ``model``: the method and its inputs, or
    why it has none."""
    model = _uncalibrated(model)
    if _is_linear(model):
        z = _dense(model.steps[0][1].transform(x_train[list(features)]))
        return {"method": LINEAR, "background": z.mean(axis=0).tolist()}
    if _is_tree(model):
        return {"method": REPLACEMENT, "reference": reference_customer(x_train, features)}
    return {"method": None, "model_type": model_type(model)}


def explainer_for(
    model: Any, metadata: Mapping[str, Any], features: Sequence[str] = FEATURE_NAMES
) -> Explainer:
    """The explainer a bundle's model and metadata allow; :class:`ExplanationError`
    naming the model type when there is none."""
    recorded = metadata.get(METADATA_KEY) or {}
    method = recorded.get("method")
    model = _uncalibrated(model)
    kind = model_type(model)
    inputs = recorded.get("background" if method == LINEAR else "reference")
    try:
        if method == LINEAR and _is_linear(model) and isinstance(inputs, list):
            return LinearExplainer(model, inputs, features)
        if method == REPLACEMENT and _is_tree(model) and isinstance(inputs, dict):
            return ReplacementExplainer(model, inputs, features)
    except (AttributeError, TypeError, ValueError) as exc:
        # A fitted model of another make than training builds: no contributions, but it
        # must still be served and scored.
        raise ExplanationError(
            f"the explanation of the {kind} model could not be set up ({exc}); retrain it "
            "with this version of training"
        ) from exc
    if _is_linear(model) or _is_tree(model):
        raise ExplanationError(
            f"the {kind} model records no explanation inputs in its metadata "
            f"({METADATA_KEY}: {recorded or None}); retrain it with this version of training"
        )
    raise ExplanationError(
        f"per-customer contributions are defined for logistic-regression and tree models, "
        f"not for a {kind} model (candidate {metadata.get('candidate', '?')!r})"
    )
