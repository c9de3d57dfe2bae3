"""``models compare`` lists each version's most important features beside the metrics."""

from __future__ import annotations

from pathlib import Path

from customer_classifier.registry import LocalModelStore
from customer_classifier.registry.ops import COMPARED_IMPORTANCES, compare
from tests.unit.registry.test_ops import bundle


def recorded(*means: tuple[str, float]) -> dict[str, object]:
    return {"features": [{"feature": f, "mean": m, "std": 0.0} for f, m in means]}


def test_compare_lists_the_top_importances_of_both_versions(tmp_path: Path) -> None:
    store = LocalModelStore(tmp_path / "store")
    a = store.register(bundle(importance=recorded(("spend_total", 0.3), ("age", 0.1)))).version
    b = store.register(bundle(importance=recorded(("tenure_days", 0.2), ("spend_total", 0.05))))
    c = store.register(bundle()).version
    rows = {name: (x, y) for name, x, y in compare(store, a, b.version).rows}
    assert rows["importance spend_total"] == (0.3, 0.05)
    assert rows["importance tenure_days"] == (None, 0.2)
    assert rows["importance age"] == (0.1, None)
    assert rows["precision"] == (0.9, 0.9)
    many = recorded(*((f"f{i}", 1.0 - i / 10) for i in range(8)))
    d = store.register(bundle(importance=many)).version
    listed = [name for name, _, _ in compare(store, c, d).rows if name.startswith("importance")]
    assert listed == [f"importance f{i}" for i in range(COMPARED_IMPORTANCES)]
