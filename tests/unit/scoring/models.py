"""Models for the scoring tests: the heuristic baseline (no training needed) and two
variants that break in the ways a real model can."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from customer_classifier.registry import ModelBundle
from customer_classifier.registry.bundle import FEATURE_SCHEMA_KEY, feature_schema_json
from customer_classifier.training.heuristic import HeuristicRules


def heuristic_bundle(model: Any = None) -> ModelBundle:
    return ModelBundle(
        model=model if model is not None else HeuristicRules(),
        threshold=0.5,
        # What save_bundle records: the schema the code's feature records follow.
        metadata={"candidate": "heuristic", FEATURE_SCHEMA_KEY: feature_schema_json()},
    )


class FailsOnCall(HeuristicRules):
    """The heuristic, except that scoring call number ``fail_on`` raises."""

    def __init__(self, fail_on: int = 2) -> None:
        super().__init__()
        self.fail_on = fail_on
        self.calls = 0

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        self.calls += 1
        if self.calls == self.fail_on:
            raise RuntimeError(f"model failed on scoring call {self.calls}")
        return super().predict_proba(x)


class Returns(HeuristicRules):
    """The heuristic with its first probability replaced by ``value``."""

    def __init__(self, value: float = np.nan) -> None:
        super().__init__()
        self.value = value

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        out = np.array(super().predict_proba(x), dtype=float)
        out[0, 1] = self.value
        return out
