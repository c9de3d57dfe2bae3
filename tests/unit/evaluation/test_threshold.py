"""Threshold choice: the lowest threshold reaching the precision target (max recall), with
a documented fallback when the target cannot be reached."""

from __future__ import annotations

import numpy as np
import pytest

from customer_classifier.evaluation.metrics import evaluate
from customer_classifier.evaluation.threshold import choose_threshold, precision_at_recall


def noisy_scores(seed: int, n: int = 600, signal: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.25).astype(int)
    scores = 1.0 / (1.0 + np.exp(-(signal * y + rng.normal(0.0, 1.0, n) - 1.0)))
    return y, scores


def brute_force(y: np.ndarray, scores: np.ndarray) -> list[tuple[float, float, float]]:
    """(threshold, precision, recall) of every distinct score used as 'score >= threshold'."""
    out = []
    for t in np.unique(scores):
        predicted = scores >= t
        tp = int((predicted & (y == 1)).sum())
        out.append((float(t), tp / int(predicted.sum()), tp / int(y.sum())))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_target_reached_with_the_highest_recall(seed: int) -> None:
    y, scores = noisy_scores(seed, signal=3.0)
    choice = choose_threshold(y, scores, precision_target=0.8, min_recall=0.3)
    reaching = [(t, p, r) for t, p, r in brute_force(y, scores) if p >= 0.8]
    assert reaching, "the fixture must make the target reachable"
    best_recall = max(r for _, _, r in reaching)
    assert choice.target_met
    assert choice.precision >= 0.8
    assert choice.recall == pytest.approx(best_recall)
    assert "max recall" in choice.policy
    # The reported figures are what the threshold really gives.
    report = evaluate(y, scores, choice.threshold, min_recall=0.3)
    assert report.precision == pytest.approx(choice.precision)
    assert report.recall == pytest.approx(choice.recall)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_unreachable_target_falls_back_to_max_precision_at_min_recall(seed: int) -> None:
    y, scores = noisy_scores(seed, signal=0.8)
    scores[np.flatnonzero(y == 0)[0]] = 2.0  # a negative on top: precision 1 is out of reach
    candidates = brute_force(y, scores)
    assert max(p for _, p, _ in candidates) < 0.999
    choice = choose_threshold(y, scores, precision_target=0.999, min_recall=0.3)
    best = max(p for _, p, r in candidates if r >= 0.3)
    assert not choice.target_met
    assert choice.recall >= 0.3
    assert choice.precision == pytest.approx(best)
    assert "max precision at recall >= 0.30" in choice.policy


def test_perfect_separation_keeps_every_positive() -> None:
    y = np.array([0, 0, 0, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.7, 0.9])
    choice = choose_threshold(y, scores, precision_target=0.9, min_recall=0.3)
    assert (choice.threshold, choice.precision, choice.recall) == (0.7, 1.0, 1.0)
    assert choice.target_met


def test_a_target_met_only_at_zero_recall_is_not_met() -> None:
    """The top score is a negative: no threshold gives precision 1 with any recall."""
    y = np.array([1, 0, 1, 0, 1, 0])
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.9])
    choice = choose_threshold(y, scores, precision_target=1.0, min_recall=0.5)
    assert not choice.target_met
    assert choice.recall >= 0.5


def test_precision_at_recall_is_the_best_precision_with_enough_recall() -> None:
    y, scores = noisy_scores(4)
    for min_recall in (0.1, 0.3, 0.6):
        expected = max(p for _, p, r in brute_force(y, scores) if r >= min_recall)
        assert precision_at_recall(y, scores, min_recall) == pytest.approx(expected)
    assert precision_at_recall(y, scores, 1.0) >= y.mean()
    assert precision_at_recall(np.array([0, 1, 1]), np.array([0.1, 0.8, 0.9]), 1.0) == 1.0


def test_target_met_only_below_the_required_recall_does_not_count() -> None:
    # Two sure positives on top, then a mixed tail: precision 1.0 exists only at recall 0.2.
    y = np.array([1, 1] + [0, 0, 1] * 8 + [0] * 10)
    scores = np.linspace(1.0, 0.0, len(y))
    choice = choose_threshold(y, scores, precision_target=0.95, min_recall=0.3)
    assert not choice.target_met
    assert choice.recall >= 0.3
    lenient = choose_threshold(y, scores, precision_target=0.95, min_recall=0.0)
    assert lenient.target_met
    assert lenient.recall < 0.3
