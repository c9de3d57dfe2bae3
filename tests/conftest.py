"""Shared fixtures: a small Master Data database, hermetic settings, one trained run.

Everything is written under pytest's temporary folders. The expensive parts (the
generated database, the trained and registered model, the predictions table) are built
once per session; a test that changes any of them works on its own copy
(:func:`db_copy`, :func:`trained_copy`).
"""

from __future__ import annotations

import builtins
import logging
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from customer_classifier import jobs
from customer_classifier.data.database import connect, write_master_data
from customer_classifier.data.generate import GeneratorConfig, MasterData, generate
from customer_classifier.jobs.register import RegisterResult
from customer_classifier.jobs.train import TrainResult
from customer_classifier.registry import LocalModelStore
from customer_classifier.scoring.batch import ScoringSummary
from customer_classifier.settings import ExplicitSettings, Settings

_PRINT = builtins.print


@pytest.fixture(autouse=True)
def _undo_kfp_local_stream_swaps() -> Iterator[None]:
    """Give every test the real ``print`` and a root logger without a stray handler.

    kfp.local (2.17) swaps ``builtins.print`` for an indenting one and the root logger's
    handlers for a ``StreamHandler`` on the sys.stdout of the moment while a task runs
    (``logging_utils.indented_print``, ``local_logger_context``), and its orchestrator
    also logs through the module-level ``logging.info``, which installs a handler on the
    sys.stderr of the moment whenever the root logger has none. In the whole suite one of
    these outlived the test that ran a pipeline: later tests printed indented and logged
    into a capture that was closed by then ("I/O operation on closed file", with a
    traceback in their stderr). Plain ``StreamHandler``s are removed after each test;
    pytest's own handlers are subclasses and stay.
    """
    yield
    builtins.print = _PRINT
    root = logging.getLogger()
    for handler in [h for h in root.handlers if type(h) is logging.StreamHandler]:
        root.removeHandler(handler)


def _import_kserve_without_pytest_arguments() -> None:
    """kserve parses ``sys.argv`` when first imported; pytest's own flags (``--co``) would
    be read as kserve's. Import it once here with the program name alone."""
    saved, sys.argv = sys.argv, sys.argv[:1]
    try:
        import kserve  # noqa: F401
    finally:
        sys.argv = saved


_import_kserve_without_pytest_arguments()

GENERATOR = GeneratorConfig(n_customers=3000, seed=11)
"""Small enough to train in seconds, large enough for every window to hold both labels."""
TRAINED_CANDIDATES = ("heuristic", "logistic_regression")


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def make_settings(db_path: Path, root: Path, **overrides: Any) -> Settings:
    """Settings for a database file, with the model store and runs under ``root``."""
    values: dict[str, Any] = {
        "database_url": sqlite_url(db_path),
        "store_uri": str(root / "store"),
        "work_dir": root / "runs",
        **overrides,
    }
    return ExplicitSettings(**values)


def read_table(db_path: Path, table: str) -> pd.DataFrame:
    """A whole table, ordered by customer_id, for before/after comparisons."""
    engine = sa.create_engine(sqlite_url(db_path))
    try:
        with engine.connect() as conn:
            return pd.read_sql_query(f"SELECT * FROM {table} ORDER BY customer_id", conn)
    finally:
        engine.dispose()


@dataclass(frozen=True)
class PipelineRun:
    """What the training-then-scoring steps return, in the order a pipeline runs them."""

    training: TrainResult
    registration: RegisterResult
    scoring: ScoringSummary


def run_pipeline(settings: Settings, work: Path) -> PipelineRun:
    """verify -> ingest -> features -> train -> register -> score, stopping at the first error.

    The same step order as the training and nightly pipelines, so a test can check what a
    failing step leaves behind.
    """
    jobs.verify_data(settings, work / "verification")
    jobs.ingest_data(settings, work / "snapshot")
    jobs.build_features(settings, work / "snapshot", work / "features")
    training = jobs.train_models(
        settings, work / "features", work / "bundle", work / "training.html"
    )
    registration = jobs.register_model(settings, work / "bundle")
    scoring = jobs.score_customers(settings)
    return PipelineRun(training=training, registration=registration, scoring=scoring)


@pytest.fixture(scope="session")
def settings_factory() -> Callable[..., Settings]:
    """``settings_factory(db_path, root, **overrides)``: see :func:`make_settings`."""
    return make_settings


@pytest.fixture(scope="session")
def table_reader() -> Callable[[Path, str], pd.DataFrame]:
    """``table_reader(db_path, table)``: see :func:`read_table`."""
    return read_table


@pytest.fixture(scope="session")
def pipeline() -> Callable[[Settings, Path], PipelineRun]:
    """``pipeline(settings, work_dir)``: see :func:`run_pipeline`."""
    return run_pipeline


@pytest.fixture(scope="session")
def master_data() -> MasterData:
    return generate(GENERATOR)


@pytest.fixture(scope="session")
def master_db(tmp_path_factory: pytest.TempPathFactory, master_data: MasterData) -> Path:
    """The clean database file; never written after creation (copy it with ``db_copy``)."""
    path = tmp_path_factory.mktemp("master") / "master.db"
    engine = connect(sqlite_url(path), create_dir=True)
    write_master_data(engine, master_data)
    engine.dispose()
    return path


@pytest.fixture
def db_copy(master_db: Path, tmp_path: Path) -> Path:
    """A private copy of the clean database that the test may change."""
    path = tmp_path / "master.db"
    shutil.copyfile(master_db, path)
    return path


@dataclass(frozen=True)
class TrainedRun:
    settings: Settings
    root: Path
    db_path: Path
    work: Path
    run: PipelineRun

    @property
    def store(self) -> LocalModelStore:
        return LocalModelStore(Path(self.settings.store_uri))

    @property
    def version(self) -> str:
        return self.run.registration.version


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory, master_db: Path) -> TrainedRun:
    """One clean run of the whole pipeline: champion registered, predictions table written.

    Read-only for tests; use ``trained_copy`` to change anything.
    """
    root = tmp_path_factory.mktemp("trained")
    db_path = root / "master.db"
    shutil.copyfile(master_db, db_path)
    # Gradient boosting's grid search would triple the suite's time for no extra
    # behaviour; its construction is unit-tested in tests/unit/training/test_candidates.py.
    settings = make_settings(db_path, root, candidates=TRAINED_CANDIDATES)
    work = root / "work"
    run = run_pipeline(settings, work)
    return TrainedRun(settings=settings, root=root, db_path=db_path, work=work, run=run)


@dataclass(frozen=True)
class CopiedRun:
    """A private copy of the trained run: database and model store (run state included)."""

    root: Path
    db_path: Path

    def settings(self, **overrides: Any) -> Settings:
        return make_settings(
            self.db_path, self.root, **{"candidates": TRAINED_CANDIDATES, **overrides}
        )

    @property
    def store(self) -> LocalModelStore:
        return LocalModelStore(self.root / "store")


@pytest.fixture
def trained_copy(trained_run: TrainedRun, tmp_path: Path) -> CopiedRun:
    """Copy the trained run's database and model store (with its state) into ``tmp_path``."""
    root = tmp_path / "copy"
    root.mkdir()
    shutil.copyfile(trained_run.db_path, root / "master.db")
    shutil.copytree(Path(trained_run.settings.store_uri), root / "store")
    return CopiedRun(root=root, db_path=root / "master.db")


KfpWorkspace = Callable[..., dict[str, str]]


@pytest.fixture(scope="session")
def kfp_local_workspace() -> KfpWorkspace:
    """Prepare ``root`` for whole-pipeline runs through kfp.local.

    The components run as subprocesses that read CC_* from the environment, so the
    settings go into ``patch`` (the caller's MonkeyPatch, undone by the caller); the
    generated database is written and kfp.local is initialised with outputs under
    ``root/outputs``. Returns the environment that was set.
    """

    def prepare(
        root: Path, data: GeneratorConfig, patch: pytest.MonkeyPatch, **extra_env: str
    ) -> dict[str, str]:
        from kfp import local

        env = {
            "CC_DATABASE_URL": f"sqlite:///{root / 'master.db'}",
            "CC_STORE_URI": str(root / "store"),
            "CC_WORK_DIR": str(root / "runs"),
            **extra_env,
        }
        for key, value in env.items():
            patch.setenv(key, value)
        write_master_data(connect(env["CC_DATABASE_URL"], create_dir=True), generate(data))
        local.init(
            runner=local.SubprocessRunner(use_venv=False),
            pipeline_root=str(root / "outputs"),
            raise_on_error=True,
        )
        return env

    return prepare
