"""Fakes of every sink, and :func:`use_sinks` to put them under the whole Django stack.

::

    from django_prometheus.testing import FakeSinks, use_sinks

    def test_home(client):
        with use_sinks(FakeSinks()) as fakes:
            client.get("/")
        assert fakes.http.events()[:2] == ["request_started", "request_entered"]

Each fake keeps ``calls``: typed records (named tuples) whose first field is the
event name and whose other fields are the protocol method's parameters, so a
record compares equal to the plain tuple ``("query_failed", "default", "sqlite",
"OperationalError")`` and reads as ``call.error_type``. Bound fakes record into
their parent's list with the bound labels first, so one list tells the whole story.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Generic, ParamSpec, TypeVar, cast

from asgiref.sync import iscoroutinefunction

from django_prometheus.recorded_calls import (
    CacheBound,
    CacheGet,
    CacheGetFinished,
    CacheGetMany,
    CacheOperationDone,
    CacheOperationFailed,
    ConnectionFailed,
    ConnectionOpened,
    DbBound,
    ExceptionRaised,
    ExemplarAttached,
    InstrumentationFailed,
    MigrationsCounted,
    ModelBound,
    ModelDeleted,
    ModelInserted,
    ModelUpdated,
    PoolObserved,
    QueriesExecutedMany,
    QueryExecuted,
    QueryFailed,
    RecordedCall,
    RequestEntered,
    RequestFinished,
    RequestReceived,
    RequestRouted,
    RequestStarted,
    RequestTimed,
    ResponseLeft,
    ResponseRouted,
    ResponseSent,
    TemplateRendered,
    ViewResolved,
)
from django_prometheus.sinks.protocols import (
    CacheGetOutcome,
    CacheOperation,
    Component,
    Exemplar,
    Transport,
)
from django_prometheus.sinks.provider import SinkBundle, pop_sinks, push_sinks

__all__ = [
    "CacheBound",
    "CacheGet",
    "CacheGetFinished",
    "CacheGetMany",
    "CacheOperationDone",
    "CacheOperationFailed",
    "ConnectionFailed",
    "ConnectionOpened",
    "DbBound",
    "ExceptionRaised",
    "ExemplarAttached",
    "FakeCacheSink",
    "FakeDbSink",
    "FakeErrorSink",
    "FakeHttpSink",
    "FakeMigrationSink",
    "FakeModelSink",
    "FakeSinks",
    "InstrumentationFailed",
    "MigrationsCounted",
    "ModelBound",
    "ModelDeleted",
    "ModelInserted",
    "ModelUpdated",
    "PoolObserved",
    "QueriesExecutedMany",
    "QueryExecuted",
    "QueryFailed",
    "RecordedCall",
    "RequestEntered",
    "RequestFinished",
    "RequestReceived",
    "RequestRouted",
    "RequestStarted",
    "RequestTimed",
    "ResponseLeft",
    "ResponseRouted",
    "ResponseSent",
    "TemplateRendered",
    "ViewResolved",
    "use_sinks",
]


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[RecordedCall] = []

    def events(self) -> list[str]:
        """The event names alone, in order."""
        return [call.event for call in self.calls]

    def clear(self) -> None:
        self.calls.clear()


class FakeHttpSink(_Recorder):
    def request_started(self, method: str) -> None:
        self.calls.append(RequestStarted("request_started", method))

    def request_finished(self, method: str) -> None:
        self.calls.append(RequestFinished("request_finished", method))

    def request_entered(self) -> None:
        self.calls.append(RequestEntered("request_entered"))

    def _exemplar(self, event: str, exemplar: Exemplar | None) -> None:
        if exemplar is not None:
            self.calls.append(ExemplarAttached("exemplar_attached", event, dict(exemplar)))

    def response_left(self, latency: float | None, *, exemplar: Exemplar | None = None) -> None:
        self.calls.append(ResponseLeft("response_left", latency))
        self._exemplar("response_left", exemplar)

    def request_received(
        self, method: str, transport: Transport, ajax: bool, body_bytes: int
    ) -> None:
        self.calls.append(RequestReceived("request_received", method, transport, ajax, body_bytes))

    def view_resolved(self, view: str, transport: Transport, method: str) -> None:
        self.calls.append(ViewResolved("view_resolved", view, transport, method))

    def request_routed(self, route: str, method: str) -> None:
        self.calls.append(RequestRouted("request_routed", route, method))

    def template_rendered(self, template_name: str) -> None:
        self.calls.append(TemplateRendered("template_rendered", template_name))

    def response_sent(
        self,
        status: str,
        view: str,
        method: str,
        charset: str,
        streaming: bool,
        body_bytes: int | None,
        *,
        exemplar: Exemplar | None = None,
    ) -> None:
        self.calls.append(
            ResponseSent("response_sent", status, view, method, charset, streaming, body_bytes)
        )
        self._exemplar("response_sent", exemplar)

    def response_routed(
        self,
        route: str,
        status: str,
        method: str,
        latency: float | None,
        *,
        exemplar: Exemplar | None = None,
    ) -> None:
        self.calls.append(ResponseRouted("response_routed", route, status, method, latency))
        self._exemplar("response_routed", exemplar)

    def exception_raised(self, exception_type: str, view: str) -> None:
        self.calls.append(ExceptionRaised("exception_raised", exception_type, view))

    def request_timed(
        self, view: str, method: str, latency: float | None, *, exemplar: Exemplar | None = None
    ) -> None:
        self.calls.append(RequestTimed("request_timed", view, method, latency))
        self._exemplar("request_timed", exemplar)


class _FakeBoundDbSink:
    def __init__(self, calls: list[RecordedCall], alias: str, vendor: str) -> None:
        self._calls = calls
        self._alias = alias
        self._vendor = vendor

    def connection_opened(self) -> None:
        self._calls.append(ConnectionOpened("connection_opened", self._alias, self._vendor))

    def connection_failed(self) -> None:
        self._calls.append(ConnectionFailed("connection_failed", self._alias, self._vendor))

    def query_executed(self, seconds: float) -> None:
        self._calls.append(QueryExecuted("query_executed", self._alias, self._vendor, seconds))

    def queries_executed_many(self, count: int, seconds: float) -> None:
        self._calls.append(
            QueriesExecutedMany("queries_executed_many", self._alias, self._vendor, count, seconds)
        )

    def query_failed(self, error_type: str) -> None:
        self._calls.append(QueryFailed("query_failed", self._alias, self._vendor, error_type))


class FakeDbSink(_Recorder):
    def bind(self, alias: str, vendor: str) -> _FakeBoundDbSink:
        self.calls.append(DbBound("bind", alias, vendor))
        return _FakeBoundDbSink(self.calls, alias, vendor)

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
        self.calls.append(
            PoolObserved(
                "pool_observed", alias, vendor, idle, in_use, max_size, waiting, wait_seconds
            )
        )


class _FakeBoundCacheSink:
    def __init__(self, calls: list[RecordedCall], backend: str) -> None:
        self._calls = calls
        self._backend = backend

    def cache_get(self, outcome: CacheGetOutcome) -> None:
        self._calls.append(CacheGet("cache_get", self._backend, outcome))

    def get_finished(self, outcome: CacheGetOutcome, seconds: float) -> None:
        self._calls.append(CacheGetFinished("get_finished", self._backend, outcome, seconds))

    def cache_get_many(self, hits: int, misses: int, fails: int) -> None:
        self._calls.append(CacheGetMany("cache_get_many", self._backend, hits, misses, fails))

    def operation_done(self, operation: CacheOperation, seconds: float) -> None:
        self._calls.append(CacheOperationDone("operation_done", self._backend, operation, seconds))

    def operation_failed(self, operation: CacheOperation, seconds: float) -> None:
        self._calls.append(
            CacheOperationFailed("operation_failed", self._backend, operation, seconds)
        )


class FakeCacheSink(_Recorder):
    def bind(self, backend: str) -> _FakeBoundCacheSink:
        self.calls.append(CacheBound("bind", backend))
        return _FakeBoundCacheSink(self.calls, backend)


class _FakeBoundModelSink:
    def __init__(self, calls: list[RecordedCall], model: str) -> None:
        self._calls = calls
        self._model = model

    def model_inserted(self) -> None:
        self._calls.append(ModelInserted("model_inserted", self._model))

    def model_updated(self) -> None:
        self._calls.append(ModelUpdated("model_updated", self._model))

    def model_deleted(self) -> None:
        self._calls.append(ModelDeleted("model_deleted", self._model))


class FakeModelSink(_Recorder):
    def bind(self, model: str) -> _FakeBoundModelSink:
        self.calls.append(ModelBound("bind", model))
        return _FakeBoundModelSink(self.calls, model)


class FakeMigrationSink(_Recorder):
    def migrations_counted(self, connection: str, applied: int, unapplied: int) -> None:
        self.calls.append(MigrationsCounted("migrations_counted", connection, applied, unapplied))


class FakeErrorSink(_Recorder):
    def instrumentation_failed(self, component: Component) -> None:
        self.calls.append(InstrumentationFailed("instrumentation_failed", component))


@dataclass(frozen=True)
class FakeSinks:
    """One fresh recording fake per sink protocol: what :func:`use_sinks` takes by default."""

    http: FakeHttpSink = field(default_factory=FakeHttpSink)
    db: FakeDbSink = field(default_factory=FakeDbSink)
    cache: FakeCacheSink = field(default_factory=FakeCacheSink)
    model: FakeModelSink = field(default_factory=FakeModelSink)
    migration: FakeMigrationSink = field(default_factory=FakeMigrationSink)
    errors: FakeErrorSink = field(default_factory=FakeErrorSink)

    def clear(self) -> None:
        """Forget every recorded call of every fake."""
        for fake in (self.http, self.db, self.cache, self.model, self.migration, self.errors):
            fake.clear()


_BundleT = TypeVar("_BundleT", bound=SinkBundle)
_P = ParamSpec("_P")
_R = TypeVar("_R")


class use_sinks(Generic[_BundleT]):  # noqa: N801 - used like a function, as contextlib's helpers
    """Make every instrument record into ``sinks`` for a block; the previous sinks come back
    afterwards, also on an exception.

    A context manager (``with use_sinks(FakeSinks()) as fakes:``) and a decorator of sync
    and async functions. The swap is process-wide: requests served by other threads or
    tasks during the block record into ``sinks`` too. Blocks nest, and may end in any
    order (each takes back exactly what it put in place).
    """

    def __init__(self, sinks: _BundleT) -> None:
        self.sinks = sinks
        self._tokens: list[object] = []

    def __enter__(self) -> _BundleT:
        self._tokens.append(push_sinks(self.sinks))
        return self.sinks

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        pop_sinks(self._tokens.pop())

    def __call__(self, function: Callable[_P, _R]) -> Callable[_P, _R]:
        sinks = self.sinks
        if iscoroutinefunction(function):
            coroutine_function = cast("Callable[_P, Awaitable[object]]", function)

            @functools.wraps(function)
            async def run_async(*args: _P.args, **kwargs: _P.kwargs) -> object:
                token = push_sinks(sinks)
                try:
                    return await coroutine_function(*args, **kwargs)
                finally:
                    pop_sinks(token)

            return cast("Callable[_P, _R]", run_async)

        @functools.wraps(function)
        def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            token = push_sinks(sinks)
            try:
                return function(*args, **kwargs)
            finally:
                pop_sinks(token)

        return run
