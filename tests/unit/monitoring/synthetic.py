"""Small synthetic feature frames with the shape of the real ones, for the drift tests.

A latent customer quality drives counts, amounts and the score, so features correlate
as they do in the generated data; the scenario knobs change one thing each.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CHANNELS = ("ads", "organic", "partner", "referral", "social")
SEGMENTS = ("consumer", "small_business", "enterprise")
COUNTRIES = ("DE", "FR", "IT", "NL", "ES", "AT", "BE", "PL")
AMOUNTS = (*(f"spend_{w}d" for w in (30, 90, 180, 365)), "spend_total")
COUNTS = (*(f"orders_{w}d" for w in (30, 90, 180, 365)), "orders_total")
SHARES = tuple(f"share_{c}" for c in ("books", "electronics", "home", "fashion", "toys"))
NUMERIC = (
    "tenure_days",
    "age",
    "loyalty_member",
    "days_since_last_purchase",
    "days_since_first_purchase",
    *COUNTS,
    *AMOUNTS,
    "returns_365d",
    "avg_order_value_365d",
    "return_rate_365d",
    "spend_trend",
    *SHARES,
    "units_365d",
    "units_total",
    "returns_total",
)
CATEGORICAL = ("country", "segment", "acquisition_channel")
THRESHOLD = 0.6


def night(
    seed: int,
    rows: int,
    *,
    shift: float = 0.0,
    ads_share: float = 0.40,
    stuck: str | None = None,
    unit: float = 1.0,
    season: float = 1.0,
) -> tuple[pd.DataFrame, np.ndarray]:
    """One batch and its scores.

    ``shift`` lowers the latent quality (covariate drift of tenure, orders and spend),
    ``ads_share`` moves the channel mix, ``stuck`` pins one column at its first value,
    ``unit`` multiplies the amounts (a feed sending cents), ``season`` scales the recent
    activity as the yearly wave does.
    """
    rng = np.random.default_rng(seed)
    q = rng.normal(-shift, 1.0, rows)
    out: dict[str, np.ndarray] = {}
    out["tenure_days"] = rng.gamma(2.0, 300.0 * np.exp(0.3 * q))
    age = rng.integers(18, 85, rows).astype(float)
    age[rng.random(rows) < 0.1] = np.nan
    out["age"] = age
    out["loyalty_member"] = (rng.random(rows) < 0.3).astype(float)
    out["days_since_last_purchase"] = rng.exponential(60.0 * np.exp(-0.4 * q))
    out["days_since_first_purchase"] = out["tenure_days"] * rng.uniform(0.5, 1.0, rows)
    rate = np.exp(0.5 * q)
    # Nested windows: each count adds the orders of the days the shorter one lacks.
    total = np.zeros(rows)
    previous = 0
    for w, name in zip((30, 90, 180, 365, 1000), COUNTS, strict=True):
        factor = season if w <= 90 else 1.0
        total = total + rng.poisson(rate * (w - previous) / 60 * factor)
        out[name] = total.astype(float)
        previous = w
    value = rng.lognormal(3.5 + 0.2 * q, 0.6)
    for counts, name in zip(COUNTS, AMOUNTS, strict=True):
        out[name] = out[counts] * value * unit
    out["returns_365d"] = rng.binomial(out["orders_365d"].astype(int), 0.08).astype(float)
    out["avg_order_value_365d"] = out["spend_365d"] / np.maximum(out["orders_365d"], 1)
    out["return_rate_365d"] = out["returns_365d"] / np.maximum(out["orders_365d"], 1)
    out["spend_trend"] = out["spend_90d"] / np.maximum(out["spend_365d"] / 4, 1.0)
    mix = rng.dirichlet(np.ones(len(SHARES)), rows)
    for j, name in enumerate(SHARES):
        out[name] = mix[:, j]
    out["units_365d"] = out["orders_365d"] * rng.integers(1, 4, rows)
    out["units_total"] = out["orders_total"] * rng.integers(1, 4, rows)
    out["returns_total"] = rng.binomial(out["orders_total"].astype(int), 0.08).astype(float)
    frame = pd.DataFrame(out)
    frame["country"] = rng.choice(COUNTRIES, rows)
    frame["segment"] = rng.choice(SEGMENTS, rows, p=(0.7, 0.22, 0.08))
    rest = (1 - ads_share) / (len(CHANNELS) - 1)
    frame["acquisition_channel"] = rng.choice(
        CHANNELS, rows, p=(ads_share, *(rest,) * (len(CHANNELS) - 1))
    )
    if stuck is not None:
        frame[stuck] = frame[stuck].iloc[0]
    ads = (frame["acquisition_channel"] == "ads").to_numpy()
    logit = 1.2 * q - 0.6 * ads + rng.normal(0, 0.5, rows)
    scores = 1 / (1 + np.exp(-logit))
    return frame, scores
