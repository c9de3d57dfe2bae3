"""The model store on a real S3 server (SeaweedFS on loopback, started by the tests).

Round trip, the layout KServe's storage initializer downloads, checksum tampering,
concurrent promotions, a writer killed mid-upload, and the server stopped mid-run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from customer_classifier.cli import main
from customer_classifier.errors import AliasConflictError, RegistryError
from customer_classifier.features.build import FEATURE_NAMES
from customer_classifier.registry import ModelBundle, load_bundle, open_store
from customer_classifier.registry.bundle import MANIFEST_FILE, METADATA_FILE, MODEL_FILE
from customer_classifier.registry.ops import collect_garbage, rollback
from customer_classifier.registry.s3 import S3ModelStore
from customer_classifier.registry.s3_transport import StoreUnavailableError
from customer_classifier.registry.store import default_actor
from customer_classifier.training.heuristic import HeuristicRules
from tests.integration.s3_server import BUCKET, S3Server, start_server

pytestmark = pytest.mark.integration


def features() -> pd.DataFrame:
    frame = pd.DataFrame({name: np.zeros(3) for name in FEATURE_NAMES})
    frame["days_since_last_purchase"] = [5.0, 90.0, 400.0]
    frame["orders_90d"] = [3.0, 1.0, 0.0]
    frame["spend_90d"] = [800.0, 100.0, 0.0]
    return frame


def bundle(threshold: float = 0.5, **metadata: object) -> ModelBundle:
    model = HeuristicRules().fit(features(), np.zeros(3))
    return ModelBundle(model=model, threshold=threshold, metadata={"candidate": "h", **metadata})


@pytest.fixture
def store(s3_server: S3Server, s3_store_uri: str) -> S3ModelStore:
    opened = open_store(s3_store_uri, s3_server.config())
    assert isinstance(opened, S3ModelStore)
    return opened


def keys(server: S3Server, prefix: str) -> set[str]:
    listed = server.client().list_objects(BUCKET, prefix=prefix + "/", recursive=True)
    return {str(o.object_name).removeprefix(prefix + "/") for o in listed}


def test_register_and_load_round_trip(store: S3ModelStore, s3_server: S3Server) -> None:
    original = bundle(0.4, note="first")
    registered = store.register(original)
    version = registered.version
    loaded = store.load(version)
    assert loaded.threshold == 0.4
    assert loaded.metadata["note"] == "first"
    assert loaded.metadata["version"] == version
    assert np.array_equal(loaded.score(features()), original.score(features()))
    assert [v.version for v in store.list_versions()] == [version]
    assert store.get(version).files == registered.files
    # The layout KServe's storageUri points at: one folder per version, manifest included.
    assert keys(s3_server, store.prefix) == {
        f"versions/{version}/{name}" for name in (MODEL_FILE, METADATA_FILE, MANIFEST_FILE)
    }
    assert store.version_uri(version) == f"s3://{BUCKET}/{store.prefix}/versions/{version}"
    client = s3_server.client()
    for name, digest in registered.files.items():
        body = client.get_object(BUCKET, f"{store.prefix}/versions/{version}/{name}").read()
        assert hashlib.sha256(body).hexdigest() == digest


def test_exported_version_is_what_the_storage_initializer_gets(
    store: S3ModelStore, tmp_path: Path
) -> None:
    version = store.register(bundle(0.6)).version
    folder = store.export(version, tmp_path / "mnt" / "models")
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [MODEL_FILE, METADATA_FILE, MANIFEST_FILE]
    )
    assert load_bundle(folder).threshold == 0.6  # checks every checksum on the way


@pytest.mark.parametrize("name", [MODEL_FILE, METADATA_FILE])
def test_a_tampered_object_is_refused_by_name(
    store: S3ModelStore, s3_server: S3Server, name: str
) -> None:
    version = store.register(bundle()).version
    key = f"{store.prefix}/versions/{version}/{name}"
    client = s3_server.client()
    body = client.get_object(BUCKET, key).read() + b" "
    client.put_object(BUCKET, key, io.BytesIO(body), len(body))
    with pytest.raises(RegistryError, match=rf"{version}: checksum mismatch for {name}"):
        store.load(version)


def test_a_missing_object_is_refused_by_name(store: S3ModelStore, s3_server: S3Server) -> None:
    version = store.register(bundle()).version
    s3_server.client().remove_object(BUCKET, f"{store.prefix}/versions/{version}/{MODEL_FILE}")
    with pytest.raises(RegistryError, match=rf"{version}: file {MODEL_FILE} is missing"):
        store.load(version)


def test_unknown_version_and_bad_names(store: S3ModelStore) -> None:
    version = store.register(bundle()).version
    with pytest.raises(RegistryError, match=rf"'vnope' not found in s3://.*latest: {version}"):
        store.load("vnope")
    with pytest.raises(RegistryError, match="not found"):
        store.get("../../etc")
    with pytest.raises(RegistryError, match="alias 'Champion!' is not valid"):
        store.set_alias("Champion!", version)


def test_aliases_history_and_rollback(store: S3ModelStore) -> None:
    v1, v2 = store.register(bundle()).version, store.register(bundle()).version
    store.set_alias("champion", v1, expected=None, reason="first")
    store.set_alias("prod", v1, reason="deployed")
    store.set_alias("champion", v2, expected=v1, reason="better")
    assert store.aliases() == {"champion": v2, "prod": v1}
    rollback(store, "champion", reason="bad canary")
    assert store.get_alias("champion") == v1
    history = store.history("champion")
    assert [(h["from"], h["to"]) for h in history] == [(None, v1), (v1, v2), (v2, v1)]
    assert history[-1]["reason"] == f"rollback from {v2}: bad canary"
    assert [h["seq"] for h in history] == [1, 2, 3]
    assert {h["alias"] for h in store.history()} == {"champion", "prod"}
    assert all(h["by"] and h["at"] for h in store.history())


def test_concurrent_promotions_one_wins(store: S3ModelStore, s3_server: S3Server) -> None:
    base = store.register(bundle()).version
    contenders = [store.register(bundle()).version for _ in range(2)]
    store.set_alias("champion", base, expected=None, reason="base")
    barrier = threading.Barrier(len(contenders))
    outcomes: dict[str, BaseException | None] = {}

    def promote(version: str) -> None:
        mine = open_store(store.uri, s3_server.config())  # its own client, like another pod
        barrier.wait(timeout=30)
        try:
            mine.set_alias("champion", version, expected=base, reason=f"promote {version}")
            outcomes[version] = None
        except BaseException as exc:
            outcomes[version] = exc

    threads = [threading.Thread(target=promote, args=(v,)) for v in contenders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    winners = [v for v, error in outcomes.items() if error is None]
    losers = [error for error in outcomes.values() if error is not None]
    assert len(winners) == 1, outcomes
    assert len(losers) == 1, outcomes
    assert isinstance(losers[0], AliasConflictError), outcomes
    assert "retry the promotion" in str(losers[0])
    assert store.get_alias("champion") == winners[0]
    assert [(h["from"], h["to"]) for h in store.history("champion")] == [
        (None, base),
        (base, winners[0]),
    ]


def test_the_server_refuses_a_write_from_a_stale_read(store: S3ModelStore) -> None:
    """The compare-and-swap itself: a writer whose read is stale loses at the server."""
    v1, v2, v3 = (store.register(bundle()).version for _ in range(3))
    store.set_alias("champion", v1, expected=None)
    stale = store._read_alias("champion")
    store.set_alias("champion", v2, expected=v1)  # another run promotes in between

    class StaleReader(S3ModelStore):
        """Reads the alias once before the other promotion, as a slow run would."""

        reads = 0

        def _read_alias(self, alias: str) -> tuple[dict[str, Any], str] | None:
            self.reads += 1
            return stale if self.reads == 1 else super()._read_alias(alias)

    slow = StaleReader(store.transport, store.prefix)
    with pytest.raises(AliasConflictError, match=f"moved to '{v2}'"):
        slow.set_alias("champion", v3, expected=v1)
    assert store.get_alias("champion") == v2
    assert [h["to"] for h in store.history("champion")] == [v1, v2]


WRITER = """
import os, sys, pathlib
import numpy as np, pandas as pd
from customer_classifier.features.build import FEATURE_NAMES
from customer_classifier.registry import ModelBundle, open_store
from customer_classifier.registry.s3_transport import S3Transport
from customer_classifier.settings import load_settings
from customer_classifier.training.heuristic import HeuristicRules

ready = pathlib.Path(sys.argv[2])
put_if = S3Transport.put_if

def stall_before_manifest(self, key, data, etag):
    if key.endswith("/MANIFEST.json"):
        ready.write_text("uploaded everything but the manifest")
        while True:
            pass  # the test kills this process here, as a crash would
    return put_if(self, key, data, etag)

S3Transport.put_if = stall_before_manifest
store = open_store(sys.argv[1], load_settings().s3)
frame = pd.DataFrame({n: np.zeros(3) for n in FEATURE_NAMES})
model = HeuristicRules().fit(frame, np.zeros(3))
version = store.register(ModelBundle(model, 0.5, {"candidate": "h"})).version
store.set_alias("champion", version, reason="must never happen")
"""


def test_a_writer_killed_mid_upload_leaves_nothing_visible(
    store: S3ModelStore, s3_server: S3Server, tmp_path: Path
) -> None:
    champion = store.register(bundle(0.3)).version
    store.set_alias("champion", champion, expected=None)
    ready = tmp_path / "ready"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, store.uri, str(ready)],
        env={**os.environ, **s3_server.env()},
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert writer.poll() is None, "the writer ended before reaching the manifest"
            assert time.monotonic() < deadline, "the writer never reached the manifest"
            time.sleep(0.05)
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
    # Its model files are on the server, but no reader can see or load the version.
    leftovers = {k.split("/")[1] for k in keys(s3_server, store.prefix) if k.startswith("v")}
    assert len(leftovers - {champion}) == 1
    (crashed,) = leftovers - {champion}
    assert [v.version for v in store.list_versions()] == [champion]
    with pytest.raises(RegistryError, match="not found"):
        store.load(crashed)
    with pytest.raises(RegistryError):
        store.set_alias("challenger", crashed)
    assert store.aliases() == {"champion": champion}
    assert [h["to"] for h in store.history()] == [champion]
    # Garbage collection removes the leftovers once they are old enough, nothing else.
    assert collect_garbage(store, 0, incomplete_after=dt.timedelta(hours=1)).incomplete == []
    result = collect_garbage(store, 0, incomplete_after=dt.timedelta(0))
    assert result.incomplete == [crashed]
    assert result.deleted == []
    assert {k.split("/")[1] for k in keys(s3_server, store.prefix) if k.startswith("v")} == {
        champion
    }
    assert store.load(champion).threshold == 0.3


def test_gc_keeps_aliased_and_newest(store: S3ModelStore) -> None:
    versions = [store.register(bundle()).version for _ in range(4)]
    store.set_alias("prod", versions[0])
    result = collect_garbage(store, 1)
    assert result.deleted == versions[1:3]
    assert [v.version for v in store.list_versions()] == [versions[0], versions[3]]


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[S3Server]:
    """A server of this test's own, since the test stops it."""
    server = start_server(tmp_path / "s3")
    try:
        yield server
    finally:
        server.stop()


def test_server_stopped_mid_run_gives_a_clear_error_and_consistent_state(
    own_server: S3Server,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    uri = f"s3://{BUCKET}/faults"
    store = open_store(uri, own_server.config())
    v1 = store.register(bundle(0.3)).version
    store.set_alias("champion", v1, expected=None, reason="first")

    own_server.stop()
    endpoint = own_server.endpoint
    started = time.monotonic()
    for action in (
        lambda: store.register(bundle(0.9)),
        lambda: store.set_alias("champion", v1, reason="during the outage"),
        lambda: store.load(v1),
        lambda: store.list_versions(),
    ):
        with pytest.raises(StoreUnavailableError) as caught:
            action()
        message = str(caught.value)
        assert endpoint in message
        assert "after 3 attempts" in message
        assert "CC_S3__ENDPOINT" in message
    assert time.monotonic() - started < 30  # bounded: 3 quick attempts each, no hang

    # The CLI says the same in one line and exits 2.
    for key, value in own_server.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CC_STORE_URI", uri)
    monkeypatch.chdir(tmp_path)
    assert main(["models", "list"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"model store at {endpoint}" in err
    assert "Traceback" not in err

    own_server.start()
    assert store.get_alias("champion") == v1
    assert [v.version for v in store.list_versions()] == [v1]
    assert store.load(v1).threshold == 0.3
    assert [h["to"] for h in store.history()] == [v1]


def test_wrong_credentials_and_missing_bucket_are_named(
    s3_server: S3Server, s3_store_uri: str
) -> None:
    wrong = open_store(s3_store_uri, s3_server.config(secret_key="not-the-secret"))
    with pytest.raises(RegistryError, match=r"refused the credentials.*CC_S3__SECRET_KEY"):
        wrong.list_versions()
    missing = open_store("s3://no-such-bucket/x", s3_server.config())
    with pytest.raises(RegistryError, match="bucket 'no-such-bucket' does not exist"):
        missing.list_versions()


def test_cli_promote_history_and_gc_on_s3(
    store: S3ModelStore,
    s3_server: S3Server,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    v1, v2 = store.register(bundle()).version, store.register(bundle()).version
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CC_STORE_URI", store.uri)
    monkeypatch.chdir(tmp_path)
    assert main(["models", "promote", v1, "--reason", "first"]) == 0
    assert main(["models", "promote", v2, "--alias", "prod"]) == 0
    assert main(["models", "promote", v2]) == 0
    assert main(["models", "rollback"]) == 0
    capsys.readouterr()
    assert main(["models", "show", "champion"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["version"] == v1
    assert shown["aliases"] == ["champion"]
    assert shown["uri"] == f"s3://{BUCKET}/{store.prefix}/versions/{v1}"
    by = default_actor()  # the CLI names no actor yet
    assert [(h["alias"], h["to"], h["by"]) for h in store.history()] == [
        ("champion", v1, by),
        ("prod", v2, by),
        ("champion", v2, by),
        ("champion", v1, by),
    ]


def test_state_documents_on_s3(store: S3ModelStore, s3_server: S3Server) -> None:
    assert store.read_state("last_profile.json") is None
    store.write_state("last_profile.json", b'{"rows": 1}')
    store.write_state("last_profile.json", b'{"rows": 2}')
    store.write_state("other.bin", b"\x00\xff")
    assert store.read_state("last_profile.json") == b'{"rows": 2}'
    assert store.read_state("other.bin") == b"\x00\xff"
    assert keys(s3_server, store.prefix) == {"state/last_profile.json", "state/other.bin"}
    # Another client (another pod) reads what this one wrote.
    assert open_store(store.uri, s3_server.config()).read_state("other.bin") == b"\x00\xff"
    # State is neither a version nor an alias, and garbage collection leaves it alone.
    version = store.register(bundle()).version
    assert [v.version for v in store.list_versions()] == [version]
    assert store.aliases() == {}
    assert collect_garbage(store, 0, incomplete_after=dt.timedelta(0)).incomplete == []
    assert store.read_state("last_profile.json") == b'{"rows": 2}'
    with pytest.raises(RegistryError, match=r"state name '\.\./aliases/x\.json' is not valid"):
        store.write_state("../aliases/x.json", b"{}")


def test_verification_keeps_its_reference_on_s3(
    store: S3ModelStore,
    s3_server: S3Server,
    db_copy: Path,
    tmp_path: Path,
) -> None:
    """Two verification runs in two empty working folders, as two tasks in a cluster."""
    from customer_classifier import jobs
    from customer_classifier.jobs.verify import PROFILE_STATE
    from customer_classifier.settings import ExplicitSettings

    def verify(work: Path) -> Any:
        settings = ExplicitSettings(
            database_url=f"sqlite:///{db_copy}",
            store_uri=store.uri,
            work_dir=work,
            s3=s3_server.config(),
        )
        return jobs.verify_data(settings, work / "verification")

    first = verify(tmp_path / "task-1")
    assert store.read_state(PROFILE_STATE) is not None
    with sqlite3.connect(db_copy) as conn:
        conn.execute("DELETE FROM sales WHERE sale_id % 3 != 0")
    second = verify(tmp_path / "task-2")
    before, after = first.profile.tables["sales"].rows, second.profile.tables["sales"].rows
    warnings = [f.message for f in second.findings if f.rule == "volume_change"]
    assert len(warnings) == 1
    assert f"({before} -> {after})" in warnings[0]
