"""Check that the shards cover the night, then swap it into the predictions table."""

from kfp import dsl
from kfp.dsl import Metrics, Output

from components.image import COMPONENT_IMAGE


@dsl.component(base_image=COMPONENT_IMAGE, install_kfp_package=False)
def publish_shards(shards: list[str], shard_rows: list[int], metrics: Output[Metrics]) -> str:
    """Returns the model version that scored. ``shards``: the plan's items (they name the
    run); ``shard_rows``, collected from the shard tasks, makes this wait for all of them."""
    from customer_classifier.jobs.shards import publish_night
    from customer_classifier.scoring.shards import Shard
    from customer_classifier.settings import load_settings

    del shard_rows  # the ledger in the database is what the check reads
    run_id, _ = Shard.from_json(shards[0])
    night = publish_night(load_settings(), run_id)
    metrics.log_metric("shards", night.shards)
    metrics.log_metric("rows_written", night.rows_written)
    metrics.log_metric("good", night.good)
    metrics.log_metric("seconds", round(night.seconds, 3))
    return night.model_version
