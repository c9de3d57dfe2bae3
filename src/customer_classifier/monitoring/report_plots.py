"""The monitoring report's plots, each drawn from one tidy frame.

The history is the long frame of the monitoring history table (one row per metric,
labels and night, the labels a JSON object): :func:`metric_rows` turns one metric of it
into a frame with its labels as columns, and each plot reads such frames or the backtest
table. A plot returns ``None`` when it has nothing to draw, so that the report says so
instead of showing an empty axis.

Names in the plots come from the data (feature and segment names): :func:`plain` keeps
matplotlib from reading a ``$`` as mathematics or a leading ``_`` as "no legend".
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from customer_classifier.evaluation.calibration import ReliabilityFigures
from customer_classifier.evaluation.report_value import reliability_axes
from customer_classifier.monitoring.estimate import ALL_SEGMENTS
from customer_classifier.monitoring_metrics import PushedMetric

HISTORY_COLUMNS = ("as_of", "run_id", "model_version", "metric", "labels", "value", "recorded_at")
STATISTIC_ORDER = ("psi", "jensen_shannon", "wasserstein", "ks")
HIGHLIGHTED = 8
"""Features drawn in colour (and named in the legend) in the drift plot: those flagged
on most nights; the rest are grey, so that thirty lines stay readable."""
_FLAG = "#b00020"
_PALETTE = tuple(
    f"tab:{c}" for c in ("blue", "orange", "green", "red", "purple", "brown", "pink", "olive")
)
"""Colours of the highlighted features: tab10 without its grey, which the others get."""


def plain(text: object) -> str:
    """A label matplotlib draws as written."""
    out = str(text).replace("$", r"\$")
    return f" {out}" if out.startswith("_") else out


def metric_rows(history: pd.DataFrame, metric: PushedMetric) -> pd.DataFrame:
    """One metric's rows: ``as_of`` (Timestamp), ``model_version``, its labels, ``value``.

    Oldest night first; a night recorded twice keeps its latest row."""
    columns = ["as_of", "model_version", *metric.labels, "value"]
    if history.empty:
        return pd.DataFrame(columns=columns)
    missing = [c for c in HISTORY_COLUMNS if c not in history.columns]
    if missing:
        raise ValueError(
            f"the monitoring history frame lacks the columns {missing}; the report reads "
            f"the monitoring history table's columns {list(HISTORY_COLUMNS)}"
        )
    rows = history[history["metric"] == metric.name]
    if "recorded_at" in rows and rows["recorded_at"].notna().any():
        rows = rows.sort_values("recorded_at", kind="stable")
    labels = [json.loads(text) if isinstance(text, str) and text else {} for text in rows["labels"]]
    out = pd.DataFrame(
        {
            "as_of": pd.to_datetime(rows["as_of"]).to_numpy(),
            "model_version": rows["model_version"].astype(str).to_numpy(),
            **{name: [str(m.get(name, "")) for m in labels] for name in metric.labels},
            "value": rows["value"].astype(float).to_numpy(),
        },
        columns=columns,
    )
    out = out.drop_duplicates(["as_of", *metric.labels], keep="last")
    return out.sort_values(["as_of", *metric.labels], ignore_index=True)


def _time_axis(fig: Figure, axes: Sequence[Axes], versions: pd.DataFrame | None = None) -> None:
    """Dates on the x axis; a dotted line where the champion changed (its reference and
    calibration change with it)."""
    if versions is not None and not versions.empty:
        nights = versions.sort_values("as_of", kind="stable").drop_duplicates("as_of", keep="last")
        changed = nights["model_version"].ne(nights["model_version"].shift()).to_numpy()
        for when in nights["as_of"].to_numpy()[changed][1:]:
            for ax in axes:
                ax.axvline(when, color="grey", linestyle=":", linewidth=1)
    fig.autofmt_xdate()


def drift_over_time(
    statistics: pd.DataFrame,
    flagged: pd.DataFrame,
    score_psi: pd.DataFrame,
    floors: Mapping[str, float],
    first: Sequence[str] = (),
) -> Figure | None:
    """One panel per statistic: each feature's value by night, the effect floor dashed,
    the score's PSI in black on the PSI panel. In colour, with their flagged nights
    crossed: the features of ``first`` (tonight's, most harmful first), then those
    flagged on most nights."""
    if statistics.empty:
        return None
    present = set(statistics["statistic"])
    names = [s for s in STATISTIC_ORDER if s in present] + sorted(present - set(STATISTIC_ORDER))
    hits = flagged[flagged["value"] >= 0.5]
    counts = hits.groupby("feature").size().sort_values(ascending=False, kind="stable")
    ordered = [f for f in first if f in set(statistics["feature"])]
    ordered += [f for f in counts.index if f not in ordered]
    coloured = dict(zip(ordered[:HIGHLIGHTED], _PALETTE, strict=False))
    fig, axes = plt.subplots(
        len(names), 1, figsize=(10, 2.8 * len(names)), squeeze=False, sharex=True
    )
    for ax, name in zip(axes[:, 0], names, strict=True):
        panel = statistics[statistics["statistic"] == name]
        for feature, series in panel.groupby("feature", sort=True):
            strong = feature in coloured
            ax.plot(
                series["as_of"],
                series["value"],
                color=coloured.get(feature, "#bbbbbb"),
                linewidth=1.6 if strong else 0.8,
                zorder=2 if strong else 1,
                label=plain(feature) if strong else None,
            )
            if strong:
                marks = series.merge(hits[["as_of", "feature"]], on=["as_of", "feature"])
                ax.scatter(marks["as_of"], marks["value"], marker="x", color=_FLAG, zorder=3)
        if name == "psi" and not score_psi.empty:
            ax.plot(score_psi["as_of"], score_psi["value"], color="black", label="score")
        if name in floors:
            ax.axhline(floors[name], color="grey", linestyle="--", linewidth=1)
        ax.set(ylabel=plain(name.replace("_", " ")))
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="x-small", loc="upper left", ncols=2)
    axes[0, 0].set_title(
        "Drift per feature (crosses: flagged nights of the coloured ones; dashed: effect floor)"
    )
    _time_axis(fig, list(axes[:, 0]), statistics)
    fig.tight_layout()
    return fig


def precision_over_time(
    estimate: pd.DataFrame, lower: pd.DataFrame, upper: pd.DataFrame, realised: pd.DataFrame
) -> Figure | None:
    """The nightly estimate with its band, beside the realised precision each night knew
    (that of its newest matured night)."""
    if estimate.empty and realised.empty:
        return None
    fig, ax = plt.subplots(figsize=(10, 3.8))
    if not estimate.empty:
        band = estimate[["as_of", "value"]].merge(
            lower[["as_of", "value"]], on="as_of", how="left", suffixes=("", "_lower")
        )
        band = band.merge(
            upper[["as_of", "value"]].rename(columns={"value": "value_upper"}),
            on="as_of",
            how="left",
        )
        ax.fill_between(
            band["as_of"], band["value_lower"], band["value_upper"], alpha=0.25, label="band"
        )
        ax.plot(band["as_of"], band["value"], marker="o", markersize=3, label="estimated")
    if not realised.empty:
        ax.plot(
            realised["as_of"],
            realised["value"],
            marker="s",
            color="black",
            linestyle="--",
            label="realised (newest matured night)",
        )
    ax.set(ylabel="precision", title="Precision by monitoring night (all customers)")
    ax.legend(fontsize="small")
    _time_axis(fig, [ax], estimate if not estimate.empty else realised)
    fig.tight_layout()
    return fig


def backtest_precision(table: pd.DataFrame) -> Figure | None:
    """Per matured scoring date: the estimate made that night with its band, and the
    precision its labels realised (green inside the band, red outside)."""
    rows = table[(table["segment"] == ALL_SEGMENTS) & (table["labelled_good"] > 0)]
    if rows.empty:
        return None
    when = pd.to_datetime(rows["as_of_date"])
    covered = rows["covered"].astype(bool).to_numpy()
    fig, ax = plt.subplots(figsize=(10, 3.8))
    ax.fill_between(
        when, rows["lower"].astype(float), rows["upper"].astype(float), alpha=0.25, label="band"
    )
    ax.plot(when, rows["estimated_precision"].astype(float), label="estimated that night")
    realised = rows["realised_precision"].astype(float).to_numpy()
    ax.scatter(
        when[covered], realised[covered], color="#1b7f3b", zorder=3, label="realised, in the band"
    )
    if not covered.all():
        ax.scatter(
            when[~covered],
            realised[~covered],
            color=_FLAG,
            marker="x",
            zorder=3,
            label="realised, outside",
        )
    ax.set(ylabel="precision", title="Backtest: estimate at the time against realised precision")
    ax.legend(fontsize="small")
    _time_axis(fig, [ax])
    fig.tight_layout()
    return fig


def reliability_curves(curves: Mapping[str, ReliabilityFigures]) -> Figure | None:
    """Share of good customers against mean score per bin, one curve per segment."""
    drawn = {k: v for k, v in curves.items() if v.prob_pred}
    if not drawn:
        return None
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], color="grey", linewidth=1, label="perfectly calibrated")
    for segment, figures in sorted(drawn.items(), key=lambda kv: (kv[0] != ALL_SEGMENTS, kv[0])):
        everyone = segment == ALL_SEGMENTS
        ax.plot(
            figures.prob_pred,
            figures.prob_true,
            marker="o",
            color="black" if everyone else None,
            linewidth=2 if everyone else 1,
            label=f"{plain(segment)} (ECE {figures.ece:.3f})",
        )
    reliability_axes(ax, "Reliability (newest matured night)")
    return fig


def ece_over_time(table: pd.DataFrame) -> Figure | None:
    """Expected calibration error per matured scoring date and segment."""
    rows = table[np.isfinite(pd.to_numeric(table["ece"], errors="coerce"))]
    if rows.empty:
        return None
    fig, ax = plt.subplots(figsize=(10, 3.4))
    for segment, series in rows.groupby("segment", sort=True):
        everyone = segment == ALL_SEGMENTS
        ax.plot(
            pd.to_datetime(series["as_of_date"]),
            series["ece"].astype(float),
            marker="o",
            markersize=3,
            color="black" if everyone else None,
            linewidth=2 if everyone else 1,
            label=plain(segment),
        )
    ax.set(ylabel="ECE", title="Expected calibration error by matured scoring date")
    ax.legend(fontsize="small")
    _time_axis(fig, [ax])
    fig.tight_layout()
    return fig


def value_over_time(value: pd.DataFrame) -> Figure | None:
    """Realised value of the model's actions and of the heuristic baseline's, by night."""
    if value.empty:
        return None
    fig, ax = plt.subplots(figsize=(10, 3.6))
    styles: dict[str, dict[str, Any]] = {
        "model": {"color": "tab:blue"},
        "baseline": {"color": "grey", "linestyle": "--"},
    }
    present = set(value["policy"])
    policies = [p for p in styles if p in present] + sorted(present - set(styles))
    for policy in policies:
        series = value[value["policy"] == policy]
        ax.plot(
            series["as_of"],
            series["value"],
            marker="o",
            markersize=3,
            label=plain(policy),
            **styles.get(policy, {}),
        )
    ax.axhline(0, color="grey", linewidth=1)
    ax.set(ylabel="value", title="Realised value: model against the heuristic baseline")
    ax.legend(fontsize="small")
    _time_axis(fig, [ax], value)
    fig.tight_layout()
    return fig
