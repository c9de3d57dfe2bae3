"""The nightly scoring IR: a ParallelFor over the planned shard ranges, its parallelism
and the shard tasks' resources taken from ``CC_SHARDS__*`` when compiling."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from kfp import compiler

import pipelines.scoring_pipeline


def _compile(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    compiler.Compiler().compile(pipelines.scoring_pipeline.scoring_pipeline, str(path))
    with path.open() as handle:
        spec, platform = list(yaml.safe_load_all(handle))
    return spec, platform


@pytest.fixture
def compiled_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("CC_SHARDS__PARALLELISM", "3")
    monkeypatch.setenv("CC_SHARDS__MEMORY", "6Gi")
    importlib.reload(pipelines.scoring_pipeline)
    try:
        spec, platform = _compile(tmp_path / "scoring.yaml")
    finally:
        monkeypatch.delenv("CC_SHARDS__PARALLELISM")
        monkeypatch.delenv("CC_SHARDS__MEMORY")
        importlib.reload(pipelines.scoring_pipeline)
    return {"spec": spec, "platform": platform}


def test_the_shards_fan_out_over_the_plan_with_the_compiled_parallelism(
    compiled_with: dict[str, Any],
) -> None:
    spec = compiled_with["spec"]
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert params["shards"] == {
        "defaultValue": 1,
        "isOptional": True,
        "parameterType": "NUMBER_INTEGER",
    }
    loop = spec["root"]["dag"]["tasks"]["for-loop-1"]
    assert loop["iteratorPolicy"] == {"parallelismLimit": 3}
    items = loop["parameterIterator"]["items"]["inputParameter"]
    producer = loop["inputs"]["parameters"][items]["taskOutputParameter"]
    assert producer == {"outputParameterKey": "Output", "producerTask": "plan-shards"}
    body = spec["components"][loop["componentRef"]["name"]]["dag"]["tasks"]
    assert set(body) == {"score-shard"}
    shard = spec["deploymentSpec"]["executors"]["exec-score-shard"]["container"]["resources"]
    assert shard["memoryLimit"] == pytest.approx(6 * 1.073741824)
    publish = spec["root"]["dag"]["tasks"]["publish-shards"]
    assert set(publish["dependentTasks"]) == {"for-loop-1", "plan-shards"}
    collected = publish["inputs"]["parameters"]["shard_rows"]["taskOutputParameter"]
    assert collected["producerTask"] == "for-loop-1"
    assert (
        "plan_shards"
        in spec["deploymentSpec"]["executors"]["exec-plan-shards"]["container"]["command"][-1]
    )


def test_the_default_parallelism_is_the_settings_default(tmp_path: Path) -> None:
    from customer_classifier.settings import ShardScheduling

    spec, _ = _compile(tmp_path / "scoring.yaml")
    loop = spec["root"]["dag"]["tasks"]["for-loop-1"]
    assert loop["iteratorPolicy"]["parallelismLimit"] == ShardScheduling().parallelism
