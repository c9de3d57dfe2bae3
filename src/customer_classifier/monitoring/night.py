"""One night's monitoring: drift, the estimate before labels, the early-label signal, the
newest matured night and the business impact, as one typed result.

The pure core, :func:`assess_night`, takes the night's data (the scored customers'
feature records, scores and labels; the served version's metadata with its drift
reference and calibration; an open night's early labels; the backtested matured nights;
the heuristic baseline's actions on the newest of them) and returns a
:class:`NightMonitoring`, which says everything twice: as JSON for machines
(:meth:`NightMonitoring.to_json`) and as samples of the pushed metrics
(:meth:`NightMonitoring.samples`) for the Pushgateway and the history table.

The adapter below it, :func:`monitor_night`, reads all of that from the database and the
model store. The feature records come from the scoring code itself
(:func:`customer_classifier.scoring.batch.iter_features`), chunk by chunk, into one
preallocated frame of the scored customers: memory is that frame (30 columns of 8 bytes
per customer) plus one chunk, however large the night.

Pipeline-health findings and retraining decisions join the result later in the night
(:meth:`NightMonitoring.with_findings`): ``health`` and ``retrain`` are their JSON
sections, ``extra_samples`` their samples.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from customer_classifier.data.contract import GOOD
from customer_classifier.data.database import history_schema as prediction_history_schema
from customer_classifier.errors import ConfigurationError, DataSourceError, RegistryError
from customer_classifier.evaluation.value import ValueTerms, value_of
from customer_classifier.features.build import CATEGORICAL_FEATURES, FEATURE_NAMES
from customer_classifier.monitoring.backtest import (
    NightBacktest,
    backtest,
    backtest_nights,
    estimate_accuracy,
    fetch_early_labels,
    learn_early_ratio,
    matured,
    matured_nights,
    read_night,
    scored_nights,
)
from customer_classifier.monitoring.drift import DriftReport, detect_drift, thresholds_from
from customer_classifier.monitoring.estimate import (
    ALL_SEGMENTS,
    ConceptDriftCheck,
    NightEstimate,
    concept_drift_check,
    estimate_night,
)
from customer_classifier.monitoring.reference import DriftReference
from customer_classifier.monitoring.samples import (
    concept_samples,
    drift_samples,
    estimate_samples,
    matured_samples,
    success_sample,
)
from customer_classifier.monitoring_metrics import Sample
from customer_classifier.registry import CHAMPION, ModelStore
from customer_classifier.scoring.batch import iter_features
from customer_classifier.scoring.tables import history_table
from customer_classifier.settings import Settings
from customer_classifier.training.heuristic import COLUMNS as HEURISTIC_COLUMNS
from customer_classifier.training.heuristic import HeuristicRules
from customer_classifier.training.names import HEURISTIC

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: the stage the night is at and how far along it is."""
_FETCH_ROWS = 50_000


# -- the night's inputs and results ---------------------------------------------------------


@dataclass(frozen=True)
class EarlyNight:
    """An open scoring night part-way through its label window: its served scores and
    labels, who is already good, and the share of the final precision that matured
    nights showed at the same day of their windows."""

    as_of: dt.date
    model_version: str
    elapsed_days: int
    scores: pd.Series
    labelled_good: pd.Series
    early_good: pd.Series
    ratio: float


@dataclass(frozen=True)
class BaselineNight:
    """The newest matured night's customers: how each turned out, whether the model acted
    on them (labelled good) and whether the heuristic baseline would have."""

    as_of: dt.date
    model_version: str
    outcome: np.ndarray
    model_acted: np.ndarray
    baseline_acted: np.ndarray


@dataclass(frozen=True)
class BusinessImpact:
    """The value of the model's actions against the heuristic's on the same matured
    customers, with the value terms of the settings."""

    as_of: dt.date
    model_version: str
    customers: int
    model_acted: int
    baseline_acted: int
    model_value: float
    baseline_value: float
    model_precision: float
    baseline_precision: float

    @property
    def uplift(self) -> float:
        """What the model earned beyond the baseline on those customers."""
        return self.model_value - self.baseline_value

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = _json_safe({**dataclasses.asdict(self), "uplift": self.uplift})
        return out


def business_impact(night: BaselineNight, terms: ValueTerms) -> BusinessImpact:
    y = np.asarray(night.outcome).astype(bool)
    model = np.asarray(night.model_acted).astype(bool)
    baseline = np.asarray(night.baseline_acted).astype(bool)
    if not y.size == model.size == baseline.size:
        raise ValueError(
            f"{y.size} outcomes, {model.size} model actions and {baseline.size} baseline "
            "actions: the business impact compares the same customers, one each"
        )

    def precision(acted: np.ndarray) -> float:
        return float((acted & y).sum() / acted.sum()) if acted.any() else math.nan

    return BusinessImpact(
        as_of=night.as_of,
        model_version=night.model_version,
        customers=int(y.size),
        model_acted=int(model.sum()),
        baseline_acted=int(baseline.sum()),
        model_value=value_of(y, model, terms),
        baseline_value=value_of(y, baseline, terms),
        model_precision=precision(model),
        baseline_precision=precision(baseline),
    )


@dataclass(frozen=True)
class NightMonitoring:
    """Everything one night's monitoring found."""

    as_of: dt.date
    model_version: str
    """The version that scored the night (normally the champion)."""
    run_id: str
    rows: int
    """Scored customers whose feature records the drift check compared."""
    drift: DriftReport
    estimate: NightEstimate
    concept: ConceptDriftCheck | None
    """The early-label check of ``early_night``; None without an open night far enough
    into its window or without a matured night to learn the early-label ratio from."""
    early_night: EarlyNight | None
    matured: NightBacktest | None
    """The newest backtested night whose label window has closed."""
    backtested: tuple[NightBacktest, ...]
    impact: BusinessImpact | None
    champion: str | None = None
    scoring_run_id: str = ""
    """The run that scored the night (its prediction-history rows)."""
    notes: tuple[str, ...] = ()
    """Why a check was left out tonight (no open or matured night yet, ...)."""
    health: Mapping[str, Any] | None = None
    """Pipeline-health findings, as the health checks give them (JSON-ready)."""
    retrain: Mapping[str, Any] | None = None
    """The retraining decision of the night, with its evidence (JSON-ready)."""
    extra_samples: tuple[Sample, ...] = field(default=())
    """Samples of the health checks and the retraining decision."""

    def with_findings(
        self,
        *,
        health: Mapping[str, Any] | None = None,
        retrain: Mapping[str, Any] | None = None,
        samples: Sequence[Sample] = (),
    ) -> NightMonitoring:
        """The same night with pipeline-health findings or a retraining decision added."""
        return dataclasses.replace(
            self,
            health=self.health if health is None else health,
            retrain=self.retrain if retrain is None else retrain,
            extra_samples=(*self.extra_samples, *samples),
        )

    @property
    def alarm(self) -> bool:
        """Data drift flagged, or the early labels falling short of the estimate."""
        return self.drift.alarm or bool(self.concept and self.concept.drifted)

    def headline(self) -> dict[str, float]:
        """The figures a KFP Metrics artifact and a summary show (finite ones only)."""
        overall = _overall(self.estimate.table)
        figures: dict[str, float] = {
            "rows": float(self.rows),
            "drift_alarm": float(self.drift.alarm),
            "drifted_features": float(len(self.drift.flagged)),
            "score_psi": float(self.drift.score.statistics.get("psi", math.nan)),
            "estimated_precision": float(overall.get("estimated_precision", math.nan)),
            "estimated_precision_lower": float(overall.get("lower", math.nan)),
            "estimated_precision_upper": float(overall.get("upper", math.nan)),
        }
        if self.concept is not None:
            figures["concept_drift"] = float(self.concept.drifted)
            figures["early_precision"] = self.concept.early_precision
        if self.matured is not None:
            row = _overall(self.matured.table)
            figures["realised_precision"] = float(row.get("realised_precision", math.nan))
            figures["calibration_error"] = float(row.get("ece", math.nan))
        if self.impact is not None:
            figures["model_value"] = self.impact.model_value
            figures["baseline_value"] = self.impact.baseline_value
        return {k: round(v, 6) for k, v in figures.items() if math.isfinite(v)}

    def samples(self, finished_at: dt.datetime | None = None) -> list[Sample]:
        """The night as samples of the pushed metrics; with ``finished_at`` the success
        timestamp too (the job adds it once every check has run)."""
        baseline = self.impact.baseline_value if self.impact is not None else None
        out = [
            *drift_samples(self.drift),
            *estimate_samples(self.estimate),
            *concept_samples(self.concept),
            *matured_samples(self.matured, baseline),
            *self.extra_samples,
        ]
        if finished_at is not None:
            out.append(success_sample(finished_at))
        return out

    def to_json(self) -> dict[str, Any]:
        """For machines: every figure of the night, NaN as null, dates as ISO text."""
        concept: dict[str, Any] | None = None
        if self.concept is not None and self.early_night is not None:
            concept = {
                "as_of": self.early_night.as_of,
                "model_version": self.early_night.model_version,
                "elapsed_days": self.early_night.elapsed_days,
                "early_ratio": self.early_night.ratio,
                **dataclasses.asdict(self.concept),
            }
        matured_night: dict[str, Any] | None = None
        if self.matured is not None:
            matured_night = {
                "as_of": self.matured.as_of,
                "model_version": self.matured.model_version,
                "segments": self.matured.table.to_dict(orient="records"),
                "reliability": {
                    k: dataclasses.asdict(v) for k, v in self.matured.reliability.items()
                },
            }
        table = backtest(self.backtested)
        out: dict[str, Any] = _json_safe(
            {
                "as_of": self.as_of,
                "model_version": self.model_version,
                "champion": self.champion,
                "run_id": self.run_id,
                "scoring_run_id": self.scoring_run_id,
                "rows": self.rows,
                "alarm": self.alarm,
                "headline": self.headline(),
                "drift": self.drift.to_dict(),
                "estimate": self.estimate.to_json(),
                "concept_drift": concept,
                "matured": matured_night,
                "backtest": {
                    "nights": table.to_dict(orient="records"),
                    "accuracy": dataclasses.asdict(estimate_accuracy(table)),
                },
                "business_impact": None if self.impact is None else self.impact.to_json(),
                "notes": list(self.notes),
                "health": self.health,
                "retrain": self.retrain,
            }
        )
        return out


def _overall(table: pd.DataFrame) -> dict[str, Any]:
    rows = table[table["segment"] == ALL_SEGMENTS]
    return {} if rows.empty else dict(rows.iloc[0])


def _json_safe(value: Any) -> Any:
    """Plain JSON values: NaN and infinities as null, numpy scalars as Python ones."""
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dt.datetime | dt.date | pd.Timestamp):
        return value.isoformat()
    return value


# -- the pure core ------------------------------------------------------------------------


def drift_reference(metadata: Mapping[str, Any], version: str) -> DriftReference:
    block = metadata.get("drift_reference")
    if not isinstance(block, Mapping):
        raise ConfigurationError(
            f"version {version} has no drift reference in its bundle metadata "
            "('drift_reference'), so its nights cannot be compared with its training data; "
            "retrain the champion with this code version ('make run' or the training pipeline)"
        )
    return DriftReference.from_metadata(block)


def baseline_actions(metadata: Mapping[str, Any], features: pd.DataFrame) -> np.ndarray | None:
    """Whom the heuristic baseline acts on: its rules, with the parameters and the
    precision-targeted threshold it was evaluated with at training (the version's
    ``candidates.heuristic``); None when the version records no such threshold."""
    recorded = (metadata.get("candidates", {}) or {}).get(HEURISTIC) or {}
    threshold = recorded.get("threshold")
    if not isinstance(threshold, int | float):
        return None
    rules = HeuristicRules(**(recorded.get("params") or {}))
    scores = rules.score_columns({c: features[c].to_numpy(dtype=float) for c in HEURISTIC_COLUMNS})
    return np.asarray(np.isfinite(scores) & (scores >= float(threshold)))


def assess_night(
    as_of: dt.date,
    model_version: str,
    frame: pd.DataFrame,
    scores: pd.Series,
    labelled_good: pd.Series,
    metadata: Mapping[str, Any],
    settings: Settings,
    *,
    early: EarlyNight | None = None,
    backtested: Sequence[NightBacktest] = (),
    baseline: BaselineNight | None = None,
    run_id: str = "",
    champion: str | None = None,
    scoring_run_id: str = "",
    notes: Sequence[str] = (),
) -> NightMonitoring:
    """One night's findings from its data alone.

    ``frame`` holds the scored customers' feature records (with ``segment``), ``scores``
    and ``labelled_good`` the served scores and labels on the same index; ``metadata`` is
    the scoring version's ``model.json`` (its drift reference and calibration)."""
    if not frame.index.equals(scores.index) or not frame.index.equals(labelled_good.index):
        raise ValueError(
            "the feature frame, the scores and the labels must share one index (customer_id)"
        )
    reference = drift_reference(metadata, model_version)
    # The night's date picks the reference part of its season and ages the book's
    # calendar-driven features to it.
    report = detect_drift(
        reference,
        frame,
        scores.to_numpy(dtype=float),
        thresholds_from(settings.drift.model_dump()),
        as_of=as_of,
    )
    estimate = estimate_night(
        scores,
        labelled_good,
        frame["segment"],
        metadata.get("calibration"),
        level=settings.estimate.band_level,
        max_ece=settings.estimate.max_test_ece,
    )
    concept = None
    if early is not None:
        concept = concept_drift_check(
            early.scores,
            early.labelled_good,
            early.early_good,
            early.ratio,
            settings.estimate.concept_drift_z,
        )
    newest = (
        max(backtested, key=lambda n: (n.as_of, n.model_version == model_version))
        if backtested
        else None
    )
    terms = ValueTerms(settings.value.true_positive, settings.value.false_positive_cost)
    return NightMonitoring(
        as_of=as_of,
        model_version=model_version,
        run_id=run_id,
        rows=len(frame),
        drift=report,
        estimate=estimate,
        concept=concept,
        early_night=early if concept is not None else None,
        matured=newest,
        backtested=tuple(sorted(backtested, key=lambda n: (n.as_of, n.model_version))),
        impact=None if baseline is None else business_impact(baseline, terms),
        champion=champion,
        scoring_run_id=scoring_run_id,
        notes=tuple(notes),
    )


# -- the adapter: the database and the model store ------------------------------------------


def _prediction_history(settings: Settings) -> str:
    return history_table(settings.predictions_table)


def night_versions(engine: sa.Engine, history: str, as_of: dt.date) -> list[str]:
    """The versions that scored ``as_of``, the latest scoring run's first."""
    if not sa.inspect(engine).has_table(history):
        raise DataSourceError(
            f"the prediction history table {history!r} does not exist, so there is no "
            "scored night to monitor; run nightly scoring first ('customer-classifier score' "
            "or the scoring pipeline), or set CC_PREDICTIONS_TABLE to the table scoring writes"
        )
    h = prediction_history_schema(history)
    query = (
        sa.select(h.c.model_version, sa.func.max(h.c.scored_at).label("at"))
        .where(h.c.as_of_date == as_of)
        .group_by(h.c.model_version)
        .order_by(sa.desc("at"), h.c.model_version)
    )
    with engine.connect() as conn:
        versions = [str(row[0]) for row in conn.execute(query)]
    if not versions:
        with engine.connect() as conn:
            newest = conn.execute(sa.select(sa.func.max(h.c.as_of_date))).scalar()
        scored = f"the newest scored night is {newest}" if newest else "it holds no night"
        raise DataSourceError(
            f"the prediction history {history!r} has no scoring for the as-of date {as_of} "
            f"({scored}): run nightly scoring for {as_of} first, or monitor a scored night "
            "with --as-of (CC_AS_OF)"
        )
    return versions


@dataclass(frozen=True)
class ScoredNight:
    """One night's served rows from the prediction history, sorted by customer."""

    ids: np.ndarray
    scores: np.ndarray
    good: np.ndarray
    run_id: str


def read_scored(engine: sa.Engine, history: str, as_of: dt.date, version: str) -> ScoredNight:
    """The night's ids, scores and labels, fetched in batches straight into arrays."""
    h = prediction_history_schema(history)
    query = (
        sa.select(h.c.customer_id, h.c.score, h.c.label, h.c.run_id)
        .where(h.c.as_of_date == as_of, h.c.model_version == version)
        .order_by(h.c.customer_id)
    )
    ids: list[np.ndarray] = []
    scores: list[np.ndarray] = []
    good: list[np.ndarray] = []
    run_id = ""
    with engine.connect() as conn:
        result = conn.execute(query)
        while batch := result.fetchmany(_FETCH_ROWS):
            ids.append(np.fromiter((r[0] for r in batch), np.int64, len(batch)))
            scores.append(
                np.fromiter(
                    (math.nan if r[1] is None else r[1] for r in batch), np.float64, len(batch)
                )
            )
            good.append(np.fromiter((r[2] == GOOD for r in batch), np.bool_, len(batch)))
            run_id = run_id or str(batch[0][3] or "")
    if not ids:
        empty = np.empty(0)
        return ScoredNight(empty.astype(np.int64), empty, empty.astype(bool), run_id)
    return ScoredNight(np.concatenate(ids), np.concatenate(scores), np.concatenate(good), run_id)


def night_frame(
    engine: sa.Engine,
    settings: Settings,
    as_of: dt.date,
    ids: np.ndarray,
    columns: Sequence[str] = FEATURE_NAMES,
    progress: Progress | None = None,
    stage: str = "features",
) -> tuple[pd.DataFrame, np.ndarray]:
    """The feature records of ``ids`` (sorted) at ``as_of``, built by the scoring code,
    and which of them have one (a customer scored then but no longer active has none).

    The numeric columns are one preallocated float matrix that the frame wraps without a
    copy; each chunk's records are placed by their customer's position in ``ids``."""
    n = len(ids)
    numeric = [c for c in columns if c not in CATEGORICAL_FEATURES]
    categorical = [c for c in columns if c in CATEGORICAL_FEATURES]
    matrix = np.full((n, len(numeric)), np.nan)
    objects = {c: np.full(n, None, dtype=object) for c in categorical}
    found = np.zeros(n, dtype=bool)
    chunks = iter_features(
        engine,
        as_of,
        active_window_days=settings.active_window_days,
        chunk_customers=settings.chunk_customers,
        threads=settings.scoring_threads,
    )
    for done, total, features in chunks:
        if len(features) and n:
            chunk_ids = features.index.to_numpy(dtype=np.int64)
            pos = np.searchsorted(ids, chunk_ids)
            hit = pos < n
            hit[hit] = ids[pos[hit]] == chunk_ids[hit]
            where = pos[hit]
            if numeric:
                matrix[where] = features[numeric].to_numpy(dtype=float)[hit]
            for c in categorical:
                objects[c][where] = features[c].to_numpy(dtype=object)[hit]
            found[where] = True
        if progress:
            progress(stage, done, total)
    frame = pd.DataFrame(
        matrix, columns=numeric, index=pd.Index(ids, name="customer_id"), copy=False
    )
    for c in categorical:
        frame[c] = objects[c]
    return frame, found


def recent_backtest(
    engine: sa.Engine, settings: Settings, today: dt.date, progress: Progress | None = None
) -> tuple[list[NightBacktest], dict[tuple[dt.date, str], pd.DataFrame]]:
    """The newest ``CC_MONITORING__BACKTEST_NIGHTS`` matured nights, backtested (all of
    them with 0), and the rows of the newest matured date's nights, which the business
    impact compares the baseline on."""
    history = _prediction_history(settings)
    nights = matured_nights(engine, history, today, settings.label.horizon_days)
    if keep := settings.monitoring.backtest_nights:
        nights = nights[-keep:]
    terms = ValueTerms(settings.value.true_positive, settings.value.false_positive_cost)
    out: list[NightBacktest] = []
    newest: dict[tuple[dt.date, str], pd.DataFrame] = {}
    nights_read = backtest_nights(
        engine,
        history,
        nights,
        settings.label,
        terms,
        level=settings.estimate.band_level,
        bins=settings.calibration.bins,
    )
    for done, (night, rows) in enumerate(nights_read, start=1):
        out.append(night)
        if newest and next(iter(newest))[0] < night.as_of:
            newest.clear()  # oldest first: only the newest date's rows are kept
        newest[(night.as_of, night.model_version)] = rows
        if progress:
            progress("backtest", done, len(nights))
    return out, newest


def open_night(engine: sa.Engine, settings: Settings, today: dt.date) -> tuple[dt.date, str] | None:
    """The newest scored night at least ``CC_MONITORING__EARLY_LABEL_DAYS`` into a label
    window that is still open on ``today``."""
    horizon = settings.label.horizon_days
    candidates = [
        (d, v)
        for d, v in scored_nights(engine, _prediction_history(settings))
        if d < today
        and not matured(d, today, horizon)
        and (today - d).days >= settings.monitoring.early_label_days
    ]
    return max(candidates) if candidates else None


def early_night(
    engine: sa.Engine,
    settings: Settings,
    today: dt.date,
    backtested: Sequence[NightBacktest],
) -> tuple[EarlyNight | None, str | None]:
    """The open night's early labels and the ratio learnt from ``backtested``; or None
    and the reason the concept-drift check is left out tonight."""
    found = open_night(engine, settings, today)
    if found is None:
        return None, (
            "no scored night is at least "
            f"{settings.monitoring.early_label_days} days into an open label window: the "
            "early-label check starts once one is (CC_MONITORING__EARLY_LABEL_DAYS)"
        )
    if not backtested:
        return None, (
            "no matured night to learn the early-label ratio from yet: the early-label "
            f"check starts {settings.label.horizon_days} days after the first scored night"
        )
    as_of, version = found
    history = _prediction_history(settings)
    elapsed = (today - as_of).days
    try:
        ratio = learn_early_ratio(engine, history, backtest(backtested), elapsed, settings.label)
    except ValueError as exc:
        return None, str(exc)
    served = read_night(engine, history, as_of, version)
    ids = pd.Index(served["customer_id"], name="customer_id")
    scores = pd.Series(served["score"].to_numpy(dtype=float), index=ids)
    labelled = pd.Series((served["label"] == GOOD).to_numpy(), index=ids)
    early = fetch_early_labels(engine, ids, as_of, elapsed, settings.label)
    return EarlyNight(as_of, version, elapsed, scores, labelled, early, ratio), None


def baseline_night(
    engine: sa.Engine,
    settings: Settings,
    store: ModelStore,
    night: NightBacktest,
    served: pd.DataFrame,
    fallback: Mapping[str, Any],
    progress: Progress | None = None,
) -> tuple[BaselineNight | None, str | None]:
    """The heuristic's actions on the matured night's customers, beside the model's and
    the outcomes (``served``: the night's rows as the backtest read them, with
    ``outcome``); the heuristic's parameters come from the version that scored that night
    (or ``fallback``'s metadata when the store no longer holds it)."""
    try:
        metadata: Mapping[str, Any] = store.get(night.model_version).metadata
    except RegistryError:
        metadata = fallback
    ids = served["customer_id"].to_numpy(dtype=np.int64)
    frame, found = night_frame(
        engine, settings, night.as_of, ids, HEURISTIC_COLUMNS, progress, "baseline features"
    )
    acted = baseline_actions(metadata, frame)
    if acted is None:
        return None, (
            f"version {night.model_version} records no heuristic threshold "
            "('candidates.heuristic.threshold'): the business impact needs the baseline"
        )
    outcome = served["outcome"].to_numpy()
    return (
        BaselineNight(
            as_of=night.as_of,
            model_version=night.model_version,
            outcome=outcome,
            model_acted=(served["label"] == GOOD).to_numpy(),
            baseline_acted=acted & found,
        ),
        None,
    )


def monitor_night(
    engine: sa.Engine,
    store: ModelStore,
    settings: Settings,
    as_of: dt.date,
    *,
    run_id: str = "",
    progress: Progress | None = None,
) -> NightMonitoring:
    """Read the night ``as_of`` and everything it is compared with, then assess it."""
    champion = store.get_alias(CHAMPION)
    if champion is None:
        raise RegistryError(
            f"no champion in the model store {store.uri}: the monitoring compares each night "
            "with the champion's training reference; train and register one first ('make run')"
        )
    history = _prediction_history(settings)
    version = night_versions(engine, history, as_of)[0]
    if version != champion:
        log.warning("the night %s was scored by %s, not the champion %s", as_of, version, champion)
    metadata = store.get(version).metadata
    drift_reference(metadata, version)  # before the long reads: a bundle without one stops here
    if progress:
        progress("predictions", 0, 1)
    scored = read_scored(engine, history, as_of, version)
    frame, found = night_frame(engine, settings, as_of, scored.ids, progress=progress)
    notes: list[str] = []
    if not found.all():
        missing = int((~found).sum())
        notes.append(
            f"{missing} customer(s) scored on {as_of} have no feature record now (no longer "
            "active as of that date, or the source changed since scoring); left out of drift"
        )
        frame = frame.loc[found]
    index = frame.index
    scores = pd.Series(scored.scores[found], index=index)
    labelled = pd.Series(scored.good[found], index=index)
    backtested, newest_rows = recent_backtest(engine, settings, as_of, progress)
    early, why = early_night(engine, settings, as_of, backtested)
    if why:
        notes.append(why)
    baseline = None
    if backtested:
        newest = max(backtested, key=lambda n: (n.as_of, n.model_version == version))
        served = newest_rows[(newest.as_of, newest.model_version)]
        baseline, why = baseline_night(engine, settings, store, newest, served, metadata, progress)
        if why:
            notes.append(why)
    else:
        notes.append("no matured night yet: realised figures and business impact come later")
    if progress:
        progress("assessing", 0, 1)
    return assess_night(
        as_of,
        version,
        frame,
        scores,
        labelled,
        metadata,
        settings,
        early=early,
        backtested=backtested,
        baseline=baseline,
        run_id=run_id,
        champion=champion,
        scoring_run_id=scored.run_id,
        notes=notes,
    )
