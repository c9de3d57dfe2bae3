"""``customer-classifier data generate``: every monitoring scenario on request.

Each preset is the config it promises, flags override presets, a bad knob exits with
status 2 and one message naming it, and each family of knobs changes the written tables
as it says. A scenario database is set against the one of the same seed without the
knob, which the generator draws from the same random stream where the knob allows it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
import typer.main

from customer_classifier.cli import app, main
from customer_classifier.data.generate import (
    BIASED_MIN_AGE,
    BIASED_SEGMENT,
    GeneratorConfig,
    generate,
)
from customer_classifier.data.scenarios import (
    SCENARIOS,
    SEASON_END,
    SEASON_SALES_PER_CUSTOMER,
    changed_fields,
    scenario_config,
)
from customer_classifier.errors import ConfigurationError
from tests.unit.test_cli import isolated, run  # noqa: F401  (the CLI tests' fixture and runner)

CUSTOMERS, SEED = 300, 5
"""Every database here: small enough to draw in well under a second."""
END = GeneratorConfig().end

PROMISED: dict[str, dict[str, Any]] = {
    "none": {},
    "covariate_drift": {"drift": 0.5, "drift_days": 120},
    "concept_drift": {"concept_drift": 1.0, "concept_days": 30},
    "stuck_column": {"stuck_column": "acquisition_channel"},
    "unit_change": {"amount_unit": 100.0, "feed_fault_days": 30},
    "prior_shift": {"prior_shift": 0.5},
    "seasonality": {"end": dt.date(2025, 12, 19), "sales_per_customer": 10.9},
}
"""What docs/data-contract.md promises for each preset; the monitor's scenario tests
(tests/model/test_monitoring_scenarios.py) use the same values."""


# --- presets ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(PROMISED))
def test_each_preset_is_the_config_it_promises(name: str) -> None:
    assert scenario_config(name) == replace(GeneratorConfig(), **PROMISED[name])


def test_every_preset_is_promised_and_listed_in_the_help(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert set(SCENARIOS) == set(PROMISED)
    code, out, _ = run(capsys, "data", "generate", "--help")
    assert code == 0
    for name in SCENARIOS:
        assert f"{name}:" in out
    option = _generate_options()["scenario"]
    for name, scenario in SCENARIOS.items():
        assert f"{name}: {scenario.summary}" in str(option.help)


def _generate_options() -> dict[str, Any]:
    """The click parameters of ``data generate`` by name."""
    group: Any = typer.main.get_command(app)
    return {str(p.name): p for p in group.commands["data"].commands["generate"].params}


def test_every_generator_field_has_a_flag_showing_its_default() -> None:
    """The knobs default to None (so that a preset can fill them); their help states the
    generator's defaults, which must stay the generator's."""
    default = GeneratorConfig()
    options = _generate_options()
    options["n_customers"] = options.pop("customers")
    assert {f.name for f in fields(default)} <= set(options)
    for field in fields(default):
        value, option = getattr(default, field.name), options[field.name]
        assert option.default is None, field.name
        if field.name == "transactions_only":
            assert value is False
            assert option.show_default == "full master data"
        else:
            assert option.show_default == ("none" if value is None else str(value)), field.name


def test_the_seasonality_preset_buys_at_the_default_rate_per_day() -> None:
    """Its shorter history keeps the default tables' sales per customer up to its end,
    so that it differs from them by the season alone."""
    assert (SEASON_END.month, SEASON_END.day) >= (11, 20), "inside the year-end peak"
    data = generate(GeneratorConfig(n_customers=4000, seed=SEED))
    night = pd.Timestamp(SEASON_END + dt.timedelta(days=1))
    before = int((data.sales["sold_at"] < night).sum())
    signed = int((pd.to_datetime(data.customers["signup_date"]) < night).sum())
    assert before / signed == pytest.approx(SEASON_SALES_PER_CUSTOMER, rel=0.03)


def test_flags_override_the_preset() -> None:
    config = scenario_config("unit_change", amount_unit=10.0, feed_fault_days=None, seed=3)
    assert (config.amount_unit, config.feed_fault_days, config.seed) == (10.0, 30, 3)
    assert scenario_config("seasonality", end=END) == replace(
        GeneratorConfig(), sales_per_customer=SEASON_SALES_PER_CUSTOMER
    )


def test_flags_override_the_preset_through_the_cli(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(
        capsys,
        *("data", "generate", "--scenario", "covariate_drift", "--drift", "0.2"),
        *("--customers", "40", "--database-url", f"sqlite:///{tmp_path / 'x.db'}"),
    )
    assert code == 0
    written = json.loads(out)
    assert written["scenario"] == "covariate_drift"
    assert written["changed"] == {"n_customers": 40, "drift": 0.2}
    assert written["customers"] == 40


# --- mistakes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--scenario", "gremlins"], ["--scenario 'gremlins' is unknown", "concept_drift"]),
        (
            ["--stuck-column", "colour"],
            ["--stuck-column 'colour' is not a Customers attribute", "acquisition_channel"],
        ),
        (
            ["--scenario", "stuck_column", "--stuck-column", "customer_id"],
            ["'customer_id' is not a Customers attribute", "choose one of signup_date"],
        ),
        (["--drift", "1.5"], ["--drift 1.5 is outside [0, 1]", "give a value from 0 to 1"]),
        (["--prior-shift", "9"], ["--prior-shift 9.0 is outside [-3, 3]"]),
        (["--amount-unit", "-100"], ["--amount-unit -100.0 is not above 0"]),
        (
            ["--scenario", "concept_drift", "--concept-days", "0"],
            ["--concept-days 0 is not a number of days", "1277 days"],
        ),
        (["--amount-unit", "100", "--feed-fault-days", "5000"], ["--feed-fault-days 5000"]),
        (["--bias", "0.5", "--bias-quarters", "20"], ["--bias-quarters 20 of 90 days do not fit"]),
        (["--customers", "0"], ["--customers 0 is below 1"]),
        (["--sales-per-customer", "0"], ["--sales-per-customer 0.0 is not above 0"]),
        (
            ["--scenario", "seasonality", "--start", "2026-01-01"],
            ["--end 2025-12-19 is not after --start 2026-01-01"],
        ),
    ],
)
def test_a_bad_knob_exits_2_naming_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], words: list[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    code, out, err = run(capsys, "data", "generate", *argv, "--database-url", url)
    assert code == 2
    assert out == ""
    assert err.lstrip().startswith("error: ")
    assert "Traceback" not in err
    flat = " ".join(err.split())
    for word in words:
        assert word in flat
    assert not (tmp_path / "x.db").exists(), "checked before anything is drawn or written"


def test_a_window_is_checked_only_when_its_knob_is_on() -> None:
    """A 61-day history is shorter than the default windows of faults it does not have."""
    short = scenario_config(start=dt.date(2026, 5, 1))
    assert (short.drift_days, short.concept_days) == (120, 30)
    with pytest.raises(ConfigurationError, match="--drift-days 120 is not a number of days"):
        scenario_config("covariate_drift", start=dt.date(2026, 5, 1))


def test_a_date_that_is_not_one_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "data", "generate", "--end", "2026-13-01")
    assert code == 2
    assert "Traceback" not in err
    assert "'2026-13-01' does not match the formats '%Y-%m-%d'" in " ".join(err.split())


# --- each family of knobs, end to end -------------------------------------------------------


@dataclass(frozen=True)
class Tables:
    summary: dict[str, Any]
    customers: pd.DataFrame
    sales: pd.DataFrame

    def sales_in_last(self, days: int, end: dt.date = END) -> pd.DataFrame:
        since = pd.Timestamp(end + dt.timedelta(days=1 - days))
        return self.sales[self.sales["sold_at"] >= since]

    def sales_before_last(self, days: int, end: dt.date = END) -> pd.DataFrame:
        since = pd.Timestamp(end + dt.timedelta(days=1 - days))
        return self.sales[self.sales["sold_at"] < since]


Draw = Callable[..., Tables]


@contextlib.contextmanager
def _without_cc_variables() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("CC_"):
                patch.delenv(name)
        yield


@pytest.fixture(scope="module")
def draw(tmp_path_factory: pytest.TempPathFactory) -> Draw:
    """``draw(*flags)``: the CLI's tables for ``flags`` (on the module's size and seed),
    drawn once per set of flags."""
    drawn: dict[tuple[str, ...], Tables] = {}

    def make(*flags: str) -> Tables:
        if flags not in drawn:
            path = tmp_path_factory.mktemp("scenario") / "master.db"
            argv = ["data", "generate", "--customers", str(CUSTOMERS), "--seed", str(SEED)]
            stdout, stderr = io.StringIO(), io.StringIO()
            with (
                _without_cc_variables(),
                contextlib.redirect_stdout(stdout),
                contextlib.redirect_stderr(stderr),
            ):
                code = main([*argv, *flags, "--database-url", f"sqlite:///{path}"])
            assert code == 0, stderr.getvalue()
            engine = sa.create_engine(f"sqlite:///{path}")
            try:
                with engine.connect() as conn:
                    customers = pd.read_sql_query("SELECT * FROM customers", conn)
                    sales = pd.read_sql_query("SELECT * FROM sales", conn, parse_dates=["sold_at"])
            finally:
                engine.dispose()
            drawn[flags] = Tables(json.loads(stdout.getvalue()), customers, sales)
        return drawn[flags]

    return make


SALE = ["customer_id", "sold_at", "amount", "quantity", "product_category", "returned"]
"""A sale without its id (ids are renumbered when sales are dropped)."""


def _same_sales(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a[SALE].reset_index(drop=True), b[SALE].reset_index(drop=True))


def _kept(subset: pd.DataFrame, whole: pd.DataFrame) -> bool:
    """Whether every sale of ``subset`` is one of ``whole``'s."""
    merged = subset[SALE].merge(whole[SALE], how="left", on=SALE, indicator=True)
    return bool((merged["_merge"] == "both").all())


def _log_amount_rise(tables: Tables, newest: int, older: int, end: dt.date = END) -> float:
    """How much the mean log amount of the last ``newest`` days before ``end`` exceeds
    that of the ``older`` days before them."""
    recent = tables.sales_in_last(newest, end)["amount"]
    window = tables.sales_in_last(newest + older, end)
    window = window[window["sold_at"] < pd.Timestamp(end + dt.timedelta(days=1))]
    before = window.loc[~window.index.isin(recent.index), "amount"]
    return float(np.log(recent).mean() - np.log(before).mean())


def test_covariate_drift_raises_the_prices_of_its_last_days_only(draw: Draw) -> None:
    base, drifted = draw(), draw("--drift", "0.5", "--drift-days", "60")
    assert drifted.summary["changed"] == {
        "n_customers": 300,
        "seed": 5,
        "drift": 0.5,
        "drift_days": 60,
    }
    assert abs(_log_amount_rise(base, 60, 300)) < 0.15
    assert _log_amount_rise(drifted, 60, 300) > np.log(1.5) - 0.15
    # Before its 60 days, prices are as they were.
    earlier = Tables(drifted.summary, drifted.customers, drifted.sales_before_last(60))
    assert abs(_log_amount_rise(earlier, 60, 300, END - dt.timedelta(days=60))) < 0.15


def test_concept_drift_drops_sales_of_its_last_days_only(draw: Draw) -> None:
    base, drifted = draw(), draw("--scenario", "concept_drift", "--concept-days", "20")
    _same_sales(drifted.sales_before_last(20), base.sales_before_last(20))
    pd.testing.assert_frame_equal(drifted.customers, base.customers)
    window, clean = drifted.sales_in_last(20), base.sales_in_last(20)
    assert _kept(window, clean)
    assert len(window) < 0.85 * len(clean)


def test_a_stuck_column_holds_one_value_and_nothing_else_changes(draw: Draw) -> None:
    base, stuck = draw(), draw("--stuck-column", "segment")
    assert base.customers["segment"].nunique() == 3
    assert stuck.customers["segment"].nunique(dropna=False) == 1
    others = [c for c in base.customers.columns if c != "segment"]
    pd.testing.assert_frame_equal(stuck.customers[others], base.customers[others])
    _same_sales(stuck.sales, base.sales)


def test_a_unit_change_multiplies_the_amounts_of_its_last_days_by_100(draw: Draw) -> None:
    base, faulty = draw(), draw("--scenario", "unit_change", "--feed-fault-days", "10")
    _same_sales(faulty.sales_before_last(10), base.sales_before_last(10))
    recent, clean = faulty.sales_in_last(10), base.sales_in_last(10)
    assert len(recent) == len(clean) > 0
    # Both are rounded to cents after the fault: at most half a cent of the base, x100.
    np.testing.assert_allclose(recent["amount"], 100 * clean["amount"].to_numpy(), atol=0.51)
    keep = [c for c in SALE if c != "amount"]
    _same_sales(recent[keep].assign(amount=0), clean[keep].assign(amount=0))


def test_a_prior_shift_makes_customers_buy_more_and_dearer(draw: Draw) -> None:
    base, shifted = draw(), draw("--scenario", "prior_shift")
    # Drawn before quality (the missing values are drawn after the sales, which differ).
    drawn_first = ["customer_id", "signup_date", "segment", "loyalty_member"]
    pd.testing.assert_frame_equal(shifted.customers[drawn_first], base.customers[drawn_first])
    assert len(shifted.sales) > 1.3 * len(base.sales)
    assert np.log(shifted.sales["amount"]).mean() > np.log(base.sales["amount"]).mean() + 0.05


def test_the_seasonality_scenario_ends_in_the_year_end_peak(draw: Draw) -> None:
    season = draw("--scenario", "seasonality")
    assert season.sales["sold_at"].max().date() == SEASON_END
    assert len(season.sales) / CUSTOMERS == pytest.approx(SEASON_SALES_PER_CUSTOMER, rel=0.15)


def test_the_planted_bias_quiets_its_group_alone(draw: Draw) -> None:
    base, biased = draw(), draw("--bias", "0.9", "--bias-quarters", "2")
    pd.testing.assert_frame_equal(biased.customers, base.customers)
    customers = base.customers
    known = customers["birth_year"].notna()  # the generator knows every age; the table not
    old_enough = END.year - customers["birth_year"] >= BIASED_MIN_AGE
    in_segment = customers["segment"] == BIASED_SEGMENT
    affected = customers.loc[known & in_segment & old_enough, "customer_id"]
    spared = customers.loc[known & ~(in_segment & old_enough), "customer_id"]
    assert len(affected) > 10

    def recent(tables: Tables, who: pd.Series) -> pd.DataFrame:
        sales = tables.sales_in_last(180)
        return sales[sales["customer_id"].isin(who)]

    _same_sales(recent(biased, spared), recent(base, spared))
    _same_sales(biased.sales_before_last(180), base.sales_before_last(180))
    hit, clean = recent(biased, affected), recent(base, affected)
    assert _kept(hit, clean)
    assert len(hit) < 0.3 * len(clean)


def test_transactions_only_keeps_the_sales_and_drops_the_attributes(draw: Draw) -> None:
    base, bare = draw(), draw("--transactions-only")
    assert bare.customers[["country", "acquisition_channel", "birth_year"]].isna().all().all()
    assert bare.customers["segment"].nunique() == 1
    assert not bare.customers["loyalty_member"].astype(bool).any()
    assert len(bare.sales) == len(base.sales)
    assert bare.sales["product_category"].nunique() == 1
    _same_sales(bare.sales.assign(product_category=""), base.sales.assign(product_category=""))


def test_changed_fields_names_only_what_differs_from_the_defaults() -> None:
    assert changed_fields(GeneratorConfig()) == {}
    assert changed_fields(scenario_config("seasonality")) == PROMISED["seasonality"]


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def test_the_documented_table_states_each_presets_values() -> None:
    document = Path(__file__).parents[2] / "docs" / "data-contract.md"
    rows = {
        line.split("|")[1].strip(" `"): line
        for line in document.read_text(encoding="utf-8").splitlines()
        if line.startswith("| `")
    }
    for name, scenario in SCENARIOS.items():
        assert name in rows, f"docs/data-contract.md has no row for {name}"
        for field, value in scenario.fields.items():
            assert f"`{field}={_shown(value)}`" in rows[name], (name, field)
