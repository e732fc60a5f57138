"""Sinks that write prometheus_client metrics.

Each family is created once per (registry, namespace, buckets) and each domain
only when first used, so a project that does not use, say, the cache backends
exports no cache families. Label children are bound once per connection /
cache / model by ``bind`` and kept, so the hot paths call ``inc``/``observe``
on a ready child.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import TypeVar, cast

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import Metric

from django_prometheus import state
from django_prometheus.config import PrometheusConfig, get_config
from django_prometheus.families import (
    BODY_SIZE_BUCKETS,
    CACHE,
    DB,
    DB_POOL,
    ERRORS,
    MIGRATIONS,
    MODEL,
    Family,
)
from django_prometheus.http_metrics import Metrics, http_config_key
from django_prometheus.sinks.prometheus_http import PrometheusHttpSink
from django_prometheus.sinks.protocols import CacheGetOutcome, CacheOperation, Component
from django_prometheus.sinks.recorders import (
    Record,
    counter_child,
    counter_inc,
    histogram_child,
    joint_record,
)
from django_prometheus.state import LazyMap

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
        self,
        registry: CollectorRegistry,
        namespace: str,
        latency_buckets: tuple[float, ...],
        disabled: frozenset[str] = frozenset(),
    ) -> None:
        self.registry = registry
        self.namespace = namespace
        self.latency_buckets = latency_buckets
        self.disabled = disabled

    def make(
        self,
        holder: object,
        families: tuple[Family, ...],
        *,
        register: bool = True,
        disabled_unregistered: bool = False,
    ) -> None:
        """Set ``holder.<key>`` to each family, made in the table's order. A disabled one
        (PROMETHEUS_DISABLED_METRICS) is not made and its attribute stays absent, or, with
        ``disabled_unregistered``, made outside any registry (for sinks that move several
        families under one lock, where a missing one would cost a second path)."""
        for family in families:
            if family.name in self.disabled:
                if disabled_unregistered:
                    setattr(holder, family.key, self._make(family, None))
                continue
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
        self._new = counter_child(getattr(sink, "new_connections", None), alias, vendor)
        self._failed = counter_child(getattr(sink, "new_connection_errors", None), alias, vendor)
        self._execute = counter_child(getattr(sink, "execute", None), alias, vendor)
        self._execute_many = counter_child(getattr(sink, "execute_many", None), alias, vendor)
        self._duration = histogram_child(getattr(sink, "query_duration", None), alias, vendor)
        self._errors: dict[str, Record] = {}
        self._errors_family = (getattr(sink, "errors", None), alias, vendor)

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
            child = self._errors[error_type] = counter_child(family, alias, vendor, error_type)
        child(1)


class PrometheusDbSink:
    """The query families, and the pool families collected through the sink itself.

    As with the migration gauges, the sink is the registered collector of the pool
    families: when ``pool_refresher`` is set (see :mod:`django_prometheus.db.pool`),
    every collection reads the pools first, so ``generate_latest`` shows what the
    pools hold now. A pool family without a series (no alias has a pool) is not
    collected at all.
    """

    new_connections: Counter
    new_connection_errors: Counter
    execute: Counter
    execute_many: Counter
    errors: Counter
    query_duration: Histogram
    pool_connections: Gauge
    pool_max_connections: Gauge
    pool_requests_waiting: Gauge
    pool_wait_seconds: Counter

    def __init__(self, family: _Family) -> None:
        family.make(self, DB)
        self._bound: LazyMap[tuple[str, str], _BoundPrometheusDbSink] = LazyMap()
        family.make(self, DB_POOL, register=False)
        self.pool_refresher: Callable[[], object] | None = None
        # The last cumulative wait read per (alias, vendor), under the lock: two scrapes
        # at once must not count one wait twice.
        self._pool_waits: dict[tuple[str, str], float] = {}
        self._pool_lock = threading.Lock()
        family.registry.register(self)

    def bind(self, alias: str, vendor: str) -> _BoundPrometheusDbSink:
        return self._bound.get((alias, vendor), lambda: _BoundPrometheusDbSink(self, alias, vendor))

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
        with self._pool_lock:
            self.pool_connections.labels(alias, vendor, "idle").set(idle)
            self.pool_connections.labels(alias, vendor, "in_use").set(in_use)
            self.pool_max_connections.labels(alias, vendor).set(max_size)
            self.pool_requests_waiting.labels(alias, vendor).set(waiting)
            last = self._pool_waits.get((alias, vendor), 0.0)
            self._pool_waits[alias, vendor] = wait_seconds
            # A reading below the last one is a new pool (Django makes one again when
            # settings change) or someone's pop_stats(): all of it is new time.
            moved = wait_seconds - last if wait_seconds >= last else wait_seconds
            waited = self.pool_wait_seconds.labels(alias, vendor)
            if moved > 0:
                waited.inc(moved)

    def _pool_families(self) -> tuple[Gauge | Counter, ...]:
        return (
            self.pool_connections,
            self.pool_max_connections,
            self.pool_requests_waiting,
            self.pool_wait_seconds,
        )

    def describe(self) -> Iterator[Metric]:
        # Registration asks for the names through here, so it never reads a pool.
        for metric in self._pool_families():
            yield from metric.describe()

    def collect(self) -> Iterator[Metric]:
        refresher = self.pool_refresher
        if refresher is not None:
            refresher()  # never raises: db.pool installs a reader that reports its own errors
        for metric in self._pool_families():
            for collected in metric.collect():
                if collected.samples:
                    yield collected


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
        family.make(self, CACHE, disabled_unregistered=True)
        self._bound: LazyMap[str, _BoundPrometheusCacheSink] = LazyMap()

    def bind(self, backend: str) -> _BoundPrometheusCacheSink:
        # Django makes a cache instance per thread (per request under ASGI): bind once per label.
        return self._bound.get(backend, lambda: _BoundPrometheusCacheSink(self, backend))


class _BoundPrometheusModelSink:
    __slots__ = ("_deletes", "_inserts", "_updates")

    def __init__(self, sink: PrometheusModelSink, model: str) -> None:
        # Binding creates the three series at 0, as the contract asks.
        self._inserts = counter_child(getattr(sink, "inserts", None), model)
        self._updates = counter_child(getattr(sink, "updates", None), model)
        self._deletes = counter_child(getattr(sink, "deletes", None), model)

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

    def _gauges(self) -> list[Gauge]:
        return [gauge for gauge in self._gauges_by_key() if gauge is not None]

    def migrations_counted(self, connection: str, applied: int, unapplied: int) -> None:
        for gauge, value in zip(self._gauges_by_key(), (applied, unapplied), strict=True):
            if gauge is not None:
                gauge.labels(connection).set(value)

    def _gauges_by_key(self) -> tuple[Gauge | None, Gauge | None]:
        return (getattr(self, "applied", None), getattr(self, "unapplied", None))

    def describe(self) -> Iterator[Metric]:
        # Registration asks for the names through here, so it never triggers a refresh.
        for gauge in self._gauges():
            yield from gauge.describe()

    def collect(self) -> Iterator[Metric]:
        refresher = self.refresher
        if refresher is not None:
            refresher()  # never raises: migrations installs a refresher that reports its own errors
        for gauge in self._gauges():
            yield from gauge.collect()


class PrometheusErrorSink:
    errors: Counter

    def __init__(self, family: _Family) -> None:
        family.make(self, ERRORS)

    def instrumentation_failed(self, component: Component) -> None:
        errors: Counter | None = getattr(self, "errors", None)
        if errors is not None:
            errors.labels(component).inc()


class PrometheusSinks:
    """Every prometheus sink of one registry and configuration, each made on first use."""

    def __init__(
        self,
        registry: CollectorRegistry,
        namespace: str = "",
        latency_buckets: tuple[float, ...] | None = None,
        *,
        config: PrometheusConfig | None = None,
    ) -> None:
        from django_prometheus.config import DEFAULT_LATENCY_BUCKETS, PrometheusConfig

        self.registry = registry
        self.namespace = namespace
        self.latency_buckets = latency_buckets or DEFAULT_LATENCY_BUCKETS
        # The rest of the settings families depend on (body buckets, disabled, opt-in).
        self.config = PrometheusConfig() if config is None else config
        self._family = _Family(
            registry, namespace, self.latency_buckets, self.config.disabled_metrics
        )
        self._domains: LazyMap[str, object] = LazyMap()

    @classmethod
    def from_config(cls, config: PrometheusConfig, registry: CollectorRegistry) -> PrometheusSinks:
        return cls(registry, config.metric_namespace, config.latency_buckets, config=config)

    def _domain(self, name: str, factory: Callable[[], _DomainT]) -> _DomainT:
        # Made once: two threads must never register the same family twice.
        return cast("_DomainT", self._domains.get(name, factory))

    @property
    def http(self) -> PrometheusHttpSink:
        return self._domain("http", lambda: PrometheusHttpSink.for_metrics(self._http_metrics()))

    def _http_metrics(self) -> Metrics:
        # The HTTP families belong to a middleware.Metrics (upstream extension API);
        # in the global registry that is the very instance the middlewares use.

        if self.registry is REGISTRY:
            shared = Metrics.get_instance()
            if (shared.namespace, shared.latency_buckets, shared.config_key) == (
                self.namespace,
                self.latency_buckets,
                http_config_key(self.config),
            ):
                return shared
        return Metrics(
            registry=self.registry,
            namespace=self.namespace,
            latency_buckets=self.latency_buckets,
            config=self.config,
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
        (config.metric_namespace, config.latency_buckets, http_config_key(config)),
        lambda: PrometheusSinks.from_config(config, registry),
    )
