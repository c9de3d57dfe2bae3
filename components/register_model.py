"""Register the trained bundle and run the champion gate; the decision is a run artifact.

``decision`` (Markdown) is what the Kubeflow UI shows; ``decision_json`` is the same
decision for machines. ``features`` (optional) lets the gate re-score the champion on
this run's test window; ``pipeline_run_id`` and ``image`` go into the version's lineage.
``precision_target`` and ``min_recall`` are the pipeline's: the bundle must have been
trained under them, and the gate judges under the policy the bundle records, whatever
``CC_MIN_RECALL`` or ``CC_PRECISION_TARGET`` say in this task's environment.
"""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Markdown, Model, Output

from components.image import COMPONENT_IMAGE


@dsl.component(base_image=COMPONENT_IMAGE, install_kfp_package=False)
def register_model(
    model: Input[Model],
    decision: Output[Markdown],
    decision_json: Output[Artifact],
    features: Input[Dataset] = None,
    pipeline_run_id: str = "",
    image: str = "",
    precision_target: float = 0.8,
    min_recall: float = 0.3,
) -> NamedTuple("Registered", [("version", str), ("promoted", bool)]):
    import pathlib
    from collections import namedtuple

    from customer_classifier.jobs.register import register_model as run
    from customer_classifier.settings import load_settings

    result = run(
        load_settings(),
        pathlib.Path(model.path),
        features_dir=pathlib.Path(features.path) if features is not None else None,
        run={"pipeline_run_id": pipeline_run_id, "image": image},
        expected_policy={"precision_target": precision_target, "min_recall": min_recall},
    )
    pathlib.Path(decision.path).write_text(result.markdown, encoding="utf-8")
    pathlib.Path(decision_json.path).write_text(result.to_json(), encoding="utf-8")
    decision_json.metadata.update({"version": result.version, "promoted": result.promoted})
    registered = namedtuple("Registered", ["version", "promoted"])
    return registered(result.version, result.promoted)
