"""Nightly scoring: verify -> score every active customer with the champion."""

from kfp import dsl

from components.score_customers import score_customers
from components.verify_data import verify_data
from pipelines.platform import on_cluster


@dsl.pipeline(
    name="customer-classifier-nightly-scoring",
    description="Verify Customers and Sales, then score every active customer with the "
    "champion model and replace the customer_predictions table atomically.",
)
def scoring_pipeline(as_of: str = "", model_version: str = "") -> str:
    verify = on_cluster(verify_data(as_of=as_of, nightly=True))
    verify.set_display_name("Verify data").set_caching_options(False)
    score = on_cluster(
        score_customers(
            verification=verify.outputs["profile"],
            as_of=as_of,
            model_version=model_version,
            pipeline_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
        ),
        cpu="2",
        memory="2Gi",
    )
    score.set_display_name("Score customers").set_caching_options(False)
    return score.outputs["Output"]
