"""The ``make run`` summary: value beside precision, and reports a browser can open."""

from __future__ import annotations

from pathlib import Path

from pipelines.run_local import _calibration_and_value, _named

META = {
    "metrics": {"test": {"precision": 0.8812}},
    "calibration": {"calibrated": False, "method": "none", "test_ece": 0.029, "test_brier": 0.0968},
    "business_value": {
        "true_positive": 100.0,
        "false_positive_cost": 50.0,
        "model_value": 59500.0,
        "heuristic_value": 35200.0,
        "act_on_everyone_value": -172150.0,
        "threshold": 0.7306,
        "value_threshold": 0.5195,
        "value_at_value_threshold": 87200.0,
        "beats_heuristic": True,
    },
}


def test_the_summary_shows_value_next_to_precision_and_the_calibration() -> None:
    calibration, value = _calibration_and_value(META)
    assert "not calibrated" in calibration
    assert "ECE 0.0290" in calibration
    for figure in ("59,500", "precision 0.8812", "35,200", "-172,150", "0.5195", "87,200"):
        assert figure in value


def test_a_version_without_the_figures_prints_no_line() -> None:
    assert _calibration_and_value({"metrics": {"test": {}}}) == []


def test_reports_get_a_copy_named_by_their_type(tmp_path: Path) -> None:
    report = tmp_path / "train-models" / "report"
    report.parent.mkdir()
    report.write_text("<html></html>", encoding="utf-8")
    named = _named(report)
    assert named.name == "report.html"
    assert named.read_text(encoding="utf-8") == "<html></html>"
    other = tmp_path / "metrics"
    other.write_text("{}", encoding="utf-8")
    assert _named(other) == other
