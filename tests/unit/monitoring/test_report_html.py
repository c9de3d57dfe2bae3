"""The monitoring report: every section, the flagged features, the plots, escaping, and
the first night (no history, no matured night) on synthetic nights.

The history frame is built from the same samples the night pushes and records
(``monitoring.samples``), so the report reads the shape the history table holds.
"""

from __future__ import annotations

import datetime as dt
import json
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from customer_classifier.data.contract import BAD, GOOD
from customer_classifier.evaluation.value import ValueTerms
from customer_classifier.monitoring import report_sections as sections
from customer_classifier.monitoring.backtest import NightBacktest, backtest, backtest_night
from customer_classifier.monitoring.drift import DriftReport, DriftThresholds, detect_drift
from customer_classifier.monitoring.estimate import (
    ASSUMPTION,
    concept_drift_check,
    estimate_night,
)
from customer_classifier.monitoring.reference import DriftReference, build_reference
from customer_classifier.monitoring.report_html import (
    HEADLINE,
    HEALTH,
    RETRAINING,
    MonitoringReportInputs,
    render_report,
)
from customer_classifier.monitoring.samples import drift_samples, estimate_samples, matured_samples
from customer_classifier.monitoring_metrics import Sample
from tests.unit.monitoring.synthetic import CATEGORICAL, NUMERIC, THRESHOLD, night

ODD = "<b>tenure</b> $x$ & co"
"""A feature name that HTML and matplotlib would both misread if it went in raw."""
NUMERIC_RENAMED = tuple(ODD if n == "tenure_days" else n for n in NUMERIC)
TERMS = ValueTerms(true_positive=100.0, false_positive_cost=50.0)
THRESHOLDS = DriftThresholds(resamples=400)
ROWS = 2000
START = dt.date(2026, 3, 1)
NIGHTS = 10
TODAY = START + dt.timedelta(days=NIGHTS - 1)
ALL_SECTIONS = (
    HEADLINE,
    sections.DRIFT,
    sections.DRIFT_TONIGHT,
    sections.PRECISION,
    sections.CALIBRATION,
    sections.SEGMENTS,
    sections.VALUE,
    HEALTH,
    RETRAINING,
)
CALIBRATION = {"calibrated": True, "test_ece": 0.02}


class _Page(HTMLParser):
    """Headings, text and image sources of a page; fails on a closing tag that does not
    match the open one (the report must be well-formed)."""

    VOID = frozenset({"img", "meta", "br", "hr", "link", "input"})

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.headings: list[str] = []
        self.images: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.images.append(dict(attrs).get("src") or "")
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.images.append(dict(attrs).get("src") or "")

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            raise AssertionError(f"</{tag}> closes {self.open[-1:]}")
        self.open.pop()

    def handle_data(self, data: str) -> None:
        if self.open and self.open[-1] == "h2":
            self.headings.append(data)
        self.text.append(data)


def _parse(page: str) -> _Page:
    parsed = _Page()
    parsed.feed(page)
    parsed.close()
    assert parsed.open == [], parsed.open
    return parsed


def _renamed(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.rename(columns={"tenure_days": ODD})


@pytest.fixture(scope="module")
def reference() -> DriftReference:
    frame, scores = night(1, 8000)
    return build_reference(
        _renamed(frame),
        scores,
        THRESHOLD,
        numeric=NUMERIC_RENAMED,
        categorical=CATEGORICAL,
        importance={ODD: 0.05, "orders_365d": 0.08, "acquisition_channel": 0.04},
    )


def _rows(as_of: dt.date, version: str, samples: list[Sample]) -> list[dict[str, object]]:
    return [
        {
            "as_of": as_of,
            "run_id": f"run-{as_of.isoformat()}",
            "model_version": version,
            "metric": s.metric.name,
            "labels": json.dumps(s.label_map, sort_keys=True),
            "value": s.value,
            "recorded_at": dt.datetime.combine(as_of, dt.time(3)),
        }
        for s in samples
    ]


def _served(frame: pd.DataFrame, scores: np.ndarray, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": np.arange(len(frame)),
            "score": scores,
            "label": np.where(scores >= THRESHOLD, GOOD, BAD),
            "segment": frame["segment"].to_numpy(),
            "outcome": (rng.random(len(frame)) < scores).astype("int8"),
        }
    )


@pytest.fixture(scope="module")
def nights(
    reference: DriftReference,
) -> tuple[pd.DataFrame, DriftReport, list[NightBacktest], pd.DataFrame, np.ndarray]:
    """Ten monitoring nights whose drift grows from none; each records its drift, its
    estimate and (from the fourth on) a matured night's realised figures and value."""
    rows: list[dict[str, object]] = []
    matured: list[NightBacktest] = []
    report: DriftReport | None = None
    frame, scores = night(0, ROWS)
    for i in range(NIGHTS):
        as_of = START + dt.timedelta(days=i)
        frame, scores = night(100 + i, ROWS, shift=0.06 * i, ads_share=0.40 + 0.03 * i)
        frame = _renamed(frame)
        report = detect_drift(reference, frame, scores, THRESHOLDS)
        labelled = pd.Series(scores >= THRESHOLD)
        estimate = estimate_night(pd.Series(scores), labelled, frame["segment"], CALIBRATION)
        samples = drift_samples(report) + estimate_samples(estimate)
        if i >= 3:
            served = _served(frame, scores, i)
            done = backtest_night(served, as_of - dt.timedelta(days=90), "v1", TERMS)
            matured.append(done)
            samples += matured_samples(
                done, baseline_value=float(done.table["value"].iloc[0]) * 0.8
            )
        rows += _rows(as_of, "v1" if i < 6 else "v2", samples)
    assert report is not None
    return pd.DataFrame(rows), report, matured, frame, scores


@pytest.fixture(scope="module")
def inputs(
    nights: tuple[pd.DataFrame, DriftReport, list[NightBacktest], pd.DataFrame, np.ndarray],
) -> MonitoringReportInputs:
    history, drift, matured, frame, scores = nights
    labelled = pd.Series(scores >= THRESHOLD)
    segments = frame["segment"]
    early = pd.Series((np.random.default_rng(7).random(len(scores)) < scores * 0.2).astype(int))
    return MonitoringReportInputs(
        as_of=TODAY,
        champion_version="v2",
        history=history,
        drift=drift,
        estimate=estimate_night(pd.Series(scores), labelled, segments, CALIBRATION),
        concept=concept_drift_check(pd.Series(scores), labelled, early, ratio=0.6),
        backtest=backtest(matured),
        reliability=matured[-1].reliability,
        health=[
            {
                "check": "input_volume",
                "figure": "input_customers",
                "value": 2000,
                "expected": "1900-2100",
                "failed": False,
                "status": "ok",
                "why": "within the band",
            },
            {
                "check": "missing_run",
                "figure": "runs",
                "value": 0,
                "expected": 1,
                "failed": True,
                "status": "failed",
                "why": "no scoring for <2026-03-09>",
            },
        ],
        retraining={
            "action": "cool-down",
            "triggers": ["drift"],
            "evidence": {"nights": [1, 1, 0], "last_retrain": "2026-03-05"},
        },
    )


@pytest.fixture(scope="module")
def page(inputs: MonitoringReportInputs) -> str:
    return render_report(inputs)


def test_every_section_is_there_and_the_page_is_well_formed(page: str) -> None:
    parsed = _parse(page)
    assert parsed.headings == list(ALL_SECTIONS)
    assert page.startswith("<!doctype html>")
    assert "http://" not in page, "the page must need no network"
    assert "https://" not in page, "the page must need no network"


def test_the_headline_names_the_alarms_and_the_flagged_features_in_rank_order(
    page: str, inputs: MonitoringReportInputs
) -> None:
    drift = inputs.drift
    assert drift.alarm
    assert ODD in drift.flagged, drift.flagged
    text = "".join(_parse(page).text)
    assert "Alarm: data drift, concept drift, pipeline health." in text
    headline = text.split(sections.DRIFT)[0]
    assert "most harmful to precision first: " + ", ".join(drift.ranked) + "." in headline
    assert f"1{drift.ranked[0]}" in headline
    assert f"2{drift.ranked[1]}" in headline
    assert "missing_run (no scoring for <2026-03-09>)" in headline
    assert "Retraining: cool-down; triggers: drift." in headline
    assert "No concept drift" in headline or "Concept drift" in headline


def test_every_plot_is_an_inline_png(page: str) -> None:
    images = _parse(page).images
    # drift over time, precision by night, backtest, reliability, ECE over time, value
    assert len(images) == 6
    assert all(src.startswith("data:image/png;base64,") for src in images)


def test_names_from_the_data_are_escaped(page: str) -> None:
    assert "&lt;b&gt;tenure&lt;/b&gt; $x$ &amp; co" in page
    assert "<b>" not in page
    assert "&lt;2026-03-09&gt;" in page


def test_the_assumption_and_the_tables_are_shown(page: str, inputs: MonitoringReportInputs) -> None:
    text = "".join(_parse(page).text)
    assert ASSUMPTION in text
    assert "band held the realised figure" in text
    for segment in inputs.estimate.table["segment"]:
        assert str(segment) in text
    assert "model minus baseline" in text
    assert "last_retrain2026-03-05" in text


def test_the_first_night_says_what_is_missing(inputs: MonitoringReportInputs) -> None:
    first = MonitoringReportInputs(
        as_of=START,
        champion_version="v1",
        history=pd.DataFrame(),
        drift=inputs.drift,
        estimate=inputs.estimate,
    )
    parsed = _parse(render_report(first))
    text = "".join(parsed.text)
    assert parsed.headings == list(ALL_SECTIONS)
    assert parsed.images == []
    for said in (
        "No drift history yet",
        "No precision history yet",
        "No matured night yet",
        "No realised value yet",
        "No concept-drift check tonight",
        "No pipeline-health findings",
        "No retraining decision",
    ):
        assert said in text, said
    # tonight's own figures need no history
    assert ODD in text
    assert "Estimated precision tonight" in text


def test_a_night_that_labels_no_one_good_and_findings_of_any_shape(
    inputs: MonitoringReportInputs,
) -> None:
    nobody = pd.Series(False, index=range(6))
    night_ = MonitoringReportInputs(
        as_of=TODAY,
        champion_version="v2",
        history=pd.DataFrame(),
        drift=inputs.drift,
        estimate=estimate_night(
            pd.Series(np.linspace(0.1, 0.5, 6)), nobody, pd.Series(["a", "b"] * 3), None
        ),
        health=[{"check": "run_time", "status": "failed", "step_seconds": {"score": 12.5}}],
        retraining={"action": "launched", "triggers": {"drift": True, "calibration": False}},
    )
    cells = _parse(render_report(night_)).text
    text = "".join(cells)
    assert "No customer was labelled good tonight" in text
    assert "Alarm: data drift, pipeline health, calibration assumption of the estimate." in text
    assert "1 of 1 checks failed: run_time" in text
    assert '{"score": 12.5}' in text
    assert "Retraining: launched; triggers: drift." in text
    assert "nan" not in cells, "a missing figure is a blank cell"


def test_a_history_frame_without_its_columns_is_refused(inputs: MonitoringReportInputs) -> None:
    broken = MonitoringReportInputs(
        as_of=TODAY,
        champion_version="v2",
        history=pd.DataFrame({"metric": ["x"], "value": [1.0]}),
        drift=inputs.drift,
        estimate=inputs.estimate,
    )
    with pytest.raises(ValueError, match="labels"):
        render_report(broken)
