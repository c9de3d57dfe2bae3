"""Sticky canary assignment: which customers the challenger answers for.

A customer's bucket (0 to 9999) is a fixed mix of the customer_id's bits, the same in
every replica and after every restart, so a customer sees one model for the whole
canary. Raising the percentage only adds customers: everyone already on the challenger
stays there.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BUCKETS = 10_000


def buckets(customer_ids: np.ndarray) -> np.ndarray:
    """The SplitMix64 finaliser of each id, reduced to ``[0, BUCKETS)``."""
    z = customer_ids.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        z += np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
    return (z % np.uint64(BUCKETS)).astype(np.int64)


def challenger_rows(customer_ids: Sequence[int | None] | None, percent: float) -> np.ndarray:
    """Boolean mask: True where the challenger answers. Records without an id stay on the
    champion, as does everyone when ``percent`` is 0."""
    if customer_ids is None or percent <= 0:
        return np.zeros(0 if customer_ids is None else len(customer_ids), dtype=bool)
    known = np.fromiter((i is not None for i in customer_ids), bool, len(customer_ids))
    ids = np.fromiter((i if i is not None else 0 for i in customer_ids), np.int64, len(known))
    return known & (buckets(ids) < round(percent * BUCKETS / 100))
