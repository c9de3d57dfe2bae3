"""Nightly monitoring, after scoring: the scored night against the champion's training
reference, its estimated precision, the newest matured night and the business impact,
and a retrain when the night's decision says so."""

from kfp import dsl

from components.monitor_night import monitor_night
from pipelines.platform import on_cluster, with_pushgateway_password
from pipelines.training_pipeline import training_pipeline


@dsl.pipeline(
    name="customer-classifier-nightly-monitoring",
    description="Monitor the night nightly scoring scored: data drift of every feature "
    "against the champion's training reference, precision estimated before the labels "
    "mature, early labels against the estimate, realised figures and value against the "
    "heuristic on the newest matured night; kept in the monitoring_metrics table; "
    "retrains through the training pipeline when the triggers persist.",
)
def monitoring_pipeline(as_of: str = "") -> str:
    monitor = with_pushgateway_password(
        on_cluster(
            monitor_night(as_of=as_of, pipeline_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER),
            cpu="1",
            memory="4Gi",
        )
    )
    monitor.set_display_name("Monitor the night").set_caching_options(False)
    # A retrain the night decided on runs here, as this run's sub-DAG: the training
    # pipeline registers a challenger and its gate decides whether it ships.
    decision = monitor.outputs["Output"]
    with dsl.If(decision == "retrain", name="retrain-decided"):
        training_pipeline(as_of=as_of).set_display_name("Retrain")
    return decision
