"""The scikit-learn candidates fit on a stratified sample; the Keras candidate, whatever
fits with the validation window, and every evaluation see the full windows."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from customer_classifier.training.candidates import Candidate
from customer_classifier.training.sample import stratified_sample
from customer_classifier.training.train import train_and_select
from tests.unit.training.test_train import ColumnScorer, frames_for


def test_the_sample_keeps_each_label_share_and_the_order() -> None:
    y = np.r_[np.ones(200), np.zeros(800)].astype(int)
    x = pd.DataFrame({"row": np.arange(1000)})
    xs, ys = stratified_sample(x, y, 100, seed=1)
    assert len(ys) == 100
    assert int(ys.sum()) == 20
    assert xs["row"].is_monotonic_increasing
    assert (y[xs["row"].to_numpy()] == ys).all()
    same, _ = stratified_sample(x, y, 100, seed=1)
    assert same.equals(xs)


def test_no_limit_or_a_small_window_keeps_everything() -> None:
    y = np.array([0, 1, 0, 1])
    x = pd.DataFrame({"a": [1, 2, 3, 4]})
    assert stratified_sample(x, y, 0, seed=0)[0] is x
    assert stratified_sample(x, y, 10, seed=0)[0] is x


class Recorder(ColumnScorer):
    """Notes how many rows each fit saw, by the candidate's column."""

    seen: ClassVar[dict[str, int]] = {}

    def fit(self, x: pd.DataFrame, y: Any, validation_data: Any = None) -> Recorder:
        Recorder.seen[self.column] = len(x)
        return super().fit(x, y)


def test_only_the_scikit_learn_candidates_are_sampled() -> None:
    frames = frames_for((60, 5), (40, 5))
    outcome = train_and_select(
        frames,
        [
            Candidate("sampled", Recorder("share_books")),
            Candidate("streamed", Recorder("share_home"), fit_with_validation=True),
        ],
        precision_target=0.8,
        min_recall=0.3,
        folds=2,
        seed=0,
        sample_rows=100,
    )
    assert Recorder.seen == {"share_books": 100, "share_home": len(frames["train"])}
    assert {r.name for r in outcome.results} == {"sampled", "streamed"}
