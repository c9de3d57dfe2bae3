"""Registry operations on the folder store: resolve, compare, promote, rollback, gc; and the
``models`` commands of the CLI over them."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from customer_classifier.cli import main
from customer_classifier.errors import AliasConflictError, RegistryError
from customer_classifier.features.build import FEATURE_NAMES
from customer_classifier.registry import LocalModelStore, ModelBundle
from customer_classifier.registry.bundle import MODEL_FILE
from customer_classifier.registry.ops import collect_garbage, compare, promote, resolve, rollback
from customer_classifier.registry.store import default_actor, new_version_id
from customer_classifier.training.heuristic import HeuristicRules

WINDOW = {"test": {"as_of": "2026-04-02", "rows": 100}}


def bundle(precision: float = 0.9, **metadata: Any) -> ModelBundle:
    frame = pd.DataFrame({name: np.zeros(3) for name in FEATURE_NAMES})
    model = HeuristicRules().fit(frame, np.zeros(3))
    meta = {
        "candidate": "h",
        "metrics": {"test": {"precision_at_min_recall": precision, "precision": precision}},
        "data_snapshot_hash": "snap",
        "evaluation_window": WINDOW,
        "label_rule": {"horizon_days": 90},
        "min_recall": 0.3,
        **metadata,
    }
    return ModelBundle(model=model, threshold=0.5, metadata=meta)


@pytest.fixture
def store(tmp_path: Path) -> LocalModelStore:
    return LocalModelStore(tmp_path / "store")


def test_version_ids_sort_in_registration_order() -> None:
    start = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
    ids = [new_version_id(start + dt.timedelta(microseconds=m)) for m in (0, 1, 999_999)]
    assert ids == sorted(ids)
    assert all(len(i) == len("v20260101120000-000000") for i in ids)


def test_list_is_in_registration_order(store: LocalModelStore) -> None:
    versions = [store.register(bundle()).version for _ in range(5)]
    assert [v.version for v in store.list_versions()] == versions


def test_resolve_accepts_aliases_and_versions(store: LocalModelStore) -> None:
    v1 = store.register(bundle()).version
    store.set_alias("prod", v1)
    assert resolve(store, "prod") == v1
    assert resolve(store, v1) == v1
    with pytest.raises(RegistryError, match="'nope' not found"):
        resolve(store, "nope")


def test_compare_puts_metrics_side_by_side(store: LocalModelStore) -> None:
    a = store.register(bundle(0.8)).version
    b = store.register(bundle(0.9)).version
    result = compare(store, a, b)
    assert result.same_window
    rows = {name: (x, y) for name, x, y in result.rows}
    assert rows["precision_at_min_recall"] == (0.8, 0.9)
    assert rows["recall"] == (None, None)
    c = store.register(bundle(0.9, data_snapshot_hash="other")).version
    assert compare(store, a, c).differences == ["data snapshot"]


def test_promote_checks_the_files_first(store: LocalModelStore) -> None:
    good = store.register(bundle()).version
    broken = store.register(bundle()).version
    promote(store, good, "champion", "first")
    model = store.version_path(broken) / MODEL_FILE
    model.write_bytes(model.read_bytes() + b"x")
    with pytest.raises(RegistryError, match=r"checksum mismatch for model\.joblib"):
        promote(store, broken, "champion", "should not happen")
    assert store.get_alias("champion") == good
    again = promote(store, good, "champion", "no-op")
    assert again["changed"] is False
    assert len(store.history()) == 1


def test_rollback_goes_to_the_previous_version(store: LocalModelStore) -> None:
    v1, v2, v3 = (store.register(bundle()).version for _ in range(3))
    with pytest.raises(RegistryError, match="not set"):
        rollback(store, "champion")
    promote(store, v1, "champion", "a")
    with pytest.raises(RegistryError, match="--to VERSION"):
        rollback(store, "champion")
    promote(store, v2, "champion", "b")
    promote(store, v3, "challenger", "c")
    entry = rollback(store, "champion", reason="incident 42")
    assert (entry["from"], entry["to"]) == (v2, v1)
    assert entry["reason"] == f"rollback from {v2}: incident 42"
    assert store.get_alias("champion") == v1
    rollback(store, "champion", to=v3)
    assert store.get_alias("champion") == v3
    assert [h["to"] for h in store.history("champion")] == [v1, v2, v1, v3]


def test_the_caller_names_who_moved_an_alias(store: LocalModelStore) -> None:
    v1, v2 = store.register(bundle()).version, store.register(bundle()).version
    promote(store, v1, "champion", "first", actor="release-bot")
    promote(store, v2, "champion", "better", actor="ops-oncall")
    rollback(store, "champion", reason="incident", actor="ops-oncall")
    store.set_alias("prod", v1, reason="no actor given")
    assert [(h["alias"], h["by"]) for h in store.history()] == [
        ("champion", "release-bot"),
        ("champion", "ops-oncall"),
        ("champion", "ops-oncall"),
        ("prod", default_actor()),
    ]
    assert default_actor()
    assert default_actor("ci") == "ci"


def test_environment_aliases_and_bad_names(store: LocalModelStore) -> None:
    v1 = store.register(bundle()).version
    for env in ("dev", "test", "prod"):
        store.set_alias(env, v1, reason="deploy")
    assert store.aliases() == {"dev": v1, "prod": v1, "test": v1}
    for bad in ("Prod", "../champion", "history", ""):
        with pytest.raises(RegistryError, match="is not valid"):
            store.set_alias(bad, v1)


def test_gc_keeps_aliased_and_newest_and_removes_dead_uploads(store: LocalModelStore) -> None:
    versions = [store.register(bundle()).version for _ in range(5)]
    store.set_alias("prod", versions[0])
    store.set_alias("champion", versions[2])
    dead = store.root / "staging" / "v20200101000000-000000.abc"
    dead.mkdir(parents=True)
    (dead / MODEL_FILE).write_bytes(b"half an upload")
    old = time.time() - 7200
    os.utime(dead / MODEL_FILE, (old, old))
    os.utime(dead, (old, old))
    fresh = store.root / "staging" / "v20990101000000-000000.def"
    fresh.mkdir()  # an upload in progress right now: never taken

    planned = collect_garbage(store, 1, dry_run=True)
    assert planned.deleted == [versions[1], versions[3]]
    assert len(store.list_versions()) == 5  # a dry run deletes nothing

    result = collect_garbage(store, 1)
    assert result.deleted == [versions[1], versions[3]]
    assert result.incomplete == [f"staging/{dead.name}"]
    assert [v.version for v in store.list_versions()] == [versions[0], versions[2], versions[4]]
    assert not dead.exists()
    assert fresh.exists()
    with pytest.raises(RegistryError, match="at least 0"):
        collect_garbage(store, -1)


def test_a_stale_promotion_conflicts(store: LocalModelStore) -> None:
    v1, v2 = store.register(bundle()).version, store.register(bundle()).version
    store.set_alias("champion", v1)
    with pytest.raises(AliasConflictError):
        store.set_alias("champion", v2, expected=None)


# -- the CLI -------------------------------------------------------------------------------


@pytest.fixture
def cli_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> LocalModelStore:
    for name in list(os.environ):
        if name.startswith("CC_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return LocalModelStore(tmp_path / "var" / "model_store")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, " ".join(captured.err.split())


def test_cli_promote_rollback_history_compare_gc(
    cli_store: LocalModelStore, capsys: pytest.CaptureFixture[str]
) -> None:
    v1 = cli_store.register(bundle(0.8)).version
    v2 = cli_store.register(bundle(0.9)).version
    v3 = cli_store.register(bundle(0.7)).version
    code, out, _ = run(capsys, "models", "promote", v1, "--reason", "first")
    assert code == 0
    assert json.loads(out)["to"] == v1
    assert run(capsys, "models", "promote", v2)[0] == 0
    assert run(capsys, "models", "promote", "champion", "--alias", "prod")[0] == 0
    code, out, _ = run(capsys, "models", "rollback")
    assert code == 0
    assert (json.loads(out)["from"], json.loads(out)["to"]) == (v2, v1)
    assert cli_store.aliases() == {"champion": v1, "prod": v2}

    code, out, _ = run(capsys, "models", "history", "--alias", "champion")
    moves = json.loads(out)
    assert code == 0
    assert [m["to"] for m in moves] == [v1, v2, v1]
    assert {m["by"] for m in moves} == {default_actor()}  # the CLI names no actor yet
    assert moves[-1]["reason"].startswith(f"rollback from {v2}")

    code, out, _ = run(capsys, "models", "list")
    assert code == 0
    assert v3 in out
    assert "champion" in out
    assert "prod" in out

    code, out, _ = run(capsys, "models", "compare", v1, v2)
    assert code == 0
    line = next(x for x in out.splitlines() if "precision_at_min_recall" in x)
    assert "0.8000" in line
    assert "0.9000" in line
    assert "0.1000" in line

    code, out, _ = run(capsys, "models", "gc", "--keep", "0")
    assert code == 0
    assert json.loads(out)["deleted"] == [v3]
    assert [v.version for v in cli_store.list_versions()] == [v1, v2]


def test_cli_registry_mistakes_exit_2_with_one_line(
    cli_store: LocalModelStore, capsys: pytest.CaptureFixture[str]
) -> None:
    v1 = cli_store.register(bundle()).version
    code, out, err = run(capsys, "models", "promote", "v-missing")
    assert (code, out) == (2, "")
    assert "'v-missing' not found" in err
    code, out, err = run(capsys, "models", "promote", v1, "--alias", "Prod!")
    assert code == 2
    assert "alias 'Prod!' is not valid" in err
    code, out, err = run(capsys, "models", "rollback")
    assert code == 2
    assert "'champion' is not set" in err
    code, _, err = run(capsys, "models", "show", "champion")
    assert code == 2
    assert "'champion' not found" in err
