"""The synthetic generator: deterministic, realistic (imbalanced labels, missing values)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from customer_classifier.data.contract import CATEGORIES, CHANNELS, COUNTRIES, SEGMENTS
from customer_classifier.data.generate import (
    CORRUPTIONS,
    GeneratorConfig,
    MasterData,
    corrupt,
    generate,
)

SMALL = GeneratorConfig(n_customers=400, seed=3)


def test_same_seed_gives_identical_tables() -> None:
    first, second = generate(SMALL), generate(SMALL)
    pd.testing.assert_frame_equal(first.customers, second.customers)
    pd.testing.assert_frame_equal(first.sales, second.sales)


def test_different_seed_gives_different_tables() -> None:
    first, other = generate(SMALL), generate(replace(SMALL, seed=SMALL.seed + 1))
    assert not first.customers.equals(other.customers)
    assert not first.sales.equals(other.sales)


def test_tables_follow_the_contract(master_data: MasterData) -> None:
    customers, sales = master_data.customers, master_data.sales
    assert customers["customer_id"].is_unique
    assert sales["sale_id"].is_unique
    assert sales["customer_id"].isin(customers["customer_id"]).all()
    assert (sales["amount"] > 0).all()
    assert (sales["quantity"] >= 1).all()
    assert set(sales["product_category"]) <= set(CATEGORIES)
    assert set(customers["segment"]) <= set(SEGMENTS)
    assert set(customers["country"].dropna()) <= set(COUNTRIES)
    assert set(customers["acquisition_channel"].dropna()) <= set(CHANNELS)
    config = GeneratorConfig()  # the session database uses the default history
    assert sales["sold_at"].min() >= pd.Timestamp(config.start)
    assert sales["sold_at"].max() < pd.Timestamp(config.end + dt.timedelta(days=1))
    assert sales["sold_at"].is_monotonic_increasing
    assert 0 < sales["returned"].mean() < 0.5


def test_missing_values_are_present_within_the_contract_limits(master_data: MasterData) -> None:
    nulls = master_data.customers.isna().mean()
    for column in ("country", "acquisition_channel", "birth_year"):
        assert 0 < nulls[column] < 0.25, column
    for column in ("customer_id", "signup_date", "segment", "loyalty_member"):
        assert nulls[column] == 0, column
    assert not master_data.sales.isna().any().any()


def test_labels_are_imbalanced_but_hold_both_classes(master_data: MasterData) -> None:
    """The default label rule (spend >= 250 in the next 90 days), computed with pandas."""
    sales = master_data.sales
    as_of = pd.Timestamp(2026, 4, 1)
    past = sales[(sales["sold_at"] < as_of) & (sales["sold_at"] >= as_of - pd.Timedelta(days=365))]
    active = past["customer_id"].unique()
    future = sales[
        (sales["sold_at"] >= as_of)
        & (sales["sold_at"] < as_of + pd.Timedelta(days=90))
        & ~sales["returned"]
    ]
    spend = future.groupby("customer_id")["amount"].sum().reindex(active).fillna(0.0)
    good_rate = float((spend >= 250.0).mean())
    assert len(active) > 1000
    assert 0.05 < good_rate < 0.40


def test_past_behaviour_carries_signal(master_data: MasterData) -> None:
    """Customers who bought more last year spend more next quarter (the learnable signal)."""
    sales = master_data.sales
    as_of = pd.Timestamp(2026, 4, 1)
    before = sales[
        (sales["sold_at"] < as_of) & (sales["sold_at"] >= as_of - pd.Timedelta(365, "D"))
    ]
    after = sales[(sales["sold_at"] >= as_of) & (sales["sold_at"] < as_of + pd.Timedelta(90, "D"))]
    orders = before.groupby("customer_id").size()
    spend = after.groupby("customer_id")["amount"].sum().reindex(orders.index).fillna(0.0)
    assert np.corrcoef(orders.to_numpy(), spend.to_numpy())[0, 1] > 0.3


@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_every_corruption_changes_the_data(kind: str) -> None:
    clean = generate(SMALL)
    broken = corrupt(clean, kind)  # type: ignore[arg-type]
    changed = not broken.customers.equals(clean.customers) or not broken.sales.equals(clean.sales)
    assert changed
    # The clean input is left as it was.
    pd.testing.assert_frame_equal(clean.customers, generate(SMALL).customers)
    pd.testing.assert_frame_equal(clean.sales, generate(SMALL).sales)


def test_a_planted_bias_removes_only_recent_sales_of_the_affected_group() -> None:
    from customer_classifier.data.generate import BIASED_MIN_AGE, BIASED_SEGMENT

    config = GeneratorConfig(n_customers=2000, seed=5)
    clean, biased = generate(config), generate(replace(config, bias=0.6))
    pd.testing.assert_frame_equal(clean.customers, biased.customers)
    customers = clean.customers.set_index("customer_id")
    age = config.end.year - customers["birth_year"].astype(float)
    # Birth years left out as missing still carry the drawn age; none of them is kept out.
    affected = customers.index[(customers["segment"] == BIASED_SEGMENT) & ~(age < BIASED_MIN_AGE)]
    key = ["customer_id", "sold_at", "amount"]
    kept = clean.sales.merge(biased.sales[key], on=key, how="left", indicator=True)
    removed = kept.loc[kept["_merge"] == "left_only"]
    assert len(removed) > 0
    assert len(biased.sales) == len(clean.sales) - len(removed)
    assert removed["customer_id"].isin(affected).all()
    horizon = pd.Timestamp(config.end) - pd.Timedelta(days=3 * config.bias_quarter_days)
    assert (removed["sold_at"] >= horizon).all()
    # Roughly the planted share of the affected customers' recent sales goes.
    recent = clean.sales[
        clean.sales["customer_id"].isin(affected) & (clean.sales["sold_at"] >= horizon)
    ]
    assert 0.4 < len(removed) / len(recent) < 0.8
    assert biased.sales["sale_id"].is_unique


def test_a_stuck_feed_holds_one_value_and_changes_nothing_else() -> None:
    clean, stuck = generate(SMALL), generate(replace(SMALL, stuck_column="acquisition_channel"))
    assert stuck.customers["acquisition_channel"].nunique(dropna=False) == 1
    others = [c for c in clean.customers.columns if c != "acquisition_channel"]
    pd.testing.assert_frame_equal(clean.customers[others], stuck.customers[others])
    pd.testing.assert_frame_equal(clean.sales, stuck.sales)
    with pytest.raises(ValueError, match="not a Customers attribute"):
        generate(replace(SMALL, stuck_column="amount"))


def test_a_unit_change_multiplies_only_the_recent_amounts() -> None:
    config = replace(SMALL, amount_unit=100.0, feed_fault_days=30)
    clean, cents = generate(SMALL), generate(config)
    start = pd.Timestamp(config.end) - pd.Timedelta(days=config.feed_fault_days - 1)
    recent = (clean.sales["sold_at"] >= start).to_numpy()
    assert recent.any()
    assert not recent.all()
    ratio = cents.sales["amount"].to_numpy() / clean.sales["amount"].to_numpy()
    np.testing.assert_allclose(ratio[recent], 100.0, rtol=1e-3)
    np.testing.assert_array_equal(ratio[~recent], 1.0)
    pd.testing.assert_frame_equal(
        clean.sales.drop(columns=["amount"]), cents.sales.drop(columns=["amount"])
    )


def _net_spend(sales: pd.DataFrame, since: pd.Timestamp) -> pd.Series:
    recent = sales[sales["sold_at"] >= since]
    net = recent["amount"].where(~recent["returned"], 0.0)
    return net.groupby(recent["customer_id"]).sum()


def test_concept_drift_removes_only_sales_of_its_window_and_most_of_the_best_customers() -> None:
    config = GeneratorConfig(n_customers=2000, seed=5)
    clean, drifted = generate(config), generate(replace(config, concept_drift=1.0))
    pd.testing.assert_frame_equal(clean.customers, drifted.customers)
    start = pd.Timestamp(config.end) - pd.Timedelta(days=config.concept_days - 1)
    key = ["customer_id", "sold_at", "amount"]
    before = clean.sales["sold_at"] < start
    pd.testing.assert_frame_equal(
        clean.sales.loc[before, key].reset_index(drop=True),
        drifted.sales.loc[drifted.sales["sold_at"] < start, key].reset_index(drop=True),
    )
    kept = clean.sales.merge(drifted.sales[key], on=key, how="left", indicator=True)
    removed = kept.loc[kept["_merge"] == "left_only"]
    assert (removed["sold_at"] >= start).all()
    # The customers who spent most before the window lose the largest share in it: their
    # past no longer says what they do now.
    history = _net_spend(clean.sales[before], pd.Timestamp(config.start))
    top = history.index[history >= history.quantile(0.9)]
    in_window = clean.sales[clean.sales["sold_at"] >= start]
    lost = removed["customer_id"].isin(top).sum() / in_window["customer_id"].isin(top).sum()
    rest = ~removed["customer_id"].isin(top)
    lost_rest = rest.sum() / (~in_window["customer_id"].isin(top)).sum()
    assert lost > 0.3
    assert lost > lost_rest + 0.1


def test_a_prior_shift_makes_more_customers_good_with_the_same_attributes() -> None:
    config = GeneratorConfig(n_customers=2000, seed=5)
    clean, shifted = generate(config), generate(replace(config, prior_shift=0.5))
    # The attributes are drawn before quality (the nulls after the sales, so they differ).
    drawn = ["customer_id", "signup_date", "segment", "loyalty_member"]
    pd.testing.assert_frame_equal(clean.customers[drawn], shifted.customers[drawn])
    since = pd.Timestamp(config.end) - pd.Timedelta(days=89)
    good_clean = (_net_spend(clean.sales, since) >= 250).sum()
    good_shifted = (_net_spend(shifted.sales, since) >= 250).sum()
    assert good_shifted > 1.3 * good_clean
