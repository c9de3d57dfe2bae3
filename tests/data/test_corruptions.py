"""Corrupted source data stops the run at verification, and nothing downstream changes.

Each test starts from a copy of a clean run (champion registered, predictions table
written), loads one corruption into the copied database, runs the pipeline's steps in
order, and checks that verification stopped it naming the column and the problem, and
that the champion, the alias history, the model versions, the verification reference
profile and the predictions table are all as they were.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from customer_classifier import jobs
from customer_classifier.data.database import connect, write_frame, write_master_data
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
    "future_signups": ("customers.signup_date", "are dated after"),
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


# Loosely typed sources: values SQLite keeps in a column whose declared type is right,
# as a CSV load or a hand-written fix leaves them. Written into the database directly,
# since a DataFrame would change the column's type instead.
LOOSE_VALUES: dict[str, tuple[list[str], str, str]] = {
    "timestamp_text": (
        ["UPDATE sales SET sold_at = '30/06/2026 10:00' WHERE sale_id % 97 = 0"],
        "sales.sold_at",
        "unparseable_dates",
    ),
    "timestamp_number": (
        ["UPDATE sales SET sold_at = 1751300000 WHERE sale_id = 5"],
        "sales.sold_at",
        "unparseable_dates",
    ),
    "impossible_date": (
        ["UPDATE customers SET signup_date = '2025-02-30' WHERE customer_id = 7"],
        "customers.signup_date",
        "unparseable_dates",
    ),
    "text_amount": (
        ["UPDATE sales SET amount = 'n/a' WHERE sale_id IN (3, 30, 300)"],
        "sales.amount",
        "not_a_number",
    ),
    "text_birth_year": (
        ["UPDATE customers SET birth_year = 'unknown' WHERE customer_id = 11"],
        "customers.birth_year",
        "not_a_number",
    ),
    "nan_amount": (
        ["UPDATE sales SET amount = 'NaN' WHERE sale_id = 8"],
        "sales.amount",
        "non_finite",
    ),
    "infinite_amount": (
        ["UPDATE sales SET amount = 9e999 WHERE sale_id = 9"],
        "sales.amount",
        "non_finite",
    ),
    "text_customer_id": (
        ["UPDATE sales SET customer_id = 'C-' || customer_id WHERE sale_id = 12"],
        "sales.customer_id",
        "wrong_id_kind",
    ),
    "text_sale_id": (
        ["UPDATE sales SET sale_id = 'S-' || sale_id WHERE sale_id = 13"],
        "sales.sale_id",
        "wrong_id_kind",
    ),
    "text_flag": (
        ["UPDATE sales SET returned = 'yes' WHERE sale_id = 14"],
        "sales.returned",
        "not_boolean",
    ),
}


def _stopped_at_verification(
    raised: pytest.ExceptionInfo[DataVerificationError], work: Path, where: str, rule: str
) -> str:
    """The message naming ``where`` and ``rule``; the run left nothing but its report."""
    named = [m for m in raised.value.problems if m.startswith(f"{where}: {rule}: ")]
    assert len(named) == 1, raised.value.problems
    assert named[0] in str(raised.value)
    assert "nothing was trained, scored or written" in str(raised.value)
    report = json.loads((work / "verification" / "verification.json").read_text("utf-8"))
    assert report["passed"] is False
    assert sorted(p.name for p in work.iterdir()) == ["verification"]
    return named[0]


@pytest.mark.parametrize("case", LOOSE_VALUES)
def test_a_value_of_the_wrong_kind_stops_the_run_and_changes_nothing(
    case: str,
    trained_copy: Any,
    pipeline: Callable[..., Any],
    table_reader: Callable[[Path, str], pd.DataFrame],
    tmp_path: Path,
) -> None:
    statements, where, rule = LOOSE_VALUES[case]
    before = state(trained_copy, table_reader)
    engine = connect(f"sqlite:///{trained_copy.db_path}")
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)
    engine.dispose()

    work = tmp_path / "work"
    with pytest.raises(DataVerificationError) as raised:
        pipeline(trained_copy.settings(), work)

    _stopped_at_verification(raised, work, where, rule)
    # Only the rule of the value itself: a text customer id is also an orphan sale.
    expected = {where, "sales.customer_id"} if case == "text_customer_id" else {where}
    assert {m.split(": ")[0] for m in raised.value.problems} == expected
    assert_unchanged(before, state(trained_copy, table_reader))


LABELS = pd.DataFrame(
    {
        "customer_id": [1, 2, 3, 4],
        "as_of_date": ["2026-04-02", "2026-04-02", "2026-04-02", "2026-04-02"],
        "label": ["good", "bad", "good", "good"],
    }
)


@pytest.mark.parametrize(
    ("change", "where", "rule"),
    [
        ({"label": ["good", "bad", "maybe", "good"]}, "customer_labels.label", "not_allowed"),
        ({"customer_id": [1, 2, 3, 3]}, "customer_labels.customer_id", "duplicate_keys"),
        (
            {"as_of_date": ["2026-04-02", "2036-04-02", "2026-04-02", "2026-04-02"]},
            "customer_labels.as_of_date",
            "future_dates",
        ),
    ],
)
def test_a_broken_labels_table_stops_the_run_and_changes_nothing(
    change: dict[str, list[str]],
    where: str,
    rule: str,
    trained_copy: Any,
    pipeline: Callable[..., Any],
    table_reader: Callable[[Path, str], pd.DataFrame],
    tmp_path: Path,
) -> None:
    before = state(trained_copy, table_reader)
    labels = LABELS.assign(**change)
    engine = connect(f"sqlite:///{trained_copy.db_path}")
    kinds = {"customer_id": "int", "as_of_date": "date", "label": "str"}
    write_frame(engine, "customer_labels", labels, kinds=kinds)  # type: ignore[arg-type]
    engine.dispose()

    work = tmp_path / "work"
    with pytest.raises(DataVerificationError) as raised:
        pipeline(trained_copy.settings(), work)

    _stopped_at_verification(raised, work, where, rule)
    assert len(raised.value.problems) == 1, raised.value.problems
    assert_unchanged(before, state(trained_copy, table_reader))


def nightly_scoring(settings: Any, work: Path, now: dt.datetime) -> None:
    """The nightly pipeline's steps: verify for nightly scoring, then score."""
    jobs.verify_data(settings, work / "verification", nightly=True, now=now)
    jobs.score_nightly(settings)


def test_a_feed_that_stopped_blocks_nightly_scoring_and_changes_nothing(
    trained_copy: Any,
    table_reader: Callable[[Path, str], pd.DataFrame],
    tmp_path: Path,
) -> None:
    """The generated sales end on 2026-06-30; nine days later the feed has stopped."""
    before = state(trained_copy, table_reader)
    later = dt.datetime(2026, 7, 10, 2, 0)
    work = tmp_path / "work"
    with pytest.raises(DataVerificationError) as raised:
        nightly_scoring(trained_copy.settings(), work, later)
    message = _stopped_at_verification(raised, work, "sales.sold_at", "stale_sales")
    assert len(raised.value.problems) == 1, raised.value.problems
    assert "before the verification time 2026-07-10 02:00" in message
    assert "the default as-of date would be 2026-07-01" in message
    assert_unchanged(before, state(trained_copy, table_reader))


def test_a_stopped_feed_only_warns_outside_nightly_scoring(
    trained_copy: Any, tmp_path: Path
) -> None:
    later = dt.datetime(2026, 7, 10, 2, 0)
    result = jobs.verify_data(trained_copy.settings(), tmp_path / "verification", now=later)
    assert result.passed
    assert [(f.rule, f.severity) for f in result.findings if f.column == "sold_at"] == [
        ("stale_sales", "warning")
    ]
    fresh = jobs.verify_data(
        trained_copy.settings(), tmp_path / "fresh", nightly=True, now=dt.datetime(2026, 7, 1, 2)
    )
    assert fresh.passed
