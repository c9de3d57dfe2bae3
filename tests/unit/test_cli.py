"""The command line: user mistakes exit with status 2 and one message, never a traceback.

The CLI reads its settings from the environment (that is its job), so each test runs
in its own empty folder with every CC_* variable removed; the defaults then point at
``var/`` inside that folder.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from customer_classifier.cli import main


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in list(os.environ):
        if name.startswith("CC_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_user_error(code: int, out: str, err: str, *words: str) -> None:
    assert code == 2
    assert out == ""
    assert err.lstrip().startswith("error: ")  # a transient progress bar may leave a newline
    assert "Traceback" not in err
    flat = " ".join(err.split())  # the console may wrap long lines
    for word in words:
        assert word in flat


def test_missing_sqlite_database(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "data", "verify", "--report-dir", str(tmp_path / "r"))
    assert_user_error(
        code, out, err, "var/master_data.db does not exist", "customer-classifier data generate"
    )
    assert not (tmp_path / "var").exists()  # nothing was created on the way


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("CC_MIN_RECALL", "2", "CC_MIN_RECALL"),
        ("CC_SCORING_THREADS", "0", "CC_SCORING_THREADS"),
        ("CC_SERVING__CANARY_PERCENT", "150", "CC_SERVING__CANARY_PERCENT"),
        ("CC_S3__ENDPOINT", "minio:9000", "CC_S3__ENDPOINT"),
        ("CC_CANDIDATES", '["logistic_regression"]', "must keep 'heuristic'"),
    ],
)
def test_invalid_setting(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    named: str,
) -> None:
    monkeypatch.setenv(variable, value)
    code, out, err = run(capsys, "models", "list")
    assert_user_error(code, out, err, "invalid settings", named)


def test_unknown_model_version_in_the_store(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "models", "show", "v20990101000000-abcdef")
    assert_user_error(code, out, err, "'v20990101000000-abcdef' not found", "var/model_store")


def test_scoring_an_unknown_model_version(
    capsys: pytest.CaptureFixture[str], master_db: Path, tmp_path: Path
) -> None:
    (tmp_path / "var").mkdir()
    shutil.copyfile(master_db, tmp_path / "var" / "master_data.db")
    code, out, err = run(capsys, "score", "--version", "vnope")
    assert_user_error(code, out, err, "'vnope' not found")
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'var' / 'master_data.db'}")
    assert set(sa.inspect(engine).get_table_names()) == {"customers", "sales"}
    engine.dispose()


def test_unknown_corruption_names_the_choices(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    code, out, err = run(capsys, "data", "generate", "--corrupt", "gremlins", "--database-url", url)
    assert_user_error(code, out, err, "'gremlins' is unknown", "null_burst")
    assert not (tmp_path / "x.db").exists()


def test_generate_then_verify_succeeds(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    db = tmp_path / "var" / "master_data.db"
    code, out, _ = run(capsys, "data", "generate", "--customers", "300", "--seed", "5")
    assert code == 0
    written = json.loads(out)
    assert written["customers"] == 300
    assert written["sales"] > 0
    assert db.exists()
    code, out, _ = run(capsys, "data", "verify", "--report-dir", str(tmp_path / "r"))
    assert code == 0
    assert json.loads(out)["passed"] is True
    assert (tmp_path / "r" / "verification.html").exists()


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["no-such-command"], "No such command"),
        (["score", "--bogus"], "No such option: --bogus"),
        (["models", "show"], "Missing argument"),
    ],
)
def test_usage_errors_exit_2_with_click_message(
    capsys: pytest.CaptureFixture[str], argv: list[str], words: str
) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert words in err
    assert "Traceback" not in err


def test_an_error_is_one_line_whatever_its_length(capsys: pytest.CaptureFixture[str]) -> None:
    version = "v" + "9" * 400
    code, out, err = run(capsys, "models", "show", version)
    assert_user_error(code, out, err, version)
    assert "\n" not in err.strip()


@pytest.mark.parametrize("version", ["[/x]", "[bold]v1"])
def test_an_error_shows_the_user_value_verbatim(
    capsys: pytest.CaptureFixture[str], version: str
) -> None:
    code, out, err = run(capsys, "models", "show", version)
    assert_user_error(code, out, err, f"'{version}'")


def test_path_defaults_follow_the_work_dir(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    code, _, _ = run(capsys, "data", "generate", "--customers", "300", "--seed", "5")
    assert code == 0
    work = tmp_path / "elsewhere"
    monkeypatch.setenv("CC_WORK_DIR", str(work))
    code, out, _ = run(capsys, "data", "verify")
    assert code == 0
    assert (work / "verification" / "verification.html").exists()
    assert json.loads(out)["report"] == str(work / "verification" / "verification.html")
    assert not (tmp_path / "var" / "runs").exists()


def test_config_check_reports_an_unknown_configmap_key(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    manifest = tmp_path / "configmap.yaml"
    manifest.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: customer-classifier-config}\n"
        "data:\n  CC_MIN_RECALL: '0.4'\n  CC_S3_ENDPOINT: http://minio:9000\n",
        encoding="utf-8",
    )
    code, out, err = run(capsys, "config", "check", str(manifest))
    assert_user_error(code, out, err, "CC_S3_ENDPOINT is not a setting", "CC_S3__ENDPOINT")


def test_config_check_validates_values_and_passes_a_good_configmap(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    manifest = tmp_path / "configmap.yaml"
    body = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  CC_MIN_RECALL: '%s'\n"
    manifest.write_text(body % "0.4", encoding="utf-8")
    code, out, _ = run(capsys, "config", "check", str(manifest))
    assert code == 0
    assert json.loads(out) == {"source": str(manifest), "keys": 1, "valid": True}
    manifest.write_text(body % "7", encoding="utf-8")
    code, out, err = run(capsys, "config", "check", str(manifest))
    assert_user_error(code, out, err, "CC_MIN_RECALL", "less than or equal to 1")


def test_config_keys_lists_every_setting_but_the_secrets(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "config", "keys")
    keys = out.split()
    assert code == 0
    assert {
        "CC_STORE_URI",
        "CC_LABEL__MIN_SPEND",
        "CC_S3__ENDPOINT",
        "CC_SERVING__CANARY_PERCENT",
    } <= set(keys)
    assert "CC_DATABASE_URL" not in keys
    assert "CC_S3__SECRET_KEY" not in keys


def test_config_show_masks_secrets(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "hunter2-secret")
    code, out, _ = run(capsys, "config", "show")
    assert code == 0
    shown = json.loads(out)
    assert "hunter2-secret" not in out
    assert shown["s3"]["secret_key"] == "**********"


def test_nightly_verification_blocks_a_feed_that_stopped(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    code, _, _ = run(capsys, "data", "generate", "--customers", "300", "--seed", "5")
    assert code == 0
    code, out, err = run(capsys, "data", "verify")
    assert code == 0  # the demo data ends months ago: a warning on an ordinary run
    assert "stale_sales" in " ".join(err.split())
    code, out, err = run(capsys, "data", "verify", "--nightly")
    assert_user_error(code, out, err, "sales.sold_at", "stale_sales")
