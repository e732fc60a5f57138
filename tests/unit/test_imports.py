"""Every module of the package imports alone, and the package's import graph has no cycle.

The graph is read statically (ast over ``django_prometheus/**/*.py``). Imports under
``if TYPE_CHECKING:`` are left out: they never run. Imports inside functions are
counted: such an import only defers the cycle to the first call (where it can still
meet a half-initialised module) and keeps the two modules unable to stand alone.
Importing ``a.b.c`` also runs ``a/__init__`` and ``a/b/__init__``; those implicit
edges to parent packages are not counted, since Python puts a package in
``sys.modules`` before its submodules run and such an edge can never fail.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "django_prometheus"

# module -> {imported module of the same package: line of the first such import}
Graph = dict[str, dict[str, int]]


def module_name(path: Path, package_dir: Path) -> str:
    parts = path.relative_to(package_dir.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth, except those under ``if TYPE_CHECKING:``."""
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            pending.extend(node.orelse)
            continue
        pending.extend(ast.iter_child_nodes(node))


def _targets(
    node: ast.Import | ast.ImportFrom, module: str, is_package: bool, modules: set[str]
) -> Iterator[str]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            name = alias.name
            while name and name not in modules:  # `import a.b.c` where only a.b is ours
                name = name.rpartition(".")[0]
            if name:
                yield name
        return
    base = node.module or ""
    if node.level:
        anchor = module if is_package else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            anchor = anchor.rpartition(".")[0]
        base = f"{anchor}.{base}" if base else anchor
    for alias in node.names:
        submodule = f"{base}.{alias.name}"
        if submodule in modules:
            yield submodule  # `from pkg import submodule`
        elif base in modules:
            yield base


def import_graph(package_dir: Path) -> Graph:
    files = {module_name(path, package_dir): path for path in sorted(package_dir.rglob("*.py"))}
    modules = set(files)
    graph: Graph = {}
    for module, path in files.items():
        edges = graph.setdefault(module, {})
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in _imports(tree):
            for target in _targets(node, module, path.name == "__init__.py", modules):
                if target != module:
                    edges[target] = min(edges.get(target, node.lineno), node.lineno)
    return graph


def strongly_connected(graph: Mapping[str, Mapping[str, int]]) -> list[list[str]]:
    """Tarjan's components with more than one module, each sorted, in sorted order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, {}):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def describe_cycles(graph: Mapping[str, Mapping[str, int]], package_dir: Path) -> list[str]:
    """Per cycle: its modules, then every import that ties them (file:line), one a line."""

    def where(module: str) -> str:
        path = Path(*module.split(".")).with_suffix(".py")
        if not (package_dir.parent / path).exists():
            path = path.with_suffix("") / "__init__.py"
        return str(path)

    lines = []
    for component in strongly_connected(graph):
        members = set(component)
        edges = [
            f"{source} -> {target} ({where(source)}:{line})"
            for source in component
            for target, line in sorted(graph[source].items())
            if target in members
        ]
        lines.append(f"import cycle among {', '.join(component)}:\n  " + "\n  ".join(edges))
    return lines


_IMPORT_EACH_ALONE = """
import importlib, os, sys, traceback
import django
from django.conf import settings

# Django loads database backends only once it is set up (postgis' own models need
# the app registry): set it up with no app, so that no module of ours is loaded yet.
settings.configure()
django.setup()
loaded = sorted(name for name in sys.modules if name.split(".")[0] == "django_prometheus")
if loaded:
    sys.exit(f"already loaded before the first fork: {loaded}")
for name in sys.argv[1:]:
    pid = os.fork()
    if pid == 0:
        try:
            importlib.import_module(name)
        except BaseException:
            traceback.print_exc()
            sys.stderr.flush()
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    print(name, "ok" if os.waitstatus_to_exitcode(status) == 0 else "FAILED", flush=True)
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="forks one child per module")
def test_every_module_imports_alone_in_a_fresh_interpreter() -> None:
    modules = sorted(import_graph(PACKAGE))
    environment = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO")}
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_EACH_ALONE, *modules],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env=environment,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    outcomes = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    assert outcomes == dict.fromkeys(modules, "ok"), result.stderr


def test_the_package_has_no_import_cycle() -> None:
    cycles = describe_cycles(import_graph(PACKAGE), PACKAGE)
    assert cycles == [], "\n".join(cycles)


# --- the graph reader itself, on a package written for the purpose -----------------------


def _write(root: Path, files: Mapping[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / "pkg"


def test_function_level_imports_count_and_type_checking_ones_do_not(tmp_path: Path) -> None:
    package = _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from pkg.b import thing\n",
            "pkg/b.py": (
                "from typing import TYPE_CHECKING\n"
                "import typing\n"
                "if TYPE_CHECKING:\n    from pkg import a\n"
                "if typing.TYPE_CHECKING:\n    import pkg.a\n"
                "else:\n    import pkg.c\n"
                "def late():\n    from pkg.sub import d\n"
            ),
            "pkg/c.py": "",
            "pkg/sub/__init__.py": "from . import d\n",
            "pkg/sub/d.py": "from .. import a\nimport pkg.sub.d.missing\n",
        },
    )
    graph = import_graph(package)
    assert graph == {
        "pkg": {},
        "pkg.a": {"pkg.b": 1},
        "pkg.b": {"pkg.c": 8, "pkg.sub.d": 10},
        "pkg.c": {},
        "pkg.sub": {"pkg.sub.d": 1},
        "pkg.sub.d": {"pkg.a": 1},
    }
    assert describe_cycles(graph, package) == [
        (
            "import cycle among pkg.a, pkg.b, pkg.sub.d:\n"
            "  pkg.a -> pkg.b (pkg/a.py:1)\n"
            "  pkg.b -> pkg.sub.d (pkg/b.py:10)\n"
            "  pkg.sub.d -> pkg.a (pkg/sub/d.py:1)"
        )
    ]


def test_a_graph_without_cycles_has_no_components() -> None:
    assert strongly_connected({"a": {"b": 1}, "b": {"c": 1}, "c": {}, "d": {"a": 3}}) == []
    assert strongly_connected({"a": {"b": 1}, "b": {"a": 2}, "c": {"a": 1}}) == [["a", "b"]]
