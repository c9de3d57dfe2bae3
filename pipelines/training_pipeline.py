"""Training: verify -> ingest -> features -> train & evaluate -> register (champion gate)."""

from kfp import dsl

from components.build_features import build_features
from components.ingest_data import ingest_data
from components.register_model import register_model
from components.train_models import train_models
from components.verify_data import verify_data
from pipelines.platform import on_cluster


@dsl.pipeline(
    name="customer-classifier-training",
    description="Train good/bad customer candidates on Customers and Sales, evaluate them for "
    "precision, register the chosen model and promote it when it beats the champion.",
)
def training_pipeline(
    as_of: str = "", precision_target: float = 0.8, min_recall: float = 0.3
) -> str:
    verify = on_cluster(verify_data()).set_display_name("Verify data").set_caching_options(False)
    ingest = on_cluster(
        ingest_data(verification=verify.outputs["profile"], as_of=as_of), memory="4Gi"
    ).set_display_name("Ingest snapshot")
    ingest.set_caching_options(False)
    features = on_cluster(build_features(snapshot=ingest.outputs["snapshot"]))
    features.set_display_name("Features and labels")
    train = on_cluster(
        train_models(
            features=features.outputs["features"],
            precision_target=precision_target,
            min_recall=min_recall,
        ),
        cpu="2",
        memory="4Gi",
    ).set_display_name("Train and evaluate")
    register = on_cluster(register_model(model=train.outputs["model"]))
    register.set_display_name("Register and promote").set_caching_options(False)
    return register.outputs["version"]
