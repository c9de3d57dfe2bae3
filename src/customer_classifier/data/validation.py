"""Data verification: judge a profile against the contract and thresholds.

Blocking problems stop the run before anything is trained, scored or written; the rest
are warnings in the report. Every message names the table, the column, the rule and the
fix that fits that rule. :func:`verify` is a pure function of the profile: the SQL that
measures lives in :mod:`customer_classifier.data.profile`.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from customer_classifier.data.contract import (
    OPTIONAL_SPECS,
    SALES_SPEC,
    SPECS,
    ColumnSpec,
    TableSpec,
    kind_satisfies,
)
from customer_classifier.data.profile import ColumnProfile, DataProfile, TableProfile
from customer_classifier.errors import DataVerificationError
from customer_classifier.reporting import Report
from customer_classifier.settings import VerificationThresholds

Severity = Literal["blocking", "warning"]


class Finding(BaseModel):
    table: str
    column: str | None
    rule: str
    severity: Severity
    message: str


class VerificationResult(BaseModel):
    profile: DataProfile
    findings: list[Finding]

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "blocking"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def passed(self) -> bool:
        return not self.blocking


def _finding(
    table: str, column: str | None, rule: str, severity: Severity, message: str
) -> Finding:
    where = f"{table}.{column}" if column else table
    return Finding(
        table=table,
        column=column,
        rule=rule,
        severity=severity,
        message=f"{where}: {rule}: {message}",
    )


def _fix(rule: str, col: ColumnSpec | None = None) -> str:
    """What to do about a finding of ``rule``: each rule has its own remedy."""
    null_ok = col is not None and col.nullable
    unknown = ", or store unknown values as null (the column allows nulls)" if null_ok else ""
    fixes = {
        "table_missing": "create it as docs/data-contract.md says",
        "empty_table": "check the load job upstream",
        "missing_column": "add it or map the source column to this name",
        "nulls": (
            "raise the limit (CC_VERIFICATION__NULL_FRACTION_OVERRIDES) or fill them upstream"
            if null_ok
            else "fill or drop these rows upstream"
        ),
        "below_minimum": f"correct these values at the source{unknown}",
        "above_maximum": f"correct these values at the source{unknown}",
        "not_allowed": "map them to one of the listed values at the source",
        "duplicate_keys": "deduplicate the source, or enforce the key with a unique index",
        "orphans": "load the missing customers or drop these sales",
        "future_dates": "fix the dates at the source (a time zone ahead of UTC, a typing "
        "error, a placeholder such as 9999-12-31)",
        "not_a_number": "clean them at the source (no units or thousands separators, '.' "
        f"as the decimal point){unknown}",
        "non_finite": "NaN and infinity are no measurement: store the real value"
        + (", or null where it is unknown" if null_ok else ", or drop these rows upstream"),
        "wrong_id_kind": "identifiers must be whole numbers, as the contract declares: load "
        "the numeric id, or map the source's ids to integers in the load job",
        "not_boolean": "store true/false as 1/0 (or a BOOLEAN column) at the source",
        "unparseable_dates": "store ISO 8601 text ('YYYY-MM-DD' for dates, 'YYYY-MM-DD "
        "HH:MM:SS' for timestamps) or a DATE/TIMESTAMP column at the source",
        "stale_sales": "check the sales load job; to score an earlier date on purpose, "
        "set the as-of date (CC_AS_OF or the pipeline's as_of)",
        "volume_change": "check the upstream load",
    }
    return fixes[rule]


def _check_fraction(
    findings: list[Finding],
    table: str,
    column: str | None,
    rule: str,
    count: int,
    rows: int,
    limit: float,
    what: str,
    fix: str,
) -> None:
    if count == 0 or rows == 0:
        return
    share = count / rows
    severity: Severity = "blocking" if share > limit else "warning"
    findings.append(
        _finding(
            table,
            column,
            rule,
            severity,
            f"{count} of {rows} rows ({share:.2%}) {what} (allowed: {limit:.2%}); {fix}",
        )
    )


_VALUE_RULES: tuple[tuple[str, str, str], ...] = (
    ("wrong_id_kind", "wrong_id_kind", "hold identifiers that are not whole numbers"),
    ("not_a_number", "not_a_number", "hold text where numbers are declared"),
    ("non_finite", "non_finite", "hold NaN or infinity"),
    ("not_boolean", "not_boolean", "hold values other than true/false (1/0)"),
    ("unparseable", "unparseable_dates", "hold dates or timestamps that do not parse"),
)
"""(profile field, rule, what the rows hold): rules without a threshold; any row blocks."""


def _wrong_type(spec: TableSpec, col: ColumnSpec, found: ColumnProfile, rows: int) -> Finding:
    """The column's SQL type does not fit; say whether its values would convert."""
    message = f"has type {found.sql_type}, expected {col.kind}; "
    bad = found.not_a_number if col.kind in ("int", "float") else found.unparseable
    if found.found_kind == "str" and col.kind in ("int", "float", "date", "datetime"):
        what = "numbers" if col.kind in ("int", "float") else "dates"
        if bad:
            message += (
                f"{bad} of {rows} values are not {what} either: correct them, then convert "
                f"the column to a {col.kind} type at the source"
            )
        else:
            message += f"every value reads as {what}: convert the column to a {col.kind} type"
    else:
        message += f"convert the column to a {col.kind} type at the source"
    return _finding(spec.name, col.name, "wrong_type", "blocking", message)


def _absent_attribute(spec: TableSpec, col: ColumnSpec, rows: int, filled_before: int) -> Finding:
    """An optional column null in every row: a source that does not have the attribute
    (transaction-only data) warns, and training leaves the column out; a column that the
    previous passing snapshot had filled (``filled_before`` rows) blocks, as a broken feed."""
    if filled_before:
        return _finding(
            spec.name,
            col.name,
            "stopped_filling",
            "blocking",
            f"all {rows} rows are null, but the previous snapshot had values in "
            f"{filled_before} rows: the source stopped filling the column; repair the feed, "
            "or delete the model store's state/last_profile.json if the attribute was "
            "dropped on purpose",
        )
    return _finding(
        spec.name,
        col.name,
        "absent_attribute",
        "warning",
        f"all {rows} rows are null: this source does not provide the attribute, and the "
        "models leave it out (docs/transaction-data.md)",
    )


def _check_column(
    findings: list[Finding],
    spec: TableSpec,
    col: ColumnSpec,
    found: ColumnProfile | None,
    rows: int,
    thresholds: VerificationThresholds,
    profiled_at: dt.datetime,
    filled_before: int = 0,
) -> None:
    name = spec.name
    if found is None:
        findings.append(
            _finding(
                name,
                col.name,
                "missing_column",
                "blocking",
                f"column is missing (expected {col.kind}); {_fix('missing_column')}",
            )
        )
        return
    if not kind_satisfies(found.found_kind, col.kind):
        findings.append(_wrong_type(spec, col, found, rows))
        return
    if not col.nullable:
        if found.nulls:
            findings.append(
                _finding(
                    name,
                    col.name,
                    "nulls",
                    "blocking",
                    f"{found.nulls} of {rows} rows are null but the column must not be; "
                    + _fix("nulls", col),
                )
            )
    elif rows and found.nulls == rows:
        findings.append(_absent_attribute(spec, col, rows, filled_before))
    else:
        limit = thresholds.null_fraction_overrides.get(
            f"{name}.{col.name}", thresholds.max_null_fraction
        )
        _check_fraction(
            findings,
            name,
            col.name,
            "nulls",
            found.nulls,
            rows,
            limit,
            "are null",
            _fix("nulls", col),
        )
    for attribute, rule, what in _VALUE_RULES:
        count = int(getattr(found, attribute))
        if count:
            findings.append(
                _finding(
                    name,
                    col.name,
                    rule,
                    "blocking",
                    f"{count} of {rows} rows {what}; " + _fix(rule, col),
                )
            )
    if col.minimum is not None:
        limit = thresholds.max_negative_amount_fraction if col.name == "amount" else 0.0
        _check_fraction(
            findings,
            name,
            col.name,
            "below_minimum",
            found.below_minimum,
            rows,
            limit,
            f"are below the minimum {col.minimum:g}",
            _fix("below_minimum", col),
        )
    if col.maximum is not None:
        _check_fraction(
            findings,
            name,
            col.name,
            "above_maximum",
            found.above_maximum,
            rows,
            0.0,
            f"are above the maximum {col.maximum:g}",
            _fix("above_maximum", col),
        )
    if col.allowed is not None and found.not_allowed:
        findings.append(
            _finding(
                name,
                col.name,
                "not_allowed",
                "blocking",
                f"{found.not_allowed} rows hold values outside {list(col.allowed)}; "
                + _fix("not_allowed", col),
            )
        )
    if col.kind in ("date", "datetime"):
        after = (
            f"{profiled_at:%Y-%m-%d %H:%M}" if col.kind == "datetime" else f"{profiled_at:%Y-%m-%d}"
        )
        _check_fraction(
            findings,
            name,
            col.name,
            "future_dates",
            found.future,
            rows,
            thresholds.max_future_fraction,
            f"are dated after {after}",
            _fix("future_dates", col),
        )


def _filled(table: TableProfile | None, column: str) -> int:
    """Rows in which ``column`` had a value in an earlier profile (0: none, or no profile)."""
    found = table.columns.get(column) if table is not None else None
    return 0 if table is None or found is None else max(0, table.rows - found.nulls)


def _check_table(
    findings: list[Finding],
    spec: TableSpec,
    table: TableProfile,
    thresholds: VerificationThresholds,
    profile: DataProfile,
    previous: DataProfile | None,
) -> None:
    if table.rows < thresholds.min_rows:
        findings.append(
            _finding(
                spec.name,
                None,
                "empty_table",
                "blocking",
                f"table has {table.rows} rows, at least {thresholds.min_rows} needed; "
                + _fix("empty_table"),
            )
        )
    earlier = previous.tables.get(spec.name) if previous is not None else None
    for col in spec.columns:
        _check_column(
            findings,
            spec,
            col,
            table.columns.get(col.name),
            table.rows,
            thresholds,
            profile.profiled_at,
            _filled(earlier, col.name),
        )
    if table.duplicate_keys:
        key = " and ".join((spec.key, *spec.key_scope))
        findings.append(
            _finding(
                spec.name,
                spec.key,
                "duplicate_keys",
                "blocking",
                f"{table.duplicate_keys} duplicate {key} values; {key} must be unique, "
                + _fix("duplicate_keys"),
            )
        )
    if earlier is not None:
        before = earlier.rows
        if before > 0 and table.rows > 0:
            change = (table.rows - before) / before
            if abs(change) > thresholds.max_volume_change:
                findings.append(
                    _finding(
                        spec.name,
                        None,
                        "volume_change",
                        "warning",
                        f"row count changed by {change:+.1%} since the previous snapshot "
                        f"({before} -> {table.rows}); {_fix('volume_change')}",
                    )
                )


def _check_freshness(
    findings: list[Finding],
    profile: DataProfile,
    thresholds: VerificationThresholds,
    as_of: dt.date | None,
    nightly: bool,
) -> None:
    """The newest sale against the as-of date, or the verification time without one.

    Without an as-of date the run scores the day after the newest sale, so a feed that
    stopped would quietly move the scoring date back: judged against the clock instead.
    An explicit as-of date (a backfill, a rerun) is judged against that date.
    """
    last = profile.last_sale
    if last is None:
        return
    if as_of is not None:
        reference = dt.datetime.combine(as_of, dt.time())
        against = f"the as-of date {as_of:%Y-%m-%d}"
    else:
        reference = profile.profiled_at
        default = last.date() + dt.timedelta(days=1)
        against = (
            f"the verification time {reference:%Y-%m-%d %H:%M} "
            f"(the default as-of date would be {default:%Y-%m-%d})"
        )
    age = (reference - last).total_seconds() / 86_400
    if age <= thresholds.max_sale_age_days:
        return
    severity: Severity = "blocking" if nightly else "warning"
    findings.append(
        _finding(
            SALES_SPEC.name,
            "sold_at",
            "stale_sales",
            severity,
            f"the newest sale ({last:%Y-%m-%d %H:%M}) is {age:.1f} days before {against} "
            f"(allowed: {thresholds.max_sale_age_days} days"
            f"{', blocking for nightly scoring' if nightly else ''}); {_fix('stale_sales')}",
        )
    )


def verify(
    profile: DataProfile,
    thresholds: VerificationThresholds,
    previous: DataProfile | None = None,
    *,
    as_of: dt.date | None = None,
    nightly: bool = False,
) -> VerificationResult:
    """All findings for ``profile``; never raises (see :func:`raise_on_blocking`).

    ``as_of``: the run's explicit as-of date, if any; ``nightly``: the verification
    guards nightly scoring, where stale sales block instead of warning.
    """
    findings: list[Finding] = []
    for spec in SPECS.values():
        table = profile.tables[spec.name]
        if not table.exists:
            findings.append(
                _finding(
                    spec.name,
                    None,
                    "table_missing",
                    "blocking",
                    f"table is missing; {_fix('table_missing')}",
                )
            )
            continue
        _check_table(findings, spec, table, thresholds, profile, previous)
    for spec in OPTIONAL_SPECS.values():
        optional = profile.tables.get(spec.name)
        if optional is not None and optional.exists:
            _check_table(findings, spec, optional, thresholds, profile, previous)
    sales_rows = profile.tables[SALES_SPEC.name].rows
    _check_fraction(
        findings,
        SALES_SPEC.name,
        "customer_id",
        "orphans",
        profile.orphan_sales,
        sales_rows,
        thresholds.max_orphan_fraction,
        "reference customers that do not exist",
        _fix("orphans"),
    )
    _check_freshness(findings, profile, thresholds, as_of, nightly)
    return VerificationResult(profile=profile, findings=findings)


def raise_on_blocking(result: VerificationResult) -> None:
    """Stop the run, naming every blocking finding."""
    if result.blocking:
        lines = [f.message for f in result.blocking]
        raise DataVerificationError(
            "data verification failed; nothing was trained, scored or written:\n  - "
            + "\n  - ".join(lines),
            problems=lines,
        )


def write_report(result: VerificationResult, html_path: Path, json_path: Path) -> None:
    """The verification report as HTML (for people) and JSON (for machines)."""
    json_path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "passed": result.passed,
        "findings": [f.model_dump() for f in result.findings],
        "profile": result.profile.model_dump(mode="json"),
    }
    json_path.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    report = Report("Data verification")
    verdict = "PASSED" if result.passed else "FAILED: the run was stopped"
    report.paragraph(
        f"{verdict}. Source: {result.profile.database}; profiled at "
        f"{result.profile.profiled_at:%Y-%m-%d %H:%M:%S}.",
        "ok" if result.passed else "bad",
    )
    report.heading("Findings")
    if result.findings:
        report.table(
            ["severity", "table", "column", "rule", "message"],
            [(f.severity, f.table, f.column or "", f.rule, f.message) for f in result.findings],
        )
    else:
        report.paragraph("No findings.", "ok")
    report.heading("Tables")
    for table in result.profile.tables.values():
        if not table.exists:
            continue
        report.table(
            ["table", "rows", "column", "type", "nulls"],
            [(table.name, table.rows, c.name, c.sql_type, c.nulls) for c in table.columns.values()],
        )
    report.write(html_path)
