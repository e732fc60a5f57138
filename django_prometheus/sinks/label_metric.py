"""HTTP events as ``label_metric`` calls: the established package's custom-labels API.

A middleware subclass that overrides ``label_metric`` or ``metrics_cls`` records
through this adapter, so the middleware itself has one recording path. Each
event makes the calls the established package made, with the same metric, the
same request, the response where it passed one, and the same label keywords.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, Protocol, TypeVar

from prometheus_client import Histogram
from prometheus_client.metrics import MetricWrapperBase

from django_prometheus.sinks.protocols import Exemplar, Transport

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

    def _move(
        self,
        key: str,
        amount: float,
        *,
        response: Literal["positional", "keyword", "none"] = "positional",
        exemplar: Exemplar | None = None,
        **labels: str,
    ) -> None:
        """``label_metric(metric, request, …)`` shaped as 2.5.0 called it for ``key``, then
        inc or observe the child; nothing for a family that is not made (disabled, opt-in)."""
        metric: MetricWrapperBase | None = getattr(self._metrics, key, None)
        if metric is None:
            return
        label: Callable[..., MetricWrapperBase] = self._label
        if response == "positional":
            child = label(metric, self._request, self._response, **labels)
        elif response == "keyword":
            child = label(metric, self._request, response=self._response, **labels)
        else:
            child = label(metric, self._request, **labels)
        given = None if exemplar is None else dict(exemplar)
        if isinstance(child, Histogram):
            child.observe(amount, given)
        elif given is not None:
            child.inc(amount, given)  # type: ignore[attr-defined]
        else:
            child.inc(amount)  # type: ignore[attr-defined]

    def request_started(self, method: str) -> None:
        self._move("requests_in_progress", 1, response="none", method=method)

    def request_finished(self, method: str) -> None:
        self._move("requests_in_progress", -1, response="none", method=method)

    def request_entered(self) -> None:
        self._move("requests_total", 1, response="none")

    def response_left(self, latency: float | None, *, exemplar: Exemplar | None = None) -> None:
        self._move("responses_total", 1)
        if latency is None:
            self._move("requests_unknown_latency_before", 1)
        else:
            self._move("requests_latency_before", latency, exemplar=exemplar)

    def request_received(
        self, method: str, transport: Transport, ajax: bool, body_bytes: int
    ) -> None:
        self._move("requests_by_method", 1, response="none", method=method)
        self._move("requests_by_transport", 1, response="none", transport=transport)
        if ajax:
            self._move("requests_ajax", 1, response="none")
        self._move("requests_body_bytes", body_bytes, response="none")

    def view_resolved(self, view: str, transport: Transport, method: str) -> None:
        self._move(
            "requests_by_view_transport_method",
            1,
            response="none",
            view=view,
            transport=transport,
            method=method,
        )

    def request_routed(self, route: str, method: str) -> None:
        self._move("requests_by_route_method", 1, response="none", route=route, method=method)

    def template_rendered(self, template_name: str) -> None:
        self._move("responses_by_templatename", 1, response="keyword", templatename=template_name)

    def response_sent(
        self,
        status: str,
        view: str,
        method: str,
        charset: str,
        streaming: bool,
        body_bytes: int | None,
        *,
        exemplar: Exemplar | None = None,
    ) -> None:
        self._move("responses_by_status", 1, exemplar=exemplar, status=status)
        self._move(
            "responses_by_status_view_method",
            1,
            exemplar=exemplar,
            status=status,
            view=view,
            method=method,
        )
        self._move("responses_by_charset", 1, charset=charset)
        if streaming:
            self._move("responses_streaming", 1)
        elif body_bytes is not None:
            self._move("responses_body_bytes", body_bytes)

    def response_routed(
        self,
        route: str,
        status: str,
        method: str,
        latency: float | None,
        *,
        exemplar: Exemplar | None = None,
    ) -> None:
        self._move(
            "responses_by_route_status_method",
            1,
            exemplar=exemplar,
            route=route,
            status=status,
            method=method,
        )
        if latency is not None:
            self._move(
                "requests_latency_by_route_method",
                latency,
                exemplar=exemplar,
                route=route,
                method=method,
            )

    def exception_raised(self, exception_type: str, view: str) -> None:
        self._move("exceptions_by_type", 1, response="none", type=exception_type)
        self._move("exceptions_by_view", 1, response="none", view=view)

    def request_timed(
        self, view: str, method: str, latency: float | None, *, exemplar: Exemplar | None = None
    ) -> None:
        if latency is None:
            self._move("requests_unknown_latency", 1)
        else:
            self._move(
                "requests_latency_by_view_method",
                latency,
                exemplar=exemplar,
                view=view,
                method=method,
            )
