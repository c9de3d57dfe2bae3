"""A Keras network over the feature record, with the encoding it was trained on.

:class:`TabularEncoding` turns a feature frame into the network's inputs with numpy only
(so it is the same on every Keras backend): numeric features are log-scaled, a missing
value becomes 0 plus a 0/1 indicator column, and each categorical field becomes an
integer index (0 = missing or unknown) for an embedding. Normalisation is a layer of the
network itself, adapted on the training window, so the saved ``.keras`` file carries it.

:class:`KerasTabularModel` is what a bundle holds: ``predict_proba(frame) -> (n, 2)`` like
every other model. Its pickle keeps the encoding only; the network is saved beside it as
``model.keras`` by :meth:`save_artifacts` and read back by :meth:`load_artifacts`, which
``registry.bundle`` calls around ``model.joblib``. Keras is imported when a network is
loaded or used, never when this module is imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from customer_classifier.errors import RegistryError
from customer_classifier.features.build import FEATURE_SCHEMA, NULLABLE_FEATURES
from customer_classifier.features.transforms import signed_log1p

NETWORK_FILE = "model.keras"
NUMERIC_INPUT = "numeric"
CATEGORICAL_PREFIX = "cat__"
DIRECT_CALL_ROWS = 4096
"""Up to this many rows the network is called directly (an online request); above it,
``Model.predict`` batches the work (the nightly job)."""


@dataclass(frozen=True)
class TabularEncoding:
    numeric: tuple[str, ...]
    indicators: tuple[str, ...]
    """Numeric features that may be null: each gets a 0/1 'was missing' column."""
    categorical: tuple[tuple[str, tuple[str, ...]], ...]
    """(feature, vocabulary): index i + 1 is vocabulary[i]; 0 is missing or unknown."""

    @classmethod
    def from_schema(cls) -> TabularEncoding:
        numeric = tuple(f.name for f in FEATURE_SCHEMA if f.kind == "numeric")
        return cls(
            numeric=numeric,
            indicators=tuple(n for n in numeric if n in NULLABLE_FEATURES),
            categorical=tuple(
                (f.name, tuple(f.categories or ()))
                for f in FEATURE_SCHEMA
                if f.kind == "categorical"
            ),
        )

    @property
    def numeric_width(self) -> int:
        return len(self.numeric) + len(self.indicators)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self.numeric + tuple(name for name, _ in self.categorical)

    def input_name(self, feature: str) -> str:
        return f"{CATEGORICAL_PREFIX}{feature}"

    def encode(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """The network's inputs: ``numeric`` (n, width) float32 and one int32 (n,) per field."""
        missing = [name for name in self.feature_names if name not in frame.columns]
        if missing:
            raise ValueError(
                f"the feature frame lacks columns {missing}; build it with "
                "customer_classifier.features.build.build_features"
            )
        raw = frame[list(self.numeric)].to_numpy(dtype=np.float64, na_value=np.nan)
        absent = np.isnan(raw)
        values = np.where(absent, 0.0, signed_log1p(np.where(absent, 0.0, raw)))
        position = {name: i for i, name in enumerate(self.numeric)}
        flags = absent[:, [position[name] for name in self.indicators]]
        inputs = {NUMERIC_INPUT: np.hstack([values, flags]).astype(np.float32)}
        for name, vocabulary in self.categorical:
            codes = pd.Categorical(frame[name], categories=list(vocabulary)).codes
            inputs[self.input_name(name)] = (np.asarray(codes, dtype=np.int32) + 1).astype(np.int32)
        return inputs


class KerasTabularModel:
    """A trained network plus its encoding; scores feature frames like any bundle model."""

    def __init__(self, network: Any, encoding: TabularEncoding, info: dict[str, Any]) -> None:
        self.network = network
        self.encoding = encoding
        self.info = dict(info)
        """Framework, backend and training figures, for the bundle's metadata."""
        self.classes_ = np.array([0, 1])

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        if self.network is None:
            raise RegistryError(
                "this Keras model has no network loaded: load its version with "
                f"customer_classifier.registry.load_bundle, which reads {NETWORK_FILE} "
                "beside model.joblib"
            )
        if len(frame) == 0:
            return np.empty((0, 2))
        inputs = self.encoding.encode(frame)
        if len(frame) <= DIRECT_CALL_ROWS:
            from keras import ops

            raw = ops.convert_to_numpy(self.network(inputs, training=False))
        else:
            raw = self.network.predict(inputs, batch_size=DIRECT_CALL_ROWS, verbose=0)
        good = np.clip(np.asarray(raw, dtype=np.float64).reshape(-1), 0.0, 1.0)
        return np.column_stack([1.0 - good, good])

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(frame)[:, 1] >= 0.5).astype(int)

    # -- persistence: the network beside the pickle ------------------------------------

    def save_artifacts(self, folder: Path) -> list[Path]:
        """Write the network as ``model.keras`` (weights, normalisation statistics and all)."""
        if self.network is None:
            raise RegistryError("cannot save a Keras model whose network is not loaded")
        path = folder / NETWORK_FILE
        self.network.save(path)
        return [path]

    def load_artifacts(self, folder: Path) -> None:
        path = folder / NETWORK_FILE
        if not path.exists():
            raise RegistryError(
                f"{folder} holds a Keras model but no {NETWORK_FILE}: the version is "
                "incomplete; register it again from its training run"
            )
        import keras

        self.network = keras.saving.load_model(path, compile=False)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["network"] = None  # saved as model.keras, never pickled
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
