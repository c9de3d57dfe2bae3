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
        ("CC_MIN_RECALL", "2", "min_recall"),
        ("CC_SCORING_THREADS", "0", "scoring_threads"),
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
