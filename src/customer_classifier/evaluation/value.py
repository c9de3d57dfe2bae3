"""The business outcome of acting on the customers a model labels good, in money.

Acting on a customer labelled good (an offer, a retention call) earns
``true_positive`` when the customer is good and costs ``false_positive_cost`` when
they are bad; not acting earns and costs nothing. At a threshold ``t`` on a window:

    value(t) = true_positive * TP(t) - false_positive_cost * FP(t)

Precision is the output metric the threshold aims at; value is the outcome the business
states. They agree on direction but not on the cut: acting on one more customer pays
exactly when their probability of being good exceeds the break-even precision
``false_positive_cost / (true_positive + false_positive_cost)``. The value-maximising
threshold is chosen on the validation window, like the precision-targeted one, and both
are then valued on the test window, which neither choice has seen.

Scores that are not finite are never acted on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class ValueTerms:
    true_positive: float
    """Earned per good customer acted on."""
    false_positive_cost: float
    """Lost per bad customer acted on."""

    @property
    def break_even_precision(self) -> float:
        """Precision at which acting breaks even; 0 when a false positive costs nothing."""
        total = self.true_positive + self.false_positive_cost
        return self.false_positive_cost / total if total > 0 else 0.0


def value_of(y_true: np.ndarray, acted: np.ndarray, terms: ValueTerms) -> float:
    """Value of acting on the customers where ``acted`` is true."""
    y = np.asarray(y_true).astype(bool)
    act = np.asarray(acted).astype(bool)
    tp = int(np.sum(act & y))
    fp = int(np.sum(act & ~y))
    return float(terms.true_positive * tp - terms.false_positive_cost * fp)


def value_at(y_true: np.ndarray, scores: np.ndarray, threshold: float, terms: ValueTerms) -> float:
    """Value of acting on every customer scored at or above ``threshold``."""
    s = np.asarray(scores, dtype=np.float64)
    return value_of(y_true, np.isfinite(s) & (s >= threshold), terms)


@dataclass(frozen=True)
class ValueCurve:
    thresholds: np.ndarray
    """Every distinct finite score, highest first; acting on scores >= each."""
    values: np.ndarray
    """Value of acting at each threshold."""

    def best(self) -> tuple[float, float]:
        """(threshold, value) with the most value; the highest such threshold on ties.
        With no threshold worth acting at, a threshold above every score (act on no one)."""
        if not self.thresholds.size or self.values.max() <= 0.0:
            top = float(self.thresholds[0]) if self.thresholds.size else 1.0
            return float(np.nextafter(top, np.inf)), 0.0
        i = int(np.argmax(self.values))
        return float(self.thresholds[i]), float(self.values[i])


def value_curve(y_true: np.ndarray, scores: np.ndarray, terms: ValueTerms) -> ValueCurve:
    """Value at every distinct score as a threshold, in one pass over the sorted scores."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(y_true).astype(bool)
    keep = np.isfinite(s)
    s, y = s[keep], y[keep]
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    tp = np.cumsum(y)
    fp = np.cumsum(~y)
    # The last position of each run of equal scores: acting at that score takes them all.
    last = np.r_[np.flatnonzero(np.diff(s) != 0), s.size - 1] if s.size else np.array([], int)
    values = terms.true_positive * tp[last] - terms.false_positive_cost * fp[last]
    return ValueCurve(thresholds=s[last], values=values.astype(np.float64))


@dataclass(frozen=True)
class CandidateValue:
    """One candidate's value on the test window, at its two thresholds."""

    threshold: float
    """The precision-targeted threshold (chosen on the validation window)."""
    value: float
    """Value on the test window at ``threshold``."""
    value_threshold: float
    """The value-maximising threshold, chosen on the validation window."""
    value_at_value_threshold: float
    """Value on the test window at ``value_threshold``."""
    rows: int

    @property
    def per_customer(self) -> float:
        return self.value / self.rows if self.rows else 0.0

    def scalars(self) -> dict[str, float]:
        return {**{k: float(v) for k, v in asdict(self).items()}, "per_customer": self.per_customer}


def candidate_value(
    y_valid: np.ndarray,
    valid_scores: np.ndarray,
    y_test: np.ndarray,
    test_scores: np.ndarray,
    threshold: float,
    terms: ValueTerms,
) -> CandidateValue:
    """The value at the precision-targeted threshold and at the value-maximising one."""
    best, _ = value_curve(y_valid, valid_scores, terms).best()
    return CandidateValue(
        threshold=float(threshold),
        value=value_at(y_test, test_scores, threshold, terms),
        value_threshold=best,
        value_at_value_threshold=value_at(y_test, test_scores, best, terms),
        rows=int(np.asarray(y_test).size),
    )


@dataclass(frozen=True)
class BusinessValue:
    """The chosen model against the heuristic and against acting on everyone (test)."""

    terms: ValueTerms
    model: CandidateValue
    heuristic: CandidateValue
    act_on_everyone: float

    @property
    def beats_heuristic(self) -> bool:
        return self.model.value > self.heuristic.value

    def to_metadata(self) -> dict[str, float | bool]:
        """What ``model.json`` and the gate read."""
        return {
            "true_positive": self.terms.true_positive,
            "false_positive_cost": self.terms.false_positive_cost,
            "break_even_precision": self.terms.break_even_precision,
            "test_rows": float(self.model.rows),
            "model_value": self.model.value,
            "model_value_per_customer": self.model.per_customer,
            "heuristic_value": self.heuristic.value,
            "act_on_everyone_value": self.act_on_everyone,
            "threshold": self.model.threshold,
            "value_threshold": self.model.value_threshold,
            "value_at_value_threshold": self.model.value_at_value_threshold,
            "beats_heuristic": self.beats_heuristic,
        }


def business_value(
    model: CandidateValue, heuristic: CandidateValue, y_test: np.ndarray, terms: ValueTerms
) -> BusinessValue:
    everyone = value_of(y_test, np.ones(np.asarray(y_test).size, dtype=bool), terms)
    return BusinessValue(terms=terms, model=model, heuristic=heuristic, act_on_everyone=everyone)
