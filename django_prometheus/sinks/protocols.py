"""The seam between instruments and metrics.

Instruments (middleware, database and cache wrappers, the model mixin, the
migration export) report *events* to a sink; they never touch a metric. The
prometheus sink decides which metrics an event moves; the fakes in
:mod:`django_prometheus.testing` record the calls for unit tests.

Sinks that carry fixed labels are *bound* once (per connection, per cache
instance, per model) so that the hot path does no label lookup.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, Protocol, TypeAlias

__all__ = [
    "BoundCacheSink",
    "BoundDbSink",
    "BoundModelSink",
    "CacheGetOutcome",
    "CacheOperation",
    "CacheSink",
    "Component",
    "DbSink",
    "ErrorSink",
    "Exemplar",
    "HttpSink",
    "MigrationSink",
    "ModelSink",
    "Transport",
]

Transport: TypeAlias = Literal["http", "https"]
CacheGetOutcome: TypeAlias = Literal["hit", "miss", "fail"]
CacheOperation: TypeAlias = Literal[
    "get", "set", "add", "delete", "touch", "incr", "decr", "has_key", "get_many", "set_many",
    "delete_many", "get_or_set", "clear",
]  # fmt: skip
"""A public cache call, named by its sync form (``aset`` is ``set``)."""
Component: TypeAlias = Literal["http", "db", "cache", "model", "migrations", "export"]
Exemplar: TypeAlias = Mapping[str, str]


class HttpSink(Protocol):
    """Events seen by PrometheusBeforeMiddleware and PrometheusAfterMiddleware.

    Label values arrive label-safe: ``method`` is one of the standard methods or
    ``<invalid method>``, ``view`` is the resolver's view name or ``<unnamed view>``.
    Requests excluded by path or by ``@prometheus_exempt`` produce no event at all.
    """

    def request_started(self, method: str) -> None:
        """A request entered PrometheusBeforeMiddleware (requests in progress)."""

    def request_finished(self, method: str) -> None:
        """That request left it, whatever happened; a streaming response once it is closed."""

    def request_entered(self) -> None:
        """The first middleware let a request in (counted once its view is known not exempt)."""

    def response_left(self, latency: float | None, *, exemplar: Exemplar | None = None) -> None:
        """A response left the first middleware; latency is None without a start time.

        ``exemplar``: labels to attach to the observation (``PROMETHEUS_EXEMPLARS``); the
        events that time or count a response by status take it too."""

    def request_received(
        self, method: str, transport: Transport, ajax: bool, body_bytes: int
    ) -> None:
        """The last middleware saw a request; body_bytes comes from Content-Length (0 if none)."""

    def view_resolved(self, view: str, transport: Transport, method: str) -> None:
        """The URL resolver picked a view."""

    def request_routed(self, route: str, method: str) -> None:
        """The request's URL route pattern (``<unmatched>`` when none resolved)."""

    def template_rendered(self, template_name: str) -> None:
        """A TemplateResponse is about to be rendered."""

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
        """The last middleware saw a response; body_bytes is None when it has no content."""

    def response_routed(
        self,
        route: str,
        status: str,
        method: str,
        latency: float | None,
        *,
        exemplar: Exemplar | None = None,
    ) -> None:
        """The response of a routed request; latency is the one request_timed reports."""

    def exception_raised(self, exception_type: str, view: str) -> None:
        """The view raised (Http404 and other ignored types are not reported)."""

    def request_timed(
        self, view: str, method: str, latency: float | None, *, exemplar: Exemplar | None = None
    ) -> None:
        """Once per request, at the exception or else at the response; None: no start time."""


class BoundDbSink(Protocol):
    """Database events of one connection (alias and vendor already bound)."""

    def connection_opened(self) -> None:
        """Django opened a new connection (with a pool: checked one out)."""

    def connection_failed(self) -> None:
        """Opening a new connection raised; it still counts as an attempt."""

    def query_executed(self, seconds: float) -> None:
        """One ``execute`` finished (successfully or not)."""

    def queries_executed_many(self, count: int, seconds: float) -> None:
        """One ``executemany`` over ``count`` parameter sets finished (successfully or not)."""

    def query_failed(self, error_type: str) -> None:
        """A query raised an exception of the given class name (reported before it finishes)."""


class DbSink(Protocol):
    def bind(self, alias: str, vendor: str) -> BoundDbSink:
        """The events of one connection alias; called once per connection, never per query."""

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
        """The connection pool of one alias was read (before a scrape, never per query).

        ``idle`` and ``in_use`` are the pool's connections by state, ``max_size`` the most
        it may open, ``waiting`` the requests queued for a connection now, and
        ``wait_seconds`` the time requests have spent queued since the pool was made
        (cumulative: it only drops when the pool is made again).
        """


class BoundCacheSink(Protocol):
    """Cache events of one cache instance (backend label already bound)."""

    def cache_get(self, outcome: CacheGetOutcome) -> None:
        """One ``get`` the backend made inside another call found its key (hit), did not
        (miss) or failed (fail)."""

    def get_finished(self, outcome: CacheGetOutcome, seconds: float) -> None:
        """A ``get`` the application called is over after ``seconds``: it found its key
        (hit), did not (miss), or failed (fail: it raised or its client hid a failure)."""

    def cache_get_many(self, hits: int, misses: int, fails: int) -> None:
        """One multi-key lookup answered several gets at once, one per key."""

    def operation_done(self, operation: CacheOperation, seconds: float) -> None:
        """A call the user made returned normally after ``seconds``.

        Calls the backend makes inside another one are not reported.
        """

    def operation_failed(self, operation: CacheOperation, seconds: float) -> None:
        """A call the user made raised, or returned after its client hid a failure."""


class CacheSink(Protocol):
    def bind(self, backend: str) -> BoundCacheSink:
        """The sink of one cache instance; the same label may be bound many times."""


class BoundModelSink(Protocol):
    """Lifecycle events of one model class (model label already bound)."""

    def model_inserted(self) -> None: ...

    def model_updated(self) -> None: ...

    def model_deleted(self) -> None: ...


class ModelSink(Protocol):
    def bind(self, model: str) -> BoundModelSink: ...


class MigrationSink(Protocol):
    def migrations_counted(self, connection: str, applied: int, unapplied: int) -> None:
        """The migration state of one database connection was read."""


class ErrorSink(Protocol):
    def instrumentation_failed(self, component: Component) -> None:
        """Our own recording code raised; the host's work went on untouched."""
