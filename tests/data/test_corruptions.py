"""Corrupted source data stops the run at verification, and nothing downstream changes.

Each test starts from a copy of a clean run (champion registered, predictions table
written), loads one corruption into the copied database, runs the pipeline's steps in
order, and checks that verification stopped it naming the column and the problem, and
that the champion, the alias history, the model versions, the verification reference
profile and the predictions table are all as they were.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from customer_classifier import jobs
from customer_classifier.data.database import connect, write_master_data
from customer_classifier.data.generate import CORRUPTIONS, Corruption, MasterData, corrupt
from customer_classifier.errors import DataVerificationError
from customer_classifier.jobs.verify import PROFILE_STATE

pytestmark = pytest.mark.slow
PREDICTIONS = "customer_predictions"

EXPECTED: dict[Corruption, tuple[str, str]] = {
    "missing_column": ("sales.amount", "column is missing"),
    "wrong_type": ("sales.amount", "has type VARCHAR, expected float"),
    "null_burst": ("customers.segment", "are null but the column must not be"),
    "duplicate_ids": ("customers.customer_id", "duplicate customer_id values"),
    "orphan_sales": ("sales.customer_id", "reference customers that do not exist"),
    "negative_amounts": ("sales.amount", "are below the minimum 0"),
    "future_dates": ("sales.sold_at", "are dated after"),
    "empty_table": ("sales", "table has 0 rows"),
}


def test_every_corruption_has_an_expectation() -> None:
    assert set(EXPECTED) == set(CORRUPTIONS)


def state(copy: Any, table_reader: Callable[[Path, str], pd.DataFrame]) -> dict[str, Any]:
    """Everything a failed run must leave as it was."""
    store = copy.store
    return {
        "champion": store.get_alias("champion"),
        "challenger": store.get_alias("challenger"),
        "history": store.history(),
        "versions": [v.version for v in store.list_versions()],
        "reference_profile": store.read_state(PROFILE_STATE),
        "predictions": table_reader(copy.db_path, PREDICTIONS),
    }


def assert_unchanged(before: dict[str, Any], after: dict[str, Any]) -> None:
    pd.testing.assert_frame_equal(after.pop("predictions"), before.pop("predictions"))
    assert after == before


@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_corruption_stops_the_run_and_changes_nothing(
    kind: Corruption,
    trained_copy: Any,
    master_data: MasterData,
    pipeline: Callable[..., Any],
    table_reader: Callable[[Path, str], pd.DataFrame],
    tmp_path: Path,
) -> None:
    before = state(trained_copy, table_reader)
    assert before["champion"] is not None
    assert before["reference_profile"] is not None
    assert len(before["predictions"]) > 0
    engine = connect(f"sqlite:///{trained_copy.db_path}")
    write_master_data(engine, corrupt(master_data, kind))
    engine.dispose()

    work = tmp_path / "work"
    with pytest.raises(DataVerificationError) as raised:
        pipeline(trained_copy.settings(), work)

    where, problem = EXPECTED[kind]
    assert len(raised.value.problems) == 1, raised.value.problems
    message = raised.value.problems[0]
    assert message.startswith(f"{where}: ")
    assert problem in message
    assert message in str(raised.value)
    assert "nothing was trained, scored or written" in str(raised.value)
    report = json.loads((work / "verification" / "verification.json").read_text("utf-8"))
    assert report["passed"] is False
    # The run stopped at verification: no later step left anything behind...
    assert sorted(p.name for p in work.iterdir()) == ["verification"]
    # ...and the champion, the store and yesterday's predictions are untouched.
    assert_unchanged(before, state(trained_copy, table_reader))


def test_the_clean_copy_passes_verification(trained_copy: Any, tmp_path: Path) -> None:
    """The control: the same copy without a corruption is not blocked."""
    result = jobs.verify_data(trained_copy.settings(), tmp_path / "verification")
    assert result.passed
