"""Data verification: judge a profile against the contract and thresholds.

Blocking problems stop the run before anything is trained, scored or written; the rest
are warnings in the report. Every message names the table, the column and the rule.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from customer_classifier.data.contract import SPECS, kind_satisfies
from customer_classifier.data.profile import DataProfile
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
        table=table, column=column, rule=rule, severity=severity, message=f"{where}: {message}"
    )


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


def verify(
    profile: DataProfile, thresholds: VerificationThresholds, previous: DataProfile | None = None
) -> VerificationResult:
    """All findings for ``profile``; never raises (see :func:`raise_on_blocking`)."""
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
                    "table is missing; create it as docs/data-contract.md says",
                )
            )
            continue
        if table.rows < thresholds.min_rows:
            findings.append(
                _finding(
                    spec.name,
                    None,
                    "empty_table",
                    "blocking",
                    f"table has {table.rows} rows, at least "
                    f"{thresholds.min_rows} needed; check the load job upstream",
                )
            )
        for col in spec.columns:
            found = table.columns.get(col.name)
            if found is None:
                findings.append(
                    _finding(
                        spec.name,
                        col.name,
                        "missing_column",
                        "blocking",
                        f"column is missing (expected {col.kind}); "
                        "add it or map the source column to this name",
                    )
                )
                continue
            if not kind_satisfies(found.found_kind, col.kind):
                findings.append(
                    _finding(
                        spec.name,
                        col.name,
                        "wrong_type",
                        "blocking",
                        f"has type {found.sql_type}, expected {col.kind}; "
                        "fix the column type in the source",
                    )
                )
                continue
            rows = table.rows
            if not col.nullable:
                if found.nulls:
                    findings.append(
                        _finding(
                            spec.name,
                            col.name,
                            "nulls",
                            "blocking",
                            f"{found.nulls} of {rows} rows are null but the "
                            "column must not be; fill or drop them upstream",
                        )
                    )
            else:
                limit = thresholds.null_fraction_overrides.get(
                    f"{spec.name}.{col.name}", thresholds.max_null_fraction
                )
                _check_fraction(
                    findings,
                    spec.name,
                    col.name,
                    "nulls",
                    found.nulls,
                    rows,
                    limit,
                    "are null",
                    "raise the threshold or fix the source",
                )
            if col.minimum is not None:
                limit = thresholds.max_negative_amount_fraction if col.name == "amount" else 0.0
                _check_fraction(
                    findings,
                    spec.name,
                    col.name,
                    "below_minimum",
                    found.below_minimum,
                    rows,
                    limit,
                    f"are below the minimum {col.minimum:g}",
                    "negative or zero values must be corrected upstream",
                )
            if col.maximum is not None:
                _check_fraction(
                    findings,
                    spec.name,
                    col.name,
                    "above_maximum",
                    found.above_maximum,
                    rows,
                    0.0,
                    f"are above the maximum {col.maximum:g}",
                    "correct them upstream",
                )
            if col.allowed is not None and found.not_allowed:
                findings.append(
                    _finding(
                        spec.name,
                        col.name,
                        "not_allowed",
                        "blocking",
                        f"{found.not_allowed} rows hold values outside "
                        f"{list(col.allowed)}; map them to a known value",
                    )
                )
        if table.duplicate_keys:
            findings.append(
                _finding(
                    spec.name,
                    spec.key,
                    "duplicate_keys",
                    "blocking",
                    f"{table.duplicate_keys} duplicate {spec.key} values; "
                    f"{spec.key} must be unique, deduplicate the source",
                )
            )
        if previous is not None and previous.tables.get(spec.name) is not None:
            before = previous.tables[spec.name].rows
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
                            f"({before} -> {table.rows}); check the upstream load",
                        )
                    )
    sales_rows = profile.tables["sales"].rows
    _check_fraction(
        findings,
        "sales",
        "customer_id",
        "orphans",
        profile.orphan_sales,
        sales_rows,
        thresholds.max_orphan_fraction,
        "reference customers that do not exist",
        "load the missing customers or drop these sales",
    )
    _check_fraction(
        findings,
        "sales",
        "sold_at",
        "future_dates",
        profile.future_sales,
        sales_rows,
        thresholds.max_future_fraction,
        f"are dated after {profile.profiled_at:%Y-%m-%d %H:%M}",
        "fix the timestamps (time zone or typing error) upstream",
    )
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
        report.table(
            ["table", "rows", "column", "type", "nulls"],
            [(table.name, table.rows, c.name, c.sql_type, c.nulls) for c in table.columns.values()],
        )
    report.write(html_path)
