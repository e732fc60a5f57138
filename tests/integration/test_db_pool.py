"""PostgreSQL with Django's connection pool: instrumented once, no connection leaked, and
the pool gauges read from the real pool while threads hold and wait for its connections."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
import pytest
from django.db import connections
from django.db.backends.postgresql.base import Cursor
from django.test import Client
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from pytest_django.fixtures import Settings

from django_prometheus import state
from django_prometheus.db.backends.postgresql.base import DatabaseWrapper
from django_prometheus.db.common import is_exporting_cursor_class
from django_prometheus.testing import FakeSinks, PoolObserved, use_sinks
from django_prometheus.testutils import MetricsSnapshot
from tests import databases, services
from tests.integration.dbhelpers import expected, moves

ALIAS = "postgresql_pool"
POOL_SIZE = 4  # tests/databases.py

pytestmark = [
    pytest.mark.service("postgresql"),
    pytest.mark.skipif(
        not databases.pool_available(),
        reason="Django's pool needs Django 5.1+, psycopg 3 and psycopg-pool",
    ),
    pytest.mark.django_db(databases=[ALIAS], transaction=True),
]


def pooled() -> DatabaseWrapper:
    """The pooled alias, with its connection returned and the whole pool open.

    A connection the pool opens runs Django's setup queries (the time zone) on an
    instrumented cursor, so the tests start from a full pool to count exactly.
    """
    connection = connections[ALIAS]
    assert isinstance(connection, DatabaseWrapper)
    connection.close()
    connection.pool.wait(timeout=10)
    return connection


def server_connections(database: str) -> int:
    """Connections the server has open to ``database``, counted from outside the pool."""
    with psycopg.connect(
        host=services.POSTGRES_HOST,
        port=services.POSTGRES_PORT,
        user=services.POSTGRES_USER,
        dbname="postgres",
        autocommit=True,
    ) as admin:
        row = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [database]
        ).fetchone()
    assert row is not None
    count: int = row[0]
    return count


def test_checkouts_reuse_one_instrumented_cursor_class() -> None:
    connection = pooled()
    classes_before = len(state.cursor_classes)
    snapshot = MetricsSnapshot()
    factories = set()
    for _ in range(10):
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        factories.add(connection.connection.cursor_factory)
        connection.close()
    assert len(factories) == 1
    (factory,) = factories
    # Django's own cursor class, wrapped exactly once: nothing re-wrapped per checkout.
    assert is_exporting_cursor_class(factory)
    assert factory.__bases__ == (Cursor,)
    assert len(state.cursor_classes) == classes_before
    # A checkout is what Django calls a new connection.
    assert moves(snapshot, ALIAS, "postgresql") == expected(
        new_connections_total=10, execute_total=10, query_duration_seconds_count=10
    )
    stats = connection.pool.get_stats()
    assert stats["pool_available"] == stats["pool_size"] == POOL_SIZE


def test_concurrent_requests_leak_no_connection() -> None:
    pool = pooled().pool
    opened_before = pool.get_stats().get("connections_num", 0)
    snapshot = MetricsSnapshot()
    failures: list[BaseException] = []
    barrier = threading.Barrier(8)

    def requests() -> None:
        try:
            barrier.wait()
            for _ in range(5):
                with connections[ALIAS].cursor() as cursor:
                    cursor.execute("SELECT pg_sleep(0.005)")
                connections[ALIAS].close()
        except BaseException as error:  # reported below, in the test's thread
            failures.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=requests) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert moves(snapshot, ALIAS, "postgresql") == expected(
        new_connections_total=40, execute_total=40, query_duration_seconds_count=40
    )
    stats = pool.get_stats()
    assert stats["pool_available"] == stats["pool_size"] == POOL_SIZE
    assert stats.get("requests_waiting", 0) == 0
    assert stats.get("connections_num", 0) == opened_before
    database = connections[ALIAS].settings_dict["NAME"]
    assert server_connections(database) == POOL_SIZE


# ------------------------------------------------------------------------ pool gauges

POOL_FAMILIES = (
    "django_db_pool_connections",
    "django_db_pool_max_connections",
    "django_db_pool_requests_waiting",
    "django_db_pool_wait_seconds_total",
)
LABELS = {"alias": ALIAS, "vendor": "postgresql"}


@pytest.fixture
def export_urls(settings: Settings) -> None:
    settings.ROOT_URLCONF = "tests.testapp.urls_export"
    settings.MIDDLEWARE = []


Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def pool_series(body: str) -> Series:
    """Every pool sample of an exposition, by name and sorted labels (no ``_created``)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
        if sample.name in POOL_FAMILIES
    }


def scrape(client: Client) -> Series:
    response = client.get("/metrics")
    assert response.status_code == 200
    return pool_series(response.content.decode())


def key(name: str, **extra: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return (name, tuple(sorted({**LABELS, **extra}.items())))


def gauges(idle: int, in_use: int, waiting: int) -> Series:
    return {
        key("django_db_pool_connections", state="idle"): idle,
        key("django_db_pool_connections", state="in_use"): in_use,
        key("django_db_pool_max_connections"): POOL_SIZE,
        key("django_db_pool_requests_waiting"): waiting,
    }


def without_wait(series: Series) -> Series:
    return {name: value for name, value in series.items() if name[0] != POOL_FAMILIES[3]}


class Holder:
    """A thread that checks a connection out of the pool and keeps it until released."""

    def __init__(self) -> None:
        self.holding = threading.Event()
        self.release = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run)
        self.thread.start()

    def _run(self) -> None:
        try:
            with connections[ALIAS].cursor() as cursor:
                cursor.execute("SELECT 1")
            self.holding.set()
            self.release.wait(timeout=30)
            connections[ALIAS].close()  # back to the pool
        except BaseException as error:  # reported in the test's thread
            self.errors.append(error)
        finally:
            connections.close_all()

    def join(self) -> None:
        self.release.set()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive()
        assert self.errors == []


@contextmanager
def holding(count: int) -> Iterator[list[Holder]]:
    holders = [Holder() for _ in range(count)]
    try:
        for holder in holders:
            assert holder.holding.wait(timeout=15), holder.errors
        yield holders
    finally:
        for holder in holders:
            holder.join()


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.mark.usefixtures("export_urls")
@pytest.mark.parametrize("held", [0, 1, 3, POOL_SIZE])
def test_connections_held_by_threads_are_in_use(client: Client, held: int) -> None:
    pooled()
    with holding(held):
        assert without_wait(scrape(client)) == gauges(idle=POOL_SIZE - held, in_use=held, waiting=0)
    assert without_wait(scrape(client)) == gauges(idle=POOL_SIZE, in_use=0, waiting=0)


@pytest.mark.usefixtures("export_urls")
def test_an_exhausted_pool_shows_the_waiting_request_and_counts_its_wait(client: Client) -> None:
    pool = pooled().pool
    waited_before = scrape(client)[key("django_db_pool_wait_seconds_total")]
    with holding(POOL_SIZE) as holders:
        waiter = Holder()  # finds no connection: queued in the pool
        wait_until(lambda: pool.get_stats().get("requests_waiting", 0) == 1)
        assert not waiter.holding.is_set()
        while_waiting = scrape(client)
        assert without_wait(while_waiting) == gauges(idle=0, in_use=POOL_SIZE, waiting=1)
        # The pool adds a wait to its total when the wait ends.
        assert while_waiting[key("django_db_pool_wait_seconds_total")] == waited_before
        time.sleep(0.2)
        holders[0].join()  # its connection goes to the waiter
        assert waiter.holding.wait(timeout=15), waiter.errors
        after = scrape(client)
        assert without_wait(after) == gauges(idle=0, in_use=POOL_SIZE, waiting=0)
        waited = after[key("django_db_pool_wait_seconds_total")] - waited_before
        assert 0.2 <= waited < 15
        waiter.join()
    # Scraping again moves nothing: the counter follows the pool's own total.
    assert scrape(client)[key("django_db_pool_wait_seconds_total")] == waited_before + waited


@pytest.mark.usefixtures("export_urls")
def test_only_the_pooled_alias_has_pool_series(client: Client) -> None:
    pooled()
    series = scrape(client)
    assert {dict(labels)["alias"] for _name, labels in series} == {ALIAS}
    assert {(name, tuple(label for label, _ in labels)) for name, labels in series} == {
        ("django_db_pool_connections", ("alias", "state", "vendor")),
        ("django_db_pool_max_connections", ("alias", "vendor")),
        ("django_db_pool_requests_waiting", ("alias", "vendor")),
        ("django_db_pool_wait_seconds_total", ("alias", "vendor")),
    }
    assert len(series) == 5


def test_collecting_the_registry_reads_the_pool_first() -> None:
    pooled()
    with holding(2):
        body = generate_latest(REGISTRY).decode()
    assert without_wait(pool_series(body)) == gauges(idle=POOL_SIZE - 2, in_use=2, waiting=0)


@pytest.mark.usefixtures("export_urls")
def test_under_use_sinks_a_scrape_reports_the_pool_to_the_fake(client: Client) -> None:
    pool = pooled().pool
    with holding(1), use_sinks(FakeSinks()) as fakes:
        client.get("/metrics")
        wait_ms = pool.get_stats().get("requests_wait_ms", 0)
    observed = [call for call in fakes.db.calls if isinstance(call, PoolObserved)]
    assert observed == [
        PoolObserved(
            "pool_observed", ALIAS, "postgresql", POOL_SIZE - 1, 1, POOL_SIZE, 0, wait_ms / 1000
        )
    ]
    assert fakes.errors.calls == []
