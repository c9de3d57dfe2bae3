"""Metrics at a threshold, and the ROC points the Kubeflow UI shows."""

from __future__ import annotations

import math

import numpy as np
import pytest

from customer_classifier.evaluation.metrics import evaluate, roc_points


def test_counts_and_rates_at_a_threshold() -> None:
    y = np.array([1, 1, 1, 0, 0, 0, 0, 1])
    scores = np.array([0.9, 0.8, 0.3, 0.7, 0.2, 0.1, 0.6, 0.4])
    report = evaluate(y, scores, threshold=0.5, min_recall=0.5)
    # predicted good: 0.9, 0.8, 0.7, 0.6 -> tp 2, fp 2; fn 2 (0.3, 0.4); tn 2
    assert report.confusion == [[2, 2], [2, 2]]
    assert report.precision == 0.5
    assert report.recall == 0.5
    assert report.f1 == 0.5
    assert report.rows == 8
    assert report.positive_rate == 0.5
    assert report.predicted_positive_rate == 0.5
    assert report.precision_at_min_recall == 1.0  # threshold 0.8 keeps 2 of 4 positives
    assert 0.5 < report.roc_auc < 1.0


def test_scalars_are_floats_without_the_confusion_matrix() -> None:
    report = evaluate(np.array([0, 1]), np.array([0.2, 0.9]), 0.5, 0.5)
    scalars = report.scalars()
    assert "confusion" not in scalars
    assert all(isinstance(v, float) for v in scalars.values())
    assert scalars["roc_auc"] == 1.0


@pytest.mark.filterwarnings("ignore:No positive class found")
def test_a_single_class_gives_nan_aucs_not_an_error() -> None:
    report = evaluate(np.zeros(5, dtype=int), np.linspace(0, 1, 5), 0.5, 0.3)
    assert math.isnan(report.roc_auc)
    assert math.isnan(report.pr_auc)
    assert report.precision == 0.0


@pytest.mark.parametrize("max_points", [10, 50])
def test_roc_points_are_thinned_and_bounded(max_points: int) -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(2000) < 0.3).astype(int)
    scores = rng.random(2000) + 0.3 * y
    fpr, tpr, thresholds = roc_points(y, scores, max_points=max_points)
    assert len(fpr) == len(tpr) == len(thresholds) <= max_points
    assert (fpr[0], tpr[0]) == (0.0, 0.0)
    assert (fpr[-1], tpr[-1]) == (1.0, 1.0)
    assert all(0.0 <= t <= 1.0 for t in thresholds)
    assert fpr == sorted(fpr)
