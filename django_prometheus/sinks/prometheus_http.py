"""HTTP events as the contract's ``django_http_*`` families of one ``Metrics``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from prometheus_client import Histogram

from django_prometheus import state
from django_prometheus.sinks.protocols import Exemplar, Transport
from django_prometheus.sinks.recorders import Record, counter_child, histogram_child

if TYPE_CHECKING:
    from django_prometheus.http_metrics import Metrics

__all__ = ["PrometheusHttpSink"]


class _ViewSeries:
    """The recorders of one (view, method) pair, bound on its first request."""

    __slots__ = ("by_status", "by_transport", "latency")

    def __init__(self, metrics: Metrics, view: str, method: str) -> None:
        self.latency = histogram_child(
            _family(metrics, "requests_latency_by_view_method"), view, method
        )
        self.by_transport: dict[str, Record] = {}
        self.by_status: dict[str, Record] = {}


class _RouteSeries:
    """The recorders of one (route, method) pair, bound on its first request."""

    __slots__ = ("by_status", "latency", "requests")

    def __init__(self, metrics: Metrics, route: str, method: str) -> None:
        self.requests = counter_child(_family(metrics, "requests_by_route_method"), route, method)
        self.latency = histogram_child(
            _family(metrics, "requests_latency_by_route_method"), route, method
        )
        self.by_status: dict[str, Record] = {}


def _family(metrics: Metrics, key: str) -> Any:
    """The family ``metrics`` made under ``key``; None when it is not made (disabled, opt-in)."""
    return getattr(metrics, key, None)


class PrometheusHttpSink:
    """HTTP events as the ``django_http_*`` families of one ``Metrics``.

    The families belong to the :class:`~django_prometheus.middleware.Metrics`
    instance (the upstream extension API hands them out); this sink binds each
    label child once, on first use, and keeps its recorder, so a request costs
    a few dictionary lookups and value updates. Label values are bounded by the
    middleware (methods whitelisted, views and routes from the resolver). Two threads
    racing on a miss get the same child from prometheus_client, so the caches
    need no lock. A family that is not made records nothing.
    """

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._requests_entered = counter_child(_family(metrics, "requests_total"))
        self._responses_left = counter_child(_family(metrics, "responses_total"))
        self._latency_including_middlewares = histogram_child(
            _family(metrics, "requests_latency_before")
        )
        self._unknown_latency_including_middlewares = counter_child(
            _family(metrics, "requests_unknown_latency_before")
        )
        self._ajax = counter_child(_family(metrics, "requests_ajax"))
        self._request_body = histogram_child(_family(metrics, "requests_body_bytes"))
        self._response_body = histogram_child(_family(metrics, "responses_body_bytes"))
        self._streaming = counter_child(_family(metrics, "responses_streaming"))
        self._unknown_latency = counter_child(_family(metrics, "requests_unknown_latency"))
        self._families = {key: _family(metrics, key) for key in _LABELLED}
        self._by_method: dict[str, Record] = {}
        self._by_transport: dict[str, Record] = {}
        self._by_template: dict[str, Record] = {}
        self._by_status: dict[str, Record] = {}
        self._by_charset: dict[str, Record] = {}
        self._by_exception_type: dict[str, Record] = {}
        self._by_exception_view: dict[str, Record] = {}
        self._in_progress: dict[str, Record] = {}
        self._views: dict[tuple[str, str], _ViewSeries] = {}
        self._routes: dict[tuple[str, str], _RouteSeries] = {}

    @classmethod
    def for_metrics(cls, metrics: Metrics) -> PrometheusHttpSink:
        """The sink of ``metrics``; one per instance, so all middlewares share its children."""
        return state.http_sinks.get(metrics, lambda: cls(metrics))

    def _view(self, view: str, method: str) -> _ViewSeries:
        series = self._views.get((view, method))
        if series is None:
            series = self._views[(view, method)] = _ViewSeries(self.metrics, view, method)
        return series

    def _route(self, route: str, method: str) -> _RouteSeries:
        series = self._routes.get((route, method))
        if series is None:
            series = self._routes[(route, method)] = _RouteSeries(self.metrics, route, method)
        return series

    def _bind(self, cache: dict[str, Record], key: str, value: str) -> Record:
        record = cache.get(value)
        if record is None:
            record = cache[value] = counter_child(self._families[key], value)
        return record

    def request_started(self, method: str) -> None:
        record = self._in_progress.get(method)
        if record is None:
            record = self._bind(self._in_progress, "requests_in_progress", method)
        record(1)

    def request_finished(self, method: str) -> None:
        record = self._in_progress.get(method)
        if record is None:
            record = self._bind(self._in_progress, "requests_in_progress", method)
        record(-1)

    def request_entered(self) -> None:
        self._requests_entered(1)

    def _with_exemplar(
        self, key: str, labels: tuple[str, ...], amount: float, exemplar: Exemplar
    ) -> None:
        """The observation through prometheus_client's own method, which keeps exemplars."""
        family = self._families.get(key) or _family(self.metrics, key)
        if family is None:
            return
        child = family.labels(*labels) if labels else family
        if isinstance(child, Histogram):
            child.observe(amount, dict(exemplar))
        else:
            child.inc(amount, dict(exemplar))

    def response_left(self, latency: float | None, *, exemplar: Exemplar | None = None) -> None:
        self._responses_left(1)
        if latency is None:
            self._unknown_latency_including_middlewares(1)
        elif exemplar is None:
            self._latency_including_middlewares(latency)
        else:
            self._with_exemplar("requests_latency_before", (), latency, exemplar)

    def request_received(
        self, method: str, transport: Transport, ajax: bool, body_bytes: int
    ) -> None:
        record = self._by_method.get(method)
        if record is None:
            record = self._bind(self._by_method, "requests_by_method", method)
        record(1)
        record = self._by_transport.get(transport)
        if record is None:
            record = self._bind(self._by_transport, "requests_by_transport", transport)
        record(1)
        if ajax:
            self._ajax(1)
        self._request_body(body_bytes)

    def view_resolved(self, view: str, transport: Transport, method: str) -> None:
        series = self._views.get((view, method)) or self._view(view, method)
        record = series.by_transport.get(transport)
        if record is None:
            record = series.by_transport[transport] = counter_child(
                self._families["requests_by_view_transport_method"], view, transport, method
            )
        record(1)

    def request_routed(self, route: str, method: str) -> None:
        (self._routes.get((route, method)) or self._route(route, method)).requests(1)

    def template_rendered(self, template_name: str) -> None:
        self._bind(self._by_template, "responses_by_templatename", template_name)(1)

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
        if exemplar is not None:
            self._with_exemplar("responses_by_status", (status,), 1, exemplar)
            self._with_exemplar(
                "responses_by_status_view_method", (status, view, method), 1, exemplar
            )
        else:
            record = self._by_status.get(status)
            if record is None:
                record = self._bind(self._by_status, "responses_by_status", status)
            record(1)
            series = self._views.get((view, method)) or self._view(view, method)
            record = series.by_status.get(status)
            if record is None:
                record = series.by_status[status] = counter_child(
                    self._families["responses_by_status_view_method"], status, view, method
                )
            record(1)
        record = self._by_charset.get(charset)
        if record is None:
            record = self._bind(self._by_charset, "responses_by_charset", charset)
        record(1)
        if streaming:
            self._streaming(1)
        elif body_bytes is not None:
            self._response_body(body_bytes)

    def response_routed(
        self,
        route: str,
        status: str,
        method: str,
        latency: float | None,
        *,
        exemplar: Exemplar | None = None,
    ) -> None:
        if exemplar is not None:
            self._with_exemplar(
                "responses_by_route_status_method", (route, status, method), 1, exemplar
            )
            if latency is not None:
                self._with_exemplar(
                    "requests_latency_by_route_method", (route, method), latency, exemplar
                )
            return
        series = self._routes.get((route, method)) or self._route(route, method)
        record = series.by_status.get(status)
        if record is None:
            record = series.by_status[status] = counter_child(
                self._families["responses_by_route_status_method"], route, status, method
            )
        record(1)
        if latency is not None:
            series.latency(latency)

    def exception_raised(self, exception_type: str, view: str) -> None:
        self._bind(self._by_exception_type, "exceptions_by_type", exception_type)(1)
        self._bind(self._by_exception_view, "exceptions_by_view", view)(1)

    def request_timed(
        self, view: str, method: str, latency: float | None, *, exemplar: Exemplar | None = None
    ) -> None:
        if latency is None:
            self._unknown_latency(1)
        elif exemplar is not None:
            self._with_exemplar(
                "requests_latency_by_view_method", (view, method), latency, exemplar
            )
        else:
            (self._views.get((view, method)) or self._view(view, method)).latency(latency)


# The families bound per label value, by the key Metrics holds them under.
_LABELLED: Final = (
    "requests_by_method",
    "requests_by_transport",
    "requests_by_view_transport_method",
    "responses_by_templatename",
    "responses_by_status",
    "responses_by_status_view_method",
    "responses_by_charset",
    "responses_by_route_status_method",
    "exceptions_by_type",
    "exceptions_by_view",
    "requests_in_progress",
)
