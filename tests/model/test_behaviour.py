"""Behaviour of the registered champion: better than the baseline, sensible directions,
invariant to what should not matter, and the same score however it is asked for.

Perturbations are made where they happen in life, in the Sales and Customers tables of
a copy of the database; features are then rebuilt by the shared feature module, so the
derived features (averages, shares, trends) move together as they would in production.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from customer_classifier.data.contract import COUNTRIES, SALES_SPEC
from customer_classifier.data.database import (
    connect,
    customer_ids,
    iter_chunks,
    read_customers,
    write_frame,
)
from customer_classifier.evaluation.threshold import precision_at_recall
from customer_classifier.features.aggregates import iter_aggregates
from customer_classifier.features.build import FEATURE_NAMES, build_features
from customer_classifier.registry import ModelBundle

pytestmark = pytest.mark.slow
ACTIVE_DAYS = 365
SAMPLE = 300


@pytest.fixture(scope="module")
def champion(trained_run: Any) -> tuple[str, ModelBundle]:
    version = trained_run.store.get_alias("champion")
    assert version == trained_run.version, "the clean run must promote its model"
    return version, trained_run.store.load(version)


@pytest.fixture(scope="module")
def metadata(champion: tuple[str, ModelBundle]) -> dict[str, Any]:
    return champion[1].metadata


@pytest.fixture(scope="module")
def as_of(trained_run: Any) -> dt.date:
    return trained_run.run.scoring.as_of


def features_at(
    engine: sa.Engine, as_of: dt.date, lo: int | None = None, hi: int | None = None
) -> pd.DataFrame:
    ids = customer_ids(engine)
    lo = ids[0] if lo is None else lo
    hi = ids[-1] if hi is None else hi
    customers = read_customers(engine, lo, hi)
    inside = [i for i in ids if lo <= i <= hi]
    aggregates = pd.concat(
        list(
            iter_aggregates(
                engine, as_of, list(iter_chunks(inside, 10_000)), active_window_days=ACTIVE_DAYS
            )
        ),
        ignore_index=True,
    )
    return build_features(customers, aggregates, as_of, ACTIVE_DAYS)


@pytest.fixture
def engine(db_copy: Path) -> Iterator[sa.Engine]:
    engine = connect(f"sqlite:///{db_copy}")
    yield engine
    engine.dispose()


def add_sales(engine: sa.Engine, rows: pd.DataFrame) -> None:
    with engine.connect() as conn:
        next_id = int(conn.exec_driver_sql("SELECT MAX(sale_id) FROM sales").scalar_one()) + 1
    rows = rows.assign(sale_id=range(next_id, next_id + len(rows)))
    write_frame(engine, "sales", rows[list(SALES_SPEC.names)], replace=False)


# -- minimum functionality ----------------------------------------------------------------


def test_champion_beats_the_heuristic_baseline(metadata: dict[str, Any]) -> None:
    mine = metadata["metrics"]["test"]["precision_at_min_recall"]
    baseline = metadata["baseline_metrics"]["test"]["precision_at_min_recall"]
    assert metadata["candidate"] != "heuristic"
    assert mine > baseline


def test_recorded_metrics_are_reproduced_from_the_artifact(
    trained_run: Any, champion: tuple[str, ModelBundle], metadata: dict[str, Any]
) -> None:
    test = pd.read_parquet(trained_run.work / "features" / "test.parquet")
    bundle = champion[1]
    scores = bundle.score(test)
    y = test["label"].to_numpy()
    assert precision_at_recall(y, scores, metadata["min_recall"]) == pytest.approx(
        metadata["metrics"]["test"]["precision_at_min_recall"]
    )
    predicted = scores >= bundle.threshold
    assert predicted.mean() == pytest.approx(metadata["metrics"]["test"]["predicted_positive_rate"])
    assert scores[y == 1].mean() > scores[y == 0].mean() + 0.2


def test_artifact_carries_its_lineage(
    champion: tuple[str, ModelBundle], metadata: dict[str, Any], trained_run: Any
) -> None:
    version, bundle = champion
    assert list(metadata["feature_names"]) == list(FEATURE_NAMES)
    assert 0.0 < bundle.threshold < 1.0
    snapshot = json.loads((trained_run.work / "snapshot" / "manifest.json").read_text("utf-8"))
    assert metadata["data_snapshot_hash"] == snapshot["content_hash"]
    assert metadata["code_version"]
    assert metadata["label_rule"] == trained_run.settings.label.model_dump()
    files = trained_run.store.get(version).files
    assert set(files) == {"model.joblib", "model.json"}


# -- direction -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample(trained_run: Any) -> pd.DataFrame:
    """Active customers at the scoring date: id and last purchase, from the predictions."""
    engine = connect(f"sqlite:///{trained_run.db_path}")
    with engine.connect() as conn:
        ids = pd.read_sql_query(
            "SELECT customer_id FROM customer_predictions ORDER BY customer_id", conn
        )
    engine.dispose()
    rng = np.random.default_rng(0)
    return ids.iloc[np.sort(rng.choice(len(ids), SAMPLE, replace=False))].reset_index(drop=True)


def scores_for(engine: sa.Engine, bundle: ModelBundle, as_of: dt.date, ids: list[int]) -> pd.Series:
    features = features_at(engine, as_of).loc[ids]
    return pd.Series(bundle.score(features), index=features.index)


def test_more_recent_spend_and_orders_do_not_lower_the_score(
    engine: sa.Engine, champion: tuple[str, ModelBundle], as_of: dt.date, sample: pd.DataFrame
) -> None:
    """Two more orders of 120 EUR three days ago: scores rise on average, almost none drops."""
    bundle = champion[1]
    ids = sample["customer_id"].tolist()
    before = scores_for(engine, bundle, as_of, ids)
    moment = pd.Timestamp(as_of) - pd.Timedelta(days=3)
    extra = pd.DataFrame(
        {
            "customer_id": ids * 2,
            "sold_at": moment,
            "amount": 120.0,
            "quantity": 2,
            "product_category": "home",
            "returned": False,
        }
    )
    add_sales(engine, extra)
    after = scores_for(engine, bundle, as_of, ids)
    delta = after - before
    assert delta.mean() > 0
    assert (delta < -0.05).mean() < 0.05


def last_purchases(engine: sa.Engine, as_of: dt.date, ids: list[int]) -> pd.Series:
    """Each customer's newest sale before ``as_of``, exactly as stored."""
    query = sa.text(
        "SELECT customer_id, MAX(sold_at) AS last FROM sales WHERE sold_at < :end "
        "GROUP BY customer_id"
    )
    with engine.connect() as conn:
        rows = conn.execute(query, {"end": f"{as_of.isoformat()} 00:00:00.000000"}).fetchall()
    last = pd.Series({int(cid): pd.Timestamp(moment) for cid, moment in rows})
    return last.loc[ids]


def test_more_returns_do_not_raise_the_score(
    engine: sa.Engine, champion: tuple[str, ModelBundle], as_of: dt.date, sample: pd.DataFrame
) -> None:
    """Two more returns, nothing else changed: scores fall on average, almost none rises."""
    bundle = champion[1]
    ids = sample["customer_id"].tolist()
    features = features_at(engine, as_of).loc[ids]
    before = pd.Series(bundle.score(features), index=ids)
    # Two returned sales at each customer's last purchase instant: only returns move.
    extra = pd.DataFrame(
        {
            "customer_id": ids * 2,
            "sold_at": list(last_purchases(engine, as_of, ids)) * 2,
            "amount": 80.0,
            "quantity": 1,
            "product_category": "home",
            "returned": True,
        }
    )
    add_sales(engine, extra)
    after_features = features_at(engine, as_of).loc[ids]
    moved = [c for c in FEATURE_NAMES if not after_features[c].equals(features[c])]
    assert moved == ["returns_365d", "return_rate_365d"]
    delta = pd.Series(bundle.score(after_features), index=ids) - before
    assert delta.mean() < 0
    assert (delta > 0.05).mean() < 0.05


# -- invariance ----------------------------------------------------------------------------


def test_country_barely_changes_the_score(
    engine: sa.Engine, champion: tuple[str, ModelBundle], as_of: dt.date, sample: pd.DataFrame
) -> None:
    """Country has no effect in the data: moving every customer to each country (or to
    unknown) shifts scores by a few points at most and flips almost no label."""
    bundle = champion[1]
    ids = sample["customer_id"].tolist()
    before = scores_for(engine, bundle, as_of, ids)
    worst = pd.Series(0.0, index=ids)
    flips = []
    for country in (*COUNTRIES, None):
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE customers SET country = :c"), {"c": country})
        after = scores_for(engine, bundle, as_of, ids)
        worst = np.maximum(worst, (after - before).abs())
        flips.append((bundle.label(after.to_numpy()) != bundle.label(before.to_numpy())).mean())
    assert worst.mean() < 0.05
    assert worst.quantile(0.95) < 0.12
    assert max(flips) < 0.03


# -- consistency ---------------------------------------------------------------------------


def test_batch_and_single_record_scores_agree(
    trained_run: Any, champion: tuple[str, ModelBundle], as_of: dt.date, sample: pd.DataFrame
) -> None:
    """The nightly table, a one-customer aggregation and row-by-row scoring agree."""
    version, bundle = champion
    engine = connect(f"sqlite:///{trained_run.db_path}")
    with engine.connect() as conn:
        table = pd.read_sql_query("SELECT * FROM customer_predictions", conn).set_index(
            "customer_id"
        )
    for customer in sample["customer_id"].tolist()[:25]:
        record = features_at(engine, as_of, customer, customer)
        assert list(record.index) == [customer]
        score = float(bundle.score(record)[0])
        assert score == pytest.approx(table.loc[customer, "score"], rel=1e-12, abs=1e-12)
        assert bundle.label(np.array([score]))[0] == table.loc[customer, "label"]
        assert table.loc[customer, "model_version"] == version
    everyone = features_at(engine, as_of)
    engine.dispose()
    batch = bundle.score(everyone)
    one_by_one = np.array(
        [bundle.score(everyone.iloc[[i]])[0] for i in range(0, len(everyone), 50)]
    )
    assert np.allclose(batch[::50], one_by_one, rtol=0, atol=1e-12)
