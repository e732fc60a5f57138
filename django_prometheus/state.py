"""Every process-wide value of django-prometheus lives here; :func:`reset` forgets the caches.

Two kinds, declared below in two groups:

* **Caches** of values derived from settings, headers or responses (the
  configuration, format negotiations, exposition lines, access policies, label values, the rate
  limit of error logs). :func:`reset` empties them; they fill again on use.
* **Identities** that must not change under live objects: families registered in
  a registry, cursor classes that open connections use, model mixin classes, the
  ``use_sinks`` stack, installed hooks, running port exporters. :func:`reset` keeps
  them, since forgetting them would register families twice or swap a class under
  an object; what is keyed by an object (a registry, a sink given by hand) is held
  weakly and dies with it, so nothing keeps a test's fake alive.

This module imports nothing of the package at run time, so every module may use it.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Hashable, Iterator, MutableMapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar, cast

if TYPE_CHECKING:
    import re

    from django.db import models
    from prometheus_client.metrics import MetricWrapperBase
    from prometheus_client.registry import Collector, CollectorRegistry

    from django_prometheus.access import AccessPolicy
    from django_prometheus.config import PathMatcher, PrometheusConfig
    from django_prometheus.exposition.formats import Format
    from django_prometheus.exposition.lines import FamilyLines
    from django_prometheus.exposition.merge import MergeState
    from django_prometheus.http_metrics import Metrics
    from django_prometheus.migrations import MigrationExport
    from django_prometheus.multiprocess import MultiProcessRegistry
    from django_prometheus.port_exporter import PortExporter
    from django_prometheus.sinks.prometheus import (
        PrometheusHttpSink,
        PrometheusMigrationSink,
        PrometheusSinks,
    )
    from django_prometheus.sinks.protocols import BoundDbSink, DbSink
    from django_prometheus.sinks.provider import SinkBundle, SinkSlot

__all__ = ["CacheCall", "Lazy", "LazyMap", "Memo", "cache_call", "creation_lock", "reset"]

_T = TypeVar("_T")
_K = TypeVar("_K")
_V = TypeVar("_V")

# One lock for every lazy creation: creations are rare and may nest (the sinks make a
# Metrics, whose families may report an error), and a single reentrant lock cannot
# deadlock with itself.
creation_lock: Final = threading.RLock()


class Memo(dict[_K, _V]):
    """A bounded cache: reads are plain dict reads (hot paths use them); once full, new
    values are still computed but not kept, so no client can make it grow."""

    __slots__ = ("limit",)

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def remember(self, key: _K, value: _V) -> _V:
        if len(self) < self.limit:
            self[key] = value
        return value


_UNSET: Final = object()


class Lazy(Generic[_T]):
    """One value, made by the first caller of :meth:`get` (one thread makes it); None is a
    value like any other."""

    __slots__ = ("_value",)

    def __init__(self) -> None:
        self._value: object = _UNSET

    def get(self, make: Callable[[], _T]) -> _T:
        value = self._value
        if value is _UNSET:
            with creation_lock:
                value = self._value
                if value is _UNSET:
                    value = self._value = make()
        return cast("_T", value)

    def peek(self) -> _T | None:
        """The value if it was made, else None."""
        value = self._value
        return None if value is _UNSET else cast("_T", value)

    def clear(self) -> None:
        self._value = _UNSET


class LazyMap(Generic[_K, _V]):
    """Values made once per key under :data:`creation_lock`; ``weak`` keys die with their
    object (and their value with them). Reads of a present key take no lock."""

    __slots__ = ("_values",)

    def __init__(self, *, weak: bool = False) -> None:
        self._values: MutableMapping[_K, _V] = weakref.WeakKeyDictionary() if weak else {}

    def get(self, key: _K, make: Callable[[], _V]) -> _V:
        try:
            return self._values[key]
        except KeyError:
            pass
        with creation_lock:
            try:
                return self._values[key]
            except KeyError:
                value = self._values[key] = make()
                return value

    def peek(self, key: _K) -> _V | None:
        return self._values.get(key)

    def values(self) -> Iterator[_V]:
        return iter(list(self._values.values()))

    def __len__(self) -> int:
        return len(self._values)

    def clear(self) -> None:
        with creation_lock:
            self._values.clear()


class CacheCall:
    """The cache operation a user called and that is still running in this context.

    Calls the backend makes inside it (``get_or_set``'s ``get`` and ``add``, the
    ``get`` of ``has_key``, an ``aset``'s ``set`` in a worker thread, …) see it and are
    not counted as operations again; they set ``failed`` when they saw a failure the
    client hid, so that the user's operation counts as an error.
    """

    __slots__ = ("failed",)

    def __init__(self) -> None:
        self.failed = False


def once_per_class(cls: type, attribute: str, make: Callable[[], _T]) -> _T:
    """The value of ``cls.<attribute>`` set on ``cls`` itself (never inherited), made once."""
    value: _T | None = cls.__dict__.get(attribute)
    if value is None:
        with creation_lock:
            value = cls.__dict__.get(attribute)
            if value is None:
                value = make()
                setattr(cls, attribute, value)
    return value


# --------------------------------------------------------------------------- caches

project_config: Final[Lazy[PrometheusConfig]] = Lazy()
# The defaults, for code running without Django settings, per PROMETHEUS_MULTIPROC_DIR.
standalone_configs: Final[Memo[str | None, PrometheusConfig]] = Memo(4)
path_matchers: Final[Memo[tuple[re.Pattern[str], ...], PathMatcher | None]] = Memo(16)
# A scraper sends the same Accept and Accept-Encoding on every scrape.
negotiations: Final[Memo[str, tuple[Callable[[Collector], bytes], str, Format | None]]] = Memo(64)
# The exposition lines of each stock metric that was scraped: held weakly, so they die
# with the metric; a metric's removed children are dropped by the next scrape.
exposition_families: Final[weakref.WeakKeyDictionary[MetricWrapperBase, FamilyLines]] = (
    weakref.WeakKeyDictionary()
)
gzip_acceptance: Final[Memo[str, bool]] = Memo(64)
access_policies: Final[Memo[int, tuple[PrometheusConfig, AccessPolicy]]] = Memo(4)
multiprocess_registries: Final[Memo[str, MultiProcessRegistry]] = Memo(4)
# What fast multiprocess scrapes keep per directory (file layouts, the merge plan).
multiprocess_merges: Final[Memo[str, MergeState]] = Memo(4)
# HttpResponseBase.charset parses Content-Type with a regex on every read.
charsets: Final[Memo[str | None, str]] = Memo(256)
our_middleware: Final[Lazy[tuple[type, type] | None]] = Lazy()
# Per request class: whether it reads the stock scheme with no SECURE_PROXY_SSL_HEADER set.
plain_schemes: Final[Memo[type, bool]] = Memo(16)
# Error logging's rate limit: when each component last logged, what it held back since.
errors_last_logged: Final[dict[str, float]] = {}
errors_suppressed: Final[dict[str, int]] = {}

_CACHES: Final[
    tuple[Memo[Any, Any] | Lazy[Any] | dict[str, Any] | weakref.WeakKeyDictionary[Any, Any], ...]
] = (
    project_config,
    exposition_families,
    standalone_configs,
    path_matchers,
    negotiations,
    gzip_acceptance,
    access_policies,
    multiprocess_registries,
    multiprocess_merges,
    charsets,
    our_middleware,
    plain_schemes,
    errors_last_logged,
    errors_suppressed,
)

# ----------------------------------------------------------------------- identities

# The bundles use_sinks put in place, innermost last, each with its token.
sink_overrides: Final[list[tuple[object, SinkBundle]]] = []
sink_slots: Final[weakref.WeakSet[SinkSlot[Any]]] = weakref.WeakSet()
followed_slots: Final[LazyMap[Hashable, SinkSlot[Any]]] = LazyMap()
http_sinks: Final[LazyMap[Metrics, PrometheusHttpSink]] = LazyMap(weak=True)
sinks_by_registry: Final[LazyMap[CollectorRegistry, LazyMap[Hashable, PrometheusSinks]]] = LazyMap(
    weak=True
)
# Cursor classes that follow the current sinks, per (cursor class, alias, vendor).
cursor_classes: Final[LazyMap[tuple[type, str, str], type]] = LazyMap()
# Cursor classes and slots for a sink given by hand; they die with their sink.
cursor_classes_by_sink: Final[LazyMap[DbSink, LazyMap[tuple[type, str, str], type]]] = LazyMap(
    weak=True
)
db_slots_by_sink: Final[LazyMap[DbSink, LazyMap[tuple[str, str], SinkSlot[BoundDbSink]]]] = LazyMap(
    weak=True
)
exporting_cursor_classes: Final[weakref.WeakSet[type]] = weakref.WeakSet()
model_mixins: Final[LazyMap[str, type[models.Model]]] = LazyMap()
migration_exports: Final[list[tuple[PrometheusMigrationSink, MigrationExport]]] = []
pre_scrape_hooks: Final[list[Callable[[], None]]] = []
port_exporters: Final[list[PortExporter]] = []
# The cache operation running in this context (copied into sync_to_async's thread).
cache_call: Final[ContextVar[CacheCall | None]] = ContextVar("djp_cache_call", default=None)
# What SetupPrometheusExportsFromConfig started, per process (a fork inherits the dict).
exporter_from_config: Final[dict[int, PortExporter | None]] = {}


def reset() -> None:
    """Forget every cache (see above) and make every instrument resolve its sink again.

    For tests that change the process behind Django's back (environment variables,
    ``Content-Type`` defaults, …); ``override_settings`` of a ``PROMETHEUS_*``
    setting already does this. Running port exporters are stopped by
    ``django_prometheus.exports.stop_port_exporters``, not here.
    """
    with creation_lock:
        for cache in _CACHES:
            cache.clear()
        for slot in list(sink_slots):
            slot.sink = None
