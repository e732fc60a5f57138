"""What one metric family is: its name, type, documentation, labels, buckets, mode."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

from prometheus_client import Counter, Gauge, Histogram

from django_prometheus.utils import PowersOf

__all__ = [
    "BODY_SIZE_BUCKETS",
    "CACHE_OPERATION_BUCKETS",
    "Buckets",
    "Domain",
    "Family",
    "MetricClass",
    "MultiprocessMode",
]

BODY_SIZE_BUCKETS: Final[tuple[float, ...]] = tuple(PowersOf(2, 30))

# A local cache answers in microseconds, a network one in about a millisecond.
CACHE_OPERATION_BUCKETS: Final[tuple[float, ...]] = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    float("inf"),
)  # fmt: skip

MetricClass: TypeAlias = type[Counter] | type[Gauge] | type[Histogram]
Buckets: TypeAlias = Literal["latency", "body"] | tuple[float, ...]
"""``"latency"``: ``PROMETHEUS_LATENCY_BUCKETS``; ``"body"``: :data:`BODY_SIZE_BUCKETS`."""
MultiprocessMode: TypeAlias = Literal[
    "all", "liveall", "min", "livemin", "max", "livemax", "sum", "livesum", "mostrecent",
    "livemostrecent",
]  # fmt: skip
Domain: TypeAlias = Literal["http", "db", "cache", "model", "migrations", "errors"]


@dataclass(frozen=True, slots=True)
class Family:
    """One family; ``key`` is the attribute that holds it (on ``Metrics`` or its sink)."""

    key: str
    metric_cls: MetricClass
    name: str
    documentation: str
    labelnames: tuple[str, ...] = ()
    buckets: Buckets | None = None
    multiprocess_mode: MultiprocessMode | None = None
    # The boolean setting (a PrometheusConfig field) without which it is not registered.
    enabled_by: Literal["route_latency"] | None = None

    def bucket_bounds(
        self,
        latency_buckets: tuple[float, ...],
        body_buckets: tuple[float, ...] = BODY_SIZE_BUCKETS,
    ) -> tuple[float, ...] | None:
        """The histogram's upper bounds under the configured buckets."""
        if self.buckets == "latency":
            return latency_buckets
        if self.buckets == "body":
            return body_buckets
        return self.buckets

    @property
    def exposed_names(self) -> tuple[str, ...]:
        """The name as passed to prometheus_client, and the counter's ``_total`` form."""
        if self.metric_cls is Counter and not self.name.endswith("_total"):
            return (self.name, f"{self.name}_total")
        return (self.name,)
