"""The prometheus sinks move exactly the contract's series; the fakes record exactly the calls."""

from __future__ import annotations

import math
import threading

import pytest
from prometheus_client import CollectorRegistry

from django_prometheus.config import PrometheusConfig, load_config
from django_prometheus.sinks.prometheus import BODY_SIZE_BUCKETS, PrometheusSinks, get_sinks
from django_prometheus.sinks.protocols import (
    CacheGetOutcome,
    CacheSink,
    DbSink,
    ErrorSink,
    HttpSink,
    MigrationSink,
    ModelSink,
)
from django_prometheus.testing import (
    FakeCacheSink,
    FakeDbSink,
    FakeErrorSink,
    FakeHttpSink,
    FakeMigrationSink,
    FakeModelSink,
)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def sinks(registry: CollectorRegistry) -> PrometheusSinks:
    return PrometheusSinks(registry)


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_body_size_buckets_are_zero_and_powers_of_two() -> None:
    assert BODY_SIZE_BUCKETS == (0, *(2.0**n for n in range(30)))


def test_domains_are_created_lazily_and_once(
    registry: CollectorRegistry, sinks: PrometheusSinks
) -> None:
    assert list(registry.collect()) == []
    assert sinks.cache is sinks.cache
    names = {family.name for family in registry.collect()}
    assert names == {
        "django_cache_get",
        "django_cache_get_hits",
        "django_cache_get_misses",
        "django_cache_get_fail",
        "django_cache_operations",
        "django_cache_operation_errors",
        "django_cache_operation_duration_seconds",
    }


def test_concurrent_first_use_registers_each_family_once(registry: CollectorRegistry) -> None:
    sinks = PrometheusSinks(registry)
    made: list[object] = []
    barrier = threading.Barrier(8)

    def use() -> None:
        barrier.wait()
        made.append(sinks.db)

    threads = [threading.Thread(target=use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(sink) for sink in made}) == 1


def test_http_events(registry: CollectorRegistry, sinks: PrometheusSinks) -> None:
    http = sinks.http
    assert sinks.http is http
    http.request_entered()
    http.request_received("GET", "https", True, 300)
    http.view_resolved("ok", "https", "GET")
    http.view_resolved("ok", "http", "GET")
    http.template_rendered("page.html")
    http.response_sent("200", "ok", "GET", "utf-8", False, 1000)
    http.response_sent("200", "ok", "GET", "utf-8", True, None)
    http.response_sent("500", "ok", "GET", "utf-8", False, None)
    http.exception_raised("ValueError", "ok")
    http.request_timed("ok", "GET", 0.2)
    http.request_timed("ok", "GET", None)
    http.response_left(0.4)
    http.response_left(None)

    assert value(registry, "django_http_requests_before_middlewares_total") == 1
    assert value(registry, "django_http_responses_before_middlewares_total") == 2
    assert value(registry, "django_http_requests_latency_including_middlewares_seconds_count") == 1
    assert value(registry, "django_http_requests_latency_including_middlewares_seconds_sum") == 0.4
    assert value(registry, "django_http_requests_unknown_latency_including_middlewares_total") == 1
    assert value(registry, "django_http_requests_total_by_method_total", method="GET") == 1
    assert value(registry, "django_http_requests_total_by_transport_total", transport="https") == 1
    assert value(registry, "django_http_ajax_requests_total") == 1
    assert value(registry, "django_http_requests_body_total_bytes_sum") == 300
    for transport in ("http", "https"):
        assert (
            value(
                registry,
                "django_http_requests_total_by_view_transport_method_total",
                view="ok",
                transport=transport,
                method="GET",
            )
            == 1
        )
    assert (
        value(
            registry, "django_http_responses_total_by_templatename_total", templatename="page.html"
        )
        == 1
    )
    assert value(registry, "django_http_responses_total_by_status_total", status="200") == 2
    assert value(registry, "django_http_responses_total_by_status_total", status="500") == 1
    assert (
        value(
            registry,
            "django_http_responses_total_by_status_view_method_total",
            status="200",
            view="ok",
            method="GET",
        )
        == 2
    )
    assert value(registry, "django_http_responses_body_total_bytes_count") == 1
    assert value(registry, "django_http_responses_body_total_bytes_sum") == 1000
    assert value(registry, "django_http_responses_total_by_charset_total", charset="utf-8") == 3
    assert value(registry, "django_http_responses_streaming_total") == 1
    latency = {"view": "ok", "method": "GET"}
    assert (
        value(registry, "django_http_requests_latency_seconds_by_view_method_count", **latency) == 1
    )
    assert (
        value(registry, "django_http_requests_latency_seconds_by_view_method_sum", **latency) == 0.2
    )
    assert value(registry, "django_http_requests_unknown_latency_total") == 1
    assert value(registry, "django_http_exceptions_total_by_type_total", type="ValueError") == 1
    assert value(registry, "django_http_exceptions_total_by_view_total", view="ok") == 1


def test_http_families_belong_to_a_metrics_instance(registry: CollectorRegistry) -> None:
    from django_prometheus.middleware import Metrics

    http = PrometheusSinks(registry, "shop", (0.5, math.inf)).http
    assert type(http.metrics) is Metrics
    assert http.metrics.registry is registry
    http.request_timed("v", "GET", 0.3)
    assert (
        value(
            registry,
            "shop_django_http_requests_latency_seconds_by_view_method_bucket",
            view="v",
            method="GET",
            le="0.5",
        )
        == 1
    )


def test_global_http_sink_wraps_the_middlewares_metrics() -> None:
    from django_prometheus.middleware import Metrics

    assert get_sinks().http.metrics is Metrics.get_instance()


def test_db_events_bound_once_per_alias(
    registry: CollectorRegistry, sinks: PrometheusSinks
) -> None:
    bound = sinks.db.bind("default", "sqlite")
    assert sinks.db.bind("default", "sqlite") is bound
    other = sinks.db.bind("replica", "sqlite")
    bound.connection_opened()
    bound.connection_failed()
    bound.query_executed(0.01)
    bound.queries_executed_many(5, 0.02)
    bound.query_failed("OperationalError")
    bound.query_failed("OperationalError")
    other.query_failed("IntegrityError")
    labels = {"alias": "default", "vendor": "sqlite"}
    assert value(registry, "django_db_new_connections_total", **labels) == 2
    assert value(registry, "django_db_new_connection_errors_total", **labels) == 1
    assert value(registry, "django_db_execute_total", **labels) == 6
    assert value(registry, "django_db_execute_many_total", **labels) == 5
    assert value(registry, "django_db_query_duration_seconds_count", **labels) == 2
    assert value(registry, "django_db_errors_total", type="OperationalError", **labels) == 2
    assert (
        value(
            registry,
            "django_db_errors_total",
            alias="replica",
            vendor="sqlite",
            type="IntegrityError",
        )
        == 1
    )
    assert value(registry, "django_db_errors_total", type="IntegrityError", **labels) is None


def test_cache_events(registry: CollectorRegistry, sinks: PrometheusSinks) -> None:
    bound = sinks.cache.bind("locmem")
    outcomes: tuple[CacheGetOutcome, ...] = ("hit", "hit", "miss", "fail")
    for outcome in outcomes:
        bound.cache_get(outcome)
    assert value(registry, "django_cache_get_total", backend="locmem") == 4
    assert value(registry, "django_cache_get_hits_total", backend="locmem") == 2
    assert value(registry, "django_cache_get_misses_total", backend="locmem") == 1
    assert value(registry, "django_cache_get_fail_total", backend="locmem") == 1


def test_cache_get_many_counts_one_get_per_key(
    registry: CollectorRegistry, sinks: PrometheusSinks
) -> None:
    bound = sinks.cache.bind("redis")
    bound.cache_get_many(3, 2, 0)
    bound.cache_get_many(0, 0, 4)
    bound.cache_get_many(0, 0, 0)
    assert value(registry, "django_cache_get_total", backend="redis") == 9
    assert value(registry, "django_cache_get_hits_total", backend="redis") == 3
    assert value(registry, "django_cache_get_misses_total", backend="redis") == 2
    assert value(registry, "django_cache_get_fail_total", backend="redis") == 4


def test_cache_binding_is_shared_per_backend_label(sinks: PrometheusSinks) -> None:
    assert sinks.cache.bind("locmem") is sinks.cache.bind("locmem")
    assert sinks.cache.bind("locmem") is not sinks.cache.bind("redis")


def test_model_series_exist_at_zero_once_bound(
    registry: CollectorRegistry, sinks: PrometheusSinks
) -> None:
    bound = sinks.model.bind("dog")
    for name in ("inserts", "updates", "deletes"):
        assert value(registry, f"django_model_{name}_total", model="dog") == 0
    bound.model_inserted()
    bound.model_updated()
    bound.model_updated()
    bound.model_deleted()
    assert value(registry, "django_model_inserts_total", model="dog") == 1
    assert value(registry, "django_model_updates_total", model="dog") == 2
    assert value(registry, "django_model_deletes_total", model="dog") == 1


def test_migration_and_error_events(registry: CollectorRegistry, sinks: PrometheusSinks) -> None:
    sinks.migrations.migrations_counted("default", 12, 3)
    sinks.migrations.migrations_counted("default", 15, 0)
    sinks.errors.instrumentation_failed("http")
    assert value(registry, "django_migrations_applied_total", connection="default") == 15
    assert value(registry, "django_migrations_unapplied_total", connection="default") == 0
    assert value(registry, "django_prometheus_instrumentation_errors_total", component="http") == 1


def test_migration_gauges_keep_the_latest_live_value_across_processes(
    sinks: PrometheusSinks,
) -> None:
    # Not "max": a dead worker's old unapplied count must not win after a migrate.
    assert sinks.migrations.applied._multiprocess_mode == "livemostrecent"
    assert sinks.migrations.unapplied._multiprocess_mode == "livemostrecent"
    assert sinks.migrations.refresher is None


def test_namespace_and_buckets_come_from_the_config(registry: CollectorRegistry) -> None:
    config = load_config(
        type(
            "S",
            (),
            {"PROMETHEUS_METRIC_NAMESPACE": "shop", "PROMETHEUS_LATENCY_BUCKETS": (0.5, math.inf)},
        ),
        {},
    )
    sinks = get_sinks(registry, config)
    assert get_sinks(registry, config) is sinks
    sinks.db.bind("default", "sqlite").query_executed(0.2)
    labels = {"alias": "default", "vendor": "sqlite"}
    assert value(registry, "shop_django_db_execute_total", **labels) == 1
    assert value(registry, "shop_django_db_query_duration_seconds_bucket", le="0.5", **labels) == 1
    assert (
        value(registry, "shop_django_db_query_duration_seconds_bucket", le="1.0", **labels) is None
    )


def test_fakes_satisfy_the_protocols_and_record_calls() -> None:
    http: HttpSink = FakeHttpSink()
    db: DbSink = FakeDbSink()
    cache: CacheSink = FakeCacheSink()
    model: ModelSink = FakeModelSink()
    migrations: MigrationSink = FakeMigrationSink()
    errors: ErrorSink = FakeErrorSink()

    http.request_entered()
    http.exception_raised("KeyError", "v")
    db.bind("default", "sqlite").queries_executed_many(3, 0.5)
    db.pool_observed("pooled", "postgresql", 3, 1, 4, 0, 0.5)
    cache.bind("redis").cache_get("miss")
    cache.bind("redis").cache_get_many(2, 1, 0)
    model.bind("cat").model_deleted()
    migrations.migrations_counted("default", 1, 2)
    errors.instrumentation_failed("db")

    assert isinstance(http, FakeHttpSink)
    assert http.calls == [("request_entered",), ("exception_raised", "KeyError", "v")]
    assert isinstance(db, FakeDbSink)
    assert db.calls == [
        ("bind", "default", "sqlite"),
        ("queries_executed_many", "default", "sqlite", 3, 0.5),
        ("pool_observed", "pooled", "postgresql", 3, 1, 4, 0, 0.5),
    ]
    assert isinstance(cache, FakeCacheSink)
    assert cache.calls == [
        ("bind", "redis"),
        ("cache_get", "redis", "miss"),
        ("bind", "redis"),
        ("cache_get_many", "redis", 2, 1, 0),
    ]
    assert cache.events() == ["bind", "cache_get", "bind", "cache_get_many"]
    assert isinstance(model, FakeModelSink)
    assert model.calls == [("bind", "cat"), ("model_deleted", "cat")]
    assert isinstance(migrations, FakeMigrationSink)
    assert migrations.calls == [("migrations_counted", "default", 1, 2)]
    assert isinstance(errors, FakeErrorSink)
    assert errors.calls == [("instrumentation_failed", "db")]
    errors.clear()
    assert errors.calls == []


def test_disabled_families_of_every_domain_are_not_exported_and_cost_no_error() -> None:
    disabled = [
        "django_cache_get_fail_total",
        "django_cache_operation_duration_seconds",
        "django_db_query_duration_seconds",
        "django_model_deletes_total",
        "django_migrations_unapplied_total",
    ]
    registry = CollectorRegistry()
    config = PrometheusConfig(disabled_metrics=disabled)  # type: ignore[arg-type]
    sinks = PrometheusSinks(registry, config=config)
    cache = sinks.cache.bind("locmem")
    cache.get_finished("fail", 0.001)
    cache.operation_done("set", 0.001)
    db = sinks.db.bind("default", "sqlite")
    db.query_executed(0.01)
    model = sinks.model.bind("dog")
    model.model_deleted()
    model.model_inserted()
    sinks.migrations.migrations_counted("default", 3, 1)
    names = {family.name for family in registry.collect()}
    assert not {name.removesuffix("_total") for name in disabled} & names
    assert registry.get_sample_value("django_cache_get_total", {"backend": "locmem"}) == 1.0
    assert (
        registry.get_sample_value(
            "django_db_execute_total", {"alias": "default", "vendor": "sqlite"}
        )
        == 1.0
    )
    assert registry.get_sample_value("django_model_inserts_total", {"model": "dog"}) == 1.0
    assert (
        registry.get_sample_value("django_migrations_applied_total", {"connection": "default"})
        == 3.0
    )


def test_http_events_moved_jointly_by_threads_lose_nothing(
    registry: CollectorRegistry, sinks: PrometheusSinks
) -> None:
    http = sinks.http
    by_method = http.metrics.requests_by_method.labels("GET")
    barrier = threading.Barrier(4)

    def work() -> None:
        barrier.wait()
        for _ in range(1000):
            http.request_received("GET", "http", False, 10)
            by_method.inc()  # another caller of a jointly moved value, through its own lock
            http.response_sent("200", "v", "GET", "utf-8", False, 5)
            http.response_routed("r/", "200", "GET", 0.01)
            http.request_timed("v", "GET", 0.02)
            http.response_left(0.03)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert value(registry, "django_http_requests_total_by_method_total", method="GET") == 8000
    assert value(registry, "django_http_requests_body_total_bytes_sum") == 40000
    assert value(registry, "django_http_responses_total_by_status_total", status="200") == 4000
    assert value(registry, "django_http_responses_body_total_bytes_count") == 4000
    route = {"route": "r/", "status": "200", "method": "GET"}
    assert (
        value(registry, "django_http_responses_total_by_route_status_method_total", **route) == 4000
    )
    view = {"view": "v", "method": "GET"}
    assert (
        value(registry, "django_http_requests_latency_seconds_by_view_method_count", **view) == 4000
    )
    assert value(registry, "django_http_responses_before_middlewares_total") == 4000
    assert (
        value(registry, "django_http_requests_latency_including_middlewares_seconds_count") == 4000
    )
