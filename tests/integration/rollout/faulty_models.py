"""Model wrappers that inject one fault each around a real fitted model.

They are pickled into registered versions and unpickled by the predictor subprocess, so
this module must stay importable there (the harness puts the repository root on the
subprocess' ``PYTHONPATH``). They expose ``predict_proba`` alone: the predictor knows no
fast path for them and scores through it, the path any unknown model takes.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import numpy as np


class InjectedFaultError(RuntimeError):
    """The failure a faulty version raises on purpose (the predictor answers 500)."""


class FaultyModel:
    """``inner`` with a share of failing calls, a delay per call, or shifted scores.

    Failures are spread evenly over calls (every second call for a share of 0.5), not
    drawn at random, so a short interval always sees its share.
    """

    def __init__(
        self,
        inner: Any,
        *,
        fail_share: float = 0.0,
        delay_s: float = 0.0,
        shift: float = 0.0,
    ) -> None:
        self.inner = inner
        self.fail_share = fail_share
        self.delay_s = delay_s
        self.shift = shift
        self._calls = 0
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_lock"]
        state["_calls"] = 0
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _fails(self) -> bool:
        with self._lock:
            self._calls += 1
            calls = self._calls
        return math.floor(calls * self.fail_share) > math.floor((calls - 1) * self.fail_share)

    def predict_proba(self, frame: Any) -> np.ndarray:
        if self.fail_share and self._fails():
            raise InjectedFaultError(f"injected fault: {self.fail_share:.0%} of calls fail")
        if self.delay_s:
            time.sleep(self.delay_s)
        good = np.asarray(self.inner.predict_proba(frame))[:, 1]
        if self.shift:
            good = np.clip(good + self.shift, 0.0, 1.0)
        return np.column_stack([1.0 - good, good])
