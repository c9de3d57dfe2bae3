"""An organisation's own countries: the contract accepts any ISO code, and a version
accepts the countries its training window held, online and in the nightly batch alike.

A generated database gets a share of its customers moved to a country the code does
not list (Brazil); training, registration and scoring run through the jobs.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from customer_classifier import jobs
from customer_classifier.data.contract import COUNTRIES
from customer_classifier.registry import CHAMPION, LocalModelStore
from customer_classifier.scoring.record_checks import (
    UNKNOWN_CATEGORY,
    check_records,
    schema_from_metadata,
)
from customer_classifier.serving.checks import RequestError
from customer_classifier.serving.protocol_v1 import parse_v1
from customer_classifier.serving.schema import RecordSchema
from customer_classifier.settings import Settings
from tests.conftest import TRAINED_CANDIDATES

pytestmark = pytest.mark.slow
NEW_COUNTRY = "BR"


@pytest.fixture(scope="module")
def brazil(
    tmp_path_factory: pytest.TempPathFactory,
    master_db: Path,
    settings_factory: Callable[..., Settings],
) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("open_vocabulary")
    db = root / "master.db"
    db.write_bytes(master_db.read_bytes())
    with sqlite3.connect(db) as conn:
        conn.execute(f"UPDATE customers SET country = '{NEW_COUNTRY}' WHERE customer_id % 12 = 0")
    settings = settings_factory(db, root, candidates=TRAINED_CANDIDATES, cv_folds=2)
    work = root / "work"
    jobs.ingest_data(settings, work / "snapshot")
    jobs.build_features(settings, work / "snapshot", work / "features")
    jobs.train_models(settings, work / "features", work / "bundle", work / "report.html")
    registered = jobs.register_model(settings, work / "bundle")
    summary = jobs.score_customers(settings, registered.version)
    store = LocalModelStore(Path(settings.store_uri))
    return {
        "db": db,
        "summary": summary,
        "metadata": store.get(registered.version).metadata,
        "champion": store.get_alias(CHAMPION),
        "version": registered.version,
        "features": pd.read_parquet(work / "features" / "test.parquet"),
    }


def test_the_version_records_the_countries_it_was_trained_on(brazil: dict[str, Any]) -> None:
    (country,) = [e for e in brazil["metadata"]["feature_schema"] if e["name"] == "country"]
    assert country["categories"] == [*COUNTRIES, NEW_COUNTRY]


def test_the_nightly_batch_scores_those_customers(brazil: dict[str, Any]) -> None:
    summary = brazil["summary"]
    assert summary.invalid_records == 0
    with sqlite3.connect(brazil["db"]) as conn:
        scored = conn.execute(
            "SELECT COUNT(*) FROM customer_predictions p JOIN customers c USING (customer_id) "
            "WHERE c.country = ?",
            (NEW_COUNTRY,),
        ).fetchone()[0]
    assert scored > 0


def test_online_and_batch_agree_on_a_known_and_an_unseen_country(
    brazil: dict[str, Any],
) -> None:
    records = brazil["features"].drop(columns=["label"]).head(2).reset_index()
    records["country"] = [NEW_COUNTRY, "JP"]
    schema = RecordSchema.from_bundle(brazil["metadata"])

    def online_refuses(record: dict[str, Any]) -> bool:
        try:
            parse_v1({"instances": [record]}, schema, max_rows=10)
        except RequestError:
            return True
        return False

    rows = records.to_dict(orient="records")
    assert [online_refuses(r) for r in rows] == [False, True]
    specs, nullable = schema_from_metadata(brazil["metadata"])
    check = check_records(records.set_index("customer_id"), specs, nullable)
    assert check.invalid.tolist() == [False, True]
    assert {f.rule for f in check.findings} == {UNKNOWN_CATEGORY}
