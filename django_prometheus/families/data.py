"""The families of the data layer (databases, pools, caches, models, migrations) and of
our own errors."""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge, Histogram

from django_prometheus.families.family import CACHE_OPERATION_BUCKETS, Family

__all__ = ["CACHE", "DB", "DB_POOL", "ERRORS", "MIGRATIONS", "MODEL"]

_DB_LABELS: Final = ("alias", "vendor")
_CACHE_OPERATION: Final = ("backend", "operation")

DB: Final = (
    Family(
        "new_connections",
        Counter,
        "django_db_new_connections_total",
        "Database connections opened.",
        _DB_LABELS,
    ),
    Family(
        "new_connection_errors",
        Counter,
        "django_db_new_connection_errors_total",
        "Database connections that failed.",
        _DB_LABELS,
    ),
    Family(
        "execute",
        Counter,
        "django_db_execute_total",
        "Queries executed (one per execute, one per parameter set of executemany).",
        _DB_LABELS,
    ),
    Family(
        "execute_many",
        Counter,
        "django_db_execute_many_total",
        "Parameter sets executed through executemany.",
        _DB_LABELS,
    ),
    Family(
        "errors",
        Counter,
        "django_db_errors_total",
        "Queries that raised, by exception class.",
        (*_DB_LABELS, "type"),
    ),
    Family(
        "query_duration",
        Histogram,
        "django_db_query_duration_seconds",
        "Query duration, in seconds.",
        _DB_LABELS,
        buckets="latency",
    ),
)

# Read from Django's psycopg pool (OPTIONS "pool") before each scrape; only aliases with a
# pool have series. Every worker process has a pool of its own per alias, so the gauges
# aggregate with "livesum": the sum over live processes is what the database sees (its
# connections, the capacity, the queue), and a dead worker's pool leaves with it.
DB_POOL: Final = (
    Family(
        "pool_connections",
        Gauge,
        "django_db_pool_connections",
        "Connections of Django's connection pool, by state (idle or in_use).",
        (*_DB_LABELS, "state"),
        multiprocess_mode="livesum",
    ),
    Family(
        "pool_max_connections",
        Gauge,
        "django_db_pool_max_connections",
        "The most connections Django's connection pool may open (its max_size).",
        _DB_LABELS,
        multiprocess_mode="livesum",
    ),
    Family(
        "pool_requests_waiting",
        Gauge,
        "django_db_pool_requests_waiting",
        "Requests queued for a connection of Django's connection pool.",
        _DB_LABELS,
        multiprocess_mode="livesum",
    ),
    Family(
        "pool_wait_seconds",
        Counter,
        "django_db_pool_wait_seconds_total",
        "Time requests spent queued for a connection of Django's connection pool, in seconds.",
        _DB_LABELS,
    ),
)

CACHE: Final = (
    Family("gets", Counter, "django_cache_get_total", "Cache get calls.", ("backend",)),
    Family(
        "hits",
        Counter,
        "django_cache_get_hits_total",
        "Cache gets that found the key.",
        ("backend",),
    ),
    Family(
        "misses",
        Counter,
        "django_cache_get_misses_total",
        "Cache gets that missed the key.",
        ("backend",),
    ),
    Family(
        "fails",
        Counter,
        "django_cache_get_fail_total",
        "Cache gets that failed with an error.",
        ("backend",),
    ),
    Family(
        "operations",
        Counter,
        "django_cache_operations_total",
        "Cache calls made by the application, by operation (async forms under the sync name).",
        _CACHE_OPERATION,
    ),
    Family(
        "operation_errors",
        Counter,
        "django_cache_operation_errors_total",
        "Cache calls that raised, or whose client hid a failure, by operation.",
        _CACHE_OPERATION,
    ),
    Family(
        "operation_duration",
        Histogram,
        "django_cache_operation_duration_seconds",
        "Cache call duration, by operation, in seconds.",
        _CACHE_OPERATION,
        buckets=CACHE_OPERATION_BUCKETS,
    ),
)

MODEL: Final = (
    Family(
        "inserts", Counter, "django_model_inserts_total", "Model instances inserted.", ("model",)
    ),
    Family(
        "updates", Counter, "django_model_updates_total", "Model instances updated.", ("model",)
    ),
    Family(
        "deletes", Counter, "django_model_deletes_total", "Model instances deleted.", ("model",)
    ),
)

# "livemostrecent": every process reads the same database, so the value most recently
# read by a live process is the truth; no per-pid series, and a dead worker's stale
# count cannot outlive it (as "max" would let it).
MIGRATIONS: Final = (
    Family(
        "applied",
        Gauge,
        "django_migrations_applied_total",
        "Migrations applied, per database connection.",
        ("connection",),
        multiprocess_mode="livemostrecent",
    ),
    Family(
        "unapplied",
        Gauge,
        "django_migrations_unapplied_total",
        "Migrations not yet applied, per database connection.",
        ("connection",),
        multiprocess_mode="livemostrecent",
    ),
)

ERRORS: Final = (
    Family(
        "errors",
        Counter,
        "django_prometheus_instrumentation_errors_total",
        "Errors raised inside django-prometheus while recording; the host was not affected.",
        ("component",),
    ),
)
