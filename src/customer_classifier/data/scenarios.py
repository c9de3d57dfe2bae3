"""The generator's monitoring scenarios by name, and the rules its knobs must keep.

A scenario is a few ``GeneratorConfig`` fields, kept here as data so that the CLI
(``data generate --scenario NAME``), ``make demo-scenario`` and the tests draw the same
tables. The values are those the monitor's scenario tests use
(tests/model/test_monitoring_scenarios.py); docs/data-contract.md#monitoring-scenarios
says what the nightly monitor should flag for each.

This module imports neither numpy nor pandas at import time: the CLI reads the names for
its ``--help``, and help should not wait for them.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from customer_classifier.errors import ConfigurationError

if TYPE_CHECKING:
    from customer_classifier.data.generate import GeneratorConfig


@dataclass(frozen=True)
class Scenario:
    summary: str
    """One line for ``--help``: what the tables show."""
    fields: Mapping[str, Any]
    """``GeneratorConfig`` fields the scenario sets; the others keep their defaults."""


SEASON_END = dt.date(2025, 12, 19)
"""The seasonality scenario's last day of sales: its default scoring night, the day
after, falls in the year-end peak (from 20 November), where the monitor compares it with
the reference's year-end part instead of the autumn training window."""
SEASON_SALES_PER_CUSTOMER = 10.9
"""Sales per customer up to ``SEASON_END`` in the default tables (10.80 to 10.90 over
seeds 7 to 9): ``sales_per_customer`` is a mean over the whole history, so a history
that ends earlier needs this to buy at the default's rate per day, and to differ from
the default tables by the season alone."""

SCENARIOS: Mapping[str, Scenario] = MappingProxyType(
    {
        "none": Scenario("the default tables: no fault, no drift", {}),
        "covariate_drift": Scenario(
            "new customers of the last 120 days mostly through ads and worse, prices +50 %",
            {"drift": 0.5, "drift_days": 120},
        ),
        "concept_drift": Scenario(
            "over the last 30 days customers buy as others would, from the same inputs",
            {"concept_drift": 1.0, "concept_days": 30},
        ),
        "stuck_column": Scenario(
            "every customer's acquisition_channel is the first customer's",
            {"stuck_column": "acquisition_channel"},
        ),
        "unit_change": Scenario(
            "amounts of the last 30 days x100, as if the feed sent cents",
            {"amount_unit": 100.0, "feed_fault_days": 30},
        ),
        "prior_shift": Scenario(
            "every customer's quality +0.5: more good customers, their behaviour follows",
            {"prior_shift": 0.5},
        ),
        "seasonality": Scenario(
            f"history ends on {SEASON_END.isoformat()}, in the year-end peak, which is not drift",
            {"end": SEASON_END, "sales_per_customer": SEASON_SALES_PER_CUSTOMER},
        ),
    }
)


def scenario_config(name: str = "none", **overrides: Any) -> GeneratorConfig:
    """The config of scenario ``name`` with ``overrides`` on top, checked by ``check_config``.

    An override of None is no override: the CLI passes every flag, given or not.
    """
    from customer_classifier.data.generate import GeneratorConfig

    if name not in SCENARIOS:
        raise ConfigurationError(
            f"--scenario {name!r} is unknown: a scenario is one of the named presets; "
            f"choose from {', '.join(SCENARIOS)}"
        )
    given = {k: v for k, v in overrides.items() if v is not None}
    return check_config(replace(GeneratorConfig(), **{**SCENARIOS[name].fields, **given}))


def changed_fields(config: GeneratorConfig) -> dict[str, Any]:
    """The fields of ``config`` that differ from the defaults: what a run asked for."""
    from customer_classifier.data.generate import GeneratorConfig

    default = GeneratorConfig()
    return {
        f.name: getattr(config, f.name)
        for f in fields(config)
        if getattr(config, f.name) != getattr(default, f.name)
    }


def stuck_column_choices() -> tuple[str, ...]:
    """Customers attributes a broken feed can hold at one value: all but the key."""
    from customer_classifier.data.contract import CUSTOMERS_SPEC

    return tuple(c for c in CUSTOMERS_SPEC.names if c != CUSTOMERS_SPEC.key)


def _flag(field: str) -> str:
    return "--" + field.replace("_", "-")


def _check_range(
    config: GeneratorConfig, field: str, low: float, high: float, meaning: str
) -> None:
    value = getattr(config, field)
    if not (math.isfinite(value) and low <= value <= high):
        raise ConfigurationError(
            f"{_flag(field)} {value!r} is outside [{low:g}, {high:g}]: it is {meaning}; "
            f"give a value from {low:g} to {high:g}"
        )


def _check_days(config: GeneratorConfig, field: str, history_days: int, what: str) -> None:
    value = getattr(config, field)
    if not 1 <= value <= history_days:
        raise ConfigurationError(
            f"{_flag(field)} {value!r} is not a number of days within the history: "
            f"{what} must last from 1 day to the history's {history_days} days "
            f"({config.start} to {config.end}); give a value in that range"
        )


def _check_bias_quarters(config: GeneratorConfig, history_days: int) -> None:
    _check_days(config, "bias_quarter_days", history_days, "a quarter of the planted bias")
    if not 1 <= config.bias_quarters * config.bias_quarter_days <= history_days:
        raise ConfigurationError(
            f"--bias-quarters {config.bias_quarters!r} of {config.bias_quarter_days} days "
            f"do not fit the history's {history_days} days: the planted bias acts on whole "
            "quarters before the end; give at least 1 and fewer quarters"
        )


def check_config(config: GeneratorConfig) -> GeneratorConfig:
    """``config`` if the generator can draw meaningful tables from it.

    Each rule is what the knob means in the generator: a probability or weight from 0 to
    1, a window of days inside the history, a positive unit. The generator itself would
    accept more (a drift of 3 is a share of new customers above one) and draw tables
    that are not the scenario they were asked for. A window is checked only when its
    knob is on: a short history need not shrink the windows of faults it does not have.
    """
    if config.n_customers < 1:
        raise ConfigurationError(
            f"--customers {config.n_customers!r} is below 1: the tables need at least "
            "one customer; give a positive number"
        )
    if not (math.isfinite(config.sales_per_customer) and config.sales_per_customer > 0):
        raise ConfigurationError(
            f"--sales-per-customer {config.sales_per_customer!r} is not above 0: it is the "
            "mean number of sales per customer; give a positive number such as 12"
        )
    if config.end <= config.start:
        raise ConfigurationError(
            f"--end {config.end} is not after --start {config.start}: the history runs "
            "from start to end; give an end date later than the start"
        )
    history_days = (config.end - config.start).days + 1
    _check_range(config, "drift", 0, 1, "the share of new customers moved to ads")
    if config.drift > 0:
        _check_days(config, "drift_days", history_days, "the covariate drift")
    _check_range(config, "concept_drift", 0, 1, "the weight of the other quality")
    if config.concept_drift > 0:
        _check_days(config, "concept_days", history_days, "the concept drift")
    _check_range(
        config,
        "prior_shift",
        -3,
        3,
        "a shift of quality in standard deviations (beyond 3, "
        "nearly every customer is good or bad)",
    )
    _check_range(config, "acquisition_burst", 0, 1, "the share of customers moved into the burst")
    if config.acquisition_burst > 0:
        _check_days(config, "burst_days", history_days, "the burst of new customers")
    _check_range(config, "bias", 0, 1, "the probability that an affected customer goes quiet")
    if config.bias > 0:
        _check_bias_quarters(config, history_days)
    if not (math.isfinite(config.amount_unit) and config.amount_unit > 0):
        raise ConfigurationError(
            f"--amount-unit {config.amount_unit!r} is not above 0: amounts are multiplied "
            "by it (1: no fault, 100: cents instead of euros); give a positive number"
        )
    if config.amount_unit != 1:
        _check_days(config, "feed_fault_days", history_days, "the sales-feed fault")
    choices = stuck_column_choices()
    if config.stuck_column is not None and config.stuck_column not in choices:
        raise ConfigurationError(
            f"--stuck-column {config.stuck_column!r} is not a Customers attribute: the "
            f"stuck feed holds one column of the customers table; choose one of "
            f"{', '.join(choices)}"
        )
    return config
