"""Connection pool gauges: Django's psycopg pool, read at scrape time from its own statistics.

With ``DATABASES[alias]["OPTIONS"]["pool"]`` (Django 5.1+, psycopg 3), Django keeps one
``psycopg_pool.ConnectionPool`` per alias and process. Before a scrape we read each
pool's ``get_stats()`` (never ``pop_stats()``, which would reset the pool's counters
for everyone else) and report one ``pool_observed`` event per alias to the database
sink:

* ``django_db_pool_connections{state="idle"}``: ``pool_available``;
  ``{state="in_use"}``: ``pool_size - pool_available`` (checked out, or being opened);
* ``django_db_pool_max_connections``: ``pool_max``;
* ``django_db_pool_requests_waiting``: ``requests_waiting``;
* ``django_db_pool_wait_seconds_total``: ``requests_wait_ms``, the time requests spent
  queued since the pool was made. The prometheus sink counts how far it moved since the
  last read, so the counter never goes down, even when Django makes the pool again.

Only open pools are read: reading never makes or opens a pool, opens a connection or
runs a query, so it is safe in any thread, an event loop's included. An alias without
an open pool (no ``pool`` option, or no connection asked for yet) has no series at all.

Where the reading happens
-------------------------
* ``DjangoPrometheusConfig.ready()`` calls :func:`install_pool_export`: it adds the
  pre-scrape hook :func:`refresh_pool_gauges`, which reports into the current sinks (a
  fake under ``use_sinks``). In multiprocess mode this is what writes the scraping
  process's values before the worker files are merged.
* When a pooled alias is configured, it also sets the refresher of the default
  prometheus database sink, which is the collector of the pool families: every
  collection of the registry (``generate_latest(REGISTRY)``, the port exporter) reads
  the pools first.

A pool that cannot be read is counted in
``django_prometheus_instrumentation_errors_total{component="db"}`` and skipped; the
scrape goes on.

Multiprocess mode: every worker has its own pools, and the gauges aggregate with
``livesum``. A worker writes its values when it reads them, i.e. when it serves a
scrape; the values of a worker that has not served one lately are as old as its last.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, cast

from django_prometheus.safety import instrumentation_failed
from django_prometheus.scrape import add_pre_scrape_hook
from django_prometheus.sinks.provider import current_sinks

if TYPE_CHECKING:
    from collections.abc import Iterator

    from django_prometheus.sinks.prometheus import PrometheusDbSink
    from django_prometheus.sinks.protocols import DbSink

__all__ = ["install_pool_export", "pooled_aliases", "refresh_pool_gauges", "report_pools"]


class _StatsPool(Protocol):
    """What we use of ``psycopg_pool.ConnectionPool``."""

    def get_stats(self) -> dict[str, int]: ...


def pooled_aliases() -> list[str]:
    """The aliases configured with a pool (``OPTIONS["pool"]`` true); reads settings only."""
    from django.conf import settings

    if not settings.configured:
        return []
    from django.db import connections

    configured = connections.settings
    return [
        alias
        for alias in configured
        if isinstance(options := configured[alias].get("OPTIONS"), dict) and options.get("pool")
    ]


def _existing_pools() -> Iterator[tuple[str, str, _StatsPool]]:
    from django.db import connections

    for alias in pooled_aliases():
        wrapper = connections[alias]
        # Django's pools live in a dict on the backend class; its `pool` property
        # would make one, which a scrape must never do.
        pools = getattr(wrapper, "_connection_pools", None)
        pool = pools.get(alias) if isinstance(pools, dict) else None
        # A pool Django made but has not opened yet counts its min_size as being
        # prepared: nothing is connected, so it reports nothing until it opens.
        if pool is not None and not getattr(pool, "closed", False):
            yield alias, wrapper.vendor, cast("_StatsPool", pool)


def report_pools(sink: DbSink | None = None) -> None:
    """Report every existing pool to ``sink`` (default: the current sinks' db); never raises."""
    try:
        pools = list(_existing_pools())
    except Exception as error:
        instrumentation_failed("db", error)
        return
    if not pools:
        return  # no pool: the database sink need not even exist
    try:
        target = current_sinks().db if sink is None else sink
    except Exception as error:
        instrumentation_failed("db", error)
        return
    for alias, vendor, pool in pools:
        try:
            stats = pool.get_stats()
            idle = stats.get("pool_available", 0)
            in_use = max(stats.get("pool_size", 0) - idle, 0)
            target.pool_observed(
                alias,
                vendor,
                idle,
                in_use,
                stats.get("pool_max", 0),
                stats.get("requests_waiting", 0),
                stats.get("requests_wait_ms", 0) / 1000,
            )
        except Exception as error:  # noqa: PERF203 - one failing pool must not hide the others
            instrumentation_failed("db", error)


def refresh_pool_gauges() -> None:
    """The pre-scrape hook: read every pool into the current sinks."""
    report_pools()


def install_pool_export(sink: PrometheusDbSink | None = None) -> None:
    """What ``ready()`` does: add the pre-scrape hook and, with a pooled alias configured,
    make ``sink`` (default: the prometheus database sink) read the pools when collected.

    Reads no pool and makes none. Installing twice changes nothing.
    """
    add_pre_scrape_hook(refresh_pool_gauges)
    if sink is None:
        if not pooled_aliases():
            return  # the database families need not exist for a project without a pool
        from django_prometheus.sinks.prometheus import get_sinks

        sink = get_sinks().db
    target = sink
    sink.pool_refresher = lambda: report_pools(target)
