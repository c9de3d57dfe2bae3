"""Score every active customer with the champion and swap the predictions table in."""

from kfp import dsl
from kfp.dsl import Artifact, Input, Metrics, Output

from components.image import COMPONENT_IMAGE


@dsl.component(base_image=COMPONENT_IMAGE, install_kfp_package=False)
def score_customers(
    verification: Input[Artifact],
    metrics: Output[Metrics],
    as_of: str = "",
    model_version: str = "",
    pipeline_run_id: str = "",
) -> str:
    """Returns the model version that scored; ``verification`` orders this after the gate."""
    from customer_classifier.jobs.score import score_customers
    from customer_classifier.settings import load_settings

    del verification
    settings = load_settings(**({"as_of": as_of} if as_of else {}))
    summary = score_customers(settings, model_version or None, run_id=pipeline_run_id or None)
    metrics.log_metric("rows_written", summary.rows_written)
    metrics.log_metric("invalid_records", summary.invalid_records)
    metrics.log_metric("good", summary.good)
    metrics.log_metric("seconds", round(summary.seconds, 3))
    return summary.model_version
