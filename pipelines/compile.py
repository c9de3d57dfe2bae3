"""Compile the pipelines to IR YAML, the files a user uploads in the Kubeflow UI."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kfp import compiler

from pipelines.monitoring_pipeline import monitoring_pipeline
from pipelines.scoring_pipeline import scoring_pipeline
from pipelines.training_pipeline import training_pipeline

PIPELINES = {
    "training": training_pipeline,
    "scoring": scoring_pipeline,
    "monitoring": monitoring_pipeline,
}


def compile_all(output_dir: Path) -> list[Path]:
    output_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, pipeline in PIPELINES.items():
        path = output_dir / f"{name}_pipeline.yaml"
        compiler.Compiler().compile(pipeline, str(path))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output-dir", type=Path, default=Path("compiled"))
    args = parser.parse_args(argv)
    for path in compile_all(args.output_dir):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
