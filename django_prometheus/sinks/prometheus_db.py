"""Database events as the ``django_db_*`` families, pool gauges included."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric

from django_prometheus.families import DB, DB_POOL
from django_prometheus.sinks.family_maker import FamilyMaker
from django_prometheus.sinks.recorders import (
    RECORD_NOTHING,
    Record,
    counter_child,
    counter_inc,
    histogram_observe,
    joint_record,
)
from django_prometheus.state import LazyMap

__all__ = ["PrometheusDbSink"]


class _BoundPrometheusDbSink:
    """The series of one alias, ready to move.

    ``query_executed`` is the recorder itself, not a method calling it: a query is
    one call, moving its count and duration under one lock (see ``joint_record``).
    """

    __slots__ = (
        "_duration",
        "_errors",
        "_errors_family",
        "_execute",
        "_execute_many",
        "_failed",
        "_new",
        "query_executed",
    )

    def __init__(self, sink: PrometheusDbSink, alias: str, vendor: str) -> None:
        self._new = counter_child(getattr(sink, "new_connections", None), alias, vendor)
        self._failed = counter_child(getattr(sink, "new_connection_errors", None), alias, vendor)
        self._execute_many = counter_child(getattr(sink, "execute_many", None), alias, vendor)
        execute: Counter | None = getattr(sink, "execute", None)
        duration: Histogram | None = getattr(sink, "query_duration", None)
        execute_child = None if execute is None else execute.labels(alias, vendor)
        duration_child = None if duration is None else duration.labels(alias, vendor)
        self._execute = RECORD_NOTHING if execute_child is None else counter_inc(execute_child)
        self._duration = (
            RECORD_NOTHING if duration_child is None else histogram_observe(duration_child)
        )
        self.query_executed: Record
        if execute_child is None:
            self.query_executed = self._duration
        else:
            self.query_executed = joint_record(
                (execute_child,), duration_child, lock_of=execute_child
            )
        self._errors: dict[str, Record] = {}
        self._errors_family = (getattr(sink, "errors", None), alias, vendor)

    def connection_opened(self) -> None:
        self._new(1)

    def connection_failed(self) -> None:
        # A failed attempt is still an attempt: errors stay a subset of new connections,
        # as in the established package, so error ratios on dashboards keep working.
        self._new(1)
        self._failed(1)

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

    def __init__(self, family: FamilyMaker) -> None:
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
