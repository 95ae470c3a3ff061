"""Every module imports on its own, and no two modules import each other, even indirectly.

A cycle works only as long as the modules in it are imported in one order and never use each other while
half-initialised; it also means neither can be read or tested without the other. The check counts every import
statement: at module level, under ``if TYPE_CHECKING:`` and inside functions, because a deferred or type-only
import hides a cycle from the interpreter but not from the reader. Break a cycle with a ``Protocol`` naming what one
side needs (see ``lab.faults.Home``), or by moving the shared part into a module of its own.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Container, Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("agent", "collector", "shared", "lab", "bench")
# A hub installs the package without its `collector` extra (pyproject.toml): the hub's code must import without it.
HUB_PACKAGES = ("agent", "shared")
COLLECTOR_EXTRA = ("psycopg", "boto3")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _modules(packages: tuple[str, ...]) -> dict[str, Path]:
    """Every module of ``packages``, but not a ``__main__`` (importing it runs the program)."""
    return {
        _module_name(path): path
        for package in packages
        for path in sorted((ROOT / package).rglob("*.py"))
        if path.name != "__main__.py"
    }


def _imported(module: str, path: Path, node: ast.Import | ast.ImportFrom, modules: Container[str]) -> Iterator[str]:
    """The modules an import statement reads from: ``from p import x`` reads submodule ``p.x`` if there is one,
    otherwise ``p`` itself."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    if node.level:
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        base = ".".join(package[: len(package) - node.level + 1])
        target = f"{base}.{node.module}" if node.module else base
    else:
        target = node.module or ""
    for alias in node.names:
        yield f"{target}.{alias.name}" if f"{target}.{alias.name}" in modules else target


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def import_graph(packages: tuple[str, ...]) -> dict[str, set[str]]:
    """Module -> the modules of ``packages`` it imports anywhere, with the packages whose ``__init__`` that runs.

    The packages enclosing the importer are added only when it reads names from them: they are being initialised
    already, so a package that imports its submodules to re-export them is not a cycle.
    """
    modules = _modules(packages)
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        own = set(_ancestors(module))
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for name in _imported(module, path, node, modules):
                if name in modules:
                    edges.add(name)
                edges.update(m for m in _ancestors(name) if m in modules and m not in own)
        edges.discard(module)
        graph[module] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
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


def test_the_checker_finds_a_cycle_through_a_deferred_import() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_itself_through_others() -> None:
    assert cycles(import_graph((*PACKAGES, "tests"))) == []


@pytest.mark.parametrize("package", PACKAGES)
def test_every_module_imports_in_a_fresh_interpreter(package: str) -> None:
    names = sorted(_modules((package,)))
    not_installed = COLLECTOR_EXTRA if package in HUB_PACKAGES else ()
    script = (
        "import importlib, sys, traceback\n"
        f"sys.modules.update(dict.fromkeys({not_installed!r}))\n"  # None: how Python marks a module not importable
        "failed = 0\n"
        f"for name in {names!r}:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception:\n"
        "        failed += 1\n"
        "        print(f'--- {name}', file=sys.stderr)\n"
        "        traceback.print_exc()\n"
        "sys.exit(1 if failed else 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-4000:]
