"""Connection and cursor instrumentation shared by every database backend.

Two building blocks, also meant for projects that instrument a third-party
backend (see "Database metrics" in the README):

* :func:`ExportingCursorWrapper` subclasses a DB-API cursor class so that
  ``execute`` and ``executemany`` report to the database sink. The class is
  built once per (cursor class, alias, vendor, sink) and reused, and its label
  children are bound when it is built, so a query does no label lookup.
* :class:`DatabaseWrapperMixin` goes before a backend's ``DatabaseWrapper``: it
  counts new connections and their failures, and creates instrumented cursors
  for backends whose driver takes a cursor class (``CURSOR_CLASS``).

Whatever goes wrong inside our recording is handed to
:func:`django_prometheus.safety.instrumentation_failed`; the query, its result
and its exception are exactly those of the uninstrumented backend.
"""

from __future__ import annotations

import inspect
import linecache
from collections.abc import Iterable
from inspect import Parameter
from time import perf_counter
from typing import TYPE_CHECKING, ClassVar, Final, TypeVar

from django.utils.asyncio import async_unsafe

import django_prometheus.checks  # noqa: F401  (registers W006 even when the app is not installed)
from django_prometheus import state
from django_prometheus.safety import instrumentation_failed
from django_prometheus.sinks.protocols import BoundDbSink, DbSink
from django_prometheus.sinks.provider import (
    SinkSlot,
    current_sinks,
    default_sinks,
    fixed_slot,
    followed_slot,
)
from django_prometheus.state import LazyMap

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

    _WrapperBase = BaseDatabaseWrapper
else:
    _WrapperBase = object

__all__ = ["DatabaseWrapperMixin", "ExportingCursorWrapper", "is_exporting_cursor_class"]

_CursorT = TypeVar("_CursorT")

_exporting_classes = state.exporting_cursor_classes


class _NoDbSink:
    """Stands in when binding failed: the failure was reported once, the queries go on."""

    __slots__ = ()

    def connection_opened(self) -> None:
        pass

    def connection_failed(self) -> None:
        pass

    def query_executed(self, seconds: float) -> None:
        pass

    def queries_executed_many(self, count: int, seconds: float) -> None:
        pass

    def query_failed(self, error_type: str) -> None:
        pass


def _bind(sink: DbSink, alias: str, vendor: str) -> BoundDbSink:
    try:
        return sink.bind(alias, vendor)
    except Exception as error:
        instrumentation_failed("db", error)
        return _NoDbSink()


def _slot(alias: str, vendor: str, sink: DbSink | None) -> SinkSlot[BoundDbSink]:
    """The slot of ``alias``: following the current sinks, or fixed to ``sink``."""
    if sink is None:
        return followed_slot(
            ("db", alias, vendor),
            lambda bundle: _bind((bundle or default_sinks()).db, alias, vendor),
        )
    per_sink = state.db_slots_by_sink.get(sink, LazyMap)
    return per_sink.get((alias, vendor), lambda: fixed_slot(_bind(sink, alias, vendor)))


def _report_query_failure(slot: SinkSlot[BoundDbSink], error: BaseException) -> None:
    try:
        slot.get().query_failed(type(error).__name__)
    except Exception as ours:
        instrumentation_failed("db", ours)


def _counted(param_list: object) -> tuple[int, object]:
    """How many parameter sets ``executemany`` will run, and the sets to pass on.

    A one-shot iterable (a generator, say) is read into a list so that it can be
    counted and still reach the driver whole; anything that is not iterable goes
    through unchanged, so the driver raises the error it raises without us.
    """
    try:
        return len(param_list), param_list  # type: ignore[arg-type]
    except TypeError:
        pass
    if isinstance(param_list, Iterable):
        materialized = list(param_list)
        return len(materialized), materialized
    return 0, param_list


# The names the generated execute uses for itself; a parameter of the driver's execute
# that starts so is not mirrored (the general form is used instead).
_OWN: Final = "_djp_"

_EXECUTE_SOURCE = """\
def execute{parameters}:
    _djp_start = _djp_perf_counter()
    try:
        return _djp_cursor_class.execute({arguments})
    except BaseException as _djp_error:
        _djp_report_query_failure(_djp_slot, _djp_error)
        raise
    finally:
        try:
            _djp_bound = _djp_slot.sink
            if _djp_bound is None:
                _djp_bound = _djp_slot.resolve()
            _djp_bound.query_executed(_djp_perf_counter() - _djp_start)
        except Exception as _djp_ours:
            _djp_instrumentation_failed("db", _djp_ours)
"""


class _Named:
    """Shows as its name in a signature: a default of the generated ``execute``."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


_GENERAL: Final[tuple[str, str, dict[str, object]]] = (
    "(self, *args, **kwargs)",
    "self, *args, **kwargs",
    {},
)


# How the generated execute passes on a parameter of each kind.
_PASSED: Final = {
    Parameter.POSITIONAL_ONLY: "{}",
    Parameter.POSITIONAL_OR_KEYWORD: "{}",
    Parameter.VAR_POSITIONAL: "*{}",
    Parameter.KEYWORD_ONLY: "{0}={0}",
    Parameter.VAR_KEYWORD: "**{}",
}


def _mirrored(method: object) -> tuple[str, str, dict[str, object]]:
    """The parameter list of ``method``, the arguments passing each one on, and the
    defaults the list names.

    Forwarding ``*args, **kwargs`` costs more than the rest of our work on a query, so
    the generated ``execute`` takes the very parameters of the driver's (names, kinds,
    defaults) and passes each on by its kind; a default is passed as the value it is.
    A method whose signature may not tell its true defaults (one written in C) gets the
    general form.
    """
    if not inspect.isfunction(method):
        return _GENERAL
    try:
        # Its own parameters, not those of a function it may wrap.
        parameters = list(inspect.signature(method, follow_wrapped=False).parameters.values())
    except (TypeError, ValueError):
        return _GENERAL
    if (
        not parameters
        or parameters[0].kind not in (Parameter.POSITIONAL_ONLY, Parameter.POSITIONAL_OR_KEYWORD)
        or any(parameter.name.startswith(_OWN) for parameter in parameters)
    ):
        return _GENERAL
    defaults: dict[str, object] = {}
    shown = []
    passed = []
    for index, parameter in enumerate(parameters):
        if parameter.default is not Parameter.empty:
            name = f"{_OWN}default_{index}"
            defaults[name] = parameter.default
            parameter = parameter.replace(default=_Named(name))
        shown.append(parameter.replace(annotation=Parameter.empty))
        passed.append(_PASSED[parameter.kind].format(parameter.name))
    signature = inspect.Signature(shown, return_annotation=inspect.Signature.empty)
    return str(signature), ", ".join(passed), defaults


def _exporting_execute(cursor_class: type, slot: SinkSlot[BoundDbSink]) -> object:
    """``execute`` for the subclass of ``cursor_class``: one frame between the caller
    and the driver's ``execute``, which is looked up per call (not captured) so that
    another library patching the driver's cursor class later still sees its patch run."""
    parameters, arguments, defaults = _mirrored(cursor_class.execute)  # type: ignore[attr-defined]
    source = _EXECUTE_SOURCE.format(parameters=parameters, arguments=arguments)
    qualname = f"Exporting{cursor_class.__name__}.execute"
    # Tracebacks through a query show this source.
    filename = f"<django_prometheus {cursor_class.__module__}.{qualname}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict[str, object] = {
        **defaults,
        "_djp_perf_counter": perf_counter,
        "_djp_cursor_class": cursor_class,
        "_djp_slot": slot,
        "_djp_report_query_failure": _report_query_failure,
        "_djp_instrumentation_failed": instrumentation_failed,
    }
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102  (our own source, above)
    execute = namespace["execute"]
    execute.__module__ = __name__
    execute.__qualname__ = qualname  # type: ignore[attr-defined]
    return execute


def _build(cursor_class: type, slot: SinkSlot[BoundDbSink]) -> type:
    def executemany(
        self: object, query: object, param_list: object, *args: object, **kwargs: object
    ) -> object:
        start = perf_counter()
        count = 0
        try:
            count, param_list = _counted(param_list)
            return cursor_class.executemany(self, query, param_list, *args, **kwargs)  # type: ignore[attr-defined]
        except BaseException as error:
            _report_query_failure(slot, error)
            raise
        finally:
            try:
                slot.get().queries_executed_many(count, perf_counter() - start)
            except Exception as ours:
                instrumentation_failed("db", ours)

    namespace: dict[str, object] = {
        # No new instance layout: behaves like the base class (no __dict__ where it has
        # none), and a fresh cursor of the base class may be switched to this class.
        "__slots__": (),
        "__module__": __name__,
        "__qualname__": f"Exporting{cursor_class.__name__}",
        "__doc__": f"{cursor_class.__module__}.{cursor_class.__qualname__} reporting its queries.",
        "execute": _exporting_execute(cursor_class, slot),
    }
    if callable(getattr(cursor_class, "executemany", None)):
        namespace["executemany"] = executemany
    return type(f"Exporting{cursor_class.__name__}", (cursor_class,), namespace)


def ExportingCursorWrapper(
    cursor_class: type[_CursorT], alias: str, vendor: str, sink: DbSink | None = None
) -> type[_CursorT]:
    """A subclass of ``cursor_class`` whose queries are counted for ``alias`` and ``vendor``.

    Cheap to call again: the same arguments give the same class, built (and its
    labels bound) only the first time. Without ``sink`` the class records into the
    current sinks (a fake under ``use_sinks``); with one, into that sink only. A
    class that is already exporting comes back unchanged, so nothing is ever
    counted twice.
    """
    if not isinstance(cursor_class, type):
        raise TypeError(f"ExportingCursorWrapper needs a cursor class, got {cursor_class!r}")
    if cursor_class in _exporting_classes:
        return cursor_class
    if not callable(getattr(cursor_class, "execute", None)):
        raise TypeError(
            f"ExportingCursorWrapper needs a cursor class with an execute() method; "
            f"{cursor_class.__qualname__} has none"
        )
    # PostgreSQL asks on every new connection: a present class is read without a lock.
    classes = (
        state.cursor_classes if sink is None else state.cursor_classes_by_sink.get(sink, LazyMap)
    )
    return classes.get(
        (cursor_class, alias, vendor), lambda: _exporting(cursor_class, _slot(alias, vendor, sink))
    )


def _exporting(cursor_class: type, slot: SinkSlot[BoundDbSink]) -> type:
    made = _build(cursor_class, slot)
    _exporting_classes.add(made)
    return made


def is_exporting_cursor_class(cursor_class: type) -> bool:
    """Whether ``cursor_class`` was made by :func:`ExportingCursorWrapper`."""
    return cursor_class in _exporting_classes


class DatabaseWrapperMixin(_WrapperBase):
    """Counts a backend's new connections and instruments its cursors.

    Put it first in the bases of a ``DatabaseWrapper``. When the backend's
    driver creates cursors through ``connection.cursor(factory=...)`` (as
    sqlite3 does), set ``CURSOR_CLASS`` to the cursor class Django passes there
    and cursors are instrumented too. Other backends override ``create_cursor``
    and wrap their cursor class with :meth:`exporting_cursor_class`.

    Without further ado it records into the current sinks, so ``use_sinks`` reaches
    connections that are already open and pooled ones. ``prometheus_db_sink``
    (class or instance attribute) fixes the sink instead, e.g. to a
    :class:`django_prometheus.testing.FakeDbSink`; it is read when a connection is
    opened, and for backends with ``CURSOR_CLASS`` when a cursor is made.
    """

    CURSOR_CLASS: ClassVar[type | None] = None
    prometheus_db_sink: DbSink | None = None

    _prometheus_cursor_class: type | None = None
    _prometheus_cursor_sink: DbSink | None = None

    def prometheus_sink(self) -> DbSink:
        """The sink this connection reports to now."""
        explicit = self.prometheus_db_sink
        return current_sinks().db if explicit is None else explicit

    def exporting_cursor_class(self, cursor_class: type[_CursorT]) -> type[_CursorT]:
        """``cursor_class`` reporting for this connection; ``cursor_class`` itself if that fails."""
        sink = self.prometheus_db_sink
        try:
            if sink is None:  # three arguments, as the established package passes them
                return ExportingCursorWrapper(cursor_class, self.alias, self.vendor)
            return ExportingCursorWrapper(cursor_class, self.alias, self.vendor, sink)
        except Exception as error:
            instrumentation_failed("db", error)
            return cursor_class

    def get_new_connection(self, conn_params: object) -> object:
        try:
            bound: BoundDbSink | None = _slot(
                self.alias, self.vendor, self.prometheus_db_sink
            ).get()
        except Exception as error:
            instrumentation_failed("db", error)
            bound = None
        try:
            connection = super().get_new_connection(conn_params)
        except Exception:
            if bound is not None:
                try:
                    bound.connection_failed()
                except Exception as ours:
                    instrumentation_failed("db", ours)
            raise
        if bound is not None:
            try:
                bound.connection_opened()
            except Exception as ours:
                instrumentation_failed("db", ours)
        if self.CURSOR_CLASS is not None:
            # Chosen once per connection, so create_cursor does no lookup.
            self._choose_cursor_class(self.CURSOR_CLASS)
        return connection

    def _choose_cursor_class(self, cursor_class: type) -> type:
        sink = self.prometheus_db_sink
        chosen: type = self.exporting_cursor_class(cursor_class)
        self._prometheus_cursor_class = chosen
        self._prometheus_cursor_sink = sink
        return chosen

    def prometheus_cursor_class(self) -> type:
        """``CURSOR_CLASS`` reporting for this connection."""
        cursor_class = self._prometheus_cursor_class
        if cursor_class is None or self._prometheus_cursor_sink is not self.prometheus_db_sink:
            # A connection Django did not open through get_new_connection, or a sink
            # set by hand since.
            if self.CURSOR_CLASS is None:
                raise TypeError(f"{type(self).__qualname__} sets no CURSOR_CLASS")
            cursor_class = self._choose_cursor_class(self.CURSOR_CLASS)
        return cursor_class

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if cls.create_cursor in _OUR_CREATE_CURSORS.values():
            # Guarded against event loops exactly when the Django create_cursor it
            # replaces is (PostgreSQL's and MySQL's are, SQLite's is not: Django's
            # cursor() guards it), so that a cursor costs no second check.
            django_wrapper = next(c for c in cls.__mro__ if not issubclass(c, DatabaseWrapperMixin))
            replaced = getattr(django_wrapper, "create_cursor", None)
            guarded = getattr(replaced, "__code__", None) is _ASYNC_UNSAFE_CODE
            setattr(cls, "create_cursor", _OUR_CREATE_CURSORS[guarded])  # noqa: B010

    def create_cursor(self, name: str | None = None) -> object:
        # prometheus_cursor_class() inlined: a cursor per query is the ORM's pattern.
        cursor_class = self._prometheus_cursor_class
        if cursor_class is None or self._prometheus_cursor_sink is not self.prometheus_db_sink:
            if self.CURSOR_CLASS is None:
                return super().create_cursor(name)
            cursor_class = self._choose_cursor_class(self.CURSOR_CLASS)
        return self.connection.cursor(factory=cursor_class)


# Every function async_unsafe makes runs this one code object: how a guarded
# create_cursor is recognised.
_ASYNC_UNSAFE_CODE = async_unsafe(lambda: None).__code__
# DatabaseWrapperMixin.create_cursor, by whether it refuses to run in an event loop.
_OUR_CREATE_CURSORS: Final = {
    False: DatabaseWrapperMixin.create_cursor,
    True: async_unsafe(DatabaseWrapperMixin.create_cursor),
}
