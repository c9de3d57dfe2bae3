"""Fixtures of the scoring tests: a private copy of the generated database, and the
heuristic baseline registered as champion (it needs no training)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from customer_classifier.registry import LocalModelStore, ModelBundle
from customer_classifier.settings import Settings
from tests.unit.scoring.models import heuristic_bundle


@pytest.fixture(scope="session")
def bundle_factory() -> Callable[..., ModelBundle]:
    """``bundle_factory(model=None)``: a bundle of ``model``, by default the heuristic."""
    return heuristic_bundle


@pytest.fixture
def settings(db_copy: Path, tmp_path: Path, settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(db_copy, tmp_path)


@pytest.fixture
def champion(settings: Settings) -> str:
    store = LocalModelStore(Path(settings.store_uri))
    version = store.register(heuristic_bundle()).version
    store.set_alias("champion", version)
    return version
