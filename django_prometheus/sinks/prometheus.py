"""Sinks that write prometheus_client metrics.

Each family is created once per (registry, namespace, buckets) and each domain
only when first used, so a project that does not use, say, the cache backends
exports no cache families. Label children are bound once per connection /
cache / model by ``bind`` and kept, so the hot paths call ``inc``/``observe``
on a ready child.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TypeVar, cast

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import Metric

from django_prometheus import state
from django_prometheus.config import PrometheusConfig, get_config
from django_prometheus.families import (
    BODY_SIZE_BUCKETS,
    CACHE,
    DB,
    ERRORS,
    MIGRATIONS,
    MODEL,
    Family,
)
from django_prometheus.sinks.prometheus_http import PrometheusHttpSink
from django_prometheus.sinks.protocols import CacheGetOutcome, CacheOperation, Component
from django_prometheus.sinks.recorders import Record, counter_inc, histogram_observe, joint_record
from django_prometheus.state import LazyMap

if TYPE_CHECKING:
    from django_prometheus.http_metrics import Metrics

__all__ = [
    "BODY_SIZE_BUCKETS",
    "PrometheusCacheSink",
    "PrometheusDbSink",
    "PrometheusErrorSink",
    "PrometheusHttpSink",
    "PrometheusMigrationSink",
    "PrometheusModelSink",
    "PrometheusSinks",
    "get_sinks",
]

_DomainT = TypeVar("_DomainT")


class _Family:
    """Makes the families of the table with the shared namespace, registry and buckets."""

    def __init__(
        self, registry: CollectorRegistry, namespace: str, latency_buckets: tuple[float, ...]
    ) -> None:
        self.registry = registry
        self.namespace = namespace
        self.latency_buckets = latency_buckets

    def make(self, holder: object, families: tuple[Family, ...], *, register: bool = True) -> None:
        """Set ``holder.<key>`` to each family, made in the table's order."""
        for family in families:
            setattr(holder, family.key, self._make(family, self.registry if register else None))

    def _make(self, family: Family, registry: CollectorRegistry | None) -> MetricWrapperBase:
        args = (family.name, family.documentation, family.labelnames)
        if family.metric_cls is Histogram:
            bounds = family.bucket_bounds(self.latency_buckets)
            return Histogram(
                *args,
                namespace=self.namespace,
                registry=registry,
                buckets=Histogram.DEFAULT_BUCKETS if bounds is None else bounds,
            )
        if family.metric_cls is Gauge and family.multiprocess_mode is not None:
            return Gauge(
                *args,
                namespace=self.namespace,
                registry=registry,
                multiprocess_mode=family.multiprocess_mode,
            )
        return family.metric_cls(*args, namespace=self.namespace, registry=registry)


class _BoundPrometheusDbSink:
    __slots__ = (
        "_duration",
        "_errors",
        "_errors_family",
        "_execute",
        "_execute_many",
        "_failed",
        "_new",
    )

    def __init__(self, sink: PrometheusDbSink, alias: str, vendor: str) -> None:
        self._new = counter_inc(sink.new_connections.labels(alias, vendor))
        self._failed = counter_inc(sink.new_connection_errors.labels(alias, vendor))
        self._execute = counter_inc(sink.execute.labels(alias, vendor))
        self._execute_many = counter_inc(sink.execute_many.labels(alias, vendor))
        self._duration = histogram_observe(sink.query_duration.labels(alias, vendor))
        self._errors: dict[str, Record] = {}
        self._errors_family = (sink.errors, alias, vendor)

    def connection_opened(self) -> None:
        self._new(1)

    def connection_failed(self) -> None:
        # A failed attempt is still an attempt: errors stay a subset of new connections,
        # as in the established package, so error ratios on dashboards keep working.
        self._new(1)
        self._failed(1)

    def query_executed(self, seconds: float) -> None:
        self._execute(1)
        self._duration(seconds)

    def queries_executed_many(self, count: int, seconds: float) -> None:
        self._execute(count)
        self._execute_many(count)
        self._duration(seconds)

    def query_failed(self, error_type: str) -> None:
        child = self._errors.get(error_type)
        if child is None:
            family, alias, vendor = self._errors_family
            child = self._errors[error_type] = counter_inc(family.labels(alias, vendor, error_type))
        child(1)


class PrometheusDbSink:
    new_connections: Counter
    new_connection_errors: Counter
    execute: Counter
    execute_many: Counter
    errors: Counter
    query_duration: Histogram

    def __init__(self, family: _Family) -> None:
        family.make(self, DB)
        self._bound: LazyMap[tuple[str, str], _BoundPrometheusDbSink] = LazyMap()

    def bind(self, alias: str, vendor: str) -> _BoundPrometheusDbSink:
        return self._bound.get((alias, vendor), lambda: _BoundPrometheusDbSink(self, alias, vendor))


class _BoundPrometheusCacheSink:
    """The series of one backend label, ready to move; an operation's on its first call.

    Every value of the label shares the lock of its get count (see ``joint_record``), so
    that a get the application called moves its five values under one acquisition.
    """

    __slots__ = (
        "_backend",
        "_fails",
        "_finished",
        "_gets",
        "_gets_child",
        "_hits",
        "_misses",
        "_operations",
        "_outcomes",
        "_sink",
    )

    def __init__(self, sink: PrometheusCacheSink, backend: str) -> None:
        self._sink = sink
        self._backend = backend
        gets = self._gets_child = sink.gets.labels(backend)
        by_outcome = {
            "hit": sink.hits.labels(backend),
            "miss": sink.misses.labels(backend),
            "fail": sink.fails.labels(backend),
        }
        self._outcomes = {
            outcome: joint_record((gets, child), lock_of=gets)
            for outcome, child in by_outcome.items()
        }
        self._gets = counter_inc(gets)
        self._hits = counter_inc(by_outcome["hit"])
        self._misses = counter_inc(by_outcome["miss"])
        self._fails = counter_inc(by_outcome["fail"])
        # (done, failed) per operation, bound on first use; get's now, for get_finished.
        self._operations: dict[str, tuple[Record, Record]] = {}
        calls, errors, duration = self._operation_children("get")
        self._operations["get"] = (
            joint_record((calls,), duration, lock_of=gets),
            joint_record((calls, errors), duration, lock_of=gets),
        )
        self._finished = {
            "hit": joint_record((gets, by_outcome["hit"], calls), duration, lock_of=gets),
            "miss": joint_record((gets, by_outcome["miss"], calls), duration, lock_of=gets),
            "fail": joint_record((gets, by_outcome["fail"], calls, errors), duration, lock_of=gets),
        }

    def _operation_children(self, operation: str) -> tuple[Counter, Counter, Histogram]:
        sink, backend = self._sink, self._backend
        # The error series exists at 0 as soon as the operation is used, for ratios.
        return (
            sink.operations.labels(backend, operation),
            sink.operation_errors.labels(backend, operation),
            sink.operation_duration.labels(backend, operation),
        )

    def cache_get(self, outcome: CacheGetOutcome) -> None:
        self._outcomes[outcome](1)

    def get_finished(self, outcome: CacheGetOutcome, seconds: float) -> None:
        self._finished[outcome](seconds)

    def cache_get_many(self, hits: int, misses: int, fails: int) -> None:
        total = hits + misses + fails
        if total:
            self._gets(total)
        if hits:
            self._hits(hits)
        if misses:
            self._misses(misses)
        if fails:
            self._fails(fails)

    def _bind_operation(self, operation: str) -> tuple[Record, Record]:
        with state.creation_lock:
            bound = self._operations.get(operation)
            if bound is None:
                calls, errors, duration = self._operation_children(operation)
                gets = self._gets_child
                bound = self._operations[operation] = (
                    joint_record((calls,), duration, lock_of=gets),
                    joint_record((calls, errors), duration, lock_of=gets),
                )
            return bound

    def operation_done(self, operation: CacheOperation, seconds: float) -> None:
        try:
            done = self._operations[operation][0]
        except KeyError:
            done = self._bind_operation(operation)[0]
        done(seconds)

    def operation_failed(self, operation: CacheOperation, seconds: float) -> None:
        try:
            failed = self._operations[operation][1]
        except KeyError:
            failed = self._bind_operation(operation)[1]
        failed(seconds)


class PrometheusCacheSink:
    gets: Counter
    hits: Counter
    misses: Counter
    fails: Counter
    operations: Counter
    operation_errors: Counter
    operation_duration: Histogram

    def __init__(self, family: _Family) -> None:
        family.make(self, CACHE)
        self._bound: LazyMap[str, _BoundPrometheusCacheSink] = LazyMap()

    def bind(self, backend: str) -> _BoundPrometheusCacheSink:
        # Django makes a cache instance per thread (per request under ASGI): bind once per label.
        return self._bound.get(backend, lambda: _BoundPrometheusCacheSink(self, backend))


class _BoundPrometheusModelSink:
    __slots__ = ("_deletes", "_inserts", "_updates")

    def __init__(self, sink: PrometheusModelSink, model: str) -> None:
        # Binding creates the three series at 0, as the contract asks.
        self._inserts = counter_inc(sink.inserts.labels(model))
        self._updates = counter_inc(sink.updates.labels(model))
        self._deletes = counter_inc(sink.deletes.labels(model))

    def model_inserted(self) -> None:
        self._inserts(1)

    def model_updated(self) -> None:
        self._updates(1)

    def model_deleted(self) -> None:
        self._deletes(1)


class PrometheusModelSink:
    inserts: Counter
    updates: Counter
    deletes: Counter

    def __init__(self, family: _Family) -> None:
        family.make(self, MODEL)

    def bind(self, model: str) -> _BoundPrometheusModelSink:
        return _BoundPrometheusModelSink(self, model)


class PrometheusMigrationSink:
    """The migration gauges, collected through the sink so that a refresh can run first.

    The sink itself is the registered collector: when a refresher is set (see
    :mod:`django_prometheus.migrations`), every collection calls it before the
    gauges are read, so the values are read from the database lazily, in the
    scraping thread, never at startup.
    """

    applied: Gauge
    unapplied: Gauge

    def __init__(self, family: _Family) -> None:
        family.make(self, MIGRATIONS, register=False)
        self.refresher: Callable[[], object] | None = None
        family.registry.register(self)

    def migrations_counted(self, connection: str, applied: int, unapplied: int) -> None:
        self.applied.labels(connection).set(applied)
        self.unapplied.labels(connection).set(unapplied)

    def describe(self) -> Iterator[Metric]:
        # Registration asks for the names through here, so it never triggers a refresh.
        yield from self.applied.describe()
        yield from self.unapplied.describe()

    def collect(self) -> Iterator[Metric]:
        refresher = self.refresher
        if refresher is not None:
            refresher()  # never raises: migrations installs a refresher that reports its own errors
        yield from self.applied.collect()
        yield from self.unapplied.collect()


class PrometheusErrorSink:
    errors: Counter

    def __init__(self, family: _Family) -> None:
        family.make(self, ERRORS)

    def instrumentation_failed(self, component: Component) -> None:
        self.errors.labels(component).inc()


class PrometheusSinks:
    """Every prometheus sink of one registry and configuration, each made on first use."""

    def __init__(
        self,
        registry: CollectorRegistry,
        namespace: str = "",
        latency_buckets: tuple[float, ...] | None = None,
    ) -> None:
        from django_prometheus.config import DEFAULT_LATENCY_BUCKETS

        self.registry = registry
        self.namespace = namespace
        self.latency_buckets = latency_buckets or DEFAULT_LATENCY_BUCKETS
        self._family = _Family(registry, namespace, self.latency_buckets)
        self._domains: LazyMap[str, object] = LazyMap()

    @classmethod
    def from_config(cls, config: PrometheusConfig, registry: CollectorRegistry) -> PrometheusSinks:
        return cls(registry, config.metric_namespace, config.latency_buckets)

    def _domain(self, name: str, factory: Callable[[], _DomainT]) -> _DomainT:
        # Made once: two threads must never register the same family twice.
        return cast("_DomainT", self._domains.get(name, factory))

    @property
    def http(self) -> PrometheusHttpSink:
        return self._domain("http", lambda: PrometheusHttpSink.for_metrics(self._http_metrics()))

    def _http_metrics(self) -> Metrics:
        # The HTTP families belong to a middleware.Metrics (upstream extension API);
        # in the global registry that is the very instance the middlewares use.
        from django_prometheus.http_metrics import Metrics

        if self.registry is REGISTRY:
            shared = Metrics.get_instance()
            if (shared.namespace, shared.latency_buckets) == (self.namespace, self.latency_buckets):
                return shared
        return Metrics(
            registry=self.registry, namespace=self.namespace, latency_buckets=self.latency_buckets
        )

    @property
    def db(self) -> PrometheusDbSink:
        return self._domain("db", lambda: PrometheusDbSink(self._family))

    @property
    def cache(self) -> PrometheusCacheSink:
        return self._domain("cache", lambda: PrometheusCacheSink(self._family))

    @property
    def model(self) -> PrometheusModelSink:
        return self._domain("model", lambda: PrometheusModelSink(self._family))

    @property
    def migrations(self) -> PrometheusMigrationSink:
        return self._domain("migrations", lambda: PrometheusMigrationSink(self._family))

    @property
    def migration(self) -> PrometheusMigrationSink:
        return self.migrations

    @property
    def errors(self) -> PrometheusErrorSink:
        return self._domain("errors", lambda: PrometheusErrorSink(self._family))


def get_sinks(
    registry: CollectorRegistry | None = None, config: PrometheusConfig | None = None
) -> PrometheusSinks:
    """The prometheus sinks for ``registry`` (default: the global one) and ``config``.

    The same registry and configuration always give the same object, so each metric
    family is registered exactly once.
    """
    registry = REGISTRY if registry is None else registry
    config = get_config() if config is None else config
    per_registry = state.sinks_by_registry.get(registry, LazyMap)
    return per_registry.get(
        (config.metric_namespace, config.latency_buckets),
        lambda: PrometheusSinks.from_config(config, registry),
    )
