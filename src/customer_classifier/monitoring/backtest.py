"""Backtesting: each past night whose labels have matured, realised beside estimated.

For every scoring night in the prediction history whose label window has closed, the
labels come from the Sales table by the label rule (or the labels table), exactly as
training reads them, and the night is scored as it was served: the customers it labelled
good are the ones acted on. Each night gives, overall and per segment, the realised
precision, recall and value, the calibration of its scores (reliability curve and ECE)
and the estimate that the scores alone gave that night, so that the estimate is checked
against the truth whenever the truth arrives.

The pure part takes one night's frame and returns a tidy frame; the adapter at the end
reads the history and the labels.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa

from customer_classifier.data.contract import CUSTOMERS, GOOD
from customer_classifier.data.database import history_schema
from customer_classifier.errors import DataSourceError
from customer_classifier.evaluation.calibration import (
    DEFAULT_BINS,
    ReliabilityFigures,
    reliability,
)
from customer_classifier.evaluation.value import ValueTerms, value_of
from customer_classifier.features.aggregates import fetch_label_spend
from customer_classifier.features.labels import fetch_labels
from customer_classifier.monitoring.estimate import (
    ALL_SEGMENTS,
    early_labels,
    early_precision,
    early_ratio,
    estimate_precision,
)
from customer_classifier.scoring.tables import history_table
from customer_classifier.settings import LabelRule, Settings

NIGHT_COLUMNS = ("customer_id", "score", "label", "segment", "outcome")
"""What one night needs: the served score and label, the segment, the matured outcome."""

BACKTEST_COLUMNS = (
    "as_of_date",
    "model_version",
    "segment",
    "customers",
    "labelled_good",
    "good",
    "true_positives",
    "realised_precision",
    "recall",
    "value",
    "estimated_precision",
    "std_error",
    "lower",
    "upper",
    "covered",
    "ece",
    "brier",
)


def matured(as_of: dt.date, today: dt.date, horizon_days: int) -> bool:
    """The label window ``[as_of, as_of + horizon)`` lies wholly before ``today``."""
    return as_of + dt.timedelta(days=horizon_days) <= today


@dataclass(frozen=True)
class NightBacktest:
    as_of: dt.date
    model_version: str
    table: pd.DataFrame
    """One row for the night (segment ``all``) and one per segment (BACKTEST_COLUMNS)."""
    reliability: dict[str, ReliabilityFigures]
    """Reliability curve of the night's scores against its outcomes, per segment."""


def backtest_night(
    night: pd.DataFrame,
    as_of: dt.date,
    model_version: str,
    terms: ValueTerms,
    level: float = 0.95,
    bins: int = DEFAULT_BINS,
) -> NightBacktest:
    """Realised and estimated figures of one night (``night`` has NIGHT_COLUMNS)."""
    missing = [c for c in NIGHT_COLUMNS if c not in night.columns]
    if missing:
        raise ValueError(
            f"a backtest night needs the columns {list(NIGHT_COLUMNS)}; {missing} are absent"
        )
    rows: list[dict[str, object]] = []
    curves: dict[str, ReliabilityFigures] = {}
    groups = [(ALL_SEGMENTS, night)]
    groups += [(str(s), g) for s, g in night.groupby("segment", sort=True, dropna=True)]
    for segment, group in groups:
        row, curve = _figures(group, terms, level, bins)
        rows.append(
            {"as_of_date": as_of, "model_version": model_version, "segment": segment, **row}
        )
        curves[segment] = curve
    return NightBacktest(
        as_of, model_version, pd.DataFrame(rows, columns=list(BACKTEST_COLUMNS)), curves
    )


def _figures(
    group: pd.DataFrame, terms: ValueTerms, level: float, bins: int
) -> tuple[dict[str, object], ReliabilityFigures]:
    y = group["outcome"].to_numpy(dtype=np.int64).astype(bool)
    acted = (group["label"] == GOOD).to_numpy()
    scores = group["score"].to_numpy(dtype=np.float64)
    tp = int(np.sum(acted & y))
    n_acted = int(acted.sum())
    n_good = int(y.sum())
    precision = tp / n_acted if n_acted else float("nan")
    estimate = estimate_precision(scores[acted], level)
    curve = reliability(y, scores, bins)
    row: dict[str, object] = {
        "customers": len(group),
        "labelled_good": n_acted,
        "good": n_good,
        "true_positives": tp,
        "realised_precision": precision,
        "recall": tp / n_good if n_good else float("nan"),
        "value": value_of(y, acted, terms),
        "estimated_precision": estimate.estimate,
        "std_error": estimate.std_error,
        "lower": estimate.lower,
        "upper": estimate.upper,
        "covered": bool(n_acted and estimate.covers(precision)),
        "ece": curve.ece,
        "brier": curve.brier,
    }
    return row, curve


def backtest(nights: Iterable[NightBacktest]) -> pd.DataFrame:
    """Every night's rows in one tidy frame, oldest night first."""
    frames = [n.table for n in nights]
    if not frames:
        return pd.DataFrame(columns=list(BACKTEST_COLUMNS))
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["as_of_date", "model_version"], kind="stable", ignore_index=True)


@dataclass(frozen=True)
class EstimateAccuracy:
    """How well the nights' estimates matched what they realised (segment ``all``)."""

    nights: int
    mean_abs_error: float
    max_abs_error: float
    coverage: float
    """Share of nights whose band held the realised precision."""


def estimate_accuracy(table: pd.DataFrame, segment: str = ALL_SEGMENTS) -> EstimateAccuracy:
    rows = table[(table["segment"] == segment) & (table["labelled_good"] > 0)]
    if rows.empty:
        nan = float("nan")
        return EstimateAccuracy(0, nan, nan, nan)
    err = (rows["estimated_precision"] - rows["realised_precision"]).abs()
    return EstimateAccuracy(
        nights=len(rows),
        mean_abs_error=float(err.mean()),
        max_abs_error=float(err.max()),
        coverage=float(rows["covered"].astype(bool).mean()),
    )


# -- adapter: the prediction history and the labels in the database -------------------------


def scored_nights(engine: sa.Engine, history: str) -> list[tuple[dt.date, str]]:
    """Every (as-of date, model version) the history holds, oldest first."""
    if not sa.inspect(engine).has_table(history):
        raise DataSourceError(
            f"the prediction history table {history!r} does not exist; backtesting reads "
            "the history that nightly scoring writes: score at least one night first, or "
            "set CC_PREDICTIONS_TABLE to the table scoring writes"
        )
    h = history_schema(history)
    query = (
        sa.select(h.c.as_of_date, h.c.model_version)
        .distinct()
        .order_by(h.c.as_of_date, h.c.model_version)
    )
    with engine.connect() as conn:
        return [(row[0], str(row[1])) for row in conn.execute(query)]


def read_night(engine: sa.Engine, history: str, as_of: dt.date, model_version: str) -> pd.DataFrame:
    """One night's served rows with each customer's segment (no outcome yet)."""
    h = history_schema(history)
    c = sa.table(CUSTOMERS, sa.column("customer_id"), sa.column("segment"))
    query = (
        sa.select(h.c.customer_id, h.c.score, h.c.label, c.c.segment)
        .select_from(h.outerjoin(c, h.c.customer_id == c.c.customer_id))
        .where(h.c.as_of_date == as_of, h.c.model_version == model_version)
        .order_by(h.c.customer_id)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).fetchall()
    frame = pd.DataFrame(rows, columns=["customer_id", "score", "label", "segment"])
    frame["customer_id"] = frame["customer_id"].astype("int64")
    frame["score"] = frame["score"].astype("float64")
    return frame


def backtest_nights(
    engine: sa.Engine,
    history: str,
    nights: Sequence[tuple[dt.date, str]],
    rule: LabelRule,
    terms: ValueTerms,
    level: float = 0.95,
    bins: int = DEFAULT_BINS,
) -> Iterator[tuple[NightBacktest, pd.DataFrame]]:
    """Each of ``nights`` (as-of date, version) backtested, with the rows it was read
    from (the served scores and labels and the matured ``outcome``), so that a caller
    who needs a night's rows again does not read them twice."""
    for as_of, version in nights:
        night = read_night(engine, history, as_of, version)
        ids = pd.Index(night["customer_id"])
        night["outcome"] = fetch_labels(engine, ids, as_of, rule).to_numpy()
        yield backtest_night(night, as_of, version, terms, level, bins), night


def matured_nights(
    engine: sa.Engine, history: str, today: dt.date, horizon_days: int
) -> list[tuple[dt.date, str]]:
    """The (as-of date, version) nights of ``history`` whose label window has closed."""
    return [(d, v) for d, v in scored_nights(engine, history) if matured(d, today, horizon_days)]


def run_backtest(
    engine: sa.Engine,
    history: str,
    today: dt.date,
    rule: LabelRule,
    terms: ValueTerms,
    level: float = 0.95,
    bins: int = DEFAULT_BINS,
) -> list[NightBacktest]:
    """Backtest every night of ``history`` whose label window closed before ``today``."""
    nights = matured_nights(engine, history, today, rule.horizon_days)
    return [b for b, _ in backtest_nights(engine, history, nights, rule, terms, level, bins)]


def backtest_history(engine: sa.Engine, settings: Settings, today: dt.date) -> list[NightBacktest]:
    """:func:`run_backtest` over the history of ``settings.predictions_table``, with the
    label rule, value terms, band level and reliability bins the settings give."""
    return run_backtest(
        engine,
        history_table(settings.predictions_table),
        today,
        settings.label,
        ValueTerms(settings.value.true_positive, settings.value.false_positive_cost),
        level=settings.estimate.band_level,
        bins=settings.calibration.bins,
    )


def fetch_early_labels(
    engine: sa.Engine, customer_ids: pd.Index, as_of: dt.date, elapsed_days: int, rule: LabelRule
) -> pd.Series:
    """1 for each customer already good ``elapsed_days`` into the label window (their net
    spend since the as-of date reaches the rule); the window is capped at its length."""
    days = min(elapsed_days, rule.horizon_days)
    if days <= 0:
        return pd.Series(0, index=customer_ids, dtype="int8", name="early_good")
    spend = fetch_label_spend(engine, as_of, days)
    so_far = spend.set_index("customer_id")["future_spend"].reindex(customer_ids)
    return early_labels(so_far.astype("float64"), rule.min_spend)


def early_precision_at(
    engine: sa.Engine,
    history: str,
    as_of: dt.date,
    model_version: str,
    elapsed_days: int,
    rule: LabelRule,
) -> float:
    """The early-realised precision of one night, ``elapsed_days`` into its window: on a
    matured night the figure it showed then (for the ratio), on an open night today's."""
    night = read_night(engine, history, as_of, model_version)
    ids = pd.Index(night["customer_id"])
    early = fetch_early_labels(engine, ids, as_of, elapsed_days, rule)
    return early_precision(early, pd.Series((night["label"] == GOOD).to_numpy(), index=ids))


def learn_early_ratio(
    engine: sa.Engine, history: str, backtested: pd.DataFrame, elapsed_days: int, rule: LabelRule
) -> float:
    """The share of the final precision that matured nights showed ``elapsed_days`` into
    their windows (``backtested`` is :func:`backtest`'s frame): what an open night at the
    same day should show, times its estimate, when the scores still mean what they did."""
    nights = backtested[backtested["segment"] == ALL_SEGMENTS]
    early = [
        early_precision_at(engine, history, as_of, version, elapsed_days, rule)
        for as_of, version in zip(nights["as_of_date"], nights["model_version"], strict=True)
    ]
    return early_ratio(np.array(early), nights["realised_precision"].to_numpy(dtype=np.float64))
