"""The heuristic baseline: the analyst's rules as an estimator, learning nothing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from customer_classifier.training.heuristic import HeuristicRules


def records(**columns: list[float]) -> pd.DataFrame:
    base = {"days_since_last_purchase": [400.0], "orders_90d": [0.0], "spend_90d": [0.0]}
    base.update(columns)
    n = max(len(v) for v in base.values())
    return pd.DataFrame({k: v * n if len(v) == 1 else v for k, v in base.items()})


def score(frame: pd.DataFrame, **params: float) -> np.ndarray:
    return HeuristicRules(**params).fit(frame, np.zeros(len(frame))).predict_proba(frame)[:, 1]


def test_each_rule_adds_a_quarter() -> None:
    frame = records(
        days_since_last_purchase=[400.0, 10.0, 400.0, 400.0, 10.0],
        orders_90d=[0.0, 0.0, 2.0, 0.0, 5.0],
        spend_90d=[0.0, 0.0, 0.0, 250.0, 1000.0],
    )
    # spend 250 = the scale: 'big' (0.25) plus a tie-break of 250 / 1000 = 0.25 -> /4
    assert score(frame) == pytest.approx([0.0, 0.25, 0.25, 0.25 + 0.0625, 1.0])


def test_probabilities_are_well_formed() -> None:
    rng = np.random.default_rng(0)
    frame = records(
        days_since_last_purchase=list(rng.uniform(0, 400, 50)),
        orders_90d=list(rng.integers(0, 6, 50).astype(float)),
        spend_90d=list(rng.uniform(0, 2000, 50)),
    )
    proba = HeuristicRules().fit(frame, np.zeros(50)).predict_proba(frame)
    assert proba.shape == (50, 2)
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert ((proba >= 0) & (proba <= 1)).all()


def test_unknown_recency_is_not_recent() -> None:
    assert score(records(days_since_last_purchase=[float("nan")])) == pytest.approx([0.0])


def test_score_grows_with_recent_spend() -> None:
    frame = records(days_since_last_purchase=[5.0], spend_90d=[0.0, 100.0, 300.0, 900.0])
    assert np.all(np.diff(score(frame)) > 0)


def test_params_change_the_rules() -> None:
    frame = records(days_since_last_purchase=[45.0])
    assert score(frame) == pytest.approx([0.0])
    assert score(frame, recency_days=60.0) == pytest.approx([0.25])


def test_it_learns_nothing_and_follows_the_estimator_contract() -> None:
    frame = records(orders_90d=[0.0, 3.0], spend_90d=[10.0, 600.0])
    model = HeuristicRules(min_orders_90d=3.0)
    assert model.fit(frame, np.array([0, 1])) is model
    one = model.predict_proba(frame)
    two = HeuristicRules(min_orders_90d=3.0).fit(frame, np.array([1, 0])).predict_proba(frame)
    assert np.array_equal(one, two)
    assert clone(model).get_params()["min_orders_90d"] == 3.0
    assert list(model.classes_) == [0, 1]
    assert list(model.predict(frame)) == [0, 1]
