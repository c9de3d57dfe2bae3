"""Shard ranges and the coverage rule, on data alone."""

from __future__ import annotations

import pytest

from customer_classifier.scoring.shards import (
    INT64_MAX,
    INT64_MIN,
    Shard,
    ShardResult,
    StagedRows,
    coverage_problems,
    plan_ranges,
    range_problems,
)


def test_ranges_are_contiguous_and_open_at_both_ends() -> None:
    plan = plan_ranges([1, 251, 501, 751], 4)
    assert [(s.lo, s.hi) for s in plan] == [(None, 250), (251, 500), (501, 750), (751, None)]
    assert plan[0].bounds == (INT64_MIN, 250)
    assert plan[-1].bounds == (751, INT64_MAX)
    assert range_problems(plan) == []
    assert plan[1].describe() == "shard 2 of 4 (customer_id 251 to 500)"


def test_fewer_customers_than_shards_plans_fewer_shards() -> None:
    plan = plan_ranges([7, 9], 4)
    assert [(s.index, s.count, s.lo, s.hi) for s in plan] == [(0, 2, None, 8), (1, 2, 9, None)]
    assert plan_ranges([], 3) == [Shard(0, 1, None, None)]


def test_an_item_round_trips_through_json_with_its_run() -> None:
    shard = Shard(2, 4, 501, 750)
    assert Shard.from_json(shard.to_json("run-1")) == ("run-1", shard)
    with pytest.raises(ValueError, match="not a whole number"):
        Shard.from_json('{"run_id": "r", "index": 0, "count": 1, "lo": 1.5, "hi": null}')


@pytest.mark.parametrize(
    ("plan", "problem"),
    [
        ([Shard(0, 2, None, 10), Shard(1, 2, 15, None)], "gap: customer_id 11 to 14"),
        ([Shard(0, 2, None, 10), Shard(1, 2, 8, None)], "overlap: shard 1 of 2"),
        ([Shard(0, 2, 3, 10), Shard(1, 2, 11, None)], "no shard scores customer_id below 3"),
        ([Shard(0, 2, None, 10), Shard(1, 2, 11, 20)], "above 20"),
        ([Shard(0, 3, None, 10), Shard(2, 3, 11, None)], "numbers its shards [1, 3]"),
    ],
)
def test_gaps_overlaps_and_numbering_are_named(plan: list[Shard], problem: str) -> None:
    assert any(problem in p for p in range_problems(plan)), range_problems(plan)


PLAN = plan_ranges([1, 101], 2)
DONE = {0: ShardResult(PLAN[0], rows=40, active=41), 1: ShardResult(PLAN[1], rows=50, active=50)}
STAGED = {0: StagedRows(40, 40, 1, 99), 1: StagedRows(50, 50, 101, 200)}


def test_complete_shards_cover_the_night() -> None:
    assert coverage_problems(PLAN, DONE, STAGED, active_customers=91) == []


def test_a_shard_that_has_not_finished_is_named_with_its_range() -> None:
    problems = coverage_problems(PLAN, {0: DONE[0]}, {0: STAGED[0]}, active_customers=91)
    assert problems == [
        "shard 2 of 2 (customer_id from 101) has not finished: re-run that shard, then "
        "publish again"
    ]


@pytest.mark.parametrize(
    ("staged", "active", "problem"),
    [
        ({1: StagedRows(49, 49, 101, 200)}, 91, "holds 49 row(s) but the shard wrote 50"),
        ({1: StagedRows(50, 48, 101, 200)}, 91, "2 customer(s) staged more than once"),
        ({1: StagedRows(50, 50, 99, 200)}, 91, "staged customer_id 99 to 200 reach outside"),
        ({}, 92, "account for 91 active customer(s) but the database has 92"),
    ],
)
def test_what_the_staging_tables_hold_must_match(
    staged: dict[int, StagedRows], active: int, problem: str
) -> None:
    problems = coverage_problems(PLAN, DONE, {**STAGED, **staged}, active_customers=active)
    assert any(problem in p for p in problems), problems
