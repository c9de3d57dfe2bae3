"""The V2 open inference protocol: one named input per feature, one value per record.

Inputs come as JSON ``data`` (REST, and REST's binary extension, which KServe decodes
into data) or as gRPC raw contents; a NaN in a raw numeric tensor is a null, as raw
tensors have no other way to send one. Shapes ``[n]`` and ``[n, 1]`` are accepted, any
numeric datatype for a numeric feature, ``BYTES`` for a categorical one and an integer
type for ``customer_id``.
The answer has the outputs ``score``, ``label``, ``model_version`` (and ``customer_id``
when sent), or those the client asked for, in its order.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import numpy as np
from kserve import InferInput, InferOutput, InferRequest, InferResponse

from customer_classifier.serving.checks import (
    MAX_PROBLEMS,
    RequestError,
    categorical_column,
    check_count,
    customer_id_column,
    name_list,
    numeric_column,
)
from customer_classifier.serving.kserve_compat import raw_input_data
from customer_classifier.serving.records import Records, Scored
from customer_classifier.serving.schema import CUSTOMER_ID, OUTPUTS, FieldRule, RecordSchema

_FLOAT_TYPES = {"FP16", "FP32", "FP64"}
_INT_TYPES = {"INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"}
_NUMERIC_TYPES = frozenset(_FLOAT_TYPES | _INT_TYPES)


def _flat(data: Any, name: str) -> list[Any]:
    """Row-major data of one input: a flat list, or nested one level for shape [n, 1]."""
    values = data if type(data) is list else list(data)
    if values and type(values[0]) is list:
        if not all(type(v) is list and len(v) == 1 for v in values):
            raise RequestError(
                [f"inputs.{name}: nested data must hold one value per record ([[v], [v], ...])"]
            )
        values = [v[0] for v in values]
    if any(type(v) is bytes for v in values):
        values = [v.decode("utf-8", "replace") if type(v) is bytes else v for v in values]
    return values


def _records_in(inp: InferInput) -> int:
    shape = inp.shape
    if type(shape) is list and len(shape) == 1 and type(shape[0]) is int and shape[0] >= 0:
        return shape[0]  # the usual [n]
    shape = list(shape)
    if not shape or len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
        raise RequestError(
            [f"inputs.{inp.name}: shape {shape} is not supported; use [n] or [n, 1] for n records"]
        )
    if any(not isinstance(s, int) or isinstance(s, bool) or s < 0 for s in shape):
        raise RequestError([f"inputs.{inp.name}: shape {shape} must hold whole numbers >= 0"])
    return int(shape[0])


def _input_values(inp: InferInput, rows: int) -> tuple[list[Any], bool]:
    """The input's values as Python objects, and whether they came as binary tensors."""
    if raw_input_data(inp) is not None:
        try:
            array = inp.as_numpy().reshape(-1)
        except (ValueError, TypeError) as exc:
            raise RequestError(
                [f"inputs.{inp.name}: binary data does not match {inp.shape}"]
            ) from exc
        values = [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in array]
        return [v.item() if isinstance(v, np.generic) else v for v in values], True
    if inp.data is None:
        raise RequestError([f"inputs.{inp.name}: data is missing"])
    values = _flat(inp.data, inp.name)
    if len(values) != rows:
        raise RequestError(
            [
                f"inputs.{inp.name}: shape {list(inp.shape)} says {rows} records "
                f"but data holds {len(values)} values"
            ]
        )
    return values, False


def _check_datatype(inp: InferInput, rule: FieldRule | None) -> None:
    datatype = inp.datatype  # KServe upper-cases it
    if rule is None or rule.numeric:
        if datatype not in _NUMERIC_TYPES:
            kind = "customer id" if rule is None else "numeric feature"
            raise RequestError(
                [
                    f"inputs.{inp.name}: datatype {datatype} is not accepted for a {kind}; "
                    f"use {'INT64' if rule is None else 'FP64'}"
                ]
            )
    elif datatype != "BYTES":
        raise RequestError(
            [
                f"inputs.{inp.name}: datatype {datatype} is not accepted for a categorical "
                "feature; use BYTES (strings)"
            ]
        )


def parse_v2(request: InferRequest, schema: RecordSchema, max_rows: int) -> Records:
    """Open inference protocol: one named input per feature, one value per record."""
    rules = {f.name: f for f in schema.fields}
    seen: dict[str, InferInput] = {}
    problems: list[str] = []
    for inp in request.inputs:
        if inp.name in seen:
            problems.append(f"inputs.{inp.name}: appears more than once")
        elif inp.name not in rules and inp.name != CUSTOMER_ID:
            problems.append(
                f"inputs.{inp.name}: unknown input; expected one per feature "
                f"(GET /v2/models/{request.model_name} lists them) and optionally {CUSTOMER_ID}"
            )
        seen[inp.name] = inp
    missing = [name for name in rules if name not in seen]
    if missing:
        problems.append(f"inputs: missing input(s) {name_list(missing)}; send one per feature")
    requested = _requested_outputs(request, problems)
    if problems:
        raise RequestError(problems)
    counts = {name: _records_in(inp) for name, inp in seen.items()}
    rows = next(iter(counts.values()))
    if len(set(counts.values())) > 1:
        raise RequestError(
            [
                "inputs: every input must hold the same number of records; got "
                + ", ".join(f"{n}={c}" for n, c in counts.items() if c != rows)
                + f" against {rows}"
            ]
        )
    check_count(rows, "inputs", max_rows)
    columns: dict[str, np.ndarray] = {}
    for rule in schema.fields:
        inp = seen[rule.name]
        _check_datatype(inp, rule)
        values, binary = _input_values(inp, rows)

        def where(i: int, name: str = rule.name) -> str:
            return f"inputs.{name}[{i}]"

        if rule.numeric:
            columns[rule.name] = numeric_column(rule, values, where, problems, nan_is_null=binary)
        else:
            columns[rule.name] = categorical_column(rule, values, where, problems)
        if len(problems) > MAX_PROBLEMS:
            break
    ids = None
    if CUSTOMER_ID in seen and not problems:
        _check_datatype(seen[CUSTOMER_ID], None)
        values, _ = _input_values(seen[CUSTOMER_ID], rows)
        ids = customer_id_column(values, lambda i: f"inputs.{CUSTOMER_ID}[{i}]", problems)
        problems.extend(
            f"inputs.{CUSTOMER_ID}[{i}] must not be null in a V2 tensor"
            for i, value in enumerate(ids)
            if value is None
        )
    if problems:
        raise RequestError(problems)
    return Records(columns=columns, rows=rows, customer_ids=ids, outputs=requested)


def _requested_outputs(request: InferRequest, problems: list[str]) -> tuple[str, ...] | None:
    outputs: Iterable[Any] | None = getattr(request, "request_outputs", None)
    if not outputs:
        return None
    names = tuple(str(o.name) for o in outputs)
    problems.extend(
        f"outputs.{name}: unknown output; choose from {', '.join(OUTPUTS)}"
        for name in names
        if name not in OUTPUTS
    )
    return names


def v2_answer(
    request: InferRequest, records: Records, result: Scored, model_name: str
) -> InferResponse:
    """The outputs of one request, with its id (or a new one) and the serving version."""
    rows = records.rows
    outputs = [
        InferOutput("score", [rows], "FP64", result.scores.tolist()),
        InferOutput("label", [rows], "BYTES", result.labels.tolist()),
        InferOutput("model_version", [rows], "BYTES", list(result.versions)),
    ]
    if records.customer_ids is not None:
        outputs.append(InferOutput(CUSTOMER_ID, [rows], "INT64", list(records.customer_ids)))
    return InferResponse(
        response_id=request.id or str(uuid.uuid4()),
        model_name=model_name,
        model_version=result.versions[0],
        infer_outputs=outputs,
        use_binary_outputs=request.use_binary_outputs,
        requested_outputs=request.request_outputs,  # their order and binary_data flags
    )
