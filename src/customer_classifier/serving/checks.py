"""The record checks shared by V1 and V2: one column at a time, against its field's rule.

Numbers finite and inside their range, categories from their list, null only where the
served schema (:mod:`~customer_classifier.serving.schema`) allows it. A request that
breaks a rule raises :class:`RequestError`, a KServe ``InvalidInput``, so KServe answers
HTTP 400 (gRPC ``INVALID_ARGUMENT``) with a message that names the field, the rule and
the value.

Each check is a vectorised pass over the column; only a failing column is walked record
by record to name the first offenders.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from customer_classifier.serving.kserve_compat import InvalidInput
from customer_classifier.serving.schema import FieldRule

MAX_PROBLEMS = 8
"""A message lists at most this many problems; the first ones are the ones to fix."""

_NUMBER = (int, float)


class RequestError(InvalidInput):  # type: ignore[misc]
    """A client's mistake in an inference request: always HTTP 400, never 500."""

    def __init__(self, problems: Sequence[str]) -> None:
        shown = list(problems[:MAX_PROBLEMS])
        more = len(problems) - len(shown)
        text = "; ".join(shown) + (f"; and {more} more" if more > 0 else "")
        super().__init__(text)
        self.problems = list(problems)


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


def name_list(names: Sequence[str], shown: int = 6) -> str:
    """The first names, and how many more: for a message that stays one line."""
    text = ", ".join(names[:shown])
    return text + (f" and {len(names) - shown} more" if len(names) > shown else "")


def check_count(rows: int, field: str, max_rows: int) -> None:
    """At least one record, and no more than the per-request limit."""
    if rows == 0:
        raise RequestError([f"{field}: empty; send at least one feature record"])
    if rows > max_rows:
        raise RequestError(
            [
                f"{field}: {rows} records is more than the limit of {max_rows} per request; "
                "split the batch into smaller requests"
            ]
        )
