"""Shards of a nightly scoring run: contiguous customer-id ranges, and the coverage rule.

One pod scores a million customers in seconds, but not five hundred million. So the
night is split into ranges of ``customer_id`` that separate tasks score into staging
tables of their own, and only a check over all of them lets the night replace the
predictions table. The ranges are planned from cut points the database computes (the
first id of each equal-sized tile), never from the ids in memory. The first range is
open below and the last open above, and each begins one past where the previous ends:
the ranges cover every possible id by construction, whatever ids arrive after planning.

Coverage is then judged from what each finished shard reports and what its staging
table holds: every planned shard finished, each staging table holds exactly the rows
its shard wrote, each id once and inside its range, and all shards together account for
every active customer the database has at the as-of date.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class Shard:
    """Customers with ``lo <= customer_id <= hi``; None is open on that side."""

    index: int
    count: int
    lo: int | None
    hi: int | None

    @property
    def bounds(self) -> tuple[int, int]:
        """Inclusive bounds for SQL: open ends become the extremes of BIGINT."""
        return (
            INT64_MIN if self.lo is None else self.lo,
            INT64_MAX if self.hi is None else self.hi,
        )

    def describe(self) -> str:
        """The shard as people name it in an error: its number and its id range."""
        if self.lo is None and self.hi is None:
            ids = "every customer_id"
        elif self.lo is None:
            ids = f"customer_id up to {self.hi}"
        elif self.hi is None:
            ids = f"customer_id from {self.lo}"
        else:
            ids = f"customer_id {self.lo} to {self.hi}"
        return f"shard {self.index + 1} of {self.count} ({ids})"

    def to_json(self, run_id: str) -> str:
        """The shard as one item of a pipeline's fan-out: which run, which range."""
        return json.dumps({"run_id": run_id, **asdict(self)}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> tuple[str, Shard]:
        """The run id and the shard of a :meth:`to_json` item."""
        data = json.loads(text)

        def whole(value: object) -> int | None:
            if value is None or isinstance(value, int):
                return value
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ValueError(f"shard bound {value!r} is not a whole number: {text}")

        shard = cls(
            index=int(data["index"]),
            count=int(data["count"]),
            lo=whole(data["lo"]),
            hi=whole(data["hi"]),
        )
        return str(data["run_id"]), shard


def plan_ranges(firsts: Sequence[int], count: int) -> list[Shard]:
    """``count`` contiguous ranges from the first id of each tile of the sorted ids.

    ``firsts`` come from the database (one per non-empty tile, ascending). With fewer
    tiles than asked for (fewer customers than shards), fewer shards are planned.
    """
    if count < 1:
        raise ValueError(f"shards must be at least 1, got {count}")
    cuts = sorted({int(v) for v in firsts})[1:count]
    starts: list[int | None] = [None, *cuts]
    ends: list[int | None] = [*(c - 1 for c in cuts), None]
    n = len(starts)
    return [Shard(i, n, lo, hi) for i, (lo, hi) in enumerate(zip(starts, ends, strict=True))]


def range_problems(shards: Sequence[Shard]) -> list[str]:
    """Gaps, overlaps and numbering mistakes of a plan; empty when it covers every id once."""
    if not shards:
        return ["the plan has no shards: plan the night again"]
    problems = []
    count = len(shards)
    ordered = sorted(shards, key=lambda s: s.index)
    if [s.index for s in ordered] != list(range(count)) or {s.count for s in ordered} != {count}:
        problems.append(
            f"the plan numbers its shards {[s.index + 1 for s in ordered]} of "
            f"{sorted({s.count for s in ordered})}, not 1 to {count}: plan the night again"
        )
    if ordered[0].lo is not None:
        problems.append(f"gap: no shard scores customer_id below {ordered[0].lo}")
    if ordered[-1].hi is not None:
        problems.append(f"gap: no shard scores customer_id above {ordered[-1].hi}")
    for before, after in itertools.pairwise(ordered):
        if before.hi is None or after.lo is None:
            problems.append(f"overlap: {before.describe()} and {after.describe()}")
        elif after.lo > before.hi + 1:
            problems.append(
                f"gap: customer_id {before.hi + 1} to {after.lo - 1} lies between "
                f"{before.describe()} and {after.describe()}"
            )
        elif after.lo <= before.hi:
            problems.append(f"overlap: {before.describe()} and {after.describe()}")
    return problems


@dataclass(frozen=True)
class ShardResult:
    """What a finished shard reports about its staging table."""

    shard: Shard
    rows: int
    """Prediction rows it wrote."""
    active: int
    """Active customers in its range: the rows plus any refused and left out."""


@dataclass(frozen=True)
class StagedRows:
    """What a shard's staging table holds, counted by the database."""

    rows: int
    distinct_ids: int
    min_id: int | None
    max_id: int | None


def coverage_problems(
    plan: Sequence[Shard],
    finished: Mapping[int, ShardResult],
    staged: Mapping[int, StagedRows],
    active_customers: int,
) -> list[str]:
    """Why the shards do not cover every active customer exactly once; empty when they do.

    ``finished`` and ``staged`` are keyed by shard index; ``active_customers`` is the
    database's own count at the as-of date.
    """
    problems = range_problems(plan)
    if problems:
        return problems
    missing = [s for s in plan if s.index not in finished or s.index not in staged]
    for shard in missing:
        problems.append(
            f"{shard.describe()} has not finished: re-run that shard, then publish again"
        )
    if missing:
        return problems
    for shard in plan:
        result, table = finished[shard.index], staged[shard.index]
        lo, hi = shard.bounds
        if table.rows != result.rows:
            problems.append(
                f"{shard.describe()}: its staging table holds {table.rows} row(s) but the shard "
                f"wrote {result.rows}; another run may be writing it: re-run that shard"
            )
        if table.distinct_ids != table.rows:
            problems.append(
                f"{shard.describe()}: {table.rows - table.distinct_ids} customer(s) staged more "
                "than once; customers.customer_id must be unique: fix the source, re-run the shard"
            )
        if table.rows and (
            table.min_id is None or table.max_id is None or table.min_id < lo or table.max_id > hi
        ):
            problems.append(
                f"{shard.describe()}: staged customer_id {table.min_id} to {table.max_id} reach "
                "outside its range: re-run that shard"
            )
    accounted = sum(r.active for r in finished.values() if r.shard.index < len(plan))
    if not problems and accounted != active_customers:
        problems.append(
            f"the shards account for {accounted} active customer(s) but the database has "
            f"{active_customers} at this as-of date; the source changed during the night: "
            "run the night again"
        )
    return problems
