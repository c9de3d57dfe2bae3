"""SQL conditions that find values of the wrong kind in a column, dialect by dialect.

A declared type is a promise only where the database keeps it. SQLite stores any value in
any column (a column's type is an *affinity*), so a CSV load can leave text in an
INTEGER column or a date in a form the pipeline cannot order; PostgreSQL keeps its types
but a float column still holds NaN and +/-Infinity; a VARCHAR column holds anything.
Each condition here is true for a row whose value breaks one rule, so the profile can
count the rows in its one scan. Conditions are built from comparisons wherever one
answers the question (SQLite orders every number before every text value, so
``column >= ''`` is "this value is text"), which costs about as much per row as the range
checks the scan already makes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from customer_classifier.data.contract import ColumnSpec, Kind
from customer_classifier.data.database import as_stored

Condition = sa.ColumnElement[bool]

_LARGEST = 1.7976931348623157e308
"""The largest finite double: only +/-infinity lies beyond it."""
_INT64 = 2**63 - 1
"""Beyond it (and below its negative) an integer column holds no integer."""
NAN_SPELLINGS = ("nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity")
"""How NaN and infinity read as text (CSV loads, pandas' ``to_sql`` of strings)."""
_NUMERIC_KINDS: frozenset[Kind] = frozenset({"int", "float"})
_DATE_KINDS: frozenset[Kind] = frozenset({"date", "datetime"})
_EMPTY: sa.ColumnElement[str] = sa.literal_column("''")
_NUMBER_PATTERN = r"^\s*[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?\s*$"
_INTEGER_PATTERN = r"^\s*[-+]?[0-9]+\s*$"
_DATE_PATTERN = r"^\s*[0-9]{4}-[0-9]{2}-[0-9]{2}"


def _is_text(c: sa.ColumnElement[Any]) -> Condition:
    """SQLite: the value is text or a blob (every number sorts before every text)."""
    return c >= _EMPTY


def _is_number(c: sa.ColumnElement[Any]) -> Condition:
    """SQLite: the value is a number (integer or real)."""
    return c < _EMPTY


def _nan_text(c: sa.ColumnElement[Any]) -> Condition:
    return sa.and_(_is_text(c), sa.func.lower(sa.func.trim(c)).in_(NAN_SPELLINGS))


def _infinite(c: sa.ColumnElement[Any]) -> Condition:
    """SQLite: +/-infinity (text also sorts above every number, hence the second term)."""
    largest = sa.literal(_LARGEST, sa.Float)
    return sa.or_(sa.and_(c > largest, _is_number(c)), c < -largest)


def _beyond(c: sa.ColumnElement[Any], largest: float, minimum: float | None = None) -> Condition:
    """SQLite: text, a blob, or a number beyond +/-``largest``: one or two comparisons.

    With a ``minimum`` of the column the lower side is left out: the range check, which
    the scan asks anyway, already meets every value below it.
    """
    above = c > sa.literal(largest)
    return above if minimum is not None else sa.or_(above, c < sa.literal(-largest))


def _bad_date(c: sa.ColumnElement[Any], kind: Kind) -> Condition:
    """SQLite: not null and not what the pipeline reads as a date or a timestamp.

    A date must be stored as 'YYYY-MM-DD' and name a real day: the day number of
    '2026-02-30' reads back as '2026-03-02', and text that is no date reads as null. A
    timestamp must be text that starts like 'YYYY-MM-DD' and that ``julianday()`` reads
    (numbers, Unix or Julian, would sort before every date; 'now' reads as a time); a day
    past the end of its month is not looked for there.
    """
    if kind == "date":
        return sa.and_(c.is_not(None), sa.func.date(sa.func.julianday(c)).is_distinct_from(c))
    return sa.and_(
        c.is_not(None),
        sa.or_(_is_number(c), sa.func.julianday(c).is_(None), sa.not_(starts_with_a_day(c))),
    )


def starts_with_a_day(c: sa.ColumnElement[Any]) -> Condition:
    """SQLite: the text starts like 'YYYY-MM-DD' (a month 0x-1x, a day 0x-3x), the shape
    that the index check of a timestamp column (see the profile) also looks for."""
    return c.op("GLOB", return_type=sa.Boolean)("[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]*")


def _postgres_non_finite(c: sa.ColumnElement[Any]) -> Condition:
    specials: list[sa.ColumnElement[float]] = [
        sa.literal_column(f"'{v}'::float8") for v in ("NaN", "Infinity", "-Infinity")
    ]
    return c.in_(specials)


@dataclass(frozen=True)
class ValueChecks:
    """The rules of one column, and one cheap condition that every breaking row meets.

    ``rules``: ``field`` -> the exact condition, counted when any row broke a rule.
    ``screen``: true for every row that breaks one of ``rules`` (and maybe a few more):
    what the first scan asks instead, one or two comparisons per row.
    """

    rules: dict[str, Condition] = field(default_factory=dict)
    screen: Condition | None = None


def value_checks(
    dialect: str, spec: ColumnSpec, found: Kind, c: sa.ColumnElement[Any]
) -> ValueChecks:
    """The value rules of a column whose declared kind fits the contract.

    Fields: ``not_a_number`` (text in a numeric column), ``non_finite`` (NaN, infinity),
    ``wrong_id_kind`` (an identifier that is text or beyond 64-bit integers),
    ``not_boolean`` (anything but 0 and 1), ``unparseable`` (a date or timestamp that
    does not read as one). Whole numbers are not required of other integer columns: a
    fraction there reads as a number.
    """
    kind = spec.kind
    if dialect == "sqlite":
        if kind in _NUMERIC_KINDS and spec.identifier:
            wrong = _beyond(c, _INT64)
            return ValueChecks({"wrong_id_kind": wrong}, wrong)
        if kind in _NUMERIC_KINDS:
            largest = _INT64 if kind == "int" else _LARGEST
            rules = {
                "not_a_number": sa.and_(_is_text(c), sa.not_(_nan_text(c))),
                "non_finite": sa.or_(_infinite(c), _nan_text(c)),
            }
            return ValueChecks(rules, _beyond(c, largest, spec.minimum))
        if kind == "bool":
            wrong = sa.or_(c > sa.literal_column("1"), c < sa.literal_column("0"))
            return ValueChecks({"not_boolean": wrong}, wrong)
        if kind in _DATE_KINDS:
            bad = _bad_date(c, "datetime" if found == "datetime" else kind)
            return ValueChecks({"unparseable": bad}, bad)
    elif dialect == "postgresql" and kind in _NUMERIC_KINDS and found == "float":
        special = _postgres_non_finite(c)
        return ValueChecks({"non_finite": special}, special)
    return ValueChecks()


def in_range(dialect: str, found: Kind, c: sa.ColumnElement[Any]) -> Condition | None:
    """What a value must also be for a range check to apply to it: a finite number.

    Text, NaN and infinity are counted by their own rules; without this they would also
    be counted as above a maximum (SQLite orders text after numbers, PostgreSQL NaN after
    every number).
    """
    if dialect == "sqlite":
        return sa.and_(_is_number(c), sa.not_(_infinite(c)))
    if dialect == "postgresql" and found == "float":
        return sa.not_(_postgres_non_finite(c))
    return None


def conversion_rules(
    dialect: str, spec: ColumnSpec, c: sa.ColumnElement[Any]
) -> dict[str, Condition]:
    """``field`` -> condition, for a text column where the contract wants numbers or dates.

    The column is a ``wrong_type`` finding anyway; these counts say whether converting it
    is enough (every value reads as the declared kind) or which values stand in the way.
    """
    if dialect == "postgresql":
        text = sa.cast(c, sa.Text)
        if spec.kind in _NUMERIC_KINDS:
            pattern = _INTEGER_PATTERN if spec.kind == "int" else _NUMBER_PATTERN
            return {"not_a_number": sa.and_(c.is_not(None), sa.not_(text.regexp_match(pattern)))}
        if spec.kind in _DATE_KINDS:
            return {
                "unparseable": sa.and_(c.is_not(None), sa.not_(text.regexp_match(_DATE_PATTERN)))
            }
        return {}
    if dialect == "sqlite":
        if spec.kind in _NUMERIC_KINDS:
            allowed = "[^0-9+-]" if spec.kind == "int" else "[^0-9.eE+-]"
            value = sa.func.trim(c)
            return {
                "not_a_number": sa.and_(
                    c.is_not(None), sa.or_(value == "", value.op("GLOB")(f"*{allowed}*"))
                )
            }
        if spec.kind in _DATE_KINDS:
            return {"unparseable": _bad_date(c, spec.kind)}
    return {}


def after(
    dialect: str, kind: Kind, c: sa.ColumnElement[Any], now: dt.datetime, *, scan: bool
) -> Condition:
    """The value lies after ``now`` (a date column: after ``now``'s day).

    ``scan``: the condition is evaluated row by row, so SQLite compares the stored text
    as it is (see :func:`as_stored`); an index lookup needs the column itself. On SQLite
    a value that is not a date is left to ``unparseable``: text such as 'unknown' sorts
    after every date.
    """
    bound: dt.date = now.date() if kind == "date" else now
    later = (as_stored(c) if scan else c) > sa.literal(bound, c.type)
    if dialect == "sqlite":
        return sa.and_(later, sa.func.julianday(c).is_not(None))
    return later
