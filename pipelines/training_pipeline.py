"""Training: verify -> ingest -> features -> [Keras on a GPU] -> train & evaluate -> register.

``train_dl`` switches the Keras candidate on. Then it trains first, in its own task on a
GPU node, and ``train_models`` evaluates it beside the scikit-learn candidates and selects
by the same rule. Off (the default, and what ``make run`` uses), no GPU is asked for.

The two branches each end in their own train and register tasks because a task outside a
``dsl.If`` cannot read an artifact made inside it, and ``kfp.local`` cannot pick an
artifact with ``dsl.OneOf``; the version registered comes out through ``dsl.OneOf``.

``precision_target`` and ``min_recall`` go to the train step, which records them (with
the promotion margin) as the version's policy, and to the register step, which refuses
a bundle trained under other terms; the gate then judges under that one policy.
"""

from typing import Any

from kfp import dsl

from components.build_features import build_features
from components.image import COMPONENT_IMAGE
from components.ingest_data import ingest_data
from components.register_model import register_model
from components.train_dl_candidate import train_dl_candidate
from components.train_models import train_models
from components.verify_data import verify_data
from customer_classifier.settings import load_settings
from pipelines.platform import on_cluster, on_gpu


def _train_and_register(
    features: Any,
    precision_target: float,
    min_recall: float,
    dl_candidate: Any = None,
) -> dsl.PipelineTask:
    inputs = {"features": features, "precision_target": precision_target, "min_recall": min_recall}
    if dl_candidate is not None:
        inputs["dl_candidate"] = dl_candidate
    train = on_cluster(
        train_models(**inputs),
        cpu="2",
        memory="4Gi",
    ).set_display_name("Train and evaluate")
    register = on_cluster(
        register_model(
            model=train.outputs["model"],
            features=features,
            pipeline_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
            image=COMPONENT_IMAGE,
            precision_target=precision_target,
            min_recall=min_recall,
        )
    )
    register.set_display_name("Register and promote").set_caching_options(False)
    return register


@dsl.pipeline(
    name="customer-classifier-training",
    description="Train good/bad customer candidates on Customers and Sales, evaluate them for "
    "precision, register the chosen model and promote it when it beats the champion.",
)
def training_pipeline(
    as_of: str = "",
    precision_target: float = 0.8,
    min_recall: float = 0.3,
    train_dl: bool = False,
    dl_max_epochs: int = 40,
) -> str:
    verify = on_cluster(verify_data(as_of=as_of))
    verify.set_display_name("Verify data").set_caching_options(False)
    ingest = on_cluster(
        ingest_data(verification=verify.outputs["profile"], as_of=as_of), memory="4Gi"
    ).set_display_name("Ingest snapshot")
    ingest.set_caching_options(False)
    features = on_cluster(build_features(snapshot=ingest.outputs["snapshot"]))
    features.set_display_name("Features and labels")
    # The quick branch first, so its tasks keep their plain names (train-models, ...).
    with dsl.If(train_dl == False, name="scikit-learn-candidates"):  # noqa: E712 - a KFP condition
        quick = _train_and_register(features.outputs["features"], precision_target, min_recall)
    with dsl.Else(name="with-keras-candidate-on-gpu"):
        dl = on_gpu(
            train_dl_candidate(features=features.outputs["features"], max_epochs=dl_max_epochs),
            load_settings().gpu,
        ).set_display_name("Train Keras candidate (GPU)")
        full = _train_and_register(
            features.outputs["features"],
            precision_target,
            min_recall,
            dl_candidate=dl.outputs["candidate"],
        )
    return dsl.OneOf(quick.outputs["version"], full.outputs["version"])
