"""Train the Keras candidate on a GPU node; the model and its throughput are the outputs.

It runs in its own image (``images/training-gpu.Dockerfile``: TensorFlow with CUDA and the
package); set CC_IMAGES__TRAINING_GPU when compiling for a cluster. The pipeline gives this
task, and no other, the GPU, its toleration, node selector and shared memory.
"""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from components.image import TRAINING_GPU_IMAGE


@dsl.component(base_image=TRAINING_GPU_IMAGE, install_kfp_package=False)
def train_dl_candidate(
    features: Input[Dataset],
    candidate: Output[Model],
    metrics: Output[Metrics],
    max_epochs: int = 40,
) -> str:
    """Returns the device it trained on."""
    import pathlib

    from customer_classifier.jobs.train import train_dl_candidate as run
    from customer_classifier.settings import load_settings

    info = run(
        load_settings(),
        pathlib.Path(features.path),
        pathlib.Path(candidate.path),
        max_epochs=max_epochs,
    )
    for name in ("samples_per_second", "epoch_seconds", "epochs_run", "best_val_pr_auc"):
        metrics.log_metric(name, float(info[name]))
    metrics.log_metric("batch_size", float(info["batch_size"]))
    candidate.metadata.update({"candidate": info["name"], "device": info["device"]})
    return str(info["device"])
