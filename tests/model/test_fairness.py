"""Fairness on generated data with and without a planted bias, through the real steps.

Two databases from the same seed: one clean, one where the generator's ``bias`` makes
small-business customers aged 30 and over go quiet in the last quarters, whatever their
past (their labels depend on their age). Each is verified, ingested, featurised,
trained (heuristic and logistic regression) and registered into one store, clean first:

- the clean model flags no group and becomes champion (its precision gap is under the
  ceiling);
- re-scored on the biased window, that champion's precision in the small-business segment
  falls: the analysis flags the segment;
- the model trained on the biased data learnt the age from the labels and selects far
  fewer of those customers: it widens the equalized odds gap across segments, and the
  gate keeps it challenger (or warns, under ``CC_FAIRNESS__CHECK=warn``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from customer_classifier import jobs
from customer_classifier.data.database import connect, write_master_data
from customer_classifier.data.generate import BIASED_SEGMENT, GeneratorConfig, generate
from customer_classifier.evaluation.fairness import FairnessReport, fairness_report
from customer_classifier.evaluation.segments import group_attributes
from customer_classifier.jobs.register import fairness_evidence
from customer_classifier.registry import LocalModelStore
from customer_classifier.registry.gate import (
    ChampionEvidence,
    GateInputs,
    GatePolicy,
    decide,
    gate_checks,
)
from customer_classifier.settings import FairnessSettings, Settings

pytestmark = pytest.mark.slow
CLEAN = GeneratorConfig(n_customers=5000, seed=11)
BIASED = GeneratorConfig(n_customers=5000, seed=11, bias=0.7)
FAIRNESS = "fairness across segments"
CANDIDATES = ("heuristic", "logistic_regression")


def _train_and_register(settings: Settings, work: Path) -> dict[str, Any]:
    jobs.verify_data(settings, work / "verification")
    jobs.ingest_data(settings, work / "snapshot")
    jobs.build_features(settings, work / "snapshot", work / "features")
    trained = jobs.train_models(settings, work / "features", work / "bundle", work / "report.html")
    registered = jobs.register_model(settings, work / "bundle", features_dir=work / "features")
    test = pd.read_parquet(work / "features" / "test.parquet")
    return {"work": work, "training": trained, "registration": registered, "test": test}


@pytest.fixture(scope="module")
def runs(
    tmp_path_factory: pytest.TempPathFactory, settings_factory: Callable[..., Settings]
) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("fairness")
    out: dict[str, Any] = {"root": root}
    for name, config in (("clean", CLEAN), ("biased", BIASED)):
        db = root / f"{name}.db"
        engine = connect(f"sqlite:///{db}", create_dir=True)
        write_master_data(engine, generate(config))
        engine.dispose()
        settings = settings_factory(db, root, candidates=CANDIDATES)
        out[name] = _train_and_register(settings, root / name)
        out[f"{name}_settings"] = settings
    out["store"] = LocalModelStore(root / "store")
    return out


def _check(decision: Any) -> Any:
    return next(c for c in decision.checks if c.name == FAIRNESS)


def test_on_clean_data_nothing_is_flagged_and_the_model_is_promoted(runs: Any) -> None:
    clean = runs["clean"]
    store: LocalModelStore = runs["store"]
    version = clean["registration"].version
    recorded = FairnessReport.from_metadata(store.get(version).metadata["fairness"])
    assert recorded.underperforming == []
    assert {a.attribute for a in recorded.attributes} == set(group_attributes(clean["test"]))
    check = _check(clean["registration"].decision)
    assert check.status == "pass"
    assert check.observed <= FairnessSettings().max_gap
    assert "no champion: widest precision gap" in check.detail
    assert clean["registration"].promoted
    # The figures also reach the KFP Metrics (through the step's result) and the report.
    metrics = clean["training"].metrics
    assert metrics["test_fairness_underperforming_groups"] == 0.0
    assert "test_fairness_segment_equalized_odds_difference" in metrics
    report = (clean["work"] / "report.html").read_text(encoding="utf-8")
    assert "Fairness and segments of" in report
    assert 'alt="group precision with intervals"' in report


def test_on_biased_data_the_segment_is_flagged(runs: Any) -> None:
    biased = runs["biased"]
    store: LocalModelStore = runs["store"]
    champion = store.load(runs["clean"]["registration"].version)
    test = biased["test"]
    found = fairness_report(
        test["label"].to_numpy(dtype=int),
        champion.score(test),
        champion.threshold,
        group_attributes(test),
    )
    flagged = [(attribute, g.group) for attribute, g in found.underperforming]
    assert flagged == [("segment", BIASED_SEGMENT)]
    group = next(g for a, g in found.underperforming)
    assert group.precision_high < found.overall_precision


def test_the_gate_refuses_the_challenger_that_widens_the_gap(runs: Any) -> None:
    store: LocalModelStore = runs["store"]
    clean, biased = runs["clean"]["registration"], runs["biased"]["registration"]
    decision = biased.decision
    check = _check(decision)
    assert check.status == "fail"
    assert check.blocking
    assert check.observed > check.required == FairnessSettings().tolerance
    assert "widened beyond the tolerance" in check.detail
    assert "segment equalized odds difference" in check.detail
    assert f"against champion {clean.version}" in check.detail
    assert not decision.promoted
    assert store.get_alias("champion") == clean.version
    assert store.get_alias("challenger") == biased.version
    assert f"| {FAIRNESS} | **FAIL** | yes |" in decision.to_markdown()


def test_under_warn_the_widened_gap_is_shown_but_does_not_block(runs: Any) -> None:
    store: LocalModelStore = runs["store"]
    clean, biased = runs["clean"]["registration"], runs["biased"]["registration"]
    bundle = store.load(biased.version)
    test = runs["biased"]["test"]
    evidence = fairness_evidence(
        FairnessSettings(),
        store,
        clean.version,
        bundle.metadata,
        test,
        bundle.score(test),
        bundle.threshold,
    )
    assert evidence.champion is not None
    assert evidence.baseline is not None
    inputs = GateInputs(
        version=biased.version,
        candidate=str(bundle.metadata["candidate"]),
        precision=0.9,
        baseline_precision=0.5,
        policy=GatePolicy.from_metadata(bundle.metadata),
        evaluation_window=bundle.metadata["evaluation_window"],
        data_snapshot_hash=bundle.metadata["data_snapshot_hash"],
        verification=None,
        champion=None,
        loadable=(True, "loaded"),
        fairness=evidence,
    )
    # Without a champion the same figures are judged against the ceiling only.
    alone = _check(decide(inputs, gate_checks()))
    assert alone.status in {"pass", "fail"}
    assert "no champion" in alone.detail
    compared = dataclasses.replace(
        inputs, champion=ChampionEvidence(clean.version, 0.5, "re-scored")
    )
    warned = decide(compared, gate_checks(fairness=FairnessSettings(check="warn")))
    assert _check(warned).status == "warn"
    assert any(w.startswith(FAIRNESS) for w in warned.warnings)
