"""All process-wide state is in django_prometheus.state; reset() forgets the caches; nothing
keeps a test's fake alive."""

from __future__ import annotations

import ast
import gc
import sqlite3
import threading
import weakref
from pathlib import Path

import pytest
from django.http import HttpResponse
from prometheus_client import CollectorRegistry

from django_prometheus import state
from django_prometheus.config import get_config
from django_prometheus.db.common import ExportingCursorWrapper
from django_prometheus.exposition import render_metrics
from django_prometheus.http_labels import charset_label
from django_prometheus.sinks.provider import followed_slot
from django_prometheus.testing import FakeDbSink, FakeSinks, QueryExecuted, use_sinks

PACKAGE = Path(__file__).resolve().parents[2] / "django_prometheus"

_MUTABLE_CALLS = frozenset(
    {"dict", "list", "set", "WeakKeyDictionary", "WeakValueDictionary", "WeakSet", "defaultdict"}
)
_CACHING_DECORATORS = frozenset({"lru_cache", "cache"})
# Module-level lists that declare, and are never written: the public names, Django's URLs.
_DECLARATIONS = frozenset({"__all__", "urlpatterns"})


def _assigned_names(node: ast.stmt) -> set[str]:
    targets = node.targets if isinstance(node, ast.Assign) else []
    if isinstance(node, ast.AnnAssign):
        targets = [node.target]
    return {target.id for target in targets if isinstance(target, ast.Name)}


def _module_level_state(tree: ast.Module) -> list[str]:
    """Module-level mutable containers and memoizing decorators, as 'line: what'."""
    found = []
    for node in tree.body:
        value = node.value if isinstance(node, (ast.Assign, ast.AnnAssign)) else None
        if _assigned_names(node) & _DECLARATIONS:
            continue
        if isinstance(value, (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp)):
            found.append(f"{node.lineno}: a {type(value).__name__.lower()} literal")
        elif isinstance(value, ast.Call):
            func = value.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in _MUTABLE_CALLS:
                found.append(f"{node.lineno}: {name}()")
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                name = (
                    target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
                )
                if name in _CACHING_DECORATORS:
                    found.append(f"{node.lineno}: @{name} on {node.name}")
    return found


def test_no_module_but_state_holds_process_wide_containers() -> None:
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "state.py":
            continue
        found = _module_level_state(ast.parse(path.read_text(encoding="utf-8")))
        # Literal tables that are never written (Final mappings of constants) are fine.
        found = [item for item in found if not _is_constant_table(path, item)]
        if found:
            offenders[str(path.relative_to(PACKAGE.parent))] = found
    assert offenders == {}


def _is_constant_table(path: Path, item: str) -> bool:
    line = path.read_text(encoding="utf-8").splitlines()[int(item.split(":")[0]) - 1]
    return "Final" in line


def test_the_guard_finds_what_it_should() -> None:
    source = (
        "import functools, weakref\n"
        "A = {}\n"
        "B: list[int] = []\n"
        "C = weakref.WeakSet()\n"
        "@functools.lru_cache(maxsize=2)\n"
        "def f(): pass\n"
        "D = (1, 2)\n"
    )
    assert _module_level_state(ast.parse(source)) == [
        "2: a dict literal",
        "3: a list literal",
        "4: WeakSet()",
        "6: @lru_cache on f",
    ]


def test_reset_forgets_every_cache(settings: object) -> None:
    config = get_config()
    render_metrics(CollectorRegistry(), accept="text/plain", accept_encoding="gzip")
    charset_label(HttpResponse(content_type="text/plain; charset=latin-1"))
    slot = followed_slot(("test_state", "reset"), lambda bundle: "bound")
    assert slot.get() == "bound"
    assert len(state.negotiations) * len(state.gzip_acceptance) * len(state.charsets) > 0
    state.reset()
    assert (len(state.negotiations), len(state.gzip_acceptance), len(state.charsets)) == (0, 0, 0)
    assert slot.sink is None
    assert get_config() is not config  # read again from the settings
    assert get_config() == config


def test_lazy_map_makes_each_value_once_across_threads() -> None:
    made: list[int] = []
    values: state.LazyMap[str, int] = state.LazyMap()
    barrier = threading.Barrier(8)

    def make() -> int:
        made.append(1)
        return len(made)

    def worker() -> None:
        barrier.wait()
        assert values.get("key", make) == 1

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert made == [1]


def test_memo_stops_growing_at_its_limit() -> None:
    memo: state.Memo[str, int] = state.Memo(2)
    assert [memo.remember(key, index) for index, key in enumerate("abc")] == [0, 1, 2]
    assert memo == {"a": 0, "b": 1}


def test_a_sink_given_by_hand_dies_with_its_test() -> None:
    fake = FakeDbSink()
    cursor_class = ExportingCursorWrapper(sqlite3.Cursor, "state-test", "sqlite", fake)
    connection = sqlite3.connect(":memory:")
    connection.cursor(cursor_class).execute("SELECT 1")
    connection.close()
    assert [call.event for call in fake.calls] == ["bind", "query_executed"]
    gone = weakref.ref(fake)
    del fake, cursor_class
    gc.collect()
    assert gone() is None


def test_fakes_of_use_sinks_die_after_the_block() -> None:
    cursor_class = ExportingCursorWrapper(sqlite3.Cursor, "state-test", "sqlite")
    with use_sinks(FakeSinks()) as fakes:
        connection = sqlite3.connect(":memory:")
        connection.cursor(cursor_class).execute("SELECT 1")
        connection.close()
    assert isinstance(fakes.db.calls[-1], QueryExecuted)
    gone = weakref.ref(fakes.db)
    del fakes
    gc.collect()
    assert gone() is None


@pytest.mark.parametrize("name", sorted(state.__all__))
def test_state_exports_what_it_documents(name: str) -> None:
    assert hasattr(state, name)
