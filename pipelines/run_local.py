"""``make run``: the main job end to end on the embedded defaults, through ``kfp.local``.

Generates the demo SQLite database when it is missing, runs the training pipeline and
the nightly scoring pipeline with ``kfp.local.SubprocessRunner`` (the same components
the cluster runs, in a subprocess of this environment) and prints a short summary.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from customer_classifier.settings import Settings

console = Console()


def _absolute_defaults(root: Path) -> None:
    """Pin the default locations to absolute paths so every subprocess agrees on them."""
    os.environ.setdefault("CC_DATABASE_URL", f"sqlite:///{root / 'var' / 'master_data.db'}")
    os.environ.setdefault("CC_STORE_URI", str(root / "var" / "model_store"))
    os.environ.setdefault("CC_WORK_DIR", str(root / "var" / "runs"))


def _ensure_demo_database() -> None:
    from customer_classifier.data.database import connect, table_names, write_master_data
    from customer_classifier.data.generate import generate
    from customer_classifier.settings import load_settings

    settings = load_settings()
    if not settings.database_url.startswith("sqlite:///"):
        return
    path = Path(settings.database_url.removeprefix("sqlite:///"))
    if path.exists() and {"customers", "sales"} <= table_names(connect(settings.database_url)):
        return
    with console.status(f"generating the demo database {path}"):
        write_master_data(connect(settings.database_url, create_dir=True), generate())


def _scoring_date(settings: Settings) -> dt.date:
    """CC_AS_OF, else the day after the newest sale, named explicitly: the demo database
    ends on a fixed day, and nightly verification blocks a default date whose sales
    stopped days ago."""
    from customer_classifier.data.database import connect
    from customer_classifier.jobs import last_sale_date

    return settings.as_of or last_sale_date(connect(settings.database_url)) + dt.timedelta(days=1)


def _reports(pipeline_root: Path, since: float) -> list[Path]:
    found = [p for p in pipeline_root.rglob("*") if p.is_file() and p.stat().st_mtime >= since]
    return sorted(
        p
        for p in found
        if p.parent.name in {"report", "decision"} or p.name in {"report", "decision"}
    )


def run(pipeline_root: Path) -> dict[str, Any]:
    from kfp import local

    from customer_classifier.data.database import connect
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
    scored_by = scoring_pipeline(as_of=str(_scoring_date(settings))).output
    store = open_store(settings.store_uri)
    meta = store.get(version).metadata
    with connect(settings.database_url).connect() as conn:
        counts = {
            t: conn.exec_driver_sql(f"SELECT COUNT(*) FROM {t}").scalar_one()
            for t in ("customers", "sales", settings.predictions_table)
        }
        labels: dict[str, int] = dict(
            conn.exec_driver_sql(
                f"SELECT label, COUNT(*) FROM {settings.predictions_table} GROUP BY label"
            ).all()
        )
    return {
        "version": version,
        "champion": store.get_alias("champion"),
        "meta": meta,
        "counts": counts,
        "labels": labels,
        "scored_by": scored_by,
        "seconds": time.time() - started,
        "reports": _reports(pipeline_root, started),
    }


def print_summary(summary: dict[str, Any]) -> None:
    meta, counts = summary["meta"], summary["counts"]
    console.print(
        f"[bold]Rows ingested[/]: {counts['customers']} customers, {counts['sales']} sales"
    )
    table = Table(
        "candidate",
        "threshold",
        "test precision",
        "test recall",
        f"precision @ recall>={meta['min_recall']:.2f}",
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
        )
    console.print(table)
    console.print(
        f"[bold]Chosen model[/]: {meta['candidate']} at threshold "
        f"{meta['threshold']:.4f}; registered as {summary['version']} "
        f"(champion: {summary['champion']})"
    )
    console.print(
        f"[bold]Rows written[/]: {sum(summary['labels'].values())} to "
        f"customer_predictions ({summary['labels'].get('good', 0)} good) by "
        f"{summary['scored_by']}"
    )
    console.print(
        f"[bold]Reports[/]: {len(summary['reports'])} under "
        f"{os.path.commonpath([str(p) for p in summary['reports']]) if summary['reports'] else '-'}"
    )
    for path in summary["reports"]:
        console.print(f"  {path}")
    console.print(f"Pipelines took {summary['seconds']:.1f} s")


def main() -> int:
    from customer_classifier.errors import CustomerClassifierError

    root = Path.cwd()
    _absolute_defaults(root)
    try:
        _ensure_demo_database()
        summary = run(root / "var" / "local_outputs")
    except CustomerClassifierError as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
    except RuntimeError as exc:  # kfp.local: a task failed; its log is printed above
        console.print(f"[red]error:[/] {exc}")
        return 1
    print_summary(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
