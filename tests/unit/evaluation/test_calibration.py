"""Calibration figures equal scikit-learn's; the calibration step repairs a bent score.

The planted case: the true probability of *good* is ``p`` and the model scores ``p**3``,
which ranks perfectly and is far from a probability. ECE_BOUND is the documented bound
(docs/calibration-and-value.md) on the test-window ECE after the step: 4000 customers in
10 bins leave about 0.015 of sampling noise for a true probability.
"""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import calibration_curve
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import brier_score_loss

from customer_classifier.evaluation.calibration import brier_score, reliability
from customer_classifier.models.calibrated import CalibratedModel, base_model
from customer_classifier.registry.bundle import feature_schema_json
from customer_classifier.serving.compiled import probe_columns, verified_scorer
from customer_classifier.serving.schema import RecordSchema
from customer_classifier.training.candidates import logistic_regression

ECE_BOUND = 0.04
"""After calibration on the validation window, the test window's ECE stays below this."""
MISCALIBRATED = 0.15
"""A score pushed through a power of 3 shows an ECE above this (about 0.21)."""
ROWS = 4000


def planted(seed: int, rows: int = ROWS) -> tuple[np.ndarray, np.ndarray]:
    """True probabilities and labels drawn from them."""
    rng = np.random.default_rng(seed)
    p = rng.beta(1.2, 3.5, rows)
    return p, (rng.random(rows) < p).astype(int)


@pytest.mark.parametrize("bins", [2, 5, 10, 17])
@pytest.mark.parametrize("rounded", [False, True])
def test_the_figures_equal_scikit_learns(bins: int, rounded: bool) -> None:
    p, y = planted(bins)
    # Rounded scores tie at bin edges, as an isotonic map's steps do.
    scores = np.round(p, 1) if rounded else p
    found = reliability(y, scores, bins)
    prob_true, prob_pred = calibration_curve(y, scores, n_bins=bins, strategy="quantile")
    assert np.allclose(found.prob_true, prob_true, rtol=0, atol=1e-12)
    assert np.allclose(found.prob_pred, prob_pred, rtol=0, atol=1e-12)
    assert found.brier == pytest.approx(brier_score_loss(y, scores), abs=1e-12)
    assert brier_score(y, scores) == pytest.approx(brier_score_loss(y, scores), abs=1e-12)
    # The ECE from its definition, bin by bin over the same equal-mass edges.
    edges = np.percentile(scores, np.linspace(0, 100, bins + 1))
    ids = np.searchsorted(edges[1:-1], scores)
    ece = sum(
        (ids == b).sum() / len(y) * abs(y[ids == b].mean() - scores[ids == b].mean())
        for b in np.unique(ids)
    )
    assert found.ece == pytest.approx(ece, abs=1e-12)
    assert sum(found.counts) == len(y)


def test_unscored_customers_are_left_out_and_counted() -> None:
    p, y = planted(1, 500)
    scores = p.copy()
    scores[:7] = np.nan
    found = reliability(y, scores)
    assert found.unscored == 7
    assert found.brier == pytest.approx(brier_score_loss(y[7:], p[7:]), abs=1e-12)


def test_scores_outside_zero_one_are_refused() -> None:
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\]"):
        reliability(np.array([0, 1]), np.array([0.2, 1.5]))


def test_a_score_cubed_is_detected_and_a_probability_is_not() -> None:
    p, y = planted(2)
    assert reliability(y, p**3).ece > MISCALIBRATED
    assert reliability(y, p).ece < ECE_BOUND


@pytest.mark.parametrize("method", ["isotonic", "sigmoid"])
def test_the_calibration_step_brings_the_test_ece_under_the_bound(method: str) -> None:
    p_valid, y_valid = planted(3)
    p_test, y_test = planted(4)
    model = CalibratedModel(None, method).fit_scores(p_valid**3, y_valid)  # type: ignore[arg-type]
    before = reliability(y_test, p_test**3).ece
    after = reliability(y_test, model.calibrate_scores(p_test**3)).ece
    assert before > MISCALIBRATED
    assert after < ECE_BOUND


def test_the_isotonic_map_is_scikit_learns_isotonic_regression() -> None:
    p, y = planted(5, 1500)
    model = CalibratedModel(None, "isotonic").fit_scores(p**3, y)  # type: ignore[arg-type]
    reference = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p**3, y)
    probe = np.r_[-0.5, 0.0, np.linspace(0, 1, 301), 1.0, 1.5]
    assert np.allclose(model.calibrate_scores(probe), reference.predict(probe), atol=1e-12)


def test_an_unknown_method_is_refused_with_the_setting_to_change() -> None:
    with pytest.raises(ValueError, match="CC_CALIBRATION__METHOD"):
        CalibratedModel(None, "beta")  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def calibrated_pipeline() -> tuple[CalibratedModel, pd.DataFrame]:
    schema = RecordSchema.from_entries(feature_schema_json())
    frame = pd.DataFrame(probe_columns(schema, rows=800, seed=7), columns=list(schema.names))
    rng = np.random.default_rng(7)
    signal = np.log1p(frame["spend_365d"].fillna(0))
    labels = (signal + rng.normal(0, 1, len(frame)) > signal.median()).astype(int).to_numpy()
    base = logistic_regression(0).estimator.fit(frame.iloc[:400], labels[:400])
    model = CalibratedModel(base, "isotonic").fit(frame.iloc[400:], labels[400:])
    return model, frame


def test_a_calibrated_pipeline_is_compiled_and_scores_like_predict_proba(
    calibrated_pipeline: tuple[CalibratedModel, pd.DataFrame],
) -> None:
    model, frame = calibrated_pipeline
    schema = RecordSchema.from_entries(feature_schema_json())
    scorer, kind = verified_scorer(model, schema)
    assert kind == "compiled"
    columns = {name: frame[name].to_numpy() for name in schema.names}
    assert np.allclose(scorer(columns), model.predict_proba(frame)[:, 1], rtol=0, atol=1e-12)


def test_a_calibrated_model_pickles_and_keeps_its_base(
    calibrated_pipeline: tuple[CalibratedModel, pd.DataFrame],
) -> None:
    model, frame = calibrated_pipeline
    again = pickle.loads(pickle.dumps(model))
    assert np.array_equal(again.predict_proba(frame), model.predict_proba(frame))
    assert base_model(again) is again.base_model
    assert base_model(again.base_model) is again.base_model
