"""Whether the precision target is reachable at the required recall, said plainly.

The threshold policy falls back to the best precision when no threshold reaches the
target, so a run can "succeed" with a target nobody met. This verdict makes that visible
in the training report, the ``make run`` summary and the gate's decision alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class TargetVerdict:
    precision_target: float
    min_recall: float
    met_by: tuple[str, ...]
    """Candidates whose precision at the required recall reaches the target, best first."""
    best: tuple[str, float] | None
    """The candidate with the highest precision at the required recall, and that figure."""

    @property
    def reached(self) -> bool:
        return bool(self.met_by)

    @property
    def text(self) -> str:
        wanted = (
            f"precision target {self.precision_target:.2f} at recall >= {self.min_recall:.2f} "
            "on the test window"
        )
        if self.best is None:
            return f"{wanted}: no candidate was evaluated"
        best = f"{self.best[0]} {self.best[1]:.4f}"
        if self.reached:
            return f"{wanted}: reached by {', '.join(self.met_by)} (best: {best})"
        return (
            f"{wanted}: NOT REACHED by any candidate (best: {best}); the threshold was "
            "chosen for the best precision at the required recall on the validation window"
        )

    @property
    def sentence(self) -> str:
        return self.text[0].upper() + self.text[1:] + "."


def target_verdict(
    precision_at_recall: Mapping[str, float], precision_target: float, min_recall: float
) -> TargetVerdict:
    """The verdict from each candidate's test precision at the required recall."""
    ranked = sorted(precision_at_recall.items(), key=lambda item: -item[1])
    return TargetVerdict(
        precision_target=precision_target,
        min_recall=min_recall,
        met_by=tuple(name for name, p in ranked if p >= precision_target),
        best=ranked[0] if ranked else None,
    )
