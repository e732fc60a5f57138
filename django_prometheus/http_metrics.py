"""``Metrics``: the ``django_http_*`` families, the established package's extension API.

Its own module so that the sinks can build HTTP families without importing the
middleware (which imports the sinks).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar, TypedDict, TypeVar

from django.core.exceptions import ImproperlyConfigured
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

from django_prometheus.config import PrometheusConfig, get_config
from django_prometheus.families import HTTP
from django_prometheus.state import once_per_class

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["MetricOptions", "Metrics", "http_config_key"]

_MetricT = TypeVar("_MetricT", bound=MetricWrapperBase)
_MetricsT = TypeVar("_MetricsT", bound="Metrics")


def http_config_key(config: PrometheusConfig) -> tuple[object, ...]:
    """The settings besides namespace and latency buckets that change the HTTP families."""
    return (config.body_size_buckets, config.disabled_metrics, config.route_latency)


class MetricOptions(TypedDict, total=False):
    """Keyword arguments ``register_metric`` passes on to the metric class."""

    namespace: str
    subsystem: str
    unit: str
    registry: CollectorRegistry | None
    buckets: Sequence[float]
    multiprocess_mode: str


class Metrics:
    """The ``django_http_*`` families, made once per class by :meth:`get_instance`.

    Subclass it to change how families are made: override :meth:`register_metric`
    (``labelnames`` arrives as a list that may be extended in place) or
    :meth:`register` (call ``super().register()`` and add families). Families go to
    ``registry`` (the global one unless a subclass or the constructor says
    otherwise); namespace and latency buckets come from the settings.

    Every ``Metrics`` class registers every family, so two classes cannot share one
    registry: use the same ``metrics_cls`` on both middlewares, or give the
    subclass a registry of its own.
    """

    _instance: ClassVar[Metrics | None] = None
    registry: CollectorRegistry = REGISTRY

    requests_total: Counter
    responses_total: Counter
    requests_latency_before: Histogram
    requests_unknown_latency_before: Counter
    requests_latency_by_view_method: Histogram
    requests_unknown_latency: Counter
    requests_ajax: Counter
    requests_by_method: Counter
    requests_by_transport: Counter
    requests_by_view_transport_method: Counter
    requests_body_bytes: Histogram
    responses_by_templatename: Counter
    responses_by_status: Counter
    responses_by_status_view_method: Counter
    responses_body_bytes: Histogram
    responses_by_charset: Counter
    responses_streaming: Counter
    exceptions_by_type: Counter
    exceptions_by_view: Counter
    requests_by_route_method: Counter
    responses_by_route_status_method: Counter
    requests_latency_by_route_method: Histogram
    requests_in_progress: Gauge

    def __init__(
        self,
        *,
        registry: CollectorRegistry | None = None,
        namespace: str | None = None,
        latency_buckets: Sequence[float] | None = None,
        config: PrometheusConfig | None = None,
    ) -> None:
        """Families of a disabled name (``PROMETHEUS_DISABLED_METRICS``) or of an unset
        opt-in setting are not made: their attribute is absent."""
        if registry is not None:
            self.registry = registry
        config = get_config() if config is None else config
        namespace = config.metric_namespace if namespace is None else namespace
        latency_buckets = config.latency_buckets if latency_buckets is None else latency_buckets
        self.namespace: str = namespace
        self.latency_buckets: tuple[float, ...] = tuple(latency_buckets)
        self.body_size_buckets: tuple[float, ...] = config.body_size_buckets
        self.disabled: frozenset[str] = config.disabled_metrics
        self._opted_in = {"route_latency": config.route_latency}
        self.config_key = http_config_key(config)
        try:
            self.register()
        except ValueError as error:
            self._unregister_own()
            raise ImproperlyConfigured(
                f"{type(self).__qualname__} could not register its HTTP metrics: {error}. "
                "Every Metrics class registers every django_http_* family: give "
                "PrometheusBeforeMiddleware and PrometheusAfterMiddleware the same "
                "metrics_cls, or give the Metrics subclass a registry of its own "
                "(class attribute `registry = CollectorRegistry()`)."
            ) from error

    @classmethod
    def get_instance(cls: type[_MetricsT]) -> _MetricsT:
        """The one instance of this very class (a subclass gets its own, not its parent's)."""
        return once_per_class(cls, "_instance", cls)

    def register_metric(
        self,
        metric_cls: type[_MetricT],
        name: str,
        documentation: str,
        labelnames: Sequence[str] = (),
        **kwargs: Unpack[MetricOptions],
    ) -> _MetricT:
        """Create one family; the hook subclasses override to add labels."""
        kwargs.setdefault("registry", self.registry)
        return metric_cls(  # type: ignore[misc]
            name, documentation, labelnames=tuple(labelnames), **kwargs
        )

    def register(self) -> None:
        """Create every family of the HTTP table (as attributes named as upstream)."""
        for family in HTTP:
            if family.name in self.disabled or (
                family.enabled_by is not None and not self._opted_in[family.enabled_by]
            ):
                continue
            options: MetricOptions = {"namespace": self.namespace}
            if family.multiprocess_mode is not None:
                options["multiprocess_mode"] = family.multiprocess_mode
            buckets = family.bucket_bounds(self.latency_buckets, self.body_size_buckets)
            if buckets is not None:
                options["buckets"] = buckets
            metric = self.register_metric(
                family.metric_cls,
                family.name,
                family.documentation,
                [*family.labelnames],
                **options,
            )
            setattr(self, family.key, metric)

    def _unregister_own(self) -> None:
        for value in list(vars(self).values()):
            if isinstance(value, MetricWrapperBase):
                with contextlib.suppress(KeyError):  # it went to another registry
                    self.registry.unregister(value)
