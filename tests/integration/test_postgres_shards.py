"""Sharded nightly scoring through kfp.local on a real PostgreSQL server.

The scoring pipeline runs whole (verify -> plan -> ParallelFor of shard tasks ->
publish) as subprocesses of this environment, against the server the tests start. One
shard, four shards and the unsharded scoring of before must write the same predictions;
a shard that fails must leave yesterday's table and name its range; running that shard
again alone, then the publishing step, must complete the night.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
import pytest

from customer_classifier import jobs
from customer_classifier.data import staging
from customer_classifier.data.database import connect, customer_ids, write_master_data
from customer_classifier.data.generate import GeneratorConfig, generate
from customer_classifier.errors import ShardError
from customer_classifier.registry import LocalModelStore
from customer_classifier.scoring.shards import Shard
from customer_classifier.settings import ExplicitSettings, Settings
from tests.integration.test_postgres_scoring import execute, query
from tests.unit.scoring.models import heuristic_bundle

pytestmark = [pytest.mark.pipeline, pytest.mark.slow]
DATA = GeneratorConfig(n_customers=1200, seed=14)
AS_OF = DATA.end + dt.timedelta(days=1)
TABLE = "customer_predictions"
LEDGER = "customer_predictions__shards"
COLUMNS = "customer_id, label, score, model_version"


@pytest.fixture(scope="module")
def night(
    postgres_database: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """A database with the master data and a champion; kfp.local pointed at both."""
    from kfp import local

    root = tmp_path_factory.mktemp("shards")
    url = postgres_database("sharded_scoring")
    engine = connect(url)
    write_master_data(engine, generate(DATA))
    engine.dispose()
    store = LocalModelStore(root / "store")
    version = store.register(heuristic_bundle()).version
    store.set_alias("champion", version)
    env = {"CC_DATABASE_URL": url, "CC_STORE_URI": str(root / "store"), "CC_WORK_DIR": str(root)}
    patch = pytest.MonkeyPatch()
    for key, value in env.items():
        patch.setenv(key, value)
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(root / "outputs"),
        raise_on_error=True,
    )
    settings = ExplicitSettings(database_url=url, store_uri=str(root / "store"), work_dir=root)
    # Today's output: the unsharded scoring of one process, before any shard ran.
    jobs.score_customers(settings.model_copy(update={"as_of": AS_OF}))
    yield {"settings": settings, "version": version, "unsharded": predictions(settings)}
    patch.undo()


def predictions(settings: Settings) -> pd.DataFrame:
    return query(settings, f"SELECT {COLUMNS} FROM {TABLE} ORDER BY customer_id")


def digest(frame: pd.DataFrame) -> str:
    """sha256 of the rows as text, floats in their shortest exact form (``repr``)."""
    lines = (f"{c},{lab},{s!r},{v}" for c, lab, s, v in frame.itertuples(index=False))
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def scoring(shards: int) -> str:
    from pipelines.scoring_pipeline import scoring_pipeline

    return str(scoring_pipeline(as_of=AS_OF.isoformat(), shards=shards).output)


def test_one_and_four_shards_write_todays_predictions_byte_for_byte(
    night: dict[str, Any],
) -> None:
    settings, unsharded = night["settings"], night["unsharded"]
    assert len(unsharded) > 300
    assert scoring(1) == night["version"]
    one = predictions(settings)
    assert scoring(4) == night["version"]
    four = predictions(settings)
    pd.testing.assert_frame_equal(one, unsharded, check_exact=True)
    pd.testing.assert_frame_equal(four, unsharded, check_exact=True)
    assert digest(one) == digest(unsharded)
    assert digest(four) == digest(unsharded)
    runs = query(
        settings,
        f"SELECT run_id, shard_count, status, rows_written FROM {LEDGER} ORDER BY shard_index",
    )
    last = runs[runs["shard_count"] == 4]
    assert set(last["status"]) == {"published"}
    assert int(last["rows_written"].sum()) == len(unsharded)
    history = query(
        settings,
        "SELECT run_id, COUNT(*) AS n FROM customer_predictions_history "
        f"WHERE as_of_date = '{AS_OF}' GROUP BY run_id",
    )
    assert history["run_id"].tolist() == [last["run_id"].iloc[0]]
    assert history["n"].tolist() == [len(unsharded)]
    leftovers = query(
        settings, "SELECT tablename FROM pg_tables WHERE tablename LIKE '%%__shard\\_%%'"
    )
    assert leftovers.empty


REFUSE_THIRD_SHARD = (
    "CREATE FUNCTION refuse_shard() RETURNS event_trigger LANGUAGE plpgsql AS $$ "
    "DECLARE r record; BEGIN "
    "FOR r IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP "
    "IF r.object_identity ~ '__shard_[0-9a-f]+_2$' THEN "
    "RAISE EXCEPTION 'no space left for %%', r.object_identity; END IF; END LOOP; END $$",
    "CREATE EVENT TRIGGER refuse_shard ON ddl_command_end WHEN TAG IN ('CREATE TABLE') "
    "EXECUTE FUNCTION refuse_shard()",
)
"""The database refuses the staging table of the third shard, and only that one."""


def test_a_failed_shard_stands_alone_and_rerunning_it_completes_the_night(
    night: dict[str, Any], capfd: pytest.CaptureFixture[str]
) -> None:
    from components.publish_shards import publish_shards
    from components.score_shard import score_shard

    settings = night["settings"]
    plan = jobs.plan_night(settings.model_copy(update={"as_of": AS_OF}), 4, run_id="probe")
    third = plan.shards[2]
    before = predictions(settings)
    history_before = query(settings, "SELECT COUNT(*) AS n FROM customer_predictions_history")
    execute(settings, *REFUSE_THIRD_SHARD)
    capfd.readouterr()
    with pytest.raises(RuntimeError):
        scoring(4)
    log = capfd.readouterr()
    assert f"shard 3 of 4 (customer_id {third.lo} to {third.hi}) of run" in log.out + log.err
    assert "no space left for" in log.out + log.err
    pd.testing.assert_frame_equal(predictions(settings), before, check_exact=True)
    assert query(settings, "SELECT COUNT(*) AS n FROM customer_predictions_history").equals(
        history_before
    )

    ledger = query(
        settings,
        f"SELECT run_id, shard_index, status FROM {LEDGER} "
        f"WHERE shard_count = 4 AND run_id <> 'probe' AND status <> 'published'",
    )
    run_id = str(ledger["run_id"].iloc[0])
    assert ledger.set_index("shard_index").loc[2, "status"] == "planned"
    with pytest.raises(ShardError, match=rf"shard 3 of 4 \(customer_id {third.lo} to {third.hi}\)"):
        jobs.publish_night(settings, run_id)
    pd.testing.assert_frame_equal(predictions(settings), before, check_exact=True)

    execute(settings, "DROP EVENT TRIGGER refuse_shard")
    rows = staging.read_plan(connect(settings.database_url), LEDGER, run_id)
    failed = Shard(2, 4, rows[2]["lo"], rows[2]["hi"])
    rerun = score_shard(shard=failed.to_json(run_id))
    items = [Shard(i, 4, r["lo"], r["hi"]).to_json(run_id) for i, r in enumerate(rows)]
    published = publish_shards(shards=items, shard_rows=[int(rerun.outputs["Output"])])
    assert published.outputs["Output"] == night["version"]
    assert digest(predictions(settings)) == digest(night["unsharded"])
    history = query(
        settings,
        "SELECT COUNT(*) AS n FROM customer_predictions_history "
        f"WHERE as_of_date = '{AS_OF}' AND run_id = '{run_id}'",
    )
    assert int(history["n"].iloc[0]) == len(night["unsharded"])


def test_a_plan_with_a_gap_is_refused(night: dict[str, Any]) -> None:
    """The coverage check judges the ledger itself, not what the planner meant."""
    settings = night["settings"]
    plan = jobs.plan_night(settings.model_copy(update={"as_of": AS_OF}), 2, run_id="gap")
    for shard in plan.shards:
        jobs.score_shard(settings, "gap", shard.index)
    second = plan.shards[1]
    assert second.lo is not None
    engine = connect(settings.database_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            f"UPDATE {LEDGER} SET lo = %s WHERE run_id = 'gap' AND shard_index = 1",
            (second.lo + 5,),
        )
    engine.dispose()
    before = predictions(settings)
    with pytest.raises(ShardError, match=rf"gap: customer_id {second.lo} to {second.lo + 4}"):
        jobs.publish_night(settings, "gap")
    pd.testing.assert_frame_equal(predictions(settings), before, check_exact=True)


def test_plan_splits_the_ids_into_equal_contiguous_ranges(night: dict[str, Any]) -> None:
    settings = night["settings"]
    plan = jobs.plan_night(settings.model_copy(update={"as_of": AS_OF}), 4, run_id="sizes")
    assert [s.index for s in plan.shards] == [0, 1, 2, 3]
    assert plan.shards[0].lo is None
    assert plan.shards[-1].hi is None
    engine = connect(settings.database_url)
    sizes = [len(customer_ids(engine, shard.bounds)) for shard in plan.shards]
    engine.dispose()
    assert max(sizes) - min(sizes) <= 1
    assert sum(sizes) == DATA.n_customers
