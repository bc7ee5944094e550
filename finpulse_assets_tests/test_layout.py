"""The package's shape: its top level is the map, no import circles, private Dagster APIs in one module.

Touches only source files (ast), no imports of the package.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "finpulse_assets"
# The wiring that stays at the root; everything else lives in the subpackage of its part.
ROOT_MODULES = {"__init__", "definitions", "settings", "partitions", "resources", "dagster_private"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module named by an import anywhere in the file (function-level imports included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def _import_graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {m: {t for t in _imports(p) if t in modules and t != m} for m, p in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_top_level_holds_only_the_wiring():
    loose = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in ROOT_MODULES)
    assert not loose, f"modules at the top level of finpulse_assets/ (move them into their part's subpackage): {loose}"


def test_no_import_circles():
    assert _cycles(_import_graph()) == []


def test_the_cycle_finder_finds_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_private_dagster_apis_only_through_dagster_private():
    offenders = []
    for folder in ("finpulse_assets", "finpulse_assets_tests", "benchmarks", "bentos"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name == "dagster_private.py":
                continue
            private = sorted(n for n in _imports(path) if n.split(".")[0].startswith("dagster")
                             and any(part.startswith("_") for part in n.split(".")[1:2]))
            if private:
                offenders.append(f"{path.relative_to(ROOT)}: {private}")
    assert not offenders, "import these through finpulse_assets.dagster_private:\n" + "\n".join(offenders)



def test_benchmarks_use_public_helpers_not_the_test_suite():
    offenders = [f"{p.relative_to(ROOT)}" for p in (ROOT / "benchmarks").rglob("*.py")
                 if any(n.startswith("finpulse_assets_tests") for n in _imports(p))]
    assert not offenders, f"benchmarks importing test helpers: {offenders}"
