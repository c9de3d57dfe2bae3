"""Plan the night: split the customers into id ranges, one per shard task."""

from kfp import dsl
from kfp.dsl import Artifact, Input

from components.image import COMPONENT_IMAGE


@dsl.component(base_image=COMPONENT_IMAGE, install_kfp_package=False)
def plan_shards(
    verification: Input[Artifact],
    shards: int = 1,
    as_of: str = "",
    model_version: str = "",
    pipeline_run_id: str = "",
) -> list[str]:
    """One JSON item (run id and range) per shard for the ParallelFor; ``verification``
    orders this after it."""
    from customer_classifier.jobs.shards import plan_night
    from customer_classifier.settings import load_settings

    del verification
    settings = load_settings(**({"as_of": as_of} if as_of else {}))
    plan = plan_night(settings, shards, model_version or None, pipeline_run_id or None)
    return [s.to_json(plan.run_id) for s in plan.shards]
