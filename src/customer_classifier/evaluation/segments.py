"""The groups a model is judged across, read off a window's feature records.

Fairness and segment figures compare customers by who they are (age, country, loyalty)
and by how the business sees them (segment, acquisition channel, tenure). Every such
attribute is already in the feature record, so any window (training's test window, the
register step's re-scored one, a scoring night) yields the same groups without another
query. Continuous attributes go into fixed, documented bands so that figures stay
comparable across versions and nights; a missing value is a group of its own
(``unknown``), never dropped, since who lacks a value is often who is treated worst.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

UNKNOWN = "unknown"
AGE_BANDS: tuple[tuple[str, float], ...] = (
    ("under 30", 30),
    ("30-44", 45),
    ("45-59", 60),
    ("60 and over", float("inf")),
)
"""Label and exclusive upper bound (years) of each age band."""
TENURE_BANDS: tuple[tuple[str, float], ...] = (
    ("under 1 year", 365),
    ("1-2 years", 730),
    ("2-3 years", 1095),
    ("3 years and more", float("inf")),
)
"""Label and exclusive upper bound (days since signup) of each tenure band."""
ATTRIBUTES: tuple[str, ...] = (
    "segment",
    "country",
    "acquisition_channel",
    "age_band",
    "tenure_band",
    "loyalty",
)
"""The attributes every model is judged across, in the order reports list them."""


def _banded(values: pd.Series, bands: tuple[tuple[str, float], ...]) -> np.ndarray:
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    uppers = np.array([upper for _, upper in bands])
    names = np.array([name for name, _ in bands] + [UNKNOWN], dtype=object)
    index = np.searchsorted(uppers, numbers, side="right")
    index = np.where(np.isnan(numbers), len(bands), index)
    out: np.ndarray = names[index]
    return out


def _category(values: pd.Series) -> np.ndarray:
    out: np.ndarray = values.astype(object).where(values.notna(), UNKNOWN).astype(str).to_numpy()
    return out


def group_attributes(frame: pd.DataFrame) -> pd.DataFrame:
    """One column per attribute of :data:`ATTRIBUTES`, one string group per customer.

    ``frame`` is a window of feature records (``segment``, ``country``,
    ``acquisition_channel``, ``age``, ``tenure_days``, ``loyalty_member``); the result
    keeps its index.
    """
    loyalty = pd.to_numeric(frame["loyalty_member"], errors="coerce")
    return pd.DataFrame(
        {
            "segment": _category(frame["segment"]),
            "country": _category(frame["country"]),
            "acquisition_channel": _category(frame["acquisition_channel"]),
            "age_band": _banded(frame["age"], AGE_BANDS),
            "tenure_band": _banded(frame["tenure_days"], TENURE_BANDS),
            "loyalty": np.where(
                loyalty.isna(), UNKNOWN, np.where(loyalty > 0.5, "member", "not a member")
            ),
        },
        index=frame.index,
    )
