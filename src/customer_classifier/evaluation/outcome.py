"""What training hands to evaluation: every candidate's figures on the same windows.

These records sit in the evaluation layer because the report reads them and training
writes them; training imports evaluation, never the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from customer_classifier.evaluation.calibration import CalibrationSummary
from customer_classifier.evaluation.metrics import ClassificationReport
from customer_classifier.evaluation.threshold import ThresholdChoice
from customer_classifier.evaluation.value import BusinessValue, CandidateValue
from customer_classifier.training.names import HEURISTIC


@dataclass
class CandidateResult:
    name: str
    description: str
    params: dict[str, Any]
    cv_pr_auc: float | None
    threshold: ThresholdChoice
    validation: ClassificationReport
    test: ClassificationReport
    model: Any = field(repr=False)
    test_scores: np.ndarray = field(repr=False)
    calibration: CalibrationSummary | None = None
    """Reliability of the served scores on the test window, and of the base model's."""
    value: CandidateValue | None = None
    """Business value on the test window at the candidate's thresholds."""


@dataclass
class TrainingOutcome:
    chosen: CandidateResult
    results: list[CandidateResult]
    test_labels: np.ndarray = field(repr=False)
    skipped: dict[str, str] = field(default_factory=dict)
    """Candidates that could not train on this data, with the reason."""
    dropped_columns: dict[str, str] = field(default_factory=dict)
    """Feature columns left out of the fitted preprocessing, with the reason (all null,
    one value): they carry no information in the training window."""
    business_value: BusinessValue | None = None
    """The chosen model's value against the heuristic's and acting on everyone (test)."""

    @property
    def baseline(self) -> CandidateResult:
        return next(r for r in self.results if r.name == HEURISTIC)
