"""The candidate models and their hyper-parameter grids.

Every candidate is a scikit-learn estimator taking the feature frame of
:mod:`customer_classifier.features.build`, preprocessing included, so the registered
artifact is the whole pipeline and serving needs nothing else. The Keras candidate
(``keras_mlp``) is one too; it is imported only when asked for, so a run without it never
loads a deep-learning framework.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler

from customer_classifier.errors import ConfigurationError
from customer_classifier.features.build import CATEGORICAL_FEATURES, NUMERIC_FEATURES
from customer_classifier.features.transforms import signed_log1p
from customer_classifier.training.heuristic import HeuristicRules


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


def logistic_regression(seed: int) -> Candidate:
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
    pre = ColumnTransformer(
        [("num", numeric, list(NUMERIC_FEATURES)), ("cat", categorical, list(CATEGORICAL_FEATURES))]
    )
    model = Pipeline([("pre", pre), ("clf", LogisticRegression(max_iter=2000, random_state=seed))])
    return Candidate(
        "logistic_regression",
        model,
        {"clf__C": [0.1, 1.0]},
        "Regularised logistic regression on log-scaled, standardised features.",
    )


def gradient_boosting(seed: int) -> Candidate:
    pre = ColumnTransformer(
        [
            ("num", "passthrough", list(NUMERIC_FEATURES)),
            (
                "cat",
                OrdinalEncoder(
                    handle_unknown="use_encoded_value",
                    unknown_value=np.nan,
                    encoded_missing_value=np.nan,
                ),
                list(CATEGORICAL_FEATURES),
            ),
        ],
        verbose_feature_names_out=False,
    )
    n_num = len(NUMERIC_FEATURES)
    categorical_mask = [False] * n_num + [True] * len(CATEGORICAL_FEATURES)
    clf = HistGradientBoostingClassifier(
        categorical_features=categorical_mask,
        max_iter=200,
        early_stopping=True,
        validation_fraction=0.15,
        random_state=seed,
    )
    model = Pipeline([("pre", pre), ("clf", clf)])
    return Candidate(
        "gradient_boosting",
        model,
        {"clf__learning_rate": [0.05, 0.1], "clf__max_leaf_nodes": [15, 31]},
        "Histogram gradient boosting with native categorical splits.",
    )


def heuristic(seed: int) -> Candidate:
    del seed
    return Candidate(
        "heuristic",
        HeuristicRules(),
        {},
        "Recency, frequency and spend rules; the baseline every model must beat.",
    )


def keras_mlp(seed: int) -> Candidate:
    from customer_classifier.training import keras_mlp as dl

    return Candidate(
        dl.NAME,
        dl.KerasMLPClassifier(None, seed=seed),
        {},
        dl.DESCRIPTION,
        fit_with_validation=True,
    )


def prefit_candidate(name: str, model: Any, description: str, params: dict[str, Any]) -> Candidate:
    """A model trained by another task, to be evaluated and selected beside the others."""
    return Candidate(name, model, {}, description, prefit=True, params=dict(params))


_FACTORIES = {
    "heuristic": heuristic,
    "logistic_regression": logistic_regression,
    "gradient_boosting": gradient_boosting,
    "keras_mlp": keras_mlp,
}


def make_candidates(names: tuple[str, ...], seed: int) -> list[Candidate]:
    out = []
    for name in names:
        if name not in _FACTORIES:
            raise ConfigurationError(
                f"candidate {name!r} is not available in this build; "
                f"choose from {sorted(_FACTORIES)}"
            )
        out.append(_FACTORIES[name](seed))
    return out
