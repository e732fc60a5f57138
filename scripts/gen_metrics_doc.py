"""Write docs/metrics.md from the family table and the registry the sinks fill.

python scripts/gen_metrics_doc.py           # rewrite the file
python scripts/gen_metrics_doc.py --check   # exit 1 when the file is out of date

(with the interpreter the package is installed in, as `make setup` does: .venv/bin/python)

The tests read :func:`build_reference_registry` too (docs/metrics.md, and the
series the Grafana dashboard and the Prometheus rules in examples/ may name), so
none of them can name a series we do not export.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Final, NamedTuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

from django_prometheus.config import DEFAULT_LATENCY_BUCKETS, PrometheusConfig
from django_prometheus.families import CACHE_OPERATION_BUCKETS, DOMAINS, Domain, Family
from django_prometheus.sinks.prometheus import PrometheusSinks

__all__ = [
    "METRIC_NOTES",
    "MetricNote",
    "MetricReferenceError",
    "build_reference_registry",
    "exposed_sample_names",
    "main",
    "render_metrics_doc",
]

ROOT: Final = Path(__file__).resolve().parents[1]
DOC: Final = ROOT / "docs" / "metrics.md"
DOC_COMMAND: Final = "python scripts/gen_metrics_doc.py"


class MetricReferenceError(Exception):
    """The registry, the family table and the notes describing them disagree."""


class MetricNote(NamedTuple):
    recorded_by: str
    recorded_when: str


SECTIONS: Final[Mapping[Domain, str]] = {
    "http": "HTTP",
    "db": "Database",
    "cache": "Cache",
    "model": "Models",
    "migrations": "Migrations",
    "errors": "django-prometheus",
}

_BEFORE: Final = "`PrometheusBeforeMiddleware`"
_AFTER: Final = "`PrometheusAfterMiddleware`"
_DB: Final = "`django_prometheus.db.backends.<vendor>`"
_POOL: Final = "pool reader (`django_prometheus.db.pool`), any PostgreSQL backend"
_CACHE: Final = "`django_prometheus.cache.backends.*`"
_MODEL: Final = "`ExportModelOperationsMixin(name)`"
_MIGRATIONS: Final = "migration export (`PROMETHEUS_EXPORT_MIGRATIONS = True`)"
_SAFETY: Final = "every instrument, through `django_prometheus.safety`"

# Keyed by the primary exposed name: counters with their `_total`, histograms and
# gauges by their family name.
METRIC_NOTES: Final[Mapping[str, MetricNote]] = {
    "django_http_requests_before_middlewares_total": MetricNote(
        _BEFORE, "every request entering the middleware stack"
    ),
    "django_http_responses_before_middlewares_total": MetricNote(
        _BEFORE, "every response leaving the middleware stack"
    ),
    "django_http_requests_latency_including_middlewares_seconds": MetricNote(
        _BEFORE, "every response, time since the request entered the first middleware"
    ),
    "django_http_requests_unknown_latency_including_middlewares_total": MetricNote(
        _BEFORE, "a response seen without a start time"
    ),
    "django_http_requests_total_by_method_total": MetricNote(_AFTER, "every request"),
    "django_http_requests_total_by_transport_total": MetricNote(_AFTER, "every request"),
    "django_http_ajax_requests_total": MetricNote(
        _AFTER, "a request with `X-Requested-With: XMLHttpRequest`"
    ),
    "django_http_requests_body_total_bytes": MetricNote(
        _AFTER, "every request, observes Content-Length (0 when absent)"
    ),
    "django_http_requests_total_by_view_transport_method_total": MetricNote(
        _AFTER, "the URL resolver picked a view"
    ),
    "django_http_responses_total_by_templatename_total": MetricNote(
        _AFTER, "a TemplateResponse is rendered"
    ),
    "django_http_responses_total_by_status_total": MetricNote(_AFTER, "every response"),
    "django_http_responses_total_by_status_view_method_total": MetricNote(_AFTER, "every response"),
    "django_http_responses_body_total_bytes": MetricNote(
        _AFTER, "every non-streaming response, observes the body length"
    ),
    "django_http_responses_total_by_charset_total": MetricNote(_AFTER, "every response"),
    "django_http_responses_streaming_total": MetricNote(_AFTER, "a streaming response"),
    "django_http_requests_latency_seconds_by_view_method": MetricNote(
        _AFTER, "every response or view exception, time since the request entered"
    ),
    "django_http_requests_unknown_latency_total": MetricNote(
        _AFTER, "a response or exception seen without a start time"
    ),
    "django_http_exceptions_total_by_type_total": MetricNote(_AFTER, "a view raised"),
    "django_http_exceptions_total_by_view_total": MetricNote(_AFTER, "a view raised"),
    "django_http_requests_total_by_route_method_total": MetricNote(
        _AFTER, "every request, by the resolver's URL pattern (`<unmatched>` if none)"
    ),
    "django_http_responses_total_by_route_status_method_total": MetricNote(
        _AFTER, "every response, by the resolver's URL pattern"
    ),
    "django_http_requests_latency_seconds_by_route_method": MetricNote(
        _AFTER,
        "every response, time as in `..._by_view_method`; only with "
        "`PROMETHEUS_ROUTE_LATENCY = True`",
    ),
    "django_http_requests_in_progress": MetricNote(
        _BEFORE,
        "up when a request enters, down when it leaves (a streaming response: when it is "
        "closed); `livesum` in multiprocess mode",
    ),
    "django_db_new_connections_total": MetricNote(_DB, "a database connection was opened"),
    "django_db_new_connection_errors_total": MetricNote(
        _DB, "opening a database connection raised"
    ),
    "django_db_execute_total": MetricNote(
        _DB, "one per `execute`, one per parameter set of `executemany`"
    ),
    "django_db_execute_many_total": MetricNote(_DB, "one per parameter set of `executemany`"),
    "django_db_errors_total": MetricNote(_DB, "a query raised"),
    "django_db_query_duration_seconds": MetricNote(
        _DB, "every `execute` or `executemany`, successful or not"
    ),
    "django_db_pool_connections": MetricNote(
        _POOL, "before every scrape, per alias with Django's connection pool"
    ),
    "django_db_pool_max_connections": MetricNote(
        _POOL, "before every scrape, per alias with Django's connection pool"
    ),
    "django_db_pool_requests_waiting": MetricNote(
        _POOL, "before every scrape, per alias with Django's connection pool"
    ),
    "django_db_pool_wait_seconds_total": MetricNote(
        _POOL, "before every scrape, by how far the pool's `requests_wait_ms` moved"
    ),
    "django_cache_get_total": MetricNote(_CACHE, "every `get`"),
    "django_cache_get_hits_total": MetricNote(_CACHE, "a `get` that found the key"),
    "django_cache_get_misses_total": MetricNote(
        _CACHE, "a `get` that returned the default because the key is absent"
    ),
    "django_cache_get_fail_total": MetricNote(
        _CACHE, "a `get` that raised (counted even when the backend ignores exceptions)"
    ),
    "django_cache_operations_total": MetricNote(
        _CACHE,
        "every call the application makes (`get` … `clear`, async forms under the sync name); "
        "calls a backend makes inside another are not counted again",
    ),
    "django_cache_operation_errors_total": MetricNote(
        _CACHE, "a call that raised, or whose client hid a failure we can see"
    ),
    "django_cache_operation_duration_seconds": MetricNote(
        _CACHE, "every counted call, successful or not"
    ),
    "django_model_inserts_total": MetricNote(
        _MODEL, "an instance was inserted (series exist at 0 from class creation)"
    ),
    "django_model_updates_total": MetricNote(_MODEL, "an instance was updated"),
    "django_model_deletes_total": MetricNote(_MODEL, "an instance was deleted"),
    "django_migrations_applied_total": MetricNote(
        _MIGRATIONS, "the migration state was read, per database connection"
    ),
    "django_migrations_unapplied_total": MetricNote(
        _MIGRATIONS, "the migration state was read, per database connection"
    ),
    "django_prometheus_instrumentation_errors_total": MetricNote(
        _SAFETY, "our own recording code raised; the request, query or cache call went on untouched"
    ),
}


def build_reference_registry() -> CollectorRegistry:
    """A fresh registry in which every family of the table exists and has a series.

    Every domain of :class:`PrometheusSinks` is created and every event is
    reported once, so that each family shows all its sample suffixes.
    """
    registry = CollectorRegistry()
    sinks = PrometheusSinks(registry, config=PrometheusConfig(route_latency=True))
    for domain in DOMAINS:
        getattr(sinks, domain)

    http = sinks.http
    http.request_entered()
    http.response_left(0.02)
    http.response_left(None)
    http.request_received("GET", "http", True, 42)
    http.view_resolved("index", "http", "GET")
    http.template_rendered("index.html")
    http.response_sent("200", "index", "GET", "utf-8", False, 512)
    http.request_timed("index", "GET", 0.02)
    http.response_sent("200", "stream", "GET", "utf-8", True, None)
    http.request_timed("stream", "GET", None)
    http.exception_raised("ValueError", "boom")
    http.request_timed("boom", "GET", 0.01)
    http.request_started("GET")
    http.request_finished("GET")
    http.request_routed("items/<int:pk>/", "GET")
    http.response_routed("items/<int:pk>/", "200", "GET", 0.02)
    http.response_routed("items/<int:pk>/", "500", "GET", 0.03)

    db = sinks.db.bind("default", "sqlite")
    db.connection_opened()
    db.connection_failed()
    db.query_executed(0.001)
    db.queries_executed_many(3, 0.002)
    db.query_failed("OperationalError")
    sinks.db.pool_observed("pooled", "postgresql", 3, 1, 4, 0, 0.25)

    cache = sinks.cache.bind("locmem")
    for outcome in ("hit", "miss", "fail"):
        cache.cache_get(outcome)
    cache.operation_done("get", 0.0003)
    cache.operation_failed("set", 0.002)

    model = sinks.model.bind("book")
    model.model_inserted()
    model.model_updated()
    model.model_deleted()

    sinks.migrations.migrations_counted("default", 12, 1)
    sinks.errors.instrumentation_failed("http")
    return registry


def exposed_sample_names(registry: CollectorRegistry) -> frozenset[str]:
    """Every sample name the registry exposes (with `_total`, `_bucket`, `_created` …)."""
    return frozenset(sample.name for family in registry.collect() for sample in family.samples)


def _primary_name(family: Metric) -> str:
    return f"{family.name}_total" if family.type == "counter" else family.name


def _declared_name(family: Family) -> str:
    """The primary exposed name of a table entry (prometheus_client adds one `_total`)."""
    if family.metric_cls is Counter and not family.name.endswith("_total"):
        return f"{family.name}_total"
    return family.name


_TABLE: Final[Mapping[str, tuple[Domain, Family]]] = {
    _declared_name(family): (domain, family)
    for domain, families in DOMAINS.items()
    for family in families
}


def _checked_families(registry: CollectorRegistry) -> dict[str, Metric]:
    exported = {_primary_name(family): family for family in registry.collect()}
    problems = [
        f"{name} has no series: report an event for it in build_reference_registry()"
        for name, family in exported.items()
        if not family.samples
    ]
    problems += [
        f"{name} is not declared in django_prometheus.families"
        for name in sorted(set(exported) - set(_TABLE))
    ]
    problems += [
        f"django_prometheus.families declares {name}, which is not exported"
        for name in sorted(set(_TABLE) - set(exported))
    ]
    problems += [
        f"{name} is exported unlike its declaration in django_prometheus.families"
        for name, family in exported.items()
        if name in _TABLE and not _as_declared(family, _TABLE[name][1])
    ]
    problems += [
        f"{name} has no entry in METRIC_NOTES" for name in sorted(set(_TABLE) - set(METRIC_NOTES))
    ]
    problems += [
        f"METRIC_NOTES describes {name}, which is not declared"
        for name in sorted(set(METRIC_NOTES) - set(_TABLE))
    ]
    if problems:
        raise MetricReferenceError("; ".join(problems))
    return exported


_TYPES: Final[Mapping[type[object], str]] = {
    Counter: "counter",
    Gauge: "gauge",
    Histogram: "histogram",
}


def _as_declared(exported: Metric, declared: Family) -> bool:
    return (
        exported.type == _TYPES[declared.metric_cls]
        and exported.documentation == declared.documentation
        and all(tuple(_labels([sample])) == declared.labelnames for sample in exported.samples)
    )


def _bucket_description(exported: Metric, declared: Family) -> str:
    bounds = tuple(
        float(sample.labels["le"]) for sample in exported.samples if sample.name.endswith("_bucket")
    )
    expected = declared.bucket_bounds(DEFAULT_LATENCY_BUCKETS) or ()
    if sorted(set(bounds)) != sorted({*map(float, expected), float("inf")}):
        raise MetricReferenceError(f"{exported.name} is exported with buckets {bounds}")
    if declared.buckets == "latency":
        return "histogram (latency buckets)"
    if declared.buckets == "body":
        return "histogram (size buckets)"
    if declared.buckets == CACHE_OPERATION_BUCKETS:
        return "histogram (cache buckets: 0.1 ms … 1 s)"
    raise MetricReferenceError(f"{exported.name} has buckets the doc does not describe")


_SUFFIX_ORDER: Final = {"_total": 0, "_bucket": 1, "_sum": 2, "_count": 3}


def _exposed(family: Metric) -> list[str]:
    names = {sample.name for sample in family.samples if not sample.name.endswith("_created")}

    def order(name: str) -> tuple[int, str]:
        suffix = name[len(family.name) :]
        return (_SUFFIX_ORDER.get(suffix, 0), name)

    return sorted(names, key=order)


def _labels(samples: Iterable[Sample]) -> list[str]:
    seen: dict[str, None] = {}
    for sample in samples:
        for label in sample.labels:
            if label != "le":
                seen.setdefault(label)
    return list(seen)


def _cell(values: Iterable[str]) -> str:
    cell = ", ".join(f"`{value}`" for value in values)
    return cell or "\N{EN DASH}"


_INTRODUCTION: Final = f"""\
# Metrics reference

<!-- Generated by `{DOC_COMMAND}` from the metrics the package registers; do not edit
by hand: tests/unit/test_gen_metrics_doc.py fails when this file and the code disagree. -->

Every metric django-prometheus exports, with the series names exactly as they appear
on `/metrics`. These names, types and label sets are the compatibility contract with
the established django-prometheus package: dashboards and alerts written for it keep
working. `examples/grafana/` and `examples/prometheus/` use only these names.

- **Namespace.** With `PROMETHEUS_METRIC_NAMESPACE = "myproject"` every name gets the
  prefix `myproject_` (`myproject_django_http_requests_before_middlewares_total`).
- **Counter names.** Counters are exposed with a `_total` suffix; a name that already
  ends in `_total` keeps a single one. That is why `django_http_requests_total_by_method`
  appears as `django_http_requests_total_by_method_total`: dashboards depend on it.
- **`_created` series.** prometheus_client also exposes `<name>_created` (the creation
  time) for every counter and histogram series; `PROMETHEUS_DISABLE_CREATED_SERIES =
  True` switches them off.
- **Latency buckets** (upper bounds, seconds): `PROMETHEUS_LATENCY_BUCKETS`, by default
  {", ".join(f"{bound:g}" for bound in DEFAULT_LATENCY_BUCKETS[:-1])}, +Inf.
- **Size buckets** (upper bounds, bytes): 0 and the powers of two 2^0 … 2^29, +Inf.
"""

_LABEL_VALUES: Final[tuple[tuple[str, str], ...]] = (
    (
        "`method`",
        (
            "GET HEAD POST PUT DELETE TRACE OPTIONS CONNECT PATCH; any other method becomes "
            "`<invalid method>` (never the raw method)"
        ),
    ),
    ("`transport`", "`http` or `https`"),
    (
        "`view`",
        (
            "the resolver's `view_name` (the URL name, or the dotted path of an unnamed view); "
            "`<unnamed view>` when no view was resolved (404s, requests answered by an earlier "
            "middleware)"
        ),
    ),
    ("`status`", 'the status code as a string (`"200"`)'),
    ("`type`", "the exception class name (`ValueError`, `OperationalError`)"),
    ("`templatename`", "the TemplateResponse's template name"),
    ("`charset`", "the response charset (`utf-8`)"),
    ("`alias`, `connection`", "the database alias from `DATABASES`"),
    ("`state`", "`idle` or `in_use` (connections of Django's connection pool)"),
    ("`vendor`", "Django's `connection.vendor`: `sqlite`, `postgresql`, `mysql`"),
    (
        "`backend`",
        (
            "`locmem`, `filebased`, `memcached`, `redis` (django-redis), `native_redis` "
            "(Django's own Redis backend)"
        ),
    ),
    (
        "`operation`",
        (
            "`get`, `set`, `add`, `delete`, `touch`, `incr`, `decr`, `has_key`, `get_many`, "
            "`set_many`, `delete_many`, `get_or_set`, `clear` (`aset` counts as `set`)"
        ),
    ),
    ("`model`", "the name given to `ExportModelOperationsMixin(name)`"),
    ("`component`", "`http`, `db`, `cache`, `model`, `migrations`, `export`"),
)


def render_metrics_doc(registry: CollectorRegistry | None = None) -> str:
    """The text of ``docs/metrics.md``: one section per domain, rows in the table's order."""
    exported = _checked_families(build_reference_registry() if registry is None else registry)
    parts = [_INTRODUCTION]
    for domain, families in DOMAINS.items():
        parts.append(f"## {SECTIONS[domain]}\n")
        parts.append("| exposed series | type | labels | recorded when | recorded by | help |")
        parts.append("|---|---|---|---|---|---|")
        for declared in families:
            name = _declared_name(declared)
            family, note = exported[name], METRIC_NOTES[name]
            kind = (
                _bucket_description(family, declared) if family.type == "histogram" else family.type
            )
            row = [
                _cell(_exposed(family)),
                kind,
                _cell(_labels(family.samples)),
                note.recorded_when,
                note.recorded_by,
                family.documentation,
            ]
            parts.append("| " + " | ".join(row) + " |")
        parts.append("")
    parts += ["## Label values\n", "| label | values |", "|---|---|"]
    parts += [f"| {label} | {values} |" for label, values in _LABEL_VALUES]
    return "\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only compare, do not write")
    arguments = parser.parse_args(argv)
    text = render_metrics_doc()
    if arguments.check:
        if not DOC.exists() or DOC.read_text(encoding="utf-8") != text:
            print(f"{DOC.relative_to(ROOT)} is out of date: run {DOC_COMMAND}")
            return 1
        print(f"{DOC.relative_to(ROOT)} is up to date")
        return 0
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
