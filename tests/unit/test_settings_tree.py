"""The settings tree: every group from its CC_* names, conventional aliases, derived keys,
unknown keys reported, and no environment read anywhere else in the package."""

from __future__ import annotations

import ast
import functools
import json
import operator
from pathlib import Path

import pytest
from pydantic import ValidationError

from customer_classifier.settings import (
    SECRET_KEYS,
    ExplicitSettings,
    Settings,
    _GivenEnvironment,
    _leaves,
    environment_keys,
    load_settings,
    unknown_keys,
)

SRC = Path(__file__).resolve().parents[2] / "src" / "customer_classifier"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith(("CC_", "AWS_")) or name == "TF_CONFIG":
            monkeypatch.delenv(name)


@pytest.mark.parametrize(
    ("variable", "value", "path", "expected"),
    [
        ("CC_S3__ENDPOINT", "http://minio:9000", ("s3", "endpoint"), "http://minio:9000"),
        ("CC_SERVING__MAX_WAIT_MS", "7.5", ("serving", "max_wait_ms"), 7.5),
        ("CC_DL__HIDDEN_UNITS", "[32, 16]", ("dl", "hidden_units"), (32, 16)),
        ("CC_GPU__COUNT", "2", ("gpu", "count"), 2),
        ("CC_IMAGES__COMPONENTS", "r.io/c@sha256:ab", ("images", "components"), "r.io/c@sha256:ab"),
        ("CC_RUN__PIPELINE_RUN_ID", "run-7", ("run", "pipeline_run_id"), "run-7"),
        ("CC_LABEL__HORIZON_DAYS", "60", ("label", "horizon_days"), 60),
        ("CC_VERIFICATION__MIN_ROWS", "5", ("verification", "min_rows"), 5),
    ],
)
def test_each_group_reads_its_nested_names(
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    path: tuple[str, str],
    expected: object,
) -> None:
    monkeypatch.setenv(variable, value)
    group = getattr(load_settings(), path[0])
    assert getattr(group, path[1]) == expected


def test_aws_and_training_operator_names_fill_in_below_cc_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "from-aws")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-from-aws")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://aws-name:9000")
    monkeypatch.setenv("CC_S3__ENDPOINT", "http://cc-name:9000")
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {}}')
    settings = load_settings()
    assert settings.s3.access_key is not None
    assert settings.s3.access_key.get_secret_value() == "from-aws"
    assert settings.s3.endpoint == "http://cc-name:9000"
    assert settings.dl.tf_config == '{"cluster": {}}'
    assert "secret-from-aws" not in repr(settings)


def test_explicit_settings_ignore_every_group_of_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CC_SERVING__MODEL_NAME", "other")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    settings = ExplicitSettings()
    assert settings.serving.model_name == "customer-classifier"
    assert settings.s3.access_key is None


def _default_text(path: tuple[str, ...]) -> str:
    """The default of the field at ``path``, written as an environment value."""
    value = functools.reduce(operator.getitem, path, ExplicitSettings().model_dump(mode="json"))
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return "" if value is None else str(value)


def test_every_derived_key_is_read_by_the_tree() -> None:
    keys = environment_keys()
    assert len(keys) == len(set(keys))
    assert set(keys) >= SECRET_KEYS
    leaves = list(_leaves(Settings))
    assert [key for key, _, _ in leaves] == list(keys)
    for key, path, _ in leaves:
        text = _default_text(path)
        # The environment source hands the value to the very field the key names.
        read = _GivenEnvironment(Settings, {key: text or "given"})()
        assert functools.reduce(operator.getitem, path, read) is not None, key
        if text == "":
            continue  # an optional setting without a default: unset is its default
        given = ExplicitSettings.from_environment({key: text})
        assert given == ExplicitSettings(), key


def test_a_key_changes_the_value_it_names() -> None:
    settings = ExplicitSettings.from_environment(
        {"CC_SERVING__CANARY_PERCENT": "20", "CC_SERVING__CHALLENGER": "challenger"}
    )
    assert settings.serving.canary_percent == 20
    with pytest.raises(ValidationError, match="CANARY_PERCENT is above 0"):
        ExplicitSettings.from_environment(
            {"CC_SERVING__CANARY_PERCENT": "20", "CC_SERVING__CHALLENGER_MODE": "canary"}
        )


def test_unknown_keys_name_the_setting_meant() -> None:
    found = unknown_keys(
        ["CC_S3_ENDPOINT", "CC_SERVING_CANARY_PERCENT", "CC_MIN_RECALL", "PATH", "CC_ZZZ_QQQ"]
    )
    assert found == {
        "CC_S3_ENDPOINT": "CC_S3__ENDPOINT",
        "CC_SERVING_CANARY_PERCENT": "CC_SERVING__CANARY_PERCENT",
        "CC_ZZZ_QQQ": None,
    }


def test_unknown_keys_are_logged_once_per_load(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("CC_PRECISON_TARGET", "0.9")
    with caplog.at_level("WARNING", logger="customer_classifier.settings"):
        settings = load_settings()
    assert settings.precision_target == Settings.model_fields["precision_target"].default
    assert [r.getMessage() for r in caplog.records] == [
        "CC_PRECISON_TARGET is not a setting; did you mean CC_PRECISION_TARGET?"
    ]


def test_cluster_configmap_keys_are_derived_and_leave_secrets_out() -> None:
    from pipelines.platform import CONFIG_KEYS

    assert set(CONFIG_KEYS) <= set(environment_keys())
    assert not set(CONFIG_KEYS) & SECRET_KEYS
    assert {"CC_MIN_RECALL", "CC_LABEL__MIN_SPEND", "CC_S3__ENDPOINT", "CC_DL__MAX_EPOCHS"} <= set(
        CONFIG_KEYS
    )
    assert not unknown_keys(CONFIG_KEYS)


def _environment_reads(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lines = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in {"environ", "getenv", "environb"}
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        ):
            lines.append(node.lineno)
    return lines


def test_only_the_settings_module_reads_the_environment() -> None:
    readers = {
        str(path.relative_to(SRC)): lines
        for path in sorted(SRC.rglob("*.py"))
        if path.name != "settings.py" and (lines := _environment_reads(path))
    }
    assert readers == {}


def test_every_setting_says_what_it_sets_and_the_reference_is_current() -> None:
    from customer_classifier.settings import reference, with_reference

    undocumented = [key for key, _, text in reference() if not text]
    assert undocumented == []
    document = (SRC.parents[1] / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert with_reference(document) == document, "run `make config-reference`"
    for key in environment_keys():
        assert f"`{key}`" in document
