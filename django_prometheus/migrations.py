"""Migration gauges: how many migrations each database has applied, and how many not yet.

``django_migrations_applied_total{connection}`` and
``django_migrations_unapplied_total{connection}`` hold, per database alias, what
Django's ``MigrationExecutor`` reports: the migrations recorded as applied, and
the length of the plan that ``migrate`` would run.

Why the values are read lazily
------------------------------
Reading them is a database query. Run from ``AppConfig.ready()``, as the
established package does, it breaks three ways: ASGI servers set Django up inside
their event loop, where the query raises ``SynchronousOnlyOperation``; commands
such as ``manage.py check`` or ``collectstatic`` often run where no database is
reachable; and every process, every management command, pays for it at start.

So with ``PROMETHEUS_EXPORT_MIGRATIONS = True`` the app's ``ready()`` only calls
:func:`install_migration_export`, which queries nothing. The values are read
later, by whichever comes first:

* a collection of the registry (the ``/metrics`` view, the port exporter
  thread): the migration sink is itself the collector of the two gauges and
  calls the refresher before yielding them, so the first scrape already shows
  current values;
* in multiprocess mode, where a scrape merges the worker files instead of
  collecting a registry, the scraping process refreshes its own values first
  (:func:`refresh_migration_exports`, a pre-scrape hook of :mod:`django_prometheus.scrape`).

Only scrapes read: a user's request never pays for building the migration graph,
and its queries never show up in the host's own query counts.

A process reads at most once per :data:`REFRESH_INTERVAL_SECONDS`; ``post_migrate``
marks the values stale. Nothing is read in a thread that runs an event loop (an
async view collecting the registry serves the values last read). A database
that cannot be read (unreachable, dummy backend when ``DATABASES = {}``) is
skipped: the error is counted in ``django_prometheus_instrumentation_errors_total
{component="migrations"}`` and logged, rate-limited, and never reaches the host.
A connection opened only for the read is closed again.

In multiprocess mode the gauges aggregate with ``livemostrecent``: one series per
connection (no ``pid`` label), holding the value most recently read by a live
process; the count of a dead worker is dropped with its files.

:func:`ExportMigrations` and :func:`ExportMigrationsForDatabase` keep the
established package's API: they read and export *now*, when you call them.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from django.db import connections
from django.db.migrations.executor import MigrationExecutor

from django_prometheus import state
from django_prometheus.config import get_config
from django_prometheus.safety import instrumentation_failed
from django_prometheus.scrape import add_pre_scrape_hook
from django_prometheus.sinks.provider import current_sinks, overriding_sinks

if TYPE_CHECKING:
    from django_prometheus.sinks.prometheus import PrometheusMigrationSink
    from django_prometheus.sinks.protocols import MigrationSink

__all__ = [
    "REFRESH_INTERVAL_SECONDS",
    "ExportMigrations",
    "ExportMigrationsForDatabase",
    "MigrationExport",
    "install_migration_export",
    "refresh_migration_exports",
]

REFRESH_INTERVAL_SECONDS: Final = 60.0
_DUMMY_ENGINE: Final = "django.db.backends.dummy"


def _default_sink() -> MigrationSink:
    return current_sinks().migration


def ExportMigrationsForDatabase(
    alias: str, executor: MigrationExecutor, sink: MigrationSink | None = None
) -> None:
    """Export the applied and unapplied migration counts that ``executor`` reports."""
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    applied = len(executor.loader.applied_migrations)
    (_default_sink() if sink is None else sink).migrations_counted(alias, applied, len(plan))


def ExportMigrations(sink: MigrationSink | None = None) -> None:
    """Read and export the migration state of every configured database, now.

    This queries each database. A database that cannot be read is counted as an
    instrumentation failure and skipped; this function never raises for it.
    """
    for alias in _database_aliases():
        _export_database(alias, sink)


def _database_aliases() -> list[str]:
    # DATABASES = {} gives a "default" alias on the dummy backend: nothing to read.
    configured = connections.settings
    return [alias for alias in configured if configured[alias].get("ENGINE") != _DUMMY_ENGINE]


def _export_database(alias: str, sink: MigrationSink | None) -> None:
    try:
        connection = connections[alias]
        was_open = connection.connection is not None
        try:
            ExportMigrationsForDatabase(alias, MigrationExecutor(connection), sink)
        finally:
            # This may be the port exporter's thread, which no request cycle ever
            # cleans up after: close what was opened only for this read.
            if not was_open:
                connection.close()
    except Exception as error:
        instrumentation_failed("migrations", error)


def _event_loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class MigrationExport:
    """Reads the migration state into a sink lazily: at most once per interval, never in a loop."""

    def __init__(
        self,
        sink: MigrationSink,
        *,
        interval: float = REFRESH_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        read: Callable[[MigrationSink], None] = ExportMigrations,
        follow: bool = False,
    ) -> None:
        self.sink = sink
        self._follow = follow
        self._interval = interval
        self._clock = clock
        self._read = read
        self._fresh_until: float | None = None
        self._lock = threading.Lock()

    def target(self) -> MigrationSink:
        """Where a read goes: ``sink``, or with ``follow`` a bundle ``use_sinks`` put in place."""
        override = overriding_sinks() if self._follow else None
        return self.sink if override is None else override.migration

    def invalidate(self) -> None:
        """Make the next refresh read again (the migration state changed)."""
        self._fresh_until = None

    def _fresh(self) -> bool:
        fresh_until = self._fresh_until
        return fresh_until is not None and self._clock() < fresh_until

    def refresh(self) -> bool:
        """Read the state again unless a recent read is still fresh; whether it read.

        Does nothing while ``PROMETHEUS_EXPORT_MIGRATIONS`` is false, in a thread
        that runs an event loop, or while another thread is reading.
        """
        if not get_config().export_migrations or self._fresh() or _event_loop_running():
            return False
        if not self._lock.acquire(blocking=False):
            return False
        try:
            if self._fresh():
                return False
            # Set first: a failing database is retried once per interval, not per scrape.
            self._fresh_until = self._clock() + self._interval
            self._read(self.target())
            return True
        finally:
            self._lock.release()


_installed = state.migration_exports
_installed_lock = threading.Lock()


def install_migration_export(sink: PrometheusMigrationSink | None = None) -> MigrationExport:
    """Export the migration gauges lazily; what ``ready()`` does when the setting is true.

    Queries nothing. Installing twice for the same sink returns the same export.
    """
    from django.db.models.signals import post_migrate

    if sink is None:
        from django_prometheus.sinks.prometheus import get_sinks

        sink = get_sinks().migrations
    with _installed_lock:
        for installed_sink, export in _installed:
            if installed_sink is sink:
                return export
        export = MigrationExport(sink, follow=True)
        sink.refresher = _refresh_reporting_errors(export)
        _installed.append((sink, export))
    post_migrate.connect(_invalidate_installed, dispatch_uid="django_prometheus.migrations")
    add_pre_scrape_hook(refresh_migration_exports)
    return export


def _refresh_reporting_errors(export: MigrationExport) -> Callable[[], None]:
    def refresh() -> None:
        try:
            export.refresh()
        except Exception as error:
            instrumentation_failed("migrations", error)

    return refresh


def uninstall_migration_export(export: MigrationExport) -> None:
    """Undo :func:`install_migration_export` (for tests)."""
    with _installed_lock:
        for index, (sink, installed) in enumerate(_installed):
            if installed is export:
                sink.refresher = None
                del _installed[index]
                return


def refresh_migration_exports() -> None:
    """Refresh every installed export that is due; never raises (it runs in a scrape)."""
    try:
        for _sink, export in tuple(_installed):
            export.refresh()
    except Exception as error:
        instrumentation_failed("migrations", error)


def _invalidate_installed(**_: object) -> None:
    for _sink, export in tuple(_installed):
        export.invalidate()
