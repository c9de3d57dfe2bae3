"""The training report's fairness section: gaps, flagged groups and group precision.

Kept apart from :mod:`customer_classifier.evaluation.report` so that each section of the
report is one small module; the report calls :func:`add_fairness_section`.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from customer_classifier.evaluation.fairness import GAPS, FairnessReport
from customer_classifier.reporting import Report


def _label(name: str) -> str:
    return name.replace("_", " ")


def add_fairness_section(report: Report, fairness: FairnessReport, model: str) -> Report:
    """Gaps per attribute, the underperforming groups, and a plot of group precision with
    its bootstrap interval (judged groups in colour, the others grey)."""
    level = f"{fairness.confidence:.0%}"
    report.heading(f"Fairness and segments of {model} (test window)")
    report.paragraph(
        f"At threshold {fairness.threshold:.4f} on {fairness.rows} customers; overall "
        f"precision {fairness.overall_precision:.4f}. Groups of fewer than "
        f"{fairness.min_group_size} customers are reported but not judged, and a group's "
        f"precision counts from {fairness.min_selected} selected customers; intervals are "
        f"{level} bootstrap intervals over {fairness.resamples} resamples."
    )
    report.table(
        ["attribute", *(f"{_label(g)} ({level} interval)" for g in GAPS)],
        [
            (
                a.attribute,
                *(
                    f"{a.gaps[g].value:.3f} ({a.gaps[g].low:.3f}-{a.gaps[g].high:.3f})"
                    for g in GAPS
                ),
            )
            for a in fairness.attributes
        ],
    )
    flagged = fairness.underperforming
    if flagged:
        report.paragraph(
            "Underperforming groups (precision below the overall figure by more than "
            f"{fairness.underperformance:.2f}, interval below it too): "
            + ", ".join(f"{a}={g.group} ({g.precision:.3f})" for a, g in flagged),
            "bad",
        )
    else:
        report.paragraph(
            "No underperforming group: no judged group's precision is below the overall "
            f"figure by more than {fairness.underperformance:.2f} with its interval below it.",
            "ok",
        )
    report.table(
        [
            "attribute",
            "group",
            "customers",
            "selected",
            "precision",
            f"{level} interval",
            "recall",
            "selection rate",
            "judged",
            "flagged",
        ],
        [
            (
                a.attribute,
                g.group,
                g.count,
                g.selected,
                g.precision,
                f"{g.precision_low:.3f}-{g.precision_high:.3f}",
                g.recall,
                g.selection_rate,
                "yes" if g.judged else "no (too small)",
                "yes" if g.underperforming else "",
            )
            for a in fairness.attributes
            for g in a.groups
        ],
    )
    return report.figure(_precision_plot(fairness), "group precision with intervals")


def _precision_plot(fairness: FairnessReport) -> Figure:
    columns = min(3, len(fairness.attributes)) or 1
    rows = math.ceil(len(fairness.attributes) / columns) or 1
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False)
    for ax in axes.ravel()[len(fairness.attributes) :]:
        ax.set_visible(False)
    for ax, attribute in zip(axes.ravel(), fairness.attributes, strict=False):
        groups = attribute.groups
        y = np.arange(len(groups))
        value = np.array([g.precision for g in groups])
        low = np.array([g.precision_low for g in groups])
        high = np.array([g.precision_high for g in groups])
        err = np.nan_to_num(np.vstack([value - low, high - value]), nan=0.0).clip(min=0)
        colours = [
            "#b00020" if g.underperforming else ("#1f77b4" if g.judged else "#aaaaaa")
            for g in groups
        ]
        ax.barh(y, np.nan_to_num(value), xerr=err, color=colours, capsize=3)
        ax.axvline(fairness.overall_precision, color="black", linestyle="--", linewidth=1)
        ax.set_yticks(y, [g.group for g in groups])
        ax.set(xlim=(0, 1.05), xlabel="precision", title=_label(attribute.attribute))
    fig.tight_layout()
    return fig
