"""Feeding the network: ``tf.data`` on TensorFlow, a ``keras.utils.PyDataset`` elsewhere.

Both read arrays that are already encoded (:class:`~customer_classifier.models.
keras_tabular.TabularEncoding`) and already in memory; neither does per-row Python work.

On TensorFlow the rows are permuted once with the seed, cut into batches, cached, and the
order of the batches reshuffled every epoch, then prefetched so the accelerator never
waits on the host. Batches are sliced, not gathered row by row, which keeps the input
pipeline far ahead of a GPU on a tabular network.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

Arrays = dict[str, np.ndarray]


def _take(inputs: Arrays, index: np.ndarray) -> Arrays:
    return {name: values[index] for name, values in inputs.items()}


def tf_dataset(
    inputs: Arrays, labels: np.ndarray, weights: np.ndarray, batch_size: int, seed: int
) -> Any:
    import tensorflow as tf

    order = np.random.default_rng(seed).permutation(len(labels))
    dataset = (
        tf.data.Dataset.from_tensor_slices((_take(inputs, order), labels[order], weights[order]))
        .batch(batch_size)
        .cache()
        .shuffle(math.ceil(len(labels) / batch_size), seed=seed, reshuffle_each_iteration=True)
        .prefetch(tf.data.AUTOTUNE)
    )
    options = tf.data.Options()
    # The data are in memory on every worker: shard by batch, not by file.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    options.deterministic = True
    return dataset.with_options(options)


def tf_eval_dataset(inputs: Arrays, labels: np.ndarray, batch_size: int) -> Any:
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return (
        tf.data.Dataset.from_tensor_slices((inputs, labels))
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
        .with_options(options)
    )


def array_batches(
    inputs: Arrays, labels: np.ndarray, weights: np.ndarray, batch_size: int, seed: int
) -> Any:
    """A ``keras.utils.PyDataset`` over the arrays, reshuffled each epoch (JAX, PyTorch)."""
    import keras

    class ArrayBatches(keras.utils.PyDataset):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self._rng = np.random.default_rng(seed)
            self._order = self._rng.permutation(len(labels))

        def __len__(self) -> int:
            return math.ceil(len(labels) / batch_size)

        def __getitem__(self, index: int) -> tuple[Arrays, np.ndarray, np.ndarray]:
            rows = np.sort(self._order[index * batch_size : (index + 1) * batch_size])
            return _take(inputs, rows), labels[rows], weights[rows]

        def on_epoch_end(self) -> None:
            self._order = self._rng.permutation(len(labels))

    return ArrayBatches()


def training_data(
    backend: str,
    inputs: Arrays,
    labels: np.ndarray,
    weights: np.ndarray,
    batch_size: int,
    seed: int,
) -> Any:
    if backend == "tensorflow":
        return tf_dataset(inputs, labels, weights, batch_size, seed)
    return array_batches(inputs, labels, weights, batch_size, seed)


def validation_input(backend: str, inputs: Arrays, labels: np.ndarray, batch_size: int) -> Any:
    if backend == "tensorflow":
        return tf_eval_dataset(inputs, labels, batch_size)
    return (inputs, labels)
