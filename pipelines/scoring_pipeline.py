"""Nightly scoring: verify -> plan the shards -> score each shard (ParallelFor) -> publish.

``shards`` is a run parameter (default 1: one task scores everyone). How many shard
tasks run at once is fixed when compiling (``CC_SHARDS__PARALLELISM``): KFP 2.17's
``dsl.ParallelFor`` takes its ``parallelism`` as a plain int, not a pipeline parameter.
"""

from kfp import dsl

from components.plan_shards import plan_shards
from components.publish_shards import publish_shards
from components.score_shard import score_shard
from components.verify_data import verify_data
from customer_classifier.settings import load_settings
from pipelines.platform import on_cluster

SHARDS = load_settings().shards


@dsl.pipeline(
    name="customer-classifier-nightly-scoring",
    description="Verify Customers and Sales, score every active customer with the champion "
    "model in parallel customer-id shards, and replace the customer_predictions table "
    "atomically once every shard has finished.",
)
def scoring_pipeline(as_of: str = "", model_version: str = "", shards: int = 1) -> str:
    verify = on_cluster(verify_data(as_of=as_of, nightly=True))
    verify.set_display_name("Verify data").set_caching_options(False)
    plan = on_cluster(
        plan_shards(
            verification=verify.outputs["profile"],
            shards=shards,
            as_of=as_of,
            model_version=model_version,
            pipeline_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
        ),
        cpu="500m",
        memory="512Mi",
    )
    plan.set_display_name("Plan shards").set_caching_options(False)
    with dsl.ParallelFor(plan.output, parallelism=SHARDS.parallelism) as shard:
        score = on_cluster(
            score_shard(shard=shard),
            cpu=SHARDS.cpu,
            memory=SHARDS.memory,
        )
        score.set_display_name("Score shard").set_caching_options(False)
    publish = on_cluster(
        publish_shards(shards=plan.output, shard_rows=dsl.Collected(score.outputs["Output"])),
        cpu="1",
        memory="1Gi",
    )
    publish.set_display_name("Publish predictions").set_caching_options(False)
    return publish.outputs["Output"]
