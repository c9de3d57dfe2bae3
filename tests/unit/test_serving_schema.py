"""The served schema is the one the version's bundle recorded, nullability included."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from customer_classifier.errors import RegistryError
from customer_classifier.features.build import FEATURE_NAMES, NULLABLE_FEATURES
from customer_classifier.registry.bundle import feature_schema_json
from customer_classifier.serving.checks import RequestError
from customer_classifier.serving.protocol_v1 import parse_v1
from customer_classifier.serving.schema import RecordSchema


def metadata(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {"version": "v-test", "feature_schema": entries}


def test_a_registered_bundle_records_every_features_nullability() -> None:
    schema = RecordSchema.from_bundle(metadata(feature_schema_json()))
    assert schema.names == FEATURE_NAMES
    assert {f.name for f in schema.fields if f.nullable} == set(NULLABLE_FEATURES)


def test_the_bundle_decides_not_the_code() -> None:
    entries = copy.deepcopy(feature_schema_json())
    for entry in entries:
        if entry["name"] == "age":
            entry["nullable"] = False  # the code says nullable
            entry["maximum"] = 99
    schema = RecordSchema.from_bundle(metadata(entries))
    age = next(f for f in schema.fields if f.name == "age")
    assert (age.nullable, age.maximum) == (False, 99.0)
    record = {f.name: (f.minimum or 0.0) if f.numeric else f.categories[0] for f in schema.fields}
    with pytest.raises(RequestError, match=r"instances\[0\]\.age must not be null"):
        parse_v1({"instances": [{**record, "age": None}]}, schema, 10)
    custom = RecordSchema.from_bundle(
        metadata([{"name": "x", "kind": "numeric", "minimum": 0, "maximum": 2, "nullable": True}])
    )
    assert custom.names == ("x",)
    assert custom.fields[0].nullable


def test_a_bundle_without_a_schema_is_refused() -> None:
    for legacy in ({"version": "v-old"}, {"version": "v-old", "feature_schema": []}):
        with pytest.raises(RegistryError) as raised:
            RecordSchema.from_bundle(legacy)
        message = str(raised.value)
        assert "v-old" in message
        assert "no feature_schema" in message
        assert "register the model again" in message


def test_a_schema_without_nullability_is_refused() -> None:
    entries = [{k: v for k, v in e.items() if k != "nullable"} for e in feature_schema_json()]
    with pytest.raises(RegistryError) as raised:
        RecordSchema.from_bundle(metadata(entries))
    message = str(raised.value)
    assert "'tenure_days' lacks nullable" in message
    assert "register the model again" in message
    entries = copy.deepcopy(feature_schema_json())
    entries[0]["nullable"] = "yes"
    with pytest.raises(RegistryError, match="true/false nullable"):
        RecordSchema.from_bundle(metadata(entries))
