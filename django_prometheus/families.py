"""Every metric family we export, declared once.

``Metrics.register`` makes the HTTP families from this table and the prometheus
sinks make the others; ``scripts/gen_metrics_doc.py`` writes docs/metrics.md
from it. The order of a domain is the order of registration, hence of
``/metrics``. Names are as passed to prometheus_client and are the contract
(spec/metrics.md): never rename one.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

from prometheus_client import Counter, Gauge, Histogram

from django_prometheus.utils import PowersOf

__all__ = [
    "BODY_SIZE_BUCKETS",
    "CACHE",
    "CACHE_OPERATION_BUCKETS",
    "DB",
    "DB_POOL",
    "DOMAINS",
    "ERRORS",
    "HTTP",
    "MIGRATIONS",
    "MODEL",
    "Buckets",
    "Domain",
    "Family",
    "MetricClass",
    "MultiprocessMode",
]

BODY_SIZE_BUCKETS: Final[tuple[float, ...]] = tuple(PowersOf(2, 30))

# A local cache answers in microseconds, a network one in about a millisecond.
CACHE_OPERATION_BUCKETS: Final[tuple[float, ...]] = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    float("inf"),
)  # fmt: skip

MetricClass: TypeAlias = type[Counter] | type[Gauge] | type[Histogram]
Buckets: TypeAlias = Literal["latency", "body"] | tuple[float, ...]
"""``"latency"``: ``PROMETHEUS_LATENCY_BUCKETS``; ``"body"``: :data:`BODY_SIZE_BUCKETS`."""
MultiprocessMode: TypeAlias = Literal[
    "all", "liveall", "min", "livemin", "max", "livemax", "sum", "livesum", "mostrecent",
    "livemostrecent",
]  # fmt: skip
Domain: TypeAlias = Literal["http", "db", "cache", "model", "migrations", "errors"]


@dataclass(frozen=True, slots=True)
class Family:
    """One family; ``key`` is the attribute that holds it (on ``Metrics`` or its sink)."""

    key: str
    metric_cls: MetricClass
    name: str
    documentation: str
    labelnames: tuple[str, ...] = ()
    buckets: Buckets | None = None
    multiprocess_mode: MultiprocessMode | None = None
    # The boolean setting (a PrometheusConfig field) without which it is not registered.
    enabled_by: Literal["route_latency"] | None = None

    def bucket_bounds(
        self,
        latency_buckets: tuple[float, ...],
        body_buckets: tuple[float, ...] = BODY_SIZE_BUCKETS,
    ) -> tuple[float, ...] | None:
        """The histogram's upper bounds under the configured buckets."""
        if self.buckets == "latency":
            return latency_buckets
        if self.buckets == "body":
            return body_buckets
        return self.buckets

    @property
    def exposed_names(self) -> tuple[str, ...]:
        """The name as passed to prometheus_client, and the counter's ``_total`` form."""
        if self.metric_cls is Counter and not self.name.endswith("_total"):
            return (self.name, f"{self.name}_total")
        return (self.name,)


_VIEW_METHOD: Final = ("view", "method")
_ROUTE_METHOD: Final = ("route", "method")
_DB_LABELS: Final = ("alias", "vendor")
_CACHE_OPERATION: Final = ("backend", "operation")

HTTP: Final = (
    Family(
        "requests_total",
        Counter,
        "django_http_requests_before_middlewares_total",
        "Requests that reached the first middleware.",
    ),
    Family(
        "responses_total",
        Counter,
        "django_http_responses_before_middlewares_total",
        "Responses that left the first middleware.",
    ),
    Family(
        "requests_latency_before",
        Histogram,
        "django_http_requests_latency_including_middlewares_seconds",
        "Request latency measured around all middlewares, in seconds.",
        buckets="latency",
    ),
    Family(
        "requests_unknown_latency_before",
        Counter,
        "django_http_requests_unknown_latency_including_middlewares_total",
        "Responses seen by the first middleware without a start time.",
    ),
    Family(
        "requests_latency_by_view_method",
        Histogram,
        "django_http_requests_latency_seconds_by_view_method",
        "Request latency measured inside all middlewares, by view and method, in seconds.",
        _VIEW_METHOD,
        buckets="latency",
    ),
    Family(
        "requests_unknown_latency",
        Counter,
        "django_http_requests_unknown_latency_total",
        "Responses or exceptions seen by the last middleware without a start time.",
    ),
    Family(
        "requests_ajax",
        Counter,
        "django_http_ajax_requests_total",
        "Requests sent with X-Requested-With: XMLHttpRequest.",
    ),
    Family(
        "requests_by_method",
        Counter,
        "django_http_requests_total_by_method",
        "Requests by method.",
        ("method",),
    ),
    Family(
        "requests_by_transport",
        Counter,
        "django_http_requests_total_by_transport",
        "Requests by transport (http or https).",
        ("transport",),
    ),
    Family(
        "requests_by_view_transport_method",
        Counter,
        "django_http_requests_total_by_view_transport_method",
        "Requests by resolved view, transport and method.",
        ("view", "transport", "method"),
    ),
    Family(
        "requests_body_bytes",
        Histogram,
        "django_http_requests_body_total_bytes",
        "Request body size from Content-Length, in bytes.",
        buckets="body",
    ),
    Family(
        "responses_by_templatename",
        Counter,
        "django_http_responses_total_by_templatename",
        "Template responses by template name.",
        ("templatename",),
    ),
    Family(
        "responses_by_status",
        Counter,
        "django_http_responses_total_by_status",
        "Responses by status code.",
        ("status",),
    ),
    Family(
        "responses_by_status_view_method",
        Counter,
        "django_http_responses_total_by_status_view_method",
        "Responses by status code, view and method.",
        ("status", *_VIEW_METHOD),
    ),
    Family(
        "responses_body_bytes",
        Histogram,
        "django_http_responses_body_total_bytes",
        "Non-streaming response body size, in bytes.",
        buckets="body",
    ),
    Family(
        "responses_by_charset",
        Counter,
        "django_http_responses_total_by_charset",
        "Responses by charset.",
        ("charset",),
    ),
    Family(
        "responses_streaming",
        Counter,
        "django_http_responses_streaming_total",
        "Streaming responses.",
    ),
    Family(
        "exceptions_by_type",
        Counter,
        "django_http_exceptions_total_by_type",
        "Exceptions raised by views, by exception class name.",
        ("type",),
    ),
    Family(
        "exceptions_by_view",
        Counter,
        "django_http_exceptions_total_by_view",
        "Exceptions raised by views, by view.",
        ("view",),
    ),
    # Ours, beyond the contract: by URL pattern (never the path), and requests in flight.
    Family(
        "requests_by_route_method",
        Counter,
        "django_http_requests_total_by_route_method",
        "Requests by URL route pattern (<unmatched> when none resolved) and method.",
        _ROUTE_METHOD,
    ),
    Family(
        "responses_by_route_status_method",
        Counter,
        "django_http_responses_total_by_route_status_method",
        "Responses by URL route pattern, status code and method.",
        ("route", "status", "method"),
    ),
    Family(
        "requests_latency_by_route_method",
        Histogram,
        "django_http_requests_latency_seconds_by_route_method",
        "Request latency measured inside all middlewares, by URL route pattern and method, "
        "in seconds (with PROMETHEUS_ROUTE_LATENCY = True).",
        _ROUTE_METHOD,
        buckets="latency",
        enabled_by="route_latency",
    ),
    Family(
        "requests_in_progress",
        Gauge,
        "django_http_requests_in_progress",
        "Requests inside PrometheusBeforeMiddleware now, by method.",
        ("method",),
        multiprocess_mode="livesum",
    ),
)

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

DOMAINS: Final[Mapping[Domain, tuple[Family, ...]]] = {
    "http": HTTP,
    "db": (*DB, *DB_POOL),
    "cache": CACHE,
    "model": MODEL,
    "migrations": MIGRATIONS,
    "errors": ERRORS,
}
"""Every family by domain, in the order the reference registry makes them."""


def family_name(name: str) -> str:
    """The table's name of the family ``name`` designates (its exposed ``_total`` form
    too); ValueError naming the closest known family when there is none."""
    by_exposed = {
        exposed: family.name
        for families in DOMAINS.values()
        for family in families
        for exposed in family.exposed_names
    }
    known = by_exposed.get(name)
    if known is not None:
        return known
    closest = difflib.get_close_matches(name, list(by_exposed), n=1, cutoff=0.0)
    hint = f"; did you mean {closest[0]!r}?" if closest else ""
    raise ValueError(f"{name!r} is no metric family of django-prometheus{hint}")
