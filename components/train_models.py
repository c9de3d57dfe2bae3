"""Train every candidate, choose the threshold and the model; log what the UI shows.

With ``dl_candidate`` (the GPU task's Keras model) that candidate is evaluated and
selected beside the scikit-learn ones, by the same rule, instead of being trained here.
"""

from typing import Optional

from kfp import dsl
from kfp.dsl import HTML, ClassificationMetrics, Dataset, Input, Metrics, Model, Output

from components.image import COMPONENT_IMAGE


@dsl.component(base_image=COMPONENT_IMAGE, install_kfp_package=False)
def train_models(
    features: Input[Dataset],
    model: Output[Model],
    metrics: Output[Metrics],
    classification: Output[ClassificationMetrics],
    report: Output[HTML],
    precision_target: float = 0.8,
    min_recall: float = 0.3,
    dl_candidate: Optional[Input[Model]] = None,  # noqa: UP045 - the form KFP reads
) -> str:
    """Returns the chosen candidate's name."""
    import pathlib

    from customer_classifier.data.contract import BAD, GOOD
    from customer_classifier.jobs.train import train_models as run
    from customer_classifier.settings import load_settings

    settings = load_settings(precision_target=precision_target, min_recall=min_recall)
    result = run(
        settings,
        pathlib.Path(features.path),
        pathlib.Path(model.path),
        pathlib.Path(report.path),
        dl_candidate_dir=pathlib.Path(dl_candidate.path) if dl_candidate is not None else None,
    )
    for name, value in result.metrics.items():
        metrics.log_metric(name, value)
    for name, precision in result.candidates.items():
        metrics.log_metric(f"candidate_{name}_test_precision", precision)
    for rank, (feature, drop) in enumerate(result.top_features.items(), start=1):
        metrics.log_metric(f"importance_{rank}_{feature}", drop)
    classification.log_roc_curve(result.roc.fpr, result.roc.tpr, result.roc.thresholds)
    classification.log_confusion_matrix([BAD, GOOD], result.confusion)  # class 0, 1
    model.metadata.update({"candidate": result.chosen, "threshold": result.threshold})
    return result.chosen
