"""The chart's rollout Job: it runs the real CLI with settings the program accepts."""

from __future__ import annotations

from typing import Any

import click
import pytest
import typer

from customer_classifier.rollout.commands import app
from customer_classifier.settings import ExplicitSettings, unknown_keys
from tests.deploy.rendering import ENVIRONMENTS, NAMESPACES, helm_template, run_tool, values_file
from tests.deploy.renders import ROLLOUT_VALUES, rollout_job


def container(env: str) -> dict[str, Any]:
    (job,) = rollout_job(env)
    (only,) = job["spec"]["template"]["spec"]["containers"]
    return only


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_job_runs_rollout_start_of_the_version(env: str) -> None:
    (job,) = rollout_job(env)
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == "customer-classifier-pipeline"
    command = container(env)["command"]
    assert command[:3] == ["customer-classifier", "rollout", "start"]
    assert command[3] == ROLLOUT_VALUES[-1].split("=", 1)[1]
    # The arguments parse with the real CLI (parsed, not run).
    group = typer.main.get_command(app)
    with click.Context(group) as ctx:
        start = group.get_command(ctx, command[2])  # type: ignore[attr-defined]
        parsed = start.make_context(command[2], command[3:], parent=ctx)
    assert parsed.params["version"] == command[3]
    assert parsed.params["follow"] is True


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_its_settings_are_ones_the_program_reads(env: str) -> None:
    env_vars = {e["name"]: e["value"] for e in container(env)["env"] if "value" in e}
    secret_refs = {e["name"] for e in container(env)["env"] if "valueFrom" in e}
    assert secret_refs <= {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    settings_vars = {k: v for k, v in env_vars.items() if k != "HOME"}
    assert not unknown_keys(settings_vars)
    settings = ExplicitSettings.from_environment(settings_vars)
    rollout = settings.rollout
    assert rollout.namespace == NAMESPACES[env]
    assert rollout.inference_service.endswith("customer-classifier")
    assert settings.store_uri.startswith("s3://")
    assert rollout.steps[-1] == 100


def test_enabled_without_a_version_is_refused_naming_the_value() -> None:
    done = run_tool(
        "helm",
        "template",
        "x",
        "helm/customer-classifier",
        "--values",
        str(values_file("dev")),
        "--set",
        "rollout.enabled=true",
        check=False,
    )
    assert done.returncode != 0
    assert "rollout" in done.stderr
    assert "version" in done.stderr


def test_disabled_renders_no_job() -> None:
    assert not [d for d in helm_template("prod") if d.get("kind") == "Job"]
