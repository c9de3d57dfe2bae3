"""Classification metrics at a threshold, in the shapes KFP's artifacts want."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

from customer_classifier.evaluation.threshold import precision_at_recall


@dataclass(frozen=True)
class ClassificationReport:
    precision: float
    recall: float
    f1: float
    roc_auc: float
    pr_auc: float
    precision_at_min_recall: float
    positive_rate: float
    predicted_positive_rate: float
    rows: int
    confusion: list[list[int]]
    """[[tn, fp], [fn, tp]]; rows = truth (bad, good), columns = prediction."""

    def scalars(self) -> dict[str, float]:
        out = asdict(self)
        out.pop("confusion")
        return {k: float(v) for k, v in out.items()}


def evaluate(
    y_true: np.ndarray, scores: np.ndarray, threshold: float, min_recall: float
) -> ClassificationReport:
    y_true = np.asarray(y_true).astype(int)
    predicted = (scores >= threshold).astype(int)
    both = len(np.unique(y_true)) == 2
    return ClassificationReport(
        precision=float(precision_score(y_true, predicted, zero_division=0)),
        recall=float(recall_score(y_true, predicted, zero_division=0)),
        f1=float(f1_score(y_true, predicted, zero_division=0)),
        roc_auc=float(roc_auc_score(y_true, scores)) if both else float("nan"),
        pr_auc=float(average_precision_score(y_true, scores)) if both else float("nan"),
        precision_at_min_recall=precision_at_recall(y_true, scores, min_recall),
        positive_rate=float(y_true.mean()) if len(y_true) else 0.0,
        predicted_positive_rate=float(predicted.mean()) if len(y_true) else 0.0,
        rows=len(y_true),
        confusion=confusion_matrix(y_true, predicted, labels=[0, 1]).tolist(),
    )


def roc_points(
    y_true: np.ndarray, scores: np.ndarray, max_points: int = 200
) -> tuple[list[float], list[float], list[float]]:
    """(fpr, tpr, thresholds), thinned for the Kubeflow UI; infinite thresholds clipped."""
    fpr, tpr, thr = roc_curve(y_true, scores)
    if len(fpr) > max_points:
        keep = np.unique(np.linspace(0, len(fpr) - 1, max_points).astype(int))
        fpr, tpr, thr = fpr[keep], tpr[keep], thr[keep]
    thr = np.clip(thr, 0.0, 1.0)
    return fpr.tolist(), tpr.tolist(), thr.tolist()
