"""A fast scorer equivalent to a fitted pipeline, checked against it before it is used.

A scikit-learn pipeline spends milliseconds per call on pandas column handling and input
checks, whatever the number of rows; the arithmetic of the usual steps is microseconds.
:func:`compile_scorer` rebuilds the fitted preprocessing (``ColumnTransformer`` over
``SimpleImputer``, ``FunctionTransformer``, ``StandardScaler``, ``OneHotEncoder``,
``OrdinalEncoder``, ``passthrough``) as numpy operations on the validated feature columns
and feeds the estimator its matrix directly (``LogisticRegression`` as its own formula,
any other classifier through its ``predict_proba``). A model that is not a pipeline but
scores feature columns itself (``score_columns``: the BG/NBD model, the heuristic rules)
is handed the request's columns as they are: its ``predict_proba`` is the same arithmetic
behind a frame, so the fast path is the model's own code, not a copy of it. A calibrated
model (``base_model`` plus ``calibrate_scores``, :mod:`customer_classifier.models.calibrated`)
is its base model compiled, then the model's own score map.

Nothing is taken on trust: :func:`verified_scorer` scores a probe set of records drawn
from the feature schema (nulls and every category included) with both the pipeline and
the compiled scorer, and returns the compiled one only if every score agrees to 1e-9;
otherwise, or for a step it does not know, the pipeline itself is used.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler

from customer_classifier.serving.schema import RecordSchema

log = logging.getLogger(__name__)
Columns = Mapping[str, np.ndarray]
Scorer = Callable[[Columns], np.ndarray]
Matrix = Callable[[np.ndarray], np.ndarray]
TOLERANCE = 1e-9


class UnsupportedStepError(Exception):
    """A pipeline step this module does not rebuild; the pipeline is used as it is."""


def _is_missing_value(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _missing_mask(x: np.ndarray, missing_values: Any) -> np.ndarray:
    """Where scikit-learn's imputers see a missing value (NaN by default; None is a value)."""
    if _is_missing_value(missing_values):
        if x.dtype.kind == "f":
            return np.asarray(np.isnan(x), dtype=bool)
        return np.asarray(x != x, dtype=bool)  # NaN is the only value unequal to itself
    return np.asarray(x == missing_values, dtype=bool)


def _imputer(step: SimpleImputer) -> Matrix:
    if getattr(step, "keep_empty_features", False):
        raise UnsupportedStepError("SimpleImputer(keep_empty_features=True)")
    statistics = np.asarray(step.statistics_)
    keep = ~_missing_mask(statistics, np.nan) if statistics.dtype.kind in "fO" else None
    indicator = step.indicator_
    features = None if indicator is None else np.asarray(indicator.features_)
    if indicator is not None and indicator.features != "missing-only":
        raise UnsupportedStepError("MissingIndicator(features='all')")

    def transform(x: np.ndarray) -> np.ndarray:
        mask = _missing_mask(x, step.missing_values)
        out = x.copy() if x.dtype.kind == "f" else x.astype(statistics.dtype, copy=True)
        if mask.any():
            rows, cols = np.nonzero(mask)
            out[rows, cols] = statistics[cols]
        if keep is not None and not keep.all():
            out = out[:, keep]
        if features is not None:
            flags = mask[:, features].astype(out.dtype if out.dtype.kind == "f" else np.float64)
            out = np.hstack([out, flags])
        return out

    return transform


def _function(step: FunctionTransformer) -> Matrix:
    if step.validate:
        raise UnsupportedStepError("FunctionTransformer(validate=True)")
    func = step.func
    kwargs = step.kw_args or {}
    if func is None:
        return lambda x: x
    return lambda x: np.asarray(func(x, **kwargs))


def _scaler(step: StandardScaler) -> Matrix:
    mean = step.mean_ if step.with_mean else None
    scale = step.scale_ if step.with_std else None

    def transform(x: np.ndarray) -> np.ndarray:
        out = np.array(x, dtype=np.float64, copy=True)
        if mean is not None:
            out -= mean
        if scale is not None:
            out /= scale
        return out

    return transform


def _category_codes(categories: np.ndarray, column: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of each value in ``categories`` (-1: unknown) and where the value is missing."""
    lookup: dict[Any, int] = {}
    missing_code = -1
    for code, category in enumerate(categories.tolist()):
        if category is None or _is_missing_value(category):
            if category is None:
                lookup[None] = code
            else:
                missing_code = code
        else:
            lookup[category] = code
    values = column.tolist()
    nan_mask = np.fromiter((_is_missing_value(v) for v in values), bool, len(values))
    codes = np.fromiter(
        (missing_code if _is_missing_value(v) else lookup.get(v, -1) for v in values),
        np.int64,
        len(values),
    )
    return codes, nan_mask


def _one_hot(step: OneHotEncoder) -> Matrix:
    if step.drop_idx_ is not None or getattr(step, "_infrequent_enabled", False):
        raise UnsupportedStepError("OneHotEncoder with drop or infrequent categories")
    if step.handle_unknown not in ("ignore", "infrequent_if_exist"):
        raise UnsupportedStepError(f"OneHotEncoder(handle_unknown={step.handle_unknown!r})")
    categories = [np.asarray(c, dtype=object) for c in step.categories_]
    dtype = step.dtype

    def transform(x: np.ndarray) -> np.ndarray:
        parts = []
        for j, cats in enumerate(categories):
            codes, _ = _category_codes(cats, x[:, j])
            block = np.zeros((len(x), len(cats)), dtype=dtype)
            known = codes >= 0
            block[np.nonzero(known)[0], codes[known]] = 1
            parts.append(block)
        return np.hstack(parts)

    return transform


def _ordinal(step: OrdinalEncoder) -> Matrix:
    if getattr(step, "_infrequent_enabled", False):
        raise UnsupportedStepError("OrdinalEncoder with infrequent categories")
    categories = [np.asarray(c, dtype=object) for c in step.categories_]
    unknown = step.unknown_value if step.handle_unknown == "use_encoded_value" else None
    encoded_missing = step.encoded_missing_value
    dtype = step.dtype

    def transform(x: np.ndarray) -> np.ndarray:
        out = np.empty((len(x), len(categories)), dtype=dtype)
        for j, cats in enumerate(categories):
            codes, _ = _category_codes(cats, x[:, j])
            column = codes.astype(dtype)
            # Only a NaN category is "missing" to OrdinalEncoder; None is a category.
            missing = [i for i, c in enumerate(cats.tolist()) if _is_missing_value(c)]
            if missing:
                column[np.isin(codes, missing)] = encoded_missing
            if (codes < 0).any():
                if unknown is None:
                    raise ValueError("unknown category for an OrdinalEncoder without a code")
                column[codes < 0] = unknown
            out[:, j] = column
        return out

    return transform


def _matrix(step: Any) -> Matrix:
    if step == "passthrough" or step is None:
        return lambda x: x
    if isinstance(step, Pipeline):
        parts = [_matrix(s) for _, s in step.steps]

        def chain(x: np.ndarray) -> np.ndarray:
            for part in parts:
                x = part(x)
            return x

        return chain
    for kind, build in (
        (SimpleImputer, _imputer),
        (FunctionTransformer, _function),
        (StandardScaler, _scaler),
        (OneHotEncoder, _one_hot),
        (OrdinalEncoder, _ordinal),
    ):
        if type(step) is kind:
            return build(step)
    raise UnsupportedStepError(type(step).__name__)


def _column_transformer(
    step: ColumnTransformer, numeric: set[str]
) -> Callable[[Columns], np.ndarray]:
    names_in = list(getattr(step, "feature_names_in_", []))
    blocks: list[tuple[list[str], Matrix]] = []
    for name, transformer, columns in step.transformers_:
        if transformer == "drop" or (name == "remainder" and len(columns) == 0):
            continue
        selected = [names_in[c] if isinstance(c, int | np.integer) else str(c) for c in columns]
        blocks.append((selected, _matrix(transformer)))

    def transform(data: Columns) -> np.ndarray:
        parts = []
        for columns, apply in blocks:
            if all(c in numeric for c in columns):
                x = np.column_stack([data[c] for c in columns]).astype(np.float64, copy=False)
            else:
                x = np.empty((len(data[columns[0]]), len(columns)), dtype=object)
                for j, c in enumerate(columns):
                    x[:, j] = data[c]
            parts.append(np.asarray(apply(x), dtype=np.float64))
        return np.hstack(parts)

    return transform


def _own_scorer(score_columns: Callable[[Columns], Any]) -> Scorer:
    def own(data: Columns) -> np.ndarray:
        return np.asarray(score_columns(data), dtype=np.float64)

    return own


def compile_scorer(model: Any, schema: RecordSchema) -> Scorer:
    """Probability of *good* from feature columns; raises :class:`UnsupportedStepError`."""
    calibrate = getattr(model, "calibrate_scores", None)
    if callable(calibrate) and hasattr(model, "base_model"):
        raw = compile_scorer(model.base_model, schema)

        def calibrated(data: Columns) -> np.ndarray:
            return np.asarray(calibrate(raw(data)), dtype=np.float64)

        return calibrated
    score_columns = getattr(model, "score_columns", None)
    if not isinstance(model, Pipeline) and callable(score_columns):
        return _own_scorer(score_columns)
    if not isinstance(model, Pipeline) or len(model.steps) != 2:
        raise UnsupportedStepError(f"{type(model).__name__} is not a two-step Pipeline")
    pre, estimator = model.steps[0][1], model.steps[1][1]
    if not isinstance(pre, ColumnTransformer):
        raise UnsupportedStepError(f"first step {type(pre).__name__} is not a ColumnTransformer")
    if hasattr(estimator, "feature_names_in_"):
        raise UnsupportedStepError("the estimator was fitted on named columns")
    numeric = {f.name for f in schema.fields if f.numeric}
    transform = _column_transformer(pre, numeric)
    if type(estimator) is LogisticRegression and estimator.coef_.shape[0] == 1:
        weights = estimator.coef_.T
        intercept = estimator.intercept_

        def logistic(data: Columns) -> np.ndarray:
            decision = (transform(data) @ weights + intercept).ravel()
            return np.asarray(expit(decision))

        return logistic
    if not hasattr(estimator, "predict_proba"):
        raise UnsupportedStepError(f"{type(estimator).__name__} has no predict_proba")

    def generic(data: Columns) -> np.ndarray:
        return np.asarray(estimator.predict_proba(transform(data))[:, 1])

    return generic


def probe_columns(schema: RecordSchema, rows: int = 256, seed: int = 0) -> dict[str, np.ndarray]:
    """Records across each feature's range, with nulls and every category, for checking."""
    rng = np.random.default_rng(seed)
    columns: dict[str, np.ndarray] = {}
    for rule in schema.fields:
        if rule.numeric:
            low = rule.minimum if rule.minimum is not None else -1e6
            high = rule.maximum if rule.maximum is not None else 1e6
            span = high - low
            if span > 1_000:  # log-spread so that small values are probed too
                values = low + np.expm1(rng.uniform(0, np.log1p(span), rows))
            else:
                values = rng.uniform(low, high, rows)
            if rule.nullable:
                values[rng.random(rows) < 0.2] = np.nan
            values[: min(2, rows)] = (low, high)[:rows]
            columns[rule.name] = values.astype(np.float64)
        else:
            options: list[Any] = list(rule.categories) + ([None] if rule.nullable else [])
            picks = np.empty(rows, dtype=object)
            picks[:] = [options[i % len(options)] for i in rng.permutation(rows)]
            columns[rule.name] = picks
    return columns


def verified_scorer(model: Any, schema: RecordSchema) -> tuple[Scorer, str]:
    """The compiled scorer if it agrees with the pipeline on the probe set, else the
    pipeline; and which one (``compiled`` or ``pipeline``)."""
    names = list(schema.names)

    def pipeline(data: Columns) -> np.ndarray:
        frame = pd.DataFrame(dict(data), columns=names, copy=False)
        return np.asarray(model.predict_proba(frame)[:, 1])

    try:
        compiled = compile_scorer(model, schema)
        probe = probe_columns(schema)
        expected = pipeline(probe)
        got = compiled(probe)
        if got.shape != expected.shape or not np.allclose(got, expected, rtol=0, atol=TOLERANCE):
            worst = float(np.max(np.abs(got - expected))) if got.shape == expected.shape else -1
            log.warning("compiled scorer differs from the pipeline (max %.3g); using it", worst)
            return pipeline, "pipeline"
    except UnsupportedStepError as exc:
        log.info("pipeline scored as it is: %s", exc)
        return pipeline, "pipeline"
    return compiled, "compiled"
