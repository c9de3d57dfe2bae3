"""Score one shard of the night into its own staging table."""

from kfp import dsl
from kfp.dsl import Metrics, Output

from components.image import COMPONENT_IMAGE


@dsl.component(base_image=COMPONENT_IMAGE, install_kfp_package=False)
def score_shard(shard: str, metrics: Output[Metrics]) -> int:
    """Returns the rows written; ``shard`` is one item of ``plan_shards``."""
    from customer_classifier.jobs.shards import score_shard as run
    from customer_classifier.scoring.shards import Shard
    from customer_classifier.settings import load_settings

    run_id, planned = Shard.from_json(shard)
    summary = run(load_settings(), run_id, planned.index)
    metrics.log_metric("rows_written", summary.rows_written)
    metrics.log_metric("active_customers", summary.active_customers)
    metrics.log_metric("invalid_records", summary.invalid_records)
    metrics.log_metric("seconds", round(summary.seconds, 3))
    return summary.rows_written
