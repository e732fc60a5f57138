"""The two HTTP middlewares: every request metric of the contract, native under WSGI and ASGI.

Both are sync- and async-capable new-style middlewares: under ASGI they record on
the event loop (no ``sync_to_async`` hop of theirs). Every hook records through one
sink: the provider's current one, or, for a subclass that overrides
``label_metric`` or ``metrics_cls``, the adapter that makes the established
package's ``label_metric`` calls.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from functools import partial
from time import perf_counter
from typing import ClassVar, Final, Literal, cast

from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase

import django_prometheus.checks  # noqa: F401  (registers W006 even when the app is not installed)
from django_prometheus.http_labels import (
    INVALID_METHOD,
    METHOD_LABEL,
    STANDARD_METHODS,
    UNMATCHED_ROUTE,
    UNNAMED_TEMPLATE,
    UNNAMED_VIEW,
    charset_label,
    content_length,
    method_label,
    response_body_size,
    route_label,
    template_label,
    transport,
    view_label,
)
from django_prometheus.http_metrics import MetricOptions, Metrics
from django_prometheus.middleware_base import (
    ENTERED,
    EXEMPT,
    LABEL_METRIC,
    NO_EXEMPLAR,
    PrometheusMiddlewareBase,
)
from django_prometheus.sinks.protocols import HttpSink, Transport

__all__ = [
    "AFTER_START",
    "BEFORE_START",
    "INVALID_METHOD",
    "STANDARD_METHODS",
    "UNMATCHED_ROUTE",
    "UNNAMED_TEMPLATE",
    "UNNAMED_VIEW",
    "MetricOptions",
    "Metrics",
    "PrometheusAfterMiddleware",
    "PrometheusBeforeMiddleware",
]

# Per-request state lives in the request's __dict__ under these keys. The two start
# times keep the established package's attribute names.
BEFORE_START: Final = "prometheus_before_middleware_event"
AFTER_START: Final = "prometheus_after_middleware_event"
_BEFORE_STATE: Final = "_django_prometheus_before"
_IN_PROGRESS: Final = "_django_prometheus_in_progress"  # the method label it counts under
_AFTER_STATE: Final = "_django_prometheus_after"


class _NotTimed(Enum):
    NOT_TIMED = "not timed yet"


NOT_TIMED: Final = _NotTimed.NOT_TIMED

# (method label, view label, route label, latency observed at an exception, or NOT_TIMED)
_AfterState = tuple[str, str, str, "float | Literal[_NotTimed.NOT_TIMED] | None"]


class PrometheusBeforeMiddleware(PrometheusMiddlewareBase):
    """Counts requests and responses and times them around every other middleware.

    A request is counted once its view turns out not to be exempt (in
    ``process_view``), or together with its response when no view was resolved.
    """

    _state_key: ClassVar[str] = _BEFORE_STATE

    def process_request(self, request: HttpRequest) -> HttpResponseBase | None:
        state = request.__dict__
        state[BEFORE_START] = perf_counter()
        try:
            method = METHOD_LABEL.get(request.method, INVALID_METHOD)
            sink = self._http_slot.sink
            if sink is None or sink is LABEL_METRIC:  # the rest of _sink, inlined
                sink = self._sink(request)
            sink.request_started(method)
            # The same sink sees the end: a use_sinks swap meanwhile must not unbalance it.
            state[_IN_PROGRESS] = (method, sink)
        except Exception as error:
            self._failed(error)
        return None

    def _finished(self, request: HttpRequest) -> None:
        started: tuple[str, HttpSink] | None = request.__dict__.pop(_IN_PROGRESS, None)
        if started is None:
            return
        try:
            started[1].request_finished(started[0])
        except Exception as error:
            self._failed(error)

    def _abandoned(self, request: HttpRequest) -> None:
        self._finished(request)

    def _finish_when_closed(
        self, request: HttpRequest, response: HttpResponseBase, started: tuple[str, HttpSink]
    ) -> bool:
        """Whether the response will report the end (a stream: once the server closed it)."""
        closers = getattr(response, "_resource_closers", None)
        if not isinstance(closers, list):
            return False
        request.__dict__[_IN_PROGRESS] = started
        closers.append(partial(self._finished, request))
        return True

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., object],
        *view_args: object,
        **view_kwargs: object,
    ) -> None:
        try:
            state = request.__dict__
            if _BEFORE_STATE in state:  # not this request's first view
                return
            try:
                exempt = self._exempt_views[view_func]
            except (KeyError, TypeError):
                exempt = self._is_exempt(view_func)
            if exempt:
                state[_BEFORE_STATE] = EXEMPT
                return
            state[_BEFORE_STATE] = ENTERED
            sink = self._http_slot.sink
            if sink is None or sink is LABEL_METRIC:
                sink = self._sink(request)
            sink.request_entered()
        except Exception as error:
            self._failed(error)

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        try:
            state = request.__dict__
            sink = self._http_slot.sink
            if sink is None or sink is LABEL_METRIC:
                sink = self._sink(request, response)
            entered = state.get(_BEFORE_STATE)
            if entered is None:
                match = request.resolver_match
                if match is not None and self._is_exempt(match.func):
                    entered = EXEMPT
                else:
                    sink.request_entered()
            if entered is not EXEMPT:
                start = state.get(BEFORE_START)
                latency = perf_counter() - start if isinstance(start, float) else None
                if self._exemplars is None:  # a plain call: no keyword unpacking per request
                    sink.response_left(latency)
                else:
                    sink.response_left(latency, **self._exemplar_keywords(request))
            started = state.pop(_IN_PROGRESS, None)
            if started is not None and not (
                response.streaming and self._finish_when_closed(request, response, started)
            ):
                started[1].request_finished(started[0])
        except Exception as error:
            self._failed(error)
        return response


class PrometheusAfterMiddleware(PrometheusMiddlewareBase):
    """Records requests, views, templates, responses and exceptions closest to the view."""

    _state_key: ClassVar[str] = _AFTER_STATE
    ignored_exceptions: ClassVar[tuple[type[BaseException], ...]] = (Http404,)
    """Exceptions raised by views that are not counted as exceptions (a 404 is no error)."""

    def process_request(self, request: HttpRequest) -> HttpResponseBase | None:
        request.__dict__[AFTER_START] = perf_counter()
        return None

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., object],
        *view_args: object,
        **view_kwargs: object,
    ) -> None:
        try:
            state = request.__dict__
            if _AFTER_STATE in state:  # not this request's first view
                return
            try:
                exempt = self._exempt_views[view_func]
            except (KeyError, TypeError):
                exempt = self._is_exempt(view_func)
            if exempt:
                state[_AFTER_STATE] = EXEMPT
                return
            method = METHOD_LABEL.get(request.method, INVALID_METHOD)
            transport_label = transport(request)
            match = request.resolver_match
            view = (match.view_name or UNNAMED_VIEW) if match is not None else UNNAMED_VIEW
            route = (
                match.route if match is not None and match.route is not None else UNMATCHED_ROUTE
            )
            state[_AFTER_STATE] = (method, view, route, NOT_TIMED)
            sink = self._http_slot.sink
            if sink is None or sink is LABEL_METRIC:
                sink = self._sink(request)
            meta = request.META
            ajax = meta.get("HTTP_X_REQUESTED_WITH") == "XMLHttpRequest"
            length = meta.get("CONTENT_LENGTH")
            body = content_length(length) if length else 0
            sink.request_received(method, transport_label, ajax, body)
            sink.view_resolved(view, transport_label, method)
            sink.request_routed(route, method)
        except Exception as error:
            self._failed(error)

    def process_template_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        try:
            if request.__dict__.get(_AFTER_STATE) is EXEMPT or not hasattr(
                response, "template_name"
            ):
                return response
            template = template_label(response.template_name)
            self._sink(request, response).template_rendered(template)
        except Exception as error:
            self._failed(error)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        try:
            if isinstance(exception, self.ignored_exceptions):
                return
            sink = self._sink(request)
            state = self._state(sink, request)
            if state is None:
                return
            method, view, route, timed = state
            sink.exception_raised(type(exception).__name__, view)
            if timed is NOT_TIMED:
                # The view's latency is observed here, once; the 500 response that
                # follows does not observe it again (its route series reuse it).
                latency = _latency(request.__dict__, AFTER_START)
                request.__dict__[_AFTER_STATE] = (method, view, route, latency)
                sink.request_timed(view, method, latency, **self._exemplar_keywords(request))
        except Exception as error:
            self._failed(error)

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        try:
            sink = self._http_slot.sink
            if sink is None or sink is LABEL_METRIC:
                sink = self._sink(request, response)
            # The request's labels, set by process_view; _state when no view hook ran.
            state = request.__dict__.get(_AFTER_STATE)
            if state is None or state is EXEMPT:
                state = self._state(sink, request)
                if state is None:
                    return response
            method, view, route, latency = state
            streaming = response.streaming
            status = str(response.status_code)
            exemplar = NO_EXEMPLAR if self._exemplars is None else self._exemplar_keywords(request)
            body = None if streaming else response_body_size(response)
            charset = charset_label(response)
            if latency is NOT_TIMED:
                start = request.__dict__.get(AFTER_START)
                latency = perf_counter() - start if isinstance(start, float) else None
                timed_now = True
            else:
                timed_now = False
            if exemplar:
                sink.response_sent(status, view, method, charset, streaming, body, **exemplar)
                if timed_now:
                    sink.request_timed(view, method, latency, **exemplar)
                sink.response_routed(route, status, method, latency, **exemplar)
            else:  # plain calls: no keyword unpacking per request
                sink.response_sent(status, view, method, charset, streaming, body)
                if timed_now:
                    sink.request_timed(view, method, latency)
                sink.response_routed(route, status, method, latency)
        except Exception as error:
            self._failed(error)
        return response

    def _state(self, sink: HttpSink, request: HttpRequest) -> _AfterState | None:
        """This request's labels; when no view hook ran (404, a short-circuit) the request
        is recorded now. None when it is exempt."""
        state = request.__dict__.get(_AFTER_STATE)
        if state is EXEMPT:
            return None
        if state is not None:
            return cast("_AfterState", state)
        match = request.resolver_match
        if match is not None and self._is_exempt(match.func):
            request.__dict__[_AFTER_STATE] = EXEMPT
            return None
        method = method_label(request.method)
        route = route_label(match)
        started: _AfterState = (method, view_label(match), route, NOT_TIMED)
        request.__dict__[_AFTER_STATE] = started
        self._receive(sink, request, method, transport(request))
        sink.request_routed(route, method)
        return started

    @staticmethod
    def _receive(sink: HttpSink, request: HttpRequest, method: str, transport: Transport) -> None:
        meta = request.META
        ajax = meta.get("HTTP_X_REQUESTED_WITH") == "XMLHttpRequest"
        length = meta.get("CONTENT_LENGTH")
        sink.request_received(method, transport, ajax, content_length(length) if length else 0)


def _latency(state: dict[str, object], key: str) -> float | None:
    """Seconds since the start time stored under ``key``; None without one."""
    start = state.get(key)
    return None if not isinstance(start, float) else perf_counter() - start
