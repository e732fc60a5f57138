"""Making the families of the table: shared namespace, registry, buckets, disabled names."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

from django_prometheus.families import Family

__all__ = ["FamilyMaker"]


class FamilyMaker:
    """Makes the families of the table with the shared namespace, registry and buckets."""

    def __init__(
        self,
        registry: CollectorRegistry,
        namespace: str,
        latency_buckets: tuple[float, ...],
        disabled: frozenset[str] = frozenset(),
    ) -> None:
        self.registry = registry
        self.namespace = namespace
        self.latency_buckets = latency_buckets
        self.disabled = disabled

    def make(
        self,
        holder: object,
        families: tuple[Family, ...],
        *,
        register: bool = True,
        disabled_unregistered: bool = False,
    ) -> None:
        """Set ``holder.<key>`` to each family, made in the table's order. A disabled one
        (PROMETHEUS_DISABLED_METRICS) is not made and its attribute stays absent, or, with
        ``disabled_unregistered``, made outside any registry (for sinks that move several
        families under one lock, where a missing one would cost a second path)."""
        for family in families:
            if family.name in self.disabled:
                if disabled_unregistered:
                    setattr(holder, family.key, self._make(family, None))
                continue
            setattr(holder, family.key, self._make(family, self.registry if register else None))

    def _make(self, family: Family, registry: CollectorRegistry | None) -> MetricWrapperBase:
        args = (family.name, family.documentation, family.labelnames)
        if family.metric_cls is Histogram:
            bounds = family.bucket_bounds(self.latency_buckets)
            return Histogram(
                *args,
                namespace=self.namespace,
                registry=registry,
                buckets=Histogram.DEFAULT_BUCKETS if bounds is None else bounds,
            )
        if family.metric_cls is Gauge and family.multiprocess_mode is not None:
            return Gauge(
                *args,
                namespace=self.namespace,
                registry=registry,
                multiprocess_mode=family.multiprocess_mode,
            )
        return family.metric_cls(*args, namespace=self.namespace, registry=registry)
