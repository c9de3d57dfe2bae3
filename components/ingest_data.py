"""Snapshot customers, sales aggregates and label spend for the three time windows."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Output

from components.image import COMPONENT_IMAGE


@dsl.component(base_image=COMPONENT_IMAGE, install_kfp_package=False)
def ingest_data(verification: Input[Artifact], snapshot: Output[Dataset], as_of: str = "") -> str:
    """Returns the snapshot's content hash; ``verification`` (the verify step's result) is
    recorded in the snapshot's manifest, the evidence the gate checks."""
    import pathlib

    from customer_classifier.jobs.ingest import ingest_data as run
    from customer_classifier.settings import load_settings

    settings = load_settings(**({"as_of": as_of} if as_of else {}))
    written = run(
        settings, pathlib.Path(snapshot.path), verification=pathlib.Path(verification.path)
    )
    snapshot.metadata.update({"rows": written.rows, "as_of": written.as_of})
    return written.content_hash
