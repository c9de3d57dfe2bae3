"""The champion/challenger gate's decision: each check can fail the promotion on its own,
the precision target warns or blocks as set, and the list of checks is data."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from customer_classifier.data.evidence import VerificationEvidence
from customer_classifier.errors import RegistryError
from customer_classifier.registry.gate import (
    ChampionEvidence,
    GateCheck,
    GateInputs,
    GatePolicy,
    Outcome,
    decide,
    gate_checks,
    window_differences,
)
from customer_classifier.settings import GateSettings

WINDOW = {"test": {"as_of": "2026-04-02", "rows": 1408, "positive_rate": 0.23}}
TARGET = "meets the precision target on the test window"
VERIFIED = VerificationEvidence(
    passed=True,
    blocking=0,
    warnings=2,
    verified_at="2026-07-01T02:00:00+00:00",
    profile_hash="9f" * 32,
    database="sqlite:///master.db",
)


def inputs(**overrides: Any) -> GateInputs:
    values: dict[str, Any] = {
        "version": "v2",
        "candidate": "logistic_regression",
        "precision": 0.90,
        "baseline_precision": 0.80,
        "policy": GatePolicy(precision_target=0.85, min_recall=0.3, margin=0.01),
        "evaluation_window": WINDOW,
        "data_snapshot_hash": "abc123" * 8,
        "verification": VERIFIED,
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
    policy = GatePolicy(precision_target=0.5, min_recall=0.3, margin=margin)
    decision = decide(inputs(precision=challenger, policy=policy, champion=evidence))
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


def test_fairness_without_group_figures_is_reported_as_not_checked() -> None:
    decision = decide(inputs())
    assert status(decision, "fairness across segments") == "not checked"
    assert "no fairness figures for this version" in decision.to_markdown()
    assert decision.promoted


def test_data_verification_reads_the_recorded_evidence() -> None:
    passed = decide(inputs())
    assert status(passed, "data verification") == "pass"
    assert "2 warning(s)" in " ".join(passed.reasons)
    missing = decide(inputs(verification=None))
    assert not missing.promoted
    assert status(missing, "data verification") == "fail"
    assert "no verification result is recorded" in " ".join(missing.reasons)
    failed = dataclasses.replace(VERIFIED, passed=False, blocking=3)
    refused = decide(inputs(verification=failed))
    assert not refused.promoted
    check = next(c for c in refused.checks if c.name == "data verification")
    assert check.status == "fail"
    assert check.observed == 3
    assert "3 blocking finding(s)" in check.detail


def test_a_missed_precision_target_warns_by_default() -> None:
    decision = decide(
        inputs(
            precision=0.82,
            candidate_precisions={"logistic_regression": 0.82, "heuristic": 0.80},
        )
    )
    assert decision.promoted
    assert status(decision, TARGET) == "warn"
    check = next(c for c in decision.checks if c.name == TARGET)
    assert (check.observed, check.required, check.blocking) == (0.82, 0.85, False)
    assert "no candidate reached it (best: logistic_regression 0.8200)" in check.detail
    assert decision.warnings == [f"{TARGET}: {check.detail}"]
    markdown = decision.to_markdown()
    assert f"| {TARGET} | **warn** | no |" in markdown
    assert "Warnings (they do not block the promotion):" in markdown
    data = json.loads(decision.to_json())
    assert data["warnings"] == decision.warnings
    assert data["precision_target"] == 0.85


def test_a_missed_precision_target_blocks_when_set_to() -> None:
    checks = gate_checks(GateSettings(precision_target_check="block"))
    decision = decide(inputs(precision=0.82), checks)
    assert not decision.promoted
    assert decision.champion_after is None
    assert status(decision, TARGET) == "fail"
    assert f"| {TARGET} | **FAIL** | yes |" in decision.to_markdown()
    reached = decide(inputs(precision=0.86), checks)
    assert reached.promoted
    assert status(reached, TARGET) == "pass"
    assert reached.warnings == []


def test_the_target_setting_accepts_only_warn_or_block(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from customer_classifier.settings import Settings

    assert Settings().gate.precision_target_check == "warn"
    monkeypatch.setenv("CC_GATE__PRECISION_TARGET_CHECK", "block")
    assert Settings().gate.precision_target_check == "block"
    monkeypatch.setenv("CC_GATE__PRECISION_TARGET_CHECK", "ignore")
    with pytest.raises(ValidationError, match="precision_target_check"):
        Settings()


def test_every_check_is_declared_and_decide_runs_what_it_is_given() -> None:
    names = [c.name for c in gate_checks()]
    assert names == [
        "data verification",
        "loads from the store",
        "beats the heuristic baseline",
        "beats the champion by the margin",
        TARGET,
        "business value beats the heuristic's",
        "fairness across segments",
    ]
    assert all(c.evidence and c.threshold for c in gate_checks())
    calibrated = GateCheck(
        "calibration",
        evidence="expected calibration error on the test window",
        threshold="at most 0.05",
        judge=lambda _: Outcome("fail", "ECE 0.09", observed=0.09, required=0.05),
    )
    blocked = decide(inputs(), [*gate_checks(), calibrated])
    assert not blocked.promoted
    assert status(blocked, "calibration") == "fail"
    warned = decide(inputs(), [*gate_checks(), dataclasses.replace(calibrated, blocking=False)])
    assert warned.promoted
    assert status(warned, "calibration") == "warn"


def test_the_policy_is_read_from_the_metadata_or_refused() -> None:
    recorded = {"policy": {"precision_target": 0.7, "min_recall": 0.45, "promotion_margin": 0.02}}
    policy = GatePolicy.from_metadata(recorded)
    assert policy == GatePolicy(precision_target=0.7, min_recall=0.45, margin=0.02)
    assert policy.to_metadata() == recorded["policy"]
    with pytest.raises(RegistryError, match="no complete gate policy"):
        GatePolicy.from_metadata({"min_recall": 0.3})
    decision = decide(inputs(policy=policy))
    assert (decision.precision_target, decision.min_recall, decision.margin) == (0.7, 0.45, 0.02)
    assert "recall >= 0.45" in decision.to_markdown()
    baseline = next(c for c in decision.checks if c.name == "beats the heuristic baseline")
    assert "precision@recall>=0.45" in baseline.detail


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
        TARGET,
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
    # The recorded policy's recall counts over the older top-level figure.
    with_policy = {**base, "policy": {"min_recall": 0.5}}
    assert window_differences(base, with_policy) == ["required recall"]
