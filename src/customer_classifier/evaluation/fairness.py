"""Fairness and segment figures: how a model's decisions differ across groups of customers.

Per attribute of :mod:`customer_classifier.evaluation.segments`, on one window at the
model's own threshold: precision, recall, selection rate and count per group (fairlearn's
``MetricFrame``), then three gaps between the judged groups:

- ``demographic_parity_difference``: the spread of selection rates;
- ``equalized_odds_difference``: the larger spread of true and of false positive rates;
- ``precision_gap``: the spread of precision, the figure the business optimises.

Groups smaller than the minimum size are reported but neither judged nor counted in a
gap: a dozen customers say nothing about a model. Every per-group precision and every gap
carries a bootstrap interval. The resamples depend only on the window's size and the
seed, so two models scored on the same window are resampled identically and their gaps
can be compared pair by pair (:func:`gap_changes`), which is far tighter than comparing
two independent intervals.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame, selection_rate

from customer_classifier.evaluation.segments import ATTRIBUTES
from customer_classifier.settings import FairnessSettings

GAPS: tuple[str, ...] = (
    "demographic_parity_difference",
    "equalized_odds_difference",
    "precision_gap",
)


def _weighted(values: Any, weight: Any) -> float:
    return float(np.dot(np.asarray(values, dtype=float), np.asarray(weight, dtype=float)))


def _count(y_true: Any, y_pred: Any, sample_weight: Any) -> float:
    """Customers in the group: the sum of the cell weights."""
    del y_pred
    return _weighted(np.ones(len(y_true)), sample_weight)


def _precision(y_true: Any, y_pred: Any, sample_weight: Any) -> float:
    """Good customers among the selected; NaN when none is selected."""
    y, p = np.asarray(y_true), np.asarray(y_pred)
    selected = _weighted(p, sample_weight)
    return _weighted(y * p, sample_weight) / selected if selected else float("nan")


def _recall(y_true: Any, y_pred: Any, sample_weight: Any) -> float:
    """Selected among the good customers (the true positive rate); NaN without any."""
    y, p = np.asarray(y_true), np.asarray(y_pred)
    good = _weighted(y, sample_weight)
    return _weighted(y * p, sample_weight) / good if good else float("nan")


# MetricFrame sees one row per (group, label, decision) cell, weighted by how many
# customers fall in it: the same figures as over every customer (the tests hold them to
# scikit-learn's and fairlearn's on the raw rows to 1e-12) at a cost that does not grow
# with the window. The false positive rate and the selected counts come from the same
# group sums as the bootstrap, with every row drawn once.
_METRICS = {
    "count": _count,
    "precision": _precision,
    "recall": _recall,
    "selection_rate": selection_rate,
}


@dataclass(frozen=True)
class GroupFigures:
    """One group's figures; ``precision`` is NaN when the model selects nobody in it, and
    ``recall`` (the true positive rate) when it holds no good customer."""

    group: str
    count: int
    selected: int
    precision: float
    recall: float
    selection_rate: float
    false_positive_rate: float
    precision_low: float
    precision_high: float
    judged: bool
    """Large enough (``min_group_size``) to count in the selection-rate and odds gaps."""
    precision_judged: bool
    """Judged, and with enough selected customers (``min_selected``) for its precision
    to count in the precision gap and to be flagged."""
    underperforming: bool


@dataclass(frozen=True)
class GapFigure:
    value: float
    low: float
    high: float


@dataclass(frozen=True)
class AttributeFairness:
    attribute: str
    groups: tuple[GroupFigures, ...]
    gaps: Mapping[str, GapFigure]
    samples: Mapping[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)
    """Each gap's value in every bootstrap resample (kept in memory for paired
    comparisons, not recorded)."""


@dataclass(frozen=True)
class FairnessReport:
    """Every attribute's groups and gaps for one model on one window."""

    threshold: float
    rows: int
    overall_precision: float
    min_group_size: int
    min_selected: int
    underperformance: float
    resamples: int
    confidence: float
    seed: int
    attributes: tuple[AttributeFairness, ...]

    def attribute(self, name: str) -> AttributeFairness:
        return next(a for a in self.attributes if a.attribute == name)

    def gap(self, attribute: str, name: str) -> GapFigure:
        return self.attribute(attribute).gaps[name]

    @property
    def underperforming(self) -> list[tuple[str, GroupFigures]]:
        """The flagged groups, as (attribute, group figures)."""
        return [(a.attribute, g) for a in self.attributes for g in a.groups if g.underperforming]

    def scalars(self) -> dict[str, float]:
        """Flat figures for KFP Metrics: every gap, and the count of flagged groups."""
        out = {
            f"fairness_{a.attribute}_{name}": float(gap.value)
            for a in self.attributes
            for name, gap in a.gaps.items()
        }
        out["fairness_underperforming_groups"] = float(len(self.underperforming))
        return out

    def to_metadata(self) -> dict[str, Any]:
        """The JSON form recorded in a version's ``model.json`` (NaN written as null)."""

        def clean(value: Any) -> Any:
            return None if isinstance(value, float) and math.isnan(value) else value

        return {
            "threshold": self.threshold,
            "rows": self.rows,
            "overall_precision": clean(self.overall_precision),
            "min_group_size": self.min_group_size,
            "min_selected": self.min_selected,
            "underperformance": self.underperformance,
            "resamples": self.resamples,
            "confidence": self.confidence,
            "seed": self.seed,
            "attributes": {
                a.attribute: {
                    "gaps": {
                        n: {"value": clean(g.value), "low": clean(g.low), "high": clean(g.high)}
                        for n, g in a.gaps.items()
                    },
                    "groups": [{k: clean(v) for k, v in vars(g).items()} for g in a.groups],
                }
                for a in self.attributes
            },
            "underperforming": [f"{attr}={g.group}" for attr, g in self.underperforming],
        }

    @classmethod
    def from_metadata(cls, recorded: Mapping[str, Any]) -> FairnessReport:
        return cls(
            threshold=float(recorded["threshold"]),
            rows=int(recorded["rows"]),
            overall_precision=_number(recorded["overall_precision"]),
            min_group_size=int(recorded["min_group_size"]),
            min_selected=int(recorded["min_selected"]),
            underperformance=float(recorded["underperformance"]),
            resamples=int(recorded["resamples"]),
            confidence=float(recorded["confidence"]),
            seed=int(recorded["seed"]),
            attributes=tuple(
                AttributeFairness(
                    attribute=name,
                    groups=tuple(_group_from_metadata(g) for g in body["groups"]),
                    gaps={
                        n: GapFigure(_number(g["value"]), _number(g["low"]), _number(g["high"]))
                        for n, g in body["gaps"].items()
                    },
                )
                for name, body in recorded["attributes"].items()
            ),
        )


def _number(value: Any) -> float:
    return float("nan") if value is None else float(value)


def _group_from_metadata(recorded: Mapping[str, Any]) -> GroupFigures:
    return GroupFigures(
        group=str(recorded["group"]),
        count=int(recorded["count"]),
        selected=int(recorded["selected"]),
        precision=_number(recorded["precision"]),
        recall=_number(recorded["recall"]),
        selection_rate=_number(recorded["selection_rate"]),
        false_positive_rate=_number(recorded["false_positive_rate"]),
        precision_low=_number(recorded["precision_low"]),
        precision_high=_number(recorded["precision_high"]),
        judged=bool(recorded["judged"]),
        precision_judged=bool(recorded["precision_judged"]),
        underperforming=bool(recorded["underperforming"]),
    )


def _spread(values: np.ndarray) -> np.ndarray:
    """max - min over the last axis, ignoring NaN; 0 with fewer than two finite values."""
    finite = np.isfinite(values)
    enough = finite.sum(axis=-1) >= 2
    high = np.where(finite, values, -np.inf).max(axis=-1, initial=-np.inf)
    low = np.where(finite, values, np.inf).min(axis=-1, initial=np.inf)
    out: np.ndarray = np.where(enough, high - low, 0.0)
    return out


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out: np.ndarray = np.where(denominator > 0, numerator / denominator, np.nan)
    return out


def bootstrap_weights(rows: int, resamples: int, seed: int) -> np.ndarray:
    """How often each row is drawn in each resample (``resamples`` x ``rows``)."""
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, rows, size=(resamples, rows))
    offsets = (np.arange(resamples) * rows)[:, None]
    counts = np.bincount((drawn + offsets).ravel(), minlength=resamples * rows)
    out: np.ndarray = counts.reshape(resamples, rows).astype(float)
    return out


def _group_sums(
    weights: np.ndarray, codes: np.ndarray, n_groups: int, y: np.ndarray, selected: np.ndarray
) -> dict[str, np.ndarray]:
    """Weighted counts per resample (rows of ``weights``) and group: customers, good ones,
    selected ones and selected good ones."""
    onehot = np.zeros((len(codes), n_groups))
    onehot[np.arange(len(codes)), codes] = 1.0
    columns = np.hstack([onehot, onehot * y[:, None], onehot * selected[:, None]])
    columns = np.hstack([columns, onehot * (y * selected)[:, None]])
    sums = weights @ columns  # one product for every resample, group and count
    names = ("count", "positives", "selected", "true_positives")
    return {name: sums[:, i * n_groups : (i + 1) * n_groups] for i, name in enumerate(names)}


def _rates(sums: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Selection rate, true and false positive rates and precision from group sums."""
    false_positives = sums["selected"] - sums["true_positives"]
    negatives = sums["count"] - sums["positives"]
    return {
        "selection_rate": _ratio(sums["selected"], sums["count"]),
        "tpr": _ratio(sums["true_positives"], sums["positives"]),
        "fpr": _ratio(false_positives, negatives),
        "precision": _ratio(sums["true_positives"], sums["selected"]),
    }


def _gaps(
    selection: np.ndarray, tpr: np.ndarray, fpr: np.ndarray, precision: np.ndarray
) -> dict[str, np.ndarray]:
    """Each gap per row (resample) from the judged groups' rates in the columns."""
    return {
        "demographic_parity_difference": _spread(selection),
        "equalized_odds_difference": np.maximum(_spread(tpr), _spread(fpr)),
        "precision_gap": _spread(precision),
    }


def _quantiles(values: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over the resamples (axis 0); NaN where no resample has a value."""
    tail = (1.0 - confidence) / 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        low = np.nanquantile(values, tail, axis=0)
        high = np.nanquantile(values, 1.0 - tail, axis=0)
    return np.asarray(low, dtype=float), np.asarray(high, dtype=float)


def attribute_fairness(
    attribute: str,
    groups: pd.Series,
    y_true: np.ndarray,
    predicted: np.ndarray,
    overall_precision: float,
    weights: np.ndarray,
    settings: FairnessSettings,
) -> AttributeFairness:
    """One attribute's per-group figures (``MetricFrame``), gaps and intervals."""
    cells = (
        pd.DataFrame({"group": groups.astype(str).to_numpy(), "y": y_true, "p": predicted})
        .value_counts()
        .reset_index(name="customers")
    )
    weight = cells["customers"].to_numpy(dtype=float)
    by_group = MetricFrame(
        metrics=_METRICS,
        y_true=cells["y"].to_numpy(),
        y_pred=cells["p"].to_numpy(),
        sensitive_features=cells["group"].rename(attribute),
        sample_params={name: {"sample_weight": weight} for name in _METRICS},
    ).by_group
    names = [str(g) for g in by_group.index]
    codes = pd.Categorical(groups.astype(str), categories=names).codes.astype(np.int64)
    y, chosen = y_true.astype(float), predicted.astype(float)
    once = _group_sums(np.ones((1, len(y))), codes, len(names), y, chosen)
    boot = _rates(_group_sums(weights, codes, len(names), y, chosen))
    table = {key: by_group[key].to_numpy(dtype=float) for key in _METRICS}
    table["selected"] = once["selected"][0]
    table["fpr"] = _rates(once)["fpr"][0]
    judged = table["count"] >= settings.min_group_size
    precise = judged & (table["selected"] >= settings.min_selected)
    point = _gaps(
        table["selection_rate"][None, judged],
        table["recall"][None, judged],
        table["fpr"][None, judged],
        table["precision"][None, precise],
    )
    samples = _gaps(
        boot["selection_rate"][:, judged],
        boot["tpr"][:, judged],
        boot["fpr"][:, judged],
        boot["precision"][:, precise],
    )
    gaps = {}
    for name in GAPS:
        low, high = _quantiles(samples[name], settings.confidence)
        gaps[name] = GapFigure(float(point[name][0]), float(low), float(high))
    p_low, p_high = _quantiles(boot["precision"], settings.confidence)
    figures = []
    for i, name in enumerate(names):
        precision = float(table["precision"][i])
        flagged = bool(
            precise[i]
            and precision < overall_precision - settings.underperformance
            and p_high[i] < overall_precision
        )
        figures.append(
            GroupFigures(
                group=name,
                count=int(table["count"][i]),
                selected=int(table["selected"][i]),
                precision=precision,
                recall=float(table["recall"][i]),
                selection_rate=float(table["selection_rate"][i]),
                false_positive_rate=float(table["fpr"][i]),
                precision_low=float(p_low[i]),
                precision_high=float(p_high[i]),
                judged=bool(judged[i]),
                precision_judged=bool(precise[i]),
                underperforming=flagged,
            )
        )
    return AttributeFairness(attribute, tuple(figures), gaps, samples)


def fairness_report(
    y_true: np.ndarray,
    scores: np.ndarray,
    threshold: float,
    groups: pd.DataFrame,
    settings: FairnessSettings | None = None,
    attributes: Sequence[str] = ATTRIBUTES,
) -> FairnessReport:
    """Every attribute's figures for a model's ``scores`` at its ``threshold``.

    ``groups`` holds one column per attribute (:func:`segments.group_attributes` of the
    same window), row for row with ``y_true`` and ``scores``.
    """
    settings = settings or FairnessSettings()
    y = np.asarray(y_true).astype(int)
    predicted = (np.asarray(scores) >= threshold).astype(int)
    chosen = int(predicted.sum())
    overall = float((y * predicted).sum() / chosen) if chosen else float("nan")
    weights = bootstrap_weights(len(y), settings.resamples, settings.seed)
    return FairnessReport(
        threshold=float(threshold),
        rows=len(y),
        overall_precision=overall,
        min_group_size=settings.min_group_size,
        min_selected=settings.min_selected,
        underperformance=settings.underperformance,
        resamples=settings.resamples,
        confidence=settings.confidence,
        seed=settings.seed,
        attributes=tuple(
            attribute_fairness(
                name,
                groups[name].reset_index(drop=True),
                y,
                predicted,
                overall,
                weights,
                settings,
            )
            for name in attributes
            if name in groups
        ),
    )


@dataclass(frozen=True)
class GapChange:
    """One gap of the challenger against the champion's, on the same window."""

    attribute: str
    gap: str
    challenger: float
    champion: float
    low: float | None
    """Lower end of the paired bootstrap interval of the widening (None: not paired)."""
    high: float | None

    @property
    def widening(self) -> float:
        return self.challenger - self.champion


def gap_changes(challenger: FairnessReport, champion: FairnessReport) -> list[GapChange]:
    """Every gap both reports hold, with a paired interval when both were resampled alike."""
    paired = (challenger.rows, challenger.resamples, challenger.seed, challenger.confidence) == (
        champion.rows,
        champion.resamples,
        champion.seed,
        champion.confidence,
    )
    theirs = {a.attribute: a for a in champion.attributes}
    out = []
    for mine in challenger.attributes:
        other = theirs.get(mine.attribute)
        if other is None:
            continue
        for name, gap in mine.gaps.items():
            if name not in other.gaps:
                continue
            low = high = None
            a, b = mine.samples.get(name), other.samples.get(name)
            if paired and a is not None and b is not None and a.shape == b.shape:
                lo, hi = _quantiles(a - b, challenger.confidence)
                low, high = float(lo), float(hi)
            out.append(
                GapChange(mine.attribute, name, gap.value, other.gaps[name].value, low, high)
            )
    return out
