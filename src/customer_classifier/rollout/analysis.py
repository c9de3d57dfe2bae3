"""The canary's next move, decided from one interval of metrics and the rollout so far.

Pure: a :class:`Snapshot` (what Prometheus measured for the canary and the stable model
over the same interval) and a :class:`RolloutState` go in, a :class:`Decision` with the
next state comes out. The adapters (Prometheus, Kubernetes, the registry) do the I/O;
this module only judges, so every path through it is unit-tested on simulated series.

The rules, in the order they are applied:

1. A finished rollout (promoted, rolled back, aborted) stays finished. A paused one holds
   until ``resume``.
2. No data for a required check (Prometheus down, slow, or no series) pauses: a verdict
   taken without evidence could promote a broken model, so none is taken.
3. Fewer canary requests than ``min_requests`` in the interval holds: too few to judge
   either way, and it counts towards nothing (low night traffic never rolls back).
4. A failed interval (any required check failed) resets the step's passed count; after
   ``failure_threshold`` failed intervals in a row it rolls back.
5. A passed interval counts towards the step; after ``intervals_per_step`` passes in a
   row the canary advances to the next step, and past the last step below 100 % it is
   promoted.
6. A step that has not advanced after ``max_intervals_per_step`` judged intervals (the
   metrics flap between pass and fail) rolls back: flapping never promotes, and the
   deadline keeps it from holding a half-split forever.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from customer_classifier.errors import ConfigurationError
from customer_classifier.settings import RolloutSettings


class Action(enum.StrEnum):
    ADVANCE = "advance"
    HOLD = "hold"
    PROMOTE = "promote"
    ROLLBACK = "rollback"
    PAUSE = "pause"


class Phase(enum.StrEnum):
    PROGRESSING = "progressing"
    PAUSED = "paused"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"
    ABORTED = "aborted"

    @property
    def finished(self) -> bool:
        return self in (Phase.PROMOTED, Phase.ROLLED_BACK, Phase.ABORTED)


class Comparison(enum.StrEnum):
    """How a check's canary figure is judged."""

    AT_MOST = "at_most"
    """canary <= limit (a divergence, an absolute ceiling)."""
    AT_LEAST = "at_least"
    """canary >= limit (shadow agreement)."""
    AT_MOST_ABOVE_STABLE = "at_most_above_stable"
    """canary - stable <= limit (error ratio, label-mix shift)."""
    AT_MOST_TIMES_STABLE = "at_most_times_stable"
    """canary <= limit * stable, once canary is above ``floor`` (latency)."""


@dataclass(frozen=True)
class Check:
    """One metric the canary must keep within bounds during every interval.

    ``floor`` quiets checks whose relative rule would flag noise at tiny magnitudes: a
    p99 of 3 ms against 2 ms is 1.5 times, and nobody cares. A check that is not
    ``required`` (shadow agreement, which only exists where a shadow runs) is skipped
    when it has no data instead of pausing the rollout.
    """

    name: str
    comparison: Comparison
    limit: float
    floor: float = 0.0
    required: bool = True

    def judge(self, measured: Measurement | None) -> Verdict:
        if measured is None or measured.canary is None or not math.isfinite(measured.canary):
            return Verdict(self.name, Outcome.NO_DATA, None, None, "no data for the canary")
        canary, stable = measured.canary, measured.stable
        relative = self.comparison in (
            Comparison.AT_MOST_ABOVE_STABLE,
            Comparison.AT_MOST_TIMES_STABLE,
        )
        if relative and (stable is None or not math.isfinite(stable)):
            return Verdict(self.name, Outcome.NO_DATA, canary, None, "no data for the stable")
        if self.comparison is Comparison.AT_MOST:
            ok, rule = canary <= self.limit, f"at most {self.limit:g}"
        elif self.comparison is Comparison.AT_LEAST:
            ok, rule = canary >= self.limit, f"at least {self.limit:g}"
        elif self.comparison is Comparison.AT_MOST_ABOVE_STABLE:
            assert stable is not None
            ok = canary - stable <= self.limit
            rule = f"at most stable {stable:.4g} + {self.limit:g}"
        else:
            assert stable is not None
            ok = canary <= self.floor or canary <= self.limit * stable
            rule = f"at most {self.limit:g} x stable {stable:.4g}, or {self.floor:g}"
        outcome = Outcome.PASSED if ok else Outcome.FAILED
        verdict = "within" if ok else "beyond"
        detail = f"canary {canary:.4g}, {verdict} the limit ({rule})"
        return Verdict(self.name, outcome, canary, stable, detail)


class Outcome(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    NO_DATA = "no_data"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Measurement:
    """A check's figure for the canary and the stable model over the same interval."""

    canary: float | None
    stable: float | None = None


@dataclass(frozen=True)
class Verdict:
    check: str
    outcome: Outcome
    canary: float | None
    stable: float | None
    detail: str


@dataclass(frozen=True)
class Snapshot:
    """What the metrics said about one analysis interval.

    ``canary_requests`` is ``None`` when the request count itself could not be read, which
    is no data, not zero traffic.
    """

    canary_requests: float | None
    measurements: Mapping[str, Measurement] = field(default_factory=dict)
    problems: tuple[str, ...] = ()
    """Why figures are missing (Prometheus down, slow, no series), for the pause reason."""


@dataclass(frozen=True)
class RolloutPolicy:
    steps: tuple[int, ...] = (10, 25, 50, 100)
    """Canary traffic percentages in order; reaching 100 is promotion."""
    interval_s: float = 60.0
    min_requests: int = 100
    """Canary requests an interval needs before any verdict."""
    failure_threshold: int = 2
    """Failed intervals in a row that roll back."""
    intervals_per_step: int = 2
    """Passed intervals in a row that advance one step."""
    max_intervals_per_step: int = 10
    """Judged intervals a step may take before a flapping canary is rolled back."""
    checks: tuple[Check, ...] = ()

    def __post_init__(self) -> None:
        steps = list(self.steps)
        if not steps or steps != sorted(set(steps)) or steps[0] <= 0 or steps[-1] > 100:
            raise ConfigurationError(
                f"rollout steps {steps} must rise strictly within 1..100, e.g. 10,25,50,100; "
                "fix CC_ROLLOUT__STEPS"
            )
        for name, value, least in (
            ("failure_threshold", self.failure_threshold, 1),
            ("intervals_per_step", self.intervals_per_step, 1),
            ("min_requests", self.min_requests, 0),
        ):
            if value < least:
                raise ConfigurationError(
                    f"rollout {name}={value} must be at least {least}; "
                    f"fix CC_ROLLOUT__{name.upper()}"
                )
        if self.max_intervals_per_step < self.intervals_per_step + self.failure_threshold - 1:
            raise ConfigurationError(
                f"rollout max_intervals_per_step={self.max_intervals_per_step} leaves no room "
                f"for {self.intervals_per_step} passes after up to "
                f"{self.failure_threshold - 1} failures; raise "
                "CC_ROLLOUT__MAX_INTERVALS_PER_STEP"
            )
        names = [check.name for check in self.checks]
        if len(names) != len(set(names)):
            raise ConfigurationError(f"rollout check names {names} repeat; name each once")

    @classmethod
    def from_settings(cls, settings: RolloutSettings) -> RolloutPolicy:
        checks = (
            Check(
                "error_ratio", Comparison.AT_MOST_ABOVE_STABLE, settings.max_error_ratio_increase
            ),
            Check(
                "latency_p99_seconds",
                Comparison.AT_MOST_TIMES_STABLE,
                settings.max_latency_ratio,
                floor=settings.latency_floor_s,
            ),
            Check("score_divergence", Comparison.AT_MOST, settings.max_score_divergence),
            Check("label_mix_shift", Comparison.AT_MOST, settings.max_label_mix_shift),
            Check(
                "shadow_agreement",
                Comparison.AT_LEAST,
                settings.min_shadow_agreement,
                required=False,
            ),
        )
        return cls(
            steps=settings.steps,
            interval_s=settings.interval_s,
            min_requests=settings.min_requests,
            failure_threshold=settings.failure_threshold,
            intervals_per_step=settings.intervals_per_step,
            max_intervals_per_step=settings.max_intervals_per_step,
            checks=checks,
        )

    @property
    def partial_steps(self) -> tuple[int, ...]:
        """The steps that split traffic; 100 is the promotion itself."""
        return tuple(step for step in self.steps if step < 100)


@dataclass(frozen=True)
class RolloutState:
    version: str
    """The canary's registry version."""
    stable: str = ""
    """The version serving the rest of the traffic, which a rollback returns to."""
    step: int = 0
    """Index into :attr:`RolloutPolicy.partial_steps`."""
    canary_percent: int = 0
    phase: Phase = Phase.PROGRESSING
    passed_in_step: int = 0
    failed_in_row: int = 0
    judged_in_step: int = 0
    reason: str = ""


@dataclass(frozen=True)
class Decision:
    action: Action
    state: RolloutState
    reason: str
    verdicts: tuple[Verdict, ...] = ()

    @property
    def canary_percent(self) -> int:
        return self.state.canary_percent


def start(policy: RolloutPolicy, version: str, stable: str = "") -> Decision:
    """The first step: the canary gets the first share of traffic."""
    steps = policy.partial_steps
    if not steps:
        state = RolloutState(version, stable, canary_percent=100, phase=Phase.PROMOTED)
        return Decision(Action.PROMOTE, state, "the only step is 100 %: promoted at once")
    state = RolloutState(version, stable, canary_percent=steps[0])
    return Decision(Action.ADVANCE, state, f"canary {version} starts at {steps[0]} %")


def judge(checks: Sequence[Check], snapshot: Snapshot) -> tuple[Verdict, ...]:
    verdicts = []
    for check in checks:
        verdict = check.judge(snapshot.measurements.get(check.name))
        if verdict.outcome is Outcome.NO_DATA and not check.required:
            verdict = replace(verdict, outcome=Outcome.SKIPPED)
        verdicts.append(verdict)
    return tuple(verdicts)


def _failed(verdicts: Sequence[Verdict], outcome: Outcome) -> list[Verdict]:
    return [v for v in verdicts if v.outcome is outcome]


def _summary(verdicts: Sequence[Verdict]) -> str:
    return "; ".join(f"{v.check}: {v.detail}" for v in verdicts)


def decide(policy: RolloutPolicy, state: RolloutState, snapshot: Snapshot) -> Decision:
    """The next action after one analysis interval (the module docstring has the rules)."""
    if state.phase.finished:
        return Decision(Action.HOLD, state, f"rollout already {state.phase}")
    if state.phase is Phase.PAUSED:
        return Decision(Action.HOLD, state, f"paused: {state.reason}; run `rollout resume`")
    why = f" ({'; '.join(snapshot.problems)})" if snapshot.problems else ""
    if snapshot.canary_requests is None:
        reason = f"no data: the canary's request count could not be read{why}"
        return _pause(state, reason, ())
    verdicts = judge(policy.checks, snapshot)
    missing = _failed(verdicts, Outcome.NO_DATA)
    if missing:
        return _pause(state, f"no data: {_summary(missing)}{why}", verdicts)
    if snapshot.canary_requests < policy.min_requests:
        reason = (
            f"too few canary requests to judge: {snapshot.canary_requests:.0f} < "
            f"{policy.min_requests} in the interval"
        )
        return Decision(Action.HOLD, replace(state, reason=reason), reason, verdicts)
    failed = _failed(verdicts, Outcome.FAILED)
    judged = state.judged_in_step + 1
    if failed:
        in_row = state.failed_in_row + 1
        if in_row >= policy.failure_threshold:
            reason = f"{in_row} failed intervals in a row: {_summary(failed)}"
            return _roll_back(state, reason, verdicts)
        reason = f"failed interval {in_row} of {policy.failure_threshold}: {_summary(failed)}"
        state = replace(
            state, passed_in_step=0, failed_in_row=in_row, judged_in_step=judged, reason=reason
        )
        return _hold_or_deadline(policy, state, reason, verdicts)
    passed = state.passed_in_step + 1
    if passed < policy.intervals_per_step:
        reason = (
            f"passed interval {passed} of {policy.intervals_per_step} at {state.canary_percent} %"
        )
        state = replace(
            state, passed_in_step=passed, failed_in_row=0, judged_in_step=judged, reason=reason
        )
        return _hold_or_deadline(policy, state, reason, verdicts)
    return _advance(policy, state, verdicts)


def _hold_or_deadline(
    policy: RolloutPolicy, state: RolloutState, reason: str, verdicts: tuple[Verdict, ...]
) -> Decision:
    if state.judged_in_step >= policy.max_intervals_per_step:
        why = (
            f"no steady verdict at {state.canary_percent} % after {state.judged_in_step} "
            f"intervals (the metrics flap); last: {reason}"
        )
        return _roll_back(state, why, verdicts)
    return Decision(Action.HOLD, state, reason, verdicts)


def _advance(policy: RolloutPolicy, state: RolloutState, verdicts: tuple[Verdict, ...]) -> Decision:
    steps = policy.partial_steps
    following = state.step + 1
    if following >= len(steps):
        reason = f"every step passed up to {state.canary_percent} %: canary promoted"
        promoted = RolloutState(
            state.version, state.stable, state.step, 100, Phase.PROMOTED, reason=reason
        )
        return Decision(Action.PROMOTE, promoted, reason, verdicts)
    reason = f"{state.canary_percent} % passed: canary to {steps[following]} %"
    advanced = RolloutState(state.version, state.stable, following, steps[following], reason=reason)
    return Decision(Action.ADVANCE, advanced, reason, verdicts)


def _roll_back(state: RolloutState, reason: str, verdicts: tuple[Verdict, ...]) -> Decision:
    rolled = replace(state, canary_percent=0, phase=Phase.ROLLED_BACK, reason=reason)
    return Decision(Action.ROLLBACK, rolled, reason, verdicts)


def _pause(state: RolloutState, reason: str, verdicts: tuple[Verdict, ...]) -> Decision:
    return Decision(
        Action.PAUSE, replace(state, phase=Phase.PAUSED, reason=reason), reason, verdicts
    )


def resume(state: RolloutState) -> RolloutState:
    """A paused rollout judges again from the start of its current step."""
    if state.phase is not Phase.PAUSED:
        return state
    return replace(
        state,
        phase=Phase.PROGRESSING,
        passed_in_step=0,
        failed_in_row=0,
        judged_in_step=0,
        reason="resumed",
    )


def pause(state: RolloutState, reason: str) -> RolloutState:
    if state.phase.finished:
        return state
    return replace(state, phase=Phase.PAUSED, reason=reason)


def abort(state: RolloutState, reason: str) -> Decision:
    """An operator's stop: the canary leaves traffic and the champion stays."""
    if state.phase.finished:
        return Decision(Action.HOLD, state, f"rollout already {state.phase}")
    aborted = replace(state, canary_percent=0, phase=Phase.ABORTED, reason=reason)
    return Decision(Action.ROLLBACK, aborted, reason)


DEFAULT_CHECKS = RolloutPolicy.from_settings(RolloutSettings()).checks
"""The checks with their default limits (``CC_ROLLOUT__*`` override each limit)."""
