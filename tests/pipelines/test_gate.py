"""The champion/challenger gate of the training pipeline, both ways, through kfp.local.

Three training runs on the same data (so the same evaluation window):

1. heuristic + gradient boosting: the first model ever; it beats the heuristic: champion.
2. heuristic only: a worse model; it stays challenger, and the nightly scoring run that
   follows still uses run 1's version.
3. every candidate: logistic regression beats run 1's model by more than the margin:
   promoted.
4. every candidate again, with the pipeline's ``min_recall`` 0.45 and a precision target
   of 0.99 while ``CC_MIN_RECALL`` says 0.2: the decision is taken at 0.45 (challenger,
   heuristic and champion re-scored there), and the unreachable target warns.

Each run leaves its decision as a Markdown artifact (for the Kubeflow UI) and JSON.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from customer_classifier.data.database import connect
from customer_classifier.data.evidence import evidence_of, read_verification
from customer_classifier.data.generate import GeneratorConfig
from customer_classifier.evaluation.threshold import precision_at_recall
from customer_classifier.registry import LocalModelStore
from customer_classifier.training.names import DEFAULT_CANDIDATES, HEURISTIC
from pipelines.scoring_pipeline import scoring_pipeline
from pipelines.training_pipeline import training_pipeline

pytestmark = [pytest.mark.pipeline, pytest.mark.slow]
DATA = GeneratorConfig(n_customers=3000, seed=4)
"""On this data: heuristic < gradient boosting < logistic regression, by several points."""


def decisions(outputs: Path) -> dict[str, tuple[dict[str, Any], str]]:
    """Every register step's decision, JSON and Markdown, by version."""
    found = {}
    for path in outputs.rglob("register-model/decision_json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        markdown = (path.parent / "decision").read_text(encoding="utf-8")
        found[data["version"]] = (data, markdown)
    return found


def run_folder(outputs: Path, version: str) -> Path:
    """The kfp.local outputs of the training run that registered ``version``."""
    for path in outputs.rglob("register-model/decision_json"):
        if json.loads(path.read_text(encoding="utf-8"))["version"] == version:
            return outputs / path.relative_to(outputs).parts[0]
    raise AssertionError(f"no register step registered {version}")


def predictions(url: str) -> pd.DataFrame:
    with connect(url).connect() as conn:
        return pd.read_sql_query(sa.text("SELECT * FROM customer_predictions"), conn)


@pytest.fixture(scope="module")
def runs(
    tmp_path_factory: pytest.TempPathFactory, kfp_local_workspace: Callable[..., dict[str, str]]
) -> Any:
    root = tmp_path_factory.mktemp("gate")
    patch = pytest.MonkeyPatch()
    env = kfp_local_workspace(root, DATA, patch, CC_PROMOTION_MARGIN="0.01")
    store = LocalModelStore(root / "store")
    state: dict[str, Any] = {"root": root, "env": env, "store": store}

    patch.setenv("CC_CANDIDATES", '["heuristic", "gradient_boosting"]')
    state["first"] = training_pipeline().output
    state["champion_after_first"] = store.get_alias("champion")

    patch.setenv("CC_CANDIDATES", '["heuristic"]')
    state["worse"] = training_pipeline().output
    state["champion_after_worse"] = store.get_alias("champion")
    state["challenger_after_worse"] = store.get_alias("challenger")
    # The generated history is fixed; nightly verification judges it against this date.
    state["scored_by"] = scoring_pipeline(as_of=str(DATA.end + dt.timedelta(days=1))).output
    state["predictions"] = predictions(env["CC_DATABASE_URL"])

    patch.delenv("CC_CANDIDATES")
    state["better"] = training_pipeline().output
    state["history_after_better"] = [(h["alias"], h["to"]) for h in store.history()]
    state["challenger_after_better"] = store.get_alias("challenger")

    patch.setenv("CC_MIN_RECALL", "0.2")
    state["strict"] = training_pipeline(min_recall=0.45, precision_target=0.99).output
    patch.delenv("CC_MIN_RECALL")
    yield state
    patch.undo()


def test_first_model_beats_the_heuristic_and_becomes_champion(runs: Any) -> None:
    first = runs["first"]
    assert runs["champion_after_first"] == first
    data, markdown = decisions(runs["root"] / "outputs")[first]
    assert data["promoted"] is True
    assert data["champion_before"] is None
    assert data["candidate"] == "gradient_boosting"
    statuses = {c["name"]: c["status"] for c in data["checks"]}
    assert statuses["beats the heuristic baseline"] == "pass"
    assert statuses["beats the champion by the margin"] == "n/a"
    assert statuses["fairness across segments"] == "pass"
    assert statuses["data verification"] == "pass"
    assert "promoted to **champion**" in markdown


def test_a_worse_model_stays_challenger_and_scoring_keeps_the_champion(runs: Any) -> None:
    first, worse = runs["first"], runs["worse"]
    assert worse != first
    assert runs["champion_after_worse"] == first
    assert runs["challenger_after_worse"] == worse
    data, markdown = decisions(runs["root"] / "outputs")[worse]
    assert data["promoted"] is False
    assert data["candidate"] == "heuristic"
    failed = {c["name"] for c in data["checks"] if c["status"] == "fail"}
    assert failed == {"beats the heuristic baseline", "beats the champion by the margin"}
    assert f"the champion stays {first}" in markdown
    # The nightly table is written by the champion, not by the newer challenger.
    assert runs["scored_by"] == first
    assert set(runs["predictions"]["model_version"]) == {first}


def test_a_better_model_is_promoted(runs: Any) -> None:
    first, better = runs["first"], runs["better"]
    store: LocalModelStore = runs["store"]
    assert store.get_alias("champion") == better
    assert runs["challenger_after_better"] == better
    data, markdown = decisions(runs["root"] / "outputs")[better]
    assert data["promoted"] is True
    assert data["champion_before"] == first
    assert data["candidate"] in set(DEFAULT_CANDIDATES) - {HEURISTIC}  # a model, not rules
    check = next(c for c in data["checks"] if c["name"] == "beats the champion by the margin")
    assert check["status"] == "pass"
    assert "re-scored on this window" in check["detail"]
    assert check["observed"] >= check["required"]
    assert f"promoted to **champion** (was {first})" in markdown
    # Every alias move is in the history, with its reason.
    assert runs["history_after_better"] == [
        ("challenger", first),
        ("champion", first),
        ("challenger", runs["worse"]),
        ("challenger", better),
        ("champion", better),
    ]
    assert store.history("champion")[-1]["reason"].startswith("gate: ")


def test_the_pipelines_min_recall_reaches_the_gate(runs: Any) -> None:
    strict, better = runs["strict"], runs["better"]
    store: LocalModelStore = runs["store"]
    outputs = runs["root"] / "outputs"
    data, markdown = decisions(outputs)[strict]
    meta = store.get(strict).metadata
    assert meta["policy"] == {
        "precision_target": 0.99,
        "min_recall": 0.45,
        "promotion_margin": 0.01,
    }
    assert (data["min_recall"], data["precision_target"]) == (0.45, 0.99)
    assert "recall >= 0.45" in markdown
    checks = {c["name"]: c for c in data["checks"]}
    # Challenger, heuristic and champion are all taken at 0.45 on this run's test window.
    test = pd.read_parquet(next(run_folder(outputs, strict).rglob("features/test.parquet")))
    labels = test["label"].to_numpy(dtype=int)
    champion = checks["beats the champion by the margin"]
    assert champion["required"] == pytest.approx(
        precision_at_recall(labels, store.load(better).score(test), 0.45) + 0.01
    )
    baseline = checks["beats the heuristic baseline"]
    assert baseline["required"] == pytest.approx(
        meta["baseline_metrics"]["test"]["precision_at_min_recall"]
    )
    assert baseline["observed"] == pytest.approx(
        precision_at_recall(labels, store.load(strict).score(test), 0.45)
    )
    # No candidate reaches 0.99 there: a warning, shown, that does not block.
    target = checks["meets the precision target on the test window"]
    assert target["status"] == "warn"
    assert "no candidate reached it" in target["detail"]
    assert any(w.startswith("meets the precision target") for w in data["warnings"])
    # The data verification check read this run's verify step's result.
    profile = next(run_folder(outputs, strict).rglob("verify-data/profile"))
    evidence = evidence_of(read_verification(profile.read_text(encoding="utf-8")))
    assert checks["data verification"]["status"] == "pass"
    assert evidence.profile_hash[:12] in checks["data verification"]["detail"]
    assert meta["data_verification"] == evidence.to_dict()
