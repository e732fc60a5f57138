"""HTTP events as the contract's ``django_http_*`` families of one ``Metrics``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import Counter

from django_prometheus import state
from django_prometheus.sinks.protocols import Transport
from django_prometheus.sinks.recorders import Record, counter_inc, histogram_observe

if TYPE_CHECKING:
    from django_prometheus.http_metrics import Metrics

__all__ = ["PrometheusHttpSink"]


class _ViewSeries:
    """The recorders of one (view, method) pair, bound on its first request."""

    __slots__ = ("by_status", "by_transport", "latency")

    def __init__(self, metrics: Metrics, view: str, method: str) -> None:
        self.latency = histogram_observe(
            metrics.requests_latency_by_view_method.labels(view, method)
        )
        self.by_transport: dict[str, Record] = {}
        self.by_status: dict[str, Record] = {}


class PrometheusHttpSink:
    """HTTP events as the contract's ``django_http_*`` families of one ``Metrics``.

    The families belong to the :class:`~django_prometheus.middleware.Metrics`
    instance (the upstream extension API hands them out); this sink binds each
    label child once, on first use, and keeps its recorder, so a request costs
    a few dictionary lookups and value updates. Label values are bounded by the
    middleware (methods whitelisted, views from the resolver). Two threads
    racing on a miss get the same child from prometheus_client, so the caches
    need no lock.
    """

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._requests_entered = counter_inc(metrics.requests_total)
        self._responses_left = counter_inc(metrics.responses_total)
        self._latency_including_middlewares = histogram_observe(metrics.requests_latency_before)
        self._unknown_latency_including_middlewares = counter_inc(
            metrics.requests_unknown_latency_before
        )
        self._ajax = counter_inc(metrics.requests_ajax)
        self._request_body = histogram_observe(metrics.requests_body_bytes)
        self._response_body = histogram_observe(metrics.responses_body_bytes)
        self._streaming = counter_inc(metrics.responses_streaming)
        self._unknown_latency = counter_inc(metrics.requests_unknown_latency)
        self._by_method: dict[str, Record] = {}
        self._by_transport: dict[str, Record] = {}
        self._by_template: dict[str, Record] = {}
        self._by_status: dict[str, Record] = {}
        self._by_charset: dict[str, Record] = {}
        self._by_exception_type: dict[str, Record] = {}
        self._by_exception_view: dict[str, Record] = {}
        self._views: dict[tuple[str, str], _ViewSeries] = {}

    @classmethod
    def for_metrics(cls, metrics: Metrics) -> PrometheusHttpSink:
        """The sink of ``metrics``; one per instance, so all middlewares share its children."""
        return state.http_sinks.get(metrics, lambda: cls(metrics))

    def _view(self, view: str, method: str) -> _ViewSeries:
        series = self._views.get((view, method))
        if series is None:
            series = self._views[(view, method)] = _ViewSeries(self.metrics, view, method)
        return series

    @staticmethod
    def _bind(cache: dict[str, Record], family: Counter, value: str) -> Record:
        record = cache.get(value)
        if record is None:
            record = cache[value] = counter_inc(family.labels(value))
        return record

    def request_entered(self) -> None:
        self._requests_entered(1)

    def response_left(self, latency: float | None) -> None:
        self._responses_left(1)
        if latency is None:
            self._unknown_latency_including_middlewares(1)
        else:
            self._latency_including_middlewares(latency)

    def request_received(
        self, method: str, transport: Transport, ajax: bool, body_bytes: int
    ) -> None:
        record = self._by_method.get(method)
        if record is None:
            record = self._bind(self._by_method, self.metrics.requests_by_method, method)
        record(1)
        record = self._by_transport.get(transport)
        if record is None:
            record = self._bind(self._by_transport, self.metrics.requests_by_transport, transport)
        record(1)
        if ajax:
            self._ajax(1)
        self._request_body(body_bytes)

    def view_resolved(self, view: str, transport: Transport, method: str) -> None:
        series = self._views.get((view, method)) or self._view(view, method)
        record = series.by_transport.get(transport)
        if record is None:
            record = series.by_transport[transport] = counter_inc(
                self.metrics.requests_by_view_transport_method.labels(view, transport, method)
            )
        record(1)

    def template_rendered(self, template_name: str) -> None:
        self._bind(self._by_template, self.metrics.responses_by_templatename, template_name)(1)

    def response_sent(
        self,
        status: str,
        view: str,
        method: str,
        charset: str,
        streaming: bool,
        body_bytes: int | None,
    ) -> None:
        record = self._by_status.get(status)
        if record is None:
            record = self._bind(self._by_status, self.metrics.responses_by_status, status)
        record(1)
        series = self._views.get((view, method)) or self._view(view, method)
        record = series.by_status.get(status)
        if record is None:
            record = series.by_status[status] = counter_inc(
                self.metrics.responses_by_status_view_method.labels(status, view, method)
            )
        record(1)
        record = self._by_charset.get(charset)
        if record is None:
            record = self._bind(self._by_charset, self.metrics.responses_by_charset, charset)
        record(1)
        if streaming:
            self._streaming(1)
        elif body_bytes is not None:
            self._response_body(body_bytes)

    def exception_raised(self, exception_type: str, view: str) -> None:
        self._bind(self._by_exception_type, self.metrics.exceptions_by_type, exception_type)(1)
        self._bind(self._by_exception_view, self.metrics.exceptions_by_view, view)(1)

    def request_timed(self, view: str, method: str, latency: float | None) -> None:
        if latency is None:
            self._unknown_latency(1)
        else:
            (self._views.get((view, method)) or self._view(view, method)).latency(latency)
