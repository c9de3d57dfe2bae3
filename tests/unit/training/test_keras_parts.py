"""The Keras candidate's parts that need no network: encoding, weights, batch, strategy.

None of these import Keras, so they run in the fast suite.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from customer_classifier.errors import ConfigurationError, TrainingError
from customer_classifier.features.build import (
    CATEGORICAL_FEATURES,
    FEATURE_NAMES,
    FEATURE_SCHEMA,
    NUMERIC_FEATURES,
)
from customer_classifier.models.keras_tabular import NUMERIC_INPUT, TabularEncoding
from customer_classifier.settings import DeepLearningSettings, load_settings
from customer_classifier.training.accelerator import (
    Device,
    choose_strategy,
    is_chief,
    scaled_batch_size,
    tf_config_workers,
)
from customer_classifier.training.keras_mlp import balanced_weights, embedding_width

CPU = Device("tensorflow", "cpu", 1, "CPU")
TWO_GPUS = Device("tensorflow", "gpu", 2, "NVIDIA H100")


def records(n: int = 3) -> pd.DataFrame:
    frame = pd.DataFrame({name: np.arange(n, dtype=float) for name in NUMERIC_FEATURES})
    for spec in FEATURE_SCHEMA:
        if spec.kind == "categorical":
            frame[spec.name] = [spec.categories[0]] * n  # type: ignore[index]
    return frame[list(FEATURE_NAMES)]


def test_encoding_log_scales_and_flags_missing_numbers() -> None:
    encoding = TabularEncoding.from_schema()
    frame = records()
    frame.loc[1, "age"] = np.nan
    frame.loc[2, "spend_total"] = 999.0
    numeric = encoding.encode(frame)[NUMERIC_INPUT]
    assert numeric.dtype == np.float32
    assert numeric.shape == (3, len(NUMERIC_FEATURES) + len(encoding.indicators))
    age = NUMERIC_FEATURES.index("age")
    flag = len(NUMERIC_FEATURES) + encoding.indicators.index("age")
    assert numeric[1, age] == 0.0
    assert numeric[1, flag] == 1.0
    assert numeric[0, flag] == 0.0
    spend = NUMERIC_FEATURES.index("spend_total")
    assert numeric[2, spend] == pytest.approx(np.log1p(999.0), rel=1e-6)
    assert not np.isnan(numeric).any()


def test_encoding_gives_missing_and_unknown_categories_index_zero() -> None:
    encoding = TabularEncoding.from_schema()
    name, vocabulary = encoding.categorical[0]
    frame = records(4)
    frame[name] = [vocabulary[0], vocabulary[-1], None, "not-a-category"]
    codes = encoding.encode(frame)[encoding.input_name(name)]
    assert codes.dtype == np.int32
    assert codes.tolist() == [1, len(vocabulary), 0, 0]
    assert {n for n, _ in encoding.categorical} == set(CATEGORICAL_FEATURES)


def test_encoding_names_missing_columns() -> None:
    with pytest.raises(ValueError, match=r"lacks columns \['spend_total'\]"):
        TabularEncoding.from_schema().encode(records().drop(columns="spend_total"))


def test_balanced_weights_give_each_class_half_the_weight() -> None:
    labels = np.array([1, 0, 0, 0, 0, 0, 0, 0])
    weights = balanced_weights(labels, "balanced")
    assert weights[labels == 1].sum() == pytest.approx(weights[labels == 0].sum())
    assert weights.mean() == pytest.approx(1.0)
    assert (balanced_weights(labels, "none") == 1.0).all()
    with pytest.raises(TrainingError, match="only one label"):
        balanced_weights(np.zeros(5), "balanced")


def test_embedding_width_grows_with_categories_up_to_the_cap() -> None:
    widths = [embedding_width(n, 8) for n in (2, 5, 20, 1000)]
    assert widths == sorted(widths)
    assert widths[0] >= 2
    assert widths[-1] == 8


@pytest.mark.parametrize(
    ("device", "replicas", "rows", "expected"),
    [
        (CPU, 1, 1_000_000, 512),  # the CPU batch
        (TWO_GPUS, 2, 1_000_000, 16_384),  # per-GPU batch times replicas
        (CPU, 1, 1_359, 64),  # small window: at least 16 steps an epoch
        (TWO_GPUS, 2, 100, 64),  # never below 32 rows a replica
    ],
)
def test_batch_size_follows_the_device(
    device: Device, replicas: int, rows: int, expected: int
) -> None:
    got = scaled_batch_size(
        device, cpu=512, per_gpu=8192, replicas=replicas, rows=rows, min_steps=16
    )
    assert got == expected


def tf_config(workers: int, index: int = 0, chief: bool = False) -> str:
    cluster: dict[str, list[str]] = {"worker": [f"w{i}:2222" for i in range(workers)]}
    if chief:
        cluster["chief"] = ["c:2222"]
    role = "worker"
    return json.dumps({"cluster": cluster, "task": {"type": role, "index": index}})


def test_strategy_follows_tf_config_and_local_gpus() -> None:
    assert choose_strategy("auto", CPU, "") == "default"
    assert choose_strategy("auto", CPU, tf_config(1)) == "default"
    assert choose_strategy("auto", CPU, tf_config(2)) == "multi_worker"
    assert choose_strategy("auto", TWO_GPUS, "") == "mirrored"
    assert choose_strategy("auto", Device("jax", "gpu", 2, "GPU"), tf_config(2)) == "default"
    assert tf_config_workers(tf_config(3, chief=True)) == 4


def test_a_tensorflow_strategy_on_another_backend_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="CC_DL__STRATEGY='multi_worker' needs"):
        choose_strategy("multi_worker", Device("torch", "cpu", 1, "CPU"), "")


def test_bad_tf_config_names_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="TF_CONFIG is not valid JSON"):
        tf_config_workers("{not json")


def test_only_the_chief_writes() -> None:
    assert is_chief("")
    assert is_chief(tf_config(2, index=0))
    assert not is_chief(tf_config(2, index=1))
    assert not is_chief(tf_config(2, index=0, chief=True))


def test_dl_settings_come_from_cc_dl_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CC_DL__MAX_EPOCHS", "7")
    monkeypatch.setenv("CC_DL__HIDDEN_UNITS", "[32, 16]")
    settings = load_settings().dl
    assert settings.max_epochs == 7
    assert settings.hidden_units == (32, 16)
    assert DeepLearningSettings().max_epochs == 40  # a group alone never reads the environment
    with pytest.raises(ValueError, match="dropout"):
        DeepLearningSettings(dropout=1.5)
