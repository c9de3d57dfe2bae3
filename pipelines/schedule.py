"""``make schedule ENV=dev|test|prod``: the nightly recurring runs, created or brought up
to date, never duplicated.

:data:`SCHEDULES` is the whole wish: each entry names a recurring run, the pipeline it
runs, KFP's six-field cron (seconds first, in the scheduler's time zone, UTC on most
clusters) and the parameters. The current code's pipeline version is found or uploaded
as ``make submit`` does; then each recurring run of that name in the experiment is kept
when it already runs that version on that cron, and replaced otherwise (see
:mod:`customer_classifier.orchestration.schedules` for why and how). Running it again
changes nothing. Every recurring run has ``max_concurrency=1`` and ``no_catchup``: a
nightly job that was paused runs once when resumed, not once per missed night.

    python -m pipelines.schedule --env dev [--dry-run]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from customer_classifier.entrypoint import exit_on_user_error
from customer_classifier.errors import PipelinesApiError
from customer_classifier.orchestration.schedules import (
    RecurringRun,
    RecurringRunSpec,
    Schedule,
    Step,
    check_cron,
    plan,
)
from customer_classifier.orchestration.targets import ENVIRONMENTS, resolve_target
from customer_classifier.settings import Settings, load_settings
from pipelines.kfp_api import KfpApi, PipelineVersion
from pipelines.submit import upload

SCHEDULES: tuple[Schedule, ...] = (
    Schedule(
        name="customer-classifier-nightly-scoring",
        pipeline="scoring",
        cron="0 0 2 * * *",
        params={},
        description="Every night at 02:00: verify the data, score every active customer "
        "with the champion (as-of date: the day after the newest sale).",
    ),
    Schedule(
        name="customer-classifier-nightly-monitoring",
        pipeline="monitoring",
        cron="0 0 4 * * *",
        params={},
        description="Every night at 04:00, after scoring: drift against the champion's "
        "training reference, estimated precision, early labels, the newest matured night "
        "and its value against the heuristic, into the monitoring_metrics table.",
    ),
)
"""The nightly recurring runs of every environment."""


def reconcile(
    settings: Settings,
    environment: str,
    schedules: Sequence[Schedule] = SCHEDULES,
    *,
    dry_run: bool = False,
) -> list[str]:
    """Bring the experiment's recurring runs to ``schedules``; one line per schedule."""
    for entry in schedules:
        check_cron(entry.cron, entry.name)
    target = resolve_target(environment, settings.kfp)
    api = KfpApi.connect(settings.kfp, target)
    experiment_id = api.experiment_id(f"Runs of customer-classifier in {target.environment}")
    existing = api.recurring_runs(experiment_id)
    lines: list[str] = []
    versions: dict[str, PipelineVersion] = {}
    for entry in schedules:
        if entry.pipeline is None:
            lines.append(f"{entry.name}: declared, no pipeline yet: skipped")
            continue
        if entry.pipeline not in versions:
            versions[entry.pipeline] = upload(api, entry.pipeline, settings, create=not dry_run)
        version = versions[entry.pipeline]
        wanted = RecurringRunSpec(
            name=entry.name,
            pipeline_id=version.pipeline_id or None,
            version_id=version.version_id or None,
            cron=check_cron(entry.cron, entry.name),
            params=dict(entry.params),
            max_concurrency=1,
            no_catchup=True,
            service_account=settings.kfp.service_account,
            description=entry.description,
        )
        step = plan(wanted, existing)
        if not dry_run:
            _apply(api, experiment_id, step)
        shown = version.name if version.version_id else f"{version.name}, to be uploaded"
        lines.append(_describe(step, shown, dry_run))
    return lines


def _apply(api: KfpApi, experiment_id: str, step: Step) -> None:
    """Disable what is replaced, create the new one, then delete the old ones: never two
    enabled recurring runs of one name. A failed create enables the old ones again, so
    the nightly run goes on as before (and is not taken for an operator's pause later)."""
    disabled: list[RecurringRun] = []
    if step.action == "replace":
        for old in step.stale:
            if old.enabled:
                api.disable_recurring_run(old)
                disabled.append(old)
    if step.action in {"create", "replace"}:
        try:
            api.create_recurring_run(experiment_id, step.wanted, enabled=step.enabled)
        except PipelinesApiError:
            for old in disabled:
                api.enable_recurring_run(old)
            raise
    for old in step.stale:
        api.delete_recurring_run(old)


def _describe(step: Step, version: str, dry_run: bool) -> str:
    name, cron = step.wanted.name, step.wanted.cron
    will = "would be " if dry_run else ""
    if step.action == "keep":
        extra = f"; {len(step.stale)} duplicate(s) {will}deleted" if step.stale else ""
        return f"{name}: unchanged (version {version}, cron '{cron}'){extra}"
    paused = "" if step.enabled else " (paused, as before)"
    verb = "created" if step.action == "create" else "replaced"
    return f"{name}: {will}{verb}{paused} (version {version}, cron '{cron}')"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="", help=f"one of {', '.join(ENVIRONMENTS)}")
    parser.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    args = parser.parse_args(argv)
    with exit_on_user_error():
        lines = reconcile(load_settings(), args.env, dry_run=args.dry_run)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
