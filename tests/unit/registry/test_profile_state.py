"""The verification reference profile lives in the model store, not in the working folder,
so a run that starts in an empty folder (every task in a cluster) still has its reference."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from customer_classifier import jobs
from customer_classifier.data.profile import DataProfile
from customer_classifier.data.validation import VerificationResult
from customer_classifier.jobs.verify import PROFILE_STATE
from customer_classifier.registry import LocalModelStore
from customer_classifier.settings import ExplicitSettings, Settings


def settings(db: Path, store: Path, work: Path) -> Settings:
    return ExplicitSettings(database_url=f"sqlite:///{db}", store_uri=str(store), work_dir=work)


def drop_most_sales(db: Path) -> None:
    """Keep one sale in three: a feed that loaded only part of the day."""
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM sales WHERE sale_id % 3 != 0")


def volume_warnings(result: VerificationResult) -> list[str]:
    return [f.message for f in result.findings if f.rule == "volume_change"]


def test_a_second_run_in_an_empty_work_dir_finds_the_reference(
    db_copy: Path, tmp_path: Path
) -> None:
    store = LocalModelStore(tmp_path / "store")
    first = jobs.verify_data(
        settings(db_copy, store.root, tmp_path / "pod-1"), tmp_path / "pod-1" / "verification"
    )
    assert first.passed
    assert volume_warnings(first) == []  # the first run has no reference
    stored = store.read_state(PROFILE_STATE)
    assert stored is not None
    reference = DataProfile.model_validate_json(stored)
    assert reference.tables["sales"].rows == first.profile.tables["sales"].rows
    assert sorted(p.name for p in (tmp_path / "pod-1").iterdir()) == ["verification"]

    drop_most_sales(db_copy)
    fresh = tmp_path / "pod-2"  # another task: nothing of the first run's folder
    second = jobs.verify_data(settings(db_copy, store.root, fresh), fresh / "verification")
    before, after = first.profile.tables["sales"].rows, second.profile.tables["sales"].rows
    assert after < before / 2
    (warning,) = volume_warnings(second)  # measured against the first run's profile
    assert warning.startswith("sales: ")
    assert f"({before} -> {after})" in warning
    # The passing run's profile is the next reference.
    stored = store.read_state(PROFILE_STATE)
    assert stored is not None
    assert DataProfile.model_validate_json(stored).tables["sales"].rows == after


def test_another_store_has_its_own_reference(db_copy: Path, tmp_path: Path) -> None:
    jobs.verify_data(settings(db_copy, tmp_path / "a", tmp_path / "w1"), tmp_path / "r1")
    drop_most_sales(db_copy)
    other = jobs.verify_data(settings(db_copy, tmp_path / "b", tmp_path / "w1"), tmp_path / "r2")
    assert volume_warnings(other) == []  # store b has never seen a profile
    assert LocalModelStore(tmp_path / "b").read_state(PROFILE_STATE) is not None
