"""Verification rules: each one fires, thresholds are respected, warnings never block."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from customer_classifier.data.database import connect
from customer_classifier.data.profile import (
    ColumnProfile,
    DataProfile,
    TableProfile,
    profile_database,
)
from customer_classifier.data.validation import (
    Finding,
    VerificationResult,
    raise_on_blocking,
    verify,
    write_report,
)
from customer_classifier.errors import DataVerificationError
from customer_classifier.settings import VerificationThresholds

DEFAULTS = VerificationThresholds()
Mutation = Callable[[DataProfile], None]
NOW = dt.datetime(2026, 7, 1, 12, 0)
"""The morning after the generated history ends: the sales are fresh."""


@pytest.fixture(scope="module")
def clean(master_db: Path) -> DataProfile:
    engine = connect(f"sqlite:///{master_db}")
    try:
        return profile_database(engine, now=NOW)
    finally:
        engine.dispose()


def changed(profile: DataProfile, mutation: Mutation) -> DataProfile:
    copy = profile.model_copy(deep=True)
    mutation(copy)
    return copy


def only(result: VerificationResult, rule: str, column: str | None = None) -> Finding:
    """The single finding of ``rule`` (on ``column`` when given)."""
    found = [f for f in result.findings if f.rule == rule and column in (None, f.column)]
    assert len(found) == 1, result.findings
    return found[0]


def test_clean_data_passes_with_warnings_only_for_nullable_columns(clean: DataProfile) -> None:
    result = verify(clean, DEFAULTS)
    assert result.passed
    assert result.blocking == []
    assert {(f.table, f.column, f.rule) for f in result.warnings} == {
        ("customers", "country", "nulls"),
        ("customers", "acquisition_channel", "nulls"),
        ("customers", "birth_year", "nulls"),
    }
    raise_on_blocking(result)  # does not raise


def _set(table: str, column: str, field: str, value: object) -> Mutation:
    def mutate(p: DataProfile) -> None:
        setattr(p.tables[table].columns[column], field, value)

    return mutate


def _drop_column(table: str, column: str) -> Mutation:
    def mutate(p: DataProfile) -> None:
        del p.tables[table].columns[column]

    return mutate


def _table(table: str, **fields: object) -> Mutation:
    def mutate(p: DataProfile) -> None:
        for key, value in fields.items():
            setattr(p.tables[table], key, value)

    return mutate


def _missing_table(p: DataProfile) -> None:
    p.tables["sales"] = TableProfile(name="sales", exists=False)


def _wrong_type(p: DataProfile) -> None:
    _set("sales", "amount", "found_kind", "str")(p)
    _set("sales", "amount", "sql_type", "VARCHAR")(p)


def _orphans(p: DataProfile) -> None:
    p.orphan_sales = 1


def _future(p: DataProfile) -> None:
    p.tables["sales"].columns["sold_at"].future = 1


def _labels(**fields: object) -> Mutation:
    """A labels table with the contract's columns, then ``fields`` set on it."""

    def mutate(p: DataProfile) -> None:
        columns = {
            name: ColumnProfile(name=name, found_kind=kind, sql_type=kind.upper())
            for name, kind in (("customer_id", "int"), ("as_of_date", "date"), ("label", "str"))
        }
        p.tables["customer_labels"] = TableProfile(
            name="customer_labels", exists=True, rows=100, columns=columns
        )
        for key, value in fields.items():
            if "." in key:
                column, attribute = key.split(".")
                setattr(p.tables["customer_labels"].columns[column], attribute, value)
            else:
                setattr(p.tables["customer_labels"], key, value)

    return mutate


@pytest.mark.parametrize(
    ("mutation", "where", "rule", "words"),
    [
        (_missing_table, "sales", "table_missing", "table is missing"),
        (_table("sales", rows=0), "sales", "empty_table", "0 rows"),
        (_drop_column("sales", "amount"), "sales.amount", "missing_column", "column is missing"),
        (_wrong_type, "sales.amount", "wrong_type", "has type VARCHAR, expected float"),
        (_set("customers", "segment", "nulls", 1), "customers.segment", "nulls", "must not be"),
        (_set("customers", "country", "nulls", 2000), "customers.country", "nulls", "are null"),
        (_set("sales", "amount", "below_minimum", 1), "sales.amount", "below_minimum", "minimum"),
        (
            _set("customers", "birth_year", "above_maximum", 1),
            "customers.birth_year",
            "above_maximum",
            "maximum 2015",
        ),
        (
            _set("customers", "segment", "not_allowed", 3),
            "customers.segment",
            "not_allowed",
            "outside",
        ),
        (
            _table("customers", duplicate_keys=2),
            "customers.customer_id",
            "duplicate_keys",
            "2 duplicate customer_id",
        ),
        (_orphans, "sales.customer_id", "orphans", "customers that do not exist"),
        (_future, "sales.sold_at", "future_dates", "dated after 2026-07-01 12:00"),
        (
            _set("customers", "signup_date", "future", 1),
            "customers.signup_date",
            "future_dates",
            "dated after 2026-07-01",
        ),
        (
            _set("sales", "sold_at", "unparseable", 2),
            "sales.sold_at",
            "unparseable_dates",
            "do not parse",
        ),
        (
            _set("customers", "signup_date", "unparseable", 1),
            "customers.signup_date",
            "unparseable_dates",
            "do not parse",
        ),
        (
            _set("sales", "amount", "not_a_number", 3),
            "sales.amount",
            "not_a_number",
            "text where numbers are declared",
        ),
        (_set("sales", "amount", "non_finite", 1), "sales.amount", "non_finite", "NaN or infinity"),
        (
            _set("sales", "customer_id", "wrong_id_kind", 1),
            "sales.customer_id",
            "wrong_id_kind",
            "identifiers that are not whole numbers",
        ),
        (
            _set("sales", "returned", "not_boolean", 1),
            "sales.returned",
            "not_boolean",
            "other than true/false",
        ),
        (
            _labels(**{"label.not_allowed": 2}),
            "customer_labels.label",
            "not_allowed",
            "outside ['good', 'bad']",
        ),
        (
            _labels(duplicate_keys=3),
            "customer_labels.customer_id",
            "duplicate_keys",
            "3 duplicate customer_id and as_of_date values",
        ),
        (
            _labels(**{"as_of_date.future": 1}),
            "customer_labels.as_of_date",
            "future_dates",
            "dated after",
        ),
        (
            _labels(**{"customer_id.wrong_id_kind": 1}),
            "customer_labels.customer_id",
            "wrong_id_kind",
            "not whole numbers",
        ),
        (
            _labels(**{"as_of_date.found_kind": "str", "as_of_date.sql_type": "VARCHAR"}),
            "customer_labels.as_of_date",
            "wrong_type",
            "expected date",
        ),
    ],
)
def test_each_rule_blocks_and_names_the_column(
    clean: DataProfile, mutation: Mutation, where: str, rule: str, words: str
) -> None:
    result = verify(changed(clean, mutation), DEFAULTS)
    table, _, column = where.partition(".")
    finding = only(result, rule, column or None)
    assert finding.table == table
    assert finding.severity == "blocking"
    assert finding.message.startswith(f"{where}: {rule}: ")
    assert words in finding.message
    assert not result.passed
    with pytest.raises(DataVerificationError) as raised:
        raise_on_blocking(result)
    assert raised.value.problems == [f.message for f in result.blocking]
    assert finding.message in str(raised.value)


def test_a_widening_type_is_accepted(clean: DataProfile) -> None:
    result = verify(changed(clean, _set("sales", "amount", "found_kind", "int")), DEFAULTS)
    assert not [f for f in result.findings if f.rule == "wrong_type"]


@pytest.mark.parametrize(
    ("nulls", "severity"),
    [(0, None), (int(0.20 * 3000), "warning"), (int(0.30 * 3000), "blocking")],
)
def test_null_override_replaces_the_default_limit(
    clean: DataProfile, nulls: int, severity: str | None
) -> None:
    """birth_year may be 25% null (override); the default limit is 5%."""
    result = verify(changed(clean, _set("customers", "birth_year", "nulls", nulls)), DEFAULTS)
    found = [f for f in result.findings if f.column == "birth_year" and f.rule == "nulls"]
    assert [f.severity for f in found] == ([severity] if severity else [])


@pytest.mark.parametrize(
    ("mutation", "rule", "column", "thresholds"),
    [
        (
            _set("customers", "country", "nulls", 600),
            "nulls",
            "country",
            VerificationThresholds(max_null_fraction=0.5),
        ),
        (
            _set("sales", "amount", "below_minimum", 10),
            "below_minimum",
            "amount",
            VerificationThresholds(max_negative_amount_fraction=0.01),
        ),
        (_orphans, "orphans", "customer_id", VerificationThresholds(max_orphan_fraction=0.01)),
        (_future, "future_dates", "sold_at", VerificationThresholds(max_future_fraction=0.01)),
    ],
)
def test_a_share_within_its_threshold_only_warns(
    clean: DataProfile,
    mutation: Mutation,
    rule: str,
    column: str,
    thresholds: VerificationThresholds,
) -> None:
    profile = changed(clean, mutation)
    assert only(verify(profile, DEFAULTS), rule, column).severity == "blocking"
    relaxed = verify(profile, thresholds)
    assert only(relaxed, rule, column).severity == "warning"
    assert relaxed.passed


def test_min_rows_threshold(clean: DataProfile) -> None:
    rows = clean.tables["customers"].rows
    assert verify(clean, VerificationThresholds(min_rows=rows)).passed
    result = verify(clean, VerificationThresholds(min_rows=rows + 1))
    finding = only(result, "empty_table")
    assert (finding.table, finding.severity) == ("customers", "blocking")
    assert f"at least {rows + 1}" in finding.message


def test_volume_change_against_the_previous_profile_warns(clean: DataProfile) -> None:
    previous = changed(clean, _table("sales", rows=clean.tables["sales"].rows * 3))
    result = verify(clean, DEFAULTS, previous)
    finding = only(result, "volume_change")
    assert (finding.table, finding.severity) == ("sales", "warning")
    assert "-66.7%" in finding.message
    assert result.passed


def test_volume_change_within_the_limit_is_silent(clean: DataProfile) -> None:
    rows = clean.tables["sales"].rows
    previous = changed(clean, _table("sales", rows=int(rows / 1.4)))
    assert not [f for f in verify(clean, DEFAULTS, previous).findings if f.rule == "volume_change"]
    strict = VerificationThresholds(max_volume_change=0.1)
    assert only(verify(clean, strict, previous), "volume_change").severity == "warning"


def test_report_is_written_for_people_and_machines(clean: DataProfile, tmp_path: Path) -> None:
    result = verify(changed(clean, _orphans), DEFAULTS)
    write_report(result, tmp_path / "r" / "verification.html", tmp_path / "r" / "verification.json")
    payload = json.loads((tmp_path / "r" / "verification.json").read_text(encoding="utf-8"))
    assert payload["passed"] is False
    assert any(f["rule"] == "orphans" for f in payload["findings"])
    html = (tmp_path / "r" / "verification.html").read_text(encoding="utf-8")
    assert "FAILED" in html
    assert "sales.customer_id" in html


@pytest.mark.parametrize(
    ("mutation", "rule", "fix"),
    [
        (
            _set("customers", "birth_year", "below_minimum", 1),
            "below_minimum",
            "store unknown values as null",
        ),
        (_set("sales", "amount", "below_minimum", 1), "below_minimum", "correct these values"),
        (_set("sales", "sold_at", "unparseable", 1), "unparseable_dates", "ISO 8601"),
        (_set("sales", "customer_id", "wrong_id_kind", 1), "wrong_id_kind", "ids to integers"),
        (_set("sales", "amount", "not_a_number", 1), "not_a_number", "decimal point"),
        (_future, "future_dates", "time zone"),
    ],
)
def test_each_rule_carries_its_own_fix(
    clean: DataProfile, mutation: Mutation, rule: str, fix: str
) -> None:
    finding = only(verify(changed(clean, mutation), DEFAULTS), rule)
    assert fix in finding.message
    assert "negative" not in finding.message


def test_a_birth_year_of_1800_is_not_told_about_negative_values(clean: DataProfile) -> None:
    result = verify(changed(clean, _set("customers", "birth_year", "below_minimum", 3)), DEFAULTS)
    message = only(result, "below_minimum", "birth_year").message
    assert "below the minimum 1900" in message
    assert "negative or zero" not in message


def test_a_text_column_says_whether_its_values_would_convert(clean: DataProfile) -> None:
    def text_amounts(bad: int) -> Mutation:
        def mutate(p: DataProfile) -> None:
            _wrong_type(p)
            _set("sales", "amount", "not_a_number", bad)(p)

        return mutate

    convertible = only(verify(changed(clean, text_amounts(0)), DEFAULTS), "wrong_type").message
    assert "every value reads as numbers" in convertible
    stuck = only(verify(changed(clean, text_amounts(7)), DEFAULTS), "wrong_type").message
    assert f"7 of {clean.tables['sales'].rows} values are not numbers" in stuck


def _stale(days: float) -> Mutation:
    """The newest sale ``days`` before the verification time."""

    def mutate(p: DataProfile) -> None:
        p.last_sale = p.profiled_at - dt.timedelta(days=days)

    return mutate


@pytest.mark.parametrize(("nightly", "severity"), [(True, "blocking"), (False, "warning")])
def test_stale_sales_block_nightly_scoring_and_warn_otherwise(
    clean: DataProfile, nightly: bool, severity: str
) -> None:
    assert clean.last_sale is not None
    assert not [f for f in verify(clean, DEFAULTS, nightly=True).findings if f.column == "sold_at"]
    result = verify(changed(clean, _stale(9.5)), DEFAULTS, nightly=nightly)
    finding = only(result, "stale_sales", "sold_at")
    assert finding.severity == severity
    assert finding.message.startswith("sales.sold_at: stale_sales: ")
    assert "9.5 days before the verification time 2026-07-01 12:00" in finding.message
    assert "the default as-of date would be" in finding.message
    assert result.passed is (not nightly)


def test_freshness_limit_is_a_setting(clean: DataProfile) -> None:
    profile = changed(clean, _stale(5))
    assert only(verify(profile, DEFAULTS, nightly=True), "stale_sales").severity == "blocking"
    relaxed = VerificationThresholds(max_sale_age_days=7)
    assert verify(profile, relaxed, nightly=True).passed


def test_an_explicit_as_of_date_is_judged_against_the_newest_sale(clean: DataProfile) -> None:
    """A backfill of a past date is fresh; a date long after the newest sale is not."""
    stale = changed(clean, _stale(30))
    assert stale.last_sale is not None
    backfill = stale.last_sale.date() + dt.timedelta(days=1)
    assert verify(stale, DEFAULTS, as_of=backfill, nightly=True).passed
    later = backfill + dt.timedelta(days=10)
    finding = only(verify(stale, DEFAULTS, as_of=later, nightly=True), "stale_sales")
    assert f"before the as-of date {later:%Y-%m-%d}" in finding.message


def test_a_missing_labels_table_is_no_finding(clean: DataProfile) -> None:
    assert not clean.tables["customer_labels"].exists
    assert not [f for f in verify(clean, DEFAULTS).findings if f.table == "customer_labels"]
    assert verify(changed(clean, _labels()), DEFAULTS).passed


def test_an_attribute_the_source_never_fills_warns_and_training_goes_on(
    clean: DataProfile,
) -> None:
    """Transaction-only sources have no country: every row null is an absent attribute."""
    rows = clean.tables["customers"].rows
    result = verify(changed(clean, _set("customers", "country", "nulls", rows)), DEFAULTS)
    finding = only(result, "absent_attribute", "country")
    assert finding.severity == "warning"
    assert "does not provide the attribute" in finding.message
    assert result.passed


def test_an_attribute_that_stopped_being_filled_blocks(clean: DataProfile) -> None:
    rows = clean.tables["customers"].rows
    empty = changed(clean, _set("customers", "country", "nulls", rows))
    result = verify(empty, DEFAULTS, previous=clean)
    finding = only(result, "stopped_filling", "country")
    assert finding.severity == "blocking"
    assert "customers.country" in finding.message
    assert not result.passed
    # Empty before and empty now: still an absent attribute, not a broken feed.
    assert verify(empty, DEFAULTS, previous=empty).passed
