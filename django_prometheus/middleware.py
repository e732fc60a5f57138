"""HTTP middlewares: every request metric of the contract, native under WSGI and ASGI.

Put ``PrometheusBeforeMiddleware`` first and ``PrometheusAfterMiddleware`` last in
``MIDDLEWARE``. Both are new-style middlewares that are sync- and async-capable:
under ASGI Django gives them coroutines and they record on the event loop (no
``sync_to_async`` hop of theirs); under WSGI they are plain functions and no event
loop is involved.

The established extension API works unchanged: ``Metrics`` (``get_instance``,
``_instance``, ``register_metric``), the middleware attribute ``metrics_cls`` and
``label_metric(metric, request, response=None, **labels)``. With the default
classes the middlewares take a fast path (label children bound once, headers read
from ``request.META``); a subclass that overrides ``label_metric`` or
``metrics_cls`` gets the generic path, which calls ``label_metric`` for every
metric exactly as the established package did.

Requests excluded by ``PROMETHEUS_EXCLUDED_PATHS`` or served by a view marked
``@prometheus_exempt`` touch no HTTP metric. Whatever goes wrong while recording is
counted in ``django_prometheus_instrumentation_errors_total{component="http"}``
and the request is answered exactly as without us.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Awaitable, Callable, Sequence
from enum import Enum
from functools import cached_property
from time import perf_counter
from typing import TYPE_CHECKING, ClassVar, Final, TypedDict, TypeVar, cast

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase
from django.urls import ResolverMatch
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.metrics import MetricWrapperBase

import django_prometheus.checks  # noqa: F401  (registers W006 even when the app is not installed)
from django_prometheus.config import get_config
from django_prometheus.decorators import is_prometheus_exempt
from django_prometheus.families import HTTP
from django_prometheus.safety import instrumentation_failed
from django_prometheus.sinks.label_metric import LabelMetricSink
from django_prometheus.sinks.prometheus import PrometheusHttpSink
from django_prometheus.sinks.protocols import ErrorSink, HttpSink, Transport
from django_prometheus.sinks.provider import SinkBundle, SinkSlot, fixed_slot

if TYPE_CHECKING:
    from typing_extensions import Unpack

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

STANDARD_METHODS: Final = frozenset(
    ("GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "OPTIONS", "CONNECT", "PATCH")
)
INVALID_METHOD: Final = "<invalid method>"
UNNAMED_VIEW: Final = "<unnamed view>"
UNNAMED_TEMPLATE: Final = "<unnamed template>"

_METHOD_LABEL: Final[dict[object, str]] = {method: method for method in STANDARD_METHODS}

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
_MetricsT = TypeVar("_MetricsT", bound="Metrics")

_instance_lock = threading.RLock()
_EXEMPT_CACHE_LIMIT: Final = 4096


class MetricOptions(TypedDict, total=False):
    """Keyword arguments ``register_metric`` passes on to the metric class."""

    namespace: str
    subsystem: str
    unit: str
    registry: CollectorRegistry | None
    buckets: Sequence[float]


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

    def __init__(
        self,
        *,
        registry: CollectorRegistry | None = None,
        namespace: str | None = None,
        latency_buckets: Sequence[float] | None = None,
    ) -> None:
        if registry is not None:
            self.registry = registry
        if namespace is None or latency_buckets is None:
            config = get_config()
            namespace = config.metric_namespace if namespace is None else namespace
            latency_buckets = config.latency_buckets if latency_buckets is None else latency_buckets
        self.namespace: str = namespace
        self.latency_buckets: tuple[float, ...] = tuple(latency_buckets)
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
        instance = cls.__dict__.get("_instance")
        if instance is None:
            with _instance_lock:
                instance = cls.__dict__.get("_instance")
                if instance is None:
                    instance = cls()
                    cls._instance = instance
        return cast("_MetricsT", instance)

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
            options: MetricOptions = {"namespace": self.namespace}
            buckets = family.bucket_bounds(self.latency_buckets)
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


def _method_label(method: str | None) -> str:
    return _METHOD_LABEL.get(method, INVALID_METHOD)


def _transport(request: HttpRequest) -> Transport:
    return "https" if request.is_secure() else "http"


def _view_label(match: ResolverMatch | None) -> str:
    if match is None:
        return UNNAMED_VIEW
    return match.view_name or UNNAMED_VIEW


def _content_length(value: object) -> int:
    """Content-Length as a size: 0 when absent, malformed or negative."""
    if not value:
        return 0
    try:
        length = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 0
    return length if length > 0 else 0


def _template_label(template_name: object) -> str:
    if isinstance(template_name, str):
        return template_name
    if isinstance(template_name, (list, tuple)):
        # The established package exported str(list): keep the series dashboards know.
        return str(template_name)
    # A Template object: its name, never its repr (which holds a memory address).
    inner = getattr(template_name, "template", template_name)
    name = getattr(inner, "name", None)
    return name if isinstance(name, str) and name else UNNAMED_TEMPLATE


# HttpResponseBase.charset parses the Content-Type header with a regex on every read;
# the answer only depends on the header (and DEFAULT_CHARSET, see the receiver below).
_charset_by_content_type: dict[str | None, str] = {}
_CHARSET_CACHE_LIMIT: Final = 256


def _charset_label(response: HttpResponseBase) -> str:
    explicit = response.__dict__.get("_charset")
    if explicit is not None:
        return str(explicit)
    content_type = response.headers.get("Content-Type")
    charset = _charset_by_content_type.get(content_type)
    if charset is None:
        charset = str(response.charset)
        if len(_charset_by_content_type) < _CHARSET_CACHE_LIMIT:
            _charset_by_content_type[content_type] = charset
    return charset


def _forget_charsets(*, setting: str = "", **_: object) -> None:
    if setting == "DEFAULT_CHARSET":
        _charset_by_content_type.clear()


setting_changed.connect(_forget_charsets, dispatch_uid="django_prometheus.middleware.charsets")


def _response_body(response: HttpResponseBase) -> int | None:
    content = getattr(response, "content", None)
    return len(content) if isinstance(content, bytes) else None


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
            method = _METHOD_LABEL.get(request.method, INVALID_METHOD)
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
            template = _template_label(response.template_name)
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
                _charset_label(response),
                streaming,
                None if streaming else _response_body(response),
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
        method = _method_label(request.method)
        started = (method, _view_label(match), False)
        request.__dict__[_AFTER_STATE] = started
        self._receive(sink, request, method, _transport(request))
        return started

    @staticmethod
    def _receive(sink: HttpSink, request: HttpRequest, method: str, transport: Transport) -> None:
        meta = request.META
        ajax = meta.get("HTTP_X_REQUESTED_WITH") == "XMLHttpRequest"
        length = meta.get("CONTENT_LENGTH")
        sink.request_received(method, transport, ajax, _content_length(length) if length else 0)


def _latency(state: dict[str, object], key: str) -> float | None:
    """Seconds since the start time stored under ``key``; None without one."""
    start = state.get(key)
    return None if not isinstance(start, float) else perf_counter() - start
