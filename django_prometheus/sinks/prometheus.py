"""Sinks that write prometheus_client metrics.

Each family is created once per (registry, namespace, buckets) and each domain
only when first used, so a project that does not use, say, the cache backends
exports no cache families. Label children are bound once per connection /
cache / model by ``bind`` and kept, so the hot paths call ``inc``/``observe``
on a ready child.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar, cast

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge
from prometheus_client.metrics_core import Metric

from django_prometheus import state
from django_prometheus.config import PrometheusConfig, get_config
from django_prometheus.families import (
    BODY_SIZE_BUCKETS,
    ERRORS,
    MIGRATIONS,
    MODEL,
)
from django_prometheus.http_metrics import Metrics, http_config_key
from django_prometheus.sinks.family_maker import FamilyMaker
from django_prometheus.sinks.prometheus_cache import PrometheusCacheSink
from django_prometheus.sinks.prometheus_db import PrometheusDbSink
from django_prometheus.sinks.prometheus_http import PrometheusHttpSink
from django_prometheus.sinks.protocols import Component
from django_prometheus.sinks.recorders import (
    counter_child,
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

    def __init__(self, family: FamilyMaker) -> None:
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

    def __init__(self, family: FamilyMaker) -> None:
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

    def __init__(self, family: FamilyMaker) -> None:
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
        self._family = FamilyMaker(
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
