"""Monitor the scored night: drift, estimated and realised precision, business impact.

``metrics`` carries the headline figures for the Kubeflow UI; ``report`` is the night's
HTML page and ``summary`` the same night as JSON for machines. The figures also go to the
monitoring history table and, when configured, the Pushgateway (inside the job).
"""

from kfp import dsl
from kfp.dsl import HTML, Artifact, Metrics, Output

from components.image import COMPONENT_IMAGE


@dsl.component(base_image=COMPONENT_IMAGE, install_kfp_package=False)
def monitor_night(
    metrics: Output[Metrics],
    report: Output[HTML],
    summary: Output[Artifact],
    as_of: str = "",
    pipeline_run_id: str = "",
) -> str:
    """Returns the night's retraining decision (quiet, skip, cooldown, retrain): on
    ``retrain`` the pipeline runs the training pipeline next, in this run, so the
    decision is recorded with this run's id as the launched run."""
    import pathlib
    import shutil
    import tempfile

    from customer_classifier.jobs.monitor import monitor_night as run
    from customer_classifier.settings import load_settings

    settings = load_settings(**({"as_of": as_of} if as_of else {}))
    with tempfile.TemporaryDirectory(prefix="cc-monitoring-") as folder:
        result = run(
            settings,
            pathlib.Path(folder),
            run_id=pipeline_run_id or None,
            launch=lambda: pipeline_run_id or "this monitoring run",
        )
        shutil.copyfile(result.html_path, report.path)
        shutil.copyfile(result.json_path, summary.path)
    for name, value in result.headline.items():
        metrics.log_metric(name, value)
    summary.metadata.update(
        {"as_of": result.as_of.isoformat(), "model_version": result.model_version}
    )
    return result.retrain_action or "quiet"
