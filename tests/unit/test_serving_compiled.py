"""The compiled scorer equals the fitted pipeline, or the pipeline is used."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import PolynomialFeatures

from customer_classifier.data.database import connect, customer_ids, iter_chunks, read_customers
from customer_classifier.features.aggregates import iter_aggregates
from customer_classifier.features.build import build_features
from customer_classifier.jobs.ingest import last_sale_date
from customer_classifier.models.bg_nbd import REQUIRED as BG_NBD_COLUMNS
from customer_classifier.models.bg_nbd import BetaGeometricNBD
from customer_classifier.registry.bundle import feature_schema_json
from customer_classifier.serving.compiled import (
    UnsupportedStepError,
    compile_scorer,
    probe_columns,
    verified_scorer,
)
from customer_classifier.serving.schema import RecordSchema
from customer_classifier.training.candidates import gradient_boosting, logistic_regression
from customer_classifier.training.heuristic import HeuristicRules
from tests.conftest import sqlite_url
from tests.unit.training.test_bg_nbd import as_records, simulate

SCHEMA = RecordSchema.from_entries(feature_schema_json())
ACTIVE_WINDOW_DAYS = 365


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


@pytest.fixture(scope="module")
def feature_records(master_db: Path) -> pd.DataFrame:
    """Feature records of the generated database's active customers, as scoring builds them."""
    engine = connect(sqlite_url(master_db))
    as_of = last_sale_date(engine) + dt.timedelta(days=1)
    ids = customer_ids(engine)
    chunks = iter_aggregates(
        engine, as_of, list(iter_chunks(ids, len(ids))), active_window_days=ACTIVE_WINDOW_DAYS
    )
    aggregates = pd.concat(list(chunks), ignore_index=True)
    records = build_features(read_customers(engine), aggregates, as_of, ACTIVE_WINDOW_DAYS)
    engine.dispose()
    return records.reset_index(drop=True)


def _with_nulls(records: pd.DataFrame) -> pd.DataFrame:
    """Every nullable feature null on some records, in every combination of the dates."""
    out = records.copy()
    rng = np.random.default_rng(5)
    for rule in SCHEMA.fields:
        if rule.nullable:
            out.loc[rng.random(len(out)) < 0.3, rule.name] = np.nan if rule.numeric else None
    return out


def _request_columns(records: pd.DataFrame) -> dict[str, np.ndarray]:
    """The columns as the predictor's checks hand them over: float64 with NaN, or objects."""
    return {
        rule.name: records[rule.name].to_numpy(dtype=np.float64 if rule.numeric else object)
        for rule in SCHEMA.fields
    }


def _simulated_bg_nbd(monetary: bool) -> Any:
    """BG/NBD fitted on customers drawn from its own process, other features from the probe."""
    sim = simulate(1500, seed=4)
    drawn = as_records(sim, seed=4)
    frame = pd.DataFrame(probe_columns(SCHEMA, rows=len(sim), seed=4), columns=list(SCHEMA.names))
    for name in (*BG_NBD_COLUMNS, "spend_total"):
        frame[name] = drawn[name]
    label = (sim["future"] >= 2).astype(int).to_numpy()
    return BetaGeometricNBD(horizon_days=91.0, monetary=monetary).fit(frame, label)


@pytest.mark.parametrize("name", ["bg_nbd", "bg_nbd_monetary", "heuristic"])
def test_models_that_score_columns_are_compiled_and_equal_their_predict_proba(
    name: str, feature_records: pd.DataFrame
) -> None:
    if name == "heuristic":
        model: Any = HeuristicRules().fit(feature_records, np.zeros(len(feature_records)))
    else:
        model = _simulated_bg_nbd(monetary=name == "bg_nbd_monetary")
    scorer, kind = verified_scorer(model, SCHEMA)
    assert kind == "compiled"
    fresh = probe_columns(SCHEMA, rows=300, seed=11)
    expected = model.predict_proba(pd.DataFrame(fresh, columns=list(SCHEMA.names)))[:, 1]
    np.testing.assert_allclose(scorer(fresh), expected, rtol=0, atol=1e-12)
    for records in (feature_records, _with_nulls(feature_records)):
        expected = model.predict_proba(records)[:, 1]
        assert np.isfinite(expected).all()
        columns = _request_columns(records)
        np.testing.assert_allclose(scorer(columns), expected, rtol=0, atol=1e-12)
        one = {k: v[-1:] for k, v in columns.items()}
        np.testing.assert_allclose(scorer(one), expected[-1:], rtol=0, atol=1e-12)


def test_bg_nbd_fitted_on_real_records_compiles_with_null_dates(
    feature_records: pd.DataFrame,
) -> None:
    """A record with no purchase dates is a new customer, in the model and in the scorer."""
    label = (feature_records["spend_90d"] > feature_records["spend_90d"].median()).astype(int)
    model = BetaGeometricNBD().fit(feature_records, label.to_numpy())
    scorer, kind = verified_scorer(model, SCHEMA)
    assert kind == "compiled"
    records = _with_nulls(feature_records)
    dates = records[["days_since_first_purchase", "days_since_last_purchase"]]
    undated = dates.isna().all(axis=1)
    assert undated.any()
    got = scorer(_request_columns(records))
    np.testing.assert_allclose(got, model.predict_proba(records)[:, 1], rtol=0, atol=1e-12)
    new = records.loc[undated].assign(days_since_first_purchase=0.0, days_since_last_purchase=0.0)
    np.testing.assert_allclose(got[undated.to_numpy()], scorer(_request_columns(new)), atol=1e-12)
