"""Each scenario of the generator, as the nightly monitor sees it with a real champion.

One champion (the session's trained run) serves every scenario. Each scenario is a Master
Data set of its own, drawn with its knob and scored tonight: the day after the newest
sale, the champion's reference date, as the nightly run scores it. That is 270 days
after the training window and 90 after the newest part of the reference, so the book
has aged (tenure, first purchases, lifetime totals, age): the monitor must tell that
from drift. Its sales rate is matched to the champion's data up to that night (the
generator spreads its mean sales over the whole history). The night's features come
from the same code scoring uses.

What the monitor must say:
- no drift: no drift alarm, no concept-drift signal, though the book has aged (the
  reference of the calendar features is aged to tonight; without that they would flag);
- a burst of new customers (the age mix itself changes): tenure flagged, beyond ageing;
- covariate drift (new customers through ads, dearer prices): the spend features, and
  only behaviour features, never the demographic ones;
- a stuck channel: the channel alone (scored at the training window's date: a July
  night has no season part, and the spend trend's yearly wave sits near its floor there);
  amounts x100: the amount features alone, and the score;
- a prior shift (more good customers): the predicted-good share rises significantly
  and the score drifts up, with behaviour features only; the estimate follows the scores
  and the early labels are not below their promise (no concept drift);
- concept drift: the inputs are unchanged, so the drift check and the label-free
  estimate see nothing, but the early labels 30 days into the still open label window
  fall below what the scores promise;
- seasonality: a year-end night is quiet against the reference's year-end part, though
  the autumn training window would flag it; a unit change at year end still shows.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from customer_classifier.data.database import (
    connect,
    iter_chunks,
    read_customers,
    write_master_data,
)
from customer_classifier.data.generate import GeneratorConfig, MasterData, generate
from customer_classifier.features.aggregates import iter_aggregates
from customer_classifier.features.build import AGEING_FEATURES, build_features
from customer_classifier.monitoring import backtest
from customer_classifier.monitoring.drift import DriftReport, detect_drift
from customer_classifier.monitoring.estimate import (
    ConceptDriftCheck,
    NightEstimate,
    concept_drift_check,
    estimate_night,
)
from customer_classifier.monitoring.reference import DriftReference, training_reference
from customer_classifier.registry import ModelBundle
from customer_classifier.scoring import batch
from customer_classifier.scoring.tables import history_table
from customer_classifier.settings import Settings

pytestmark = pytest.mark.slow

ELAPSED_DAYS = 30
"""How far into the night's label window the early labels are read (of 90)."""
SPLITS = ("train", "validation", "test")
DEMOGRAPHIC = {"age", "loyalty_member", "country", "segment", "acquisition_channel"}
"""Drawn before and apart from a customer's quality: no behaviour scenario moves them."""
MONEY = {"spend_30d", "spend_90d", "spend_365d", "spend_total", "avg_order_value_365d"}
AMOUNT_DERIVED = MONEY | {
    "spend_trend",
    *(f"share_{c}" for c in ("electronics", "fashion", "home", "grocery", "books", "sports")),
}
"""Features computed from amounts: what a unit change on the sales feed may move."""


@dataclasses.dataclass(frozen=True)
class Champion:
    bundle: ModelBundle
    reference: DriftReference
    windows: dict[str, dt.date]
    reference_date: dt.date
    settings: Settings


@dataclasses.dataclass(frozen=True)
class Night:
    engine: sa.Engine
    as_of: dt.date
    features: pd.DataFrame
    scores: pd.Series
    threshold: float

    @property
    def labelled_good(self) -> pd.Series:
        return self.scores >= self.threshold


@pytest.fixture(scope="module")
def champion(trained_run: Any) -> Champion:
    """The session's champion with the reference training writes from its three windows:
    the training window, plus one part per other as-of date (validation, test)."""
    bundle = trained_run.store.load(trained_run.version)
    features = trained_run.work / "features"
    manifest = json.loads((features / "manifest.json").read_text(encoding="utf-8"))
    windows = {s: dt.date.fromisoformat(manifest["as_of"][s]) for s in SPLITS}
    frames = {windows[s]: pd.read_parquet(features / f"{s}.parquet") for s in SPLITS}
    metadata = training_reference(
        bundle.model,
        frames[windows["train"]],
        bundle.threshold,
        bundle.metadata["importance"],
        trained_run.settings.drift.bins,
        as_of=windows["train"],
        seasons=frames,
    )
    reference = DriftReference.from_metadata(json.loads(json.dumps(metadata)))
    saved = DriftReference.from_metadata(bundle.metadata["drift_reference"])
    assert reference.counts == saved.counts, "the training window's part is the bundle's"
    return Champion(
        bundle=bundle,
        reference=reference,
        windows=windows,
        reference_date=dt.date.fromisoformat(manifest["reference_date"]),
        settings=trained_run.settings,
    )


@pytest.fixture(scope="module")
def early_ratio(
    trained_run: Any, champion: Champion, tmp_path_factory: pytest.TempPathFactory
) -> float:
    """The early-label ratio at ELAPSED_DAYS, learnt as the monitor learns it: the champion
    scores the validation and test nights into the prediction history of a copy of its
    database, their windows have closed by the reference date, they are backtested, and
    their early precision is set against their realised one."""
    root = tmp_path_factory.mktemp("early")
    shutil.copyfile(trained_run.db_path, root / "master.db")
    settings = champion.settings.model_copy(update={"database_url": f"sqlite:///{root}/master.db"})
    engine = connect(settings.database_url)
    for split in ("validation", "test"):
        batch.score_customers(
            engine,
            champion.bundle,
            trained_run.version,
            champion.windows[split],
            table=settings.predictions_table,
            active_window_days=settings.active_window_days,
            chunk_customers=settings.chunk_customers,
        )
    table = backtest.backtest(backtest.backtest_history(engine, settings, champion.reference_date))
    assert set(table["as_of_date"]) >= {champion.windows["validation"], champion.windows["test"]}
    return backtest.learn_early_ratio(
        engine, history_table(settings.predictions_table), table, ELAPSED_DAYS, settings.label
    )


def _sales_rate(data: MasterData, as_of: dt.date) -> float:
    """Sales per customer up to ``as_of`` in the champion's data: a scenario set whose
    history ends there gets the same rate per day (``sales_per_customer`` is a mean over
    the whole history, which is shorter there)."""
    before = int((data.sales["sold_at"] < pd.Timestamp(as_of)).sum())
    signed = int((pd.to_datetime(data.customers["signup_date"]) < pd.Timestamp(as_of)).sum())
    return before / signed


NightFactory = Callable[..., Night]


@pytest.fixture(scope="module")
def scenario_night(
    champion: Champion, master_data: MasterData, tmp_path_factory: pytest.TempPathFactory
) -> NightFactory:
    """``scenario_night(name, seed, as_of=..., open_days=0, **knobs)``: a Master Data set
    drawn with ``knobs`` whose sales end ``open_days`` after the night's eve, written to a
    database, and the night's features and champion scores as nightly scoring makes them.
    The night is tonight (the reference date) unless ``as_of`` says otherwise."""
    settings = champion.settings

    def make(
        name: str, seed: int, *, as_of: dt.date | None = None, open_days: int = 0, **knobs: Any
    ) -> Night:
        night = as_of or champion.reference_date
        end = night + dt.timedelta(days=open_days - 1)
        config = GeneratorConfig(
            n_customers=3000,
            seed=seed,
            end=end,
            sales_per_customer=_sales_rate(master_data, end + dt.timedelta(days=1)),
            **knobs,
        )
        path = tmp_path_factory.mktemp(name) / "master.db"
        engine = connect(f"sqlite:///{path}", create_dir=True)
        write_master_data(engine, generate(config))
        customers = read_customers(engine)
        bounds = list(iter_chunks(customers["customer_id"].sort_values().tolist(), 100_000))
        aggregates = pd.concat(
            list(
                iter_aggregates(
                    engine, night, bounds, active_window_days=settings.active_window_days
                )
            ),
            ignore_index=True,
        )
        features = build_features(customers, aggregates, night, settings.active_window_days)
        scores = pd.Series(champion.bundle.score(features), index=features.index, name="score")
        return Night(engine, night, features, scores, champion.bundle.threshold)

    return make


def _drift(champion: Champion, night: Night, *, seasonal: bool = True) -> DriftReport:
    return detect_drift(
        champion.reference,
        night.features,
        night.scores.to_numpy(),
        as_of=night.as_of if seasonal else None,
    )


def _estimate(champion: Champion, night: Night) -> NightEstimate:
    return estimate_night(
        night.scores,
        night.labelled_good,
        night.features["segment"],
        champion.bundle.metadata.get("calibration"),
    )


def _concept(champion: Champion, night: Night, ratio: float) -> ConceptDriftCheck:
    early = backtest.fetch_early_labels(
        night.engine, night.features.index, night.as_of, ELAPSED_DAYS, champion.settings.label
    )
    return concept_drift_check(night.scores, night.labelled_good, early, ratio)


def _overall(estimate: NightEstimate) -> dict[str, Any]:
    row: dict[str, Any] = estimate.table.iloc[0].to_dict()
    assert row["segment"] == "all"
    return row


@pytest.fixture(scope="module")
def quiet_night(scenario_night: NightFactory) -> Night:
    return scenario_night("none", 21, open_days=ELAPSED_DAYS)


def test_no_drift_stays_quiet(champion: Champion, quiet_night: Night, early_ratio: float) -> None:
    assert quiet_night.as_of == champion.reference_date
    report = _drift(champion, quiet_night)
    # July has no season part: the other features are compared with the training window.
    assert report.reference_part == champion.windows["train"].isoformat()
    assert not report.alarm, report.flagged
    assert report.good_share_p_value > 0.01
    check = _concept(champion, quiet_night, early_ratio)
    assert not check.drifted, check
    # The calendar features were compared with their reference aged to tonight, along
    # the line through the two newest parts, 90 days on, and the report says so.
    aged = {f.feature: f.to_dict()["age_adjusted"] for f in report.features if f.age_adjusted}
    assert set(aged) == set(AGEING_FEATURES)
    for entry in aged.values():
        assert entry["to"] == champion.reference_date.isoformat()
        assert entry["parts"] == [champion.windows[s].isoformat() for s in ("validation", "test")]
        assert entry["weights"] == pytest.approx([-1.0, 2.0])
        assert entry["elapsed_days"] == 90
    # Without the ageing, the aged book alone raises the alarm every night.
    unaged = detect_drift(
        dataclasses.replace(champion.reference, ageing=()),
        quiet_night.features,
        quiet_night.scores.to_numpy(),
        as_of=quiet_night.as_of,
    )
    assert {"tenure_days", "days_since_first_purchase"} <= set(unaged.flagged)


def test_a_burst_of_new_customers_is_drift_beyond_the_books_ageing(
    champion: Champion, scenario_night: NightFactory
) -> None:
    report = _drift(champion, scenario_night("burst", 29, acquisition_burst=0.2))
    assert report.alarm
    assert {"tenure_days", "days_since_first_purchase"} <= set(report.flagged)
    tenure = next(f for f in report.features if f.feature == "tenure_days")
    assert tenure.age_adjusted is not None, "flagged against the aged reference"
    assert not set(report.flagged) & (DEMOGRAPHIC - {"age"}), report.flagged


def test_covariate_drift_names_the_spend_features_and_no_demographic_one(
    champion: Champion, scenario_night: NightFactory
) -> None:
    report = _drift(champion, scenario_night("covariate", 22, drift=0.5))
    assert report.alarm
    assert {"spend_90d", "spend_365d", "avg_order_value_365d"} <= set(report.flagged)
    assert not set(report.flagged) & (DEMOGRAPHIC - {"acquisition_channel"}), report.flagged


def test_a_stuck_channel_is_named_alone(champion: Champion, scenario_night: NightFactory) -> None:
    night = scenario_night(
        "stuck", 23, as_of=champion.windows["train"], stuck_column="acquisition_channel"
    )
    report = _drift(champion, night)
    assert report.flagged == ("acquisition_channel",)


def test_amounts_times_100_name_the_amount_features_alone(
    champion: Champion, scenario_night: NightFactory
) -> None:
    report = _drift(champion, scenario_night("unit", 24, amount_unit=100.0))
    assert set(report.flagged) >= MONEY
    assert set(report.flagged) <= AMOUNT_DERIVED, set(report.flagged) - AMOUNT_DERIVED
    assert report.score.flagged, "dearer-looking customers score higher"


def test_a_prior_shift_raises_the_predicted_good_share_and_the_estimate_follows(
    champion: Champion, scenario_night: NightFactory, quiet_night: Night, early_ratio: float
) -> None:
    night = scenario_night("prior", 25, open_days=ELAPSED_DAYS, prior_shift=0.5)
    report = _drift(champion, night)
    # What the monitor must flag for more good customers: more of them labelled good
    # (significantly), higher scores, and behaviour features only.
    assert report.good_share > 1.3 * report.reference_good_share
    assert report.good_share_p_value < 0.01
    assert report.score.flagged
    assert not set(report.flagged) & DEMOGRAPHIC, report.flagged
    shifted, quiet = (
        _overall(_estimate(champion, night)),
        _overall(_estimate(champion, quiet_night)),
    )
    assert shifted["labelled_good"] > 1.5 * quiet["labelled_good"]
    assert shifted["estimated_precision"] >= quiet["estimated_precision"] - 0.01
    check = _concept(champion, night, early_ratio)
    assert not check.drifted
    assert check.z > -2, "the scores still mean what they did"


def test_concept_drift_is_flagged_by_the_early_labels_before_the_window_closes(
    champion: Champion, scenario_night: NightFactory, quiet_night: Night, early_ratio: float
) -> None:
    night = scenario_night("concept", 26, open_days=ELAPSED_DAYS, concept_drift=1.0)
    today = night.as_of + dt.timedelta(days=ELAPSED_DAYS)
    assert not backtest.matured(night.as_of, today, champion.settings.label.horizon_days)
    # The inputs are those of a quiet night: the drift check and the label-free estimate
    # (which assumes no concept drift) see nothing ...
    assert not _drift(champion, night).alarm
    shifted, quiet = (
        _overall(_estimate(champion, night)),
        _overall(_estimate(champion, quiet_night)),
    )
    assert abs(shifted["estimated_precision"] - quiet["estimated_precision"]) < 0.05
    # ... the customers labelled good reach the spend rule less often than promised.
    check = _concept(champion, night, early_ratio)
    assert check.drifted, check
    assert check.early_precision < 0.6 * check.expected_early


def test_a_year_end_night_is_quiet_against_its_season(
    champion: Champion, scenario_night: NightFactory
) -> None:
    year_end = champion.windows["validation"]
    assert (year_end.month, year_end.day) == (1, 2), "the validation window is the year end"
    night = scenario_night("season", 27, as_of=dt.date(2025, 12, 20))
    seasonal = _drift(champion, night)
    assert seasonal.reference_part == year_end.isoformat()
    assert not seasonal.alarm, seasonal.flagged
    # Against the autumn training window the year-end peak shows in the recent spend
    # (and the 77 days' longer history in tenure): the alarm the season's part avoids.
    autumn = _drift(champion, night, seasonal=False)
    assert "spend_trend" in autumn.flagged


def test_a_unit_change_at_year_end_still_shows_against_its_season(
    champion: Champion, scenario_night: NightFactory
) -> None:
    night = scenario_night("season-unit", 28, as_of=dt.date(2026, 1, 1), amount_unit=100.0)
    report = _drift(champion, night)
    assert report.reference_part == champion.windows["validation"].isoformat()
    assert set(report.flagged) >= MONEY
    assert set(report.flagged) <= AMOUNT_DERIVED
