"""Pytest fixtures for projects instrumented with django-prometheus.

Loaded through the ``pytest11`` entry point, so installing the package is enough::

    def test_home_counts_a_get(client, metrics_snapshot):
        client.get("/")
        metrics_snapshot.assert_diff(
            1, "django_http_requests_total_by_method_total", method="GET"
        )

The plugin imports neither Django nor its settings: it is loaded into every pytest
run of an environment where the package is installed, Django project or not.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

import pytest
from prometheus_client import REGISTRY, CollectorRegistry

from django_prometheus.testutils import MetricsSnapshot

if TYPE_CHECKING:
    from django_prometheus.testing import FakeSinks

__all__ = [
    "FakeSinks",
    "MetricsSnapshot",
    "MetricsSnapshotFactory",
    "fake_sinks",
    "metrics_snapshot",
    "metrics_snapshot_factory",
    "prometheus_registry",
]


def __getattr__(name: str) -> object:
    # FakeSinks lives in django_prometheus.testing, which imports Django: only on demand.
    if name == "FakeSinks":
        from django_prometheus.testing import FakeSinks

        return FakeSinks
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class MetricsSnapshotFactory(Protocol):
    def __call__(self, registry: CollectorRegistry = ...) -> MetricsSnapshot: ...


@pytest.fixture
def prometheus_registry() -> CollectorRegistry:
    """A registry of its own for the test, checking names like the global one does."""
    return CollectorRegistry(auto_describe=True)


@pytest.fixture
def metrics_snapshot_factory() -> MetricsSnapshotFactory:
    """Takes a :class:`MetricsSnapshot` of the given registry (the global one by default)."""

    def take(registry: CollectorRegistry = REGISTRY) -> MetricsSnapshot:
        return MetricsSnapshot(registry)

    return take


@pytest.fixture
def metrics_snapshot(metrics_snapshot_factory: MetricsSnapshotFactory) -> MetricsSnapshot:
    """The global registry as it was when the test started."""
    return metrics_snapshot_factory()


@pytest.fixture
def fake_sinks() -> Iterator[FakeSinks]:
    """Fresh fakes that every instrument records into for the test's duration
    (``use_sinks`` around the test): nothing reaches the global registry."""
    from django_prometheus.testing import FakeSinks, use_sinks

    with use_sinks(FakeSinks()) as fakes:
        yield fakes
