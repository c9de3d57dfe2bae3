"""Labels: from an explicit labels table when it has the as-of date, else from the rule.

The rule (see :class:`customer_classifier.settings.LabelRule`): *good* when the net spend
in the ``horizon_days`` from the as-of date reaches ``min_spend``. It reads only sales at
or after the as-of date, the mirror image of the features.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa

from customer_classifier.data.contract import GOOD, LABELS
from customer_classifier.features.aggregates import fetch_label_spend
from customer_classifier.settings import LabelRule


def labels_from_spend(customer_ids: pd.Index, spend: pd.DataFrame, rule: LabelRule) -> pd.Series:
    """1 = good, 0 = bad, for each id in ``customer_ids`` (no future sale: bad)."""
    future = spend.set_index("customer_id")["future_spend"].reindex(customer_ids).fillna(0.0)
    return (future >= rule.min_spend).astype("int8").rename("label")


def _labels_table(engine: sa.Engine, as_of: dt.date) -> pd.DataFrame | None:
    if LABELS not in sa.inspect(engine).get_table_names():
        return None
    query = sa.text(f"SELECT customer_id, label FROM {LABELS} WHERE as_of_date = :d")
    with engine.connect() as conn:
        rows = conn.execute(query, {"d": as_of.isoformat()}).fetchall()
    return pd.DataFrame(rows, columns=["customer_id", "label"]) if rows else None


def fetch_labels(
    engine: sa.Engine, customer_ids: pd.Index, as_of: dt.date, rule: LabelRule
) -> pd.Series:
    explicit = _labels_table(engine, as_of)
    if explicit is not None:
        mapped = explicit.set_index("customer_id")["label"].reindex(customer_ids)
        return (mapped == GOOD).astype("int8").rename("label")
    return labels_from_spend(
        customer_ids, fetch_label_spend(engine, as_of, rule.horizon_days), rule
    )
