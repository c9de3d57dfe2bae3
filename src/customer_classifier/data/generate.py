"""A synthetic Master Data database with a real, learnable signal.

Each customer has a hidden *quality* that drives how often they buy, how much they
spend, how soon they churn and how often they return goods; segment, channel, loyalty
and age shift it. Past behaviour therefore predicts future spend (the label) without
revealing it. Sales follow yearly seasonality with a year-end peak. Everything is drawn
from one seeded generator, so the same config gives the same tables.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd

from customer_classifier.data.contract import CATEGORIES, CHANNELS, COUNTRIES, SEGMENTS

Corruption = Literal[
    "missing_column",
    "wrong_type",
    "null_burst",
    "duplicate_ids",
    "orphan_sales",
    "negative_amounts",
    "future_dates",
    "future_signups",
    "empty_table",
]
CORRUPTIONS: tuple[Corruption, ...] = (
    "missing_column",
    "wrong_type",
    "null_burst",
    "duplicate_ids",
    "orphan_sales",
    "negative_amounts",
    "future_dates",
    "future_signups",
    "empty_table",
)


@dataclass(frozen=True)
class GeneratorConfig:
    n_customers: int = 20_000
    sales_per_customer: float = 12.0
    """Mean number of sales per customer over the whole history."""
    start: dt.date = dt.date(2023, 1, 1)
    end: dt.date = dt.date(2026, 6, 30)
    """Last day with sales; the default scoring date is the day after."""
    seed: int = 7
    drift: float = 0.0
    """0 = none; above 0 raises prices and worsens new customers in the last 120 days."""
    drift_days: int = 120
    bias: float = 0.0
    """0 = none; above 0, a planted unfairness: in the small-business segment, customers
    aged 30 and over buy nothing, in each of the last quarters, with this probability,
    whatever their past. Their labels then depend on their age within that segment, a
    model learns it from the age feature, and the fairness figures must show it."""
    bias_quarter_days: int = 90
    bias_quarters: int = 3
    """The planted bias acts over the last ``bias_quarters`` periods of
    ``bias_quarter_days`` before ``end``: by default the label windows of training,
    validation and test (90 days each), so that each window's labels carry it."""
    stuck_column: str | None = None
    """A broken master-data feed: this Customers column (e.g. ``acquisition_channel``,
    ``segment``, ``birth_year``) holds its first customer's value for every customer.
    None (the default): no fault."""
    amount_unit: float = 1.0
    """A broken sales feed: amounts of the last ``feed_fault_days`` days multiplied by
    this (100: the feed sends cents where euros are expected). 1 (the default): none."""
    feed_fault_days: int = 30
    """How many days before ``end`` the sales-feed fault (``amount_unit``) has lasted."""
    concept_drift: float = 0.0
    """0 = none; above 0, concept drift: over the last ``concept_days`` before ``end``,
    customers buy as if their hidden quality were partly another one, drawn independently
    (weight ``concept_drift``, 1: wholly), while everything before stays as it was. The
    same features then promise more spend than comes: the good customers buy less, so
    fewer of them reach the label rule. Score a night ``concept_days`` before ``end`` to
    see it in the early labels of its still open label window."""
    concept_days: int = 30
    prior_shift: float = 0.0
    """0 = none; above 0, a prior shift: every customer's hidden quality is this much
    higher (more good customers), and their behaviour, hence their features, follows it as
    it would for such customers; the relation of quality to behaviour is unchanged. It
    acts on the whole history: score its data with a model trained on data without it."""
    acquisition_burst: float = 0.0
    """0 = none; above 0, a burst of new customers: this share of the customers signed up
    within the last ``burst_days`` before the newest possible signup (30 days before
    ``end``) instead of at their drawn date. Their quality and behaviour are drawn as
    for any customer, so the book's age mix alone changes: younger tenure, later first
    purchases, smaller lifetime totals. Its draws come from a generator of their own, so
    that without it the tables are the same."""
    burst_days: int = 90
    transactions_only: bool = False
    """Keep only what a bare transaction feed has: no country, channel or birth year, one
    segment, nobody in the loyalty programme, one product category. The sales themselves
    (dates, amounts, returns) are drawn exactly as without it."""


@dataclass(frozen=True)
class MasterData:
    customers: pd.DataFrame
    sales: pd.DataFrame


_SEGMENT_P = (0.70, 0.22, 0.08)
_SEGMENT_EFFECT = np.array([0.0, 0.25, 0.45])
_COUNTRY_P = (0.25, 0.15, 0.10, 0.10, 0.10, 0.12, 0.10, 0.08)
_CHANNEL_P = (0.40, 0.20, 0.12, 0.10, 0.18)
_CHANNEL_EFFECT = np.array([0.0, 0.1, 0.35, 0.2, -0.35])
BIASED_SEGMENT = "small_business"
BIASED_MIN_AGE = 30
"""Who the planted bias (``GeneratorConfig.bias``) affects: customers of this segment
aged at least this many years at the end of the history."""


def _seasonal_weights(days: pd.DatetimeIndex) -> np.ndarray:
    """Relative sales intensity per day: a yearly wave, a year-end peak, quieter Sundays."""
    doy = days.dayofyear.to_numpy()
    wave = 1.0 + 0.25 * np.sin(2 * np.pi * (doy - 100) / 365.25)
    peak = np.where((days.month == 11) & (days.day >= 20) | (days.month == 12), 1.6, 1.0)
    weekly = np.where(days.dayofweek == 6, 0.6, 1.0)
    return np.asarray(wave * peak * weekly, dtype=float)


def generate(config: GeneratorConfig = GeneratorConfig()) -> MasterData:
    """Draw the Customers and Sales tables for ``config``."""
    rng = np.random.default_rng(config.seed)
    n = config.n_customers
    days = pd.date_range(config.start, config.end, freq="D")
    n_days = len(days)

    # Customers -----------------------------------------------------------------------
    signup_offset = rng.integers(-365, n_days - 30, size=n)  # some predate the sales history
    if config.acquisition_burst > 0:
        signup_offset = _burst(config, signup_offset, n_days - 30)
    segment_idx = rng.choice(len(SEGMENTS), size=n, p=_SEGMENT_P)
    channel_idx = rng.choice(len(CHANNELS), size=n, p=_CHANNEL_P)
    country_idx = rng.choice(len(COUNTRIES), size=n, p=_COUNTRY_P)
    loyalty = rng.random(n) < 0.3
    birth_year = rng.integers(1945, 2006, size=n).astype(float)
    age_effect = -0.01 * np.abs((2026 - birth_year) - 45)

    drift_start = n_days - config.drift_days
    late_signup = signup_offset >= drift_start
    if config.drift > 0:
        # New customers come mostly through ads and are worse.
        switch = late_signup & (rng.random(n) < config.drift)
        channel_idx = np.where(switch, CHANNELS.index("ads"), channel_idx)

    quality = (
        rng.normal(0.0, 1.0, size=n)
        + _SEGMENT_EFFECT[segment_idx]
        + _CHANNEL_EFFECT[channel_idx]
        + 0.4 * loyalty
        + age_effect
        - (config.drift * late_signup)
    )
    if config.prior_shift != 0.0:
        quality = quality + config.prior_shift

    # Activity window: from signup (or the start of history) until churn.
    life_days = rng.exponential(600.0 * np.exp(0.6 * quality))
    first_day = np.clip(signup_offset, 0, n_days - 1)
    last_day = np.clip(signup_offset + life_days, 0, n_days - 1).astype(np.int64)
    last_day = np.maximum(last_day, first_day)

    # Sales ----------------------------------------------------------------------------
    weights = _seasonal_weights(days)
    cum = np.concatenate([[0.0], np.cumsum(weights)])
    exposure = cum[last_day + 1] - cum[first_day]  # seasonal-weighted active days
    rate = np.exp(0.7 * quality)
    rate *= config.sales_per_customer * n / float(np.sum(rate * exposure))
    if config.prior_shift != 0.0:
        # The mean rate is set for the customers without the shift: better customers
        # buy more often, not the same total spread over them.
        rate *= np.exp(0.7 * config.prior_shift)
    n_sales = rng.poisson(rate * exposure)
    total = int(n_sales.sum())

    owner = np.repeat(np.arange(n), n_sales)
    u = rng.uniform(cum[first_day][owner], cum[last_day + 1][owner])
    day_idx = np.clip(np.searchsorted(cum, u, side="right") - 1, 0, n_days - 1)
    seconds = rng.integers(8 * 3600, 22 * 3600, size=total)
    sold_at = days.to_numpy()[day_idx] + seconds.astype("timedelta64[s]")

    q = quality[owner]
    log_mean = (
        np.log(35.0) + 0.3 * q + 0.9 * (segment_idx[owner] == 2) + 0.4 * (segment_idx[owner] == 1)
    )
    amount = rng.lognormal(log_mean, 0.6)
    if config.drift > 0:
        amount = np.where(day_idx >= drift_start, amount * (1.0 + config.drift), amount)
    quantity = 1 + rng.poisson(np.clip(amount / 60.0, 0.0, 20.0))
    if config.amount_unit != 1.0:
        # After the quantities: the fault is in the feed's unit, not in what was bought.
        faulty = day_idx >= n_days - config.feed_fault_days
        amount = np.where(faulty, amount * config.amount_unit, amount)
    cat_logits = rng.normal(0.0, 1.0, size=(n, len(CATEGORIES)))
    cat_logits[:, 0] += 0.5 * quality  # better customers buy more electronics
    cat_logits[:, 3] -= 0.5 * quality  # ... and less grocery
    cat_p = np.exp(cat_logits)
    cat_p /= cat_p.sum(axis=1, keepdims=True)
    cat_cum = np.cumsum(cat_p, axis=1)[owner]
    category_idx = np.minimum(
        (rng.random(total)[:, None] > cat_cum).sum(axis=1), len(CATEGORIES) - 1
    )
    returned = rng.random(total) < 1.0 / (1.0 + np.exp(2.6 + 0.7 * q))

    affected = (segment_idx == SEGMENTS.index(BIASED_SEGMENT)) & (
        config.end.year - birth_year >= BIASED_MIN_AGE
    )
    keep = _not_quiet(config, affected, owner, n_days - 1 - day_idx)
    keep &= _concept_kept(config, quality, owner, n_days - 1 - day_idx)
    order = np.argsort(sold_at, kind="stable")
    order = order[keep[order]]
    sales = pd.DataFrame(
        {
            "sale_id": np.arange(1, len(order) + 1, dtype=np.int64),
            "customer_id": (owner[order] + 1).astype(np.int64),
            "sold_at": sold_at[order],
            "amount": np.round(amount[order], 2),
            "quantity": quantity[order].astype(np.int64),
            "product_category": pd.Categorical.from_codes(category_idx[order], CATEGORIES),
            "returned": returned[order],
        }
    )

    signup_date = pd.Timestamp(config.start) + pd.to_timedelta(signup_offset, unit="D")
    customers = pd.DataFrame(
        {
            "customer_id": np.arange(1, n + 1, dtype=np.int64),
            "signup_date": signup_date.date,
            "country": pd.Categorical.from_codes(country_idx, COUNTRIES).astype(object),
            "segment": pd.Categorical.from_codes(segment_idx, SEGMENTS).astype(object),
            "acquisition_channel": pd.Categorical.from_codes(channel_idx, CHANNELS).astype(object),
            "birth_year": birth_year,
            "loyalty_member": loyalty,
        }
    )
    # Missing values, as in real master data.
    customers.loc[rng.random(n) < 0.01, "country"] = None
    customers.loc[rng.random(n) < 0.03, "acquisition_channel"] = None
    customers.loc[rng.random(n) < 0.10, "birth_year"] = np.nan
    customers["birth_year"] = customers["birth_year"].astype("Int64")
    sales["product_category"] = sales["product_category"].astype(object)
    if config.transactions_only:
        customers, sales = _transactions_only(customers, sales)
    if config.stuck_column is not None:
        if config.stuck_column not in customers.columns or config.stuck_column == "customer_id":
            raise ValueError(
                f"stuck_column {config.stuck_column!r} is not a Customers attribute; "
                f"choose one of {[c for c in customers.columns if c != 'customer_id']}"
            )
        customers[config.stuck_column] = customers[config.stuck_column].iloc[0]
    return MasterData(customers=customers, sales=sales)


def _burst(config: GeneratorConfig, signup_offset: np.ndarray, newest: int) -> np.ndarray:
    """Signup offsets with ``acquisition_burst`` of the customers moved into the last
    ``burst_days`` before ``newest`` (exclusive), drawn from a generator of their own."""
    rng = np.random.default_rng([config.seed, 3])
    moved = rng.random(len(signup_offset)) < config.acquisition_burst
    late = rng.integers(max(newest - config.burst_days, 0), newest, size=len(signup_offset))
    out: np.ndarray = np.where(moved, late, signup_offset)
    return out


def _not_quiet(
    config: GeneratorConfig,
    affected: np.ndarray,
    owner: np.ndarray,
    days_before_end: np.ndarray,
) -> np.ndarray:
    """Which sales survive the planted bias: all of them when ``bias`` is 0.

    In each of the last ``bias_quarters`` quarters, each affected customer buys nothing
    with probability ``bias``, independently of the quarters before: a customer who was
    active last quarter is as likely to go quiet as any other, so only the group tells a
    model who will. Its draws come from a generator of their own: the rest of the tables
    is the same with and without it.
    """
    if config.bias <= 0:
        return np.ones(len(owner), dtype=bool)
    rng = np.random.default_rng([config.seed, 1])
    quarter = days_before_end // config.bias_quarter_days
    quiet = rng.random((len(affected), config.bias_quarters)) < config.bias
    recent = quarter < config.bias_quarters
    hit = np.zeros(len(owner), dtype=bool)
    hit[recent] = quiet[owner[recent], quarter[recent]]
    out: np.ndarray = ~(affected[owner] & hit)
    return out


def _concept_kept(
    config: GeneratorConfig,
    quality: np.ndarray,
    owner: np.ndarray,
    days_before_end: np.ndarray,
) -> np.ndarray:
    """Which sales survive the concept drift: all of them when ``concept_drift`` is 0.

    Over the last ``concept_days``, a customer buys at the rate of the quality ``(1 - c)
    q + c q'``, with ``q'`` an independent draw, instead of ``q``: each of their sales
    there is kept with the ratio of the two rates, capped at one (a customer whose new
    quality is higher keeps their sales; none are added). Its draws come from a generator
    of their own, so the rest of the tables is the same with and without it.
    """
    if config.concept_drift <= 0:
        return np.ones(len(owner), dtype=bool)
    rng = np.random.default_rng([config.seed, 2])
    other = rng.normal(0.0, 1.0, size=len(quality))
    ratio = np.minimum(1.0, np.exp(0.7 * config.concept_drift * (other - quality)))
    window = days_before_end < config.concept_days
    draws = rng.random(len(owner))
    out: np.ndarray = ~window | (draws < ratio[owner])
    return out


def _transactions_only(
    customers: pd.DataFrame, sales: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    customers = customers.assign(
        country=None,
        acquisition_channel=None,
        birth_year=pd.array([pd.NA] * len(customers), dtype="Int64"),
        segment=SEGMENTS[0],
        loyalty_member=False,
    )
    return customers, sales.assign(product_category=CATEGORIES[0])


def corrupt(data: MasterData, kind: Corruption, seed: int = 0) -> MasterData:
    """A copy of ``data`` with one kind of corruption that verification must block."""
    rng = np.random.default_rng(seed)
    customers, sales = data.customers.copy(), data.sales.copy()
    if kind == "missing_column":
        sales = sales.drop(columns=["amount"])
    elif kind == "wrong_type":
        sales["amount"] = sales["amount"].map(lambda v: f"{v:.2f} EUR")
    elif kind == "null_burst":
        customers.loc[rng.random(len(customers)) < 0.4, "segment"] = None
    elif kind == "duplicate_ids":
        customers = pd.concat(
            [customers, customers.sample(n=max(1, len(customers) // 50), random_state=seed)]
        )
    elif kind == "orphan_sales":
        picked = rng.random(len(sales)) < 0.02
        sales.loc[picked, "customer_id"] = sales["customer_id"].max() + 10_000_000
    elif kind == "negative_amounts":
        picked = rng.random(len(sales)) < 0.02
        sales.loc[picked, "amount"] = -sales.loc[picked, "amount"]
    elif kind == "future_dates":
        picked = rng.random(len(sales)) < 0.02
        sales.loc[picked, "sold_at"] = sales.loc[picked, "sold_at"] + pd.Timedelta(days=3650)
    elif kind == "future_signups":
        picked = rng.random(len(customers)) < 0.02
        signup = pd.to_datetime(customers.loc[picked, "signup_date"]) + pd.Timedelta(days=3650)
        customers.loc[picked, "signup_date"] = signup.dt.date
    elif kind == "empty_table":
        sales = sales.iloc[0:0]
    else:  # pragma: no cover - guarded by the Literal type and the CLI
        raise ValueError(f"unknown corruption {kind!r}; choose from {CORRUPTIONS}")
    return replace(data, customers=customers, sales=sales)
