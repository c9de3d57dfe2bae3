"""Sticky canary assignment."""

from __future__ import annotations

import numpy as np

from customer_classifier.serving.routing import BUCKETS, buckets, challenger_rows


def test_assignment_is_deterministic_and_spread() -> None:
    ids = list(range(1, 20_001))
    first = challenger_rows(ids, 25.0)
    assert (first == challenger_rows(ids, 25.0)).all()
    assert abs(first.mean() - 0.25) < 0.02
    spread = np.bincount(buckets(np.arange(20_000)) * 10 // BUCKETS, minlength=10)
    assert spread.min() > 1_800


def test_raising_the_percentage_only_adds_customers() -> None:
    ids = list(range(5_000))
    small, large = challenger_rows(ids, 10.0), challenger_rows(ids, 30.0)
    assert (large[small]).all()
    assert large.sum() > small.sum()


def test_edges() -> None:
    assert not challenger_rows([1, 2, 3], 0.0).any()
    assert challenger_rows([1, 2, 3], 100.0).all()
    assert challenger_rows([None, 5], 100.0).tolist() == [False, True]
    assert challenger_rows(None, 50.0).shape == (0,)
