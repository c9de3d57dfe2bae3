"""The compiled scorer equals the fitted pipeline, or the pipeline is used."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import PolynomialFeatures

from customer_classifier.registry.bundle import feature_schema_json
from customer_classifier.serving.compiled import (
    UnsupportedStepError,
    compile_scorer,
    probe_columns,
    verified_scorer,
)
from customer_classifier.serving.schema import RecordSchema
from customer_classifier.training.candidates import gradient_boosting, logistic_regression

SCHEMA = RecordSchema.from_entries(feature_schema_json())


@pytest.fixture(scope="module")
def training_frame() -> tuple[pd.DataFrame, np.ndarray]:
    columns = probe_columns(SCHEMA, rows=600, seed=3)
    frame = pd.DataFrame(columns, columns=list(SCHEMA.names))
    rng = np.random.default_rng(3)
    signal = np.log1p(frame["spend_365d"].fillna(0)) + (frame["segment"] == "corporate") * 2
    labels = (signal + rng.normal(0, 1, len(frame)) > signal.median()).astype(int).to_numpy()
    return frame, labels


@pytest.mark.parametrize("factory", [logistic_regression, gradient_boosting])
def test_compiled_scores_equal_the_pipeline(
    factory: object, training_frame: tuple[pd.DataFrame, np.ndarray]
) -> None:
    frame, labels = training_frame
    model = factory(0).estimator  # type: ignore[attr-defined]
    if factory is gradient_boosting:
        model.set_params(clf__max_iter=20)  # a few trees exercise the same code, faster
    model.fit(frame, labels)
    scorer, kind = verified_scorer(model, SCHEMA)
    assert kind == "compiled"
    fresh = probe_columns(SCHEMA, rows=300, seed=11)  # other records than the check used
    expected = model.predict_proba(pd.DataFrame(fresh, columns=list(SCHEMA.names)))[:, 1]
    np.testing.assert_allclose(scorer(fresh), expected, rtol=0, atol=1e-12)
    one = {k: v[:1] for k, v in fresh.items()}
    np.testing.assert_allclose(scorer(one), expected[:1], rtol=0, atol=1e-12)


def test_unknown_steps_fall_back_to_the_pipeline(
    training_frame: tuple[pd.DataFrame, np.ndarray],
) -> None:
    frame, labels = training_frame
    numeric = ["loyalty_member", "return_rate_365d", "spend_trend"]
    base = logistic_regression(0).estimator
    pre = base.steps[0][1]
    pre.transformers = [("num", PolynomialFeatures(2), numeric)]
    model = Pipeline([("pre", pre), ("clf", base.steps[1][1])]).fit(frame, labels)
    with pytest.raises(UnsupportedStepError, match="PolynomialFeatures"):
        compile_scorer(model, SCHEMA)
    scorer, kind = verified_scorer(model, SCHEMA)
    assert kind == "pipeline"
    probe = probe_columns(SCHEMA, rows=20)
    expected = model.predict_proba(pd.DataFrame(probe, columns=list(SCHEMA.names)))[:, 1]
    np.testing.assert_array_equal(scorer(probe), expected)


def test_probe_covers_nulls_categories_and_range_ends() -> None:
    probe = probe_columns(SCHEMA, rows=64)
    for rule in SCHEMA.fields:
        values = probe[rule.name]
        if rule.numeric:
            finite = values[~np.isnan(values)]
            assert finite.min() == rule.minimum
            assert finite.max() == rule.maximum
            assert np.isnan(values).any() == rule.nullable
        else:
            assert set(rule.categories) <= set(values.tolist())
            assert (None in values.tolist()) == rule.nullable
