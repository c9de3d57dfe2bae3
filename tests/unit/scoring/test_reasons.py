"""Nightly reasons: ``reason_1..3`` in the predictions table when asked for, the old
columns otherwise, and a clear refusal for a champion without contributions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from customer_classifier import jobs
from customer_classifier.errors import ConfigurationError
from customer_classifier.features.build import FEATURE_NAMES
from customer_classifier.scoring.batch import PREDICTION_KINDS, REASON_COLUMNS
from customer_classifier.settings import Settings
from tests.conftest import CopiedRun

TABLE = "customer_predictions"
Reader = Callable[[Path, str], pd.DataFrame]


def test_reasons_add_three_columns_and_leave_the_scores_alone(
    trained_copy: CopiedRun, table_reader: Reader
) -> None:
    before = table_reader(trained_copy.db_path, TABLE)
    jobs.score_customers(trained_copy.settings(explain={"reasons": True}))
    table = table_reader(trained_copy.db_path, TABLE)
    assert list(table.columns) == [*PREDICTION_KINDS, *REASON_COLUMNS]
    pd.testing.assert_series_equal(table["score"], before["score"])
    reasons = table[list(REASON_COLUMNS)]
    assert set(pd.unique(reasons.to_numpy().ravel())) - {None} <= set(FEATURE_NAMES)
    assert reasons["reason_1"].notna().mean() > 0.95
    # Strongest first, never the same feature twice for one customer.
    named = reasons.dropna()
    assert (named["reason_1"] != named["reason_2"]).all()
    assert (named["reason_2"] != named["reason_3"]).all()
    history = table_reader(trained_copy.db_path, f"{TABLE}_history")
    assert not set(REASON_COLUMNS) & set(history.columns)


def test_without_reasons_the_table_keeps_its_columns(
    trained_copy: CopiedRun, table_reader: Reader
) -> None:
    jobs.score_customers(trained_copy.settings(explain={"reasons": True}))
    jobs.score_customers(trained_copy.settings())
    table = table_reader(trained_copy.db_path, TABLE)
    assert list(table.columns) == list(PREDICTION_KINDS)


def test_a_champion_without_contributions_is_refused_before_anything_is_written(
    settings: Settings,
    champion: str,
    db_copy: Path,
    tmp_path: Path,
    table_reader: Reader,
    settings_factory: Callable[..., Settings],
) -> None:
    jobs.score_customers(settings)
    before = table_reader(db_copy, TABLE)
    with pytest.raises(ConfigurationError, match="HeuristicRules model") as caught:
        jobs.score_customers(settings_factory(db_copy, tmp_path, explain={"reasons": True}))
    assert "CC_EXPLAIN__REASONS=false" in str(caught.value)
    pd.testing.assert_frame_equal(table_reader(db_copy, TABLE), before)
