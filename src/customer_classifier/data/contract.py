"""The data contract of the Customers and Sales tables, as code.

docs/data-contract.md is the prose of this module; validation enforces it. A column's
``kind`` is what the system needs, not a particular SQL type: an ``int`` column may be
INTEGER or BIGINT, a ``float`` column any numeric type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa

Kind = Literal["int", "float", "str", "date", "datetime", "bool"]

CUSTOMERS = "customers"
SALES = "sales"
LABELS = "customer_labels"

SEGMENTS = ("consumer", "small_business", "corporate")
COUNTRIES = ("DE", "FR", "NL", "ES", "IT", "GB", "US", "PL")
CHANNELS = ("web", "store", "referral", "partner", "ads")
CATEGORIES = ("electronics", "home", "fashion", "grocery", "sports", "books")
GOOD, BAD = "good", "bad"
"""The two labels of the output table, the history and the labels table."""
LABEL_VALUES = (GOOD, BAD)
CLASS_LABELS = (BAD, GOOD)
"""The label of class 0 and of class 1, in the models' column order."""


@dataclass(frozen=True)
class ColumnSpec:
    """One column of the contract: its kind, whether nulls are allowed, and its range."""

    name: str
    kind: Kind
    nullable: bool = False
    minimum: float | None = None
    maximum: float | None = None
    allowed: tuple[str, ...] | None = None
    description: str = ""
    identifier: bool = False
    """An identifier: its values must be whole numbers of the declared kind, never text."""


@dataclass(frozen=True)
class TableSpec:
    name: str
    key: str
    columns: tuple[ColumnSpec, ...]
    key_scope: tuple[str, ...] = ()
    """Columns that, with ``key``, identify a row: the key is unique within each of their
    combinations (a customer has one label per as-of date)."""

    def column(self, name: str) -> ColumnSpec:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"{self.name} has no column {name!r} in the contract")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(col.name for col in self.columns)


CUSTOMERS_SPEC = TableSpec(
    name=CUSTOMERS,
    key="customer_id",
    columns=(
        ColumnSpec("customer_id", "int", description="Primary key.", identifier=True),
        ColumnSpec("signup_date", "date", description="Day the customer account was opened."),
        ColumnSpec("country", "str", nullable=True, description="ISO 3166-1 alpha-2 code."),
        ColumnSpec("segment", "str", allowed=SEGMENTS, description="Commercial segment."),
        ColumnSpec(
            "acquisition_channel",
            "str",
            nullable=True,
            allowed=CHANNELS,
            description="How the customer was acquired.",
        ),
        ColumnSpec(
            "birth_year",
            "int",
            nullable=True,
            minimum=1900,
            maximum=2015,
            description="Year of birth of the account holder (consumers); may be unknown.",
        ),
        ColumnSpec("loyalty_member", "bool", description="Enrolled in the loyalty programme."),
    ),
)

SALES_SPEC = TableSpec(
    name=SALES,
    key="sale_id",
    columns=(
        ColumnSpec("sale_id", "int", description="Primary key.", identifier=True),
        ColumnSpec(
            "customer_id",
            "int",
            description="Foreign key to customers.customer_id.",
            identifier=True,
        ),
        ColumnSpec("sold_at", "datetime", description="Timestamp of the sale (UTC, naive)."),
        ColumnSpec("amount", "float", minimum=0.0, description="Gross amount in EUR."),
        ColumnSpec("quantity", "int", minimum=1, description="Units sold."),
        ColumnSpec(
            "product_category", "str", allowed=CATEGORIES, description="Category of the product."
        ),
        ColumnSpec("returned", "bool", description="The sale was returned and refunded."),
    ),
)

LABELS_SPEC = TableSpec(
    name=LABELS,
    key="customer_id",
    columns=(
        ColumnSpec("customer_id", "int", description="The labelled customer.", identifier=True),
        ColumnSpec("as_of_date", "date", description="The as-of date the label belongs to."),
        ColumnSpec("label", "str", allowed=LABEL_VALUES, description="good or bad."),
    ),
    key_scope=("as_of_date",),
)

SPECS = {spec.name: spec for spec in (CUSTOMERS_SPEC, SALES_SPEC)}
"""The tables every run needs."""
OPTIONAL_SPECS = {LABELS_SPEC.name: LABELS_SPEC}
"""Tables read when they exist, and then verified against their spec like the others."""

_SA_TYPES: dict[Kind, type[sa.types.TypeEngine[Any]]] = {
    "int": sa.BigInteger,
    "float": sa.Float,
    "str": sa.String,
    "date": sa.Date,
    "datetime": sa.DateTime,
    "bool": sa.Boolean,
}


def sa_type(kind: Kind) -> sa.types.TypeEngine[Any]:
    """The SQLAlchemy type used when this project creates a contract column."""
    return _SA_TYPES[kind]()


def sa_table(spec: TableSpec, metadata: sa.MetaData) -> sa.Table:
    """A SQLAlchemy table for a spec: used to write generated data and to read sources."""
    columns = [
        sa.Column(
            col.name, sa_type(col.kind), primary_key=(col.name == spec.key), nullable=col.nullable
        )
        for col in spec.columns
    ]
    return sa.Table(spec.name, metadata, *columns)


def kind_of(sql_type: sa.types.TypeEngine[object]) -> Kind | None:
    """The contract kind a reflected SQL type satisfies, or None when it fits none."""
    if isinstance(sql_type, sa.Boolean):
        return "bool"
    if isinstance(sql_type, sa.DateTime):
        return "datetime"
    if isinstance(sql_type, sa.Date):
        return "date"
    if isinstance(sql_type, sa.Integer):
        return "int"
    if isinstance(sql_type, sa.Float | sa.Numeric):
        return "float"
    if isinstance(sql_type, sa.String):
        return "str"
    return None


def kind_satisfies(found: Kind | None, expected: Kind) -> bool:
    """Whether a column of kind ``found`` can be read as ``expected`` without loss of meaning."""
    if found == expected:
        return True
    widenings = {("int", "float"), ("bool", "int"), ("int", "bool"), ("datetime", "date")}
    return (found, expected) in widenings
