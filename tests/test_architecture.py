"""The import graph of rnnkit: no cycles, and imports point one way.

Read statically from the source (every ``import`` statement, at module level or inside a
function), so a lazy import counts as an edge like any other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import rnnkit

ROOT = Path(rnnkit.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                    base = f"{base}.{node.module}" if node.module else base
                # `from pkg import sub` names the submodule; `from pkg import thing` the
                # package itself.
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                    for alias in node.names
                ]
            for target in targets:
                # Every module runs its parent packages first: that is not an edge back.
                if target in modules and target != name and not name.startswith(target + "."):
                    graph[name].add(target)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for child in sorted(graph[node]):
            if state.get(child) == 1:
                return [*stack[stack.index(child) :], child]
            if child not in state and (found := visit(child)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycles_among_rnnkit_modules() -> None:
    # A package importing its own submodules (and a submodule its package's registry) is
    # not a cycle only when the package does not import that submodule back.
    assert _cycle(_graph()) is None, " -> ".join(_cycle(_graph()) or [])


def _reaches(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for child in graph[todo.pop()]:
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return seen


def test_imports_point_one_way() -> None:
    graph = _graph()
    for name, targets in graph.items():
        if name.startswith("rnnkit.nn"):
            assert all(t.startswith("rnnkit.nn") for t in targets), (name, targets)
        if name.startswith("rnnkit.data"):
            bad = {t for t in targets if t.startswith(("rnnkit.tasks", "rnnkit.engine"))}
            assert not bad, (name, bad)
        if name.startswith(("rnnkit.tasks", "rnnkit.config", "rnnkit.data", "rnnkit.rundir")):
            bad = {
                t for t in targets if t.startswith(("rnnkit.engine", "rnnkit.search", "rnnkit.cli"))
            }
            assert not bad, (name, bad)


def test_no_module_is_over_1000_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in ROOT.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 1000
    }
    assert not long, long


def test_generic_code_names_no_task() -> None:
    """The engine, predictor, export, report, search and CLI ask the spec; no task's name
    appears in them as a string."""
    names = {"language_model", "classification", "forecasting", "adding", "copy"}
    for relative in ("engine", "predictor.py", "export.py", "report.py", "search", "cli"):
        path = ROOT / relative
        files = path.rglob("*.py") if path.is_dir() else [path]
        for file in files:
            tree = ast.parse(file.read_text(encoding="utf-8"))
            strings = {
                n.value
                for n in ast.walk(tree)
                if isinstance(n, ast.Constant) and isinstance(n.value, str)
            }
            assert not (strings & names), (file.name, strings & names)
