"""The rollout loop: judge an interval, act on the traffic split, record what was done.

It wires the pure decision engine (:mod:`.analysis`) to three edges, each a small
protocol so every mode and every test plugs in the same way:

- a :class:`TrafficSplit` moves the canary's share (KServe's fields in Knative or
  Standard mode, :mod:`.kubernetes`; or the predictor's own split through the registry);
- a :class:`MetricsSource` measures an interval (:mod:`.prometheus`);
- a :class:`Recorder` keeps the trail: each step and decision as a Kubernetes Event and as
  an entry of the registry's alias history (the ``canary`` alias follows the rollout;
  ``champion`` moves only on promotion).

The state lives with the traffic split (an annotation on the InferenceService), so a
restarted Job, ``rollout status`` and ``rollout pause`` all read the same one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from customer_classifier.errors import ConfigurationError
from customer_classifier.registry.ops import promote
from customer_classifier.registry.store import ModelStore
from customer_classifier.rollout.analysis import (
    Action,
    Decision,
    Phase,
    RolloutPolicy,
    RolloutState,
    Snapshot,
    abort,
    decide,
    pause,
    resume,
    start,
)

log = logging.getLogger(__name__)
CANARY_ALIAS = "canary"
CHAMPION_ALIAS = "champion"


class TrafficSplit(Protocol):
    """Where the canary's share is set and read back."""

    def stable_version(self) -> str: ...

    def begin(self, version: str, percent: int) -> None: ...

    def set_share(self, percent: int) -> None: ...

    def promote(self, version: str) -> None: ...

    def roll_back(self, stable: str) -> None: ...

    def load_state(self) -> RolloutState | None: ...

    def save_state(self, state: RolloutState) -> None: ...


class MetricsSource(Protocol):
    def snapshot(self, canary: str, stable: str, interval_s: float) -> Snapshot: ...


class Recorder(Protocol):
    def record(self, reason: str, message: str, *, warning: bool = False) -> None: ...


EVENT_REASONS = {
    Action.ADVANCE: "RolloutAdvanced",
    Action.HOLD: "RolloutHeld",
    Action.PROMOTE: "RolloutPromoted",
    Action.ROLLBACK: "RolloutRolledBack",
    Action.PAUSE: "RolloutPaused",
}


@dataclass
class Trail:
    """Every decision taken, oldest first, for ``rollout status`` and the benchmark."""

    decisions: list[Decision] = field(default_factory=list)


@dataclass
class RolloutController:
    policy: RolloutPolicy
    traffic: TrafficSplit
    metrics: MetricsSource
    store: ModelStore
    recorder: Recorder
    actor: str = "customer-classifier-rollout"
    wait: Callable[[float], None] = time.sleep
    trail: Trail = field(default_factory=Trail)
    observers: list[Callable[[Decision], None]] = field(default_factory=list)
    """Called after every decision is recorded (the controller's metrics)."""

    def begin(self, version: str) -> Decision:
        """Put the canary at the first step, after checking it can be loaded."""
        current = self.traffic.load_state()
        if current is not None and not current.phase.finished:
            raise ConfigurationError(
                f"a rollout of {current.version} is {current.phase} at {current.canary_percent} %; "
                "abort it (`customer-classifier rollout abort`) before starting another"
            )
        self.store.load(version)  # checksums: never route traffic to an unloadable version
        stable = self.traffic.stable_version()
        if stable == version:
            raise ConfigurationError(
                f"version {version} already serves as the stable model; nothing to roll out"
            )
        decision = start(self.policy, version, stable)
        self.traffic.begin(version, decision.canary_percent)
        self._settle(decision)
        return decision

    def step(self) -> Decision:
        """Judge the interval that just ended and act on the verdict."""
        state = self._state()
        snapshot = self.metrics.snapshot(state.version, state.stable, self.policy.interval_s)
        decision = decide(self.policy, state, snapshot)
        if decision.action is Action.ADVANCE:
            self.traffic.set_share(decision.canary_percent)
        elif decision.action is Action.PROMOTE:
            self.traffic.promote(state.version)
        elif decision.action is Action.ROLLBACK:
            self.traffic.roll_back(state.stable)
        self._settle(decision)
        return decision

    def run(self, version: str) -> Decision:
        """Begin, then one step per interval until the rollout ends or pauses."""
        decision = self.begin(version)
        while not decision.state.phase.finished and decision.state.phase is not Phase.PAUSED:
            self.wait(self.policy.interval_s)
            decision = self.step()
        return decision

    def resume(self) -> Decision:
        state = resume(self._state())
        decision = Decision(Action.HOLD, state, "resumed by an operator")
        self._settle(decision)
        return decision

    def pause(self, reason: str) -> Decision:
        state = pause(self._state(), reason)
        decision = Decision(Action.PAUSE, state, reason)
        self._settle(decision)
        return decision

    def abort(self, reason: str) -> Decision:
        state = self._state()
        decision = abort(state, reason)
        if decision.action is Action.ROLLBACK:
            self.traffic.roll_back(state.stable)
        self._settle(decision)
        return decision

    def _state(self) -> RolloutState:
        state = self.traffic.load_state()
        if state is None:
            raise ConfigurationError(
                "no rollout is recorded on this InferenceService; start one with "
                "`customer-classifier rollout start VERSION`"
            )
        return state

    def _settle(self, decision: Decision) -> None:
        """Save the state, then leave the trail: registry history and an Event."""
        state = decision.state
        self.traffic.save_state(state)
        self.trail.decisions.append(decision)
        message = f"{state.version} at {state.canary_percent} %: {decision.reason}"
        log.info("rollout %s: %s", decision.action, message)
        if decision.action is not Action.HOLD:
            note = f"rollout {decision.action}: {message}"
            current = self.store.get_alias(CANARY_ALIAS)
            self.store.set_alias(
                CANARY_ALIAS, state.version, expected=current, reason=note, actor=self.actor
            )
        if decision.action is Action.PROMOTE:
            promote(self.store, state.version, CHAMPION_ALIAS, message, actor=self.actor)
        warning = decision.action in (Action.ROLLBACK, Action.PAUSE)
        self.recorder.record(EVENT_REASONS[decision.action], message, warning=warning)
        for observe in self.observers:
            observe(decision)
