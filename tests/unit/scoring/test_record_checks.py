"""The batch's record check refuses exactly the records the online predictor answers 400."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from customer_classifier.errors import RegistryError
from customer_classifier.features.build import FEATURE_NAMES
from customer_classifier.registry.bundle import feature_schema_json
from customer_classifier.scoring.record_checks import (
    NOT_A_NUMBER,
    NULL,
    OUT_OF_RANGE,
    UNKNOWN_CATEGORY,
    check_records,
    merge_findings,
    schema_from_metadata,
)
from customer_classifier.serving.checks import RequestError
from customer_classifier.serving.protocol_v1 import parse_v1
from customer_classifier.serving.schema import RecordSchema


def good_record() -> dict[str, Any]:
    record: dict[str, Any] = dict.fromkeys(FEATURE_NAMES, 1.0)
    record.update(
        loyalty_member=0.0,
        return_rate_365d=0.1,
        spend_trend=1.2,
        country="DE",
        segment="consumer",
        acquisition_channel="web",
    )
    return record


BAD_VALUES: list[tuple[str, Any]] = [
    ("age", 226.0),  # born 1800
    ("age", -3.0),
    ("tenure_days", math.inf),
    ("spend_total", -5.0),
    ("loyalty_member", None),  # null where it may not be missing
    ("share_books", 1.5),
    ("loyalty_member", "1"),  # text in a numeric feature
    ("orders_total", True),  # a boolean is not a number
    ("country", "CH"),  # outside the eight codes the models know
    ("segment", None),
    ("segment", "Consumer"),
    ("acquisition_channel", 7),  # not a string
]
FINE_VALUES: list[tuple[str, Any]] = [
    ("age", None),
    ("country", None),
    ("days_since_last_purchase", None),
    ("age", 130.0),
    ("spend_trend", 0),
]


def records() -> list[dict[str, Any]]:
    out = [good_record()]
    for name, value in [*BAD_VALUES, *FINE_VALUES]:
        out.append({**good_record(), name: value})
    return out


CODE_SCHEMA = RecordSchema.from_entries(feature_schema_json())


def online_refuses(record: dict[str, Any]) -> bool:
    try:
        parse_v1(
            {"instances": [record]}, RecordSchema.from_entries(feature_schema_json()), max_rows=10
        )
    except RequestError:
        return True
    return False


def as_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The records as the batch holds them: None becomes NaN in numeric columns."""
    frame = pd.DataFrame(rows, index=pd.Index(range(100, 100 + len(rows)), name="customer_id"))
    return frame[list(FEATURE_NAMES)]


def test_batch_and_online_refuse_the_same_records() -> None:
    rows = records()
    online = [online_refuses(r) for r in rows]
    batch = check_records(as_frame(rows))
    assert online == [False] + [True] * len(BAD_VALUES) + [False] * len(FINE_VALUES)
    assert batch.invalid.tolist() == online
    assert batch.count == len(BAD_VALUES)


def test_findings_name_the_feature_the_rule_and_the_customer() -> None:
    check = check_records(as_frame(records()))
    found = {(f.feature, f.rule): f for f in check.findings}
    assert found[("age", OUT_OF_RANGE)].records == 2
    assert found[("age", OUT_OF_RANGE)].examples == ((101, 226.0), (102, -3.0))
    assert found[("loyalty_member", NULL)].records == 1
    assert found[("loyalty_member", NOT_A_NUMBER)].examples == ((107, "1"),)
    assert found[("orders_total", NOT_A_NUMBER)].records == 1
    assert found[("segment", UNKNOWN_CATEGORY)].examples == ((111, "Consumer"),)
    text = found[("country", UNKNOWN_CATEGORY)].describe()
    assert text.startswith("country: 1 record(s) not a known category, expected one of 'DE'")
    assert "customer 109: 'CH'" in text


def test_float_columns_take_the_vectorised_path() -> None:
    size = 10_000
    frame = pd.DataFrame(
        {name: np.ones(size) for name in FEATURE_NAMES},
        index=pd.Index(np.arange(size), name="customer_id"),
    )
    frame["country"], frame["segment"], frame["acquisition_channel"] = "DE", "consumer", None
    frame.loc[[3, 5], "age"] = np.nan
    frame.loc[7, "age"] = 131.0
    frame.loc[9, "spend_trend"] = np.nan
    check = check_records(frame)
    assert np.flatnonzero(check.invalid).tolist() == [7, 9]


def test_merged_findings_add_counts_across_chunks() -> None:
    rows = records()
    first, second = check_records(as_frame(rows[:6])), check_records(as_frame(rows[6:]))
    both = merge_findings([*first.findings, *second.findings])
    merged = {(f.feature, f.rule): f.records for f in both}
    whole = {(f.feature, f.rule): f.records for f in check_records(as_frame(rows)).findings}
    assert merged == whole


@pytest.mark.parametrize("nullable", [["age"], []])
def test_a_version_schema_replaces_the_code_schema(nullable: list[str]) -> None:
    metadata = {
        "feature_schema": [
            {
                "name": "age",
                "kind": "numeric",
                "minimum": 18,
                "maximum": 99,
                "nullable": "age" in nullable,
            }
        ],
    }
    specs, may_be_null = schema_from_metadata(metadata)
    frame = pd.DataFrame({"age": [17.0, 40.0, np.nan]})
    check = check_records(frame, specs, may_be_null)
    assert check.invalid.tolist() == [True, False, not nullable]


def test_a_version_without_a_recorded_schema_is_refused_as_online() -> None:
    with pytest.raises(RegistryError, match="has no feature_schema"):
        schema_from_metadata({"version": "v1"})
