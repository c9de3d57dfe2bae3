"""Whether tonight retrains: triggers over the monitoring history, with hysteresis.

Pure logic: the monitoring history frame (the nights' samples, as the history table keeps
them), the decisions taken before, tonight's as-of date and a :class:`RetrainPolicy` in;
a :class:`RetrainDecision` out, with every trigger's evidence. The job
(:mod:`customer_classifier.jobs.retrain`) reads the inputs, records the decision and
launches the training pipeline; the champion/challenger gate of that pipeline still
decides what ships.

The triggers, each judged on one night's figures (segment ``all``):

- ``drift``: any feature flagged by the calibrated drift check, or the score's PSI above
  ``max_score_psi`` (the dataset-level alarm);
- ``estimated_precision``: the upper end of the estimate's band below the precision
  floor (target minus tolerance). The upper end, not the estimate: the trigger then
  fires only when the band rules out precision at the floor, so the estimate's own
  noise does not count as a breach;
- ``realised_precision``: the precision realised on the newest matured night below the
  floor;
- ``calibration``: the matured night's expected calibration error above its bound;
- ``concept_drift``: the early labels fell short of the estimate beyond its band;
- ``schedule``: the model is ``max_model_age_days`` old (since the last launched retrain
  or the champion's promotion, whichever is later).

Hysteresis: a trigger is *ready* when it fired on ``consecutive_nights`` nights in a row
ending tonight; a calendar day without figures breaks the row, and so does a night
without the trigger's figure (no matured night, nobody labelled good). The schedule
needs one night. After a launched retrain, nothing launches for ``cooldown_days`` days,
and a night that has launched never launches again, so a re-run of the night is safe.

Actions: ``quiet`` (nothing fired tonight), ``skip`` (something fired but no trigger is
ready, or retraining is switched off), ``cooldown`` (ready, but within the cool-down),
``retrain``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import pandas as pd

from customer_classifier.monitoring_metrics import (
    CALIBRATION_ERROR,
    CONCEPT_DRIFT_FLAGGED,
    ESTIMATED_PRECISION,
    ESTIMATED_PRECISION_LOWER,
    ESTIMATED_PRECISION_UPPER,
    FEATURE_DRIFT_FLAGGED,
    REALISED_PRECISION,
    RETRAIN_LAUNCHED,
    RETRAIN_TRIGGER_FIRED,
    SCORE_DRIFT_PSI,
    Sample,
    sample,
)
from customer_classifier.settings import RetrainSettings

Action = Literal["retrain", "skip", "cooldown", "quiet"]
RETRAIN: Action = "retrain"
SKIP: Action = "skip"
COOLDOWN: Action = "cooldown"
QUIET: Action = "quiet"
ACTIONS: tuple[Action, ...] = (RETRAIN, SKIP, COOLDOWN, QUIET)

DRIFT = "drift"
ESTIMATED = "estimated_precision"
REALISED = "realised_precision"
CALIBRATION = "calibration"
CONCEPT = "concept_drift"
SCHEDULE = "schedule"
TRIGGERS = (DRIFT, ESTIMATED, REALISED, CALIBRATION, CONCEPT, SCHEDULE)
"""Every trigger, in the order the evidence lists them; the ``trigger`` label values of
``cc_monitoring_retrain_trigger_fired``."""

ALL_SEGMENTS = "all"
HISTORY_COLUMNS = ("as_of", "metric", "labels", "value")
"""Columns of the monitoring history frame this module reads (the table has more)."""
TRIGGER_METRICS = tuple(
    m.name
    for m in (
        FEATURE_DRIFT_FLAGGED,
        SCORE_DRIFT_PSI,
        ESTIMATED_PRECISION,
        ESTIMATED_PRECISION_LOWER,
        ESTIMATED_PRECISION_UPPER,
        REALISED_PRECISION,
        CALIBRATION_ERROR,
        CONCEPT_DRIFT_FLAGGED,
    )
)
"""The history's metrics the triggers read: what a reader of the table may select."""
_SHOWN_FEATURES = 10


@dataclass(frozen=True)
class RetrainPolicy:
    """The thresholds of one decision, from the settings (:meth:`from_settings`)."""

    precision_floor: float
    max_calibration_error: float
    max_score_psi: float
    consecutive_nights: int
    cooldown_days: int
    max_model_age_days: int
    enabled: bool = True

    @classmethod
    def from_settings(cls, retrain: RetrainSettings, precision_target: float) -> RetrainPolicy:
        return cls(
            precision_floor=precision_target - retrain.precision_tolerance,
            max_calibration_error=retrain.max_calibration_error,
            max_score_psi=retrain.max_score_psi,
            consecutive_nights=retrain.consecutive_nights,
            cooldown_days=retrain.cooldown_days,
            max_model_age_days=retrain.max_model_age_days,
            enabled=retrain.enabled,
        )


@dataclass(frozen=True)
class NightFigures:
    """What one night of the history says, as far as the triggers read it."""

    as_of: dt.date
    drift_flags: Mapping[str, bool] = field(default_factory=dict)
    """Every feature checked that night, and whether it was flagged."""
    score_psi: float | None = None
    estimated_precision: float | None = None
    estimated_lower: float | None = None
    estimated_upper: float | None = None
    realised_precision: float | None = None
    calibration_error: float | None = None
    concept_drift: bool | None = None

    @property
    def drifted_features(self) -> list[str]:
        return sorted(name for name, flagged in self.drift_flags.items() if flagged)


@dataclass(frozen=True)
class PastDecision:
    """A decision taken on an earlier run, as the decisions table keeps it."""

    as_of: dt.date
    action: str
    run_id: str | None = None
    decided_at: dt.datetime | None = None
    reason: str = ""
    evidence: Mapping[str, Any] = field(default_factory=dict)

    @property
    def launched(self) -> bool:
        """A retrain whose training run started (a failed launch leaves no run id)."""
        return self.action == RETRAIN and bool(self.run_id)


@dataclass(frozen=True)
class Judgement:
    """One trigger on one night: whether it fired, on which figures, against what."""

    fired: bool
    figures: dict[str, Any]
    thresholds: dict[str, float]
    detail: str


@dataclass(frozen=True)
class TriggerEvidence:
    """One trigger tonight: whether it fired, its streak and what it rests on."""

    trigger: str
    fired: bool
    """It fired on tonight's figures."""
    streak: int
    """Nights in a row, ending tonight, on which it fired."""
    required: int
    """Nights in a row it needs before it retrains."""
    figures: dict[str, Any]
    """Tonight's figures it judged."""
    thresholds: dict[str, float]
    detail: str
    nights: tuple[dt.date, ...] = ()
    """The nights the streak counts, oldest first."""

    @property
    def ready(self) -> bool:
        return self.fired and self.streak >= self.required

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "ready": self.ready,
            "nights": [night.isoformat() for night in self.nights],
        }


@dataclass(frozen=True)
class RetrainDecision:
    """Tonight's decision and the evidence for it, which the decisions table keeps."""

    as_of: dt.date
    action: Action
    reason: str
    triggers: tuple[TriggerEvidence, ...]
    policy: RetrainPolicy
    last_retrain: dt.date | None = None
    """As-of date of the last launched retrain before or on tonight."""
    retrain_allowed_from: dt.date | None = None
    """First night the cool-down lets a retrain launch again (None: no cool-down)."""
    model_since: dt.date | None = None
    """Since when the served model is in place, as the schedule reckons it."""

    @property
    def fired(self) -> tuple[str, ...]:
        """The triggers that fired on tonight's figures."""
        return tuple(t.trigger for t in self.triggers if t.fired)

    @property
    def ready(self) -> tuple[str, ...]:
        """The triggers that fired on enough nights in a row to retrain."""
        return tuple(t.trigger for t in self.triggers if t.ready)

    @property
    def launches(self) -> bool:
        return self.action == RETRAIN

    def trigger(self, name: str) -> TriggerEvidence:
        return next(t for t in self.triggers if t.trigger == name)

    def to_dict(self) -> dict[str, Any]:
        def day(value: dt.date | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "as_of": self.as_of.isoformat(),
            "action": self.action,
            "reason": self.reason,
            "fired": list(self.fired),
            "ready": list(self.ready),
            "last_retrain": day(self.last_retrain),
            "retrain_allowed_from": day(self.retrain_allowed_from),
            "model_since": day(self.model_since),
            "policy": asdict(self.policy),
            "triggers": {t.trigger: t.to_dict() for t in self.triggers},
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def samples(self, launched: bool | None = None) -> list[Sample]:
        """Per trigger whether it fired tonight, and whether the night launched training
        (``launched`` where the launch's outcome is known; else the action says)."""
        out = [
            sample(RETRAIN_TRIGGER_FIRED, float(t.fired), {"trigger": t.trigger})
            for t in self.triggers
        ]
        went = self.launches if launched is None else launched
        out.append(sample(RETRAIN_LAUNCHED, float(went)))
        return out


# -- the history frame, night by night ----------------------------------------------------


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def nightly_figures(history: pd.DataFrame) -> dict[dt.date, NightFigures]:
    """The trigger figures of every night of the history frame, by as-of date.

    ``history`` has at least :data:`HISTORY_COLUMNS`; ``labels`` is the sample's labels
    as a JSON object. Rows of other metrics and segments are ignored.
    """
    missing = [c for c in HISTORY_COLUMNS if c not in history.columns]
    if missing:
        raise ValueError(
            f"the monitoring history frame lacks the column(s) {missing}; it needs "
            f"{list(HISTORY_COLUMNS)} (the history table's shape)"
        )
    rows = history.loc[history["metric"].isin(TRIGGER_METRICS), list(HISTORY_COLUMNS)]
    nights: dict[dt.date, dict[str, Any]] = {}
    for as_of, metric, labels, value in rows.itertuples(index=False, name=None):
        night = nights.setdefault(_day(as_of), {"drift_flags": {}})
        label = _labels(labels)
        number = _finite(value)
        if metric == FEATURE_DRIFT_FLAGGED.name:
            if number is not None:
                night["drift_flags"][str(label.get("feature", ""))] = number >= 0.5
            continue
        if metric == CONCEPT_DRIFT_FLAGGED.name:
            night["concept_drift"] = None if number is None else number >= 0.5
            continue
        if label.get("segment", ALL_SEGMENTS) != ALL_SEGMENTS:
            continue
        key = _FIELDS[metric]
        night[key] = number
    return {day: NightFigures(as_of=day, **values) for day, values in sorted(nights.items())}


_FIELDS = {
    SCORE_DRIFT_PSI.name: "score_psi",
    ESTIMATED_PRECISION.name: "estimated_precision",
    ESTIMATED_PRECISION_LOWER.name: "estimated_lower",
    ESTIMATED_PRECISION_UPPER.name: "estimated_upper",
    REALISED_PRECISION.name: "realised_precision",
    CALIBRATION_ERROR.name: "calibration_error",
}


def _labels(value: Any) -> dict[str, Any]:
    """A row's labels: the JSON object the table keeps, or a mapping already parsed."""
    if isinstance(value, str):
        parsed = json.loads(value or "{}")
        return parsed if isinstance(parsed, dict) else {}
    return dict(value) if isinstance(value, Mapping) else {}


def _day(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


# -- the triggers on one night ------------------------------------------------------------


def _fmt(value: float | None, spec: str = ".4f") -> str:
    return "none" if value is None else format(value, spec)


def judge_drift(night: NightFigures, policy: RetrainPolicy) -> Judgement:
    drifted = night.drifted_features
    psi = night.score_psi
    score_drifted = psi is not None and psi > policy.max_score_psi
    shown = ", ".join(drifted[:_SHOWN_FEATURES]) + (
        " ..." if len(drifted) > _SHOWN_FEATURES else ""
    )
    if not night.drift_flags and psi is None:
        detail = "no drift figures this night"
    else:
        named = f"flagged: {shown}" if drifted else "no feature flagged"
        detail = (
            f"{len(drifted)} of {len(night.drift_flags)} features drifted ({named}); "
            f"score PSI {_fmt(psi)} against at most {policy.max_score_psi:g}"
        )
    return Judgement(
        fired=bool(drifted) or score_drifted,
        figures={
            "drifted_features": drifted,
            "features_checked": len(night.drift_flags),
            "score_psi": psi,
        },
        thresholds={"max_score_psi": policy.max_score_psi},
        detail=detail,
    )


def judge_estimated(night: NightFigures, policy: RetrainPolicy) -> Judgement:
    upper, floor = night.estimated_upper, policy.precision_floor
    fired = upper is not None and upper < floor
    detail = (
        "no precision estimate this night"
        if upper is None
        else f"estimated precision {_fmt(night.estimated_precision)} (band "
        f"{_fmt(night.estimated_lower)} to {_fmt(upper)}): upper end "
        f"{'below' if fired else 'at or above'} the floor {floor:.4f}"
    )
    return Judgement(
        fired=fired,
        figures={
            "estimated_precision": night.estimated_precision,
            "lower": night.estimated_lower,
            "upper": upper,
        },
        thresholds={"precision_floor": floor},
        detail=detail,
    )


def judge_realised(night: NightFigures, policy: RetrainPolicy) -> Judgement:
    realised, floor = night.realised_precision, policy.precision_floor
    fired = realised is not None and realised < floor
    detail = (
        "no matured night yet"
        if realised is None
        else f"realised precision {realised:.4f} {'below' if fired else 'at or above'} "
        f"the floor {floor:.4f}"
    )
    return Judgement(
        fired=fired,
        figures={"realised_precision": realised},
        thresholds={"precision_floor": floor},
        detail=detail,
    )


def judge_calibration(night: NightFigures, policy: RetrainPolicy) -> Judgement:
    ece, bound = night.calibration_error, policy.max_calibration_error
    fired = ece is not None and ece > bound
    detail = (
        "no matured night yet"
        if ece is None
        else f"calibration error {ece:.4f} {'above' if fired else 'within'} the bound {bound:g}"
    )
    return Judgement(
        fired=fired,
        figures={"calibration_error": ece},
        thresholds={"max_calibration_error": bound},
        detail=detail,
    )


def judge_concept(night: NightFigures, policy: RetrainPolicy) -> Judgement:
    flagged = night.concept_drift
    detail = {
        None: "no early-label check this night",
        True: "early labels fell short of the estimate beyond its band",
        False: "early labels in line with the estimate",
    }[flagged]
    return Judgement(
        fired=bool(flagged),
        figures={"concept_drift": flagged},
        thresholds={},
        detail=detail,
    )


JUDGES: dict[str, Callable[[NightFigures, RetrainPolicy], Judgement]] = {
    DRIFT: judge_drift,
    ESTIMATED: judge_estimated,
    REALISED: judge_realised,
    CALIBRATION: judge_calibration,
    CONCEPT: judge_concept,
}
"""The triggers judged on a night's figures; the schedule is judged on the model's age."""


def judge_schedule(as_of: dt.date, since: dt.date | None, policy: RetrainPolicy) -> Judgement:
    limit = policy.max_model_age_days
    age = (as_of - since).days if since is not None else None
    if limit == 0:
        fired, detail = False, "no scheduled retraining (max_model_age_days 0)"
    elif age is None:
        fired, detail = False, "no retrain or champion promotion known to age the model from"
    else:
        fired = age >= limit
        detail = f"model in place since {since} ({age} days) against at most {limit}"
    return Judgement(
        fired=fired,
        figures={"model_age_days": age, "since": since.isoformat() if since else None},
        thresholds={"max_model_age_days": float(limit)},
        detail=detail,
    )


# -- the decision -------------------------------------------------------------------------


def _streak(
    trigger: str,
    as_of: dt.date,
    nights: Mapping[dt.date, NightFigures],
    policy: RetrainPolicy,
) -> tuple[dt.date, ...]:
    """The nights in a row, ending tonight, on which ``trigger`` fired, oldest first."""
    counted: list[dt.date] = []
    day = as_of
    while day in nights and JUDGES[trigger](nights[day], policy).fired:
        counted.append(day)
        day -= dt.timedelta(days=1)
    return tuple(reversed(counted))


def _last_retrain(past: Iterable[PastDecision], as_of: dt.date) -> dt.date | None:
    launched = [d.as_of for d in past if d.launched and d.as_of <= as_of]
    return max(launched, default=None)


def _names(evidence: Sequence[TriggerEvidence]) -> str:
    return ", ".join(f"{t.trigger} ({t.streak} of {t.required} nights)" for t in evidence)


def decide_retrain(
    history: pd.DataFrame,
    past: Sequence[PastDecision],
    as_of: dt.date,
    policy: RetrainPolicy,
    *,
    champion_since: dt.date | None = None,
) -> RetrainDecision:
    """Tonight's decision from the history frame and the decisions before.

    ``champion_since``: when the served champion was promoted (the registry's alias
    history), which ages the model for the schedule when no retrain launched since.
    Nights after ``as_of`` in either input are ignored.
    """
    nights = {d: n for d, n in nightly_figures(history).items() if d <= as_of}
    tonight = nights.get(as_of, NightFigures(as_of=as_of))
    last = _last_retrain(past, as_of)
    since_candidates = [d for d in (last, champion_since) if d is not None and d <= as_of]
    since = max(since_candidates, default=None)

    evidence: list[TriggerEvidence] = []
    for name, judge in JUDGES.items():
        judged = judge(tonight, policy)
        counted = _streak(name, as_of, nights, policy) if judged.fired else ()
        evidence.append(
            TriggerEvidence(
                trigger=name,
                fired=judged.fired,
                streak=len(counted),
                required=policy.consecutive_nights,
                figures=judged.figures,
                thresholds=judged.thresholds,
                detail=judged.detail,
                nights=counted,
            )
        )
    scheduled = judge_schedule(as_of, since, policy)
    evidence.append(
        TriggerEvidence(
            trigger=SCHEDULE,
            fired=scheduled.fired,
            streak=int(scheduled.fired),
            required=1,
            figures=scheduled.figures,
            thresholds=scheduled.thresholds,
            detail=scheduled.detail,
            nights=(as_of,) if scheduled.fired else (),
        )
    )

    allowed_from = None
    if last is not None:
        allowed_from = last + dt.timedelta(days=max(policy.cooldown_days, 1))
    fired = [t for t in evidence if t.fired]
    ready = [t for t in evidence if t.ready]
    if not fired:
        action, reason = QUIET, "no trigger fired tonight"
    elif not ready:
        action = SKIP
        reason = (
            f"fired tonight but not on enough nights in a row: {_names(fired)}; "
            "one noisy night does not retrain"
        )
    elif allowed_from is not None and as_of < allowed_from:
        action = COOLDOWN
        reason = (
            f"ready: {_names(ready)}; but training was launched for {last} and the "
            f"cool-down of {policy.cooldown_days} days lets the next retrain start on "
            f"{allowed_from}"
        )
    elif not policy.enabled:
        action = SKIP
        reason = f"ready: {_names(ready)}; retraining is switched off (CC_RETRAIN__ENABLED)"
    else:
        action, reason = RETRAIN, f"ready: {_names(ready)}"
    return RetrainDecision(
        as_of=as_of,
        action=action,
        reason=reason,
        triggers=tuple(evidence),
        policy=policy,
        last_retrain=last,
        retrain_allowed_from=allowed_from,
        model_since=since,
    )
