"""The local model store: immutable versions with checksums, aliases that move atomically."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from customer_classifier.errors import AliasConflictError, RegistryError
from customer_classifier.features.build import FEATURE_NAMES
from customer_classifier.registry import LocalModelStore, ModelBundle, load_bundle
from customer_classifier.registry.bundle import MANIFEST_FILE, METADATA_FILE, MODEL_FILE
from customer_classifier.training.heuristic import HeuristicRules


def bundle(threshold: float = 0.5, **metadata: object) -> ModelBundle:
    frame = features()
    model = HeuristicRules().fit(frame, np.zeros(len(frame)))
    return ModelBundle(model=model, threshold=threshold, metadata={"candidate": "h", **metadata})


def features() -> pd.DataFrame:
    frame = pd.DataFrame({name: np.zeros(3) for name in FEATURE_NAMES})
    frame["days_since_last_purchase"] = [5.0, 90.0, 400.0]
    frame["orders_90d"] = [3.0, 1.0, 0.0]
    frame["spend_90d"] = [800.0, 100.0, 0.0]
    return frame


@pytest.fixture
def store(tmp_path: Path) -> LocalModelStore:
    return LocalModelStore(tmp_path / "store")


def test_register_and_load_round_trip(store: LocalModelStore) -> None:
    original = bundle(0.4, note="first")
    version = store.register(original).version
    loaded = store.load(version)
    assert loaded.threshold == 0.4
    assert loaded.metadata["note"] == "first"
    assert loaded.metadata["version"] == version
    assert list(loaded.metadata["feature_names"]) == list(FEATURE_NAMES)
    assert np.array_equal(loaded.score(features()), original.score(features()))
    assert list(loaded.label(loaded.score(features()))) == ["good", "bad", "bad"]
    assert [v.version for v in store.list_versions()] == [version]


def test_every_file_is_checksummed(store: LocalModelStore) -> None:
    registered = store.register(bundle())
    folder = store.version_path(registered.version)
    on_disk = {p.name for p in folder.iterdir() if p.name != MANIFEST_FILE}
    assert set(registered.files) == on_disk == {MODEL_FILE, METADATA_FILE}
    for name, digest in registered.files.items():
        assert digest == hashlib.sha256((folder / name).read_bytes()).hexdigest()
    manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    assert manifest["files"] == registered.files
    assert manifest["version"] == registered.version


@pytest.mark.parametrize("name", [MODEL_FILE, METADATA_FILE])
def test_a_tampered_file_is_refused_by_name(store: LocalModelStore, name: str) -> None:
    version = store.register(bundle()).version
    path = store.version_path(version) / name
    path.write_bytes(path.read_bytes() + b" ")
    with pytest.raises(RegistryError, match=rf"{version}: checksum mismatch for {name}"):
        store.load(version)


def test_a_missing_file_is_refused_by_name(store: LocalModelStore) -> None:
    version = store.register(bundle()).version
    (store.version_path(version) / MODEL_FILE).unlink()
    with pytest.raises(RegistryError, match=rf"file {MODEL_FILE} is missing"):
        store.load(version)


def test_versions_are_distinct_and_immutable(store: LocalModelStore) -> None:
    first = store.register(bundle(0.3))
    before = {p.name: p.read_bytes() for p in store.version_path(first.version).iterdir()}
    second = store.register(bundle(0.7))
    assert first.version != second.version
    after = {p.name: p.read_bytes() for p in store.version_path(first.version).iterdir()}
    assert after == before
    assert store.load(first.version).threshold == 0.3
    assert [v.version for v in store.list_versions()] == sorted([first.version, second.version])


def test_a_version_without_manifest_is_invisible(store: LocalModelStore) -> None:
    version = store.register(bundle()).version
    half = store.version_path("v99999999999999-crashed")
    shutil.copytree(store.version_path(version), half)
    (half / MANIFEST_FILE).unlink()
    assert [v.version for v in store.list_versions()] == [version]
    with pytest.raises(RegistryError, match="'v99999999999999-crashed' not found"):
        store.get(half.name)
    with pytest.raises(RegistryError):
        store.load(half.name)
    with pytest.raises(RegistryError):
        store.set_alias("champion", half.name)
    with pytest.raises(RegistryError, match=f"no {MANIFEST_FILE}"):
        load_bundle(half)


def test_an_unknown_version_names_itself_and_the_latest(store: LocalModelStore) -> None:
    version = store.register(bundle()).version
    with pytest.raises(RegistryError, match=rf"'vnope' not found in .*latest: {version}"):
        store.load("vnope")


def test_aliases_move_and_keep_a_history(store: LocalModelStore) -> None:
    v1 = store.register(bundle()).version
    v2 = store.register(bundle()).version
    assert store.get_alias("champion") is None
    store.set_alias("champion", v1, reason="first")
    store.set_alias("challenger", v2, reason="new")
    store.set_alias("champion", v2, reason="better")
    assert store.get_alias("champion") == v2
    assert store.get_alias("challenger") == v2
    history = store.history()
    assert [(h["alias"], h["from"], h["to"], h["reason"]) for h in history] == [
        ("champion", None, v1, "first"),
        ("challenger", None, v2, "new"),
        ("champion", v1, v2, "better"),
    ]
    assert all(h["at"] and h["by"] for h in history)


def test_alias_to_an_unknown_version_is_refused(store: LocalModelStore) -> None:
    with pytest.raises(RegistryError):
        store.set_alias("champion", "vnope")
    assert store.get_alias("champion") is None
    assert store.history() == []


def test_expected_alias_is_optimistic_concurrency(store: LocalModelStore) -> None:
    v1 = store.register(bundle()).version
    v2 = store.register(bundle()).version
    v3 = store.register(bundle()).version
    store.set_alias("champion", v1, expected=None)  # none expected, none there
    store.set_alias("champion", v2, expected=v1)
    # Another run read v1 before v2 was promoted: its promotion must not win.
    with pytest.raises(AliasConflictError, match=rf"moved to '{v2}'.*expected '{v1}'"):
        store.set_alias("champion", v3, expected=v1)
    with pytest.raises(AliasConflictError):
        store.set_alias("champion", v3, expected=None)
    assert store.get_alias("champion") == v2
    assert [h["to"] for h in store.history()] == [v1, v2]


def test_state_documents_round_trip_and_replace(store: LocalModelStore) -> None:
    assert store.read_state("last_profile.json") is None
    store.write_state("last_profile.json", b'{"rows": 1}')
    store.write_state("other.bin", b"\x00\xff")
    assert store.read_state("last_profile.json") == b'{"rows": 1}'
    store.write_state("last_profile.json", b'{"rows": 2}')
    assert store.read_state("last_profile.json") == b'{"rows": 2}'
    assert store.read_state("other.bin") == b"\x00\xff"
    # Under state/ in the store's root, with no temporary file left beside them.
    assert sorted(p.name for p in (store.root / "state").iterdir()) == [
        "last_profile.json",
        "other.bin",
    ]


def test_state_beside_versions_is_never_a_version_or_an_alias(store: LocalModelStore) -> None:
    from customer_classifier.registry.ops import collect_garbage

    version = store.register(bundle()).version
    store.write_state("last_profile.json", b"{}")
    assert [v.version for v in store.list_versions()] == [version]
    assert store.aliases() == {}
    collect_garbage(store, 0)
    assert store.read_state("last_profile.json") == b"{}"


def test_a_failed_state_write_keeps_the_old_document(
    store: LocalModelStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.write_state("last_profile.json", b"old")

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        store.write_state("last_profile.json", b"new and half written")
    monkeypatch.undo()
    assert store.read_state("last_profile.json") == b"old"
    assert [p.name for p in (store.root / "state").iterdir()] == ["last_profile.json"]


@pytest.mark.parametrize("name", ["../aliases/champion.json", "a/b", "", ".hidden", "x..y"])
def test_a_state_name_that_is_not_one_plain_file_is_refused(
    store: LocalModelStore, name: str
) -> None:
    with pytest.raises(RegistryError, match=rf"state name '{re.escape(name)}' is not valid"):
        store.write_state(name, b"x")
    with pytest.raises(RegistryError, match="is not valid"):
        store.read_state(name)
    assert not (store.root / "aliases").exists()
