"""Business value: the one-pass curve equals the definition at every threshold."""

from __future__ import annotations

import numpy as np
import pytest

from customer_classifier.evaluation.value import (
    ValueTerms,
    business_value,
    candidate_value,
    value_at,
    value_curve,
    value_of,
)

TERMS = ValueTerms(true_positive=100.0, false_positive_cost=50.0)


def test_value_counts_true_and_false_positives() -> None:
    y = np.array([1, 1, 0, 0, 0])
    assert value_of(y, np.array([1, 0, 1, 1, 0]), TERMS) == 100.0 - 2 * 50.0
    assert value_at(y, np.array([0.9, 0.2, 0.8, np.nan, 0.1]), 0.5, TERMS) == 100.0 - 50.0
    assert TERMS.break_even_precision == pytest.approx(1 / 3)
    assert ValueTerms(0.0, 0.0).break_even_precision == 0.0


def test_the_curve_equals_the_value_at_each_threshold_ties_and_nan_included() -> None:
    rng = np.random.default_rng(0)
    scores = np.round(rng.random(400), 2)  # many ties
    scores[:9] = np.nan
    y = (rng.random(400) < np.nan_to_num(scores)).astype(int)
    curve = value_curve(y, scores, TERMS)
    distinct = np.unique(scores[np.isfinite(scores)])[::-1]
    assert np.array_equal(curve.thresholds, distinct)
    expected = [value_at(y, scores, t, TERMS) for t in distinct]
    assert np.allclose(curve.values, expected, rtol=0, atol=1e-9)
    best, value = curve.best()
    assert value == max(expected)
    assert value_at(y, scores, best, TERMS) == value


def test_when_nothing_pays_the_best_is_to_act_on_no_one() -> None:
    y = np.zeros(5, dtype=int)
    scores = np.linspace(0.1, 0.9, 5)
    threshold, value = value_curve(y, scores, TERMS).best()
    assert value == 0.0
    assert threshold > scores.max()
    assert value_at(y, scores, threshold, TERMS) == 0.0


def test_model_heuristic_and_everyone_side_by_side() -> None:
    rng = np.random.default_rng(1)
    p = rng.random(1000)
    y = (rng.random(1000) < p).astype(int)
    model = candidate_value(y, p, y, p, 0.8, TERMS)
    noisy = np.clip(p + rng.normal(0, 0.4, 1000), 0, 1)
    rules = candidate_value(y, noisy, y, noisy, 0.8, TERMS)
    found = business_value(model, rules, y, TERMS)
    assert found.act_on_everyone == value_of(y, np.ones(1000, bool), TERMS)
    assert found.beats_heuristic
    assert found.model.value_at_value_threshold >= found.model.value
    record = found.to_metadata()
    assert record["value_threshold"] == found.model.value_threshold
    assert record["model_value_per_customer"] == pytest.approx(found.model.value / 1000)
