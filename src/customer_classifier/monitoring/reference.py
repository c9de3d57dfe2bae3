"""Binned statistics of the training window, saved in the bundle at training time.

The nightly drift check compares each night with the champion's training data, but a
bundle must stay small and must not carry customers' rows. So the training window is
kept as counts over fixed bins: quantile bins for numeric features (plus a bin below the
training minimum, one above its maximum and one for nulls, so that a unit change or a
feed stuck at nulls shows), the observed categories for categorical ones (plus "other"
and null). The same bins are counted for the customers the model labels good, since
precision depends only on that subpopulation, and for the score itself.

Seasonality is not drift: a year-end night shows more recent spend than an autumn
training window, every year. So the same bins are also counted, part by part, over
frames of other as-of dates (training's validation and test windows, a season apart
each), and a night is compared with the window of its own season: of the training
window and the parts holding at least :data:`MIN_SEASON_ROWS` rows, the one whose as-of
date is nearest in the calendar, when it is within :data:`SEASON_DAYS`; otherwise with
the training window, as before. The bins stay the training window's, so a real change
shows against its own season as well; only what the season brings is left out.

The book ages: its history starts on a fixed date, so tenure, the days since the first
purchase, the holder's age and the lifetime totals grow with the calendar, and a night a
quarter or three after training differs from every part by that alone. The features
that do so are declared with the features
(:data:`~customer_classifier.features.build.AGEING_FEATURES`), and for them the
reference is aged to the night's date (see :class:`Ageing`): the parts, a quarter apart,
show the book's own ageing rate. After the newest part each quantile is carried along
the straight line through the two newest parts to the night's date; between two parts
the night is their mixture, weighted by the distance in time. Only change beyond the
book's own ageing is then tested. A line through two noisy
parts is itself noisy, and more so the farther it is carried, so the aged reference
counts as the fewer rows whose multinomial noise matches the line's
(``1 / sum(weight_i^2 / rows_i)``), and the calibrated null resamples that many: the
false-alarm rate holds, the power falls with the distance from the parts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from customer_classifier.errors import ConfigurationError

MAX_CATEGORIES = 50
"""Categories kept per categorical feature; rarer ones share the "other" bin."""
SEASON_DAYS = 45
"""Calendar days (either way, across the year end) within which a part's as-of date is
of the night's season: half a quarter, so that training's three windows, a quarter
apart, each stand for their quarter of the year, and a night of the fourth quarter
(none of them within reach) is compared with the training window."""
MIN_SEASON_ROWS = 500
"""A season's part is used only with at least this many rows: a thinner one would make
the comparison noisier than the seasonal effect it removes."""


@dataclass(frozen=True)
class BinSpec:
    """How one column is binned: numeric ``edges`` or categorical ``categories``.

    Numeric bins, in order: below the training minimum, the quantile bins, above the
    training maximum, null. Categorical bins: each category, other, null. ``centres``
    (numeric only) place each non-null bin on the axis for the Wasserstein distance, and
    ``scale`` (the training standard deviation) normalises it.
    """

    name: str
    kind: str
    edges: tuple[float, ...] = ()
    centres: tuple[float, ...] = ()
    scale: float = 1.0
    categories: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        if self.kind == "numeric":
            return len(self.edges) + 2
        return len(self.categories) + 2

    def codes(self, values: pd.Series | np.ndarray) -> np.ndarray:
        """The bin of every value (vectorised: one search per column)."""
        if self.kind == "numeric":
            x = _as_float(values)
            out = np.searchsorted(np.asarray(self.edges), x, side="right")
            out[np.isnan(x)] = self.size - 1
            return out
        series = pd.Series(values)
        known = pd.Categorical(series.astype("object"), categories=list(self.categories)).codes
        codes = np.asarray(known, dtype=np.int64)
        codes[codes < 0] = len(self.categories)
        codes[series.isna().to_numpy()] = len(self.categories) + 1
        return codes

    def count(self, values: pd.Series | np.ndarray) -> np.ndarray:
        return np.bincount(self.codes(values), minlength=self.size).astype(np.int64)

    def to_metadata(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind}
        if self.kind == "numeric":
            out |= {"edges": list(self.edges), "centres": list(self.centres), "scale": self.scale}
        else:
            out["categories"] = list(self.categories)
        return out

    @classmethod
    def from_metadata(cls, data: Mapping[str, Any]) -> BinSpec:
        return cls(
            name=str(data["name"]),
            kind=str(data["kind"]),
            edges=tuple(float(v) for v in data.get("edges", ())),
            centres=tuple(float(v) for v in data.get("centres", ())),
            scale=float(data.get("scale", 1.0)),
            categories=tuple(str(v) for v in data.get("categories", ())),
        )


def _as_float(values: pd.Series | np.ndarray) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype.kind in "biuf":
        return array.astype(float, copy=False)
    return np.asarray(pd.to_numeric(pd.Series(values), errors="coerce"), dtype=float)


def numeric_spec(name: str, values: np.ndarray, bins: int) -> BinSpec:
    """Quantile bins of ``values``; ties collapse, so a 0/1 column gets two bins."""
    x = values[~np.isnan(values)]
    if x.size == 0:
        return BinSpec(name, "numeric", edges=(0.0,), centres=(0.0, 0.0), scale=1.0)
    lo, hi = float(x.min()), float(x.max())
    inner = np.quantile(x, np.linspace(0, 1, bins + 1)[1:-1])
    edges = np.unique(np.concatenate([[lo], inner, [np.nextafter(hi, np.inf)]]))
    # Centres: the mean of the training values in each bin; the empty outer bins sit at
    # the training minimum and maximum.
    idx = np.searchsorted(edges, x, side="right")
    sums = np.bincount(idx, weights=x, minlength=len(edges) + 1)
    counts = np.bincount(idx, minlength=len(edges) + 1)
    fallback = np.concatenate([[lo], (edges[:-1] + edges[1:]) / 2, [hi]])
    centres = np.where(counts > 0, sums / np.maximum(counts, 1), fallback)
    centres = np.maximum.accumulate(centres)
    std = float(x.std())
    return BinSpec(
        name,
        "numeric",
        edges=tuple(float(e) for e in edges),
        centres=tuple(float(c) for c in centres),
        scale=std if std > 0 else 1.0,
    )


def categorical_spec(name: str, values: pd.Series) -> BinSpec:
    counts = values.dropna().astype("object").astype(str).value_counts()
    kept = sorted(counts.index[:MAX_CATEGORIES])
    return BinSpec(name, "categorical", categories=tuple(kept))


@dataclass(frozen=True)
class SeasonPart:
    """The reference's bins counted over the frame of one more as-of date."""

    as_of: dt.date
    counts: dict[str, tuple[int, ...]]
    good_counts: dict[str, tuple[int, ...]]
    score_counts: tuple[int, ...]
    rows: int
    good_rows: int

    def to_metadata(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "rows": self.rows,
            "good_rows": self.good_rows,
            "counts": {k: list(v) for k, v in self.counts.items()},
            "good_counts": {k: list(v) for k, v in self.good_counts.items()},
            "score_counts": list(self.score_counts),
        }

    @classmethod
    def from_metadata(cls, data: Mapping[str, Any]) -> SeasonPart:
        return cls(
            as_of=dt.date.fromisoformat(str(data["as_of"])),
            counts={str(k): tuple(int(c) for c in v) for k, v in data["counts"].items()},
            good_counts={str(k): tuple(int(c) for c in v) for k, v in data["good_counts"].items()},
            score_counts=tuple(int(c) for c in data["score_counts"]),
            rows=int(data["rows"]),
            good_rows=int(data["good_rows"]),
        )


def calendar_distance(a: dt.date, b: dt.date) -> int:
    """Days between two dates' places in the year, across the year end (0 to 183)."""
    gap = abs(a.timetuple().tm_yday - b.timetuple().tm_yday)
    return min(gap, 365 - gap)


@dataclass(frozen=True)
class Ageing:
    """How the calendar features' reference was aged to the night of ``to``.

    The reference's parts of the as-of dates ``parts`` are combined with ``weights``
    (see :func:`_aged_shares`: a mixture between them, quantiles carried beyond), and
    the result counts as ``rows`` rows (``good_rows`` for the predicted-good bins): the
    rows whose sampling noise equals the noise of that weighted combination."""

    to: dt.date
    parts: tuple[dt.date, ...]
    weights: tuple[float, ...]
    rows: int
    good_rows: int

    @property
    def elapsed_days(self) -> int:
        """Days from the newest part used to the night (negative: the night is older)."""
        return (self.to - max(self.parts)).days

    def to_dict(self) -> dict[str, Any]:
        return {
            "to": self.to.isoformat(),
            "parts": [d.isoformat() for d in self.parts],
            "weights": list(self.weights),
            "elapsed_days": self.elapsed_days,
            "effective_rows": self.rows,
        }


def ageing_weights(dates: Sequence[dt.date], to: dt.date) -> tuple[float, ...]:
    """Weights of the parts of ``dates`` (ascending, distinct) on the straight line to
    ``to``: the two parts around ``to`` interpolated, or the two nearest at either end
    extrapolated; a part of ``to``'s own date alone.

    Only two parts take part: the book's ageing is not linear over a year (a lump of
    customers who predate the history moves out of the training range and stops
    moving the bins), so a line fitted through every part would be biased at the ends,
    while the two nearest follow the local rate."""
    if to in dates:
        return tuple(1.0 if d == to else 0.0 for d in dates)
    later = next((i for i, d in enumerate(dates) if d > to), len(dates))
    b = min(max(later, 1), len(dates) - 1)
    a = b - 1
    along = (to - dates[a]).days / (dates[b] - dates[a]).days
    out = [0.0] * len(dates)
    out[a], out[b] = 1.0 - along, along
    return tuple(out)


_LEVELS = (np.arange(1000) + 0.5) / 1000
"""Quantile levels at which a numeric feature's parts are carried to the night."""


def _quantiles(spec: BinSpec, counts: np.ndarray) -> np.ndarray:
    """The quantile function of binned ``counts`` at :data:`_LEVELS` (linear within each
    bin), the bins below the minimum and above the maximum as the outer edges' values
    just outside the range."""
    values = counts[:-1]
    total = float(values.sum())
    cdf = np.cumsum(values)[:-1] / (total if total > 0 else 1.0)  # share below each edge
    edges = np.asarray(spec.edges)
    # Of an empty bin's equal cumulative shares the last edge starts the next bin.
    keep = np.concatenate([np.diff(cdf) > 0, [True]])
    out = np.interp(_LEVELS, cdf[keep], edges[keep])
    out[cdf[0] > _LEVELS] = np.nextafter(edges[0], -np.inf)
    out[cdf[-1] <= _LEVELS] = edges[-1]
    return np.asarray(out)


def _aged_shares(spec: BinSpec, shares: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The parts' ``shares`` (one row each) carried to the night with ``weights``.

    Between two parts (no negative weight) the night is their mixture, which needs no
    value beyond the bins. Beyond them, a numeric feature's quantile functions are
    carried, each quantile along its line: a group of customers that ages a day a night
    moves a day a night, also out of the bins it held, where a line through the bin
    shares would overshoot as they empty; a quantile above the training maximum (whose
    value the bins do not keep) stays above it. The null share, and a categorical
    feature's shares, are carried as shares."""
    null = float(np.clip(weights @ shares[:, -1], 0.0, 1.0))
    if spec.kind != "numeric" or bool((weights >= 0).all()):
        out = np.clip(weights @ shares, 0.0, None)
        return np.asarray(out / max(float(out.sum()), 1e-12))
    quantiles = np.stack([_quantiles(spec, row) for row in shares])
    codes = spec.codes(weights @ quantiles)
    values = np.bincount(codes, minlength=spec.size)[:-1] / len(_LEVELS)
    return np.asarray(np.concatenate([values * (1.0 - null), [null]]))


def _aged_counts(
    spec: BinSpec, parts: Sequence[tuple[Sequence[int], int]], weights: Sequence[float]
) -> tuple[tuple[int, ...], int]:
    """The parts' counts carried to the night (:func:`_aged_shares`) as counts of the
    effective rows, and those rows: ``1 / sum(weight^2 / rows)``."""
    used = [(np.asarray(c, dtype=float), n, w) for (c, n), w in zip(parts, weights, strict=True)]
    used = [(c, n, w) for c, n, w in used if w != 0 and n > 0]
    if not used:
        return tuple(int(c) for c in parts[-1][0]), int(parts[-1][1])
    rows = max(round(1.0 / sum(w * w / n for _, n, w in used)), 1)
    shares = _aged_shares(
        spec, np.stack([c / n for c, n, _ in used]), np.array([w for _, _, w in used])
    )
    return tuple(int(c) for c in np.rint(shares * rows)), rows


@dataclass(frozen=True)
class DriftReference:
    """The training window as counts: every feature, the predicted-good rows, the score.

    ``good`` holds the same bins counted over the rows whose score reaches
    ``threshold``; ``importance`` (the bundle's permutation importance, when known)
    weighs each feature's drift when the drifted features are ranked. ``as_of`` is the
    training window's as-of date (None in references written before it was kept), and
    ``seasons`` the parts of other as-of dates (see :meth:`for_night`).
    """

    specs: tuple[BinSpec, ...]
    counts: dict[str, tuple[int, ...]]
    good_counts: dict[str, tuple[int, ...]]
    score: BinSpec
    score_counts: tuple[int, ...]
    threshold: float
    rows: int
    good_rows: int
    importance: dict[str, float]
    as_of: dt.date | None = None
    seasons: tuple[SeasonPart, ...] = ()
    ageing: tuple[str, ...] = ()
    """The features aged to the night's date (the declaration training saw)."""
    aged: Ageing | None = None
    """Set on the reference :meth:`for_night` returns when it aged ``ageing``."""

    @property
    def spec_by_name(self) -> dict[str, BinSpec]:
        return {s.name: s for s in self.specs}

    @property
    def part(self) -> str:
        """Which counts this reference compares with: its as-of date, or ``training``."""
        return self.as_of.isoformat() if self.as_of else "training"

    def season_for(self, as_of: dt.date) -> SeasonPart | None:
        """The part of ``as_of``'s season, or None for the training window.

        Of the training window and the parts that hold :data:`MIN_SEASON_ROWS` rows, the
        one nearest in the calendar (the training window, then the most recent part, of
        equally near ones); None also when even that one lies more than
        :data:`SEASON_DAYS` away: the night's season is not in the reference."""
        near = [p for p in self.seasons if p.rows >= MIN_SEASON_ROWS]
        if not near:
            return None
        best = min(near, key=lambda p: (calendar_distance(p.as_of, as_of), -p.as_of.toordinal()))
        gap = calendar_distance(best.as_of, as_of)
        if gap > SEASON_DAYS:
            return None
        if self.as_of is not None and calendar_distance(self.as_of, as_of) <= gap:
            return None
        return best

    def for_night(self, as_of: dt.date | None) -> DriftReference:
        """The reference a night of ``as_of`` is compared with: the counts of its season's
        part when there is one (same bins, threshold and importance), else the training
        window's; and the :attr:`ageing` features aged to ``as_of`` (:meth:`aged_to`),
        whatever the season. Without a date, the training window's as it is."""
        part = None if as_of is None else self.season_for(as_of)
        base = self
        if part is not None:
            base = replace(
                self,
                counts=part.counts,
                good_counts=part.good_counts,
                score_counts=part.score_counts,
                rows=part.rows,
                good_rows=part.good_rows,
                as_of=part.as_of,
                seasons=(),
            )
        return base if as_of is None else self.aged_to(as_of, base)

    def dated_parts(self) -> list[SeasonPart]:
        """The training window and the parts of :data:`MIN_SEASON_ROWS` rows, as parts of
        distinct as-of dates in date order (the training window first of a tie)."""
        parts: dict[dt.date, SeasonPart] = {}
        if self.as_of is not None:
            window = SeasonPart(
                self.as_of,
                self.counts,
                self.good_counts,
                self.score_counts,
                self.rows,
                self.good_rows,
            )
            parts[self.as_of] = window
        for p in self.seasons:
            if p.rows >= MIN_SEASON_ROWS:
                parts.setdefault(p.as_of, p)
        return [parts[d] for d in sorted(parts)]

    def aged_to(self, as_of: dt.date, base: DriftReference | None = None) -> DriftReference:
        """``base`` (default: this reference) with the :attr:`ageing` features' counts
        aged to ``as_of`` (see :class:`Ageing`); unchanged without such features or
        without two dated parts to read the ageing rate from."""
        base = self if base is None else base
        parts = self.dated_parts()
        names = [n for n in self.ageing if n in self.counts]
        if not names or len(parts) < 2:
            return base
        weights = ageing_weights([p.as_of for p in parts], as_of)
        counts, good_counts = dict(base.counts), dict(base.good_counts)
        rows = good_rows = 0
        specs = self.spec_by_name
        for name in names:
            counts[name], rows = _aged_counts(
                specs[name], [(p.counts[name], p.rows) for p in parts], weights
            )
            good_counts[name], good_rows = _aged_counts(
                specs[name], [(p.good_counts[name], p.good_rows) for p in parts], weights
            )
        kept = [(p.as_of, float(w)) for p, w in zip(parts, weights, strict=True) if w != 0]
        ageing = Ageing(
            to=as_of,
            parts=tuple(d for d, _ in kept),
            weights=tuple(w for _, w in kept),
            rows=rows,
            good_rows=good_rows,
        )
        return replace(base, counts=counts, good_counts=good_counts, aged=ageing)

    def to_metadata(self) -> dict[str, Any]:
        return {
            "version": 2,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "seasons": [p.to_metadata() for p in self.seasons],
            "ageing": list(self.ageing),
            "rows": self.rows,
            "good_rows": self.good_rows,
            "threshold": self.threshold,
            "features": [
                s.to_metadata()
                | {
                    "counts": list(self.counts[s.name]),
                    "good_counts": list(self.good_counts[s.name]),
                }
                for s in self.specs
            ],
            "score": self.score.to_metadata() | {"counts": list(self.score_counts)},
            "importance": dict(self.importance),
        }

    @classmethod
    def from_metadata(cls, data: Mapping[str, Any]) -> DriftReference:
        try:
            specs = tuple(BinSpec.from_metadata(f) for f in data["features"])
            return cls(
                specs=specs,
                counts={f["name"]: tuple(int(c) for c in f["counts"]) for f in data["features"]},
                good_counts={
                    f["name"]: tuple(int(c) for c in f["good_counts"]) for f in data["features"]
                },
                score=BinSpec.from_metadata(data["score"]),
                score_counts=tuple(int(c) for c in data["score"]["counts"]),
                threshold=float(data["threshold"]),
                rows=int(data["rows"]),
                good_rows=int(data["good_rows"]),
                importance={str(k): float(v) for k, v in data.get("importance", {}).items()},
                as_of=dt.date.fromisoformat(str(data["as_of"])) if data.get("as_of") else None,
                seasons=tuple(SeasonPart.from_metadata(p) for p in data.get("seasons", ())),
                ageing=_ageing_of(data, specs),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigurationError(
                f"the bundle's drift reference is unreadable ({exc!r}): it must be the "
                "'drift_reference' metadata that training writes; retrain the champion with "
                "this version to get one"
            ) from exc


def _ageing_of(data: Mapping[str, Any], specs: Sequence[BinSpec]) -> tuple[str, ...]:
    """The saved declaration; a reference written before it was kept ages what the
    feature code declares now (the features are the same code's)."""
    if "ageing" in data:
        return tuple(str(n) for n in data["ageing"])
    from customer_classifier.features.build import AGEING_FEATURES

    names = {s.name for s in specs}
    return tuple(n for n in AGEING_FEATURES if n in names)


def importance_weights(metadata: Mapping[str, Any] | None) -> dict[str, float]:
    """Per-feature permutation importance from a bundle's ``importance`` metadata."""
    if not metadata:
        return {}
    return {str(f["feature"]): max(float(f["mean"]), 0.0) for f in metadata.get("features", [])}


def build_reference(
    frame: pd.DataFrame,
    scores: np.ndarray,
    threshold: float,
    *,
    numeric: Sequence[str],
    categorical: Sequence[str],
    bins: int = 20,
    importance: Mapping[str, float] | None = None,
    as_of: dt.date | None = None,
    seasons: Mapping[dt.date, tuple[pd.DataFrame, np.ndarray]] | None = None,
    ageing: Sequence[str] = (),
) -> DriftReference:
    """Bin the training window ``frame`` and its ``scores`` at the model's ``threshold``.

    ``as_of``: the training window's as-of date; ``seasons``: frames of other as-of
    dates with their scores, counted over the training window's bins (one part each; a
    part of the training window's own date is left out, it is the window itself);
    ``ageing``: the features to age to a night's date (see :class:`Ageing`)."""
    if len(frame) != len(scores):
        raise ConfigurationError(
            f"{len(scores)} scores for {len(frame)} training rows: the drift reference needs "
            "one score per row; pass the scores of the same frame"
        )
    good = np.asarray(scores) >= threshold
    specs: list[BinSpec] = []
    counts: dict[str, tuple[int, ...]] = {}
    good_counts: dict[str, tuple[int, ...]] = {}
    for name in (*numeric, *categorical):
        if name in numeric:
            spec = numeric_spec(name, frame[name].to_numpy(dtype=float, na_value=np.nan), bins)
        else:
            spec = categorical_spec(name, frame[name])
        codes = spec.codes(frame[name])
        specs.append(spec)
        counts[name] = tuple(int(c) for c in np.bincount(codes, minlength=spec.size))
        good_counts[name] = tuple(int(c) for c in np.bincount(codes[good], minlength=spec.size))
    score_values = np.asarray(scores, dtype=float)
    score_spec = numeric_spec("score", score_values, bins)
    dated = dict(seasons or {})
    parts = tuple(
        season_part(day, specs, score_spec, threshold, *dated[day])
        for day in sorted(dated)
        if day != as_of
    )
    return DriftReference(
        specs=tuple(specs),
        counts=counts,
        good_counts=good_counts,
        score=score_spec,
        score_counts=tuple(int(c) for c in score_spec.count(score_values)),
        threshold=float(threshold),
        rows=len(frame),
        good_rows=int(good.sum()),
        importance=dict(importance or {}),
        as_of=as_of,
        seasons=parts,
        ageing=tuple(n for n in ageing if n in counts),
    )


def season_part(
    as_of: dt.date,
    specs: Sequence[BinSpec],
    score_spec: BinSpec,
    threshold: float,
    frame: pd.DataFrame,
    scores: np.ndarray,
) -> SeasonPart:
    """The counts of one more as-of date's ``frame`` over the training window's bins."""
    if len(frame) != len(scores):
        raise ConfigurationError(
            f"{len(scores)} scores for {len(frame)} rows of the {as_of} frame: each season's "
            "part needs one score per row; pass the scores of the same frame"
        )
    good = np.asarray(scores) >= threshold
    counts: dict[str, tuple[int, ...]] = {}
    good_counts: dict[str, tuple[int, ...]] = {}
    for spec in specs:
        codes = spec.codes(frame[spec.name])
        counts[spec.name] = tuple(int(c) for c in np.bincount(codes, minlength=spec.size))
        good_counts[spec.name] = tuple(
            int(c) for c in np.bincount(codes[good], minlength=spec.size)
        )
    return SeasonPart(
        as_of=as_of,
        counts=counts,
        good_counts=good_counts,
        score_counts=tuple(int(c) for c in score_spec.count(np.asarray(scores, dtype=float))),
        rows=len(frame),
        good_rows=int(good.sum()),
    )


def training_reference(
    model: Any,
    frame: pd.DataFrame,
    threshold: float,
    importance: Mapping[str, Any] | None,
    bins: int,
    *,
    as_of: dt.date | None = None,
    seasons: Mapping[dt.date, pd.DataFrame] | None = None,
) -> dict[str, Any]:
    """The bundle's ``drift_reference``: the training window scored by the chosen model
    (calibrated, as the nightly scores are), binned over the schema's features.

    ``as_of`` is the training window's as-of date and ``seasons`` the frames of the
    other as-of dates training has (the validation and test windows), each scored by the
    same model: a night of their season is compared with them, and together they give
    the book's ageing rate for the declared calendar features (see
    :meth:`DriftReference.for_night`)."""
    from customer_classifier.features.build import (
        AGEING_FEATURES,
        CATEGORICAL_FEATURES,
        FEATURE_NAMES,
        NUMERIC_FEATURES,
    )

    def score(rows: pd.DataFrame) -> np.ndarray:
        return np.asarray(model.predict_proba(rows[list(FEATURE_NAMES)])[:, 1], dtype=float)

    scores = score(frame)
    return build_reference(
        frame,
        scores,
        threshold,
        numeric=NUMERIC_FEATURES,
        categorical=CATEGORICAL_FEATURES,
        bins=bins,
        importance=importance_weights(importance),
        as_of=as_of,
        seasons={day: (rows, score(rows)) for day, rows in (seasons or {}).items()},
        ageing=AGEING_FEATURES,
    ).to_metadata()
