"""The pool reader against fakes, and the prometheus sink of its event.

The reader reads a real psycopg pool that never connects (min_size 0, never asked for a
connection): its statistics are real, and no database is needed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from django.db import connections
from prometheus_client import CollectorRegistry

from django_prometheus import state
from django_prometheus.db.pool import install_pool_export, refresh_pool_gauges, report_pools
from django_prometheus.sinks.prometheus import PrometheusSinks
from django_prometheus.testing import FakeDbSink, FakeSinks, PoolObserved, use_sinks
from tests import databases

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

ALIAS = "postgresql_pool"


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


@pytest.fixture
def empty_pool(monkeypatch: pytest.MonkeyPatch) -> Iterator[ConnectionPool]:
    """A real open pool of max_size 3 and min_size 0 standing in as the pooled alias's pool.

    With min_size 0 the pool connects only when asked for a connection, and no test asks.
    """
    if not databases.pool_available() or ALIAS not in connections.settings:
        pytest.skip("Django's pool needs Django 5.1+, psycopg 3, psycopg-pool and PostgreSQL")
    from psycopg_pool import ConnectionPool

    pool = ConnectionPool("host=127.0.0.1 port=1", min_size=0, max_size=3, open=True)
    pools: dict[str, object] = getattr(connections[ALIAS], "_connection_pools")  # noqa: B009
    monkeypatch.setitem(pools, ALIAS, pool)
    try:
        yield pool
    finally:
        pool.close()


def test_the_event_reaches_the_fake_under_use_sinks(empty_pool: ConnectionPool) -> None:
    with use_sinks(FakeSinks()) as fakes:
        refresh_pool_gauges()
    assert fakes.db.calls == [
        PoolObserved("pool_observed", ALIAS, "postgresql", 0, 0, 3, 0, 0.0),
    ]
    (call,) = fakes.db.calls
    assert isinstance(call, PoolObserved)
    assert (call.idle, call.in_use, call.max_size, call.waiting) == (0, 0, 3, 0)
    assert fakes.errors.calls == []


def test_ready_installed_the_pre_scrape_hook() -> None:
    assert refresh_pool_gauges in state.pre_scrape_hooks
    install_pool_export(PrometheusSinks(CollectorRegistry()).db)
    assert state.pre_scrape_hooks.count(refresh_pool_gauges) == 1


def test_a_failing_read_is_counted_and_reports_nothing(
    empty_pool: ConnectionPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> dict[str, int]:
        raise RuntimeError("stats are gone")

    monkeypatch.setattr(empty_pool, "get_stats", broken)
    with use_sinks(FakeSinks()) as fakes:
        refresh_pool_gauges()  # does not raise
    assert fakes.db.calls == []
    assert fakes.errors.calls == [("instrumentation_failed", "db")]


def test_a_pool_not_opened_yet_reports_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    if not databases.pool_available() or ALIAS not in connections.settings:
        pytest.skip("Django's pool needs Django 5.1+, psycopg 3, psycopg-pool and PostgreSQL")
    from psycopg_pool import ConnectionPool

    # As Django makes them: open=False until the first connection is asked for.
    pools: dict[str, object] = getattr(connections[ALIAS], "_connection_pools")  # noqa: B009
    monkeypatch.setitem(pools, ALIAS, ConnectionPool("", open=False, min_size=2, max_size=2))
    sink = FakeDbSink()
    report_pools(sink)
    assert sink.calls == []


def test_an_alias_without_a_pool_reports_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    if ALIAS in connections.settings:
        pools: dict[str, object] = getattr(connections[ALIAS], "_connection_pools")  # noqa: B009
        monkeypatch.delitem(pools, ALIAS, raising=False)
    sink = FakeDbSink()
    report_pools(sink)
    assert sink.calls == []


def test_an_installed_sink_reads_the_pools_when_collected(empty_pool: ConnectionPool) -> None:
    registry = CollectorRegistry()
    sink = PrometheusSinks(registry).db
    labels = {"alias": ALIAS, "vendor": "postgresql"}
    assert sink.pool_refresher is None
    assert value(registry, "django_db_pool_max_connections", **labels) is None
    install_pool_export(sink)
    assert value(registry, "django_db_pool_max_connections", **labels) == 3
    assert value(registry, "django_db_pool_connections", state="idle", **labels) == 0
    assert value(registry, "django_db_pool_wait_seconds_total", **labels) == 0


# ------------------------------------------------------------- the prometheus sink


def test_pool_observed_sets_the_gauges_per_alias() -> None:
    registry = CollectorRegistry()
    sink = PrometheusSinks(registry).db
    sink.pool_observed("a", "postgresql", 3, 1, 4, 0, 0.0)
    sink.pool_observed("b", "postgresql", 0, 2, 2, 5, 0.0)
    sink.pool_observed("a", "postgresql", 1, 3, 4, 2, 0.0)
    a = {"alias": "a", "vendor": "postgresql"}
    b = {"alias": "b", "vendor": "postgresql"}
    assert value(registry, "django_db_pool_connections", state="idle", **a) == 1
    assert value(registry, "django_db_pool_connections", state="in_use", **a) == 3
    assert value(registry, "django_db_pool_max_connections", **a) == 4
    assert value(registry, "django_db_pool_requests_waiting", **a) == 2
    assert value(registry, "django_db_pool_connections", state="in_use", **b) == 2
    assert value(registry, "django_db_pool_requests_waiting", **b) == 5


def test_the_wait_counter_follows_the_cumulative_reading_and_never_goes_down() -> None:
    registry = CollectorRegistry()
    sink = PrometheusSinks(registry).db
    labels = {"alias": "a", "vendor": "postgresql"}

    def waited() -> float | None:
        return value(registry, "django_db_pool_wait_seconds_total", **labels)

    sink.pool_observed("a", "postgresql", 1, 1, 2, 0, 0.0)
    assert waited() == 0
    sink.pool_observed("a", "postgresql", 1, 1, 2, 0, 1.5)
    sink.pool_observed("a", "postgresql", 1, 1, 2, 0, 1.5)
    assert waited() == 1.5
    sink.pool_observed("a", "postgresql", 1, 1, 2, 0, 2.0)
    assert waited() == 2.0
    # Django made the pool again: its reading starts over, and all of it is new time.
    sink.pool_observed("a", "postgresql", 1, 1, 2, 0, 0.25)
    assert waited() == 2.25
    sink.pool_observed("a", "postgresql", 1, 1, 2, 0, 0.75)
    assert waited() == 2.75


def test_pool_gauges_sum_over_live_processes() -> None:
    sink = PrometheusSinks(CollectorRegistry()).db
    for gauge in (sink.pool_connections, sink.pool_max_connections, sink.pool_requests_waiting):
        assert gauge._multiprocess_mode == "livesum"


def test_a_namespace_prefixes_the_pool_families() -> None:
    registry = CollectorRegistry()
    PrometheusSinks(registry, "shop").db.pool_observed("a", "postgresql", 1, 0, 1, 0, 0.5)
    labels = {"alias": "a", "vendor": "postgresql"}
    assert value(registry, "shop_django_db_pool_wait_seconds_total", **labels) == 0.5
    assert value(registry, "shop_django_db_pool_connections", state="idle", **labels) == 1
