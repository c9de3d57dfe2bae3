"""Element-wise transforms that fitted pipelines reference, kept importable by serving."""

from __future__ import annotations

import numpy as np


def signed_log1p(values: np.ndarray) -> np.ndarray:
    """log1p that keeps the sign: compresses money and counts without dropping negatives."""
    out: np.ndarray = np.sign(values) * np.log1p(np.abs(values))
    return out
