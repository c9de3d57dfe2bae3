"""The multi-node entry point, run as a TFJob worker would run it (one worker here).

A ``TF_CONFIG`` of one worker and ``CC_DL__STRATEGY=multi_worker`` take the
``MultiWorkerMirroredStrategy`` path on the CPU, in a child process (the strategy sets up
collective ops once per process). ``select`` then puts the candidate beside the others.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from customer_classifier import jobs
from customer_classifier.settings import Settings

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def entry_point(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "customer_classifier.train_distributed", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def features(
    tmp_path_factory: pytest.TempPathFactory,
    master_db: Path,
    settings_factory: Callable[..., Settings],
) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("tfjob")
    shutil.copyfile(master_db, root / "master.db")
    settings = settings_factory(root / "master.db", root)
    jobs.ingest_data(settings, root / "snapshot")
    jobs.build_features(settings, root / "snapshot", root / "features")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CC_")}
    env.update(
        {
            "CC_DATABASE_URL": settings.database_url,
            "CC_STORE_URI": settings.store_uri,
            "CC_WORK_DIR": str(settings.work_dir),
            "CC_CANDIDATES": '["heuristic", "logistic_regression"]',
        }
    )
    return root / "features", env


def test_a_worker_trains_under_multi_worker_mirrored_strategy(
    features: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    folder, env = features
    cluster = {"worker": [f"127.0.0.1:{free_port()}"]}
    env = {
        **env,
        "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}}),
        "CC_DL__STRATEGY": "multi_worker",
    }
    out = tmp_path / "candidate"
    done = entry_point(
        ["train", "--features", str(folder), "--output", str(out), "--max-epochs", "3"], env
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["strategy"] == "multi_worker"
    assert summary["chief"] is True
    assert summary["epochs_run"] <= 3
    assert (out / "model.keras").is_file()

    bundle = tmp_path / "bundle"
    chosen = entry_point(
        [
            "select",
            "--features",
            str(folder),
            "--candidate",
            str(out),
            "--bundle",
            str(bundle),
            "--report",
            str(tmp_path / "training.html"),
        ],
        env,
    )
    assert chosen.returncode == 0, chosen.stderr[-3000:]
    meta = json.loads((bundle / "model.json").read_text())
    assert set(meta["candidates"]) == {"heuristic", "logistic_regression", "keras_mlp"}
    assert json.loads(chosen.stdout.strip().splitlines()[-1])["chosen"] == meta["candidate"]


def test_a_bad_tf_config_stops_the_worker_with_a_message(
    features: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    folder, env = features
    env = {**env, "TF_CONFIG": "{not json"}
    done = entry_point(["train", "--features", str(folder), "--output", str(tmp_path / "c")], env)
    assert done.returncode == 2
    assert "TF_CONFIG is not valid JSON" in done.stderr
    assert not (tmp_path / "c").exists()
