"""``customer-classifier rollout ...``: start, watch, pause, resume and abort a canary."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated, Any

import typer
from rich.console import Console

from customer_classifier.settings import load_settings

app = typer.Typer(
    no_args_is_help=True,
    help="Metric-gated canary rollout of a registry version on the InferenceService.",
)
out = Console()
HOST = typer.Option(
    "--api-server",
    help="Plain-HTTP Kubernetes API server (default: in-cluster, else the kubeconfig).",
    hidden=True,
)


def _print(payload: Any) -> None:
    out.print_json(json.dumps(payload, default=str))


def _decision(decision: Any) -> dict[str, Any]:
    return {
        "action": decision.action.value,
        "reason": decision.reason,
        "state": {**asdict(decision.state), "phase": decision.state.phase.value},
        "verdicts": [
            {**asdict(v), "outcome": v.outcome.value} for v in getattr(decision, "verdicts", ())
        ],
    }


@app.command("start")
def start(
    version: Annotated[str, typer.Argument(help="Registry version (or alias) to roll out.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print each step, its checks and patches.")
    ] = False,
    follow: Annotated[
        bool, typer.Option(help="Judge every interval until the rollout ends or pauses.")
    ] = True,
    api_server: Annotated[str | None, HOST] = None,
) -> None:
    """Put VERSION on the first canary step, then follow the metrics to promotion or rollback."""
    from customer_classifier.registry.ops import resolve
    from customer_classifier.rollout import plan, wiring

    settings = load_settings()
    built = wiring.build(settings, host=api_server)
    version = resolve(built.store, version)
    controller = built.controller
    if dry_run:
        if built.mode == "predictor":
            _print(plan.predictor_plan(controller.policy, built.store.uri, version))
            return
        stable = controller.traffic.stable_version()
        _print(
            plan.kserve_plan(
                controller.policy,
                built.cluster.read(),
                version,
                built.store.version_uri(version),
                built.store.version_uri(stable),
            )
        )
        return
    decision = controller.run(version) if follow else controller.begin(version)
    _print(_decision(decision))


@app.command("status")
def status(api_server: Annotated[str | None, HOST] = None) -> None:
    """The recorded rollout state, and the split KServe reports."""
    from customer_classifier.rollout import wiring
    from customer_classifier.rollout.kubernetes import observed_traffic

    built = wiring.build(load_settings(), host=api_server)
    state = built.controller.traffic.load_state()
    payload: dict[str, Any] = {
        "mode": built.mode,
        "rollout": None if state is None else {**asdict(state), "phase": state.phase.value},
    }
    if built.mode != "predictor":
        observed = observed_traffic(built.cluster.read())
        payload["observed"] = asdict(observed)
    _print(payload)


@app.command("pause")
def pause(
    reason: Annotated[str, typer.Option(help="Why; shown in the Event.")] = "paused by an operator",
    api_server: Annotated[str | None, HOST] = None,
) -> None:
    """Hold the canary where it is until `rollout resume`."""
    from customer_classifier.rollout import wiring

    _print(_decision(wiring.build(load_settings(), host=api_server).controller.pause(reason)))


@app.command("resume")
def resume(
    follow: Annotated[bool, typer.Option(help="Go on judging intervals after resuming.")] = True,
    api_server: Annotated[str | None, HOST] = None,
) -> None:
    """Judge a paused rollout again, from the start of its current step."""
    from customer_classifier.rollout import wiring
    from customer_classifier.rollout.analysis import Phase

    controller = wiring.build(load_settings(), host=api_server).controller
    decision = controller.resume()
    while follow and decision.state.phase is Phase.PROGRESSING:
        controller.wait(controller.policy.interval_s)
        decision = controller.step()
    _print(_decision(decision))


@app.command("abort")
def abort(
    reason: Annotated[
        str, typer.Option(help="Why; shown in the Event.")
    ] = "aborted by an operator",
    api_server: Annotated[str | None, HOST] = None,
) -> None:
    """Take all traffic off the canary now; the champion stays where it is."""
    from customer_classifier.rollout import wiring

    _print(_decision(wiring.build(load_settings(), host=api_server).controller.abort(reason)))
