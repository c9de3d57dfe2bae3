"""The data contract as code: column kinds, widenings, table specs."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from customer_classifier.data.contract import (
    CUSTOMERS_SPEC,
    SALES_SPEC,
    SPECS,
    Kind,
    kind_of,
    kind_satisfies,
    sa_table,
    sa_type,
)


@pytest.mark.parametrize(
    ("sql_type", "kind"),
    [
        (sa.Boolean(), "bool"),
        (sa.DateTime(), "datetime"),
        (sa.Date(), "date"),
        (sa.Integer(), "int"),
        (sa.BigInteger(), "int"),
        (sa.SmallInteger(), "int"),
        (sa.Float(), "float"),
        (sa.Numeric(10, 2), "float"),
        (sa.String(), "str"),
        (sa.Text(), "str"),
        (sa.LargeBinary(), None),
    ],
)
def test_kind_of_reflected_types(sql_type: sa.types.TypeEngine[object], kind: Kind | None) -> None:
    assert kind_of(sql_type) == kind


@pytest.mark.parametrize("kind", ["int", "float", "str", "date", "datetime", "bool"])
def test_every_kind_round_trips_through_its_sql_type(kind: Kind) -> None:
    assert kind_of(sa_type(kind)) == kind
    assert kind_satisfies(kind, kind)


@pytest.mark.parametrize(
    ("found", "expected", "ok"),
    [
        ("int", "float", True),
        ("bool", "int", True),
        ("int", "bool", True),
        ("datetime", "date", True),
        ("float", "int", False),
        ("str", "float", False),
        ("date", "datetime", False),
        ("str", "datetime", False),
        (None, "int", False),
    ],
)
def test_kind_satisfies_allows_only_lossless_widenings(
    found: Kind | None, expected: Kind, ok: bool
) -> None:
    assert kind_satisfies(found, expected) is ok


def test_specs_cover_both_input_tables() -> None:
    assert set(SPECS) == {"customers", "sales"}
    assert CUSTOMERS_SPEC.key == "customer_id"
    assert SALES_SPEC.key == "sale_id"
    assert SALES_SPEC.names[:3] == ("sale_id", "customer_id", "sold_at")
    assert SALES_SPEC.column("amount").minimum == 0.0
    assert CUSTOMERS_SPEC.column("birth_year").nullable


def test_unknown_column_names_the_table() -> None:
    with pytest.raises(KeyError, match=r"sales has no column 'price'"):
        SALES_SPEC.column("price")


def test_sa_table_marks_the_key_and_nullability() -> None:
    table = sa_table(CUSTOMERS_SPEC, sa.MetaData())
    assert [c.name for c in table.primary_key.columns] == ["customer_id"]
    for spec in CUSTOMERS_SPEC.columns:
        column = table.c[spec.name]
        assert column.nullable is (spec.nullable and spec.name != CUSTOMERS_SPEC.key)
        assert kind_of(column.type) == spec.kind
