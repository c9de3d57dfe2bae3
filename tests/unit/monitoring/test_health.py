"""Pipeline health: each night's figures judged against the same figures of the nights
before, read from a monitoring history frame of the contract's shape; and the adapter
that reads a night's inputs from a real scored SQLite database and model store."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from customer_classifier import jobs
from customer_classifier.data.contract import GOOD
from customer_classifier.data.database import connect
from customer_classifier.data.profile import ColumnProfile, DataProfile, TableProfile
from customer_classifier.monitoring.health import (
    CHECKS,
    GOOD_SHARE,
    INPUT_QUALITY,
    INPUT_VOLUME,
    LABEL_MIX,
    MISSING_RUN,
    MISSING_RUNS,
    OUTPUT_ROWS,
    OUTPUT_VOLUME,
    STEP_SECONDS,
    HealthInputs,
    HealthReport,
    OutputCounts,
    check_health,
    health_samples,
    night_figures,
)
from customer_classifier.monitoring.health_inputs import gather_health_inputs
from customer_classifier.monitoring_metrics import PIPELINE_CHECK_FAILED, PIPELINE_FIGURE
from customer_classifier.registry import LocalModelStore
from customer_classifier.scoring.batch import ScoringSummary, score_customers
from customer_classifier.settings import HealthSettings, Settings
from tests.unit.scoring.models import heuristic_bundle

TONIGHT = dt.date(2026, 6, 30)
SETTINGS = HealthSettings()
HISTORY_COLUMNS = ["as_of", "run_id", "model_version", "metric", "labels", "value", "recorded_at"]


def profile(
    customers: int = 3000, sales: int = 36_000, birth_year_nulls: float = 0.10
) -> DataProfile:
    def column(name: str, kind: str, nulls: int = 0) -> ColumnProfile:
        return ColumnProfile(name=name, found_kind=kind, sql_type=kind.upper(), nulls=nulls)

    return DataProfile(
        database="sqlite:///master.db",
        profiled_at=dt.datetime.combine(TONIGHT, dt.time(1)),
        tables={
            "customers": TableProfile(
                name="customers",
                exists=True,
                rows=customers,
                columns={
                    "customer_id": column("customer_id", "int"),
                    "country": column("country", "str", round(0.01 * customers)),
                    "birth_year": column("birth_year", "int", round(birth_year_nulls * customers)),
                    "segment": column("segment", "str"),
                },
            ),
            "sales": TableProfile(
                name="sales",
                exists=True,
                rows=sales,
                columns={"amount": column("amount", "float"), "sold_at": column("sold_at", "str")},
            ),
            "customer_labels": TableProfile(name="customer_labels", exists=False),
        },
    )


def inputs(
    as_of: dt.date = TONIGHT,
    *,
    scored: Any = None,
    seconds: float = 120.0,
    rows: int = 2400,
    good: int = 720,
    **profile_args: Any,
) -> HealthInputs:
    dates = (
        frozenset(as_of - dt.timedelta(days=k) for k in range(SETTINGS.history_nights))
        if scored is None
        else frozenset(scored)
    )
    return HealthInputs(
        as_of=as_of,
        profile=profile(**profile_args),
        output=OutputCounts(rows_written=rows, good=good, active_customers=rows),
        step_seconds={"scoring": seconds, "verify": 5.0},
        scored_as_of=dates,
        first_scored=as_of - dt.timedelta(days=400),
    )


def history(nights: int, seed: int = 0, before: dt.date = TONIGHT) -> pd.DataFrame:
    """``nights`` ordinary nights before ``before``: every figure of the normal night
    with a little noise, one row per figure and night, as the history table keeps them."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(nights, 0, -1):
        day = before - dt.timedelta(days=k)
        night = inputs(
            day,
            seconds=120 * rng.uniform(0.9, 1.1),
            rows=int(2400 * rng.uniform(0.98, 1.02)),
            good=int(720 * rng.uniform(0.97, 1.03)),
            customers=int(3000 + 2 * (nights - k)),
            sales=int(36_000 + 40 * (nights - k)),
            birth_year_nulls=0.10 * rng.uniform(0.95, 1.05),
        )
        for figures in night_figures(night).values():
            for name, value in figures.items():
                rows.append(
                    {
                        "as_of": day,
                        "run_id": f"run-{k}",
                        "model_version": "v1",
                        "metric": PIPELINE_FIGURE.name,
                        "labels": json.dumps({"figure": name}, sort_keys=True),
                        "value": value,
                        "recorded_at": dt.datetime.combine(day, dt.time(3)),
                    }
                )
        rows.append(
            {
                "as_of": day,
                "run_id": f"run-{k}",
                "model_version": "v1",
                "metric": PIPELINE_CHECK_FAILED.name,
                "labels": json.dumps({"check": INPUT_VOLUME}),
                "value": 0.0,
                "recorded_at": dt.datetime.combine(day, dt.time(3)),
            }
        )
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)


@pytest.fixture(scope="module")
def month() -> pd.DataFrame:
    return history(28)


def statuses(report: HealthReport) -> dict[str, str]:
    return {c.check: c.status for c in report.checks}


def finding(report: HealthReport, figure: str) -> Any:
    (found,) = [f for f in report.findings if f.figure == figure]
    return found


def test_a_normal_night_passes_every_check(month: pd.DataFrame) -> None:
    report = check_health(inputs(), month, SETTINGS)
    assert statuses(report) == dict.fromkeys(CHECKS, "ok")
    assert not report.failed
    assert report.missing_as_of == ()
    sales = finding(report, "input_sales")
    assert sales.low is not None
    assert sales.high is not None
    assert sales.low < sales.value < sales.high
    assert sales.nights == 28
    assert "no check failed" in report.summary()
    assert json.loads(json.dumps(report.to_dict()))["checks"][0]["check"] == INPUT_VOLUME


def test_a_halved_input_volume_fails_naming_the_figure(month: pd.DataFrame) -> None:
    report = check_health(inputs(sales=18_000), month, SETTINGS)
    assert report.failed_checks == (INPUT_VOLUME,)
    check = report.check(INPUT_VOLUME)
    sales = finding(report, "input_sales")
    assert sales.status == "failed"
    assert sales.value == 18_000
    assert sales.median is not None
    assert 36_000 < sales.median < 38_000
    assert sales.low is not None
    assert sales.value < sales.low
    assert "input_sales = 18,000 rows is below the expected range" in check.reason
    assert "(-51%)" in check.reason  # against the median
    assert finding(report, "input_customers").status == "ok"
    assert "input_volume" in report.summary()


def test_a_jump_in_a_null_share_fails_input_quality(month: pd.DataFrame) -> None:
    # 20 % nulls in birth_year is within verification's cap (25 %), but twice the usual.
    report = check_health(inputs(birth_year_nulls=0.20), month, SETTINGS)
    assert report.failed_checks == (INPUT_QUALITY,)
    nulls = finding(report, "null_share_customers_birth_year")
    assert nulls.status == "failed"
    assert nulls.value == pytest.approx(0.20)
    assert nulls.low is None
    assert nulls.high is not None
    assert nulls.high < 0.15
    assert "null_share_customers_birth_year = 0.2 is above the expected maximum" in nulls.reason
    fewer = check_health(inputs(birth_year_nulls=0.02), month, SETTINGS)
    assert fewer.check(INPUT_QUALITY).status == "ok"  # fewer nulls are no fault


def test_a_noisy_history_cannot_hide_a_broken_feed() -> None:
    frame = history(28)
    share = frame["labels"] == json.dumps({"figure": "null_share_customers_birth_year"})
    frame.loc[share, "value"] = np.resize([0.02, 0.30], int(share.sum()))  # wildly noisy
    report = check_health(inputs(birth_year_nulls=0.40), frame, SETTINGS)
    nulls = finding(report, "null_share_customers_birth_year")
    assert nulls.status == "failed"
    assert "the hard bound" in nulls.reason
    assert nulls.high == pytest.approx(nulls.median + SETTINGS.max_share_rise)


def test_a_slow_step_fails_and_a_little_slower_one_does_not(month: pd.DataFrame) -> None:
    report = check_health(inputs(seconds=480.0), month, SETTINGS)
    assert report.failed_checks == (STEP_SECONDS,)
    slow = finding(report, "step_seconds_scoring")
    assert slow.status == "failed"
    assert "step_seconds_scoring = 480 s is above the expected maximum" in slow.reason
    assert finding(report, "step_seconds_verify").status == "ok"
    for seconds in (170.0, 10.0):  # within the floor; faster
        assert check_health(inputs(seconds=seconds), month, SETTINGS).failed_checks == ()


def test_output_volume_and_label_mix_fail_both_ways(month: pd.DataFrame) -> None:
    fewer = check_health(inputs(rows=1200, good=360), month, SETTINGS)
    assert fewer.failed_checks == (OUTPUT_VOLUME,)  # same good share
    assert finding(fewer, OUTPUT_ROWS).status == "failed"
    for good in (1200, 240):
        mixed = check_health(inputs(good=good), month, SETTINGS)
        assert mixed.failed_checks == (LABEL_MIX,)
        assert finding(mixed, GOOD_SHARE).value == pytest.approx(good / 2400)


def test_a_missing_as_of_date_is_named(month: pd.DataFrame) -> None:
    gap = TONIGHT - dt.timedelta(days=3)
    scored = {TONIGHT - dt.timedelta(days=k) for k in range(40)} - {gap}
    report = check_health(inputs(scored=scored), month, SETTINGS)
    assert report.failed_checks == (MISSING_RUN,)
    assert report.missing_as_of == (gap,)
    assert gap.isoformat() in report.check(MISSING_RUN).reason
    assert finding(report, MISSING_RUNS).value == 1.0
    # Tonight not scored (yet): named as such, beside the gap.
    late = check_health(inputs(scored=scored - {TONIGHT}), month, SETTINGS)
    assert late.missing_as_of == (gap, TONIGHT)
    assert f"no scoring yet for tonight's as-of date {TONIGHT.isoformat()}" in (
        late.check(MISSING_RUN).reason
    )


def test_no_run_is_expected_before_the_first_scored_night(month: pd.DataFrame) -> None:
    first = TONIGHT - dt.timedelta(days=2)
    fresh = HealthInputs(
        as_of=TONIGHT,
        scored_as_of=frozenset({first, TONIGHT}),
        first_scored=first,
    )
    report = check_health(fresh, month, SETTINGS)
    assert report.missing_as_of == (TONIGHT - dt.timedelta(days=1),)
    never = check_health(HealthInputs(as_of=TONIGHT), month, SETTINGS)
    assert never.missing_as_of == (TONIGHT,)
    assert never.check(INPUT_VOLUME).status == "no_data"
    assert "last_profile.json" in never.check(INPUT_VOLUME).reason
    assert never.check(OUTPUT_VOLUME).status == "no_data"


def test_a_short_history_is_learning_and_does_not_fail() -> None:
    short = history(SETTINGS.min_history_nights - 1)
    report = check_health(inputs(sales=18_000, seconds=900.0), short, SETTINGS)
    assert not report.failed
    assert statuses(report) == {**dict.fromkeys(CHECKS, "learning"), MISSING_RUN: "ok"}
    assert "learning" in report.check(INPUT_VOLUME).reason
    assert finding(report, "input_sales").nights == SETTINGS.min_history_nights - 1
    empty = pd.DataFrame(columns=HISTORY_COLUMNS)
    assert check_health(inputs(), empty, SETTINGS).check(STEP_SECONDS).status == "learning"
    enough = history(SETTINGS.min_history_nights)
    assert check_health(inputs(sales=18_000), enough, SETTINGS).failed_checks == (INPUT_VOLUME,)


def test_only_nights_before_tonight_and_the_last_rows_of_a_night_count(
    month: pd.DataFrame,
) -> None:
    sales = json.dumps({"figure": "input_sales"}, sort_keys=True)
    rerun = {
        "run_id": "run-0",
        "model_version": "v1",
        "metric": PIPELINE_FIGURE.name,
        "labels": sales,
        "value": 18_000.0,
    }
    tonight = pd.DataFrame([{**rerun, "as_of": TONIGHT, "recorded_at": dt.datetime(2026, 7, 1)}])
    replaced = month[month["labels"] == sales].assign(
        value=18_000.0, recorded_at=lambda f: f["recorded_at"] - dt.timedelta(hours=1)
    )
    frame = pd.concat([month, tonight, replaced], ignore_index=True)
    report = check_health(inputs(), frame, SETTINGS)
    assert finding(report, "input_sales").status == "ok"
    assert finding(report, "input_sales").nights == 28
    with pytest.raises(Exception, match=r"lacks the column\(s\) \['labels'\]"):
        check_health(inputs(), month.drop(columns="labels"), SETTINGS)


def test_one_odd_night_does_not_widen_the_range(month: pd.DataFrame) -> None:
    frame = month.copy()
    odd = (frame["labels"] == json.dumps({"figure": "input_sales"})) & (
        frame["as_of"] == TONIGHT - dt.timedelta(days=5)
    )
    frame.loc[odd, "value"] = 5_000_000.0
    assert check_health(inputs(), frame, SETTINGS).failed_checks == ()
    assert check_health(inputs(sales=18_000), frame, SETTINGS).failed_checks == (INPUT_VOLUME,)


def test_samples_carry_each_figure_and_each_check(month: pd.DataFrame) -> None:
    report = check_health(inputs(sales=18_000), month, SETTINGS)
    samples = health_samples(report)
    checks = {s.label_map["check"]: s.value for s in samples if s.metric == PIPELINE_CHECK_FAILED}
    assert checks == {**dict.fromkeys(CHECKS, 0.0), INPUT_VOLUME: 1.0}
    figures = {s.label_map["figure"]: s.value for s in samples if s.metric == PIPELINE_FIGURE}
    assert figures["input_sales"] == 18_000
    assert figures["step_seconds_scoring"] == 120.0
    assert figures[GOOD_SHARE] == pytest.approx(0.3)
    assert figures[MISSING_RUNS] == 0.0
    assert {s.labels[0][0] for s in samples} == {"check", "figure"}
    assert all(len(s.labels) == 1 for s in samples)


def test_settings_refuse_a_minimum_above_the_look_back() -> None:
    with pytest.raises(ValidationError, match="CC_HEALTH__MIN_HISTORY_NIGHTS=30 is more"):
        HealthSettings(history_nights=28, min_history_nights=30)


# The adapter, on a real database scored by the project's own scoring ------------------


def _score(settings: Settings, store: LocalModelStore, as_of: dt.date) -> ScoringSummary:
    version = store.get_alias("champion")
    assert version is not None
    engine = connect(settings.database_url)
    try:
        return score_customers(
            engine,
            store.load(version),
            version,
            as_of,
            table=settings.predictions_table,
            active_window_days=settings.active_window_days,
            chunk_customers=settings.chunk_customers,
        )
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def scored_nights(
    tmp_path_factory: pytest.TempPathFactory,
    master_db: Path,
    settings_factory: Callable[..., Settings],
) -> tuple[Settings, LocalModelStore, dt.date, Mapping[dt.date, ScoringSummary]]:
    """The generated database verified and scored on three of the last four nights."""
    root = tmp_path_factory.mktemp("health")
    shutil.copyfile(master_db, root / "master.db")
    settings = settings_factory(root / "master.db", root)
    store = LocalModelStore(Path(settings.store_uri))
    store.set_alias("champion", store.register(heuristic_bundle()).version)
    jobs.verify_data(settings, root / "verification")
    engine = connect(settings.database_url)
    tonight = jobs.last_sale_date(engine) + dt.timedelta(days=1)
    engine.dispose()
    nights = [tonight - dt.timedelta(days=k) for k in (3, 2, 0)]
    return settings, store, tonight, {night: _score(settings, store, night) for night in nights}


def test_the_adapter_reads_the_nights_figures_from_the_database_and_store(
    scored_nights: tuple[Settings, LocalModelStore, dt.date, Mapping[dt.date, ScoringSummary]],
) -> None:
    settings, store, tonight, summaries = scored_nights
    engine = connect(settings.database_url)
    try:
        found = gather_health_inputs(
            engine,
            store,
            tonight,
            predictions_table=settings.predictions_table,
            history_nights=SETTINGS.history_nights,
            step_seconds={"verify": 1.5},
        )
        from_summary = gather_health_inputs(
            engine,
            store,
            tonight,
            predictions_table=settings.predictions_table,
            history_nights=SETTINGS.history_nights,
            summary=summaries[tonight],
        )
        never = gather_health_inputs(
            engine,
            store,
            tonight + dt.timedelta(days=1),
            predictions_table=settings.predictions_table,
            history_nights=SETTINGS.history_nights,
        )
        customers = pd.read_sql_query("SELECT COUNT(*) AS n FROM customers", engine)
        predictions = pd.read_sql_query(f"SELECT label FROM {settings.predictions_table}", engine)
    finally:
        engine.dispose()
    summary = summaries[tonight]
    assert found.output == OutputCounts(summary.rows_written, summary.good)
    assert found.output.rows_written == len(predictions) > 0
    assert found.output.good == int((predictions["label"] == GOOD).sum()) > 0
    assert found.scored_as_of == frozenset(summaries)
    assert found.first_scored == min(summaries)
    assert found.step_seconds == {"verify": 1.5}
    assert found.profile is not None
    assert found.profile.tables["customers"].rows == int(customers["n"].iloc[0])
    assert from_summary.output == OutputCounts.from_summary(summary)
    assert from_summary.step_seconds == {"scoring": summary.seconds}
    assert never.output is None

    report = check_health(found, pd.DataFrame(columns=HISTORY_COLUMNS), SETTINGS)
    gap = tonight - dt.timedelta(days=1)
    assert report.failed_checks == (MISSING_RUN,)
    assert report.missing_as_of == (gap,)
    assert report.check(INPUT_VOLUME).status == "learning"
    figures = {
        s.label_map["figure"]: s.value
        for s in health_samples(report)
        if s.metric == PIPELINE_FIGURE
    }
    assert figures["input_customers"] == found.profile.tables["customers"].rows
    assert figures[OUTPUT_ROWS] == summary.rows_written
