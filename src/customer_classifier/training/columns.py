"""Which feature columns a fitted preprocessing uses: those that vary in the training window.

A transaction-only source has no country, channel or birth year and one segment, so
those columns are entirely null or hold one value. They carry no information, and some
estimators fail on them (histogram binning of a column without a single value), so they
are left out of the preprocessing that is fitted, and the reason is recorded. Scoring
still receives whole feature records: a column-selecting preprocessing ignores the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from customer_classifier.features.build import CATEGORICAL_FEATURES, NUMERIC_FEATURES


@dataclass(frozen=True)
class FeatureColumns:
    numeric: tuple[str, ...] = NUMERIC_FEATURES
    categorical: tuple[str, ...] = CATEGORICAL_FEATURES
    dropped: dict[str, str] = field(default_factory=dict)
    """Left-out column -> why."""


ALL_COLUMNS = FeatureColumns()


def _why_uninformative(values: pd.Series) -> str | None:
    present = values.dropna()
    if present.empty:
        return "all null"
    distinct = present.unique()
    if len(distinct) == 1 and len(present) == len(values):
        return f"one value ({distinct[0]}) in every row"
    return None


def informative_columns(x: pd.DataFrame) -> FeatureColumns:
    """The schema's columns that vary in ``x`` (a value and a null count as two)."""
    dropped = {
        name: reason
        for name in (*NUMERIC_FEATURES, *CATEGORICAL_FEATURES)
        if (reason := _why_uninformative(x[name])) is not None
    }
    return FeatureColumns(
        numeric=tuple(c for c in NUMERIC_FEATURES if c not in dropped),
        categorical=tuple(c for c in CATEGORICAL_FEATURES if c not in dropped),
        dropped=dropped,
    )
