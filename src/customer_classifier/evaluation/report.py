"""The training report: every candidate on the same windows, with plots."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from sklearn.metrics import precision_recall_curve, roc_curve

from customer_classifier.data.contract import BAD, CLASS_LABELS, GOOD
from customer_classifier.evaluation.fairness import FairnessReport
from customer_classifier.evaluation.fairness_section import add_fairness_section
from customer_classifier.evaluation.importance import ImportanceResult
from customer_classifier.evaluation.outcome import TrainingOutcome
from customer_classifier.evaluation.report_value import calibration_section, value_section
from customer_classifier.evaluation.target import target_verdict
from customer_classifier.reporting import Report


def write_training_report(
    outcome: TrainingOutcome,
    path: Path,
    *,
    precision_target: float,
    min_recall: float,
    context: dict[str, str],
    importance: ImportanceResult | None = None,
    fairness: FairnessReport | None = None,
) -> Path:
    report = Report("Customer classifier: training and evaluation")
    report.paragraph(
        f"Chosen: {outcome.chosen.name} at threshold {outcome.chosen.threshold.threshold:.4f} "
        f"({outcome.chosen.threshold.policy}). Precision target {precision_target:.2f}, "
        f"required recall {min_recall:.2f}.",
        "ok",
    )
    verdict = target_verdict(
        {r.name: r.test.precision_at_min_recall for r in outcome.results},
        precision_target,
        min_recall,
    )
    report.paragraph(verdict.sentence, "ok" if verdict.reached else "bad")
    report.table(["", ""], sorted(context.items()))
    report.heading("Candidates (test window, threshold chosen on the validation window)")
    report.table(
        [
            "candidate",
            "cv PR AUC",
            "threshold",
            "target met (validation)",
            "target reached (test)",
            "precision",
            "recall",
            f"precision @ recall>={min_recall:.2f}",
            "ROC AUC",
            "PR AUC",
            "params",
        ],
        [
            (
                r.name,
                "" if r.cv_pr_auc is None else r.cv_pr_auc,
                r.threshold.threshold,
                r.threshold.target_met,
                r.name in verdict.met_by,
                r.test.precision,
                r.test.recall,
                r.test.precision_at_min_recall,
                r.test.roc_auc,
                r.test.pr_auc,
                r.params,
            )
            for r in outcome.results
        ],
    )
    if outcome.skipped:
        report.heading("Skipped candidates")
        report.table(["candidate", "reason"], sorted(outcome.skipped.items()))
    if outcome.dropped_columns:
        report.heading("Feature columns left out (they carry nothing in the training window)")
        report.table(["column", "reason"], sorted(outcome.dropped_columns.items()))
    y = outcome.test_labels
    fig, (ax_pr, ax_roc) = plt.subplots(1, 2, figsize=(11, 4.5))
    for r in outcome.results:
        precision, recall, _ = precision_recall_curve(y, r.test_scores)
        ax_pr.plot(recall, precision, label=r.name)
        fpr, tpr, _ = roc_curve(y, r.test_scores)
        ax_roc.plot(fpr, tpr, label=f"{r.name} (AUC {r.test.roc_auc:.3f})")
    ax_pr.axhline(precision_target, color="grey", linestyle="--", linewidth=1)
    ax_pr.axvline(min_recall, color="grey", linestyle=":", linewidth=1)
    ax_pr.set(xlabel="recall", ylabel="precision", title="Precision-recall (test)")
    ax_roc.plot([0, 1], [0, 1], color="grey", linewidth=1)
    ax_roc.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (test)")
    ax_pr.legend()
    ax_roc.legend()
    report.figure(fig, "precision-recall and ROC curves")
    report.heading(f"Confusion matrix of {outcome.chosen.name} (test)")
    (tn, fp), (fn, tp) = outcome.chosen.test.confusion
    report.table(["truth \\ predicted", BAD, GOOD], [(BAD, tn, fp), (GOOD, fn, tp)])
    fig, ax = plt.subplots(figsize=(6, 3.5))
    scores = outcome.chosen.test_scores
    ax.hist([scores[y == 0], scores[y == 1]], bins=40, stacked=True, label=list(CLASS_LABELS))
    ax.axvline(outcome.chosen.threshold.threshold, color="black", linestyle="--")
    ax.set(xlabel="score", ylabel="customers", title="Score distribution (test)")
    ax.legend()
    report.figure(fig, "score distribution")
    if importance is not None:
        _importance_section(report, outcome.chosen.name, importance)
    calibration_section(report, outcome)
    value_section(report, outcome)
    if fairness is not None:
        add_fairness_section(report, fairness, outcome.chosen.name)
    return report.write(path)


def _importance_section(report: Report, name: str, importance: ImportanceResult) -> None:
    report.heading(f"Feature importance of {name} (test window)")
    report.paragraph(
        f"Drop of {importance.metric.replace('_', ' ')} when one raw feature column is "
        f"shuffled: {importance.n_repeats} repeat(s) on {importance.rows} customers "
        f"(seed {importance.seed}). A feature near zero adds nothing the others do not carry."
    )
    shown = importance.features[::-1]
    fig, ax = plt.subplots(figsize=(7, max(3.0, 0.24 * len(shown) + 1)))
    ax.barh(
        [f.feature for f in shown],
        [f.mean for f in shown],
        xerr=[f.std for f in shown],
        color="tab:blue",
    )
    ax.axvline(0, color="grey", linewidth=1)
    ax.set(xlabel=f"drop of {importance.metric}", title="Permutation importance (test)")
    fig.tight_layout()
    report.figure(fig, "permutation importance")
