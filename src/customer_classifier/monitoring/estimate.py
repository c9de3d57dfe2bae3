"""Precision before the labels mature, from the calibrated scores (confidence-based).

A customer labelled good with a calibrated score ``p`` is good with probability ``p``.
Over the ``n`` customers labelled good in one night (or one segment of it), the number
that turn out good is then a sum of independent Bernoulli draws (Poisson-binomial), so

    expected precision = mean(p)        variance = sum(p (1 - p)) / n^2

and the band is the normal approximation ``estimate +- z * sqrt(variance)``. This is
NannyML's CBPE reduced to the one figure the threshold aims at. It holds under covariate
shift (new kinds of customers: their scores say how good they are) and fails under
concept drift (the same customers behave differently: the scores no longer mean what
they did), which is why every estimate carries its assumption and why the early labels
below are watched against it.

Early labels: a customer whose net spend reaches the label rule's ``min_spend`` before
the window closes is already good; one who has not may still become good. The share of
the labelled-good customers already good is therefore a lower bound of the precision
that the night will realise. Its ratio to the final figure at a given day of the window
is learnt from nights whose labels have matured; a night whose early precision falls
well below ``estimate * ratio`` is behaving differently from what its scores promise:
the concept-drift signal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import pandas as pd

ALL_SEGMENTS = "all"
"""The segment value of a night's figure over every customer."""

ASSUMPTION = (
    "The estimate assumes no concept drift: a customer's chance of being good given "
    "their features is the same as when the model was calibrated, so only the mix of "
    "customers may change. It needs calibrated scores (score = P(good))."
)

ESTIMATE_COLUMNS = (
    "segment",
    "labelled_good",
    "estimated_precision",
    "std_error",
    "lower",
    "upper",
)


def z_for(level: float) -> float:
    """Two-sided normal quantile of a band that covers ``level`` of the draws."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"a band level must lie strictly between 0 and 1, got {level}")
    return NormalDist().inv_cdf(0.5 + level / 2.0)


@dataclass(frozen=True)
class PrecisionEstimate:
    """Expected precision of one group of customers labelled good, with its band."""

    labelled_good: int
    estimate: float
    std_error: float
    lower: float
    upper: float

    def covers(self, realised: float) -> bool:
        return self.lower <= realised <= self.upper


def estimate_precision(scores: np.ndarray, level: float = 0.95) -> PrecisionEstimate:
    """The estimate from the calibrated scores of the customers labelled good.

    Non-finite scores are left out; with no customer left the figures are NaN (a night
    that labelled no one good has no precision to estimate)."""
    p = np.asarray(scores, dtype=np.float64).ravel()
    p = p[np.isfinite(p)]
    n = int(p.size)
    if n == 0:
        nan = float("nan")
        return PrecisionEstimate(0, nan, nan, nan, nan)
    if p.min() < 0.0 or p.max() > 1.0:
        raise ValueError(
            f"scores range over [{p.min():.4g}, {p.max():.4g}]; the precision estimate "
            "needs calibrated probabilities in [0, 1]"
        )
    mean = float(p.mean())
    se = math.sqrt(float(np.sum(p * (1.0 - p)))) / n
    half = z_for(level) * se
    return PrecisionEstimate(n, mean, se, max(0.0, mean - half), min(1.0, mean + half))


def estimate_by_segment(
    scores: pd.Series, labelled_good: pd.Series, segments: pd.Series, level: float = 0.95
) -> pd.DataFrame:
    """One row for the whole night (segment ``all``) and one per segment, tidy.

    The three series share one index (customers). Every segment that has customers gets a
    row, even with no one labelled good (NaN figures), so that a segment that stops being
    acted on shows as such rather than vanishing."""
    acted = labelled_good.astype(bool)
    rows = [_row(ALL_SEGMENTS, scores[acted], level)]
    for segment in sorted(segments.dropna().unique()):
        rows.append(_row(str(segment), scores[acted & (segments == segment)], level))
    return pd.DataFrame(rows, columns=list(ESTIMATE_COLUMNS))


def _row(segment: str, scores: pd.Series, level: float) -> dict[str, object]:
    e = estimate_precision(scores.to_numpy(), level)
    return {
        "segment": segment,
        "labelled_good": e.labelled_good,
        "estimated_precision": e.estimate,
        "std_error": e.std_error,
        "lower": e.lower,
        "upper": e.upper,
    }


@dataclass(frozen=True)
class CalibrationAssumption:
    """Whether the version's scores can be read as probabilities, from its bundle."""

    calibrated: bool
    """A calibration map was fitted on top of the model (metadata ``calibrated``)."""
    test_ece: float
    """Expected calibration error on the test window (NaN when the bundle has none)."""
    max_ece: float

    @property
    def holds(self) -> bool:
        """The scores were close enough to probabilities on test for the estimate to mean
        something; a model need not be mapped to be calibrated already."""
        return math.isfinite(self.test_ece) and self.test_ece <= self.max_ece

    def statement(self) -> str:
        """What the report prints beside the estimate."""
        how = "mapped to probabilities" if self.calibrated else "used as the model gives them"
        if not math.isfinite(self.test_ece):
            return (
                f"{ASSUMPTION} The version's bundle records no test ECE: the scores "
                f"({how}) are not known to be calibrated, so treat the estimate as a guess."
            )
        verdict = "within" if self.holds else "ABOVE"
        return (
            f"{ASSUMPTION} Scores {how}; test ECE {self.test_ece:.4f}, {verdict} the "
            f"{self.max_ece:.4f} the estimate allows."
        )


def assumption_from_metadata(
    calibration: Mapping[str, object] | None, max_ece: float
) -> CalibrationAssumption:
    """Read the ``calibration`` block that training writes to ``model.json``."""
    block = calibration or {}
    ece = block.get("test_ece")
    return CalibrationAssumption(
        calibrated=bool(block.get("calibrated", False)),
        test_ece=float(ece) if isinstance(ece, int | float) else float("nan"),
        max_ece=max_ece,
    )


@dataclass(frozen=True)
class NightEstimate:
    """What one night's monitoring says about precision before its labels arrive."""

    table: pd.DataFrame
    """ESTIMATE_COLUMNS: the night (segment ``all``) and each segment."""
    assumption: CalibrationAssumption

    def to_json(self) -> dict[str, object]:
        """For machines (the monitoring's JSON and history table): NaN becomes null."""
        rows = self.table.astype(object).where(self.table.notna(), None)
        return {
            "assumption": self.assumption.statement(),
            "assumption_holds": self.assumption.holds,
            "test_ece": ece if math.isfinite(ece := self.assumption.test_ece) else None,
            "segments": rows.to_dict(orient="records"),
        }


def estimate_night(
    scores: pd.Series,
    labelled_good: pd.Series,
    segments: pd.Series,
    calibration: Mapping[str, object] | None,
    *,
    level: float = 0.95,
    max_ece: float = 0.05,
) -> NightEstimate:
    """The night's estimate with the assumption it rests on, from the served version's
    ``calibration`` metadata (``model.json``)."""
    return NightEstimate(
        table=estimate_by_segment(scores, labelled_good, segments, level),
        assumption=assumption_from_metadata(calibration, max_ece),
    )


# -- early labels and the concept-drift signal --------------------------------------------


def early_labels(spend_so_far: pd.Series, min_spend: float) -> pd.Series:
    """1 for each customer whose net spend since the as-of date already reaches the rule."""
    return (spend_so_far.fillna(0.0) >= min_spend).astype("int8").rename("early_good")


def early_precision(early_good: pd.Series, labelled_good: pd.Series) -> float:
    """Share of the customers labelled good who are already good: a lower bound."""
    acted = labelled_good.astype(bool)
    n = int(acted.sum())
    return float(early_good[acted].sum() / n) if n else float("nan")


def early_ratio(early: np.ndarray, realised: np.ndarray) -> float:
    """How much of the final precision is visible at one day of the window, over matured
    nights: sum of early precisions over sum of realised ones (stable for small ones)."""
    e = np.asarray(early, dtype=np.float64)
    r = np.asarray(realised, dtype=np.float64)
    keep = np.isfinite(e) & np.isfinite(r)
    total = float(r[keep].sum())
    if not keep.any() or total <= 0.0:
        raise ValueError(
            "the early-label ratio needs at least one matured night with a realised "
            "precision above zero; backtest nights whose label window has closed first"
        )
    return float(e[keep].sum()) / total


@dataclass(frozen=True)
class ConceptDriftCheck:
    """Early-realised precision of one night against what its estimate promises."""

    early_precision: float
    expected_early: float
    """``estimate * ratio``: the early precision a night without concept drift shows."""
    z: float
    """Standardised gap; negative when fewer are good early than the scores promise."""
    drifted: bool


def concept_drift_check(
    scores: pd.Series,
    labelled_good: pd.Series,
    early_good: pd.Series,
    ratio: float,
    z_limit: float = 3.0,
) -> ConceptDriftCheck:
    """Compare the early-realised precision with ``estimate * ratio``.

    Each labelled-good customer is good early with probability about ``p * ratio`` when
    the scores still mean what they did, so the Poisson-binomial band of those
    probabilities is the noise a night without concept drift shows; a drop beyond
    ``z_limit`` of it is the signal. A rise is not flagged: it is good news, and the
    realised figures will show it."""
    acted = labelled_good.astype(bool)
    p = np.clip(scores[acted].to_numpy(dtype=np.float64) * ratio, 0.0, 1.0)
    n = int(p.size)
    if n == 0:
        nan = float("nan")
        return ConceptDriftCheck(nan, nan, nan, False)
    observed = float(early_good[acted].sum() / n)
    expected = float(p.mean())
    se = math.sqrt(float(np.sum(p * (1.0 - p)))) / n
    z = (observed - expected) / se if se > 0 else 0.0
    return ConceptDriftCheck(observed, expected, z, z < -z_limit)
