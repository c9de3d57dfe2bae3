"""The registry step with real trained bundles: lineage, re-scoring the champion on this
run's window, refusing incomparable figures, an unloadable version, a lost race."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from customer_classifier import jobs
from customer_classifier.data.database import connect, write_master_data
from customer_classifier.data.generate import GeneratorConfig, generate
from customer_classifier.errors import RegistryError
from customer_classifier.jobs import register as register_job
from customer_classifier.registry import LocalModelStore, ModelBundle
from customer_classifier.registry.bundle import METADATA_FILE, MODEL_FILE
from customer_classifier.registry.store import ModelVersion
from customer_classifier.settings import ExplicitSettings, Settings

pytestmark = pytest.mark.slow
DATA = GeneratorConfig(n_customers=3000, seed=4)
"""On this data gradient boosting beats the heuristic, and logistic regression beats it."""


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One snapshot, two bundles: gradient boosting alone, then every candidate."""
    root = tmp_path_factory.mktemp("register")
    url = f"sqlite:///{root / 'master.db'}"
    write_master_data(connect(url, create_dir=True), generate(DATA))
    settings = ExplicitSettings(
        database_url=url, store_uri=str(root / "unused"), work_dir=root / "runs"
    )
    jobs.verify_data(settings, root / "verification")
    jobs.ingest_snapshot(settings, root / "snapshot")
    jobs.build_training_frames(settings, root / "snapshot", root / "features")
    out = {"features": root / "features"}
    for name, candidates in (
        ("weaker", ("heuristic", "gradient_boosting")),
        ("stronger", ("heuristic", "logistic_regression", "gradient_boosting")),
    ):
        run = settings.model_copy(update={"candidates": candidates})
        jobs.train_models(run, root / "features", root / name, root / f"{name}.html")
        out[name] = root / name
    return out


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return ExplicitSettings(database_url="sqlite:///unused.db", store_uri=str(tmp_path / "store"))


def metadata(bundle_dir: Path) -> dict[str, Any]:
    return dict(json.loads((bundle_dir / METADATA_FILE).read_text(encoding="utf-8")))


def test_first_model_promoted_with_lineage(trained: dict[str, Path], settings: Settings) -> None:
    result = jobs.register_model(
        settings,
        trained["weaker"],
        run={"pipeline_run_id": "run-7", "image": "img@sha256:ab"},
        actor="pipeline",
    )
    store = LocalModelStore(Path(settings.store_uri))
    assert result["promoted"] is True
    assert store.get_alias("champion") == store.get_alias("challenger") == result["version"]
    lineage = store.get(result["version"]).metadata["lineage"]
    assert lineage["pipeline_run_id"] == "run-7"
    assert lineage["image"] == "img@sha256:ab"
    assert lineage["data_snapshot_hash"] == metadata(trained["weaker"])["data_snapshot_hash"]
    assert set(lineage["as_of"]) == {"train", "validation", "test"}
    assert lineage["code_version"]
    assert lineage["registered_by"] == "pipeline"
    assert {h["by"] for h in store.history()} == {"pipeline"}
    assert lineage["parameters"]["candidate"] == "gradient_boosting"
    assert lineage["metrics"]["test"]["precision_at_min_recall"] > 0
    assert "lineage" not in metadata(trained["weaker"])  # the input bundle is left alone
    assert "# Model " in result["markdown"]
    assert "not built yet" in result["markdown"]


def test_champion_is_rescored_on_this_runs_window(
    trained: dict[str, Path], settings: Settings
) -> None:
    first = jobs.register_model(settings, trained["weaker"])
    second = jobs.register_model(settings, trained["stronger"], features_dir=trained["features"])
    check = next(
        c for c in second["decision"]["checks"] if c["name"] == "beats the champion by the margin"
    )
    assert "re-scored on this window" in check["detail"]
    recorded = metadata(trained["weaker"])["metrics"]["test"]["precision_at_min_recall"]
    assert check["required"] == pytest.approx(recorded + settings.promotion_margin)
    assert second["promoted"] is True
    assert second["champion"] == second["version"] != first["version"]


def test_a_champion_from_another_window_needs_the_features(
    trained: dict[str, Path], settings: Settings, tmp_path: Path
) -> None:
    other = tmp_path / "other-window"
    shutil.copytree(trained["weaker"], other)
    meta = metadata(other)
    meta["data_snapshot_hash"] = "0" * 64
    (other / METADATA_FILE).write_text(json.dumps(meta), encoding="utf-8")
    champion = jobs.register_model(settings, other)["version"]
    result = jobs.register_model(settings, trained["stronger"])
    assert result["promoted"] is False
    assert result["champion"] == champion
    assert any("another data snapshot" in r and "'features'" in r for r in result["reasons"])
    # With this run's features the champion is re-scored, and the better model wins.
    again = jobs.register_model(settings, trained["stronger"], features_dir=trained["features"])
    assert again["promoted"] is True


def test_features_of_another_run_are_refused(
    trained: dict[str, Path], settings: Settings, tmp_path: Path
) -> None:
    features = tmp_path / "features"
    shutil.copytree(trained["features"], features)
    manifest = json.loads((features / "manifest.json").read_text(encoding="utf-8"))
    manifest["content_hash"] = "f" * 64
    (features / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(RegistryError, match="pass the features of the run that trained"):
        jobs.register_model(settings, trained["stronger"], features_dir=features)


def test_an_unloadable_version_stays_challenger(
    trained: dict[str, Path], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    class CorruptingStore(LocalModelStore):
        """Its disk flips a byte of every new version's model after registration."""

        def register(self, bundle: ModelBundle) -> ModelVersion:
            registered = super().register(bundle)
            path = self.version_path(registered.version) / MODEL_FILE
            path.write_bytes(path.read_bytes()[:-1] + b"\0")
            return registered

    monkeypatch.setattr(register_job, "open_store", lambda uri: CorruptingStore(Path(uri)))
    result = jobs.register_model(settings, trained["weaker"])
    assert result["promoted"] is False
    assert result["champion"] is None
    assert any("checksum mismatch for model.joblib" in r for r in result["reasons"])
    assert LocalModelStore(Path(settings.store_uri)).get_alias("challenger") == result["version"]


def test_a_concurrent_promotion_wins_and_this_one_reports_it(
    trained: dict[str, Path], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = jobs.register_model(settings, trained["weaker"])["version"]

    class RacingStore(LocalModelStore):
        """Another run promotes its model just before this run's promotion lands."""

        def set_alias(self, alias: str, version: str, **kwargs: Any) -> dict[str, Any]:
            if alias == "champion" and kwargs.get("expected") == first:
                rival = super().register(ModelBundle(self.load(first).model, 0.5, {}))
                super().set_alias("champion", rival.version, reason="the other run")
            return super().set_alias(alias, version, **kwargs)

    monkeypatch.setattr(register_job, "open_store", lambda uri: RacingStore(Path(uri)))
    result = jobs.register_model(settings, trained["stronger"])
    assert result["promoted"] is False
    store = LocalModelStore(Path(settings.store_uri))
    assert result["champion"] == store.get_alias("champion") != first
    assert "champion unchanged since the comparison: fail" in result["reasons"][-1]
