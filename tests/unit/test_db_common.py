"""The cursor and connection instrumentation, against fake sinks and a real in-memory SQLite."""

from __future__ import annotations

import inspect
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from inspect import Parameter
from pathlib import Path

import pytest
from django.core.exceptions import SynchronousOnlyOperation
from django.db import utils as django_db_utils
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.postgresql import base as postgresql_base
from django.db.backends.sqlite3.base import SQLiteCursorWrapper
from django.db.utils import ConnectionHandler
from pytest_django import DjangoDbBlocker

from django_prometheus import state
from django_prometheus.db.backends.mysql import base as mysql_base
from django_prometheus.db.backends.sqlite3.base import DatabaseWrapper
from django_prometheus.db.common import (
    DatabaseWrapperMixin,
    ExportingCursorWrapper,
    is_exporting_cursor_class,
)
from django_prometheus.sinks.prometheus import get_sinks
from django_prometheus.sinks.protocols import BoundDbSink
from django_prometheus.testing import FakeDbSink, QueryExecuted
from django_prometheus.testutils import MetricsSnapshot

INSTRUMENTATION_ERRORS = "django_prometheus_instrumentation_errors_total"


@pytest.fixture(autouse=True)
def _fresh_rate_limit() -> Iterator[None]:
    state.reset()
    yield
    state.reset()


@pytest.fixture
def sink() -> FakeDbSink:
    return FakeDbSink()


@pytest.fixture
def raw() -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE item (name TEXT)")
    yield connection
    connection.close()


@pytest.fixture
def handler(django_db_blocker: DjangoDbBlocker, tmp_path: Path) -> Iterator[ConnectionHandler]:
    """Connections of their own (not the test databases), to SQLite."""
    handler = ConnectionHandler(
        {
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
            # A file: Django never closes an in-memory SQLite connection.
            "unit": {
                "ENGINE": "django_prometheus.db.backends.sqlite3",
                "NAME": str(tmp_path / "unit.sqlite3"),
            },
            "unreachable": {
                "ENGINE": "django_prometheus.db.backends.sqlite3",
                "NAME": "/nonexistent-directory/db.sqlite3",
            },
        }
    )
    with django_db_blocker.unblock():
        yield handler
        handler.close_all()


def wrapper_of(handler: ConnectionHandler, alias: str, sink: FakeDbSink | None) -> DatabaseWrapper:
    wrapper = handler[alias]
    assert isinstance(wrapper, DatabaseWrapper)
    wrapper.prometheus_db_sink = sink
    return wrapper


def only_seconds(calls: Sequence[tuple[object, ...]]) -> list[tuple[object, ...]]:
    """The calls with every duration replaced by "<seconds>" after checking it is one."""
    shown: list[tuple[object, ...]] = []
    for call in calls:
        if call[0] in ("query_executed", "queries_executed_many"):
            seconds = call[-1]
            assert isinstance(seconds, float)
            assert 0 <= seconds < 10
            call = (*call[:-1], "<seconds>")
        shown.append(call)
    return shown


class RecordingCursor(SQLiteCursorWrapper):
    """A base cursor that keeps the exception it raised, to compare with what we raise."""

    raised: BaseException | None = None

    def execute(self, query: str, params: object = None) -> SQLiteCursorWrapper:  # type: ignore[override]
        try:
            return super().execute(query, params)  # type: ignore[arg-type]
        except BaseException as error:
            self.raised = error
            raise


class BrokenBoundSink:
    def connection_opened(self) -> None:
        raise RuntimeError("sink down")

    def connection_failed(self) -> None:
        raise RuntimeError("sink down")

    def query_executed(self, seconds: float) -> None:
        raise RuntimeError("sink down")

    def queries_executed_many(self, count: int, seconds: float) -> None:
        raise RuntimeError("sink down")

    def query_failed(self, error_type: str) -> None:
        raise RuntimeError("sink down")


class _NoPoolSink:
    def pool_observed(
        self,
        alias: str,
        vendor: str,
        idle: int,
        in_use: int,
        max_size: int,
        waiting: int,
        wait_seconds: float,
    ) -> None:
        pass


class BrokenSink(_NoPoolSink):
    def bind(self, alias: str, vendor: str) -> BoundDbSink:
        return BrokenBoundSink()


class UnbindableSink(_NoPoolSink):
    def bind(self, alias: str, vendor: str) -> BoundDbSink:
        raise RuntimeError("cannot bind")


def test_the_same_arguments_give_the_same_class_bound_once(sink: FakeDbSink) -> None:
    first = ExportingCursorWrapper(SQLiteCursorWrapper, "unit", "sqlite", sink)
    assert ExportingCursorWrapper(SQLiteCursorWrapper, "unit", "sqlite", sink) is first
    other_alias = ExportingCursorWrapper(SQLiteCursorWrapper, "other", "sqlite", sink)
    other_sink = ExportingCursorWrapper(SQLiteCursorWrapper, "unit", "sqlite", FakeDbSink())
    assert len({first, other_alias, other_sink}) == 3
    assert sink.calls == [("bind", "unit", "sqlite"), ("bind", "other", "sqlite")]
    assert issubclass(first, SQLiteCursorWrapper)
    assert first.__name__ == "ExportingSQLiteCursorWrapper"
    assert first.__slots__ == ()  # type: ignore[attr-defined]
    assert is_exporting_cursor_class(first)
    assert not is_exporting_cursor_class(SQLiteCursorWrapper)


def test_an_exporting_class_is_never_wrapped_twice(sink: FakeDbSink) -> None:
    exporting = ExportingCursorWrapper(SQLiteCursorWrapper, "unit", "sqlite", sink)
    assert ExportingCursorWrapper(exporting, "another", "sqlite", sink) is exporting
    assert sink.calls == [("bind", "unit", "sqlite")]


def test_concurrent_first_calls_build_one_class(sink: FakeDbSink) -> None:
    made: list[type] = []
    barrier = threading.Barrier(8)

    def build() -> None:
        barrier.wait()
        made.append(ExportingCursorWrapper(SQLiteCursorWrapper, "race", "sqlite", sink))

    threads = [threading.Thread(target=build) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == 8
    assert len(set(made)) == 1
    assert sink.calls == [("bind", "race", "sqlite")]


@pytest.mark.parametrize(
    ("cursor_class", "message"),
    [
        (len, "ExportingCursorWrapper needs a cursor class, got <built-in function len>"),
        (int, "ExportingCursorWrapper needs a cursor class with an execute() method; int has none"),
    ],
)
def test_rejects_what_is_not_a_cursor_class(
    cursor_class: object, message: str, sink: FakeDbSink
) -> None:
    with pytest.raises(TypeError) as info:
        ExportingCursorWrapper(cursor_class, "unit", "sqlite", sink)  # type: ignore[arg-type]
    assert str(info.value) == message
    assert sink.calls == []


def test_execute_reports_one_query_with_its_duration(
    raw: sqlite3.Connection, sink: FakeDbSink
) -> None:
    raw.create_function("pause", 1, time.sleep)
    cursor = raw.cursor(factory=ExportingCursorWrapper(SQLiteCursorWrapper, "u", "sqlite", sink))
    assert cursor.execute("SELECT pause(0.05), 7") is cursor
    assert cursor.fetchone() == (None, 7)
    assert only_seconds(sink.calls) == [
        ("bind", "u", "sqlite"),
        ("query_executed", "u", "sqlite", "<seconds>"),
    ]
    executed = sink.calls[1]
    assert isinstance(executed, QueryExecuted)
    seconds = executed.seconds
    assert isinstance(seconds, float)
    assert 0.05 <= seconds < 5


_OMITTED = object()


class EveryKindCursor(sqlite3.Cursor):
    """A driver's execute with every kind of parameter, keeping what it received."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        super().__init__(connection)
        self.received: list[tuple[object, ...]] = []

    def execute(  # type: ignore[override]
        self,
        query: str,
        params: object = (),
        /,
        *more: object,
        mode: object = _OMITTED,
        **options: object,
    ) -> sqlite3.Cursor:
        self.received.append((query, params, more, mode, options))
        return super().execute(query, params)  # type: ignore[arg-type]


class OddNamesCursor(sqlite3.Cursor):
    def execute(self, _djp_query: str, _djp_start: object = ()) -> sqlite3.Cursor:  # type: ignore[override]
        return super().execute(_djp_query, _djp_start)  # type: ignore[arg-type]


def parameters(function: object) -> list[tuple[str, object, object]]:
    signature = inspect.signature(function)  # type: ignore[arg-type]
    return [(p.name, p.kind, p.default) for p in signature.parameters.values()]


def test_execute_takes_the_very_parameters_of_the_drivers(sink: FakeDbSink) -> None:
    for cursor_class in (EveryKindCursor, SQLiteCursorWrapper):
        exporting = ExportingCursorWrapper(cursor_class, "u", "sqlite", sink)
        assert parameters(exporting.execute) == parameters(cursor_class.execute)
        assert exporting.execute.__qualname__ == f"Exporting{cursor_class.__name__}.execute"


def test_execute_passes_every_kind_of_argument_on(
    raw: sqlite3.Connection, sink: FakeDbSink
) -> None:
    cursor = raw.cursor(factory=ExportingCursorWrapper(EveryKindCursor, "u", "sqlite", sink))
    cursor.execute("SELECT 1")
    cursor.execute("SELECT ?", (2,), "more", mode="m", flag=True)
    assert cursor.received == [
        ("SELECT 1", (), (), _OMITTED, {}),
        ("SELECT ?", (2,), ("more",), "m", {"flag": True}),
    ]
    assert cursor.fetchone() == (2,)
    exporting = ExportingCursorWrapper(SQLiteCursorWrapper, "u", "sqlite", sink)
    by_name = raw.cursor(factory=exporting).execute(query="SELECT %s", params=[3])
    assert by_name.fetchone() == (3,)
    # One bind: the sink's slot is per alias and vendor, whatever the cursor class.
    assert [call[0] for call in sink.calls] == ["bind", *["query_executed"] * 3]


@pytest.mark.parametrize("cursor_class", [OddNamesCursor, sqlite3.Cursor])
def test_execute_takes_any_arguments_where_it_cannot_mirror_the_drivers(
    cursor_class: type[sqlite3.Cursor], raw: sqlite3.Connection, sink: FakeDbSink
) -> None:
    # A parameter named as our own locals, or a method written in C (whose signature may
    # not tell its true defaults): the general form, passing on whatever it is given.
    exporting = ExportingCursorWrapper(cursor_class, "u", "sqlite", sink)
    assert parameters(exporting.execute) == [
        ("self", Parameter.POSITIONAL_OR_KEYWORD, Parameter.empty),
        ("args", Parameter.VAR_POSITIONAL, Parameter.empty),
        ("kwargs", Parameter.VAR_KEYWORD, Parameter.empty),
    ]
    cursor = raw.cursor(factory=exporting)
    assert cursor.execute("SELECT ?", (4,)).fetchone() == (4,)
    assert cursor.execute("SELECT 5").fetchone() == (5,)
    assert only_seconds(sink.calls)[1:] == [("query_executed", "u", "sqlite", "<seconds>")] * 2


def test_executemany_counts_every_parameter_set(raw: sqlite3.Connection, sink: FakeDbSink) -> None:
    cursor = raw.cursor(factory=ExportingCursorWrapper(SQLiteCursorWrapper, "u", "sqlite", sink))
    cursor.executemany("INSERT INTO item VALUES (%s)", [("a",), ("b",), ("c",)])
    cursor.executemany("INSERT INTO item VALUES (%s)", [])
    assert raw.execute("SELECT count(*) FROM item").fetchone() == (3,)
    assert only_seconds(sink.calls) == [
        ("bind", "u", "sqlite"),
        ("queries_executed_many", "u", "sqlite", 3, "<seconds>"),
        ("queries_executed_many", "u", "sqlite", 0, "<seconds>"),
    ]


def test_executemany_counts_a_generator_and_still_runs_it_whole(
    raw: sqlite3.Connection, sink: FakeDbSink
) -> None:
    cursor = raw.cursor(factory=ExportingCursorWrapper(SQLiteCursorWrapper, "u", "sqlite", sink))
    cursor.executemany("INSERT INTO item VALUES (%s)", ((name,) for name in "wxyz"))
    assert raw.execute("SELECT name FROM item ORDER BY name").fetchall() == [
        ("w",),
        ("x",),
        ("y",),
        ("z",),
    ]
    assert only_seconds(sink.calls)[1:] == [
        ("queries_executed_many", "u", "sqlite", 4, "<seconds>")
    ]


def test_executemany_without_parameter_sets_fails_as_the_driver_does(
    raw: sqlite3.Connection, sink: FakeDbSink
) -> None:
    plain = raw.cursor(factory=SQLiteCursorWrapper)
    with pytest.raises(TypeError, match="'NoneType' object is not iterable") as without_us:
        plain.executemany("INSERT INTO item VALUES (%s)", None)  # type: ignore[arg-type]
    cursor = raw.cursor(factory=ExportingCursorWrapper(SQLiteCursorWrapper, "u", "sqlite", sink))
    with pytest.raises(TypeError, match="'NoneType' object is not iterable") as with_us:
        cursor.executemany("INSERT INTO item VALUES (%s)", None)  # type: ignore[arg-type]
    assert type(with_us.value) is type(without_us.value)
    assert only_seconds(sink.calls)[1:] == [
        ("query_failed", "u", "sqlite", "TypeError"),
        ("queries_executed_many", "u", "sqlite", 0, "<seconds>"),
    ]


def test_a_failing_generator_raises_its_own_error(
    raw: sqlite3.Connection, sink: FakeDbSink
) -> None:
    def rows() -> Iterator[tuple[str]]:
        yield ("a",)
        raise LookupError("no more rows")

    cursor = raw.cursor(factory=ExportingCursorWrapper(SQLiteCursorWrapper, "u", "sqlite", sink))
    with pytest.raises(LookupError, match="no more rows"):
        cursor.executemany("INSERT INTO item VALUES (%s)", rows())
    assert only_seconds(sink.calls)[1:] == [
        ("query_failed", "u", "sqlite", "LookupError"),
        ("queries_executed_many", "u", "sqlite", 0, "<seconds>"),
    ]


def test_a_failing_query_reraises_the_very_same_exception(
    raw: sqlite3.Connection, sink: FakeDbSink
) -> None:
    cursor = raw.cursor(factory=ExportingCursorWrapper(RecordingCursor, "u", "sqlite", sink))
    with pytest.raises(sqlite3.OperationalError) as info:
        cursor.execute("SELEC 1")
    assert isinstance(cursor, RecordingCursor)
    assert info.value is cursor.raised
    # The traceback still runs down to where the error was raised.
    assert info.traceback[-1].name == "execute"
    assert Path(info.traceback[-1].path).name == "base.py"  # Django's SQLiteCursorWrapper
    ours = "<django_prometheus tests.unit.test_db_common.ExportingRecordingCursor.execute>"
    assert [entry.name for entry in info.traceback if str(entry.path) == ours] == ["execute"]
    assert only_seconds(sink.calls)[1:] == [
        ("query_failed", "u", "sqlite", "OperationalError"),
        ("query_executed", "u", "sqlite", "<seconds>"),
    ]


def test_a_broken_sink_never_reaches_the_query(
    raw: sqlite3.Connection, metrics_snapshot: MetricsSnapshot
) -> None:
    cursor = raw.cursor(
        factory=ExportingCursorWrapper(SQLiteCursorWrapper, "u", "sqlite", BrokenSink())
    )
    assert cursor.execute("SELECT 5").fetchone() == (5,)
    cursor.executemany("INSERT INTO item VALUES (%s)", [("a",), ("b",)])
    assert raw.execute("SELECT count(*) FROM item").fetchone() == (2,)
    with pytest.raises(sqlite3.OperationalError, match='near "SELEC": syntax error'):
        cursor.execute("SELEC 1")
    # execute, executemany, and the failing query twice (its error and its duration).
    metrics_snapshot.assert_diff(4, INSTRUMENTATION_ERRORS, component="db")


def test_the_wrapper_counts_connections_and_queries(
    handler: ConnectionHandler, sink: FakeDbSink
) -> None:
    wrapper = wrapper_of(handler, "unit", sink)
    with wrapper.cursor() as cursor:
        cursor.execute("CREATE TABLE t (n integer)")
        cursor.executemany("INSERT INTO t VALUES (%s)", [(1,), (2,)])
    wrapper.close()
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT 2")
    assert only_seconds(sink.calls) == [
        ("bind", "unit", "sqlite"),  # once per sink and alias, whatever the connections
        ("connection_opened", "unit", "sqlite"),
        ("query_executed", "unit", "sqlite", "<seconds>"),
        ("queries_executed_many", "unit", "sqlite", 2, "<seconds>"),
        ("connection_opened", "unit", "sqlite"),
        ("query_executed", "unit", "sqlite", "<seconds>"),
    ]


def test_a_failed_connection_is_counted_and_django_raises_its_own_error(
    handler: ConnectionHandler, sink: FakeDbSink
) -> None:
    wrapper = wrapper_of(handler, "unreachable", sink)
    with pytest.raises(django_db_utils.OperationalError) as info:
        wrapper.ensure_connection()
    assert str(info.value) == "unable to open database file"
    assert type(info.value.__cause__) is sqlite3.OperationalError
    assert sink.calls == [
        ("bind", "unreachable", "sqlite"),
        ("connection_failed", "unreachable", "sqlite"),
    ]


def test_a_sink_that_cannot_bind_leaves_the_database_working(
    handler: ConnectionHandler, metrics_snapshot: MetricsSnapshot
) -> None:
    wrapper = handler["unit"]
    assert isinstance(wrapper, DatabaseWrapper)
    wrapper.prometheus_db_sink = UnbindableSink()
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT 3")
        assert cursor.fetchone() == (3,)
    # Bound once per sink and alias: one failure, and the queries went on uncounted.
    metrics_snapshot.assert_diff(1, INSTRUMENTATION_ERRORS, component="db")


def test_the_default_sink_is_the_prometheus_sink(
    handler: ConnectionHandler, metrics_snapshot: MetricsSnapshot
) -> None:
    wrapper = wrapper_of(handler, "unit", None)
    with wrapper.cursor() as cursor:
        cursor.execute("CREATE TABLE t (n integer)")
        cursor.executemany("INSERT INTO t VALUES (%s)", [(1,), (2,), (3,)])
    labels = {"alias": "unit", "vendor": "sqlite"}
    metrics_snapshot.assert_diff(1, "django_db_new_connections_total", **labels)
    metrics_snapshot.assert_diff(4, "django_db_execute_total", **labels)
    metrics_snapshot.assert_diff(3, "django_db_execute_many_total", **labels)
    metrics_snapshot.assert_diff(2, "django_db_query_duration_seconds_count", **labels)


def test_the_established_metric_names_are_the_sink_families() -> None:
    from django_prometheus import db
    from django_prometheus.db import metrics

    family = get_sinks().db
    assert metrics.execute_total is family.execute
    assert db.execute_total is family.execute
    assert metrics.connections_total is family.new_connections
    assert metrics.connection_errors_total is family.new_connection_errors
    assert metrics.execute_many_total is family.execute_many
    assert metrics.errors_total is family.errors
    assert db.query_duration_seconds is family.query_duration
    with pytest.raises(AttributeError, match="has no attribute 'executed_total'"):
        metrics.executed_total  # noqa: B018


@pytest.fixture
def connected(handler: ConnectionHandler) -> list[BaseDatabaseWrapper]:
    """Django's SQLite wrapper and ours, connected (an event loop sees wrappers of its own)."""
    wrappers = [handler["default"], handler["unit"]]
    for wrapper in wrappers:
        wrapper.ensure_connection()
    return wrappers


async def test_sqlite_create_cursor_runs_in_an_event_loop_as_djangos_does(
    connected: list[BaseDatabaseWrapper],
) -> None:
    # Django's SQLite create_cursor has no async guard (its cursor() has): nor has ours.
    for wrapper in connected:
        wrapper.create_cursor().close()
        with pytest.raises(SynchronousOnlyOperation):
            wrapper.cursor()


class OverGuardedDjangoWrapper(DatabaseWrapperMixin, postgresql_base.DatabaseWrapper):
    """The mixin's create_cursor replacing one that refuses to run in an event loop."""

    CURSOR_CLASS = SQLiteCursorWrapper


@pytest.mark.parametrize("wrapper_class", [OverGuardedDjangoWrapper, mysql_base.DatabaseWrapper])
async def test_create_cursor_refuses_to_run_in_an_event_loop_where_djangos_does(
    wrapper_class: type[DatabaseWrapperMixin],
) -> None:
    wrapper = wrapper_class.__new__(wrapper_class)
    with pytest.raises(SynchronousOnlyOperation):
        wrapper.create_cursor()
