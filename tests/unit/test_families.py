"""The family table is what Metrics and the prometheus sinks really register, in its order."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from django_prometheus.config import PrometheusConfig
from django_prometheus.families import (
    BODY_SIZE_BUCKETS,
    DB_POOL,
    DOMAINS,
    HTTP,
    MIGRATIONS,
    Buckets,
    Domain,
    Family,
)
from django_prometheus.middleware import Metrics
from django_prometheus.sinks.prometheus import PrometheusSinks

LATENCY = (0.5, 1.0, float("inf"))
ALL = [family for families in DOMAINS.values() for family in families]


def _collected_name(family: Family) -> str:
    # prometheus_client reports a counter's family without its `_total`.
    return family.name.removesuffix("_total") if family.metric_cls is Counter else family.name


def test_names_are_unique_and_keys_unique_per_domain() -> None:
    assert len({family.name for family in ALL}) == len(ALL)
    for families in DOMAINS.values():
        assert len({family.key for family in families}) == len(families)


def test_every_histogram_says_its_buckets_and_every_gauge_its_multiprocess_mode() -> None:
    for family in ALL:
        assert (family.buckets is not None) == (family.metric_cls is Histogram), family.name
        assert (family.multiprocess_mode is not None) == (family.metric_cls is Gauge), family.name


@pytest.mark.parametrize(
    ("buckets", "bounds"),
    [("latency", LATENCY), ("body", BODY_SIZE_BUCKETS), ((1.0, 2.0), (1.0, 2.0)), (None, None)],
)
def test_bucket_bounds(buckets: Buckets | None, bounds: tuple[float, ...] | None) -> None:
    family = Family("x", Histogram, "x", "X.", buckets=buckets)
    assert family.bucket_bounds(LATENCY) == bounds


def test_metrics_registers_the_http_table_in_order_as_upstream_attributes() -> None:
    registry = CollectorRegistry()
    config = PrometheusConfig(route_latency=True)  # the opt-in family too
    metrics = Metrics(registry=registry, namespace="", latency_buckets=LATENCY, config=config)
    assert [family.name for family in registry.collect()] == [_collected_name(f) for f in HTTP]
    for family in HTTP:
        metric = getattr(metrics, family.key)
        assert type(metric) is family.metric_cls, family.key
        assert metric._labelnames == family.labelnames
        assert metric._documentation == family.documentation
    declared = {
        name
        for name, annotation in Metrics.__annotations__.items()
        if annotation in ("Counter", "Histogram", "Gauge")
    }
    assert declared == {family.key for family in HTTP}


@pytest.mark.parametrize("domain", [domain for domain in DOMAINS if domain != "http"])
def test_each_sink_registers_its_domain_in_order(domain: Domain) -> None:
    registry = CollectorRegistry()
    sink = getattr(PrometheusSinks(registry, "ns", LATENCY), domain)
    if domain == "db":
        sink.pool_observed("pooled", "postgresql", 1, 1, 2, 0, 0.0)  # pool families need a pool
    families = DOMAINS[domain]
    assert [family.name for family in registry.collect()] == [
        f"ns_{_collected_name(family)}" for family in families
    ]
    for family in families:
        metric = getattr(sink, family.key)
        assert type(metric) is family.metric_cls, family.key
        assert metric._labelnames == family.labelnames
        assert metric._documentation == family.documentation
        if isinstance(metric, Histogram):
            assert metric._upper_bounds == [*(family.bucket_bounds(LATENCY) or ())]
        if isinstance(metric, Gauge):
            assert metric._multiprocess_mode == family.multiprocess_mode


def test_body_histograms_use_the_size_buckets() -> None:
    metrics = Metrics(registry=CollectorRegistry(), namespace="", latency_buckets=LATENCY)
    body = [family for family in HTTP if family.buckets == "body"]
    assert [family.key for family in body] == ["requests_body_bytes", "responses_body_bytes"]
    for family in body:
        assert getattr(metrics, family.key)._upper_bounds == [*BODY_SIZE_BUCKETS, float("inf")]


def test_pool_families_are_collected_through_the_db_sink_only_once_a_pool_was_seen() -> None:
    registry = CollectorRegistry()
    sink = PrometheusSinks(registry).db
    assert [family.key for family in DB_POOL] == [
        "pool_connections",
        "pool_max_connections",
        "pool_requests_waiting",
        "pool_wait_seconds",
    ]
    pool_names = {_collected_name(family) for family in DB_POOL}
    assert pool_names <= set(registry._collector_to_names[sink])
    assert pool_names.isdisjoint(family.name for family in registry.collect())
    sink.pool_observed("pooled", "postgresql", 1, 1, 2, 0, 0.0)
    assert pool_names <= {family.name for family in registry.collect()}


def test_migration_gauges_are_collected_through_their_sink_only() -> None:
    registry = CollectorRegistry()
    sink = PrometheusSinks(registry).migrations
    assert [family.key for family in MIGRATIONS] == ["applied", "unapplied"]
    assert list(registry._collector_to_names) == [sink]
