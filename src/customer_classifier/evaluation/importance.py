"""Which raw feature columns a model leans on: permutation importance on the test window.

Permutation importance asks the fitted model, not its internals: a column of the test
window is shuffled and the drop in average precision (the PR AUC the candidates are
selected by) is the column's importance. It is the same measure for every candidate,
scikit-learn pipelines, the rules baseline and the Keras network alike, and it is taken
per raw feature column (:data:`~customer_classifier.features.build.FEATURE_NAMES`), so
a one-hot encoded category counts once, as a whole.

The test window is the one no choice has seen; above ``max_rows`` a seeded sample of it
is used, which keeps the cost to ``n_repeats`` predictions per column on a bounded frame.
The figures go into the bundle's metadata, where the register step compares a
challenger's with the champion's (:func:`importance_change`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance
from sklearn.metrics import average_precision_score
from threadpoolctl import threadpool_limits

from customer_classifier.features.build import FEATURE_NAMES

METRIC = "average_precision"


@dataclass(frozen=True)
class FeatureImportance:
    feature: str
    mean: float
    """Mean drop of average precision when the column is shuffled (higher: matters more)."""
    std: float
    """Spread of that drop over the repeats."""


@dataclass(frozen=True)
class ImportanceResult:
    features: tuple[FeatureImportance, ...]
    """Most important first."""
    metric: str
    n_repeats: int
    rows: int
    seed: int

    def top(self, count: int) -> tuple[FeatureImportance, ...]:
        return self.features[:count]

    def to_metadata(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "n_repeats": self.n_repeats,
            "rows": self.rows,
            "seed": self.seed,
            "features": [
                {"feature": f.feature, "mean": f.mean, "std": f.std} for f in self.features
            ],
        }


def _average_precision(estimator: Any, x: pd.DataFrame, y: np.ndarray) -> float:
    """A scorer that only needs ``predict_proba``: the rules baseline and the Keras model
    are not scikit-learn classifiers, which the named ``average_precision`` scorer needs."""
    return float(average_precision_score(y, np.asarray(estimator.predict_proba(x))[:, 1]))


class _Scored:
    """The model as ``permutation_importance`` takes it: that function insists on a
    ``fit`` it never calls, which the deployed Keras model does not have."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def fit(self, x: Any, y: Any = None) -> _Scored:
        del x, y
        return self

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model.predict_proba(x))


def permutation_importances(
    model: Any,
    x: pd.DataFrame,
    y: np.ndarray,
    *,
    n_repeats: int,
    seed: int,
    max_rows: int,
    features: Sequence[str] = FEATURE_NAMES,
) -> ImportanceResult:
    """Permutation importance of each of ``features`` for a fitted model on ``(x, y)``."""
    frame = x[list(features)]
    labels = np.asarray(y, dtype=int)
    if len(frame) > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(len(frame), max_rows, replace=False))
        frame, labels = frame.iloc[rows], labels[rows]
    # Each prediction is of a few thousand rows: native thread pools cost more to start
    # than they save there, and on a busy node far more (gradient boosting's OpenMP).
    with threadpool_limits(limits=1):
        found = permutation_importance(
            _Scored(model),
            frame,
            labels,
            scoring=_average_precision,
            n_repeats=n_repeats,
            random_state=seed,
            n_jobs=1,
        )
    means = np.asarray(found["importances_mean"], dtype=float)
    stds = np.asarray(found["importances_std"], dtype=float)
    order = sorted(range(len(features)), key=lambda i: (-means[i], features[i]))
    return ImportanceResult(
        features=tuple(
            FeatureImportance(features[i], float(means[i]), float(stds[i])) for i in order
        ),
        metric=METRIC,
        n_repeats=n_repeats,
        rows=len(frame),
        seed=seed,
    )


@dataclass(frozen=True)
class ImportanceChange:
    """One feature's importance in the challenger against the champion's."""

    feature: str
    challenger: float | None
    champion: float | None
    change: float | None
    """challenger minus champion; None when either version did not record the feature."""
    challenger_rank: int | None
    champion_rank: int | None


def _ranked(recorded: Mapping[str, Any] | None) -> dict[str, tuple[float, int]]:
    """feature -> (mean, rank from 1) of an importance record in a bundle's metadata."""
    rows = (recorded or {}).get("features") or []
    return {
        str(row["feature"]): (float(row["mean"]), rank) for rank, row in enumerate(rows, start=1)
    }


def recorded_means(recorded: Mapping[str, Any] | None) -> dict[str, float]:
    """feature -> mean drop of an importance record in a bundle's metadata, most important
    first (empty for a version that recorded none)."""
    return {feature: mean for feature, (mean, _) in _ranked(recorded).items()}


def importance_change(
    challenger: Mapping[str, Any] | None, champion: Mapping[str, Any] | None
) -> list[ImportanceChange]:
    """Per feature, how the challenger's importance differs from the champion's, largest
    change first; features only one of them recorded come last."""
    mine, theirs = _ranked(challenger), _ranked(champion)
    out = []
    for feature in dict.fromkeys([*mine, *theirs]):
        a, b = mine.get(feature), theirs.get(feature)
        out.append(
            ImportanceChange(
                feature=feature,
                challenger=a[0] if a else None,
                champion=b[0] if b else None,
                change=a[0] - b[0] if a and b else None,
                challenger_rank=a[1] if a else None,
                champion_rank=b[1] if b else None,
            )
        )
    return sorted(out, key=lambda c: (c.change is None, -abs(c.change or 0.0), c.feature))
