"""The sample the scikit-learn candidates train on when the training window is large.

A grid search over cross-validation folds refits each candidate folds x grid times, on
one core, with the whole window in memory: at tens of millions of customers that is the
cost of training, not the network. The scikit-learn candidates therefore train on a
stratified sample of at most ``CC_TRAINING_SAMPLE_ROWS`` rows (the good share kept
exactly), while the Keras candidate, which streams batches and early-stops on the
validation window, takes the whole window (on a GPU, or across a TFJob's workers).
Validation, threshold choice and the test figures always use the full windows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def stratified_sample(
    x: pd.DataFrame, y: np.ndarray, max_rows: int, seed: int
) -> tuple[pd.DataFrame, np.ndarray]:
    """At most ``max_rows`` rows, each label in its own share, in the original order;
    everything when ``max_rows`` is 0 or the window is no larger."""
    if max_rows <= 0 or len(y) <= max_rows:
        return x, y
    rng = np.random.default_rng(seed)
    keep = []
    for label in np.unique(y):
        where = np.flatnonzero(y == label)
        take = max(1, round(len(where) * max_rows / len(y)))
        keep.append(rng.choice(where, size=min(take, len(where)), replace=False))
    rows = np.sort(np.concatenate(keep))
    return x.iloc[rows], y[rows]
