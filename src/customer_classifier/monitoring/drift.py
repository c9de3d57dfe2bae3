"""Data drift of a night against the champion's training reference, with calibrated alarms.

Fixed thresholds fail at scale: with a million rows every column differs "significantly"
from its reference, and a PSI of 0.1 means different things for 2 and 20 bins. So each
statistic gets its null distribution at the night's own batch size, by resampling the
binned reference (a multinomial draw for the reference and one for the night, both from
the reference's bin shares: the two-sample null), and a p-value from it. The p-values of
all features are adjusted together (Benjamini-Hochberg), which bounds the share of false
alarms among the flagged features, and, when nothing drifted, the chance that any is
flagged, at ``fdr``. An effect-size floor keeps real but trivially small shifts quiet.

Statistics, all on the reference's bins (so their resolution is one quantile bin):
Jensen-Shannon distance (base 2, in [0, 1]) and PSI for categorical features;
Wasserstein distance over the bin centres divided by the training standard deviation,
KS (largest gap of the cumulative shares) and PSI for numeric ones. A feature's p-value
is the smallest of its statistics' p-values times their number (Bonferroni).

Ranking by effect on precision: precision depends only on the customers labelled good,
so a feature's effect is estimated as its drift within that subpopulation (Jensen-Shannon
distance of its predicted-good bins) times its permutation importance on the test window
(from the bundle), normalised to sum to one over the features. Without importance every
feature weighs the same, and the rank is the predicted-good drift alone.

Seasonality: given the night's as-of date, the night is compared with the reference's
part of its own season when the bundle has one (see
:meth:`~customer_classifier.monitoring.reference.DriftReference.for_night`), so that a
year-end night is judged against a year-end window, not against an autumn one.

Ageing: the features that grow with the calendar (tenure, days since the first purchase,
age, lifetime totals) are compared with their reference aged to the night's date, the
book's own ageing rate read from the reference's dated parts; each says so in its
``age_adjusted`` entry of the report (parts, weights, elapsed days, effective rows).
The null of such a feature resamples the aged reference at its effective rows, so the
calibration covers the noise of the ageing estimate too; the floors are unchanged.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from customer_classifier.errors import ConfigurationError
from customer_classifier.monitoring.reference import Ageing, BinSpec, DriftReference

NUMERIC_STATISTICS = ("wasserstein", "ks", "psi")
CATEGORICAL_STATISTICS = ("jensen_shannon", "psi")
_SMOOTH = 0.5
"""Pseudo-count per bin: PSI's logarithm needs non-empty bins, and the null draws need
a chance to land beyond the training range, as a large night's extremes do."""
_TAIL_MIN_EXCEEDANCES = 10
"""Below this many null draws at or above the observed value, the p-value comes from a
gamma fitted to the null's moments, so that p-values smaller than 1/resamples exist."""


@dataclass(frozen=True)
class DriftThresholds:
    """What counts as drift; the settings' ``CC_DRIFT__*`` group fills it."""

    fdr: float = 0.01
    psi_floor: float = 0.1
    jensen_shannon_floor: float = 0.05
    wasserstein_floor: float = 0.1
    ks_floor: float = 0.05
    resamples: int = 2000
    seed: int = 0

    def floor(self, statistic: str) -> float:
        return float(getattr(self, f"{statistic}_floor"))


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's drift: its statistics, p-value, BH-adjusted q-value and verdict."""

    feature: str
    kind: str
    statistics: dict[str, float]
    p_value: float
    q_value: float
    above_floor: bool
    flagged: bool
    good_jensen_shannon: float
    precision_effect: float
    age_adjusted: Ageing | None = None
    """Set for a calendar feature whose reference was aged to the night's date: which
    parts, with which weights, how many days on, as how many rows."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "kind": self.kind,
            "statistics": self.statistics,
            "p_value": self.p_value,
            "q_value": self.q_value,
            "above_floor": self.above_floor,
            "flagged": self.flagged,
            "good_jensen_shannon": self.good_jensen_shannon,
            "precision_effect": self.precision_effect,
            "age_adjusted": self.age_adjusted.to_dict() if self.age_adjusted else None,
        }


@dataclass(frozen=True)
class DriftReport:
    """A night's drift: per feature, the score, the predicted-good share, and the alarm."""

    rows: int
    features: tuple[FeatureDrift, ...]
    score: FeatureDrift
    good_share: float
    reference_good_share: float
    good_share_p_value: float
    thresholds: DriftThresholds
    ranked: tuple[str, ...] = field(default=())
    reference_part: str = "training"
    """What the night was compared with: ``training`` (the training window, as-of date
    unknown), or the as-of date of the training window or of its season's part."""

    @property
    def flagged(self) -> tuple[str, ...]:
        """Flagged features, most harmful to precision first."""
        return self.ranked

    @property
    def alarm(self) -> bool:
        """One dataset-level alarm: any feature or the score flagged."""
        return bool(self.ranked) or self.score.flagged

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "alarm": self.alarm,
            "flagged": list(self.ranked),
            "score": self.score.to_dict(),
            "good_share": self.good_share,
            "reference_good_share": self.reference_good_share,
            "good_share_p_value": self.good_share_p_value,
            "fdr": self.thresholds.fdr,
            "reference_part": self.reference_part,
            "features": [f.to_dict() for f in self.features],
        }


# Statistics over count matrices (rows: resamples or a single night) --------------------


def _shares(counts: np.ndarray, smooth: float = 0.0) -> np.ndarray:
    c = counts.astype(float) + smooth
    total = c.sum(axis=-1, keepdims=True)
    return np.asarray(c / np.where(total > 0, total, 1.0))


def psi(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    p, q = _shares(ref, _SMOOTH), _shares(cur, _SMOOTH)
    return np.asarray(((q - p) * np.log(q / p)).sum(axis=-1))


def jensen_shannon(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    p, q = _shares(ref), _shares(cur)
    m = (p + q) / 2

    def kl(a: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(a > 0, a * np.log2(a / np.where(m > 0, m, 1.0)), 0.0)
        return np.asarray(terms.sum(axis=-1))

    return np.asarray(np.sqrt(np.clip((kl(p) + kl(q)) / 2, 0.0, 1.0)))


def _value_cdfs(spec: BinSpec, ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative shares over the non-null bins (the null bin is PSI's business)."""
    return np.cumsum(_shares(ref[..., :-1]), axis=-1), np.cumsum(_shares(cur[..., :-1]), axis=-1)


def ks(spec: BinSpec, ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    f, g = _value_cdfs(spec, ref, cur)
    return np.asarray(np.abs(f - g).max(axis=-1))


def wasserstein(spec: BinSpec, ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    f, g = _value_cdfs(spec, ref, cur)
    gaps = np.diff(np.asarray(spec.centres))
    return np.asarray((np.abs(f - g)[..., :-1] * gaps).sum(axis=-1) / spec.scale)


def statistics(spec: BinSpec, ref: np.ndarray, cur: np.ndarray) -> dict[str, np.ndarray]:
    """Every statistic of ``spec``'s kind, vectorised over leading axes."""
    if spec.kind == "numeric":
        return {
            "wasserstein": wasserstein(spec, ref, cur),
            "ks": ks(spec, ref, cur),
            "psi": psi(ref, cur),
        }
    return {"jensen_shannon": jensen_shannon(ref, cur), "psi": psi(ref, cur)}


# Calibration ----------------------------------------------------------------------------


@lru_cache(maxsize=512)
def _null(
    spec: BinSpec, ref_counts: tuple[int, ...], rows: int, resamples: int, seed: int
) -> dict[str, np.ndarray]:
    """Null distribution of each statistic for a night of ``rows`` rows (cached: a
    reference and a batch size give the same null every night)."""
    ref = np.asarray(ref_counts)
    p = _shares(ref, _SMOOTH)
    rng = np.random.default_rng([seed, rows, len(ref)])
    ref_draws = rng.multinomial(int(ref.sum()), p, size=resamples)
    cur_draws = rng.multinomial(rows, p, size=resamples)
    return statistics(spec, ref_draws, cur_draws)


def _p_value(null: np.ndarray, observed: float) -> float:
    exceed = int((null >= observed - 1e-12).sum())
    if exceed >= _TAIL_MIN_EXCEEDANCES:
        return (1 + exceed) / (1 + len(null))
    mean, var = float(null.mean()), float(null.var())
    if var <= 0 or mean <= 0:
        return (1 + exceed) / (1 + len(null)) if observed <= mean + 1e-12 else 0.0
    shape, scale = mean * mean / var, var / mean
    tail = float(sps.gamma.sf(observed, shape, scale=scale))
    return min(tail, (1 + exceed) / (1 + len(null)))


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Adjusted p-values (q-values): flag where q <= fdr."""
    p = np.asarray(p_values, dtype=float)
    m = len(p)
    if m == 0:
        return p
    order = np.argsort(p)
    scaled = p[order] * m / np.arange(1, m + 1)
    q_sorted = np.minimum.accumulate(scaled[::-1])[::-1]
    q = np.empty(m)
    q[order] = np.clip(q_sorted, 0.0, 1.0)
    return q


def _feature_test(
    spec: BinSpec,
    ref_counts: tuple[int, ...],
    cur: np.ndarray,
    thresholds: DriftThresholds,
) -> tuple[dict[str, float], float, bool]:
    rows = int(cur.sum())
    observed = {k: float(v) for k, v in statistics(spec, np.asarray(ref_counts), cur).items()}
    null = _null(spec, ref_counts, rows, thresholds.resamples, thresholds.seed)
    p_each = [_p_value(null[k], v) for k, v in observed.items()]
    p = min(1.0, len(p_each) * min(p_each))
    above = any(v >= thresholds.floor(k) for k, v in observed.items())
    return observed, p, above


def detect_drift(
    reference: DriftReference,
    frame: pd.DataFrame,
    scores: np.ndarray,
    thresholds: DriftThresholds = DriftThresholds(),
    *,
    as_of: dt.date | None = None,
) -> DriftReport:
    """Compare a night (``frame`` and its ``scores``) with the training ``reference``,
    or, given the night's ``as_of`` date, with the reference's part of its season."""
    reference = reference.for_night(as_of)
    missing = [s.name for s in reference.specs if s.name not in frame.columns]
    if missing:
        raise ConfigurationError(
            f"the night's frame lacks the features {missing} that the champion's drift "
            "reference holds: score with the champion's feature schema, or retrain it"
        )
    if len(frame) != len(scores) or len(frame) == 0:
        raise ConfigurationError(
            f"{len(scores)} scores for {len(frame)} rows: the drift check needs a non-empty "
            "night with one score per row"
        )
    scores = np.asarray(scores, dtype=float)
    good = scores >= reference.threshold
    weights = _importance_shares(reference)
    tested: list[tuple[str, str, dict[str, float], float, bool, float]] = []
    for spec in reference.specs:
        codes = spec.codes(frame[spec.name].to_numpy())
        cur = np.bincount(codes, minlength=spec.size)
        observed, p, above = _feature_test(spec, reference.counts[spec.name], cur, thresholds)
        good_js = float(
            jensen_shannon(
                np.asarray(reference.good_counts[spec.name]),
                np.bincount(codes[good], minlength=spec.size),
            )
        )
        tested.append((spec.name, spec.kind, observed, p, above, good_js))
    score_cur = reference.score.count(scores)
    s_obs, s_p, s_above = _feature_test(
        reference.score, reference.score_counts, score_cur, thresholds
    )
    q = benjamini_hochberg(np.array([t[3] for t in tested] + [s_p]))
    features = tuple(
        FeatureDrift(
            feature=name,
            kind=kind,
            statistics=observed,
            p_value=p,
            q_value=float(q[i]),
            above_floor=above,
            flagged=bool(q[i] <= thresholds.fdr and above),
            good_jensen_shannon=good_js,
            precision_effect=good_js * weights.get(name, 0.0),
            age_adjusted=reference.aged if name in reference.ageing else None,
        )
        for i, (name, kind, observed, p, above, good_js) in enumerate(tested)
    )
    score = FeatureDrift(
        feature="score",
        kind="numeric",
        statistics=s_obs,
        p_value=s_p,
        q_value=float(q[-1]),
        above_floor=s_above,
        flagged=bool(q[-1] <= thresholds.fdr and s_above),
        good_jensen_shannon=0.0,
        precision_effect=0.0,
    )
    ranked = tuple(
        f.feature
        for f in sorted(
            (f for f in features if f.flagged),
            key=lambda f: (-f.precision_effect, -max(f.statistics.values())),
        )
    )
    ref_share = reference.good_rows / max(reference.rows, 1)
    share = float(good.mean())
    return DriftReport(
        rows=len(frame),
        features=features,
        score=score,
        good_share=share,
        reference_good_share=ref_share,
        good_share_p_value=_two_proportions(
            reference.good_rows, reference.rows, int(good.sum()), len(frame)
        ),
        thresholds=thresholds,
        ranked=ranked,
        reference_part=reference.part,
    )


def _importance_shares(reference: DriftReference) -> dict[str, float]:
    names = [s.name for s in reference.specs]
    raw = {n: max(reference.importance.get(n, 0.0), 0.0) for n in names}
    total = sum(raw.values())
    if total <= 0:
        return {n: 1.0 / len(names) for n in names}
    return {n: v / total for n, v in raw.items()}


def _two_proportions(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p-value of a change in the predicted-good share (pooled z-test)."""
    pooled = (k1 + k2) / max(n1 + n2, 1)
    se = np.sqrt(pooled * (1 - pooled) * (1 / max(n1, 1) + 1 / max(n2, 1)))
    if se <= 0:
        return 1.0
    z = (k2 / max(n2, 1) - k1 / max(n1, 1)) / se
    return float(2 * sps.norm.sf(abs(z)))


def thresholds_from(settings: Mapping[str, Any]) -> DriftThresholds:
    """The thresholds from a ``DriftSettings`` dump (the settings tree's group)."""
    return DriftThresholds(**{k: settings[k] for k in DriftThresholds.__dataclass_fields__})
