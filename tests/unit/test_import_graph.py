"""The package's module-level imports form no cycle, between packages or inside one.

Imports inside functions (kept lazy so that a task pays only for what it runs) and
under ``TYPE_CHECKING`` are left out: they never run at import time.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = "customer_classifier"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _top_level_imports(path: Path, modules: set[str]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {n for n in names if n in modules}
    return found


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in (SRC / PACKAGE).rglob("*.py")}
    modules = set(files)
    return {name: _top_level_imports(path, modules) - {name} for name, path in files.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_graph_is_read() -> None:
    graph = _graph()
    assert "customer_classifier.settings" in graph["customer_classifier.cli"]
    assert "customer_classifier.registry.store" in graph["customer_classifier.registry.s3"]


def test_no_module_imports_itself_through_others() -> None:
    assert _cycle(_graph()) is None


def test_backends_stand_on_the_interface_not_on_the_factory() -> None:
    graph = _graph()
    for backend in ("folder", "s3", "s3_transport"):
        assert "customer_classifier.registry.factory" not in graph[f"{PACKAGE}.registry.{backend}"]
    assert "customer_classifier.training" not in " ".join(graph[f"{PACKAGE}.evaluation.report"])


def test_a_cycle_would_be_found() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
