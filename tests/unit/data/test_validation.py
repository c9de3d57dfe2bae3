"""Verification rules: each one fires, thresholds are respected, warnings never block."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from customer_classifier.data.database import connect
from customer_classifier.data.profile import DataProfile, TableProfile, profile_database
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


@pytest.fixture(scope="module")
def clean(master_db: Path) -> DataProfile:
    engine = connect(f"sqlite:///{master_db}")
    try:
        return profile_database(engine, now=dt.datetime(2027, 1, 1))
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
    return lambda p: p.tables[table].columns.pop(column) and None


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
    p.future_sales = 1


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
        (_future, "sales.sold_at", "future_dates", "dated after"),
    ],
)
def test_each_rule_blocks_and_names_the_column(
    clean: DataProfile, mutation: Mutation, where: str, rule: str, words: str
) -> None:
    result = verify(changed(clean, mutation), DEFAULTS)
    finding = only(result, rule, where.partition(".")[2] or None)
    assert finding.severity == "blocking"
    assert finding.message.startswith(f"{where}: ")
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
