"""The score divergence the rollout computes from two sides' cumulative buckets."""

from __future__ import annotations

import math

import pytest

from customer_classifier.rollout.prometheus import NoDataError, score_divergence

BUCKETS = {"0.1": 3.0, "0.2": 5.0, "0.5": 9.0, "1.0": 29.0, "+Inf": 29.0}


@pytest.mark.parametrize("scale", [1.0, 3.7, 0.013])
def test_the_same_histogram_at_any_volume_is_distance_zero_not_no_data(scale: float) -> None:
    # Equal shares can round to a divergence just below zero; that is 0, never NaN.
    distance = score_divergence(BUCKETS, {le: count * scale for le, count in BUCKETS.items()})
    assert distance == pytest.approx(0.0, abs=1e-6)
    assert not math.isnan(distance)


def test_disjoint_histograms_are_distance_one() -> None:
    low = {"0.5": 10.0, "1.0": 10.0, "+Inf": 10.0}
    high = {"0.5": 0.0, "1.0": 10.0, "+Inf": 10.0}
    assert score_divergence(low, high) == pytest.approx(1.0)


def test_an_empty_side_is_no_data() -> None:
    with pytest.raises(NoDataError, match="empty"):
        score_divergence(BUCKETS, dict.fromkeys(BUCKETS, 0.0))
