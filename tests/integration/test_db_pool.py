"""PostgreSQL with Django's connection pool: instrumented once, no connection leaked."""

from __future__ import annotations

import threading

import psycopg
import pytest
from django.db import connections
from django.db.backends.postgresql.base import Cursor

from django_prometheus import state
from django_prometheus.db.backends.postgresql.base import DatabaseWrapper
from django_prometheus.db.common import is_exporting_cursor_class
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
