"""What travels through the request path: checked feature columns in, scores out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Records:
    """Validated feature columns of one request, ready to join a batch."""

    columns: dict[str, np.ndarray]
    rows: int
    customer_ids: list[int | None] | None = None
    outputs: tuple[str, ...] | None = None
    """V2: the outputs the client asked for (None: all)."""


@dataclass(frozen=True)
class Scored:
    """One request's share of a scored batch."""

    scores: np.ndarray
    labels: np.ndarray
    versions: list[str]
