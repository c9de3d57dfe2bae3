"""The one settings object: environment with defaults, or explicit values only."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from customer_classifier.settings import ExplicitSettings, Settings, load_settings


def test_environment_is_read_and_nested_names_use_double_underscores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CC_PRECISION_TARGET", "0.9")
    monkeypatch.setenv("CC_LABEL__HORIZON_DAYS", "60")
    settings = load_settings()
    assert settings.precision_target == 0.9
    assert settings.label.horizon_days == 60


def test_explicit_settings_ignore_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CC_PRECISION_TARGET", "0.9")
    monkeypatch.setenv("CC_DATABASE_URL", "sqlite:///elsewhere.db")
    settings = ExplicitSettings(store_uri="/tmp/store")
    assert settings.precision_target == Settings.model_fields["precision_target"].default
    assert settings.database_url == Settings.model_fields["database_url"].default
    assert settings.store_uri == "/tmp/store"


def test_bad_values_name_the_setting() -> None:
    with pytest.raises(ValidationError, match="precision_target"):
        ExplicitSettings(precision_target=1.5)
    with pytest.raises(ValidationError, match="CC_CANDIDATES has unknown candidate"):
        ExplicitSettings(candidates=("heuristic", "random_forest"))
