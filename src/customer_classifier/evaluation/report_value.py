"""Training report sections on what a score means and what acting on it is worth.

Calibration: each candidate's Brier score and expected calibration error on the test
window, and their reliability curves (the diagonal is a score one can read as a
probability). Value: the chosen model at its precision-targeted and value-maximising
thresholds against the heuristic and acting on everyone, and value against threshold.
"""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from customer_classifier.evaluation.outcome import TrainingOutcome
from customer_classifier.evaluation.value import value_curve
from customer_classifier.reporting import Report


def calibration_section(report: Report, outcome: TrainingOutcome) -> None:
    results = [r for r in outcome.results if r.calibration is not None]
    if not results:
        return
    chosen = outcome.chosen.calibration
    bins = results[0].calibration.test.bins if results[0].calibration else 0
    report.heading(f"Calibration (test window, {bins} equal-mass bins)")
    if chosen is not None:
        how = (
            f"mapped to probabilities by {chosen.method} calibration fitted on the validation "
            "window; its threshold was chosen on the mapped scores"
            if chosen.calibrated
            else "served as the model gives them (CC_CALIBRATION__METHOD=none)"
        )
        report.paragraph(
            f"{outcome.chosen.name}: scores {how}. Expected calibration error "
            f"{chosen.test.ece:.4f}, Brier score {chosen.test.brier:.4f}."
        )
    report.table(
        ["candidate", "calibration", "ECE", "Brier", "ECE before the map", "Brier before"],
        [
            (
                r.name,
                r.calibration.method,
                r.calibration.test.ece,
                r.calibration.test.brier,
                "" if r.calibration.uncalibrated is None else r.calibration.uncalibrated.ece,
                "" if r.calibration.uncalibrated is None else r.calibration.uncalibrated.brier,
            )
            for r in results
            if r.calibration is not None
        ],
    )
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], color="grey", linewidth=1, label="perfectly calibrated")
    for r in results:
        if r.calibration is None:
            continue
        figures = r.calibration.test
        ax.plot(figures.prob_pred, figures.prob_true, marker="o", label=r.name)
        before = r.calibration.uncalibrated
        if before is not None and r is outcome.chosen:
            ax.plot(
                before.prob_pred,
                before.prob_true,
                marker="x",
                linestyle="--",
                label=f"{r.name} before the map",
            )
    reliability_axes(ax, "Reliability (test)")
    report.figure(fig, "reliability curves")


def reliability_axes(ax: Any, title: str) -> None:
    """Axes, limits and legend of a reliability plot: the training report's and the
    monitoring report's read the same way."""
    ax.set(
        xlabel="mean score in bin",
        ylabel="share of good customers in bin",
        title=title,
        xlim=(0, 1),
        ylim=(0, 1),
    )
    ax.legend(fontsize="small")


def value_section(report: Report, outcome: TrainingOutcome) -> None:
    found = outcome.business_value
    if found is None:
        return
    terms = found.terms
    report.heading("Business value (test window)")
    report.paragraph(
        f"Acting on a good customer earns {terms.true_positive:g}, on a bad one costs "
        f"{terms.false_positive_cost:g} (CC_VALUE__TRUE_POSITIVE, "
        f"CC_VALUE__FALSE_POSITIVE_COST): acting pays above a precision of "
        f"{terms.break_even_precision:.3f}. Both thresholds were chosen on the validation "
        "window.",
        "ok" if found.beats_heuristic else "bad",
    )
    chosen = outcome.chosen
    rows = [
        (
            f"{chosen.name} at its precision-targeted threshold",
            found.model.threshold,
            chosen.test.precision,
            found.model.value,
            found.model.per_customer,
        ),
        (
            f"{chosen.name} at its value-maximising threshold",
            found.model.value_threshold,
            "",
            found.model.value_at_value_threshold,
            found.model.value_at_value_threshold / max(found.model.rows, 1),
        ),
        (
            "heuristic at its precision-targeted threshold",
            found.heuristic.threshold,
            outcome.baseline.test.precision,
            found.heuristic.value,
            found.heuristic.per_customer,
        ),
        ("act on everyone", "", float(outcome.test_labels.mean()), found.act_on_everyone, ""),
    ]
    report.table(["policy", "threshold", "precision", "value", "value per customer"], rows)
    fig, ax = plt.subplots(figsize=(7, 4))
    for r in (chosen, outcome.baseline):
        curve = value_curve(outcome.test_labels, r.test_scores, terms)
        ax.plot(curve.thresholds, curve.values, label=r.name)
    ax.axvline(found.model.threshold, color="black", linestyle="--", linewidth=1)
    ax.axvline(found.model.value_threshold, color="green", linestyle=":", linewidth=1)
    ax.axhline(0, color="grey", linewidth=1)
    ax.set(
        xlabel="threshold (act on scores at or above it)",
        ylabel="value",
        title=(
            f"Value against threshold (test); dashed: precision-targeted, dotted: "
            f"value-maximising; everyone: {found.act_on_everyone:,.0f}"
        ),
    )
    ax.title.set_fontsize("small")
    ax.legend()
    report.figure(fig, "value against threshold")
