"""The decision engine over simulated metric series: promotion, rollback, holds, pauses."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from customer_classifier.errors import ConfigurationError
from customer_classifier.rollout.analysis import (
    DEFAULT_CHECKS,
    Action,
    Decision,
    Measurement,
    Phase,
    RolloutPolicy,
    Snapshot,
    abort,
    decide,
    pause,
    resume,
    start,
)

POLICY = RolloutPolicy(
    steps=(10, 25, 50, 100),
    min_requests=50,
    failure_threshold=2,
    intervals_per_step=2,
    max_intervals_per_step=6,
    checks=DEFAULT_CHECKS,
)
HEALTHY = {
    "error_ratio": Measurement(0.001, 0.001),
    "latency_p99_seconds": Measurement(0.012, 0.011),
    "score_divergence": Measurement(0.01),
    "label_mix_shift": Measurement(0.02),
}
FAULTS = {
    "error_ratio": Measurement(0.2, 0.001),
    "latency_p99_seconds": Measurement(0.4, 0.011),
    "score_divergence": Measurement(0.6),
    "label_mix_shift": Measurement(0.3),
}


def healthy(requests: float = 500, **changes: Measurement) -> Snapshot:
    return Snapshot(requests, {**HEALTHY, **changes})


def faulty(kind: str) -> Snapshot:
    return healthy(**{kind: FAULTS[kind]})


def run(snapshots: Iterable[Snapshot], policy: RolloutPolicy = POLICY) -> list[Decision]:
    decision = start(policy, "v2")
    decisions = [decision]
    for snapshot in snapshots:
        decision = decide(policy, decision.state, snapshot)
        decisions.append(decision)
    return decisions


def test_a_healthy_canary_walks_every_step_and_is_promoted() -> None:
    decisions = run([healthy()] * 6)
    assert [d.canary_percent for d in decisions] == [10, 10, 25, 25, 50, 50, 100]
    assert [d.action for d in decisions][-1] is Action.PROMOTE
    assert decisions[-1].state.phase is Phase.PROMOTED
    # and a finished rollout stays finished
    assert decide(POLICY, decisions[-1].state, faulty("error_ratio")).action is Action.HOLD


@pytest.mark.parametrize("kind", sorted(FAULTS))
def test_each_failure_kind_rolls_back_within_the_failure_threshold(kind: str) -> None:
    decisions = run([healthy(), healthy(), faulty(kind), faulty(kind)])
    assert decisions[-2].action is Action.HOLD
    assert decisions[-1].action is Action.ROLLBACK
    assert decisions[-1].canary_percent == 0
    assert decisions[-1].state.phase is Phase.ROLLED_BACK
    assert kind in decisions[-1].reason
    failed = [v.check for v in decisions[-1].verdicts if v.outcome == "failed"]
    assert failed == [kind]


def test_a_failure_then_a_pass_starts_the_step_count_again() -> None:
    decisions = run([healthy(), faulty("error_ratio"), healthy(), healthy()])
    assert [d.action for d in decisions[1:]] == [
        Action.HOLD,
        Action.HOLD,
        Action.HOLD,
        Action.ADVANCE,
    ]


def test_flapping_metrics_neither_promote_nor_roll_back_before_the_step_deadline() -> None:
    flapping = [faulty("latency_p99_seconds"), healthy()] * 3
    decisions = run(flapping)
    assert all(d.action is Action.HOLD for d in decisions[1:-1])
    assert all(d.canary_percent == 10 for d in decisions[:-1])
    # the step deadline (6 judged intervals) ends it: rolled back, never promoted
    assert decisions[-1].action is Action.ROLLBACK
    assert "flap" in decisions[-1].reason


def test_too_few_requests_holds_and_counts_towards_nothing() -> None:
    decisions = run([healthy(requests=10)] * 20 + [healthy(), healthy()])
    assert all(d.action is Action.HOLD and "too few" in d.reason for d in decisions[1:21])
    assert decisions[-1].action is Action.ADVANCE
    assert decisions[-1].canary_percent == 25


def test_too_few_requests_with_a_fault_still_only_holds() -> None:
    decisions = run([Snapshot(5, {**HEALTHY, "error_ratio": FAULTS["error_ratio"]})] * 5)
    assert {d.action for d in decisions[1:]} == {Action.HOLD}


def test_no_data_pauses_and_a_paused_rollout_holds_until_resumed() -> None:
    no_latency = {k: v for k, v in HEALTHY.items() if k != "latency_p99_seconds"}
    decisions = run([healthy(), Snapshot(500, no_latency), healthy(), healthy(), healthy()])
    assert decisions[2].action is Action.PAUSE
    assert "latency_p99_seconds" in decisions[2].reason
    assert all(d.action is Action.HOLD for d in decisions[3:])
    assert decisions[-1].state.phase is Phase.PAUSED
    resumed = resume(decisions[-1].state)
    assert resumed.phase is Phase.PROGRESSING
    first = decide(POLICY, resumed, healthy())
    assert decide(POLICY, first.state, healthy()).action is Action.ADVANCE


def test_an_unreadable_request_count_pauses() -> None:
    decisions = run([Snapshot(None, HEALTHY)])
    assert decisions[-1].action is Action.PAUSE


def test_a_stable_without_data_pauses_a_relative_check() -> None:
    decisions = run([healthy(error_ratio=Measurement(0.0, None))])
    assert decisions[-1].action is Action.PAUSE
    assert "stable" in decisions[-1].reason


def test_an_optional_check_without_data_is_skipped_and_judged_when_present() -> None:
    decisions = run([healthy()] * 2)
    assert decisions[-1].action is Action.ADVANCE
    skipped = {v.check: v.outcome for v in decisions[-1].verdicts}
    assert skipped["shadow_agreement"] == "skipped"
    low = run([healthy(shadow_agreement=Measurement(0.5))] * 2)
    assert low[-1].action is Action.ROLLBACK


def test_latency_below_the_floor_is_never_a_failure() -> None:
    tiny = Measurement(0.004, 0.001)  # four times the stable, but 4 ms
    assert run([healthy(latency_p99_seconds=tiny)] * 2)[-1].action is Action.ADVANCE


def test_operator_pause_and_abort() -> None:
    state = start(POLICY, "v2").state
    paused = pause(state, "change freeze")
    assert decide(POLICY, paused, healthy()).action is Action.HOLD
    aborted = abort(paused, "operator abort")
    assert aborted.action is Action.ROLLBACK
    assert aborted.state.phase is Phase.ABORTED
    assert aborted.canary_percent == 0


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(["healthy", "none", "few", *sorted(FAULTS)]),
        min_size=1,
        max_size=30,
    )
)
def test_an_interval_without_data_is_never_followed_by_promotion(kinds: list[str]) -> None:
    snapshots = [
        healthy()
        if kind == "healthy"
        else Snapshot(None, {})
        if kind == "none"
        else healthy(requests=1)
        if kind == "few"
        else faulty(kind)
        for kind in kinds
    ]
    decisions = run(snapshots)
    if "none" in kinds:
        first = kinds.index("none") + 1
        assert all(d.action is not Action.PROMOTE for d in decisions[first:])
    promoted = [i for i, d in enumerate(decisions) if d.action is Action.PROMOTE]
    if promoted:
        passes = sum(kind == "healthy" for kind in kinds[: promoted[0]])
        assert passes >= POLICY.intervals_per_step * len(POLICY.partial_steps)


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"steps": (50, 10)}, "CC_ROLLOUT__STEPS"),
        ({"steps": ()}, "CC_ROLLOUT__STEPS"),
        ({"failure_threshold": 0}, "CC_ROLLOUT__FAILURE_THRESHOLD"),
        ({"max_intervals_per_step": 1}, "CC_ROLLOUT__MAX_INTERVALS_PER_STEP"),
    ],
)
def test_a_bad_policy_names_the_setting(changes: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        RolloutPolicy(**changes)  # type: ignore[arg-type]
