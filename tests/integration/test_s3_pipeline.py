"""The training and nightly scoring pipelines with the model store on a real S3 server.

The same kfp.local run as ``make run``, with only ``CC_STORE_URI`` and ``CC_S3__*``
changed: the register step uploads the version, the gate promotes it, and the scoring
step downloads the champion (checksums checked) to write the nightly table.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

import pandas as pd
import pytest
import sqlalchemy as sa

from customer_classifier.data.database import connect
from customer_classifier.data.generate import GeneratorConfig
from customer_classifier.data.profile import DataProfile
from customer_classifier.jobs.verify import PROFILE_STATE
from customer_classifier.registry import open_store
from customer_classifier.registry.bundle import MANIFEST_FILE
from pipelines.scoring_pipeline import scoring_pipeline
from pipelines.training_pipeline import training_pipeline
from tests.integration.s3_server import BUCKET, S3Server

pytestmark = [pytest.mark.integration, pytest.mark.pipeline, pytest.mark.slow]


def test_training_and_scoring_on_s3(
    s3_server: S3Server,
    s3_store_uri: str,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    kfp_local_workspace: Callable[..., dict[str, str]],
) -> None:
    root = tmp_path_factory.mktemp("s3_pipeline")
    data = GeneratorConfig(3000, seed=5)
    env = kfp_local_workspace(
        root,
        data,
        monkeypatch,
        **s3_server.env(),
        CC_STORE_URI=s3_store_uri,
    )

    version = training_pipeline().output
    # The generated history is fixed; nightly verification judges it against this date.
    scored_by = scoring_pipeline(as_of=str(data.end + dt.timedelta(days=1))).output

    store = open_store(s3_store_uri, s3_server.config())
    assert store.get_alias("champion") == version
    assert scored_by == version
    # The pipeline passes its own job id and the component image into the lineage.
    lineage = store.get(version).metadata["lineage"]
    assert lineage["pipeline_run_id"] not in ("", "unknown")
    assert "{{" not in lineage["pipeline_run_id"]
    assert "/customer-classifier/components:" in lineage["image"]
    prefix = s3_store_uri.removeprefix(f"s3://{BUCKET}/")
    names = {
        str(o.object_name).rsplit("/", 1)[-1]
        for o in s3_server.client().list_objects(
            BUCKET, prefix=f"{prefix}/versions/{version}/", recursive=True
        )
    }
    assert {"model.joblib", "model.json", MANIFEST_FILE} <= names
    decision_file = next((root / "outputs").rglob("register-model/decision_json"))
    decision = json.loads(decision_file.read_text(encoding="utf-8"))
    assert decision["promoted"] is True
    with connect(env["CC_DATABASE_URL"]).connect() as conn:
        table = pd.read_sql_query(sa.text("SELECT * FROM customer_predictions"), conn)
    assert len(table) > 0
    assert set(table["model_version"]) == {version}
    # The verification reference is in the bucket, beside the versions, not in a task's folder.
    reference = store.read_state(PROFILE_STATE)
    assert reference is not None
    assert DataProfile.model_validate_json(reference).tables["customers"].rows == 3000
