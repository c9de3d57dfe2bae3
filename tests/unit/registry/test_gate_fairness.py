"""The gate's fairness check on figures computed from arrays: a gap widened beyond the
tolerance fails (or warns), noise does not, and without a champion the ceiling counts."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
import pytest

from customer_classifier.evaluation.fairness import FairnessReport, fairness_report, gap_changes
from customer_classifier.registry.gate import (
    ChampionEvidence,
    FairnessEvidence,
    GateInputs,
    GatePolicy,
    decide,
    gate_checks,
)
from customer_classifier.settings import FairnessSettings

ROWS = 2000
FAIRNESS = "fairness across segments"
SETTINGS = FairnessSettings(resamples=100)


@pytest.fixture(scope="module")
def window() -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(8)
    groups = pd.DataFrame(
        {"segment": rng.choice(["consumer", "small_business"], ROWS, p=[0.7, 0.3])}
    )
    scores = rng.random(ROWS)
    good = (rng.random(ROWS) < 0.2 + 0.7 * scores).astype(int)
    return good, scores, groups


def report(window: Any, scores: np.ndarray, **settings: Any) -> FairnessReport:
    y, _, groups = window
    given = FairnessSettings(**{**SETTINGS.model_dump(), **settings})
    return fairness_report(y, scores, 0.7, groups, given, attributes=["segment"])


def inputs(challenger: FairnessReport, champion: FairnessReport | None) -> GateInputs:
    return GateInputs(
        version="v2",
        candidate="logistic_regression",
        precision=0.9,
        baseline_precision=0.8,
        policy=GatePolicy(precision_target=0.8, min_recall=0.3, margin=0.0),
        evaluation_window={},
        data_snapshot_hash="ab" * 32,
        verification=None,
        champion=None if champion is None else ChampionEvidence("v1", 0.85, "re-scored"),
        loadable=(True, "loaded"),
        fairness=FairnessEvidence(("segment",), challenger, champion),
    )


def fairness(decision: Any) -> Any:
    return next(c for c in decision.checks if c.name == FAIRNESS)


def test_a_challenger_that_widens_a_gap_fails_and_blocks(window: Any) -> None:
    _, scores, groups = window
    champion = report(window, scores)
    lowered = np.where(groups["segment"] == "small_business", scores * 0.8, scores)
    decision = decide(inputs(report(window, lowered), champion), gate_checks(None, SETTINGS))
    check = fairness(decision)
    assert check.status == "fail"
    assert check.blocking
    assert check.observed > SETTINGS.tolerance
    assert "segment demographic parity difference" in check.detail
    assert "paired interval" in check.detail
    warned = decide(
        inputs(report(window, lowered), champion),
        gate_checks(None, SETTINGS.model_copy(update={"check": "warn"})),
    )
    assert fairness(warned).status == "warn"
    assert not fairness(warned).blocking


def test_the_same_gaps_pass(window: Any) -> None:
    _, scores, _ = window
    same = report(window, scores)
    check = fairness(decide(inputs(same, same), gate_checks(None, SETTINGS)))
    assert check.status == "pass"
    assert check.observed == 0.0
    assert "largest change, within the tolerance 0.10" in check.detail


def test_a_widening_within_the_resampling_noise_passes(window: Any) -> None:
    """Under a zero tolerance, a widening that the paired interval does not separate from
    0 (a model that moves a few customers across the threshold at random) passes."""
    _, scores, _ = window
    jitter = np.clip(scores + np.random.default_rng(2).normal(0, 0.02, ROWS), 0, 1)
    strict = {"tolerance": 0.0}
    mine, theirs = report(window, jitter, **strict), report(window, scores, **strict)
    change = max(gap_changes(mine, theirs), key=lambda c: c.widening)
    assert change.widening > 0
    assert change.low is not None
    assert change.low <= 0
    check = fairness(decide(inputs(mine, theirs), gate_checks(None, FairnessSettings(**strict))))
    assert check.status == "pass"


def test_without_a_champion_the_precision_gap_meets_the_ceiling(window: Any) -> None:
    _, scores, groups = window
    fine = report(window, scores)
    check = fairness(decide(inputs(fine, None), gate_checks(None, SETTINGS)))
    assert check.status == "pass"
    assert check.required == SETTINGS.max_gap
    assert "no champion" in check.detail
    y = window[0].copy()
    y[(groups["segment"] == "small_business").to_numpy()] = 0  # nobody good there
    skewed = fairness_report(y, scores, 0.7, groups, SETTINGS, attributes=["segment"])
    refused = fairness(decide(inputs(skewed, None), gate_checks(None, SETTINGS)))
    assert refused.status == "fail"
    assert refused.observed > SETTINGS.max_gap
    assert "underperforming" in refused.detail
    assert "segment=small_business" in refused.detail


def test_a_champion_without_figures_is_not_checked(window: Any) -> None:
    _, scores, _ = window
    mine = report(window, scores)
    given = dataclasses.replace(
        inputs(mine, mine), fairness=FairnessEvidence(("segment",), mine, None, basis="why")
    )
    check = fairness(decide(given, gate_checks(None, SETTINGS)))
    assert check.status == "not checked"
    assert "champion v1 has no fairness figures" in check.detail
