"""The package's shape: dependencies run one way between its folders.

Each subpackage of ``stress`` (``metadb``, ``plan``, ``engine``, ...) is one node, and so is
each top-level module; an edge A -> B means some module of A imports one of B, at module
level or inside a function. The graph must have no cycle, so no folder imports one that
imports it back. ``stress/__init__.py`` (the public API's face) and ``__main__`` may import
anything and are left out. The store under test imports nothing of the simulator.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "stress"
_FACES = {"stress", "__main__"}


def _node(module: str) -> str:
    """``stress.engine.runner`` -> ``engine``; ``stress.config`` -> ``config``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "stress":
                found.update(f"stress.{alias.name}" for alias in node.names)
            elif node.module.startswith("stress."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("stress."))
    return found


def folder_graph() -> dict[str, set[str]]:
    """node -> the nodes it imports (itself and the faces left out)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        source = _node(module)
        if source in _FACES:
            continue
        graph[source]  # every node appears, even one that imports nothing
        for target in map(_node, _imports(path)):
            if target != source and target not in _FACES:
                graph[source].add(target)
    return graph


def test_no_folder_imports_one_that_imports_it_back() -> None:
    graph = folder_graph()
    two_way = sorted(
        (a, b) for a, targets in graph.items() for b in targets if a < b and a in graph[b]
    )
    assert two_way == [], f"folders that import each other: {two_way}"
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as error:
        raise AssertionError(f"an import cycle between folders: {error.args[1]}") from None


def layers(graph: dict[str, set[str]]) -> dict[str, int]:
    """Each node's layer: 1 + the highest layer of what it imports (1 = imports nothing)."""
    found: dict[str, int] = {}

    def layer(node: str) -> int:
        if node not in found:
            found[node] = 1 + max((layer(target) for target in graph.get(node, ())), default=0)
        return found[node]

    for node in graph:
        layer(node)
    return found


def test_the_layers_run_from_the_store_up_to_the_command_line() -> None:
    """``pytest tests/test_architecture.py -s`` prints the layers, top first."""
    found = layers(folder_graph())
    for number in sorted(set(found.values()), reverse=True):
        print(number, " ".join(sorted(node for node, at in found.items() if at == number)))
    assert found["metadb"] == 1
    assert found["cli"] == max(found.values())
    assert found["engine"] > max(found["plan"], found["oracle"], found["observe"])


def test_the_store_under_test_knows_nothing_of_the_simulator() -> None:
    assert folder_graph()["metadb"] == set()


def test_the_graph_sees_real_imports() -> None:
    """The check above is only worth something if the graph is read right."""
    graph = folder_graph()
    assert {"metadb", "plan", "engine", "oracle", "observe", "cli"} <= set(graph)
    assert {"plan", "oracle", "observe", "metadb"} <= graph["engine"]
    assert "engine" in graph["cli"]


def test_argparse_lives_in_the_cli_only() -> None:
    users = sorted(
        str(path.relative_to(PACKAGE.parent))
        for path in PACKAGE.rglob("*.py")
        if "import argparse" in path.read_text(encoding="utf-8")
        and path.relative_to(PACKAGE).parts[0] != "cli"
    )
    assert users == [], f"argparse outside stress/cli/: {users}"
