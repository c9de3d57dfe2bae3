"""``make submit ENV=dev|test|prod``: compile a pipeline, upload it as a version named
after the code, and start one run in the environment's experiment.

The version is ``<code version>-<package digest>`` (:func:`version_name`): submitting the
same code again reuses the version it uploaded before and only starts a new run. Images
come from ``CC_IMAGES__*`` at compile time (CI pins them to the digests it built); the
KFP host and token from ``CC_KFP__*``.

    python -m pipelines.submit --env dev [--pipeline training|scoring|monitoring]
        [--param as_of=2024-06-01]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from customer_classifier.entrypoint import exit_on_user_error
from customer_classifier.errors import ConfigurationError
from customer_classifier.orchestration.targets import ENVIRONMENTS, resolve_target, version_name
from customer_classifier.settings import Settings, load_settings
from pipelines.compile import PIPELINES, compile_all
from pipelines.kfp_api import KfpApi, PipelineVersion


def _code_version(settings: Settings) -> str:
    from customer_classifier.jobs.train import code_version

    return code_version(settings.run.code_version)


def upload(
    api: KfpApi, pipeline: str, settings: Settings, *, create: bool = True
) -> PipelineVersion:
    """Compile ``pipeline`` (a key of :data:`PIPELINES`) and find or upload its version
    (only find it, without ``create``)."""
    if pipeline not in PIPELINES:
        raise ConfigurationError(
            f"pipeline {pipeline!r} does not exist; choose one of {sorted(PIPELINES)}"
        )
    with tempfile.TemporaryDirectory(prefix="cc-compile-") as folder:
        package = next(p for p in compile_all(Path(folder)) if p.stem == f"{pipeline}_pipeline")
        content = package.read_bytes()
        info = yaml.safe_load(content.split(b"\n---", 1)[0])["pipelineInfo"]
        code = _code_version(settings)
        version = version_name(code, content)
        return api.pipeline_version(
            package,
            pipeline_name=info["name"],
            version=version,
            description=f"code {code}, package sha256 {version.rsplit('-', 1)[-1]}...",
            create=create,
        )


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """``key=value`` pairs as run parameters: JSON where the value parses as JSON
    (``0.7``, ``true``), the text itself otherwise (``2024-06-01``)."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ConfigurationError(
                f"--param {pair!r} must be KEY=VALUE (for example --param as_of=2024-06-01)"
            )
        try:
            params[key] = json.loads(text)
        except ValueError:
            params[key] = text
    return params


def submit(
    settings: Settings,
    environment: str,
    pipeline: str = "training",
    params: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """Upload (or reuse) the version and start a run; what was done, for the summary."""
    target = resolve_target(environment, settings.kfp)
    api = KfpApi.connect(settings.kfp, target)
    version = upload(api, pipeline, settings)
    experiment_id = api.experiment_id(f"Runs of customer-classifier in {target.environment}")
    started = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    run_name = f"{pipeline}-{version.name}-{started}"
    run_id = api.start_run(experiment_id, run_name, version, dict(params or {}))
    return {
        "pipeline": pipeline,
        "version": version.name,
        "version_id": version.version_id,
        "uploaded": "yes" if version.uploaded else "no (the same package was uploaded before)",
        "experiment": target.experiment,
        "namespace": target.namespace,
        "run": run_name,
        "run_id": run_id,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="", help=f"one of {', '.join(ENVIRONMENTS)}")
    parser.add_argument("--pipeline", default="training", help=f"one of {sorted(PIPELINES)}")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    with exit_on_user_error():
        summary = submit(load_settings(), args.env, args.pipeline, parse_params(args.param))
    for key, value in summary.items():
        print(f"{key:>10}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
