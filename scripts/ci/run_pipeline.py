"""Start a pipeline run in an environment and wait for its end: CI's end-to-end check.

``make submit`` starts a run and returns; a CI job needs to know how it ended. This
submits the same way (:func:`pipelines.submit.submit`), then polls the run until it is
finished or ``--timeout-s`` has passed, and judges it: the run SUCCEEDED and none of its
tasks FAILED. The summary (run, state, each task's state) goes to standard output and to
``--summary`` (a job artifact). Exit status: 0 when it passed, 1 when it failed or timed
out, 2 for a mistake in the settings (an unknown ENV, an unreachable host).

    python scripts/ci/run_pipeline.py --env dev --pipeline training --timeout-s 3600 \\
        --summary build/e2e/training.json [--param as_of=2026-06-01]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from customer_classifier.entrypoint import exit_on_user_error
from customer_classifier.orchestration.targets import resolve_target
from customer_classifier.settings import load_settings
from pipelines.kfp_api import KfpApi, RunState
from pipelines.submit import parse_params, submit

FAILED_TASK_STATES = frozenset({"FAILED", "CANCELED"})


def problems(run: RunState) -> list[str]:
    """Why ``run`` does not count as a pass; empty when it does."""
    found = []
    if not run.finished:
        found.append(f"run {run.run_id} is still {run.state}")
    elif run.state != "SUCCEEDED":
        said = f": {run.error}" if run.error else ""
        found.append(f"run {run.run_id} ended {run.state}{said}")
    found += [
        f"task {name!r} ended {state}"
        for name, state in sorted(run.tasks.items())
        if state in FAILED_TASK_STATES
    ]
    return found


def wait(api: KfpApi, run_id: str, timeout_s: float, poll_s: float) -> RunState:
    """Poll until the run is finished or the deadline passes; the last state read."""
    deadline = time.monotonic() + timeout_s
    run = api.run_state(run_id)
    while not run.finished and time.monotonic() < deadline:
        time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))
        run = api.run_state(run_id)
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", required=True)
    parser.add_argument("--pipeline", default="training")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--timeout-s", type=float, default=3600.0)
    parser.add_argument("--poll-s", type=float, default=15.0)
    parser.add_argument("--summary", type=Path, default=None)
    args = parser.parse_args(argv)
    with exit_on_user_error():
        settings = load_settings()
        started = submit(settings, args.env, args.pipeline, parse_params(args.param))
        print(f"started {started['run']} ({started['run_id']})", file=sys.stderr)
        api = KfpApi.connect(settings.kfp, resolve_target(args.env, settings.kfp))
        run = wait(api, started["run_id"], args.timeout_s, args.poll_s)
    found = problems(run)
    summary = {**started, "state": run.state, "tasks": run.tasks, "problems": found}
    text = json.dumps(summary, indent=2, sort_keys=True)
    print(text)
    if args.summary is not None:
        args.summary.parent.mkdir(parents=True, exist_ok=True)
        args.summary.write_text(text + "\n", encoding="utf-8")
    for problem in found:
        print(f"run_pipeline: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
