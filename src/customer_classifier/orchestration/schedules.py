"""The nightly recurring runs as data, and the plan that brings a server to them.

KFP v2 cannot change a recurring run in place: its API has create, get, list, delete,
enable and disable, and no update. A recurring run whose pipeline version, cron or
parameters differ from the wanted one is therefore replaced: the old one is disabled
first (so two never fire side by side; enabled again if the create fails), the new one
created, and the old one deleted (so the experiment keeps one recurring run per name;
the runs it started stay). A
paused (disabled) recurring run is replaced by a paused one: an operator's pause
outlives a redeploy. One that already matches is left alone, and further ones of the
same name (from a failed earlier attempt or a hand-made copy) are deleted; the first
listed (the oldest) is the one kept, paused or not.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from customer_classifier.errors import ConfigurationError

CRON_FIELDS = ("second", "minute", "hour", "day of month", "month", "day of week")
"""KFP's cron (robfig/cron with seconds): six fields, seconds first."""


def check_cron(cron: str, name: str) -> str:
    """``cron`` when it has KFP's six fields; a five-field crontab line is refused with
    the six-field line it most likely means."""
    fields = cron.split()
    if len(fields) == len(CRON_FIELDS):
        return " ".join(fields)
    hint = f"; for '{cron}' that is '0 {' '.join(fields)}'" if len(fields) == 5 else ""
    raise ConfigurationError(
        f"the cron '{cron}' of the recurring run {name!r} has {len(fields)} field(s); "
        f"KFP's cron takes 6, seconds first ({', '.join(CRON_FIELDS)}){hint}"
    )


@dataclass(frozen=True)
class Schedule:
    """One nightly recurring run: its name in the experiment, the pipeline it runs (a key
    of ``pipelines.compile.PIPELINES``; None: declared, the pipeline does not exist yet),
    the six-field cron and the run parameters."""

    name: str
    pipeline: str | None
    cron: str
    params: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""


@dataclass(frozen=True)
class RecurringRunSpec:
    """What a recurring run is made of, wanted or found on the server."""

    name: str
    pipeline_id: str | None
    version_id: str | None
    cron: str | None
    params: Mapping[str, Any]
    max_concurrency: int = 1
    no_catchup: bool = True
    service_account: str | None = None
    description: str = ""


@dataclass(frozen=True)
class RecurringRun:
    """A recurring run that exists on the server."""

    recurring_run_id: str
    spec: RecurringRunSpec
    enabled: bool


def same_spec(found: RecurringRunSpec, wanted: RecurringRunSpec) -> bool:
    """Whether ``found`` already runs what ``wanted`` asks for.

    The service account counts only when one is asked for: the server fills in the
    namespace's default otherwise, and that must not look like a change on every run.
    """
    return (
        found.version_id == wanted.version_id
        and found.cron == wanted.cron
        and dict(found.params) == dict(wanted.params)
        and found.max_concurrency == wanted.max_concurrency
        and found.no_catchup == wanted.no_catchup
        and (wanted.service_account is None or found.service_account == wanted.service_account)
    )


@dataclass(frozen=True)
class Step:
    """What to do for one wanted recurring run.

    ``keep``: one matches, the oldest is kept (``stale`` lists the other recurring runs
    of that name, to delete); ``create``: none of
    that name exists; ``replace``: ``stale`` are disabled, ``wanted`` is created
    (``enabled`` as the old one was), then ``stale`` are deleted.
    """

    action: Literal["keep", "create", "replace"]
    wanted: RecurringRunSpec
    kept: RecurringRun | None = None
    stale: tuple[RecurringRun, ...] = ()
    enabled: bool = True


def plan(wanted: RecurringRunSpec, existing: Iterable[RecurringRun]) -> Step:
    """The one step that leaves exactly one recurring run named ``wanted.name`` equal to
    ``wanted``; recurring runs of other names are never touched."""
    named = [run for run in existing if run.spec.name == wanted.name]
    matching = [run for run in named if same_spec(run.spec, wanted)]
    if matching:
        kept = matching[0]
        stale = tuple(run for run in named if run is not kept)
        return Step("keep", wanted, kept=kept, stale=stale)
    if named:
        enabled = any(run.enabled for run in named)
        return Step("replace", wanted, stale=tuple(named), enabled=enabled)
    return Step("create", wanted)
