"""The feature record a served version accepts, as its bundle recorded it.

The one source is the version's ``model.json`` (``feature_schema``: each feature's kind,
range, categories and nullability, written at registration by
:func:`~customer_classifier.registry.bundle.feature_schema_json`). The code's
``FEATURE_SCHEMA`` is not consulted here: a version trained before a feature changed keeps
accepting what it was trained on. A legacy version whose ``model.json`` has no schema, or
a schema without nullability, is refused with a
:class:`~customer_classifier.errors.RegistryError` that says to register it again
(:func:`~customer_classifier.registry.bundle.recorded_feature_schema`); the predictor
keeps serving what it served, or stays not ready.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from customer_classifier.features.build import expected_value
from customer_classifier.registry.bundle import recorded_feature_schema

CUSTOMER_ID = "customer_id"
"""Optional per record: echoed in the answer and used for sticky canary assignment."""
OUTPUTS = ("score", "label", "model_version", CUSTOMER_ID)
OUTPUT_METADATA: list[dict[str, Any]] = [
    {"name": "score", "datatype": "FP64", "shape": [-1]},
    {"name": "label", "datatype": "BYTES", "shape": [-1]},
    {"name": "model_version", "datatype": "BYTES", "shape": [-1]},
]


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
        return expected_value(
            self.numeric, self.minimum, self.maximum, self.categories, self.nullable
        )


@dataclass(frozen=True)
class RecordSchema:
    """The feature record a model version expects, in its column order."""

    fields: tuple[FieldRule, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @classmethod
    def from_bundle(cls, metadata: Mapping[str, Any]) -> RecordSchema:
        """From a version's ``model.json``; raises ``RegistryError`` for a legacy one."""
        return cls.from_entries(recorded_feature_schema(dict(metadata)))

    @classmethod
    def from_entries(cls, entries: Sequence[Mapping[str, Any]]) -> RecordSchema:
        """From ``feature_schema`` entries (``name``, ``kind``, ``nullable``, range, categories)."""
        return cls(
            tuple(
                FieldRule(
                    name=str(e["name"]),
                    numeric=e["kind"] == "numeric",
                    nullable=bool(e["nullable"]),
                    minimum=None if e.get("minimum") is None else float(e["minimum"]),
                    maximum=None if e.get("maximum") is None else float(e["maximum"]),
                    categories=tuple(e.get("categories") or ()),
                )
                for e in entries
            )
        )

    def input_metadata(self) -> list[dict[str, Any]]:
        """The V2 metadata of the inputs: one tensor per feature, one value per record."""
        return [
            {"name": f.name, "datatype": "FP64" if f.numeric else "BYTES", "shape": [-1]}
            for f in self.fields
        ]
