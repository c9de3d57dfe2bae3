"""Nightly reasons on a real PostgreSQL server: switching them on and off changes the
table's columns (the swap replaces a table of another layout instead of refilling it)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from customer_classifier import jobs
from customer_classifier.data.database import connect, write_master_data
from customer_classifier.data.generate import GeneratorConfig, generate
from customer_classifier.evaluation.contributions import METADATA_KEY, explanation_metadata
from customer_classifier.features.build import FEATURE_NAMES
from customer_classifier.registry import LocalModelStore, ModelBundle
from customer_classifier.registry.bundle import FEATURE_SCHEMA_KEY, feature_schema_json
from customer_classifier.scoring.batch import PREDICTION_KINDS, REASON_COLUMNS
from customer_classifier.serving.compiled import probe_columns
from customer_classifier.serving.schema import RecordSchema
from customer_classifier.settings import ExplicitSettings
from customer_classifier.training.candidates import logistic_regression

TABLE = "customer_predictions"


def linear_bundle() -> ModelBundle:
    """A logistic regression fitted on probe records, with its explanation inputs."""
    schema = RecordSchema.from_entries(feature_schema_json())
    frame = pd.DataFrame(probe_columns(schema, rows=400, seed=3), columns=list(FEATURE_NAMES))
    labels = (frame["orders_365d"] > frame["orders_365d"].median()).astype(int)
    model = logistic_regression(0).estimator.fit(frame, labels)
    return ModelBundle(
        model=model,
        threshold=0.5,
        metadata={
            "candidate": "logistic_regression",
            FEATURE_SCHEMA_KEY: feature_schema_json(),
            METADATA_KEY: explanation_metadata(model, frame),
        },
    )


def columns(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        return [c["name"] for c in sa.inspect(engine).get_columns(TABLE)]
    finally:
        engine.dispose()


def test_reasons_switch_the_tables_columns_on_and_off(
    postgres_database: Callable[[str], str], tmp_path: Path
) -> None:
    url = postgres_database("scoring_reasons")
    engine = connect(url)
    write_master_data(engine, generate(GeneratorConfig(n_customers=800, seed=21)))
    engine.dispose()
    store = LocalModelStore(tmp_path / "store")
    store.set_alias("champion", store.register(linear_bundle()).version)

    def settings(reasons: bool) -> ExplicitSettings:
        return ExplicitSettings(
            database_url=url,
            store_uri=str(tmp_path / "store"),
            work_dir=tmp_path / "runs",
            explain={"reasons": reasons},
        )

    plain = jobs.score_customers(settings(False))
    assert columns(url) == list(PREDICTION_KINDS)
    explained = jobs.score_customers(settings(True))
    assert columns(url) == [*PREDICTION_KINDS, *REASON_COLUMNS]
    assert explained.rows_written == plain.rows_written
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        named = conn.exec_driver_sql(
            f"SELECT COUNT(*) FROM {TABLE} WHERE reason_1 IS NOT NULL"
        ).scalar_one()
    engine.dispose()
    assert named > 0.9 * explained.rows_written
    jobs.score_customers(settings(True))  # same layout: emptied and refilled
    assert columns(url) == [*PREDICTION_KINDS, *REASON_COLUMNS]
    jobs.score_customers(settings(False))
    assert columns(url) == list(PREDICTION_KINDS)
