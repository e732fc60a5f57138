"""The two HTTP middlewares: every request metric of the contract, native under WSGI and ASGI.

Both are sync- and async-capable new-style middlewares: under ASGI they record on
the event loop (no ``sync_to_async`` hop of theirs). Every hook records through one
sink: the provider's current one, or, for a subclass that overrides
``label_metric`` or ``metrics_cls``, the adapter that makes the established
package's ``label_metric`` calls.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import Enum
from functools import cached_property
from time import perf_counter
from typing import ClassVar, Final, TypeVar, cast

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase
from prometheus_client.metrics import MetricWrapperBase

import django_prometheus.checks  # noqa: F401  (registers W006 even when the app is not installed)
from django_prometheus.config import get_config
from django_prometheus.decorators import is_prometheus_exempt
from django_prometheus.http_labels import (
    INVALID_METHOD,
    METHOD_LABEL,
    STANDARD_METHODS,
    UNNAMED_TEMPLATE,
    UNNAMED_VIEW,
    charset_label,
    content_length,
    method_label,
    response_body_size,
    template_label,
    transport,
    view_label,
)
from django_prometheus.http_metrics import MetricOptions, Metrics
from django_prometheus.safety import instrumentation_failed
from django_prometheus.sinks.label_metric import LabelMetricSink
from django_prometheus.sinks.prometheus import PrometheusHttpSink
from django_prometheus.sinks.protocols import ErrorSink, HttpSink, Transport
from django_prometheus.sinks.provider import SinkBundle, SinkSlot, fixed_slot

__all__ = [
    "AFTER_START",
    "BEFORE_START",
    "INVALID_METHOD",
    "STANDARD_METHODS",
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
_AFTER_STATE: Final = "_django_prometheus_after"


class _Recording(Enum):
    LABEL_METRIC = "label_metric"  # a subclass's label_metric / metrics_cls records


class _Marker:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


_EXEMPT: Final = _Marker("<exempt>")
_ENTERED: Final = _Marker("<entered>")

# (method label, view label, latency already observed)
_AfterState = tuple[str, str, bool]

_MetricT = TypeVar("_MetricT", bound=MetricWrapperBase)

_EXEMPT_CACHE_LIMIT: Final = 4096


_SyncGetResponse = Callable[[HttpRequest], HttpResponseBase]
_AsyncGetResponse = Callable[[HttpRequest], Awaitable[HttpResponseBase]]
_GetResponse = Callable[[HttpRequest], HttpResponseBase | Awaitable[HttpResponseBase]]


class _PrometheusMiddleware:
    """What both middlewares share: modes, the sink or generic path, exclusion, safety."""

    sync_capable: ClassVar[bool] = True
    async_capable: ClassVar[bool] = True
    metrics_cls: ClassVar[type[Metrics]] = Metrics
    _state_key: ClassVar[str]
    _hooks_to_adapt: ClassVar[tuple[str, ...]] = ("process_view", "process_template_response")

    def __init__(
        self,
        get_response: _GetResponse,
        *,
        sink: HttpSink | None = None,
        error_sink: ErrorSink | None = None,
    ) -> None:
        self.get_response = get_response
        self._sync_get_response = cast("_SyncGetResponse", get_response)
        self._async_get_response = cast("_AsyncGetResponse", get_response)
        self._error_sink = error_sink
        self._http_slot: SinkSlot[HttpSink | _Recording] = (
            fixed_slot(sink) if sink is not None else SinkSlot(self._bind_http_sink)
        )
        if self.uses_generic_path():
            self.metrics  # noqa: B018 - make the families at startup, not at the first request
        else:
            self._own_sink: HttpSink = PrometheusHttpSink.for_metrics(self.metrics)
        self._excluded = get_config().path_exclusion
        self._exempt_views: dict[object, bool] = {}
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)
            self._adapt_hooks_to_async()

    @classmethod
    def uses_generic_path(cls) -> bool:
        """True when a subclass changes how metrics are labelled or made."""
        return (
            cls.metrics_cls is not Metrics
            or cls.label_metric is not _PrometheusMiddleware.label_metric
        )

    @cached_property
    def metrics(self) -> Metrics:
        return self.metrics_cls.get_instance()

    def _bind_http_sink(self, bundle: SinkBundle | None) -> HttpSink | _Recording:
        if bundle is not None:
            return bundle.http
        return _Recording.LABEL_METRIC if self.uses_generic_path() else self._own_sink

    def _sink(self, request: HttpRequest, response: HttpResponseBase | None = None) -> HttpSink:
        """The one way every hook records: the current sink, or label_metric's adapter."""
        slot = self._http_slot
        sink = slot.sink
        if sink is None:
            sink = slot.resolve()
        if sink is _Recording.LABEL_METRIC:
            return LabelMetricSink(self.label_metric, self.metrics, request, response)
        return sink

    def label_metric(
        self,
        metric: _MetricT,
        request: HttpRequest,
        response: HttpResponseBase | None = None,
        **labels: str,
    ) -> _MetricT:
        """The child of ``metric`` to record for this request; override to add labels."""
        return metric.labels(**labels) if labels else metric

    def _adapt_hooks_to_async(self) -> None:
        # Django wraps a sync hook in sync_to_async (a thread hop per call) when the
        # handler is async; ours only touch memory, so they run on the event loop.
        # The adapters are bound methods: Django reads hook.__self__ for messages.
        for name in self._hooks_to_adapt:
            hook = getattr(type(self), name, None)
            if hook is None or iscoroutinefunction(hook):
                continue
            setattr(self, name, getattr(self, f"_async_{name}"))

    async def _async_process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., object],
        *view_args: object,
        **view_kwargs: object,
    ) -> HttpResponseBase | None:
        hook: Callable[..., HttpResponseBase | None] = type(self).process_view  # type: ignore[attr-defined]
        return hook(self, request, view_func, *view_args, **view_kwargs)

    async def _async_process_template_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        hook: Callable[..., HttpResponseBase] = type(self).process_template_response  # type: ignore[attr-defined]
        return hook(self, request, response)

    def _failed(self, error: Exception) -> None:
        instrumentation_failed("http", error, self._error_sink)

    def _is_exempt(self, view: object) -> bool:
        cache = self._exempt_views
        try:
            return cache[view]
        except KeyError:
            exempt = is_prometheus_exempt(view)
            if len(cache) < _EXEMPT_CACHE_LIMIT:
                cache[view] = exempt
            return exempt
        except TypeError:  # an unhashable view callable
            return is_prometheus_exempt(view)

    def _view_is_new_and_counted(self, request: HttpRequest, view_func: object) -> bool:
        """Whether process_view should record: the first call for this request, and a view
        that is not exempt (which marks the request so nothing else records it)."""
        state = request.__dict__
        if self._state_key in state:
            return False
        if self._is_exempt(view_func):
            state[self._state_key] = _EXEMPT
            return False
        return True

    def _excluded_path(self, request: HttpRequest) -> bool:
        excluded = self._excluded
        if excluded is not None and excluded.match(request.path_info):
            request.__dict__[self._state_key] = _EXEMPT
            return True
        return False

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self._async:
            return self.__acall__(request)
        if self._excluded is not None and self._excluded_path(request):
            return self._sync_get_response(request)
        # Our own hooks never raise (each guards its recording); a subclass's override
        # behaves as under Django's MiddlewareMixin: its response short-circuits the
        # request and its exception is the host's.
        response = self.process_request(request)
        if response is None:
            response = self._sync_get_response(request)
        return self.process_response(request, response)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        if self._excluded is not None and self._excluded_path(request):
            return await self._async_get_response(request)
        response = self.process_request(request)
        if response is None:
            response = await self._async_get_response(request)
        return self.process_response(request, response)

    def process_request(self, request: HttpRequest) -> HttpResponseBase | None:
        raise NotImplementedError

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        raise NotImplementedError


class PrometheusBeforeMiddleware(_PrometheusMiddleware):
    """Counts requests and responses and times them around every other middleware.

    A request is counted once its view turns out not to be exempt (in
    ``process_view``), or together with its response when no view was resolved.
    """

    _state_key: ClassVar[str] = _BEFORE_STATE

    def process_request(self, request: HttpRequest) -> HttpResponseBase | None:
        request.__dict__[BEFORE_START] = perf_counter()
        return None

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., object],
        *view_args: object,
        **view_kwargs: object,
    ) -> None:
        try:
            if not self._view_is_new_and_counted(request, view_func):
                return
            request.__dict__[_BEFORE_STATE] = _ENTERED
            self._sink(request).request_entered()
        except Exception as error:
            self._failed(error)

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        try:
            state = request.__dict__
            entered = state.get(_BEFORE_STATE)
            if entered is _EXEMPT:
                return response
            sink = self._sink(request, response)
            if entered is None:
                match = request.resolver_match
                if match is not None and self._is_exempt(match.func):
                    return response
                sink.request_entered()
            sink.response_left(_latency(state, BEFORE_START))
        except Exception as error:
            self._failed(error)
        return response


class PrometheusAfterMiddleware(_PrometheusMiddleware):
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
            if not self._view_is_new_and_counted(request, view_func):
                return
            method = METHOD_LABEL.get(request.method, INVALID_METHOD)
            transport: Transport = "https" if request.is_secure() else "http"
            match = request.resolver_match
            view = (match.view_name or UNNAMED_VIEW) if match is not None else UNNAMED_VIEW
            request.__dict__[_AFTER_STATE] = (method, view, False)
            sink = self._sink(request)
            self._receive(sink, request, method, transport)
            sink.view_resolved(view, transport, method)
        except Exception as error:
            self._failed(error)

    def process_template_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        try:
            if request.__dict__.get(_AFTER_STATE) is _EXEMPT or not hasattr(
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
            method, view, timed = state
            sink.exception_raised(type(exception).__name__, view)
            if not timed:
                # The view's latency is observed here, once; the 500 response that
                # follows does not observe it again.
                request.__dict__[_AFTER_STATE] = (method, view, True)
                sink.request_timed(view, method, _latency(request.__dict__, AFTER_START))
        except Exception as error:
            self._failed(error)

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        try:
            sink = self._sink(request, response)
            state = self._state(sink, request)
            if state is None:
                return response
            method, view, timed = state
            streaming = response.streaming
            sink.response_sent(
                str(response.status_code),
                view,
                method,
                charset_label(response),
                streaming,
                None if streaming else response_body_size(response),
            )
            if not timed:
                sink.request_timed(view, method, _latency(request.__dict__, AFTER_START))
        except Exception as error:
            self._failed(error)
        return response

    def _state(self, sink: HttpSink, request: HttpRequest) -> _AfterState | None:
        """This request's labels; when no view hook ran (404, a short-circuit) the request
        is recorded now. None when it is exempt."""
        state = request.__dict__.get(_AFTER_STATE)
        if state is _EXEMPT:
            return None
        if state is not None:
            return cast("_AfterState", state)
        match = request.resolver_match
        if match is not None and self._is_exempt(match.func):
            request.__dict__[_AFTER_STATE] = _EXEMPT
            return None
        method = method_label(request.method)
        started = (method, view_label(match), False)
        request.__dict__[_AFTER_STATE] = started
        self._receive(sink, request, method, transport(request))
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
