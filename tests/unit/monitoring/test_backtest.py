"""Backtesting over a real SQLite history of generated nights: every figure matches the
truth computed straight from the generated Sales, and unmatured nights are left out."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from customer_classifier.data.contract import BAD, GOOD
from customer_classifier.data.database import connect, history_schema
from customer_classifier.data.generate import MasterData
from customer_classifier.errors import DataSourceError
from customer_classifier.evaluation.calibration import reliability
from customer_classifier.evaluation.value import ValueTerms
from customer_classifier.monitoring.backtest import (
    BACKTEST_COLUMNS,
    backtest,
    backtest_history,
    early_precision_at,
    fetch_early_labels,
    learn_early_ratio,
    matured,
    read_night,
    run_backtest,
    scored_nights,
)
from customer_classifier.monitoring.estimate import ALL_SEGMENTS
from customer_classifier.settings import ExplicitSettings, LabelRule

HISTORY = "customer_predictions_history"
RULE = LabelRule(horizon_days=90, min_spend=250.0)
TERMS = ValueTerms(true_positive=100.0, false_positive_cost=50.0)
TODAY = dt.date(2026, 7, 1)
"""The day after the generated history's last sale."""
MATURED = (dt.date(2025, 9, 1), dt.date(2026, 1, 15), dt.date(2026, 4, 2))
"""2026-04-02 + 90 days = 2026-07-01: the last night whose window has just closed."""
OPEN = dt.date(2026, 4, 3)
"""One day later: its window is still open on TODAY."""


def _served(master: MasterData, as_of: dt.date, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ids = master.customers.loc[
        pd.to_datetime(master.customers["signup_date"]) < pd.Timestamp(as_of), "customer_id"
    ].to_numpy()
    score = rng.random(ids.size)
    return pd.DataFrame(
        {"customer_id": ids, "score": score, "label": np.where(score >= 0.6, GOOD, BAD)}
    )


@pytest.fixture(scope="module")
def history_db(
    tmp_path_factory: pytest.TempPathFactory, master_db: Path, master_data: MasterData
) -> tuple[sa.Engine, dict[tuple[dt.date, str], pd.DataFrame]]:
    path = tmp_path_factory.mktemp("backtest") / "master.db"
    shutil.copyfile(master_db, path)
    engine = connect(f"sqlite:///{path}")
    table = history_schema(HISTORY)
    table.create(engine)
    served: dict[tuple[dt.date, str], pd.DataFrame] = {}
    nights = [(d, "v1") for d in (*MATURED, OPEN)] + [(MATURED[1], "v2")]
    for seed, (as_of, version) in enumerate(nights):
        frame = _served(master_data, as_of, seed)
        served[(as_of, version)] = frame
        rows = [
            {
                "customer_id": int(r.customer_id),
                "as_of_date": as_of,
                "score": float(r.score),
                "label": r.label,
                "model_version": version,
                "scored_at": dt.datetime.combine(as_of, dt.time(2)),
                "run_id": f"run-{seed}",
            }
            for r in frame.itertuples()
        ]
        with engine.begin() as conn:
            conn.execute(table.insert(), rows)
    return engine, served


def _truth(
    master: MasterData, served: pd.DataFrame, as_of: dt.date, days: int = RULE.horizon_days
) -> pd.DataFrame:
    """Labels from the generated Sales with pandas alone, beside the served rows."""
    sales = master.sales
    start = pd.Timestamp(as_of)
    window = sales[
        (sales["sold_at"] >= start)
        & (sales["sold_at"] < start + pd.Timedelta(days=days))
        & ~sales["returned"].astype(bool)
    ]
    spend = window.groupby("customer_id")["amount"].sum()
    out = served.merge(master.customers[["customer_id", "segment"]], on="customer_id")
    out["good"] = out["customer_id"].map(spend).fillna(0.0) >= RULE.min_spend
    out["acted"] = out["label"] == GOOD
    return out


def test_the_label_window_closes_on_the_day_after_its_last_day() -> None:
    assert matured(dt.date(2026, 4, 2), TODAY, 90)
    assert not matured(dt.date(2026, 4, 3), TODAY, 90)


def test_only_matured_nights_are_backtested_one_per_version(
    history_db: tuple[sa.Engine, dict[tuple[dt.date, str], pd.DataFrame]],
) -> None:
    engine, _ = history_db
    assert len(scored_nights(engine, HISTORY)) == 5
    table = backtest(run_backtest(engine, HISTORY, TODAY, RULE, TERMS))
    assert list(table.columns) == list(BACKTEST_COLUMNS)
    nights = table[["as_of_date", "model_version"]].drop_duplicates()
    assert list(nights.itertuples(index=False, name=None)) == [
        (MATURED[0], "v1"),
        (MATURED[1], "v1"),
        (MATURED[1], "v2"),
        (MATURED[2], "v1"),
    ]
    assert set(table["segment"]) == {ALL_SEGMENTS, "consumer", "small_business", "corporate"}


def test_the_settings_choose_the_history_rule_value_and_band(
    history_db: tuple[sa.Engine, dict[tuple[dt.date, str], pd.DataFrame]],
) -> None:
    engine, _ = history_db
    settings = ExplicitSettings(
        predictions_table="customer_predictions",
        value={"true_positive": 10.0, "false_positive_cost": 1.0},
        estimate={"band_level": 0.6},
    )
    table = backtest(backtest_history(engine, settings, TODAY))
    row = table.iloc[0]
    false_positives = row["labelled_good"] - row["true_positives"]
    assert row["value"] == 10.0 * row["true_positives"] - 1.0 * false_positives
    default = backtest(run_backtest(engine, HISTORY, TODAY, RULE, TERMS)).iloc[0]
    assert row["upper"] - row["lower"] < default["upper"] - default["lower"]


def test_backtest_figures_match_the_generated_truth_exactly(
    history_db: tuple[sa.Engine, dict[tuple[dt.date, str], pd.DataFrame]],
    master_data: MasterData,
) -> None:
    engine, served = history_db
    results = run_backtest(engine, HISTORY, TODAY, RULE, TERMS)
    assert len(results) == 4
    for night in results:
        truth = _truth(master_data, served[(night.as_of, night.model_version)], night.as_of)
        rows = night.table.set_index("segment")
        groups = [(ALL_SEGMENTS, truth), *truth.groupby("segment")]
        for segment, group in groups:
            row = rows.loc[segment]
            tp = int((group["acted"] & group["good"]).sum())
            fp = int((group["acted"] & ~group["good"]).sum())
            assert row["customers"] == len(group)
            assert row["labelled_good"] == int(group["acted"].sum())
            assert row["good"] == int(group["good"].sum())
            assert row["true_positives"] == tp
            assert row["realised_precision"] == tp / (tp + fp)
            assert row["recall"] == tp / int(group["good"].sum())
            assert row["value"] == 100.0 * tp - 50.0 * fp
            acted_scores = group.loc[group["acted"], "score"]
            assert row["estimated_precision"] == pytest.approx(acted_scores.mean(), abs=1e-12)
            curve = reliability(group["good"].to_numpy(), group["score"].to_numpy())
            assert row["ece"] == pytest.approx(curve.ece, abs=1e-12)
            assert night.reliability[str(segment)].counts == curve.counts
        # Uniform scores are no probabilities: the band misses and the ECE shows why.
        assert rows.loc[ALL_SEGMENTS, "ece"] > 0.1
        assert not rows.loc[ALL_SEGMENTS, "covered"]


def test_early_labels_of_an_open_night_match_the_sales_so_far(
    history_db: tuple[sa.Engine, dict[tuple[dt.date, str], pd.DataFrame]],
    master_data: MasterData,
) -> None:
    engine, served = history_db
    elapsed = (TODAY - OPEN).days
    truth = _truth(master_data, served[(OPEN, "v1")], OPEN, days=elapsed)
    ids = pd.Index(read_night(engine, HISTORY, OPEN, "v1")["customer_id"])
    early = fetch_early_labels(engine, ids, OPEN, elapsed, RULE)
    expected = truth.set_index("customer_id")["good"].reindex(ids).astype(int)
    assert early.to_numpy().tolist() == expected.tolist()
    assert early_precision_at(engine, HISTORY, OPEN, "v1", elapsed, RULE) == (
        (truth["acted"] & truth["good"]).sum() / truth["acted"].sum()
    )
    # On a matured night the early figure is a lower bound of the realised one.
    matured_night = backtest(run_backtest(engine, HISTORY, TODAY, RULE, TERMS))
    final = matured_night.query("segment == 'all' and model_version == 'v1'")
    for as_of, realised in zip(final["as_of_date"], final["realised_precision"], strict=True):
        assert early_precision_at(engine, HISTORY, as_of, "v1", 30, RULE) <= realised
        assert early_precision_at(engine, HISTORY, as_of, "v1", 0, RULE) == 0.0
    # Spend accumulates over the window: more of the final figure shows later in it.
    at_30 = learn_early_ratio(engine, HISTORY, matured_night, 30, RULE)
    at_60 = learn_early_ratio(engine, HISTORY, matured_night, 60, RULE)
    assert 0.0 < at_30 < at_60 < 1.0
    assert learn_early_ratio(engine, HISTORY, matured_night, RULE.horizon_days, RULE) == 1.0


def test_a_missing_history_names_the_table_and_the_fix(tmp_path: Path) -> None:
    engine = connect(f"sqlite:///{tmp_path / 'empty.db'}", create_dir=True)
    with pytest.raises(DataSourceError, match=r"customer_predictions_history.*score at least"):
        scored_nights(engine, HISTORY)
