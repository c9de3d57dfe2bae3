"""``python -m pipelines.retrain``: tonight's retraining decision, and the training run it
launches.

Reads the monitoring history and the decisions before, decides (hysteresis and
cool-down: :mod:`customer_classifier.monitoring.retrain`), records the decision in the
decisions table and, when the decision is ``retrain``, starts the training pipeline:

    python -m pipelines.retrain --env prod [--as-of 2026-07-01]   # a run on Kubeflow Pipelines
    python -m pipelines.retrain --local [--as-of 2026-07-01]      # the same pipeline in kfp.local

On the cluster the run goes through the same upload as ``make submit`` (the version named
after the code, reused when it exists) into the environment's experiment. Locally the
pipeline runs to its end, so the champion/challenger gate has decided when this returns.
The training run is given the night's as-of date and the configured precision target and
required recall, so that the gate judges the new version under the current policy.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from customer_classifier.entrypoint import exit_on_user_error
from customer_classifier.errors import ConfigurationError
from customer_classifier.jobs.retrain import RetrainOutcome, outcome_json, retrain_night
from customer_classifier.orchestration.targets import ENVIRONMENTS, resolve_target
from customer_classifier.settings import Settings, load_settings, pin_local_defaults

TRAINING = "training"


def training_params(settings: Settings, as_of: dt.date) -> dict[str, Any]:
    """The training pipeline's parameters for a retrain of the night ``as_of``."""
    return {
        "as_of": as_of.isoformat(),
        "precision_target": settings.precision_target,
        "min_recall": settings.min_recall,
    }


def cluster_launcher(settings: Settings, environment: str, as_of: dt.date) -> Callable[[], str]:
    """Start a run of the training pipeline in ``environment``'s experiment; its run id."""

    def launch() -> str:
        from pipelines.submit import submit

        return submit(settings, environment, TRAINING, training_params(settings, as_of))["run_id"]

    return launch


def local_launcher(settings: Settings, as_of: dt.date) -> Callable[[], str]:
    """Run the training pipeline through ``kfp.local`` (initialised by the caller) to its
    end; the run id the register step recorded in the new version's lineage."""

    def launch() -> str:
        from customer_classifier.registry import open_store
        from pipelines.training_pipeline import training_pipeline

        version = str(training_pipeline(**training_params(settings, as_of)).output)
        lineage = open_store(settings.store_uri, settings.s3).get(version).metadata.get("lineage")
        run_id = (lineage or {}).get("pipeline_run_id")
        return str(run_id) if run_id and run_id != "unknown" else version

    return launch


def retrain(
    settings: Settings,
    *,
    environment: str = "",
    local: bool = False,
    as_of: dt.date | None = None,
) -> RetrainOutcome:
    """Decide, record and (on ``retrain``) launch, on the cluster of ``environment`` or
    locally. The night defaults to the scoring date (``CC_AS_OF``, else the day after
    the newest sale)."""
    if not local:
        resolve_target(environment, settings.kfp)  # a wrong ENV fails before deciding
    if as_of is None:
        from customer_classifier.data.database import connect
        from customer_classifier.jobs.ingest import as_of_date

        as_of = as_of_date(settings, connect(settings.database_url))
    launch = (
        local_launcher(settings, as_of) if local else cluster_launcher(settings, environment, as_of)
    )
    return retrain_night(settings, launch, as_of=as_of)


def summary_lines(outcome: RetrainOutcome) -> list[str]:
    decision = outcome.decision
    lines = [f"{decision.as_of}: {decision.action} ({decision.reason})"]
    for trigger in decision.triggers:
        mark = "ready" if trigger.ready else ("fired" if trigger.fired else "quiet")
        lines.append(
            f"  {trigger.trigger:>19}: {mark:<5} {trigger.streak}/{trigger.required}  "
            f"{trigger.detail}"
        )
    if outcome.run_id:
        lines.append(f"  training run: {outcome.run_id}")
    return lines


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is no date; write YYYY-MM-DD") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--env", default="", help=f"one of {', '.join(ENVIRONMENTS)}")
    where.add_argument("--local", action="store_true", help="run the training in kfp.local")
    parser.add_argument("--as-of", type=_date, default=None, help="the night (YYYY-MM-DD)")
    parser.add_argument("--json", action="store_true", help="print the decision as JSON")
    args = parser.parse_args(argv)
    if args.local:
        from kfp import local

        var = Path.cwd() / "var"
        pin_local_defaults(var)  # absolute, so that every kfp.local subprocess agrees
        local.init(
            runner=local.SubprocessRunner(use_venv=False),
            pipeline_root=str(var / "local_outputs"),
            raise_on_error=True,
        )
    try:
        with exit_on_user_error():
            settings = load_settings()
            if not args.local and not args.env:
                raise ConfigurationError(
                    "say where training runs: --env "
                    f"{'|'.join(ENVIRONMENTS)} (Kubeflow Pipelines) or --local (kfp.local)"
                )
            outcome = retrain(settings, environment=args.env, local=args.local, as_of=args.as_of)
    except RuntimeError as exc:  # kfp.local: a task failed; its log is printed above
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(outcome_json(outcome) if args.json else "\n".join(summary_lines(outcome)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
