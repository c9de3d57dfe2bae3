"""The deep-learning candidate: a Keras 3 tabular network, as a scikit-learn estimator.

Backend-neutral (TensorFlow in production; JAX or PyTorch through ``KERAS_BACKEND``):
numeric features go through a ``Normalization`` layer adapted on the training window,
each categorical field through an ``Embedding``, then dense layers with dropout and a
sigmoid. The classes are weighted against the imbalance, seeds are fixed, and early
stopping watches PR AUC on the validation window and restores the best epoch.

On a GPU the network computes in ``mixed_float16`` (variables stay float32); the saved
network is always a float32 copy, so it scores the same on a CPU. The fitted estimator's
``deployable_`` is the :class:`~customer_classifier.models.keras_tabular.
KerasTabularModel` a bundle holds; training code never reaches serving.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from customer_classifier.errors import TrainingError
from customer_classifier.models.keras_tabular import (
    NUMERIC_INPUT,
    KerasTabularModel,
    TabularEncoding,
)
from customer_classifier.settings import DeepLearningSettings
from customer_classifier.training.accelerator import (
    Device,
    choose_strategy,
    detect_device,
    gpu_utilisation,
    make_strategy,
    scaled_batch_size,
)
from customer_classifier.training.input_pipeline import training_data, validation_input
from customer_classifier.training.names import KERAS_MLP

log = logging.getLogger(__name__)
NAME = KERAS_MLP
DESCRIPTION = (
    "Keras tabular network: normalised numeric features, embeddings of the categorical "
    "fields, dense layers with dropout; class-weighted, early-stopped on validation PR AUC."
)


def balanced_weights(labels: np.ndarray, mode: str) -> np.ndarray:
    """Per-row weights that give both classes the same total weight (mean weight 1)."""
    weights = np.ones(len(labels), dtype=np.float32)
    if mode == "none":
        return weights
    positives = float(labels.sum())
    negatives = float(len(labels) - positives)
    if positives == 0 or negatives == 0:
        raise TrainingError(
            f"the training window has only one label ({int(positives)} good of {len(labels)}); "
            "widen the history, or change CC_LABEL__MIN_SPEND / CC_LABEL__HORIZON_DAYS"
        )
    weights[labels == 1] = len(labels) / (2.0 * positives)
    weights[labels == 0] = len(labels) / (2.0 * negatives)
    return weights


def embedding_width(categories: int, cap: int) -> int:
    return int(min(cap, max(2, math.ceil(1.6 * (categories + 1) ** 0.56))))


def build_network(
    encoding: TabularEncoding,
    settings: DeepLearningSettings,
    dtype_policy: str,
    numeric_sample: np.ndarray | None,
) -> Any:
    """The functional network; its ``Normalization`` is adapted on ``numeric_sample``.

    Without a sample (an export copy) the layer is left to receive its statistics with
    the weights of the trained network.
    """
    import keras
    from keras import layers

    numeric = keras.Input(shape=(encoding.numeric_width,), name=NUMERIC_INPUT, dtype="float32")
    normalise = layers.Normalization(name="normalise", dtype="float32")
    if numeric_sample is not None:
        normalise.adapt(numeric_sample)
    inputs = {NUMERIC_INPUT: numeric}
    parts = [normalise(numeric)]
    for name, vocabulary in encoding.categorical:
        field = keras.Input(shape=(), name=encoding.input_name(name), dtype="int32")
        inputs[encoding.input_name(name)] = field
        width = embedding_width(len(vocabulary), settings.embedding_dim)
        embed = layers.Embedding(
            len(vocabulary) + 1, width, name=f"embed_{name}", dtype=dtype_policy
        )
        parts.append(embed(field))
    hidden = layers.Concatenate(name="features", dtype=dtype_policy)(parts)
    for i, units in enumerate(settings.hidden_units):
        hidden = layers.Dense(units, activation="relu", name=f"dense_{i}", dtype=dtype_policy)(
            hidden
        )
        hidden = layers.Dropout(settings.dropout, name=f"dropout_{i}", dtype=dtype_policy)(hidden)
    good = layers.Dense(1, activation="sigmoid", name="good", dtype="float32")(hidden)
    return keras.Model(inputs=inputs, outputs=good, name="customer_mlp")


class EpochLog:
    """Keras callback: seconds, samples/s and device utilisation of each epoch."""

    def __init__(self, rows: int, device: Device) -> None:
        import keras

        outer = self

        class _Callback(keras.callbacks.Callback):  # type: ignore[misc]
            def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
                outer._started = time.perf_counter()

            def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
                outer.record(epoch, logs or {})

        self.rows = rows
        self.device = device
        self.epochs: list[dict[str, float]] = []
        self._started = time.perf_counter()
        self.callback = _Callback()

    def record(self, epoch: int, logs: dict[str, Any]) -> None:
        seconds = time.perf_counter() - self._started
        entry = {
            "epoch": float(epoch + 1),
            "seconds": seconds,
            "samples_per_second": self.rows / seconds if seconds > 0 else 0.0,
            **{k: float(v) for k, v in logs.items()},
        }
        if self.device.kind == "gpu":
            entry.update(gpu_utilisation() or {})
        self.epochs.append(entry)
        log.info(
            "epoch %d: %.2f s, %.0f samples/s, loss %.4f, val PR AUC %.4f",
            epoch + 1,
            seconds,
            entry["samples_per_second"],
            entry.get("loss", float("nan")),
            entry.get("val_pr_auc", float("nan")),
        )

    def summary(self) -> dict[str, float]:
        """Figures of the steady state: the first epoch (tracing, compiling) is left out
        when there is more than one."""
        steady = self.epochs[1:] or self.epochs
        seconds = float(np.median([e["seconds"] for e in steady]))
        return {
            "epochs_run": float(len(self.epochs)),
            "epoch_seconds": seconds,
            "first_epoch_seconds": self.epochs[0]["seconds"],
            "samples_per_second": self.rows / seconds if seconds > 0 else 0.0,
        }


def _enable_determinism(backend: str) -> None:
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


@contextlib.contextmanager
def _scope(strategy: Any) -> Iterator[None]:
    if strategy is None:
        yield
    else:
        with strategy.scope():
            yield


class KerasMLPClassifier(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """A scikit-learn estimator around the Keras network.

    ``fit(X, y, validation_data=(X_valid, y_valid))`` trains with early stopping on the
    validation window (without it, on the last tenth of the training rows). Fitted:
    ``deployable_`` (what a bundle holds), ``params_`` (hyper-parameters and the device)
    and ``training_`` (per-epoch figures and the throughput summary).
    """

    def __init__(self, settings: DeepLearningSettings | None = None, seed: int = 42) -> None:
        self.settings = settings
        self.seed = seed

    def fit(
        self,
        X: pd.DataFrame,  # noqa: N803 - scikit-learn naming
        y: Any,
        validation_data: tuple[pd.DataFrame, Any] | None = None,
    ) -> KerasMLPClassifier:
        import keras

        settings = self.settings or DeepLearningSettings()
        frame, labels = X, np.asarray(y, dtype=np.float32).reshape(-1)
        if validation_data is None:
            cut = int(len(labels) * 0.9)
            validation_data = (frame.iloc[cut:], labels[cut:])
            frame, labels = frame.iloc[:cut], labels[:cut]
        keras.utils.set_random_seed(self.seed)
        device = detect_device()
        if settings.deterministic:
            _enable_determinism(device.backend)
        strategy_name = choose_strategy(settings.strategy, device, settings.tf_config)
        strategy = make_strategy(strategy_name, device)
        replicas = int(strategy.num_replicas_in_sync) if strategy is not None else 1
        mixed = settings.mixed_precision == "on" or (
            settings.mixed_precision == "auto" and device.kind == "gpu"
        )
        policy = "mixed_float16" if mixed else "float32"
        encoding = TabularEncoding.from_schema()
        x_train = encoding.encode(frame)
        x_valid = encoding.encode(validation_data[0])
        y_valid = np.asarray(validation_data[1], dtype=np.float32).reshape(-1)
        weights = balanced_weights(labels, settings.class_weight)
        batch = scaled_batch_size(
            device,
            cpu=settings.batch_size_cpu,
            per_gpu=settings.batch_size_per_gpu,
            replicas=replicas,
            rows=len(labels),
            min_steps=settings.min_steps_per_epoch,
        )
        steps = math.ceil(len(labels) / batch)
        per_call = settings.steps_per_execution or (
            1 if device.backend == "torch" else min(32, steps)
        )
        log.info(
            "training %s on %s: %d rows, batch %d (%d replicas), %s, strategy %s",
            NAME,
            device.describe(),
            len(labels),
            batch,
            replicas,
            policy,
            strategy_name,
        )
        with _scope(strategy):
            network = build_network(encoding, settings, policy, x_train[NUMERIC_INPUT])
            optimizer = keras.optimizers.Adam(learning_rate=settings.learning_rate)
            if mixed:
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            network.compile(
                optimizer=optimizer,
                loss="binary_crossentropy",
                metrics=[keras.metrics.AUC(curve="PR", name="pr_auc")],
                steps_per_execution=per_call,
            )
        epochs = EpochLog(len(labels), device)
        stop = keras.callbacks.EarlyStopping(
            monitor="val_pr_auc",
            mode="max",
            patience=settings.patience,
            restore_best_weights=True,
        )
        network.fit(
            training_data(device.backend, x_train, labels, weights, batch, self.seed),
            validation_data=validation_input(device.backend, x_valid, y_valid, batch),
            epochs=settings.max_epochs,
            callbacks=[epochs.callback, stop],
            shuffle=False,  # the input pipeline reshuffles every epoch itself
            verbose=0,
        )
        if mixed or strategy is not None:
            # A plain float32 network on one device: what scoring on a CPU wants.
            export = build_network(encoding, settings, "float32", None)
            export.set_weights(network.get_weights())
        else:
            export = network
        best = max(epochs.epochs, key=lambda e: e.get("val_pr_auc", -1.0))
        throughput = epochs.summary()
        self.params_ = {
            "hidden_units": list(settings.hidden_units),
            "dropout": settings.dropout,
            "learning_rate": settings.learning_rate,
            "batch_size": batch,
            "best_epoch": int(best["epoch"]),
            "dtype_policy": policy,
            "device": device.describe(),
            "samples_per_second": round(throughput["samples_per_second"], 1),
        }
        self.training_ = {
            "device": device.describe(),
            "device_kind": device.kind,
            "replicas": replicas,
            "strategy": strategy_name,
            "batch_size": batch,
            "dtype_policy": policy,
            "train_rows": len(labels),
            "best_epoch": int(best["epoch"]),
            "best_val_pr_auc": float(best.get("val_pr_auc", float("nan"))),
            **throughput,
            "epochs": epochs.epochs,
        }
        self.deployable_ = KerasTabularModel(
            export,
            encoding,
            {
                "framework": "keras",
                "keras_version": keras.__version__,
                "backend": device.backend,
                "trained_dtype_policy": policy,
            },
        )
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        return self.deployable_.predict_proba(X)

    def predict(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        return self.deployable_.predict(X)
