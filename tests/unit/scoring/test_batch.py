"""Nightly batch scoring: one row per active customer, and an all-or-nothing table swap.

The history, the record and prediction checks and the output names have their own files.

The heuristic baseline stands in for a trained model here (no training needed); the
model tests score with the real champion.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from customer_classifier import jobs
from customer_classifier.data.database import connect, iter_chunks
from customer_classifier.data.generate import MasterData
from customer_classifier.errors import RegistryError
from customer_classifier.registry import LocalModelStore, ModelBundle
from customer_classifier.scoring.batch import (
    PREDICTION_KINDS,
    predictions_frame,
    score_customers,
)
from customer_classifier.settings import Settings
from tests.unit.scoring.models import FailsOnCall

TABLE = "customer_predictions"


def active_ids(data: MasterData, as_of: dt.date, window_days: int = 365) -> set[int]:
    """Customers signed up by ``as_of`` with a sale in the window before it (pandas)."""
    end = pd.Timestamp(as_of)
    sales = data.sales
    recent = sales[
        (sales["sold_at"] < end) & (sales["sold_at"] >= end - pd.Timedelta(days=window_days))
    ]
    signed = data.customers.loc[pd.to_datetime(data.customers["signup_date"]) <= end, "customer_id"]
    return set(recent["customer_id"]) & set(signed)


def test_one_row_per_active_customer(
    settings: Settings,
    champion: str,
    master_data: MasterData,
    table_reader: Callable[[Path, str], pd.DataFrame],
    db_copy: Path,
) -> None:
    summary = jobs.score_customers(settings)
    table = table_reader(db_copy, TABLE)
    expected_as_of = master_data.sales["sold_at"].max().date() + dt.timedelta(days=1)
    assert summary.as_of == expected_as_of
    assert set(table["customer_id"]) == active_ids(master_data, expected_as_of)
    assert table["customer_id"].is_unique
    assert list(table.columns) == list(PREDICTION_KINDS)
    assert set(table["label"]) == {"good", "bad"}
    assert (table["model_version"] == champion).all()
    assert table["scored_at"].nunique() == 1
    assert table["score"].between(0, 1).all()
    assert ((table["score"] >= 0.5) == (table["label"] == "good")).all()
    assert summary.rows_written == len(table)
    assert summary.good == int((table["label"] == "good").sum())
    assert summary.customers_in_database == len(master_data.customers)
    assert summary.model_version == champion
    # The generated data holds no record the online predictor would refuse.
    assert (summary.invalid_records, summary.skipped_records) == (0, 0)
    assert summary.active_customers == summary.history_rows == len(table)


def test_chunks_and_threads_do_not_change_the_result(
    settings: Settings,
    champion: str,
    db_copy: Path,
    table_reader: Callable[[Path, str], pd.DataFrame],
) -> None:
    jobs.score_customers(settings)
    chunked = settings.model_copy(
        update={"chunk_customers": 1000, "scoring_threads": 1, "predictions_table": "chunked"}
    )
    progress: list[tuple[int, int]] = []
    jobs.score_customers(chunked, progress=lambda done, total: progress.append((done, total)))
    assert progress == [(1, 3), (2, 3), (3, 3)]
    whole = table_reader(db_copy, TABLE)
    parts = table_reader(db_copy, "chunked")
    pd.testing.assert_frame_equal(
        whole.drop(columns="scored_at"), parts.drop(columns="scored_at"), check_exact=True
    )


def test_a_named_version_is_scored_without_a_champion(
    settings: Settings, bundle_factory: Callable[..., ModelBundle]
) -> None:
    store = LocalModelStore(Path(settings.store_uri))
    version = store.register(bundle_factory()).version
    with pytest.raises(RegistryError, match="no champion"):
        jobs.score_customers(settings)
    assert jobs.score_customers(settings, version=version).model_version == version


def test_a_failed_run_leaves_the_previous_table_intact(
    settings: Settings,
    champion: str,
    db_copy: Path,
    table_reader: Callable[[Path, str], pd.DataFrame],
    bundle_factory: Callable[..., ModelBundle],
) -> None:
    jobs.score_customers(settings)
    before = table_reader(db_copy, TABLE)
    history = table_reader(db_copy, f"{TABLE}_history")
    engine = connect(settings.database_url)
    model = FailsOnCall(fail_on=2)
    as_of = dt.date(2026, 7, 1)
    with pytest.raises(RuntimeError, match="scoring call 2"):
        score_customers(
            engine,
            bundle_factory(model),
            "vbroken",
            as_of,
            table=TABLE,
            active_window_days=365,
            chunk_customers=500,
            threads=2,
        )
    assert model.calls == 2  # it failed midway: the first chunk was written to staging
    pd.testing.assert_frame_equal(table_reader(db_copy, TABLE), before)
    pd.testing.assert_frame_equal(table_reader(db_copy, f"{TABLE}_history"), history)
    # The next run recovers from the leftover staging table and swaps its result in.
    summary = score_customers(
        engine,
        bundle_factory(),
        "vfixed",
        as_of,
        table=TABLE,
        active_window_days=365,
        chunk_customers=500,
    )
    tables = set(sa.inspect(engine).get_table_names())
    engine.dispose()
    after = table_reader(db_copy, TABLE)
    assert set(after["model_version"]) == {"vfixed"}
    assert len(after) == summary.rows_written == len(before)
    assert f"{TABLE}__staging" not in tables


def test_predictions_frame_of_no_customers_has_the_table_columns(
    bundle_factory: Callable[..., ModelBundle],
) -> None:
    frame = predictions_frame(pd.DataFrame(), bundle_factory(), "v1", dt.datetime(2026, 7, 1))
    assert list(frame.columns) == list(PREDICTION_KINDS)
    assert frame.empty


@pytest.mark.parametrize(("size", "expected"), [(2, [(1, 3), (5, 8), (13, 13)]), (10, [(1, 13)])])
def test_iter_chunks_bounds_cover_sorted_ids(size: int, expected: list[tuple[int, int]]) -> None:
    assert list(iter_chunks([1, 3, 5, 8, 13], size)) == expected
