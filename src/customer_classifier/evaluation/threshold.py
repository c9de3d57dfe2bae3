"""Choosing the decision threshold: precision is the business measure.

Policy: among thresholds that keep at least the required recall, the one with the most
recall whose precision reaches the target. When none reaches it, the one with the best
precision among those that keep the required recall. A target "met" at a recall too
small to matter does not count as met, so it cannot win model selection.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import precision_recall_curve


@dataclass(frozen=True)
class ThresholdChoice:
    threshold: float
    precision: float
    recall: float
    target_met: bool
    policy: str


def choose_threshold(
    y_true: np.ndarray, scores: np.ndarray, precision_target: float, min_recall: float
) -> ThresholdChoice:
    precision, recall, thresholds = precision_recall_curve(y_true, scores)
    # precision/recall have one more entry than thresholds (the point recall=0).
    precision, recall = precision[:-1], recall[:-1]
    if len(thresholds) == 0:
        return ThresholdChoice(1.0, 0.0, 0.0, False, "no positive scores")
    reaching = np.flatnonzero(
        (precision >= precision_target) & (recall >= min_recall) & (recall > 0)
    )
    if reaching.size:
        best = reaching[np.argmax(recall[reaching])]
        return ThresholdChoice(
            float(thresholds[best]),
            float(precision[best]),
            float(recall[best]),
            True,
            f"max recall at precision >= {precision_target:.2f}",
        )
    allowed = np.flatnonzero(recall >= min_recall)
    if not allowed.size:
        allowed = np.arange(len(thresholds))
    best = allowed[np.argmax(precision[allowed])]
    return ThresholdChoice(
        float(thresholds[best]),
        float(precision[best]),
        float(recall[best]),
        False,
        f"max precision at recall >= {min_recall:.2f}",
    )


def precision_at_recall(y_true: np.ndarray, scores: np.ndarray, min_recall: float) -> float:
    """Best precision with recall at least ``min_recall``: a threshold-free comparison."""
    precision, recall, _ = precision_recall_curve(y_true, scores)
    mask = recall >= min_recall
    return float(precision[mask].max()) if mask.any() else 0.0
