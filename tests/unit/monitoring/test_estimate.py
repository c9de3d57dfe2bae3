"""The label-free precision estimate: its formula, its accuracy under covariate shift,
and the early-label signal under concept drift, on nights drawn with a known truth."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from customer_classifier.data.contract import BAD, GOOD
from customer_classifier.evaluation.value import ValueTerms
from customer_classifier.monitoring.backtest import backtest, backtest_night, estimate_accuracy
from customer_classifier.monitoring.estimate import (
    ALL_SEGMENTS,
    assumption_from_metadata,
    concept_drift_check,
    early_labels,
    early_precision,
    early_ratio,
    estimate_by_segment,
    estimate_night,
    estimate_precision,
    z_for,
)

TERMS = ValueTerms(true_positive=100.0, false_positive_cost=50.0)
THRESHOLD = 0.6
CUSTOMERS = 20_000
NIGHTS = 120
SEGMENTS = np.array(["consumer", "small_business", "corporate"])


def _night(rng: np.random.Generator, shift: float, concept: float = 0.0) -> pd.DataFrame:
    """A night of customers whose true chance of being good is their score (calibrated),
    minus ``concept`` (the same inputs, a worse relation to the label). ``shift`` moves
    the inputs: covariate shift."""
    x = rng.normal(shift, 1.0, CUSTOMERS)
    segment = SEGMENTS[rng.choice(3, CUSTOMERS, p=[0.7, 0.22, 0.08])]
    score = 1.0 / (1.0 + np.exp(-(1.2 * x - 0.3 + 0.4 * (segment == "corporate"))))
    truth = np.clip(score - concept, 0.0, 1.0)
    return pd.DataFrame(
        {
            "customer_id": np.arange(CUSTOMERS),
            "score": score,
            "label": np.where(score >= THRESHOLD, GOOD, BAD),
            "segment": segment,
            "outcome": (rng.random(CUSTOMERS) < truth).astype("int8"),
        }
    )


@pytest.fixture(scope="module")
def shifted_backtest() -> pd.DataFrame:
    rng = np.random.default_rng(2026)
    start = dt.date(2025, 1, 1)
    shifts = np.linspace(0.0, 1.5, NIGHTS)
    nights = [
        backtest_night(_night(rng, s), start + dt.timedelta(days=i), "v1", TERMS)
        for i, s in enumerate(shifts)
    ]
    return backtest(nights)


def test_the_estimate_is_the_mean_score_with_the_poisson_binomial_band() -> None:
    e = estimate_precision(np.array([0.5, 0.8, 1.0, np.nan]))
    assert e.labelled_good == 3
    assert e.estimate == pytest.approx(2.3 / 3)
    assert e.std_error == pytest.approx(math.sqrt(0.25 + 0.16) / 3)
    assert e.lower == pytest.approx(2.3 / 3 - 1.959964 * e.std_error, abs=1e-6)
    assert e.upper == pytest.approx(min(1.0, 2.3 / 3 + 1.959964 * e.std_error), abs=1e-6)
    assert z_for(0.95) == pytest.approx(1.959964, abs=1e-6)


def test_no_one_labelled_good_has_no_estimate_and_bad_scores_are_refused() -> None:
    assert math.isnan(estimate_precision(np.array([])).estimate)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        estimate_precision(np.array([0.2, 1.7]))


def test_estimate_by_segment_keeps_a_segment_with_no_one_labelled_good() -> None:
    scores = pd.Series([0.9, 0.8, 0.1, 0.95])
    acted = pd.Series([True, True, False, False])
    segments = pd.Series(["consumer", "consumer", "corporate", "corporate"])
    table = estimate_by_segment(scores, acted, segments).set_index("segment")
    assert table.loc[ALL_SEGMENTS, "estimated_precision"] == pytest.approx(0.85)
    assert table.loc["consumer", "labelled_good"] == 2
    assert table.loc["corporate", "labelled_good"] == 0
    assert math.isnan(table.loc["corporate", "estimated_precision"])


def test_under_covariate_shift_the_estimate_is_within_two_points_of_realised(
    shifted_backtest: pd.DataFrame,
) -> None:
    overall = shifted_backtest[shifted_backtest["segment"] == ALL_SEGMENTS]
    # The shift is real: the realised precision and the acted share move night to night.
    assert overall["realised_precision"].max() - overall["realised_precision"].min() > 0.02
    assert overall["labelled_good"].max() > 2 * overall["labelled_good"].min()
    accuracy = estimate_accuracy(shifted_backtest)
    assert accuracy.nights == NIGHTS
    assert accuracy.max_abs_error <= 0.02
    assert 0.90 <= accuracy.coverage <= 0.98


def test_the_band_covers_realised_in_each_segment_as_often_as_it_claims(
    shifted_backtest: pd.DataFrame,
) -> None:
    for segment in SEGMENTS:
        accuracy = estimate_accuracy(shifted_backtest, segment)
        assert accuracy.nights == NIGHTS
        assert 0.88 <= accuracy.coverage <= 0.99, segment


def test_miscalibrated_scores_make_the_estimate_miss() -> None:
    """The test above has teeth: the same nights with squashed scores (not probabilities)
    put the estimate far off, which is why the report states the assumption."""
    rng = np.random.default_rng(5)
    night = _night(rng, 0.5)
    night["score"] = night["score"] ** 3
    night["label"] = np.where(night["score"] >= THRESHOLD**3, GOOD, BAD)
    row = backtest_night(night, dt.date(2025, 1, 1), "v1", TERMS).table.iloc[0]
    assert abs(row["estimated_precision"] - row["realised_precision"]) > 0.1
    assert not row["covered"]


def test_the_assumption_reads_the_bundle_calibration_metadata() -> None:
    held = assumption_from_metadata({"calibrated": True, "test_ece": 0.021}, max_ece=0.05)
    assert held.holds
    assert held.calibrated
    assert "no concept drift" in held.statement()
    assert "0.0210" in held.statement()
    broken = assumption_from_metadata({"calibrated": False, "test_ece": 0.09}, max_ece=0.05)
    assert not broken.holds
    assert "ABOVE" in broken.statement()
    unknown = assumption_from_metadata(None, max_ece=0.05)
    assert not unknown.holds
    assert "records no test ECE" in unknown.statement()


def test_a_night_estimate_carries_its_assumption_into_the_json() -> None:
    scores = pd.Series([0.9, 0.7, 0.2])
    night = estimate_night(
        scores,
        scores >= 0.5,
        pd.Series(["consumer", "corporate", "corporate"]),
        {"calibrated": True, "method": "isotonic", "test_ece": 0.03},
    )
    out = night.to_json()
    assert out["assumption_holds"] is True
    assert out["test_ece"] == 0.03
    assert "no concept drift" in str(out["assumption"])
    segments = {r["segment"]: r for r in out["segments"]}
    assert segments[ALL_SEGMENTS]["estimated_precision"] == pytest.approx(0.8)
    assert segments["corporate"]["labelled_good"] == 1


# -- early labels and concept drift ---------------------------------------------------------

EARLY_DAY_SHARE = 0.4
"""Share of the eventually-good customers who reach the spend rule by the check day."""


def _with_early(rng: np.random.Generator, night: pd.DataFrame) -> pd.Series:
    """Spend so far: the eventually-good reach the rule early with a fixed chance."""
    early = (night["outcome"] == 1) & (rng.random(len(night)) < EARLY_DAY_SHARE)
    return early_labels(pd.Series(np.where(early, 300.0, 120.0)), min_spend=250.0)


def test_early_precision_is_a_lower_bound_of_realised() -> None:
    rng = np.random.default_rng(3)
    night = _night(rng, 0.0)
    early = _with_early(rng, night)
    acted = night["label"] == GOOD
    realised = float(night.loc[acted, "outcome"].mean())
    assert early_precision(early, acted) <= realised
    assert early_precision(early, acted) == pytest.approx(EARLY_DAY_SHARE * realised, abs=0.02)


def test_a_drop_of_early_precision_against_the_estimate_signals_concept_drift() -> None:
    rng = np.random.default_rng(17)
    acted_of = lambda n: n["label"] == GOOD  # noqa: E731
    matured = [_night(rng, s) for s in np.linspace(0.0, 1.0, 10)]
    early = [early_precision(_with_early(rng, n), acted_of(n)) for n in matured]
    realised = [float(n.loc[acted_of(n), "outcome"].mean()) for n in matured]
    ratio = early_ratio(np.array(early), np.array(realised))
    assert ratio == pytest.approx(EARLY_DAY_SHARE, abs=0.01)

    quiet = []
    for shift in np.linspace(-0.3, 1.2, 20):  # covariate shift only: no signal
        night = _night(rng, shift)
        quiet.append(
            concept_drift_check(night["score"], acted_of(night), _with_early(rng, night), ratio)
        )
    assert not any(c.drifted for c in quiet)
    assert all(abs(c.z) < 3.0 for c in quiet)

    drifted = _night(rng, 0.5, concept=0.10)
    check = concept_drift_check(
        drifted["score"], acted_of(drifted), _with_early(rng, drifted), ratio
    )
    assert check.drifted
    assert check.early_precision < check.expected_early
    assert check.z < -3.0


def test_the_early_ratio_needs_a_matured_night() -> None:
    with pytest.raises(ValueError, match="matured night"):
        early_ratio(np.array([np.nan]), np.array([np.nan]))
