"""The champion/challenger gate's decision: each check can fail the promotion on its own."""

from __future__ import annotations

import json
from typing import Any

import pytest

from customer_classifier.registry.gate import (
    ChampionEvidence,
    GateInputs,
    decide,
    window_differences,
)

WINDOW = {"test": {"as_of": "2026-04-02", "rows": 1408, "positive_rate": 0.23}}


def inputs(**overrides: Any) -> GateInputs:
    values: dict[str, Any] = {
        "version": "v2",
        "candidate": "logistic_regression",
        "precision": 0.90,
        "baseline_precision": 0.80,
        "min_recall": 0.3,
        "margin": 0.01,
        "evaluation_window": WINDOW,
        "data_snapshot_hash": "abc123" * 8,
        "champion": None,
        "loadable": (True, "loaded"),
        **overrides,
    }
    return GateInputs(**values)


def status(decision: Any, name: str) -> str:
    return str(next(c.status for c in decision.checks if c.name == name))


def test_first_model_is_promoted_when_it_beats_the_heuristic() -> None:
    decision = decide(inputs())
    assert decision.promoted
    assert decision.champion_before is None
    assert decision.champion_after == "v2"
    assert status(decision, "beats the champion by the margin") == "n/a"
    assert status(decision, "beats the heuristic baseline") == "pass"


@pytest.mark.parametrize("precision", [0.80, 0.79])
def test_first_model_must_beat_the_heuristic(precision: float) -> None:
    decision = decide(inputs(precision=precision))
    assert not decision.promoted
    assert decision.champion_after is None
    assert status(decision, "beats the heuristic baseline") == "fail"


@pytest.mark.parametrize(
    ("challenger", "champion", "margin", "promoted"),
    [
        (0.95, 0.90, 0.01, True),
        (0.905, 0.90, 0.01, False),  # better, but not by the margin
        (0.91, 0.90, 0.01, True),  # exactly the margin
        (0.90, 0.90, 0.0, False),  # a tie never beats
        (0.85, 0.90, 0.0, False),
    ],
)
def test_champion_must_be_beaten_by_the_margin(
    challenger: float, champion: float, margin: float, promoted: bool
) -> None:
    evidence = ChampionEvidence("v1", champion, "recorded on the same window")
    decision = decide(inputs(precision=challenger, margin=margin, champion=evidence))
    assert decision.promoted is promoted
    assert decision.champion_before == "v1"
    assert decision.champion_after == ("v2" if promoted else "v1")
    check = next(c for c in decision.checks if c.name == "beats the champion by the margin")
    assert check.required == pytest.approx(champion + margin)
    assert "v1" in check.detail
    assert "recorded on the same window" in check.detail


def test_a_champion_without_comparable_figure_blocks_promotion() -> None:
    evidence = ChampionEvidence("v1", None, "its recorded figure is from another test window")
    decision = decide(inputs(precision=0.99, champion=evidence))
    assert not decision.promoted
    assert "another test window" in " ".join(decision.reasons)


def test_an_unloadable_version_is_never_promoted() -> None:
    decision = decide(inputs(loadable=(False, "checksum mismatch for model.joblib")))
    assert not decision.promoted
    assert status(decision, "loads from the store") == "fail"
    assert "model.joblib" in " ".join(decision.reasons)


def test_fairness_is_reported_as_not_checked() -> None:
    decision = decide(inputs())
    assert status(decision, "fairness across segments") == "not checked"
    assert "not built yet" in decision.to_markdown()
    assert status(decision, "data verification") == "pass"


def test_decision_renders_as_markdown_and_json() -> None:
    evidence = ChampionEvidence("v1", 0.85, "re-scored on this window")
    decision = decide(inputs(champion=evidence))
    markdown = decision.to_markdown()
    assert markdown.startswith("# Model v2")
    assert "promoted to **champion** (was v1)" in markdown
    assert "| beats the champion by the margin | pass |" in markdown
    assert "as of 2026-04-02" in markdown
    data = json.loads(decision.to_json())
    assert data["promoted"] is True
    assert data["champion_before"] == "v1"
    assert {c["name"] for c in data["checks"]} >= {
        "data verification",
        "loads from the store",
        "beats the heuristic baseline",
        "beats the champion by the margin",
        "fairness across segments",
    }
    assert data["reasons"] == decision.reasons
    kept = decide(inputs(precision=0.855, champion=evidence))
    assert "kept as **challenger**; the champion stays v1" in kept.to_markdown()
    assert "**FAIL**" in kept.to_markdown()


def test_a_lost_race_turns_the_promotion_into_a_failure() -> None:
    decision = decide(inputs(champion=ChampionEvidence("v1", 0.8, "recorded")))
    lost = decision.with_conflict("v9")
    assert not lost.promoted
    assert lost.champion_after == "v9"
    assert "moved to 'v9'" in lost.reasons[-1]


def test_window_differences_names_each_condition() -> None:
    base = {
        "data_snapshot_hash": "a",
        "evaluation_window": WINDOW,
        "label_rule": {"horizon_days": 90, "min_spend": 250.0},
        "min_recall": 0.3,
    }
    assert window_differences(base, dict(base)) == []
    other = {
        **base,
        "data_snapshot_hash": "b",
        "evaluation_window": {"test": {"as_of": "2026-05-01"}},
        "min_recall": 0.4,
    }
    assert window_differences(base, other) == ["data snapshot", "test window", "required recall"]
