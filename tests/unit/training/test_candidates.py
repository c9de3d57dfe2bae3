"""Every candidate is a whole pipeline: raw feature records in, probabilities out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from customer_classifier.data.contract import CHANNELS, COUNTRIES, SEGMENTS
from customer_classifier.errors import ConfigurationError
from customer_classifier.features.build import FEATURE_NAMES, NUMERIC_FEATURES
from customer_classifier.training.candidates import make_candidates

NAMES = ("heuristic", "logistic_regression", "gradient_boosting")


def records(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Feature records with missing values everywhere they may occur, and a learnable label."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({name: rng.gamma(2.0, 50.0, n) for name in NUMERIC_FEATURES})
    frame["age"] = np.where(rng.random(n) < 0.1, np.nan, rng.integers(18, 80, n))
    frame["days_since_last_purchase"] = rng.uniform(0, 365, n)
    frame["country"] = rng.choice([*COUNTRIES, None], n)
    frame["segment"] = rng.choice(SEGMENTS, n)
    frame["acquisition_channel"] = rng.choice([*CHANNELS, None], n)
    label = (frame["spend_90d"] + rng.normal(0, 30, n) > 120).astype(int).to_numpy()
    return frame[list(FEATURE_NAMES)], label


@pytest.mark.parametrize("name", NAMES)
def test_candidate_fits_and_scores_raw_records(name: str) -> None:
    (candidate,) = make_candidates((name,), seed=0)
    x, y = records(500, 1)
    model = clone(candidate.estimator).fit(x, y)
    test, test_y = records(200, 2)
    test.loc[test.index[:5], "country"] = "ZZ"  # unseen category at scoring time
    proba = model.predict_proba(test)
    assert proba.shape == (200, 2)
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert ((proba >= 0) & (proba <= 1)).all()
    if candidate.grid:  # learned models pick up the signal
        assert proba[test_y == 1, 1].mean() > proba[test_y == 0, 1].mean() + 0.2
        for param in candidate.grid:
            assert param in model.get_params()


def test_candidates_are_made_in_the_order_asked() -> None:
    assert [c.name for c in make_candidates(NAMES[::-1], seed=0)] == list(NAMES[::-1])


def test_an_unknown_candidate_names_the_choices() -> None:
    with pytest.raises(ConfigurationError, match=r"'random_forest' is not available.*heuristic"):
        make_candidates(("heuristic", "random_forest"), seed=0)
