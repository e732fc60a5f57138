"""The migration export against fakes: what it reports, and when it reads."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import cast

import pytest
from django.db.migrations.executor import MigrationExecutor
from django.test import override_settings
from prometheus_client import CollectorRegistry

from django_prometheus import migrations
from django_prometheus.migrations import (
    ExportMigrationsForDatabase,
    MigrationExport,
    install_migration_export,
    uninstall_migration_export,
)
from django_prometheus.sinks.prometheus import PrometheusMigrationSink, PrometheusSinks
from django_prometheus.sinks.protocols import MigrationSink
from django_prometheus.testing import FakeMigrationSink
from django_prometheus.testutils import MetricsSnapshot

ERRORS = "django_prometheus_instrumentation_errors_total"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Reader:
    """Stands in for ExportMigrations: reports a growing applied count."""

    def __init__(self) -> None:
        self.reads = 0

    def __call__(self, sink: MigrationSink) -> None:
        self.reads += 1
        sink.migrations_counted("default", self.reads, 0)


@pytest.fixture
def enabled() -> Iterator[None]:
    with override_settings(PROMETHEUS_EXPORT_MIGRATIONS=True):
        yield


def test_export_for_database_reports_what_the_executor_reports() -> None:
    graph = SimpleNamespace(leaf_nodes=lambda: [("app", "0003")])
    loader = SimpleNamespace(graph=graph, applied_migrations={("app", "0001"): 1, ("b", "1"): 2})
    plans: list[object] = []

    def migration_plan(targets: object) -> list[str]:
        plans.append(targets)
        return ["0002", "0003", "x"]

    executor = cast(
        "MigrationExecutor", SimpleNamespace(loader=loader, migration_plan=migration_plan)
    )
    sink = FakeMigrationSink()
    ExportMigrationsForDatabase("replica", executor, sink)
    assert plans == [[("app", "0003")]]
    assert sink.calls == [("migrations_counted", "replica", 2, 3)]


@pytest.mark.usefixtures("enabled")
def test_reads_once_per_interval_and_again_when_invalidated() -> None:
    clock, reader, sink = Clock(), Reader(), FakeMigrationSink()
    export = MigrationExport(sink, interval=60, clock=clock, read=reader)
    assert export.refresh() is True
    assert export.refresh() is False
    clock.now += 59.9
    assert export.refresh() is False
    clock.now += 0.1
    assert export.refresh() is True
    export.invalidate()
    assert export.refresh() is True
    assert sink.calls == [
        ("migrations_counted", "default", 1, 0),
        ("migrations_counted", "default", 2, 0),
        ("migrations_counted", "default", 3, 0),
    ]


def test_reads_nothing_while_the_setting_is_off() -> None:
    reader = Reader()
    export = MigrationExport(FakeMigrationSink(), read=reader)
    assert export.refresh() is False
    assert reader.reads == 0


@pytest.mark.usefixtures("enabled")
def test_reads_nothing_in_a_thread_that_runs_an_event_loop() -> None:
    reader = Reader()
    export = MigrationExport(FakeMigrationSink(), read=reader)

    async def scrape_in_the_loop() -> bool:
        return export.refresh()

    assert asyncio.run(scrape_in_the_loop()) is False
    assert reader.reads == 0
    assert export.refresh() is True


@pytest.mark.usefixtures("enabled")
def test_a_second_thread_does_not_wait_for_a_read_in_progress() -> None:
    entered, release = threading.Event(), threading.Event()
    reads: list[str] = []

    def slow_read(sink: MigrationSink) -> None:
        reads.append(threading.current_thread().name)
        entered.set()
        release.wait(5)

    export = MigrationExport(FakeMigrationSink(), read=slow_read)
    reader = threading.Thread(target=export.refresh, name="first")
    reader.start()
    assert entered.wait(5)
    assert export.refresh() is False
    release.set()
    reader.join(5)
    assert reads == ["first"]


@pytest.mark.usefixtures("enabled")
def test_a_failing_read_is_retried_only_after_the_interval() -> None:
    clock = Clock()
    calls: list[int] = []

    def failing_read(sink: MigrationSink) -> None:
        calls.append(1)
        raise ConnectionError("database down")

    export = MigrationExport(FakeMigrationSink(), clock=clock, read=failing_read)
    with pytest.raises(ConnectionError, match="database down"):
        export.refresh()
    assert export.refresh() is False
    clock.now += 60
    with pytest.raises(ConnectionError):
        export.refresh()
    assert len(calls) == 2


@pytest.fixture
def sinks() -> PrometheusSinks:
    return PrometheusSinks(CollectorRegistry())


def test_the_sink_runs_its_refresher_before_each_collection(sinks: PrometheusSinks) -> None:
    sink = sinks.migrations
    refreshes: list[int] = []

    def refresher() -> None:
        refreshes.append(1)
        sink.migrations_counted("default", len(refreshes), 10 - len(refreshes))

    sink.refresher = refresher
    labels = {"connection": "default"}
    applied = sinks.registry.get_sample_value("django_migrations_applied_total", labels)
    assert applied == 1
    unapplied = sinks.registry.get_sample_value("django_migrations_unapplied_total", labels)
    assert unapplied == 8


def test_registering_the_sink_does_not_run_the_refresher() -> None:
    registry = CollectorRegistry(auto_describe=True)
    calls: list[int] = []
    sink = PrometheusSinks(registry).migrations
    sink.refresher = lambda: calls.append(1)
    registry.unregister(sink)
    registry.register(sink)  # asks describe(), never collect()
    assert calls == []
    names = {metric.name for metric in registry.collect()}
    assert names == {"django_migrations_applied_total", "django_migrations_unapplied_total"}
    assert calls == [1]


def test_a_failing_refresh_is_counted_and_the_last_values_are_served(
    sinks: PrometheusSinks, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = sinks.migrations
    sink.migrations_counted("default", 3, 0)
    export = install_migration_export(sink)

    def refresh() -> bool:
        raise RuntimeError("boom")

    monkeypatch.setattr(export, "refresh", refresh)
    snapshot = MetricsSnapshot()
    try:
        value = sinks.registry.get_sample_value(
            "django_migrations_applied_total", {"connection": "default"}
        )
    finally:
        uninstall_migration_export(export)
    assert value == 3
    snapshot.assert_diff(1, ERRORS, component="migrations")


def refresher_of(sink: PrometheusMigrationSink) -> Callable[[], object] | None:
    return sink.refresher


def test_install_is_idempotent_per_sink_and_undone_by_uninstall(sinks: PrometheusSinks) -> None:
    sink = sinks.migrations
    export = install_migration_export(sink)
    try:
        assert install_migration_export(sink) is export
        assert refresher_of(sink) is not None
    finally:
        uninstall_migration_export(export)
    assert refresher_of(sink) is None
    assert install_migration_export(sink) is not export
    uninstall_migration_export(install_migration_export(sink))


def test_refreshing_from_a_scrape_never_raises(sinks: PrometheusSinks) -> None:
    def failing_read(sink: MigrationSink) -> None:
        raise RuntimeError("boom")

    export = install_migration_export(sinks.migrations)
    export._read = failing_read
    snapshot = MetricsSnapshot()
    try:
        with override_settings(PROMETHEUS_EXPORT_MIGRATIONS=True):
            migrations.refresh_migration_exports()
    finally:
        uninstall_migration_export(export)
    snapshot.assert_diff(1, ERRORS, component="migrations")
