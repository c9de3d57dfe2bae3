"""Every client mistake is a 400 (413 for an oversized body) naming the field; never a 5xx."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import MODEL_NAME, ModelServer, ServingData, feature_records, v2_inputs

V1 = f"/v1/models/{MODEL_NAME}:predict"
V2 = f"/v2/models/{MODEL_NAME}/infer"
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def record(serving_data: ServingData) -> dict[str, Any]:
    """A complete valid feature record (no nulls), without customer_id."""
    for candidate in feature_records(serving_data.features()):
        if all(v is not None for v in candidate.values()):
            return {k: v for k, v in candidate.items() if k != "customer_id"}
    raise AssertionError("no complete record in the test data")


def _v1(**changes: Any) -> Callable[[dict[str, Any]], Any]:
    def build(record: dict[str, Any]) -> Any:
        bad = {**record, **changes}
        return {"instances": [bad]}

    return build


def _v1_without(name: str) -> Callable[[dict[str, Any]], Any]:
    return lambda record: {"instances": [{k: v for k, v in record.items() if k != name}]}


def _v2(edit: Callable[[list[dict[str, Any]]], object]) -> Callable[[dict[str, Any]], Any]:
    def build(record: dict[str, Any]) -> Any:
        inputs = v2_inputs([record])
        edit(inputs)
        return {"inputs": inputs}

    return build


def _input(inputs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(i for i in inputs if i["name"] == name)


def _set(name: str, **fields: Any) -> Callable[[list[dict[str, Any]]], object]:
    return lambda inputs: _input(inputs, name).update(fields)


def _drop(name: str) -> Callable[[list[dict[str, Any]]], object]:
    return lambda inputs: inputs.remove(_input(inputs, name))


def _raw(text: str) -> Callable[[dict[str, Any]], Any]:
    return lambda record: text.encode()


def _raw_bytes(body: bytes) -> Callable[[dict[str, Any]], Any]:
    return lambda record: body


def _text(record: dict[str, Any], **literals: str) -> bytes:
    """A V1 body with raw JSON number literals (1e999, NaN) for some fields."""
    marked = {**record, **{name: f"@{name}@" for name in literals}}
    text = json.dumps({"instances": [marked]})
    for name, literal in literals.items():
        text = text.replace(f'"@{name}@"', literal)
    return text.encode()


# (protocol, body builder, text the 400's message must contain: the field and the problem)
BAD_REQUESTS: dict[str, tuple[str, Callable[[dict[str, Any]], Any], tuple[str, ...]]] = {
    "v1-missing-feature": ("v1", _v1_without("tenure_days"), ("tenure_days", "missing")),
    "v1-missing-nullable": ("v1", _v1_without("age"), ("age", "missing")),
    "v1-unknown-field": ("v1", _v1(favourite_colour="blue"), ("favourite_colour", "unknown")),
    "v1-string-number": ("v1", _v1(tenure_days="12"), ("tenure_days", "number")),
    "v1-bool-number": ("v1", _v1(loyalty_member=True), ("loyalty_member", "number")),
    "v1-list-number": ("v1", _v1(spend_30d=[1, 2]), ("spend_30d", "number")),
    "v1-object-number": ("v1", _v1(orders_30d={"n": 1}), ("orders_30d", "number")),
    "v1-null-required": ("v1", _v1(tenure_days=None), ("tenure_days", "null")),
    "v1-below-range": ("v1", _v1(age=-1), ("age", "from 0 to 130")),
    "v1-above-range": ("v1", _v1(return_rate_365d=1.5), ("return_rate_365d", "from 0 to 1")),
    "v1-huge-integer": ("v1", _v1(spend_total=10**400), ("spend_total", "from 0")),
    "v1-infinity": ("v1", lambda r: _text(r, age="1e999"), ("instances[0].age", "finite")),
    "v1-unknown-category": ("v1", _v1(country="Atlantis"), ("country", "one of")),
    "v1-number-category": ("v1", _v1(segment=3), ("segment", "string")),
    "v1-null-required-category": ("v1", _v1(segment=None), ("segment", "null")),
    "v1-category-case": ("v1", _v1(acquisition_channel="WEB"), ("acquisition_channel",)),
    "v1-bad-customer-id": ("v1", _v1(customer_id=-5), ("customer_id", "whole number")),
    "v1-string-customer-id": ("v1", _v1(customer_id="7"), ("customer_id", "whole number")),
    "v1-empty-batch": ("v1", lambda r: {"instances": []}, ("instances", "empty")),
    "v1-oversized-batch": ("v1", lambda r: {"instances": [r] * 1001}, ("instances", "limit")),
    "v1-instances-not-list": ("v1", lambda r: {"instances": r}, ("instances", "list")),
    "v1-record-not-object": ("v1", lambda r: {"instances": [[1, 2, 3]]}, ("instances[0]",)),
    "v1-no-instances": ("v1", lambda r: {"inputs": [r]}, ("inputs", "unknown")),
    "v1-body-not-object": ("v1", lambda r: [r], ("request body", "JSON object")),
    "v1-malformed-json": ("v1", _raw('{"instances": [{'), ("request body", "not valid JSON")),
    "v1-nan-literal": ("v1", lambda r: _text(r, age="NaN"), ("instances[0].age", "NaN")),
    "v1-not-utf8": ("v1", _raw_bytes(b'{"instances": ["\xff"]}'), ("request body",)),
    "v1-second-record": (
        "v1",
        lambda r: {"instances": [r, {**r, "age": 200}]},
        ("instances[1].age",),
    ),
    "v2-missing-input": ("v2", _v2(_drop("segment")), ("segment", "missing")),
    "v2-unknown-input": (
        "v2",
        _v2(lambda i: i.append({"name": "x", "shape": [1], "datatype": "FP64", "data": [1]})),
        ("inputs.x", "unknown"),
    ),
    "v2-duplicate-input": (
        "v2",
        _v2(lambda i: i.append(copy.deepcopy(_input(i, "age")))),
        ("inputs.age", "more than once"),
    ),
    "v2-wrong-datatype": ("v2", _v2(_set("country", datatype="FP64")), ("country", "BYTES")),
    "v2-bytes-for-number": ("v2", _v2(_set("age", datatype="BYTES")), ("age", "FP64")),
    "v2-shape-mismatch": ("v2", _v2(_set("age", shape=[2])), ("age",)),
    "v2-bad-shape": ("v2", _v2(_set("age", shape=[1, 2])), ("age", "shape")),
    "v2-nan": ("v2", _raw("NAN_V2"), ("tenure_days", "NaN")),
    "v2-infinity": ("v2", _raw("INF_V2"), ("tenure_days", "finite")),
    "v2-out-of-range": ("v2", _v2(_set("spend_trend", data=[9.0])), ("spend_trend", "from 0 to 4")),
    "v2-unknown-category": ("v2", _v2(_set("segment", data=["giant"])), ("segment", "one of")),
    "v2-null-required": ("v2", _v2(_set("tenure_days", data=[None])), ("tenure_days", "null")),
    "v2-unknown-output": (
        "v2",
        lambda r: {"inputs": v2_inputs([r]), "outputs": [{"name": "probability"}]},
        ("outputs.probability", "unknown"),
    ),
    "v2-empty": (
        "v2",
        lambda r: {"inputs": [dict(i, shape=[0], data=[]) for i in v2_inputs([r])]},
        ("inputs", "empty"),
    ),
    "v2-no-inputs": ("v2", lambda r: {"id": "x"}, ("inputs", "required")),
    "v2-input-without-data": (
        "v2",
        lambda r: {"inputs": [{"name": "age", "shape": [1], "datatype": "FP64"}]},
        ("inputs[0].data", "required"),
    ),
    "v2-malformed-json": ("v2", _raw('{"inputs": ['), ("not valid JSON",)),
    "v2-not-utf8": ("v2", _raw_bytes(b'{"inputs": ["\xff"]}'), ("request body",)),
    "v2-nested-too-deep": ("v2", _raw("[" * 5000), ("request body",)),
    "v1-nested-too-deep": ("v1", _raw("[" * 5000), ("request body", "not valid JSON")),
}


def _send(server: ModelServer, protocol: str, body: Any, record: dict[str, Any]) -> Any:
    path = V1 if protocol == "v1" else V2
    if body == b"NAN_V2" or body == b"INF_V2":  # JSON's NaN/Infinity literals, as Python writes
        inputs = v2_inputs([record])
        _input(inputs, "tenure_days")["data"] = [
            float("nan") if body == b"NAN_V2" else float("inf")
        ]
        body = json.dumps({"inputs": inputs}).encode()
    if isinstance(body, bytes):
        return server.client.post(path, content=body, headers=JSON)
    return server.client.post(path, json=body)


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_bad_request_is_400_naming_the_field(
    champion_server: ModelServer, record: dict[str, Any], case: str
) -> None:
    protocol, build, expected = BAD_REQUESTS[case]
    answer = _send(champion_server, protocol, build(record), record)
    assert answer.status_code == 400, answer.text
    message = answer.json()["error"]
    for fragment in expected:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_table_has_at_least_thirty_cases() -> None:
    assert len(BAD_REQUESTS) >= 30


@pytest.mark.parametrize(
    ("content_type", "status"),
    [("text/plain", 400), ("application/x-www-form-urlencoded", 400), ("application/xml", 400)],
)
def test_wrong_content_type_is_400(
    champion_server: ModelServer, record: dict[str, Any], content_type: str, status: int
) -> None:
    body = json.dumps({"instances": [record]}).encode()
    for path in (V1, V2):
        answer = champion_server.client.post(
            path, content=body, headers={"content-type": content_type}
        )
        assert answer.status_code == status, answer.text
        assert "content-type" in answer.json()["error"]


def test_json_with_charset_is_accepted(
    champion_server: ModelServer, record: dict[str, Any]
) -> None:
    body = json.dumps({"instances": [record]}).encode()
    headers = {"content-type": "application/json; charset=utf-8"}
    assert champion_server.client.post(V1, content=body, headers=headers).status_code == 200


def test_body_over_the_limit_is_413_before_reading(
    champion_server: ModelServer, record: dict[str, Any]
) -> None:
    big = json.dumps({"instances": [record] * 9000}).encode()  # above the 4 MiB default
    assert len(big) > 4 * 1024 * 1024
    answer = champion_server.client.post(V1, content=big, headers=JSON)
    assert answer.status_code == 413
    assert "CC_SERVING__MAX_BODY_BYTES" in answer.json()["error"]

    def chunks() -> Any:  # no Content-Length: counted as it arrives
        for start in range(0, len(big), 1 << 20):
            yield big[start : start + (1 << 20)]

    answer = champion_server.client.post(V1, content=chunks(), headers=JSON)
    assert answer.status_code == 413


def test_model_not_served_here_is_404(champion_server: ModelServer, record: dict[str, Any]) -> None:
    answer = champion_server.client.post("/v1/models/other:predict", json={"instances": [record]})
    assert answer.status_code == 404


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def v1_bodies(draw: st.DrawFn, record: dict[str, Any]) -> Any:
    """Mostly-valid V1 bodies with a few fields mutated, dropped or added."""
    rows = []
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        row = dict(record)
        for name in draw(st.lists(st.sampled_from(sorted(record)), max_size=3)):
            action = draw(st.sampled_from(["value", "drop"]))
            if action == "drop":
                row.pop(name, None)
            else:
                row[name] = draw(JSON_VALUES)
        if draw(st.booleans()):
            row[draw(st.text(max_size=10))] = draw(JSON_VALUES)
        rows.append(row)
    return draw(st.sampled_from([{"instances": rows}, rows, {"instances": rows, "x": 1}]))


@st.composite
def v2_bodies(draw: st.DrawFn, record: dict[str, Any]) -> Any:
    inputs = v2_inputs([record])
    for tensor in draw(st.lists(st.sampled_from(inputs), max_size=3, unique_by=id)):
        field = draw(st.sampled_from(["data", "shape", "datatype", "name", "drop"]))
        if field == "drop":
            inputs.remove(tensor)
        elif field == "shape":
            tensor["shape"] = draw(st.lists(st.integers(min_value=-2, max_value=3), max_size=3))
        elif field == "datatype":
            tensor["datatype"] = draw(
                st.sampled_from(["FP64", "FP32", "INT64", "BYTES", "BOOL", "X"])
            )
        elif field == "name":
            tensor["name"] = draw(st.text(max_size=10))
        else:
            tensor["data"] = draw(st.lists(JSON_VALUES, max_size=3))
    return {"inputs": inputs}


@settings(
    max_examples=150,
    deadline=None,
    database=None,  # nothing written outside the test's temporary folders
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_fuzzed_requests_never_get_a_server_error(
    champion_server: ModelServer, record: dict[str, Any], data: st.DataObject
) -> None:
    kind = data.draw(st.sampled_from(["v1", "v2", "bytes"]))
    if kind == "bytes":
        raw = data.draw(st.binary(max_size=200))
        path = data.draw(st.sampled_from([V1, V2]))
        answer = champion_server.client.post(path, content=raw, headers=JSON)
    elif kind == "v1":
        answer = champion_server.client.post(V1, json=data.draw(v1_bodies(record)))
    else:
        answer = champion_server.client.post(V2, json=data.draw(v2_bodies(record)))
    assert answer.status_code < 500, answer.text
    if answer.status_code != 200:
        assert answer.status_code in (400, 413)
        assert answer.json()["error"]
