"""The model's feature record, derived from a customer's attributes and sales aggregates.

This is the one definition of the features: training, nightly scoring and the online
predictor all call :func:`build_features` (or validate a record against
:data:`FEATURE_SCHEMA`), so there is no training-serving skew.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from customer_classifier.data.contract import CATEGORIES, CHANNELS, COUNTRIES, SEGMENTS
from customer_classifier.features.aggregates import WINDOWS


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    kind: str  # "numeric" or "categorical"
    minimum: float | None = None
    maximum: float | None = None
    categories: tuple[str, ...] | None = None
    description: str = ""
    open_vocabulary: bool = False
    """The contract allows any value (country: any ISO code). ``categories`` then lists
    the values the code knows; a version also accepts those its training window held."""


_COUNTS = [f"orders_{w}d" for w in WINDOWS] + ["returns_365d", "units_365d", "orders_total"]
_MONEY = [f"spend_{w}d" for w in WINDOWS] + ["spend_total"]

FEATURE_SCHEMA: tuple[FeatureSpec, ...] = (
    FeatureSpec("tenure_days", "numeric", 0, 36_500, description="Days since signup."),
    FeatureSpec("age", "numeric", 0, 130, description="Age of the account holder; may be null."),
    FeatureSpec("loyalty_member", "numeric", 0, 1),
    FeatureSpec("days_since_last_purchase", "numeric", 0, 36_500),
    FeatureSpec("days_since_first_purchase", "numeric", 0, 36_500),
    *(FeatureSpec(name, "numeric", 0, 1e7) for name in _COUNTS),
    *(FeatureSpec(name, "numeric", 0, 1e10) for name in _MONEY),
    FeatureSpec("avg_order_value_365d", "numeric", 0, 1e9),
    FeatureSpec("return_rate_365d", "numeric", 0, 1),
    FeatureSpec(
        "spend_trend",
        "numeric",
        0,
        4,
        description="90-day spend over a quarter of the 365-day spend.",
    ),
    *(FeatureSpec(f"share_{c}", "numeric", 0, 1) for c in CATEGORIES),
    FeatureSpec("country", "categorical", categories=COUNTRIES, open_vocabulary=True),
    FeatureSpec("segment", "categorical", categories=SEGMENTS),
    FeatureSpec("acquisition_channel", "categorical", categories=CHANNELS),
)
FEATURE_NAMES = tuple(f.name for f in FEATURE_SCHEMA)
NUMERIC_FEATURES = tuple(f.name for f in FEATURE_SCHEMA if f.kind == "numeric")
CATEGORICAL_FEATURES = tuple(f.name for f in FEATURE_SCHEMA if f.kind == "categorical")
AGEING_FEATURES = ("tenure_days", "age", "days_since_first_purchase", "orders_total", "spend_total")
"""Features that advance with the calendar for a customer who stays: the time since
signup and since the first purchase, the holder's age, and the lifetime totals. A book
whose history starts on a fixed date grows older night after night, so their
distributions move with the scoring date alone; the drift check ages their reference to
the night's date before comparing (see :mod:`customer_classifier.monitoring.reference`).
Windowed figures (the 30/90/365-day counts and spend) and the days since the last
purchase (reset by every purchase, capped by the active window) do not age."""
NULLABLE_FEATURES = (
    "age",
    "country",
    "acquisition_channel",
    "days_since_last_purchase",
    "days_since_first_purchase",
)


def expected_value(
    numeric: bool,
    minimum: float | None,
    maximum: float | None,
    categories: Sequence[str],
    nullable: bool,
) -> str:
    """What a feature accepts, in the words of a refusal: the online predictor's 400 and
    nightly scoring's refused-record findings say the same."""
    if numeric:
        low = "-inf" if minimum is None else f"{minimum:g}"
        high = "inf" if maximum is None else f"{maximum:g}"
        what = f"a finite number from {low} to {high}"
    else:
        what = "one of " + ", ".join(repr(c) for c in categories)
    return what + (" or null" if nullable else " (never null)")


def observed_vocabularies(frame: pd.DataFrame) -> dict[str, tuple[str, ...]]:
    """Per open-vocabulary feature: the code's categories, then every other value the
    frame (a training window) holds, sorted. A version records these as what it accepts,
    so an organisation's own countries are served and scored, not refused."""
    out: dict[str, tuple[str, ...]] = {}
    for spec in FEATURE_SCHEMA:
        if not spec.open_vocabulary or spec.name not in frame:
            continue
        known = tuple(spec.categories or ())
        seen = {str(v) for v in frame[spec.name].dropna().unique()} - set(known)
        out[spec.name] = (*known, *sorted(seen))
    return out


def _days_between(later: pd.Timestamp, earlier: pd.Series) -> pd.Series:
    return (later - pd.to_datetime(earlier)).dt.total_seconds() / 86_400.0


def build_features(
    customers: pd.DataFrame, aggregates: pd.DataFrame, as_of: dt.date, active_window_days: int
) -> pd.DataFrame:
    """Feature records (index: customer_id) of the customers active at ``as_of``.

    Active: signed up on or before the as-of date and bought within the active window.
    """
    ts = pd.Timestamp(as_of)
    merged = customers.merge(aggregates, on="customer_id", how="inner")
    signup = pd.to_datetime(merged["signup_date"])
    active = (signup <= ts) & (merged["sales_active_window"] > 0)
    merged = merged.loc[active.to_numpy()].reset_index(drop=True)
    out = pd.DataFrame(index=pd.Index(merged["customer_id"].astype("int64"), name="customer_id"))
    out["tenure_days"] = _days_between(ts, merged["signup_date"]).clip(lower=0).to_numpy()
    birth = pd.to_numeric(merged["birth_year"], errors="coerce").astype("float64")
    out["age"] = (as_of.year - birth).to_numpy()
    out["loyalty_member"] = merged["loyalty_member"].astype("float64").to_numpy()
    out["days_since_last_purchase"] = _days_between(ts, merged["last_purchase_at"]).to_numpy()
    out["days_since_first_purchase"] = _days_between(ts, merged["first_purchase_at"]).to_numpy()
    for col in (*_COUNTS, *_MONEY):
        out[col] = merged[col].astype("float64").to_numpy()
    orders = merged["orders_365d"].astype("float64").to_numpy()
    spend = merged["spend_365d"].astype("float64").to_numpy()
    returns = merged["returns_365d"].astype("float64").to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        out["avg_order_value_365d"] = np.where(orders > 0, spend / orders, 0.0)
        out["return_rate_365d"] = np.where(orders + returns > 0, returns / (orders + returns), 0.0)
        quarter = spend / 4.0
        out["spend_trend"] = np.where(
            quarter > 0, np.clip(merged["spend_90d"].to_numpy(dtype=float) / quarter, 0, 4), 0.0
        )
        for c in CATEGORIES:
            part = merged[f"spend_365d_{c}"].to_numpy(dtype=float)
            out[f"share_{c}"] = np.where(spend > 0, part / spend, 0.0)
    for col in CATEGORICAL_FEATURES:
        values = merged[col].astype(object)
        out[col] = values.where(values.notna(), None).to_numpy()
    return out[list(FEATURE_NAMES)]
