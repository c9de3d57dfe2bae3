"""The candidate models and their hyper-parameter grids.

Every candidate is a scikit-learn estimator taking the feature frame of
:mod:`customer_classifier.features.build`, preprocessing included, so the registered
artifact is the whole pipeline and serving needs nothing else. The Keras candidate
(``keras_mlp``) is one too; it is imported only when asked for, so a run without it never
loads a deep-learning framework.

A candidate with ``build`` is rebuilt for the columns that vary in the training window
(:mod:`customer_classifier.training.columns`); ``estimator`` is its build for every
column. One with ``requires`` is skipped, with the reason, when one of those columns
carries nothing in the training window.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler

from customer_classifier.errors import ConfigurationError
from customer_classifier.features.transforms import signed_log1p
from customer_classifier.models.bg_nbd import REQUIRED as BG_NBD_REQUIRED
from customer_classifier.models.bg_nbd import BetaGeometricNBD
from customer_classifier.settings import DeepLearningSettings
from customer_classifier.training.columns import ALL_COLUMNS, FeatureColumns
from customer_classifier.training.heuristic import HeuristicRules
from customer_classifier.training.names import (
    BG_NBD,
    GRADIENT_BOOSTING,
    HEURISTIC,
    KERAS_MLP,
    LOGISTIC_REGRESSION,
)


@dataclass(frozen=True)
class Candidate:
    name: str
    estimator: Any
    grid: dict[str, list[Any]] = field(default_factory=dict)
    description: str = ""
    fit_with_validation: bool = False
    """``fit(x, y, validation_data=(x_valid, y_valid))``: early stopping on that window."""
    prefit: bool = False
    """Trained elsewhere (the GPU task of the pipeline): evaluated and selected as it is."""
    params: dict[str, Any] = field(default_factory=dict)
    """The recorded parameters of a prefit candidate."""
    build: Callable[[FeatureColumns], Any] | None = None
    """The estimator for a choice of columns; ``None``: ``estimator`` as it is."""
    requires: tuple[str, ...] = ()
    """Feature columns without which the candidate cannot train."""


def _logistic_pipeline(columns: FeatureColumns, *, seed: int) -> Pipeline:
    numeric = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", add_indicator=True)),
            ("log", FunctionTransformer(signed_log1p, feature_names_out="one-to-one")),
            ("scale", StandardScaler()),
        ]
    )
    categorical = Pipeline(
        [
            ("impute", SimpleImputer(strategy="constant", fill_value="missing")),
            ("onehot", OneHotEncoder(handle_unknown="ignore")),
        ]
    )
    blocks = [
        ("num", numeric, list(columns.numeric)),
        ("cat", categorical, list(columns.categorical)),
    ]
    pre = ColumnTransformer([block for block in blocks if block[2]])
    return Pipeline([("pre", pre), ("clf", LogisticRegression(max_iter=2000, random_state=seed))])


def logistic_regression(seed: int) -> Candidate:
    build = partial(_logistic_pipeline, seed=seed)
    return Candidate(
        LOGISTIC_REGRESSION,
        build(ALL_COLUMNS),
        {"clf__C": [0.1, 1.0]},
        "Regularised logistic regression on log-scaled, standardised features.",
        build=build,
    )


def _boosting_pipeline(columns: FeatureColumns, *, seed: int) -> Pipeline:
    encoder = OrdinalEncoder(
        handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan
    )
    blocks: list[tuple[str, Any, list[str]]] = [
        ("num", "passthrough", list(columns.numeric)),
        ("cat", encoder, list(columns.categorical)),
    ]
    pre = ColumnTransformer(
        [block for block in blocks if block[2]], verbose_feature_names_out=False
    )
    categorical_mask = [False] * len(columns.numeric) + [True] * len(columns.categorical)
    clf = HistGradientBoostingClassifier(
        categorical_features=categorical_mask,
        max_iter=200,
        early_stopping=True,
        validation_fraction=0.15,
        random_state=seed,
    )
    return Pipeline([("pre", pre), ("clf", clf)])


def gradient_boosting(seed: int) -> Candidate:
    build = partial(_boosting_pipeline, seed=seed)
    return Candidate(
        GRADIENT_BOOSTING,
        build(ALL_COLUMNS),
        {"clf__learning_rate": [0.05, 0.1], "clf__max_leaf_nodes": [15, 31]},
        "Histogram gradient boosting with native categorical splits.",
        build=build,
    )


def heuristic(seed: int) -> Candidate:
    del seed
    return Candidate(
        HEURISTIC,
        HeuristicRules(),
        {},
        "Recency, frequency and spend rules; the baseline every model must beat.",
    )


def bg_nbd(seed: int, horizon_days: int = 90) -> Candidate:
    del seed  # maximum likelihood and a logistic regression: nothing is drawn at random
    return Candidate(
        BG_NBD,
        BetaGeometricNBD(horizon_days=horizon_days),
        {"monetary": [False, True]},
        "BG/NBD repeat-purchase model (P(alive), expected purchases in the label window), "
        "calibrated to P(good) by a logistic regression; the transaction-only baseline.",
        requires=BG_NBD_REQUIRED,
    )


def keras_mlp(seed: int, settings: DeepLearningSettings | None = None) -> Candidate:
    from customer_classifier.training import keras_mlp as dl

    return Candidate(
        dl.NAME,
        dl.KerasMLPClassifier(settings, seed=seed),
        {},
        dl.DESCRIPTION,
        fit_with_validation=True,
    )


def prefit_candidate(name: str, model: Any, description: str, params: dict[str, Any]) -> Candidate:
    """A model trained by another task, to be evaluated and selected beside the others."""
    return Candidate(name, model, {}, description, prefit=True, params=dict(params))


def make_candidates(
    names: tuple[str, ...],
    seed: int,
    *,
    horizon_days: int = 90,
    dl: DeepLearningSettings | None = None,
) -> list[Candidate]:
    """The candidates in the order named; ``horizon_days`` is the label window's length,
    ``dl`` the Keras network's settings (``CC_DL__*``; default: the defaults)."""
    factories: dict[str, Callable[[int], Candidate]] = {
        HEURISTIC: heuristic,
        LOGISTIC_REGRESSION: logistic_regression,
        GRADIENT_BOOSTING: gradient_boosting,
        BG_NBD: partial(bg_nbd, horizon_days=horizon_days),
        KERAS_MLP: partial(keras_mlp, settings=dl),
    }
    out = []
    for name in names:
        if name not in factories:
            raise ConfigurationError(
                f"candidate {name!r} is not available in this build; "
                f"choose from {sorted(factories)}"
            )
        out.append(factories[name](seed))
    return out
