"""The champion/challenger gate: declarative checks, one decision, its reasons.

Pure logic: figures in, a :class:`GateDecision` out. The registry step
(:mod:`customer_classifier.jobs.register`) gathers the figures (metrics, the champion
re-scored or its recorded figure, the load check) and moves the aliases.

A new model becomes champion only when every check passes:

- the data verification passed (the pipeline stops before training otherwise);
- the registered version loads back from the store with every checksum right and scores;
- its precision at the required recall beats the heuristic baseline's on the same window;
- it beats the current champion's by at least the promotion margin, on the same window;
- fairness: not built yet, reported as not checked (never silently passed).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["pass", "fail", "n/a", "not checked"]


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    observed: float | None = None
    required: float | None = None


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
class GateInputs:
    version: str
    candidate: str
    precision: float
    """The new model's precision at the required recall on the evaluation window."""
    baseline_precision: float
    """The heuristic baseline's, on the same window."""
    min_recall: float
    margin: float
    evaluation_window: dict[str, Any]
    data_snapshot_hash: str
    champion: ChampionEvidence | None
    loadable: tuple[bool, str]
    """Whether the registered version loaded back (checksums) and scored, and how it went."""


@dataclass(frozen=True)
class GateDecision:
    version: str
    candidate: str
    promoted: bool
    champion_before: str | None
    champion_after: str | None
    min_recall: float
    margin: float
    evaluation_window: dict[str, Any]
    checks: list[Check]
    decided_at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat())

    @property
    def reasons(self) -> list[str]:
        return [f"{c.name}: {c.status}: {c.detail}" for c in self.checks]

    def with_conflict(self, moved_to: str | None) -> GateDecision:
        """The decision after the promotion lost a race: another run moved the champion."""
        check = Check(
            "champion unchanged since the comparison",
            "fail",
            f"the champion moved to {moved_to!r} while this run compared against "
            f"{self.champion_before!r}; nothing was promoted: re-run the gate",
        )
        return GateDecision(
            **{
                **asdict(self),
                "checks": [*self.checks, check],
                "promoted": False,
                "champion_after": moved_to,
            }
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "reasons": self.reasons}

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
            f"promotion margin {self.margin:.4f}.",
            "",
            "| check | result | detail |",
            "|---|---|---|",
        ]
        marks = {"pass": "pass", "fail": "**FAIL**", "n/a": "n/a", "not checked": "not checked"}
        for c in self.checks:
            lines.append(f"| {c.name} | {marks[c.status]} | {c.detail.replace('|', '/')} |")
        lines += ["", f"Decided at {self.decided_at}."]
        return "\n".join(lines) + "\n"


def window_differences(mine: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    """What differs between two versions' evaluation conditions (empty: comparable).

    Recorded figures are comparable only on the same data snapshot, test window, label
    rule and required recall.
    """

    def conditions(m: dict[str, Any]) -> dict[str, Any]:
        return {
            "data snapshot": m.get("data_snapshot_hash"),
            "test window": (m.get("evaluation_window") or {}).get("test"),
            "label rule": m.get("label_rule"),
            "required recall": m.get("min_recall"),
        }

    a, b = conditions(mine), conditions(theirs)
    return [name for name in a if a[name] != b[name]]


def decide(inputs: GateInputs) -> GateDecision:
    """Run every check; promote only when none fails."""
    checks = [
        Check(
            "data verification",
            "pass",
            "the verification step passed before this data was ingested "
            f"(snapshot {inputs.data_snapshot_hash[:12]}); the pipeline stops before "
            "training otherwise",
        ),
        Check("loads from the store", "pass" if inputs.loadable[0] else "fail", inputs.loadable[1]),
        _beats_baseline(inputs),
        _beats_champion(inputs),
        Check(
            "fairness across segments",
            "not checked",
            "segment/fairness evaluation is not built yet; this decision does not consider it",
        ),
    ]
    promoted = not any(c.status == "fail" for c in checks)
    before = inputs.champion.version if inputs.champion else None
    return GateDecision(
        version=inputs.version,
        candidate=inputs.candidate,
        promoted=promoted,
        champion_before=before,
        champion_after=inputs.version if promoted else before,
        min_recall=inputs.min_recall,
        margin=inputs.margin,
        evaluation_window=inputs.evaluation_window,
        checks=checks,
    )


def _beats_baseline(inputs: GateInputs) -> Check:
    ok = inputs.precision > inputs.baseline_precision
    return Check(
        "beats the heuristic baseline",
        "pass" if ok else "fail",
        f"precision@recall>={inputs.min_recall:.2f} {inputs.precision:.4f} vs heuristic "
        f"{inputs.baseline_precision:.4f} (must be higher)",
        observed=inputs.precision,
        required=inputs.baseline_precision,
    )


def _beats_champion(inputs: GateInputs) -> Check:
    name = "beats the champion by the margin"
    champion = inputs.champion
    if champion is None:
        return Check(name, "n/a", "no champion yet: the first model only has to beat the heuristic")
    if champion.precision is None:
        return Check(name, "fail", f"champion {champion.version}: {champion.basis}")
    required = champion.precision + inputs.margin
    ok = inputs.precision > champion.precision and inputs.precision >= required - 1e-12
    return Check(
        name,
        "pass" if ok else "fail",
        f"{inputs.precision:.4f} vs champion {champion.version} {champion.precision:.4f} "
        f"({champion.basis}); needs at least {required:.4f} and more than the champion",
        observed=inputs.precision,
        required=required,
    )
