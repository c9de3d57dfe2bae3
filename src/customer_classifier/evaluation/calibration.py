"""Whether a score can be read as a probability: reliability curve, Brier score, ECE.

Bins hold equal numbers of customers (edges at the score's quantiles), as scikit-learn's
``calibration_curve(strategy="quantile")`` draws them: with most scores near zero, equal
widths would leave the upper bins nearly empty and their gaps pure noise. The expected
calibration error is the customer-weighted mean gap between the share of good customers
in a bin and the mean score there:

    ECE = sum over bins b of (n_b / n) * |mean(y in b) - mean(score in b)|

A score that is a probability has an ECE near zero (sampling noise only: about
``sqrt(p (1 - p) / n_b)`` per bin); the Brier score (mean squared error of the score
against the 0/1 label) adds how well the score separates.

Scores that are not finite (the heuristic leaves a customer without spend unscored) are
left out of every figure here, and counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_BINS = 10


@dataclass(frozen=True)
class ReliabilityFigures:
    """Calibration of one score on one window."""

    brier: float
    ece: float
    bins: int
    """Bins asked for; ties at the edges can leave fewer non-empty ones."""
    prob_true: tuple[float, ...]
    """Share of good customers in each non-empty bin, lowest scores first."""
    prob_pred: tuple[float, ...]
    """Mean score in each non-empty bin."""
    counts: tuple[int, ...]
    """Customers in each non-empty bin."""
    unscored: int = 0
    """Customers left out because their score is not finite."""

    @property
    def max_gap(self) -> float:
        gaps = np.abs(np.subtract(self.prob_true, self.prob_pred))
        return float(gaps.max()) if gaps.size else 0.0


def _finite(y_true: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    y = np.asarray(y_true, dtype=np.float64).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"{y.size} labels but {s.size} scores: they must pair up one to one")
    keep = np.isfinite(s)
    return y[keep], s[keep], int((~keep).sum())


def brier_score(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Mean of (score - label)^2 over the finite scores."""
    y, s, _ = _finite(y_true, scores)
    return float(np.mean((s - y) ** 2)) if s.size else float("nan")


def reliability(
    y_true: np.ndarray, scores: np.ndarray, bins: int = DEFAULT_BINS
) -> ReliabilityFigures:
    """Reliability curve over equal-mass bins, the Brier score and the ECE."""
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    y, s, unscored = _finite(y_true, scores)
    if s.size == 0:
        nan = float("nan")
        return ReliabilityFigures(nan, nan, bins, (), (), (), unscored)
    if s.min() < 0.0 or s.max() > 1.0:
        raise ValueError(
            f"scores range over [{s.min():.4g}, {s.max():.4g}]; a reliability curve needs "
            "probabilities in [0, 1]"
        )
    edges = np.percentile(s, np.linspace(0.0, 100.0, bins + 1))
    # A score equal to an inner edge falls in the lower bin (side="left").
    ids = np.searchsorted(edges[1:-1], s)
    total = np.bincount(ids, minlength=bins)
    good = np.bincount(ids, weights=y, minlength=bins)
    mass = np.bincount(ids, weights=s, minlength=bins)
    used = total > 0
    prob_true = good[used] / total[used]
    prob_pred = mass[used] / total[used]
    counts = total[used]
    ece = float(np.sum(counts * np.abs(prob_true - prob_pred)) / s.size)
    return ReliabilityFigures(
        brier=float(np.mean((s - y) ** 2)),
        ece=ece,
        bins=bins,
        prob_true=tuple(float(v) for v in prob_true),
        prob_pred=tuple(float(v) for v in prob_pred),
        counts=tuple(int(v) for v in counts),
        unscored=unscored,
    )


@dataclass(frozen=True)
class CalibrationSummary:
    """A candidate's calibration on the test window: as served, and before the map."""

    method: str
    """``isotonic``, ``sigmoid`` or ``none``."""
    test: ReliabilityFigures
    """The scores the version serves."""
    uncalibrated: ReliabilityFigures | None = None
    """The base model's own scores, when a map was fitted on top of them."""

    @property
    def calibrated(self) -> bool:
        return self.method != "none"

    def to_metadata(self) -> dict[str, object]:
        """What ``model.json`` records: the monitoring's precision estimate reads it."""
        out: dict[str, object] = {
            "calibrated": self.calibrated,
            "method": self.method,
            "fitted_on": "validation" if self.calibrated else None,
            "bins": self.test.bins,
            "test_ece": self.test.ece,
            "test_brier": self.test.brier,
            "reliability": {
                "prob_true": list(self.test.prob_true),
                "prob_pred": list(self.test.prob_pred),
                "counts": list(self.test.counts),
            },
        }
        if self.uncalibrated is not None:
            out["uncalibrated_test_ece"] = self.uncalibrated.ece
            out["uncalibrated_test_brier"] = self.uncalibrated.brier
        return out
