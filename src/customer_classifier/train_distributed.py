"""Train the Keras candidate across several GPU nodes: the entry point a TFJob runs.

Every worker of the TFJob runs the same command; the Kubeflow Training Operator sets
``TF_CONFIG`` for each, and :mod:`~customer_classifier.training.accelerator` turns a
``TF_CONFIG`` with more than one task into a ``MultiWorkerMirroredStrategy``: each
worker reads the same features, ``tf.data`` shards the batches between them, and the
gradients are all-reduced (NCCL on GPUs). The chief (worker 0 when there is no chief)
writes the candidate folder; the others write theirs to a scratch folder that is
removed, as ``MultiWorkerMirroredStrategy`` wants every worker to save.

    python -m customer_classifier.train_distributed train \\
        --features /data/features --output /data/candidates/keras_mlp

The folder it writes is what the pipeline's ``train_dl_candidate`` task writes. ``select``
then trains the other candidates and selects among all of them by the common rule,
writing the bundle that ``customer-classifier register --bundle`` registers:

    python -m customer_classifier.train_distributed select \\
        --features /data/features --candidate /data/candidates/keras_mlp \\
        --bundle /data/bundle --report /data/training.html

See docs/gpu-training.md and manifests/components/training-gpu/tfjob.yaml.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
from pathlib import Path

from customer_classifier.entrypoint import exit_on_user_error
from customer_classifier.settings import Settings, load_settings
from customer_classifier.training.accelerator import is_chief


def parser() -> argparse.ArgumentParser:
    out = argparse.ArgumentParser(
        prog="python -m customer_classifier.train_distributed",
        description="Train the Keras candidate, on one node or, under a TFJob, on several; "
        "then select among all candidates.",
    )
    steps = out.add_subparsers(dest="step", required=True)
    train = steps.add_parser("train", help="train the Keras candidate (every TFJob worker)")
    train.add_argument("--features", type=Path, required=True, help="features folder")
    train.add_argument("--output", type=Path, required=True, help="candidate folder to write")
    train.add_argument("--max-epochs", type=int, default=None, help="overrides CC_DL__MAX_EPOCHS")
    select = steps.add_parser("select", help="train the others and select among all")
    select.add_argument("--features", type=Path, required=True, help="features folder")
    select.add_argument("--candidate", type=Path, required=True, help="the trained candidate")
    select.add_argument("--bundle", type=Path, required=True, help="bundle folder to write")
    select.add_argument("--report", type=Path, required=True, help="HTML report to write")
    return out


def _train(args: argparse.Namespace, settings: Settings) -> dict[str, object]:
    from customer_classifier.jobs.train import train_dl_candidate

    overrides = {} if args.max_epochs is None else {"max_epochs": args.max_epochs}
    chief = is_chief(settings.dl.tf_config)
    target = args.output if chief else Path(tempfile.mkdtemp(prefix="keras-candidate-"))
    try:
        info = train_dl_candidate(settings, args.features, target, **overrides)
    finally:
        if not chief:
            shutil.rmtree(target, ignore_errors=True)
    summary = {k: v for k, v in info.items() if k != "epochs"}
    return {"chief": chief, "output": str(args.output), **summary}


def _select(args: argparse.Namespace, settings: Settings) -> dict[str, object]:
    from customer_classifier.jobs.train import train_models

    result = train_models(
        settings, args.features, args.bundle, args.report, dl_candidate_dir=args.candidate
    )
    return {
        "chosen": result.chosen,
        "threshold": result.threshold,
        "bundle": str(args.bundle),
    }


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    with exit_on_user_error():
        settings = load_settings()
        out = _train(args, settings) if args.step == "train" else _select(args, settings)
    print(json.dumps(out, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
