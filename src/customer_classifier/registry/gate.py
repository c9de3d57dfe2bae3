"""The champion/challenger gate: declarative checks, one decision, its reasons.

Pure logic: figures in, a :class:`GateDecision` out. The registry step
(:mod:`customer_classifier.jobs.register`) gathers the figures (metrics, the champion
and the heuristic re-scored or their recorded figures, the load check) and moves the
aliases.

Every figure is taken under one :class:`GatePolicy`, the one recorded in the
challenger's metadata when it was trained: its precision target, required recall and
promotion margin. Challenger, champion and heuristic are compared at that recall on
that window, whatever the environment of the register step says.

The checks are data (:class:`GateCheck`: name, evidence, threshold, blocking or not) in
:func:`gate_checks`; :func:`decide` runs them in order and promotes only when none
fails. A failed check that does not block shows as ``warn``. A new check (calibration)
is one more entry in that list; ``decide`` does not change. The fairness check compares
the challenger's gaps between groups with the champion's on the same window
(:mod:`customer_classifier.evaluation.fairness`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from customer_classifier.data.evidence import VerificationEvidence
from customer_classifier.errors import RegistryError
from customer_classifier.evaluation.fairness import FairnessReport, gap_changes
from customer_classifier.evaluation.target import target_verdict
from customer_classifier.settings import FairnessSettings, GateSettings

Status = Literal["pass", "fail", "warn", "n/a", "not checked"]
Result = Literal["pass", "fail", "n/a", "not checked"]
"""What a check finds; a failure of a non-blocking check is then reported as ``warn``."""


@dataclass(frozen=True)
class GatePolicy:
    """The terms a version is judged by, recorded in its metadata at training time."""

    precision_target: float
    min_recall: float
    margin: float

    def to_metadata(self) -> dict[str, float]:
        return {
            "precision_target": self.precision_target,
            "min_recall": self.min_recall,
            "promotion_margin": self.margin,
        }

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> GatePolicy:
        recorded = metadata.get("policy")
        keys = ("precision_target", "min_recall", "promotion_margin")
        if not isinstance(recorded, dict) or any(k not in recorded for k in keys):
            raise RegistryError(
                f"the bundle's metadata has no complete gate policy (policy: {recorded!r}; "
                f"needs {', '.join(keys)}): the gate judges a version only under the terms "
                "it was trained for; retrain it with this version of the training step"
            )
        return cls(
            precision_target=float(recorded["precision_target"]),
            min_recall=float(recorded["min_recall"]),
            margin=float(recorded["promotion_margin"]),
        )


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    observed: float | None = None
    required: float | None = None
    blocking: bool = True
    """Whether a failure of this check stops the promotion (otherwise it warns)."""


@dataclass(frozen=True)
class ChampionEvidence:
    """The current champion's precision at the required recall on the challenger's window.

    ``precision`` is None when no comparable figure exists; ``basis`` says how it was
    obtained ("re-scored on this window" or "recorded on the same window"), or why not.
    """

    version: str
    precision: float | None
    basis: str


@dataclass(frozen=True)
class FairnessEvidence:
    """Each model's group figures on the challenger's test window, at its own threshold.

    ``attributes`` are the group attributes measured; a report is None when no figure
    exists for that model on this window, and ``basis`` says how they were obtained or
    why one is missing.
    """

    attributes: tuple[str, ...]
    challenger: FairnessReport | None
    champion: FairnessReport | None = None
    baseline: FairnessReport | None = None
    basis: str = "re-scored on this window"


@dataclass(frozen=True)
class GateInputs:
    version: str
    candidate: str
    precision: float
    """The new model's precision at the policy's recall on the evaluation window."""
    baseline_precision: float
    """The heuristic baseline's, at the same recall on the same window."""
    policy: GatePolicy
    evaluation_window: dict[str, Any]
    data_snapshot_hash: str
    verification: VerificationEvidence | None
    """The verification of the source the snapshot was read from, as recorded with it."""
    champion: ChampionEvidence | None
    loadable: tuple[bool, str]
    """Whether the registered version loaded back (checksums) and scored, and how it went."""
    basis: str = "recorded at training"
    """How ``precision`` and ``baseline_precision`` were obtained."""
    candidate_precisions: Mapping[str, float] = field(default_factory=dict)
    """Every candidate's test precision at the policy's recall, recorded at training."""
    business_value: Mapping[str, Any] | None = None
    """The value figures recorded at training (``model.json``'s ``business_value``)."""
    fairness: FairnessEvidence | None = None
    """Group figures of challenger, champion and heuristic on the same test window."""


@dataclass(frozen=True)
class Outcome:
    result: Result
    detail: str
    observed: float | None = None
    required: float | None = None


@dataclass(frozen=True)
class GateCheck:
    """One declared check: what it reads, what passes, and whether failing it blocks."""

    name: str
    evidence: str
    threshold: str
    judge: Callable[[GateInputs], Outcome]
    blocking: bool = True

    def run(self, inputs: GateInputs) -> Check:
        found = self.judge(inputs)
        status: Status = "warn" if found.result == "fail" and not self.blocking else found.result
        return Check(self.name, status, found.detail, found.observed, found.required, self.blocking)


@dataclass(frozen=True)
class GateDecision:
    version: str
    candidate: str
    promoted: bool
    champion_before: str | None
    champion_after: str | None
    precision_target: float
    min_recall: float
    margin: float
    evaluation_window: dict[str, Any]
    checks: list[Check]
    decided_at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat())

    @property
    def reasons(self) -> list[str]:
        return [f"{c.name}: {c.status}: {c.detail}" for c in self.checks]

    @property
    def warnings(self) -> list[str]:
        return [f"{c.name}: {c.detail}" for c in self.checks if c.status == "warn"]

    def with_conflict(self, moved_to: str | None) -> GateDecision:
        """The decision after the promotion lost a race: another run moved the champion."""
        check = Check(
            "champion unchanged since the comparison",
            "fail",
            f"the champion moved to {moved_to!r} while this run compared against "
            f"{self.champion_before!r}; nothing was promoted: re-run the gate",
        )
        return dataclasses.replace(
            self, checks=[*self.checks, check], promoted=False, champion_after=moved_to
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "reasons": self.reasons, "warnings": self.warnings}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str)

    def to_markdown(self) -> str:
        verdict = (
            f"promoted to **champion** (was {self.champion_before or 'none'})"
            if self.promoted
            else f"kept as **challenger**; the champion stays {self.champion_after or 'none'}"
        )
        test = self.evaluation_window.get("test", {})
        lines = [
            f"# Model {self.version}",
            "",
            f"{self.candidate}: {verdict}.",
            "",
            f"Compared by precision at recall >= {self.min_recall:.2f} on the test window "
            f"(as of {test.get('as_of', '?')}, {test.get('rows', '?')} customers); "
            f"precision target {self.precision_target:.2f}; "
            f"promotion margin {self.margin:.4f} (the policy recorded with this version).",
            "",
            "| check | result | blocks | detail |",
            "|---|---|---|---|",
        ]
        marks = {
            "pass": "pass",
            "fail": "**FAIL**",
            "warn": "**warn**",
            "n/a": "n/a",
            "not checked": "not checked",
        }
        for c in self.checks:
            lines.append(
                f"| {c.name} | {marks[c.status]} | {'yes' if c.blocking else 'no'} "
                f"| {c.detail.replace('|', '/')} |"
            )
        if self.warnings:
            lines += ["", "Warnings (they do not block the promotion):", ""]
            lines += [f"- {w}" for w in self.warnings]
        lines += ["", f"Decided at {self.decided_at}."]
        return "\n".join(lines) + "\n"


def window_differences(mine: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    """What differs between two versions' evaluation conditions (empty: comparable).

    Recorded figures are comparable only on the same data snapshot, test window, label
    rule and required recall.
    """

    def conditions(m: dict[str, Any]) -> dict[str, Any]:
        policy = m.get("policy") or {}
        return {
            "data snapshot": m.get("data_snapshot_hash"),
            "test window": (m.get("evaluation_window") or {}).get("test"),
            "label rule": m.get("label_rule"),
            "required recall": policy.get("min_recall", m.get("min_recall")),
        }

    a, b = conditions(mine), conditions(theirs)
    return [name for name in a if a[name] != b[name]]


def _verified(inputs: GateInputs) -> Outcome:
    snapshot = inputs.data_snapshot_hash[:12]
    found = inputs.verification
    if found is None:
        return Outcome(
            "fail",
            f"no verification result is recorded with data snapshot {snapshot}: the data "
            "this model learnt from was never shown to pass verification; run the "
            "verification step and pass its output to ingest (the pipeline does)",
        )
    where = f"{found.database}, profiled at {found.verified_at}"
    if not found.passed:
        return Outcome(
            "fail",
            f"the verification of {where} failed with {found.blocking} blocking finding(s); "
            "fix the data and re-run from verification",
            observed=found.blocking,
            required=0,
        )
    return Outcome(
        "pass",
        f"{where}: passed with {found.warnings} warning(s) (profile "
        f"{found.profile_hash[:12]}, snapshot {snapshot})",
        observed=found.blocking,
        required=0,
    )


def _loads(inputs: GateInputs) -> Outcome:
    return Outcome("pass" if inputs.loadable[0] else "fail", inputs.loadable[1])


def _beats_baseline(inputs: GateInputs) -> Outcome:
    ok = inputs.precision > inputs.baseline_precision
    return Outcome(
        "pass" if ok else "fail",
        f"precision@recall>={inputs.policy.min_recall:.2f} {inputs.precision:.4f} vs heuristic "
        f"{inputs.baseline_precision:.4f} ({inputs.basis}; must be higher)",
        observed=inputs.precision,
        required=inputs.baseline_precision,
    )


def _beats_champion(inputs: GateInputs) -> Outcome:
    champion = inputs.champion
    if champion is None:
        return Outcome("n/a", "no champion yet: the first model only has to beat the heuristic")
    if champion.precision is None:
        return Outcome("fail", f"champion {champion.version}: {champion.basis}")
    required = champion.precision + inputs.policy.margin
    ok = inputs.precision > champion.precision and inputs.precision >= required - 1e-12
    return Outcome(
        "pass" if ok else "fail",
        f"{inputs.precision:.4f} vs champion {champion.version} {champion.precision:.4f} "
        f"({champion.basis}); needs at least {required:.4f} and more than the champion",
        observed=inputs.precision,
        required=required,
    )


def _meets_target(inputs: GateInputs) -> Outcome:
    policy = inputs.policy
    ok = inputs.precision >= policy.precision_target
    detail = (
        f"precision@recall>={policy.min_recall:.2f} {inputs.precision:.4f} vs target "
        f"{policy.precision_target:.2f} ({inputs.basis})"
    )
    if not ok:
        detail += ": the target is not reached at the required recall"
        verdict = target_verdict(
            inputs.candidate_precisions, policy.precision_target, policy.min_recall
        )
        if inputs.candidate_precisions and not verdict.reached and verdict.best:
            detail += (
                f"; no candidate reached it (best: {verdict.best[0]} {verdict.best[1]:.4f}): "
                "lower the target, or bring features or data that separate better"
            )
    return Outcome("pass" if ok else "fail", detail, inputs.precision, policy.precision_target)


def _gap_words(name: str) -> str:
    return name.replace("_", " ")


def _flagged(report: FairnessReport) -> str:
    found = report.underperforming
    if not found:
        return "no underperforming group"
    listed = ", ".join(f"{a}={g.group} {g.precision:.3f}" for a, g in found)
    return f"underperforming (precision vs {report.overall_precision:.3f} overall): {listed}"


def _fairness_judge(settings: FairnessSettings) -> Callable[[GateInputs], Outcome]:
    """The fairness check under ``settings``: no gap of the challenger wider than the
    champion's by more than the tolerance (and by more than the resampling noise);
    without a champion, the precision gap under the ceiling."""

    def judge(inputs: GateInputs) -> Outcome:
        found = inputs.fairness
        if found is None or found.challenger is None:
            why = found.basis if found is not None else "no group figures were given"
            return Outcome(
                "not checked",
                f"no fairness figures for this version on the test window ({why}); give "
                "the register step this run's features to re-score it",
            )
        mine = found.challenger
        heuristic = ""
        if found.baseline is not None:
            widest = max(
                (a.gaps["precision_gap"].value, a.attribute) for a in found.baseline.attributes
            )
            heuristic = f"; heuristic's widest precision gap {widest[0]:.3f} ({widest[1]})"
        if inputs.champion is None:
            gaps = [(a.gaps["precision_gap"], a.attribute) for a in mine.attributes]
            gap, attribute = max(gaps, key=lambda g: g[0].value)
            ok = gap.value <= settings.max_gap + 1e-12
            return Outcome(
                "pass" if ok else "fail",
                f"no champion: widest precision gap {gap.value:.3f} ({attribute}, interval "
                f"{gap.low:.3f}-{gap.high:.3f}) vs ceiling {settings.max_gap:.2f} "
                f"(CC_FAIRNESS__MAX_GAP); {_flagged(mine)}{heuristic} ({found.basis})",
                observed=gap.value,
                required=settings.max_gap,
            )
        if found.champion is None:
            return Outcome(
                "not checked",
                f"champion {inputs.champion.version} has no fairness figures on this window "
                f"({found.basis}); give the register step this run's features to re-score it",
            )
        changes = gap_changes(mine, found.champion)
        if not changes:
            return Outcome("not checked", "challenger and champion share no measured attribute")
        widened = [
            c
            for c in changes
            if c.widening > settings.tolerance + 1e-12 and (c.low is None or c.low > 0)
        ]
        shown = widened or [max(changes, key=lambda c: c.widening)]

        def words(c: Any) -> str:
            paired = "" if c.low is None else f", paired interval {c.low:+.3f} to {c.high:+.3f}"
            return (
                f"{c.attribute} {_gap_words(c.gap)} {c.challenger:.3f} vs champion "
                f"{c.champion:.3f} ({c.widening:+.3f}{paired})"
            )

        head = "widened beyond" if widened else "largest change, within"
        return Outcome(
            "fail" if widened else "pass",
            f"{head} the tolerance {settings.tolerance:.2f} (CC_FAIRNESS__TOLERANCE) against "
            f"champion {inputs.champion.version}: {'; '.join(words(c) for c in shown)}; "
            f"{_flagged(mine)}{heuristic} ({found.basis})",
            observed=max(c.widening for c in changes),
            required=settings.tolerance,
        )

    return judge


def _value(inputs: GateInputs) -> Outcome:
    found = inputs.business_value
    if not found:
        return Outcome("n/a", "no business value is recorded with this version")
    model, heuristic = float(found["model_value"]), float(found["heuristic_value"])
    return Outcome(
        "pass" if model > heuristic else "fail",
        f"value {model:,.0f} at threshold {float(found['threshold']):.4f} vs heuristic "
        f"{heuristic:,.0f} and acting on everyone {float(found['act_on_everyone_value']):,.0f} "
        f"(test window, {found['true_positive']:g} per true positive, "
        f"{found['false_positive_cost']:g} per false positive); the value-maximising "
        f"threshold {float(found['value_threshold']):.4f} would give "
        f"{float(found['value_at_value_threshold']):,.0f}",
        observed=model,
        required=heuristic,
    )


DATA_VERIFICATION = GateCheck(
    "data verification",
    evidence="the verification result recorded with the data snapshot",
    threshold="recorded, and no blocking finding",
    judge=_verified,
)
LOADS_FROM_STORE = GateCheck(
    "loads from the store",
    evidence="the registered version loaded back from the store and scored",
    threshold="every checksum right; one finite score in [0, 1] per record",
    judge=_loads,
)
BEATS_BASELINE = GateCheck(
    "beats the heuristic baseline",
    evidence="precision at the required recall, challenger and heuristic, same test window",
    threshold="strictly higher than the heuristic's",
    judge=_beats_baseline,
)
BEATS_CHAMPION = GateCheck(
    "beats the champion by the margin",
    evidence="precision at the required recall, challenger and champion, same test window",
    threshold="higher than the champion's, and at least the champion's plus the margin",
    judge=_beats_champion,
)
MEETS_TARGET = GateCheck(
    "meets the precision target on the test window",
    evidence="the challenger's precision at the required recall on the test window",
    threshold="at least the precision target",
    judge=_meets_target,
    blocking=False,
)
BUSINESS_VALUE = GateCheck(
    "business value beats the heuristic's",
    evidence="value at the threshold on the test window (CC_VALUE__*), recorded at training",
    threshold="higher than the heuristic's at its own threshold; informational, never blocks",
    judge=_value,
    blocking=False,
)


def fairness_check(settings: FairnessSettings | None = None) -> GateCheck:
    """The fairness check under ``settings`` (blocking unless ``CC_FAIRNESS__CHECK=warn``)."""
    settings = settings or FairnessSettings()
    return GateCheck(
        "fairness across segments",
        evidence="per group (segment, country, channel, age, tenure, loyalty): precision, "
        "recall, selection rate and count of challenger and champion (and the heuristic) "
        "on the same test window at their thresholds; the demographic parity, equalized "
        "odds and precision gaps between judged groups, with paired bootstrap intervals",
        threshold=f"no gap wider than the champion's by more than {settings.tolerance:.2f} "
        "with its paired interval above 0; with no champion, the widest precision gap at "
        f"most {settings.max_gap:.2f}",
        judge=_fairness_judge(settings),
        blocking=settings.check == "block",
    )


FAIRNESS = fairness_check()


def gate_checks(
    settings: GateSettings | None = None, fairness: FairnessSettings | None = None
) -> tuple[GateCheck, ...]:
    """The declared checks, in the order the decision lists them."""
    settings = settings or GateSettings()
    target = dataclasses.replace(MEETS_TARGET, blocking=settings.precision_target_check == "block")
    return (
        DATA_VERIFICATION,
        LOADS_FROM_STORE,
        BEATS_BASELINE,
        BEATS_CHAMPION,
        target,
        BUSINESS_VALUE,
        fairness_check(fairness),
    )


def decide(inputs: GateInputs, checks: Sequence[GateCheck] | None = None) -> GateDecision:
    """Run every declared check; promote only when none fails."""
    results = [check.run(inputs) for check in (gate_checks() if checks is None else checks)]
    promoted = not any(c.status == "fail" for c in results)
    before = inputs.champion.version if inputs.champion else None
    return GateDecision(
        version=inputs.version,
        candidate=inputs.candidate,
        promoted=promoted,
        champion_before=before,
        champion_after=inputs.version if promoted else before,
        precision_target=inputs.policy.precision_target,
        min_recall=inputs.policy.min_recall,
        margin=inputs.policy.margin,
        evaluation_window=inputs.evaluation_window,
        checks=results,
    )
