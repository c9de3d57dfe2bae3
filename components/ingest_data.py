"""Snapshot customers, sales aggregates and label spend for the three time windows."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Output

from components.image import COMPONENT_IMAGE


@dsl.component(base_image=COMPONENT_IMAGE, install_kfp_package=False)
def ingest_data(verification: Input[Artifact], snapshot: Output[Dataset], as_of: str = "") -> str:
    """Returns the snapshot's content hash; ``verification`` orders this after the gate."""
    import pathlib

    from customer_classifier.jobs import ingest_snapshot
    from customer_classifier.settings import load_settings

    del verification
    settings = load_settings(**({"as_of": as_of} if as_of else {}))
    manifest = ingest_snapshot(settings, pathlib.Path(snapshot.path))
    snapshot.metadata.update({"rows": manifest["rows"], "as_of": manifest["as_of"]})
    return str(manifest["content_hash"])
