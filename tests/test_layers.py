"""The product's layers, read from its import statements: no module-level import cycle,
and nothing in the domain (quoteflow/) reaches up into tasks, flows, deployments or the dev
tools; only the entry points (the CLI, the page, the Slack app) sit on top of them."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("quoteflow", "tasks", "flows", "blocks", "deployments")
ENTRY_POINTS = ("quoteflow.cli", "quoteflow.approval_page", "quoteflow.slack.app")
UPPER = ("tasks", "flows", "deployments", "devstack", "tests")


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for root in PRODUCT:
        for path in (ROOT / root).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _top_level_imports(path: Path) -> set[str]:
    """Modules imported when ``path`` is imported (not inside functions, not for typing)."""
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test):
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _graph() -> dict[str, set[str]]:
    modules = _modules()

    def owner(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps = {owner(imported) for imported in _top_level_imports(path)}
        graph[name] = {d for d in deps if d and d != name and not name.startswith(d + ".")}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_module_level_import_cycle() -> None:
    assert _cycles(_graph()) == []


def _all_imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth (function-level imports too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_domain_never_reaches_up_into_tasks_flows_or_tools() -> None:
    reaching_up = {
        name: sorted(m for m in _all_imports(path) if m.split(".")[0] in UPPER)
        for name, path in _modules().items()
        if name.startswith("quoteflow") and not name.startswith(ENTRY_POINTS)
    }
    assert {name: mods for name, mods in reaching_up.items() if mods} == {}


def test_the_checker_sees_a_cycle_and_an_upward_import() -> None:
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]
    graph = _graph()
    assert "quoteflow.prefect_api" in graph["quoteflow.approvals"]
