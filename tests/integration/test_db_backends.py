"""Every backend against its real database: what each kind of query moves, exactly.

Runs on SQLite, a second SQLite alias, SpatiaLite, PostgreSQL, PostGIS, PostgreSQL
with Django's pool and MariaDB/MySQL. test_db_psycopg2.py runs the PostgreSQL and
PostGIS cases of this file again with psycopg2.
"""

from __future__ import annotations

import os
from contextlib import suppress
from pathlib import Path
from types import ModuleType

import django.db.utils
import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import DatabaseError, connections, transaction
from django.db.utils import ConnectionHandler
from django.test.utils import CaptureQueriesContext

from django_prometheus.db.common import is_exporting_cursor_class
from django_prometheus.testutils import MetricsSnapshot
from tests import databases, services
from tests.integration.dbhelpers import (
    BACKENDS,
    PAIRS_OF_ONE_VENDOR,
    POSTGRESQL_BACKENDS,
    expected,
    moves,
    temporary_table,
    unreachable,
)

# Per vendor: the error Django raises for "SELEC 1", and the driver's (the type label).
SYNTAX_ERRORS = {
    "sqlite": ("OperationalError", "OperationalError"),
    "postgresql": ("ProgrammingError", "SyntaxError"),
    "mysql": ("ProgrammingError", "ProgrammingError"),
}


class IntentionalError(Exception):
    pass


def driver(alias: str) -> ModuleType:
    """The DB-API module of the alias's backend (psycopg, sqlite3 …)."""
    module: ModuleType = getattr(connections[alias], "Database")  # noqa: B009 - not in the stubs
    return module


@pytest.mark.parametrize(("alias", "vendor"), BACKENDS)
def test_the_backend_is_ours_and_reports_its_vendor(alias: str, vendor: str) -> None:
    connection = connections[alias]
    assert type(connection).__module__ == (
        f"django_prometheus.db.backends.{connection.settings_dict['ENGINE'].rsplit('.', 1)[1]}.base"
    )
    assert connection.vendor == vendor
    with connection.cursor() as cursor:
        assert is_exporting_cursor_class(type(cursor.cursor))


@pytest.mark.parametrize(("alias", "vendor"), BACKENDS)
def test_execute_counts_one_query_and_its_duration(alias: str, vendor: str) -> None:
    snapshot = MetricsSnapshot()
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
    assert moves(snapshot, alias, vendor) == expected(
        execute_total=1, query_duration_seconds_count=1
    )


@pytest.mark.parametrize(("alias", "vendor"), BACKENDS)
def test_executemany_counts_every_parameter_set(alias: str, vendor: str) -> None:
    with temporary_table(alias), connections[alias].cursor() as cursor:
        snapshot = MetricsSnapshot()
        cursor.executemany("INSERT INTO djp_item (name) VALUES (%s)", [("a",), ("b",), ("c",)])
        moved = moves(snapshot, alias, vendor)
        cursor.execute("SELECT count(*) FROM djp_item")
        assert cursor.fetchone() == (3,)
    assert moved == expected(execute_total=3, execute_many_total=3, query_duration_seconds_count=1)


@pytest.mark.parametrize(("alias", "vendor"), BACKENDS)
def test_a_syntax_error_counts_its_type_and_django_raises_as_without_us(
    alias: str, vendor: str
) -> None:
    django_error, driver_error = SYNTAX_ERRORS[vendor]
    snapshot = MetricsSnapshot()
    with connections[alias].cursor() as cursor, pytest.raises(DatabaseError) as info:
        cursor.execute("SELEC 1")
    assert type(info.value) is getattr(django.db.utils, django_error)
    # Django made its error from the one our cursor re-raised, the driver's own.
    assert type(info.value.__cause__).__name__ == driver_error
    assert isinstance(info.value.__cause__, driver(alias).Error)
    assert moves(snapshot, alias, vendor) == expected(
        execute_total=1, query_duration_seconds_count=1, errors_total=1
    )
    snapshot.assert_diff(1, "django_db_errors_total", alias=alias, vendor=vendor, type=driver_error)


@pytest.mark.parametrize(("alias", "vendor"), BACKENDS)
def test_the_driver_error_passes_through_our_cursor_untouched(alias: str, vendor: str) -> None:
    connection = connections[alias]
    connection.ensure_connection()
    with connection.wrap_database_errors:
        driver_cursor = connection.create_cursor()
    try:
        with pytest.raises(driver(alias).Error) as info:
            driver_cursor.execute("SELEC 1")
    finally:
        driver_cursor.close()
    assert type(info.value).__name__ == SYNTAX_ERRORS[vendor][1]
    # It passed through our frame (generated: its file is "<django_prometheus ...execute>")
    # and went on as it was: not replaced, not chained.
    ours = [
        entry.name for entry in info.traceback if str(entry.path).startswith("<django_prometheus ")
    ]
    assert ours == ["execute"]
    assert info.value.__cause__ is None
    assert info.value.__context__ is None


@pytest.mark.parametrize(("alias", "vendor"), BACKENDS)
def test_a_connection_that_fails_is_counted_and_django_raises_its_own_error(
    alias: str, vendor: str
) -> None:
    down = f"{alias}_down"
    snapshot = MetricsSnapshot()
    with unreachable(alias) as handler, pytest.raises(django.db.utils.OperationalError) as info:
        handler[down].ensure_connection()
    assert isinstance(info.value.__cause__, driver(alias).OperationalError)
    assert moves(snapshot, down, vendor) == expected(
        new_connections_total=1, new_connection_errors_total=1
    )


@pytest.mark.parametrize(("alias", "vendor"), BACKENDS)
def test_a_rolled_back_transaction_counts_its_queries(alias: str, vendor: str) -> None:
    connection = connections[alias]
    with temporary_table(alias):
        snapshot = MetricsSnapshot()
        with (
            CaptureQueriesContext(connection) as queries,
            suppress(IntentionalError),
            transaction.atomic(using=alias),
        ):
            with connection.cursor() as cursor:
                cursor.execute("INSERT INTO djp_item (name) VALUES (%s)", ["gone"])
            raise IntentionalError
        moved = moves(snapshot, alias, vendor)
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM djp_item")
            assert cursor.fetchone() == (0,)
    # Inside the test's transaction the block is a savepoint, so Django ran four queries:
    # SAVEPOINT, the INSERT, ROLLBACK TO SAVEPOINT, RELEASE SAVEPOINT. The Python error
    # is no query error.
    assert [query["sql"].split()[0] for query in queries.captured_queries] == [
        "SAVEPOINT",
        "INSERT",
        "ROLLBACK",
        "RELEASE",
    ]
    assert moved == expected(execute_total=4, query_duration_seconds_count=4)


@pytest.mark.parametrize(("alias", "vendor"), BACKENDS)
def test_many_queries_move_the_counters_exactly(alias: str, vendor: str) -> None:
    snapshot = MetricsSnapshot()
    with connections[alias].cursor() as cursor:
        for number in range(250):
            cursor.execute("SELECT %s", [number])
            assert cursor.fetchone() == (number,)
    assert moves(snapshot, alias, vendor) == expected(
        execute_total=250, query_duration_seconds_count=250
    )
    assert (snapshot.diff("django_db_query_duration_seconds_sum", alias=alias, vendor=vendor)) > 0


@pytest.mark.parametrize(("alias", "vendor"), POSTGRESQL_BACKENDS)
def test_server_side_cursors_are_counted_once_per_query(alias: str, vendor: str) -> None:
    User.objects.using(alias).bulk_create([User(username=f"user{n}") for n in range(5)])
    snapshot = MetricsSnapshot()
    names = [user.username for user in User.objects.using(alias).order_by("id").iterator(2)]
    assert names == [f"user{n}" for n in range(5)]
    # One DECLARE; the FETCHes of the chunks are the cursor's, not queries of their own.
    assert moves(snapshot, alias, vendor) == expected(
        execute_total=1, query_duration_seconds_count=1
    )
    named = connections[alias].chunked_cursor()
    try:
        assert is_exporting_cursor_class(type(named.cursor))
        assert named.cursor.name.startswith("_django_curs_")
    finally:
        named.close()


@pytest.mark.parametrize(("alias", "vendor"), POSTGRESQL_BACKENDS)
def test_postgresql_runs_on_the_expected_driver(alias: str, vendor: str) -> None:
    # test_db_psycopg2.py runs this file again with psycopg hidden and expects psycopg2.
    expected_driver = os.environ.get("DJP_EXPECT_POSTGRES_DRIVER", "psycopg")
    assert driver(alias).__name__ == expected_driver


@pytest.mark.parametrize(("first", "second", "vendor"), PAIRS_OF_ONE_VENDOR)
def test_two_aliases_of_one_vendor_are_kept_apart(first: str, second: str, vendor: str) -> None:
    snapshot = MetricsSnapshot()
    for alias, queries in ((first, 3), (second, 5)):
        with connections[alias].cursor() as cursor:
            for _ in range(queries):
                cursor.execute("SELECT 1")
    assert moves(snapshot, first, vendor) == expected(
        execute_total=3, query_duration_seconds_count=3
    )
    assert moves(snapshot, second, vendor) == expected(
        execute_total=5, query_duration_seconds_count=5
    )


@pytest.mark.parametrize(
    ("alias", "vendor"),
    [param for param in BACKENDS if param.id in ("postgresql", "mysql")],
)
def test_dbshell_runs_the_vendor_client(
    alias: str, vendor: str, capfd: pytest.CaptureFixture[str]
) -> None:
    option = {"postgresql": "-c", "mysql": "-e"}[vendor]
    call_command("dbshell", "--database", alias, "--", option, "SELECT 40 + 2 AS answer")
    assert "42" in capfd.readouterr().out.split()


def test_dbshell_runs_the_sqlite_client(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    handler = ConnectionHandler(
        {
            "default": {
                "ENGINE": "django_prometheus.db.backends.sqlite3",
                "NAME": str(tmp_path / "shell.sqlite3"),
            }
        }
    )
    handler["default"].client.runshell(["SELECT 40 + 2"])
    assert capfd.readouterr().out.split() == ["42"]


def test_spatialite_can_be_loaded() -> None:
    problem = databases.SPATIALITE_PROBLEM
    if problem is not None:
        message = f"SpatiaLite cannot be used: {problem}"
        if services.required():
            pytest.fail(message)
        pytest.skip(f"SERVICE MISSING: {message}")
