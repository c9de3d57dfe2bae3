"""Columns that carry nothing in the training window are left out, for every candidate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from customer_classifier.data.contract import SEGMENTS
from customer_classifier.features.build import CATEGORICAL_FEATURES, FEATURE_NAMES
from customer_classifier.registry.bundle import feature_schema_json
from customer_classifier.serving.compiled import probe_columns, verified_scorer
from customer_classifier.serving.schema import RecordSchema
from customer_classifier.training.candidates import gradient_boosting, logistic_regression
from customer_classifier.training.columns import informative_columns

SCHEMA = RecordSchema.from_entries(feature_schema_json())
BARE = ("age", "country", "acquisition_channel")
"""Entirely null in a transaction-only feed."""


def transaction_only(rows: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Feature records as a bare transaction feed gives them, and a learnable label."""
    frame = pd.DataFrame(probe_columns(SCHEMA, rows=rows, seed=seed), columns=list(FEATURE_NAMES))
    for name in BARE:
        frame[name] = np.nan if name == "age" else None
    frame["segment"] = SEGMENTS[0]
    frame["loyalty_member"] = 0.0
    rng = np.random.default_rng(seed)
    signal = np.log1p(frame["spend_365d"].fillna(0)) - np.log1p(frame["days_since_last_purchase"])
    label = (signal + rng.normal(0, 1, rows) > signal.median()).astype(int).to_numpy()
    return frame, label


def test_all_null_and_single_valued_columns_are_named_with_the_reason() -> None:
    frame, _ = transaction_only(200, 1)
    frame.loc[frame.index[:3], "loyalty_member"] = np.nan  # one value and a null: informative
    frame["spend_trend"] = 1.5
    columns = informative_columns(frame)
    assert columns.dropped == {
        "age": "all null",
        "country": "all null",
        "acquisition_channel": "all null",
        "segment": "one value (consumer) in every row",
        "spend_trend": "one value (1.5) in every row",
    }
    assert "loyalty_member" in columns.numeric
    assert columns.categorical == ()
    assert not set(columns.numeric) & set(columns.dropped)


def test_a_complete_window_keeps_every_column() -> None:
    frame = pd.DataFrame(probe_columns(SCHEMA, rows=200, seed=2), columns=list(FEATURE_NAMES))
    columns = informative_columns(frame)
    assert columns.dropped == {}
    assert columns.categorical == CATEGORICAL_FEATURES


@pytest.mark.parametrize("factory", [logistic_regression, gradient_boosting])
def test_candidates_built_for_the_informative_columns_train_and_compile(
    factory: object,
) -> None:
    x, y = transaction_only(600, 3)
    candidate = factory(0)  # type: ignore[operator]
    assert candidate.build is not None
    model = candidate.build(informative_columns(x))
    if factory is gradient_boosting:
        model.set_params(clf__max_iter=20)
    model.fit(x, y)
    test, test_y = transaction_only(300, 4)
    proba = model.predict_proba(test)[:, 1]
    assert proba[test_y == 1].mean() > proba[test_y == 0].mean() + 0.1
    # Serving's fast path still rebuilds the pruned pipeline, on whole feature records.
    scorer, kind = verified_scorer(model, SCHEMA)
    assert kind == "compiled"
    fresh = probe_columns(SCHEMA, rows=100, seed=9)
    expected = model.predict_proba(pd.DataFrame(fresh, columns=list(SCHEMA.names)))[:, 1]
    np.testing.assert_allclose(scorer(fresh), expected, rtol=0, atol=1e-12)
