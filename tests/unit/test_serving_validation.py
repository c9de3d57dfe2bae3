"""Request validation: V1 records and V2 tensors against the feature schema."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from kserve.protocol.infer_type import InferInput, InferRequest, RequestedOutput

from customer_classifier.features.build import FEATURE_NAMES, FEATURE_SCHEMA
from customer_classifier.registry.bundle import feature_schema_json
from customer_classifier.serving.checks import MAX_PROBLEMS, RequestError
from customer_classifier.serving.protocol_v1 import parse_v1
from customer_classifier.serving.protocol_v2 import parse_v2
from customer_classifier.serving.schema import RecordSchema

SCHEMA = RecordSchema.from_entries(feature_schema_json())


def record(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for spec in FEATURE_SCHEMA:
        if spec.kind == "numeric":
            values[spec.name] = (spec.minimum or 0) + 1 if (spec.maximum or 0) > 1 else 0.5
        else:
            assert spec.categories
            values[spec.name] = spec.categories[0]
    return {**values, **changes}


def v2_request(rows: list[dict[str, Any]], **extra: Any) -> InferRequest:
    inputs = []
    for spec in FEATURE_SCHEMA:
        data = [r[spec.name] for r in rows]
        datatype = "FP64" if spec.kind == "numeric" else "BYTES"
        inputs.append(InferInput(spec.name, [len(rows)], datatype, data))
    return InferRequest(model_name="m", infer_inputs=inputs, **extra)


def problem(call: Any) -> str:
    with pytest.raises(RequestError) as raised:
        call()
    return str(raised.value)


def test_v1_columns_keep_the_schema_order_and_types() -> None:
    records = parse_v1(
        {"instances": [record(age=None, country=None), record(customer_id=7)]}, SCHEMA, 10
    )
    assert records.rows == 2
    assert list(records.columns) == list(FEATURE_NAMES)
    assert records.columns["tenure_days"].dtype == np.float64
    assert math.isnan(records.columns["age"][0])
    assert records.columns["country"].dtype == object
    assert records.columns["country"][0] is None
    assert records.customer_ids == [None, 7]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"age": -1}, "instances[0].age must be a finite number from 0 to 130 or null, got -1"),
        ({"age": "3"}, "instances[0].age must be a number, got str '3'"),
        ({"loyalty_member": True}, "instances[0].loyalty_member must be a number, got bool true"),
        ({"tenure_days": None}, "instances[0].tenure_days must not be null"),
        ({"spend_total": math.inf}, "instances[0].spend_total must be a finite number from 0"),
        ({"age": math.nan}, "instances[0].age must be a finite number, got NaN"),
        ({"segment": "other"}, "instances[0].segment must be one of 'consumer'"),
        ({"segment": ["consumer"]}, "instances[0].segment must be a string"),
        ({"customer_id": 1.5}, "instances[0].customer_id must be a whole number"),
        ({"colour": "red"}, "instances[0].colour: unknown field"),
    ],
)
def test_v1_problems_name_field_rule_and_value(changes: dict[str, Any], expected: str) -> None:
    assert expected in problem(lambda: parse_v1({"instances": [record(**changes)]}, SCHEMA, 10))


def test_v1_missing_features_are_listed() -> None:
    body = {"instances": [{k: v for k, v in record().items() if k not in ("age", "country")}]}
    assert "instances[0]: missing feature(s) age, country" in problem(
        lambda: parse_v1(body, SCHEMA, 10)
    )


def test_v1_counts_and_shapes() -> None:
    assert "instances: empty" in problem(lambda: parse_v1({"instances": []}, SCHEMA, 10))
    too_many = {"instances": [record()] * 11}
    assert "11 records is more than the limit of 10" in problem(
        lambda: parse_v1(too_many, SCHEMA, 10)
    )
    assert "expected a list" in problem(lambda: parse_v1({"instances": {}}, SCHEMA, 10))
    assert "instances: missing" in problem(lambda: parse_v1({}, SCHEMA, 10))


def test_many_problems_are_capped_in_the_message() -> None:
    body = {"instances": [record(age=-1) for _ in range(30)]}
    with pytest.raises(RequestError) as raised:
        parse_v1(body, SCHEMA, 100)
    assert str(raised.value).count("must be") == MAX_PROBLEMS
    assert "more" in str(raised.value)


def test_v2_columns_and_requested_outputs() -> None:
    request = v2_request([record(), record(age=None)], request_outputs=[RequestedOutput("score")])
    records = parse_v2(request, SCHEMA, 10)
    assert records.rows == 2
    assert math.isnan(records.columns["age"][1])
    assert records.outputs == ("score",)


def test_v2_problems() -> None:
    request = v2_request([record()])
    request.inputs = [i for i in request.inputs if i.name != "age"]
    assert "inputs: missing input(s) age" in problem(lambda: parse_v2(request, SCHEMA, 10))

    request = v2_request([record()])
    request.inputs[0] = InferInput("tenure_days", [1], "BYTES", ["1"])
    assert "inputs.tenure_days: datatype BYTES" in problem(lambda: parse_v2(request, SCHEMA, 10))

    request = v2_request([record()])
    request.inputs[0] = InferInput("tenure_days", [2], "FP64", [1.0])
    message = problem(lambda: parse_v2(request, SCHEMA, 10))
    assert "same number of records" in message

    request = v2_request([record(tenure_days=math.nan)])
    assert "inputs.tenure_days[0] must be a finite number, got NaN" in problem(
        lambda: parse_v2(request, SCHEMA, 10)
    )

    request = v2_request([record()], request_outputs=[RequestedOutput("probability")])
    assert "outputs.probability: unknown output" in problem(lambda: parse_v2(request, SCHEMA, 10))


def test_v2_binary_tensors_take_nan_as_missing_where_nullable() -> None:
    request = v2_request([record()])
    ages = np.array([math.nan], dtype=np.float64)
    age = next(i for i in request.inputs if i.name == "age")
    age.set_data_from_numpy(ages, binary_data=True)
    records = parse_v2(request, SCHEMA, 10)
    assert math.isnan(records.columns["age"][0])
    tenure = next(i for i in request.inputs if i.name == "tenure_days")
    tenure.set_data_from_numpy(ages, binary_data=True)
    assert "tenure_days[0] must be a finite number" in problem(
        lambda: parse_v2(request, SCHEMA, 10)
    )


def test_v2_nested_single_values_are_accepted() -> None:
    request = v2_request([record(), record()])
    for tensor in request.inputs:
        tensor.data = [[v] for v in tensor.data]
        tensor.shape = [2, 1]
    assert parse_v2(request, SCHEMA, 10).rows == 2
