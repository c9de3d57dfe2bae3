"""Point-in-time feature records and labels for the train, validation and test windows."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Output

from components.image import COMPONENT_IMAGE


@dsl.component(base_image=COMPONENT_IMAGE, install_kfp_package=False)
def build_features(snapshot: Input[Dataset], features: Output[Dataset]) -> None:
    import pathlib

    from customer_classifier.jobs.ingest import build_features as run
    from customer_classifier.settings import load_settings

    written = run(load_settings(), pathlib.Path(snapshot.path), pathlib.Path(features.path))
    features.metadata.update(written.to_dict()["windows"])
