"""``customer-classifier``: every step of the pipelines on its own, from a shell.

User mistakes (bad settings, missing database, failed verification, unknown model
version) print one message naming the problem and the fix and exit with status 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from customer_classifier.entrypoint import CurrentStreamHandler, exit_on_user_error
from customer_classifier.rollout.commands import app as rollout_app
from customer_classifier.settings import Settings, load_settings

if TYPE_CHECKING:
    from customer_classifier.registry import ModelStore

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Customer classifier: data, training, registry, nightly scoring and monitoring.",
)
data_app = typer.Typer(no_args_is_help=True, help="Generate, verify and ingest master data.")
models_app = typer.Typer(no_args_is_help=True, help="Inspect the model store.")
app.add_typer(data_app, name="data")
config_app = typer.Typer(no_args_is_help=True, help="The settings tree and its CC_* names.")
app.add_typer(models_app, name="models")
app.add_typer(config_app, name="config")
app.add_typer(rollout_app, name="rollout")
console = Console(stderr=True)
out = Console()


def _settings(**overrides: Any) -> Settings:
    return load_settings(**{k: v for k, v in overrides.items() if v is not None})


_IN_WORK_DIR = "Default: under CC_WORK_DIR (var/runs)."


def _in_work_dir(settings: Settings, given: Path | None, name: str) -> Path:
    """A path option's value, or its default place under the settings' work folder."""
    return given if given is not None else settings.work_dir / name


def _open_store(settings: Settings) -> ModelStore:
    from customer_classifier.registry import open_store

    return open_store(settings.store_uri, settings.s3)


def _print_json(payload: Any) -> None:
    out.print_json(json.dumps(payload, default=str))


def _scenario_help() -> str:
    """Every preset with its summary (the module is light: no numpy, no pandas)."""
    from customer_classifier.data.scenarios import SCENARIOS

    listed = "; ".join(f"{name}: {s.summary}" for name, s in SCENARIOS.items())
    return f"A named preset of the scenario knobs; flags given beside it override it. {listed}"


_SCENARIO_HELP = _scenario_help()
_SCENARIOS_PANEL = "Scenario knobs (docs/data-contract.md#monitoring-scenarios)"


def _knob(help: str, default: str) -> Any:
    """A generator option that is None unless given, so that a preset fills the rest;
    ``default`` is the generator's own, for --help."""
    return typer.Option(help=help, show_default=default, rich_help_panel=_SCENARIOS_PANEL)


def _date(value: dt.datetime | None) -> dt.date | None:
    return None if value is None else value.date()


@data_app.command("generate")
def data_generate(
    scenario: Annotated[str, typer.Option(help=_SCENARIO_HELP)] = "none",
    customers: Annotated[
        int | None,
        typer.Option("--customers", "--n-customers", help="Customers.", show_default="20000"),
    ] = None,
    sales_per_customer: Annotated[
        float | None,
        typer.Option(help="Mean sales per customer over the history.", show_default="12.0"),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Random seed: same seed, same tables.", show_default="7")
    ] = None,
    start: Annotated[
        dt.datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="First day of sales.", show_default="2023-01-01"),
    ] = None,
    end: Annotated[
        dt.datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"],
            help="Last day of sales; nightly scoring's default night is the day after.",
            show_default="2026-06-30",
        ),
    ] = None,
    drift: Annotated[
        float | None,
        _knob(
            "Covariate drift, 0 to 1: this share of the new customers of the last "
            "--drift-days come through ads and are worse; prices there rise by it.",
            "0.0",
        ),
    ] = None,
    drift_days: Annotated[
        int | None, _knob("Days before --end that the covariate drift covers.", "120")
    ] = None,
    concept_drift: Annotated[
        float | None,
        _knob(
            "Concept drift, 0 to 1: over the last --concept-days, customers buy as if their "
            "quality were this much another one; the inputs stay as they were.",
            "0.0",
        ),
    ] = None,
    concept_days: Annotated[
        int | None, _knob("Days before --end that the concept drift covers.", "30")
    ] = None,
    prior_shift: Annotated[
        float | None,
        _knob(
            "Prior shift, -3 to 3: every customer's quality moves by this over the whole "
            "history (above 0: more good customers).",
            "0.0",
        ),
    ] = None,
    stuck_column: Annotated[
        str | None,
        _knob(
            "Broken master-data feed: this Customers column (e.g. acquisition_channel) "
            "holds the first customer's value for every customer.",
            "none",
        ),
    ] = None,
    amount_unit: Annotated[
        float | None,
        _knob(
            "Broken sales feed: amounts of the last --feed-fault-days are multiplied by "
            "this (100: the feed sends cents).",
            "1.0",
        ),
    ] = None,
    feed_fault_days: Annotated[
        int | None, _knob("Days before --end that the sales-feed fault has lasted.", "30")
    ] = None,
    acquisition_burst: Annotated[
        float | None,
        _knob(
            "A burst of new customers, 0 to 1: this share of the customers signed up in the "
            "last --burst-days before the newest signup; the book's age mix changes.",
            "0.0",
        ),
    ] = None,
    burst_days: Annotated[
        int | None, _knob("Days of signups that the burst of new customers covers.", "90")
    ] = None,
    bias: Annotated[
        float | None,
        _knob(
            "Planted unfairness, 0 to 1: small-business customers aged 30 and over buy "
            "nothing in each of the last --bias-quarters with this probability.",
            "0.0",
        ),
    ] = None,
    bias_quarter_days: Annotated[
        int | None, _knob("Days of one quarter of the planted bias.", "90")
    ] = None,
    bias_quarters: Annotated[
        int | None, _knob("Quarters before --end that the planted bias covers.", "3")
    ] = None,
    transactions_only: Annotated[
        bool | None,
        typer.Option(
            "--transactions-only/--full-master-data",
            help="Only what a bare transaction feed has: no country, channel or birth year, "
            "one segment and category, nobody in the loyalty programme.",
            show_default="full master data",
            rich_help_panel=_SCENARIOS_PANEL,
        ),
    ] = None,
    corrupt: Annotated[str | None, typer.Option(help="Inject one corruption (see docs).")] = None,
    database_url: Annotated[
        str | None, typer.Option(help="Target; default CC_DATABASE_URL.")
    ] = None,
) -> None:
    """Write a synthetic Master Data database (Customers and Sales).

    --scenario draws one of the monitoring scenarios; each knob can also be set on its own
    (docs/data-contract.md, Monitoring scenarios).
    """
    from customer_classifier.data import generate as gen
    from customer_classifier.data.database import connect, write_master_data
    from customer_classifier.data.scenarios import changed_fields, scenario_config
    from customer_classifier.errors import ConfigurationError

    settings = _settings(database_url=database_url)
    if corrupt is not None and corrupt not in gen.CORRUPTIONS:
        raise ConfigurationError(
            f"--corrupt {corrupt!r} is unknown; choose from {', '.join(gen.CORRUPTIONS)}"
        )
    config = scenario_config(
        scenario,
        n_customers=customers,
        sales_per_customer=sales_per_customer,
        seed=seed,
        start=_date(start),
        end=_date(end),
        drift=drift,
        drift_days=drift_days,
        concept_drift=concept_drift,
        concept_days=concept_days,
        prior_shift=prior_shift,
        stuck_column=stuck_column,
        amount_unit=amount_unit,
        feed_fault_days=feed_fault_days,
        acquisition_burst=acquisition_burst,
        burst_days=burst_days,
        bias=bias,
        bias_quarter_days=bias_quarter_days,
        bias_quarters=bias_quarters,
        transactions_only=transactions_only,
    )
    with console.status(f"generating {config.n_customers} customers"):
        data = gen.generate(config)
        if corrupt is not None:
            data = gen.corrupt(data, corrupt)
    engine = connect(settings.database_url, create_dir=True)
    with console.status(f"writing {len(data.sales)} sales"):
        write_master_data(engine, data)
    _print_json(
        {
            "database": engine.url.render_as_string(hide_password=True),
            "customers": len(data.customers),
            "sales": len(data.sales),
            "scenario": scenario,
            "changed": changed_fields(config),
        }
    )


@data_app.command("verify")
def data_verify(
    report_dir: Annotated[Path | None, typer.Option(help=_IN_WORK_DIR)] = None,
    nightly: Annotated[
        bool,
        typer.Option(
            "--nightly",
            help="Verify for nightly scoring: sales older than "
            "CC_VERIFICATION__MAX_SALE_AGE_DAYS block instead of warning.",
        ),
    ] = False,
) -> None:
    """Profile the source tables and stop on blocking data-quality problems."""
    from customer_classifier.jobs.verify import verify_data

    settings = _settings()
    report_dir = _in_work_dir(settings, report_dir, "verification")
    result = verify_data(settings, report_dir, nightly=nightly)
    for finding in result.warnings:
        console.print(f"[yellow]warning[/] {finding.message}")
    _print_json(
        {
            "passed": result.passed,
            "warnings": len(result.warnings),
            "report": str(report_dir / "verification.html"),
        }
    )


@data_app.command("ingest")
def data_ingest(
    out_dir: Annotated[Path | None, typer.Option("--out", help=_IN_WORK_DIR)] = None,
) -> None:
    """Snapshot customers, sales aggregates and label spend to Parquet."""
    from customer_classifier.jobs.ingest import ingest_data

    settings = _settings()
    verification = settings.work_dir / "verification" / "verification.json"
    with console.status("aggregating sales in the database"):
        written = ingest_data(
            settings,
            _in_work_dir(settings, out_dir, "snapshot"),
            verification=verification if verification.is_file() else None,
        )
    _print_json(written.to_dict())


@app.command("features")
def features(
    snapshot: Annotated[Path | None, typer.Option(help=_IN_WORK_DIR)] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help=_IN_WORK_DIR)] = None,
) -> None:
    """Build the train/validation/test feature frames with labels."""
    from customer_classifier.jobs.ingest import build_features

    settings = _settings()
    written = build_features(
        settings,
        _in_work_dir(settings, snapshot, "snapshot"),
        _in_work_dir(settings, out_dir, "features"),
    )
    _print_json(written.to_dict())


@app.command("train")
def train(
    features_dir: Annotated[Path | None, typer.Option("--features", help=_IN_WORK_DIR)] = None,
    bundle: Annotated[Path | None, typer.Option(help=_IN_WORK_DIR)] = None,
    report: Annotated[Path | None, typer.Option(help=_IN_WORK_DIR)] = None,
) -> None:
    """Train and evaluate every candidate; save the chosen model's bundle."""
    from customer_classifier.jobs.train import train_models

    settings = _settings()
    with console.status("training candidates"):
        result = train_models(
            settings,
            _in_work_dir(settings, features_dir, "features"),
            _in_work_dir(settings, bundle, "bundle"),
            _in_work_dir(settings, report, "training.html"),
        )
    _print_json(result.summary())


@app.command("register")
def register(
    bundle: Annotated[Path | None, typer.Option(help=_IN_WORK_DIR)] = None,
    features_dir: Annotated[
        Path | None,
        typer.Option(
            "--features",
            help="This run's features: the champion is re-scored on them. " + _IN_WORK_DIR,
        ),
    ] = None,
) -> None:
    """Register a trained bundle; make it champion if it passes the gate."""
    from customer_classifier.jobs.register import register_model

    settings = _settings()
    features_dir = _in_work_dir(settings, features_dir, "features")
    features = features_dir if features_dir.exists() else None
    result = register_model(
        settings, _in_work_dir(settings, bundle, "bundle"), features_dir=features
    )
    _print_json(result.summary())


@app.command("score")
def score(version: Annotated[str | None, typer.Option(help="Default: champion.")] = None) -> None:
    """Score every active customer and replace the predictions table atomically."""
    from customer_classifier.jobs.score import score_customers, summary_dict

    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("scoring customer chunks", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        summary = score_customers(_settings(), version, progress=advance)
    _print_json(summary_dict(summary))


@app.command("monitor")
def monitor(
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="The scored night to monitor (YYYY-MM-DD); default: CC_AS_OF, else the "
            "day after the newest sale (the night scoring scores).",
        ),
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Where the JSON and HTML go. " + _IN_WORK_DIR)
    ] = None,
) -> None:
    """Monitor one scored night: drift, estimated and realised precision, business impact.

    The figures replace the night's rows of the monitoring history table
    (CC_MONITORING__HISTORY_TABLE) and go to the Pushgateway when
    CC_MONITORING__PUSHGATEWAY_URL is set.
    """
    import datetime as dt

    from customer_classifier.errors import ConfigurationError
    from customer_classifier.jobs.monitor import monitor_night

    if as_of is not None:
        try:
            dt.date.fromisoformat(as_of)
        except ValueError:
            raise ConfigurationError(
                f"--as-of {as_of!r} is not a date; give it as YYYY-MM-DD, e.g. 2026-07-01"
            ) from None
    settings = _settings(as_of=as_of)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("monitoring", total=None)

        def advance(stage: str, done: int, total: int) -> None:
            progress.update(task, description=stage, completed=done, total=total)

        result = monitor_night(
            settings, _in_work_dir(settings, out_dir, "monitoring"), progress=advance
        )
    for note in result.notes:
        console.print(f"[yellow]note[/] {escape(note)}", soft_wrap=True)
    _print_json(result.summary())


@models_app.command("list")
def models_list() -> None:
    """Versions in the store, oldest first, with their test figures and aliases."""
    from rich.table import Column

    store = _open_store(_settings())
    aliases = store.aliases()
    table = Table(
        Column("version", no_wrap=True),
        "candidate",
        "precision@recall",
        "precision",
        "recall",
        "aliases",
    )
    for v in store.list_versions():
        test = v.metadata.get("metrics", {}).get("test", {})
        tags = ", ".join(a for a, target in sorted(aliases.items()) if target == v.version)
        table.add_row(
            v.version,
            str(v.metadata.get("candidate")),
            f"{test.get('precision_at_min_recall', float('nan')):.4f}",
            f"{test.get('precision', float('nan')):.4f}",
            f"{test.get('recall', float('nan')):.4f}",
            tags,
        )
    out.print(table)


@models_app.command("show")
def models_show(version: Annotated[str, typer.Argument(help="Version id or alias.")]) -> None:
    """Lineage, metrics and checksums of one version (or an alias)."""
    from customer_classifier.registry.ops import resolve

    store = _open_store(_settings())
    v = store.get(resolve(store, version))
    _print_json(
        {
            "version": v.version,
            "uri": store.version_uri(v.version),
            "created_at": v.created_at,
            "aliases": sorted(a for a, t in store.aliases().items() if t == v.version),
            "files": v.files,
            **{k: val for k, val in v.metadata.items() if k != "feature_schema"},
        }
    )


@models_app.command("compare")
def models_compare(
    a: Annotated[str, typer.Argument(help="Version id or alias.")],
    b: Annotated[str, typer.Argument(help="Version id or alias.")],
) -> None:
    """Test-window metrics of two versions side by side (a table)."""
    from rich.table import Column

    from customer_classifier.registry.ops import compare

    result = compare(_open_store(_settings()), a, b)
    table = Table(
        Column("metric", no_wrap=True),
        "a",
        "b",
        "b - a",
        title=f"a = {result.a.version}, b = {result.b.version} (test window)",
    )

    def cell(value: float | None) -> str:
        return "-" if value is None else f"{value:.4f}"

    for name, x, y in result.rows:
        delta = None if x is None or y is None else y - x
        table.add_row(name, cell(x), cell(y), cell(delta))
    out.print(table)
    if not result.same_window:
        out.print(
            f"not comparable as recorded: different {', '.join(result.differences)}; "
            "the gate re-scores the champion on the new window"
        )


@models_app.command("promote")
def models_promote(
    version: Annotated[str, typer.Argument(help="Version id or alias to promote.")],
    alias: Annotated[str, typer.Option("--alias", help="Alias to move.")] = "champion",
    reason: Annotated[str, typer.Option(help="Why; kept in the history.")] = "manual promotion",
) -> None:
    """Point an alias (champion, challenger, dev, test, prod, ...) at a version.

    The version is loaded and its checksums checked first; if the alias moves while this
    runs, the promotion fails with a conflict and nothing changes.
    """
    from customer_classifier.registry.ops import promote

    settings = _settings()
    _print_json(promote(_open_store(settings), version, alias, reason, actor=settings.run.actor))


@models_app.command("rollback")
def models_rollback(
    alias: Annotated[str, typer.Option("--alias", help="Alias to move back.")] = "champion",
    to: Annotated[
        str | None, typer.Option(help="Version to go back to; default: the previous one.")
    ] = None,
    reason: Annotated[str, typer.Option(help="Why; kept in the history.")] = "",
) -> None:
    """Move an alias back to the version it pointed at before (or to --to)."""
    from customer_classifier.registry.ops import rollback

    settings = _settings()
    _print_json(rollback(_open_store(settings), alias, to, reason, actor=settings.run.actor))


@models_app.command("history")
def models_history(
    alias: Annotated[str | None, typer.Option("--alias", help="Only this alias.")] = None,
) -> None:
    """Every alias move, oldest first, as JSON: alias, from, to, at, by, reason."""

    _print_json(_open_store(_settings()).history(alias))


@models_app.command("gc")
def models_gc(
    keep: Annotated[int, typer.Option(help="Newest versions kept besides aliased ones.")] = 10,
    grace_minutes: Annotated[
        float, typer.Option(help="Age before an unfinished upload is removed.")
    ] = 60.0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would go.")] = False,
) -> None:
    """Delete versions no alias points at, beyond the newest --keep, and dead uploads."""
    import datetime as dt

    from customer_classifier.registry.ops import collect_garbage

    result = collect_garbage(
        _open_store(_settings()),
        keep,
        incomplete_after=dt.timedelta(minutes=grace_minutes),
        dry_run=dry_run,
    )
    _print_json({**result.to_dict(), "dry_run": dry_run})


@config_app.command("keys")
def config_keys(
    secrets: Annotated[
        bool, typer.Option(help="Include the keys that belong in Secrets, not the ConfigMap.")
    ] = False,
    markdown: Annotated[
        bool, typer.Option(help="A Markdown table: key, default, description (all keys).")
    ] = False,
) -> None:
    """Every CC_* variable the settings read, one per line (the ConfigMap's possible keys)."""
    from customer_classifier.settings import environment_keys, reference_table

    if markdown:
        print(reference_table())
        return
    for key in environment_keys(secrets=secrets):
        out.print(key, highlight=False)


@config_app.command("reference")
def config_reference(
    write: Annotated[
        Path | None, typer.Option(help="Rewrite the table between the reference markers.")
    ] = None,
) -> None:
    """The Markdown table of every setting; --write puts it into a document."""
    from customer_classifier.settings import reference_table, with_reference

    if write is None:
        print(reference_table())
        return
    write.write_text(with_reference(write.read_text(encoding="utf-8")), encoding="utf-8")
    _print_json({"written": str(write)})


@config_app.command("show")
def config_show() -> None:
    """The settings in effect (environment and defaults), secrets masked, as JSON."""
    _print_json(_settings().model_dump(mode="json"))


@config_app.command("check")
def config_check(
    source: Annotated[
        Path, typer.Argument(help="A ConfigMap manifest (YAML) or an env file (KEY=VALUE lines).")
    ],
) -> None:
    """Validate a ConfigMap's or env file's keys and values against the settings tree."""
    from customer_classifier.config_source import read_keys
    from customer_classifier.errors import ConfigurationError
    from customer_classifier.settings import ExplicitSettings, describe_unknown, unknown_keys

    values = read_keys(source)
    unknown = describe_unknown(unknown_keys(values))
    if unknown:
        raise ConfigurationError(f"{source}: " + "; ".join(unknown))
    ExplicitSettings.from_environment(values)
    _print_json({"source": str(source), "keys": len(values), "valid": True})


shards_app = typer.Typer(
    no_args_is_help=True, help="Sharded nightly scoring, a step at a time (docs/scaling.md)."
)
app.add_typer(shards_app, name="shards")


@shards_app.command("plan")
def shards_plan(
    shards: Annotated[int, typer.Option(help="Customer-id ranges to split the night into.")] = 1,
    version: Annotated[str | None, typer.Option(help="Default: champion.")] = None,
    run_id: Annotated[str | None, typer.Option(help="Default: CC_RUN__PIPELINE_RUN_ID.")] = None,
) -> None:
    """Plan a night: the ranges go to the shard ledger; prints the run id."""
    from customer_classifier.jobs.shards import plan_night

    plan = plan_night(_settings(), shards, version, run_id)
    _print_json({"run_id": plan.run_id, "shards": [s.describe() for s in plan.shards]})


@shards_app.command("score")
def shards_score(
    run_id: Annotated[str, typer.Option(help="The planned night.")],
    shard: Annotated[int, typer.Option(help="Its number, from 1 (as errors name it).")],
) -> None:
    """Score one shard of a planned night (again, if it failed) into its staging table."""
    from customer_classifier.jobs.score import summary_dict
    from customer_classifier.jobs.shards import score_shard

    _print_json(summary_dict(score_shard(_settings(), run_id, shard - 1)))


@shards_app.command("publish")
def shards_publish(run_id: Annotated[str, typer.Option(help="The planned night.")]) -> None:
    """Check that the shards cover the night, then swap it into the predictions table."""
    from dataclasses import asdict

    from customer_classifier.jobs.shards import publish_night

    _print_json(asdict(publish_night(_settings(), run_id)))


def _error(message: str) -> None:
    """One unwrapped line (logs and pods have no terminal width), never read as markup."""
    console.print(f"[red]error:[/] {escape(message)}", soft_wrap=True)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        handlers=[CurrentStreamHandler()],
    )
    try:
        with exit_on_user_error(show=_error):
            # Outside standalone mode click returns a command's `typer.Exit(code)` status.
            status = app(args=argv, standalone_mode=False)
            if isinstance(status, int) and status:
                return status
    except SystemExit as exc:
        return int(exc.code or 0)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        return 130
    except typer.TyperException as exc:  # usage errors: unknown command, bad option
        exc.show()  # type: ignore[attr-defined]
        return int(exc.exit_code)
    return 0


if __name__ == "__main__":
    sys.exit(main())
