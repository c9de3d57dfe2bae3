"""Permutation importance and per-customer contributions on a frame with a planted feature.

The label depends on one column (``orders_365d``) and on noise: every method must find
that column, and the linear contributions must add up to the model's log-odds exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.special import logit
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from customer_classifier.errors import ExplanationError
from customer_classifier.evaluation.contributions import (
    LINEAR,
    REPLACEMENT,
    explainer_for,
    explanation_metadata,
)
from customer_classifier.evaluation.importance import importance_change, permutation_importances
from customer_classifier.features.build import FEATURE_NAMES
from customer_classifier.registry.bundle import feature_schema_json
from customer_classifier.serving.compiled import probe_columns
from customer_classifier.serving.schema import RecordSchema
from customer_classifier.training.candidates import gradient_boosting, logistic_regression
from customer_classifier.training.heuristic import HeuristicRules

PLANTED = "orders_365d"
SCHEMA = RecordSchema.from_entries(feature_schema_json())


def planted_frame(rows: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    frame = pd.DataFrame(probe_columns(SCHEMA, rows=rows, seed=seed), columns=list(FEATURE_NAMES))
    rng = np.random.default_rng(seed)
    strength = np.log1p(frame[PLANTED].to_numpy(dtype=float))
    labels = (strength + rng.normal(0, 1.0, rows) > np.median(strength)).astype(int)
    return frame, labels


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Small frames: gradient boosting's OpenMP threads cost far more than they save on a
    shared machine (the predictor's scoring threads run with one, too)."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def data() -> dict[str, tuple[pd.DataFrame, np.ndarray]]:
    return {"train": planted_frame(800, 1), "test": planted_frame(300, 2)}


@pytest.fixture(scope="module")
def linear(data: dict[str, Any]) -> Pipeline:
    model: Pipeline = logistic_regression(0).estimator
    return model.fit(*data["train"])


@pytest.fixture(scope="module")
def boosting(data: dict[str, Any]) -> Pipeline:
    model: Pipeline = gradient_boosting(0).estimator
    model.set_params(clf__max_iter=30, clf__early_stopping=False)
    return model.fit(*data["train"])


class ScoresOnly:
    """A model with nothing but ``predict_proba`` (like the rules and the Keras model)."""

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        p = 1 / (1 + np.exp(-(np.log1p(x[PLANTED].to_numpy(dtype=float)) - 3)))
        return np.column_stack([1 - p, p])


@pytest.mark.parametrize("which", ["linear", "boosting", "scores_only"])
def test_permutation_importance_ranks_the_planted_feature_first(
    which: str, data: dict[str, Any], request: pytest.FixtureRequest
) -> None:
    model = ScoresOnly() if which == "scores_only" else request.getfixturevalue(which)
    x, y = data["test"]
    found = permutation_importances(model, x, y, n_repeats=2, seed=0, max_rows=10_000)
    assert found.features[0].feature == PLANTED
    assert found.features[0].mean > 0.05
    assert found.features[0].mean > 3 * max(abs(f.mean) for f in found.features[1:])
    assert {f.feature for f in found.features} == set(FEATURE_NAMES)
    assert found.rows == len(x)


def test_permutation_importance_is_seeded_and_samples_above_max_rows(
    linear: Pipeline, data: dict[str, Any]
) -> None:
    x, y = data["test"]
    first = permutation_importances(linear, x, y, n_repeats=2, seed=3, max_rows=150)
    again = permutation_importances(linear, x, y, n_repeats=2, seed=3, max_rows=150)
    assert first == again
    assert first.rows == 150
    assert first.to_metadata()["features"][0]["feature"] == first.features[0].feature


def test_importance_change_against_the_champion_largest_first() -> None:
    mine = {"features": [{"feature": "a", "mean": 0.3}, {"feature": "b", "mean": 0.1}]}
    theirs = {"features": [{"feature": "b", "mean": 0.2}, {"feature": "a", "mean": 0.25}]}
    changes = importance_change(
        mine, {**theirs, "features": [*theirs["features"], {"feature": "c", "mean": 0.0}]}
    )
    assert [c.feature for c in changes] == ["b", "a", "c"]
    assert changes[0].change == pytest.approx(-0.1)
    assert (changes[0].challenger_rank, changes[0].champion_rank) == (2, 1)
    assert changes[2].change is None
    assert changes[2].challenger is None


def test_linear_contributions_sum_to_the_log_odds_minus_the_baseline(
    linear: Pipeline, data: dict[str, Any]
) -> None:
    x_train, _ = data["train"]
    x, _ = data["test"]
    explainer = explainer_for(linear, {"explanation": explanation_metadata(linear, x_train)})
    assert explainer.method == LINEAR
    found = explainer.explain(x)
    log_odds = logit(linear.predict_proba(x)[:, 1])
    np.testing.assert_allclose(found.values.sum(axis=1), log_odds - found.baseline, atol=1e-9)
    np.testing.assert_allclose(found.logits, log_odds, atol=1e-9)
    # A numeric feature's contribution is its coefficient times its standardised value
    # (the training mean of a standardised column is 0).
    pre, clf = linear.named_steps["pre"], linear.named_steps["clf"]
    names = list(pre.get_feature_names_out())
    column = names.index(f"num__{PLANTED}")
    z = pre.transform(x)[:, column]
    assert f"num__missingindicator_{PLANTED}" not in names
    np.testing.assert_allclose(
        found.values[:, FEATURE_NAMES.index(PLANTED)], clf.coef_[0, column] * z, atol=1e-9
    )


def test_top_reasons_are_the_largest_contributions_towards_the_label(
    linear: Pipeline, data: dict[str, Any]
) -> None:
    x_train, _ = data["train"]
    x, _ = data["test"]
    explainer = explainer_for(linear, {"explanation": explanation_metadata(linear, x_train)})
    found = explainer.explain(x)
    good = linear.predict_proba(x)[:, 1] >= 0.5
    reasons = found.reasons(good)
    assert len(reasons) == len(x)
    assert all(len(r) == 3 for r in reasons)
    for i in range(len(x)):
        toward = found.values[i] * (1 if good[i] else -1)
        ranked = [FEATURE_NAMES[j] for j in np.argsort(-toward) if toward[j] > 0][:3]
        assert [r for r in reasons[i] if r is not None] == ranked
    assert sum(r[0] == PLANTED for r in reasons) > len(x) / 2


def test_tree_contributions_replace_one_feature_by_the_reference_customer(
    boosting: Pipeline, data: dict[str, Any]
) -> None:
    x_train, _ = data["train"]
    x, _ = data["test"]
    recorded = explanation_metadata(boosting, x_train)
    explainer = explainer_for(boosting, {"explanation": recorded})
    assert explainer.method == REPLACEMENT
    found = explainer.explain(x.iloc[:50])
    log_odds = logit(np.clip(boosting.predict_proba(x.iloc[:50])[:, 1], 1e-12, 1 - 1e-12))
    np.testing.assert_allclose(found.logits, log_odds, atol=1e-9)
    typical = x.iloc[:50].copy()
    typical[PLANTED] = recorded["reference"][PLANTED]
    moved = log_odds - logit(np.clip(boosting.predict_proba(typical)[:, 1], 1e-12, 1 - 1e-12))
    np.testing.assert_allclose(found.values[:, FEATURE_NAMES.index(PLANTED)], moved, atol=1e-9)
    mean_size = np.abs(found.values).mean(axis=0)
    assert FEATURE_NAMES[int(np.argmax(mean_size))] == PLANTED


def test_a_model_without_contributions_is_named_in_the_error(data: dict[str, Any]) -> None:
    x_train, _ = data["train"]
    rules = HeuristicRules()
    recorded = explanation_metadata(rules, x_train)
    assert recorded["method"] is None
    with pytest.raises(ExplanationError, match="HeuristicRules model"):
        explainer_for(rules, {"explanation": recorded, "candidate": "heuristic"})


def test_a_linear_model_without_recorded_inputs_asks_for_a_retrain(linear: Pipeline) -> None:
    with pytest.raises(ExplanationError, match="LogisticRegression model records no"):
        explainer_for(linear, {})


def test_inputs_recorded_for_another_model_are_refused(linear: Pipeline) -> None:
    recorded = {"explanation": {"method": LINEAR, "background": [0.0, 1.0]}}
    with pytest.raises(ExplanationError, match="the metadata is not this model's"):
        explainer_for(linear, recorded)


def test_a_calibrated_model_is_explained_by_the_model_under_the_map(
    linear: Pipeline, data: dict[str, Any]
) -> None:
    from customer_classifier.models.calibrated import CalibratedModel

    x_train, y_train = data["train"]
    x, _ = data["test"]
    calibrated = CalibratedModel(linear, "sigmoid").fit_scores(
        linear.predict_proba(x_train)[:, 1], y_train
    )
    recorded = explanation_metadata(calibrated, x_train)
    assert recorded["method"] == LINEAR
    found = explainer_for(calibrated, {"explanation": recorded}).explain(x)
    plain = explainer_for(linear, {"explanation": explanation_metadata(linear, x_train)})
    np.testing.assert_allclose(found.values, plain.explain(x).values, atol=1e-12)
