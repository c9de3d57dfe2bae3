"""Which rows of a frame of feature records break :data:`FEATURE_SCHEMA`, column at a time.

The online predictor refuses a record with HTTP 400 when one of its values breaks its
feature's rule: outside the range, not a number, not a known category, null where the
feature may not be missing. Nightly scoring has to know which of its own records those
same rules refuse, for a million customers at a time; so here each rule is a numpy or
pandas operation over a whole column, and the result is a mask of refused rows with the
count per feature and rule. Only an ``object`` column where numbers are expected (which
the feature builder never produces) is looked at value by value, to tell a number from
a string or a boolean as the online check does.

In a frame a missing value is NaN or None, which a JSON request sends as null: NaN here
is null, never a number.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from customer_classifier.features.build import (
    FEATURE_SCHEMA,
    NULLABLE_FEATURES,
    FeatureSpec,
    expected_value,
)
from customer_classifier.registry.bundle import recorded_feature_schema

NULL = "null"
"""Null in a feature that may not be missing."""
NOT_A_NUMBER = "not a number"
OUT_OF_RANGE = "out of range"
UNKNOWN_CATEGORY = "not a known category"
MISSING_COLUMN = "missing column"
EXAMPLES = 3
"""Offending records named per finding."""


@dataclass(frozen=True)
class Finding:
    """Records of one feature that break one rule."""

    feature: str
    rule: str
    records: int
    expected: str
    examples: tuple[tuple[Any, Any], ...]
    """(customer id, value) of the first offenders."""

    def describe(self) -> str:
        shown = ", ".join(f"customer {key}: {value!r}" for key, value in self.examples)
        return f"{self.feature}: {self.records} record(s) {self.rule}, expected {self.expected}" + (
            f" (e.g. {shown})" if shown else ""
        )


@dataclass(frozen=True)
class RecordCheck:
    """The verdict on every row of a frame."""

    invalid: np.ndarray
    """True for a row that at least one rule refuses."""
    findings: tuple[Finding, ...]

    @property
    def count(self) -> int:
        return int(np.count_nonzero(self.invalid))


def schema_from_metadata(
    metadata: Mapping[str, Any],
) -> tuple[tuple[FeatureSpec, ...], frozenset[str]]:
    """The feature rules and nullable features the model version records: the same
    source the online predictor reads (:func:`recorded_feature_schema`), so both refuse
    the same records; a version that records none is refused, as it is online."""
    entries = recorded_feature_schema(dict(metadata))
    specs = tuple(
        FeatureSpec(
            name=str(e["name"]),
            kind=str(e["kind"]),
            minimum=None if e.get("minimum") is None else float(e["minimum"]),
            maximum=None if e.get("maximum") is None else float(e["maximum"]),
            categories=tuple(e.get("categories") or ()) or None,
        )
        for e in entries
    )
    return specs, frozenset(str(e["name"]) for e in entries if e["nullable"])


def _expected(spec: FeatureSpec, nullable: bool) -> str:
    numeric = spec.kind == "numeric"
    return expected_value(numeric, spec.minimum, spec.maximum, spec.categories or (), nullable)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def _numeric_masks(column: pd.Series, spec: FeatureSpec) -> dict[str, np.ndarray]:
    null = column.isna().to_numpy()
    if pd.api.types.is_bool_dtype(column.dtype):
        return {NOT_A_NUMBER: ~null, "_null": null}
    if pd.api.types.is_numeric_dtype(column.dtype):
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        typed = np.zeros(len(column), dtype=bool)
    else:
        number = column.map(_is_number).to_numpy(dtype=bool)
        typed = ~null & ~number
        values = pd.to_numeric(column.where(number), errors="coerce").to_numpy(dtype=np.float64)
    low = -np.inf if spec.minimum is None else spec.minimum
    high = np.inf if spec.maximum is None else spec.maximum
    with np.errstate(invalid="ignore"):
        inside = np.isfinite(values) & (values >= low) & (values <= high)
    return {NOT_A_NUMBER: typed, OUT_OF_RANGE: ~null & ~typed & ~inside, "_null": null}


def _categorical_masks(column: pd.Series, spec: FeatureSpec) -> dict[str, np.ndarray]:
    # A known category is never null: only the few other values are tested for null,
    # which costs a fraction of testing a whole object column.
    known = column.isin(spec.categories or ()).to_numpy()
    other = np.flatnonzero(~known)
    null = np.zeros(len(column), dtype=bool)
    null[other] = pd.isna(column.to_numpy()[other])
    return {UNKNOWN_CATEGORY: ~null & ~known, "_null": null}


def check_records(
    frame: pd.DataFrame,
    schema: Sequence[FeatureSpec] = FEATURE_SCHEMA,
    nullable: Collection[str] = NULLABLE_FEATURES,
) -> RecordCheck:
    """The rows of ``frame`` (index: customer id) that the online predictor would refuse."""
    invalid = np.zeros(len(frame), dtype=bool)
    findings: list[Finding] = []
    for spec in schema:
        may_be_null = spec.name in nullable
        expected = _expected(spec, may_be_null)
        if spec.name not in frame.columns:
            if len(frame):
                invalid[:] = True
                findings.append(Finding(spec.name, MISSING_COLUMN, len(frame), expected, ()))
            continue
        column = frame[spec.name]
        masks = (
            _numeric_masks(column, spec)
            if spec.kind == "numeric"
            else _categorical_masks(column, spec)
        )
        null = masks.pop("_null")
        if not may_be_null:
            masks[NULL] = null
        for rule, mask in masks.items():
            records = int(np.count_nonzero(mask))
            if not records:
                continue
            invalid |= mask
            first = np.flatnonzero(mask)[:EXAMPLES]
            examples = tuple(
                (_plain(key), _plain(value))
                for key, value in zip(frame.index[first], column.iloc[first], strict=True)
            )
            findings.append(Finding(spec.name, rule, records, expected, examples))
    return RecordCheck(invalid=invalid, findings=tuple(findings))


def merge_findings(findings: Sequence[Finding]) -> tuple[Finding, ...]:
    """Findings of several chunks as one per feature and rule: counts added, first examples."""
    merged: dict[tuple[str, str], Finding] = {}
    for f in findings:
        seen = merged.get((f.feature, f.rule))
        if seen is None:
            merged[(f.feature, f.rule)] = f
        else:
            merged[(f.feature, f.rule)] = Finding(
                f.feature,
                f.rule,
                seen.records + f.records,
                f.expected,
                (seen.examples + f.examples)[:EXAMPLES],
            )
    return tuple(merged.values())


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value, so findings print and serialise plainly."""
    if isinstance(value, np.generic):
        return value.item()
    return None if value is pd.NA else value
