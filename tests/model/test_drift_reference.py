"""The champion's bundle carries its drift reference, and the nightly check reads it.

The reference is the training window binned at training time: the training window
itself must then show no drift against it, and a broken feed (amounts x100, a stuck
channel) must be flagged by name.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from customer_classifier.features.build import (
    AGEING_FEATURES,
    CATEGORICAL_FEATURES,
    FEATURE_NAMES,
)
from customer_classifier.monitoring.drift import detect_drift
from customer_classifier.monitoring.reference import DriftReference
from customer_classifier.registry import ModelBundle

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bundle(trained_run: Any) -> ModelBundle:
    return trained_run.store.load(trained_run.version)


@pytest.fixture(scope="module")
def train(trained_run: Any) -> pd.DataFrame:
    return pd.read_parquet(trained_run.work / "features" / "train.parquet")


def test_the_bundle_holds_a_reference_of_every_feature(
    bundle: ModelBundle, train: pd.DataFrame
) -> None:
    reference = DriftReference.from_metadata(bundle.metadata["drift_reference"])
    assert set(reference.spec_by_name) == set(FEATURE_NAMES)
    kinds = {s.name: s.kind for s in reference.specs}
    assert {n for n, k in kinds.items() if k == "categorical"} == set(CATEGORICAL_FEATURES)
    assert reference.rows == len(train)
    assert reference.threshold == pytest.approx(bundle.threshold)
    assert sum(reference.importance.values()) > 0, "ranked by the bundle's importance"
    # The calendar features the code declares travel with the bundle, and the two other
    # windows give their ageing rate.
    assert reference.ageing == AGEING_FEATURES
    assert len(reference.dated_parts()) == 3


def test_the_training_window_is_quiet_and_a_broken_feed_is_named(
    bundle: ModelBundle, train: pd.DataFrame
) -> None:
    reference = DriftReference.from_metadata(bundle.metadata["drift_reference"])
    quiet = detect_drift(reference, train, bundle.score(train))
    assert not quiet.alarm, quiet.flagged

    broken = train.copy()
    money = [c for c in FEATURE_NAMES if c.startswith("spend_") and c != "spend_trend"]
    broken[money] = broken[money] * 100
    broken["acquisition_channel"] = broken["acquisition_channel"].iloc[0]
    report = detect_drift(reference, broken, bundle.score(broken))
    assert {*money, "acquisition_channel"} <= set(report.flagged)
    assert report.alarm
