"""Operations over any model store: resolve, compare, promote, rollback, garbage-collect.

The CLI's ``models`` commands are thin wrappers over these; they work the same on the
folder store and on S3 because they only use the :class:`ModelStore` interface.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from customer_classifier.errors import RegistryError
from customer_classifier.evaluation.importance import recorded_means
from customer_classifier.registry.gate import window_differences
from customer_classifier.registry.store import ModelStore, ModelVersion, check_alias_name

COMPARED_METRICS = (
    "precision_at_min_recall",
    "precision",
    "recall",
    "f1",
    "pr_auc",
    "roc_auc",
    "predicted_positive_rate",
    "ece",
    "brier",
    "expected_value",
    "expected_value_per_customer",
    "rows",
)
COMPARED_IMPORTANCES = 5
"""The most important features of each version that ``compare`` lists beside the metrics."""


def resolve(store: ModelStore, ref: str) -> str:
    """A version id from an alias name or a version id; names the store when neither."""
    try:
        aliased = store.get_alias(ref)
    except RegistryError:  # not a valid alias name: it can still be a version id
        aliased = None
    version = aliased or ref
    store.get(version)
    return version


@dataclass(frozen=True)
class Comparison:
    a: ModelVersion
    b: ModelVersion
    rows: list[tuple[str, float | None, float | None]]
    same_window: bool
    differences: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a.version,
            "b": self.b.version,
            "same_window": self.same_window,
            "differences": self.differences,
            "metrics": {name: {"a": x, "b": y} for name, x, y in self.rows},
        }


def compare(store: ModelStore, ref_a: str, ref_b: str) -> Comparison:
    """Test-window metrics of two versions side by side, and whether the windows match;
    then the permutation importance of each one's most important features."""
    a, b = store.get(resolve(store, ref_a)), store.get(resolve(store, ref_b))

    def test_metrics(v: ModelVersion) -> dict[str, float]:
        return dict(v.metadata.get("metrics", {}).get("test", {}))

    ma, mb = test_metrics(a), test_metrics(b)
    rows = [(name, ma.get(name), mb.get(name)) for name in COMPARED_METRICS]
    ia, ib = (
        recorded_means(a.metadata.get("importance")),
        recorded_means(b.metadata.get("importance")),
    )
    top = [*list(ia)[:COMPARED_IMPORTANCES], *list(ib)[:COMPARED_IMPORTANCES]]
    rows += [(f"importance {name}", ia.get(name), ib.get(name)) for name in dict.fromkeys(top)]
    differences = window_differences(a.metadata, b.metadata)
    return Comparison(a, b, rows, same_window=not differences, differences=differences)


def promote(
    store: ModelStore, ref: str, alias: str, reason: str, *, actor: str | None = None
) -> dict[str, Any]:
    """Move ``alias`` to a version after loading it (checksums) so it can never point at
    something unloadable; concurrent moves of the alias make this one fail cleanly.
    ``actor`` is recorded as who moved it (default: the OS user)."""
    check_alias_name(alias)
    version = resolve(store, ref)
    store.load(version)
    current = store.get_alias(alias)
    if current == version:
        return {"alias": alias, "from": current, "to": version, "changed": False}
    entry = store.set_alias(alias, version, expected=current, reason=reason, actor=actor)
    return {**entry, "changed": True}


def rollback(
    store: ModelStore,
    alias: str,
    to: str | None = None,
    reason: str = "",
    *,
    actor: str | None = None,
) -> dict[str, Any]:
    """Move ``alias`` back: to ``to``, else to where its latest move came from."""
    check_alias_name(alias)
    current = store.get_alias(alias)
    if current is None:
        raise RegistryError(f"alias {alias!r} is not set in {store.uri}: nothing to roll back")
    if to is None:
        moves = [m for m in store.history(alias) if m["to"] == current and m["from"]]
        if not moves:
            raise RegistryError(
                f"alias {alias!r} has no earlier version in the history of {store.uri}; "
                "name one with --to VERSION"
            )
        to = str(moves[-1]["from"])
    why = f"rollback from {current}" + (f": {reason}" if reason else "")
    return promote(store, to, alias, why, actor=actor)


@dataclass(frozen=True)
class Collection:
    kept: list[str]
    deleted: list[str]
    incomplete: list[str]

    def to_dict(self) -> dict[str, list[str]]:
        return {"kept": self.kept, "deleted": self.deleted, "incomplete": self.incomplete}


def collect_garbage(
    store: ModelStore,
    keep_last: int,
    *,
    incomplete_after: dt.timedelta = dt.timedelta(hours=1),
    dry_run: bool = False,
) -> Collection:
    """Delete versions that no alias points at, except the newest ``keep_last``, and the
    leftovers of uploads that died (older than ``incomplete_after``, so a registration in
    progress is never taken)."""
    if keep_last < 0:
        raise RegistryError(f"--keep {keep_last}: keep at least 0 versions")
    versions = [v.version for v in store.list_versions()]
    aliased = set(store.aliases().values())
    newest = set(versions[-keep_last:]) if keep_last else set()
    doomed = [v for v in versions if v not in aliased and v not in newest]
    leftovers = store.incomplete_versions(incomplete_after)
    if not dry_run:
        for version in list(doomed):
            if version in store.aliases().values():  # promoted since we looked: keep it
                doomed.remove(version)
                continue
            store.delete_version(version)
        for leftover in leftovers:
            store.discard_incomplete(leftover)
    return Collection(
        kept=[v for v in versions if v not in doomed], deleted=doomed, incomplete=leftovers
    )
