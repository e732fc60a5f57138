"""HTTP events as ``label_metric`` calls: the established package's custom-labels API.

A middleware subclass that overrides ``label_metric`` or ``metrics_cls`` records
through this adapter, so the middleware itself has one recording path. Each
event makes the calls the established package made, with the same metric, the
same request, the response where it passed one, and the same label keywords.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TypeVar

from prometheus_client.metrics import MetricWrapperBase

from django_prometheus.sinks.protocols import Transport

if TYPE_CHECKING:
    from django.http import HttpRequest
    from django.http.response import HttpResponseBase

    from django_prometheus.http_metrics import Metrics

__all__ = ["LabelMetric", "LabelMetricSink"]

_MetricT = TypeVar("_MetricT", bound=MetricWrapperBase)


class LabelMetric(Protocol):
    def __call__(
        self,
        metric: _MetricT,
        request: HttpRequest,
        response: HttpResponseBase | None = None,
        **labels: str,
    ) -> _MetricT: ...


class LabelMetricSink:
    """An :class:`~django_prometheus.sinks.protocols.HttpSink` for one request's hook."""

    __slots__ = ("_label", "_metrics", "_request", "_response")

    def __init__(
        self,
        label_metric: LabelMetric,
        metrics: Metrics,
        request: HttpRequest,
        response: HttpResponseBase | None,
    ) -> None:
        self._label = label_metric
        self._metrics = metrics
        self._request = request
        self._response = response

    def request_entered(self) -> None:
        self._label(self._metrics.requests_total, self._request).inc()

    def response_left(self, latency: float | None) -> None:
        label, metrics = self._label, self._metrics
        request, response = self._request, self._response
        label(metrics.responses_total, request, response).inc()
        if latency is None:
            label(metrics.requests_unknown_latency_before, request, response).inc()
        else:
            label(metrics.requests_latency_before, request, response).observe(latency)

    def request_received(
        self, method: str, transport: Transport, ajax: bool, body_bytes: int
    ) -> None:
        label, metrics, request = self._label, self._metrics, self._request
        label(metrics.requests_by_method, request, method=method).inc()
        label(metrics.requests_by_transport, request, transport=transport).inc()
        if ajax:
            label(metrics.requests_ajax, request).inc()
        label(metrics.requests_body_bytes, request).observe(body_bytes)

    def view_resolved(self, view: str, transport: Transport, method: str) -> None:
        self._label(
            self._metrics.requests_by_view_transport_method,
            self._request,
            view=view,
            transport=transport,
            method=method,
        ).inc()

    def template_rendered(self, template_name: str) -> None:
        self._label(
            self._metrics.responses_by_templatename,
            self._request,
            response=self._response,
            templatename=template_name,
        ).inc()

    def response_sent(
        self,
        status: str,
        view: str,
        method: str,
        charset: str,
        streaming: bool,
        body_bytes: int | None,
    ) -> None:
        label, metrics = self._label, self._metrics
        request, response = self._request, self._response
        label(metrics.responses_by_status, request, response, status=status).inc()
        label(
            metrics.responses_by_status_view_method,
            request,
            response,
            status=status,
            view=view,
            method=method,
        ).inc()
        label(metrics.responses_by_charset, request, response, charset=charset).inc()
        if streaming:
            label(metrics.responses_streaming, request, response).inc()
        elif body_bytes is not None:
            label(metrics.responses_body_bytes, request, response).observe(body_bytes)

    def exception_raised(self, exception_type: str, view: str) -> None:
        label, metrics, request = self._label, self._metrics, self._request
        label(metrics.exceptions_by_type, request, type=exception_type).inc()
        label(metrics.exceptions_by_view, request, view=view).inc()

    def request_timed(self, view: str, method: str, latency: float | None) -> None:
        label, metrics = self._label, self._metrics
        request, response = self._request, self._response
        if latency is None:
            label(metrics.requests_unknown_latency, request, response).inc()
        else:
            label(
                metrics.requests_latency_by_view_method, request, response, view=view, method=method
            ).observe(latency)
