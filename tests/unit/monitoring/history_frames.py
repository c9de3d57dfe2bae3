"""Monitoring history frames in the history table's shape, built night by night.

A night is quiet (nothing drifted, precision on target, calibrated) unless its figures
say otherwise: ``drifted`` (feature names), ``psi``, ``estimate``/``lower``/``upper``,
``realised``, ``ece``, ``concept``.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pandas as pd
import sqlalchemy as sa

from customer_classifier.monitoring_metrics import (
    CALIBRATION_ERROR,
    CONCEPT_DRIFT_FLAGGED,
    ESTIMATED_PRECISION,
    ESTIMATED_PRECISION_LOWER,
    ESTIMATED_PRECISION_UPPER,
    FEATURE_DRIFT_FLAGGED,
    REALISED_PRECISION,
    SCORE_DRIFT_PSI,
)

FEATURES = ("age", "recency_days", "monetary_365d")


def night_rows(as_of: dt.date, **figures: Any) -> list[dict[str, Any]]:
    """One night's rows: nothing drifted and precision on target unless told otherwise."""
    drifted = set(figures.get("drifted", ()))
    rows = [(FEATURE_DRIFT_FLAGGED.name, {"feature": f}, float(f in drifted)) for f in FEATURES]
    rows += [
        (SCORE_DRIFT_PSI.name, {}, figures.get("psi", 0.01)),
        (ESTIMATED_PRECISION.name, {"segment": "all"}, figures.get("estimate", 0.82)),
        (ESTIMATED_PRECISION_LOWER.name, {"segment": "all"}, figures.get("lower", 0.80)),
        (ESTIMATED_PRECISION_UPPER.name, {"segment": "all"}, figures.get("upper", 0.84)),
        # Another segment's breach must not count: the triggers read segment "all".
        (ESTIMATED_PRECISION_UPPER.name, {"segment": "b2b"}, 0.10),
        (REALISED_PRECISION.name, {"segment": "all"}, figures.get("realised", 0.81)),
        (CALIBRATION_ERROR.name, {}, figures.get("ece", 0.02)),
        (CONCEPT_DRIFT_FLAGGED.name, {}, float(figures.get("concept", False))),
    ]
    return [
        {
            "as_of": as_of,
            "run_id": f"run-{as_of}",
            "model_version": "v1",
            "metric": metric,
            "labels": json.dumps(labels, sort_keys=True),
            "value": value,
            "recorded_at": dt.datetime.combine(as_of, dt.time(3)),
        }
        for metric, labels, value in rows
    ]


def history(nights: dict[dt.date, dict[str, Any]]) -> pd.DataFrame:
    rows = [row for day, figures in sorted(nights.items()) for row in night_rows(day, **figures)]
    return pd.DataFrame(rows)


def write_history(
    engine: sa.Engine, frame: pd.DataFrame, table: str = "monitoring_metrics"
) -> None:
    """Append the frame to the history table, with SQL date and timestamp columns."""
    frame.to_sql(
        table,
        engine,
        index=False,
        if_exists="append",
        dtype={"as_of": sa.Date(), "recorded_at": sa.DateTime()},
    )
