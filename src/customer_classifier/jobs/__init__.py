"""The steps of the pipelines as plain functions: settings and paths in, summaries out.

KFP components and the CLI both call these, so a step runs the same on a laptop, in
``kfp.local`` and on the cluster. I/O happens here, at the edge; the logic they call
takes and returns data. Each step lives in its own module and this package imports
them lazily, so a verification task never pays for importing scikit-learn.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "verify_data": "verify",
    "last_sale_date": "ingest",
    "training_dates": "ingest",
    "frame_hash": "ingest",
    "ingest_data": "ingest",
    "build_features": "ingest",
    "code_version": "train",
    "train_models": "train",
    "register_model": "register",
    "score_customers": "score",
    "summary_dict": "score",
    "plan_night": "shards",
    "score_shard": "shards",
    "publish_night": "shards",
    "monitor_night": "monitor",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
