"""KServe V1 (``/v1/models/NAME:predict``): JSON records in, one prediction per record out.

``{"instances": [{feature: value, ..., "customer_id": id?}, ...]}`` is checked against
the served schema and answered ``{"predictions": [{score, label, model_version,
customer_id?}]}``. The body reaches the predictor undecoded (see
:data:`~customer_classifier.serving.kserve_compat.V1_RAW_BODY_TYPE`), so :func:`json_body`
reads it: orjson first, the standard library for what orjson refuses (NaN, Infinity,
numbers beyond a double), so that validation can name the field instead of answering
"not JSON".
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson

from customer_classifier.serving.checks import (
    MAX_PROBLEMS,
    RequestError,
    categorical_column,
    check_count,
    customer_id_column,
    name_list,
    numeric_column,
)
from customer_classifier.serving.records import Records, Scored
from customer_classifier.serving.schema import CUSTOMER_ID, RecordSchema

JSON_TYPES = ("application/json", "application/cloudevents+json", "application/ld+json")


def json_body(body: bytes | bytearray, headers: dict[str, str]) -> Any:
    """The decoded JSON of a V1 body that KServe left undecoded."""
    content_type = headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    if media not in JSON_TYPES and not media.endswith("+json"):
        raise RequestError(
            [f"content-type: {content_type!r} is not supported; send application/json"]
        )
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            raise RequestError([f"request body: not valid JSON ({exc})"]) from exc


def parse_v1(payload: Any, schema: RecordSchema, max_rows: int) -> Records:
    """``{"instances": [{feature: value, ...}, ...]}`` -> checked columns."""
    if not isinstance(payload, dict):
        raise RequestError(
            [
                "request body: expected a JSON object "
                f'{{"instances": [feature record, ...]}}, got {type(payload).__name__}'
            ]
        )
    unknown = sorted(set(payload) - {"instances"})
    if unknown:
        raise RequestError(
            [
                f"{name}: unknown top-level field; a V1 request holds only 'instances'"
                for name in unknown
            ]
        )
    if "instances" not in payload:
        raise RequestError(['instances: missing; send {"instances": [feature record, ...]}'])
    instances = payload["instances"]
    if not isinstance(instances, list):
        raise RequestError(
            [f"instances: expected a list of feature records, got {type(instances).__name__}"]
        )
    check_count(len(instances), "instances", max_rows)
    names = schema.names
    expected = set(names)
    allowed = expected | {CUSTOMER_ID}
    problems: list[str] = []
    with_ids = False
    for index, record in enumerate(instances):
        if not isinstance(record, dict):
            problems.append(
                f"instances[{index}]: expected an object of named features, "
                f"got {type(record).__name__}"
            )
            continue
        keys = record.keys()
        if keys == expected:
            continue
        with_ids = with_ids or CUSTOMER_ID in keys
        missing = [n for n in names if n not in keys]
        extra = sorted(str(k) for k in keys - allowed)
        if missing:
            problems.append(f"instances[{index}]: missing feature(s) {name_list(missing)}")
        problems.extend(
            f"instances[{index}].{n}: unknown field; expected the model's features "
            f"(and optionally {CUSTOMER_ID})"
            for n in extra
        )
        if len(problems) > MAX_PROBLEMS:
            break
    if problems:
        raise RequestError(problems)
    columns: dict[str, np.ndarray] = {}
    for rule in schema.fields:
        values = [record[rule.name] for record in instances]

        def where(i: int, name: str = rule.name) -> str:
            return f"instances[{i}].{name}"

        column = (
            numeric_column(rule, values, where, problems)
            if rule.numeric
            else categorical_column(rule, values, where, problems)
        )
        columns[rule.name] = column
        if len(problems) > MAX_PROBLEMS:
            break
    ids = None
    if with_ids:
        ids = customer_id_column(
            [record.get(CUSTOMER_ID) for record in instances],
            lambda i: f"instances[{i}].{CUSTOMER_ID}",
            problems,
        )
    if problems:
        raise RequestError(problems)
    return Records(columns=columns, rows=len(instances), customer_ids=ids)


def v1_answer(records: Records, result: Scored) -> dict[str, Any]:
    """``{"predictions": [...]}``, with the customer_id of the records that sent one."""
    predictions = [
        {"score": s, "label": lab, "model_version": v}
        for s, lab, v in zip(
            result.scores.tolist(), result.labels.tolist(), result.versions, strict=True
        )
    ]
    ids = records.customer_ids
    if ids is not None:
        for prediction, customer in zip(predictions, ids, strict=True):
            if customer is not None:
                prediction[CUSTOMER_ID] = customer
    return {"predictions": predictions}
