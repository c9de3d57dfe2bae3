"""``make run``: the main job end to end on the embedded defaults, through ``kfp.local``.

Generates the demo SQLite database when it is missing, runs the training pipeline and
the nightly scoring pipeline with ``kfp.local.SubprocessRunner`` (the same components
the cluster runs, in a subprocess of this environment) and prints a short summary.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    pass

console = Console()


def _reports(pipeline_root: Path, since: float) -> list[Path]:
    found = [p for p in pipeline_root.rglob("*") if p.is_file() and p.stat().st_mtime >= since]
    return sorted(
        p
        for p in found
        if p.parent.name in {"report", "decision"} or p.name in {"report", "decision"}
    )


SUFFIXES = {"report": ".html", "decision": ".md"}
"""KFP names an artifact's file after the output (``report``); a copy beside it with the
type's suffix is what a browser or an editor opens from the summary."""


def _named(path: Path) -> Path:
    """A copy of a report artifact whose name says its type (``report`` -> ``report.html``)."""
    suffix = SUFFIXES.get(path.name)
    if suffix is None:
        return path
    named = path.with_name(path.name + suffix)
    shutil.copyfile(path, named)
    return named


def run(pipeline_root: Path) -> dict[str, Any]:
    from kfp import local

    from customer_classifier.jobs.demo import scoring_date, table_counts
    from customer_classifier.registry import open_store
    from customer_classifier.settings import load_settings
    from pipelines.scoring_pipeline import scoring_pipeline
    from pipelines.training_pipeline import training_pipeline

    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(pipeline_root),
        raise_on_error=True,
    )
    started = time.time()
    version = training_pipeline().output
    settings = load_settings()
    scored_by = scoring_pipeline(as_of=str(scoring_date(settings))).output
    store = open_store(settings.store_uri, settings.s3)
    meta = store.get(version).metadata
    counts = table_counts(settings)
    return {
        "version": version,
        "champion": store.get_alias("champion"),
        "meta": meta,
        "counts": counts,
        "table": settings.predictions_table,
        "scored_by": scored_by,
        "seconds": time.time() - started,
        "reports": _reports(pipeline_root, started),
    }


def _decision(reports: list[Path], version: str) -> dict[str, Any] | None:
    """The gate's decision for ``version`` among this run's artifacts."""
    for path in reports:
        if path.name == "decision" and (path.parent / "decision_json").is_file():
            data: dict[str, Any] = json.loads(
                (path.parent / "decision_json").read_text(encoding="utf-8")
            )
            if data.get("version") == version:
                return data
    return None


def _figure(figures: dict[str, Any], key: str, form: str) -> str:
    value = figures.get(key)
    return "-" if value is None else form.format(value)


def _calibration_and_value(meta: dict[str, Any]) -> list[str]:
    """Whether the chosen score is a probability, and its value beside its precision."""
    lines = []
    calibration = meta.get("calibration")
    if calibration:
        how = calibration["method"] if calibration["calibrated"] else "not calibrated"
        lines.append(
            f"[bold]Calibration[/] ({how}): test ECE {calibration['test_ece']:.4f}, "
            f"Brier {calibration['test_brier']:.4f}"
        )
    value = meta.get("business_value")
    if value:
        precision = meta["metrics"]["test"]["precision"]
        colour = "green" if value["beats_heuristic"] else "yellow"
        lines.append(
            f"[bold]Business value[/] (test, {value['true_positive']:g} per true positive, "
            f"{value['false_positive_cost']:g} per false positive): [{colour}]"
            f"{value['model_value']:,.0f}[/] at threshold {value['threshold']:.4f} "
            f"(precision {precision:.4f}) vs heuristic {value['heuristic_value']:,.0f}, "
            f"act on everyone {value['act_on_everyone_value']:,.0f}; the value-maximising "
            f"threshold {value['value_threshold']:.4f} gives "
            f"{value['value_at_value_threshold']:,.0f}"
        )
    return lines


def print_summary(summary: dict[str, Any]) -> None:
    from customer_classifier.data.contract import GOOD
    from customer_classifier.evaluation.target import target_verdict

    meta, counts = summary["meta"], summary["counts"]
    console.print(f"[bold]Rows ingested[/]: {counts.customers} customers, {counts.sales} sales")
    table = Table(
        "candidate",
        "threshold",
        "test precision",
        "test recall",
        f"precision @ recall>={meta['min_recall']:.2f}",
        "test value",
        "test ECE",
        title="Candidates",
    )
    for name, c in meta["candidates"].items():
        mark = " (chosen)" if name == meta["candidate"] else ""
        table.add_row(
            name + mark,
            f"{c['threshold']:.4f}",
            f"{c['test']['precision']:.4f}",
            f"{c['test']['recall']:.4f}",
            f"{c['test']['precision_at_min_recall']:.4f}",
            _figure(c["test"], "expected_value", "{:,.0f}"),
            _figure(c["test"], "ece", "{:.4f}"),
        )
    console.print(table)
    policy = meta.get("policy") or {}
    verdict = target_verdict(
        {name: c["test"]["precision_at_min_recall"] for name, c in meta["candidates"].items()},
        float(policy.get("precision_target", meta["precision_target"])),
        float(policy.get("min_recall", meta["min_recall"])),
    )
    colour = "green" if verdict.reached else "bold red"
    console.print(f"[{colour}]{verdict.sentence}[/]")
    console.print(
        f"[bold]Chosen model[/]: {meta['candidate']} at threshold "
        f"{meta['threshold']:.4f}; registered as {summary['version']} "
        f"(champion: {summary['champion']})"
    )
    for line in _calibration_and_value(meta):
        console.print(line)
    decision = _decision(summary["reports"], summary["version"])
    if decision is not None:
        verdict_text = "promoted" if decision["promoted"] else "kept as challenger"
        console.print(f"[bold]Gate[/]: {verdict_text}")
        for check in decision["checks"]:
            if check["status"] in {"fail", "warn"}:
                mark = "red" if check["status"] == "fail" else "yellow"
                console.print(f"  [{mark}]{check['status']}[/] {check['name']}: {check['detail']}")
    console.print(
        f"[bold]Rows written[/]: {counts.predictions} to "
        f"{summary['table']} ({counts.labels.get(GOOD, 0)} good) by "
        f"{summary['scored_by']}"
    )
    console.print(
        f"[bold]Reports[/]: {len(summary['reports'])} under "
        f"{os.path.commonpath([str(p) for p in summary['reports']]) if summary['reports'] else '-'}"
    )
    for path in summary["reports"]:
        console.print(f"  {_named(path)}")
    console.print(f"Pipelines took {summary['seconds']:.1f} s")


def main() -> int:
    from customer_classifier.entrypoint import exit_on_user_error
    from customer_classifier.jobs.demo import ensure_demo_database
    from customer_classifier.settings import load_settings, pin_local_defaults

    root = Path.cwd()
    # Absolute default locations, so that every kfp.local subprocess agrees on them.
    pin_local_defaults(root / "var")
    try:
        with exit_on_user_error(show=lambda message: console.print(f"[red]error:[/] {message}")):
            settings = load_settings()
            with console.status("the demo database: generating it if missing"):
                written = ensure_demo_database(settings)
            if written is not None:
                console.print(f"generated the demo database {written}")
            summary = run(root / "var" / "local_outputs")
    except SystemExit as exc:
        return int(exc.code or 0)
    except RuntimeError as exc:  # kfp.local: a task failed; its log is printed above
        console.print(f"[red]error:[/] {exc}")
        return 1
    print_summary(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
