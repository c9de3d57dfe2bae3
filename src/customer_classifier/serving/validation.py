"""Request validation: a KServe V1 or V2 body in, checked feature columns out.

Every rule comes from the model version's feature schema (the same
:data:`~customer_classifier.features.build.FEATURE_SCHEMA` that training and batch
scoring use): each feature present exactly once, numbers finite and inside their range,
categories from their list, null only where the feature may be missing. A request that
breaks a rule raises :class:`RequestError`, a :class:`kserve.errors.InvalidInput`, so
KServe answers HTTP 400 with a message that names the field, the rule and the value.

The checks run column by column with a vectorised fast path; only a failing column is
walked record by record to name the first offenders.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferInput, InferRequest

from customer_classifier.features.build import FEATURE_SCHEMA, NULLABLE_FEATURES

CUSTOMER_ID = "customer_id"
"""Optional per record: echoed in the answer and used for sticky canary assignment."""
OUTPUTS = ("score", "label", "model_version", CUSTOMER_ID)
MAX_PROBLEMS = 8
"""A message lists at most this many problems; the first ones are the ones to fix."""

_FLOAT_TYPES = {"FP16", "FP32", "FP64"}
_INT_TYPES = {"INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"}
_NUMERIC_TYPES = frozenset(_FLOAT_TYPES | _INT_TYPES)
_NUMBER = (int, float)
_NONE = type(None)


class RequestError(InvalidInput):  # type: ignore[misc]
    """A client's mistake in an inference request: always HTTP 400, never 500."""

    def __init__(self, problems: Sequence[str]) -> None:
        shown = list(problems[:MAX_PROBLEMS])
        more = len(problems) - len(shown)
        text = "; ".join(shown) + (f"; and {more} more" if more > 0 else "")
        super().__init__(text)
        self.problems = list(problems)


@dataclass(frozen=True)
class FieldRule:
    """What one feature accepts."""

    name: str
    numeric: bool
    nullable: bool
    minimum: float | None = None
    maximum: float | None = None
    categories: tuple[str, ...] = ()

    @cached_property
    def allowed(self) -> frozenset[str | None]:
        """The accepted categories, and None where null is accepted."""
        return frozenset([*self.categories, *([None] if self.nullable else [])])

    def describe(self) -> str:
        if self.numeric:
            low = "-inf" if self.minimum is None else f"{self.minimum:g}"
            high = "inf" if self.maximum is None else f"{self.maximum:g}"
            what = f"a finite number from {low} to {high}"
        else:
            what = "one of " + ", ".join(repr(c) for c in self.categories)
        return what + (" or null" if self.nullable else " (never null)")


@dataclass(frozen=True)
class RecordSchema:
    """The feature record a model version expects, in its column order."""

    fields: tuple[FieldRule, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> RecordSchema:
        """From a version's ``model.json`` (``feature_schema``), else the code's schema."""
        entries = metadata.get("feature_schema")
        if not entries:
            entries = [
                {
                    "name": f.name,
                    "kind": f.kind,
                    "minimum": f.minimum,
                    "maximum": f.maximum,
                    "categories": f.categories,
                }
                for f in FEATURE_SCHEMA
            ]
        nullable = set(metadata.get("nullable_features", NULLABLE_FEATURES))
        rules = tuple(
            FieldRule(
                name=str(e["name"]),
                numeric=e["kind"] == "numeric",
                nullable=e["name"] in nullable,
                minimum=None if e.get("minimum") is None else float(e["minimum"]),
                maximum=None if e.get("maximum") is None else float(e["maximum"]),
                categories=tuple(e.get("categories") or ()),
            )
            for e in entries
        )
        return cls(rules)

    def input_metadata(self) -> list[dict[str, Any]]:
        """The V2 metadata of the inputs: one tensor per feature, one value per record."""
        return [
            {"name": f.name, "datatype": "FP64" if f.numeric else "BYTES", "shape": [-1]}
            for f in self.fields
        ]


OUTPUT_METADATA: list[dict[str, Any]] = [
    {"name": "score", "datatype": "FP64", "shape": [-1]},
    {"name": "label", "datatype": "BYTES", "shape": [-1]},
    {"name": "model_version", "datatype": "BYTES", "shape": [-1]},
]


@dataclass(frozen=True)
class Records:
    """Validated feature columns of one request, ready to join a batch."""

    columns: dict[str, np.ndarray]
    rows: int
    customer_ids: list[int | None] | None = None
    outputs: tuple[str, ...] | None = None
    """V2: the outputs the client asked for (None: all)."""


# -- column checks ------------------------------------------------------------------------


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _number_problem(rule: FieldRule, value: Any, nan_is_null: bool) -> str | None:
    if value is None:
        return None if rule.nullable else "must not be null"
    if isinstance(value, bool) or not isinstance(value, _NUMBER):
        return f"must be a number, got {type(value).__name__} {_show(value)}"
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any float
        number = math.inf
    if math.isnan(number):
        if nan_is_null and rule.nullable:
            return None
        return "must be a finite number, got NaN (send null for a missing value)"
    if math.isinf(number):
        return f"must be {rule.describe()}, got {_show(value)}"
    if (rule.minimum is not None and number < rule.minimum) or (
        rule.maximum is not None and number > rule.maximum
    ):
        return f"must be {rule.describe()}, got {_show(value)}"
    return None


def numeric_column(
    rule: FieldRule,
    values: Sequence[Any],
    where: Callable[[int], str],
    problems: list[str],
    *,
    nan_is_null: bool = False,
) -> np.ndarray:
    """Float64 column (NaN where null); problems are appended, naming each bad record.

    The common case is one pass of plain comparisons (NaN and infinities fail the range
    test); only a column with a bad value is walked again to describe it.
    """
    low = rule.minimum if rule.minimum is not None else -sys.float_info.max
    high = rule.maximum if rule.maximum is not None else sys.float_info.max
    nullable = rule.nullable
    nan_allowed = nan_is_null and nullable
    for value in values:
        kind = type(value)
        if kind is float or kind is int:
            if low <= value <= high or (nan_allowed and value != value):
                continue
        elif value is None and nullable:
            continue
        break
    else:
        return np.array(values, dtype=np.float64)
    before = len(problems)
    for index, value in enumerate(values):
        problem = _number_problem(rule, value, nan_is_null)
        if problem:
            problems.append(f"{where(index)} {problem}")
            if len(problems) > MAX_PROBLEMS:
                break
    if len(problems) > before:
        return np.empty(0)
    # Valid numbers of other Python types (numpy scalars, from binary tensors).
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def categorical_column(
    rule: FieldRule, values: Sequence[Any], where: Callable[[int], str], problems: list[str]
) -> np.ndarray:
    """Object column of category strings (None where null)."""
    allowed = rule.allowed
    try:
        fine = allowed.issuperset(values)
    except TypeError:  # unhashable values (lists, objects): report them below
        fine = False
    if fine:
        return np.array(values, dtype=object)
    before = len(problems)
    for index, value in enumerate(values):
        if value is None:
            if not rule.nullable:
                problems.append(f"{where(index)} must not be null; expected {rule.describe()}")
        elif not isinstance(value, str):
            problems.append(
                f"{where(index)} must be a string, {rule.describe()}; "
                f"got {type(value).__name__} {_show(value)}"
            )
        elif value not in allowed:
            problems.append(f"{where(index)} must be {rule.describe()}; got {_show(value)}")
        if len(problems) > MAX_PROBLEMS:
            break
    if len(problems) > before:
        return np.empty(0, dtype=object)
    return np.array([None if v is None else str(v) for v in values], dtype=object)


def customer_id_column(
    values: Sequence[Any], where: Callable[[int], str], problems: list[str]
) -> list[int | None]:
    out: list[int | None] = []
    for index, value in enumerate(values):
        if value is None:
            out.append(None)
        elif isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
            problems.append(
                f"{where(index)} must be a whole number from 0 to 2**63-1, got {_show(value)}"
            )
        else:
            out.append(int(value))
    return out


def _names(names: Sequence[str], shown: int = 6) -> str:
    text = ", ".join(names[:shown])
    return text + (f" and {len(names) - shown} more" if len(names) > shown else "")


def _check_count(rows: int, field: str, max_rows: int) -> None:
    if rows == 0:
        raise RequestError([f"{field}: empty; send at least one feature record"])
    if rows > max_rows:
        raise RequestError(
            [
                f"{field}: {rows} records is more than the limit of {max_rows} per request; "
                "split the batch into smaller requests"
            ]
        )


# -- V1 -------------------------------------------------------------------------------------


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
    _check_count(len(instances), "instances", max_rows)
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
            problems.append(f"instances[{index}]: missing feature(s) {_names(missing)}")
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


# -- V2 -------------------------------------------------------------------------------------


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
    raw = getattr(inp, "_raw_data", None)
    if raw is not None:
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
        problems.append(f"inputs: missing input(s) {_names(missing)}; send one per feature")
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
    _check_count(rows, "inputs", max_rows)
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
