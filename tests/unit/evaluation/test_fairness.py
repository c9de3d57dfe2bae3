"""Fairness figures: equal to scikit-learn's and fairlearn's own on the same arrays, small
groups reported but not judged, intervals that cover the figure, and paired comparisons."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    equalized_odds_difference,
)
from sklearn.metrics import precision_score, recall_score

from customer_classifier.evaluation.fairness import (
    GAPS,
    FairnessReport,
    bootstrap_weights,
    fairness_report,
    gap_changes,
)
from customer_classifier.evaluation.segments import ATTRIBUTES, UNKNOWN, group_attributes
from customer_classifier.settings import FairnessSettings

ROWS = 3000
THRESHOLD = 0.6
SETTINGS = FairnessSettings(min_group_size=100, min_selected=10, resamples=100)


@pytest.fixture(scope="module")
def window() -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Labels, scores and groups where one segment's precision is planted lower, and one
    country has a few dozen customers only."""
    rng = np.random.default_rng(3)
    segment = rng.choice(["consumer", "small_business", "corporate"], ROWS, p=[0.6, 0.3, 0.1])
    country = rng.choice(["DE", "FR", "PL"], ROWS, p=[0.6, 0.38, 0.02])
    scores = rng.random(ROWS)
    good = rng.random(ROWS) < np.where(segment == "small_business", 0.35, 0.85) * scores
    groups = pd.DataFrame(
        {
            "segment": segment,
            "country": country,
            "age_band": rng.choice(["under 30", "30-44", "45-59"], ROWS),
        }
    )
    return good.astype(int), scores, groups


@pytest.fixture(scope="module")
def report(window: tuple[np.ndarray, np.ndarray, pd.DataFrame]) -> FairnessReport:
    y, scores, groups = window
    return fairness_report(y, scores, THRESHOLD, groups, SETTINGS, attributes=list(groups))


def test_group_figures_equal_scikit_learn_and_fairlearn(
    window: tuple[np.ndarray, np.ndarray, pd.DataFrame], report: FairnessReport
) -> None:
    y, scores, groups = window
    predicted = (scores >= THRESHOLD).astype(int)
    for attribute in report.attributes:
        sensitive = groups[attribute.attribute]
        reference = MetricFrame(
            metrics={
                "precision": lambda t, p: precision_score(t, p, zero_division=np.nan),
                "recall": lambda t, p: recall_score(t, p, zero_division=np.nan),
            },
            y_true=y,
            y_pred=predicted,
            sensitive_features=sensitive,
        ).by_group
        for g in attribute.groups:
            rows = (sensitive == g.group).to_numpy()
            assert g.count == rows.sum()
            assert g.selected == predicted[rows].sum()
            assert g.precision == pytest.approx(reference.loc[g.group, "precision"], abs=1e-12)
            assert g.recall == pytest.approx(reference.loc[g.group, "recall"], abs=1e-12)
            assert g.selection_rate == pytest.approx(predicted[rows].mean(), abs=1e-12)
            negatives = rows & (y == 0)
            assert g.false_positive_rate == pytest.approx(predicted[negatives].mean(), abs=1e-12)
        judged = sensitive.isin([g.group for g in attribute.groups if g.judged]).to_numpy()
        gaps = attribute.gaps
        assert gaps["demographic_parity_difference"].value == pytest.approx(
            demographic_parity_difference(
                y[judged], predicted[judged], sensitive_features=sensitive[judged]
            ),
            abs=1e-12,
        )
        assert gaps["equalized_odds_difference"].value == pytest.approx(
            equalized_odds_difference(
                y[judged], predicted[judged], sensitive_features=sensitive[judged]
            ),
            abs=1e-12,
        )
        precise = [g.precision for g in attribute.groups if g.precision_judged]
        assert gaps["precision_gap"].value == pytest.approx(max(precise) - min(precise), abs=1e-12)
    overall = precision_score(y, predicted)
    assert report.overall_precision == pytest.approx(overall, abs=1e-12)


def test_small_groups_are_reported_but_not_judged(report: FairnessReport) -> None:
    poland = next(g for g in report.attribute("country").groups if g.group == "PL")
    assert 0 < poland.count < SETTINGS.min_group_size
    assert not poland.judged
    assert not poland.precision_judged
    assert not poland.underperforming
    assert all(g.judged for g in report.attribute("country").groups if g.group != "PL")


def test_the_planted_segment_is_flagged_and_nothing_else(report: FairnessReport) -> None:
    assert [(a, g.group) for a, g in report.underperforming] == [("segment", "small_business")]
    flagged = report.underperforming[0][1]
    assert flagged.precision < report.overall_precision - SETTINGS.underperformance
    assert flagged.precision_high < report.overall_precision
    assert report.gap("segment", "precision_gap").value > 0.3
    assert report.scalars()["fairness_underperforming_groups"] == 1.0


def test_intervals_hold_the_figures_and_are_seeded(
    window: tuple[np.ndarray, np.ndarray, pd.DataFrame], report: FairnessReport
) -> None:
    for attribute in report.attributes:
        for name in GAPS:
            gap = attribute.gaps[name]
            assert gap.low <= gap.value + 0.05
            assert gap.value - 0.05 <= gap.high
            assert attribute.samples[name].shape == (SETTINGS.resamples,)
        for g in attribute.groups:
            if g.precision_judged:
                assert g.precision_low <= g.precision <= g.precision_high
    y, scores, groups = window
    again = fairness_report(y, scores, THRESHOLD, groups, SETTINGS, attributes=list(groups))
    assert again == report
    weights = bootstrap_weights(ROWS, 20, seed=5)
    assert weights.shape == (20, ROWS)
    assert (weights.sum(axis=1) == ROWS).all()


def test_the_record_reads_back(report: FairnessReport) -> None:
    recorded = json.loads(json.dumps(report.to_metadata()))
    assert recorded["underperforming"] == ["segment=small_business"]
    back = FairnessReport.from_metadata(recorded)
    assert back == report  # the bootstrap samples are not compared (nor recorded)
    assert back.attribute("segment").samples == {}


def test_gap_changes_pair_the_resamples(
    window: tuple[np.ndarray, np.ndarray, pd.DataFrame], report: FairnessReport
) -> None:
    y, scores, groups = window
    same = gap_changes(report, report)
    assert len(same) == len(GAPS) * len(report.attributes)
    assert all(c.widening == 0 and c.low == 0 and c.high == 0 for c in same)
    # A model that selects small businesses less often widens the selection-rate gap.
    lowered = np.where(groups["segment"] == "small_business", scores * 0.7, scores)
    other = fairness_report(y, lowered, THRESHOLD, groups, SETTINGS, attributes=list(groups))
    change = next(
        c
        for c in gap_changes(other, report)
        if (c.attribute, c.gap) == ("segment", "demographic_parity_difference")
    )
    assert change.widening > 0.1
    assert change.low is not None
    assert change.high is not None
    assert 0 < change.low <= change.widening <= change.high
    # Figures read back from a record have no resamples: compared by their values only.
    recorded = FairnessReport.from_metadata(report.to_metadata())
    assert all(c.low is None for c in gap_changes(other, recorded))


def test_group_attributes_band_the_feature_record() -> None:
    frame = pd.DataFrame(
        {
            "segment": ["consumer", "corporate", "consumer"],
            "country": ["DE", None, "FR"],
            "acquisition_channel": [None, "web", "ads"],
            "age": [29.0, 45.0, np.nan],
            "tenure_days": [10.0, 400.0, 5000.0],
            "loyalty_member": [1.0, 0.0, 1.0],
        },
        index=pd.Index([7, 8, 9], name="customer_id"),
    )
    groups = group_attributes(frame)
    assert list(groups.columns) == list(ATTRIBUTES)
    assert groups.index.tolist() == [7, 8, 9]
    assert groups["age_band"].tolist() == ["under 30", "45-59", UNKNOWN]
    assert groups["tenure_band"].tolist() == ["under 1 year", "1-2 years", "3 years and more"]
    assert groups["country"].tolist() == ["DE", UNKNOWN, "FR"]
    assert groups["acquisition_channel"].tolist() == [UNKNOWN, "web", "ads"]
    assert groups["loyalty"].tolist() == ["member", "not a member", "member"]


def test_the_settings_have_documented_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from customer_classifier.settings import Settings

    defaults = Settings().fairness
    assert (defaults.check, defaults.tolerance, defaults.max_gap) == ("block", 0.10, 0.35)
    assert (defaults.min_group_size, defaults.min_selected) == (100, 10)
    monkeypatch.setenv("CC_FAIRNESS__CHECK", "warn")
    monkeypatch.setenv("CC_FAIRNESS__MIN_GROUP_SIZE", "50")
    assert Settings().fairness.check == "warn"
    assert Settings().fairness.min_group_size == 50
    monkeypatch.setenv("CC_FAIRNESS__CHECK", "ignore")
    with pytest.raises(ValidationError, match="check"):
        Settings()
