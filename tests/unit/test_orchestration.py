"""Targets, version names and the recurring-run plan: data in, data out."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from customer_classifier.errors import ConfigurationError
from customer_classifier.orchestration.schedules import (
    RecurringRun,
    RecurringRunSpec,
    check_cron,
    plan,
)
from customer_classifier.orchestration.targets import resolve_target, version_name
from customer_classifier.settings import KfpSettings

WANTED = RecurringRunSpec(
    name="nightly", pipeline_id="p", version_id="v2", cron="0 0 2 * * *", params={}
)


def _found(run_id: str, *, enabled: bool = True, **changes: Any) -> RecurringRun:
    spec = dataclasses.replace(WANTED, service_account="default-editor", **changes)
    return RecurringRun(run_id, spec, enabled)


@pytest.mark.parametrize("environment", ["dev", "test", "prod"])
def test_each_environment_has_its_namespace_and_experiment(environment: str) -> None:
    target = resolve_target(environment, KfpSettings())
    assert target.namespace == f"ml-{environment}"
    assert target.experiment == f"customer-classifier-{environment}"


def test_settings_replace_the_conventional_names() -> None:
    target = resolve_target("prod", KfpSettings(namespace="ml", experiment="nightly"))
    assert (target.namespace, target.experiment) == ("ml", "nightly")


def test_an_unknown_environment_names_the_choices() -> None:
    with pytest.raises(ConfigurationError, match="ENV is 'staging'; it must be one of dev"):
        resolve_target("staging", KfpSettings())


def test_the_version_name_follows_code_and_package() -> None:
    first = version_name("abc123", b"spec")
    assert first.startswith("abc123-")
    assert version_name("abc123", b"spec") == first
    assert version_name("abc123", b"other spec") != first
    assert version_name("feature/x y", b"spec").startswith("feature-x-y-")


def test_a_crontab_line_is_refused_with_the_six_field_form() -> None:
    assert check_cron("0  0 2 * * *", "nightly") == "0 0 2 * * *"
    with pytest.raises(ConfigurationError, match=r"has 5 field\(s\).*'0 0 2 \* \* \*'"):
        check_cron("0 2 * * *", "nightly")


def test_nothing_of_that_name_is_created() -> None:
    other = _found("r0", name="someone-elses")
    step = plan(WANTED, [other])
    assert (step.action, step.stale, step.enabled) == ("create", (), True)


def test_a_match_is_kept_whatever_service_account_the_server_filled_in() -> None:
    step = plan(WANTED, [_found("r1")])
    assert step.action == "keep"
    assert step.kept is not None
    assert step.kept.recurring_run_id == "r1"
    assert step.stale == ()


def test_the_oldest_match_is_kept_and_copies_go() -> None:
    step = plan(
        WANTED, [_found("r1", enabled=False), _found("r2"), _found("r3", cron="0 0 3 * * *")]
    )
    assert step.kept is not None
    assert step.kept.recurring_run_id == "r1"
    assert [run.recurring_run_id for run in step.stale] == ["r2", "r3"]


@pytest.mark.parametrize(
    "changes",
    [
        {"version_id": "v1"},
        {"cron": "0 0 3 * * *"},
        {"params": {"as_of": "2026-01-01"}},
        {"max_concurrency": 2},
        {"no_catchup": False},
    ],
)
def test_any_difference_replaces(changes: dict[str, Any]) -> None:
    old = _found("r1", **changes)
    step = plan(WANTED, [old])
    assert (step.action, step.stale, step.enabled) == ("replace", (old,), True)


def test_a_paused_one_is_replaced_by_a_paused_one() -> None:
    step = plan(WANTED, [_found("r1", enabled=False, version_id="v1")])
    assert (step.action, step.enabled) == ("replace", False)


def test_an_asked_for_service_account_counts() -> None:
    wanted = dataclasses.replace(WANTED, service_account="customer-classifier-pipelines")
    assert plan(wanted, [_found("r1")]).action == "replace"
