"""Checks of the predictions before they replace yesterday's table.

A model that returns NaN, a threshold that yields a label outside the contract, or a
source with a customer id twice must stop the run before the swap, not reach the
consumers. The checks are vectorised over each chunk's rows; chunks arrive in customer-id
order, so an id repeated across chunks shows as a chunk that starts at or below the
previous chunk's last id.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from customer_classifier.data.contract import LABEL_VALUES

EXAMPLES = 3


@dataclass(frozen=True)
class ChunkVerdict:
    problems: tuple[str, ...]
    last_id: int | None
    """The highest id of this chunk (or the previous one's when the chunk is empty)."""


def _ids(values: np.ndarray) -> str:
    return ", ".join(str(v) for v in values[:EXAMPLES].tolist())


def check_prediction_rows(rows: pd.DataFrame, after_id: int | None) -> ChunkVerdict:
    """Problems of one chunk of prediction rows; ``after_id``: the previous chunk's last id."""
    if not len(rows):
        return ChunkVerdict((), after_id)
    problems = []
    ids = rows["customer_id"].to_numpy(dtype=np.int64)
    scores = rows["score"].to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore"):
        bad_score = ~(np.isfinite(scores) & (scores >= 0.0) & (scores <= 1.0))
    if bad_score.any():
        problems.append(
            f"score: {int(bad_score.sum())} row(s) not a finite number from 0 to 1 "
            f"(customers {_ids(ids[bad_score])}: {scores[bad_score][:EXAMPLES].tolist()}); "
            "the model version returns invalid probabilities: score with another version"
        )
    bad_label = ~rows["label"].isin(LABEL_VALUES).to_numpy()
    if bad_label.any():
        found = sorted({str(v) for v in rows["label"].to_numpy()[bad_label][:EXAMPLES]})
        problems.append(
            f"label: {int(bad_label.sum())} row(s) with a label outside {list(LABEL_VALUES)} "
            f"(found {found}); the model version's labelling is broken"
        )
    # Chunks usually come sorted: strictly increasing ids are unique without hashing.
    ascending = bool((np.diff(ids) > 0).all())
    repeated = ids[:0] if ascending else ids[pd.Series(ids).duplicated().to_numpy()]
    if after_id is not None:
        repeated = np.concatenate([ids[ids <= after_id], repeated])
    if len(repeated):
        problems.append(
            f"customer_id: {len(repeated)} customer(s) scored more than once "
            f"(e.g. {_ids(np.unique(repeated))}); customers.customer_id must be unique: "
            "remove the duplicates from the source (verification reports them)"
        )
    return ChunkVerdict(tuple(problems), int(ids.max()))


def count_problem(staged: int, expected: int, staging: str) -> str | None:
    """The staging table must hold one row per scored customer, no more and no fewer."""
    if staged == expected:
        return None
    return (
        f"{staging}: holds {staged} row(s) but {expected} active customer(s) were scored; "
        "another run may be writing the same table: run scoring again once it has finished"
    )
